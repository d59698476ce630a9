//! google-authenticator-libpam's `~/.google_authenticator` file.
//!
//! The file is the base32 secret on the first line, option lines starting
//! with `" `, then 8-digit scratch codes, one a line. `" TOTP_AUTH` marks a
//! time-based file; `" HOTP_COUNTER N` a counter-based one, where N is the
//! next counter value google-authenticator expects (it accepts N and the
//! values after it, then stores the one after the match).

use zeroize::Zeroizing;

use crate::text::encoding::decode_base32;

/// google-authenticator's default WINDOW_SIZE: the current code and one on each side.
pub const DEFAULT_WINDOW_SIZE: u32 = 3;

/// Where the file's codes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `TOTP_AUTH`, with `STEP_SIZE` seconds (default 30).
    Totp { step: u64 },
    /// `HOTP_COUNTER N`: N is the next counter value the module expects.
    Hotp { next_counter: u64 },
}

/// What a google-authenticator file holds that pam-totp can use.
pub struct GoogleAuthenticator {
    pub secret: Zeroizing<Vec<u8>>,
    pub kind: Kind,
    /// `WINDOW_SIZE`: how many codes around the current one were accepted.
    pub window_size: u32,
    pub scratch_codes: Vec<Zeroizing<String>>,
    /// Options present that pam-totp does not carry over.
    pub ignored: Vec<String>,
}

impl std::fmt::Debug for GoogleAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAuthenticator")
            .field("secret", &"[redacted]")
            .field("kind", &self.kind)
            .field("window_size", &self.window_size)
            .field("scratch_codes", &self.scratch_codes.len())
            .field("ignored", &self.ignored)
            .finish()
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    NotText,
    Empty,
    NotBase32,
    /// An option with a missing or out-of-range number.
    BadNumber {
        line: usize,
        option: &'static str,
        min: u64,
        max: u64,
    },
    /// A line that is neither an option nor a scratch code.
    BadLine(usize),
    /// Neither `TOTP_AUTH` nor `HOTP_COUNTER`.
    NoKind,
    /// Both `TOTP_AUTH` and `HOTP_COUNTER`.
    BothKinds,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotText => write!(f, "it is not text"),
            ParseError::Empty => write!(f, "the file is empty"),
            ParseError::NotBase32 => write!(f, "line 1 is not a base32 secret"),
            ParseError::BadNumber {
                line,
                option,
                min,
                max,
            } => write!(
                f,
                "line {line}: {option} must be a number from {min} to {max}"
            ),
            ParseError::BadLine(line) => write!(
                f,
                "line {line} is neither an option nor an 8-digit scratch code"
            ),
            ParseError::NoKind => write!(f, "it has neither TOTP_AUTH nor HOTP_COUNTER"),
            ParseError::BothKinds => write!(f, "it has both TOTP_AUTH and HOTP_COUNTER"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parse the bytes of a `.google_authenticator` file.
pub fn parse(bytes: &[u8]) -> Result<GoogleAuthenticator, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::NotText)?;
    let mut lines = text.lines();
    let first = lines
        .next()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .ok_or(ParseError::Empty)?;
    // One base32 letter decodes to no bytes at all: no secret either.
    let secret = decode_base32(first)
        .filter(|secret| !secret.is_empty())
        .ok_or(ParseError::NotBase32)?;
    let mut totp = false;
    let mut next_counter = None;
    let mut step = 30;
    let mut window_size = DEFAULT_WINDOW_SIZE;
    let mut scratch_codes = Vec::new();
    let mut ignored = Vec::new();
    for (index, line) in lines.enumerate() {
        let number = index.saturating_add(2);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(option) = line.strip_prefix('"') {
            let mut words = option.split_whitespace();
            let name = words.next().unwrap_or("");
            let value = words.next();
            let number_value = |option: &'static str, min: u64, max: u64| {
                value
                    .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| (min..=max).contains(v))
                    .ok_or(ParseError::BadNumber {
                        line: number,
                        option,
                        min,
                        max,
                    })
            };
            match name {
                "TOTP_AUTH" => totp = true,
                "HOTP_COUNTER" => {
                    next_counter = Some(number_value("HOTP_COUNTER", 0, i64::MAX as u64)?)
                }
                "STEP_SIZE" => step = number_value("STEP_SIZE", 1, 3600)?,
                "WINDOW_SIZE" => {
                    window_size = u32::try_from(number_value("WINDOW_SIZE", 1, 100)?)
                        .unwrap_or(DEFAULT_WINDOW_SIZE)
                }
                "" => {}
                other => {
                    let other = super::printable(other);
                    if !ignored.contains(&other) {
                        ignored.push(other);
                    }
                }
            }
        } else if line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) {
            scratch_codes.push(Zeroizing::new(line.to_string()));
        } else {
            return Err(ParseError::BadLine(number));
        }
    }
    let kind = match (totp, next_counter) {
        (true, None) => Kind::Totp { step },
        (false, Some(next_counter)) => Kind::Hotp { next_counter },
        (true, Some(_)) => return Err(ParseError::BothKinds),
        (false, None) => return Err(ParseError::NoKind),
    };
    Ok(GoogleAuthenticator {
        secret,
        kind,
        window_size,
        scratch_codes,
        ignored,
    })
}

/// The pam-totp `window` that accepts every code google-authenticator
/// accepted with `window_size` (it checks from (W-1)/2 steps back to W/2
/// steps ahead).
pub fn equivalent_window(window_size: u32) -> u32 {
    window_size / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_totp_file() {
        let text = "ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" RATE_LIMIT 3 30 1700000000\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666\n\" STEP_SIZE 60\n\" TOTP_AUTH\n58078289\n26545919\n";
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.secret.len(), 16);
        assert_eq!(parsed.kind, Kind::Totp { step: 60 });
        assert_eq!(parsed.window_size, 17);
        assert_eq!(equivalent_window(parsed.window_size), 8);
        assert_eq!(parsed.scratch_codes.len(), 2);
        assert_eq!(parsed.ignored, vec!["RATE_LIMIT", "DISALLOW_REUSE"]);
    }

    #[test]
    fn defaults_match_google_authenticator() {
        let parsed = parse(b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n").unwrap();
        assert_eq!(
            (parsed.kind, parsed.window_size),
            (Kind::Totp { step: 30 }, 3)
        );
        assert_eq!(equivalent_window(3), 1);
    }

    /// As `google-authenticator -c -f -C -q -w 3 -r 3 -R 30` writes it.
    #[test]
    fn parses_a_counter_based_file() {
        let text = "N26UOJRMO7K5YUR26MSSAEQKZY\n\" RATE_LIMIT 3 30\n\" WINDOW_SIZE 3\n\" HOTP_COUNTER 1\n82662911\n97149998\n75348641\n52696601\n34718112\n";
        let parsed = parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.kind, Kind::Hotp { next_counter: 1 });
        assert_eq!(parsed.scratch_codes.len(), 5);
        assert_eq!(parsed.ignored, vec!["RATE_LIMIT"]);
        let later = parse(b"N26UOJRMO7K5YUR26MSSAEQKZY\n\" HOTP_COUNTER 1234\n").unwrap();
        assert_eq!(later.kind, Kind::Hotp { next_counter: 1234 });
    }

    #[test]
    fn refuses_garbage() {
        for (text, expected) in [
            (&b""[..], ParseError::Empty),
            (b"\xff\xfe", ParseError::NotText),
            (b"not base32!\n\" TOTP_AUTH\n", ParseError::NotBase32),
            // Found by the fuzz target: one letter decodes to nothing.
            (b"Z\n\" TOTP_AUTH\n", ParseError::NotBase32),
            (
                b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n1234\n",
                ParseError::BadLine(3),
            ),
            (
                b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" STEP_SIZE 0\n\" TOTP_AUTH\n",
                ParseError::BadNumber {
                    line: 2,
                    option: "STEP_SIZE",
                    min: 1,
                    max: 3600,
                },
            ),
            (
                b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" HOTP_COUNTER -1\n",
                ParseError::BadNumber {
                    line: 2,
                    option: "HOTP_COUNTER",
                    min: 0,
                    max: i64::MAX as u64,
                },
            ),
            (
                b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" HOTP_COUNTER +1\n",
                ParseError::BadNumber {
                    line: 2,
                    option: "HOTP_COUNTER",
                    min: 0,
                    max: i64::MAX as u64,
                },
            ),
            (b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n", ParseError::NoKind),
            (
                b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n",
                ParseError::BothKinds,
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text:?}");
        }
        assert_eq!(
            ParseError::BadLine(3).to_string(),
            "line 3 is neither an option nor an 8-digit scratch code"
        );
    }

    #[test]
    fn unknown_options_are_quoted_printably() {
        let parsed = parse(b"ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n\" EVIL\x1b[2J\n").unwrap();
        assert_eq!(parsed.ignored, vec!["EVIL\\x1b[2J"]);
    }
}
