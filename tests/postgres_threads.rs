//! A database connection leaves nothing behind: no thread while connected
//! (the runtime is current-thread), no thread, socket or descriptor after
//! it is dropped, no session on the server. One test alone in its binary,
//! so that no other test's threads change the count.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::pg::{PgCluster, PgOptions};
use pam_totp::store::postgres::{ConnInfo, Database};

fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn connect_and_drop_leave_no_thread_socket_or_session() {
    let cluster = PgCluster::start(PgOptions { tls: true });
    let sessions =
        || cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'pamtotp'");
    let info = ConnInfo::parse(&cluster.conninfo_with(&format!(
        "sslmode=verify-full sslrootcert={}",
        cluster.ca_cert().display()
    )))
    .unwrap();
    // Warm up once: the first connection may initialise process-wide state.
    drop(Database::connect(&info, Duration::from_secs(5)).unwrap());

    let threads_before = threads();
    let descriptors_before = descriptors();
    let mut db = Database::connect(&info, Duration::from_secs(5)).unwrap();
    assert_eq!(threads(), threads_before, "a thread was started to connect");
    assert!(descriptors() > descriptors_before, "no socket open?");
    db.query_typed("SELECT 1", &[]).unwrap();
    assert_eq!(sessions(), "1");
    drop(db);
    assert_eq!(
        threads(),
        threads_before,
        "a thread outlived the connection"
    );
    assert_eq!(
        descriptors(),
        descriptors_before,
        "a descriptor outlived the connection"
    );
    // The server saw the session end (it notices asynchronously).
    let deadline = Instant::now() + Duration::from_secs(5);
    while sessions() != "0" {
        assert!(
            Instant::now() < deadline,
            "session still open on the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
