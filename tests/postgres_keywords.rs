//! libpq's connection keywords against real PostgreSQL clusters started by
//! the tests: `connect_timeout` per host attempt, keepalives on the socket,
//! `channel_binding`, `require_auth`, `target_session_attrs`,
//! `load_balance_hosts`, `passfile`, client certificates (pg_hba `cert`),
//! `sslcrl`, a Unix-socket host with an `sslmode`, and the rules for every
//! file the string names (`sslrootcert=system` ignores `SSL_CERT_FILE`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::pg::{self, PgCluster, PgOptions};
use common::ports::reserve_port;
use common::{set_mode, skip_unless_root};
use pam_totp::store::postgres::{ConnInfo, ConnInfoError, Database, DbError};

fn connect(conninfo: &str, timeout: Duration) -> Result<Database, DbError> {
    Database::connect(&ConnInfo::parse(conninfo).unwrap(), timeout)
}

fn one_text(db: &mut Database, sql: &str) -> Option<String> {
    db.simple_query(sql).unwrap()[0][0].clone()
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn socket_dir(cluster: &PgCluster) -> String {
    cluster.psql("SHOW unix_socket_directories")
}

/// The role, database and port, without password or TLS keywords.
fn base(cluster: &PgCluster) -> String {
    format!(
        "host=127.0.0.1 port={} user={} dbname={}",
        cluster.port,
        pg::ROLE,
        pg::DATABASE
    )
}

#[test]
fn connect_timeout_bounds_each_host_attempt_and_the_next_host_is_reached() {
    // A black hole: the kernel completes the TCP handshake into the
    // listen backlog and nothing ever answers.
    let hole = reserve_port();
    let port = hole.port();
    drop(hole);
    let _listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let good = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(6);
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={port},{} user={} password={} dbname={} sslmode=disable connect_timeout=2",
        good.port,
        pg::ROLE,
        pg::PASSWORD,
        pg::DATABASE
    );
    let started = Instant::now();
    let db = connect(&conninfo, timeout).unwrap();
    let took = started.elapsed();
    assert_eq!(db.host(), format!("127.0.0.1:{}", good.port));
    // The first host had its 2 s (not half of database_timeout, 3 s).
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2900),
        "{took:?}"
    );
    drop(db);
    // connect_timeout=1 is taken as 2 (libpq); within database_timeout
    // every host attempt ends when the whole connection's time is up.
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={port},{port} user=u password=p sslmode=disable connect_timeout=10"
    );
    let started = Instant::now();
    let error = connect(&conninfo, Duration::from_secs(2)).err().unwrap();
    assert!(started.elapsed() < Duration::from_millis(2500), "{error}");
    assert!(error.to_string().contains("did not complete"), "{error}");
}

/// The keepalive timer `ss` shows on our socket to `port`, in seconds.
fn keepalive_timer(port: u16) -> Option<f64> {
    let output = Command::new("ss")
        .args(["-tno", "dst", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let timer = text.split("timer:(keepalive,").nth(1)?;
    let number: String = timer
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok()
}

#[test]
fn keepalives_and_tcp_user_timeout_are_set_on_the_socket() {
    let cluster = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(5);
    let db = connect(
        &cluster.conninfo_with(
            "keepalives=1 keepalives_idle=7 keepalives_interval=3 keepalives_count=4 tcp_user_timeout=9000",
        ),
        timeout,
    )
    .unwrap();
    let timer = keepalive_timer(cluster.port).expect("a keepalive timer on the socket");
    assert!((5.0..=7.0).contains(&timer), "{timer}");
    drop(db);
    let db = connect(&cluster.conninfo_with("keepalives=0"), timeout).unwrap();
    assert_eq!(keepalive_timer(cluster.port), None);
    drop(db);
}

#[test]
fn channel_binding_require_needs_scram_over_tls_and_fails_closed_without() {
    let tls = PgCluster::start(PgOptions { tls: true });
    let timeout = Duration::from_secs(5);
    let mut db = connect(
        &tls.conninfo_with(&format!(
            "sslmode=verify-full sslrootcert={} channel_binding=require",
            tls.ca_cert().display()
        )),
        timeout,
    )
    .unwrap();
    assert_eq!(one_text(&mut db, "SELECT 1").as_deref(), Some("1"));
    drop(db);
    // A server without TLS: prefer falls back to plain text, and
    // channel_binding=require then refuses to authenticate.
    let plain = PgCluster::start(PgOptions::default());
    let error = connect(
        &plain.conninfo_with("sslmode=prefer channel_binding=require"),
        timeout,
    )
    .err()
    .unwrap();
    assert!(
        matches!(&error, DbError::Authentication { message, .. } if message.contains("channel binding")),
        "{error:?}"
    );
}

#[test]
fn require_auth_refuses_a_method_before_answering_it() {
    let cluster = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(5);
    for ok in [
        "require_auth=scram-sha-256",
        "require_auth=password,scram-sha-256",
        "require_auth=!md5,!password",
    ] {
        connect(&cluster.conninfo_with(ok), timeout).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, says) in [
        ("require_auth=password", "scram-sha-256 authentication"),
        // After an SSLRequest the server declined ("N"): read on plain text.
        (
            "sslmode=prefer require_auth=password",
            "scram-sha-256 authentication",
        ),
        ("require_auth=md5,gss", "scram-sha-256 authentication"),
        (
            "require_auth=!scram-sha-256",
            "scram-sha-256 authentication",
        ),
        ("require_auth=none", "scram-sha-256 authentication"),
    ] {
        let error = connect(&cluster.conninfo_with(bad), timeout).err().unwrap();
        assert!(
            matches!(&error, DbError::Authentication { message, .. } if message.contains(says) && message.contains("require_auth")),
            "{bad}: {error:?}"
        );
    }
    // Trust on the Unix socket: no authentication exchange at all.
    let socket = format!(
        "host={} port={} user={} dbname={}",
        socket_dir(&cluster),
        cluster.port,
        pg::ROLE,
        pg::DATABASE
    );
    connect(&format!("{socket} require_auth=none"), timeout).unwrap();
    let error = connect(&format!("{socket} require_auth=scram-sha-256"), timeout)
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains("without asking for any authentication"),
        "{error}"
    );
}

/// A server that turns the first tries away for want of slots (53300,
/// "too many clients already", sent before any authentication) and then
/// asks for a method `require_auth` forbids: the try that gets in is
/// watched from its first byte like the first one, and refused before the
/// password is sent.
#[test]
fn require_auth_holds_on_a_try_after_the_server_was_full() {
    let mut cluster = PgCluster::start(PgOptions::default());
    cluster.hba_first(&format!("host all {} 127.0.0.1/32 password", pg::ROLE));
    cluster.psql_db("postgres", "ALTER SYSTEM SET max_connections = 4");
    cluster.stop();
    cluster.start_again();
    let conninfo = cluster.conninfo_with("sslmode=disable require_auth=scram-sha-256");
    let refused_because = |error: &DbError| {
        matches!(error, DbError::Authentication { message, .. }
            if message.contains("password authentication") && message.contains("require_auth"))
    };
    // Positive control, slots free: refused on the first try.
    let error = connect(&conninfo, Duration::from_secs(5)).err().unwrap();
    assert!(refused_because(&error), "{error:?}");
    // Every slot taken (superusers on the socket): the tries wait.
    let socket = format!(
        "host={} port={} user=postgres dbname=postgres",
        socket_dir(&cluster),
        cluster.port
    );
    let mut holders: Vec<Database> = (0..4)
        .map(|_| connect(&socket, Duration::from_secs(5)).unwrap())
        .collect();
    let waiting = std::thread::spawn(move || connect(&conninfo, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(400));
    // All freed (the role needs superuser_reserved_connections free
    // besides its own): the next try gets in as far as authentication.
    holders.clear();
    let error = match waiting.join().unwrap() {
        Ok(_) => panic!("connected: the password went out despite require_auth"),
        Err(error) => error,
    };
    assert!(refused_because(&error), "{error:?}");
    // It was the retry that was refused: the server had turned tries away.
    assert!(
        cluster.log().contains("sorry, too many clients already"),
        "{}",
        cluster.log()
    );
}

/// The iteration count of the role's SCRAM verifier, as the server gave
/// it: PostgreSQL's 4096, then the 16 of a verifier set by hand.
#[test]
fn the_scram_iteration_count_is_read_from_the_exchange() {
    let cluster = PgCluster::start(PgOptions::default());
    let timeout = Duration::from_secs(5);
    let db = connect(&cluster.conninfo(), timeout).unwrap();
    assert_eq!(db.scram_iterations(), Some(4096));
    drop(db);
    let password = pg::run_readme_password_recipe(&cluster);
    let cheap = cluster.conninfo().replace(pg::PASSWORD, &password);
    let db = connect(&cheap, timeout).unwrap();
    assert_eq!(db.scram_iterations(), Some(16));
    // No SCRAM (trust on the socket): no count.
    let socket = format!(
        "host={} port={} user={} dbname={}",
        socket_dir(&cluster),
        cluster.port,
        pg::ROLE,
        pg::DATABASE
    );
    assert_eq!(connect(&socket, timeout).unwrap().scram_iterations(), None);
}

/// `sslcertmode` (libpq 16): `require` fails where no certificate went
/// out, `disable` keeps it back even with `sslcert`, `allow` sends it when
/// asked.
#[test]
fn sslcertmode_sends_keeps_back_or_requires_the_client_certificate() {
    if skip_unless_root("the key must be root's") {
        return;
    }
    let timeout = Duration::from_secs(5);
    let dir = tempfile::tempdir().unwrap();
    // A server that asks for client certificates (ssl_ca_file set, pg_hba cert).
    let asking = PgCluster::start(PgOptions { tls: true });
    asking.require_client_certificates();
    let (cert, key) = asking.client_certificate(dir.path(), pg::ROLE);
    let with_cert = |cluster: &PgCluster| {
        format!(
            "{} sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
            base(cluster),
            cluster.ca_cert().display(),
            cert.display(),
            key.display()
        )
    };
    for mode in ["", "sslcertmode=allow", "sslcertmode=require"] {
        connect(&format!("{} {mode}", with_cert(&asking)), timeout)
            .unwrap_or_else(|error| panic!("{mode}: {error}"));
    }
    // disable: no certificate goes out, so pg_hba's cert refuses the role.
    let error = connect(
        &format!("{} sslcertmode=disable", with_cert(&asking)),
        timeout,
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("certificate"), "{error}");
    // A server that asks for none (no ssl_ca_file), with a password: the
    // certificate is not sent; allow connects, require refuses.
    let silent = PgCluster::start(PgOptions { tls: true });
    let string = format!(
        "{} password={} sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
        base(&silent),
        pg::PASSWORD,
        silent.ca_cert().display(),
        cert.display(),
        key.display()
    );
    connect(&string, timeout).unwrap();
    let error = connect(&format!("{string} sslcertmode=require"), timeout)
        .err()
        .unwrap();
    assert!(
        matches!(&error, DbError::Authentication { message, .. } if message.contains("sslcertmode=require")),
        "{error:?}"
    );
    let error = ConnInfo::parse(&format!("{string} sslcertmode=always"))
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("disable, allow or require"),
        "{error}"
    );
}

#[test]
fn a_unix_socket_host_ignores_sslmode_as_libpq_does() {
    let cluster = PgCluster::start(PgOptions { tls: true });
    let socket = format!(
        "host={} port={} user={} dbname={}",
        socket_dir(&cluster),
        cluster.port,
        pg::ROLE,
        pg::DATABASE
    );
    for mode in [
        "sslmode=require".to_string(),
        format!(
            "sslmode=verify-full sslrootcert={}",
            cluster.ca_cert().display()
        ),
    ] {
        let mut db = connect(&format!("{socket} {mode}"), Duration::from_secs(5))
            .unwrap_or_else(|error| panic!("{mode}: {error}"));
        assert_eq!(
            one_text(&mut db, "SELECT current_user").as_deref(),
            Some(pg::ROLE)
        );
    }
}

#[test]
fn every_target_session_attrs_picks_its_host() {
    let primary = PgCluster::start(PgOptions::default());
    let standby = PgCluster::standby_of(&primary);
    let timeout = Duration::from_secs(5);
    let both = |first: &PgCluster, second: &PgCluster, target: &str| {
        format!(
            "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} sslmode=disable target_session_attrs={target}",
            first.port,
            second.port,
            pg::ROLE,
            pg::PASSWORD,
            pg::DATABASE
        )
    };
    let reached = |conninfo: String| -> u16 {
        let db = connect(&conninfo, timeout).unwrap_or_else(|e| panic!("{conninfo}: {e}"));
        db.host().rsplit(':').next().unwrap().parse().unwrap()
    };
    for (target, first, second, expected) in [
        ("any", &standby, &primary, standby.port),
        ("read-write", &standby, &primary, primary.port),
        ("primary", &standby, &primary, primary.port),
        ("read-only", &primary, &standby, standby.port),
        ("standby", &primary, &standby, standby.port),
        ("prefer-standby", &primary, &standby, standby.port),
        ("prefer-standby", &primary, &primary, primary.port),
    ] {
        assert_eq!(reached(both(first, second, target)), expected, "{target}");
    }
    let error = connect(&both(&primary, &primary, "standby"), timeout)
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("target_session_attrs=standby"),
        "{error}"
    );
}

#[test]
fn load_balance_hosts_random_spreads_the_first_host() {
    let a = PgCluster::start(PgOptions::default());
    let b = PgCluster::start(PgOptions::default());
    let conninfo = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={} password={} dbname={} sslmode=disable load_balance_hosts=random",
        a.port,
        b.port,
        pg::ROLE,
        pg::PASSWORD,
        pg::DATABASE
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..30 {
        seen.insert(
            connect(&conninfo, Duration::from_secs(5))
                .unwrap()
                .host()
                .to_string(),
        );
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn passfile_gives_the_password_and_must_be_root_only() {
    if skip_unless_root("the passfile must be root's") {
        return;
    }
    let cluster = PgCluster::start(PgOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let passfile = dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "# the fleet's role\nother:*:*:*:wrong\n127.0.0.1:{}:{}:{}:{}\n",
            cluster.port,
            pg::DATABASE,
            pg::ROLE,
            pg::PASSWORD
        ),
    )
    .unwrap();
    set_mode(&passfile, 0o600);
    let conninfo = format!(
        "{} sslmode=disable passfile={}",
        base(&cluster),
        passfile.display()
    );
    connect(&conninfo, Duration::from_secs(5)).unwrap();
    set_mode(&passfile, 0o640);
    let error = connect(&conninfo, Duration::from_secs(5)).err().unwrap();
    assert!(
        matches!(
            &error,
            DbError::ConnInfo(ConnInfoError::NamedFile {
                keyword: "passfile",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("mode 0640"), "{error}");
    set_mode(&passfile, 0o600);
    std::os::unix::fs::chown(&passfile, Some(65534), None).unwrap();
    let error = connect(&conninfo, Duration::from_secs(5)).err().unwrap();
    assert!(error.to_string().contains("not by root"), "{error}");
}

#[test]
fn a_client_certificate_logs_in_without_a_password_and_its_files_are_checked() {
    if skip_unless_root("the key must be root's") {
        return;
    }
    let cluster = PgCluster::start(PgOptions { tls: true });
    cluster.require_client_certificates();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = cluster.client_certificate(dir.path(), pg::ROLE);
    let tls = format!(
        "{} sslmode=verify-full sslrootcert={}",
        base(&cluster),
        cluster.ca_cert().display()
    );
    let timeout = Duration::from_secs(5);
    let with_cert = format!("{tls} sslcert={} sslkey={}", cert.display(), key.display());
    let mut db = connect(&with_cert, timeout).unwrap();
    assert_eq!(
        one_text(&mut db, "SELECT current_user").as_deref(),
        Some(pg::ROLE)
    );
    assert_eq!(
        one_text(
            &mut db,
            "SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        )
        .as_deref(),
        Some(format!("/CN={}", pg::ROLE).as_str())
    );
    drop(db);
    // require_auth=none: a certificate needs no authentication exchange
    // (read inside TLS); scram-sha-256 is then refused.
    connect(&format!("{with_cert} require_auth=none"), timeout).unwrap();
    let error = connect(&format!("{with_cert} require_auth=scram-sha-256"), timeout)
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .contains("without asking for any authentication"),
        "{error}"
    );
    // Without the certificate the server refuses (no password either).
    let error = connect(&tls, timeout).err().unwrap();
    assert!(matches!(error, DbError::Authentication { .. }), "{error:?}");
    // The key: root's, no group or other bits (same rules and words as
    // the other protected files); the certificate: not writable by others.
    set_mode(&key, 0o640);
    let error = connect(&with_cert, timeout).err().unwrap();
    assert!(
        error.to_string().contains("sslkey") && error.to_string().contains("mode 0640"),
        "{error}"
    );
    set_mode(&key, 0o600);
    set_mode(&cert, 0o664);
    let error = connect(&with_cert, timeout).err().unwrap();
    assert!(
        error.to_string().contains("sslcert") && error.to_string().contains("chmod go-w"),
        "{error}"
    );
    set_mode(&cert, 0o644);
    std::os::unix::fs::chown(&cert, Some(65534), None).unwrap();
    let error = connect(&with_cert, timeout).err().unwrap();
    assert!(error.to_string().contains("not by root"), "{error}");
    std::os::unix::fs::chown(&cert, Some(0), None).unwrap();
    connect(&with_cert, timeout).unwrap();
}

#[test]
fn sslrootcert_files_follow_the_rules_and_system_ignores_the_environment() {
    if skip_unless_root("the files must be root's") {
        return;
    }
    let cluster = PgCluster::start(PgOptions { tls: true });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::copy(cluster.ca_cert(), &ca).unwrap();
    set_mode(&ca, 0o644);
    let conninfo =
        cluster.conninfo_with(&format!("sslmode=verify-full sslrootcert={}", ca.display()));
    connect(&conninfo, Duration::from_secs(5)).unwrap();
    // Writable by others: whoever can write it chooses whom we trust.
    set_mode(&ca, 0o666);
    let error = connect(&conninfo, Duration::from_secs(5)).err().unwrap();
    assert!(
        error.to_string().contains("sslrootcert") && error.to_string().contains("mode 0666"),
        "{error}"
    );
    set_mode(&ca, 0o644);
    std::os::unix::fs::chown(&ca, Some(65534), None).unwrap();
    assert!(connect(&conninfo, Duration::from_secs(5)).is_err());

    // sslrootcert=system with SSL_CERT_FILE naming the test CA: the
    // variable belongs to whoever calls PAM, so it is not followed.
    let config = dir.path().join("config.toml");
    let database = dir.path().join("database.conf");
    std::fs::write(
        &database,
        cluster.conninfo_with("sslmode=verify-full sslrootcert=system"),
    )
    .unwrap();
    set_mode(&database, 0o600);
    std::fs::write(
        &config,
        format!(
            "store = \"postgresql\"\ndatabase_file = \"{}\"\nsecret_key_file = \"{}/secret.key\"\ndatabase_timeout = 3\n",
            database.display(),
            dir.path().display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    let ca_dir = dir.path().join("certs");
    std::fs::create_dir(&ca_dir).unwrap();
    std::fs::set_permissions(&ca_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(cluster.ca_cert(), ca_dir.join("ca.pem")).unwrap();
    let output = Command::new(common::sshd::cli_path())
        .arg("--config")
        .arg(&config)
        .args(["db", "init"])
        .env("SSL_CERT_FILE", cluster.ca_cert())
        .env("SSL_CERT_DIR", &ca_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "trusted SSL_CERT_FILE: {stderr}");
    // The test CA is not in the system's bundle (or there is no bundle).
    assert!(
        stderr.contains("UnknownIssuer") || stderr.contains("no system CA bundle found"),
        "{stderr}"
    );
}

/// A CRL from the cluster's test CA, revoking the server's certificate
/// if `revoke`.
fn crl(cluster: &PgCluster, dir: &Path, revoke: bool) -> PathBuf {
    let ca = cluster.ca_cert();
    let ca_key = ca.with_file_name("ca.key");
    let server = ca.with_file_name("server.crt");
    let work = dir.join(if revoke { "revoked" } else { "empty" });
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("index.txt"), "").unwrap();
    std::fs::write(work.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        work.join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = test\n[test]\ndatabase = {0}/index.txt\ncrlnumber = {0}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 2\n",
            work.display()
        ),
    )
    .unwrap();
    let common = [
        "ca",
        "-config",
        "ca.cnf",
        "-cert",
        ca.to_str().unwrap(),
        "-keyfile",
        ca_key.to_str().unwrap(),
    ];
    if revoke {
        let mut args = common.to_vec();
        args.extend(["-revoke", server.to_str().unwrap()]);
        openssl(&work, &args);
    }
    let out = work.join("crl.pem");
    let mut args = common.to_vec();
    args.extend(["-gencrl", "-out", out.to_str().unwrap()]);
    openssl(&work, &args);
    set_mode(&out, 0o644);
    out
}

#[test]
fn sslcrl_revokes_the_servers_certificate() {
    if skip_unless_root("the CRL must be root's") {
        return;
    }
    let cluster = PgCluster::start(PgOptions { tls: true });
    let dir = tempfile::tempdir().unwrap();
    let verify = format!(
        "sslmode=verify-full sslrootcert={}",
        cluster.ca_cert().display()
    );
    let empty = crl(&cluster, dir.path(), false);
    connect(
        &cluster.conninfo_with(&format!("{verify} sslcrl={}", empty.display())),
        Duration::from_secs(5),
    )
    .unwrap();
    let revoked = crl(&cluster, dir.path(), true);
    let error = connect(
        &cluster.conninfo_with(&format!("{verify} sslcrl={}", revoked.display())),
        Duration::from_secs(5),
    )
    .err()
    .unwrap();
    assert!(
        matches!(&error, DbError::Tls { reason, .. } if reason.contains("Revoked")),
        "{error:?}"
    );
}

/// `pam-totp check` with a fleet's configuration; (exit code, stdout).
fn lines<'a>(stdout: &'a str, kind: &str) -> Vec<&'a str> {
    let prefix = format!("{kind}: ");
    stdout
        .lines()
        .filter(|line| line.starts_with(&prefix) && !line.contains("/dev/log"))
        .collect()
}

#[test]
fn check_reads_the_certificate_files_and_says_when_a_password_could_be_a_certificate() {
    if skip_unless_root("the files must be root's") {
        return;
    }
    let cluster = PgCluster::start(PgOptions { tls: true });
    let verify = format!(
        "sslmode=verify-full sslrootcert={}",
        cluster.ca_cert().display()
    );
    let with_password = cluster.conninfo_with(&verify);
    let fleet = common::fleet::Fleet::start_on(cluster, &with_password);
    fleet.enroll("root");
    let (code, stdout) = fleet.check();
    assert_eq!(code, 0, "{stdout}");
    let warnings = lines(&stdout, "warning");
    assert_eq!(warnings.len(), 1, "{stdout}");
    assert!(
        warnings[0].contains("holds the database password") && warnings[0].contains("sslcert"),
        "{}",
        warnings[0]
    );
    assert!(
        lines(&stdout, "ok")
            .iter()
            .any(|l| l.starts_with("ok: sslrootcert ")
                && l.contains("not writable by group or others")),
        "{stdout}"
    );

    // A client certificate and no password: all well, each file named.
    fleet.db.require_client_certificates();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = fleet.db.client_certificate(certs.path(), pg::ROLE);
    let files = format!("sslcert={} sslkey={}", cert.display(), key.display());
    fleet.write_conninfo(&format!("{} {verify} {files}", base(&fleet.db)));
    let (code, stdout) = fleet.check();
    assert_eq!(code, 0, "{stdout}");
    assert!(lines(&stdout, "warning").is_empty(), "{stdout}");
    assert!(lines(&stdout, "problem").is_empty(), "{stdout}");
    let ok = lines(&stdout, "ok");
    assert!(
        ok.iter()
            .any(|l| l.starts_with("ok: sslkey ") && l.contains("no group or other access")),
        "{stdout}"
    );
    assert!(ok.iter().any(|l| l.starts_with("ok: sslcert ")), "{stdout}");
    assert!(
        ok.iter().any(|l| l.contains("connected to database")),
        "{stdout}"
    );

    // The key open to the group: a problem naming the file and the fix.
    set_mode(&key, 0o640);
    let (code, stdout) = fleet.check();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        lines(&stdout, "problem")
            .iter()
            .any(|l| l.contains("sslkey") && l.contains("mode 0640") && l.contains("chmod 600")),
        "{stdout}"
    );
    set_mode(&key, 0o600);
    // The CA file writable by others: whoever can write it picks the server.
    let ca = fleet.db.ca_cert();
    set_mode(&ca, 0o666);
    let (code, stdout) = fleet.check();
    assert_eq!(code, 1, "{stdout}");
    assert!(
        lines(&stdout, "problem")
            .iter()
            .any(|l| l.contains("sslrootcert")
                && l.contains("mode 0666")
                && l.contains("chmod go-w")),
        "{stdout}"
    );
    set_mode(&ca, 0o644);

    // A password besides the certificate: not needed.
    fleet.write_conninfo(&format!(
        "{} password={} {verify} {files}",
        base(&fleet.db),
        pg::PASSWORD
    ));
    let (_, stdout) = fleet.check();
    let warnings = lines(&stdout, "warning");
    assert!(
        warnings.len() == 1 && warnings[0].contains("besides its client certificate"),
        "{stdout}"
    );
}

#[test]
fn a_login_through_libpam_with_a_client_certificate_and_no_password() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let cluster = PgCluster::start(PgOptions { tls: true });
    cluster.require_client_certificates();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = cluster.client_certificate(certs.path(), pg::ROLE);
    let conninfo = format!(
        "{} sslmode=verify-full sslrootcert={} sslcert={} sslkey={} require_auth=none connect_timeout=2 keepalives_idle=30 target_session_attrs=read-write",
        base(&cluster),
        cluster.ca_cert().display(),
        cert.display(),
        key.display()
    );
    assert!(!conninfo.contains("password"));
    let fleet = common::fleet::Fleet::start_on(cluster, &conninfo);
    let user = common::current_user();
    let secret = base32(&fleet.enroll(&user));
    let host = fleet.pam_host("cert", "");
    common::wait_clear_of_a_step_edge();
    let generator = pam_totp::otp::code::Generator::new(
        &secret,
        pam_totp::otp::code::HashAlgorithm::Sha1,
        6,
        30,
    )
    .unwrap();
    let code = generator.code_for_step(generator.step_at(common::now()));
    let outcome = host.authenticate(&user, common::answer(&code));
    assert_eq!(outcome.code, common::PAM_SUCCESS, "{:?}", outcome.shown);
    // The key readable by the group: the login fails closed.
    set_mode(&key, 0o640);
    let outcome = host.authenticate(&user, common::answer(&code));
    assert_eq!(
        outcome.code,
        common::PAM_AUTHINFO_UNAVAIL,
        "{:?}",
        outcome.shown
    );
}

fn base32(text: &str) -> Vec<u8> {
    common::base32_decode(text)
}
