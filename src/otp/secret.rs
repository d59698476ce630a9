//! The user's secret file (`secret.toml`): parsing, validation, writing.

use zeroize::Zeroizing;

use crate::otp::code::{CounterGenerator, Generator, HashAlgorithm, InvalidParameters};
use crate::otp::recovery::RecoveryHash;
use crate::text::escape_controls;
// The encodings moved to text/; these two stay reachable here for callers
// of the old path (the integration tests).
pub use crate::text::encoding::{decode_base32, encode_base32};

/// Largest secret file accepted, in bytes.
pub const MAX_SECRET_FILE_SIZE: u64 = 64 * 1024;
pub const FORMAT_VERSION: i64 = 1;

/// Where a token's codes come from: the time or a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// RFC 6238: codes from the time (`type = "totp"`, the default).
    Totp,
    /// RFC 4226: codes from a counter (`type = "hotp"`); `counter` is the
    /// next value the token will show. Used only while the module's state
    /// has no last accepted counter value.
    Hotp { counter: u64 },
}

impl TokenKind {
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Totp => "TOTP",
            TokenKind::Hotp { .. } => "HOTP",
        }
    }
}

pub struct SecretFile {
    pub secret: Zeroizing<Vec<u8>>,
    pub algorithm: HashAlgorithm,
    pub digits: u8,
    /// Seconds per time step (TOTP only; kept but unused for HOTP).
    pub period: u64,
    pub recovery: Vec<RecoveryHash>,
    pub kind: TokenKind,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFile")
            .field("secret", &"[redacted]")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("recovery", &self.recovery.len())
            .field("kind", &self.kind)
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SecretError {
    NotUtf8,
    Syntax(String),
    Missing(&'static str),
    UnknownKey(String),
    Bad { key: &'static str, reason: String },
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretError::NotUtf8 => write!(f, "not UTF-8 text"),
            // The file's own text, quoted: its control characters escaped.
            SecretError::Syntax(message) => {
                write!(f, "not valid TOML: {}", escape_controls(message))
            }
            SecretError::Missing(key) => write!(f, "missing key \"{key}\""),
            SecretError::UnknownKey(key) => write!(f, "unknown key \"{}\"", escape_controls(key)),
            SecretError::Bad { key, reason } => {
                write!(f, "bad \"{key}\": {}", escape_controls(reason))
            }
        }
    }
}

impl std::error::Error for SecretError {}

impl SecretFile {
    /// The kind of codes, as `list` and `status` show it.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// For an HOTP token: the next counter value it will show, given the
    /// last value the state accepted (the file's `counter` until then).
    pub fn next_counter(&self, last_accepted: Option<u64>) -> Option<u64> {
        match self.kind {
            TokenKind::Totp => None,
            TokenKind::Hotp { counter } => Some(match last_accepted {
                Some(last) => last.saturating_add(1),
                None => counter,
            }),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<SecretFile, SecretError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SecretError::NotUtf8)?;
        let mut table: toml::Table = crate::text::simple_toml::parse(text)
            .map_err(|error: toml::de::Error| SecretError::Syntax(error.message().to_string()))?;
        for key in table.keys() {
            if ![
                "version",
                "secret",
                "algorithm",
                "digits",
                "period",
                "recovery",
                "type",
                "counter",
            ]
            .contains(&key.as_str())
            {
                return Err(SecretError::UnknownKey(key.clone()));
            }
        }
        match table.get("version") {
            Some(toml::Value::Integer(FORMAT_VERSION)) => {}
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "version",
                    reason: format!("only version {FORMAT_VERSION} is known"),
                });
            }
            None => return Err(SecretError::Missing("version")),
        }
        // Take the secret out of the table so its text is zeroed after use.
        let secret = match table.remove("secret") {
            Some(toml::Value::String(s)) => {
                decode_base32(&Zeroizing::new(s)).ok_or(SecretError::Bad {
                    key: "secret",
                    reason: "not base32".into(),
                })?
            }
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "secret",
                    reason: "not a string".into(),
                });
            }
            None => return Err(SecretError::Missing("secret")),
        };
        let algorithm = match table.get("algorithm") {
            None => HashAlgorithm::Sha1,
            Some(toml::Value::String(name)) => {
                HashAlgorithm::from_name(name).ok_or(SecretError::Bad {
                    key: "algorithm",
                    reason: "expected SHA1, SHA256 or SHA512".into(),
                })?
            }
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "algorithm",
                    reason: "not a string".into(),
                });
            }
        };
        let digits = match table.get("digits") {
            None => 6,
            Some(toml::Value::Integer(d @ 6..=8)) => *d as u8,
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "digits",
                    reason: "expected 6, 7 or 8".into(),
                });
            }
        };
        let period = match table.get("period") {
            None => 30,
            Some(toml::Value::Integer(p @ 1..=3600)) => *p as u64,
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "period",
                    reason: "expected 1 to 3600 seconds".into(),
                });
            }
        };
        let recovery = match table.get("recovery") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().and_then(RecoveryHash::parse))
                .collect::<Option<Vec<_>>>()
                .ok_or(SecretError::Bad {
                    key: "recovery",
                    reason: "not a list of recovery code hashes".into(),
                })?,
            Some(_) => {
                return Err(SecretError::Bad {
                    key: "recovery",
                    reason: "not a list".into(),
                });
            }
        };
        let kind = parse_kind(&table)?;
        let file = SecretFile {
            secret,
            algorithm,
            digits,
            period,
            recovery,
            kind,
        };
        file.check_usable()
            .map_err(|InvalidParameters(reason)| SecretError::Bad {
                key: "secret",
                reason,
            })?;
        Ok(file)
    }

    /// Whether codes can be made from it (secret length, digits, period).
    pub fn check_usable(&self) -> Result<(), InvalidParameters> {
        match self.kind {
            TokenKind::Totp => self.generator().map(drop),
            TokenKind::Hotp { .. } => self.counter_generator().map(drop),
        }
    }

    /// The TOTP checker (for a `type = "totp"` file).
    pub fn generator(&self) -> Result<Generator, InvalidParameters> {
        Generator::new(&self.secret, self.algorithm, self.digits, self.period)
    }

    /// The HOTP checker (for a `type = "hotp"` file).
    pub fn counter_generator(&self) -> Result<CounterGenerator, InvalidParameters> {
        CounterGenerator::new(&self.secret, self.algorithm, self.digits)
    }

    /// The file's text, as `pam-totp` writes it. A TOTP file has no `type`
    /// line, as before HOTP existed; an HOTP file has no `period`.
    pub fn to_toml(&self) -> Zeroizing<String> {
        let recovery: Vec<String> = self
            .recovery
            .iter()
            .map(|h| format!("  \"{}\",\n", h.encode()))
            .collect();
        if let TokenKind::Hotp { counter } = self.kind {
            return Zeroizing::new(format!(
                "# pam-totp secret: keep private (mode 0600). Written by `pam-totp enroll`.\n\
                 version = {FORMAT_VERSION}\n\
                 type = \"hotp\"\n\
                 secret = \"{}\"\n\
                 algorithm = \"{}\"\n\
                 digits = {}\n\
                 counter = {counter}\n\
                 recovery = [\n{}]\n",
                encode_base32(&self.secret).as_str(),
                self.algorithm.name(),
                self.digits,
                recovery.concat(),
            ));
        }
        Zeroizing::new(format!(
            "# pam-totp secret: keep private (mode 0600). Written by `pam-totp enroll`.\n\
             version = {FORMAT_VERSION}\n\
             secret = \"{}\"\n\
             algorithm = \"{}\"\n\
             digits = {}\n\
             period = {}\n\
             recovery = [\n{}]\n",
            encode_base32(&self.secret).as_str(),
            self.algorithm.name(),
            self.digits,
            self.period,
            recovery.concat(),
        ))
    }
}

/// `type` and `counter`: TOTP unless `type = "hotp"`; `counter` only with HOTP.
fn parse_kind(table: &toml::Table) -> Result<TokenKind, SecretError> {
    let hotp = match table.get("type") {
        None => false,
        Some(toml::Value::String(name)) if name.eq_ignore_ascii_case("totp") => false,
        Some(toml::Value::String(name)) if name.eq_ignore_ascii_case("hotp") => true,
        Some(_) => {
            return Err(SecretError::Bad {
                key: "type",
                reason: "expected \"totp\" or \"hotp\"".into(),
            });
        }
    };
    let counter = match table.get("counter") {
        None => None,
        Some(toml::Value::Integer(n)) if *n >= 0 => u64::try_from(*n).ok(),
        Some(_) => {
            return Err(SecretError::Bad {
                key: "counter",
                reason: "expected a counter value from 0 on".into(),
            });
        }
    };
    match (hotp, counter) {
        (true, counter) => Ok(TokenKind::Hotp {
            counter: counter.unwrap_or(0),
        }),
        (false, None) => Ok(TokenKind::Totp),
        (false, Some(_)) => Err(SecretError::Bad {
            key: "counter",
            reason: "only for type = \"hotp\"".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nalgorithm = \"SHA256\"\ndigits = 8\nperiod = 60\nrecovery = []\n";

    #[test]
    fn parses_and_round_trips() {
        let file = SecretFile::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(file.algorithm, HashAlgorithm::Sha256);
        assert_eq!((file.digits, file.period), (8, 60));
        assert_eq!(file.secret.len(), 20);
        let again = SecretFile::parse(file.to_toml().as_bytes()).unwrap();
        assert_eq!(again.secret, file.secret);
        assert_eq!(again.digits, 8);
    }

    #[test]
    fn refuses_bad_files() {
        let cases = [
            ("not toml at all", "not valid TOML"),
            (
                "secret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"",
                "missing key \"version\"",
            ),
            (
                "version = 2\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"",
                "bad \"version\"",
            ),
            ("version = 1", "missing key \"secret\""),
            ("version = 1\nsecret = \"not-base32!\"", "bad \"secret\""),
            ("version = 1\nsecret = \"JBSWY3DP\"", "bad \"secret\""),
            (
                "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\ndigits = 12",
                "bad \"digits\"",
            ),
            (
                "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nperiod = 0",
                "bad \"period\"",
            ),
            (
                "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nalgorithm = \"MD5\"",
                "bad \"algorithm\"",
            ),
            (
                "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nrecovery = [\"123\"]",
                "bad \"recovery\"",
            ),
            (
                "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nextra = 1",
                "unknown key \"extra\"",
            ),
        ];
        for (text, expected) in cases {
            let error = SecretFile::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        assert_eq!(
            SecretFile::parse(b"\xff").unwrap_err(),
            SecretError::NotUtf8
        );
    }

    #[test]
    fn hotp_files_parse_and_round_trip() {
        let text = "version = 1\ntype = \"hotp\"\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\ndigits = 8\ncounter = 42\n";
        let file = SecretFile::parse(text.as_bytes()).unwrap();
        assert_eq!(file.kind, TokenKind::Hotp { counter: 42 });
        assert_eq!(file.digits, 8);
        let written = file.to_toml();
        assert!(
            written.contains("type = \"hotp\"\n"),
            "{}",
            written.as_str()
        );
        assert!(written.contains("counter = 42\n"));
        assert!(!written.contains("period"));
        let again = SecretFile::parse(written.as_bytes()).unwrap();
        assert_eq!(again.kind, TokenKind::Hotp { counter: 42 });
        assert_eq!(again.secret, file.secret);
        // No counter: from 0. Type names are case-insensitive.
        let file = SecretFile::parse(
            b"version = 1\ntype = \"HOTP\"\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\n",
        )
        .unwrap();
        assert_eq!(file.kind, TokenKind::Hotp { counter: 0 });
        assert!(file.counter_generator().is_ok());
    }

    #[test]
    fn totp_files_are_written_back_byte_for_byte() {
        let file = SecretFile::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(file.kind, TokenKind::Totp);
        let written = file.to_toml();
        assert!(!written.contains("type"));
        assert!(!written.contains("counter"));
        // What the writer produced before `type` existed, exactly.
        let expected = "# pam-totp secret: keep private (mode 0600). Written by `pam-totp enroll`.\n\
            version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\nalgorithm = \"SHA256\"\n\
            digits = 8\nperiod = 60\nrecovery = [\n]\n";
        assert_eq!(written.as_str(), expected);
        let again = SecretFile::parse(written.as_bytes()).unwrap();
        assert_eq!(again.to_toml().as_str(), expected);
        let explicit = GOOD.replace("version = 1\n", "version = 1\ntype = \"totp\"\n");
        let explicit = SecretFile::parse(explicit.as_bytes()).unwrap();
        assert_eq!(explicit.to_toml().as_str(), expected);
    }

    #[test]
    fn refuses_bad_types_and_counters() {
        let base = "version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\n";
        for (extra, expected) in [
            ("type = \"motp\"", "bad \"type\""),
            ("type = 1", "bad \"type\""),
            ("type = \"hotp\"\ncounter = -1", "bad \"counter\""),
            ("type = \"hotp\"\ncounter = \"3\"", "bad \"counter\""),
            ("counter = 3", "only for type"),
            ("type = \"totp\"\ncounter = 3", "only for type"),
        ] {
            let text = format!("{base}{extra}\n");
            let error = SecretFile::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
