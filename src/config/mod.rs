//! Configuration: `/etc/pam-totp/config.toml` overridden by module arguments.

pub mod network;

use std::path::{Path, PathBuf};

use crate::config::network::Cidr;
use crate::text::escape_controls;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/pam-totp/config.toml";
pub const DEFAULT_SECRET_PATH: &str = "~/.config/pam-totp/secret.toml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pam-totp";
pub const DEFAULT_DATABASE_FILE: &str = "/etc/pam-totp/database.conf";
pub const DEFAULT_SECRET_KEY_FILE: &str = "/etc/pam-totp/secret.key";
/// Largest configuration file read, in bytes.
const MAX_CONFIG_SIZE: u64 = 256 * 1024;

/// What a user without a secret gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unenrolled {
    /// Prompted anyway, then refused (no user enumeration).
    Deny,
    /// `PAM_IGNORE` without a prompt.
    Allow,
    /// Enrolled by the module itself at this login (see "Enrollment at login").
    Enroll,
}

/// Where enrollments and the module's state live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// Secret files and `state_dir`: one host.
    Files,
    /// One PostgreSQL database shared by every host of a fleet.
    Postgresql,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub secret_path: String,
    pub state_dir: PathBuf,
    pub window: u32,
    pub unenrolled: Unenrolled,
    pub exempt_groups: Vec<String>,
    pub exempt_networks: Vec<Cidr>,
    pub prompt: String,
    pub max_failures: u32,
    pub lockout: u64,
    pub lockout_max: u64,
    /// `None`: the host name.
    pub issuer: Option<String>,
    pub recovery_codes: u32,
    pub store: StoreKind,
    pub database_file: PathBuf,
    pub secret_key_file: PathBuf,
    /// Seconds allowed for connecting and for each statement.
    pub database_timeout: u64,
    /// HOTP: how many counter values past the last accepted one are tried.
    pub hotp_window: u32,
    pub flags: Flags,
}

/// Module-only flags (not configuration-file keys).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub debug: bool,
    pub use_first_pass: bool,
    pub try_first_pass: bool,
    pub forward_pass: bool,
    /// The stack sends a login whose first factor failed here (see
    /// pam_totp(8)): prompt as usual, never enroll, never succeed.
    pub first_factor_failed: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            secret_path: DEFAULT_SECRET_PATH.to_string(),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            window: 1,
            unenrolled: Unenrolled::Deny,
            exempt_groups: Vec::new(),
            exempt_networks: Vec::new(),
            prompt: "Verification code: ".to_string(),
            max_failures: 3,
            lockout: 30,
            lockout_max: 900,
            issuer: None,
            recovery_codes: 10,
            store: StoreKind::Files,
            database_file: PathBuf::from(DEFAULT_DATABASE_FILE),
            secret_key_file: PathBuf::from(DEFAULT_SECRET_KEY_FILE),
            database_timeout: 5,
            hotp_window: 10,
            flags: Flags::default(),
        }
    }
}

/// Where a setting came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File { path: PathBuf, line: Option<usize> },
    Argument,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Argument => write!(f, "module argument"),
        }
    }
}

/// Why the module's settings were refused: the configuration file
/// (unreadable, not TOML) or a key of it or of the module arguments
/// (unknown, or a value it cannot take).
#[derive(Debug, PartialEq, Eq)]
pub enum SettingsError {
    /// The file exists but cannot be read.
    Unreadable { path: PathBuf, reason: String },
    /// The file is not valid TOML.
    Syntax {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A key or argument this version does not know.
    UnknownKey { key: String, origin: Origin },
    /// A known key with a value it cannot take.
    BadValue {
        key: String,
        origin: Origin,
        reason: String,
    },
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::Unreadable { path, reason } => {
                write!(f, "cannot read configuration {}: {reason}", path.display())
            }
            // Keys, values and TOML messages quote the file: escaped.
            SettingsError::Syntax {
                path,
                line: Some(line),
                message,
            } => {
                let message = escape_controls(message);
                write!(f, "{}:{line}: not valid TOML: {message}", path.display())
            }
            SettingsError::Syntax {
                path,
                line: None,
                message,
            } => {
                let message = escape_controls(message);
                write!(f, "{}: not valid TOML: {message}", path.display())
            }
            SettingsError::UnknownKey {
                key,
                origin: Origin::Argument,
            } => {
                write!(f, "unknown module argument \"{}\"", escape_controls(key))?;
                write_suggestion(f, key, KEYS.iter().chain(FLAGS))
            }
            SettingsError::UnknownKey { key, origin } => {
                write!(f, "{origin}: unknown key \"{}\"", escape_controls(key))?;
                write_suggestion(f, key, KEYS.iter())
            }
            SettingsError::BadValue {
                key,
                origin,
                reason,
            } => {
                let (key, reason) = (escape_controls(key), escape_controls(reason));
                write!(f, "{origin}: bad value for \"{key}\": {reason}")
            }
        }
    }
}

impl std::error::Error for SettingsError {}

/// Every configuration key (file and `key=value` argument), for
/// did-you-mean suggestions; `apply` is what reads them.
pub const KEYS: &[&str] = &[
    "secret_path",
    "state_dir",
    "window",
    "unenrolled",
    "exempt_groups",
    "exempt_networks",
    "prompt",
    "max_failures",
    "lockout",
    "lockout_max",
    "issuer",
    "recovery_codes",
    "store",
    "database_file",
    "secret_key_file",
    "database_timeout",
    "hotp_window",
];

/// Module-only flags (arguments without a value).
pub const FLAGS: &[&str] = &[
    "debug",
    "nullok",
    "use_first_pass",
    "try_first_pass",
    "forward_pass",
    "first_factor_failed",
];

/// `; did you mean "KEY"?` for the known name nearest to `key`, if one
/// is near enough to be a typo.
fn write_suggestion<'a>(
    f: &mut std::fmt::Formatter<'_>,
    key: &str,
    known: impl Iterator<Item = &'a &'a str>,
) -> std::fmt::Result {
    let key = key.split_once('=').map_or(key, |(name, _)| name);
    let nearest = known
        .map(|name| (edit_distance(key, name), *name))
        .filter(|(distance, name)| *distance > 0 && *distance <= (name.len() / 3).max(1))
        .min();
    match nearest {
        Some((_, name)) => write!(f, "; did you mean \"{name}\"?"),
        None => Ok(()),
    }
}

/// Levenshtein distance, for short ASCII keys (longer input is far anyway).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() > 64 {
        return usize::MAX;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let delete = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insert = current.last().copied().unwrap_or(0) + 1;
            current.push(substitute.min(delete).min(insert));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// A value from either source, converted per key.
enum RawValue<'a> {
    Toml(&'a toml::Value),
    Argument(&'a str),
}

impl RawValue<'_> {
    fn string(&self) -> Result<String, String> {
        match self {
            RawValue::Toml(toml::Value::String(s)) => Ok(s.clone()),
            RawValue::Toml(other) => Err(format!("expected a string, found {}", other.type_str())),
            RawValue::Argument(s) => Ok((*s).to_string()),
        }
    }

    fn integer(&self, min: u64, max: u64) -> Result<u64, String> {
        let value = match self {
            RawValue::Toml(toml::Value::Integer(i)) => u64::try_from(*i).ok(),
            RawValue::Toml(other) => {
                return Err(format!(
                    "expected a whole number, found {}",
                    other.type_str()
                ));
            }
            RawValue::Argument(s) if s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
            RawValue::Argument(_) => None,
        };
        match value {
            Some(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(format!("expected a whole number from {min} to {max}")),
        }
    }

    fn list(&self) -> Result<Vec<String>, String> {
        match self {
            RawValue::Toml(toml::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s.clone()),
                    other => Err(format!(
                        "expected a list of strings, found {} in it",
                        other.type_str()
                    )),
                })
                .collect(),
            RawValue::Toml(other) => Err(format!(
                "expected a list of strings, found {}",
                other.type_str()
            )),
            RawValue::Argument(s) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_string)
                .collect()),
        }
    }
}

impl Config {
    /// The configuration for the module: the file (`config=PATH` or the
    /// default), then every argument on top of it.
    pub fn from_module_args(args: &[&str]) -> Result<Config, SettingsError> {
        let mut config_path = None;
        for arg in args {
            if let Some(path) = arg.strip_prefix("config=") {
                config_path = Some(PathBuf::from(path));
            }
        }
        let mut config = Config::load(config_path.as_deref())?;
        for arg in args {
            config.apply_argument(arg)?;
        }
        config.validate(&Origin::Argument)?;
        Ok(config)
    }

    /// Defaults with the module arguments on top, reading no file (for
    /// fuzzing the argument parser in isolation).
    pub fn from_module_args_without_file(args: &[&str]) -> Result<Config, SettingsError> {
        let mut config = Config::default();
        for arg in args {
            config.apply_argument(arg)?;
        }
        config.validate(&Origin::Argument)?;
        Ok(config)
    }

    /// The configuration from `path`, or from the default file if `None`.
    /// A missing default file means all defaults; a missing named file is an error.
    pub fn load(path: Option<&Path>) -> Result<Config, SettingsError> {
        let (path, must_exist) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_CONFIG_PATH), false),
        };
        let text = match read_config_file(path) {
            Ok(text) => text,
            Err(None) if !must_exist => return Ok(Config::default()),
            Err(None) => {
                return Err(SettingsError::Unreadable {
                    path: path.to_path_buf(),
                    reason: "no such file".into(),
                });
            }
            Err(Some(reason)) => {
                return Err(SettingsError::Unreadable {
                    path: path.to_path_buf(),
                    reason,
                });
            }
        };
        Config::parse(&text, path)
    }

    /// Parse configuration text (as read from `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Config, SettingsError> {
        let table: toml::Table =
            crate::text::simple_toml::parse(text).map_err(|error: toml::de::Error| {
                SettingsError::Syntax {
                    path: path.to_path_buf(),
                    line: error.span().map(|span| line_of_offset(text, span.start)),
                    message: error.message().to_string(),
                }
            })?;
        let mut config = Config::default();
        let origin = |line| Origin::File {
            path: path.to_path_buf(),
            line,
        };
        let valid = table.iter().all(|(key, value)| {
            config
                .apply(key, RawValue::Toml(value), origin(None))
                .is_ok()
        }) && config.validate(&origin(None)).is_ok();
        if valid {
            return Ok(config);
        }
        // Only on a bad file (not on every login): the first problem in
        // line order, with its line, as `pam-totp check` lists them.
        match Config::parse_all(text, path) {
            Ok(config) => Ok(config),
            Err(errors) => Err(errors.into_iter().next().unwrap_or(SettingsError::Syntax {
                path: path.to_path_buf(),
                line: None,
                message: "invalid".into(),
            })),
        }
    }

    /// Every problem of the configuration file at `path` (or the default
    /// file), in line order, for `pam-totp check`; the module itself stops
    /// at the first ([`Config::load`]). `Ok` holds the configuration.
    pub fn load_all(path: Option<&Path>) -> Result<Config, Vec<SettingsError>> {
        let (path, must_exist) = match path {
            Some(path) => (path, true),
            None => (Path::new(DEFAULT_CONFIG_PATH), false),
        };
        match read_config_file(path) {
            Ok(text) => Config::parse_all(&text, path),
            Err(None) if !must_exist => Ok(Config::default()),
            Err(reason) => Err(vec![SettingsError::Unreadable {
                path: path.to_path_buf(),
                reason: reason.unwrap_or_else(|| "no such file".into()),
            }]),
        }
    }

    /// [`Config::parse`], reporting every bad key and value in line order
    /// (a TOML syntax error stops the reading, so it is the only one).
    pub fn parse_all(text: &str, path: &Path) -> Result<Config, Vec<SettingsError>> {
        let table: toml::Table =
            crate::text::simple_toml::parse(text).map_err(|error: toml::de::Error| {
                vec![SettingsError::Syntax {
                    path: path.to_path_buf(),
                    line: error.span().map(|span| line_of_offset(text, span.start)),
                    message: error.message().to_string(),
                }]
            })?;
        let mut config = Config::default();
        let mut errors: Vec<(Option<usize>, SettingsError)> = Vec::new();
        for (key, value) in &table {
            let line = line_of_key(text, key);
            let origin = Origin::File {
                path: path.to_path_buf(),
                line,
            };
            if let Err(error) = config.apply(key, RawValue::Toml(value), origin) {
                errors.push((line, error));
            }
        }
        // lockout_max against lockout only when both were read.
        let lockouts_read = !errors.iter().any(|(_, error)| {
            matches!(error, SettingsError::BadValue { key, .. } if key == "lockout" || key == "lockout_max")
        });
        if lockouts_read {
            let line = line_of_key(text, "lockout_max");
            if let Err(error) = config.validate(&Origin::File {
                path: path.to_path_buf(),
                line,
            }) {
                errors.push((line, error));
            }
        }
        if errors.is_empty() {
            return Ok(config);
        }
        // Lines in order; a problem without a line last.
        errors.sort_by_key(|(line, _)| line.unwrap_or(usize::MAX));
        Err(errors.into_iter().map(|(_, error)| error).collect())
    }

    /// Every problem of module arguments `args` (the file they name
    /// included), in order, for `pam-totp check`.
    pub fn module_args_all(args: &[&str]) -> Result<Config, Vec<SettingsError>> {
        let mut config_path = None;
        for arg in args {
            if let Some(path) = arg.strip_prefix("config=") {
                config_path = Some(PathBuf::from(path));
            }
        }
        let mut config = Config::load_all(config_path.as_deref())?;
        let errors: Vec<SettingsError> = args
            .iter()
            .filter_map(|arg| config.apply_argument(arg).err())
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        config
            .validate(&Origin::Argument)
            .map_err(|error| vec![error])?;
        Ok(config)
    }

    fn apply_argument(&mut self, arg: &str) -> Result<(), SettingsError> {
        let flag = |config: &mut Config| -> Option<()> {
            match arg {
                "debug" => config.flags.debug = true,
                "nullok" => config.unenrolled = Unenrolled::Allow,
                "use_first_pass" => config.flags.use_first_pass = true,
                "try_first_pass" => config.flags.try_first_pass = true,
                "forward_pass" => config.flags.forward_pass = true,
                "first_factor_failed" => config.flags.first_factor_failed = true,
                _ => return None,
            }
            Some(())
        };
        if flag(self).is_some() {
            return Ok(());
        }
        match arg.split_once('=') {
            Some(("config", _)) => Ok(()),
            Some((key, value)) => self.apply(key, RawValue::Argument(value), Origin::Argument),
            None => Err(SettingsError::UnknownKey {
                key: arg.to_string(),
                origin: Origin::Argument,
            }),
        }
    }

    fn apply(&mut self, key: &str, value: RawValue, origin: Origin) -> Result<(), SettingsError> {
        let bad = |reason: String| SettingsError::BadValue {
            key: key.to_string(),
            origin: origin.clone(),
            reason,
        };
        match key {
            "secret_path" => {
                let path = value.string().map_err(bad)?;
                if path.is_empty() {
                    return Err(bad("must not be empty".into()));
                }
                self.secret_path = path;
            }
            "state_dir" => self.state_dir = absolute_path(&value).map_err(bad)?,
            "window" => self.window = value.integer(0, 10).map_err(bad)? as u32,
            "unenrolled" => {
                self.unenrolled = match value.string().map_err(bad)?.as_str() {
                    "deny" => Unenrolled::Deny,
                    "allow" => Unenrolled::Allow,
                    "enroll" => Unenrolled::Enroll,
                    _ => return Err(bad("expected \"deny\", \"allow\" or \"enroll\"".into())),
                }
            }
            "exempt_groups" => self.exempt_groups = value.list().map_err(bad)?,
            "exempt_networks" => {
                self.exempt_networks = value
                    .list()
                    .map_err(bad)?
                    .iter()
                    .map(|item| item.parse::<Cidr>())
                    .collect::<Result<_, _>>()
                    .map_err(bad)?;
            }
            "prompt" => {
                let prompt = value.string().map_err(bad)?;
                if prompt.contains('\0') {
                    return Err(bad("must not contain NUL".into()));
                }
                self.prompt = prompt;
            }
            "max_failures" => self.max_failures = value.integer(1, 1000).map_err(bad)? as u32,
            // At least a second: without lockouts a 6-digit code can be guessed.
            "lockout" => self.lockout = value.integer(1, 86_400).map_err(bad)?,
            "lockout_max" => self.lockout_max = value.integer(0, 31 * 86_400).map_err(bad)?,
            "issuer" => {
                let issuer = value.string().map_err(bad)?;
                if issuer.is_empty() || issuer.contains(':') {
                    return Err(bad("must be non-empty and must not contain ':'".into()));
                }
                self.issuer = Some(issuer);
            }
            "recovery_codes" => self.recovery_codes = value.integer(0, 100).map_err(bad)? as u32,
            "store" => {
                self.store = match value.string().map_err(bad)?.as_str() {
                    "files" => StoreKind::Files,
                    "postgresql" => StoreKind::Postgresql,
                    _ => return Err(bad("expected \"files\" or \"postgresql\"".into())),
                }
            }
            "database_file" => self.database_file = absolute_path(&value).map_err(bad)?,
            "secret_key_file" => self.secret_key_file = absolute_path(&value).map_err(bad)?,
            "database_timeout" => self.database_timeout = value.integer(1, 300).map_err(bad)?,
            "hotp_window" => self.hotp_window = value.integer(1, 1000).map_err(bad)? as u32,
            _ => {
                return Err(SettingsError::UnknownKey {
                    key: key.to_string(),
                    origin,
                });
            }
        }
        Ok(())
    }

    fn validate(&self, origin: &Origin) -> Result<(), SettingsError> {
        if self.flags.first_factor_failed && self.flags.forward_pass {
            return Err(SettingsError::BadValue {
                key: "first_factor_failed".into(),
                origin: origin.clone(),
                reason: "cannot be used with forward_pass (that line comes before the password)"
                    .into(),
            });
        }
        if self.lockout_max < self.lockout {
            return Err(SettingsError::BadValue {
                key: "lockout_max".into(),
                origin: origin.clone(),
                reason: format!(
                    "{} is shorter than lockout ({})",
                    self.lockout_max, self.lockout
                ),
            });
        }
        Ok(())
    }
}

fn absolute_path(value: &RawValue) -> Result<PathBuf, String> {
    let path = value.string()?;
    if !path.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    Ok(PathBuf::from(path))
}

/// Read the configuration file; `Err(None)` when it does not exist.
fn read_config_file(path: &Path) -> Result<String, Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = match std::fs::OpenOptions::new()
        .read(true)
        // A FIFO put in its place must not hang every login.
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(None),
        Err(error) => return Err(Some(error.to_string())),
    };
    // Like sshd with its configuration: whoever can change this file
    // decides who is asked for a code, so only root (or the user running
    // the command on its own files) may own it, and nobody else write it.
    let meta = file.metadata().map_err(|error| Some(error.to_string()))?;
    if !meta.is_file() {
        return Err(Some("not a regular file".into()));
    }
    let euid = crate::system::account::effective_uid();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(Some(format!(
            "owned by uid {}, not by root; chown root",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Some(format!(
            "mode {:04o} lets others change it; chmod 644",
            meta.mode() & 0o7777
        )));
    }
    // Sized from the metadata: read_to_end through `take` cannot see it,
    // and would probe and grow the buffer.
    let size = usize::try_from(meta.len().min(MAX_CONFIG_SIZE)).unwrap_or(0);
    let mut text = String::with_capacity(size);
    file.take(MAX_CONFIG_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(|error| Some(error.to_string()))?;
    if text.len() as u64 > MAX_CONFIG_SIZE {
        return Err(Some(format!("larger than {MAX_CONFIG_SIZE} bytes")));
    }
    Ok(text)
}

fn line_of_offset(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line on which `key` is set, for messages (first match).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix('"').unwrap_or(line);
            line.strip_prefix(key)
                .map(|rest| rest.trim_start_matches('"').trim_start().starts_with('='))
                .unwrap_or(false)
        })
        .map(|index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, SettingsError> {
        Config::parse(text, Path::new("/etc/pam-totp/config.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn every_key_is_read() {
        let config = parse(
            r#"
secret_path = "/etc/pam-totp/secrets/%u.toml"
state_dir = "/run/totp"
window = 2
unenrolled = "allow"
exempt_groups = ["wheel", "ops"]
exempt_networks = ["10.0.0.0/8", "::1"]
prompt = "Code: "
max_failures = 5
lockout = 10
lockout_max = 60
issuer = "Example"
recovery_codes = 4
"#,
        )
        .unwrap();
        assert_eq!(config.secret_path, "/etc/pam-totp/secrets/%u.toml");
        assert_eq!(config.state_dir, PathBuf::from("/run/totp"));
        assert_eq!(config.window, 2);
        assert_eq!(config.unenrolled, Unenrolled::Allow);
        assert_eq!(config.exempt_groups, vec!["wheel", "ops"]);
        assert_eq!(config.exempt_networks.len(), 2);
        assert_eq!(config.prompt, "Code: ");
        assert_eq!(
            (config.max_failures, config.lockout, config.lockout_max),
            (5, 10, 60)
        );
        assert_eq!(config.issuer.as_deref(), Some("Example"));
        assert_eq!(config.recovery_codes, 4);
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let error = parse("window = 1\nwindw = 2\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/pam-totp/config.toml:2: unknown key \"windw\"; did you mean \"window\"?"
        );
        let error = parse("colour = 1\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/etc/pam-totp/config.toml:1: unknown key \"colour\""
        );
        let error = Config::from_module_args(&["try_frist_pass"]).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("did you mean \"try_first_pass\"?"),
            "{error}"
        );
    }

    /// Issue 11 point 8: every bad key and value in one run, in line order.
    #[test]
    fn every_problem_is_reported_in_line_order() {
        let text = "windw = 2\nunenrolled = \"maybe\"\nwindow = 1\nlockout = 100\nlockout_max = 50\nexempt_networks = [\"10.0.0.0/40\"]\nprompt = 3\nmax_falures = 2\n";
        let errors = Config::parse_all(text, Path::new("/etc/pam-totp/config.toml")).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 6, "{shown:#?}");
        for (error, start) in shown.iter().zip([
            "/etc/pam-totp/config.toml:1: unknown key \"windw\"; did you mean \"window\"?",
            "/etc/pam-totp/config.toml:2: bad value for \"unenrolled\"",
            "/etc/pam-totp/config.toml:5: bad value for \"lockout_max\": 50 is shorter than lockout (100)",
            "/etc/pam-totp/config.toml:6: bad value for \"exempt_networks\"",
            "/etc/pam-totp/config.toml:7: bad value for \"prompt\"",
            "/etc/pam-totp/config.toml:8: unknown key \"max_falures\"; did you mean \"max_failures\"?",
        ]) {
            assert!(error.starts_with(start), "{error} does not start with {start}");
        }
        // The first of them is what the module stops at.
        assert_eq!(parse(text).unwrap_err(), errors[0]);
        assert_eq!(
            Config::parse_all("window = 2\n", Path::new("/c.toml")).unwrap(),
            parse("window = 2\n").unwrap()
        );
        // The fleet keys too.
        let fleet = "store = \"mysql\"\ndatabase_file = \"relative\"\ndatabase_timout = 5\nhotp_window = 0\nunenrolled = \"enroll\"\n";
        let shown: Vec<String> = Config::parse_all(fleet, Path::new("/c.toml"))
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown
                .iter()
                .map(|e| e.split(':').nth(1).unwrap())
                .collect::<Vec<_>>(),
            ["1", "2", "3", "4"],
            "{shown:#?}"
        );
        assert!(
            shown[2].ends_with("did you mean \"database_timeout\"?"),
            "{}",
            shown[2]
        );
        let args =
            Config::module_args_all(&["window=x", "bogus", "debug", "lockout=0"]).unwrap_err();
        assert_eq!(args.len(), 3, "{args:?}");
    }

    #[test]
    fn every_listed_key_is_known() {
        for key in KEYS {
            let mut config = Config::default();
            let error = config.apply(key, RawValue::Argument("x"), Origin::Argument);
            assert!(
                !matches!(error, Err(SettingsError::UnknownKey { .. })),
                "{key} is listed but not read"
            );
        }
        for flag in FLAGS {
            assert!(
                Config::from_module_args_without_file(&[flag]).is_ok(),
                "{flag}"
            );
        }
    }

    #[test]
    fn bad_values_are_named() {
        let error = parse("window = \"three\"").unwrap_err();
        assert!(
            error.to_string().contains("bad value for \"window\""),
            "{error}"
        );
        assert!(parse("window = 11").is_err());
        assert!(parse("window = -1").is_err());
        assert!(parse("unenrolled = \"maybe\"").is_err());
        assert!(parse("exempt_networks = [\"10.0.0.0/40\"]").is_err());
        assert!(parse("state_dir = \"relative\"").is_err());
        assert!(parse("lockout = 100\nlockout_max = 50").is_err());
        assert!(parse("[section]\nwindow = 1").is_err());
    }

    #[test]
    fn syntax_error_has_a_line() {
        let error = parse("window = 1\nthis is not toml\n").unwrap_err();
        assert!(
            matches!(error, SettingsError::Syntax { line: Some(2), .. }),
            "{error:?}"
        );
    }

    #[test]
    fn arguments_override_the_file_and_flags_are_known() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "window = 3\nprompt = \"Code: \"\n").unwrap();
        let config_arg = format!("config={}", file.display());
        let config = Config::from_module_args(&[
            config_arg.as_str(),
            "window=0",
            "debug",
            "nullok",
            "exempt_groups=a, b",
            "forward_pass",
        ])
        .unwrap();
        assert_eq!(config.window, 0);
        assert_eq!(config.prompt, "Code: ");
        assert!(config.flags.debug && config.flags.forward_pass);
        assert_eq!(config.unenrolled, Unenrolled::Allow);
        assert_eq!(config.exempt_groups, vec!["a", "b"]);
    }

    #[test]
    fn a_configuration_others_can_change_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "unenrolled = \"allow\"\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        let error = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("lets others change it"), "{error}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            Config::load(Some(&file)).unwrap().unenrolled,
            Unenrolled::Allow
        );
        if crate::system::account::effective_uid() == 0 {
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            assert!(
                Config::load(Some(&file))
                    .unwrap_err()
                    .to_string()
                    .contains("owned by uid 65534")
            );
        } else {
            crate::system::test_skip::skip("the foreign-owner case needs root to chown");
        }
    }

    #[test]
    fn unknown_or_bad_arguments_fail() {
        assert_eq!(
            Config::from_module_args(&["bogus"])
                .unwrap_err()
                .to_string(),
            "unknown module argument \"bogus\""
        );
        assert!(Config::from_module_args(&["window=x"]).is_err());
        assert!(Config::from_module_args(&["window=+1"]).is_err());
        assert!(Config::from_module_args(&["colour=blue"]).is_err());
        assert!(Config::from_module_args(&["config=/nonexistent/pam-totp.toml"]).is_err());
    }
}
