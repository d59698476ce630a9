//! End to end with OpenSSH's own client: a lockout is told at the failure
//! that starts it, and `ssh` then ends instead of asking for a password
//! that nothing behind it could accept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::*;

const LOCKED: &str = "Too many failed attempts. Try again in ";

#[test]
fn ssh_shows_the_lockout_and_asks_for_no_password() {
    if !is_root() {
        eprintln!("skipped: the sshd end-to-end test needs root");
        return;
    }
    let user = TestUser::create("pamtotp-lock");
    let key = ClientKey::authorize_for(&user);
    let secret = enroll_as_root(&user.name);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!(
            "state_dir={} max_failures=2",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pamtotp-lock-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let wrong = wrong_code(&secret);
    // OpenSSH's defaults: three tries per connection, messages shown.
    let options = ["LogLevel=INFO", "NumberOfPasswordPrompts=3"];
    let login = ssh_login_with(
        sshd.port,
        &user.name,
        Some(&key.private),
        &[&wrong, &wrong, &wrong],
        &options,
    );
    assert!(!login.success);
    // Two codes asked, the second starts the lockout and says so; the
    // third round shows the lockout without asking; no password prompt.
    let code_prompts = login
        .prompts
        .iter()
        .filter(|p| p.contains("Verification code: "))
        .count();
    assert_eq!(code_prompts, 2, "{:?}\n{}", login.prompts, login.stderr);
    assert!(
        login.prompts.iter().all(|p| !p.contains("password")),
        "ssh asked for a password: {:?}",
        login.prompts
    );
    assert!(login.stderr.contains(LOCKED), "{}", login.stderr);

    // Locked: the next login is told at once, asked nothing, and ends.
    let locked = ssh_login_with(
        sshd.port,
        &user.name,
        Some(&key.private),
        &[&oathtool_code(&secret, 0)],
        &options,
    );
    assert!(!locked.success);
    assert!(locked.prompts.is_empty(), "{:?}", locked.prompts);
    assert!(locked.stderr.contains(LOCKED), "{}", locked.stderr);
    assert!(
        sshd.log().contains("Failed keyboard-interactive/pam"),
        "{}",
        sshd.log()
    );
}

fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}
