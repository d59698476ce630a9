//! The PostgreSQL store and the `pam-totp` command through PgBouncer in
//! transaction pooling (SPEC, Fleet): Debian 12's PgBouncer 1.18, which
//! refuses startup `options` and cannot carry named prepared statements
//! across transactions. Real libpam, a real PostgreSQL and a real
//! PgBouncer started by the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fleet::{Fleet, text};
use common::pg::{PgCluster, PgOptions};
use common::pgbouncer::{self, PgBouncer};
use common::sshd::{TestUser, oathtool_code};
use common::*;

/// A cluster, PgBouncer in front of it with `pool_size` server
/// connections, and a fleet whose connection string names PgBouncer
/// (`db init` runs through it). `None` (recorded as a skip) without
/// PgBouncer.
fn fleet_behind_pgbouncer(pool_size: u32) -> Option<(Fleet, PgBouncer)> {
    if !pgbouncer::installed() {
        skip("PgBouncer is not installed (apt-get install pgbouncer)");
        return None;
    }
    let db = PgCluster::start(PgOptions::default());
    let bouncer = PgBouncer::start(&db, pool_size);
    let fleet = Fleet::start_on(db, &bouncer.conninfo());
    Some((fleet, bouncer))
}

#[test]
fn forty_logins_waiting_at_the_prompt_through_pgbouncer_in_transaction_pooling_all_succeed() {
    if skip_unless_root("the test creates users and runs PgBouncer as postgres") {
        return;
    }
    let Some((fleet, bouncer)) = fleet_behind_pgbouncer(5) else {
        return;
    };
    let users: Vec<TestUser> = (0..4)
        .map(|i| TestUser::create(&format!("pamtotp-bouncer{i}")))
        .collect();
    let mut logins = Vec::new();
    for user in &users {
        fleet.enroll(&user.name);
        for code in fleet.recovery_codes(&user.name) {
            logins.push((user.name.clone(), code));
        }
    }
    let host = fleet.pam_host("bouncer", "");
    let started = std::time::Instant::now();
    let crowd = crowd::at_the_prompt(&host, &logins, String::new);
    let refused: Vec<(i32, Vec<String>)> = crowd
        .outcomes
        .iter()
        .filter(|o| o.code != PAM_SUCCESS)
        .map(|o| (o.code, o.errors()))
        .collect();
    eprintln!(
        "40 logins through PgBouncer (5 server connections): {} waited at the prompt at once, {} succeeded, in {:.1} s",
        crowd.waiting_at_once,
        40 - refused.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        refused.is_empty(),
        "{refused:?}\nPgBouncer's log:\n{}",
        bouncer.log()
    );
    assert_eq!(crowd.waiting_at_once, 40);
}

#[test]
fn the_cli_check_and_logins_work_through_pgbouncer_in_transaction_pooling() {
    if skip_unless_root("the test runs PgBouncer as postgres") {
        return;
    }
    // One server connection: every transaction of every client goes
    // through it, so a statement prepared by name in one would be missing
    // (or another's) in the next.
    let Some((fleet, bouncer)) = fleet_behind_pgbouncer(1) else {
        return;
    };
    let init = fleet.cli(&["db", "init"]);
    assert!(init.status.success(), "db init: {}", text(&init.stderr));
    assert!(
        text(&init.stdout).contains("already at version"),
        "{}",
        text(&init.stdout)
    );
    let user = current_user();
    let secret = fleet.enroll(&user);
    let status = fleet.cli(&["status", "--user", &user, "--json"]);
    assert!(status.status.success(), "status: {}", text(&status.stderr));
    // check connects through PgBouncer, reads the schema version and opens
    // the enrolled secret (a PAM file and sshd settings of its own, good).
    let pam_file = fleet.dir.path().join("pam-sshd");
    std::fs::write(
        &pam_file,
        format!(
            "auth required {} config={}\n@include common-account\n",
            module_path().display(),
            fleet.config().display()
        ),
    )
    .unwrap();
    let sshd_config = fleet.dir.path().join("sshd_config");
    std::fs::write(
        &sshd_config,
        "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
         AuthenticationMethods publickey,keyboard-interactive\n",
    )
    .unwrap();
    let check = fleet.cli(&[
        "check",
        "--pam-file",
        pam_file.to_str().unwrap(),
        "--sshd-config",
        sshd_config.to_str().unwrap(),
    ]);
    let said = text(&check.stdout);
    for line in [
        format!("connected to database 127.0.0.1:{}", bouncer.port()),
        format!(
            "database schema version {}",
            pam_totp::store::postgres::SCHEMA_VERSION
        ),
        "the secrets of all 1 enrolled user open with secret_key_file".to_string(),
    ] {
        assert!(said.contains(&line), "{line:?} not in:\n{said}");
    }
    assert!(
        check.status.success(),
        "check: {said}\n{}",
        text(&check.stderr)
    );
    let host = fleet.pam_host("bouncer-cli", "");
    wait_clear_of_a_step_edge();
    let code = oathtool_code(&secret, 0);
    let first = host.authenticate(&user, answer(&code));
    assert_eq!(
        first.code,
        PAM_SUCCESS,
        "{:?}\nPgBouncer's log:\n{}",
        first.shown,
        bouncer.log()
    );
    let replay = host.authenticate(&user, answer(&code));
    assert_eq!(replay.code, PAM_AUTH_ERR, "a code was accepted twice");
    let status = fleet.cli(&["status", "--user", &user, "--json"]);
    assert!(status.status.success(), "status: {}", text(&status.stderr));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["failures"], 1, "{json}");
    let disable = fleet.cli(&["disable", "--user", &user]);
    assert!(
        disable.status.success(),
        "disable: {}",
        text(&disable.stderr)
    );
    let gone = host.authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(gone.code, PAM_AUTH_ERR, "a disabled user logged in");
    let status = fleet.cli(&["status", "--user", &user]);
    assert!(status.status.success(), "status: {}", text(&status.stderr));
    assert!(
        !bouncer.log().contains("prepared statement"),
        "{}",
        bouncer.log()
    );
}
