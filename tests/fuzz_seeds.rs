//! The whole-authentication fuzz target's seeds, replayed with its own
//! checks (fuzz/common/authenticate.rs): every `accept-*` seed must log in
//! and every `refuse-*` one be refused with its exact code, so a fixture
//! that refuses everything (and with it a fuzzer that checks nothing) fails
//! here. `ignore-*` seeds end in PAM_IGNORE (exempt, or unenrolled under
//! `allow`), `misconfigured-*` ones in PAM_SERVICE_ERR (a line the parser
//! refuses). `make fuzz` runs the same checks on the inputs libFuzzer makes.
#![cfg(feature = "test-hooks")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../fuzz/common/authenticate.rs"]
mod authenticate;

use std::path::Path;
use std::sync::atomic::Ordering;

use pam::constants::PamResultCode;

#[test]
fn the_authenticate_seeds_log_in_and_are_refused_as_named() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/authenticate");
    let fixture = authenticate::Fixture::new();
    let mut names: Vec<String> = std::fs::read_dir(&seeds)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut accepted = Vec::new();
    for name in &names {
        let data = std::fs::read(seeds.join(name)).unwrap();
        let rc = authenticate::check(&fixture, &data)
            .unwrap_or_else(|| panic!("seed {name} is too short to decode"));
        let expected = match name.split('-').next() {
            Some("accept") => PamResultCode::PAM_SUCCESS,
            Some("refuse") => PamResultCode::PAM_AUTH_ERR,
            Some("unavailable") => PamResultCode::PAM_AUTHINFO_UNAVAIL,
            Some("ignore") => PamResultCode::PAM_IGNORE,
            Some("misconfigured") => PamResultCode::PAM_SERVICE_ERR,
            _ => panic!(
                "seed {name}: name it accept-, refuse-, unavailable-, ignore- or misconfigured-"
            ),
        };
        assert_eq!(rc, expected, "seed {name}");
        if rc == PamResultCode::PAM_SUCCESS {
            accepted.push(name.as_str());
        }
    }
    // A right TOTP code, the recovery code, an HOTP code, and a token.
    for kind in [
        "accept-totp",
        "accept-recovery",
        "accept-hotp",
        "accept-token",
    ] {
        assert!(
            accepted.iter().any(|name| name.starts_with(kind)),
            "no {kind} seed logged in: {accepted:?}"
        );
    }
    // A line a failed password is sent to (first_factor_failed): a right
    // code, the recovery code, an exempt user and an unenrolled one under
    // `enroll`, all refused; and a database row that does not verify.
    for name in [
        "refuse-first-factor-failed-right-code",
        "refuse-first-factor-failed-recovery",
        "refuse-first-factor-failed-exempt",
        "refuse-first-factor-failed-unenrolled-enroll",
        "unavailable-enrollment-does-not-verify",
    ] {
        assert!(names.iter().any(|n| n == name), "no seed {name}");
    }
    // exempt_groups: a member ignored before the store is opened (even one
    // whose every store call would fail) and refused after a failed first
    // factor; a user not in the listed group asked, and let in by the code.
    for name in [
        "ignore-exempt-group",
        "ignore-exempt-group-store-fails",
        "refuse-first-factor-failed-exempt-group",
        "accept-totp-exempt-groups-not-member",
    ] {
        assert!(names.iter().any(|n| n == name), "no seed {name}");
    }
    assert_eq!(
        authenticate::SUCCESSES.load(Ordering::Relaxed),
        accepted.len() as u64,
        "every success checked (and its replay refused)"
    );
    let dir = fixture.path().to_path_buf();
    drop(fixture);
    assert!(!dir.exists(), "the fixture's directory is removed");
}
