//! pam_totp's stores side by side: the files store and the PostgreSQL
//! store (plain TCP, and TLS with `sslmode=verify-full` against a test CA),
//! each cluster started the way the fleet tests start theirs
//! (tests/common/pg.rs, tests/common/fleet.rs); and what a files-store host
//! loads (no database or TLS library).

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use pam_totp::store::postgres::{ConnInfo, Database};

use super::common::fleet::Fleet;
use super::common::pg::{self, PgCluster, PgOptions};
use super::common::pgbouncer::PgBouncer;
use super::*;

/// Server connections of the local PgBouncer (of the 17 that
/// max_connections = 20 leaves to the role).
pub const BOUNCER_POOL: u32 = 10;

/// The table the bench copies USER's state row into after one login, to
/// put it back before every measured authentication.
const SAVED: &str = "pt7_bench_saved_state";

/// One PostgreSQL store: its own cluster, configuration and key.
pub struct PgStore {
    pub module: Module,
    /// The local PgBouncer of Module::TotpPgBouncer (stopped before the
    /// cluster: fields drop in order).
    pub bouncer: Option<PgBouncer>,
    pub fleet: Fleet,
    /// The client certificate and key of Module::TotpPgCert.
    _certs: Option<tempfile::TempDir>,
    /// USER's secret (base32) in this store.
    pub secret_b32: String,
    /// The bench's own connection (plain text), for putting state back.
    admin: Mutex<Database>,
    saved: AtomicBool,
    /// The SSH users' secrets in this store.
    ssh_secrets: Mutex<HashMap<String, String>>,
}

impl PgStore {
    pub fn start_all() -> Vec<PgStore> {
        PG_STORES
            .iter()
            .map(|&module| PgStore::start(module))
            .collect()
    }

    fn start(module: Module) -> PgStore {
        let mut bouncer = None;
        let mut certs = None;
        let fleet = match module {
            Module::TotpPgTls => {
                let db = PgCluster::start(PgOptions { tls: true });
                let conninfo = db.conninfo_with(&format!(
                    "sslmode=verify-full sslrootcert={}",
                    db.ca_cert().display()
                ));
                Fleet::start_on(db, &conninfo)
            }
            Module::TotpPgCert => {
                let db = PgCluster::start(PgOptions { tls: true });
                db.require_client_certificates();
                let dir = tempfile::Builder::new()
                    .prefix("pt7-bench-cert.")
                    .tempdir()
                    .unwrap();
                let (cert, key) = db.client_certificate(dir.path(), pg::ROLE);
                let conninfo = format!(
                    "host=127.0.0.1 port={} user={} dbname={} sslmode=verify-full sslrootcert={} sslcert={} sslkey={}",
                    db.port,
                    pg::ROLE,
                    pg::DATABASE,
                    db.ca_cert().display(),
                    cert.display(),
                    key.display()
                );
                certs = Some(dir);
                Fleet::start_on(db, &conninfo)
            }
            Module::TotpPgBouncer => {
                let mut db = PgCluster::start(PgOptions::default());
                // One PostgreSQL with max_connections = 20 (3 of them kept
                // for superusers) behind the host's PgBouncer.
                db.psql_db("postgres", "ALTER SYSTEM SET max_connections = 20");
                db.stop();
                db.start_again();
                let local = PgBouncer::start_on_socket(&db, BOUNCER_POOL);
                let conninfo = local.socket_conninfo();
                bouncer = Some(local);
                Fleet::start_on(db, &conninfo)
            }
            _ => Fleet::start(),
        };
        let secret_b32 = fleet.enroll(USER).replace(' ', "");
        let info = ConnInfo::parse(&fleet.db.conninfo())
            .unwrap_or_else(|error| panic!("the test conninfo: {error:?}"));
        let admin = Database::connect(&info, Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("the bench's own connection: {error:?}"));
        PgStore {
            module,
            bouncer,
            fleet,
            _certs: certs,
            secret_b32,
            admin: Mutex::new(admin),
            saved: AtomicBool::new(false),
            ssh_secrets: Mutex::new(HashMap::new()),
        }
    }

    fn sql(&self, sql: &str) {
        self.admin
            .lock()
            .unwrap()
            .batch_execute(sql)
            .unwrap_or_else(|error| panic!("{sql}: {error:?}"));
    }

    /// Enroll each of `users` (root's `enroll --user`), keeping the secrets.
    pub fn enroll_ssh_users(&self, users: &[String]) {
        let mut secrets = self.ssh_secrets.lock().unwrap();
        for user in users {
            if !secrets.contains_key(user) {
                let secret = self.fleet.enroll(user).replace(' ', "");
                secrets.insert(user.clone(), secret);
            }
        }
    }

    /// Every user's state as before any login (enrollments kept).
    pub fn forget_state(&self) {
        self.sql(&format!(
            "DELETE FROM pam_totp_state WHERE user_name <> '{USER}'"
        ));
    }

    fn ssh_secret(&self, user: &str) -> String {
        self.ssh_secrets
            .lock()
            .unwrap()
            .get(user)
            .cloned()
            .unwrap_or_else(|| panic!("{user} not enrolled in {:?}", self.module))
    }
}

impl Bench {
    pub(super) fn pg_store(&self, module: Module) -> &PgStore {
        self.pg
            .iter()
            .find(|pg| pg.module == module)
            .unwrap_or_else(|| panic!("no PostgreSQL store for {module:?}"))
    }

    /// Module arguments of the in-process PAM service for `module`.
    pub(super) fn pg_args(&self, module: Module, window: u32) -> String {
        let fleet = &self.pg_store(module).fleet;
        format!(
            "{} window={window} max_failures=1000",
            fleet.module_args(&fleet.dir.path().join("state-bench"))
        )
    }

    /// The code `user` types on an SSH login through `module` now.
    pub(super) fn ssh_code(&self, module: Module, user: &str) -> String {
        match module {
            module if module.is_pg() => {
                common::sshd::oathtool_code(&self.pg_store(module).ssh_secret(user), 0)
            }
            _ => self.right_code(),
        }
    }

    /// Put USER's state row back as the module wrote it after one login
    /// with the previous step's code (the PostgreSQL twin of
    /// `restore_totp_state`): every measured login then takes the same
    /// path, a read and one compare-and-set update of an existing row.
    pub(super) fn restore_pg_state(&self, module: Module) {
        let pg = self.pg_store(module);
        if pg.saved.load(Ordering::SeqCst) {
            pg.sql(&format!(
                "BEGIN; DELETE FROM pam_totp_state WHERE user_name = '{USER}'; \
                 INSERT INTO pam_totp_state SELECT * FROM {SAVED}; COMMIT"
            ));
            return;
        }
        pg.sql(&format!(
            "DELETE FROM pam_totp_state WHERE user_name = '{USER}'"
        ));
        let generator = generator(&pg.secret_b32);
        let mut last_rc = -1;
        for _ in 0..3 {
            let previous = generator.step_at(common::now()) - 1;
            let (rc, _) =
                authenticate_timed(module.service(), USER, &generator.code_for_step(previous));
            last_rc = rc;
            if rc == 0 {
                break;
            }
        }
        assert_eq!(
            last_rc, 0,
            "{module:?} refused the previous step's code (is the cluster up?)"
        );
        pg.sql(&format!(
            "DROP TABLE IF EXISTS {SAVED}; \
             CREATE TABLE {SAVED} AS SELECT * FROM pam_totp_state WHERE user_name = '{USER}'"
        ));
        pg.saved.store(true, Ordering::SeqCst);
    }

    // ---- the stores side by side -------------------------------------------

    pub(super) fn stores(&self, report: &mut Report) {
        self.configure(Layout::Home, 1);
        let table = &mut report.stores;
        let base = self.instructions_of(Module::Permit, true, Layout::Home, 1, "permit");
        for (right, name) in [(true, "right"), (false, "wrong")] {
            let mut cells = Vec::new();
            let mut inside = Vec::new();
            for module in STORES {
                let label = format!("stores.{}.{name}", module.service());
                let count = self.instructions_of(module, right, Layout::Home, 1, &label);
                cells.push(group(count.saturating_sub(base)));
                inside.push(group(self.inside_module(&label)));
            }
            table.row(
                &format!(
                    "Instructions per authentication added over pam_permit ({} whole run), {name} code (callgrind, pamtester)",
                    group(base)
                ),
                cells,
            );
            table.row(
                &format!("… of which inside pam_sm_authenticate, {name} code"),
                inside,
            );
        }
        let count = if self.quick { 50 } else { 200 };
        for (right, name) in [(true, "right"), (false, "wrong")] {
            for module in STORES {
                self.time_in_process(module, right, Layout::Home, 5);
            }
            let cells = STORES
                .iter()
                .map(|&module| {
                    median_p99(
                        &self.time_in_process(module, right, Layout::Home, count),
                        "µs",
                    )
                })
                .collect();
            table.row(
                &format!(
                    "pam_authenticate wall time, {name} code, median (p99), {count} in-process runs over 127.0.0.1"
                ),
                cells,
            );
        }
        self.pbkdf2_rows(report);
        self.cheap_verifier_row(report);
        self.connections(report);
    }

    // ---- what a files-store host loads -------------------------------------

    pub(super) fn libraries(&self, report: &mut Report) {
        let dynamic = run_text("readelf", &["-d", self.module.to_str().unwrap()]);
        let needed: Vec<String> = dynamic
            .lines()
            .filter(|line| line.contains("(NEEDED)"))
            .filter_map(|line| {
                let start = line.find('[')? + 1;
                let end = line.rfind(']')?;
                line.get(start..end).map(str::to_string)
            })
            .collect();
        let database_or_tls = |name: &str| {
            ["libssl", "libcrypto", "libpq", "libgnutls", "libnss3"]
                .iter()
                .any(|bad| name.contains(bad))
        };
        report.note(format!(
            "`readelf -d {}`: NEEDED {}; {}",
            self.module.file_name().unwrap().to_string_lossy(),
            needed.join(", "),
            if needed.iter().any(|name| database_or_tls(name)) {
                "**a database or TLS library among them**"
            } else {
                "no database or TLS library (the PostgreSQL client and rustls are in libpam_totp_postgres.so, which the module loads only with store = \"postgresql\")"
            }
        ));
        self.configure(Layout::Home, 1);
        for module in [Module::Totp, Module::TotpPgTls] {
            let libraries = self.libraries_after_login(module);
            let bad: Vec<&String> = libraries
                .iter()
                .filter(|name| database_or_tls(name))
                .collect();
            let store_loaded = libraries
                .iter()
                .any(|name| name.starts_with("libpam_totp_postgres"));
            report.note(format!(
                "/proc/PID/maps of pamtester after one {} authentication (at the next prompt): {}; {}; {}",
                module.title(),
                libraries.join(", "),
                if store_loaded {
                    "the PostgreSQL store loaded"
                } else {
                    "no PostgreSQL store"
                },
                if bad.is_empty() {
                    "no libssl, libcrypto or libpq".to_string()
                } else {
                    format!(
                        "**maps {}**",
                        bad.iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        }
    }

    /// The shared objects mapped by a `pamtester SERVICE USER authenticate
    /// authenticate` that has passed the first authentication with a right
    /// code and waits at the second prompt.
    fn libraries_after_login(&self, module: Module) -> Vec<String> {
        self.reset(module, Layout::Home, 1);
        let mut child = Command::new("pamtester")
            .args([module.service(), USER, "authenticate", "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        // misc_conv writes its prompts to stderr (unbuffered): read them in
        // a thread, and wait for the first, then for the second.
        let mut stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            let mut buffer = [0u8; 256];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        let wait_for = |seen: &mut String, done: &dyn Fn(&str) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !done(seen) {
                let left = deadline.saturating_duration_since(Instant::now());
                match receiver.recv_timeout(left) {
                    Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                    Err(_) => panic!(
                        "pamtester {}: no prompt; it wrote {seen:?}",
                        module.service()
                    ),
                }
            }
        };
        wait_for(&mut seen, &|seen| !seen.is_empty());
        // The whole first prompt (it ends in ": " with no newline).
        std::thread::sleep(Duration::from_millis(300));
        while let Ok(bytes) = receiver.try_recv() {
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        let prompt = seen.clone();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(format!("{}\n", self.right_code_for(module)).as_bytes())
            .unwrap();
        wait_for(&mut seen, &|seen| {
            seen.matches(prompt.as_str()).count() >= 2
        });
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let _ = reader.join();
        let mut libraries: Vec<String> = maps
            .lines()
            .filter_map(|line| line.split_whitespace().nth(5))
            .filter(|path| path.contains(".so"))
            .filter_map(|path| Path::new(path).file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect();
        libraries.sort();
        libraries.dedup();
        libraries
    }
}

/// "MEDIAN unit (p99 P99)".
fn median_p99(samples: &[f64], unit: &str) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let fmt = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!(
        "{} {unit} (p99 {})",
        fmt(percentile(&sorted, 0.5)),
        fmt(percentile(&sorted, 0.99))
    )
}
