//! Issue 20 point 5: what `disable` and `status` tell about the next login
//! follows the configured `unenrolled` policy (deny, allow, enroll).
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

fn config(dir: &Path, unenrolled: &str) -> std::path::PathBuf {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let path = dir.join(format!("config-{unenrolled}.toml"));
    std::fs::write(
        &path,
        format!(
            "secret_path = \"{}/%u.toml\"\nstate_dir = \"{}\"\nunenrolled = \"{unenrolled}\"\n",
            secrets.display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    path
}

fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(cli_path())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// For each policy, the words `disable` and `status` must use, and words
/// of the other policies they must not.
const POLICIES: [(&str, &str, &[&str]); 3] = [
    (
        "deny",
        "cannot log in",
        &["unenrolled = \"allow\"", "unenrolled = \"enroll\""],
    ),
    (
        "allow",
        "without a code",
        &["unenrolled = \"deny\"", "unenrolled = \"enroll\""],
    ),
    (
        "enroll",
        "at the next login",
        &["unenrolled = \"deny\"", "unenrolled = \"allow\""],
    ),
];

#[test]
fn disable_and_status_speak_of_the_configured_policy() {
    if skip_unless_root("needs root: disable --user and the module's state") {
        return;
    }
    let user = current_user();
    for (policy, says, never) in POLICIES {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), policy);
        stdout(&cli(&config, &["enroll", "--no-confirm", "--qr", "none"]));
        let disabled = stdout(&cli(&config, &["disable", "--user", &user]));
        let status = stdout(&cli(&config, &["status"]));
        for (what, text) in [("disable", &disabled), ("status", &status)] {
            assert!(
                text.contains(&format!("unenrolled = \"{policy}\"")),
                "{what} under {policy} does not name it:\n{text}"
            );
            assert!(
                text.contains(says),
                "{what} under {policy} does not say {says:?}:\n{text}"
            );
            for other in never {
                assert!(
                    !text.contains(other),
                    "{what} under {policy} speaks of {other}:\n{text}"
                );
            }
        }
    }
}
