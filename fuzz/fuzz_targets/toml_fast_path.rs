//! The hand-written TOML fast path against the `toml` crate: whenever the
//! fast path accepts a document, the full parser must accept it too and
//! give the same table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(fast) = pam_totp::text::simple_toml::parse_simple(text) {
        let full: toml::Table = text
            .parse()
            .expect("the full parser accepts what the fast path accepts");
        assert_eq!(fast, full, "fast path and toml disagree on {text:?}");
    }
});
