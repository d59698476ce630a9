//! What the user typed at the prompt, normalised.

use zeroize::Zeroizing;

use crate::recovery;

/// Longest answer looked at; anything longer is a wrong code.
const MAX_ANSWER: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Digits only, 6 to 8 of them (the digits of the secret decide).
    Totp(Zeroizing<String>),
    /// The canonical form of something shaped like a recovery code.
    Recovery(Zeroizing<String>),
    /// Anything else: a wrong code.
    Malformed,
}

/// Classify an answer. Surrounding white space is ignored, and one inner
/// space or hyphen is allowed in a TOTP code (`123 456`, `123-456`).
pub fn parse_answer(raw: &[u8]) -> Answer {
    if raw.len() > MAX_ANSWER {
        return Answer::Malformed;
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Answer::Malformed;
    };
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if let Some(code) = totp_digits(text) {
        return Answer::Totp(code);
    }
    match recovery::normalize(text) {
        Some(code) => Answer::Recovery(code),
        None => Answer::Malformed,
    }
}

fn totp_digits(text: &str) -> Option<Zeroizing<String>> {
    let mut digits = Zeroizing::new(String::with_capacity(8));
    let mut separators = 0;
    let mut previous_was_digit = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            previous_was_digit = true;
        } else if (c == ' ' || c == '-') && previous_was_digit && separators == 0 {
            separators += 1;
            previous_was_digit = false;
        } else {
            return None;
        }
    }
    if !previous_was_digit || !(6..=8).contains(&digits.len()) {
        return None;
    }
    Some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totp(s: &str) -> Answer {
        Answer::Totp(Zeroizing::new(s.to_string()))
    }

    #[test]
    fn accepted_forms_of_a_code() {
        assert_eq!(parse_answer(b"123456"), totp("123456"));
        assert_eq!(parse_answer(b"  123456\n"), totp("123456"));
        assert_eq!(parse_answer(b"123 456"), totp("123456"));
        assert_eq!(parse_answer(b"123-456"), totp("123456"));
        assert_eq!(parse_answer(b"12345678"), totp("12345678"));
    }

    #[test]
    fn everything_else_is_malformed() {
        for bad in [
            &b""[..],
            b"   ",
            b"12345",
            b"123456789",
            b"12 34 56",
            b"123--456",
            b"-123456",
            b"123456-",
            b"12a456",
            "１２３４５６".as_bytes(),
            b"%s%n%x%n",
            b"123\x00456",
            b"99999999999999999999999",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_answer(bad), Answer::Malformed, "{bad:?}");
        }
        assert_eq!(parse_answer(&[b'1'; 100_000]), Answer::Malformed);
    }

    #[test]
    fn recovery_codes_are_recognised() {
        assert!(matches!(parse_answer(b" abcd-efgh "), Answer::Recovery(_)));
    }
}
