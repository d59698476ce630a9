//! Where enrollments and the module's state live, behind one trait: the
//! files store (secret files and `state_dir`, one host) and the PostgreSQL
//! store (one database for a fleet). The module and every command go
//! through [`Store`]; nothing else reads or writes state.

pub mod files;
pub mod plugin;
pub mod postgres;

use crate::config::{Config, StoreKind};
use crate::enrollment::LoadError;
use crate::secret::SecretFile;
use crate::state::{State, StateError};
use crate::system::account::Account;

/// A user's state with the store's idea of the time (the database's clock
/// for a shared store, so lockouts end at the same moment on every host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub state: State,
    pub now: u64,
}

/// What [`Store::update`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The state as stored afterwards (unchanged if the change was `None`).
    pub state: State,
    pub now: u64,
    /// The stored state was unreadable and was replaced by the repair state.
    pub repaired: bool,
}

/// What to do when the stored state cannot be parsed.
pub enum Repair {
    /// Fail (the module: a corrupt state refuses the login).
    Refuse,
    /// Start from this state instead (the commands run by root; see
    /// `pam-totp unlock`). It is built before the update, so nothing that
    /// can hang (a user's file on a dead mount) runs under the lock.
    With(State),
}

/// What a new enrollment replaces, and so what the state forgets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacing {
    /// A new secret: the last accepted step or counter belongs to the old
    /// one, and so do the used recovery codes.
    Secret,
    /// Only new recovery codes: the records of the old ones go.
    RecoveryCodes,
    /// The same secret again (an import of the file already imported):
    /// keep everything, so nothing used becomes usable.
    Nothing,
    /// No enrollment: a first one, saved only if the user has none yet
    /// (of two enrollments at once the first saved wins; the other gets
    /// [`StoreError::AlreadyEnrolled`] and saves nothing). The state
    /// forgets as for [`Replacing::Secret`].
    NoEnrollment,
}

/// What [`Store::remove`] removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Where the enrollment was (a path, or the database), if there was one.
    pub enrollment: Option<String>,
    /// Whether there was a state record.
    pub state: bool,
}

/// One user the store knows, for `pam-totp list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub user: String,
    /// `None`: a state record without a readable enrollment.
    pub kind: Option<String>,
    pub state: Option<State>,
}

#[derive(Debug)]
pub enum StoreError {
    /// The files store's state directory or file.
    State(StateError),
    /// The clock is before 1970.
    Clock,
    /// This process may not use the state (only root may).
    NoAccess,
    /// [`Replacing::NoEnrollment`] found an enrollment: nothing was saved.
    AlreadyEnrolled,
    /// The enrollment read before the prompt was removed or replaced
    /// meanwhile (`pam-totp disable`, `enroll --force`, `recovery-codes`):
    /// nothing was recorded, and the answer must not count.
    EnrollmentChanged,
    /// Anything else, said in a sentence (the database store's errors).
    Other(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::State(error) => error.fmt(f),
            StoreError::Clock => write!(f, "the system clock is before 1970"),
            StoreError::NoAccess => write!(f, "only root can read the module's state"),
            StoreError::AlreadyEnrolled => write!(
                f,
                "another enrollment of this user was saved first; nothing was saved"
            ),
            StoreError::EnrollmentChanged => write!(
                f,
                "the enrollment was removed or replaced while the user was at the prompt (pam-totp disable, enroll --force or recovery-codes); nothing was recorded"
            ),
            StoreError::Other(message) => f.write_str(message),
        }
    }
}

impl From<StateError> for StoreError {
    fn from(error: StateError) -> StoreError {
        StoreError::State(error)
    }
}

impl From<StoreError> for LoadError {
    fn from(error: StoreError) -> LoadError {
        LoadError::Store(error.to_string())
    }
}

/// The change an update makes: given the stored state and the store's
/// time, the state to store (`None`: leave it). It cannot talk to the user,
/// and it may run more than once (a store that finds another host changed
/// the state in between runs it again on the new state), so it must be a
/// pure function of its arguments such as [`crate::decision::decide`].
pub type Change<'a> = dyn FnMut(&State, u64) -> Option<State> + 'a;

pub trait Store {
    /// The user's enrollment (`LoadError::NotEnrolled` if there is none).
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError>;

    /// Whether the user has an enrollment of any kind, even an unreadable one.
    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError>;

    /// The user's state, read without a lock.
    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError>;

    /// Read, change and write the user's state as one atomic step, so that
    /// of any number of concurrent updates each sees the others' results.
    /// After [`Store::enrollment`], only while that enrollment is still the
    /// one in place (else [`StoreError::EnrollmentChanged`], nothing
    /// written): a login waiting at its prompt is revoked by `disable`,
    /// `enroll --force` and `recovery-codes`.
    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError>;

    /// Save `secret` as the user's enrollment (replacing any, except with
    /// [`Replacing::NoEnrollment`]), and make the state forget what
    /// `replacing` says. Returns where it was saved.
    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError>;

    /// Remove the user's enrollment and state.
    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError>;

    /// Every user the store knows.
    fn list(&mut self) -> Result<Vec<Listed>, StoreError>;

    /// The decoy record standing for `name`, a name without a usable
    /// enrollment (see [`crate::decision::decide_without_credential`]).
    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError>;

    /// [`Store::update`] for the decoy record standing for `name`.
    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError>;
}

/// How a PostgreSQL store is reached: [`plugin::open`] in the module (a
/// second shared object, loaded only then), [`postgres::open`] in the
/// command (linked in).
pub type OpenPostgres = fn(&Config) -> Result<Box<dyn Store>, StoreError>;

/// The store `config` names.
pub fn open(config: &Config, open_postgres: OpenPostgres) -> Result<Box<dyn Store>, StoreError> {
    match config.store {
        StoreKind::Files => Ok(Box::new(files::FilesStore::new(config.clone()))),
        StoreKind::Postgresql => open_postgres(config),
    }
}

/// The state to keep after `replacing` with a new enrollment whose
/// recovery codes are `recovery`.
pub fn forget(
    state: &State,
    replacing: Replacing,
    recovery: &[crate::recovery::RecoveryHash],
) -> State {
    let mut next = state.clone();
    match replacing {
        Replacing::Nothing => return next,
        Replacing::Secret | Replacing::NoEnrollment => {
            next.last_step_start = None;
            next.last_counter = None;
        }
        Replacing::RecoveryCodes => {}
    }
    let current: Vec<String> = recovery.iter().map(|hash| hash.id()).collect();
    next.used_recovery.retain(|id| current.contains(id));
    next
}
