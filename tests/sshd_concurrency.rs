//! Exactly-once acceptance through a real sshd: 50 simultaneous `ssh`
//! logins presenting the same valid code: one succeeds, and each of the 49
//! others is asked for the code and refused at it (no lockout, no drop).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::*;
use common::*;

#[test]
fn fifty_simultaneous_ssh_logins_with_one_code_yield_one_success() {
    if skip_unless_root("needs root to create a user and run sshd") {
        return;
    }
    let user = TestUser::create("pamtotp-e2e-race");
    let key = ClientKey::authorize_for(&user);
    let secret = enroll_as_root(&user.name);
    let state = tempfile::tempdir().unwrap();
    let stack = repository_stack(
        "sshd-key-and-code",
        // No lockout: the 49 replays must each meet the code check itself.
        &format!(
            "state_dir={} max_failures=1000",
            state.path().join("state").display()
        ),
    );
    let sshd = Sshd::start(
        "pamtotp-race-sshd",
        &stack,
        "AuthenticationMethods publickey,keyboard-interactive\nMaxStartups 200\nMaxSessions 200",
    );
    let code = oathtool_code(&secret, 0);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let barrier = barrier.clone();
            let (name, private, code) = (user.name.clone(), key.private.clone(), code.clone());
            let port = sshd.port;
            std::thread::spawn(move || {
                barrier.wait();
                ssh_login(port, &name, Some(&private), &[&code])
            })
        })
        .collect();
    let logins: Vec<Login> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let successes = logins.iter().filter(|l| l.success).count();
    let prompted = logins.iter().filter(|l| !l.prompts.is_empty()).count();
    eprintln!(
        "50 simultaneous ssh logins with one code: {successes} logged in, {prompted} were asked for the code"
    );
    let log = sshd.log();
    assert_eq!(successes, 1, "sshd log:\n{log}");
    // Every one of the 50 got past the key to the code prompt (none was
    // dropped by MaxStartups or a timeout), and each of the 49 others was
    // refused there, by PAM, for a wrong code (not locked out, not an error).
    for login in &logins {
        assert_eq!(
            login.prompts.len(),
            1,
            "{:?} {}",
            login.prompts,
            login.stderr
        );
        assert!(
            login.prompts[0].ends_with("Verification code: "),
            "{:?}",
            login.prompts
        );
        if !login.success {
            assert_eq!(
                login.denied_with(),
                Some("keyboard-interactive"),
                "{}",
                login.stderr
            );
        }
    }
    let user = &user.name;
    for (prefix, expected) in [
        (format!("Partial publickey for {user} "), 50),
        (format!("Accepted keyboard-interactive/pam for {user} "), 1),
        (format!("Failed keyboard-interactive/pam for {user} "), 49),
        (format!("PAM: Authentication failure for {user} "), 49),
    ] {
        assert_eq!(
            sshd.count_lines(0, &prefix, expected),
            expected,
            "{prefix}\n{}",
            sshd.log()
        );
    }
}
