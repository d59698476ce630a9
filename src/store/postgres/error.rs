//! What went wrong with the database, said so that an administrator knows
//! what to check. No message holds the password.

use std::path::PathBuf;
use std::time::Duration;

use super::conninfo::ConnInfoError;
use super::sealing::{KeyError, SealError};

/// What was under way when the time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutDuring {
    /// Connecting: TCP, TLS, authentication, the read-write check.
    Connect,
    /// A statement, timed by us or by the server's `statement_timeout`.
    Statement,
    /// Waiting for a row lock (the server's `lock_timeout`).
    Lock,
}

/// Why a database operation failed. Every variant means "fail closed".
#[derive(Debug)]
pub enum DbError {
    /// The connection string (`database_file`) or a file it names.
    ConnInfo(ConnInfoError),
    /// No connection to `host` (refused, no route, closed under us ...).
    Unreachable { host: String, reason: String },
    /// `host` did not answer in time.
    Timeout {
        during: TimeoutDuring,
        host: String,
        after: Duration,
    },
    /// The server refused the role or password (SQLSTATE 28P01, 28000), or
    /// asked for a password the string does not have.
    Authentication { host: String, message: String },
    /// TLS failed: the handshake, the chain, the host name, or the server
    /// does not offer TLS where the string requires it.
    Tls { host: String, reason: String },
    /// `target_session_attrs=read-write` and `host` is a read-only standby.
    ReadOnly { host: String },
    /// Another `target_session_attrs` (`primary`, `standby`, `read-only`)
    /// and `host` is `found` ("a standby", "a primary" ...).
    NotTarget {
        host: String,
        wanted: &'static str,
        found: &'static str,
    },
    /// The server refused the session for another reason: the database
    /// does not exist (3D000), too many connections (53300), starting up or
    /// shutting down (57P03) ...
    Rejected {
        host: String,
        code: String,
        message: String,
    },
    /// Every host of a list failed; one error per host, in order.
    AllHostsFailed(Vec<DbError>),
    /// The schema is missing (`found` = None) or at another version.
    Schema {
        found: Option<String>,
        expected: u32,
    },
    /// A statement failed on the server.
    Query {
        code: Option<String>,
        message: String,
    },
}

impl DbError {
    /// The SQLSTATE of a server error, e.g. "23505" (unique violation) or
    /// "40001" (serialization failure), for callers that handle some.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query { code, .. } => code.as_deref(),
            DbError::Rejected { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::ConnInfo(error) => write!(f, "{error}"),
            DbError::Unreachable { host, reason } => write!(
                f,
                "database {host} unreachable: {reason}; check that PostgreSQL runs there and accepts TCP connections from this host (listen_addresses, pg_hba.conf, firewall)"
            ),
            DbError::Timeout {
                during,
                host,
                after,
            } => {
                let seconds = after.as_secs_f64();
                match during {
                    TimeoutDuring::Connect => write!(
                        f,
                        "database {host} did not complete the connection within {seconds:.1} s; check that the server is up and not hung or overloaded (database_timeout)"
                    ),
                    TimeoutDuring::Statement => write!(
                        f,
                        "a statement on database {host} took longer than {seconds:.1} s; check the server's load and locks (database_timeout)"
                    ),
                    TimeoutDuring::Lock => write!(
                        f,
                        "a row lock on database {host} was held longer than {seconds:.1} s by another session; check pg_stat_activity for stuck sessions"
                    ),
                }
            }
            DbError::Authentication { host, message } => write!(
                f,
                "database {host} refused the credentials: {message}; check user and password in database_file and the server's pg_hba.conf"
            ),
            DbError::Tls { host, reason } => write!(
                f,
                "TLS with database {host} failed: {reason}; check sslmode, sslrootcert, sslcrl, sslcert and sslkey in database_file and the server's certificate"
            ),
            DbError::ReadOnly { host } => write!(
                f,
                "database {host} is a read-only standby (target_session_attrs=read-write); check which host is the primary"
            ),
            DbError::NotTarget {
                host,
                wanted,
                found,
            } => write!(
                f,
                "database {host} is {found}, not what target_session_attrs={wanted} asks for; check which host has which role"
            ),
            DbError::Rejected {
                host,
                code,
                message,
            } => write!(
                f,
                "database {host} refused the session: {message} (SQLSTATE {code}); check dbname in database_file, and the server's max_connections and state"
            ),
            DbError::AllHostsFailed(errors) => {
                write!(f, "no database host could be used: ")?;
                for (index, error) in errors.iter().enumerate() {
                    if index > 0 {
                        write!(f, " | ")?;
                    }
                    write!(f, "{error}")?;
                }
                Ok(())
            }
            DbError::Schema {
                found: None,
                expected,
            } => write!(
                f,
                "the database has no pam-totp schema (version {expected} expected); run `pam-totp db init` as root"
            ),
            DbError::Schema {
                found: Some(found),
                expected,
            } => write!(
                f,
                "the database schema is at version {found}, this pam-totp uses version {expected}; run `pam-totp db init` if the database is older, upgrade pam-totp on this host if it is newer"
            ),
            DbError::Query {
                code: Some(code),
                message,
            } => write!(f, "database statement failed: {message} (SQLSTATE {code})"),
            DbError::Query {
                code: None,
                message,
            } => write!(f, "database statement failed: {message}"),
        }
    }
}

impl std::error::Error for DbError {}

impl From<ConnInfoError> for DbError {
    fn from(error: ConnInfoError) -> DbError {
        DbError::ConnInfo(error)
    }
}

/// Classify a tokio-postgres error from connecting to `host`.
pub(crate) fn from_connect(error: &tokio_postgres::Error, host: &str) -> DbError {
    let host = host.to_string();
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let message = db.message().to_string();
        return match code {
            "28P01" | "28000" => DbError::Authentication { host, message },
            _ => DbError::Rejected {
                host,
                code: code.to_string(),
                message,
            },
        };
    }
    if let Some(reason) = tls_reason(error) {
        return DbError::Tls { host, reason };
    }
    let text = error.to_string();
    // tokio-postgres's error kinds are private; these two are told apart by text.
    if text.starts_with("error performing TLS handshake") {
        return DbError::Tls {
            host,
            reason: source_text(error).unwrap_or(text),
        };
    }
    if source_text(error).is_some_and(|detail| detail.contains("channel binding")) {
        return DbError::Authentication {
            host,
            message: "the server did not use SCRAM channel binding, which channel_binding=require demands (scram-sha-256 over TLS)".to_string(),
        };
    }
    if text.contains("password missing") {
        return DbError::Authentication {
            host,
            message: "the server asks for a password and database_file has none".to_string(),
        };
    }
    DbError::Unreachable {
        host,
        reason: source_text(error).unwrap_or(text),
    }
}

/// Classify a tokio-postgres error from a statement on `host`.
pub(crate) fn from_statement(
    error: &tokio_postgres::Error,
    host: &str,
    timeout: Duration,
) -> DbError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        let during = match code {
            "57014" => Some(TimeoutDuring::Statement),
            "55P03" => Some(TimeoutDuring::Lock),
            _ => None,
        };
        return match during {
            Some(during) => DbError::Timeout {
                during,
                host: host.to_string(),
                after: timeout,
            },
            None => DbError::Query {
                code: Some(code.to_string()),
                message: db.message().to_string(),
            },
        };
    }
    if error.is_closed() || io_error(error).is_some() {
        return DbError::Unreachable {
            host: host.to_string(),
            reason: format!(
                "the connection was lost ({})",
                source_text(error).unwrap_or_else(|| error.to_string())
            ),
        };
    }
    DbError::Query {
        code: None,
        message: error.to_string(),
    }
}

fn source_text(error: &tokio_postgres::Error) -> Option<String> {
    std::error::Error::source(error).map(|source| source.to_string())
}

fn io_error(error: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        current = error.source();
    }
    None
}

/// The rustls reason, if TLS is what failed. tokio-rustls wraps it in an
/// `io::Error`, whose `source()` skips it, so look inside by hand.
fn tls_reason(error: &tokio_postgres::Error) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(tls) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        current = error.source();
    }
    None
}

/// Why the PostgreSQL store failed, as the [`Store`](crate::store::Store)
/// trait reports it ([`StoreError::Database`](crate::store::StoreError::Database)).
/// Owned values only: it crosses from the store's library into the module
/// (two copies of the same sources, checked to be the same build).
#[derive(Debug)]
pub enum PostgresError {
    /// A database operation failed.
    Db(DbError),
    /// `database_file` could not be read, or its connection string is wrong.
    DatabaseFile { path: PathBuf, error: ConnInfoError },
    /// `secret_key_file` could not be read.
    KeyFile(KeyError),
    /// A column did not hold the type or value pam-totp's schema gives it.
    Column(ColumnError),
    /// The statement that always returns a row returned none.
    NoStateRow { user: String },
    /// The state row changed although locked: another writer.
    StateRowChanged { user: String },
    /// The random source failed (making a recovery key).
    Random(std::io::Error),
    /// The recovery codes to save come from two enrollments.
    MixedRecovery,
    /// Sealing an enrollment failed.
    Seal(SealError),
    /// `user`'s enrollment row cannot be read or does not verify.
    Enrollment { user: String, error: RowError },
}

impl std::fmt::Display for PostgresError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostgresError::Db(error) => write!(f, "database: {error}"),
            PostgresError::DatabaseFile { path, error } => {
                write!(f, "database_file {}: {error}", path.display())
            }
            PostgresError::KeyFile(error) => write!(
                f,
                "secret_key_file: {error}; every host needs the same key file (`pam-totp db init` makes one)"
            ),
            PostgresError::Column(error) => error.fmt(f),
            PostgresError::NoStateRow { user } => {
                write!(f, "the database returned no state row for {user}")
            }
            PostgresError::StateRowChanged { user } => write!(
                f,
                "the state row of {user} changed while locked; check for other writers"
            ),
            PostgresError::Random(error) => write!(f, "the random source failed: {error}"),
            PostgresError::MixedRecovery => f.write_str(
                "the recovery codes come from two enrollments; make new ones (`pam-totp recovery-codes`)",
            ),
            PostgresError::Seal(error) => write!(f, "cannot seal the enrollment: {error}"),
            PostgresError::Enrollment { user, error } => {
                write!(f, "the database's enrollment of {user}: {error}")
            }
        }
    }
}

impl std::error::Error for PostgresError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PostgresError::Db(error) => Some(error),
            PostgresError::DatabaseFile { error, .. } => Some(error),
            PostgresError::KeyFile(error) => Some(error),
            PostgresError::Column(error) => Some(error),
            PostgresError::Random(error) => Some(error),
            PostgresError::Seal(error) => Some(error),
            PostgresError::Enrollment { error, .. } => Some(error),
            PostgresError::NoStateRow { .. }
            | PostgresError::StateRowChanged { .. }
            | PostgresError::MixedRecovery => None,
        }
    }
}

impl From<DbError> for PostgresError {
    fn from(error: DbError) -> PostgresError {
        PostgresError::Db(error)
    }
}

impl From<ColumnError> for PostgresError {
    fn from(error: ColumnError) -> PostgresError {
        PostgresError::Column(error)
    }
}

/// A column of a row read whose type or value is not the schema's.
#[derive(Debug)]
pub struct ColumnError {
    pub column: String,
    /// The driver's reason, in its words.
    pub reason: String,
}

impl std::fmt::Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "database: column {} has an unexpected type or value ({}); is the schema pam-totp's?",
            self.column, self.reason
        )
    }
}

impl std::error::Error for ColumnError {}

/// Why an enrollment row is refused.
#[derive(Debug)]
pub enum RowError {
    /// A column could not be read.
    Read(ColumnError),
    /// The seal does not open for these columns (or names a missing key).
    Seal(SealError),
    /// It opens, but a column holds no value pam-totp accepts.
    Column(String),
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::Read(error) => error.fmt(f),
            RowError::Seal(error) => write!(f, "{error}"),
            RowError::Column(what) => write!(f, "it holds {what}"),
        }
    }
}

impl std::error::Error for RowError {}

impl From<ColumnError> for RowError {
    fn from(error: ColumnError) -> RowError {
        RowError::Read(error)
    }
}
