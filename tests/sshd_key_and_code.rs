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

    // Without the key the server does not even ask for the code: refused
    // at the key, with only publickey offered, and PAM never started.
    let mark = sshd.log_mark();
    let no_key = ssh_login(sshd.port, &user.name, None, &[&oathtool_code(&secret, 0)]);
    assert!(!no_key.success, "logged in without the key");
    assert!(no_key.prompts.is_empty(), "asked {:?}", no_key.prompts);
    assert_eq!(no_key.denied_with(), Some("publickey"), "{}", no_key.stderr);
    let user_name = &user.name;
    assert_eq!(
        sshd.count_lines(
            mark,
            &format!("Connection closed by authenticating user {user_name} "),
            1
        ),
        1,
        "{}",
        sshd.log_since(mark)
    );
    assert!(
        !sshd.log_since(mark).contains("keyboard-interactive"),
        "{}",
        sshd.log_since(mark)
    );

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

    // The replay and a wrong code: past the key, asked for the code, and
    // refused there by PAM as an authentication failure.
    // (Each connection's last line is in before the next one starts, so
    // that each part of the log below is one connection's.)
    let closed = |mark: usize, how: &str| {
        assert_eq!(
            sshd.count_lines(mark, &format!("{how} {user_name} "), 1),
            1,
            "{}",
            sshd.log_since(mark)
        );
    };
    closed(0, "Disconnected from user");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for (what, answer) in [
        ("the replayed code", code.as_str()),
        ("a wrong code", wrong),
    ] {
        let mark = sshd.log_mark();
        let refused = ssh_login(sshd.port, &user.name, Some(&key.private), &[answer]);
        assert!(!refused.success, "{what} was accepted");
        assert_eq!(refused.prompts.len(), 1, "{what}: {:?}", refused.prompts);
        assert!(
            refused.prompts[0].ends_with("Verification code: "),
            "{what}"
        );
        assert_eq!(
            refused.denied_with(),
            Some("keyboard-interactive"),
            "{what}: {}",
            refused.stderr
        );
        for line in [
            format!("Partial publickey for {user_name} "),
            format!("PAM: Authentication failure for {user_name} "),
            format!("Failed keyboard-interactive/pam for {user_name} "),
        ] {
            assert_eq!(
                sshd.count_lines(mark, &line, 1),
                1,
                "{what}: {line}\n{}",
                sshd.log_since(mark)
            );
        }
        closed(mark, "Connection closed by authenticating user");
    }
}
