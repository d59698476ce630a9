//! The test suite's own machinery: a skip is recorded and counted apart
//! from the passes (and fails under CI=true), `make test`'s summary line
//! counts what it says, and a reserved port is never handed to another
//! test, in this process or another.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::ports::{reserve_port, try_reserve};

/// Run one ignored helper test of this binary in a child process.
fn child(name: &str, envs: &[(&str, &str)], ci: Option<&str>) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            name,
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env_remove("CI")
        .envs(envs.iter().copied())
        .stdin(Stdio::null());
    if let Some(ci) = ci {
        command.env("CI", ci);
    }
    command.output().unwrap()
}

#[test]
#[ignore = "helper run in child processes"]
fn child_skips() {
    if std::env::var_os("CHILD_SKIP").is_some() {
        common::skip("the reason it gives");
    }
}

#[test]
fn a_skip_is_recorded_with_its_reason_and_fails_under_ci() {
    let dir = tempfile::tempdir().unwrap();
    let skips = dir.path().join("skips");
    let envs = [
        ("CHILD_SKIP", "1"),
        ("PAM_TOTP_TEST_SKIPS", skips.to_str().unwrap()),
    ];
    // Outside CI: the test passes, and the skip is on record.
    let outside = child("child_skips", &envs, None);
    assert!(outside.status.success(), "{outside:?}");
    let records: Vec<String> = std::fs::read_dir(&skips)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    assert_eq!(
        records,
        vec!["harness::child_skips: the reason it gives\n".to_string()]
    );
    assert!(String::from_utf8_lossy(&outside.stderr).contains("skipped: harness::child_skips"));
    // Under CI=true: the test fails, saying why.
    std::fs::remove_dir_all(&skips).unwrap();
    let in_ci = child("child_skips", &envs, Some("true"));
    assert!(!in_ci.status.success(), "a skip passed under CI=true");
    assert!(
        String::from_utf8_lossy(&in_ci.stderr).contains("would be skipped under CI=true"),
        "{in_ci:?}"
    );
    assert!(!skips.exists());
}

/// `scripts/test-summary.sh` on a made-up log and skip directory.
fn summary(log: &str, skipped: &[&str], ci: bool) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("log"), log).unwrap();
    let skips = dir.path().join("skips");
    std::fs::create_dir(&skips).unwrap();
    for name in skipped {
        std::fs::write(skips.join(name), format!("{name}: why\n")).unwrap();
    }
    let mut command =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-summary.sh"));
    command
        .arg(dir.path().join("log"))
        .arg(&skips)
        .env_remove("CI");
    if ci {
        command.env("CI", "true");
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

const OK_5: &str = "test result: ok. 5 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n";

#[test]
fn make_test_counts_skips_apart_from_passes_and_fails_on_failures() {
    let totals = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|line| line.starts_with("total:"))
            .map(str::to_string)
            .collect()
    };
    let two_binaries = format!("{OK_5}{OK_5}");
    let (ok, stdout) = summary(&two_binaries, &[], false);
    assert!(ok);
    assert_eq!(
        stdout.lines().last(),
        Some("total: 10 passed, 0 failed, 0 skipped")
    );

    let (ok, stdout) = summary(&two_binaries, &["a__x", "b__y"], false);
    assert!(ok, "{stdout}");
    assert_eq!(
        totals(&stdout),
        vec!["total: 8 passed, 0 failed, 2 skipped"]
    );
    assert_eq!(
        stdout.lines().last(),
        Some("total: 8 passed, 0 failed, 2 skipped")
    );
    assert!(stdout.contains("skipped: a__x: why"), "{stdout}");
    // Under CI=true a skip fails the run.
    assert!(!summary(&two_binaries, &["a__x"], true).0);

    let failing = format!(
        "{OK_5}test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s\n\
         error: test failed, to rerun pass `--test module`\n"
    );
    let (ok, stdout) = summary(&failing, &[], false);
    assert!(!ok);
    assert_eq!(
        stdout.lines().last(),
        Some("total: 8 passed, 2 failed, 0 skipped")
    );
    // A test binary that died before its result line is a failure too.
    let crashed = format!("{OK_5}error: test failed, to rerun pass `--test safety`\n");
    let (ok, stdout) = summary(&crashed, &[], false);
    assert!(!ok);
    assert_eq!(
        stdout.lines().last(),
        Some("total: 5 passed, 1 failed, 0 skipped")
    );
}

#[test]
#[ignore = "helper run in child processes"]
fn child_reserves_ports() {
    let Ok(ports) = std::env::var("CHILD_TRY_PORTS") else {
        return;
    };
    let mut kept = Vec::new();
    for port in ports.split(',').map(|p| p.parse::<u16>().unwrap()) {
        match try_reserve(port) {
            Some(reserved) => {
                println!("got {port}");
                kept.push(reserved);
            }
            None => println!("taken {port}"),
        }
    }
}

#[test]
fn a_reserved_port_is_handed_to_no_one_else_while_held() {
    let held: Vec<_> = (0..20).map(|_| reserve_port()).collect();
    let ports: Vec<u16> = held.iter().map(|p| p.port()).collect();
    assert_eq!(
        ports.iter().collect::<HashSet<_>>().len(),
        ports.len(),
        "a port was handed out twice: {ports:?}"
    );
    // Not again in this process...
    for &port in &ports {
        assert!(try_reserve(port).is_none(), "{port} handed out again");
    }
    // ... nor to another process (another test binary, say), however it asks.
    let list = ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let output = child("child_reserves_ports", &[("CHILD_TRY_PORTS", &list)], None);
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    // (libtest's own "test ... " may start the first line.)
    let taken = said.matches("taken ").count();
    assert_eq!(taken, ports.len(), "{said}");
    // A server can bind the port it was given.
    for &port in &ports {
        drop(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    }
    // Once released, a port can be reserved again (tried for a moment: on
    // a loaded machine another run's try may hold its lock file briefly).
    let first = ports[0];
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while try_reserve(first).is_none() {
        assert!(std::time::Instant::now() < deadline, "{first} not released");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
