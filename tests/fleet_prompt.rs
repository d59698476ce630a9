//! No database connection while the user types (SPEC, Fleet): logins
//! waiting at the prompt hold no connection, so a crowd of them does not
//! exhaust a small `max_connections`; an authentication opens at most two
//! connections; and enrolled, unenrolled and unknown names run the same
//! statements before the prompt, none of them a named prepared statement.
//! Real libpam, a real PostgreSQL started by the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use common::fleet::Fleet;
use common::pg::ROLE;
use common::sshd::TestUser;
use common::*;

/// How many connections of the module's role are open now.
fn module_connections(fleet: &Fleet) -> String {
    fleet.db.psql_db(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}'"),
    )
}

/// Restart the cluster with `settings` (ALTER SYSTEM).
fn restart_with(fleet: &mut Fleet, settings: &[&str]) {
    for setting in settings {
        fleet
            .db
            .psql_db("postgres", &format!("ALTER SYSTEM SET {setting}"));
    }
    fleet.db.stop();
    fleet.db.start_again();
}

#[test]
fn forty_logins_waiting_at_the_prompt_with_ten_connections_allowed_all_succeed() {
    if skip_unless_root("the test creates users") {
        return;
    }
    let mut fleet = Fleet::start();
    // Of 13, superuser_reserved_connections (3) are kept for psql: the
    // module's role may open 10.
    restart_with(&mut fleet, &["max_connections = 13"]);
    // Four users with ten recovery codes each: forty logins that may all
    // succeed (one TOTP code would be accepted once).
    let users: Vec<TestUser> = (0..4)
        .map(|i| TestUser::create(&format!("pamtotp-crowd{i}")))
        .collect();
    let mut logins = Vec::new();
    for user in &users {
        fleet.enroll(&user.name);
        for code in fleet.recovery_codes(&user.name) {
            logins.push((user.name.clone(), code));
        }
    }
    assert_eq!(logins.len(), 40);
    let host = fleet.pam_host("crowd", "");
    let started = std::time::Instant::now();
    let crowd = crowd::at_the_prompt(&host, &logins, || module_connections(&fleet));
    let refused: Vec<(i32, Vec<String>)> = crowd
        .outcomes
        .iter()
        .filter(|o| o.code != PAM_SUCCESS)
        .map(|o| (o.code, o.errors()))
        .collect();
    eprintln!(
        "40 logins, 10 connections allowed: {} waited at the prompt at once holding {} connections, {} succeeded, in {:.1} s",
        crowd.waiting_at_once,
        crowd.seen_while_waiting,
        40 - refused.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        crowd.waiting_at_once, 40,
        "logins refused before the prompt: {refused:?}"
    );
    assert_eq!(
        crowd.seen_while_waiting, "0",
        "connections held by logins waiting at the prompt"
    );
    assert!(refused.is_empty(), "{refused:?}");
}

/// The statements run so far and the connections open, at the prompt.
type AtThePrompt = (Vec<String>, String);

/// The statements of the module's role in a piece of the server's log
/// (`log_line_prefix = '%u '`): "statement: SQL" for the simple protocol,
/// "execute NAME: SQL" for the extended one.
fn statements(log: &str) -> Vec<String> {
    let prefix = format!("{ROLE} LOG:  ");
    log.lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .filter(|line| line.starts_with("statement: ") || line.starts_with("execute "))
        .map(str::to_string)
        .collect()
}

#[test]
fn enrolled_unenrolled_and_unknown_names_run_the_same_unnamed_statements_and_hold_nothing_at_the_prompt()
 {
    if skip_unless_root("the test creates a user") {
        return;
    }
    let mut fleet = Fleet::start();
    restart_with(
        &mut fleet,
        &[
            "log_statement = 'all'",
            "log_connections = on",
            "log_line_prefix = '%u '",
        ],
    );
    let enrolled = current_user();
    fleet.enroll(&enrolled);
    let unenrolled = TestUser::create("pamtotp-samestmts");
    let fleet = Rc::new(fleet);
    let deny = fleet.pam_host("deny", "");
    let enroll = fleet.pam_host("enroll", "unenrolled=enroll");
    let cases = [
        ("enrolled", &deny, enrolled.as_str()),
        ("not enrolled (deny)", &deny, unenrolled.name.as_str()),
        ("unknown", &deny, "pamtotp-no-such-user"),
        ("not enrolled (enroll)", &enroll, unenrolled.name.as_str()),
    ];
    let mut before_prompt: Vec<(&str, Vec<String>)> = Vec::new();
    for (what, host, user) in cases {
        let start = fleet.db.log().len();
        let seen: Rc<RefCell<Option<AtThePrompt>>> = Rc::default();
        let at_prompt = seen.clone();
        let fleet_at_prompt = fleet.clone();
        // The responder runs on this thread, inside pam_authenticate.
        let responder: Responder = Box::new(move |_shown, _prompt| {
            let mut at_prompt = at_prompt.borrow_mut();
            if at_prompt.is_none() {
                let log = fleet_at_prompt.db.log();
                *at_prompt = Some((
                    statements(&log[start..]),
                    module_connections(&fleet_at_prompt),
                ));
            }
            Some(b"000000".to_vec())
        });
        let outcome = host.authenticate_responding(user, responder);
        assert_ne!(outcome.code, PAM_SUCCESS, "{what}");
        let (statements_before, held) = seen
            .borrow_mut()
            .take()
            .unwrap_or_else(|| panic!("{what}: never prompted: {:?}", outcome.shown));
        assert_eq!(held, "0", "{what}: connections held at the prompt");
        let log = fleet.db.log();
        let this_login = &log[start..];
        let connections = this_login
            .matches(&format!("connection authorized: user={ROLE}"))
            .count();
        assert!(
            (1..=2).contains(&connections),
            "{what}: {connections} connections in one authentication:\n{this_login}"
        );
        let named: Vec<String> = statements(this_login)
            .into_iter()
            .filter(|s| s.starts_with("execute ") && !s.starts_with("execute <unnamed>: "))
            .collect();
        assert!(
            named.is_empty(),
            "{what}: named prepared statements: {named:?}"
        );
        eprintln!(
            "{what}: {} statements before the prompt, {connections} connections",
            statements_before.len()
        );
        before_prompt.push((what, statements_before));
    }
    let (first, expected) = &before_prompt[0];
    for (what, statements) in &before_prompt[1..] {
        assert_eq!(
            statements, expected,
            "{what} runs other statements before the prompt than {first}"
        );
    }
}

#[test]
fn a_server_out_of_connection_slots_is_tried_again_within_database_timeout() {
    use pam_totp::store::postgres::{ConnInfo, Database};
    use std::time::{Duration, Instant};
    let mut cluster = common::pg::PgCluster::start(common::pg::PgOptions::default());
    // superuser_reserved_connections (3) of 4: one for the module's role.
    cluster.psql_db("postgres", "ALTER SYSTEM SET max_connections = 4");
    cluster.stop();
    cluster.start_again();
    let info = ConnInfo::parse(&cluster.conninfo()).unwrap();
    let holder = Database::connect(&info, Duration::from_secs(3)).unwrap();
    // The one slot taken all along: refused (53300), after trying for the
    // time allowed, not at once and not longer.
    let started = Instant::now();
    let error = Database::connect(&info, Duration::from_secs(1))
        .err()
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(error.sqlstate(), Some("53300"), "{error}");
    assert!(error.to_string().contains("max_connections"), "{error}");
    assert!(
        waited >= Duration::from_millis(500) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );
    // The slot freed meanwhile: a waiting login gets it.
    let waiting = std::thread::spawn(move || {
        Database::connect(&info, Duration::from_secs(3)).map(|db| db.host().to_string())
    });
    std::thread::sleep(Duration::from_millis(300));
    drop(holder);
    let connected = waiting.join().unwrap();
    assert!(connected.is_ok(), "{:?}", connected.err());
}
