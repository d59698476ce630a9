//! The pam_oath users-file parser: never panics; every line with a type is
//! either a token or reported, one user has one token, and what it reports
//! is printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::import::pam_oath::{self, OathKind};

fuzz_target!(|data: &[u8]| {
    let file = pam_oath::parse(data);
    let lines = data.split(|&b| b == b'\n').count();
    for token in &file.tokens {
        assert!((1..=lines).contains(&token.line));
        assert!(token.secret.len() >= pam_totp::import::MIN_SECRET_BYTES);
        assert!((6..=8).contains(&token.digits));
        assert_eq!(
            file.tokens.iter().filter(|t| t.user == token.user).count(),
            1
        );
        let (next, last) = token.hotp_counters();
        assert!(last.is_none_or(|last| next > last || last == u64::MAX));
        if let OathKind::Totp { .. } = token.kind {
            let _ = token.last_totp_step(Some(u64::MAX), u64::MAX);
            let _ = token.last_totp_step(None, 0);
        }
    }
    for skipped in &file.skipped {
        assert!((1..=lines).contains(&skipped.line));
        assert!(!skipped.to_string().chars().any(char::is_control));
    }
});
