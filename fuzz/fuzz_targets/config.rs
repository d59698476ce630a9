//! The configuration file and module-argument parsers: never panic;
//! errors always render.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::config::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The whole input as a file...
    let path = Path::new("/etc/pam-totp/config.toml");
    let first = Config::parse(text, path);
    match &first {
        Ok(config) => assert!(config.lockout <= config.lockout_max),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    // ...where `check`'s list of every problem starts with the module's one.
    match (first, Config::parse_all(text, path)) {
        (Ok(one), Ok(all)) => assert_eq!(one, all),
        (Err(one), Err(all)) => assert_eq!(all.first(), Some(&one)),
        (one, all) => panic!("parse and parse_all disagree: {one:?} / {all:?}"),
    }
    // ...and as module arguments (never reading a file: drop config=).
    let args: Vec<&str> = text
        .split([' ', '\n', '\0'])
        .filter(|a| !a.starts_with("config="))
        .collect();
    if let Err(error) = Config::from_module_args_without_file(&args) {
        assert!(!error.to_string().is_empty());
    }
});
