//! The errors of the [`Store`](crate::store::Store) trait: reading an
//! enrollment ([`LoadError`]), reading or updating the state
//! ([`StoreError`], with [`StateError`] for the state record itself).

use std::io;
use std::path::PathBuf;

use crate::otp::secret::SecretError;
use crate::system::files::ReadError;

#[derive(Debug)]
pub enum LoadError {
    /// No secret file: the user has not enrolled.
    NotEnrolled(PathBuf),
    /// `secret_path` cannot be expanded for this user.
    BadPath(String),
    /// The file exists but is unsafe or unreadable.
    Unsafe { path: PathBuf, error: ReadError },
    /// The file is not a valid secret file.
    Malformed { path: PathBuf, error: SecretError },
    /// The user's file-system identity could not be taken.
    Identity(std::io::Error),
    /// The secret is under a home directory that is not there (unmounted
    /// NFS, encrypted or late-mounted home): enrolled or not is unknown.
    HomeUnavailable(PathBuf),
    /// The store could not be read (the database: unreachable, too slow,
    /// a secret that does not decrypt ...), said in a sentence.
    Store(String),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotEnrolled(path) => write!(f, "no secret file {}", path.display()),
            LoadError::BadPath(reason) => write!(f, "secret_path: {reason}"),
            LoadError::Unsafe { path, error } => {
                write!(f, "secret file {} {error}", path.display())
            }
            LoadError::Malformed { path, error } => {
                write!(f, "secret file {} is malformed: {error}", path.display())
            }
            LoadError::HomeUnavailable(home) => write!(
                f,
                "home directory {} is missing or not mounted, so whether the user is enrolled is unknown (for homes mounted at login use an administrator-managed secret_path)",
                home.display()
            ),
            LoadError::Store(reason) => f.write_str(reason),
            LoadError::Identity(error) => {
                write!(f, "cannot take the user's file-system identity: {error}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

#[derive(Debug)]
pub enum StateError {
    /// `state_dir` is missing, not a directory, or unsafe.
    Directory { path: PathBuf, reason: String },
    /// The file could not be read or is unsafe.
    Read { path: PathBuf, error: ReadError },
    /// The file is not a state file we wrote.
    Corrupt { path: PathBuf, reason: String },
    /// Locking or writing failed (disk full, read-only ...).
    Write { path: PathBuf, error: io::Error },
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::Directory { path, reason } => {
                write!(f, "state directory {}: {reason}", path.display())
            }
            StateError::Read { path, error } => write!(f, "state file {} {error}", path.display()),
            StateError::Corrupt { path, reason } => write!(
                f,
                "state file {} is corrupt ({}); check it, then remove it or run `pam-totp unlock`",
                path.display(),
                crate::text::escape_controls(reason)
            ),
            StateError::Write { path, error } => write!(
                f,
                "cannot update state file {}: {error}; logins are refused until it can be written (check free space and that the file system is writable)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StateError {}

#[derive(Debug)]
pub enum StoreError {
    /// The files store's state directory or file.
    State(StateError),
    /// The clock is before 1970.
    Clock,
    /// This process may not use the state (only root may).
    NoAccess,
    /// [`Replacing::NoEnrollment`](crate::store::Replacing::NoEnrollment)
    /// found an enrollment: nothing was saved.
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

impl std::error::Error for StoreError {}
