//! Issue 18 points 5 and 7, with both stores (files through libpam, and a
//! real PostgreSQL cluster): `disable`, `enroll --force` and
//! `recovery-codes` revoke a login already waiting at its prompt, and of
//! two enrollments of one user at once the first saved wins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::fleet::Fleet;
use common::pam_oath::{oathtool_hotp, random_hex};
use common::sshd::{cli_path, oathtool_code};
use common::*;

/// One store as the tests see it: the CLI's configuration and a module
/// service using the same store.
struct Store {
    config: PathBuf,
    service: Service,
    /// Where the files store keeps secrets (`None`: PostgreSQL).
    secrets: Option<PathBuf>,
}

impl Store {
    fn cli(&self, args: &[&str]) -> Output {
        cli(&self.config, args)
    }

    fn enroll(&self, user: &str) -> String {
        let out = self.cli(&[
            "enroll",
            "--user",
            user,
            "--force",
            "--no-confirm",
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["secret"].as_str().unwrap().to_string()
    }

    /// `list --json`: the users the store knows (enrolled or with state).
    fn known(&self) -> String {
        let out = self.cli(&["list", "--json"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    }
}

fn cli(config: &Path, args: &[&str]) -> Output {
    Command::new(cli_path())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_store(dir: &Path, extra: &str) -> Store {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{}/%u.toml\"\nstate_dir = \"{}/state\"\n{extra}\n",
            secrets.display(),
            dir.display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    Store {
        service: Service::with_args(&format!("config={}", config.display())),
        config,
        secrets: Some(secrets),
    }
}

fn postgres_store(fleet: &Fleet) -> Store {
    Store {
        config: fleet.config(),
        service: fleet.pam_host("a", ""),
        secrets: None,
    }
}

/// A login that answers the code prompt with the current code of `secret`,
/// after running `meanwhile` (the user is at the prompt).
fn login_while(store: &Store, user: &str, secret: &str, meanwhile: &[&str]) -> Outcome {
    let (config, meanwhile): (PathBuf, Vec<String>) = (
        store.config.clone(),
        meanwhile.iter().map(|s| s.to_string()).collect(),
    );
    let secret = secret.to_string();
    store.service.authenticate_responding(
        user,
        Box::new(move |_, prompt| {
            assert_eq!(prompt, "Verification code: ");
            if !meanwhile.is_empty() {
                let args: Vec<&str> = meanwhile.iter().map(String::as_str).collect();
                let out = cli(&config, &args);
                assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
            }
            Some(oathtool_code(&secret, 0).into_bytes())
        }),
    )
}

/// Point 5 on one store: each revoking command run while the user is at
/// the prompt makes the old code fail, and records nothing.
fn revocation(store: &Store, user: &str) {
    wait_clear_of_a_step_edge();
    // Positive control: nothing happens meanwhile, the code logs in.
    let secret = store.enroll(user);
    assert_eq!(login_while(store, user, &secret, &[]).code, PAM_SUCCESS);

    for revoker in [
        vec![
            "enroll",
            "--user",
            user,
            "--force",
            "--no-confirm",
            "--json",
        ],
        vec!["recovery-codes", "--user", user, "--json"],
    ] {
        wait_clear_of_a_step_edge();
        let secret = store.enroll(user);
        let outcome = login_while(store, user, &secret, &revoker);
        assert_eq!(
            outcome.code, PAM_AUTH_ERR,
            "{revoker:?}: {:?}",
            outcome.shown
        );
    }

    // disable: refused, and no state is made again, so that under
    // unenrolled = "enroll" the user is offered a new enrollment.
    wait_clear_of_a_step_edge();
    let secret = store.enroll(user);
    let outcome = login_while(store, user, &secret, &["disable", "--user", user]);
    assert_eq!(outcome.code, PAM_AUTH_ERR, "{:?}", outcome.shown);
    assert!(
        !store.known().contains(&format!("\"{user}\"")),
        "{}",
        store.known()
    );
}

#[test]
fn a_waiting_login_is_revoked_in_the_files_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = files_store(dir.path(), "");
    revocation(&store, &current_user());
}

#[test]
fn a_waiting_login_is_revoked_in_postgresql() {
    if skip_unless_root("PostgreSQL runs as its own user; the test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let store = postgres_store(&fleet);
    revocation(&store, &current_user());
}

/// A running `pam-totp enroll` (confirming a code, stdin a pipe) and what
/// it printed so far.
struct Enrolling {
    child: std::process::Child,
    stdout: Arc<Mutex<Vec<u8>>>,
}

impl Enrolling {
    /// HOTP with a known seed, so the confirming code is known ahead.
    fn start(config: &Path, user: &str, hex: &str) -> Enrolling {
        let mut child = Command::new(cli_path())
            .arg("--config")
            .arg(config)
            .args(["enroll", "--user", user, "--hotp", "--secret-hex", hex])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stdout);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1024];
            while let Ok(n) = out.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Enrolling { child, stdout }
    }

    /// Wait until it asks for the code: it has looked for an enrollment
    /// already and found none.
    fn wait_for_prompt(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !text(&self.stdout.lock().unwrap()).contains("code") {
            assert!(Instant::now() < deadline, "no prompt");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answer(mut self, code: &str) -> (bool, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        writeln!(stdin, "{code}").unwrap();
        drop(stdin);
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = self.child.wait().unwrap();
        (status.success(), stderr)
    }
}

/// Point 7 on one store: two `enroll` runs at once, the first saved wins;
/// the other is told and saves nothing.
fn first_save_wins(store: &Store, user: &str) {
    let _ = store.cli(&["disable", "--user", user]);
    let hex = random_hex(20);
    let slow = Enrolling::start(&store.config, user, &hex);
    slow.wait_for_prompt();
    let first = store.enroll(user);
    let (saved, said) = slow.answer(&oathtool_hotp(&hex, 0, 6));
    assert!(!saved, "the second enrollment replaced the first: {said}");
    assert!(said.contains("enrolled meanwhile"), "{said}");
    // The first one is still in place: its code logs in.
    wait_clear_of_a_step_edge();
    let outcome = login_while(store, user, &first, &[]);
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    if let Some(secrets) = &store.secrets {
        assert!(
            std::fs::read_dir(secrets).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")),
            "a temporary file was left"
        );
    }
}

#[test]
fn of_two_enrollments_at_once_the_first_saved_wins_in_the_files_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = files_store(dir.path(), "");
    first_save_wins(&store, &current_user());
}

#[test]
fn of_two_enrollments_at_once_the_first_saved_wins_in_postgresql() {
    if skip_unless_root("PostgreSQL runs as its own user; the test needs root") {
        return;
    }
    let fleet = Fleet::start();
    let store = postgres_store(&fleet);
    first_save_wins(&store, &current_user());
}
