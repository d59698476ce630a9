//! A real PgBouncer for tests: Debian's `/usr/sbin/pgbouncer` (1.18 on
//! Debian 12) run as the `postgres` user in a temporary directory, on a
//! reserved loopback port, in front of a [`PgCluster`], with
//! `pool_mode = transaction` and SCRAM for the clients (the role and
//! password of [`super::pg`], from an `auth_file`). Dropping it stops the
//! process and removes the directory; if the test process dies first,
//! PgBouncer dies with the thread that started it (`setpriv --pdeathsig`)
//! and a watchdog removes the directory.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pg::{DATABASE, PASSWORD, PgCluster, ROLE};
use super::ports::{ReservedPort, reserve_port};

pub const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// Whether PgBouncer is installed (`.ci/run` installs it).
pub fn installed() -> bool {
    Path::new(PGBOUNCER).exists()
}

pub struct PgBouncer {
    child: Option<Child>,
    watchdog: Option<Child>,
    port: ReservedPort,
    listen: Listen,
    // Removed when dropped, after `Drop::drop` has stopped the process.
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// PgBouncer in transaction pooling in front of `cluster`, with at most
    /// `pool_size` server connections.
    pub fn start(cluster: &PgCluster, pool_size: u32) -> PgBouncer {
        PgBouncer::start_listening(cluster, pool_size, Listen::Loopback)
    }

    /// PgBouncer as a host's local pooler: on a Unix socket only root (and
    /// PgBouncer's own user) can open (`unix_socket_mode = 0600` in a 0700
    /// directory), trusting who reaches it, so a login runs no SCRAM on its
    /// side; PgBouncer logs in to PostgreSQL with SCRAM once per server
    /// connection. Reached with [`PgBouncer::socket_conninfo`].
    pub fn start_on_socket(cluster: &PgCluster, pool_size: u32) -> PgBouncer {
        PgBouncer::start_listening(cluster, pool_size, Listen::Socket)
    }

    fn start_listening(cluster: &PgCluster, pool_size: u32, listen: Listen) -> PgBouncer {
        let dir = tempfile::Builder::new()
            .prefix("pam-totp-pgbouncer.")
            .tempdir()
            .unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let path = dir.path();
        let users = path.join("userlist.txt");
        std::fs::write(&users, format!("\"{ROLE}\" \"{PASSWORD}\"\n")).unwrap();
        let port = reserve_port();
        let config = path.join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n\
                 {DATABASE} = host=127.0.0.1 port={db_port} dbname={DATABASE}\n\
                 [pgbouncer]\n\
                 listen_port = {port}\n\
                 {listen}\n\
                 auth_file = {users}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 500\n\
                 logfile = {log}\n\
                 pidfile = {path}/pgbouncer.pid\n",
                db_port = cluster.port,
                port = port.port(),
                listen = match listen {
                    Listen::Loopback =>
                        "listen_addr = 127.0.0.1\nunix_socket_dir =\nauth_type = scram-sha-256"
                            .to_string(),
                    Listen::Socket => format!(
                        "unix_socket_dir = {}\nunix_socket_mode = 0600\nauth_type = trust",
                        path.display()
                    ),
                },
                users = users.display(),
                log = path.join("pgbouncer.log").display(),
                path = path.display(),
            ),
        )
        .unwrap();
        for file in [&users, &config] {
            std::os::unix::fs::chown(file, Some(uid), Some(gid)).unwrap();
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let child = Command::new("setpriv")
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--pdeathsig=KILL",
                "--",
                PGBOUNCER,
            ])
            .arg(&config)
            .current_dir(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let watchdog = Command::new("sh")
            .args([
                "-c",
                r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done; sleep 1; rm -rf "$1""#,
            ])
            .arg(std::process::id().to_string())
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut bouncer = PgBouncer {
            child: Some(child),
            watchdog: Some(watchdog),
            port,
            dir,
            listen,
        };
        bouncer.wait_until_listening();
        bouncer
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = match self.listen {
                Listen::Loopback => {
                    std::net::TcpStream::connect(("127.0.0.1", self.port())).is_ok()
                }
                Listen::Socket => std::os::unix::net::UnixStream::connect(
                    self.dir.path().join(format!(".s.PGSQL.{}", self.port())),
                )
                .is_ok(),
            };
            if up {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("pgbouncer exited ({status}):\n{}", self.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer not listening:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port.port()
    }

    /// A connection string for the test role through PgBouncer (no TLS).
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={ROLE} password={PASSWORD} dbname={DATABASE} sslmode=disable",
            self.port()
        )
    }

    /// A connection string for the test role through the Unix socket of
    /// [`PgBouncer::start_on_socket`]: no password, and `requirepeer`
    /// checks that PgBouncer (as `postgres`) is the one listening.
    pub fn socket_conninfo(&self) -> String {
        format!(
            "host={} port={} user={ROLE} dbname={DATABASE} requirepeer=postgres",
            self.dir.path().display(),
            self.port()
        )
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// Where PgBouncer listens for clients.
#[derive(Clone, Copy)]
enum Listen {
    /// 127.0.0.1, SCRAM (the role's password from the auth_file).
    Loopback,
    /// A Unix socket in its directory, root's and PgBouncer's only; trust.
    Socket,
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
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
