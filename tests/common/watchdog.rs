//! A per-test timeout. libtest runs each test on a thread named after it
//! and waits for it however long it takes, so one hung test (a server that
//! never answers, a lock never released) stalls the whole run. The
//! watchdog, started before `main` in every test binary that includes
//! tests/common, looks at this process's threads every two seconds; a
//! test thread older than the limit (`PAM_TOTP_TEST_TIMEOUT` seconds,
//! default 900; 0 turns it off) is named on stderr and the test binary
//! exits with status 101, which `cargo test` and `make test` count as a
//! failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

pub const DEFAULT_LIMIT_SECONDS: u64 = 900;
const NAME: &str = "test-watchdog";

/// Called once per process, before `main` (see `tests/common/mod.rs`).
pub extern "C" fn start() {
    let limit = std::env::var("PAM_TOTP_TEST_TIMEOUT")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(DEFAULT_LIMIT_SECONDS);
    if limit == 0 {
        return;
    }
    let _ = std::thread::Builder::new()
        .name(NAME.into())
        .spawn(move || watch(limit));
}

fn watch(limit: u64) {
    loop {
        std::thread::sleep(Duration::from_secs(2));
        if let Some((name, age)) = oldest_test_thread() {
            if age > limit {
                eprintln!(
                    "\ntest {name} is still running after {age} s (limit {limit} s): failing this test binary. \
                     PAM_TOTP_TEST_TIMEOUT=SECONDS sets the limit."
                );
                std::process::exit(101);
            }
        }
    }
}

/// The name (as the kernel keeps it, 15 bytes at most) and age in seconds
/// of the oldest thread of this process other than the main thread and
/// the watchdog.
fn oldest_test_thread() -> Option<(String, u64)> {
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf takes a constant and reads no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let pid = std::process::id().to_string();
    let mut oldest: Option<(String, u64)> = None;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        if tid == pid {
            continue;
        }
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        let comm = comm.trim_end().to_string();
        if comm == NAME {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // After the command's closing parenthesis: fields 3, 4, ...; the
        // start time (in clock ticks since boot) is field 22.
        let Some(started) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(19))
            .and_then(|ticks_since_boot| ticks_since_boot.parse::<f64>().ok())
        else {
            continue;
        };
        let age = (uptime - started / ticks).max(0.0) as u64;
        if oldest.as_ref().is_none_or(|(_, a)| age > *a) {
            oldest = Some((comm, age));
        }
    }
    oldest
}
