//! `pam-totp db import` carries a running lockout into the database: a
//! user locked out on a files-store host is still locked out on every host
//! of the fleet, until the lockout ends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::fleet::{Fleet, text};
use common::sshd::*;
use common::*;

const LOCKED: &str = "Too many failed attempts. Try again in ";

#[test]
fn db_import_keeps_a_running_lockout() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let files = tempfile::tempdir().unwrap();
    let files_config = files.path().join("config.toml");
    std::fs::create_dir(files.path().join("secrets")).unwrap();
    // A short lockout, so the test can see it end.
    std::fs::write(
        &files_config,
        format!(
            "secret_path = \"{0}/secrets/%u.toml\"\nstate_dir = \"{0}/state\"\nmax_failures = 3\nlockout = 6\n",
            files.path().display()
        ),
    )
    .unwrap();
    set_mode(&files_config, 0o644);
    let user = current_user();
    let cli_files = |args: &[&str]| {
        std::process::Command::new(cli_path())
            .arg("--config")
            .arg(&files_config)
            .args(args)
            .output()
            .unwrap()
    };
    let enroll = cli_files(&["enroll", "--user", &user, "--no-confirm", "--json"]);
    assert!(enroll.status.success(), "{}", text(&enroll.stderr));
    let json: serde_json::Value = serde_json::from_slice(&enroll.stdout).unwrap();
    let secret = json["secret"].as_str().unwrap().to_string();
    let near: Vec<String> = (-3..=3).map(|o| oathtool_code(&secret, o)).collect();
    let wrong = ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap();
    let files_host = Service::with_args(&format!("config={}", files_config.display()));
    for _ in 0..3 {
        files_host.authenticate(&user, answer(wrong));
    }
    let locked = files_host.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(locked.code, PAM_MAXTRIES, "{:?}", locked.shown);

    let mixed = files.path().join("import.toml");
    std::fs::write(
        &mixed,
        format!(
            "{}database_file = \"{}\"\nsecret_key_file = \"{}\"\n",
            std::fs::read_to_string(&files_config).unwrap(),
            fleet.database_file().display(),
            fleet.key_file().display()
        ),
    )
    .unwrap();
    set_mode(&mixed, 0o644);
    let import = std::process::Command::new(cli_path())
        .arg("--config")
        .arg(&mixed)
        .args(["db", "import", "--user", &user])
        .output()
        .unwrap();
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(
        text(&import.stdout).contains("failures and lockout"),
        "{}",
        text(&import.stdout)
    );
    let failures = fleet.db.psql(&format!(
        "SELECT failures FROM pam_totp_state WHERE user_name = '{user}'"
    ));
    assert_eq!(failures.trim(), "3", "the failures imported");

    // On a fleet host the right code meets the lockout, unchecked.
    let fleet_host = fleet.pam_host("import-lock", "");
    let code = oathtool_code(&secret, 0);
    let outcome = fleet_host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_MAXTRIES, "{:?}", outcome.shown);
    assert!(
        outcome.prompts().is_empty(),
        "asked for a code while locked"
    );
    assert!(
        outcome.errors().iter().any(|e| e.starts_with(LOCKED)),
        "{:?}",
        outcome.shown
    );
    // Positive control: once the lockout is over, the same code logs in.
    std::thread::sleep(Duration::from_secs(7));
    let code = oathtool_code(&secret, 0);
    let outcome = fleet_host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
}
