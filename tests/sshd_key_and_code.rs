//! End to end: a real sshd on 127.0.0.1 with `AuthenticationMethods
//! publickey,keyboard-interactive`, the repository's key-and-code stack,
//! a user enrolled with `pam-totp enroll`, and a real `ssh` client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::*;

#[test]
fn key_and_code_login_through_real_sshd() {
    if skip_unless_root("needs root to create a user and run sshd") {
        return;
    }
    let user = TestUser::create("pamtotp-e2e");
    let key = ClientKey::authorize_for(&user);
    let secret = enroll_as_root(&user.name);

    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!("state_dir={}", state.path().join("state").display()),
    );
    let sshd = Sshd::start(
        "pamtotp-e2e-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );

    // Without the key the server does not even ask for the code.
    let no_key = ssh_login(sshd.port, &user.name, None, &[&oathtool_code(&secret, 0)]);
    assert!(!no_key.success, "logged in without the key");

    let code = oathtool_code(&secret, 0);
    let login = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code]);
    assert!(
        login.success,
        "right code refused: {} {}\nsshd: {}",
        login.stdout,
        login.stderr,
        sshd.log()
    );
    eprintln!(
        "login printed {:?} after prompts {:?}",
        login.stdout, login.prompts
    );
    assert_eq!(login.prompts.len(), 1, "{:?}", login.prompts);
    assert!(
        login.prompts[0].contains("Verification code: "),
        "{:?}",
        login.prompts
    );

    let replay = ssh_login(sshd.port, &user.name, Some(&key.private), &[&code]);
    assert!(!replay.success, "the same code was accepted twice");
    assert!(
        replay.stderr.contains("Permission denied"),
        "{}",
        replay.stderr
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let wrong_login = ssh_login(sshd.port, &user.name, Some(&key.private), &[wrong]);
    assert!(!wrong_login.success, "a wrong code was accepted");
}
