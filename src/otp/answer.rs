//! What a code looks like: the answer typed at the prompt, normalised,
//! and the rules for tokens handed on by other modules.

use zeroize::Zeroizing;

use crate::otp::recovery;

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

/// Whether a token left by an earlier module (`try_first_pass`) is shaped
/// exactly like a code: `digits` ASCII digits, or a recovery code as
/// printed (`xxxx-xxxx`). Only such a token is checked, and a checked token
/// that is wrong counts toward the lockout like any wrong code; anything
/// else (pam_unix's password, `913 571`) is not checked at all, so it is
/// neither a free guess nor a failure charged to a user whose password
/// merely resembles a code.
pub fn is_code_shaped(token: &[u8], digits: usize) -> bool {
    let token = token.trim_ascii();
    let totp = token.len() == digits && token.iter().all(u8::is_ascii_digit);
    let recovery = token.len() == 9
        && token.get(4) == Some(&b'-')
        && std::str::from_utf8(token)
            .ok()
            .and_then(recovery::normalize)
            .is_some();
    totp || recovery
}

/// Split "password + code" typed at one prompt (`forward_pass`): the code
/// is the last `digits` characters, or a recovery code (`xxxx-xxxx`) at
/// the end.
pub fn split_forwarded(answer: &[u8], digits: usize) -> (&[u8], &[u8]) {
    let recovery_len = 9;
    if answer.len() >= recovery_len {
        let (password, tail) = answer.split_at(answer.len() - recovery_len);
        if std::str::from_utf8(tail)
            .ok()
            .and_then(recovery::normalize)
            .is_some()
        {
            return (password, tail);
        }
    }
    let cut = answer.len().saturating_sub(digits);
    answer.split_at(cut)
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
    fn only_tokens_shaped_exactly_like_a_code_are_checked() {
        for token in [&b"913571"[..], b" 913571\n", b"abcd-efgh", b"ABCD-EFGH"] {
            assert!(is_code_shaped(token, 6), "{token:?}");
            // ... and every one of them is a code parse_answer checks.
            assert_ne!(parse_answer(token), Answer::Malformed, "{token:?}");
        }
        assert!(is_code_shaped(b"12345678", 8));
        for token in [
            &b"913 571"[..],
            b"913-571",
            b"12345678",
            b"abcdefgh",
            b"Passw0rd",
            b"hunter2",
            b"",
            b"uuuu-uuuu",
        ] {
            assert!(!is_code_shaped(token, 6), "{token:?}");
        }
    }

    #[test]
    fn forwarded_answers_split_at_the_code() {
        assert_eq!(
            split_forwarded(b"hunter2123456", 6),
            (&b"hunter2"[..], &b"123456"[..])
        );
        assert_eq!(
            split_forwarded(b"pw abcd-efgh", 6),
            (&b"pw "[..], &b"abcd-efgh"[..])
        );
        assert_eq!(split_forwarded(b"123", 6), (&b""[..], &b"123"[..]));
    }

    #[test]
    fn recovery_codes_are_recognised() {
        assert!(matches!(parse_answer(b" abcd-efgh "), Answer::Recovery(_)));
    }

    #[test]
    fn the_length_limit_is_sixty_four_bytes() {
        let padded = |len: usize| format!("{}123456", " ".repeat(len - 6)).into_bytes();
        assert_eq!(parse_answer(&padded(64)), totp("123456"));
        assert_eq!(parse_answer(&padded(65)), Answer::Malformed);
    }
}
