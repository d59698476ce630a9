//! `make bench`: pam_totp against google-authenticator-libpam and pam_oath,
//! with pam_permit as the baseline, on the same secret, in one run.
//!
//! Prints one Markdown table (also written to target/bench/results.md) and
//! keeps the callgrind profiles in target/bench/ for callgrind_annotate.
//! Needs root: it creates users `pt7-*`, PAM services `/etc/pam.d/pt7-*`
//! and sshd instances on 127.0.0.1, and removes them when done.
#![allow(
    dead_code,
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "compare/callgrind.rs"]
mod callgrind;
#[path = "../tests/common/mod.rs"]
mod common;
#[path = "compare/pam.rs"]
mod pam;
#[path = "compare/pool.rs"]
mod pool;
#[path = "compare/setup.rs"]
mod setup;
#[path = "compare/ssh.rs"]
mod ssh;
#[path = "compare/stores.rs"]
mod stores;
#[path = "compare/table.rs"]
mod table;

use std::ffi::{CString, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::{Sshd, TestUser, ssh_login};
use pam::authenticate_timed;
use table::{Report, group, machine, median, percentile, spread};

const USER: &str = "pt7-bench";
/// Instructions added over pam_permit for a right code through the files
/// store, as BENCHMARKS.md recorded them in the previous round (the same
/// measurement: callgrind, pamtester, median of three).
const RECORDED_FILES_RIGHT: u64 = 287_234;
/// An SSH login through the PostgreSQL store at most this many times one
/// through the files store (median, same run).
const TARGET_RATIO: f64 = 1.10;
const PAM_DIR: &str = "/etc/pam.d";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Module {
    Permit,
    Totp,
    Gauth,
    Oath,
    /// pam_totp with `store = "postgresql"`, plain TCP on 127.0.0.1.
    TotpPg,
    /// The same over TLS, `sslmode=verify-full` against a test CA.
    TotpPgTls,
    /// TLS with a client certificate (pg_hba `cert`), no password.
    TotpPgCert,
    /// Through a local PgBouncer in transaction pooling (Unix socket).
    TotpPgBouncer,
}

const MODULES: [Module; 4] = [Module::Permit, Module::Totp, Module::Gauth, Module::Oath];
const PEERS: [Module; 3] = [Module::Totp, Module::Gauth, Module::Oath];
/// pam_totp's stores, side by side (the second table).
const STORES: [Module; 5] = [
    Module::Totp,
    Module::TotpPg,
    Module::TotpPgTls,
    Module::TotpPgCert,
    Module::TotpPgBouncer,
];
const PG_STORES: [Module; 4] = [
    Module::TotpPg,
    Module::TotpPgTls,
    Module::TotpPgCert,
    Module::TotpPgBouncer,
];

impl Module {
    fn service(self) -> &'static str {
        match self {
            Module::Permit => "pt7-permit",
            Module::Totp => "pt7-totp",
            Module::Gauth => "pt7-gauth",
            Module::Oath => "pt7-oath",
            Module::TotpPg => "pt7-totp-pg",
            Module::TotpPgTls => "pt7-totp-pgtls",
            Module::TotpPgCert => "pt7-totp-pgcert",
            Module::TotpPgBouncer => "pt7-totp-pgbouncer",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Module::Permit => "pam_permit (baseline)",
            Module::Totp => "pam_totp (this)",
            Module::Gauth => "google-authenticator",
            Module::Oath => "pam_oath",
            Module::TotpPg => "pam_totp, PostgreSQL",
            Module::TotpPgTls => "pam_totp, PostgreSQL + TLS",
            Module::TotpPgCert => "pam_totp, PostgreSQL + TLS, client certificate",
            Module::TotpPgBouncer => "pam_totp, local PgBouncer (transaction pooling)",
        }
    }

    /// pam_totp with `store = "postgresql"`.
    fn is_pg(self) -> bool {
        PG_STORES.contains(&self)
    }
}

/// Where the three modules keep one user's secret and state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// What each module does by default: ~/.config/pam-totp/secret.toml and
    /// ~/.google_authenticator read as the user; one users.oath file.
    Home,
    /// Administrator stores in shared directories (for the enrolled-users
    /// scaling rows): `secret_path=DIR/%u.toml`, `secret=DIR/${USER} user=root`.
    Shared,
}

struct Bench {
    work: tempfile::TempDir,
    out: PathBuf,
    module: PathBuf,
    cli: PathBuf,
    secret_b32: String,
    secret_toml: String,
    scratch: Vec<String>,
    quick: bool,
    user: TestUser,
    /// pam_totp's state files for USER after one login, per state
    /// directory: written back before each measured authentication.
    totp_state: std::sync::Mutex<Vec<(PathBuf, Files)>>,
    /// The PostgreSQL stores (one cluster each: plain, TLS).
    pg: Vec<stores::PgStore>,
}

fn main() {
    assert!(common::is_root(), "make bench needs root");
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let started = Instant::now();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let _cleanup = PamFiles;
    let _syslog = SyslogSink::start();
    let bench = Bench::new(out, quick);
    let mut report = Report::new();

    // BENCH_ONLY=wall,ssh (for example) runs only those parts.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let parts: [(&str, Part); 8] = [
        ("libraries", Bench::libraries),
        ("instructions", Bench::instructions),
        ("stores", Bench::stores),
        ("wall", Bench::wall_time),
        ("memory", Bench::memory),
        ("window", Bench::windows),
        ("users", Bench::enrolled_users),
        ("ssh", Bench::ssh),
    ];
    for (name, part) in parts {
        if only.is_empty() || only.split(',').any(|o| o == name) {
            eprintln!("[{:>4}s] {name}", started.elapsed().as_secs());
            part(&bench, &mut report);
        }
    }
    eprintln!("[{:>4}s] done", started.elapsed().as_secs());

    let text = format!("{}\n{}", machine(), report.render());
    println!("{text}");
    std::fs::write(bench.out.join("results.md"), &text).unwrap();
}

/// Files with their contents.
type Files = Vec<(PathBuf, Vec<u8>)>;

/// One part of the bench, adding rows to the tables.
type Part = fn(&Bench, &mut Report);

/// Removes every /etc/pam.d/pt7-* file on the way out, even after a panic.
struct PamFiles;

impl Drop for PamFiles {
    fn drop(&mut self) {
        for module in MODULES.iter().chain(&PG_STORES) {
            let _ = std::fs::remove_file(Path::new(PAM_DIR).join(module.service()));
        }
    }
}

/// Without a syslog daemon, glibc's syslog (LOG_CONS, as pam_syslog opens
/// it) writes each line to /dev/console, about 3 ms apiece on this kind of
/// machine; real servers have journald or rsyslog on /dev/log. If nothing
/// listens there, this stands in for one (reads and drops the lines) and
/// removes the socket at the end.
struct SyslogSink {
    created: bool,
}

impl SyslogSink {
    fn start() -> SyslogSink {
        let path = Path::new("/dev/log");
        if path.exists()
            || std::os::unix::net::UnixDatagram::unbound()
                .and_then(|s| s.connect(path))
                .is_ok()
        {
            return SyslogSink { created: false };
        }
        let Ok(socket) = std::os::unix::net::UnixDatagram::bind(path) else {
            eprintln!(
                "note: no syslog daemon and /dev/log cannot be created; log lines go to the console"
            );
            return SyslogSink { created: false };
        };
        set_mode(path, 0o666);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while socket.recv(&mut buffer).is_ok() {}
        });
        eprintln!("note: no syslog daemon; the bench drains /dev/log (as journald would)");
        SyslogSink { created: true }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file("/dev/log");
        }
    }
}

// ---- helpers -----------------------------------------------------------------

fn generator(secret_b32: &str) -> pam_totp::otp::code::Generator {
    pam_totp::otp::code::Generator::new(
        &common::base32_decode(secret_b32),
        pam_totp::otp::code::HashAlgorithm::Sha1,
        6,
        30,
    )
    .unwrap()
}

/// Every regular file in `dir` with its contents.
fn directory_contents(dir: &Path) -> Files {
    let mut files: Files = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

fn write_file(path: &Path, text: &str, mode: u32, owner: Option<(u32, u32)>) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, text).unwrap();
    set_mode(path, mode);
    if let Some((uid, gid)) = owner {
        chown(path, Some(uid), Some(gid)).unwrap();
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn owner_of(path: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

fn run_ok(command: &mut Command) {
    let status = command.stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "{command:?} failed");
}

fn run_text(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
