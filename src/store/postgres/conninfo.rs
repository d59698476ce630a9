//! The connection string in `database_file`: one libpq connection string,
//! in keyword form (`host=a,b port=5432 user=pam ...`) or as a URI
//! (`postgresql://pam:pw@a:5432,b:5433/pam?sslmode=verify-full`).
//!
//! We parse it ourselves rather than with `tokio_postgres::Config`'s
//! parser: that one does not know `sslmode=verify-ca|verify-full` or
//! `sslrootcert`, and passes unknown keywords along silently in places.
//! Here every keyword is known, supported or refused by name, and the
//! result is turned into one `tokio_postgres::Config` per host (see
//! `client.rs`), with the TLS verification done by our own connector.
//!
//! Simplifications against libpq, documented for administrators:
//! `sslmode=allow` behaves as `prefer` (TLS first); `verify-ca` and
//! `verify-full` need an explicit `sslrootcert` (a file, or `system` for
//! the system's trust store, which needs `verify-full`); no file is read
//! from a home directory (`~/.postgresql/*`, `~/.pgpass`): name it with
//! `sslrootcert`, `sslcert`, `sslkey`, `passfile`. Every file the string
//! names is root's and not writable by group or others; keys and password
//! files have no group or other bits at all ([`read_named_file`]). A `#`
//! line is a comment, and lines are joined by spaces.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use crate::system::files::{self, FileRules, ReadError};

/// The largest `database_file` we read.
pub const MAX_FILE_SIZE: u64 = 64 * 1024;
/// The port when none is given, as libpq.
pub const DEFAULT_PORT: u16 = 5432;

/// `sslmode`, spelt as libpq spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Treated as `prefer` (TLS if the server offers it, no verification).
    Allow,
    /// TLS if the server offers it, else plain; the certificate is not checked.
    Prefer,
    /// TLS, certificate not checked (checked against `sslrootcert` when one
    /// is given, as libpq does).
    Require,
    /// TLS, the chain checked against `sslrootcert`, any host name.
    VerifyCa,
    /// TLS, the chain checked against `sslrootcert` and the host name.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Option<SslMode> {
        Some(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// The name as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the certificates that may sign the server's chain come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// The system trust store (`sslrootcert=system`).
    System,
}

/// `target_session_attrs`, every value libpq 15 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    /// The first host that accepts the connection.
    Any,
    /// The first host whose sessions accept writes (`transaction_read_only`
    /// off); standbys are skipped.
    ReadWrite,
    /// The first host whose sessions are read-only (for a store that
    /// writes, every login then fails: documented, not refused).
    ReadOnly,
    /// The first host not in recovery (the primary).
    Primary,
    /// The first host in recovery (a standby).
    Standby,
    /// A standby if one is reachable, else any host.
    PreferStandby,
}

impl TargetSession {
    fn parse(value: &str) -> Option<TargetSession> {
        Some(match value {
            "any" => TargetSession::Any,
            "read-write" => TargetSession::ReadWrite,
            "read-only" => TargetSession::ReadOnly,
            "primary" => TargetSession::Primary,
            "standby" => TargetSession::Standby,
            "prefer-standby" => TargetSession::PreferStandby,
            _ => return None,
        })
    }

    /// The name as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSession::Any => "any",
            TargetSession::ReadWrite => "read-write",
            TargetSession::ReadOnly => "read-only",
            TargetSession::Primary => "primary",
            TargetSession::Standby => "standby",
            TargetSession::PreferStandby => "prefer-standby",
        }
    }

    /// Whether a store that writes can work with this value: `read-only`
    /// and `standby` only ever reach servers that refuse writes.
    pub fn can_write(self) -> bool {
        !matches!(self, TargetSession::ReadOnly | TargetSession::Standby)
    }
}

/// `channel_binding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelBinding {
    Disable,
    Prefer,
    /// SCRAM-SHA-256-PLUS over TLS or no session (fails closed).
    Require,
}

/// `load_balance_hosts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalance {
    /// Hosts in the order given.
    Disable,
    /// Hosts (and each name's addresses) in a random order.
    Random,
}

/// An authentication method a server may ask for (`require_auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    Md5,
    Gss,
    Sspi,
    ScramSha256,
    /// No authentication exchange at all (trust, peer, or a client
    /// certificate accepted in the TLS handshake).
    None,
}

impl AuthMethod {
    const ALL: [AuthMethod; 6] = [
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::Gss,
        AuthMethod::Sspi,
        AuthMethod::ScramSha256,
        AuthMethod::None,
    ];

    fn parse(value: &str) -> Option<AuthMethod> {
        AuthMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::Md5 => "md5",
            AuthMethod::Gss => "gss",
            AuthMethod::Sspi => "sspi",
            AuthMethod::ScramSha256 => "scram-sha-256",
            AuthMethod::None => "none",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// `require_auth`: the methods the server may use (libpq 16's keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequireAuth {
    allowed: u8,
}

impl RequireAuth {
    /// `a,b` (only these) or `!a,!b` (all but these), as libpq.
    fn parse(value: &str) -> Result<RequireAuth, &'static str> {
        let items: Vec<&str> = value.split(',').map(str::trim).collect();
        let negated = items.first().is_some_and(|item| item.starts_with('!'));
        let mut listed = 0u8;
        for item in items {
            let name = match (negated, item.strip_prefix('!')) {
                (true, Some(name)) => name,
                (false, None) => item,
                _ => return Err("negated (!) and plain methods cannot be mixed"),
            };
            let method = AuthMethod::parse(name).ok_or(
                "password, md5, gss, sspi, scram-sha-256 or none, comma-separated, each optionally prefixed with !",
            )?;
            if listed & method.bit() != 0 {
                return Err("each method at most once");
            }
            listed |= method.bit();
        }
        let all = AuthMethod::ALL
            .iter()
            .fold(0, |bits, method| bits | method.bit());
        let allowed = if negated { all & !listed } else { listed };
        if allowed == 0 {
            return Err("at least one method left allowed");
        }
        Ok(RequireAuth { allowed })
    }

    /// Whether the server may use `method`.
    pub fn allows(self, method: AuthMethod) -> bool {
        self.allowed & method.bit() != 0
    }
}

/// A TLS protocol version (`ssl_min_protocol_version`, `ssl_max_protocol_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls1,
    Tls11,
    Tls12,
    Tls13,
}

impl TlsVersion {
    fn parse(value: &str) -> Option<TlsVersion> {
        Some(match value {
            "TLSv1" => TlsVersion::Tls1,
            "TLSv1.1" => TlsVersion::Tls11,
            "TLSv1.2" => TlsVersion::Tls12,
            "TLSv1.3" => TlsVersion::Tls13,
            _ => return None,
        })
    }
}

/// The TCP options libpq sets on each socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    /// `keepalives` (on unless `keepalives=0`).
    pub keepalives: bool,
    /// `keepalives_idle`, `keepalives_interval`: the system's when `None`.
    pub keepalives_idle: Option<Duration>,
    pub keepalives_interval: Option<Duration>,
    /// `keepalives_count`.
    pub keepalives_count: Option<u32>,
    /// `tcp_user_timeout` (milliseconds in the string; `None` for 0).
    pub tcp_user_timeout: Option<Duration>,
}

/// The TLS keywords besides `sslmode` and `sslrootcert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// `sslcert` and `sslkey`: a client certificate (pg_hba `cert`).
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    /// `sslcrl` (a PEM file) and `sslcrldir` (a directory of them).
    pub sslcrl: Option<PathBuf>,
    pub sslcrldir: Option<PathBuf>,
    /// `sslsni` (on unless `sslsni=0`).
    pub sni: bool,
    /// `ssl_min_protocol_version` (TLSv1.2 by default, as libpq 15).
    pub min_version: TlsVersion,
    pub max_version: Option<TlsVersion>,
    /// `sslnegotiation=direct` (PostgreSQL 17): TLS at once, no SSLRequest.
    pub direct: bool,
    /// `sslcertmode` (libpq 16): whether the client certificate is sent.
    pub certmode: CertMode,
}

/// `sslcertmode`, as libpq 16 reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertMode {
    /// Never send the client certificate, even with `sslcert` set.
    Disable,
    /// Send it when the server asks (the default).
    Allow,
    /// Fail unless a client certificate was sent: a check of the set-up,
    /// as libpq says, not a security property (a server may ask for a
    /// certificate and not verify it).
    Require,
}

/// One host to try, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name (or address, or Unix socket directory) as written; the name
    /// the server's certificate must match under `verify-full`.
    pub host: String,
    /// `hostaddr`: the address to connect to without resolving `host`.
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.hostaddr, self.host.contains(':')) {
            (Some(addr), _) if addr.to_string() != self.host => {
                write!(f, "{} ({addr}) port {}", self.host, self.port)
            }
            (_, true) => write!(f, "[{}]:{}", self.host, self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// A parsed connection string. Its `Debug` never shows the password.
#[derive(Clone)]
pub struct ConnInfo {
    pub endpoints: Vec<Endpoint>,
    pub user: String,
    password: Option<Zeroizing<String>>,
    pub dbname: Option<String>,
    pub application_name: Option<String>,
    /// `options` as given (server settings); ours are added after them.
    pub options: Option<String>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<RootCert>,
    pub target_session_attrs: TargetSession,
    /// `connect_timeout`: the bound on each host attempt, within
    /// `database_timeout` for the whole connection.
    pub connect_timeout: Option<Duration>,
    pub tcp: TcpOptions,
    pub tls: TlsOptions,
    pub channel_binding: ChannelBinding,
    pub require_auth: Option<RequireAuth>,
    pub load_balance_hosts: LoadBalance,
    /// `passfile`: where the password comes from when the string has none.
    pub passfile: Option<PathBuf>,
    /// `requirepeer`: the operating-system user the server runs as (Unix sockets).
    pub requirepeer: Option<String>,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnInfo")
            .field("endpoints", &self.endpoints)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("connect_timeout", &self.connect_timeout)
            .field("tcp", &self.tcp)
            .field("tls", &self.tls)
            .field("channel_binding", &self.channel_binding)
            .field("require_auth", &self.require_auth)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .field("passfile", &self.passfile)
            .field("requirepeer", &self.requirepeer)
            .finish()
    }
}

/// Why `database_file` or its connection string was refused. Never holds
/// the password.
#[derive(Debug)]
pub enum ConnInfoError {
    /// The file is missing, a link, not root's, open to group or others ...
    File { path: PathBuf, error: ReadError },
    /// The file is not UTF-8 text.
    NotText(PathBuf),
    /// The string cannot be parsed; says where and why.
    Syntax(String),
    /// A keyword libpq does not know either.
    UnknownKeyword(String),
    /// A libpq keyword pam-totp does not support, and why.
    Unsupported { keyword: String, why: &'static str },
    /// A value out of range; `value` is empty for the password.
    BadValue {
        keyword: &'static str,
        value: String,
        expected: &'static str,
    },
    /// A keyword pam-totp needs is missing.
    Missing {
        keyword: &'static str,
        hint: &'static str,
    },
    /// The `sslrootcert` file or the system store cannot be used.
    RootCert(String),
    /// A file the string names (`sslrootcert`, `sslcrl`, `sslcert`,
    /// `sslkey`, `passfile` ...) is missing, a link, not root's, or open to
    /// others.
    NamedFile {
        keyword: &'static str,
        path: PathBuf,
        error: ReadError,
        secret: bool,
    },
}

impl std::fmt::Display for ConnInfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnInfoError::File { path, error } => write!(
                f,
                "database file {} {error} (it must be a regular file owned by root, mode 0600)",
                path.display()
            ),
            ConnInfoError::NotText(path) => {
                write!(f, "database file {} is not UTF-8 text", path.display())
            }
            ConnInfoError::Syntax(what) => write!(f, "connection string: {what}"),
            ConnInfoError::UnknownKeyword(keyword) => {
                write!(f, "connection string: unknown keyword \"{keyword}\"")
            }
            ConnInfoError::Unsupported { keyword, why } => write!(
                f,
                "connection string: keyword \"{keyword}\" is not supported by pam-totp: {why}"
            ),
            ConnInfoError::BadValue {
                keyword,
                value,
                expected,
            } => write!(
                f,
                "connection string: bad value \"{value}\" for {keyword}: expected {expected}"
            ),
            ConnInfoError::Missing { keyword, hint } => {
                write!(f, "connection string: {keyword} is missing: {hint}")
            }
            ConnInfoError::RootCert(why) => write!(f, "connection string: {why}"),
            ConnInfoError::NamedFile {
                keyword,
                path,
                error,
                secret,
            } => {
                let path = path.display();
                let rule = if *secret {
                    "a regular file owned by root, mode 0600"
                } else {
                    "a regular file owned by root, not writable by group or others"
                };
                match error {
                    ReadError::BadOwner(uid) => write!(
                        f,
                        "connection string: {keyword} {path} is owned by uid {uid}, not by root; it must be {rule} (chown root {path})"
                    ),
                    ReadError::BadMode(mode) if !*secret => write!(
                        f,
                        "connection string: {keyword} {path} has mode {mode:04o}; it must be {rule} (chmod go-w {path})"
                    ),
                    ReadError::BadMode(mode) => write!(
                        f,
                        "connection string: {keyword} {path} has mode {mode:04o}; it must not be accessible by group or others (chmod 600 {path})"
                    ),
                    error => write!(
                        f,
                        "connection string: {keyword} {path} {error} (it must be {rule})"
                    ),
                }
            }
        }
    }
}

impl std::error::Error for ConnInfoError {}

/// libpq keywords we know but refuse, with the reason given to the
/// administrator: only what cannot work in a PAM module.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "sslpassword",
        "a login cannot type the passphrase of an encrypted sslkey; store the key unencrypted, owner root, mode 0600",
    ),
    (
        "krbsrvname",
        "GSSAPI (Kerberos) needs credentials a login does not have; use a client certificate (sslcert, sslkey) or a password",
    ),
    (
        "gsslib",
        "GSSAPI (Kerberos) needs credentials a login does not have; use a client certificate (sslcert, sslkey) or a password",
    ),
    (
        "gssdelegation",
        "GSSAPI (Kerberos) needs credentials a login does not have; use a client certificate (sslcert, sslkey) or a password",
    ),
    (
        "replication",
        "a replication connection cannot run the statements a login needs",
    ),
];

/// The system's service files, the first that exists is read for
/// `service=NAME` (libpq's sysconfdir: Debian's, then the usual others).
/// `PGSERVICEFILE`, `PGSYSCONFDIR` and `~/.pg_service.conf` belong to
/// whoever calls PAM and are not read.
pub const SERVICE_FILES: &[&str] = &[
    "/etc/postgresql-common/pg_service.conf",
    "/etc/sysconfig/pgsql/pg_service.conf",
    "/etc/pg_service.conf",
];

const SUPPORTED: &[&str] = &[
    "service",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "application_name",
    "fallback_application_name",
    "options",
    "client_encoding",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "requiressl",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "sslnegotiation",
    "sslcertmode",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "channel_binding",
    "require_auth",
    "requirepeer",
    "load_balance_hosts",
    "target_session_attrs",
];

impl ConnInfo {
    /// Read and parse `database_file`: a regular file (not a link) owned by
    /// root, no group or other bits.
    pub fn load(path: &Path) -> Result<ConnInfo, ConnInfoError> {
        let rules = FileRules {
            owners: &[0],
            max_size: MAX_FILE_SIZE,
        };
        let bytes = Zeroizing::new(files::read_protected(path, &rules).map_err(|error| {
            ConnInfoError::File {
                path: path.to_path_buf(),
                error,
            }
        })?);
        ConnInfo::parse_file(path, &bytes)
    }

    /// Parse the contents of `database_file` (read from `path`, already
    /// checked or, for `pam-totp check`, examined separately): UTF-8, `#`
    /// lines are comments, the other lines joined by spaces.
    pub fn parse_file(path: &Path, bytes: &[u8]) -> Result<ConnInfo, ConnInfoError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| ConnInfoError::NotText(path.to_path_buf()))?;
        let joined: Zeroizing<String> = Zeroizing::new(
            text.lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join(" "),
        );
        ConnInfo::parse(&joined)
    }

    /// Parse one connection string (keyword form or URI).
    pub fn parse(text: &str) -> Result<ConnInfo, ConnInfoError> {
        let text = text.trim();
        let pairs = if text.starts_with("postgresql://") || text.starts_with("postgres://") {
            parse_uri(text)?
        } else {
            parse_keywords(text)?
        };
        let mut values: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
        for (keyword, value) in pairs {
            check_keyword(&keyword)?;
            // As libpq: a later value replaces an earlier one.
            values.insert(keyword, value);
        }
        if let Some(name) = values.get("service").map(|name| name.to_string()) {
            let (path, text) = read_service_file()?;
            apply_service(&mut values, &name, &path, &text)?;
        }
        ConnInfo::from_values(&values)
    }

    fn from_values(
        values: &BTreeMap<String, Zeroizing<String>>,
    ) -> Result<ConnInfo, ConnInfoError> {
        fn lookup<'a>(
            values: &'a BTreeMap<String, Zeroizing<String>>,
            keyword: &str,
        ) -> Option<&'a str> {
            values
                .get(keyword)
                .map(|value| value.as_str())
                .filter(|value| !value.is_empty())
        }
        let get = |keyword: &str| lookup(values, keyword);
        let endpoints = endpoints(get("host"), get("hostaddr"), get("port"))?;
        let user = get("user").ok_or(ConnInfoError::Missing {
            keyword: "user",
            hint: "name the database role, e.g. user=pam_totp",
        })?;
        let sslmode = match get("sslmode") {
            // requiressl=1 is the old spelling of sslmode=require.
            None if get("requiressl") == Some("1") => SslMode::Require,
            None => SslMode::Prefer,
            Some(value) => SslMode::parse(value).ok_or_else(|| ConnInfoError::BadValue {
                keyword: "sslmode",
                value: value.to_string(),
                expected: "disable, allow, prefer, require, verify-ca or verify-full",
            })?,
        };
        let sslrootcert = match get("sslrootcert") {
            None => None,
            Some("system") => Some(RootCert::System),
            Some(path) if path.starts_with('/') => Some(RootCert::File(PathBuf::from(path))),
            Some(value) => {
                return Err(ConnInfoError::BadValue {
                    keyword: "sslrootcert",
                    value: value.to_string(),
                    expected: "an absolute path to a PEM file, or system",
                });
            }
        };
        match (sslmode, &sslrootcert) {
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(ConnInfoError::Missing {
                    keyword: "sslrootcert",
                    hint: "sslmode=verify-ca and verify-full need sslrootcert=/path/to/ca.crt (or sslrootcert=system with verify-full)",
                });
            }
            (mode, Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                return Err(ConnInfoError::BadValue {
                    keyword: "sslmode",
                    value: mode.as_str().to_string(),
                    expected: "verify-full with sslrootcert=system (any CA in the system store could sign for any name)",
                });
            }
            _ => {}
        }
        let target_session_attrs = match get("target_session_attrs") {
            None => TargetSession::Any,
            Some(value) => TargetSession::parse(value).ok_or_else(|| ConnInfoError::BadValue {
                keyword: "target_session_attrs",
                value: value.to_string(),
                expected: "any, read-write, read-only, primary, standby or prefer-standby",
            })?,
        };
        let tls = tls_options(values)?;
        let channel_binding = match get("channel_binding") {
            None | Some("prefer") => ChannelBinding::Prefer,
            Some("disable") => ChannelBinding::Disable,
            Some("require") => ChannelBinding::Require,
            Some(value) => return Err(bad("channel_binding", value, "disable, prefer or require")),
        };
        if channel_binding == ChannelBinding::Require && sslmode == SslMode::Disable {
            return Err(bad(
                "channel_binding",
                "require",
                "TLS for it: channel_binding=require cannot be used with sslmode=disable",
            ));
        }
        let require_auth = match get("require_auth") {
            None => None,
            Some(value) => Some(
                RequireAuth::parse(value)
                    .map_err(|expected| bad("require_auth", value, expected))?,
            ),
        };
        let load_balance_hosts = match get("load_balance_hosts") {
            None | Some("disable") => LoadBalance::Disable,
            Some("random") => LoadBalance::Random,
            Some(value) => return Err(bad("load_balance_hosts", value, "disable or random")),
        };
        if let Some(value) = get("client_encoding")
            && !matches!(
                value.to_ascii_uppercase().as_str(),
                "UTF8" | "UTF-8" | "UNICODE"
            )
        {
            return Err(bad(
                "client_encoding",
                value,
                "UTF8 (pam-totp always speaks UTF8)",
            ));
        }
        match get("gssencmode") {
            // As a libpq built without GSSAPI: prefer falls back to plain TCP.
            None | Some("disable" | "prefer") => {}
            Some(value) => {
                return Err(bad(
                    "gssencmode",
                    value,
                    "disable or prefer (GSSAPI encryption needs Kerberos credentials a login does not have)",
                ));
            }
        }
        if let Some(value) = get("sslcompression")
            && !matches!(value, "0" | "1")
        {
            return Err(bad(
                "sslcompression",
                value,
                "0 or 1 (ignored, as by libpq)",
            ));
        }
        if let Some(value) = get("requiressl")
            && !matches!(value, "0" | "1")
        {
            return Err(bad("requiressl", value, "0 or 1"));
        }
        Ok(ConnInfo {
            endpoints,
            user: user.to_string(),
            password: values
                .get("password")
                .map(|value| Zeroizing::new(value.to_string())),
            dbname: get("dbname").map(str::to_string),
            application_name: get("application_name")
                .or(get("fallback_application_name"))
                .map(str::to_string),
            options: get("options").map(str::to_string),
            sslmode,
            sslrootcert,
            target_session_attrs,
            connect_timeout: connect_timeout(get("connect_timeout"))?,
            tcp: TcpOptions {
                keepalives: match get("keepalives") {
                    None => true,
                    Some(value) => {
                        integer("keepalives", value, "an integer (0 turns them off)")? != 0
                    }
                },
                keepalives_idle: seconds(get("keepalives_idle"), "keepalives_idle")?,
                keepalives_interval: seconds(get("keepalives_interval"), "keepalives_interval")?,
                keepalives_count: match get("keepalives_count") {
                    None => None,
                    Some(value) => {
                        let count = integer("keepalives_count", value, "a count of 0 or more")?;
                        u32::try_from(count).ok().filter(|count| *count > 0)
                    }
                },
                tcp_user_timeout: match get("tcp_user_timeout") {
                    None => None,
                    Some(value) => {
                        let millis = integer("tcp_user_timeout", value, "milliseconds, 0 or more")?;
                        u64::try_from(millis)
                            .ok()
                            .filter(|millis| *millis > 0)
                            .map(Duration::from_millis)
                    }
                },
            },
            tls,
            channel_binding,
            require_auth,
            load_balance_hosts,
            passfile: absolute_path(get("passfile"), "passfile")?,
            requirepeer: get("requirepeer").map(str::to_string),
        })
    }

    /// Every file the string names, with its keyword and whether it holds a
    /// secret (no group or other bits then; else no group or other write).
    pub fn named_files(&self) -> Vec<(&'static str, &Path, bool)> {
        let mut files: Vec<(&'static str, &Path, bool)> = Vec::new();
        if let Some(RootCert::File(path)) = &self.sslrootcert {
            files.push(("sslrootcert", path, false));
        }
        if let Some(path) = &self.tls.sslcrl {
            files.push(("sslcrl", path, false));
        }
        if let Some(path) = &self.tls.sslcert {
            files.push(("sslcert", path, false));
        }
        if let Some(path) = &self.tls.sslkey {
            files.push(("sslkey", path, true));
        }
        if let Some(path) = &self.passfile {
            files.push(("passfile", path, true));
        }
        files
    }

    /// Whether the string presents a client certificate.
    pub fn has_client_certificate(&self) -> bool {
        self.tls.sslcert.is_some() && self.tls.sslkey.is_some()
    }

    /// The password for `endpoint`: the string's, else the matching line of
    /// `passfile` (read under the rules of [`read_named_file`]).
    pub fn password_for(
        &self,
        endpoint: &Endpoint,
    ) -> Result<Option<Zeroizing<String>>, ConnInfoError> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        let Some(path) = &self.passfile else {
            return Ok(None);
        };
        let bytes = read_named_file("passfile", path, true, MAX_FILE_SIZE)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ConnInfoError::NamedFile {
            keyword: "passfile",
            path: path.clone(),
            error: ReadError::Io(std::io::Error::other("is not UTF-8 text")),
            secret: true,
        })?;
        // As libpq: a socket directory, or no host, matches "localhost";
        // the database defaults to the user name.
        let host = if endpoint.host.starts_with('/') || endpoint.host.is_empty() {
            "localhost".to_string()
        } else {
            endpoint.host.clone()
        };
        let port = endpoint.port.to_string();
        let dbname = self.dbname.as_deref().unwrap_or(&self.user);
        let wanted = [host.as_str(), port.as_str(), dbname, self.user.as_str()];
        Ok(text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| passfile_match(line, &wanted)))
    }

    /// The password, if the string has one.
    pub fn password(&self) -> Option<&str> {
        self.password.as_ref().map(|password| password.as_str())
    }

    /// Whether a connection checks the server's certificate and host name.
    pub fn verifies_server(&self) -> bool {
        self.sslmode == SslMode::VerifyFull
    }

    /// Hosts reached over the network without `verify-full` (for `check`'s
    /// warning): loopback addresses, `localhost` and Unix sockets excepted.
    pub fn unverified_remote_hosts(&self) -> Vec<&Endpoint> {
        if self.verifies_server() {
            return Vec::new();
        }
        self.endpoints
            .iter()
            .filter(|endpoint| !is_local(endpoint))
            .collect()
    }
}

fn is_local(endpoint: &Endpoint) -> bool {
    if endpoint.host.starts_with('/') {
        return true;
    }
    let address = endpoint
        .hostaddr
        .or_else(|| endpoint.host.parse::<IpAddr>().ok());
    match address {
        // Canonical: ::ffff:127.0.0.1 is loopback too.
        Some(address) => address.to_canonical().is_loopback(),
        None => endpoint.host == "localhost",
    }
}

fn bad(keyword: &'static str, value: &str, expected: &'static str) -> ConnInfoError {
    ConnInfoError::BadValue {
        keyword,
        value: value.to_string(),
        expected,
    }
}

/// An integer as libpq reads one (surrounding blanks allowed).
fn integer(
    keyword: &'static str,
    value: &str,
    expected: &'static str,
) -> Result<i64, ConnInfoError> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(keyword, value, expected))
}

/// Seconds; 0 (or less) means the system's default, as libpq.
fn seconds(value: Option<&str>, keyword: &'static str) -> Result<Option<Duration>, ConnInfoError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let seconds = integer(keyword, value, "seconds, 0 or more")?;
    Ok(u64::try_from(seconds)
        .ok()
        .filter(|seconds| *seconds > 0)
        .map(Duration::from_secs))
}

/// `connect_timeout`: seconds, 0 or less for none, 1 taken as 2 (libpq:
/// "to prevent possibly waiting hardly at all").
fn connect_timeout(value: Option<&str>) -> Result<Option<Duration>, ConnInfoError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let seconds = integer("connect_timeout", value, "seconds (0 for none)")?;
    Ok(match seconds {
        ..=0 => None,
        1 => Some(Duration::from_secs(2)),
        seconds => Some(Duration::from_secs(
            u64::try_from(seconds).unwrap_or(u64::MAX),
        )),
    })
}

fn absolute_path(
    value: Option<&str>,
    keyword: &'static str,
) -> Result<Option<PathBuf>, ConnInfoError> {
    match value {
        None => Ok(None),
        Some(path) if path.starts_with('/') => Ok(Some(PathBuf::from(path))),
        Some(value) => Err(bad(keyword, value, "an absolute path")),
    }
}

fn tls_options(values: &BTreeMap<String, Zeroizing<String>>) -> Result<TlsOptions, ConnInfoError> {
    let get = |keyword: &str| {
        values
            .get(keyword)
            .map(|value| value.as_str())
            .filter(|value| !value.is_empty())
    };
    let version = |keyword: &'static str| -> Result<Option<TlsVersion>, ConnInfoError> {
        match get(keyword) {
            None => Ok(None),
            Some(value) => TlsVersion::parse(value)
                .map(Some)
                .ok_or_else(|| bad(keyword, value, "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3")),
        }
    };
    let min_version = version("ssl_min_protocol_version")?.unwrap_or(TlsVersion::Tls12);
    let max_version = version("ssl_max_protocol_version")?;
    if let Some(max) = max_version {
        if max < min_version {
            return Err(bad(
                "ssl_max_protocol_version",
                get("ssl_max_protocol_version").unwrap_or_default(),
                "a version not below ssl_min_protocol_version",
            ));
        }
        if max < TlsVersion::Tls12 {
            return Err(bad(
                "ssl_max_protocol_version",
                get("ssl_max_protocol_version").unwrap_or_default(),
                "TLSv1.2 or TLSv1.3 (older versions are not implemented, being unsafe)",
            ));
        }
    }
    let sslcert = absolute_path(get("sslcert"), "sslcert")?;
    let sslkey = absolute_path(get("sslkey"), "sslkey")?;
    match (&sslcert, &sslkey) {
        (Some(_), None) => {
            return Err(ConnInfoError::Missing {
                keyword: "sslkey",
                hint: "sslcert needs sslkey=/path/to/the/private.key (owner root, mode 0600)",
            });
        }
        (None, Some(_)) => {
            return Err(ConnInfoError::Missing {
                keyword: "sslcert",
                hint: "sslkey needs sslcert=/path/to/the/client.crt",
            });
        }
        _ => {}
    }
    Ok(TlsOptions {
        sslcert,
        sslkey,
        sslcrl: absolute_path(get("sslcrl"), "sslcrl")?,
        sslcrldir: absolute_path(get("sslcrldir"), "sslcrldir")?,
        sni: match get("sslsni") {
            None | Some("1") => true,
            Some("0") => false,
            Some(value) => return Err(bad("sslsni", value, "0 or 1")),
        },
        min_version,
        max_version,
        direct: match get("sslnegotiation") {
            None | Some("postgres") => false,
            Some("direct") => true,
            Some(value) => return Err(bad("sslnegotiation", value, "postgres or direct")),
        },
        certmode: match get("sslcertmode") {
            None | Some("allow") => CertMode::Allow,
            Some("disable") => CertMode::Disable,
            Some("require") => CertMode::Require,
            Some(value) => return Err(bad("sslcertmode", value, "disable, allow or require")),
        },
    })
}

/// One `passfile` line (`host:port:database:user:password`, `*` matching
/// anything, `\` escaping `:` and `\`) against the wanted four fields:
/// the password if it matches.
fn passfile_match(line: &str, wanted: &[&str; 4]) -> Option<Zeroizing<String>> {
    let mut fields: Vec<Zeroizing<String>> = vec![Zeroizing::new(String::new())];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == ':' {
            // As libpq: the password ends at an unescaped ":" too.
            if fields.len() == 5 {
                break;
            }
            fields.push(Zeroizing::new(String::new()));
            continue;
        }
        let c = if c == '\\' {
            chars.next().unwrap_or('\\')
        } else {
            c
        };
        fields.last_mut()?.push(c);
    }
    if fields.len() != 5 {
        return None;
    }
    let matches = wanted
        .iter()
        .zip(&fields)
        .all(|(want, field)| field.as_str() == "*" || field.as_str() == *want);
    let password = fields.pop()?;
    (matches && !password.is_empty()).then_some(password)
}

/// Read a file the connection string names: a regular file (not a link)
/// owned by root, not writable by group or others, and with no group or
/// other bits at all when it holds a secret (`sslkey`, `passfile`).
pub fn read_named_file(
    keyword: &'static str,
    path: &Path,
    secret: bool,
    max_size: u64,
) -> Result<Zeroizing<Vec<u8>>, ConnInfoError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let fail = |error: ReadError| ConnInfoError::NamedFile {
        keyword,
        path: path.to_path_buf(),
        error,
        secret,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| {
            fail(match error.raw_os_error() {
                Some(libc::ENOENT) => ReadError::Missing,
                Some(libc::ELOOP) => ReadError::Symlink,
                _ => ReadError::Io(error),
            })
        })?;
    let meta = file
        .metadata()
        .map_err(|error| fail(ReadError::Io(error)))?;
    if !meta.file_type().is_file() {
        return Err(fail(ReadError::NotRegular));
    }
    if meta.uid() != 0 {
        return Err(fail(ReadError::BadOwner(meta.uid())));
    }
    let mode = meta.mode() & 0o7777;
    let forbidden = if secret { 0o077 } else { 0o022 };
    if mode & forbidden != 0 {
        return Err(fail(ReadError::BadMode(mode)));
    }
    if meta.size() > max_size {
        return Err(fail(ReadError::TooLarge(meta.size())));
    }
    let mut contents = Zeroizing::new(Vec::new());
    file.take(max_size + 1)
        .read_to_end(&mut contents)
        .map_err(|error| fail(ReadError::Io(error)))?;
    if contents.len() as u64 > max_size {
        return Err(fail(ReadError::TooLarge(contents.len() as u64)));
    }
    Ok(contents)
}

/// The first of [`SERVICE_FILES`] that exists, read under the rules for
/// a file that may hold a password (root's, no group or other bits).
fn read_service_file() -> Result<(PathBuf, Zeroizing<String>), ConnInfoError> {
    let path = SERVICE_FILES
        .iter()
        .map(Path::new)
        .find(|path| path.exists())
        .ok_or(ConnInfoError::Missing {
            keyword: "service",
            hint: "service=NAME reads /etc/postgresql-common/pg_service.conf (owner root, mode 0600), which does not exist; create it, or write the parameters in database_file itself",
        })?;
    let bytes = read_named_file("service", path, true, MAX_FILE_SIZE)?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ConnInfoError::NamedFile {
        keyword: "service",
        path: path.to_path_buf(),
        error: ReadError::Io(std::io::Error::other("is not UTF-8 text")),
        secret: true,
    })?;
    Ok((path.to_path_buf(), Zeroizing::new(text)))
}

/// Add the keywords of section `[name]` of a service file (`text`, read
/// from `path`) that the string does not set itself, as libpq does.
fn apply_service(
    values: &mut BTreeMap<String, Zeroizing<String>>,
    name: &str,
    path: &Path,
    text: &str,
) -> Result<(), ConnInfoError> {
    let mut in_section = false;
    let mut found = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == name;
            found |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        let (keyword, value) = line.split_once('=').ok_or_else(|| {
            ConnInfoError::Syntax(format!(
                "service file {}: a line of [{name}] without \"=\"",
                path.display()
            ))
        })?;
        let keyword = keyword.trim();
        if keyword == "service" {
            return Err(ConnInfoError::Syntax(format!(
                "service file {}: [{name}] names another service",
                path.display()
            )));
        }
        check_keyword(keyword)?;
        values
            .entry(keyword.to_string())
            .or_insert_with(|| Zeroizing::new(value.trim().to_string()));
    }
    if !found {
        return Err(bad(
            "service",
            name,
            "the name of a [section] of the service file",
        ));
    }
    Ok(())
}

fn check_keyword(keyword: &str) -> Result<(), ConnInfoError> {
    if SUPPORTED.contains(&keyword) {
        return Ok(());
    }
    match UNSUPPORTED.iter().find(|(name, _)| *name == keyword) {
        Some((_, why)) => Err(ConnInfoError::Unsupported {
            keyword: keyword.to_string(),
            why,
        }),
        None => Err(ConnInfoError::UnknownKeyword(keyword.to_string())),
    }
}

/// `host`, `hostaddr` and `port` lists, paired as libpq pairs them.
fn endpoints(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
) -> Result<Vec<Endpoint>, ConnInfoError> {
    let addresses: Vec<Option<IpAddr>> = match hostaddr {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|item| {
                let item = item.trim();
                if item.is_empty() {
                    return Ok(None);
                }
                item.parse().map(Some).map_err(|_| ConnInfoError::BadValue {
                    keyword: "hostaddr",
                    value: item.to_string(),
                    expected: "numeric IP addresses, comma-separated",
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let names: Vec<String> = match host {
        Some(list) => list
            .split(',')
            .map(|item| item.trim().to_string())
            .collect(),
        None if !addresses.is_empty() => addresses
            .iter()
            .map(|address| address.map(|a| a.to_string()).unwrap_or_default())
            .collect(),
        None => {
            return Err(ConnInfoError::Missing {
                keyword: "host",
                hint: "name the database host(s), e.g. host=db1.example.org,db2.example.org (or host=/var/run/postgresql for the local socket)",
            });
        }
    };
    if !addresses.is_empty() && addresses.len() != names.len() {
        return Err(ConnInfoError::BadValue {
            keyword: "hostaddr",
            value: hostaddr.unwrap_or_default().to_string(),
            expected: "as many addresses as hosts",
        });
    }
    let ports: Vec<u16> = match port {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|item| {
                let item = item.trim();
                if item.is_empty() {
                    return Ok(DEFAULT_PORT);
                }
                item.parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| ConnInfoError::BadValue {
                        keyword: "port",
                        value: item.to_string(),
                        expected: "port numbers 1-65535, comma-separated",
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if ports.len() > 1 && ports.len() != names.len() {
        return Err(ConnInfoError::BadValue {
            keyword: "port",
            value: port.unwrap_or_default().to_string(),
            expected: "one port, or one per host",
        });
    }
    names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let hostaddr = addresses.get(index).copied().flatten();
            if name.is_empty() && hostaddr.is_none() {
                return Err(ConnInfoError::BadValue {
                    keyword: "host",
                    value: host.unwrap_or_default().to_string(),
                    expected: "no empty host in the list",
                });
            }
            let port = match ports.as_slice() {
                [one] => *one,
                _ => ports.get(index).copied().unwrap_or(DEFAULT_PORT),
            };
            let host = if name.is_empty() {
                hostaddr.map(|a| a.to_string()).unwrap_or_default()
            } else {
                name
            };
            Ok(Endpoint {
                host,
                hostaddr,
                port,
            })
        })
        .collect()
}

type Pairs = Vec<(String, Zeroizing<String>)>;

/// `keyword = value ...`, values optionally in single quotes, `\` escaping
/// the next character (libpq's rules).
fn parse_keywords(text: &str) -> Result<Pairs, ConnInfoError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            keyword.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(ConnInfoError::Syntax(format!(
                "missing \"=\" after \"{keyword}\""
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = Zeroizing::new(String::new());
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(ConnInfoError::Syntax(format!(
                            "unterminated quoted value for \"{keyword}\""
                        )));
                    }
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ConnInfoError::Syntax(format!(
                                "unterminated quoted value for \"{keyword}\""
                            )));
                        }
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if keyword.is_empty() {
            return Err(ConnInfoError::Syntax(
                "a value without a keyword".to_string(),
            ));
        }
        pairs.push((keyword, value));
    }
    Ok(pairs)
}

/// `postgresql://[user[:password]@][host[:port][,...]][/dbname][?keyword=value&...]`
fn parse_uri(text: &str) -> Result<Pairs, ConnInfoError> {
    let rest = text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
        .unwrap_or(text);
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, dbname) = match before_query.split_once('/') {
        Some((authority, dbname)) => (authority, Some(dbname)),
        None => (before_query, None),
    };
    if rest.contains('@') && !authority.contains('@') {
        // Never echo this text: it holds a password cut in two.
        return Err(ConnInfoError::Syntax(
            "a \"/\", \"?\" or \"@\" in the URI's user name or password must be percent-encoded (%2F, %3F, %40)".to_string(),
        ));
    }
    let mut pairs: Pairs = Vec::new();
    let hostlist = match authority.rsplit_once('@') {
        Some((userinfo, hostlist)) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                pairs.push(("user".to_string(), percent_decode(user, "the user name")?));
            }
            if let Some(password) = password {
                pairs.push((
                    "password".to_string(),
                    percent_decode(password, "the password")?,
                ));
            }
            hostlist
        }
        None => authority,
    };
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for item in hostlist.split(',') {
            let (host, port) = split_host_port(item)?;
            hosts.push(percent_decode(host, "a host")?.to_string());
            ports.push(port.to_string());
        }
        pairs.push(("host".to_string(), Zeroizing::new(hosts.join(","))));
        if ports.iter().any(|port| !port.is_empty()) {
            pairs.push(("port".to_string(), Zeroizing::new(ports.join(","))));
        }
    }
    if let Some(dbname) = dbname.filter(|name| !name.is_empty()) {
        pairs.push((
            "dbname".to_string(),
            percent_decode(dbname, "the database name")?,
        ));
    }
    for parameter in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (keyword, value) = parameter
            .split_once('=')
            .ok_or_else(|| ConnInfoError::Syntax("a URI parameter without \"=\"".to_string()))?;
        let keyword = percent_decode(keyword, "a URI parameter name")?.to_string();
        let value = percent_decode(value, "a URI parameter value")?;
        pairs.push((keyword, value));
    }
    Ok(pairs)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(item: &str) -> Result<(&str, &str), ConnInfoError> {
    if let Some(bracketed) = item.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| {
            ConnInfoError::Syntax(format!("unterminated \"[\" in URI host \"{item}\""))
        })?;
        return match after {
            "" => Ok((host, "")),
            port => port
                .strip_prefix(':')
                .map(|port| (host, port))
                .ok_or_else(|| {
                    ConnInfoError::Syntax(format!("unexpected text after \"]\" in \"{item}\""))
                }),
        };
    }
    Ok(item.split_once(':').unwrap_or((item, "")))
}

fn percent_decode(text: &str, what: &str) -> Result<Zeroizing<String>, ConnInfoError> {
    let bad = || ConnInfoError::Syntax(format!("bad percent-encoding in {what}"));
    let mut bytes = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        if byte == b'%' {
            let high = input.next().and_then(hex_value).ok_or_else(bad)?;
            let low = input.next().and_then(hex_value).ok_or_else(bad)?;
            bytes.push(high << 4 | low);
        } else {
            bytes.push(byte);
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad())?;
    Ok(Zeroizing::new(text.to_string()))
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.to_string(),
            hostaddr: None,
            port,
        }
    }

    #[test]
    fn keyword_form_with_several_hosts() {
        let info = ConnInfo::parse(
            "host=db1,db2 port=5432,5433 user=pam password='it''s' dbname=totp \
             target_session_attrs=read-write sslmode=verify-full sslrootcert=/etc/ca.pem \
             application_name=pam-totp",
        );
        // A doubled quote is not libpq syntax: the value ends at the first quote.
        assert!(info.is_err());
        let info = ConnInfo::parse(
            "host = db1,db2 port=5432,5433 user=pam password='it\\'s a \\\\ secret' dbname=totp \
             target_session_attrs=read-write sslmode=verify-full sslrootcert=/etc/ca.pem \
             application_name=pam-totp",
        )
        .unwrap();
        assert_eq!(
            info.endpoints,
            [endpoint("db1", 5432), endpoint("db2", 5433)]
        );
        assert_eq!(info.user, "pam");
        assert_eq!(info.password(), Some("it's a \\ secret"));
        assert_eq!(info.dbname.as_deref(), Some("totp"));
        assert_eq!(info.target_session_attrs, TargetSession::ReadWrite);
        assert_eq!(info.sslmode, SslMode::VerifyFull);
        assert_eq!(
            info.sslrootcert,
            Some(RootCert::File(PathBuf::from("/etc/ca.pem")))
        );
        assert_eq!(info.application_name.as_deref(), Some("pam-totp"));
        assert!(info.verifies_server());
    }

    #[test]
    fn one_port_serves_every_host_and_default_is_5432() {
        let info = ConnInfo::parse("host=a,b,c port=6000 user=u").unwrap();
        assert!(info.endpoints.iter().all(|e| e.port == 6000));
        let info = ConnInfo::parse("host=a user=u").unwrap();
        assert_eq!(info.endpoints, [endpoint("a", 5432)]);
        assert_eq!(info.sslmode, SslMode::Prefer);
        assert_eq!(info.target_session_attrs, TargetSession::Any);
    }

    #[test]
    fn uri_form() {
        let info = ConnInfo::parse(
            "postgresql://pam%40x:p%40ss%3Aword@db1:5432,[::1]:5433,db3/totp?sslmode=require&target_session_attrs=read-write",
        )
        .unwrap();
        assert_eq!(info.user, "pam@x");
        assert_eq!(info.password(), Some("p@ss:word"));
        assert_eq!(
            info.endpoints,
            [
                endpoint("db1", 5432),
                endpoint("::1", 5433),
                endpoint("db3", 5432)
            ]
        );
        assert_eq!(info.dbname.as_deref(), Some("totp"));
        assert_eq!(info.sslmode, SslMode::Require);
        assert_eq!(info.target_session_attrs, TargetSession::ReadWrite);
        let info = ConnInfo::parse("postgres://127.0.0.1?user=u").unwrap();
        assert_eq!(info.endpoints, [endpoint("127.0.0.1", 5432)]);
        assert!(matches!(
            ConnInfo::parse("postgresql://u@h/db?bogus=1"),
            Err(ConnInfoError::UnknownKeyword(k)) if k == "bogus"
        ));
        assert!(matches!(
            ConnInfo::parse("postgresql://u@h/d%zz"),
            Err(ConnInfoError::Syntax(_))
        ));
    }

    #[test]
    fn hostaddr_pairs_with_hosts() {
        let info = ConnInfo::parse("host=db.example hostaddr=10.0.0.1 user=u").unwrap();
        assert_eq!(
            info.endpoints[0].hostaddr,
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            info.endpoints[0].to_string(),
            "db.example (10.0.0.1) port 5432"
        );
        let info = ConnInfo::parse("hostaddr=10.0.0.1,10.0.0.2 user=u").unwrap();
        assert_eq!(info.endpoints[1].host, "10.0.0.2");
        assert!(matches!(
            ConnInfo::parse("host=a,b hostaddr=10.0.0.1 user=u"),
            Err(ConnInfoError::BadValue {
                keyword: "hostaddr",
                ..
            })
        ));
    }

    #[test]
    fn every_sslmode_libpq_knows() {
        for (text, mode) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Allow),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
            ("verify-ca", SslMode::VerifyCa),
            ("verify-full", SslMode::VerifyFull),
        ] {
            let info =
                ConnInfo::parse(&format!("host=h user=u sslmode={text} sslrootcert=/ca.pem"))
                    .unwrap();
            assert_eq!(info.sslmode, mode);
            assert_eq!(mode.as_str(), text);
        }
        assert!(matches!(
            ConnInfo::parse("host=h user=u sslmode=verify"),
            Err(ConnInfoError::BadValue { keyword: "sslmode", value, .. }) if value == "verify"
        ));
    }

    #[test]
    fn verification_needs_a_root_certificate() {
        for mode in ["verify-ca", "verify-full"] {
            assert!(matches!(
                ConnInfo::parse(&format!("host=h user=u sslmode={mode}")),
                Err(ConnInfoError::Missing {
                    keyword: "sslrootcert",
                    ..
                })
            ));
        }
        let info = ConnInfo::parse("host=h user=u sslmode=verify-full sslrootcert=system").unwrap();
        assert_eq!(info.sslrootcert, Some(RootCert::System));
        assert!(
            ConnInfo::parse("host=h user=u sslmode=verify-ca sslrootcert=system").is_err(),
            "any public CA signs for any name: system needs verify-full"
        );
        assert!(ConnInfo::parse("host=h user=u sslrootcert=ca.pem").is_err());
    }

    #[test]
    fn bad_and_unknown_keywords_are_named() {
        let error = ConnInfo::parse("host=h user=u sslpassword=x").unwrap_err();
        assert!(error.to_string().contains("\"sslpassword\""), "{error}");
        assert!(error.to_string().contains("passphrase"), "{error}");
        assert!(matches!(error, ConnInfoError::Unsupported { .. }));
        let error = ConnInfo::parse("host=h user=u hots=x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "connection string: unknown keyword \"hots\""
        );
        assert!(matches!(
            ConnInfo::parse("host=h user=u port=99999"),
            Err(ConnInfoError::BadValue {
                keyword: "port",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=a,b,c port=1,2 user=u"),
            Err(ConnInfoError::BadValue {
                keyword: "port",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user=u target_session_attrs=master"),
            Err(ConnInfoError::BadValue {
                keyword: "target_session_attrs",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("user=u"),
            Err(ConnInfoError::Missing {
                keyword: "host",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h"),
            Err(ConnInfoError::Missing {
                keyword: "user",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user"),
            Err(ConnInfoError::Syntax(_))
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user='u"),
            Err(ConnInfoError::Syntax(_))
        ));
    }

    #[test]
    fn every_target_session_attrs_of_libpq_15() {
        for value in [
            "any",
            "read-write",
            "read-only",
            "primary",
            "standby",
            "prefer-standby",
        ] {
            let info =
                ConnInfo::parse(&format!("host=h user=u target_session_attrs={value}")).unwrap();
            assert_eq!(info.target_session_attrs.as_str(), value);
            assert_eq!(
                info.target_session_attrs.can_write(),
                !matches!(value, "read-only" | "standby"),
                "{value}"
            );
        }
    }

    #[test]
    fn libpq_connection_keywords_are_honoured() {
        let info = ConnInfo::parse(
            "host=a,b user=u connect_timeout=3 keepalives=1 keepalives_idle=30 \
             keepalives_interval=5 keepalives_count=4 tcp_user_timeout=9000 \
             channel_binding=require sslmode=require require_auth=scram-sha-256 \
             load_balance_hosts=random sslcrl=/etc/crl.pem sslcert=/etc/c.crt \
             sslkey=/etc/c.key passfile=/etc/pgpass sslsni=0 \
             ssl_min_protocol_version=TLSv1.3 client_encoding=UTF8 gssencmode=disable \
             fallback_application_name=fb requirepeer=postgres",
        )
        .unwrap();
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            info.tcp,
            TcpOptions {
                keepalives: true,
                keepalives_idle: Some(Duration::from_secs(30)),
                keepalives_interval: Some(Duration::from_secs(5)),
                keepalives_count: Some(4),
                tcp_user_timeout: Some(Duration::from_millis(9000)),
            }
        );
        assert_eq!(info.channel_binding, ChannelBinding::Require);
        assert_eq!(info.load_balance_hosts, LoadBalance::Random);
        let auth = info.require_auth.unwrap();
        assert!(auth.allows(AuthMethod::ScramSha256));
        assert!(!auth.allows(AuthMethod::Password));
        assert!(!auth.allows(AuthMethod::None));
        assert!(!info.tls.sni);
        assert_eq!(info.tls.min_version, TlsVersion::Tls13);
        assert_eq!(info.application_name.as_deref(), Some("fb"));
        assert_eq!(info.requirepeer.as_deref(), Some("postgres"));
        assert!(info.has_client_certificate());
        let files: Vec<_> = info
            .named_files()
            .iter()
            .map(|(k, _, s)| (*k, *s))
            .collect();
        assert_eq!(
            files,
            [
                ("sslcrl", false),
                ("sslcert", false),
                ("sslkey", true),
                ("passfile", true)
            ]
        );
        // libpq's rounding of 1 s, and 0 for none.
        let timeout = |text: &str| {
            ConnInfo::parse(&format!("host=h user=u connect_timeout={text}"))
                .unwrap()
                .connect_timeout
        };
        assert_eq!(timeout("1"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("0"), None);
        assert_eq!(timeout("-5"), None);
        let info = ConnInfo::parse("host=h user=u keepalives=0").unwrap();
        assert!(!info.tcp.keepalives);
        let auth = ConnInfo::parse("host=h user=u require_auth=!password,!md5")
            .unwrap()
            .require_auth
            .unwrap();
        assert!(auth.allows(AuthMethod::None) && auth.allows(AuthMethod::ScramSha256));
        assert!(!auth.allows(AuthMethod::Md5));
        for bad in [
            "require_auth=password,!md5",
            "require_auth=kerberos",
            "require_auth=md5,md5",
            "channel_binding=always",
            "channel_binding=require sslmode=disable",
            "load_balance_hosts=yes",
            "keepalives_idle=soon",
            "sslcert=/c.crt",
            "sslkey=/c.key",
            "sslcert=relative.crt sslkey=/k",
            "client_encoding=LATIN1",
            "gssencmode=require",
            "ssl_max_protocol_version=TLSv1.1",
            "ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
            "sslnegotiation=fast",
        ] {
            assert!(
                ConnInfo::parse(&format!("host=h user=u {bad}")).is_err(),
                "{bad}"
            );
        }
        let info = ConnInfo::parse("host=h user=u requiressl=1").unwrap();
        assert_eq!(info.sslmode, SslMode::Require);
    }

    #[test]
    fn a_service_section_fills_in_what_the_string_does_not_set() {
        let file = "# the fleet\n[other]\nhost=x\n[pamtotp]\nhost = db1,db2\nport=5433\nuser=svc\nsslmode=verify-full\nsslrootcert=/etc/ca.pem\n";
        let mut values = BTreeMap::new();
        values.insert("user".to_string(), Zeroizing::new("mine".to_string()));
        apply_service(&mut values, "pamtotp", Path::new("/f"), file).unwrap();
        let info = ConnInfo::from_values(&values).unwrap();
        assert_eq!(info.user, "mine", "the string wins");
        assert_eq!(
            info.endpoints,
            [endpoint("db1", 5433), endpoint("db2", 5433)]
        );
        assert_eq!(info.sslmode, SslMode::VerifyFull);
        assert!(apply_service(&mut BTreeMap::new(), "nope", Path::new("/f"), file).is_err());
        assert!(
            apply_service(&mut BTreeMap::new(), "s", Path::new("/f"), "[s]\nbogus=1\n").is_err()
        );
        assert!(
            apply_service(
                &mut BTreeMap::new(),
                "s",
                Path::new("/f"),
                "[s]\nservice=t\n"
            )
            .is_err()
        );
    }

    #[test]
    fn passfile_lines_match_as_libpq_matches_them() {
        let wanted = ["db1", "5432", "totp", "pam"];
        let pick = |line: &str| passfile_match(line, &wanted).map(|p| p.to_string());
        assert_eq!(pick("db1:5432:totp:pam:secret").as_deref(), Some("secret"));
        assert_eq!(pick("*:*:*:pam:any").as_deref(), Some("any"));
        assert_eq!(pick("db2:5432:totp:pam:no"), None);
        assert_eq!(pick("db1:5432:totp:pam"), None);
        assert_eq!(
            pick("db1:5432:totp:pam:a\\:b\\\\c:ignored").as_deref(),
            Some("a:b\\c")
        );
        assert_eq!(
            pick("d\\b1:5432:totp:pam:escaped").as_deref(),
            Some("escaped")
        );
    }

    #[test]
    fn the_password_is_never_shown() {
        let info = ConnInfo::parse("host=h user=u password=hunter2").unwrap();
        assert!(!format!("{info:?}").contains("hunter2"));
        for text in [
            "host=h user=u password=hunter2 port=x",
            "postgresql://u:hunter2@h/d?sslmode=bogus",
            "postgresql://u:hunter2@h:bad/d",
            "postgresql://u:hun/ter2@h/d",
            "postgresql://u:hun?ter2@h/d",
        ] {
            let error = ConnInfo::parse(text).unwrap_err();
            assert!(!error.to_string().contains("hunter2"), "{error}");
            assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
        }
    }

    #[test]
    fn remote_hosts_without_verification_are_listed() {
        let info = ConnInfo::parse("host=127.0.0.1,localhost,/run/pg,db.example user=u").unwrap();
        let remote: Vec<_> = info
            .unverified_remote_hosts()
            .iter()
            .map(|e| e.host.as_str())
            .collect();
        assert_eq!(remote, ["db.example"]);
        // The address connected to decides: hostaddr over host.
        let info = ConnInfo::parse(
            "host=127.0.0.2,::1,::ffff:127.0.0.1,db1,localhost,10.0.0.5 hostaddr=,,,127.0.0.1,192.0.2.7, user=u sslmode=require",
        )
        .unwrap();
        let remote: Vec<_> = info
            .unverified_remote_hosts()
            .iter()
            .map(|e| e.host.as_str())
            .collect();
        assert_eq!(remote, ["localhost", "10.0.0.5"]);
        let info = ConnInfo::parse("host=db.example user=u sslmode=verify-full sslrootcert=system")
            .unwrap();
        assert!(info.unverified_remote_hosts().is_empty());
    }

    #[test]
    fn load_checks_the_file() {
        if crate::system::account::effective_uid() != 0 {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("database.conf");
        files::replace_atomically(
            &path,
            b"# the fleet's database\nhost=db1,db2\n  user=pam password=x\n",
            None,
        )
        .unwrap();
        let info = ConnInfo::load(&path).unwrap();
        assert_eq!(info.endpoints.len(), 2);
        assert_eq!(info.user, "pam");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = ConnInfo::load(&path).unwrap_err();
        assert!(matches!(
            error,
            ConnInfoError::File {
                error: ReadError::BadMode(0o644),
                ..
            }
        ));
        assert!(error.to_string().contains("database.conf"), "{error}");
    }
}
