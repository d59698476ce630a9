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
    match Config::parse(text, Path::new("/etc/pam-totp/config.toml")) {
        Ok(config) => assert!(config.lockout <= config.lockout_max),
        Err(error) => assert!(!error.to_string().is_empty()),
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
