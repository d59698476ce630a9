//! Text planted in a user's file reaches neither syslog nor root's
//! terminal as control characters: no forged log line, no escape sequence.
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

/// A quoted TOML key a user could plant in their own secret file: a
/// newline and a forged sshd line, then an xterm "set title" sequence.
const PLANTED_KEY: &str =
    r#""x\nDec  1 12:00:00 host sshd[1]: Accepted publickey for root\u001b]2;pwned\u0007""#;

fn planted_secret() -> String {
    format!(
        "version = 1\nsecret = \"{SECRET_B32}\"\nalgorithm = \"SHA1\"\ndigits = 6\nperiod = 30\n{PLANTED_KEY} = 1\n"
    )
}

fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(c))
        .collect()
}

#[test]
fn a_planted_key_reaches_syslog_as_one_line_with_its_controls_escaped() {
    if !syslog::can_capture() {
        common::skip("catching syslog needs root and mount namespaces");
        return;
    }
    let fixture = Fixture::new();
    fixture.write_secret(&planted_secret());
    let service = fixture.service("");
    let (outcome, datagrams) =
        syslog::capture(|| service.authenticate(&fixture.user, answer(&fixture.code(0))));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    // Other tests' lines may arrive too: keep this test's service.
    let ours: Vec<&String> = datagrams
        .iter()
        .filter(|line| line.contains("pam_totp(pam-totp-test:auth)"))
        .collect();
    let planted: Vec<&&String> = ours.iter().filter(|l| l.contains("pwned")).collect();
    assert_eq!(planted.len(), 1, "{ours:#?}");
    let line = planted[0];
    assert_eq!(raw_controls(line), Vec::<char>::new(), "{line:?}");
    assert!(
        line.contains(r#"unknown key "x\nDec  1 12:00:00 host sshd[1]: Accepted publickey for root\x1b]2;pwned\x07""#),
        "{line}"
    );
    // Every line the module sent is a single line.
    for line in &ours {
        assert!(!line.contains('\n'), "{line:?}");
    }
}

#[test]
fn roots_status_shows_a_planted_key_escaped() {
    if common::skip_unless_root("status --user needs root") {
        return;
    }
    let fixture = Fixture::new();
    fixture.write_secret(&planted_secret());
    let config = fixture.root.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{}/secrets/%u.toml\"\nstate_dir = \"{}\"\n",
            fixture.root.path().display(),
            fixture.state_dir().display()
        ),
    )
    .unwrap();
    let output = Command::new(cli_path())
        .arg("--config")
        .arg(&config)
        .args(["status", "--user", &fixture.user])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("pwned"), "{stderr}");
    assert!(stderr.contains(r"\x1b]2;pwned\x07"), "{stderr}");
    // One line, ending in the newline eprintln adds.
    assert_eq!(
        raw_controls(stderr.trim_end_matches('\n')),
        Vec::<char>::new()
    );
    assert_eq!(raw_controls(&stdout), Vec::<char>::new());
}

#[test]
fn import_shows_a_planted_option_name_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{}/%u.toml\"\nstate_dir = \"{}/state\"\n",
            secrets.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    let file = dir.path().join("google_authenticator");
    std::fs::write(
        &file,
        "ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" EVIL\u{1b}]2;pwned\u{7}\u{202e}\n\" TOTP_AUTH\n",
    )
    .unwrap();
    set_mode(&file, 0o600);
    let output = Command::new(cli_path())
        .arg("--config")
        .arg(&config)
        .args(["import", "--from", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(r"Not carried over: EVIL\x1b]2;pwned\x07\u{202e}"),
        "{stdout}"
    );
    let without_newlines: String = stdout.lines().collect();
    assert_eq!(raw_controls(&without_newlines), Vec::<char>::new());
}
