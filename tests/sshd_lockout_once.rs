//! Issue 20 point 7: a user who is locked out and connects again with
//! OpenSSH's own client, at its defaults (three keyboard-interactive
//! rounds), is told of the lockout once, is asked nothing, and `ssh` ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::terminal::PtySsh;
use common::*;

const LOCKED: &str = "Too many failed attempts. Try again in ";

fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}

#[test]
fn a_locked_out_user_who_reconnects_is_told_once() {
    if skip_unless_root("needs root to create a user and run sshd") {
        return;
    }
    let user = TestUser::create("pamtotp-lockonce");
    let key = ClientKey::authorize_for(&user);
    let secret = enroll_as_root(&user.name);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!(
            "state_dir={} max_failures=1 lockout=600",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pamtotp-lockonce-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    // One wrong code starts the lockout.
    let wrong = wrong_code(&secret);
    let first = ssh_login(sshd.port, &user.name, Some(&key.private), &[&wrong]);
    assert!(!first.success);

    // OpenSSH's default of three keyboard-interactive rounds.
    let ssh = PtySsh::spawn_with_options(
        sshd.port,
        &user.name,
        Some(&key.private),
        &["NumberOfPasswordPrompts=3"],
    );
    let (logged_in, shown) = ssh.finish();
    assert!(!logged_in, "{shown}");
    assert_eq!(shown.matches(LOCKED).count(), 1, "{shown}");
    assert!(!shown.contains("Verification code"), "{shown}");
    assert!(!shown.contains("password"), "{shown}");
    assert!(shown.contains("Permission denied"), "{shown}");
}
