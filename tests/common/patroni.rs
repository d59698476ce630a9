//! A real Patroni cluster for tests: one etcd (Debian's etcd-server, the
//! v2 API that Debian's Patroni reaches through python3-etcd) and three
//! PostgreSQL nodes, each under its own Patroni (`synchronous_mode` and
//! `synchronous_mode_strict`), all as the `postgres` user on loopback ports
//! reserved through `ports.rs`, with their data in one temporary directory.
//! Dropping the cluster kills every process and removes the directory; a
//! watchdog does the same if the test process dies first.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pg::{DATABASE, PASSWORD, ROLE};
use super::ports::{ReservedPort, reserve_port};

/// Patroni's timings: the leader key lives `TTL` seconds (Patroni's
/// minimum is 20 s in its documentation; a killed leader is replaced once
/// it expires), each node looks every `LOOP_WAIT`.
const TTL: u64 = 20;
const LOOP_WAIT: u64 = 1;
const RETRY_TIMEOUT: u64 = 5;
const SUPERUSER_PASSWORD: &str = "patroni-superuser";

pub struct Node {
    pub name: String,
    pub port: u16,
    pub api_port: u16,
    config: PathBuf,
    patroni: Option<Child>,
    _ports: [ReservedPort; 2],
}

pub struct PatroniCluster {
    dir: tempfile::TempDir,
    etcd: Option<Child>,
    pub nodes: Vec<Node>,
    _etcd_ports: [ReservedPort; 2],
    watchdog: Option<Child>,
}

fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().unwrap().1
}

/// Whether Patroni and etcd are installed (else the test says so and passes).
pub fn available() -> bool {
    Path::new("/usr/bin/patroni").exists() && Path::new("/usr/bin/etcd").exists()
}

fn as_postgres(program: &str, dir: &Path) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program)
        .current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", dir)
        .stdin(Stdio::null());
    command
}

impl PatroniCluster {
    /// etcd and three nodes, started; returns once there is a leader with a
    /// synchronous standby and the module's role and database exist.
    pub fn start() -> PatroniCluster {
        let dir = tempfile::Builder::new()
            .prefix("pam-totp-patroni.")
            .tempdir()
            .unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let etcd_ports = [reserve_port(), reserve_port()];
        let mut cluster = PatroniCluster {
            dir,
            etcd: None,
            nodes: Vec::new(),
            _etcd_ports: etcd_ports,
            watchdog: None,
        };
        cluster.start_watchdog();
        cluster.start_etcd();
        for index in 1..=3 {
            let node = cluster.write_node(index);
            cluster.nodes.push(node);
        }
        for index in 0..cluster.nodes.len() {
            cluster.start_node(index);
        }
        let leader = cluster.wait_for_leader_with_sync_standby(Duration::from_secs(90));
        cluster.psql(
            leader,
            &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'"),
        );
        cluster.psql(leader, &format!("CREATE DATABASE {DATABASE} OWNER {ROLE}"));
        cluster.wait_for_replicas_streaming(leader, Duration::from_secs(90));
        cluster
    }

    fn etcd_client_port(&self) -> u16 {
        self._etcd_ports[0].port()
    }

    fn start_etcd(&mut self) {
        let client = format!("http://127.0.0.1:{}", self._etcd_ports[0].port());
        let peer = format!("http://127.0.0.1:{}", self._etcd_ports[1].port());
        let log = std::fs::File::create(self.dir.path().join("etcd.log")).unwrap();
        let child = as_postgres("/usr/bin/etcd", self.dir.path())
            .args(["--name", "etcd0", "--data-dir"])
            .arg(self.dir.path().join("etcd"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("etcd0={peer}")])
            .args(["--initial-cluster-state", "new"])
            // Debian's Patroni 3.0 talks to etcd through python3-etcd: the v2 API.
            .arg("--enable-v2=true")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.note_pid(child.id());
        self.etcd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(self.etcd_client_port(), "/v2/keys/").is_none() {
            assert!(
                Instant::now() < deadline,
                "etcd did not start: {}",
                self.log("etcd.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn write_node(&self, index: usize) -> Node {
        let ports = [reserve_port(), reserve_port()];
        let (port, api_port) = (ports[0].port(), ports[1].port());
        let name = format!("node{index}");
        let dir = self.dir.path().display().to_string();
        let config = self.dir.path().join(format!("{name}.yml"));
        let yaml = format!(
            r#"scope: pamtotp-{pid}
namespace: /pam-totp-test/
name: {name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{api_port}
  connect_address: 127.0.0.1:{api_port}
etcd:
  host: 127.0.0.1:{etcd}
bootstrap:
  dcs:
    ttl: {TTL}
    loop_wait: {LOOP_WAIT}
    retry_timeout: {RETRY_TIMEOUT}
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        # A replica that comes back from behind (or follows a new leader
        # from an old position) finds the WAL it needs still there.
        wal_keep_size: 256MB
        shared_buffers: 16MB
        fsync: "off"
        full_page_writes: "on"
  initdb:
    - encoding: UTF8
    - locale: C
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 trust
    - host all postgres 127.0.0.1/32 trust
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:{port}
  connect_address: 127.0.0.1:{port}
  data_dir: {dir}/{name}
  bin_dir: {bin}
  pgpass: {dir}/{name}.pgpass
  authentication:
    replication:
      username: replicator
      password: replicator
    superuser:
      username: postgres
      password: {SUPERUSER_PASSWORD}
    rewind:
      username: postgres
      password: {SUPERUSER_PASSWORD}
  parameters:
    unix_socket_directories: '{dir}'
"#,
            pid = std::process::id(),
            etcd = self.etcd_client_port(),
            bin = bin_dir().display(),
        );
        std::fs::write(&config, yaml).unwrap();
        let (uid, gid) = postgres_ids();
        std::os::unix::fs::chown(&config, Some(uid), Some(gid)).unwrap();
        Node {
            name,
            port,
            api_port,
            config,
            patroni: None,
            _ports: ports,
        }
    }

    /// Start (or start again) node `index`'s Patroni.
    pub fn start_node(&mut self, index: usize) {
        let node = &self.nodes[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", node.name)))
            .unwrap();
        let child = as_postgres("/usr/bin/patroni", self.dir.path())
            .arg(&node.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.note_pid(child.id());
        self.nodes[index].patroni = Some(child);
    }

    /// Kill node `index` as a crash would: Patroni and PostgreSQL, SIGKILL.
    pub fn kill_node(&mut self, index: usize) {
        let data = self.dir.path().join(&self.nodes[index].name);
        if let Some(mut patroni) = self.nodes[index].patroni.take() {
            let _ = patroni.kill();
            let _ = patroni.wait();
        }
        if let Some(pid) = postmaster_pid(&data) {
            // SAFETY: kill takes plain integers; the pid is our node's postmaster.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }

    /// The members as Patroni's REST API lists them: (name, role, state).
    pub fn members(&self) -> Vec<(String, String, String)> {
        for node in &self.nodes {
            let Some(body) = http_get(node.api_port, "/cluster") else {
                continue;
            };
            let Ok(json) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            return json["members"]
                .as_array()
                .map(|members| {
                    members
                        .iter()
                        .map(|m| {
                            let text = |key: &str| m[key].as_str().unwrap_or_default().to_string();
                            (text("name"), text("role"), text("state"))
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
        Vec::new()
    }

    /// The index of the leader, once one runs with a synchronous standby
    /// that streams from it.
    pub fn wait_for_leader_with_sync_standby(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let members = self.members();
            let leader = members
                .iter()
                .find(|(_, role, state)| role == "leader" && state == "running");
            let sync = members.iter().any(|(_, role, state)| {
                role == "sync_standby" && (state == "streaming" || state == "running")
            });
            if let (Some((name, _, _)), true) = (leader, sync)
                && let Some(index) = self.nodes.iter().position(|n| &n.name == name)
                && self.accepts_writes(index)
            {
                return index;
            }
            assert!(
                Instant::now() < deadline,
                "no leader with a synchronous standby: {members:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Wait until every other node streams from the leader `leader` and has
    /// replayed all it wrote: a failover then finds a healthy replica to
    /// make the new synchronous standby (with `synchronous_mode_strict`, a
    /// new leader whose only replica cannot follow it accepts no commit).
    pub fn wait_for_replicas_streaming(&self, leader: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let replicas = self.nodes.len() - 1;
        let sql = "SELECT count(*) FROM pg_stat_replication \
                   WHERE state = 'streaming' AND replay_lsn >= pg_current_wal_lsn()";
        loop {
            let streaming: usize = self
                .try_psql(leader, sql)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            if streaming == replicas {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{streaming} of {replicas} replicas stream from {}: {:?}\n{}",
                self.nodes[leader].name,
                self.members(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Wait until node `name` is back as a replica streaming from the leader.
    pub fn wait_for_replica(&self, index: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        let name = &self.nodes[index].name;
        loop {
            let members = self.members();
            if let Some((_, role, state)) = members.iter().find(|(n, _, _)| n == name)
                && role != "leader"
                && (state == "streaming" || state == "running")
                && self.in_recovery(index)
            {
                return role.clone();
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not rejoin: {members:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn accepts_writes(&self, index: usize) -> bool {
        self.try_psql(index, "SELECT pg_is_in_recovery()")
            .as_deref()
            == Some("f")
    }

    fn in_recovery(&self, index: usize) -> bool {
        self.try_psql(index, "SELECT pg_is_in_recovery()")
            .as_deref()
            == Some("t")
    }

    fn try_psql(&self, index: usize, sql: &str) -> Option<String> {
        let output = as_postgres(
            &bin_dir().join("psql").display().to_string(),
            self.dir.path(),
        )
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &self.dir.path().display().to_string()])
        .args(["-p", &self.nodes[index].port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "2")
        .output()
        .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// SQL as the superuser on node `index`; panics if it fails.
    pub fn psql(&self, index: usize, sql: &str) -> String {
        self.try_psql(index, sql)
            .unwrap_or_else(|| panic!("psql {sql:?} on {} failed", self.nodes[index].name))
    }

    /// `host=127.0.0.1,... port=P1,P2,P3 ...` for the module's role.
    pub fn conninfo(&self, extra: &str) -> String {
        let ports: Vec<String> = self.nodes.iter().map(|n| n.port.to_string()).collect();
        let hosts: Vec<&str> = self.nodes.iter().map(|_| "127.0.0.1").collect();
        format!(
            "host={} port={} user={ROLE} password={PASSWORD} dbname={DATABASE} sslmode=disable {extra}",
            hosts.join(","),
            ports.join(",")
        )
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// The last lines of every log, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["etcd.log", "node1.log", "node2.log", "node3.log"] {
            let log = self.log(name);
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            text.push_str(&format!("--- {name}\n{tail}\n"));
        }
        text
    }

    /// Remember a process we started, for the watchdog.
    fn note_pid(&self, pid: u32) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("pids"))
            .unwrap();
        writeln!(file, "{pid}").unwrap();
    }

    /// Kill everything of this cluster if the test process dies without
    /// dropping it: the processes it started (by pid: Patroni's first, so
    /// that none starts PostgreSQL again), then each node's postmaster.
    fn start_watchdog(&mut self) {
        let script = r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done
[ -f "$1/pids" ] && kill -KILL $(cat "$1/pids") 2>/dev/null
for data in "$1"/node*; do
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null) && kill -KILL "$pid" 2>/dev/null
done
sleep 1; rm -rf "$1""#;
        let child = Command::new("sh")
            .args(["-c", script])
            .arg(std::process::id().to_string())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.watchdog = Some(child);
    }
}

impl Drop for PatroniCluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill_node(index);
        }
        // Postmasters Patroni started and their children, then etcd.
        for node in &self.nodes {
            let data = self.dir.path().join(&node.name);
            if let Some(pid) = postmaster_pid(&data) {
                // SAFETY: kill takes plain integers; our node's postmaster.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Some(mut etcd) = self.etcd.take() {
            let _ = etcd.kill();
            let _ = etcd.wait();
        }
        // Let the killed postmasters' children notice and exit before the
        // directory goes.
        std::thread::sleep(Duration::from_millis(300));
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

fn postmaster_pid(data: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// A plain HTTP/1.0 GET on loopback; the body, if the status is 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.")
        .then_some(())
        .filter(|_| head.split_whitespace().nth(1) == Some("200"))?;
    Some(body.to_string())
}
