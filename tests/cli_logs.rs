//! Root's changes to an enrollment leave a line in the system log
//! (authpriv), as the module's refusals do (issue 11 point 9).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Stdio};

use common::sshd::cli_path;
use common::*;

#[test]
fn enroll_recovery_codes_unlock_and_disable_each_log_one_line() {
    if !syslog::can_capture() {
        common::skip("catching syslog needs root and mount namespaces");
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
    let run = |args: &[&str]| {
        let output = Command::new(cli_path())
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    for (args, expected) in [
        (
            &["enroll", "--user", &user, "--no-confirm", "--qr", "none"][..],
            format!(
                "enrolled (TOTP, saved in {}/secrets/{user}.toml) for user {user} by uid 0",
                dir.path().display()
            ),
        ),
        (
            &["recovery-codes", "--user", &user, "--count", "3"][..],
            format!("replaced the recovery codes (3 new) for user {user} by uid 0"),
        ),
        (
            &["unlock", "--user", &user][..],
            format!("unlock cleared 0 failed attempts, no lockout for user {user} by uid 0"),
        ),
        (
            &["disable", "--user", &user][..],
            format!(
                "disabled two-factor authentication (removed {}/secrets/{user}.toml and the state) for user {user} by uid 0",
                dir.path().display()
            ),
        ),
    ] {
        let ((), lines) = syslog::capture(|| run(args));
        let ours: Vec<&String> = lines.iter().filter(|l| l.contains("pam-totp[")).collect();
        assert_eq!(ours.len(), 1, "{args:?}: {lines:#?}");
        // authpriv (10) * 8 + notice (5) = 85
        assert!(ours[0].starts_with("<85>"), "{}", ours[0]);
        assert!(
            ours[0].ends_with(&expected),
            "{args:?}: {} does not end with {expected}",
            ours[0]
        );
    }
}
