//! Issue 20 point 1: enrollment at login through OpenSSH's own `ssh` in an
//! 80x24 terminal: when the code prompt comes, the whole QR code is on the
//! screen with it (the last 24 rows of what `ssh` printed decode), so a
//! phone can scan the screen as it is.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::terminal::{PtySsh, Terminal, decode, qr_block};
use common::*;

const CODE_PROMPT: &str = "code the app shows now: ";
const ROWS: usize = 24;
const COLUMNS: usize = 80;

/// The text an 80x24 terminal shows after `text` was printed: the last 24
/// rows, a line longer than 80 columns taking several.
fn screen(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            rows.push(String::new());
        }
        for chunk in chars.chunks(COLUMNS) {
            rows.push(chunk.iter().collect());
        }
    }
    let start = rows.len().saturating_sub(ROWS);
    rows.split_off(start)
}

#[test]
fn the_whole_qr_code_is_on_an_80x24_screen_with_the_code_prompt() {
    if skip_unless_root("the sshd end-to-end test needs root") {
        return;
    }
    let user = TestUser::create("pamtotp-enroll-screen");
    let _ = std::fs::remove_dir_all(user.home.join(".config/pam-totp"));
    let key = ClientKey::authorize_for(&user);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!(
            // An issuer as long as a host's full name often is.
            "unenrolled=enroll issuer=host.example.org state_dir={}",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pamtotp-enroll-screen-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let ssh = PtySsh::spawn(sshd.port, &user.name, Some(&key.private));
    let shown = ssh.wait_for(CODE_PROMPT, 0);
    let uri = shown
        .lines()
        .find_map(|line| {
            line.split_once("URI:")
                .map(|(_, uri)| uri.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no URI in:\n{shown}"));
    // What is on the screen while ssh waits at the prompt.
    let upto_prompt = &shown[..shown.rfind(CODE_PROMPT).unwrap() + CODE_PROMPT.len()];
    let screen = screen(upto_prompt);
    let on_screen = screen.join("\n");
    let qr = qr_block(&on_screen)
        .unwrap_or_else(|| panic!("no QR code on the last 24 rows:\n{on_screen}"));
    assert_eq!(
        decode(&qr, Terminal::Dark, &[]).as_deref(),
        Some(uri.as_str()),
        "the QR code on the screen does not scan:\n{on_screen}"
    );
    assert!(screen.last().unwrap().ends_with(CODE_PROMPT), "{on_screen}");
    drop(ssh);
    drop(sshd);
}
