//! pam_oath's users file (`/etc/users.oath`, oath-toolkit's "UsersFile").
//!
//! One token a line, fields separated by white space:
//!
//! ```text
//! TYPE USER PASSWORD HEXSECRET [COUNTER [LASTOTP [TIME]]]
//! ```
//!
//! TYPE is `HOTP`, `HOTP/E`, `HOTP/E/6|7|8` (counter-based, 6 digits unless
//! given) or `HOTP/T30[/6|7|8]`, `HOTP/T60[/6|7|8]` (time-based, 30 or 60
//! second steps); PASSWORD is `-` (none) or `+` (checked by another module);
//! lines whose first field is no type, such as `#` comments, are ignored,
//! as pam_oath ignores them.
//!
//! After a login pam_oath rewrites the line with COUNTER, the code it
//! accepted as LASTOTP and the local time as TIME (`%Y-%m-%dT%H:%M:%SL`).
//! For HOTP, COUNTER is then the counter value of LASTOTP (pam_oath starts
//! its next search there and refuses LASTOTP itself as a replay); without
//! LASTOTP, COUNTER is the first value it would accept. For TOTP, COUNTER
//! means nothing; what pam_oath refuses is LASTOTP's time step and every
//! earlier one.

use zeroize::Zeroizing;

use super::{MIN_SECRET_BYTES, printable};
use crate::otp::code::{Generator, HashAlgorithm};

/// Time steps searched on each side of TIME for the step LASTOTP was
/// valid at (pam_oath's `window` is a number of steps on each side).
pub const TOTP_SEARCH_STEPS: u64 = 100;

/// Where a token's codes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OathKind {
    Hotp,
    Totp { period: u64 },
}

/// TIME as pam_oath wrote it: local civil time, no zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// One line pam-totp can convert.
pub struct OathToken {
    /// Line number, from 1.
    pub line: usize,
    pub user: String,
    pub kind: OathKind,
    pub digits: u8,
    pub secret: Zeroizing<Vec<u8>>,
    /// COUNTER, 0 when absent.
    pub counter: u64,
    /// LASTOTP: the code pam_oath last accepted.
    pub last_otp: Option<Zeroizing<String>>,
    /// TIME: when it accepted it.
    pub last_time: Option<LocalTime>,
}

impl std::fmt::Debug for OathToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OathToken")
            .field("line", &self.line)
            .field("user", &self.user)
            .field("kind", &self.kind)
            .field("digits", &self.digits)
            .field("secret", &"[redacted]")
            .field("counter", &self.counter)
            .field("last_otp", &self.last_otp.as_ref().map(|_| "[redacted]"))
            .field("last_time", &self.last_time)
            .finish()
    }
}

/// Why a line was not converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    NotText,
    /// A type pam-totp cannot convert (or pam_oath does not know).
    UnknownType(String),
    MissingField(&'static str),
    /// A password in the line: pam-totp asks for the code alone.
    Password,
    BadSecret,
    ShortSecret {
        bits: usize,
    },
    BadCounter,
    BadTime,
    /// The user already has a token on an earlier line.
    SecondToken {
        first_line: usize,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NotText => write!(f, "it is not UTF-8 text"),
            SkipReason::UnknownType(kind) => write!(
                f,
                "its type \"{kind}\" is not one pam-totp converts (HOTP, HOTP/E[/D], HOTP/T30[/D], HOTP/T60[/D])"
            ),
            SkipReason::MissingField(field) => write!(f, "it has no {field} field"),
            SkipReason::Password => write!(
                f,
                "it has a password, which pam-totp does not keep: check the password with another module (pam_unix) and set the field to \"-\""
            ),
            SkipReason::BadSecret => write!(f, "its secret is not hexadecimal"),
            SkipReason::ShortSecret { bits } => write!(
                f,
                "its secret has only {bits} bits, fewer than the 128 pam-totp requires; enroll the user anew"
            ),
            SkipReason::BadCounter => write!(f, "its counter is not a number"),
            SkipReason::BadTime => write!(
                f,
                "its time is not in pam_oath's form (YYYY-MM-DDTHH:MM:SSL)"
            ),
            SkipReason::SecondToken { first_line } => write!(
                f,
                "the user already has a token on line {first_line}, and pam-totp keeps one token a user"
            ),
        }
    }
}

/// A line that was not converted, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub line: usize,
    /// The line's user name, printable, if it has one.
    pub user: Option<String>,
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.user {
            Some(user) => write!(f, "line {} ({user}): {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// What a users file holds: the tokens that convert, the lines that do not.
#[derive(Debug, Default)]
pub struct UsersFile {
    pub tokens: Vec<OathToken>,
    pub skipped: Vec<Skipped>,
}

/// Parse the bytes of a pam_oath users file. Never fails as a whole: every
/// line either converts or is reported.
pub fn parse(bytes: &[u8]) -> UsersFile {
    let mut file = UsersFile::default();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index.saturating_add(1);
        let parsed = match std::str::from_utf8(line) {
            Ok(text) => parse_line(number, text),
            Err(_) => Some(Err(Skipped {
                line: number,
                user: None,
                reason: SkipReason::NotText,
            })),
        };
        match parsed {
            None => {}
            Some(Err(skipped)) => file.skipped.push(skipped),
            Some(Ok(token)) => match file.tokens.iter().find(|t| t.user == token.user) {
                Some(first) => file.skipped.push(Skipped {
                    line: number,
                    user: Some(printable(&token.user)),
                    reason: SkipReason::SecondToken {
                        first_line: first.line,
                    },
                }),
                None => file.tokens.push(token),
            },
        }
    }
    file
}

/// `None` for lines pam_oath ignores (blank, comments).
fn parse_line(number: usize, text: &str) -> Option<Result<OathToken, Skipped>> {
    let mut fields = text.split([' ', '\t', '\r']).filter(|f| !f.is_empty());
    let kind_field = fields.next()?;
    if kind_field.starts_with('#') {
        return None;
    }
    let user = fields.next();
    let skip = |reason: SkipReason| Skipped {
        line: number,
        user: user.map(printable),
        reason,
    };
    Some(parse_fields(kind_field, user, fields).map_err(skip).map(
        |(user, kind, digits, secret, counter, last_otp, last_time)| OathToken {
            line: number,
            user,
            kind,
            digits,
            secret,
            counter,
            last_otp,
            last_time,
        },
    ))
}

type Fields = (
    String,
    OathKind,
    u8,
    Zeroizing<Vec<u8>>,
    u64,
    Option<Zeroizing<String>>,
    Option<LocalTime>,
);

fn parse_fields<'a>(
    kind_field: &str,
    user: Option<&str>,
    mut rest: impl Iterator<Item = &'a str>,
) -> Result<Fields, SkipReason> {
    let (kind, digits) =
        parse_type(kind_field).ok_or_else(|| SkipReason::UnknownType(printable(kind_field)))?;
    let user = user.ok_or(SkipReason::MissingField("user"))?;
    match rest.next() {
        None => return Err(SkipReason::MissingField("password")),
        Some("-" | "+") => {}
        Some(_) => return Err(SkipReason::Password),
    }
    let secret = decode_hex(rest.next().ok_or(SkipReason::MissingField("secret"))?)
        .ok_or(SkipReason::BadSecret)?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SkipReason::ShortSecret {
            bits: secret.len().saturating_mul(8),
        });
    }
    let counter = match rest.next() {
        None => 0,
        Some(field) if field.bytes().all(|b| b.is_ascii_digit()) => {
            field.parse().map_err(|_| SkipReason::BadCounter)?
        }
        Some(_) => return Err(SkipReason::BadCounter),
    };
    let last_otp = rest.next().map(|otp| Zeroizing::new(otp.to_string()));
    let last_time = match rest.next() {
        None => None,
        Some(field) => Some(parse_time(field).ok_or(SkipReason::BadTime)?),
    };
    Ok((
        user.to_string(),
        kind,
        digits,
        secret,
        counter,
        last_otp,
        last_time,
    ))
}

/// The types liboath's usersfile.c knows.
fn parse_type(field: &str) -> Option<(OathKind, u8)> {
    let (base, digits) = match field.rsplit_once('/') {
        Some((base, d @ ("6" | "7" | "8"))) => (base, d.parse().ok()?),
        _ => (field, 6),
    };
    let kind = match base {
        "HOTP/E" => OathKind::Hotp,
        // Plain "HOTP" takes no digits suffix in liboath.
        "HOTP" if base.len() == field.len() => OathKind::Hotp,
        "HOTP/T30" => OathKind::Totp { period: 30 },
        "HOTP/T60" => OathKind::Totp { period: 60 },
        _ => return None,
    };
    Some((kind, digits))
}

/// Hexadecimal, either case, an even number of digits (as oath_hex2bin).
fn decode_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    crate::text::encoding::decode_hex(text)
}

/// `YYYY-MM-DDTHH:MM:SSL`, as pam_oath's strftime writes it.
fn parse_time(field: &str) -> Option<LocalTime> {
    let bytes = field.as_bytes();
    if bytes.len() != 20
        || bytes.get(4) != Some(&b'-')
        || bytes.get(7) != Some(&b'-')
        || bytes.get(10) != Some(&b'T')
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
        || bytes.get(19) != Some(&b'L')
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        let part = field.get(from..to)?;
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let time = LocalTime {
        year: i32::try_from(number(0, 4)?).ok()?,
        month: u8::try_from(number(5, 7)?).ok()?,
        day: u8::try_from(number(8, 10)?).ok()?,
        hour: u8::try_from(number(11, 13)?).ok()?,
        minute: u8::try_from(number(14, 16)?).ok()?,
        second: u8::try_from(number(17, 19)?).ok()?,
    };
    let valid = (1..=12).contains(&time.month)
        && (1..=31).contains(&time.day)
        && time.hour <= 23
        && time.minute <= 59
        && time.second <= 60;
    valid.then_some(time)
}

impl OathToken {
    /// For an HOTP token: the next counter value the token will show (the
    /// secret file's `counter`) and the last one pam_oath accepted (for the
    /// state), so that no code pam_oath accepted works again.
    pub fn hotp_counters(&self) -> (u64, Option<u64>) {
        match self.last_otp {
            Some(_) => (self.counter.saturating_add(1), Some(self.counter)),
            None => (self.counter, None),
        }
    }

    /// For a TOTP token: the last time step pam_oath accepted, found as the
    /// latest step within `TOTP_SEARCH_STEPS` of `accepted_at` (TIME in Unix
    /// seconds; `now` when it is unknown) at which LASTOTP was valid. When
    /// none matches, the last step of that search, so that nothing pam_oath
    /// may have accepted works again. `None` when pam_oath accepted nothing.
    pub fn last_totp_step(&self, accepted_at: Option<u64>, now: u64) -> Option<u64> {
        let OathKind::Totp { period } = self.kind else {
            return None;
        };
        let last_otp = self.last_otp.as_ref()?;
        let at = accepted_at.unwrap_or(now);
        let center = at / period;
        let first = center.saturating_sub(TOTP_SEARCH_STEPS);
        let last = center.saturating_add(TOTP_SEARCH_STEPS);
        let generator = Generator::new(&self.secret, HashAlgorithm::Sha1, self.digits, period).ok();
        let matched = generator.and_then(|generator| {
            (first..=last)
                .rev()
                .find(|&step| generator.code_for_step(step).as_str() == last_otp.as_str())
        });
        Some(matched.unwrap_or(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "3132333435363738393031323334353637383930";

    #[test]
    fn parses_fresh_and_rewritten_lines() {
        let text = format!(
            "# tokens\n\
             HOTP alice - {KEY}\n\
             HOTP\tbob\t-\t{KEY}\t7\t162583\t2026-12-01T12:36:12L\n\
             HOTP/T30 carol + {KEY}\n\
             HOTP/T30/8 dave - {KEY} 0 12345678 2026-01-31T23:59:59L\n\
             HOTP/E/7 erin - {}\n\
             HOTP/T60 frank - {KEY} 3\r\n\
             \n",
            KEY.to_ascii_uppercase()
        );
        let file = parse(text.as_bytes());
        assert_eq!(file.skipped, vec![]);
        let users: Vec<_> = file.tokens.iter().map(|t| t.user.as_str()).collect();
        assert_eq!(users, ["alice", "bob", "carol", "dave", "erin", "frank"]);
        let [alice, bob, carol, dave, erin, frank] = &file.tokens[..] else {
            panic!()
        };
        assert_eq!(
            (alice.line, alice.kind, alice.digits),
            (2, OathKind::Hotp, 6)
        );
        assert_eq!(alice.secret.as_slice(), b"12345678901234567890");
        assert_eq!(alice.hotp_counters(), (0, None));
        assert_eq!(bob.hotp_counters(), (8, Some(7)));
        assert_eq!(bob.last_otp.as_deref().map(String::as_str), Some("162583"));
        assert_eq!(
            bob.last_time,
            Some(LocalTime {
                year: 2026,
                month: 12,
                day: 1,
                hour: 12,
                minute: 36,
                second: 12
            })
        );
        assert_eq!(carol.kind, OathKind::Totp { period: 30 });
        assert_eq!((dave.kind, dave.digits), (OathKind::Totp { period: 30 }, 8));
        assert_eq!((erin.kind, erin.digits), (OathKind::Hotp, 7));
        assert_eq!(erin.secret, alice.secret);
        assert_eq!(
            (frank.kind, frank.counter),
            (OathKind::Totp { period: 60 }, 3)
        );
        assert_eq!(frank.last_otp, None);
    }

    #[test]
    fn reports_what_it_cannot_convert_and_keeps_the_rest() {
        let text = format!(
            "HOTP alice secretpw {KEY}\n\
             mOTP bob - {KEY}\n\
             HOTP/T45 carol - {KEY}\n\
             HOTP/6 dave - {KEY}\n\
             HOTP erin - 00\n\
             HOTP frank - xyz1\n\
             HOTP grace - {KEY} -5\n\
             HOTP heidi - {KEY} 1 755224 yesterday\n\
             HOTP ivan\n\
             HOTP judy - {KEY}\n\
             HOTP/T30 judy - {KEY}\n\
             HOTP mallory\x1b[2J -\n"
        );
        let mut bytes = text.into_bytes();
        bytes.extend_from_slice(b"HOTP \xff - 00\n");
        let file = parse(&bytes);
        let reasons: Vec<_> = file
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.clone()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, SkipReason::Password),
                (2, SkipReason::UnknownType("mOTP".into())),
                (3, SkipReason::UnknownType("HOTP/T45".into())),
                (4, SkipReason::UnknownType("HOTP/6".into())),
                (5, SkipReason::ShortSecret { bits: 8 }),
                (6, SkipReason::BadSecret),
                (7, SkipReason::BadCounter),
                (8, SkipReason::BadTime),
                (9, SkipReason::MissingField("password")),
                (11, SkipReason::SecondToken { first_line: 10 }),
                (12, SkipReason::MissingField("secret")),
                (13, SkipReason::NotText),
            ]
        );
        assert_eq!(file.tokens.len(), 1);
        assert_eq!(file.tokens[0].user, "judy");
        let shown = file.skipped[10].to_string();
        assert_eq!(shown, "line 12 (mallory\\x1b[2J): it has no secret field");
        assert!(
            file.skipped[0]
                .to_string()
                .starts_with("line 1 (alice): it has a password")
        );
    }

    #[test]
    fn finds_the_last_totp_step_pam_oath_accepted() {
        let token = |last_otp: Option<&str>| OathToken {
            line: 1,
            user: "u".into(),
            kind: OathKind::Totp { period: 30 },
            digits: 8,
            secret: Zeroizing::new(b"12345678901234567890".to_vec()),
            counter: 0,
            last_otp: last_otp.map(|s| Zeroizing::new(s.to_string())),
            last_time: None,
        };
        // RFC 6238: 89005924 is the code at 1234567890 (step 41152263).
        let step = 1_234_567_890 / 30;
        let accepted = token(Some("89005924"));
        assert_eq!(accepted.last_totp_step(Some(1_234_567_890), 0), Some(step));
        // Accepted within pam_oath's window, recorded a few minutes off.
        assert_eq!(
            accepted.last_totp_step(Some(1_234_567_890 + 600), 0),
            Some(step)
        );
        assert_eq!(
            accepted.last_totp_step(None, 1_234_567_890 - 600),
            Some(step)
        );
        // Not found: everything up to the end of the search is taken as used.
        let unknown = token(Some("00000000"));
        assert_eq!(
            unknown.last_totp_step(Some(1_234_567_890), 0),
            Some(step + TOTP_SEARCH_STEPS)
        );
        assert_eq!(token(None).last_totp_step(Some(1_234_567_890), 0), None);
    }

    #[test]
    fn types_are_liboaths() {
        for (field, expected) in [
            ("HOTP", Some((OathKind::Hotp, 6))),
            ("HOTP/E", Some((OathKind::Hotp, 6))),
            ("HOTP/E/8", Some((OathKind::Hotp, 8))),
            ("HOTP/T30", Some((OathKind::Totp { period: 30 }, 6))),
            ("HOTP/T30/7", Some((OathKind::Totp { period: 30 }, 7))),
            ("HOTP/T60/8", Some((OathKind::Totp { period: 60 }, 8))),
            ("HOTP/T30/9", None),
            ("HOTP/E/5", None),
            ("HOTP/8", None),
            ("hotp", None),
            ("TOTP", None),
        ] {
            assert_eq!(parse_type(field), expected, "{field}");
        }
    }
}
