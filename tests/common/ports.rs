//! Loopback ports for the servers tests start (sshd, PostgreSQL, ...).
//!
//! A port found free is not a port kept free: between the check and the
//! server's bind, another test (in this process or another test binary
//! running at the same time) could pick the same one, and two tests would
//! then meet at one server. So each port handed out is locked: an
//! exclusive `flock` on `/run/lock/pam-totp-test/port-PORT.lock`, held by the
//! `ReservedPort` for as long as the server lives, and the lock dies with
//! the process if a test is killed. Ports are drawn below the kernel's
//! ephemeral range, so outgoing connections (which take ephemeral ports)
//! do not take them either. A server that still fails to bind is started
//! again on another port by its helper (see `Sshd::start`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Where the tests' machine-wide locks live (ports here, names through
/// `common::machine_lock`): the system's directory for lock files, not
/// /tmp, which a test run leaves as it found it. The files stay (a lock file
/// removed while another process waits on it would let two holders in);
/// /run is emptied at boot.
pub const LOCK_DIR: &str = "/run/lock/pam-totp-test";

/// The directory of machine-wide test locks, made if missing (any user
/// may lock: tests of other users or worktrees share it).
pub fn lock_dir() -> &'static Path {
    std::fs::create_dir_all(LOCK_DIR).unwrap();
    let _ = std::fs::set_permissions(
        LOCK_DIR,
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    );
    Path::new(LOCK_DIR)
}

/// A loopback port no other test of any binary is using; it stays reserved
/// until this value is dropped.
pub struct ReservedPort {
    port: u16,
    _lock: File,
}

impl ReservedPort {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The first port the kernel hands out for outgoing connections.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// A pseudo-random number (tests need no more): time and pid mixed.
fn scramble(attempt: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    let mut x = nanos ^ ((std::process::id() as u64) << 32) ^ attempt.wrapping_mul(0x9e37_79b9);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// Lock `port` for this process, or `None` if another holder has it.
fn lock(port: u16) -> Option<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_dir().join(format!("port-{port}.lock")))
        .unwrap();
    // SAFETY: flock on a descriptor this File owns; no memory is involved.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    locked.then_some(file)
}

/// `port`, if no one holds it and nothing listens on it.
pub fn try_reserve(port: u16) -> Option<ReservedPort> {
    let lock = lock(port)?;
    // Locked by us; also free now (nothing else listens on it).
    TcpListener::bind(("127.0.0.1", port)).ok()?;
    Some(ReservedPort { port, _lock: lock })
}

/// Reserve a free loopback port (see the module comment).
pub fn reserve_port() -> ReservedPort {
    let low: u16 = 20000;
    let high = ephemeral_start().max(low + 1000);
    for attempt in 0..1000 {
        let port = low + (scramble(attempt) % u64::from(high - low)) as u16;
        if let Some(reserved) = try_reserve(port) {
            return reserved;
        }
    }
    panic!("no free loopback port between {low} and {high}");
}

/// A free loopback port reserved until this test process exits. Prefer
/// `reserve_port`, which releases it when the server is gone.
pub fn free_port() -> u16 {
    let reserved = reserve_port();
    let port = reserved.port;
    std::mem::forget(reserved);
    port
}
