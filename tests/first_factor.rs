//! Issue 18 point 1: the shipped two-prompt stack
//! (`pam.d/sshd-password-and-code`) with `unenrolled = "enroll"`, through
//! the real libpam and pam_unix with real users and passwords, then
//! through a real sshd and OpenSSH's `ssh` in a pty. A wrong password must
//! never lead to an enrollment, and must look, prompt for prompt, like a
//! wrong code.
//!
//! Users and groups carry the prefix `pt18f` and are removed afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use common::sshd::*;
use common::terminal::PtySsh;
use common::users::{Group, User};
use common::*;

const ROOT_NEEDED: &str = "needs root to create users with passwords (pam_unix reads /etc/shadow)";
const STACK: &str = "sshd-password-and-code";
const PASSWORD: &str = "Password: ";
const CODE: &str = "Verification code: ";
const ENROLL_PROMPT: &str = "code the app shows now: ";

/// The repository's stack for `pam_start_confdir`: its auth lines only
/// (the `@include`s name Debian's files, not in the test's directory).
fn service(state: &tempfile::TempDir, args: &str) -> Service {
    let stack = repository_stack(
        STACK,
        &format!("state_dir={} {args}", state.path().join("state").display()),
    );
    let auth: String = stack
        .lines()
        .filter(|line| line.trim_start().starts_with("auth"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(auth.lines().count(), 4, "{auth}");
    Service::with_stack(&auth)
}

fn secret_file(user: &User) -> PathBuf {
    user.home.join(".config/pam-totp/secret.toml")
}

/// The base32 secret the enrollment showed ("Secret:  ABCD EFGH ...").
fn shown_secret(shown: &[(String, String)]) -> Option<String> {
    shown
        .iter()
        .flat_map(|(_, text)| text.lines())
        .find_map(|line| line.strip_prefix("Secret:  "))
        .map(|grouped| grouped.replace(' ', ""))
}

/// `password` at "Password: ", then at the enrollment's prompt the code
/// for the secret shown, `code` at the code prompt, Enter elsewhere.
fn responder(password: &str, code: &str) -> Responder {
    let (password, code) = (password.to_string(), code.to_string());
    Box::new(move |shown, prompt| {
        Some(
            match prompt {
                PASSWORD => password.clone(),
                CODE => code.clone(),
                p if p.contains(ENROLL_PROMPT) => oathtool_code(&shown_secret(shown).unwrap(), 0),
                _ => String::new(),
            }
            .into_bytes(),
        )
    })
}

#[test]
fn a_wrong_password_never_enrolls_and_looks_like_a_wrong_code() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let newcomer = User::create("pt18f-new", Some("new pw 1"), &[]);
    let enrolled = User::create("pt18f-old", Some("old pw 1"), &[]);
    let secret = enrolled.enroll();
    let state = tempfile::tempdir().unwrap();
    let service = service(&state, "unenrolled=enroll");

    // Wrong password, no secret, enroll policy: the code prompt an enrolled
    // user gets, no enrollment, nothing saved, refused.
    let stranger = service.authenticate_responding(&newcomer.name, responder("guess", "123456"));
    assert_eq!(stranger.code, PAM_AUTH_ERR, "{:?}", stranger.shown);
    let expected = vec![
        ("prompt_hidden".to_string(), PASSWORD.to_string()),
        ("prompt_hidden".to_string(), CODE.to_string()),
    ];
    assert_eq!(
        stranger.shown, expected,
        "enrollment shown after a wrong password"
    );
    assert!(
        !secret_file(&newcomer).exists(),
        "saved after a wrong password"
    );

    // An enrolled user with a wrong password (and even the right code):
    // exactly the same conversation and code.
    let code = oathtool_code(&secret, 0);
    let victim = service.authenticate_responding(&enrolled.name, responder("guess", &code));
    assert_eq!(victim.code, PAM_AUTH_ERR);
    assert_eq!(victim.shown, expected);

    // The wrong password counted like a wrong code: after max_failures (3)
    // the lockout comes, whatever the password was.
    let again = service.authenticate_responding(&enrolled.name, responder("guess", &code));
    assert_eq!(again.code, PAM_AUTH_ERR);
    let third = service.authenticate_responding(&enrolled.name, responder("guess", &code));
    assert_eq!(third.code, PAM_MAXTRIES, "{:?}", third.shown);
    let locked = service.authenticate_responding(&enrolled.name, responder("old pw 1", &code));
    assert_eq!(locked.code, PAM_MAXTRIES, "{:?}", locked.shown);
    assert!(
        locked.errors()[0].starts_with("Too many failed attempts"),
        "{:?}",
        locked.shown
    );

    // Positive control: the right password offers the enrollment, and a
    // right code saves it.
    let owner = service.authenticate_responding(&newcomer.name, responder("new pw 1", ""));
    let text: Vec<&str> = owner.shown.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(owner.code, PAM_SUCCESS, "{text:?}");
    assert!(
        text.iter().any(|t| t.contains("otpauth://totp/")),
        "{text:?}"
    );
    let saved = std::fs::read_to_string(secret_file(&newcomer)).unwrap();
    assert!(
        saved.contains(&shown_secret(&owner.shown).unwrap()),
        "{saved}"
    );
}

#[test]
fn exempt_and_allowed_users_still_need_the_right_password() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let group = Group::create("pt18f-exempt");
    let member = User::create("pt18f-member", Some("member pw"), &[&group.0]);
    let newcomer = User::create("pt18f-allow", Some("allow pw"), &[]);
    let state = tempfile::tempdir().unwrap();
    let service = service(
        &state,
        &format!("unenrolled=allow exempt_groups={}", group.0),
    );
    for user in [&member, &newcomer] {
        let wrong = service.authenticate(&user.name, answer("guess"));
        assert_eq!(wrong.code, PAM_AUTH_ERR, "{}", user.name);
        assert_eq!(wrong.prompts(), [PASSWORD], "{}", user.name);
        let right = service.authenticate(
            &user.name,
            answer(if user.name == member.name {
                "member pw"
            } else {
                "allow pw"
            }),
        );
        assert_eq!(right.code, PAM_SUCCESS, "{}", user.name);
        assert_eq!(right.prompts(), [PASSWORD], "{}", user.name);
    }
    // From an exempt network: the password still decides.
    let service = service_with_network(&state);
    let wrong = service.authenticate_with(&member.name, answer("guess"), Some("127.0.0.1"));
    assert_eq!(wrong.code, PAM_AUTH_ERR);
    let right = service.authenticate_with(&member.name, answer("member pw"), Some("127.0.0.1"));
    assert_eq!(right.code, PAM_SUCCESS);
}

fn service_with_network(state: &tempfile::TempDir) -> Service {
    service(state, "exempt_networks=127.0.0.0/8")
}

/// The same with the PostgreSQL store: nothing reaches the database after
/// a wrong password; the right one enrolls there.
#[test]
fn a_wrong_password_never_enrolls_in_postgresql() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let newcomer = User::create("pt18f-pg", Some("pg pw 1"), &[]);
    let fleet = common::fleet::Fleet::start();
    let state = tempfile::tempdir().unwrap();
    let service = service(
        &state,
        &format!("config={} unenrolled=enroll", fleet.config().display()),
    );
    let known = || {
        let list = fleet.cli(&["list", "--json"]);
        assert!(list.status.success());
        String::from_utf8_lossy(&list.stdout).contains(&format!("\"{}\"", newcomer.name))
    };
    let stranger = service.authenticate_responding(&newcomer.name, responder("guess", "123456"));
    assert_eq!(stranger.code, PAM_AUTH_ERR, "{:?}", stranger.shown);
    assert_eq!(stranger.prompts(), [PASSWORD, CODE]);
    assert!(!known(), "saved in the database after a wrong password");
    let owner = service.authenticate_responding(&newcomer.name, responder("pg pw 1", ""));
    assert_eq!(owner.code, PAM_SUCCESS, "{:?}", owner.shown);
    assert!(known(), "the right password's enrollment was not saved");
}

/// The module refuses to run a first_factor_failed line that could never
/// mean anything: one with forward_pass (which comes before the password).
#[test]
fn first_factor_failed_with_forward_pass_is_a_configuration_error() {
    let service = Service::with_args("first_factor_failed forward_pass");
    let outcome = service.authenticate(&current_user(), answer("123456"));
    assert_eq!(outcome.code, PAM_SERVICE_ERR);
    assert!(outcome.prompts().is_empty());
}

/// Under forward_pass (the one-prompt stack) pam_totp runs before the
/// password: it never enrolls, whatever `unenrolled` says.
#[test]
fn forward_pass_never_enrolls() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let newcomer = User::create("pt18f-fwd", Some("fwd pw"), &[]);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-password-code-one-prompt",
        &format!(
            "unenrolled=enroll state_dir={}",
            state.path().join("state").display()
        ),
    );
    let auth: String = stack
        .lines()
        .filter(|line| line.trim_start().starts_with("auth"))
        .map(|line| format!("{line}\n"))
        .collect();
    let service = Service::with_stack(&auth);
    let outcome = service.authenticate(&newcomer.name, answer("fwd pw123456"));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts(), ["Password & verification code: "]);
    assert!(!secret_file(&newcomer).exists());
}

/// Through sshd and OpenSSH's `ssh` in a pty, as an attacker sees it.
#[test]
fn through_sshd_a_wrong_password_is_asked_for_a_code_and_enrolls_nothing() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let newcomer = User::create("pt18f-ssh", Some("ssh pw 1"), &[]);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        STACK,
        &format!(
            "unenrolled=enroll state_dir={}",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pt18f-sshd",
        &stack,
        "AuthenticationMethods keyboard-interactive",
    );

    let mut ssh = PtySsh::spawn(sshd.port, &newcomer.name, None);
    let seen = ssh.wait_for(PASSWORD, 0).len();
    ssh.type_line("not the password");
    ssh.wait_for(CODE, seen);
    ssh.type_line("123456");
    let (logged_in, text) = ssh.finish();
    assert!(!logged_in, "{text}");
    assert!(
        !text.contains("otpauth") && !text.contains("Secret:") && !text.contains("Saved"),
        "enrollment shown after a wrong password:\n{text}\nsshd: {}",
        sshd.log()
    );
    assert!(
        !secret_file(&newcomer).exists(),
        "saved after a wrong password"
    );

    // The right password: the enrollment, and a right code logs in.
    let mut ssh = PtySsh::spawn(sshd.port, &newcomer.name, None);
    let seen = ssh.wait_for(PASSWORD, 0).len();
    ssh.type_line("ssh pw 1");
    let shown = ssh.wait_for(ENROLL_PROMPT, seen);
    let secret = shown
        .lines()
        .find_map(|line| {
            line.split_once("Secret:")
                .map(|(_, s)| s.trim().replace(' ', ""))
        })
        .unwrap();
    let before = shown.len();
    ssh.type_line(&oathtool_code(&secret, 0));
    ssh.wait_for("Press Enter once you have saved them", before);
    ssh.type_line("");
    let (logged_in, text) = ssh.finish();
    assert!(logged_in, "{text}\nsshd: {}", sshd.log());
    assert!(secret_file(&newcomer).exists());
}
