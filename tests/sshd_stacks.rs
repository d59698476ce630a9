//! End to end, one test per stack in `pam.d/`: a real sshd on 127.0.0.1
//! whose PAM service is the repository file itself (only the module path
//! and the test's state directory substituted), and a real `ssh` client
//! answering keyboard-interactive prompts through SSH_ASKPASS.
//!
//! Users, groups and PAM services carry the prefix `pt5` and are removed
//! afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::users::{Group, User};
use common::*;

const ROOT_NEEDED: &str = "needs root to create users and run sshd";

const CODE: &str = "Verification code: ";
const PASSWORD: &str = "Password: ";
const ONE_PROMPT: &str = "Password & verification code: ";

/// The prompts as the server sent them: newer ssh clients show
/// keyboard-interactive prompts as "(user@host) Password: ".
fn bare(login: &Login) -> Vec<String> {
    login
        .prompts
        .iter()
        .map(|prompt| match prompt.strip_prefix('(') {
            Some(rest) => rest
                .split_once(") ")
                .map(|(_, p)| p.to_string())
                .unwrap_or_else(|| prompt.clone()),
            None => prompt.clone(),
        })
        .collect()
}

fn wrong(secret: &str) -> &'static str {
    let near: Vec<String> = (-1..=1).map(|o| oathtool_code(secret, o)).collect();
    if near.iter().any(|c| c == "000000") {
        "111111"
    } else {
        "000000"
    }
}

/// Start sshd on `stack` (a file in pam.d/) with the module also given `args`.
fn start(service: &str, stack: &str, state: &tempfile::TempDir, args: &str, methods: &str) -> Sshd {
    let stack = repository_stack(
        stack,
        &format!("state_dir={} {args}", state.path().join("state").display()),
    );
    Sshd::start(service, &stack, &format!("AuthenticationMethods {methods}"))
}

fn explain(login: &Login, sshd: &Sshd) -> String {
    format!(
        "prompts {:?}\nstdout {}\nstderr {}\nsshd log:\n{}",
        login.prompts,
        login.stdout,
        login.stderr,
        sshd.log()
    )
}

#[test]
fn key_and_code_stack_exempt_group_and_unenrolled_deny() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let group = Group::create("pt5-exempt");
    let enrolled = User::create("pt5-kc-alice", None, &[]);
    let member = User::create("pt5-kc-bob", None, &[&group.0]);
    let newcomer = User::create("pt5-kc-carol", None, &[]);
    let keys: Vec<ClientKey> = [&enrolled, &member, &newcomer]
        .iter()
        .map(|u| ClientKey::authorize_for(&u.as_test_user()))
        .collect();
    let secret = enrolled.enroll();
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-key",
        "sshd-key-and-code",
        &state,
        &format!("exempt_groups={}", group.0),
        "publickey,keyboard-interactive",
    );

    let login = ssh_login(
        sshd.port,
        &enrolled.name,
        Some(&keys[0].private),
        &[&oathtool_code(&secret, 0)],
    );
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![CODE]);
    let login = ssh_login(
        sshd.port,
        &enrolled.name,
        Some(&keys[0].private),
        &[wrong(&secret)],
    );
    assert!(!login.success, "wrong code accepted");
    assert_eq!(bare(&login), vec![CODE]);

    // Supplementary member of an exempt group: the key alone, no prompt.
    let login = ssh_login(sshd.port, &member.name, Some(&keys[1].private), &[]);
    assert!(login.success, "{}", explain(&login, &sshd));
    assert!(login.prompts.is_empty(), "{:?}", login.prompts);

    // Not enrolled, unenrolled = "deny" (the default): asked like everyone, refused.
    let login = ssh_login(
        sshd.port,
        &newcomer.name,
        Some(&keys[2].private),
        &["123456"],
    );
    assert!(!login.success, "unenrolled user let in under deny");
    assert_eq!(bare(&login), vec![CODE]);
}

#[test]
fn key_and_code_rollout_stack_lets_unenrolled_users_in_with_the_key() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let enrolled = User::create("pt5-ro-alice", None, &[]);
    let newcomer = User::create("pt5-ro-bob", None, &[]);
    let enrolled_key = ClientKey::authorize_for(&enrolled.as_test_user());
    let newcomer_key = ClientKey::authorize_for(&newcomer.as_test_user());
    let secret = enrolled.enroll();
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-rollout",
        "sshd-key-and-code-rollout",
        &state,
        "",
        "publickey,keyboard-interactive",
    );

    let login = ssh_login(sshd.port, &newcomer.name, Some(&newcomer_key.private), &[]);
    assert!(login.success, "{}", explain(&login, &sshd));
    assert!(login.prompts.is_empty(), "{:?}", login.prompts);
    // Still no way in without the key.
    let login = ssh_login(sshd.port, &newcomer.name, None, &["123456"]);
    assert!(!login.success);

    // Enrolled users must give the code even during the rollout.
    let login = ssh_login(
        sshd.port,
        &enrolled.name,
        Some(&enrolled_key.private),
        &[wrong(&secret)],
    );
    assert!(!login.success, "wrong code accepted during the rollout");
    assert_eq!(bare(&login), vec![CODE]);
    let login = ssh_login(
        sshd.port,
        &enrolled.name,
        Some(&enrolled_key.private),
        &[&oathtool_code(&secret, 0)],
    );
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![CODE]);
}

#[test]
fn password_and_code_stack() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let alice = User::create("pt5-pc-alice", Some("alice pw 1"), &[]);
    let newcomer = User::create("pt5-pc-bob", Some("bob pw 2"), &[]);
    let secret = alice.enroll();
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-pwcode",
        "sshd-password-and-code",
        &state,
        "",
        "keyboard-interactive",
    );
    let both = vec![PASSWORD, CODE];

    // Wrong password, right code: refused, both prompts.
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &["not the password", &oathtool_code(&secret, 0)],
    );
    assert!(!login.success, "wrong password accepted");
    assert_eq!(bare(&login), both, "{}", explain(&login, &sshd));
    // Right password, wrong code: refused, the same prompts.
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &["alice pw 1", wrong(&secret)],
    );
    assert!(!login.success, "wrong code accepted");
    assert_eq!(bare(&login), both);
    // Both right (the next step's code: the current one was used above).
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &["alice pw 1", &oathtool_code(&secret, 1)],
    );
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), both);

    // Not enrolled under deny: the same prompts, refused even with the password.
    let login = ssh_login(sshd.port, &newcomer.name, None, &["bob pw 2", "123456"]);
    assert!(!login.success, "unenrolled user let in under deny");
    assert_eq!(bare(&login), both);
    drop(sshd);

    // From an exempt network (127.0.0.0/8): the password only, no code prompt.
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-pwcode-net",
        "sshd-password-and-code",
        &state,
        "exempt_networks=127.0.0.0/8",
        "keyboard-interactive",
    );
    let login = ssh_login(sshd.port, &alice.name, None, &["alice pw 1"]);
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![PASSWORD]);
    let login = ssh_login(sshd.port, &alice.name, None, &["not the password"]);
    assert!(!login.success, "exempt network skipped the password");
    assert_eq!(bare(&login), vec![PASSWORD]);
}

#[test]
fn password_and_code_one_prompt_stack() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let group = Group::create("pt5-exempt1");
    let alice = User::create("pt5-op-alice", Some("alice pw 1"), &[]);
    let newcomer = User::create("pt5-op-bob", Some("bob pw 2"), &[]);
    let member = User::create("pt5-op-carol", Some("carol pw 3"), &[&group.0]);
    let secret = alice.enroll();
    // Enrolled, but exempt through the group.
    member.enroll();
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-oneprompt",
        "sshd-password-code-one-prompt",
        &state,
        "",
        "keyboard-interactive",
    );

    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &[&format!("not the password{}", oathtool_code(&secret, 0))],
    );
    assert!(!login.success, "wrong password accepted");
    assert_eq!(bare(&login), vec![ONE_PROMPT], "{}", explain(&login, &sshd));
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &[&format!("alice pw 1{}", wrong(&secret))],
    );
    assert!(!login.success, "wrong code accepted");
    assert_eq!(bare(&login), vec![ONE_PROMPT]);
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &[&format!("alice pw 1{}", oathtool_code(&secret, 1))],
    );
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![ONE_PROMPT]);

    // Not enrolled under deny: the same prompt, refused.
    let login = ssh_login(sshd.port, &newcomer.name, None, &["bob pw 2123456"]);
    assert!(!login.success, "unenrolled user let in under deny");
    assert_eq!(bare(&login), vec![ONE_PROMPT]);
    drop(sshd);

    // unenrolled=allow and an exempt group: "Password: " only, and the
    // password still reaches pam_unix.
    let state = tempfile::tempdir().unwrap();
    let sshd = start(
        "pt5-sshd-oneprompt-allow",
        "sshd-password-code-one-prompt",
        &state,
        &format!("unenrolled=allow exempt_groups={}", group.0),
        "keyboard-interactive",
    );
    let login = ssh_login(sshd.port, &newcomer.name, None, &["bob pw 2"]);
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![PASSWORD]);
    let login = ssh_login(sshd.port, &newcomer.name, None, &["bob pw 3"]);
    assert!(!login.success, "wrong password accepted under allow");
    assert_eq!(bare(&login), vec![PASSWORD]);
    let login = ssh_login(sshd.port, &member.name, None, &["carol pw 3"]);
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![PASSWORD]);
    // Enrolled and not exempt: still password and code.
    let login = ssh_login(
        sshd.port,
        &alice.name,
        None,
        &[&format!("alice pw 1{}", oathtool_code(&secret, 0))],
    );
    assert!(login.success, "{}", explain(&login, &sshd));
    assert_eq!(bare(&login), vec![ONE_PROMPT]);
}
