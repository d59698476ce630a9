//! Which store the configuration names.

use crate::config::{Config, StoreKind};
use crate::store::api::Store;
use crate::store::error::StoreError;
use crate::store::files;

/// How a PostgreSQL store is reached: [`crate::store::plugin::open`] in the module (a
/// second shared object, loaded only then), [`crate::store::postgres::open`] in the
/// command (linked in).
pub type OpenPostgres = fn(&Config) -> Result<Box<dyn Store>, StoreError>;

/// The store `config` names.
pub fn open(config: &Config, open_postgres: OpenPostgres) -> Result<Box<dyn Store>, StoreError> {
    match config.store {
        StoreKind::Files => Ok(Box::new(files::FilesStore::new(config.clone()))),
        StoreKind::Postgresql => open_postgres(config),
    }
}
