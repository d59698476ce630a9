//! Where enrollments and the module's state live, behind one trait: the
//! files store (secret files and `state_dir`, one host) and the PostgreSQL
//! store (one database for a fleet). The module and every command go
//! through [`Store`]; nothing else reads or writes state.
//!
//! This file is the folder's face: the trait and its values ([`api`]), its
//! errors ([`error`]) and the choice of store ([`open()`]) are re-exported
//! here; the stores themselves are [`files`] and [`postgres`], the second
//! reached by the module through [`plugin`].

pub mod api;
pub mod error;
pub mod files;
pub mod open;
pub mod plugin;
pub mod postgres;
pub mod self_service;

pub use api::{Change, Listed, Removed, Repair, Replacing, Snapshot, Store, Updated, forget};
pub use error::{DecoyKeyError, FilesError, LibraryError, LoadError, StateError, StoreError};
pub use open::{OpenPostgres, open};
