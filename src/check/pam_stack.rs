//! A PAM service file's `auth` stack, read the way libpam reads it, and
//! what in it lets a login skip pam_totp.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::EXAMPLES_DIR;

/// Nested `@include`s followed at most this deep.
pub const MAX_INCLUDE_DEPTH: usize = 8;
/// Where PAM looks for service files named without a path.
const PAM_DIR: &str = "/etc/pam.d";

/// What a module line does for one PAM return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Ignore,
    Ok,
    Done,
    Bad,
    Die,
    Reset,
    Jump(usize),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Ignore => write!(f, "ignore"),
            Action::Ok => write!(f, "ok"),
            Action::Done => write!(f, "done"),
            Action::Bad => write!(f, "bad"),
            Action::Die => write!(f, "die"),
            Action::Reset => write!(f, "reset"),
            Action::Jump(n) => write!(f, "{n}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Control {
    Required,
    Requisite,
    Sufficient,
    Optional,
    /// `[value=action ...]`
    Actions(BTreeMap<String, Action>),
}

/// Every return value a `[value=action]` control can name (pam.conf(5)),
/// except `success` and `ignore`, and `new_authtok_reqd` (which plain
/// `required` maps to `ok` itself, and which neither pam_totp nor libpam
/// for a missing module returns). `default` stands for any other code.
/// For pam_totp to be unskippable each must be `bad` or `die`: a missing
/// module is `module_unknown`, a broken one `open_err` or `symbol_err`.
pub const FAILURE_VALUES: &[&str] = &[
    "open_err",
    "symbol_err",
    "service_err",
    "system_err",
    "buf_err",
    "perm_denied",
    "auth_err",
    "cred_insufficient",
    "authinfo_unavail",
    "user_unknown",
    "maxtries",
    "acct_expired",
    "session_err",
    "cred_unavail",
    "cred_expired",
    "cred_err",
    "no_module_data",
    "conv_err",
    "authtok_err",
    "authtok_recover_err",
    "authtok_lock_busy",
    "authtok_disable_aging",
    "try_again",
    "abort",
    "authtok_expired",
    "module_unknown",
    "bad_item",
    "conv_again",
    "incomplete",
    "default",
];

impl Control {
    /// A control field; `None` if libpam would refuse it.
    pub fn parse(text: &str) -> Option<Control> {
        match text.to_ascii_lowercase().as_str() {
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

    /// The action for one return value; unlisted values take `default=`,
    /// and without it are `bad`.
    pub fn action(&self, value: &str) -> Action {
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

    /// The failure values this control does not turn into a refusal.
    pub fn skippable_failures(&self) -> Vec<&'static str> {
        FAILURE_VALUES
            .iter()
            .copied()
            .filter(|value| !matches!(self.action(value), Action::Bad | Action::Die))
            .collect()
    }
}

impl std::fmt::Display for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Control::Required => write!(f, "required"),
            Control::Requisite => write!(f, "requisite"),
            Control::Sufficient => write!(f, "sufficient"),
            Control::Optional => write!(f, "optional"),
            Control::Actions(map) => {
                let pairs: Vec<String> = map
                    .iter()
                    .map(|(value, action)| format!("{value}={action}"))
                    .collect();
                write!(f, "[{}]", pairs.join(" "))
            }
        }
    }
}

/// One `auth` line, with includes followed.
#[derive(Clone, Debug)]
pub struct Entry {
    /// `FILE:LINE`
    pub place: String,
    pub control: Control,
    pub module: String,
    pub args: Vec<String>,
    /// `-auth`: silently skipped when the module cannot be loaded.
    pub dash: bool,
    /// From a `substack`: its `done`, `die` and jumps end only the substack.
    pub in_substack: bool,
}

impl Entry {
    pub fn module_name(&self) -> &str {
        self.module.rsplit('/').next().unwrap_or(&self.module)
    }

    pub fn is_totp(&self) -> bool {
        matches!(self.module_name(), "pam_totp.so" | "libpam_totp.so")
    }

    /// A pam_totp line with `first_factor_failed`: where the stack sends a
    /// login whose first factor failed; it always fails, never enrolls.
    pub fn is_first_factor_failed(&self) -> bool {
        self.is_totp() && self.args.iter().any(|arg| arg == "first_factor_failed")
    }
}

/// What is wrong with a PAM stack, each with the place it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackFinding {
    Unreadable {
        file: PathBuf,
        error: String,
    },
    TooDeep {
        place: String,
    },
    IncompleteLine {
        place: String,
    },
    BadControl {
        place: String,
        control: String,
    },
    NotInStack {
        file: PathBuf,
    },
    DashAuth {
        place: String,
    },
    ModuleMissing {
        place: String,
        module: String,
    },
    TotpSufficient {
        place: String,
    },
    TotpOptional {
        place: String,
    },
    TotpSkippable {
        place: String,
        control: String,
        values: Vec<&'static str>,
    },
    TotpSuccessDone {
        place: String,
        later: usize,
    },
    TotpSuccessJump {
        place: String,
        skipped: usize,
    },
    SufficientBefore {
        place: String,
        module: String,
    },
    DoneBefore {
        place: String,
        module: String,
    },
    JumpOver {
        place: String,
        module: String,
        value: String,
        by: usize,
    },
    IgnoreAlone {
        place: String,
    },
}

fn modules(n: usize) -> &'static str {
    if n == 1 { "module" } else { "modules" }
}

impl std::fmt::Display for StackFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use StackFinding::*;
        match self {
            Unreadable { file, error } => write!(f, "cannot read {}: {error}", file.display()),
            TooDeep { place } => write!(f, "{place}: includes nested too deeply"),
            IncompleteLine { place } => write!(f, "{place}: incomplete auth line"),
            BadControl { place, control } => write!(
                f,
                "{place}: control \"{control}\" is not valid; PAM refuses every login through this file"
            ),
            NotInStack { file } => write!(
                f,
                "{}: pam_totp.so is not in the auth stack, so no code is asked; add \"auth required pam_totp.so\" (see the stacks in {EXAMPLES_DIR}/pam.d/)",
                file.display()
            ),
            DashAuth { place } => write!(
                f,
                "{place}: \"-auth\" silently skips pam_totp.so when it cannot be loaded; remove the \"-\""
            ),
            ModuleMissing { place, module } => write!(
                f,
                "{place}: module {module} not found; install it (make install) or fix the path"
            ),
            TotpSufficient { place } => write!(
                f,
                "{place}: pam_totp.so is \"sufficient\": a wrong code is skipped and a right one ends the stack (skipping later checks such as the password); use \"required\""
            ),
            TotpOptional { place } => write!(
                f,
                "{place}: pam_totp.so is \"optional\": a wrong code is ignored; use \"required\""
            ),
            TotpSkippable {
                place,
                control,
                values,
            } => write!(
                f,
                "{place}: control {control} lets a failed or missing pam_totp.so be skipped ({}); map every value but success and ignore to bad or die, or use \"required\"",
                values.join(", ")
            ),
            TotpSuccessDone { place, later } => write!(
                f,
                "{place}: success=done ends the stack at a right code, skipping the {later} auth {} after it; use \"required\"",
                modules(*later)
            ),
            TotpSuccessJump { place, skipped } => write!(
                f,
                "{place}: success={skipped} skips the next {skipped} auth {} after a right code; use \"required\"",
                modules(*skipped)
            ),
            SufficientBefore { place, module } => write!(
                f,
                "{place}: {module} is \"sufficient\" before pam_totp.so: when it succeeds no code is asked; make it \"required\""
            ),
            DoneBefore { place, module } => write!(
                f,
                "{place}: {module} has success=done before pam_totp.so: when it succeeds no code is asked"
            ),
            JumpOver {
                place,
                module,
                value,
                by,
            } => write!(
                f,
                "{place}: {module} jumps over pam_totp.so ({value}={by}): those logins are not asked for a code"
            ),
            IgnoreAlone { place } => write!(
                f,
                "{place}: pam_totp.so is the only auth module, and exempt or unenrolled users get PAM_IGNORE, which alone is a refusal; add \"auth required pam_permit.so\" after it"
            ),
        }
    }
}

/// A PAM file's lines, with `#` comments and `\` continuations handled:
/// (line number, text).
pub fn logical_lines(text: &str) -> Vec<(usize, String)> {
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
pub fn words(line: &str) -> Vec<String> {
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

/// An auth stack as read: its lines and what stopped the reading.
#[derive(Debug, Default)]
pub struct Stack {
    pub entries: Vec<Entry>,
    pub findings: Vec<StackFinding>,
}

/// Read `path`'s auth stack, following `@include`, `include` and
/// `substack`; `read` gives a file's text. A relative include is looked
/// for next to the including file, else in /etc/pam.d (so a copy of a
/// stack elsewhere still finds Debian's common-* files).
pub fn read_stack(path: &Path, read: &mut dyn FnMut(&Path) -> std::io::Result<String>) -> Stack {
    let mut stack = Stack::default();
    read_into(&mut stack, path, 0, false, read);
    stack
}

/// [`read_stack`] from the file system.
pub fn read_stack_file(path: &Path) -> Stack {
    read_stack(path, &mut |path| std::fs::read_to_string(path))
}

fn read_into(
    stack: &mut Stack,
    path: &Path,
    depth: usize,
    in_substack: bool,
    read: &mut dyn FnMut(&Path) -> std::io::Result<String>,
) {
    let text = match read(path) {
        Ok(text) => text,
        Err(error) => {
            stack.findings.push(StackFinding::Unreadable {
                file: path.to_path_buf(),
                error: error.to_string(),
            });
            return;
        }
    };
    let dir = path.parent().unwrap_or(Path::new(PAM_DIR));
    for (number, line) in logical_lines(&text) {
        let place = format!("{}:{number}", path.display());
        let words = words(&line);
        let Some(first) = words.first() else {
            continue;
        };
        let include = |name: &str| -> PathBuf {
            let target = Path::new(name);
            let local = dir.join(target);
            if target.is_absolute() || local.exists() {
                local
            } else {
                Path::new(PAM_DIR).join(target)
            }
        };
        let mut follow = |stack: &mut Stack, target: PathBuf, substack: bool| {
            if depth + 1 >= MAX_INCLUDE_DEPTH {
                stack.findings.push(StackFinding::TooDeep {
                    place: place.clone(),
                });
            } else {
                read_into(stack, &target, depth + 1, substack, read);
            }
        };
        if first == "@include" {
            if let Some(name) = words.get(1) {
                follow(stack, include(name), in_substack);
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
            stack.findings.push(StackFinding::IncompleteLine { place });
            continue;
        };
        if control == "include" || control == "substack" {
            let substack = in_substack || control == "substack";
            follow(stack, include(module), substack);
            continue;
        }
        let Some(parsed) = Control::parse(control) else {
            stack.findings.push(StackFinding::BadControl {
                place,
                control: control.clone(),
            });
            continue;
        };
        stack.entries.push(Entry {
            place,
            control: parsed,
            module: module.clone(),
            args: words.iter().skip(3).cloned().collect(),
            dash,
            in_substack,
        });
    }
}

/// Where pam_totp is in `entries` (indices).
pub fn totp_lines(entries: &[Entry]) -> Vec<usize> {
    entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.is_totp())
        .map(|(index, _)| index)
        .collect()
}

/// Everything in the stack that lets a login past pam_totp without a
/// right code. `module_exists` says whether a module line can be loaded;
/// `can_ignore[i]` whether the i-th pam_totp line can answer PAM_IGNORE
/// (exempt or unenrolled users allowed through).
pub fn analyse(
    file: &Path,
    entries: &[Entry],
    module_exists: &dyn Fn(&str) -> bool,
    can_ignore: &[bool],
) -> Vec<StackFinding> {
    let mut findings = Vec::new();
    let totp = totp_lines(entries);
    // A first_factor_failed line never lets anyone in: what must not be
    // skipped is the first line that checks a code.
    let checking = totp.iter().copied().find(|&index| {
        entries
            .get(index)
            .is_some_and(|entry| !entry.is_first_factor_failed())
    });
    let Some(first) = checking else {
        findings.push(StackFinding::NotInStack {
            file: file.to_path_buf(),
        });
        return findings;
    };
    for (n, &index) in totp.iter().enumerate() {
        let Some(entry) = entries.get(index) else {
            continue;
        };
        totp_line(&mut findings, entry, entries.len(), index, module_exists);
        if entries.len() == 1 && can_ignore.get(n).copied().unwrap_or(false) {
            findings.push(StackFinding::IgnoreAlone {
                place: entry.place.clone(),
            });
        }
    }
    before_totp(&mut findings, entries, first);
    findings
}

fn totp_line(
    findings: &mut Vec<StackFinding>,
    entry: &Entry,
    count: usize,
    index: usize,
    module_exists: &dyn Fn(&str) -> bool,
) {
    let place = entry.place.clone();
    if entry.dash {
        findings.push(StackFinding::DashAuth {
            place: place.clone(),
        });
    }
    if !module_exists(&entry.module) {
        findings.push(StackFinding::ModuleMissing {
            place: place.clone(),
            module: entry.module.clone(),
        });
    }
    match &entry.control {
        Control::Sufficient => findings.push(StackFinding::TotpSufficient { place }),
        Control::Optional => findings.push(StackFinding::TotpOptional { place }),
        control => {
            let values = control.skippable_failures();
            if !values.is_empty() {
                findings.push(StackFinding::TotpSkippable {
                    place: place.clone(),
                    control: control.to_string(),
                    values,
                });
            }
            let later = count.saturating_sub(index + 1);
            match control.action("success") {
                Action::Done if later > 0 => {
                    findings.push(StackFinding::TotpSuccessDone { place, later })
                }
                Action::Jump(n) if n > 0 => {
                    findings.push(StackFinding::TotpSuccessJump { place, skipped: n })
                }
                _ => {}
            }
        }
    }
}

/// A module before pam_totp that could end the stack with success, or
/// jump over pam_totp, lets logins skip the code.
fn before_totp(findings: &mut Vec<StackFinding>, entries: &[Entry], totp: usize) {
    for (index, entry) in entries.iter().enumerate().take(totp) {
        // A substack before pam_totp ends only itself, never the main stack.
        let totp_in_same_substack = entries
            .get(totp)
            .is_some_and(|t| t.in_substack && entry.in_substack);
        if entry.in_substack && !totp_in_same_substack {
            continue;
        }
        let module = entry.module_name().to_string();
        let place = entry.place.clone();
        if matches!(entry.control, Control::Sufficient) {
            findings.push(StackFinding::SufficientBefore { place, module });
            continue;
        }
        let Control::Actions(map) = &entry.control else {
            continue;
        };
        if map.get("success") == Some(&Action::Done) {
            findings.push(StackFinding::DoneBefore {
                place: place.clone(),
                module: module.clone(),
            });
        }
        for (value, action) in map {
            if let Action::Jump(n) = action
                && index.saturating_add(*n) >= totp
            {
                findings.push(StackFinding::JumpOver {
                    place: place.clone(),
                    module: module.clone(),
                    value: value.clone(),
                    by: *n,
                });
            }
        }
    }
}

/// Modules that check a password (or always fail, like pam_deny).
const PASSWORD_MODULES: &[&str] = &[
    "pam_unix.so",
    "pam_sss.so",
    "pam_ldap.so",
    "pam_krb5.so",
    "pam_winbind.so",
    "pam_pwdb.so",
    "pam_userdb.so",
    "pam_deny.so",
];

/// Whether a wrong password stops every login before it reaches a
/// pam_totp line that may enroll, so that such a line only ever sees users
/// who passed a first factor (what `unenrolled = "enroll"` needs when sshd
/// asks for no key).
///
/// Runs the stack as libpam would with every password module (and every
/// `first_factor_failed` line) failing and every other module succeeding:
/// the first factor holds only if the stack ends (`requisite`, `die`)
/// before the first pam_totp line without `first_factor_failed`. A failed
/// `required` module does not end the stack: libpam runs the rest, and
/// pam_totp cannot see that an earlier module failed.
pub fn password_before_totp(entries: &[Entry]) -> bool {
    let mut index = 0;
    while let Some(entry) = entries.get(index) {
        if entry.is_totp() && !entry.is_first_factor_failed() {
            return false;
        }
        let value = if PASSWORD_MODULES.contains(&entry.module_name()) || entry.is_totp() {
            "auth_err"
        } else {
            "success"
        };
        index += 1;
        match entry.control.action(value) {
            Action::Die if entry.in_substack => {
                // Only the substack ends.
                while entries.get(index).is_some_and(|e| e.in_substack) {
                    index += 1;
                }
            }
            // The stack ends here: no later line is reached.
            Action::Die | Action::Done if !entry.in_substack => return true,
            Action::Jump(n) => index = index.saturating_add(n),
            Action::Ok
            | Action::Ignore
            | Action::Bad
            | Action::Reset
            | Action::Done
            | Action::Die => {}
        }
    }
    // No pam_totp line that could enroll.
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(text: &str) -> Vec<Entry> {
        let text = text.to_string();
        let found = read_stack(Path::new("/test/sshd"), &mut |path| {
            if path == Path::new("/test/sshd") {
                Ok(text.clone())
            } else {
                Err(std::io::Error::from(std::io::ErrorKind::NotFound))
            }
        });
        assert!(found.findings.is_empty(), "{:?}", found.findings);
        found.entries
    }

    fn findings(text: &str) -> Vec<StackFinding> {
        analyse(Path::new("/test/sshd"), &stack(text), &|_| true, &[false])
    }

    #[test]
    fn controls_parse_and_default_to_bad() {
        let control = Control::parse("[success=ok default=ignore]").unwrap();
        assert_eq!(control.action("auth_err"), Action::Ignore);
        let control = Control::parse("[success=1 new_authtok_reqd=done]").unwrap();
        assert_eq!(control.action("success"), Action::Jump(1));
        assert_eq!(control.action("auth_err"), Action::Bad);
        assert!(Control::parse("[success]").is_none());
        assert!(Control::parse("mandatory").is_none());
        assert_eq!(Control::parse("Required"), Some(Control::Required));
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

    /// Issue 11 point 4: which controls on the pam_totp line let a failed
    /// or missing module be skipped (then pam_permit logs everyone in).
    #[test]
    fn a_control_is_unskippable_only_if_every_failure_is_bad_or_die() {
        let table: &[(&str, &[&str])] = &[
            ("required", &[]),
            ("requisite", &[]),
            ("[success=ok ignore=ignore default=die]", &[]),
            ("[success=ok ignore=ignore default=bad]", &[]),
            (
                "[success=ok new_authtok_reqd=ok ignore=ignore default=bad]",
                &[],
            ),
            // Debian's own pam_selinux pattern: a missing module is ignored.
            (
                "[success=ok ignore=ignore module_unknown=ignore default=die]",
                &["module_unknown"],
            ),
            ("[success=ok open_err=ignore default=bad]", &["open_err"]),
            ("[success=ok symbol_err=ok default=die]", &["symbol_err"]),
            (
                "[success=ok incomplete=ignore default=die]",
                &["incomplete"],
            ),
            ("[success=ok auth_err=1 default=die]", &["auth_err"]),
            ("[success=ok maxtries=reset default=die]", &["maxtries"]),
            ("[success=ok abort=done default=bad]", &["abort"]),
        ];
        for (control, skipped) in table {
            let control = Control::parse(control).unwrap();
            assert_eq!(&control.skippable_failures(), skipped, "{control}");
        }
        // default=ignore leaves every unlisted value, "default" included.
        let open = Control::parse("[success=ok default=ignore]").unwrap();
        let values = open.skippable_failures();
        for value in ["auth_err", "module_unknown", "open_err", "default"] {
            assert!(values.contains(&value), "{value}: {values:?}");
        }
        assert_eq!(
            Control::parse("sufficient").unwrap().skippable_failures(),
            FAILURE_VALUES
        );
    }

    #[test]
    fn the_selinux_pattern_before_pam_permit_is_reported_skippable() {
        let found = findings(
            "auth [success=ok ignore=ignore module_unknown=ignore default=die] pam_totp.so\nauth required pam_permit.so\n",
        );
        assert_eq!(
            found,
            vec![StackFinding::TotpSkippable {
                place: "/test/sshd:1".into(),
                control: "[default=die ignore=ignore module_unknown=ignore success=ok]".into(),
                values: vec!["module_unknown"],
            }]
        );
        assert!(found[0].to_string().contains("module_unknown"));
        assert!(findings("auth required pam_totp.so\nauth required pam_permit.so\n").is_empty());
    }

    #[test]
    fn stack_findings_table() {
        let totp = "pam_totp.so";
        let cases: Vec<(String, &str)> = vec![
            (
                format!("auth sufficient {totp}\nauth required pam_unix.so"),
                "sufficient",
            ),
            (format!("auth optional {totp}"), "optional"),
            (
                format!("-auth required {totp}\nauth required pam_permit.so"),
                "-auth",
            ),
            (
                format!("auth [success=done default=die] {totp}\nauth required pam_unix.so"),
                "success=done",
            ),
            (
                format!("auth [success=1 default=die] {totp}\nauth required pam_unix.so"),
                "success=1",
            ),
            (
                format!("auth sufficient pam_unix.so\nauth required {totp}"),
                "\"sufficient\" before",
            ),
            (
                format!("auth [success=done default=ignore] pam_unix.so\nauth required {totp}"),
                "success=done before",
            ),
            (
                format!("auth [success=1 default=ignore] pam_unix.so\nauth required {totp}"),
                "jumps over",
            ),
            (
                "auth required pam_unix.so".to_string(),
                "not in the auth stack",
            ),
        ];
        for (text, expected) in cases {
            let found = findings(&text);
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert!(
                found[0].to_string().contains(expected),
                "{text}: {}",
                found[0]
            );
        }
        // Debian's common-auth jump lands on pam_deny, not past pam_totp.
        assert!(findings(
            "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\nauth required pam_totp.so\n"
        )
        .is_empty());
    }

    /// The shipped two-prompt stack: the jump over the first_factor_failed
    /// line lands on the line that checks the code, which is no bypass.
    #[test]
    fn a_jump_over_the_first_factor_failed_line_is_no_bypass() {
        let shipped = "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_totp.so first_factor_failed\nauth required pam_totp.so\nauth required pam_permit.so\n";
        let entries = stack(shipped);
        let found = analyse(Path::new("/test/sshd"), &entries, &|_| true, &[false, true]);
        assert!(found.is_empty(), "{found:?}");
        // A jump past the checking line still is.
        let found = findings(
            "auth [success=2 default=ignore] pam_unix.so\nauth requisite pam_totp.so first_factor_failed\nauth required pam_totp.so\nauth required pam_permit.so\n",
        );
        assert!(
            found
                .iter()
                .any(|f| matches!(f, StackFinding::JumpOver { .. })),
            "{found:?}"
        );
        // Only a first_factor_failed line: nothing checks a code.
        let found = findings("auth requisite pam_totp.so first_factor_failed\n");
        assert!(
            found
                .iter()
                .any(|f| matches!(f, StackFinding::NotInStack { .. })),
            "{found:?}"
        );
    }

    #[test]
    fn password_before_totp_needs_a_password_module_that_ends_the_stack() {
        for (text, expected) in [
            // Issue 18 point 1: "required" does not stop libpam, so a wrong
            // password still reaches pam_totp (and its enrollment).
            (
                "auth required pam_unix.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth [success=ok default=bad] pam_unix.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth [success=ok default=die] pam_unix.so\nauth required pam_totp.so",
                true,
            ),
            // The shipped two-prompt stack: a failed password jumps nowhere
            // and meets the first_factor_failed line, which ends the stack.
            (
                "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_totp.so first_factor_failed\nauth required pam_totp.so\nauth required pam_permit.so",
                true,
            ),
            // ... but not when that line is only "required".
            (
                "auth [success=1 default=ignore] pam_unix.so\nauth required pam_totp.so first_factor_failed\nauth required pam_totp.so",
                false,
            ),
            // ... nor when the failure jumps over it.
            (
                "auth [success=1 default=1] pam_unix.so\nauth requisite pam_totp.so first_factor_failed\nauth required pam_totp.so",
                false,
            ),
            ("auth requisite pam_sss.so\nauth required pam_totp.so", true),
            (
                "auth optional pam_unix.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth sufficient pam_unix.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth required pam_totp.so\nauth required pam_unix.so",
                false,
            ),
            ("auth required pam_env.so\nauth required pam_totp.so", false),
            // Debian's common-auth: a wrong password falls through to pam_deny.
            (
                "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_deny.so\nauth required pam_permit.so\nauth required pam_totp.so",
                true,
            ),
            // ... but not when the jump goes past pam_deny either way.
            (
                "auth [success=1 default=1] pam_unix.so\nauth requisite pam_deny.so\nauth required pam_permit.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth required pam_permit.so\nauth required pam_totp.so",
                false,
            ),
            (
                "auth required pam_unix.so\nauth [default=reset] pam_env.so\nauth required pam_totp.so",
                false,
            ),
        ] {
            assert_eq!(password_before_totp(&stack(text)), expected, "{text}");
        }
    }
}
