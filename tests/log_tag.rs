//! Issue 20 point 11: the module's log lines start with `pam_totp(` as the
//! documentation shows them, also when a stack loads the module by its
//! path under the name the build gives it (`libpam_totp.so`), as the demo,
//! the tests and an administrator trying a build do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

#[test]
fn a_module_loaded_by_path_logs_as_pam_totp() {
    if !syslog::can_capture() {
        return skip("catching syslog needs root and mount namespaces");
    }
    let fixture = Fixture::new();
    let service = fixture.service("");
    assert!(
        module_path().ends_with("libpam_totp.so"),
        "{}",
        module_path().display()
    );
    let (outcome, datagrams) =
        syslog::capture(|| service.authenticate(&fixture.user, answer(&fixture.code(0))));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    // Other tests' lines may arrive too: keep this test's user.
    let ours: Vec<&String> = datagrams
        .iter()
        .filter(|line| line.contains(&format!("(user={} ", fixture.user)))
        .collect();
    let accepted = ours
        .iter()
        .find(|line| line.contains("accepted verification code"))
        .unwrap_or_else(|| panic!("no accepted line in {ours:#?}"));
    assert!(
        accepted.contains(": pam_totp(pam-totp-test:auth): accepted verification code"),
        "{accepted}"
    );
    for line in &ours {
        assert!(!line.contains("libpam_totp("), "{line}");
    }
}
