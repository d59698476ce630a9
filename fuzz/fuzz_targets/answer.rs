//! What the user types at the prompt: classification never panics, a
//! TOTP answer is 6 to 8 ASCII digits, and checking it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::otp::answer::{Answer, parse_answer};
use pam_totp::otp::code::{Generator, HashAlgorithm};

fuzz_target!(|data: &[u8]| {
    match parse_answer(data) {
        Answer::Totp(code) => {
            assert!((6..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()));
            let generator =
                Generator::new(b"12345678901234567890", HashAlgorithm::Sha1, 6, 30).expect("valid");
            let _ = generator.verify(&code, 1_700_000_000, 10, Some(56_666_666));
        }
        Answer::Recovery(code) => assert_eq!(code.len(), 8),
        Answer::Malformed => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pam_totp::otp::recovery::normalize(text);
        let _ = pam_totp::otp::recovery::RecoveryHash::parse(text);
    }
});
