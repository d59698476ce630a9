//! `pam-totp check`: find the mistakes that lock administrators out or
//! let logins skip the code, before a user does.
//!
//! Checks, in order: the configuration file (and who may write it), the
//! state directory (root, 0700), the PAM service file (`/etc/pam.d/sshd`
//! where present, or `--pam-file`): pam_totp present, `required` or
//! `requisite`, not skippable, no module before it that can end the stack
//! with success, its arguments valid; and sshd's effective configuration
//! (`sshd -T`, or `--sshd-config`): `UsePAM`, `KbdInteractiveAuthentication`
//! and `AuthenticationMethods`. Each finding is one line on stdout; the exit
//! status is 0 only when there is no problem.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use pam_totp::config::{Config, DEFAULT_CONFIG_PATH, Unenrolled};

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
/// Nested `@include`s followed at most this deep.
const MAX_INCLUDE_DEPTH: usize = 8;

#[derive(Args)]
#[command(
    about = "Check the configuration, the state directory, the PAM stack and sshd's settings",
    long_about = "Check the configuration (a bad key or value is named with its line), the \
ownership and mode of the configuration file, the state directory and an administrator-managed \
secret store, the PAM stack (/etc/pam.d/sshd, or --pam-file: pam_totp.so required and not \
skippable, no module before it that skips it) and sshd's effective settings (sshd -T, or \
--sshd-config: UsePAM, KbdInteractiveAuthentication, AuthenticationMethods).\n\n\
Prints one line per finding and exits 0 only when there is no problem."
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

/// The findings so far.
#[derive(Default)]
struct Report {
    problems: usize,
    /// Configuration errors already reported (not repeated per PAM line).
    config_errors: Vec<String>,
}

impl Report {
    fn ok(&mut self, what: &str) {
        println!("ok: {what}");
    }

    fn skipped(&mut self, what: &str) {
        println!("skipped: {what}");
    }

    fn problem(&mut self, what: &str) {
        self.problems += 1;
        println!("problem: {what}");
    }
}

pub fn run(config_path: Option<&Path>, args: &CheckArgs) -> ExitCode {
    let mut report = Report::default();
    let config = check_config(&mut report, config_path);
    let mut state_dirs: Vec<PathBuf> = config.iter().map(|c| c.state_dir.clone()).collect();
    let pam_configs = check_pam(&mut report, config_path, args.pam_file.as_deref());
    for config in &pam_configs {
        if !state_dirs.contains(&config.state_dir) {
            state_dirs.push(config.state_dir.clone());
        }
    }
    for dir in &state_dirs {
        check_state_dir(&mut report, dir);
    }
    let mut stores: Vec<&str> = Vec::new();
    for config in config.iter().chain(&pam_configs) {
        if !stores.contains(&config.secret_path.as_str()) {
            stores.push(&config.secret_path);
        }
    }
    for template in stores {
        check_secret_store(&mut report, template);
    }
    check_sshd(&mut report, args.sshd_config.as_deref());
    if report.problems == 0 {
        println!("pam-totp check: all is well");
        ExitCode::SUCCESS
    } else {
        let plural = if report.problems == 1 { "" } else { "s" };
        eprintln!(
            "pam-totp: {} problem{plural} found; fix what is listed above and run `pam-totp check` again.",
            report.problems
        );
        ExitCode::from(1)
    }
}

// ---------------------------------------------------------------- config

fn check_config(report: &mut Report, path: Option<&Path>) -> Option<Config> {
    let shown = path.unwrap_or(Path::new(DEFAULT_CONFIG_PATH));
    let exists = std::fs::symlink_metadata(shown).is_ok();
    let config = match Config::load(path) {
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
        Err(error) => {
            report.problem(&format!(
                "{error}; until it is fixed the module refuses every login"
            ));
            report.config_errors.push(error.to_string());
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

// ------------------------------------------------------------- state dir

fn check_state_dir(report: &mut Report, dir: &Path) {
    let shown = dir.display();
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            report.problem(&format!(
                "state directory {shown} does not exist; run: install -d -m 0700 -o root -g root {shown}"
            ));
            return;
        }
        Err(error) => {
            report.problem(&format!("state directory {shown}: {error}"));
            return;
        }
    };
    if meta.file_type().is_symlink() {
        report.problem(&format!(
            "state directory {shown} is a symbolic link; make it a real directory (root, 0700)"
        ));
        return;
    }
    if !meta.is_dir() {
        report.problem(&format!("state directory {shown} is not a directory"));
        return;
    }
    let mut fine = true;
    if meta.uid() != 0 {
        fine = false;
        report.problem(&format!(
            "state directory {shown} is owned by uid {}, not root: the module refuses logins; run: chown root: {shown}",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        fine = false;
        report.problem(&format!(
            "state directory {shown} has mode {mode:04o}; it must be 0700 (others could read or change login state); run: chmod 700 {shown}"
        ));
    }
    if fine {
        report.ok(&format!("state directory {shown} (root, {mode:04o})"));
    }
}

/// An administrator-managed secret store (`secret_path` outside the
/// homes): its directory must be root's and writable by no one else, or
/// users could plant or remove each other's secret files.
fn check_secret_store(report: &mut Report, template: &str) {
    if template.starts_with('~') || template.contains("%h") {
        report.ok(&format!(
            "secrets in the users' home directories ({template})"
        ));
        return;
    }
    // The fixed part of the directory: up to the first component with a %.
    let mut dir = PathBuf::new();
    let path = Path::new(template);
    let Some(parent) = path.parent() else {
        return;
    };
    for component in parent.components() {
        if component.as_os_str().to_string_lossy().contains('%') {
            break;
        }
        dir.push(component);
    }
    let shown = dir.display();
    let meta = match std::fs::symlink_metadata(&dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            report.problem(&format!(
                "secret store {shown} (secret_path {template}) does not exist; run: install -d -m 0755 -o root -g root {shown}"
            ));
            return;
        }
        Err(error) => {
            report.problem(&format!("secret store {shown}: {error}"));
            return;
        }
    };
    if !meta.is_dir() {
        report.problem(&format!(
            "secret store {shown} (secret_path {template}) is not a directory"
        ));
    } else if meta.uid() != 0 {
        report.problem(&format!(
            "secret store {shown} is owned by uid {}, not root; run: chown root: {shown}",
            meta.uid()
        ));
    } else if meta.mode() & 0o022 != 0 {
        report.problem(&format!(
            "secret store {shown} has mode {:04o}: others can add or remove secret files; run: chmod go-w {shown}",
            meta.mode() & 0o7777
        ));
    } else {
        report.ok(&format!(
            "secret store {shown} (root, {:04o})",
            meta.mode() & 0o7777
        ));
    }
}

// ------------------------------------------------------------------- PAM

/// What a module line does for one PAM return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    Jump(usize),
}

#[derive(Clone, Debug)]
enum Control {
    Required,
    Requisite,
    Sufficient,
    Optional,
    /// `[value=action ...]`
    Actions(BTreeMap<String, Action>),
}

impl Control {
    fn parse(text: &str) -> Option<Control> {
        match text {
            "required" => return Some(Control::Required),
            "requisite" => return Some(Control::Requisite),
            "sufficient" => return Some(Control::Sufficient),
            "optional" => return Some(Control::Optional),
            _ => {}
        }
        let inner = text.strip_prefix('[')?.strip_suffix(']')?;
        let mut actions = BTreeMap::new();
        for pair in inner.split_whitespace() {
            let (value, action) = pair.split_once('=')?;
            let action = match action.to_ascii_lowercase().as_str() {
                "ignore" => Action::Ignore,
                "ok" => Action::Ok,
                "done" => Action::Done,
                "bad" => Action::Bad,
                "die" => Action::Die,
                "reset" => Action::Reset,
                n => Action::Jump(n.parse().ok()?),
            };
            actions.insert(value.to_ascii_lowercase(), action);
        }
        Some(Control::Actions(actions))
    }

    /// The action for one return value; unlisted values are `bad` unless
    /// `default=` says otherwise.
    fn action(&self, value: &str) -> Action {
        match self {
            Control::Required => match value {
                "success" => Action::Ok,
                "ignore" => Action::Ignore,
                _ => Action::Bad,
            },
            Control::Requisite => match value {
                "success" => Action::Ok,
                "ignore" => Action::Ignore,
                _ => Action::Die,
            },
            Control::Sufficient => match value {
                "success" => Action::Done,
                _ => Action::Ignore,
            },
            Control::Optional => match value {
                "success" => Action::Ok,
                _ => Action::Ignore,
            },
            Control::Actions(map) => map
                .get(value)
                .or_else(|| map.get("default"))
                .copied()
                .unwrap_or(Action::Bad),
        }
    }

    fn describe(&self) -> String {
        match self {
            Control::Required => "required".into(),
            Control::Requisite => "requisite".into(),
            Control::Sufficient => "sufficient".into(),
            Control::Optional => "optional".into(),
            Control::Actions(map) => {
                let pairs: Vec<String> = map
                    .iter()
                    .map(|(value, action)| format!("{value}={action:?}").to_ascii_lowercase())
                    .collect();
                format!("[{}]", pairs.join(" "))
            }
        }
    }
}

/// How pam_totp can fail; none of these may be skipped.
const FAILURES: &[&str] = &[
    "auth_err",
    "maxtries",
    "authinfo_unavail",
    "service_err",
    "conv_err",
    "user_unknown",
    "buf_err",
    "system_err",
    "abort",
];

/// One `auth` line, with includes followed.
struct Entry {
    place: String,
    control: Control,
    module: String,
    args: Vec<String>,
    /// `-auth`: silently skipped when the module cannot be loaded.
    dash: bool,
    /// From a `substack`: its `done`, `die` and jumps end only the substack.
    in_substack: bool,
}

impl Entry {
    fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }

    fn is_totp(&self) -> bool {
        matches!(self.module_name(), "pam_totp.so" | "libpam_totp.so")
    }
}

/// A PAM file's lines, with `#` comments and `\` continuations handled.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("");
        let (number, mut line) = pending.take().unwrap_or((index + 1, String::new()));
        match content.strip_suffix('\\') {
            Some(start) => {
                line.push_str(start);
                line.push(' ');
                pending = Some((number, line));
            }
            None => {
                line.push_str(content);
                lines.push((number, line));
            }
        }
    }
    if let Some(last) = pending {
        lines.push(last);
    }
    lines
}

/// Split a PAM line into words, keeping `[...]` together.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_brackets = false;
    for c in line.chars() {
        match c {
            '[' if current.is_empty() => {
                in_brackets = true;
                current.push(c);
            }
            ']' if in_brackets => {
                in_brackets = false;
                current.push(c);
            }
            c if c.is_whitespace() && !in_brackets => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Read `path`'s auth stack, following includes; problems found on the
/// way are reported.
fn read_auth_stack(
    report: &mut Report,
    path: &Path,
    depth: usize,
    in_substack: bool,
    entries: &mut Vec<Entry>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            report.problem(&format!("cannot read {}: {error}", path.display()));
            return;
        }
    };
    let dir = path.parent().unwrap_or(Path::new("/etc/pam.d"));
    for (number, line) in logical_lines(&text) {
        let place = format!("{}:{number}", path.display());
        let words = words(&line);
        let Some(first) = words.first() else {
            continue;
        };
        // Relative names: next to this file, else in /etc/pam.d (so a copy
        // of a stack elsewhere still finds Debian's common-* files).
        let include = |name: &str| {
            let target = Path::new(name);
            let local = dir.join(target);
            if target.is_absolute() || local.exists() {
                local
            } else {
                Path::new("/etc/pam.d").join(target)
            }
        };
        if first == "@include" {
            if let Some(name) = words.get(1) {
                follow(report, &include(name), depth, in_substack, entries, &place);
            }
            continue;
        }
        let kind = first.to_ascii_lowercase();
        let (dash, kind) = match kind.strip_prefix('-') {
            Some(kind) => (true, kind.to_string()),
            None => (false, kind),
        };
        if kind != "auth" {
            continue;
        }
        let (Some(control), Some(module)) = (words.get(1), words.get(2)) else {
            report.problem(&format!("{place}: incomplete auth line"));
            continue;
        };
        if control == "include" || control == "substack" {
            let substack = in_substack || control == "substack";
            follow(report, &include(module), depth, substack, entries, &place);
            continue;
        }
        let Some(parsed) = Control::parse(&control.to_ascii_lowercase()) else {
            report.problem(&format!(
                "{place}: control \"{control}\" is not valid; PAM refuses every login through this file"
            ));
            continue;
        };
        entries.push(Entry {
            place,
            control: parsed,
            module: module.clone(),
            args: words.iter().skip(3).cloned().collect(),
            dash,
            in_substack,
        });
    }
}

fn follow(
    report: &mut Report,
    path: &Path,
    depth: usize,
    in_substack: bool,
    entries: &mut Vec<Entry>,
    place: &str,
) {
    if depth >= MAX_INCLUDE_DEPTH {
        report.problem(&format!("{place}: includes nested too deeply"));
        return;
    }
    read_auth_stack(report, path, depth + 1, in_substack, entries);
}

/// Check the PAM file; returns the effective configuration of each
/// pam_totp line that has a valid one.
fn check_pam(
    report: &mut Report,
    config_path: Option<&Path>,
    pam_file: Option<&Path>,
) -> Vec<Config> {
    let path = match pam_file {
        Some(path) => path.to_path_buf(),
        None => {
            let default = PathBuf::from(DEFAULT_PAM_FILE);
            if !default.exists() {
                report.skipped(&format!("no {DEFAULT_PAM_FILE}"));
                return Vec::new();
            }
            default
        }
    };
    let shown = path.display().to_string();
    let mut entries = Vec::new();
    let before = report.problems;
    read_auth_stack(report, &path, 0, false, &mut entries);
    let totp: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.is_totp())
        .map(|(index, _)| index)
        .collect();
    let Some(&first) = totp.first() else {
        if report.problems == before {
            report.problem(&format!(
                "{shown}: pam_totp.so is not in the auth stack, so no code is asked; add \"auth required pam_totp.so\" (see the stacks in pam.d/)"
            ));
        }
        return Vec::new();
    };
    let mut configs = Vec::new();
    for &index in &totp {
        let Some(entry) = entries.get(index) else {
            continue;
        };
        check_totp_line(report, entry, &entries, index);
        if let Some(config) = module_config(report, entry, config_path) {
            if entries.len() == 1 && can_ignore(&config) {
                report.problem(&format!(
                    "{}: pam_totp.so is the only auth module, and exempt or unenrolled users get PAM_IGNORE, which alone is a refusal; add \"auth required pam_permit.so\" after it",
                    entry.place
                ));
            }
            configs.push(config);
        }
    }
    check_before_totp(report, &entries, first);
    if report.problems == before {
        report.ok(&format!(
            "{shown}: pam_totp.so is required and cannot be skipped"
        ));
    }
    configs
}

fn check_totp_line(report: &mut Report, entry: &Entry, entries: &[Entry], index: usize) {
    let place = &entry.place;
    if entry.dash {
        report.problem(&format!(
            "{place}: \"-auth\" silently skips pam_totp.so when it cannot be loaded; remove the \"-\""
        ));
    }
    if !module_exists(&entry.module) {
        report.problem(&format!(
            "{place}: module {} not found; install it (make install) or fix the path",
            entry.module
        ));
    }
    match &entry.control {
        Control::Sufficient => report.problem(&format!(
            "{place}: pam_totp.so is \"sufficient\": a wrong code is skipped and a right one ends the stack (skipping later checks such as the password); use \"required\""
        )),
        Control::Optional => report.problem(&format!(
            "{place}: pam_totp.so is \"optional\": a wrong code is ignored; use \"required\""
        )),
        control => {
            let skipped: Vec<&str> = FAILURES
                .iter()
                .copied()
                .filter(|value| !matches!(control.action(value), Action::Bad | Action::Die))
                .collect();
            if !skipped.is_empty() {
                report.problem(&format!(
                    "{place}: control {} lets a failed pam_totp.so be skipped ({}); use \"required\"",
                    control.describe(),
                    skipped.join(", ")
                ));
            }
            let later = entries.len().saturating_sub(index + 1);
            match control.action("success") {
                Action::Done if later > 0 => report.problem(&format!(
                    "{place}: success=done ends the stack at a right code, skipping the {later} auth module(s) after it; use \"required\""
                )),
                Action::Jump(n) if n > 0 => report.problem(&format!(
                    "{place}: success={n} skips the next {n} auth module(s) after a right code; use \"required\""
                )),
                _ => {}
            }
        }
    }
}

/// A module before pam_totp that could end the stack with success, or
/// jump over pam_totp, lets logins skip the code.
fn check_before_totp(report: &mut Report, entries: &[Entry], totp: usize) {
    for (index, entry) in entries.iter().enumerate().take(totp) {
        // A substack before pam_totp ends only itself, never the main stack.
        let totp_in_same_substack = entries
            .get(totp)
            .is_some_and(|t| t.in_substack && entry.in_substack);
        if entry.in_substack && !totp_in_same_substack {
            continue;
        }
        let name = entry.module_name();
        if matches!(entry.control, Control::Sufficient) {
            report.problem(&format!(
                "{}: {name} is \"sufficient\" before pam_totp.so: when it succeeds no code is asked; make it \"required\"",
                entry.place
            ));
            continue;
        }
        let Control::Actions(map) = &entry.control else {
            continue;
        };
        if map.get("success") == Some(&Action::Done) {
            report.problem(&format!(
                "{}: {name} has success=done before pam_totp.so: when it succeeds no code is asked",
                entry.place
            ));
        }
        for (value, action) in map {
            if let Action::Jump(n) = action
                && index + n >= totp
            {
                report.problem(&format!(
                    "{}: {name} jumps over pam_totp.so ({value}={n}): those logins are not asked for a code",
                    entry.place
                ));
            }
        }
    }
}

fn module_exists(module: &str) -> bool {
    let path = Path::new(module);
    if path.is_absolute() {
        return path.is_file();
    }
    MODULE_DIRS
        .iter()
        .any(|dir| Path::new(dir).join(module).is_file())
}

/// The configuration the module builds from this line's arguments (the
/// file named by `config=`, else `--config`, else the default file).
fn module_config(report: &mut Report, entry: &Entry, config_path: Option<&Path>) -> Option<Config> {
    let mut args: Vec<String> = Vec::new();
    if let Some(path) = config_path
        && !entry.args.iter().any(|arg| arg.starts_with("config="))
    {
        args.push(format!("config={}", path.display()));
    }
    args.extend(entry.args.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    match Config::from_module_args(&refs) {
        Ok(config) => Some(config),
        Err(error) if report.config_errors.contains(&error.to_string()) => None,
        Err(error) => {
            report.problem(&format!(
                "{}: pam_totp.so arguments: {error}; until it is fixed the module refuses every login",
                entry.place
            ));
            None
        }
    }
}

fn can_ignore(config: &Config) -> bool {
    config.unenrolled == Unenrolled::Allow
        || !config.exempt_groups.is_empty()
        || !config.exempt_networks.is_empty()
}

// ------------------------------------------------------------------ sshd

/// sshd settings, keyword in lower case; the first occurrence wins.
fn parse_sshd(text: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut parts = line.splitn(2, |c: char| c.is_whitespace() || c == '=');
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key == "match" {
            // Only the global part applies to every connection.
            break;
        }
        let key = if key == "challengeresponseauthentication" {
            "kbdinteractiveauthentication".to_string()
        } else {
            key
        };
        settings.entry(key).or_insert_with(|| {
            value
                .trim_start_matches([' ', '\t', '='])
                .trim()
                .to_string()
        });
    }
    settings
}

fn sshd_binary() -> Option<PathBuf> {
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
}

fn check_sshd(report: &mut Report, sshd_config: Option<&Path>) {
    let (source, text) = match sshd_config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => (path.display().to_string(), text),
            Err(error) => {
                report.problem(&format!("cannot read {}: {error}", path.display()));
                return;
            }
        },
        None => {
            let Some(binary) = sshd_binary() else {
                report.skipped("sshd is not installed");
                return;
            };
            match std::process::Command::new(&binary).arg("-T").output() {
                Ok(output) if output.status.success() => (
                    "sshd -T".to_string(),
                    String::from_utf8_lossy(&output.stdout).into_owned(),
                ),
                Ok(output) => {
                    report.problem(&format!(
                        "`sshd -T` failed ({}); run the check as root, or pass --sshd-config",
                        String::from_utf8_lossy(&output.stderr).trim()
                    ));
                    return;
                }
                Err(error) => {
                    report.problem(&format!("cannot run {}: {error}", binary.display()));
                    return;
                }
            }
        }
    };
    let settings = parse_sshd(&text);
    let get = |key: &str, default: &str| -> String {
        settings
            .get(key)
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_else(|| default.to_string())
    };
    let before = report.problems;
    if get("usepam", "no") != "yes" {
        report.problem(&format!(
            "{source}: UsePAM is off, so sshd never asks pam_totp; set \"UsePAM yes\""
        ));
    }
    if get("kbdinteractiveauthentication", "yes") != "yes" {
        report.problem(&format!(
            "{source}: KbdInteractiveAuthentication is off, so sshd cannot ask for the code; set \"KbdInteractiveAuthentication yes\""
        ));
    }
    let methods = get("authenticationmethods", "any");
    if methods == "any" {
        let bypass: Vec<&str> = [
            ("pubkeyauthentication", "yes", "publickey"),
            ("hostbasedauthentication", "no", "hostbased"),
            ("gssapiauthentication", "no", "gssapi-with-mic"),
        ]
        .iter()
        .filter(|(key, default, _)| get(key, default) == "yes")
        .map(|(_, _, method)| *method)
        .collect();
        if !bypass.is_empty() {
            report.problem(&format!(
                "{source}: AuthenticationMethods is \"any\": {} alone logs in without a code; set \"AuthenticationMethods publickey,keyboard-interactive\" (key + code) or \"keyboard-interactive\" (password + code)",
                bypass.join(", ")
            ));
        }
    } else {
        for list in methods.split_whitespace() {
            if !list
                .split(',')
                .any(|method| method.starts_with("keyboard-interactive"))
            {
                report.problem(&format!(
                    "{source}: AuthenticationMethods allows \"{list}\", which logs in without keyboard-interactive and so without a code"
                ));
            }
        }
    }
    if report.problems == before {
        report.ok(&format!(
            "{source}: UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods {methods}"
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn controls_parse_and_default_to_bad() {
        let control = Control::parse("[success=ok default=ignore]").unwrap();
        assert_eq!(control.action("auth_err"), Action::Ignore);
        let control = Control::parse("[success=1 new_authtok_reqd=done]").unwrap();
        assert_eq!(control.action("success"), Action::Jump(1));
        assert_eq!(control.action("auth_err"), Action::Bad);
        assert!(Control::parse("[success]").is_none());
        assert!(Control::parse("mandatory").is_none());
    }

    #[test]
    fn words_keep_brackets_together() {
        assert_eq!(
            words("auth [success=1 default=ignore]  pam_unix.so nullok"),
            vec![
                "auth",
                "[success=1 default=ignore]",
                "pam_unix.so",
                "nullok"
            ]
        );
    }

    #[test]
    fn sshd_settings_first_wins_and_match_ends() {
        let settings = parse_sshd(
            "UsePAM yes\nusepam no\nChallengeResponseAuthentication no\nMatch User x\nKbdInteractiveAuthentication yes\n",
        );
        assert_eq!(settings.get("usepam").map(String::as_str), Some("yes"));
        assert_eq!(
            settings
                .get("kbdinteractiveauthentication")
                .map(String::as_str),
            Some("no")
        );
    }
}
