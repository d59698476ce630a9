//! The user's secret file (`secret.toml`): parsing, validation, writing.

use zeroize::Zeroizing;

use crate::otp::{Generator, HashAlgorithm, InvalidParameters};
use crate::recovery::RecoveryHash;
use crate::text::escape_controls;

/// Largest secret file accepted, in bytes.
pub const MAX_SECRET_FILE_SIZE: u64 = 64 * 1024;
pub const FORMAT_VERSION: i64 = 1;

pub struct SecretFile {
    pub secret: Zeroizing<Vec<u8>>,
    pub algorithm: HashAlgorithm,
    pub digits: u8,
    pub period: u64,
    pub recovery: Vec<RecoveryHash>,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFile")
            .field("secret", &"[redacted]")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("recovery", &self.recovery.len())
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

/// Decode a base32 secret (RFC 4648; case, spaces and padding forgiven).
pub fn decode_base32(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| *c != ' ' && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    if cleaned.is_empty()
        || !cleaned
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return None;
    }
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &cleaned).map(Zeroizing::new)
}

pub fn encode_base32(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(base32::encode(
        base32::Alphabet::Rfc4648 { padding: false },
        bytes,
    ))
}

impl SecretFile {
    /// The kind of codes, as `list` and `status` show it.
    pub fn kind_name(&self) -> &'static str {
        "TOTP"
    }

    pub fn parse(bytes: &[u8]) -> Result<SecretFile, SecretError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SecretError::NotUtf8)?;
        let mut table: toml::Table = crate::simple_toml::parse(text)
            .map_err(|error: toml::de::Error| SecretError::Syntax(error.message().to_string()))?;
        for key in table.keys() {
            if ![
                "version",
                "secret",
                "algorithm",
                "digits",
                "period",
                "recovery",
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
        let file = SecretFile {
            secret,
            algorithm,
            digits,
            period,
            recovery,
        };
        file.generator()
            .map_err(|InvalidParameters(reason)| SecretError::Bad {
                key: "secret",
                reason,
            })?;
        Ok(file)
    }

    pub fn generator(&self) -> Result<Generator, InvalidParameters> {
        Generator::new(&self.secret, self.algorithm, self.digits, self.period)
    }

    /// The file's text, as `pam-totp` writes it.
    pub fn to_toml(&self) -> Zeroizing<String> {
        let recovery: Vec<String> = self
            .recovery
            .iter()
            .map(|h| format!("  \"{}\",\n", h.encode()))
            .collect();
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
    fn base32_is_forgiving_about_case_spaces_and_padding() {
        let a = decode_base32("JBSW Y3DP EHPK 3PXP").unwrap();
        let b = decode_base32("jbswy3dpehpk3pxp====").unwrap();
        assert_eq!(a, b);
        assert!(decode_base32("").is_none());
        assert!(decode_base32("JBSW1").is_none());
    }
}
