//! The PAM-stack reader and analysis behind `pam-totp check`: never
//! panic, always end (includes are bounded), findings always render.
//!
//! The input is the service file; every file it includes reads as the
//! part of the input after the first NUL (or fails, once the budget of
//! reads is spent), so nested and recursive includes are exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::check::pam_stack::{self, Control};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (main, included) = text.split_once('\0').unwrap_or((text, ""));
    let mut reads = 0;
    let stack = pam_stack::read_stack(Path::new("/fuzz/sshd"), &mut |path| {
        reads += 1;
        match reads {
            1 if path == Path::new("/fuzz/sshd") => Ok(main.to_string()),
            2..=64 => Ok(included.to_string()),
            _ => Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        }
    });
    // Each file read can start at most one read per line: the budget
    // bounds the whole walk (no exponential include trees).
    let lines = main.lines().count().max(included.lines().count()) + 1;
    assert!(reads <= 65 * lines, "{reads} reads for {lines} lines");
    for finding in &stack.findings {
        assert!(!finding.to_string().is_empty());
    }
    let can_ignore = vec![true; stack.entries.len()];
    let findings = pam_stack::analyse(
        Path::new("/fuzz/sshd"),
        &stack.entries,
        &|_| true,
        &can_ignore,
    );
    for finding in &findings {
        assert!(!finding.to_string().is_empty());
    }
    let _ = pam_stack::password_before_totp(&stack.entries);
    for entry in &stack.entries {
        // A control shown is one that parses back to the same control.
        let shown = entry.control.to_string();
        assert_eq!(
            Control::parse(&shown).as_ref(),
            Some(&entry.control),
            "{shown}"
        );
    }
});
