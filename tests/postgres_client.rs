//! The database layer against real PostgreSQL clusters started by the
//! tests: connecting, failing closed in bounded time, TLS verification,
//! the schema, and failover to a promoted synchronous standby.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::pg::{self, PgCluster, PgOptions};
use pam_totp::store::postgres::{
    ConnInfo, Database, DbError, InitReport, SCHEMA_VERSION, TimeoutDuring, Type, check_version,
    init,
};

fn connect(conninfo: &str, timeout: Duration) -> Result<Database, DbError> {
    Database::connect(&ConnInfo::parse(conninfo).unwrap(), timeout)
}

fn one_text(db: &mut Database, sql: &str) -> Option<String> {
    db.simple_query(sql).unwrap()[0][0].clone()
}

#[test]
fn connects_queries_and_bounds_statements_on_the_server_too() {
    let cluster = PgCluster::start(PgOptions::default());
    let mut db = connect(&cluster.conninfo(), Duration::from_secs(2)).unwrap();
    assert_eq!(db.host(), format!("127.0.0.1:{}", cluster.port));
    let rows = db
        .query_typed("SELECT $1 + 1", &[(&41i32, Type::INT4)])
        .unwrap();
    assert_eq!(rows[0].try_get::<_, i32>(0).unwrap(), 42);
    assert_eq!(
        one_text(&mut db, "SELECT current_user").as_deref(),
        Some(pg::ROLE)
    );
    assert_eq!(
        one_text(&mut db, "SELECT current_setting('application_name')").as_deref(),
        Some("pam-totp")
    );
    // The second line of defence: the server knows the bound too, inside
    // each transaction (SET LOCAL), not as startup options, which
    // PgBouncer refuses, nor for the session, which a pooler shares.
    for setting in [
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
    ] {
        let show = format!("SHOW {setting}");
        let inside: Result<_, DbError> = db.transaction(|db| Ok(one_text(db, &show)));
        assert_eq!(inside.unwrap().as_deref(), Some("2s"), "{setting}");
        assert_eq!(one_text(&mut db, &show).as_deref(), Some("0"), "{setting}");
    }
    // The server's statement_timeout (SQLSTATE 57014) reads as a timeout,
    // and the connection stays usable.
    db.batch_execute("SET statement_timeout = 200").unwrap();
    let started = Instant::now();
    let error = db.batch_execute("SELECT pg_sleep(1.5)").unwrap_err();
    assert!(
        matches!(
            error,
            DbError::Timeout {
                during: TimeoutDuring::Statement,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        one_text(&mut db, "SELECT 'still here'").as_deref(),
        Some("still here")
    );
    // A server error keeps its SQLSTATE.
    let error = db
        .query_typed("SELECT * FROM no_such_table", &[])
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some("42P01"), "{error}");
    // A transaction whose work fails is rolled back.
    db.batch_execute("CREATE TABLE t (x int)").unwrap();
    let result: Result<(), DbError> = db.transaction(|db| {
        db.execute_typed("INSERT INTO t VALUES (1)", &[])?;
        db.execute_typed("INSERT INTO t VALUES ('x')", &[])?;
        Ok(())
    });
    assert!(result.is_err());
    db.transaction(|db| db.execute_typed("INSERT INTO t VALUES (2)", &[]))
        .unwrap();
    assert_eq!(cluster.psql("SELECT string_agg(x::text, ',') FROM t"), "2");
}

#[test]
fn wrong_credentials_frozen_and_stopped_servers_fail_closed_in_time() {
    let mut cluster = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(2);

    let wrong = cluster.conninfo().replace(pg::PASSWORD, "not-the-password");
    let error = connect(&wrong, timeout).err().unwrap();
    assert!(matches!(error, DbError::Authentication { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("password"), "{message}");
    assert!(!message.contains("not-the-password"), "{message}");

    let error = connect(
        &cluster.conninfo().replace("dbname=pamtotp", "dbname=nope"),
        timeout,
    )
    .err()
    .unwrap();
    assert!(
        matches!(&error, DbError::Rejected { code, .. } if code == "3D000"),
        "{error:?}"
    );

    // A plain server and sslmode=require: refused, not downgraded.
    let error = connect(&cluster.conninfo_with("sslmode=require"), timeout)
        .err()
        .unwrap();
    assert!(matches!(error, DbError::Tls { .. }), "{error:?}");

    // Frozen while connecting: accepts TCP, never answers.
    cluster.freeze();
    let started = Instant::now();
    let error = connect(&cluster.conninfo(), timeout).err().unwrap();
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            DbError::Timeout {
                during: TimeoutDuring::Connect,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        elapsed >= timeout - Duration::from_millis(100)
            && elapsed < timeout + Duration::from_secs(1),
        "{elapsed:?}"
    );
    cluster.thaw();

    // Frozen in the middle of a session.
    let mut db = connect(&cluster.conninfo(), timeout).unwrap();
    cluster.freeze();
    let started = Instant::now();
    let error = db.query_typed("SELECT 1", &[]).unwrap_err();
    assert!(
        matches!(
            error,
            DbError::Timeout {
                during: TimeoutDuring::Statement,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < timeout + Duration::from_secs(1));
    // The connection is not trusted again: the next call fails at once.
    let started = Instant::now();
    assert!(db.query_typed("SELECT 1", &[]).is_err());
    assert!(started.elapsed() < Duration::from_millis(100));
    let started = Instant::now();
    drop(db);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "drop waited {:?}",
        started.elapsed()
    );
    cluster.thaw();

    // Stopped: refused at once.
    cluster.stop();
    let started = Instant::now();
    let error = connect(&cluster.conninfo(), timeout).err().unwrap();
    assert!(matches!(error, DbError::Unreachable { .. }), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(error.to_string().contains("unreachable"), "{error}");

    // Back up: works again.
    cluster.start_again();
    let mut db = connect(&cluster.conninfo(), timeout).unwrap();
    assert_eq!(one_text(&mut db, "SELECT 1").as_deref(), Some("1"));
}

#[test]
fn tls_verification_follows_sslmode() {
    let cluster = PgCluster::start(PgOptions { tls: true });
    let timeout = Duration::from_secs(5);
    let ca = cluster.ca_cert();
    let ca = ca.display();
    let other = tempfile::tempdir().unwrap();
    let wrong_ca = pg::make_ca(other.path(), "other-ca");
    let wrong_ca = wrong_ca.display();
    let uses_tls = |db: &mut Database| {
        one_text(
            db,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        )
    };

    for ok in [
        format!("sslmode=verify-full sslrootcert={ca}"),
        // The name in the certificate's DNS entry, the address given apart.
        format!("sslmode=verify-full sslrootcert={ca} host=localhost hostaddr=127.0.0.1"),
        // verify-ca checks the chain and not the name.
        format!("sslmode=verify-ca sslrootcert={ca} host=db.wrong.example hostaddr=127.0.0.1"),
        // require: encrypted, no check.
        "sslmode=require".to_string(),
        "sslmode=prefer".to_string(),
    ] {
        let mut db = connect(&cluster.conninfo_with(&ok), timeout)
            .unwrap_or_else(|error| panic!("{ok}: {error}"));
        assert_eq!(uses_tls(&mut db).as_deref(), Some("t"), "{ok}");
    }
    let mut db = connect(&cluster.conninfo(), timeout).unwrap();
    assert_eq!(uses_tls(&mut db).as_deref(), Some("f"), "sslmode=disable");

    for (bad, reason) in [
        (
            format!("sslmode=verify-full sslrootcert={wrong_ca}"),
            "UnknownIssuer",
        ),
        (
            format!("sslmode=verify-ca sslrootcert={wrong_ca}"),
            "UnknownIssuer",
        ),
        // libpq: require with a root certificate checks the chain.
        (
            format!("sslmode=require sslrootcert={wrong_ca}"),
            "UnknownIssuer",
        ),
        (
            format!(
                "sslmode=verify-full sslrootcert={ca} host=db.wrong.example hostaddr=127.0.0.1"
            ),
            "not valid for name",
        ),
    ] {
        let started = Instant::now();
        let error = connect(&cluster.conninfo_with(&bad), timeout)
            .err()
            .unwrap_or_else(|| panic!("{bad}: connected"));
        assert!(started.elapsed() < Duration::from_secs(2));
        match &error {
            DbError::Tls { reason: text, .. } => {
                assert!(text.contains(reason), "{bad}: {text}")
            }
            other => panic!("{bad}: {other:?}"),
        }
        assert!(error.to_string().contains("sslrootcert"), "{error}");
    }
}

#[test]
fn schema_init_is_idempotent_and_versioned() {
    let cluster = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(5);
    let mut db = connect(&cluster.conninfo(), timeout).unwrap();

    let error = check_version(&mut db).unwrap_err();
    assert!(
        matches!(error, DbError::Schema { found: None, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("pam-totp db init"), "{error}");

    assert_eq!(init(&mut db).unwrap(), InitReport::Created { version: 2 });
    assert_eq!(
        init(&mut db).unwrap(),
        InitReport::AlreadyCurrent { version: 2 }
    );
    assert_eq!(check_version(&mut db).unwrap(), SCHEMA_VERSION);
    assert_eq!(
        cluster.psql(
            "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables \
             WHERE table_name LIKE 'pam_totp%'"
        ),
        "pam_totp_enrollment,pam_totp_meta,pam_totp_state"
    );
    assert_eq!(
        cluster.psql(
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns \
             WHERE table_name = 'pam_totp_state'"
        ),
        "user_name,version,last_step_start,last_counter,failures,locked_until,last_success,used_recovery"
    );
    // The defaults and checks are in place.
    db.execute_typed(
        "INSERT INTO pam_totp_enrollment (user_name, secret) VALUES ('alice', '\\x01')",
        &[],
    )
    .unwrap();
    assert_eq!(
        cluster.psql(
            "SELECT kind, algorithm, digits, period, counter, recovery FROM pam_totp_enrollment"
        ),
        "totp|SHA1|6|30|0|{}"
    );
    let error = db
        .execute_typed(
            "INSERT INTO pam_totp_enrollment (user_name, secret, digits) VALUES ('bob', '\\x01', 9)",
            &[],
        )
        .unwrap_err();
    assert_eq!(error.sqlstate(), Some("23514"), "{error}");
    // A schema of version 1 is upgraded, keeping the data; a third init
    // changes nothing.
    cluster.psql("UPDATE pam_totp_meta SET value = '1' WHERE key = 'schema_version'");
    assert!(matches!(
        check_version(&mut db),
        Err(DbError::Schema { found: Some(v), expected: 2 }) if v == "1"
    ));
    assert_eq!(
        init(&mut db).unwrap(),
        InitReport::Upgraded { from: 1, to: 2 }
    );
    assert_eq!(
        init(&mut db).unwrap(),
        InitReport::AlreadyCurrent { version: 2 }
    );
    assert_eq!(
        cluster.psql("SELECT count(*) FROM pam_totp_enrollment"),
        "1"
    );

    // A newer schema (another pam-totp upgraded it): refused, left alone.
    cluster.psql("UPDATE pam_totp_meta SET value = '3' WHERE key = 'schema_version'");
    let error = check_version(&mut db).unwrap_err();
    assert!(
        matches!(&error, DbError::Schema { found: Some(v), expected: 2 } if v == "3"),
        "{error:?}"
    );
    assert!(matches!(init(&mut db), Err(DbError::Schema { .. })));
    assert_eq!(
        cluster.psql("SELECT value FROM pam_totp_meta WHERE key = 'schema_version'"),
        "3"
    );
    cluster.psql("UPDATE pam_totp_meta SET value = 'x' WHERE key = 'schema_version'");
    assert!(matches!(
        check_version(&mut db),
        Err(DbError::Schema { found: Some(_), .. })
    ));
}

#[test]
fn failover_reaches_the_promoted_standby_and_its_data() {
    let mut primary = PgCluster::start(PgOptions::default());
    let mut standby = PgCluster::standby_of(&primary);
    let timeout = Duration::from_secs(3);
    let both = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} \
         target_session_attrs=read-write sslmode=disable",
        primary.port,
        standby.port,
        pg::ROLE,
        pg::PASSWORD,
        pg::DATABASE
    );
    let standby_first = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} \
         target_session_attrs=read-write sslmode=disable",
        standby.port,
        primary.port,
        pg::ROLE,
        pg::PASSWORD,
        pg::DATABASE
    );

    // The standby is skipped while it is read-only, whatever the order.
    for conninfo in [&both, &standby_first] {
        let db = connect(conninfo, timeout).unwrap();
        assert_eq!(db.host(), format!("127.0.0.1:{}", primary.port));
    }
    let mut db = connect(&both, timeout).unwrap();
    init(&mut db).unwrap();
    db.execute_typed(
        "INSERT INTO pam_totp_state (user_name, last_step_start) VALUES ('alice', 1700000010)",
        &[],
    )
    .unwrap();
    drop(db);

    primary.stop();
    // Primary down, standby not promoted: no usable host, and why for each.
    let error = connect(&both, timeout).err().unwrap();
    match &error {
        DbError::AllHostsFailed(errors) => {
            assert!(
                matches!(errors[0], DbError::Unreachable { .. }),
                "{errors:?}"
            );
            assert!(matches!(errors[1], DbError::ReadOnly { .. }), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("read-only standby"), "{error}");

    standby.promote();
    let started = Instant::now();
    let mut db = connect(&both, timeout).unwrap();
    assert!(started.elapsed() < timeout);
    assert_eq!(db.host(), format!("127.0.0.1:{}", standby.port));
    check_version(&mut db).unwrap();
    let rows = db
        .query_typed(
            "SELECT last_step_start FROM pam_totp_state WHERE user_name = $1",
            &[(&"alice", Type::TEXT)],
        )
        .unwrap();
    assert_eq!(rows[0].try_get::<_, i64>(0).unwrap(), 1700000010);
    // And it takes writes.
    assert_eq!(
        db.execute_typed(
            "UPDATE pam_totp_state SET failures = 1 WHERE user_name = 'alice'",
            &[]
        )
        .unwrap(),
        1
    );
}

#[test]
fn a_frozen_first_host_leaves_time_for_the_second() {
    let mut frozen = PgCluster::start(PgOptions::default());
    let good = PgCluster::start(PgOptions::default());
    frozen.freeze();
    let timeout = Duration::from_secs(2);
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} sslmode=disable",
        frozen.port,
        good.port,
        pg::ROLE,
        pg::PASSWORD,
        pg::DATABASE
    );
    let started = Instant::now();
    let db = connect(&conninfo, timeout).unwrap();
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
    assert_eq!(db.host(), format!("127.0.0.1:{}", good.port));
    drop(db);
    frozen.thaw();
}
