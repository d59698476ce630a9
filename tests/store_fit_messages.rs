//! Issue 20 point 6: what a user is told to do fits the store in use. A
//! recovery-code login on the files store with secrets in the homes says
//! to run `pam-totp recovery-codes`; with an administrator-managed store
//! or the PostgreSQL store, where users cannot change their enrollment,
//! it says to ask an administrator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Output, Stdio};

use common::fleet::Fleet;
use common::sshd::*;
use common::*;

const RUN_IT_YOURSELF: &str = "Run `pam-totp recovery-codes`";

fn recovery_codes(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect()
}

/// The text messages of a login with `code`, which must succeed.
fn shown_after_recovery_code(service: &Service, user: &str, code: &str) -> String {
    let outcome = service.authenticate(user, answer(code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    let shown = format!("{:?}", outcome.shown);
    assert!(shown.contains("Recovery code accepted; 9 left."), "{shown}");
    shown
}

#[test]
fn an_administrator_managed_store_says_to_ask_an_administrator() {
    if skip_unless_root("needs root: enroll --user and the module's state") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{0}/secrets/%u.toml\"\nstate_dir = \"{0}/state\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let user = current_user();
    let enrolled = Command::new(cli_path())
        .arg("--config")
        .arg(&config)
        .args(["enroll", "--user", &user, "--no-confirm", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let codes = recovery_codes(&enrolled);
    let service = Service::with_args(&format!("config={}", config.display()));
    let shown = shown_after_recovery_code(&service, &user, &codes[0]);
    assert!(
        shown.contains(&format!(
            "Ask an administrator for new ones (`pam-totp recovery-codes --user {user}`)."
        )),
        "{shown}"
    );
    assert!(!shown.contains(RUN_IT_YOURSELF), "{shown}");
}

#[test]
fn the_postgresql_store_says_to_ask_an_administrator() {
    if skip_unless_root("needs root: PostgreSQL runs as its own user") {
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fit-pg");
    let codes =
        recovery_codes(&fleet.cli(&["enroll", "--user", &user.name, "--no-confirm", "--json"]));
    let host = fleet.pam_host("fit-pg", "");
    let shown = shown_after_recovery_code(&host, &user.name, &codes[0]);
    assert!(
        shown.contains("Ask an administrator for new ones"),
        "{shown}"
    );
    assert!(!shown.contains(RUN_IT_YOURSELF), "{shown}");
}

#[test]
fn secret_files_in_the_homes_say_to_run_the_command() {
    if skip_unless_root("needs root: a test user with a home") {
        return;
    }
    let user = TestUser::create("pamtotp-fit-home");
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    // The default secret_path (in the home); no reading of /etc/pam-totp.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("state_dir = \"{}/state\"\n", dir.path().display()),
    )
    .unwrap();
    set_mode(&config, 0o644);
    let enrolled = user.run(
        cli_path().to_str().unwrap(),
        &[
            "--config",
            config.to_str().unwrap(),
            "enroll",
            "--no-confirm",
            "--json",
        ],
    );
    let codes = recovery_codes(&enrolled);
    assert!(user.home.join(".config/pam-totp/secret.toml").is_file());
    let service = Service::with_args(&format!("config={}", config.display()));
    let shown = shown_after_recovery_code(&service, &user.name, &codes[0]);
    assert!(shown.contains(RUN_IT_YOURSELF), "{shown}");
}

/// The text messages of a login with a recovery code, which must succeed.
fn shown_after_a_recovery_code(service: &Service, user: &str, code: &str) -> String {
    let outcome = service.authenticate(user, answer(code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    let shown = format!("{:?}", outcome.shown);
    assert!(shown.contains("Recovery code accepted; "), "{shown}");
    shown
}

/// A configuration file in `dir` with `lines`, readable by every user.
fn config_with(dir: &std::path::Path, name: &str, lines: &str) -> std::path::PathBuf {
    let config = dir.join(name);
    std::fs::write(&config, lines).unwrap();
    set_mode(&config, 0o644);
    config
}

/// `recovery_codes = 0`: a user who still has codes (made with
/// `--recovery-codes`) logs in with one and is not sent for new ones, only
/// told what a lost phone means; the same store at the default sends them
/// (the positive control). Administrator-managed store.
#[test]
fn with_recovery_codes_0_no_login_sends_for_new_codes() {
    if skip_unless_root("needs root: enroll --user and the module's state") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    let common = format!(
        "secret_path = \"{0}/secrets/%u.toml\"\nstate_dir = \"{0}/state\"\n",
        dir.path().display()
    );
    let none = config_with(
        dir.path(),
        "none.toml",
        &format!("{common}recovery_codes = 0\n"),
    );
    let default = config_with(dir.path(), "default.toml", &common);
    let user = current_user();
    let enrolled = Command::new(cli_path())
        .arg("--config")
        .arg(&none)
        .args(["enroll", "--user", &user, "--no-confirm", "--json"])
        .args(["--recovery-codes", "2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let codes = recovery_codes(&enrolled);
    assert_eq!(codes.len(), 2);

    let service = Service::with_args(&format!("config={}", none.display()));
    let shown = shown_after_a_recovery_code(&service, &user, &codes[0]);
    assert!(
        shown.contains(
            "Recovery code accepted; 1 left. If the phone is lost, ask an administrator."
        ),
        "{shown}"
    );
    assert!(!shown.contains("pam-totp recovery-codes"), "{shown}");

    let service = Service::with_args(&format!("config={}", default.display()));
    let shown = shown_after_a_recovery_code(&service, &user, &codes[1]);
    assert!(
        shown.contains(&format!(
            "Recovery code accepted; 0 left. Ask an administrator for new ones (`pam-totp recovery-codes --user {user}`)."
        )),
        "{shown}"
    );
}

/// The same with the secret files in the homes: the user is told to put
/// the account on a new phone themselves, not to make new codes.
#[test]
fn with_recovery_codes_0_in_the_homes_no_login_sends_for_new_codes() {
    if skip_unless_root("needs root: a test user with a home") {
        return;
    }
    let user = TestUser::create("pamtotp-fit-none");
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    // The default secret_path (in the home); no reading of /etc/pam-totp.
    let common = format!("state_dir = \"{}/state\"\n", dir.path().display());
    let none = config_with(
        dir.path(),
        "none.toml",
        &format!("{common}recovery_codes = 0\n"),
    );
    let default = config_with(dir.path(), "default.toml", &common);
    let enrolled = user.run(
        cli_path().to_str().unwrap(),
        &[
            "--config",
            none.to_str().unwrap(),
            "enroll",
            "--no-confirm",
            "--json",
            "--recovery-codes",
            "2",
        ],
    );
    let codes = recovery_codes(&enrolled);
    assert_eq!(codes.len(), 2);

    let service = Service::with_args(&format!("config={}", none.display()));
    let shown = shown_after_a_recovery_code(&service, &user.name, &codes[0]);
    assert!(
        shown.contains("If the phone is lost, run `pam-totp enroll --force` with the new one."),
        "{shown}"
    );
    assert!(!shown.contains("pam-totp recovery-codes"), "{shown}");

    let service = Service::with_args(&format!("config={}", default.display()));
    let shown = shown_after_a_recovery_code(&service, &user.name, &codes[1]);
    assert!(shown.contains(RUN_IT_YOURSELF), "{shown}");
}
