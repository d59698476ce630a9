//! Documented guarantees of the PostgreSQL store: a lockout holds across a
//! failover to the standby, and names without an enrollment are refused
//! and locked out on decoy rows, never on a row of their own name.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fleet::Fleet;
use common::pg::PgOptions;
use common::sshd::*;
use common::*;

const LOCKED: &str = "Too many failed attempts. Try again in ";

fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-3..=3).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}

#[test]
fn a_lockout_holds_across_a_failover() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let primary = common::pg::PgCluster::start(PgOptions::default());
    let mut standby = common::pg::PgCluster::standby_of(&primary);
    // The standby first: target_session_attrs picks the primary, then,
    // after the failover, the promoted standby.
    let both = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} sslmode=disable target_session_attrs=read-write",
        standby.port,
        primary.port,
        common::pg::ROLE,
        common::pg::PASSWORD,
        common::pg::DATABASE
    );
    let mut fleet = Fleet::start_on(primary, &both);
    let user = current_user();
    let secret = fleet.enroll(&user);
    let a = fleet.pam_host("lock-failover-a", "max_failures=3");
    let b = fleet.pam_host("lock-failover-b", "max_failures=3");
    let wrong = wrong_code(&secret);
    let codes: Vec<i32> = (0..3)
        .map(|_| a.authenticate(&user, answer(&wrong)).code)
        .collect();
    assert_eq!(codes, [PAM_AUTH_ERR, PAM_AUTH_ERR, PAM_MAXTRIES]);

    fleet.db.stop();
    standby.promote();
    // The right code on another host, after the failover: still locked
    // out (the lockout was committed on the standby too), nothing asked.
    let locked = b.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(locked.code, PAM_MAXTRIES, "{:?}", locked.shown);
    assert!(locked.prompts().is_empty(), "{:?}", locked.shown);
    assert!(
        locked.errors().iter().any(|e| e.starts_with(LOCKED)),
        "{:?}",
        locked.shown
    );
    let failures = standby.psql(&format!(
        "SELECT failures FROM pam_totp_state WHERE user_name = '{user}'"
    ));
    assert_eq!(failures.trim(), "3");
    drop(standby);
}

#[test]
fn unknown_and_unenrolled_names_are_locked_out_on_decoy_rows_only() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let host = fleet.pam_host("decoy-a", "max_failures=3");
    let unknown = "pamtotp-no-such-user";
    let unenrolled = current_user();
    for name in [unknown, unenrolled.as_str()] {
        let codes: Vec<i32> = (0..4)
            .map(|_| host.authenticate(name, answer("123456")).code)
            .collect();
        // Asked and refused like an enrolled user typing wrong codes, and
        // locked out after max_failures.
        assert_eq!(
            codes,
            [PAM_AUTH_ERR, PAM_AUTH_ERR, PAM_MAXTRIES, PAM_MAXTRIES],
            "{name}"
        );
    }
    let own_rows = fleet.db.psql(&format!(
        "SELECT count(*) FROM pam_totp_state WHERE user_name IN ('{unknown}', '{unenrolled}')"
    ));
    assert_eq!(
        own_rows.trim(),
        "0",
        "a row named after a name without an enrollment"
    );
    let decoys = fleet
        .db
        .psql("SELECT count(*), min(failures) FROM pam_totp_state WHERE user_name LIKE 'decoy:%'");
    // Positive control: the failures were recorded, on decoy rows (one
    // each, or one shared if the two names fell in one bucket).
    let (count, failures) = decoys.trim().split_once('|').unwrap();
    assert!(["1", "2"].contains(&count), "{decoys}");
    assert!(failures.parse::<u32>().unwrap() >= 3, "{decoys}");
    // `pam-totp list` does not show them.
    let list = fleet.cli(&["list"]);
    assert!(!String::from_utf8_lossy(&list.stdout).contains("decoy"));
}

#[test]
fn a_lockout_ends_by_the_databases_clock_whatever_the_hosts_clock_says() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("skewed", "max_failures=2 lockout=10 lockout_max=10");
    // The host's clock (test-hooks: state_dir/test-clock) a day ahead.
    let state_dir = fleet.dir.path().join("state-skewed");
    std::fs::create_dir_all(&state_dir).unwrap();
    set_mode(&state_dir, 0o700);
    let skew = |seconds: u64| {
        std::fs::write(state_dir.join("test-clock"), (now() + seconds).to_string()).unwrap();
    };
    skew(86_400);
    let wrong = wrong_code(&secret);
    let codes: Vec<i32> = (0..2)
        .map(|_| host.authenticate(&user, answer(&wrong)).code)
        .collect();
    assert_eq!(codes, [PAM_AUTH_ERR, PAM_MAXTRIES]);
    // Two days ahead now: by the host's clock the lockout ended long ago,
    // by the database's it has not.
    skew(2 * 86_400);
    let locked = host.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(locked.code, PAM_MAXTRIES, "{:?}", locked.shown);
    assert!(
        locked.errors().iter().any(|e| e.starts_with(LOCKED)),
        "{:?}",
        locked.shown
    );
    // Back in the past: by the host's clock the lockout would last a day;
    // by the database's it ends after its 10 seconds, and the code of the
    // database's time step (not the host's) logs in.
    std::fs::write(state_dir.join("test-clock"), (now() - 86_400).to_string()).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(11));
    let outcome = host.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
}

#[test]
fn a_full_server_is_named_in_the_refusal() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    if !common::syslog::can_capture() {
        common::skip("needs mount namespaces to read the refusal line");
        return;
    }
    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("full", "");
    // Positive control: the host logs in while the server has room.
    let code = oathtool_code(&secret, 0);
    assert_eq!(host.authenticate(&user, answer(&code)).code, PAM_SUCCESS);
    // No connection left for the module's role: what a server at
    // max_connections answers (SQLSTATE 53300, too many connections).
    fleet.db.psql(&format!(
        "ALTER ROLE {} CONNECTION LIMIT 0",
        common::pg::ROLE
    ));
    let (outcome, lines) =
        common::syslog::capture(|| host.authenticate(&user, answer(&oathtool_code(&secret, 1))));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    // Other tests of this binary log for the same user meanwhile (one
    // syslog connection per process): the line that names the cause.
    let refusal = lines
        .iter()
        .find(|line| {
            line.contains("refused:")
                && line.contains(&format!("(user={user} "))
                && line.contains("SQLSTATE 53300")
        })
        .unwrap_or_else(|| panic!("no refusal naming SQLSTATE 53300: {lines:#?}"));
    assert!(refusal.contains("max_connections"), "{refusal}");
}

#[test]
fn the_manual_pages_least_privilege_role_is_enough() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    // The GRANTs of pam-totp.toml(5)'s PRIVILEGES, as printed there, for a
    // role of its own.
    let man = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/pam-totp.toml.5.in"),
    )
    .unwrap();
    let section = man.split(".SS PRIVILEGES").nth(1).unwrap();
    let sql = section
        .split(".EX\n")
        .nth(1)
        .and_then(|rest| rest.split("\n.EE").next())
        .unwrap();
    assert!(sql.contains("GRANT"), "{sql}");
    let role = "pamtotp_least";
    fleet.db.psql(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{}'",
        common::pg::PASSWORD
    ));
    fleet
        .db
        .psql(&sql.replace("TO pamtotp;", &format!("TO {role};")));
    fleet.write_conninfo(&format!(
        "host=127.0.0.1 port={} user={role} password={} dbname={} sslmode=disable",
        fleet.db.port,
        common::pg::PASSWORD,
        common::pg::DATABASE
    ));
    // Positive control: the role has no more than that.
    let denied = fleet.db.psql(&format!(
        "SET ROLE {role}; SELECT has_table_privilege('pam_totp_meta', 'UPDATE'), \
         has_schema_privilege('public', 'CREATE')"
    ));
    assert_eq!(denied.trim(), "f|f", "{denied}");
    // Everything a host and root's commands do, as that role.
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("least", "max_failures=3");
    let code = oathtool_code(&secret, 0);
    assert_eq!(host.authenticate(&user, answer(&code)).code, PAM_SUCCESS);
    assert_eq!(host.authenticate(&user, answer(&code)).code, PAM_AUTH_ERR);
    let unlock = fleet.cli(&["unlock", "--user", &user]);
    assert!(
        unlock.status.success(),
        "{}",
        String::from_utf8_lossy(&unlock.stderr)
    );
    let unknown = host.authenticate("pamtotp-no-such-user", answer("123456"));
    assert_eq!(unknown.code, PAM_AUTH_ERR, "the decoy row is written");
    let disable = fleet.cli(&["disable", "--user", &user]);
    assert!(
        disable.status.success(),
        "{}",
        String::from_utf8_lossy(&disable.stderr)
    );
    let rows = fleet.db.psql(&format!(
        "SELECT count(*) FROM pam_totp_enrollment WHERE user_name = '{user}'"
    ));
    assert_eq!(rows.trim(), "0");
}

/// The accepting update on PostgreSQL is a compare-and-set on the row's
/// version, tried four times; a login that loses all four races (another
/// host wrote the row each time) decides once more with the row locked
/// (`SELECT ... FOR UPDATE`), and its outcome is recorded.
#[test]
fn after_four_lost_races_the_update_takes_the_row_lock_and_is_recorded() {
    use pam_totp::store::{self, Repair};
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let config = pam_totp::config::Config::load(Some(&fleet.config())).unwrap();
    let account = pam_totp::system::account::lookup_user(&current_user()).unwrap();
    let user = account.name.clone();
    let mut db = store::open(&config, store::postgres::open).unwrap();
    // A first record, so the row exists.
    let mut first = |state: &pam_totp::otp::state::State, _: u64| {
        let mut next = state.clone();
        next.failures = 1;
        Some(next)
    };
    db.update(&account, Repair::Refuse, &mut first).unwrap();
    let version = |fleet: &Fleet| -> i64 {
        fleet
            .db
            .psql(&format!(
                "SELECT version FROM pam_totp_state WHERE user_name = '{user}'"
            ))
            .trim()
            .parse()
            .unwrap()
    };
    let before = version(&fleet);
    let mut calls = 0;
    let mut racing = |state: &pam_totp::otp::state::State, _: u64| {
        calls += 1;
        if calls <= 4 {
            // Another host writes the row between this read and the write.
            fleet.db.psql(&format!(
                "UPDATE pam_totp_state SET version = version + 1, failures = failures + 10 \
                 WHERE user_name = '{user}'"
            ));
        }
        let mut next = state.clone();
        next.failures += 1;
        Some(next)
    };
    let updated = db.update(&account, Repair::Refuse, &mut racing).unwrap();
    assert_eq!(
        calls, 5,
        "four optimistic tries, then one under the row lock"
    );
    // The fifth decision saw every other write: 1 + 4 * 10, plus its own.
    assert_eq!(updated.state.failures, 42);
    assert_eq!(version(&fleet), before + 5);
    let failures = fleet.db.psql(&format!(
        "SELECT failures FROM pam_totp_state WHERE user_name = '{user}'"
    ));
    assert_eq!(failures.trim(), "42");
}
