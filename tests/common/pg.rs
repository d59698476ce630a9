//! Real PostgreSQL clusters for tests: `initdb` and `pg_ctl` from
//! /usr/lib/postgresql/*/bin run as the `postgres` user, in a temporary
//! directory, on a free loopback port, with a password (scram-sha-256)
//! role for the module and optionally TLS with a test CA. Dropping a
//! cluster stops it and removes its directory; a watchdog process does the
//! same if the test process is killed before that.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::ports::{ReservedPort, reserve_port};

/// The role the module connects as, its password and its database.
pub const ROLE: &str = "pamtotp";
pub const PASSWORD: &str = "test-password";
pub const DATABASE: &str = "pamtotp";
const STANDBY_NAME: &str = "standby1";

#[derive(Default, Clone)]
pub struct PgOptions {
    /// Serve TLS with a certificate for 127.0.0.1 and localhost signed by a
    /// test CA (see [`PgCluster::ca_cert`]).
    pub tls: bool,
}

pub struct PgCluster {
    // Removed when dropped, after `Drop::drop` has stopped the server.
    dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// Held from the first start to the drop, stopped or not: no other
    /// test is given the port `start_again` starts on.
    reserved: Option<ReservedPort>,
    tls: bool,
    frozen: Vec<i32>,
    watchdog: Option<Child>,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (apt-get install postgresql)")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/initdb")
        .1
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        assert!(output.status.success(), "no postgres user");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

fn check(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl PgCluster {
    /// A new cluster, started, with role [`ROLE`] owning database [`DATABASE`].
    pub fn start(options: PgOptions) -> PgCluster {
        let mut cluster = PgCluster::empty(options.tls);
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        if options.tls {
            cluster.make_certificates();
        }
        cluster.write_config();
        cluster.start_on_free_port();
        cluster.psql_db(
            "postgres",
            &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"),
        );
        cluster.psql_db(
            "postgres",
            &format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"),
        );
        cluster
    }

    /// A streaming-replication standby of `primary`, made the primary's
    /// synchronous standby (`synchronous_commit = remote_apply`): a commit
    /// on the primary returns once the standby shows it.
    pub fn standby_of(primary: &PgCluster) -> PgCluster {
        let mut standby = PgCluster::empty(primary.tls);
        let port = primary.port.to_string();
        standby.as_postgres(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                standby.data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                // A fast checkpoint: the default spread one takes minutes.
                "--checkpoint=fast",
                "--no-sync",
            ],
        );
        // The copied configuration names the primary's socket directory
        // and certificates: point them at our own.
        if standby.tls {
            standby.make_certificates();
        }
        standby.write_config();
        append(
            &standby.data.join("postgresql.auto.conf"),
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={STANDBY_NAME}'\n",
                primary.port
            ),
        );
        standby.start_on_free_port();
        for sql in [
            format!("ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'"),
            "ALTER SYSTEM SET synchronous_commit = 'remote_apply'".to_string(),
            "SELECT pg_reload_conf()".to_string(),
        ] {
            primary.psql_db("postgres", &sql);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = primary.psql_db(
                "postgres",
                &format!(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
                ),
            );
            if state == "sync" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "standby not synchronous: {state:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        standby
    }

    fn empty(tls: bool) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("pam-totp-pg.")
            .tempdir()
            .unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let data = dir.path().join("data");
        let mut cluster = PgCluster {
            dir,
            data,
            bin: bin_dir(),
            port: 0,
            reserved: None,
            tls,
            frozen: Vec::new(),
            watchdog: None,
        };
        cluster.start_watchdog();
        cluster
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(self.bin.join(program))
            .current_dir(self.dir.path())
            .env("LC_ALL", "C")
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        command
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> String {
        check(self.command(program).args(args).output().unwrap(), program)
    }

    fn write_config(&self) {
        let dir = self.dir.path().display();
        let mut config = format!(
            "listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{dir}'\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 150\nshared_buffers = 16MB\n\
             max_wal_senders = 4\nwal_level = replica\nhot_standby = on\n\
             ssl = off\n"
        );
        if self.tls {
            config.push_str(&format!(
                "ssl = on\nssl_cert_file = '{dir}/server.crt'\nssl_key_file = '{dir}/server.key'\n"
            ));
        }
        append(&self.data.join("postgresql.conf"), &config);
        std::fs::write(
            self.data.join("pg_hba.conf"),
            "local all all trust\n\
             host replication postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
    }

    /// A CA, and a server certificate it signs for 127.0.0.1 and localhost.
    fn make_certificates(&self) {
        let dir = self.dir.path();
        make_ca(dir, "ca");
        let key = dir.join("server.key");
        let csr = dir.join("server.csr");
        openssl(
            dir,
            &[
                &["req", "-new"][..],
                new_key(),
                &[
                    "-nodes",
                    "-keyout",
                    key.to_str().unwrap(),
                    "-out",
                    csr.to_str().unwrap(),
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        let extensions = dir.join("server.ext");
        std::fs::write(
            &extensions,
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                csr.to_str().unwrap(),
                "-CA",
                dir.join("ca.crt").to_str().unwrap(),
                "-CAkey",
                dir.join("ca.key").to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                dir.join("server.crt").to_str().unwrap(),
                "-extfile",
                extensions.to_str().unwrap(),
            ],
        );
        let (uid, gid) = postgres_ids();
        for name in ["server.key", "server.crt"] {
            let path = dir.join(name);
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    /// The test CA's certificate (PEM), for `sslrootcert`.
    pub fn ca_cert(&self) -> PathBuf {
        assert!(self.tls, "cluster started without TLS");
        self.dir.path().join("ca.crt")
    }

    /// Put `line` first in the cluster's pg_hba.conf and reload.
    pub fn hba_first(&self, line: &str) {
        let path = self.psql("SHOW hba_file");
        let old = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{line}\n{old}")).unwrap();
        self.psql("SELECT pg_reload_conf()");
    }

    /// The module's role must show a client certificate over TLS (pg_hba
    /// `cert`, first line) signed by the test CA; other roles and plain
    /// connections keep what they had.
    pub fn require_client_certificates(&self) {
        self.psql(&format!(
            "ALTER SYSTEM SET ssl_ca_file = '{}'",
            self.ca_cert().display()
        ));
        self.hba_first(&format!("hostssl all {ROLE} 127.0.0.1/32 cert"));
    }

    /// A client certificate for `cn`, signed by the cluster's test CA:
    /// (certificate, key) in `dir`, root's, 0644 and 0600.
    pub fn client_certificate(&self, dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
        let ca = self.ca_cert();
        let ca_key = ca.with_file_name("ca.key");
        let key = dir.join(format!("{cn}.key"));
        let csr = dir.join(format!("{cn}.csr"));
        let cert = dir.join(format!("{cn}.crt"));
        let ext = dir.join("client.ext");
        std::fs::write(
            &ext,
            "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n",
        )
        .unwrap();
        let subject = format!("/CN={cn}");
        let path = |path: &Path| path.to_str().unwrap().to_string();
        let (key_s, csr_s, cert_s) = (path(&key), path(&csr), path(&cert));
        let (ca_s, ca_key_s, ext_s) = (path(&ca), path(&ca_key), path(&ext));
        openssl(
            dir,
            &[
                &["req", "-new"][..],
                new_key(),
                &[
                    "-nodes", "-keyout", &key_s, "-out", &csr_s, "-subj", &subject,
                ],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr_s,
                "-CA",
                &ca_s,
                "-CAkey",
                &ca_key_s,
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &cert_s,
                "-extfile",
                &ext_s,
            ],
        );
        super::set_mode(&cert, 0o644);
        super::set_mode(&key, 0o600);
        (cert, key)
    }

    fn start_on_free_port(&mut self) {
        for attempt in 0.. {
            let reserved = reserve_port();
            self.port = reserved.port();
            self.reserved = Some(reserved);
            match self.try_start() {
                Ok(()) => break,
                Err(log) if attempt < 4 && log.contains("could not bind") => continue,
                Err(log) => panic!("pg_ctl start failed:\n{log}"),
            }
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let log = self.dir.path().join("server.log");
        let _ = std::fs::remove_file(&log);
        let output = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
            ])
            .args([
                "-w",
                "-t",
                "30",
                "-o",
                &format!("-p {}", self.port),
                "start",
            ])
            .output()
            .unwrap();
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    /// Start again (same port, same data) after [`stop`](Self::stop).
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!("pg_ctl start failed:\n{log}");
        }
    }

    /// Stop at once (immediate mode): the port refuses connections after.
    pub fn stop(&mut self) {
        self.thaw();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "30",
                "stop",
            ],
        );
    }

    /// Promote a standby to primary and wait until it accepts writes.
    pub fn promote(&mut self) {
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-w",
                "-t",
                "30",
                "promote",
            ],
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.psql_db("postgres", "SELECT pg_is_in_recovery()") != "f" {
            assert!(Instant::now() < deadline, "standby not promoted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn children(pid: i32) -> Vec<i32> {
        let mut children = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The parent pid is the second field after the ")" ending the name.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<i32>().ok());
            if parent == Some(pid) {
                children.push(child);
            }
        }
        children
    }

    /// The server's processes (the postmaster and its children), to stop
    /// and continue from a place that cannot borrow the cluster (a PAM
    /// conversation function).
    pub fn pids(&self) -> Vec<i32> {
        let Some(pid) = self.postmaster_pid() else {
            return Vec::new();
        };
        let mut pids = vec![pid];
        pids.extend(PgCluster::children(pid));
        pids
    }

    /// Freeze the server (SIGSTOP the postmaster and all its processes):
    /// it still accepts TCP connections (the kernel's backlog) and never
    /// answers.
    pub fn freeze(&mut self) {
        let pid = self.postmaster_pid().expect("server not running");
        let mut pids = vec![pid];
        pids.extend(PgCluster::children(pid));
        for pid in &pids {
            // SAFETY: kill takes plain integers; the pids are our own cluster's.
            unsafe { libc::kill(*pid, libc::SIGSTOP) };
        }
        self.frozen = pids;
    }

    /// Undo [`freeze`](Self::freeze).
    pub fn thaw(&mut self) {
        for pid in self.frozen.drain(..) {
            // SAFETY: kill takes plain integers; the pids are the ones frozen.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }

    /// Run SQL as the superuser in [`DATABASE`]; the unaligned, tuples-only
    /// output, trimmed. Panics if psql fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db(DATABASE, sql)
    }

    /// The README's `runuser -u postgres -- psql -X -q`, pointed at this
    /// cluster (its socket directory, port and binaries).
    pub fn readme_psql(&self) -> String {
        format!(
            "runuser -u postgres -- {} -X -q -h {} -p {} -d postgres",
            self.bin.join("psql").display(),
            self.dir.path().display(),
            self.port
        )
    }

    pub fn psql_db(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let output = self
            .command("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", self.dir.path().to_str().unwrap(), "-p", &port])
            .args(["-U", "postgres", "-d", database, "-c", sql])
            .output()
            .unwrap();
        check(output, &format!("psql {sql:?}")).trim().to_string()
    }

    /// The server's log (`pg_ctl -l`) as written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A connection string for [`ROLE`] over TCP, plain text (no TLS).
    pub fn conninfo(&self) -> String {
        self.conninfo_with("sslmode=disable")
    }

    /// The same with other keywords (e.g. `sslmode=verify-full sslrootcert=...`).
    pub fn conninfo_with(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={ROLE} password={PASSWORD} dbname={DATABASE} {extra}",
            self.port
        )
    }

    /// Kill the server and remove the directory if this test process dies
    /// without dropping us (it reads the postmaster's pid when it acts, so
    /// one watchdog covers every restart).
    fn start_watchdog(&mut self) {
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
sleep 1; rm -rf "$2""#;
        let child = Command::new("sh")
            .args(["-c", script])
            .arg(std::process::id().to_string())
            .arg(&self.data)
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.watchdog = Some(child);
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.thaw();
        let pid = self.postmaster_pid();
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "-t",
                "10",
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(pid) = pid {
            // Still there (pg_ctl failed or timed out): kill it and its children.
            // SAFETY: kill takes plain integers (signal 0 only probes).
            if unsafe { libc::kill(pid, 0) } == 0 {
                for child in PgCluster::children(pid) {
                    // SAFETY: as above; children of our own postmaster.
                    unsafe { libc::kill(child, libc::SIGKILL) };
                }
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

fn append(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl (the command) is installed");
    check(output, &format!("openssl {}", args.first().unwrap_or(&"")));
}

/// The key type of the test certificates (CA, server, client), as
/// `openssl req -newkey` takes it: ECDSA P-256, or Ed25519 with
/// `PAM_TOTP_TEST_CERT_KEY=ed25519` (for `make bench`: what the signature
/// algorithm costs a login).
fn new_key() -> &'static [&'static str] {
    match std::env::var("PAM_TOTP_TEST_CERT_KEY").as_deref() {
        Ok("ed25519") => &["-newkey", "ed25519"],
        _ => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
    }
}

/// A self-signed test CA: `NAME.crt` and `NAME.key` in `dir`.
pub fn make_ca(dir: &Path, name: &str) -> PathBuf {
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            new_key(),
            &[
                "-nodes",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
                "-days",
                "2",
                "-subj",
                &format!("/CN=pam-totp test {name}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    cert
}

/// The README's recipe for the role's password ("The role's password, and
/// what SCRAM costs a login"), the whole shell block run as printed, its
/// psql pointed at `cluster`: the password it printed for database.conf.
pub fn run_readme_password_recipe(cluster: &PgCluster) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("password=$(openssl rand -hex 32)")
        .expect("the README's password recipe");
    let block = &readme[start..];
    let block = &block[..block.find("\n```").unwrap()];
    let psql = "runuser -u postgres -- psql -X -q";
    assert!(block.contains(psql), "{block}");
    let script = block.replace(psql, &cluster.readme_psql());
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .output()
        .expect("bash is installed");
    assert!(
        output.status.success(),
        "the README's recipe: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("password="))
        .unwrap_or_else(|| panic!("the recipe printed no password: {stdout}"))
        .to_string()
}
