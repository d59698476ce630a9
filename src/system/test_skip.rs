//! The one way a test says it did not run (or ran only in part): `skip`
//! records the test and the reason in a file that `make test` counts, so a
//! skip is never reported as a pass; with `CI=true` (as `.ci/run` sets) a
//! skip fails the test instead. Shared by the unit tests in src/ and the
//! integration tests (tests/common includes this file by path).
#![allow(dead_code, clippy::panic)]

use std::path::PathBuf;

/// Where skips are recorded: `PAM_TOTP_TEST_SKIPS` (set by `make test`),
/// else `test-skips/` in the target directory this test binary was built in.
fn skip_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PAM_TOTP_TEST_SKIPS") {
        return Some(PathBuf::from(dir));
    }
    // target/debug/deps/NAME-HASH
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.parent()?.join("test-skips"))
}

/// The test binary without cargo's hash, and the test (libtest names each
/// test's thread after it).
fn test_name() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let binary = match binary.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_string()
        }
        _ => binary,
    };
    let thread = std::thread::current();
    format!("{binary}::{}", thread.name().unwrap_or("unnamed"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// This test (or the part of it that needs `reason`) did not run. Under
/// `CI=true` that is a failure: CI must run everything. Otherwise the skip
/// is recorded for `make test` and shown on stderr; the caller returns.
pub fn skip(reason: &str) {
    let name = test_name();
    if in_ci() {
        panic!("{name} would be skipped under CI=true: {reason}");
    }
    eprintln!("skipped: {name}: {reason}");
    let Some(dir) = skip_dir() else {
        return;
    };
    // One file per test: a test that skips twice counts once.
    let file = name.replace(['/', ':'], "_");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(file), format!("{name}: {reason}\n")));
    if let Err(error) = written {
        panic!(
            "cannot record the skip of {name} in {}: {error}",
            dir.display()
        );
    }
}
