//! Issue 20 point 2: enrollment at login that ends in three wrong codes,
//! with OpenSSH's own client at its defaults (it starts up to three
//! keyboard-interactive rounds in one connection): one secret is shown,
//! three codes are asked for, and the connection ends as the message says
//! ("log in again to start over"); a new connection starts over.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::sshd::*;
use common::terminal::PtySsh;
use common::*;

const CODE_PROMPT: &str = "code the app shows now: ";

fn secrets(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("Secret:"))
        .map(|secret| secret.trim().replace(' ', ""))
        .collect()
}

fn a_wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}

/// Connect, type wrong codes at every code prompt until `ssh` ends; what
/// it printed.
fn fail_enrollment(sshd: &Sshd, user: &TestUser, key: &ClientKey) -> String {
    let mut ssh = PtySsh::spawn_with_options(
        sshd.port,
        &user.name,
        Some(&key.private),
        &["NumberOfPasswordPrompts=3"],
    );
    let shown = ssh.wait_for(CODE_PROMPT, 0);
    let wrong = a_wrong_code(secrets(&shown).iter().next().unwrap());
    let mut typed = 0;
    let mut seen = 0;
    // At most nine prompts (three rounds of three): stop when ssh has ended.
    while typed < 9 {
        let text = ssh.text();
        if let Some(at) = text.get(seen..).and_then(|rest| rest.find(CODE_PROMPT)) {
            seen += at + CODE_PROMPT.len();
            ssh.type_line(&wrong);
            typed += 1;
            continue;
        }
        if text.contains("Permission denied") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (logged_in, text) = ssh.finish();
    assert!(!logged_in, "{text}");
    text
}

#[test]
fn a_failed_enrollment_ends_the_connection_with_one_secret_shown() {
    if skip_unless_root("the sshd end-to-end test needs root") {
        return;
    }
    let user = TestUser::create("pamtotp-enroll-once");
    let _ = std::fs::remove_dir_all(user.home.join(".config/pam-totp"));
    let key = ClientKey::authorize_for(&user);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!(
            "unenrolled=enroll state_dir={}",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pamtotp-enroll-once-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let first = fail_enrollment(&sshd, &user, &key);
    assert_eq!(secrets(&first).len(), 1, "{first}");
    assert_eq!(first.matches(CODE_PROMPT).count(), 3, "{first}");
    assert!(first.contains("log in again to start over"), "{first}");
    assert!(first.contains("Permission denied"), "{first}");
    assert!(!user.home.join(".config/pam-totp/secret.toml").exists());

    // Logging in again starts over, with a new secret.
    let second = fail_enrollment(&sshd, &user, &key);
    assert_eq!(secrets(&second).len(), 1, "{second}");
    assert_ne!(secrets(&first), secrets(&second));
    drop(sshd);
}
