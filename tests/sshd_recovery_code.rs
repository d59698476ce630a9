//! A recovery code through a real sshd, as a person sees it in OpenSSH's
//! own `ssh` in a terminal: the message about it is shown once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::terminal::PtySsh;
use common::*;

const ACCEPTED: &str =
    "Recovery code accepted; 9 left. Run `pam-totp recovery-codes` for new ones.";

fn recovery_codes(user: &TestUser) -> Vec<String> {
    enrollment_as_root(&user.name)["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect()
}

/// Log in with `code`, in an interactive session or with a command; what
/// the terminal showed.
fn login(sshd: &Sshd, user: &TestUser, key: &ClientKey, code: &str, interactive: bool) -> String {
    let mut ssh = if interactive {
        PtySsh::spawn_interactive(sshd.port, &user.name, Some(&key.private))
    } else {
        PtySsh::spawn(sshd.port, &user.name, Some(&key.private))
    };
    ssh.wait_for("Verification code: ", 0);
    ssh.type_line(code);
    let shown = ssh.wait_for("Press Enter to continue: ", 0);
    ssh.type_line("");
    if interactive {
        ssh.wait_for("$ ", shown.len());
        ssh.type_line("echo logged-in-as-$(id -un); exit");
    }
    let (logged_in, text) = ssh.finish();
    assert!(logged_in, "not logged in:\n{text}\n{}", sshd.log());
    text
}

#[test]
fn the_recovery_code_message_is_shown_once_in_a_terminal() {
    if skip_unless_root("the sshd tests need root") {
        return;
    }
    let user = TestUser::create("pamtotp-recov");
    let key = ClientKey::authorize_for(&user);
    let codes = recovery_codes(&user);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        &format!("state_dir={}", state.path().join("state").display()),
    );
    let sshd = Sshd::start(
        "pamtotp-recov-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive",
    );
    let interactive = login(&sshd, &user, &key, &codes[0], true);
    assert_eq!(interactive.matches(ACCEPTED).count(), 1, "{interactive}");
    let with_command = login(&sshd, &user, &key, &codes[1], false);
    assert_eq!(
        with_command
            .matches("Recovery code accepted; 8 left.")
            .count(),
        1,
        "{with_command}"
    );
}
