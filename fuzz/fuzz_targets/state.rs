//! The state parser: never panics; accepted states round-trip exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::otp::state::State;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(state) = State::parse(text) {
        let again = State::parse(&state.to_toml()).expect("written state parses");
        assert_eq!(again, state);
        let mut next = state.clone();
        next.record_failure(u64::MAX - 1, 3, 30, 900);
        next.record_success(u64::MAX, Some(u64::MAX));
        let _ = next.lockout_remaining(0);
    }
});
