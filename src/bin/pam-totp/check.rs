//! `pam-totp check`: find the mistakes that lock administrators out or
//! let logins skip the code, before a user does.
//!
//! The rules live in the library (`pam_totp::check`, and the
//! configuration's own checks); this file runs them on this host's files
//! and prints each finding as one line: `ok:`, `warning:` (exit status
//! unchanged), `problem:` (exit status 1) or `skipped:`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use pam_totp::check::{self, database, pam_stack, sshd};
use pam_totp::config::{Config, DEFAULT_CONFIG_PATH, StoreKind, Unenrolled};
use pam_totp::store::plugin;
use pam_totp::system::paths;
use pam_totp::text::escape_controls;

const DEFAULT_PAM_FILE: &str = "/etc/pam.d/sshd";
/// Where PAM looks for modules named without a path.
const MODULE_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/usr/lib64/security",
    "/lib64/security",
    "/usr/lib/security",
    "/lib/security",
];

#[derive(Args)]
#[command(
    about = "Check the configuration, the state directory, the PAM stack and sshd's settings",
    long_about = "Check the configuration (every bad key or value, named with its line), the \
ownership and mode of the configuration file, the state directory and an administrator-managed \
secret store, the PAM stack (/etc/pam.d/sshd, or --pam-file: pam_totp.so required and not \
skippable, no module before it that skips it), sshd's effective settings (sshd -T, or \
--sshd-config: UsePAM, KbdInteractiveAuthentication, AuthenticationMethods) and whether anything \
listens on /dev/log.\n\n\
With store = \"postgresql\", instead of the state directory and secret store: database_file and \
secret_key_file (root, mode 0600), the connection string (a warning when sslmode is below \
verify-full on a host reached over the network), a connection within database_timeout, the schema \
version, and whether secret_key_file opens the enrolled secrets.\n\n\
Prints one line per finding and exits 0 only when there is no problem (warnings do not count)."
)]
pub struct CheckArgs {
    /// PAM service file to inspect [default: /etc/pam.d/sshd, if present]
    #[arg(long, value_name = "PATH")]
    pam_file: Option<PathBuf>,
    /// sshd configuration to inspect instead of running `sshd -T` (an
    /// sshd_config file or saved `sshd -T` output)
    #[arg(long, value_name = "PATH")]
    sshd_config: Option<PathBuf>,
}

/// The findings so far. Every line printed is escaped: findings quote
/// files (PAM lines, configuration keys, sshd values).
#[derive(Default)]
struct Report {
    problems: usize,
    warnings: usize,
    /// Configuration errors already reported (not repeated per PAM line).
    config_errors: Vec<String>,
}

impl Report {
    fn say(&self, kind: &str, what: &str) {
        println!("{kind}: {}", escape_controls(what));
    }

    fn ok(&mut self, what: &str) {
        self.say("ok", what);
    }

    fn note(&mut self, what: &str) {
        self.say("note", what);
    }

    fn skipped(&mut self, what: &str) {
        self.say("skipped", what);
    }

    fn warning(&mut self, what: &str) {
        self.warnings += 1;
        self.say("warning", what);
    }

    fn problem(&mut self, what: &str) {
        self.problems += 1;
        self.say("problem", what);
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn run(config_path: Option<&Path>, args: &CheckArgs) -> ExitCode {
    let mut report = Report::default();
    let config = check_config(&mut report, config_path);
    let mut configs: Vec<Config> = config.iter().cloned().collect();
    let pam = check_pam(&mut report, config_path, args.pam_file.as_deref());
    configs.extend(pam.configs.iter().cloned());
    let mut state_dirs: Vec<&Path> = Vec::new();
    let mut stores: Vec<&str> = Vec::new();
    let mut databases: Vec<&Config> = Vec::new();
    for config in &configs {
        if config.store == StoreKind::Postgresql {
            if !databases.iter().any(|seen| same_database(seen, config)) {
                databases.push(config);
            }
            continue;
        }
        if !state_dirs.contains(&config.state_dir.as_path()) {
            state_dirs.push(&config.state_dir);
        }
        if !stores.contains(&config.secret_path.as_str()) {
            stores.push(&config.secret_path);
        }
    }
    for dir in state_dirs {
        check_state_dir(&mut report, dir);
    }
    for template in stores {
        check_secret_store(&mut report, template);
    }
    let audits: Vec<(&Config, database::DatabaseAudit)> = databases
        .into_iter()
        .map(|config| (config, check_database(&mut report, config)))
        .collect();
    let settings = check_sshd(&mut report, args.sshd_config.as_deref());
    // What each pam_totp line runs with (its flags: first_factor_failed,
    // forward_pass), else the configuration file's.
    let line_configs = match pam.configs.is_empty() {
        true => &configs,
        false => &pam.configs,
    };
    check_enroll_first_factor(&mut report, line_configs, &pam.entries, settings.as_ref());
    check_someone_enrolled(&mut report, &configs, &audits);
    check_syslog(&mut report);
    let warnings = match report.warnings {
        0 => String::new(),
        n => format!(" ({} above)", plural(n, "warning")),
    };
    if report.problems == 0 {
        println!("pam-totp check: all is well{warnings}");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "pam-totp: {} found{warnings}; fix what is listed above and run `pam-totp check` again.",
            plural(report.problems, "problem")
        );
        ExitCode::from(1)
    }
}

// ---------------------------------------------------------------- config

fn check_config(report: &mut Report, path: Option<&Path>) -> Option<Config> {
    let shown = path.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
    let exists = std::fs::symlink_metadata(shown).is_ok();
    let config = match Config::load_all(path) {
        Ok(config) if exists => {
            report.ok(&format!("configuration {} is valid", shown.display()));
            config
        }
        Ok(config) => {
            report.ok(&format!(
                "no {}: every setting has its default",
                shown.display()
            ));
            config
        }
        Err(errors) => {
            for error in errors {
                report.problem(&format!(
                    "{error}; until it is fixed the module refuses every login"
                ));
                report.config_errors.push(error.to_string());
            }
            return None;
        }
    };
    if let Ok(meta) = std::fs::metadata(shown) {
        if meta.uid() != 0 {
            report.problem(&format!(
                "{} is owned by uid {}: anyone who can write it can turn the code off; run: chown root: {}",
                shown.display(),
                meta.uid(),
                shown.display()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            report.problem(&format!(
                "{} has mode {:04o}: others can change it; run: chmod 644 {}",
                shown.display(),
                meta.mode() & 0o7777,
                shown.display()
            ));
        }
    }
    Some(config)
}

// ----------------------------------------------------------- directories

/// The module's own rule (`pam_totp::system::paths::state_directory`), for root.
fn check_state_dir(report: &mut Report, dir: &Path) {
    let shown = dir.display();
    let problems = paths::state_directory(dir, 0);
    if problems.is_empty() {
        let mode = std::fs::metadata(dir).map_or(0, |m| m.mode() & 0o7777);
        report.ok(&format!("state directory {shown} (root, {mode:04o})"));
    }
    for problem in problems {
        let consequence = match problem {
            paths::StateDirProblem::Missing => "",
            _ => ": the module refuses logins",
        };
        match problem.fix(dir) {
            Some(fix) => report.problem(&format!(
                "state directory {shown} {problem}{consequence}; run: {fix}"
            )),
            None => report.problem(&format!("state directory {shown} {problem}{consequence}")),
        }
    }
}

/// An administrator-managed secret store (`secret_path` outside the
/// homes), by the rule the module applies before it writes there.
fn check_secret_store(report: &mut Report, template: &str) {
    let Some(dir) = paths::fixed_store_dir(template) else {
        report.ok(&format!(
            "secrets in the users' home directories ({template})"
        ));
        return;
    };
    let shown = dir.display();
    if !dir.is_dir() {
        report.problem(&format!(
            "secret store {shown} (secret_path {template}) does not exist or is not a directory; run: install -d -m 0755 -o root -g root {shown}"
        ));
        return;
    }
    match paths::secret_store(&dir, 0) {
        Ok(()) => {
            let mode = std::fs::metadata(&dir).map_or(0, |m| m.mode() & 0o7777);
            report.ok(&format!("secret store {shown} (root, {mode:04o})"));
        }
        Err(problem) => report.problem(&format!("secret store {shown}: {problem}")),
    }
}

// -------------------------------------------------------------- database

/// Whether two configurations name the same PostgreSQL store.
fn same_database(a: &Config, b: &Config) -> bool {
    a.database_file == b.database_file
        && a.secret_key_file == b.secret_key_file
        && a.database_timeout == b.database_timeout
}

/// `store = "postgresql"` (`pam_totp::check::database`): the files, the
/// connection, the schema and the key.
fn check_database(report: &mut Report, config: &Config) -> database::DatabaseAudit {
    report.ok(
        "store = \"postgresql\": enrollments and state are in the database (state_dir and secret_path are not used)",
    );
    let audit = database::examine(config);
    for finding in &audit.findings {
        let text = finding.to_string();
        match finding.severity() {
            database::Severity::Ok => report.ok(&text),
            database::Severity::Note => report.note(&text),
            database::Severity::Warning => report.warning(&text),
            database::Severity::Problem => report.problem(&text),
        }
    }
    audit
}

// ------------------------------------------------------------------- PAM

/// What the PAM file gave: its auth lines and the configuration of each
/// pam_totp line that has a valid one.
#[derive(Default)]
struct Pam {
    entries: Vec<pam_stack::Entry>,
    configs: Vec<Config>,
}

fn check_pam(report: &mut Report, config_path: Option<&Path>, pam_file: Option<&Path>) -> Pam {
    let path = match pam_file {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from(DEFAULT_PAM_FILE);
            if !default.exists() {
                report.skipped(&format!("no {DEFAULT_PAM_FILE}"));
                return Pam::default();
            }
            default
        }
    };
    let before = report.problems;
    let stack = pam_stack::read_stack_file(&path);
    for finding in &stack.findings {
        report.problem(&finding.to_string());
    }
    let mut pam = Pam::default();
    let mut can_ignore = Vec::new();
    for index in pam_stack::totp_lines(&stack.entries) {
        let Some(entry) = stack.entries.get(index) else {
            continue;
        };
        match module_config(report, entry, config_path) {
            Some(config) => {
                if config.store == StoreKind::Postgresql {
                    check_postgres_library(report, entry);
                }
                can_ignore.push(can_be_ignored(&config));
                pam.configs.push(config);
            }
            None => can_ignore.push(false),
        }
    }
    let findings = pam_stack::analyse(&path, &stack.entries, &module_exists, &can_ignore);
    let not_in_stack = findings
        .iter()
        .any(|f| matches!(f, pam_stack::StackFinding::NotInStack { .. }));
    for finding in &findings {
        // A file that could not be read is why pam_totp was not found.
        if not_in_stack && !stack.findings.is_empty() {
            continue;
        }
        report.problem(&finding.to_string());
    }
    if report.problems == before {
        report.ok(&format!(
            "{}: pam_totp.so is required and cannot be skipped",
            path.display()
        ));
    }
    pam.entries = stack.entries;
    pam
}

fn module_exists(module: &str) -> bool {
    module_file(module).is_some()
}

/// The file libpam loads for a module line's name.
fn module_file(module: &str) -> Option<PathBuf> {
    let path = Path::new(module);
    if path.is_absolute() {
        return path.is_file().then(|| path.to_path_buf());
    }
    MODULE_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(module))
        .find(|path| path.is_file())
}

/// A pam_totp line with `store = "postgresql"` needs pam_totp_postgres.so
/// beside the module, root's in a root-owned directory, and of the same
/// build as this command (the same package; a half-finished upgrade shows
/// as another build). It is never loaded here: this runs as root, and the
/// PAM file may name a module in a directory a user controls.
fn check_postgres_library(report: &mut Report, entry: &pam_stack::Entry) {
    // A module that is not there is reported by the stack analysis.
    let Some(module) = module_file(&entry.module) else {
        return;
    };
    match plugin::examine_library(&module) {
        Ok(library) => report.ok(&format!(
            "{}: store = \"postgresql\": {} is in place, of this build",
            entry.place,
            library.display()
        )),
        Err(error) => report.problem(&format!(
            "{}: {error}; until it is fixed every login through this line is refused",
            entry.place
        )),
    }
}

/// The configuration the module builds from this line's arguments (the
/// file named by `config=`, else `--config`, else the default file).
fn module_config(
    report: &mut Report,
    entry: &pam_stack::Entry,
    config_path: Option<&Path>,
) -> Option<Config> {
    let mut args: Vec<String> = Vec::new();
    if let Some(path) = config_path
        && !entry.args.iter().any(|arg| arg.starts_with("config="))
    {
        args.push(format!("config={}", path.display()));
    }
    args.extend(entry.args.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match Config::module_args_all(&refs) {
        Ok(config) => Some(config),
        Err(errors) => {
            for error in errors {
                if !report.config_errors.contains(&error.to_string()) {
                    report.problem(&format!(
                        "{}: pam_totp.so arguments: {error}; until it is fixed the module refuses every login",
                        entry.place
                    ));
                }
            }
            None
        }
    }
}

fn can_be_ignored(config: &Config) -> bool {
    config.unenrolled == Unenrolled::Allow
        || !config.exempt_groups.is_empty()
        || !config.exempt_networks.is_empty()
}

// ------------------------------------------------------------------ sshd

fn sshd_binary() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

/// sshd's settings from `sshd -T`, and that source's name.
fn read_sshd_t(report: &mut Report) -> Option<(String, String)> {
    let Some(binary) = sshd_binary() else {
        report.skipped("sshd is not installed");
        return None;
    };
    match std::process::Command::new(&binary).arg("-T").output() {
        Ok(output) if output.status.success() => Some((
            "sshd -T".to_string(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )),
        Ok(output) => {
            report.problem(&format!(
                "`sshd -T` failed ({}); run the check as root, or pass --sshd-config",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            None
        }
        Err(error) => {
            report.problem(&format!("cannot run {}: {error}", binary.display()));
            None
        }
    }
}

fn check_sshd(report: &mut Report, sshd_config: Option<&Path>) -> Option<sshd::Settings> {
    let (source, settings) = match sshd_config {
        // The file and what it includes, as sshd reads them.
        Some(path) => match sshd::Settings::read_config(path) {
            Ok((settings, files)) => {
                let source = match files.len() {
                    0 | 1 => path.display().to_string(),
                    n => format!(
                        "{} (with {} included)",
                        path.display(),
                        pam_totp::text::plural(n as u64 - 1, "file")
                    ),
                };
                (source, settings)
            }
            Err(error) => {
                report.problem(&error);
                return None;
            }
        },
        None => {
            let (source, text) = read_sshd_t(report)?;
            (source, sshd::Settings::parse(&text))
        }
    };
    let findings = sshd::analyse(&settings);
    for finding in &findings {
        report.problem(&format!("{source}: {finding}"));
    }
    if findings.is_empty() {
        report.ok(&format!(
            "{source}: UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods {}",
            settings.get("authenticationmethods", "any")
        ));
    }
    Some(settings)
}

// --------------------------------------------------------- the rest

/// Issue 13: enrollment at login needs a first factor before the module.
fn check_enroll_first_factor(
    report: &mut Report,
    configs: &[Config],
    entries: &[pam_stack::Entry],
    settings: Option<&sshd::Settings>,
) {
    let enrolls = configs.iter().any(enrolls_at_login);
    if enrolls && check::first_factor::enroll_without_first_factor(entries, settings) {
        report.warning(check::first_factor::ENROLL_WITHOUT_FIRST_FACTOR);
    }
    // Issue 18 point 1: forward_pass comes before the password module.
    if configs
        .iter()
        .any(|c| c.unenrolled == Unenrolled::Enroll && c.flags.forward_pass)
    {
        report.warning(check::first_factor::ENROLL_WITH_FORWARD_PASS);
    }
}

/// Whether `config` sets users up at their first login: a line with
/// `forward_pass` (before the password) or `first_factor_failed` never does.
fn enrolls_at_login(config: &Config) -> bool {
    config.unenrolled == Unenrolled::Enroll
        && !config.flags.forward_pass
        && !config.flags.first_factor_failed
}

/// Issue 11 point 6: under `deny`, a PAM stack with pam_totp and no one
/// enrolled refuses every login, root's included.
fn check_someone_enrolled(
    report: &mut Report,
    configs: &[Config],
    audits: &[(&Config, database::DatabaseAudit)],
) {
    let Some(config) = configs.iter().find(|c| c.unenrolled == Unenrolled::Deny) else {
        return;
    };
    if config.store == StoreKind::Postgresql {
        // Counted by the database check; nothing to add if it could not.
        let enrolled = audits
            .iter()
            .find(|(seen, _)| same_database(seen, config))
            .and_then(|(_, audit)| audit.enrolled);
        if let Some(enrolled) = enrolled {
            enrolled_finding(report, enrolled);
        }
        return;
    }
    let listed = match crate::support::state_access::open(config).map(|mut store| store.list()) {
        Ok(Ok(listed)) => listed,
        Ok(Err(error)) => {
            report.skipped(&format!("who is enrolled: {error}"));
            return;
        }
        Err(crate::support::Failure(error)) => {
            report.skipped(&format!("who is enrolled: {error}"));
            return;
        }
    };
    let enrolled = listed.iter().filter(|user| user.kind.is_some()).count();
    enrolled_finding(report, enrolled as u64);
}

fn enrolled_finding(report: &mut Report, enrolled: u64) {
    if enrolled == 0 {
        report.warning(
            "unenrolled = \"deny\" and the store knows of no enrolled user: once pam_totp.so is in the stack every login through it, root's included, is refused; enroll yourself first (`pam-totp enroll`, then log in with a code in a second session), or start with the rollout stack (sshd-key-and-code-rollout, unenrolled = \"allow\")",
        );
    } else {
        report.ok(&format!(
            "{} known to the store (`pam-totp list`)",
            pam_totp::text::plural(enrolled, "enrolled user")
        ));
    }
}

fn check_syslog(report: &mut Report) {
    match check::syslog::probe(Path::new(check::syslog::DEV_LOG)) {
        Ok(()) => report.ok(&format!(
            "{} receives the module's log lines",
            check::syslog::DEV_LOG
        )),
        Err(problem) => report.warning(&problem.to_string()),
    }
}
