//! The PostgreSQL store shared by several hosts: each "host" is a real
//! sshd (or a PAM service through libpam) with its own `state_dir`, and
//! all of them use one real PostgreSQL cluster started by the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::fleet::{Fleet, text};
use common::pg::PgOptions;
use common::sshd::*;
use common::*;

const LOCKED: &str = "Too many failed attempts. Try again in ";
const UNAVAILABLE: &str = "Two-factor authentication is not set up correctly";

fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-3..=3).map(|o| oathtool_code(secret, o)).collect();
    ["000000", "111111", "222222", "333333"]
        .into_iter()
        .find(|c| !near.iter().any(|n| n == c))
        .unwrap()
        .to_string()
}

#[test]
fn two_sshd_hosts_share_used_codes_lockouts_recovery_codes_and_disable() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fleet");
    let key = ClientKey::authorize_for(&user);
    let secret = fleet.enroll(&user.name);
    let a = fleet.sshd_host("pamtotp-fleet-a", "");
    let b = fleet.sshd_host("pamtotp-fleet-b", "");
    let login = |host: &Sshd, code: &str| {
        ssh_login_with(
            host.port,
            &user.name,
            Some(&key.private),
            &[code],
            &["LogLevel=INFO"],
        )
    };

    // A code used on A is refused on B; the next step's code works on B.
    let now = oathtool_code(&secret, 0);
    let on_a = login(&a, &now);
    assert!(on_a.success, "{}\n{}", on_a.stderr, a.log());
    let on_b = login(&b, &now);
    assert!(!on_b.success, "a code used on A was accepted on B");
    assert_eq!(
        on_b.prompts.len(),
        1,
        "B asked for the code: {:?}",
        on_b.prompts
    );
    let next = login(&b, &oathtool_code(&secret, 1));
    assert!(next.success, "{}\n{}", next.stderr, b.log());

    // Three wrong codes on A lock the user out on B, who is told to wait.
    let wrong = wrong_code(&secret);
    for _ in 0..3 {
        assert!(!login(&a, &wrong).success);
    }
    let locked = login(&b, &oathtool_code(&secret, 1));
    assert!(!locked.success);
    assert!(
        locked.prompts.is_empty(),
        "asked while locked: {:?}",
        locked.prompts
    );
    assert!(locked.stderr.contains(LOCKED), "{}", locked.stderr);
    let status = fleet.cli(&["status", "--user", &user.name, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["failures"], 3, "{status}");

    // unlock (run "on B": the same configuration) lifts it on A.
    let unlock = fleet.cli(&["unlock", "--user", &user.name]);
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    let recovery = fleet.recovery_codes(&user.name);
    let after_unlock = login(&a, &recovery[0]);
    assert!(
        after_unlock.success,
        "unlock on B did not count on A: {}",
        after_unlock.stderr
    );

    // A recovery code used on A is refused on B.
    let again = login(&b, &recovery[0]);
    assert!(!again.success, "a recovery code used on A worked on B");
    assert!(login(&b, &recovery[1]).success);

    // disable on A counts on B: not enrolled anywhere (deny), refused.
    let disable = fleet.cli(&["disable", "--user", &user.name]);
    assert!(disable.status.success(), "{}", text(&disable.stderr));
    let gone = login(&b, &recovery[2]);
    assert!(!gone.success, "a disabled user logged in on B");
    assert_eq!(gone.prompts.len(), 1, "deny still asks: {:?}", gone.prompts);
}

#[test]
fn fifty_concurrent_logins_over_two_hosts_with_one_code_yield_one_success() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fleet-race");
    let key = ClientKey::authorize_for(&user);
    let secret = fleet.enroll(&user.name);
    if !common::syslog::can_capture() {
        common::skip("needs mount namespaces to read the module's log lines");
        return;
    }
    let many = "MaxStartups 200\nMaxSessions 200";
    // Never locked out here: every loser is checked, and refused as a replay.
    let args = "max_failures=100";
    let code = oathtool_code(&secret, 0);
    // sshd started inside the capture: its sessions log to the test.
    let (logins, lines) = common::syslog::capture(|| {
        let hosts = [
            fleet.sshd_host_with("pamtotp-race-a", args, many),
            fleet.sshd_host_with("pamtotp-race-b", args, many),
        ];
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
        let threads: Vec<_> = (0..50)
            .map(|i| {
                let barrier = barrier.clone();
                let (name, private, code) = (user.name.clone(), key.private.clone(), code.clone());
                let port = hosts[i % 2].port;
                std::thread::spawn(move || {
                    barrier.wait();
                    ssh_login_with(port, &name, Some(&private), &[&code], &["LogLevel=INFO"])
                })
            })
            .collect();
        // Each session logged its line before its client heard the result.
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<Login>>()
    });
    let mine: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(&format!("(user={} ", user.name)))
        .collect();
    let successes = logins.iter().filter(|l| l.success).count();
    let asked = logins.iter().filter(|l| l.prompts.len() == 1).count();
    let accepted = mine
        .iter()
        .filter(|l| l.contains("accepted verification code for time step"))
        .count();
    let replays = mine
        .iter()
        .filter(|l| l.contains("refused: code already used (replay)"))
        .count();
    eprintln!(
        "50 logins over two hosts, one code: {successes} logged in, {asked} asked, {accepted} accepted and {replays} refused as replays in the log"
    );
    assert_eq!(successes, 1, "{mine:#?}");
    assert_eq!(asked, 50, "every login asked for the code once");
    assert_eq!((accepted, replays), (1, 49), "{mine:#?}");
    // The code typed fifty times is in none of the lines (as a number of
    // its own: a pid or a time may hold its digits).
    let alone = |line: &str| {
        line.match_indices(code.as_str()).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + code.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit())
        })
    };
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(!alone(line), "the code in a log line: {line}");
    }
}

#[test]
fn twenty_concurrent_wrong_guesses_over_two_hosts_check_at_most_max_failures() {
    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let wrong = wrong_code(&secret);
    let hosts = std::sync::Arc::new([
        fleet.pam_host("guess-a", "max_failures=3"),
        fleet.pam_host("guess-b", "max_failures=3"),
    ]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let (barrier, hosts, user, wrong) =
                (barrier.clone(), hosts.clone(), user.clone(), wrong.clone());
            std::thread::spawn(move || {
                barrier.wait();
                hosts[i % 2].authenticate(&user, answer(&wrong))
            })
        })
        .collect();
    let outcomes: Vec<Outcome> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let seen: Vec<(i32, Vec<String>)> = outcomes.iter().map(|o| (o.code, o.errors())).collect();
    // Checked and counted without a lockout message: failures 1 and 2,
    // PAM_AUTH_ERR. The third starts the lockout and every other guess
    // meets it: PAM_MAXTRIES with the lockout message. A compare-and-set
    // loser refused as unavailable (PAM_AUTHINFO_UNAVAIL) is neither.
    let plain = seen
        .iter()
        .filter(|(code, errors)| *code == PAM_AUTH_ERR && errors.is_empty())
        .count();
    let locked = seen
        .iter()
        .filter(|(code, errors)| {
            *code == PAM_MAXTRIES && errors.len() == 1 && errors[0].starts_with(LOCKED)
        })
        .count();
    assert_eq!((plain, locked), (2, 18), "{seen:?}");
    let failures = fleet.db.psql(&format!(
        "SELECT failures FROM pam_totp_state WHERE user_name = '{user}'"
    ));
    assert_eq!(failures.trim(), "3", "codes checked and counted");
}

#[test]
fn the_database_stopped_frozen_or_refusing_fails_closed_in_bounded_time() {
    if skip_unless_root("the fleet test needs root") {
        return;
    }
    let mut fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fleet-down");
    let key = ClientKey::authorize_for(&user);
    let secret = fleet.enroll(&user.name);
    let host = fleet.sshd_host("pamtotp-down-a", "");
    let pam = fleet.pam_host("down-b", "");
    fleet.db.stop();
    let why = refused_in_time(
        &fleet,
        &pam,
        &host,
        &user.name,
        &key.private,
        &secret,
        "stopped",
    );
    assert!(why.contains("unreachable"), "{why}");
    fleet.db.start_again();
    assert!(
        pam.authenticate(&user.name, answer(&oathtool_code(&secret, 0)))
            .code
            == PAM_SUCCESS
    );

    fleet.db.freeze();
    let why = refused_in_time(
        &fleet,
        &pam,
        &host,
        &user.name,
        &key.private,
        &secret,
        "frozen",
    );
    assert!(why.contains("did not complete the connection"), "{why}");
    fleet.db.thaw();

    let good = std::fs::read_to_string(fleet.database_file()).unwrap();
    fleet.write_conninfo(&good.replace(common::pg::PASSWORD, "not-the-password"));
    let why = refused_in_time(
        &fleet,
        &pam,
        &host,
        &user.name,
        &key.private,
        &secret,
        "wrong password",
    );
    assert!(why.contains("refused the credentials"), "{why}");
    fleet.write_conninfo(&good);

    fleet
        .db
        .psql("UPDATE pam_totp_meta SET value = '99' WHERE key = 'schema_version'");
    let why = refused_in_time(
        &fleet,
        &pam,
        &host,
        &user.name,
        &key.private,
        &secret,
        "unknown schema version",
    );
    assert!(why.contains("schema"), "{why}");
    fleet
        .db
        .psql("UPDATE pam_totp_meta SET value = '2' WHERE key = 'schema_version'");

    // Back up again: logins work (the next step, step 0 was used above).
    let outcome = pam.authenticate(&user.name, answer(&oathtool_code(&secret, 1)));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
}

/// A login through libpam and one through sshd while the database is
/// broken: refused within the bounds, sshd alive; what `status` says.
fn refused_in_time(
    fleet: &Fleet,
    pam: &Service,
    host: &Sshd,
    user: &str,
    key: &std::path::Path,
    secret: &str,
    what: &str,
) -> String {
    let timeout = Duration::from_secs(common::fleet::DATABASE_TIMEOUT);
    let started = Instant::now();
    let (outcome, logged) =
        common::syslog::capture(|| pam.authenticate(user, answer(&oathtool_code(secret, 0))));
    let took = started.elapsed();
    // The module's log line says why, and what to check. glibc's syslog
    // connection is one per process, so other tests' lines arrive too:
    // keep this user's.
    let refusal = common::syslog::refusal_naming(&logged, &format!("(user={user} "))
        .unwrap_or_else(|| panic!("{what}: no refusal logged: {logged:?}"));
    assert!(refusal.contains("database"), "{what}: {refusal}");
    assert!(
        refusal.contains("check") || refusal.contains("run `"),
        "{what}: says what to do: {refusal}"
    );
    assert_eq!(
        outcome.code, PAM_AUTHINFO_UNAVAIL,
        "{what}: {:?}",
        outcome.shown
    );
    assert!(
        outcome.errors().iter().any(|e| e.starts_with(UNAVAILABLE)),
        "{what}: {:?}",
        outcome.shown
    );
    assert!(outcome.prompts().is_empty(), "{what}: asked for a code");
    // Connect and one statement, each bounded, plus a margin.
    assert!(
        took < timeout * 2 + Duration::from_secs(1),
        "{what}: took {took:?}"
    );
    let started = Instant::now();
    let login = ssh_login(host.port, user, Some(key), &[&oathtool_code(secret, 0)]);
    let took = started.elapsed();
    assert!(!login.success, "{what}: logged in through sshd");
    // Through sshd too, bounded by the module's timeouts (plus the ssh
    // handshake), far from sshd's own LoginGraceTime of two minutes.
    assert!(
        took < timeout * 2 + Duration::from_secs(15),
        "{what}: the ssh login took {took:?}"
    );
    // sshd is unharmed: it still accepts connections.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", host.port)).is_ok(),
        "{what}"
    );
    // The command names the cause.
    let status = fleet.cli(&["status", "--user", user]);
    assert!(!status.status.success());
    format!("{refusal}\n{}", text(&status.stderr))
}

#[test]
fn a_code_used_before_a_failover_is_refused_after_it() {
    if !common::syslog::can_capture() {
        common::skip("needs mount namespaces to read why the replay was refused");
        return;
    }
    let primary = common::pg::PgCluster::start(PgOptions::default());
    let mut standby = common::pg::PgCluster::standby_of(&primary);
    // The standby first: only target_session_attrs sends the module past
    // it to the primary, before the failover.
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
    let a = fleet.pam_host("failover-a", "");
    let b = fleet.pam_host("failover-b", "");
    let code = oathtool_code(&secret, 0);
    assert_eq!(a.authenticate(&user, answer(&code)).code, PAM_SUCCESS);

    fleet.db.stop();
    standby.promote();
    let (replay, lines) = common::syslog::capture(|| b.authenticate(&user, answer(&code)));
    assert_eq!(
        replay.code, PAM_AUTH_ERR,
        "replayed after the failover: {:?}",
        replay.shown
    );
    // Refused as a replay, not as a code that expired meanwhile.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("refused: code already used (replay)")
                && l.contains(&format!("(user={user} "))),
        "{lines:#?}"
    );
    let next = b.authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(next.code, PAM_SUCCESS, "{:?}", next.shown);
    drop(standby);
}

#[test]
fn tls_verify_full_works_and_a_wrong_ca_fails_closed() {
    let fleet = Fleet::start_with(PgOptions { tls: true }, None);
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("tls-a", "");
    let ca = fleet.db.ca_cert();
    fleet.write_conninfo(
        &fleet
            .db
            .conninfo_with(&format!("sslmode=verify-full sslrootcert={}", ca.display()))
            .replace("sslmode=disable", ""),
    );
    let outcome = host.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);

    let other_ca = common::pg::make_ca(fleet.dir.path(), "other");
    fleet.write_conninfo(
        &fleet
            .db
            .conninfo_with(&format!(
                "sslmode=verify-full sslrootcert={}",
                other_ca.display()
            ))
            .replace("sslmode=disable", ""),
    );
    let outcome = host.authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    let status = fleet.cli(&["status", "--user", &user]);
    assert!(
        text(&status.stderr).contains("TLS"),
        "{}",
        text(&status.stderr)
    );
}

#[test]
fn the_database_holds_no_secret_and_rows_do_not_move_between_users_or_keys() {
    let fleet = Fleet::start();
    let user = current_user();
    let enroll = fleet.cli(&[
        "enroll",
        "--user",
        &user,
        "--no-confirm",
        "--json",
        "--force",
    ]);
    assert!(enroll.status.success(), "{}", text(&enroll.stderr));
    let json: serde_json::Value = serde_json::from_slice(&enroll.stdout).unwrap();
    let secret = json["secret"].as_str().unwrap().to_string();
    let recovery: Vec<String> = json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert!(!recovery.is_empty());
    let raw = base32_decode(&secret);
    let key = std::fs::read(fleet.key_file()).unwrap();
    assert_eq!(key.len(), 32);
    let dump = std::process::Command::new("setpriv")
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "pg_dump",
        ])
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &fleet.db.port.to_string(),
            "-U",
            common::pg::ROLE,
            common::pg::DATABASE,
        ])
        .env("PGPASSWORD", common::pg::PASSWORD)
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", text(&dump.stderr));
    let dump = dump.stdout;
    let dump_text = text(&dump);
    assert!(
        dump_text.contains("pam_totp_enrollment"),
        "the dump has the table"
    );
    // Positive control: the dump holds the user's row.
    assert!(dump_text.contains(&user), "the dump has the user's row");
    let forms_of = |bytes: &[u8]| -> Vec<String> {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut forms = vec![hex.to_uppercase(), hex];
        forms.extend(base64_at_every_alignment(bytes));
        forms
    };
    let mut forms = vec![secret.clone(), secret.to_lowercase()];
    forms.extend(forms_of(&raw));
    forms.extend(forms_of(&key));
    for code in &recovery {
        let canonical = code.replace('-', "");
        forms.extend([
            code.clone(),
            code.to_uppercase(),
            canonical.to_uppercase(),
            canonical,
        ]);
    }
    // The scan finds what it looks for: the same forms in a text that
    // holds them, at a shifted base64 alignment too.
    let mut planted = b"x".to_vec();
    planted.extend(&raw);
    let control = format!("{dump_text} {}", base64(&planted));
    let shifted = &base64_at_every_alignment(&raw)[1];
    assert!(
        control.contains(shifted.as_str()) && !dump_text.contains(shifted.as_str()),
        "the scan misses base64 at an offset"
    );
    for form in &forms {
        assert!(
            !dump_text.to_lowercase().contains(&form.to_lowercase()),
            "the dump holds a secret, key or recovery code as {form}"
        );
    }
    for bytes in [&raw, &key] {
        assert!(
            !dump.windows(bytes.len()).any(|w| w == bytes.as_slice()),
            "raw secret or key bytes in the dump"
        );
    }

    // A row copied to another user does not log that user in.
    let other = "pamtotp-fleet-copy";
    fleet.db.psql(&format!(
        "INSERT INTO pam_totp_enrollment (user_name, secret, recovery) SELECT '{other}', secret, recovery FROM pam_totp_enrollment WHERE user_name = '{user}'"
    ));
    let victim = TestUser::create(other);
    let host = fleet.pam_host("copy-a", "");
    let outcome = host.authenticate(&victim.name, answer(&oathtool_code(&secret, 0)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);

    // A host with another key refuses.
    std::fs::remove_file(fleet.key_file()).unwrap();
    std::fs::write(fleet.key_file(), [7u8; 32]).unwrap();
    set_mode(&fleet.key_file(), 0o600);
    let outcome = host.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
}

/// The parts of `bytes`' base64 that do not depend on what comes before
/// or after them, for each of the three alignments it can start at.
fn base64_at_every_alignment(bytes: &[u8]) -> Vec<String> {
    (0..3)
        .map(|shift| {
            let mut shifted = vec![0u8; shift];
            shifted.extend(bytes);
            let text = base64(&shifted);
            // Characters holding bits of the padding before, or of what
            // follows the last full group, are left out.
            let start = (shift * 8).div_ceil(6);
            let end = (shifted.len() / 3) * 4;
            text[start..end.max(start)].to_string()
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[test]
fn db_import_keeps_used_steps_and_recovery_codes_and_db_init_twice_is_harmless() {
    let fleet = Fleet::start();
    // db init again once a user is enrolled: the key and the enrollment
    // stay as they were (the user still logs in with the same secret).
    let enrolled = TestUser::create("pamtotp-fleet-init");
    let enrolled_secret = fleet.enroll(&enrolled.name);
    let key = std::fs::read(fleet.key_file()).unwrap();
    let again = fleet.cli(&["db", "init"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("already"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(
        std::fs::read(fleet.key_file()).unwrap(),
        key,
        "db init replaced the key"
    );
    let rows = fleet.db.psql(&format!(
        "SELECT count(*) FROM pam_totp_enrollment WHERE user_name = '{}'",
        enrolled.name
    ));
    assert_eq!(rows.trim(), "1");
    let init_host = fleet.pam_host("init-a", "");
    let outcome =
        init_host.authenticate(&enrolled.name, answer(&oathtool_code(&enrolled_secret, 0)));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);

    // A host on the files store, with a used code and a used recovery code.
    let files = tempfile::tempdir().unwrap();
    let files_config = files.path().join("config.toml");
    let state_dir = files.path().join("state");
    std::fs::create_dir(files.path().join("secrets")).unwrap();
    std::fs::write(
        &files_config,
        format!(
            "secret_path = \"{0}/secrets/%u.toml\"\nstate_dir = \"{1}\"\n",
            files.path().display(),
            state_dir.display()
        ),
    )
    .unwrap();
    let user = current_user();
    let cli_files = |args: &[&str]| {
        std::process::Command::new(cli_path())
            .arg("--config")
            .arg(&files_config)
            .args(args)
            .output()
            .unwrap()
    };
    let enroll = cli_files(&["enroll", "--user", &user, "--no-confirm", "--json"]);
    assert!(enroll.status.success(), "{}", text(&enroll.stderr));
    let json: serde_json::Value = serde_json::from_slice(&enroll.stdout).unwrap();
    let secret = json["secret"].as_str().unwrap().to_string();
    let recovery: Vec<String> = json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let files_host = Service::with_args(&format!("config={}", files_config.display()));
    let code = oathtool_code(&secret, 0);
    assert_eq!(
        files_host.authenticate(&user, answer(&code)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        files_host.authenticate(&user, answer(&recovery[0])).code,
        PAM_SUCCESS
    );

    // db import with the fleet's database and this host's files.
    let mixed = files.path().join("import.toml");
    std::fs::write(
        &mixed,
        format!(
            "{}database_file = \"{}\"\nsecret_key_file = \"{}\"\n",
            std::fs::read_to_string(&files_config).unwrap(),
            fleet.database_file().display(),
            fleet.key_file().display()
        ),
    )
    .unwrap();
    let import = std::process::Command::new(cli_path())
        .arg("--config")
        .arg(&mixed)
        .args(["db", "import", "--user", &user])
        .output()
        .unwrap();
    assert!(import.status.success(), "{}", text(&import.stderr));
    assert!(
        text(&import.stdout).contains(&format!("{user}: copied")),
        "{}",
        text(&import.stdout)
    );
    let twice = std::process::Command::new(cli_path())
        .arg("--config")
        .arg(&mixed)
        .args(["db", "import", "--user", &user])
        .output()
        .unwrap();
    assert!(
        text(&twice.stdout).contains("skipped, already enrolled"),
        "{}",
        text(&twice.stdout)
    );

    let fleet_host = fleet.pam_host("import-a", "");
    assert_eq!(
        fleet_host.authenticate(&user, answer(&code)).code,
        PAM_AUTH_ERR,
        "used step revived"
    );
    assert_eq!(
        fleet_host.authenticate(&user, answer(&recovery[0])).code,
        PAM_AUTH_ERR,
        "used recovery code revived"
    );
    assert_eq!(
        fleet_host.authenticate(&user, answer(&recovery[1])).code,
        PAM_SUCCESS
    );
}

#[test]
fn a_user_who_is_not_root_is_told_where_enrollments_are_and_nothing_is_written() {
    if skip_unless_root("needs root to run the command as another user") {
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-fleet-user");
    let before = fleet.db.psql("SELECT count(*) FROM pam_totp_enrollment");
    set_mode(fleet.dir.path(), 0o755);
    let out = user.run(
        cli_path().to_str().unwrap(),
        &[
            "--config",
            fleet.config().to_str().unwrap(),
            "enroll",
            "--no-confirm",
        ],
    );
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(said.contains("kept centrally in a database"), "{said}");
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert_eq!(
        fleet.db.psql("SELECT count(*) FROM pam_totp_enrollment"),
        before
    );
}

fn hotp_code(hex: &str, counter: u64) -> String {
    let out = std::process::Command::new("oathtool")
        .args(["--hotp", "-c", &counter.to_string(), hex])
        .output()
        .unwrap();
    assert!(out.status.success());
    text(&out.stdout).trim().to_string()
}

#[test]
fn an_hotp_counter_is_accepted_once_across_hosts_by_the_same_conditional_update() {
    let fleet = Fleet::start();
    let user = current_user();
    let hex = "3132333435363738393031323334353637383930";
    let enroll = fleet.cli(&[
        "enroll",
        "--user",
        &user,
        "--hotp",
        "--secret-hex",
        hex,
        "--no-confirm",
        "--json",
        "--force",
    ]);
    assert!(enroll.status.success(), "{}", text(&enroll.stderr));
    let hosts = std::sync::Arc::new([
        fleet.pam_host("hotp-a", "max_failures=1000"),
        fleet.pam_host("hotp-b", "max_failures=1000"),
    ]);
    // 50 concurrent logins over two hosts with the code for counter 2.
    let code = hotp_code(hex, 2);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let (barrier, hosts, user, code) =
                (barrier.clone(), hosts.clone(), user.clone(), code.clone());
            std::thread::spawn(move || {
                barrier.wait();
                hosts[i % 2].authenticate(&user, answer(&code)).code
            })
        })
        .collect();
    let codes: Vec<i32> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == PAM_SUCCESS).count(),
        1,
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|c| *c == PAM_SUCCESS || *c == PAM_AUTH_ERR),
        "{codes:?}"
    );
    let last = fleet.db.psql(&format!(
        "SELECT last_counter FROM pam_totp_state WHERE user_name = '{user}'"
    ));
    assert_eq!(last.trim(), "2");
    // Earlier counters never work again, on either host; the next one does.
    for counter in 0..=2 {
        let outcome = hosts[1].authenticate(&user, answer(&hotp_code(hex, counter)));
        assert_eq!(outcome.code, PAM_AUTH_ERR, "counter {counter}");
    }
    assert_eq!(
        hosts[0]
            .authenticate(&user, answer(&hotp_code(hex, 3)))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn enrolled_at_a_login_on_one_host_asked_for_a_code_on_another() {
    let fleet = Fleet::start();
    let user = current_user();
    let a = fleet.pam_host("enroll-a", "unenrolled=enroll");
    let b = fleet.pam_host("enroll-b", "unenrolled=enroll");
    let shown_secret = |shown: &[(String, String)]| {
        shown
            .iter()
            .flat_map(|(_, text)| text.lines())
            .find_map(|line| line.strip_prefix("Secret:  "))
            .map(|grouped| grouped.replace(' ', ""))
    };
    let outcome = a.authenticate_responding(
        &user,
        Box::new(move |shown, prompt| {
            if prompt.contains("code the app shows now") {
                let secret = shown_secret(shown).expect("the secret is shown");
                Some(oathtool_code(&secret, 0).into_bytes())
            } else {
                Some(Vec::new())
            }
        }),
    );
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    let secret = outcome
        .shown
        .iter()
        .flat_map(|(_, text)| text.lines())
        .find_map(|line| line.strip_prefix("Secret:  "))
        .map(|grouped| grouped.replace(' ', ""))
        .unwrap();
    let rows = fleet.db.psql(&format!(
        "SELECT count(*) FROM pam_totp_enrollment WHERE user_name = '{user}'"
    ));
    assert_eq!(rows.trim(), "1", "the enrollment is a database row");
    // On B: asked for a code, not enrolled again; the confirming code is used.
    let replay = b.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(replay.code, PAM_AUTH_ERR, "{:?}", replay.shown);
    assert!(
        replay.shown.iter().all(|(_, t)| !t.contains("otpauth://")),
        "enrolled again on B: {:?}",
        replay.shown
    );
    assert_eq!(replay.prompts().len(), 1);
    let next = b.authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(next.code, PAM_SUCCESS, "{:?}", next.shown);
}
