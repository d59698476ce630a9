//! Issue 20 point 4: on the files store with the secrets in the homes, a
//! user who enrolled themselves and has not logged in yet (no state record)
//! is listed by `pam-totp list`, and so counts for `check`'s "no enrolled
//! user" warning.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::sshd::*;
use common::*;

#[test]
fn a_user_who_enrolled_themselves_is_listed_before_the_first_login() {
    if skip_unless_root("needs root: a test user, and list is root's") {
        return;
    }
    let user = TestUser::create("pamtotp-selflist");
    let _ = std::fs::remove_dir_all(user.home.join(".config/pam-totp"));
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("state_dir = \"{}/state\"\n", dir.path().display()),
    )
    .unwrap();
    set_mode(&config, 0o644);
    let cli = cli_path();
    let config_arg = config.to_str().unwrap();
    let enrolled = user.run(
        cli.to_str().unwrap(),
        &["--config", config_arg, "enroll", "--no-confirm", "--json"],
    );
    assert!(
        enrolled.status.success(),
        "{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    let list = Command::new(&cli)
        .args(["--config", config_arg, "list", "--json"])
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["user"] == user.name.as_str())
        .unwrap_or_else(|| panic!("{} not listed: {listed}", user.name));
    assert_eq!(entry["enrolled"], true, "{entry}");
    assert_eq!(entry["kind"], "TOTP", "{entry}");
    assert_eq!(entry["last_success"], serde_json::Value::Null, "{entry}");
    let _ = std::fs::remove_dir_all(user.home.join(".config/pam-totp"));
}
