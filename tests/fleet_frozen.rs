//! Issue 21: "fails closed in bounded time" with the database frozen after
//! the prompt, the case the other fleet tests never made: the login read
//! its state and closed its connection, the user typed, and the server
//! froze meanwhile. The decision's connection must give up within
//! `database_timeout`, refuse as unavailable, say why in the log, and
//! record nothing (the same code works once the server is back).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::sshd::*;
use common::*;

/// SIGSTOP or SIGCONT for every process of the server.
fn signal(pids: &[i32], which: &str) {
    let status = Command::new("kill")
        .arg(which)
        .args(pids.iter().map(i32::to_string))
        .status()
        .unwrap();
    assert!(status.success(), "kill {which} {pids:?}");
}

#[test]
fn a_database_frozen_while_the_user_types_fails_closed_in_bounded_time() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    if !common::syslog::can_capture() {
        common::skip("needs mount namespaces to read the refusal line");
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fleet-frz");
    let secret = fleet.enroll(&user.name);
    let pam = fleet.pam_host("frozen-at-prompt", "");
    let pids = fleet.db.pids();
    assert!(!pids.is_empty(), "the server runs");
    let code = oathtool_code(&secret, 0);
    let timeout = Duration::from_secs(common::fleet::DATABASE_TIMEOUT);

    // Freeze the server when the prompt comes, then answer the right code.
    let answered_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let (outcome, logged) = {
        let (pids, code, answered_at) = (pids.clone(), code.clone(), answered_at.clone());
        let name = user.name.clone();
        common::syslog::capture(move || {
            let responder: Responder = Box::new(move |_shown, _prompt| {
                signal(&pids, "-STOP");
                *answered_at.lock().unwrap() = Some(Instant::now());
                Some(code.clone().into_bytes())
            });
            pam.authenticate_responding(&name, responder)
        })
    };
    let after_answer = answered_at
        .lock()
        .unwrap()
        .map(|at| at.elapsed())
        .expect("the login reached its prompt");
    signal(&pids, "-CONT");

    assert_eq!(
        outcome.code, PAM_AUTHINFO_UNAVAIL,
        "frozen after the prompt: {:?}",
        outcome.shown
    );
    // The decision's connection: the connect and one statement, each
    // bounded, plus a margin.
    assert!(
        after_answer < timeout * 2 + Duration::from_secs(1),
        "the refusal took {after_answer:?} after the answer"
    );
    let refusal = logged
        .iter()
        .find(|line| line.contains("refused:") && line.contains(&format!("(user={} ", user.name)))
        .unwrap_or_else(|| panic!("no refusal logged: {logged:#?}"));
    assert!(refusal.contains("database"), "{refusal}");
    assert!(
        !refusal.contains(&code),
        "the code typed is in the log: {refusal}"
    );

    // Positive control: the server back, the same code is accepted, so the
    // frozen attempt recorded nothing and the setup can log in at all.
    let back = fleet.pam_host("frozen-at-prompt-2", "");
    let again = back.authenticate(&user.name, answer(&code));
    assert_eq!(again.code, PAM_SUCCESS, "{:?}", again.shown);
}
