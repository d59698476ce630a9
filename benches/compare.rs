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

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "compare/stores.rs"]
mod stores;

use std::ffi::{CString, c_char, c_int, c_void};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::{Sshd, TestUser, ssh_login};

const USER: &str = "pt7-bench";
/// Instructions added over pam_permit for a right code through the files
/// store, as BENCHMARKS.md recorded them before the PostgreSQL store was
/// added (the same measurement: callgrind, pamtester, median of three).
const RECORDED_FILES_RIGHT: u64 = 313_032;
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
}

const MODULES: [Module; 4] = [Module::Permit, Module::Totp, Module::Gauth, Module::Oath];
const PEERS: [Module; 3] = [Module::Totp, Module::Gauth, Module::Oath];
/// pam_totp's stores, side by side (the second table).
const STORES: [Module; 3] = [Module::Totp, Module::TotpPg, Module::TotpPgTls];
const PG_STORES: [Module; 2] = [Module::TotpPg, Module::TotpPgTls];

impl Module {
    fn service(self) -> &'static str {
        match self {
            Module::Permit => "pt7-permit",
            Module::Totp => "pt7-totp",
            Module::Gauth => "pt7-gauth",
            Module::Oath => "pt7-oath",
            Module::TotpPg => "pt7-totp-pg",
            Module::TotpPgTls => "pt7-totp-pgtls",
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
        }
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

impl Bench {
    fn new(out: PathBuf, quick: bool) -> Bench {
        let module = common::module_path();
        // cargo bench builds the command along with the bench.
        let cli = common::sshd::cli_path();
        assert!(cli.exists(), "{} not built", cli.display());
        let user = TestUser::create(USER);
        let work = tempfile::Builder::new()
            .prefix("pt7-bench.")
            .tempdir()
            .unwrap();
        set_mode(work.path(), 0o755);
        // The documented example configuration (all defaults) plus the
        // bench's state directory, as an administrator would install it.
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pam-totp.toml"),
        )
        .unwrap();
        std::fs::write(
            work.path().join("config.toml"),
            format!(
                "{example}\nstate_dir = \"{}\"\n",
                work.path().join("state").display()
            ),
        )
        .unwrap();
        // Root's and not writable by others, as the module requires.
        set_mode(&work.path().join("config.toml"), 0o644);
        for dir in ["state", "ssh-state"] {
            std::fs::create_dir(work.path().join(dir)).unwrap();
            set_mode(&work.path().join(dir), 0o700);
        }
        // Enroll the way a user would; the other modules get the same secret.
        let output = Command::new(&cli)
            .arg("--config")
            .arg(work.path().join("config.toml"))
            .args([
                "enroll",
                "--user",
                USER,
                "--force",
                "--no-confirm",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pam-totp enroll failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let secret_b32 = json["secret"].as_str().unwrap().replace(' ', "");
        let secret_toml =
            std::fs::read_to_string(user.home.join(".config/pam-totp/secret.toml")).unwrap();
        // google-authenticator's own setup writes five 8-digit scratch codes.
        let scratch = (0..5)
            .map(|i| format!("{}", 40_000_000 + i * 1_234_567))
            .collect();
        Bench {
            work,
            out,
            module,
            cli,
            secret_b32,
            secret_toml,
            scratch,
            quick,
            user,
            totp_state: std::sync::Mutex::new(Vec::new()),
            pg: stores::PgStore::start_all(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    fn secret_hex(&self) -> String {
        common::base32_decode(&self.secret_b32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn gauth_text(&self, window: u32) -> String {
        // No RATE_LIMIT line: rate limiting off, so wrong codes can repeat.
        format!(
            "{}\n\" WINDOW_SIZE {}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{}\n",
            self.secret_b32,
            2 * window + 1,
            self.scratch.join("\n")
        )
    }

    fn oath_line(&self, user: &str) -> String {
        format!("HOTP/T30/6\t{user}\t-\t{}\n", self.secret_hex())
    }

    /// Write /etc/pam.d/pt7-* for `layout` and `window`.
    fn configure(&self, layout: Layout, window: u32) {
        let config = self.path("config.toml");
        let lockouts_off = "max_failures=1000";
        let (totp, gauth, oath) = match layout {
            Layout::Home => (
                format!("config={} window={window} {lockouts_off}", config.display()),
                String::new(),
                format!(
                    "usersfile={} window={window} digits=6",
                    self.path("users.oath").display()
                ),
            ),
            Layout::Shared => (
                format!(
                    "config={} secret_path={}/%u.toml state_dir={} window={window} {lockouts_off}",
                    config.display(),
                    self.path("shared/totp-secrets").display(),
                    self.path("shared/totp-state").display()
                ),
                format!(
                    "secret={}/${{USER}} user=root",
                    self.path("shared/gauth").display()
                ),
                format!(
                    "usersfile={} window={window} digits=6",
                    self.path("shared/users.oath").display()
                ),
            ),
        };
        let stacks = [
            (Module::Permit, "auth required pam_permit.so".to_string()),
            (
                Module::Totp,
                format!("auth required {} {totp}", self.module.display()),
            ),
            (
                Module::Gauth,
                format!("auth required pam_google_authenticator.so {gauth}"),
            ),
            (Module::Oath, format!("auth required pam_oath.so {oath}")),
            (
                Module::TotpPg,
                format!(
                    "auth required {} {}",
                    self.module.display(),
                    self.pg_args(Module::TotpPg, window)
                ),
            ),
            (
                Module::TotpPgTls,
                format!(
                    "auth required {} {}",
                    self.module.display(),
                    self.pg_args(Module::TotpPgTls, window)
                ),
            ),
        ];
        for (module, stack) in stacks {
            std::fs::write(Path::new(PAM_DIR).join(module.service()), stack + "\n").unwrap();
        }
        self.reset_all(layout, window);
    }

    /// Put every module's files for USER back to "enrolled, not used yet".
    fn reset_all(&self, layout: Layout, window: u32) {
        for module in PEERS.iter().chain(&PG_STORES) {
            self.reset(*module, layout, window);
        }
    }

    fn reset(&self, module: Module, layout: Layout, window: u32) {
        match (module, layout) {
            (Module::Permit, _) => {}
            (Module::TotpPg | Module::TotpPgTls, _) => self.restore_pg_state(module),
            (Module::Totp, Layout::Home) => self.restore_totp_state(&self.path("state")),
            (Module::Totp, Layout::Shared) => {
                self.restore_totp_state(&self.path("shared/totp-state"))
            }
            (Module::Gauth, Layout::Home) => {
                let path = self.user.home.join(".google_authenticator");
                let owner = owner_of(&self.user.home);
                write_file(&path, &self.gauth_text(window), 0o400, Some(owner));
            }
            (Module::Gauth, Layout::Shared) => {
                write_file(
                    &self.path("shared/gauth").join(USER),
                    &self.gauth_text(window),
                    0o600,
                    None,
                );
            }
            (Module::Oath, Layout::Home) => {
                write_file(&self.path("users.oath"), &self.oath_line(USER), 0o600, None);
            }
            (Module::Oath, Layout::Shared) => {
                std::fs::copy(
                    self.path("shared/users.oath.pristine"),
                    self.path("shared/users.oath"),
                )
                .unwrap();
            }
        }
    }

    /// Put back USER's pam_totp state as the module wrote it after a login
    /// one time step before the first measurement (so any later code is
    /// fresh). The module writes it itself, whatever its file names and
    /// format: the first time, log in once with the previous step's code
    /// (window 1 accepts it) and keep what changed in the directory.
    fn restore_totp_state(&self, dir: &Path) {
        let mut saved = self.totp_state.lock().unwrap();
        if let Some((_, files)) = saved.iter().find(|(d, _)| d == dir) {
            for (path, bytes) in files {
                let _ = std::fs::remove_file(path);
                std::fs::write(path, bytes).unwrap();
                set_mode(path, 0o600);
            }
            return;
        }
        let before = directory_contents(dir);
        let generator = generator(&self.secret_b32);
        let mut last_rc = -1;
        for _ in 0..3 {
            let previous = generator.step_at(common::now()) - 1;
            let (rc, _) = authenticate_timed(
                Module::Totp.service(),
                USER,
                &generator.code_for_step(previous),
            );
            last_rc = rc;
            if rc == 0 {
                break;
            }
        }
        assert_eq!(last_rc, 0, "pam_totp refused the previous step's code");
        let files: Files = directory_contents(dir)
            .into_iter()
            .filter(|file| !before.contains(file))
            .collect();
        assert!(
            !files.is_empty(),
            "pam_totp wrote no state in {}",
            dir.display()
        );
        saved.push((dir.to_path_buf(), files));
    }

    fn right_code(&self) -> String {
        common::sshd::oathtool_code(&self.secret_b32, 0)
    }

    /// USER's secret (base32) in `module`'s store.
    fn secret_of(&self, module: Module) -> &str {
        match module {
            Module::TotpPg | Module::TotpPgTls => &self.pg_store(module).secret_b32,
            _ => &self.secret_b32,
        }
    }

    fn right_code_for(&self, module: Module) -> String {
        common::sshd::oathtool_code(self.secret_of(module), 0)
    }

    /// A code that no step near now produces (for any of the secrets).
    fn wrong_code(&self) -> String {
        let secrets: Vec<&str> = std::iter::once(self.secret_b32.as_str())
            .chain(self.pg.iter().map(|pg| pg.secret_b32.as_str()))
            .collect();
        let near: Vec<String> = secrets
            .iter()
            .flat_map(|secret| {
                let generator = generator(secret);
                let current = generator.step_at(common::now());
                (current - 12..=current + 12)
                    .map(|step| generator.code_for_step(step))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut candidate: u32 = 0;
        loop {
            let code = format!("{candidate:06}");
            if !near.contains(&code) {
                return code;
            }
            candidate += 111_111;
        }
    }

    // ---- (1) instructions ------------------------------------------------

    /// Instructions of one `pamtester SERVICE pt7-bench authenticate`.
    fn callgrind(&self, module: Module, right: bool, label: &str) -> u64 {
        let answer = if right {
            self.right_code_for(module)
        } else {
            self.wrong_code()
        };
        let out_file = self.out.join(format!("callgrind.{label}.out"));
        let mut child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .args(["pamtester", module.service(), USER, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .ok(); // pam_permit asks nothing; pamtester may be gone already
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = right || module == Module::Permit;
        assert_eq!(
            output.status.success(),
            expected,
            "pamtester {} with a {} code: {}",
            module.service(),
            if right { "right" } else { "wrong" },
            stderr
        );
        stderr
            .lines()
            .find_map(|line| line.split("Collected : ").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no callgrind total in: {stderr}"))
    }

    /// Median of three runs, module state reset before each.
    fn instructions_of(
        &self,
        module: Module,
        right: bool,
        layout: Layout,
        window: u32,
        label: &str,
    ) -> u64 {
        let runs = if self.quick { 1 } else { 3 };
        let mut counts: Vec<u64> = (0..runs)
            .map(|_| {
                self.reset(module, layout, window);
                self.callgrind(module, right, label)
            })
            .collect();
        counts.sort_unstable();
        counts[counts.len() / 2]
    }

    fn instructions(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let base = self.instructions_of(Module::Permit, true, Layout::Home, 1, "permit");
        let mut files_right = 0;
        for (right, name) in [(true, "right"), (false, "wrong")] {
            let mut cells = vec![format!("{} (whole run)", group(base))];
            let mut inside = vec![String::new()];
            for module in PEERS {
                let label = format!("{}.{name}", module.service());
                let count = self.instructions_of(module, right, Layout::Home, 1, &label);
                if module == Module::Totp && right {
                    files_right = count.saturating_sub(base);
                }
                cells.push(group(count.saturating_sub(base)));
                inside.push(group(self.inside_module(&label)));
            }
            table.row(
                &format!("Instructions per authentication added over pam_permit, {name} code (callgrind, pamtester)"),
                cells,
            );
            table.row(
                &format!("… of which inside the module's pam_sm_authenticate, {name} code (the rest: loading it)"),
                inside,
            );
        }
        let change = files_right as f64 / RECORDED_FILES_RIGHT as f64 - 1.0;
        report.note(format!(
            "Right code, files store: {} instructions added over pam_permit; {} recorded in BENCHMARKS.md before the PostgreSQL store ({:+.1} %): {}",
            group(files_right),
            group(RECORDED_FILES_RIGHT),
            change * 100.0,
            if files_right <= RECORDED_FILES_RIGHT {
                "did not grow"
            } else {
                "**grew**"
            }
        ));
    }

    /// Inclusive instructions of pam_sm_authenticate in a callgrind profile.
    fn inside_module(&self, label: &str) -> u64 {
        let file = self.out.join(format!("callgrind.{label}.out"));
        let output = Command::new("callgrind_annotate")
            .arg("--inclusive=yes")
            .arg(&file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find(|line| line.contains(":pam_sm_authenticate ["))
            .and_then(|line| line.split_whitespace().next())
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or(0)
    }

    // ---- (2) wall time ---------------------------------------------------

    /// Microseconds spent in pam_authenticate, `count` times, state reset
    /// (outside the timed part) before each.
    fn time_in_process(
        &self,
        module: Module,
        right: bool,
        layout: Layout,
        count: usize,
    ) -> Vec<f64> {
        let generator = generator(self.secret_of(module));
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            self.reset(module, layout, 1);
            let code = if right {
                generator.code_for_step(generator.step_at(common::now()))
            } else {
                self.wrong_code()
            };
            let (rc, elapsed) = authenticate_timed(module.service(), USER, &code);
            let expected = right || module == Module::Permit;
            assert_eq!(
                rc == 0,
                expected,
                "{} with a {} code returned {rc}",
                module.service(),
                if right { "right" } else { "wrong" }
            );
            samples.push(elapsed.as_secs_f64() * 1e6);
        }
        samples
    }

    fn wall_time(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let count = if self.quick { 50 } else { 200 };
        for (right, name) in [(true, "right"), (false, "wrong")] {
            let mut cells = Vec::new();
            // Warm up every module once (page cache, NSS, first dlopen).
            for module in MODULES {
                self.time_in_process(module, right, Layout::Home, 5);
            }
            for module in MODULES {
                let samples = self.time_in_process(module, right, Layout::Home, count);
                cells.push(spread(&samples, "µs"));
            }
            table.row(
                &format!("pam_authenticate wall time, {name} code, median (p10–p90), {count} in-process runs"),
                cells,
            );
        }
    }

    // ---- (3) memory ------------------------------------------------------

    fn max_rss_kib(&self, module: Module) -> u64 {
        let runs = if self.quick { 3 } else { 11 };
        let mut values = Vec::new();
        for _ in 0..runs {
            self.reset(module, Layout::Home, 1);
            let report = self.out.join("time.txt");
            let mut child = Command::new("/usr/bin/time")
                .arg("-f")
                .arg("%M")
                .arg("-o")
                .arg(&report)
                .args(["pamtester", module.service(), USER, "authenticate"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let code = self.right_code_for(module);
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{code}\n").as_bytes())
                .ok(); // pam_permit asks nothing; pamtester may be gone already
            assert!(
                child.wait().unwrap().success(),
                "{} failed",
                module.service()
            );
            values.push(
                std::fs::read_to_string(&report)
                    .unwrap()
                    .trim()
                    .parse::<u64>()
                    .unwrap(),
            );
        }
        values.sort_unstable();
        values[values.len() / 2]
    }

    fn memory(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let base = self.max_rss_kib(Module::Permit);
        let mut cells = vec![format!("{base} KiB (whole process)")];
        for module in PEERS {
            let rss = self.max_rss_kib(module);
            cells.push(format!("{} KiB", rss as i64 - base as i64));
        }
        table.row(
            "Peak memory added to the host process (maxrss of pamtester, median of 11)",
            cells,
        );
    }

    // ---- (5) window and enrolled users ----------------------------------

    fn windows(&self, report: &mut Report) {
        let table = &mut report.main;
        let windows: &[u32] = if self.quick { &[1, 10] } else { &[1, 3, 10] };
        for &window in windows {
            self.configure(Layout::Home, window);
            let base = self.instructions_of(Module::Permit, true, Layout::Home, window, "permit");
            let mut cells = vec![String::new()];
            for module in PEERS {
                let right = self.instructions_of(
                    module,
                    true,
                    Layout::Home,
                    window,
                    &format!("{}.window{window}.right", module.service()),
                );
                let wrong = self.instructions_of(
                    module,
                    false,
                    Layout::Home,
                    window,
                    &format!("{}.window{window}.wrong", module.service()),
                );
                cells.push(format!(
                    "{} / {}",
                    group(right.saturating_sub(base)),
                    group(wrong.saturating_sub(base))
                ));
            }
            table.row(
                &format!(
                    "window = {window} ({} steps): instructions added, right / wrong code",
                    2 * window + 1
                ),
                cells,
            );
        }
        self.configure(Layout::Home, 1);
    }

    /// Populate the shared stores with `total` enrolled users (USER among them).
    fn populate(&self, from: usize, total: usize) {
        let shared = self.path("shared");
        let secrets = shared.join("totp-secrets");
        let state = shared.join("totp-state");
        let gauth = shared.join("gauth");
        if from == 0 {
            std::fs::create_dir_all(&secrets).unwrap();
            std::fs::create_dir_all(&gauth).unwrap();
            std::fs::create_dir_all(&state).unwrap();
            set_mode(&state, 0o700);
            write_file(
                &secrets.join(format!("{USER}.toml")),
                &self.secret_toml,
                0o600,
                None,
            );
        }
        // Other users' state: a copy of USER's under their names.
        let state_text = String::from_utf8(
            self.totp_state
                .lock()
                .unwrap()
                .iter()
                .find(|(dir, _)| dir == &state)
                .and_then(|(_, files)| files.iter().max_by_key(|(_, bytes)| bytes.len()))
                .map(|(_, bytes)| bytes.clone())
                .unwrap_or_default(),
        )
        .unwrap();
        let gauth_text = self.gauth_text(1);
        // Other users' files: the same contents under other names.
        for i in from.max(1)..total {
            let name = format!("pt7-other{i:06}");
            write_file(
                &secrets.join(format!("{name}.toml")),
                &self.secret_toml,
                0o600,
                None,
            );
            write_file(
                &state.join(format!("{name}.state")),
                &state_text,
                0o600,
                None,
            );
            write_file(&gauth.join(&name), &gauth_text, 0o600, None);
        }
        // One users.oath with every user; ours in the middle.
        let mut oath = String::with_capacity(total * 70);
        for i in 1..total {
            if i == total / 2 {
                oath.push_str(&self.oath_line(USER));
            }
            oath.push_str(&self.oath_line(&format!("pt7-other{i:06}")));
        }
        if total < 2 {
            oath.push_str(&self.oath_line(USER));
        }
        write_file(&shared.join("users.oath.pristine"), &oath, 0o600, None);
    }

    fn enrolled_users(&self, report: &mut Report) {
        let table = &mut report.main;
        let sizes: &[usize] = if self.quick {
            &[1, 1_000]
        } else {
            &[1, 1_000, 100_000]
        };
        let count = if self.quick { 20 } else { 100 };
        let mut from = 0;
        for &size in sizes {
            self.populate(from, size);
            from = size;
            self.configure(Layout::Shared, 1);
            let base = self.instructions_of(Module::Permit, true, Layout::Shared, 1, "permit");
            let mut instructions = vec![String::new()];
            let mut times = vec![spread(
                &self.time_in_process(Module::Permit, true, Layout::Shared, count),
                "µs",
            )];
            for module in PEERS {
                let n = self.instructions_of(
                    module,
                    true,
                    Layout::Shared,
                    1,
                    &format!("{}.users{size}", module.service()),
                );
                instructions.push(group(n.saturating_sub(base)));
                self.time_in_process(module, true, Layout::Shared, 3);
                times.push(spread(
                    &self.time_in_process(module, true, Layout::Shared, count),
                    "µs",
                ));
            }
            let users = if size == 1 {
                "1 enrolled user".to_string()
            } else {
                format!("{} enrolled users", group(size as u64))
            };
            table.row(
                &format!("{users}: instructions added, right code"),
                instructions,
            );
            table.row(
                &format!("{users}: pam_authenticate wall time, right code ({count} runs)"),
                times,
            );
        }
        self.configure(Layout::Home, 1);
    }

    // ---- (4) ssh -----------------------------------------------------------

    fn ssh(&self, report: &mut Report) {
        // Sequential logins per module, and logins per module under load.
        let logins = if self.quick { 16 } else { 64 };
        let concurrent_logins = if self.quick { 16 } else { 128 };
        let clients = 16;
        // One fresh user per login and module, so no code is ever reused and
        // no state needs resetting while sshd runs.
        let key_dir = tempfile::tempdir().unwrap();
        let key = key_dir.path().join("id_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key),
        );
        let public = std::fs::read_to_string(key_dir.path().join("id_ed25519.pub")).unwrap();
        let users: Vec<TestUser> = (0..logins.max(concurrent_logins))
            .map(|i| TestUser::create(&format!("pt7-u{i:02}")))
            .collect();
        for user in &users {
            let owner = owner_of(&user.home);
            let ssh = user.home.join(".ssh");
            std::fs::create_dir_all(&ssh).unwrap();
            chown(&ssh, Some(owner.0), Some(owner.1)).unwrap();
            write_file(&ssh.join("authorized_keys"), &public, 0o600, Some(owner));
            let config_dir = user.home.join(".config/pam-totp");
            std::fs::create_dir_all(&config_dir).unwrap();
            chown(user.home.join(".config"), Some(owner.0), Some(owner.1)).unwrap();
            chown(&config_dir, Some(owner.0), Some(owner.1)).unwrap();
            write_file(
                &config_dir.join("secret.toml"),
                &self.secret_toml,
                0o600,
                Some(owner),
            );
        }
        // The same users enrolled in each PostgreSQL store, as root would.
        let names: Vec<String> = users.iter().map(|user| user.name.clone()).collect();
        for pg in &self.pg {
            pg.enroll_ssh_users(&names);
        }
        // Every module's and store's state as before any login (the two
        // files-store "hosts" start with empty state directories of their own).
        let reset = || {
            for dir in ["ssh-state", "ssh-state-a", "ssh-state-b"] {
                let dir = self.path(dir);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir(&dir).unwrap();
                set_mode(&dir, 0o700);
            }
            let mut oath = String::new();
            for user in &users {
                let owner = owner_of(&user.home);
                write_file(
                    &user.home.join(".google_authenticator"),
                    &self.gauth_text(1),
                    0o400,
                    Some(owner),
                );
                oath.push_str(&self.oath_line(&user.name));
            }
            write_file(&self.path("ssh-users.oath"), &oath, 0o600, None);
            for pg in &self.pg {
                pg.forget_state();
            }
        };
        reset();
        // The module line of `module`'s stack on a host keeping its own
        // state in `state` (a directory name).
        let line = |module: Module, state: &str| -> String {
            match module {
                Module::Permit => "pam_permit.so".to_string(),
                Module::Totp => format!(
                    "{} config={} state_dir={}",
                    self.module.display(),
                    self.path("config.toml").display(),
                    self.path(state).display()
                ),
                Module::Gauth => "pam_google_authenticator.so".to_string(),
                Module::Oath => format!(
                    "pam_oath.so usersfile={} window=1 digits=6",
                    self.path("ssh-users.oath").display()
                ),
                Module::TotpPg | Module::TotpPgTls => {
                    let fleet = &self.pg_store(module).fleet;
                    format!(
                        "{} {}",
                        self.module.display(),
                        fleet.module_args(&fleet.dir.path().join(state))
                    )
                }
            }
        };
        let start = |module: Module, name: &str, state: &str| -> Sshd {
            let stack = format!(
                "auth required {}\n@include common-account\n@include common-session\n",
                line(module, state)
            );
            Sshd::start(
                name,
                &stack,
                "AuthenticationMethods publickey,keyboard-interactive\nMaxStartups 100:30:200\nMaxSessions 100\n",
            )
        };
        // One login; a failure panics unless `tolerate` (then it is counted).
        let login = |module: Module, sshd: &Sshd, user: &str, tolerate: bool| -> Option<Duration> {
            let code = self.ssh_code(module, user);
            let started = Instant::now();
            let result = ssh_login(sshd.port, user, Some(&key), &[&code]);
            let elapsed = started.elapsed();
            if !result.success && tolerate {
                return None;
            }
            if !result.success {
                let log = sshd.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "ssh login of {user} through {module:?} failed: {}\nsshd log (last lines first):\n{}",
                    result.stderr,
                    tail.join("\n")
                );
            }
            Some(elapsed)
        };
        // One sshd per module, and one per PostgreSQL store.
        let kinds: Vec<Module> = MODULES.iter().chain(&PG_STORES).copied().collect();
        let servers: Vec<(Module, Sshd)> = kinds
            .iter()
            .map(|&module| {
                let name = format!("{}-ssh", module.service());
                (module, start(module, &name, "ssh-state"))
            })
            .collect();
        // Latency: logins one at a time, all interleaved (rotating order).
        let mut latency: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for (i, user) in users.iter().take(logins).enumerate() {
            for k in 0..servers.len() {
                let index = (i + k) % servers.len();
                let (module, sshd) = &servers[index];
                if let Some(elapsed) = login(*module, sshd, &user.name, false) {
                    latency[index].push(elapsed.as_secs_f64() * 1e3);
                }
            }
        }
        report.main.row(
            &format!(
                "SSH login (key + code) on 127.0.0.1, median (p10–p90), {logins} sequential logins"
            ),
            (0..MODULES.len())
                .map(|index| {
                    let samples = &latency[index];
                    if index == 0 {
                        spread(samples, "ms")
                    } else {
                        format!(
                            "{}; {:+.1} ms over pam_permit",
                            spread(samples, "ms"),
                            median(samples) - median(&latency[0])
                        )
                    }
                })
                .collect(),
        );
        let of = |module: Module| &latency[kinds.iter().position(|&m| m == module).unwrap()];
        let files = median(of(Module::Totp));
        report.stores.row(
            &format!(
                "SSH login (key + code) on 127.0.0.1, median (p10–p90), {logins} sequential logins, interleaved with the table above"
            ),
            STORES
                .iter()
                .map(|&module| {
                    let samples = of(module);
                    if module == Module::Totp {
                        spread(samples, "ms")
                    } else {
                        format!(
                            "{}; {:+.1} ms over files",
                            spread(samples, "ms"),
                            median(samples) - files
                        )
                    }
                })
                .collect(),
        );
        let mut verdicts = vec!["(the reference)".to_string()];
        for module in PG_STORES {
            let ratio = median(of(module)) / files;
            let verdict = if ratio <= TARGET_RATIO {
                "met"
            } else {
                "**not met**"
            };
            eprintln!(
                "  target: {} SSH login / files = {ratio:.3} (at most {TARGET_RATIO:.2}): {verdict}",
                module.title()
            );
            verdicts.push(format!("{ratio:.3}×: {verdict}"));
        }
        report.stores.row(
            &format!(
                "Target: SSH login through PostgreSQL at most {TARGET_RATIO:.2}× one through files (median, this run)"
            ),
            verdicts,
        );
        // Throughput: 16 clients at once, each logging in its share of
        // users. Two rounds on different users, modules in rotating order,
        // so a drift in the machine's load does not favour one module.
        let rounds = 2;
        let per_round = concurrent_logins / rounds;
        // Runs `hosts` (one or more sshd of one module, clients spread
        // over them) for each round's users; seconds and refusals.
        let burst = |module: Module, hosts: &[Sshd], round: usize| -> (f64, usize) {
            let round_users = &users[round * per_round..(round + 1) * per_round];
            let failed = std::sync::atomic::AtomicUsize::new(0);
            let started = Instant::now();
            std::thread::scope(|scope| {
                for client in 0..clients {
                    let login = &login;
                    let failed = &failed;
                    let sshd = &hosts[client % hosts.len()];
                    scope.spawn(move || {
                        for user in round_users.iter().skip(client).step_by(clients) {
                            if login(module, sshd, &user.name, true).is_none() {
                                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            (started.elapsed().as_secs_f64(), failed.into_inner())
        };
        let rate = |seconds: f64, failed: usize| {
            let rate = (concurrent_logins - failed) as f64 / seconds;
            if failed == 0 {
                format!("{rate:.1} logins/s")
            } else {
                format!("{rate:.1} logins/s; {failed} of {concurrent_logins} refused")
            }
        };
        reset();
        let single = &servers[..MODULES.len()];
        let mut seconds = vec![0.0f64; single.len()];
        let mut failures = vec![0usize; single.len()];
        for round in 0..rounds {
            for k in 0..single.len() {
                let index = (round + k) % single.len();
                let (module, sshd) = &single[index];
                let (spent, failed) = burst(*module, std::slice::from_ref(sshd), round);
                seconds[index] += spent;
                failures[index] += failed;
            }
        }
        report.main.row(
            &format!("SSH throughput, {clients} concurrent clients ({concurrent_logins} logins)"),
            seconds
                .iter()
                .zip(&failures)
                .map(|(&seconds, &failed)| rate(seconds, failed))
                .collect(),
        );
        drop(servers);
        // Two "hosts" per store: two sshd, each with a state_dir of its
        // own; the files store's secrets are the users' own files, the
        // PostgreSQL hosts share one database.
        reset();
        let fleets: Vec<(Module, Vec<Sshd>)> = STORES
            .iter()
            .map(|&module| {
                let hosts = ["a", "b"]
                    .iter()
                    .map(|host| {
                        start(
                            module,
                            &format!("{}-{host}", module.service()),
                            &format!("ssh-state-{host}"),
                        )
                    })
                    .collect();
                (module, hosts)
            })
            .collect();
        let mut seconds = vec![0.0f64; fleets.len()];
        let mut failures = vec![0usize; fleets.len()];
        for round in 0..rounds {
            for k in 0..fleets.len() {
                let index = (round + k) % fleets.len();
                let (module, hosts) = &fleets[index];
                let (spent, failed) = burst(*module, hosts, round);
                seconds[index] += spent;
                failures[index] += failed;
            }
        }
        report.stores.row(
            &format!(
                "SSH throughput, {clients} concurrent clients over two sshd (hosts) sharing the store ({concurrent_logins} logins)"
            ),
            seconds
                .iter()
                .zip(&failures)
                .map(|(&seconds, &failed)| rate(seconds, failed))
                .collect(),
        );
        drop(fleets);
    }
}

// ---- libpam, in process ----------------------------------------------------

#[repr(C)]
struct PamMessage {
    msg_style: c_int,
    msg: *const c_char,
}

#[repr(C)]
struct PamResponse {
    resp: *mut c_char,
    resp_retcode: c_int,
}

#[repr(C)]
struct PamConv {
    conv: extern "C" fn(c_int, *mut *const PamMessage, *mut *mut PamResponse, *mut c_void) -> c_int,
    appdata_ptr: *mut c_void,
}

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_start(
        service: *const c_char,
        user: *const c_char,
        conv: *const PamConv,
        pamh: *mut *mut c_void,
    ) -> c_int;
    fn pam_authenticate(pamh: *mut c_void, flags: c_int) -> c_int;
    fn pam_end(pamh: *mut c_void, status: c_int) -> c_int;
}

/// Answers every prompt with the code; shows nothing.
extern "C" fn answer_with_code(
    count: c_int,
    messages: *mut *const PamMessage,
    responses: *mut *mut PamResponse,
    appdata: *mut c_void,
) -> c_int {
    // SAFETY: appdata is the CString authenticate_timed passes, alive for
    // the whole transaction.
    let code = unsafe { &*(appdata as *const CString) };
    let count = count as usize;
    // SAFETY: calloc of `count` zeroed responses; libpam frees it.
    let replies =
        unsafe { libc::calloc(count, std::mem::size_of::<PamResponse>()) } as *mut PamResponse;
    for i in 0..count {
        // SAFETY: libpam passes `count` valid message pointers.
        let message = unsafe { &**messages.add(i) };
        if message.msg_style == 1 || message.msg_style == 2 {
            // SAFETY: reply i < count; strdup copies a NUL-terminated string.
            unsafe { (*replies.add(i)).resp = libc::strdup(code.as_ptr()) };
        }
    }
    // SAFETY: libpam gives a valid place for the responses pointer.
    unsafe { *responses = replies };
    0
}

/// pam_start, then time pam_authenticate alone, then pam_end.
fn authenticate_timed(service: &str, user: &str, code: &str) -> (c_int, Duration) {
    let code = CString::new(code).unwrap();
    let conv = PamConv {
        conv: answer_with_code,
        appdata_ptr: &code as *const CString as *mut c_void,
    };
    let service = CString::new(service).unwrap();
    let user = CString::new(user).unwrap();
    let mut handle: *mut c_void = std::ptr::null_mut();
    // SAFETY: NUL-terminated strings and a conversation that outlive the
    // transaction, and a place for the handle.
    let rc = unsafe { pam_start(service.as_ptr(), user.as_ptr(), &conv, &mut handle) };
    assert_eq!(rc, 0, "pam_start failed");
    let started = Instant::now();
    // SAFETY: the handle pam_start returned, ended once below.
    let rc = unsafe { pam_authenticate(handle, 0) };
    let elapsed = started.elapsed();
    // SAFETY: as above.
    unsafe { pam_end(handle, rc) };
    (rc, elapsed)
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

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&sorted, 0.5)
}

fn spread(samples: &[f64], unit: &str) -> String {
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
        "{} {unit} ({}–{})",
        fmt(percentile(&sorted, 0.5)),
        fmt(percentile(&sorted, 0.1)),
        fmt(percentile(&sorted, 0.9))
    )
}

/// A Markdown table: one column per module (or store).
struct Table {
    columns: Vec<Module>,
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    fn new(columns: &[Module]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, title: &str, cells: Vec<String>) {
        eprintln!("  {title}: {}", cells.join(" | "));
        self.rows.push((title.to_string(), cells));
    }

    fn render(&self) -> String {
        let mut text = String::from("| measure |");
        for module in &self.columns {
            write!(text, " {} |", module.title()).unwrap();
        }
        text.push_str("\n|---|");
        for _ in &self.columns {
            text.push_str("---:|");
        }
        text.push('\n');
        for (title, cells) in &self.rows {
            write!(text, "| {title} |").unwrap();
            for cell in cells {
                write!(text, " {cell} |").unwrap();
            }
            text.push('\n');
        }
        text
    }
}

/// What the bench prints: the modules side by side, pam_totp's stores
/// side by side, and notes (figures that are no table cell).
struct Report {
    main: Table,
    stores: Table,
    notes: Vec<String>,
}

impl Report {
    fn new() -> Report {
        Report {
            main: Table::new(&MODULES),
            stores: Table::new(&STORES),
            notes: Vec::new(),
        }
    }

    fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    fn render(&self) -> String {
        let mut text = self.main.render();
        if !self.stores.rows.is_empty() {
            text.push_str("\npam_totp's stores (same run):\n\n");
            text.push_str(&self.stores.render());
        }
        if !self.notes.is_empty() {
            text.push('\n');
            for note in &self.notes {
                writeln!(text, "- {note}").unwrap();
            }
        }
        text
    }
}

/// The machine and the versions measured.
fn machine() -> String {
    let lscpu = run_text("lscpu", &[]);
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1048576.0))
        .unwrap_or_default();
    let packages = run_text(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package} ${Version}, ",
            "libpam-google-authenticator",
            "libpam-oath",
            "liboath0",
            "libpam0g",
            "openssh-server",
            "pamtester",
            "valgrind",
            "postgresql-15",
            "openssl",
        ],
    );
    format!(
        "Machine: {} ({} CPUs), {memory} RAM, kernel {}, Debian {}; {}; {}\n",
        field("Model name:"),
        field("CPU(s):"),
        run_text("uname", &["-r"]),
        std::fs::read_to_string("/etc/debian_version")
            .unwrap_or_default()
            .trim(),
        packages.trim_end_matches([',', ' ']),
        run_text("rustc", &["--version"]),
    )
}
