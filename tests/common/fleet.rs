//! A fleet for tests: one real PostgreSQL cluster, a configuration with
//! `store = "postgresql"`, and "hosts" that share it, each with its own
//! `state_dir` (PAM services through libpam, or sshd instances).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::pg::{PgCluster, PgOptions};
use super::sshd::{Sshd, cli_path, repository_stack};
use super::{Service, module_path, set_mode};

/// `database_timeout` in the fleet's configuration, in seconds.
pub const DATABASE_TIMEOUT: u64 = 3;

pub struct Fleet {
    pub db: PgCluster,
    pub dir: tempfile::TempDir,
}

impl Fleet {
    /// A cluster, `database.conf`, the configuration, and `db init` run.
    pub fn start() -> Fleet {
        Fleet::start_with(PgOptions::default(), None)
    }

    /// The same with cluster options and a connection string of one's own.
    pub fn start_with(options: PgOptions, conninfo: Option<&str>) -> Fleet {
        Fleet::on(PgCluster::start(options), conninfo)
    }

    /// A fleet on a running cluster, reached through `conninfo` (e.g. a
    /// primary and its standby).
    pub fn start_on(db: PgCluster, conninfo: &str) -> Fleet {
        Fleet::on(db, Some(conninfo))
    }

    fn on(db: PgCluster, conninfo: Option<&str>) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let fleet = Fleet { db, dir };
        let conninfo = conninfo.map_or_else(|| fleet.db.conninfo(), str::to_string);
        fleet.write_conninfo(&conninfo);
        std::fs::write(
            fleet.config(),
            format!(
                "store = \"postgresql\"\ndatabase_file = \"{}\"\nsecret_key_file = \"{}\"\ndatabase_timeout = {DATABASE_TIMEOUT}\n",
                fleet.database_file().display(),
                fleet.key_file().display()
            ),
        )
        .unwrap();
        set_mode(&fleet.config(), 0o644);
        let init = fleet.cli(&["db", "init"]);
        assert!(init.status.success(), "db init: {}", text(&init.stderr));
        fleet
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn database_file(&self) -> PathBuf {
        self.dir.path().join("database.conf")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("secret.key")
    }

    pub fn write_conninfo(&self, conninfo: &str) {
        std::fs::write(self.database_file(), conninfo).unwrap();
        set_mode(&self.database_file(), 0o600);
    }

    /// `pam-totp --config CONFIG ARGS...` as root.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(cli_path())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .output()
            .unwrap()
    }

    /// `pam-totp check` for this fleet's configuration, with a PAM file and
    /// an sshd_config of its own (nothing of the machine's is read): its
    /// exit status and stdout.
    pub fn check(&self) -> (i32, String) {
        let dir = self.dir.path();
        std::fs::write(
            dir.join("pam-sshd"),
            format!(
                "auth required {} config={}\n@include common-account\n",
                module_path().display(),
                self.config().display()
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("sshd_config"),
            "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n",
        )
        .unwrap();
        let output = Command::new(cli_path())
            .arg("--config")
            .arg(self.config())
            .arg("check")
            .arg("--pam-file")
            .arg(dir.join("pam-sshd"))
            .arg("--sshd-config")
            .arg(dir.join("sshd_config"))
            .output()
            .unwrap();
        (
            output.status.code().unwrap(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    /// New recovery codes for `user` (`recovery-codes --user U --json`).
    pub fn recovery_codes(&self, user: &str) -> Vec<String> {
        let out = self.cli(&["recovery-codes", "--user", user, "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    }

    /// Enroll `user` in the database; the base32 secret.
    pub fn enroll(&self, user: &str) -> String {
        let enroll = self.cli(&[
            "enroll",
            "--user",
            user,
            "--no-confirm",
            "--json",
            "--force",
        ]);
        assert!(enroll.status.success(), "enroll: {}", text(&enroll.stderr));
        let json: serde_json::Value = serde_json::from_slice(&enroll.stdout).unwrap();
        json["secret"].as_str().unwrap().to_string()
    }

    /// Module arguments for a host whose own state lives in `state_dir`.
    pub fn module_args(&self, state_dir: &Path) -> String {
        format!(
            "config={} state_dir={}",
            self.config().display(),
            state_dir.display()
        )
    }

    /// A "host" seen through libpam: its own PAM service and state_dir.
    pub fn pam_host(&self, name: &str, extra: &str) -> Service {
        let state = self.dir.path().join(format!("state-{name}"));
        Service::with_stack(&format!(
            "auth required {} {} {extra}\n",
            module_path().display(),
            self.module_args(&state)
        ))
    }

    /// A "host" that is a real sshd (key + code), with its own state_dir.
    pub fn sshd_host(&self, name: &str, extra_sshd: &str) -> Sshd {
        self.sshd_host_with(name, "", extra_sshd)
    }

    /// The same with more module arguments (`max_failures=100`).
    pub fn sshd_host_with(&self, name: &str, extra_args: &str, extra_sshd: &str) -> Sshd {
        let state = self.dir.path().join(format!("state-{name}"));
        let args = format!("{} {extra_args}", self.module_args(&state));
        let stack = repository_stack("sshd-key-and-code", args.trim_end());
        Sshd::start(
            name,
            &stack,
            &format!("AuthenticationMethods publickey,keyboard-interactive\n{extra_sshd}"),
        )
    }
}

/// A PAM service running `module` with `store = "postgresql"` and a
/// configuration in `dir` whose `database.conf` does not exist: once the
/// store is loaded, a login is refused before any connection.
pub fn service_without_database(module: &Path, dir: &Path) -> Service {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"postgresql\"\ndatabase_file = \"{0}/database.conf\"\nsecret_key_file = \"{0}/secret.key\"\n",
            dir.display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    Service::with_stack(&format!(
        "auth required {} config={} state_dir={}/state\n",
        module.display(),
        config.display(),
        dir.display()
    ))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
