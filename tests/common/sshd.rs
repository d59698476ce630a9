//! A throwaway OpenSSH server on 127.0.0.1 with its own PAM service, and a
//! real `ssh` client that answers keyboard-interactive prompts through
//! SSH_ASKPASS. Needs root (CI runs as root).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Kept for callers of the old helper.
#[allow(unused_imports)]
pub use super::ports::free_port;
use super::ports::{ReservedPort, reserve_port};

/// A local user for end-to-end tests, created if missing (removed on drop if we made it).
pub struct TestUser {
    pub name: String,
    pub home: PathBuf,
    created: bool,
}

/// Run a user-management command, retrying while another process holds
/// the lock on /etc/passwd or /etc/group (tests run in parallel).
pub fn manage(program: &str, args: &[&str]) {
    super::hold_test_users();
    for _ in 0..50 {
        let output = Command::new(program).args(args).output().unwrap();
        if output.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !stderr.contains("lock") {
            panic!("{program} {args:?} failed: {stderr}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{program} {args:?}: /etc/passwd stayed locked");
}

/// Best-effort removal (userdel, groupdel), retried while /etc/passwd is locked.
pub fn remove(program: &str, args: &[&str]) {
    super::hold_test_users();
    for _ in 0..50 {
        match Command::new(program).args(args).output() {
            Ok(output) if output.status.success() => return,
            Ok(output) if String::from_utf8_lossy(&output.stderr).contains("lock") => {
                std::thread::sleep(Duration::from_millis(200));
            }
            _ => return,
        }
    }
}

impl TestUser {
    pub fn create(name: &str) -> TestUser {
        super::hold_test_users();
        let exists = Command::new("id")
            .arg(name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        if !exists {
            manage("useradd", &["--create-home", "--shell", "/bin/sh", name]);
        }
        let account = pam_totp::system::account::lookup_user(name).unwrap();
        TestUser {
            name: name.to_string(),
            home: account.home,
            created: !exists,
        }
    }

    /// Run a command as this user (runuser), returning its output.
    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("runuser")
            .arg("-u")
            .arg(&self.name)
            .arg("--")
            .arg(program)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.created {
            remove("userdel", &["--remove", &self.name]);
        }
    }
}

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub service: String,
    child: Child,
    pam_file: PathBuf,
    /// Held while sshd runs: no other test is given this port.
    reserved: ReservedPort,
}

impl Sshd {
    /// Start sshd with PAM service `service` whose stack is `pam_stack`
    /// (written to /etc/pam.d/SERVICE) and extra sshd_config lines, on a
    /// loopback port reserved for it as long as it runs.
    pub fn start(service: &str, pam_stack: &str, config_lines: &str) -> Sshd {
        let dir = tempfile::tempdir().unwrap();
        // sshd's privilege separation directory; never removed (other
        // tests' sshd and the system's need it).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let host_key = dir.path().join("host_key");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&host_key),
        );
        // sshd names its PAM service after its own program name.
        let binary = dir.path().join(service);
        std::fs::copy("/usr/sbin/sshd", &binary).unwrap();
        let pam_file = PathBuf::from("/etc/pam.d").join(service);
        std::fs::write(&pam_file, pam_stack).unwrap();
        let config = dir.path().join("sshd_config");
        let log = dir.path().join("sshd.log");
        let mut failures = Vec::new();
        // A port reserved and found free can still be taken by a process
        // outside the tests before sshd binds it: then another port.
        for _ in 0..5 {
            let reserved = reserve_port();
            let port = reserved.port();
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}/sshd.pid\n\
                     UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\n\
                     PubkeyAuthentication yes\nStrictModes no\nLogLevel VERBOSE\n{config_lines}\n",
                    host_key.display(),
                    dir.path().display()
                ),
            )
            .unwrap();
            match spawn_listening(&binary, &config, &log, port) {
                Ok(child) => {
                    return Sshd {
                        dir,
                        port,
                        service: service.to_string(),
                        child,
                        pam_file,
                        reserved,
                    };
                }
                Err(why) => failures.push(format!("port {port}: {why}")),
            }
        }
        let _ = std::fs::remove_file(&pam_file);
        panic!("sshd did not start:\n{}", failures.join("\n"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many log lines since `mark` start with `prefix`, waiting up to
    /// 5 s for there to be `expected`: sshd's per-connection processes log
    /// through its listener, so a line may come in after the client is done.
    pub fn count_lines(&self, mark: usize, prefix: &str, expected: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let count = self
                .log_since(mark)
                .lines()
                .filter(|line| line.starts_with(prefix))
                .count();
            if count >= expected || Instant::now() > deadline {
                return count;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A place in the log, for `log_since`.
    pub fn log_mark(&self) -> usize {
        self.log().len()
    }

    /// What sshd logged since `mark`.
    pub fn log_since(&self, mark: usize) -> String {
        self.log().get(mark..).unwrap_or_default().to_string()
    }
}

/// Run `spawn` again while it fails with ETXTBSY: the copied sshd binary
/// is still open for writing in a child another test thread forked while
/// the copy was being written (it closes at that child's exec).
fn spawn_retrying_busy(mut spawn: impl FnMut() -> std::io::Result<Child>) -> Child {
    let mut tries = 0;
    loop {
        match spawn() {
            Err(error) if error.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result.unwrap(),
        }
    }
}

/// Start sshd and wait until it accepts connections on `port`; an sshd
/// that exits (the port was taken) or stays silent is killed and an error.
fn spawn_listening(binary: &Path, config: &Path, log: &Path, port: u16) -> Result<Child, String> {
    let mut child = spawn_retrying_busy(|| {
        Command::new(binary)
            .args(["-D", "-e", "-f"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
    });
    let said = || std::fs::read_to_string(log).unwrap_or_default();
    // sshd logs this once its socket listens.
    let listening = format!("Server listening on 127.0.0.1 port {port}.");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("sshd exited ({status}): {}", said()));
        }
        if said().contains(&listening) && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("sshd did not listen within 10 s: {}", said()))
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.pam_file);
    }
}

/// A client key pair authorised for `user`.
pub struct ClientKey {
    pub dir: tempfile::TempDir,
    pub private: PathBuf,
}

impl ClientKey {
    pub fn authorize_for(user: &TestUser) -> ClientKey {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("id_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&private),
        );
        let public = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).unwrap();
        let ssh_dir = user.home.join(".ssh");
        std::fs::create_dir_all(&ssh_dir).unwrap();
        std::fs::write(ssh_dir.join("authorized_keys"), public).unwrap();
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg(format!("{0}:", user.name))
                .arg(&ssh_dir),
        );
        ClientKey { dir, private }
    }
}

/// What one `ssh` login did.
pub struct Login {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    /// The prompts the client was asked, in order.
    pub prompts: Vec<String>,
}

impl Login {
    /// The methods the server offered when it refused the login, from
    /// ssh's "Permission denied (publickey)." line.
    pub fn denied_with(&self) -> Option<&str> {
        let (_, rest) = self.stderr.split_once("Permission denied (")?;
        Some(rest.split_once(')')?.0)
    }
}

/// Log in with `ssh` as `user`, answering each keyboard-interactive prompt
/// with the next of `answers`, and run `echo logged-in-as-$(id -un)`.
pub fn ssh_login(port: u16, user: &str, key: Option<&Path>, answers: &[&str]) -> Login {
    ssh_login_with(port, user, key, answers, &[])
}

/// [`ssh_login`] with extra `ssh -o` options, which win over the defaults
/// (ssh takes the first value it is given), e.g. `LogLevel=INFO` to see the
/// messages PAM shows.
pub fn ssh_login_with(
    port: u16,
    user: &str,
    key: Option<&Path>,
    answers: &[&str],
    options: &[&str],
) -> Login {
    let dir = tempfile::tempdir().unwrap();
    let answers_file = dir.path().join("answers");
    std::fs::write(&answers_file, answers.join("\n") + "\n").unwrap();
    let prompts_file = dir.path().join("prompts");
    let askpass = dir.path().join("askpass");
    // Each call records its prompt and prints the next answer.
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> {prompts}\nn=$(wc -l < {prompts})\nsed -n \"${{n}}p\" {answers}\n",
            prompts = prompts_file.display(),
            answers = answers_file.display()
        ),
    )
    .unwrap();
    run_ok(Command::new("chmod").arg("700").arg(&askpass));
    let mut command = Command::new("ssh");
    for option in options {
        command.args(["-o", option]);
    }
    command
        .args(["-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
        ])
        .args([
            "-o",
            "NumberOfPasswordPrompts=1",
            "-o",
            "ConnectTimeout=10",
            "-F",
            "/dev/null",
        ]);
    match key {
        Some(key) => {
            command
                .arg("-i")
                .arg(key)
                .args(["-o", "IdentitiesOnly=yes"]);
        }
        None => {
            command.args(["-o", "PubkeyAuthentication=no"]);
        }
    }
    let output = command
        .arg(format!("{user}@127.0.0.1"))
        .arg("echo logged-in-as-$(id -un)")
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let prompts = std::fs::read_to_string(&prompts_file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    Login {
        success: output.status.success() && stdout.contains(&format!("logged-in-as-{user}")),
        stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        prompts,
    }
}

/// Enroll `user` with the CLI as root would (`enroll --user U --no-confirm
/// --json --force`) and return the base32 secret from its JSON.
pub fn enroll_as_root(user: &str) -> String {
    enrollment_as_root(user)["secret"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The same, returning the whole JSON (the secret, the recovery codes ...).
pub fn enrollment_as_root(user: &str) -> serde_json::Value {
    let enroll = Command::new(cli_path())
        .arg("--config")
        .arg(test_config())
        .args([
            "enroll",
            "--user",
            user,
            "--no-confirm",
            "--json",
            "--force",
        ])
        .output()
        .unwrap();
    assert!(
        enroll.status.success(),
        "enroll failed: {}",
        String::from_utf8_lossy(&enroll.stderr)
    );
    serde_json::from_slice(&enroll.stdout).unwrap()
}

/// The current TOTP code for a base32 secret, from oathtool (an
/// implementation independent of ours).
pub fn oathtool_code(secret_base32: &str, offset_steps: i64) -> String {
    let now = super::now() as i64 + offset_steps * 30;
    let output = Command::new("oathtool")
        .args(["--totp", "-b", "--now"])
        .arg(format!("@{now}"))
        .arg(secret_base32)
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(output.status.success(), "oathtool failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn run_ok(command: &mut Command) {
    let status = command.stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "{command:?} failed");
}

/// The tests' configuration file: every key at its default except
/// `state_dir` (in the target directory). The sshd stacks pass it as
/// `config=` and `enrollment_as_root` as `--config`, so no test reads the
/// machine's /etc/pam-totp/config.toml (on a host with `store =
/// "postgresql"` a test would enroll users in the real database) or writes
/// /var/lib/pam-totp. Written once per process, atomically (test binaries
/// run at the same time share it).
pub fn test_config() -> &'static Path {
    static CONFIG: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CONFIG.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pam-totp-test-config");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        let text = format!(
            "# Written by the tests (tests/common/sshd.rs): defaults, but not the machine's state.\nstate_dir = \"{}\"\n",
            dir.join("state").display()
        );
        let partial = dir.join(format!("config.toml.{}", std::process::id()));
        std::fs::write(&partial, text).unwrap();
        super::set_mode(&partial, 0o644);
        std::fs::rename(&partial, &path).unwrap();
        path
    })
}

/// A pam.d file from the repository with `pam_totp.so` replaced by the
/// module this test run built, given `extra_args` and, unless they name
/// one, the tests' configuration (`config=`, see [`test_config`]).
pub fn repository_stack(name: &str, extra_args: &str) -> String {
    let extra_args = if extra_args
        .split_whitespace()
        .any(|a| a.starts_with("config="))
    {
        extra_args.to_string()
    } else {
        format!("config={} {extra_args}", test_config().display())
    };
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("pam.d")
            .join(name),
    )
    .unwrap();
    let module = super::module_path();
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with('#') || !line.contains("pam_totp.so") {
                line.to_string()
            } else {
                format!(
                    "{} {extra_args}",
                    line.replace("pam_totp.so", &module.display().to_string())
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The CLI this test run built.
pub fn cli_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pam-totp"))
}
