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
//! the system's trust store, which needs `verify-full`), there is no
//! default `~/.postgresql/root.crt`; `target_session_attrs` is `any` or
//! `read-write`. A `#` line is a comment, and lines are joined by spaces.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

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

/// `target_session_attrs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    /// The first host that accepts the connection.
    Any,
    /// The first host that accepts writes (the primary); standbys are skipped.
    ReadWrite,
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
            .finish()
    }
}

/// Why `database_file` or its connection string was refused. Never holds
/// the password.
#[derive(Debug)]
pub enum ConfigError {
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
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::File { path, error } => write!(
                f,
                "database file {} {error} (it must be a regular file owned by root, mode 0600)",
                path.display()
            ),
            ConfigError::NotText(path) => {
                write!(f, "database file {} is not UTF-8 text", path.display())
            }
            ConfigError::Syntax(what) => write!(f, "connection string: {what}"),
            ConfigError::UnknownKeyword(keyword) => {
                write!(f, "connection string: unknown keyword \"{keyword}\"")
            }
            ConfigError::Unsupported { keyword, why } => write!(
                f,
                "connection string: keyword \"{keyword}\" is not supported by pam-totp: {why}"
            ),
            ConfigError::BadValue {
                keyword,
                value,
                expected,
            } => write!(
                f,
                "connection string: bad value \"{value}\" for {keyword}: expected {expected}"
            ),
            ConfigError::Missing { keyword, hint } => {
                write!(f, "connection string: {keyword} is missing: {hint}")
            }
            ConfigError::RootCert(why) => write!(f, "connection string: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// libpq keywords we know but refuse, with the reason given to the administrator.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "connect_timeout",
        "database_timeout in the pam-totp configuration bounds connecting",
    ),
    (
        "passfile",
        "put the password in the connection string; the file is root-only",
    ),
    ("service", "write the connection parameters themselves"),
    ("sslcert", "client certificates are not implemented"),
    ("sslkey", "client certificates are not implemented"),
    ("sslpassword", "client certificates are not implemented"),
    ("sslcrl", "certificate revocation lists are not implemented"),
    (
        "sslcrldir",
        "certificate revocation lists are not implemented",
    ),
    ("sslsni", "SNI is always sent for host names"),
    (
        "sslnegotiation",
        "only the standard negotiation is implemented",
    ),
    (
        "ssl_min_protocol_version",
        "TLS 1.2 or later is always used",
    ),
    (
        "ssl_max_protocol_version",
        "TLS 1.2 or later is always used",
    ),
    ("requiressl", "use sslmode=require"),
    ("sslcompression", "TLS compression is never used"),
    ("gssencmode", "GSSAPI is not implemented"),
    ("krbsrvname", "GSSAPI is not implemented"),
    ("gsslib", "GSSAPI is not implemented"),
    ("gssdelegation", "GSSAPI is not implemented"),
    ("require_auth", "not implemented"),
    (
        "channel_binding",
        "SCRAM channel binding is used when TLS is",
    ),
    ("load_balance_hosts", "hosts are tried in the order given"),
    ("replication", "pam-totp is not a replication client"),
    ("client_encoding", "the encoding is always UTF8"),
    ("fallback_application_name", "use application_name"),
    ("keepalives", "database_timeout bounds every statement"),
    ("keepalives_idle", "database_timeout bounds every statement"),
    (
        "keepalives_interval",
        "database_timeout bounds every statement",
    ),
    (
        "keepalives_count",
        "database_timeout bounds every statement",
    ),
    (
        "tcp_user_timeout",
        "database_timeout bounds every statement",
    ),
];

const SUPPORTED: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
    "sslmode",
    "sslrootcert",
    "target_session_attrs",
];

impl ConnInfo {
    /// Read and parse `database_file`: a regular file (not a link) owned by
    /// root, no group or other bits.
    pub fn load(path: &Path) -> Result<ConnInfo, ConfigError> {
        let rules = FileRules {
            owners: &[0],
            max_size: MAX_FILE_SIZE,
        };
        let bytes = Zeroizing::new(files::read_protected(path, &rules).map_err(|error| {
            ConfigError::File {
                path: path.to_path_buf(),
                error,
            }
        })?);
        ConnInfo::parse_file(path, &bytes)
    }

    /// Parse the contents of `database_file` (read from `path`, already
    /// checked or, for `pam-totp check`, examined separately): UTF-8, `#`
    /// lines are comments, the other lines joined by spaces.
    pub fn parse_file(path: &Path, bytes: &[u8]) -> Result<ConnInfo, ConfigError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| ConfigError::NotText(path.to_path_buf()))?;
        let joined: Zeroizing<String> = Zeroizing::new(
            text.lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join(" "),
        );
        ConnInfo::parse(&joined)
    }

    /// Parse one connection string (keyword form or URI).
    pub fn parse(text: &str) -> Result<ConnInfo, ConfigError> {
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
        ConnInfo::from_values(&values)
    }

    fn from_values(values: &BTreeMap<String, Zeroizing<String>>) -> Result<ConnInfo, ConfigError> {
        let get = |keyword: &str| {
            values
                .get(keyword)
                .map(|value| value.as_str())
                .filter(|value| !value.is_empty())
        };
        let endpoints = endpoints(get("host"), get("hostaddr"), get("port"))?;
        let user = get("user").ok_or(ConfigError::Missing {
            keyword: "user",
            hint: "name the database role, e.g. user=pam_totp",
        })?;
        let sslmode = match get("sslmode") {
            None => SslMode::Prefer,
            Some(value) => SslMode::parse(value).ok_or_else(|| ConfigError::BadValue {
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
                return Err(ConfigError::BadValue {
                    keyword: "sslrootcert",
                    value: value.to_string(),
                    expected: "an absolute path to a PEM file, or system",
                });
            }
        };
        match (sslmode, &sslrootcert) {
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(ConfigError::Missing {
                    keyword: "sslrootcert",
                    hint: "sslmode=verify-ca and verify-full need sslrootcert=/path/to/ca.crt (or sslrootcert=system with verify-full)",
                });
            }
            (mode, Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                return Err(ConfigError::BadValue {
                    keyword: "sslmode",
                    value: mode.as_str().to_string(),
                    expected: "verify-full with sslrootcert=system (any CA in the system store could sign for any name)",
                });
            }
            _ => {}
        }
        let target_session_attrs = match get("target_session_attrs") {
            None | Some("any") => TargetSession::Any,
            Some("read-write") => TargetSession::ReadWrite,
            Some(value) => {
                return Err(ConfigError::BadValue {
                    keyword: "target_session_attrs",
                    value: value.to_string(),
                    expected: "any or read-write",
                });
            }
        };
        Ok(ConnInfo {
            endpoints,
            user: user.to_string(),
            password: values
                .get("password")
                .map(|value| Zeroizing::new(value.to_string())),
            dbname: get("dbname").map(str::to_string),
            application_name: get("application_name").map(str::to_string),
            options: get("options").map(str::to_string),
            sslmode,
            sslrootcert,
            target_session_attrs,
        })
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

fn check_keyword(keyword: &str) -> Result<(), ConfigError> {
    if SUPPORTED.contains(&keyword) {
        return Ok(());
    }
    match UNSUPPORTED.iter().find(|(name, _)| *name == keyword) {
        Some((_, why)) => Err(ConfigError::Unsupported {
            keyword: keyword.to_string(),
            why,
        }),
        None => Err(ConfigError::UnknownKeyword(keyword.to_string())),
    }
}

/// `host`, `hostaddr` and `port` lists, paired as libpq pairs them.
fn endpoints(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
) -> Result<Vec<Endpoint>, ConfigError> {
    let addresses: Vec<Option<IpAddr>> = match hostaddr {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|item| {
                let item = item.trim();
                if item.is_empty() {
                    return Ok(None);
                }
                item.parse().map(Some).map_err(|_| ConfigError::BadValue {
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
            return Err(ConfigError::Missing {
                keyword: "host",
                hint: "name the database host(s), e.g. host=db1.example.org,db2.example.org (or host=/var/run/postgresql for the local socket)",
            });
        }
    };
    if !addresses.is_empty() && addresses.len() != names.len() {
        return Err(ConfigError::BadValue {
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
                    .ok_or_else(|| ConfigError::BadValue {
                        keyword: "port",
                        value: item.to_string(),
                        expected: "port numbers 1-65535, comma-separated",
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    if ports.len() > 1 && ports.len() != names.len() {
        return Err(ConfigError::BadValue {
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
                return Err(ConfigError::BadValue {
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
fn parse_keywords(text: &str) -> Result<Pairs, ConfigError> {
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
            return Err(ConfigError::Syntax(format!(
                "missing \"=\" after \"{keyword}\""
            )));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = Zeroizing::new(String::new());
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(ConfigError::Syntax(format!(
                            "unterminated quoted value for \"{keyword}\""
                        )));
                    }
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => {
                            return Err(ConfigError::Syntax(format!(
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
            return Err(ConfigError::Syntax("a value without a keyword".to_string()));
        }
        pairs.push((keyword, value));
    }
    Ok(pairs)
}

/// `postgresql://[user[:password]@][host[:port][,...]][/dbname][?keyword=value&...]`
fn parse_uri(text: &str) -> Result<Pairs, ConfigError> {
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
        return Err(ConfigError::Syntax(
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
            .ok_or_else(|| ConfigError::Syntax("a URI parameter without \"=\"".to_string()))?;
        let keyword = percent_decode(keyword, "a URI parameter name")?.to_string();
        let value = percent_decode(value, "a URI parameter value")?;
        pairs.push((keyword, value));
    }
    Ok(pairs)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(item: &str) -> Result<(&str, &str), ConfigError> {
    if let Some(bracketed) = item.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(|| {
            ConfigError::Syntax(format!("unterminated \"[\" in URI host \"{item}\""))
        })?;
        return match after {
            "" => Ok((host, "")),
            port => port
                .strip_prefix(':')
                .map(|port| (host, port))
                .ok_or_else(|| {
                    ConfigError::Syntax(format!("unexpected text after \"]\" in \"{item}\""))
                }),
        };
    }
    Ok(item.split_once(':').unwrap_or((item, "")))
}

fn percent_decode(text: &str, what: &str) -> Result<Zeroizing<String>, ConfigError> {
    let bad = || ConfigError::Syntax(format!("bad percent-encoding in {what}"));
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
            Err(ConfigError::UnknownKeyword(k)) if k == "bogus"
        ));
        assert!(matches!(
            ConnInfo::parse("postgresql://u@h/d%zz"),
            Err(ConfigError::Syntax(_))
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
            Err(ConfigError::BadValue {
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
            Err(ConfigError::BadValue { keyword: "sslmode", value, .. }) if value == "verify"
        ));
    }

    #[test]
    fn verification_needs_a_root_certificate() {
        for mode in ["verify-ca", "verify-full"] {
            assert!(matches!(
                ConnInfo::parse(&format!("host=h user=u sslmode={mode}")),
                Err(ConfigError::Missing {
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
        let error = ConnInfo::parse("host=h user=u sslcert=/c.pem").unwrap_err();
        assert!(error.to_string().contains("\"sslcert\""), "{error}");
        assert!(matches!(error, ConfigError::Unsupported { .. }));
        let error = ConnInfo::parse("host=h user=u hots=x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "connection string: unknown keyword \"hots\""
        );
        assert!(matches!(
            ConnInfo::parse("host=h user=u port=99999"),
            Err(ConfigError::BadValue {
                keyword: "port",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=a,b,c port=1,2 user=u"),
            Err(ConfigError::BadValue {
                keyword: "port",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user=u target_session_attrs=standby"),
            Err(ConfigError::BadValue {
                keyword: "target_session_attrs",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("user=u"),
            Err(ConfigError::Missing {
                keyword: "host",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h"),
            Err(ConfigError::Missing {
                keyword: "user",
                ..
            })
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user"),
            Err(ConfigError::Syntax(_))
        ));
        assert!(matches!(
            ConnInfo::parse("host=h user='u"),
            Err(ConfigError::Syntax(_))
        ));
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
            ConfigError::File {
                error: ReadError::BadMode(0o644),
                ..
            }
        ));
        assert!(error.to_string().contains("database.conf"), "{error}");
    }
}
