//! The errors of the [`Store`](crate::store::Store) trait: reading an
//! enrollment ([`LoadError`]), reading or updating the state
//! ([`StoreError`], with [`StateError`] for the state record itself).

use std::io;
use std::path::PathBuf;

use crate::otp::secret::SecretError;
use crate::store::postgres::error::PostgresError;
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
    /// a secret that does not decrypt ...).
    Store(StoreError),
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
            LoadError::Store(error) => error.fmt(f),
            LoadError::Identity(error) => {
                write!(f, "cannot take the user's file-system identity: {error}")
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Unsafe { error, .. } => Some(error),
            LoadError::Malformed { error, .. } => Some(error),
            LoadError::Identity(error) => Some(error),
            LoadError::Store(error) => Some(error),
            LoadError::NotEnrolled(_) | LoadError::BadPath(_) | LoadError::HomeUnavailable(_) => {
                None
            }
        }
    }
}

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
    /// The PostgreSQL store failed (the database, its connection string,
    /// the key file, a row).
    Database(PostgresError),
    /// The PostgreSQL store's library cannot be used, or it panicked.
    Library(LibraryError),
    /// The files store failed (a secret file, the decoy key).
    Files(FilesError),
    /// Another implementation's failure, said in a sentence (pam-totp's
    /// two stores do not use it; test doubles do).
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
            StoreError::Database(error) => error.fmt(f),
            StoreError::Library(error) => error.fmt(f),
            StoreError::Files(error) => error.fmt(f),
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
        LoadError::Store(error)
    }
}

impl From<PostgresError> for StoreError {
    fn from(error: PostgresError) -> StoreError {
        StoreError::Database(error)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::State(error) => Some(error),
            StoreError::Database(error) => Some(error),
            StoreError::Library(error) => Some(error),
            StoreError::Files(error) => Some(error),
            StoreError::Clock
            | StoreError::NoAccess
            | StoreError::AlreadyEnrolled
            | StoreError::EnrollmentChanged
            | StoreError::Other(_) => None,
        }
    }
}

/// The files store's failures other than the state's.
#[derive(Debug)]
pub enum FilesError {
    /// The user's file-system identity could not be taken (to check that
    /// the secret file read before the prompt is still in place).
    Identity(io::Error),
    /// The secret file could not be written.
    Write(io::Error),
    /// The secret file could not be removed.
    Remove(io::Error),
    /// The decoy key (`decoy.key` in `state_dir`) cannot be used.
    DecoyKey {
        path: PathBuf,
        reason: DecoyKeyError,
    },
}

impl std::fmt::Display for FilesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilesError::Identity(error) => {
                write!(f, "cannot take the user's file-system identity: {error}")
            }
            FilesError::Write(error) => write!(f, "cannot write the secret file: {error}"),
            FilesError::Remove(error) => write!(f, "cannot remove the secret file: {error}"),
            FilesError::DecoyKey { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for FilesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FilesError::Identity(error) | FilesError::Write(error) | FilesError::Remove(error) => {
                Some(error)
            }
            FilesError::DecoyKey { reason, .. } => Some(reason),
        }
    }
}

/// Why the decoy key cannot be used.
#[derive(Debug)]
pub enum DecoyKeyError {
    /// The file is not 32 bytes.
    Size,
    /// The file is unsafe or unreadable.
    Read(ReadError),
    /// The random source failed.
    Random(io::Error),
    /// A new key could not be written.
    Create(io::Error),
    /// The key written could not be read back.
    NotReadBack,
}

impl std::fmt::Display for DecoyKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecoyKeyError::Size => f.write_str("not 32 bytes; remove it, a new one is made"),
            DecoyKeyError::Read(error) => error.fmt(f),
            DecoyKeyError::Random(error) | DecoyKeyError::Create(error) => error.fmt(f),
            DecoyKeyError::NotReadBack => f.write_str("cannot be read back"),
        }
    }
}

impl std::error::Error for DecoyKeyError {}

/// Why the module cannot use the PostgreSQL store's library
/// (`pam_totp_postgres.so`).
#[derive(Debug)]
pub enum LibraryError {
    /// Missing, unsafe, from another build, or it would not load: why.
    Unusable(String),
    /// The store panicked (a bug); it is closed.
    Panicked,
}

impl std::fmt::Display for LibraryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LibraryError::Unusable(why) => {
                write!(f, "the PostgreSQL store cannot be used: {why}")
            }
            LibraryError::Panicked => {
                f.write_str("the PostgreSQL store failed unexpectedly (a bug: please report it)")
            }
        }
    }
}

impl std::error::Error for LibraryError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::error::{ColumnError, DbError, RowError};

    /// The typed errors say the sentences the stores wrote when they were
    /// strings, byte for byte (logs, messages and tests quote them).
    #[test]
    fn typed_errors_say_the_sentences_of_the_strings_they_replace() {
        let column = || ColumnError {
            column: "stamp".into(),
            reason: "bad".into(),
        };
        let decoy = |reason| FilesError::DecoyKey {
            path: "/s/decoy.key".into(),
            reason,
        };
        let missing = format!("/s/decoy.key: {}", ReadError::Missing);
        let cases: Vec<(StoreError, &str)> = vec![
            (
                PostgresError::Db(DbError::Query {
                    code: None,
                    message: "m".into(),
                })
                .into(),
                "database: database statement failed: m",
            ),
            (
                PostgresError::Column(column()).into(),
                "database: column stamp has an unexpected type or value (bad); is the schema pam-totp's?",
            ),
            (
                PostgresError::NoStateRow {
                    user: "alice".into(),
                }
                .into(),
                "the database returned no state row for alice",
            ),
            (
                PostgresError::StateRowChanged {
                    user: "alice".into(),
                }
                .into(),
                "the state row of alice changed while locked; check for other writers",
            ),
            (
                PostgresError::MixedRecovery.into(),
                "the recovery codes come from two enrollments; make new ones (`pam-totp recovery-codes`)",
            ),
            (
                PostgresError::Random(io::Error::other("r")).into(),
                "the random source failed: r",
            ),
            (
                StoreError::Library(LibraryError::Unusable("why".into())),
                "the PostgreSQL store cannot be used: why",
            ),
            (
                StoreError::Library(LibraryError::Panicked),
                "the PostgreSQL store failed unexpectedly (a bug: please report it)",
            ),
            (
                StoreError::Files(FilesError::Identity(io::Error::other("x"))),
                "cannot take the user's file-system identity: x",
            ),
            (
                StoreError::Files(FilesError::Write(io::Error::other("full"))),
                "cannot write the secret file: full",
            ),
            (
                StoreError::Files(FilesError::Remove(io::Error::other("ro"))),
                "cannot remove the secret file: ro",
            ),
            (
                StoreError::Files(decoy(DecoyKeyError::Size)),
                "/s/decoy.key: not 32 bytes; remove it, a new one is made",
            ),
            (
                StoreError::Files(decoy(DecoyKeyError::Read(ReadError::Missing))),
                &missing,
            ),
            (
                StoreError::Files(decoy(DecoyKeyError::NotReadBack)),
                "/s/decoy.key: cannot be read back",
            ),
        ];
        for (error, said) in &cases {
            assert_eq!(&error.to_string(), said);
        }
        let enrollment = |error| {
            LoadError::from(StoreError::from(PostgresError::Enrollment {
                user: "alice".into(),
                error,
            }))
            .to_string()
        };
        assert_eq!(
            enrollment(RowError::Read(column())),
            "the database's enrollment of alice: database: column stamp has an unexpected type or value (bad); is the schema pam-totp's?"
        );
        assert_eq!(
            enrollment(RowError::Column("a bad period".into())),
            "the database's enrollment of alice: it holds a bad period"
        );
    }
}
