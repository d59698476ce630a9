//! `pam-totp check` under `store = "postgresql"`: the two root-only files
//! (by the rule in [`paths::root_only_file`]), the connection string, a
//! connection (bounded by `database_timeout`, as a login is), the schema
//! version, and whether this host's key opens the enrolled secrets. Each
//! step gives a typed [`Finding`]; the command prints them.
//!
//! The files store's rules (`state_dir`, `secret_path`) do not apply: with
//! this store the module keeps enrollments, state and decoy rows in the
//! database (`state_dir` is read only by the test clock of test builds).
//! A file with a wrong owner or mode is still read here, so one run
//! reports everything wrong at once; the module itself refuses it.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::config::Config;
use crate::store::postgres::conninfo::MAX_FILE_SIZE;
use crate::store::postgres::error::RowError;
use crate::store::postgres::postgres_store::{ENROLLMENT_COLUMNS, EnrollmentRow};
use crate::store::postgres::sealing::{KeyFormatError, KeyId, KeyRing, SealError};
use crate::store::postgres::{
    self, ConnInfo, ConnInfoError, Database, DbError, SslMode, TargetSession, Type,
};
use crate::system::paths::{self, RootFileProblem};

/// Enrolled secrets opened with this host's key: all of them up to this
/// many (it takes milliseconds), the first ones by name beyond.
pub const MAX_SECRETS_CHECKED: i64 = 1000;
/// User names listed in one finding; the rest are counted.
const MAX_NAMES_SHOWN: usize = 10;
/// The largest file the connection string names that `check` reads.
const MAX_NAMED_FILE: u64 = 16 * 1024 * 1024;
/// The most of `secret_key_file` read: many keys, as the module reads.
const MAX_KEY_READ: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// Worth fixing; logins work.
    Warning,
    /// Logins through the module are refused (or some users' are).
    Problem,
}

/// One of the two files the PostgreSQL store reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreFile {
    Database,
    SecretKey,
}

impl StoreFile {
    fn key(self) -> &'static str {
        match self {
            StoreFile::Database => "database_file",
            StoreFile::SecretKey => "secret_key_file",
        }
    }

    fn holds(self) -> &'static str {
        match self {
            StoreFile::Database => "it holds the database password",
            StoreFile::SecretKey => "it holds the key that opens every enrolled secret",
        }
    }

    fn when_missing(self) -> &'static str {
        match self {
            StoreFile::Database => {
                "write the connection string into it (see pam-totp.toml(5)), owner root, mode 0600"
            }
            StoreFile::SecretKey => {
                "copy it unchanged from a host of the fleet (owner root, mode 0600), or run `pam-totp db init` if this is the first host"
            }
        }
    }
}

#[derive(Debug)]
pub enum Finding {
    FileSafe {
        file: StoreFile,
        path: PathBuf,
    },
    FileUnsafe {
        file: StoreFile,
        path: PathBuf,
        problem: RootFileProblem,
    },
    /// The file could not be read although its metadata looked usable.
    FileUnreadable {
        file: StoreFile,
        path: PathBuf,
        error: String,
    },
    ConnectionString {
        path: PathBuf,
        hosts: Vec<String>,
        sslmode: SslMode,
        target: TargetSession,
    },
    BadConnectionString(ConnInfoError),
    /// A file the string names (`sslrootcert`, `sslcrl`, `sslcert`,
    /// `sslkey`, `passfile`) follows the rules.
    NamedFileSafe {
        keyword: &'static str,
        path: PathBuf,
        secret: bool,
    },
    /// ... or not (missing, a link, not root's, open to others).
    NamedFileUnsafe(ConnInfoError),
    /// A password in the string where TLS is required, so a client
    /// certificate could authenticate the host instead (`with_certificate`:
    /// the string has one already).
    PasswordCouldBeCertificate {
        with_certificate: bool,
    },
    /// `target_session_attrs` that reaches only servers that refuse writes.
    TargetCannotWrite(TargetSession),
    /// Hosts reached over the network without `sslmode=verify-full`.
    Unverified {
        hosts: Vec<String>,
        sslmode: SslMode,
    },
    KeyFormat {
        path: PathBuf,
        error: KeyFormatError,
    },
    Connected {
        host: String,
        user: String,
    },
    /// The role's SCRAM verifier stretches the password this many times:
    /// each login runs that key derivation on both its connections.
    ScramIterations(u32),
    /// Unreachable, too slow, credentials refused, TLS, read-only ...
    CannotConnect(DbError),
    SchemaCurrent {
        version: u32,
    },
    /// Missing or at another version (or the check itself failed).
    Schema(DbError),
    /// A statement of the secrets check failed.
    Query(DbError),
    NoEnrollments,
    SecretsOpen {
        checked: usize,
        total: u64,
        key_file: PathBuf,
    },
    /// Secrets that do not open with this host's key for their user.
    SecretsDoNotOpen {
        users: Vec<String>,
        checked: usize,
        key_file: PathBuf,
    },
    /// Values that are not sealed secrets at all.
    SecretsMalformed {
        users: Vec<String>,
    },
    /// Rows sealed in the first format, which the module refuses.
    SecretsOldFormat {
        users: Vec<String>,
    },
    /// Rows that open, but with another key than the first.
    SecretsOlderKey {
        count: usize,
        first: KeyId,
    },
}

impl Finding {
    pub fn severity(&self) -> Severity {
        match self {
            Finding::FileSafe { .. }
            | Finding::ConnectionString { .. }
            | Finding::Connected { .. }
            | Finding::SchemaCurrent { .. }
            | Finding::NoEnrollments
            | Finding::SecretsOpen { .. } => Severity::Ok,
            Finding::ScramIterations(_) => Severity::Note,
            Finding::NamedFileSafe { .. } => Severity::Ok,
            Finding::Unverified { .. }
            | Finding::PasswordCouldBeCertificate { .. }
            | Finding::SecretsOlderKey { .. } => Severity::Warning,
            Finding::NamedFileUnsafe(_) | Finding::TargetCannotWrite(_) => Severity::Problem,
            Finding::FileUnsafe { .. }
            | Finding::FileUnreadable { .. }
            | Finding::BadConnectionString(_)
            | Finding::KeyFormat { .. }
            | Finding::CannotConnect(_)
            | Finding::Schema(_)
            | Finding::Query(_)
            | Finding::SecretsDoNotOpen { .. }
            | Finding::SecretsMalformed { .. }
            | Finding::SecretsOldFormat { .. } => Severity::Problem,
        }
    }
}

/// "a, b, c and 4 more"
fn names(users: &[String]) -> String {
    let shown: Vec<&str> = users
        .iter()
        .take(MAX_NAMES_SHOWN)
        .map(String::as_str)
        .collect();
    match users.len().saturating_sub(MAX_NAMES_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

const REFUSED: &str = "until it is fixed every login through pam_totp.so is refused";

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::FileSafe { file, path } => {
                write!(
                    f,
                    "{} {} (root, no group or other access)",
                    file.key(),
                    path.display()
                )
            }
            Finding::FileUnsafe {
                file,
                path,
                problem,
            } => {
                write!(f, "{} {} {problem}", file.key(), path.display())?;
                if matches!(problem, RootFileProblem::Mode { .. }) {
                    write!(f, " ({})", file.holds())?;
                }
                write!(f, "; {REFUSED}")?;
                match (problem, problem.fix(path)) {
                    (RootFileProblem::Missing, _) => write!(f, "; {}", file.when_missing()),
                    (_, Some(fix)) => write!(f, "; run: {fix}"),
                    (_, None) => Ok(()),
                }
            }
            Finding::FileUnreadable { file, path, error } => write!(
                f,
                "{} {} cannot be read: {error}; {REFUSED}",
                file.key(),
                path.display()
            ),
            Finding::ConnectionString {
                path,
                hosts,
                sslmode,
                target,
            } => {
                let target = target.as_str();
                write!(
                    f,
                    "connection string in {}: {} ({}), sslmode {}, target_session_attrs {target}",
                    path.display(),
                    crate::text::plural(hosts.len() as u64, "host"),
                    hosts.join(", "),
                    sslmode.as_str()
                )
            }
            Finding::BadConnectionString(error) => write!(f, "{error}; {REFUSED}"),
            Finding::NamedFileSafe {
                keyword,
                path,
                secret,
            } => write!(
                f,
                "{keyword} {} (root, {})",
                path.display(),
                if *secret {
                    "no group or other access"
                } else {
                    "not writable by group or others"
                }
            ),
            Finding::NamedFileUnsafe(error) => write!(f, "{error}; {REFUSED}"),
            Finding::PasswordCouldBeCertificate {
                with_certificate: true,
            } => write!(
                f,
                "the connection string holds a password besides its client certificate (sslcert, sslkey): with pg_hba.conf's cert method for this role the password is not needed; remove it from database_file"
            ),
            Finding::PasswordCouldBeCertificate {
                with_certificate: false,
            } => write!(
                f,
                "the connection string holds the database password, shared by every host: a client certificate per host (sslcert, sslkey, and pg_hba.conf's cert method) needs no shared secret, lets you revoke one host, and spares each login SCRAM's key derivation; see pam-totp.toml(5)"
            ),
            Finding::TargetCannotWrite(target) => write!(
                f,
                "target_session_attrs={} reaches only servers that refuse writes, and every login writes; {REFUSED}; use read-write (or primary)",
                target.as_str()
            ),
            Finding::Unverified { hosts, sslmode } => write!(
                f,
                "the connection string reaches {} over the network with sslmode={}, which does not verify the server: whoever can get between this host and the database can read the database password and rewrite the login state (used codes, lockouts); use sslmode=verify-full with sslrootcert (the CA that signed the server's certificate, or system)",
                hosts.join(", "),
                sslmode.as_str()
            ),
            Finding::KeyFormat { path, error } => write!(
                f,
                "secret_key_file {} {error}; {REFUSED}; copy the key file unchanged from a host of the fleet where logins work",
                path.display()
            ),
            Finding::Connected { host, user } => {
                write!(f, "connected to database {host} as {user}")
            }
            Finding::ScramIterations(iterations) => write!(
                f,
                "the role's SCRAM verifier has {iterations} iterations, and each login runs them on both its connections; for a random machine password a verifier of 16 iterations is as safe and far cheaper: see \"The role's password\" in the README (or use a client certificate)"
            ),
            Finding::CannotConnect(error) => write!(f, "{error}; {REFUSED}"),
            Finding::SchemaCurrent { version } => write!(f, "database schema version {version}"),
            Finding::Schema(error) => write!(f, "{error}; {REFUSED}"),
            Finding::Query(error) => {
                write!(f, "cannot read the enrollments to check the key: {error}")
            }
            Finding::NoEnrollments => write!(f, "no user is enrolled in the database yet"),
            Finding::SecretsOpen {
                checked,
                total,
                key_file,
            } => {
                if *checked as u64 >= *total {
                    write!(
                        f,
                        "the secrets of all {} open with secret_key_file {}",
                        crate::text::plural(*total, "enrolled user"),
                        key_file.display()
                    )
                } else {
                    write!(
                        f,
                        "the secrets of the first {checked} of {total} enrolled users (by name) open with secret_key_file {}",
                        key_file.display()
                    )
                }
            }
            Finding::SecretsDoNotOpen {
                users,
                checked,
                key_file,
            } => {
                if users.len() == *checked {
                    write!(
                        f,
                        "none of the {} checked opens with secret_key_file {}: this host's key is not the one the fleet's secrets were sealed with, and every enrolled user's login is refused; copy secret.key unchanged from a host where logins work (owner root, mode 0600)",
                        crate::text::plural(*checked as u64, "enrolled secret"),
                        key_file.display()
                    )
                } else {
                    write!(
                        f,
                        "the secrets of {} ({} of {checked} checked) do not open with secret_key_file {}: they were sealed with a key this host does not have, or copied from another user's row, or changed without the key, and these users' logins are refused; give every host the same secret.key, then enroll them again (`pam-totp enroll --user U`)",
                        names(users),
                        users.len(),
                        key_file.display()
                    )
                }
            }
            Finding::SecretsMalformed { users } => write!(
                f,
                "the secrets of {} are not sealed values (truncated, or not format 0x02): whoever wrote these rows did not seal them as pam-totp.toml(5) describes, and these users' logins are refused; enroll them again (`pam-totp enroll --user U`)",
                names(users)
            ),
            Finding::SecretsOldFormat { users } => write!(
                f,
                "the enrollments of {} are sealed in the first format, which leaves every column but the secret unprotected, and these users' logins are refused; run `pam-totp db rekey` once to convert them",
                names(users)
            ),
            Finding::SecretsOlderKey { count, first } => write!(
                f,
                "{} sealed with another key of secret_key_file than the first ({first}); run `pam-totp db rekey` before deleting the other keys",
                match count {
                    1 => "1 enrollment is".to_string(),
                    count => format!("{count} enrollments are"),
                }
            ),
        }
    }
}

/// What [`examine`] found.
#[derive(Debug, Default)]
pub struct DatabaseAudit {
    pub findings: Vec<Finding>,
    /// How many users are enrolled, if the database could be asked.
    pub enrolled: Option<u64>,
}

impl DatabaseAudit {
    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// Examine the PostgreSQL store `config` names, as this host's module
/// would use it (run as root).
pub fn examine(config: &Config) -> DatabaseAudit {
    let mut audit = DatabaseAudit::default();
    let conninfo = examine_file(
        &mut audit,
        StoreFile::Database,
        &config.database_file,
        MAX_FILE_SIZE,
    )
    .and_then(
        |bytes| match ConnInfo::parse_file(&config.database_file, &bytes) {
            Ok(info) => Some(info),
            Err(error) => {
                audit.push(Finding::BadConnectionString(error));
                None
            }
        },
    );
    if let Some(info) = &conninfo {
        audit.push(Finding::ConnectionString {
            path: config.database_file.clone(),
            hosts: info.endpoints.iter().map(ToString::to_string).collect(),
            sslmode: info.sslmode,
            target: info.target_session_attrs,
        });
        if let Some(finding) = unverified(info) {
            audit.push(finding);
        }
        if !info.target_session_attrs.can_write() {
            audit.push(Finding::TargetCannotWrite(info.target_session_attrs));
        }
        for (keyword, path, secret) in info.named_files() {
            audit.push(
                match postgres::conninfo::read_named_file(keyword, path, secret, MAX_NAMED_FILE) {
                    Ok(_) => Finding::NamedFileSafe {
                        keyword,
                        path: path.to_path_buf(),
                        secret,
                    },
                    Err(error) => Finding::NamedFileUnsafe(error),
                },
            );
        }
        if let Some(finding) = password_could_be_certificate(info) {
            audit.push(finding);
        }
    }
    let key = examine_file(
        &mut audit,
        StoreFile::SecretKey,
        &config.secret_key_file,
        MAX_KEY_READ,
    )
    .and_then(|bytes| match KeyRing::parse(&bytes) {
        Ok(ring) => Some(ring),
        Err(error) => {
            audit.push(Finding::KeyFormat {
                path: config.secret_key_file.clone(),
                error,
            });
            None
        }
    });
    let Some(info) = conninfo else {
        return audit;
    };
    let timeout = Duration::from_secs(config.database_timeout);
    let mut db = match Database::connect(&info, timeout) {
        Ok(db) => db,
        Err(error) => {
            audit.push(Finding::CannotConnect(error));
            return audit;
        }
    };
    audit.push(Finding::Connected {
        host: db.host().to_string(),
        user: info.user.clone(),
    });
    if let Some(iterations) = db
        .scram_iterations()
        .filter(|&n| n > CHEAP_SCRAM_ITERATIONS)
    {
        audit.push(Finding::ScramIterations(iterations));
    }
    match postgres::check_version(&mut db) {
        Ok(version) => audit.push(Finding::SchemaCurrent { version }),
        Err(error) => {
            audit.push(Finding::Schema(error));
            return audit;
        }
    }
    if let Err(error) = examine_secrets(&mut audit, &mut db, key.as_ref(), &config.secret_key_file)
    {
        audit.push(Finding::Query(error));
    }
    audit
}

/// A verifier with at most this many iterations is not worth a note.
const CHEAP_SCRAM_ITERATIONS: u32 = 64;

/// The warning for a password where a client certificate could do, if any:
/// TLS is required (so a certificate can be presented) on a TCP host.
pub fn password_could_be_certificate(info: &ConnInfo) -> Option<Finding> {
    let tls_required = info.sslmode >= SslMode::Require;
    let over_tcp = info
        .endpoints
        .iter()
        .any(|endpoint| !endpoint.host.starts_with('/') || endpoint.hostaddr.is_some());
    (info.password().is_some() && tls_required && over_tcp).then_some(
        Finding::PasswordCouldBeCertificate {
            with_certificate: info.has_client_certificate(),
        },
    )
}

/// The warning for hosts reached over the network unverified, if any.
pub fn unverified(info: &ConnInfo) -> Option<Finding> {
    let hosts: Vec<String> = info
        .unverified_remote_hosts()
        .iter()
        .map(ToString::to_string)
        .collect();
    (!hosts.is_empty()).then_some(Finding::Unverified {
        hosts,
        sslmode: info.sslmode,
    })
}

/// The file's findings, and its contents if it can be read at all.
fn examine_file(
    audit: &mut DatabaseAudit,
    file: StoreFile,
    path: &Path,
    max: u64,
) -> Option<Zeroizing<Vec<u8>>> {
    let problems = paths::root_only_file(path);
    let readable = problems.iter().all(RootFileProblem::leaves_it_readable);
    if problems.is_empty() {
        audit.push(Finding::FileSafe {
            file,
            path: path.to_path_buf(),
        });
    }
    for problem in problems {
        audit.push(Finding::FileUnsafe {
            file,
            path: path.to_path_buf(),
            problem,
        });
    }
    if !readable {
        return None;
    }
    match read_bounded(path, max) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            audit.push(Finding::FileUnreadable {
                file,
                path: path.to_path_buf(),
                error: error.to_string(),
            });
            None
        }
    }
}

/// At most `max + 1` bytes of a regular file, not following a link and not
/// blocking on a FIFO swapped in since it was examined.
fn read_bounded(path: &Path, max: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("it is not a regular file"));
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(max + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Open the enrolled secrets (all, or the first [`MAX_SECRETS_CHECKED`]
/// by name) with `key`; without a key only count them.
fn examine_secrets(
    audit: &mut DatabaseAudit,
    db: &mut Database,
    key: Option<&KeyRing>,
    key_file: &Path,
) -> Result<(), DbError> {
    let rows =
        db.transaction(|db| db.query_typed("SELECT count(*) FROM pam_totp_enrollment", &[]))?;
    let total = rows
        .first()
        .and_then(|row| row.try_get::<_, i64>(0).ok())
        .map_or(0, |count| u64::try_from(count).unwrap_or(0));
    audit.enrolled = Some(total);
    let Some(key) = key else {
        return Ok(());
    };
    if total == 0 {
        audit.push(Finding::NoEnrollments);
        return Ok(());
    }
    let rows = db.transaction(|db| {
        db.query_typed(
            &format!(
                "SELECT user_name, {ENROLLMENT_COLUMNS} FROM pam_totp_enrollment ORDER BY user_name LIMIT $1"
            ),
            &[(&MAX_SECRETS_CHECKED, Type::INT8)],
        )
    })?;
    let mut not_opening = Vec::new();
    let mut malformed = Vec::new();
    let mut old_format = Vec::new();
    let mut older_key = 0;
    let first = key.sealing().id();
    for row in &rows {
        let user: String = row.try_get(0).map_err(column_error)?;
        let stored = EnrollmentRow::from_row(row).map_err(|error| DbError::Query {
            code: None,
            message: error.to_string(),
        })?;
        match stored.open(key, &user) {
            Ok((_, id)) => older_key += usize::from(id != first),
            Err(RowError::Seal(SealError::NotAuthentic | SealError::UnknownKey(_))) => {
                not_opening.push(user);
            }
            Err(RowError::Seal(SealError::OldFormat)) => old_format.push(user),
            Err(_) => malformed.push(user),
        }
    }
    let checked = rows.len().saturating_sub(old_format.len());
    if !old_format.is_empty() {
        audit.push(Finding::SecretsOldFormat { users: old_format });
    }
    if older_key > 0 {
        audit.push(Finding::SecretsOlderKey {
            count: older_key,
            first,
        });
    }
    if not_opening.is_empty() && malformed.is_empty() && checked > 0 {
        audit.push(Finding::SecretsOpen {
            checked,
            total,
            key_file: key_file.to_path_buf(),
        });
    }
    if !not_opening.is_empty() {
        audit.push(Finding::SecretsDoNotOpen {
            users: not_opening,
            checked: checked.saturating_sub(malformed.len()),
            key_file: key_file.to_path_buf(),
        });
    }
    if !malformed.is_empty() {
        audit.push(Finding::SecretsMalformed { users: malformed });
    }
    Ok(())
}

fn column_error(error: tokio_postgres::Error) -> DbError {
    DbError::Query {
        code: None,
        message: format!("unexpected column type ({error}); is the schema pam-totp's?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(conninfo: &str) -> Option<String> {
        unverified(&ConnInfo::parse(conninfo).unwrap()).map(|finding| {
            assert_eq!(finding.severity(), Severity::Warning);
            finding.to_string()
        })
    }

    /// The sslmode warning: only for hosts reached over the network, and
    /// only below verify-full.
    #[test]
    fn sslmode_below_verify_full_on_a_remote_host_is_a_warning() {
        for (conninfo, warned) in [
            ("host=127.0.0.1 user=u sslmode=disable", None),
            ("host=127.0.0.2 user=u sslmode=require", None),
            ("host=localhost,::1 user=u", None),
            ("host=/run/postgresql user=u sslmode=disable", None),
            (
                "host=db1.example,127.0.0.1 user=u sslmode=require",
                Some("db1.example:5432 over the network with sslmode=require"),
            ),
            (
                "host=10.0.0.5,10.0.0.6 port=5433 user=u sslmode=verify-ca sslrootcert=/ca.pem",
                Some("10.0.0.5:5433, 10.0.0.6:5433 over the network with sslmode=verify-ca"),
            ),
            (
                "host=db1.example hostaddr=192.0.2.7 user=u",
                Some("db1.example (192.0.2.7) port 5432 over the network with sslmode=prefer"),
            ),
            (
                "host=db1.example,db2.example user=u sslmode=verify-full sslrootcert=system",
                None,
            ),
        ] {
            let found = warning(conninfo);
            match warned {
                None => assert_eq!(found, None, "{conninfo}"),
                Some(words) => {
                    let found = found.unwrap_or_default();
                    assert!(found.contains(words), "{conninfo}: {found}");
                    assert!(found.contains("sslmode=verify-full"), "{found}");
                }
            }
        }
    }

    #[test]
    fn long_lists_of_names_are_cut() {
        let users: Vec<String> = (0..13).map(|n| format!("u{n}")).collect();
        assert_eq!(
            names(&users),
            "u0, u1, u2, u3, u4, u5, u6, u7, u8, u9 and 3 more"
        );
        assert_eq!(names(&users[..2]), "u0, u1");
    }

    #[test]
    fn a_missing_key_file_says_where_to_get_one() {
        let finding = Finding::FileUnsafe {
            file: StoreFile::SecretKey,
            path: PathBuf::from("/etc/pam-totp/secret.key"),
            problem: RootFileProblem::Missing,
        };
        assert_eq!(finding.severity(), Severity::Problem);
        let text = finding.to_string();
        assert!(text.starts_with("secret_key_file /etc/pam-totp/secret.key does not exist"));
        assert!(
            text.contains("copy it unchanged from a host of the fleet"),
            "{text}"
        );
        let finding = Finding::FileUnsafe {
            file: StoreFile::Database,
            path: PathBuf::from("/etc/pam-totp/database.conf"),
            problem: RootFileProblem::Mode { mode: 0o644 },
        };
        assert!(
            finding.to_string().ends_with(
                "has mode 0644: group or others may read it; it must be 0600 (it holds the database password); until it is fixed every login through pam_totp.so is refused; run: chmod 600 /etc/pam-totp/database.conf"
            ),
            "{finding}"
        );
    }
}
