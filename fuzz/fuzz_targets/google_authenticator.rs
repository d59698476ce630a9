//! The ~/.google_authenticator parser: never panics; what it accepts has a
//! secret, a known kind and at most 8-digit scratch codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::import::google_authenticator::{self, Kind};

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = google_authenticator::parse(data) {
        assert!(!file.secret.is_empty());
        match file.kind {
            Kind::Totp { step } => assert!((1..=3600).contains(&step)),
            Kind::Hotp { next_counter } => assert!(next_counter <= i64::MAX as u64),
        }
        assert!(file.scratch_codes.iter().all(|code| code.len() == 8));
        assert!(
            file.ignored
                .iter()
                .all(|o| !o.chars().any(char::is_control))
        );
        let _ = google_authenticator::equivalent_window(file.window_size);
    }
});
