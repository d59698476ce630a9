//! One rule, one place: the module (through the real libpam, and the CLI
//! that writes secrets) and `pam-totp check` accept and refuse the same
//! state directories and secret stores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::sshd::cli_path;
use common::*;

fn check(config: &Path, pam_file: &Path, sshd_config: &Path) -> Output {
    Command::new(cli_path())
        .arg("--config")
        .arg(config)
        .arg("check")
        .arg("--pam-file")
        .arg(pam_file)
        .arg("--sshd-config")
        .arg(sshd_config)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn problems(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.starts_with("problem: "))
        .map(str::to_string)
        .collect()
}

/// Files for `check` pointing at the fixture's store and state.
fn check_files(fixture: &Fixture) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let dir = fixture.root.path();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{}/secrets/%u.toml\"\nstate_dir = \"{}\"\n",
            dir.display(),
            fixture.state_dir().display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    let pam = dir.join("pam-sshd");
    std::fs::write(
        &pam,
        format!(
            "auth required {}\nauth required pam_permit.so\n",
            module_path().display()
        ),
    )
    .unwrap();
    let sshd = dir.join("sshd_config");
    std::fs::write(
        &sshd,
        "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
    )
    .unwrap();
    (config, pam, sshd)
}

#[test]
fn module_and_check_agree_on_the_state_directory() {
    if common::skip_unless_root("check wants a root-owned state directory (run as root)") {
        return;
    }
    for (mode, usable) in [
        (0o700, true),
        (0o750, false),
        (0o755, false),
        (0o777, false),
    ] {
        let fixture = Fixture::new();
        std::fs::create_dir(fixture.state_dir()).unwrap();
        set_mode(&fixture.state_dir(), mode);
        let outcome = fixture
            .service("")
            .authenticate(&fixture.user, answer(&fixture.code(0)));
        let (config, pam, sshd) = check_files(&fixture);
        let found = problems(&check(&config, &pam, &sshd));
        if usable {
            assert_eq!(outcome.code, PAM_SUCCESS, "{mode:o}: {:?}", outcome.shown);
            assert!(found.is_empty(), "{mode:o}: {found:?}");
        } else {
            assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{mode:o}");
            assert_eq!(found.len(), 1, "{mode:o}: {found:?}");
            assert!(found[0].contains("chmod 700"), "{found:?}");
        }
    }
}

#[test]
fn enroll_and_check_agree_on_the_secret_store() {
    if common::skip_unless_root("needs root to enroll another user") {
        return;
    }
    for (mode, usable) in [
        (0o755, true),
        (0o700, true),
        (0o775, false),
        (0o1777, false),
    ] {
        let fixture = Fixture::new();
        let store = fixture.root.path().join("secrets");
        std::fs::remove_file(fixture.secret_file()).unwrap();
        set_mode(&store, mode);
        let (config, pam, sshd) = check_files(&fixture);
        let enrolled = Command::new(cli_path())
            .arg("--config")
            .arg(&config)
            .args([
                "enroll",
                "--user",
                &fixture.user,
                "--no-confirm",
                "--qr",
                "none",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let found: Vec<String> = problems(&check(&config, &pam, &sshd))
            .into_iter()
            .filter(|p| p.contains("secret store"))
            .collect();
        if usable {
            assert!(
                enrolled.status.success(),
                "{mode:o}: {}",
                String::from_utf8_lossy(&enrolled.stderr)
            );
            assert!(found.is_empty(), "{mode:o}: {found:?}");
        } else {
            assert_eq!(enrolled.status.code(), Some(1), "{mode:o}");
            assert!(!fixture.secret_file().exists(), "{mode:o}");
            assert_eq!(found.len(), 1, "{mode:o}: {found:?}");
            assert!(found[0].contains("chmod go-w"), "{found:?}");
        }
    }
}
