//! End to end: a real sshd with `AuthenticationMethods
//! publickey,keyboard-interactive`, the repository's key-and-code stack, a
//! user given a hardware token by root (`pam-totp enroll --hotp
//! --secret-hex`), codes from `oathtool --hotp` and a real `ssh` client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::pam_oath::{oathtool_hotp, random_hex};
use common::sshd::*;
use common::*;

#[test]
fn hotp_token_logs_in_through_real_sshd_once_per_code() {
    if !is_root() {
        eprintln!("skipped: the sshd end-to-end test needs root");
        return;
    }
    let user = TestUser::create("pamtotp-hotp");
    let key = ClientKey::authorize_for(&user);
    let hex = random_hex(20);
    let enroll = Command::new(cli_path())
        .args([
            "enroll",
            "--user",
            &user.name,
            "--hotp",
            "--secret-hex",
            &hex,
            "--counter",
            "3",
            "--no-confirm",
            "--force",
        ])
        .output()
        .unwrap();
    assert!(
        enroll.status.success(),
        "enroll --hotp: {}",
        String::from_utf8_lossy(&enroll.stderr)
    );

    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!("state_dir={}", state.path().join("state").display()),
    );
    let sshd = Sshd::start(
        "pamtotp-hotp-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let code = |n: u64| oathtool_hotp(&hex, n, 6);

    // The token was pressed once without logging in: counter 4 is within the window.
    let login = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code(4)]);
    assert!(
        login.success,
        "HOTP code refused: {} {}\nsshd: {}",
        login.stdout,
        login.stderr,
        sshd.log()
    );
    assert_eq!(login.prompts.len(), 1, "{:?}", login.prompts);

    let replay = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code(4)]);
    assert!(!replay.success, "the same HOTP code was accepted twice");
    let earlier = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code(3)]);
    assert!(!earlier.success, "a skipped counter value was accepted");
    let next = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code(5)]);
    assert!(next.success, "the next HOTP code refused: {}", next.stderr);
}
