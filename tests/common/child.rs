//! One pam_authenticate in a fresh process (so that the module, its state
//! in memory and the environment are its own): the test binary run again
//! with only its `child_authenticate` test, configured through `CHILD_*`
//! variables. A test binary that uses it declares that test:
//!
//! ```ignore
//! #[test]
//! #[ignore = "helper run in child processes"]
//! fn child_authenticate() {
//!     common::child::authenticate_if_asked();
//! }
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Service, answer, authenticate_in};

/// The child's side: with `CHILD_CONFDIR` set, one pam_authenticate of
/// `CHILD_USER` answering `CHILD_ANSWER`, and exit with the PAM code. With
/// `CHILD_READY`, first a file named after its pid there (so the parent
/// can wait for every child); with `CHILD_GO`, it starts only when that
/// file appears (so many children start together). Run as a plain test,
/// it does nothing.
pub fn authenticate_if_asked() {
    let Ok(confdir) = std::env::var("CHILD_CONFDIR") else {
        return;
    };
    if let Ok(ready) = std::env::var("CHILD_READY") {
        std::fs::write(Path::new(&ready).join(std::process::id().to_string()), b"").unwrap();
    }
    if let Ok(go) = std::env::var("CHILD_GO") {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Path::new(&go).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let outcome = authenticate_in(
        Path::new(&confdir),
        "pam-totp-test",
        &std::env::var("CHILD_USER").unwrap(),
        answer(&std::env::var("CHILD_ANSWER").unwrap()),
        None,
    );
    std::process::exit(outcome.code);
}

/// The parent's side: the command for one child logging `user` in with
/// `answer` through `service`, its output discarded (add `CHILD_GO`,
/// `CHILD_READY` or other variables, or capture the output, as needed).
pub fn command(service: &Service, user: &str, answer: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_authenticate",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CHILD_CONFDIR", service.dir.path())
        .env("CHILD_USER", user)
        .env("CHILD_ANSWER", answer)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Start `count` processes logging `user` in with `answer` at once; their
/// PAM codes (-1 for a process killed by a signal). A barrier: none of
/// them starts pam_authenticate before all of them are running and waiting
/// (each leaves a file in a `CHILD_READY` directory, then waits for
/// `CHILD_GO`).
pub fn race(service: &Service, user: &str, answer: &str, count: usize) -> Vec<i32> {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let ready = dir.path().join("ready");
    std::fs::create_dir(&ready).unwrap();
    let children: Vec<_> = (0..count)
        .map(|_| {
            command(service, user, answer)
                .env("CHILD_GO", &go)
                .env("CHILD_READY", &ready)
                .spawn()
                .unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let waiting = || std::fs::read_dir(&ready).unwrap().count();
    while waiting() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} processes reached the barrier",
            waiting()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!go.exists());
    std::fs::write(&go, b"").unwrap();
    children
        .into_iter()
        .map(|child| {
            child
                .wait_with_output()
                .unwrap()
                .status
                .code()
                .unwrap_or(-1)
        })
        .collect()
}
