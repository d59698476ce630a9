//! The PostgreSQL store's connections: SCRAM's key derivation per login
//! (a login opens two connections, one before the prompt and one after),
//! the crowd of logins waiting at the prompt that one PostgreSQL with
//! `max_connections = 20` serves (direct and through a local PgBouncer),
//! and sustained logins per second through PgBouncer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use pam_totp::store::postgres::{ConnInfo, Database};

use super::common::fleet::Fleet;
use super::common::{PAM_SUCCESS, crowd};
use super::stores::BOUNCER_POOL;
use super::*;

/// A login with a certificate or through PgBouncer runs at most this many
/// instructions in the module (no PBKDF2: SCRAM's is about 28 M apiece).
const NO_PBKDF2_BOUND: u64 = 5_000_000;
/// Logins waiting at the prompt at once on max_connections = 20.
const CROWD: usize = 100;
/// Concurrent clients of the sustained rate through PgBouncer.
const RATE_CLIENTS: usize = 32;

/// SCRAM's key derivation in a callgrind profile: (calls, inclusive
/// instructions) of postgres-protocol's `sasl::hi` (PBKDF2-HMAC-SHA-256).
fn pbkdf2_in(profile: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(profile).unwrap_or_default();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut callee = String::new();
    let mut calls = 0;
    let mut instructions = 0;
    let mut expect_cost = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cfn=") {
            // "(id) name" the first time, "(id)" after.
            let (id, name) = match rest.find(' ') {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            if let Some(name) = name {
                names.insert(id.to_string(), name.to_string());
            }
            callee = names.get(id).cloned().unwrap_or_default();
            continue;
        }
        if let Some(rest) = line.strip_prefix("fn=") {
            if let Some(at) = rest.find(' ') {
                names.insert(rest[..at].to_string(), rest[at + 1..].to_string());
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("calls=") {
            if callee.contains("sasl::hi") {
                calls += rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                expect_cost = true;
            }
            continue;
        }
        if expect_cost {
            // The call's line: "position inclusive-cost".
            instructions += line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            expect_cost = false;
        }
    }
    (calls, instructions)
}

/// One user for the crowd and the sustained rate, enrolled in a fleet:
/// (secret, recovery codes).
fn enroll(fleet: &Fleet, user: &str) -> (String, Vec<String>) {
    let out = fleet.cli(&[
        "enroll",
        "--user",
        user,
        "--no-confirm",
        "--json",
        "--force",
    ]);
    assert!(
        out.status.success(),
        "enroll {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let secret = json["secret"].as_str().unwrap().replace(' ', "");
    let codes = json["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes)
}

/// The module's role's connections to `fleet`'s cluster now.
fn role_connections(fleet: &Fleet) -> String {
    fleet.db.psql_db(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}'",
            common::pg::ROLE
        ),
    )
}

impl Bench {
    /// The rows on SCRAM's key derivation (from the stores' right-code
    /// profiles) and the target on certificates and PgBouncer.
    pub(crate) fn pbkdf2_rows(&self, report: &mut Report) {
        let mut cells = Vec::new();
        let mut verdicts = Vec::new();
        for module in STORES {
            let profile = self
                .out
                .join(format!("callgrind.stores.{}.right.out", module.service()));
            let (calls, instructions) = pbkdf2_in(&profile);
            cells.push(format!("{} ({calls} calls)", group(instructions)));
            let inside = self.inside_module(&format!("stores.{}.right", module.service()));
            verdicts.push(match module {
                Module::TotpPgCert | Module::TotpPgBouncer => {
                    let verdict = if calls == 0 && inside <= NO_PBKDF2_BOUND {
                        "met"
                    } else {
                        "**not met**"
                    };
                    eprintln!(
                        "  target: {} no PBKDF2, at most {} instructions: {} ({calls} PBKDF2 calls): {verdict}",
                        module.title(),
                        group(NO_PBKDF2_BOUND),
                        group(inside)
                    );
                    format!("{} inside, {calls} PBKDF2: {verdict}", group(inside))
                }
                _ => String::new(),
            });
        }
        report.stores.row(
            "… of which SCRAM's key derivation (PBKDF2, postgres-protocol sasl::hi), right code",
            cells,
        );
        report.stores.row(
            &format!(
                "Target: a login with a certificate or through PgBouncer runs no PBKDF2 in the module (at most {} instructions inside pam_sm_authenticate)",
                group(NO_PBKDF2_BOUND)
            ),
            verdicts,
        );
    }

    /// The plain PostgreSQL store once more, its role's verifier made by
    /// the README's recipe (16 iterations instead of 4096), then put back.
    pub(crate) fn cheap_verifier_row(&self, report: &mut Report) {
        use super::common::pg::{PASSWORD, ROLE, run_readme_password_recipe};
        let store = self.pg_store(Module::TotpPg);
        let password = run_readme_password_recipe(&store.fleet.db);
        let conninfo = store.fleet.db.conninfo();
        store
            .fleet
            .write_conninfo(&conninfo.replace(PASSWORD, &password));
        let label = format!("stores.{}-16.right", Module::TotpPg.service());
        let base = self.instructions_of(Module::Permit, true, Layout::Home, 1, "permit");
        let count = self.instructions_of(Module::TotpPg, true, Layout::Home, 1, &label);
        let inside = self.inside_module(&label);
        let (calls, pbkdf2) = pbkdf2_in(&self.out.join(format!("callgrind.{label}.out")));
        store.fleet.db.psql_db(
            "postgres",
            &format!("ALTER ROLE {ROLE} PASSWORD '{PASSWORD}'"),
        );
        store.fleet.write_conninfo(&conninfo);
        let mut cells = vec![String::new(); STORES.len()];
        if let Some(index) = STORES.iter().position(|&m| m == Module::TotpPg) {
            cells[index] = format!(
                "{} added, {} inside pam_sm_authenticate, of which PBKDF2 {} ({calls} calls)",
                group(count.saturating_sub(base)),
                group(inside),
                group(pbkdf2)
            );
        }
        report.stores.row(
            "Instructions per authentication, right code, the role's SCRAM verifier made with 16 iterations (README: \"The role's password\")",
            cells,
        );
    }

    /// 100 logins waiting at the prompt at once on one PostgreSQL with
    /// max_connections = 20: direct (SCRAM, a cluster of its own) and
    /// through the PgBouncer store's (the same limit, PgBouncer's pool of
    /// BOUNCER_POOL in front). Then the sustained rate through PgBouncer.
    pub(crate) fn connections(&self, report: &mut Report) {
        let users: Vec<TestUser> = (0..RATE_CLIENTS)
            .map(|i| TestUser::create(&format!("pt7-c{i:02}")))
            .collect();
        let mut direct = Fleet::start();
        direct
            .db
            .psql_db("postgres", "ALTER SYSTEM SET max_connections = 20");
        direct.db.stop();
        direct.db.start_again();
        let bouncer = &self.pg_store(Module::TotpPgBouncer).fleet;
        let mut cells = vec![String::new(); STORES.len()];
        let mut met = true;
        for (module, fleet) in [(Module::TotpPg, &direct), (Module::TotpPgBouncer, bouncer)] {
            let mut logins = Vec::new();
            for user in &users {
                let (_, codes) = enroll(fleet, &user.name);
                for code in codes {
                    if logins.len() < CROWD {
                        logins.push((user.name.clone(), code));
                    }
                }
                if logins.len() >= CROWD {
                    break;
                }
            }
            let host = fleet.pam_host(&format!("crowd-{}", module.service()), "");
            let started = Instant::now();
            let crowd = crowd::at_the_prompt(&host, &logins, || role_connections(fleet));
            let seconds = started.elapsed().as_secs_f64();
            let succeeded = crowd
                .outcomes
                .iter()
                .filter(|o| o.code == PAM_SUCCESS)
                .count();
            met &= crowd.waiting_at_once == CROWD && succeeded == CROWD;
            let index = STORES.iter().position(|&m| m == module).unwrap();
            cells[index] = format!(
                "{} of {CROWD} waited at once, {succeeded} succeeded, in {seconds:.1} s; the role's connections to PostgreSQL meanwhile: {}{}",
                crowd.waiting_at_once,
                crowd.seen_while_waiting,
                if module == Module::TotpPg {
                    " (a cluster of its own, SCRAM)"
                } else {
                    " (PgBouncer's pool and the bench's own)"
                }
            );
        }
        report.stores.row(
            "Logins waiting at the prompt at once on one PostgreSQL with max_connections = 20 (17 for the role), recovery codes, all answering at once",
            cells,
        );
        report.note(format!(
            "Target: {CROWD} logins waiting at the prompt on max_connections = 20 all succeed, direct and through PgBouncer: {}",
            if met { "met" } else { "**not met**" }
        ));
        drop(direct);
        self.sustained_rate(report, &users);
    }

    /// RATE_CLIENTS threads, each logging its own user in again and again
    /// through the PgBouncer store (in process, real libpam), putting its
    /// state row back between logins (through PgBouncer too; included in
    /// the time).
    fn sustained_rate(&self, report: &mut Report, users: &[TestUser]) {
        let store = self.pg_store(Module::TotpPgBouncer);
        let conninfo = store.bouncer.as_ref().unwrap().socket_conninfo();
        let seconds = if self.quick { 5.0 } else { 20.0 };
        let secrets: Vec<String> = users
            .iter()
            .map(|user| enroll(&store.fleet, &user.name).0)
            .collect();
        let done = AtomicUsize::new(0);
        let refused = AtomicUsize::new(0);
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(seconds);
        std::thread::scope(|scope| {
            for (user, secret) in users.iter().zip(&secrets) {
                let (done, refused, conninfo) = (&done, &refused, &conninfo);
                scope.spawn(move || {
                    let info = ConnInfo::parse(conninfo).unwrap();
                    let mut db = Database::connect(&info, Duration::from_secs(30)).unwrap();
                    let generator = generator(secret);
                    let forget = format!(
                        "DELETE FROM pam_totp_state WHERE user_name = '{}'",
                        user.name
                    );
                    while Instant::now() < until {
                        db.batch_execute(&forget).unwrap();
                        let code = generator.code_for_step(generator.step_at(common::now()));
                        let (rc, _) =
                            authenticate_timed(Module::TotpPgBouncer.service(), &user.name, &code);
                        if rc == 0 {
                            done.fetch_add(1, Ordering::Relaxed);
                        } else {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        let done = done.into_inner();
        let refused = refused.into_inner();
        let mut cells = vec![String::new(); STORES.len()];
        cells[STORES.len() - 1] = format!(
            "{:.0} logins/s ({done} in {elapsed:.1} s{})",
            done as f64 / elapsed,
            if refused == 0 {
                String::new()
            } else {
                format!("; **{refused} refused**")
            }
        );
        report.stores.row(
            &format!(
                "Sustained logins per second through PgBouncer (pool of {BOUNCER_POOL}), {RATE_CLIENTS} concurrent clients in process, each resetting its user's state row between logins (included)"
            ),
            cells,
        );
    }
}
