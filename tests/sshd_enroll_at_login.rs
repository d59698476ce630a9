//! End to end: `unenrolled = "enroll"` behind a real sshd with
//! `AuthenticationMethods publickey,keyboard-interactive`, and OpenSSH's
//! own `ssh` in a pty (LANG=C.UTF-8) as the user sees it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::MetadataExt;

use common::sshd::*;
use common::terminal::{PtySsh, Terminal, decode, qr_block};
use common::*;

const CODE_PROMPT: &str = "code the app shows now: ";

/// A user with a key, no secret, and sshd asking for the key, then the module.
struct Setup {
    // Dropped in order: sshd before the user it serves.
    sshd: Sshd,
    _state: tempfile::TempDir,
    key: ClientKey,
    user: TestUser,
}

fn setup(user: &str, service: &str) -> Setup {
    let user = TestUser::create(user);
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
        service,
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    Setup {
        sshd,
        _state: state,
        key,
        user,
    }
}

fn secret_file(user: &TestUser) -> std::path::PathBuf {
    user.home.join(".config/pam-totp/secret.toml")
}

/// The value after `label` on the line that starts with it.
fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|line| {
            line.split_once(label)
                .map(|(_, rest)| rest.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {label:?} in:\n{text}"))
}

fn a_wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}

#[test]
fn an_unenrolled_user_enrolls_at_login_and_the_qr_code_scans() {
    if !is_root() {
        eprintln!("skipped: the sshd end-to-end test needs root");
        return;
    }
    let setup = setup("pamtotp-enroll1", "pamtotp-enroll1-sshd");
    let user = &setup.user;

    let mut ssh = PtySsh::spawn(setup.sshd.port, &user.name, Some(&setup.key.private));
    let shown = ssh.wait_for(CODE_PROMPT, 0);
    let uri = field(&shown, "URI:");
    let secret = field(&shown, "Secret:").replace(' ', "");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(
        uri.contains(&format!("secret={secret}&")),
        "{uri} / {secret}"
    );
    assert!(
        !shown.contains("\\033") && !shown.contains('\x1b'),
        "{shown}"
    );

    // The QR code ssh printed decodes to the URI printed beside it: as is on
    // a dark terminal, and inverted on a light one.
    let qr = qr_block(&shown).unwrap_or_else(|| panic!("no QR code in:\n{shown}"));
    assert_eq!(
        decode(&qr, Terminal::Dark, &[]).as_deref(),
        Some(uri.as_str())
    );
    assert_eq!(
        decode(&qr, Terminal::Light, &["-Stest-inverted"]).as_deref(),
        Some(uri.as_str())
    );
    eprintln!(
        "QR code: {} lines of {} columns; light terminal without inversion: {:?}",
        qr.len(),
        qr[0].chars().count(),
        decode(&qr, Terminal::Light, &[])
    );

    // The right code (oathtool, from the secret shown) logs in.
    let code = oathtool_code(&secret, 0);
    let before = shown.len();
    ssh.type_line(&code);
    let saved = ssh.wait_for("Press Enter once you have saved them", before);
    let after_code = &saved[before..];
    assert!(
        after_code.contains("Recovery codes for pamtotp-enroll1"),
        "{after_code}"
    );
    ssh.type_line("");
    let (logged_in, text) = ssh.finish();
    assert!(
        logged_in,
        "not logged in:\n{text}\nsshd: {}",
        setup.sshd.log()
    );
    eprintln!("ssh printed:\n{text}");

    // A secret file of their own, 0600, holding the secret shown.
    let meta = std::fs::metadata(secret_file(user)).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(
        meta.uid(),
        pam_totp::system::account::lookup_user(&user.name)
            .unwrap()
            .uid
    );
    let file = std::fs::read_to_string(secret_file(user)).unwrap();
    assert!(file.contains(&secret), "{file}");

    // The confirming code is used; the next step's code is accepted.
    let replay = ssh_login(
        setup.sshd.port,
        &user.name,
        Some(&setup.key.private),
        &[&code],
    );
    assert!(!replay.success, "the confirming code logged in again");
    assert!(
        replay.prompts.iter().all(|p| !p.contains("otpauth")),
        "enrollment offered again: {:?}",
        replay.prompts
    );
    let next = oathtool_code(&secret, 1);
    let login = ssh_login(
        setup.sshd.port,
        &user.name,
        Some(&setup.key.private),
        &[&next],
    );
    assert!(
        login.success,
        "next step's code refused: {} {}",
        login.stdout, login.stderr
    );
}

#[test]
fn three_wrong_codes_log_in_nobody_and_save_nothing() {
    if !is_root() {
        eprintln!("skipped: the sshd end-to-end test needs root");
        return;
    }
    let setup = setup("pamtotp-enroll2", "pamtotp-enroll2-sshd");
    let user = &setup.user;
    let mut ssh = PtySsh::spawn(setup.sshd.port, &user.name, Some(&setup.key.private));
    let shown = ssh.wait_for(CODE_PROMPT, 0);
    let wrong = a_wrong_code(&field(&shown, "Secret:").replace(' ', ""));
    let mut seen = 0;
    for _ in 0..3 {
        seen = ssh.wait_for(CODE_PROMPT, seen).len();
        ssh.type_line(&wrong);
    }
    let (logged_in, text) = ssh.finish();
    assert!(!logged_in, "logged in with wrong codes:\n{text}");
    assert!(text.contains("1 try left"), "{text}");
    assert!(text.contains("nothing was saved"), "{text}");
    assert!(!secret_file(user).exists());
}

#[test]
fn without_the_key_nothing_is_offered() {
    if !is_root() {
        eprintln!("skipped: the sshd end-to-end test needs root");
        return;
    }
    let setup = setup("pamtotp-enroll3", "pamtotp-enroll3-sshd");
    let user = &setup.user;
    let ssh = PtySsh::spawn(setup.sshd.port, &user.name, None);
    let (logged_in, text) = ssh.finish();
    assert!(!logged_in, "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(
        !text.contains("otpauth") && !text.contains("Secret:"),
        "{text}"
    );
    assert!(!secret_file(user).exists());
}
