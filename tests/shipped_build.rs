//! The module as shipped (`make build`: release, without the `test-hooks`
//! feature the other tests use) through the real libpam: it logs in on the
//! real clock, and it has none of the test hooks: a `test-clock` file in
//! the state directory does not move its clock, the crash-point variable
//! does not stop its state update, `test_panic` is an unknown argument.
//! Each is first shown to work on the test build, so that the shipped
//! build passing means the hook is absent, not misnamed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

/// A time far from now: its code is wrong on the real clock.
const FAKE_NOW: u64 = 1_800_000_000;

/// Run in a child process by the tests below (`common::child`).
#[test]
#[ignore = "helper run in child processes"]
fn child_authenticate() {
    common::child::authenticate_if_asked();
}

/// pam_authenticate in a fresh process (so that the module and the
/// environment are its own); the PAM code, or None if it was killed.
fn authenticate_in_child(
    service: &Service,
    user: &str,
    code: &str,
    envs: &[(&str, &str)],
) -> Option<i32> {
    common::child::command(service, user, code)
        .envs(envs.iter().copied())
        .status()
        .unwrap()
        .code()
}

/// `make build` (what packages and `make install` ship), and a private
/// copy of its module, so that a later rebuild cannot change it under us.
fn shipped_module(into: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = Command::new("make")
        .args(["--no-print-directory", "build"])
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "make build failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    // target/debug/deps/THIS-TEST -> target
    let target = std::env::current_exe()
        .unwrap()
        .ancestors()
        .nth(3)
        .unwrap()
        .to_path_buf();
    let built = target.join("release").join("libpam_totp.so");
    let copy = into.join("pam_totp_shipped.so");
    std::fs::copy(&built, &copy).unwrap();
    copy
}

/// The fixture's service with `module` instead of the test build.
fn service_of(module: &Path, fixture: &Fixture, extra: &str) -> Service {
    Service::with_stack(&format!(
        "auth required {} {} {extra}\n",
        module.display(),
        fixture.args()
    ))
}

#[test]
fn the_shipped_module_logs_in_on_the_real_clock_and_has_no_test_hooks() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = shipped_module(dir.path());
    let test_build = module_path();
    wait_clear_of_a_step_edge();

    // A test-clock file: the test build believes it, the shipped one does not.
    for (module, fake_is_now) in [(&test_build, true), (&shipped, false)] {
        let fixture = Fixture::new();
        fixture.set_clock(FAKE_NOW);
        let service = service_of(module, &fixture, "");
        let fake = authenticate_in_child(&service, &fixture.user, &fixture.code_at(FAKE_NOW), &[]);
        let real = authenticate_in_child(&service, &fixture.user, &fixture.code(0), &[]);
        let (expect_fake, expect_real) = if fake_is_now {
            (PAM_SUCCESS, PAM_AUTH_ERR)
        } else {
            (PAM_AUTH_ERR, PAM_SUCCESS)
        };
        assert_eq!(
            fake,
            Some(expect_fake),
            "{}: the fake time's code",
            module.display()
        );
        assert_eq!(
            real,
            Some(expect_real),
            "{}: the real time's code",
            module.display()
        );
    }

    // The crash points: the test build dies in its state update, the
    // shipped one completes it (logs in, and the code is used up).
    for point in ["after-write", "before-rename"] {
        let crash = [("PAM_TOTP_TEST_CRASH_AT", point)];
        let fixture = Fixture::new();
        let code = fixture.code(0);
        let test_service = service_of(&test_build, &fixture, "");
        assert_eq!(
            authenticate_in_child(&test_service, &fixture.user, &code, &crash),
            None,
            "{point}: the test build did not stop there"
        );
        let shipped_service = service_of(&shipped, &fixture, "");
        let before = fixture.state_text();
        assert_eq!(
            authenticate_in_child(&shipped_service, &fixture.user, &code, &crash),
            Some(PAM_SUCCESS),
            "{point}: the shipped build"
        );
        assert_ne!(fixture.state_text(), before, "{point}: no state recorded");
        assert_eq!(
            authenticate_in_child(&shipped_service, &fixture.user, &code, &crash),
            Some(PAM_AUTH_ERR),
            "{point}: the shipped build accepted the code twice"
        );
    }

    // `test_panic`: a deliberate panic in the test build, an unknown
    // argument (a configuration error) in the shipped one.
    let fixture = Fixture::new();
    for (module, expected) in [(&test_build, PAM_ABORT), (&shipped, PAM_SERVICE_ERR)] {
        let service = service_of(module, &fixture, "test_panic");
        assert_eq!(
            authenticate_in_child(&service, &fixture.user, &fixture.code(0), &[]),
            Some(expected),
            "{} with test_panic",
            module.display()
        );
    }
}
