//! The PostgreSQL store on a real Patroni cluster (etcd and three nodes,
//! `synchronous_mode_strict`), reached by the multi-host string with
//! `target_session_attrs=read-write`: two "hosts" log in, round after
//! round, while the leader is killed (Patroni and PostgreSQL, SIGKILL).
//! No (user, time step) is accepted twice, logins succeed again once
//! Patroni has a new leader, none waits past its bound, and the old leader
//! rejoins as a replica.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::patroni::{self, PatroniCluster};
use common::sshd::{TestUser, cli_path};
use common::*;

/// `database_timeout` of the hosts, seconds.
const DATABASE_TIMEOUT: u64 = 3;
/// Logins per host per round, all with the round's code.
const PER_HOST: usize = 2;
/// Users, each with its own codes.
const USERS: usize = 12;
/// Rounds before the leader is killed.
const ROUNDS_BEFORE: usize = 4;
/// Rounds that must succeed after the failover before the storm ends.
const ROUNDS_AFTER: usize = 3;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(conninfo: &str) -> Setup {
        let setup = Setup {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(setup.path("database.conf"), conninfo).unwrap();
        set_mode(&setup.path("database.conf"), 0o600);
        std::fs::write(
            setup.path("config.toml"),
            format!(
                "store = \"postgresql\"\ndatabase_file = \"{}\"\nsecret_key_file = \"{}\"\ndatabase_timeout = {DATABASE_TIMEOUT}\n",
                setup.path("database.conf").display(),
                setup.path("secret.key").display()
            ),
        )
        .unwrap();
        set_mode(&setup.path("config.toml"), 0o644);
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(cli_path())
            .arg("--config")
            .arg(self.path("config.toml"))
            .args(args)
            .output()
            .unwrap()
    }

    /// A "host": its own PAM service and state_dir.
    fn host(&self, name: &str) -> (Service, PathBuf) {
        let state = self.path(&format!("state-{name}"));
        std::fs::create_dir_all(&state).unwrap();
        set_mode(&state, 0o700);
        let service = Service::with_stack(&format!(
            "auth required {} config={} state_dir={} max_failures=1000\n",
            module_path().display(),
            self.path("config.toml").display(),
            state.display()
        ));
        (service, state)
    }
}

struct Round {
    user: usize,
    step: u64,
    successes: usize,
    longest: Duration,
    codes: Vec<i32>,
    after_kill: bool,
}

#[test]
fn logins_on_two_hosts_through_a_patroni_failover_accept_each_step_once() {
    if skip_unless_root("Patroni runs as the postgres user, started by root") {
        return;
    }
    if !patroni::available() {
        eprintln!(
            "skipped: /usr/bin/patroni or /usr/bin/etcd is missing (apt-get install patroni etcd-server)"
        );
        return;
    }
    let test_started = Instant::now();
    let mut cluster = PatroniCluster::start();
    let started_in = test_started.elapsed();
    let setup = Setup::new(&cluster.conninfo("target_session_attrs=read-write"));
    let init = setup.cli(&["db", "init"]);
    assert!(
        init.status.success(),
        "db init: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    // The store's clock is the database's: real time steps. Several users,
    // so that each round has a (user, step) not yet used.
    let users: Vec<TestUser> = (0..USERS)
        .map(|i| TestUser::create(&format!("pamtotp-patroni-{i}")))
        .collect();
    let generators: Vec<pam_totp::otp::code::Generator> = users
        .iter()
        .map(|user| {
            let enroll = setup.cli(&[
                "enroll",
                "--user",
                &user.name,
                "--no-confirm",
                "--json",
                "--force",
            ]);
            assert!(
                enroll.status.success(),
                "enroll: {}",
                String::from_utf8_lossy(&enroll.stderr)
            );
            let json: serde_json::Value = serde_json::from_slice(&enroll.stdout).unwrap();
            let secret = base32_decode(json["secret"].as_str().unwrap());
            pam_totp::otp::code::Generator::new(
                &secret,
                pam_totp::otp::code::HashAlgorithm::Sha1,
                6,
                30,
            )
            .unwrap()
        })
        .collect();
    let hosts = std::sync::Arc::new([setup.host("a"), setup.host("b")]);

    let leader = cluster.wait_for_leader_with_sync_standby(Duration::from_secs(30));
    // Both replicas follow the leader before it dies, so that the new
    // leader has a synchronous standby that can follow it.
    cluster.wait_for_replicas_streaming(leader, Duration::from_secs(60));
    let mut rounds: Vec<Round> = Vec::new();
    // (user, step) pairs used up: accepted, or refused as already used.
    let mut spent: std::collections::HashSet<(usize, u64)> = Default::default();
    let mut accepted: std::collections::HashMap<(usize, u64), usize> = Default::default();
    let mut killed_at: Option<Instant> = None;
    let mut back_after: Option<Duration> = None;
    let mut good_after = 0;
    loop {
        let step = generators[0].step_at(now());
        let Some(user) = (0..USERS).find(|u| !spent.contains(&(*u, step))) else {
            // Every user's code of this step is used: wait for the next step.
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let code = generators[user].code_for_step(step);
        let threads: Vec<_> = (0..2 * PER_HOST)
            .map(|i| {
                let (hosts, name, code) = (hosts.clone(), users[user].name.clone(), code.clone());
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let outcome = hosts[i % 2].0.authenticate(&name, answer(&code));
                    (outcome.code, started.elapsed())
                })
            })
            .collect();
        let results: Vec<(i32, Duration)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let round = Round {
            user,
            step,
            successes: results.iter().filter(|(c, _)| *c == PAM_SUCCESS).count(),
            longest: results.iter().map(|(_, d)| *d).max().unwrap_or_default(),
            codes: results.iter().map(|(c, _)| *c).collect(),
            after_kill: killed_at.is_some(),
        };
        *accepted.entry((user, step)).or_default() += round.successes;
        // A refusal as "wrong or used" spends the pair too: a commit that
        // outlived database_timeout may have landed after all.
        if round
            .codes
            .iter()
            .any(|c| *c == PAM_SUCCESS || *c == PAM_AUTH_ERR)
        {
            spent.insert((user, step));
        }
        let success = round.successes == 1;
        rounds.push(round);
        match killed_at {
            None if rounds.len() == ROUNDS_BEFORE => {
                cluster.kill_node(leader);
                killed_at = Some(Instant::now());
            }
            None => {}
            Some(killed) => {
                if success {
                    back_after.get_or_insert(killed.elapsed());
                    good_after += 1;
                } else {
                    assert!(
                        good_after == 0,
                        "a login failed after the new leader served one: {:?}\n{}",
                        rounds.last().map(|r| &r.codes),
                        cluster.logs()
                    );
                }
                if good_after == ROUNDS_AFTER {
                    break;
                }
                assert!(
                    killed.elapsed() < Duration::from_secs(60),
                    "no login succeeded within 60 s of the leader's death: {:?} {:?}\n{}",
                    rounds.last().map(|r| &r.codes),
                    cluster.members(),
                    cluster.logs()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    let back_after = back_after.unwrap();

    // No (user, time step) accepted twice, in a round or across rounds.
    for ((user, step), count) in &accepted {
        assert!(
            *count <= 1,
            "user {user} step {step} accepted {count} times"
        );
    }
    // Before the failover every round had its one success.
    assert!(
        rounds
            .iter()
            .filter(|r| !r.after_kill)
            .all(|r| r.successes == 1),
        "{:?}",
        rounds
            .iter()
            .map(|r| (r.user, r.step, &r.codes))
            .collect::<Vec<_>>()
    );
    // Refusals during the failover are "not set up correctly" (fail
    // closed) or a code already used, never anything else.
    for round in &rounds {
        for code in &round.codes {
            assert!(
                [PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL].contains(code),
                "{code}"
            );
        }
    }
    // No login waited past its bound: two connections (before and after
    // the prompt), each a connect and statements bounded by
    // database_timeout; in practice far less.
    let longest = rounds.iter().map(|r| r.longest).max().unwrap();
    let bound = Duration::from_secs(2 * DATABASE_TIMEOUT) + Duration::from_secs(1);
    assert!(longest < bound, "a login took {longest:?}");

    // The old leader rejoins as a replica of the new one, and logins go on.
    let rejoin_started = Instant::now();
    cluster.start_node(leader);
    let role = cluster.wait_for_replica(leader, Duration::from_secs(60));
    let rejoined_in = rejoin_started.elapsed();
    let step = generators[0].step_at(now());
    let user = (0..USERS)
        .find(|u| !spent.contains(&(*u, step)))
        .expect("a user with an unused code");
    let code = generators[user].code_for_step(step);
    let name = &users[user].name;
    let outcome = hosts[0].0.authenticate(name, answer(&code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    let again = hosts[1].0.authenticate(name, answer(&code));
    assert_ne!(again.code, PAM_SUCCESS, "a used step accepted again");
    eprintln!(
        "Patroni: cluster up in {started_in:.1?}; {} rounds of {} logins, the leader killed after round {ROUNDS_BEFORE}; logins succeeded again {back_after:.1?} after the kill; longest login {longest:.1?}; old leader back as {role} in {rejoined_in:.1?}; whole test {:.1?}",
        rounds.len(),
        2 * PER_HOST,
        test_started.elapsed()
    );
}
