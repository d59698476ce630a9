//! The whole authentication as one fuzz case, in the manner of pam-u2f's
//! fuzz_auth: a scripted PAM session (answers, token from the input), the
//! clock set by the input, and store failures injected at any call.
//!
//! Shared by the fuzz target (fuzz/fuzz_targets/authenticate.rs) and by
//! tests/fuzz_seeds.rs, which replays the seeds in fuzz/seeds/authenticate
//! under `make test` and asserts that the `accept-*` ones log in: a fixture
//! that refuses everything (as a state_dir of the wrong mode once did) fails
//! the suite instead of turning every assertion below into dead code.
//!
//! The input: five header bytes, then the bytes typed.
//!   0 faults   bit n: store call n fails (enrollment, snapshot, update,
//!              update after deciding, save_enrollment, decoy_snapshot,
//!              decoy_update); bit 7: enrollment() refuses a row that does
//!              not verify, as the PostgreSQL store does
//!              (`LoadError::Store` of a `PostgresError::Enrollment`)
//!   1 flags    bit 0 try_first_pass, 1 use_first_pass, 2 forward_pass,
//!              bits 3-4 unenrolled (deny, allow, enroll), bits 5-7
//!              max_failures - 1
//!   2 when     the clock: BASE_TIME + 17 s per unit
//!   3 kind     low bits % 5: 0 the right code, 1 a near one (-3..+3 steps
//!              or counter values), 2 the recovery code, else the bytes
//!              typed; bit 6: the answer is the token (PAM_AUTHTOK) and the
//!              prompt gets the bytes typed; bit 7: an unknown user
//!   4 token    bit 0: the user's token is HOTP (else TOTP); bit 1: the
//!              line has `first_factor_failed` (with forward_pass a
//!              configuration error: PAM_SERVICE_ERR); bit 2: the remote
//!              host is in exempt_networks; bit 3: the user has no secret
//!              file (not enrolled: `unenrolled` decides); bit 4:
//!              exempt_groups lists the user's primary group (as `id -gn`
//!              names it); bit 5: exempt_groups lists a group the user is
//!              not in (alone, no exemption)
//!
//! What is checked, for every input: the exact PAM result the module must
//! give (worked out here from an independent model of the answer grammar
//! and the lockout: success exactly when the answer the module checks is
//! a valid code or the recovery code and nothing failed; an exempt host, or
//! an exempt group's member, PAM_IGNORE before the store is used, and
//! PAM_AUTH_ERR on a `first_factor_failed` line), that a success is
//! refused when replayed, and that no log line holds the secret, a valid
//! code, the recovery code or any code-shaped answer typed; that the secret
//! files are unchanged after; and for a `first_factor_failed` line, that it
//! never returns PAM_SUCCESS or PAM_IGNORE, never enrolls, and counts an
//! enrolled user's answer as a wrong code.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use pam::constants::PamResultCode;
use pam_totp::auth::session::{LogLevel, Session};
use pam_totp::config::{Config, Unenrolled};
use pam_totp::otp::secret::SecretFile;
use pam_totp::store::LoadError;
use pam_totp::store::postgres::error::{PostgresError, RowError};
use pam_totp::store::postgres::sealing::SealError;
use pam_totp::store::{
    self, Change, Listed, Removed, Repair, Replacing, Snapshot, Store, StoreError, Updated,
};
use pam_totp::system::account::{self, Account};
use zeroize::Zeroizing;

pub const SECRET_B32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// The HOTP user's secret (another one: a TOTP code must not pass for it).
pub const HOTP_SECRET_B32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
pub const RECOVERY: &str = "abcd-efgh";
const RECOVERY_CANONICAL: &str = "abcdefgh";
/// The HOTP secret file's `counter`: the next value the token shows.
pub const HOTP_COUNTER: u64 = 5;
pub const BASE_TIME: u64 = 1_800_000_000;
pub const UNKNOWN_USER: &str = "pamtotp-fuzz-nobody";
/// A group in exempt_groups that the user is not in (no such group).
const NO_MEMBERS_GROUP: &str = "pamtotp-fuzz-nogroup";
const HEADER: usize = 5;

/// Inputs run, successes checked (a success, its replay refused).
pub static INPUTS: AtomicU64 = AtomicU64::new(0);
pub static SUCCESSES: AtomicU64 = AtomicU64::new(0);

pub struct Fixture {
    dir: tempfile::TempDir,
    totp_path: String,
    hotp_path: String,
    /// A secret directory with no file: the user is not enrolled there.
    unenrolled_path: String,
    /// The secret files as written, to check that no login changes them.
    files: Vec<(PathBuf, Vec<u8>)>,
    state_dir: PathBuf,
    user: String,
    /// The user's primary group, by name.
    group: String,
}

impl Fixture {
    /// The current user enrolled twice: a TOTP secret and an HOTP one (in
    /// two secret directories), both with the recovery code.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let user = account::lookup_uid(account::effective_uid())
            .expect("current user")
            .name;
        // Asked of `id`, not of the module's own group lookup.
        let id = std::process::Command::new("id")
            .args(["-gn", &user])
            .output()
            .expect("id -gn");
        assert!(id.status.success(), "id -gn {user}: {id:?}");
        let group = String::from_utf8(id.stdout)
            .expect("group name")
            .trim()
            .to_string();
        let hash = pam_totp::otp::recovery::hash_existing(RECOVERY)
            .expect("hash")
            .expect("a recovery code");
        let recovery = format!("recovery = [\"{}\"]\n", hash.encode());
        let files = [
            (
                "totp",
                format!("version = 1\nsecret = \"{SECRET_B32}\"\n{recovery}"),
            ),
            (
                "hotp",
                format!(
                    "version = 1\ntype = \"hotp\"\ncounter = {HOTP_COUNTER}\nsecret = \"{HOTP_SECRET_B32}\"\n{recovery}"
                ),
            ),
        ];
        let mut written = Vec::new();
        for (name, text) in &files {
            std::fs::create_dir(dir.path().join(name)).expect("secrets dir");
            let path = dir.path().join(name).join(format!("{user}.toml"));
            pam_totp::system::files::replace_atomically(&path, text.as_bytes(), None)
                .expect("secret file");
            written.push((path, text.clone().into_bytes()));
        }
        std::fs::create_dir(dir.path().join("none")).expect("secrets dir");
        Fixture {
            totp_path: format!("{}/totp/%u.toml", dir.path().display()),
            hotp_path: format!("{}/hotp/%u.toml", dir.path().display()),
            unenrolled_path: format!("{}/none/%u.toml", dir.path().display()),
            files: written,
            state_dir: dir.path().join("state"),
            user,
            group,
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Where the unenrolled user's secret would be.
    fn unenrolled_file(&self) -> PathBuf {
        self.dir
            .path()
            .join("none")
            .join(format!("{}.toml", self.user))
    }

    /// A fresh state directory (mode 0700, as the module requires) with the
    /// test clock at `now`.
    fn reset_state(&self, now: u64) {
        let _ = std::fs::remove_dir_all(&self.state_dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&self.state_dir)
            .expect("state dir");
        std::fs::write(self.state_dir.join("test-clock"), now.to_string()).expect("clock");
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

/// Which store calls fail.
#[derive(Clone, Copy, Debug)]
struct Faults(u8);

impl Faults {
    fn fails(self, bit: u8) -> bool {
        self.0 & (1 << bit) != 0
    }
}

struct FaultyStore {
    inner: Box<dyn Store>,
    faults: Faults,
    user: String,
}

fn injected() -> StoreError {
    StoreError::Other("injected failure".into())
}

impl Store for FaultyStore {
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError> {
        if self.faults.fails(0) {
            return Err(LoadError::Identity(std::io::Error::other("injected")));
        }
        if self.faults.fails(7) {
            // As the PostgreSQL store refuses a row that does not verify.
            return Err(LoadError::Store(StoreError::Database(
                PostgresError::Enrollment {
                    user: self.user.clone(),
                    error: RowError::Seal(SealError::NotAuthentic),
                },
            )));
        }
        self.inner.enrollment(account)
    }
    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError> {
        self.inner.is_enrolled(account)
    }
    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError> {
        if self.faults.fails(1) {
            return Err(injected());
        }
        self.inner.snapshot(account)
    }
    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        if self.faults.fails(2) {
            return Err(injected());
        }
        if self.faults.fails(3) {
            // The change ran, but the write did not happen.
            let _ = self
                .inner
                .snapshot(account)
                .map(|s| change(&s.state, s.now));
            return Err(injected());
        }
        self.inner.update(account, repair, change)
    }
    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError> {
        if self.faults.fails(4) {
            return Err(injected());
        }
        self.inner
            .save_enrollment(account, secret, replacing, repair)
    }
    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError> {
        self.inner.remove(account)
    }
    fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
        self.inner.list()
    }
    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError> {
        if self.faults.fails(5) {
            return Err(injected());
        }
        self.inner.decoy_snapshot(name)
    }
    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError> {
        if self.faults.fails(6) {
            return Err(injected());
        }
        self.inner.decoy_update(name, change)
    }
    fn release(&mut self) {
        self.inner.release();
    }
    fn look_up_unknown(&mut self, name: &str) -> Result<(), StoreError> {
        self.inner.look_up_unknown(name)
    }
}

struct ScriptedSession {
    user: String,
    answers: Vec<Vec<u8>>,
    token: Option<Vec<u8>>,
    logs: RefCell<Vec<String>>,
}

impl Session for ScriptedSession {
    fn user(&mut self) -> Result<String, PamResultCode> {
        Ok(self.user.clone())
    }
    fn service(&self) -> String {
        "fuzz".into()
    }
    fn remote_host(&self) -> Option<String> {
        Some("192.0.2.1".into())
    }
    fn tty(&self) -> Option<String> {
        Some("ssh".into())
    }
    fn prompt_hidden(&mut self, _text: &str) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
        if self.answers.is_empty() {
            return Err(PamResultCode::PAM_CONV_ERR);
        }
        Ok(Zeroizing::new(self.answers.remove(0)))
    }
    fn show_error(&mut self, _text: &str) {}
    fn show_info(&mut self, _text: &str) {}
    fn auth_token(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.token.clone().map(Zeroizing::new)
    }
    fn set_auth_token(&mut self, _token: &[u8]) -> Result<(), PamResultCode> {
        Ok(())
    }
    fn log(&self, _level: LogLevel, message: &str) {
        self.logs.borrow_mut().push(message.to_string());
    }
}

/// The input, decoded: what is typed, when, and what fails.
#[derive(Debug)]
struct Case {
    faults: Faults,
    config: Config,
    now: u64,
    hotp: bool,
    answers: Vec<Vec<u8>>,
    token: Option<Vec<u8>>,
    user: String,
    /// The line has both `first_factor_failed` and `forward_pass`.
    misconfigured: bool,
    /// The remote host is in exempt_networks.
    exempt: bool,
    /// exempt_groups lists the user's primary group.
    exempt_group: bool,
    unenrolled: bool,
}

fn totp_secret() -> SecretFile {
    SecretFile::parse(format!("version = 1\nsecret = \"{SECRET_B32}\"\n").as_bytes())
        .expect("secret")
}

/// The TOTP code for the step `offset` steps from the one at `time`.
fn totp_code(time: u64, offset: i64) -> String {
    let generator = totp_secret().generator().expect("generator");
    let step = generator.step_at(time).saturating_add_signed(offset);
    generator.code_for_step(step)
}

/// The HOTP code for counter value `counter`.
fn hotp_code(counter: u64) -> String {
    let text = format!("version = 1\ntype = \"hotp\"\nsecret = \"{HOTP_SECRET_B32}\"\n");
    SecretFile::parse(text.as_bytes())
        .expect("secret")
        .counter_generator()
        .expect("generator")
        .code_for_counter(counter)
}

fn decode(fixture: &Fixture, data: &[u8]) -> Option<Case> {
    let (&[faults, flags, when, kind, token_kind], rest) = data.split_first_chunk::<HEADER>()?;
    let hotp = token_kind & 1 != 0;
    let unenrolled = token_kind & 8 != 0;
    let mut config = Config {
        secret_path: if unenrolled {
            fixture.unenrolled_path.clone()
        } else if hotp {
            fixture.hotp_path.clone()
        } else {
            fixture.totp_path.clone()
        },
        state_dir: fixture.state_dir.clone(),
        ..Config::default()
    };
    config.flags.try_first_pass = flags & 1 != 0;
    config.flags.use_first_pass = flags & 2 != 0;
    config.flags.forward_pass = flags & 4 != 0;
    config.flags.first_factor_failed = token_kind & 2 != 0;
    let exempt = token_kind & 4 != 0;
    if exempt {
        config.exempt_networks = vec!["192.0.2.0/24".parse().expect("cidr")];
    }
    let exempt_group = token_kind & 16 != 0;
    if token_kind & 32 != 0 {
        config.exempt_groups.push(NO_MEMBERS_GROUP.to_string());
    }
    if exempt_group {
        config.exempt_groups.push(fixture.group.clone());
    }
    config.unenrolled = match (flags >> 3) & 3 {
        0 => Unenrolled::Deny,
        1 => Unenrolled::Allow,
        _ => Unenrolled::Enroll,
    };
    config.max_failures = u32::from(flags >> 5) + 1;
    let now = BASE_TIME + u64::from(when) * 17;
    let near = i64::from(kind % 7) - 3;
    let typed = match (kind % 5, hotp) {
        (0, false) => totp_code(now, 0).into_bytes(),
        (0, true) => hotp_code(HOTP_COUNTER).into_bytes(),
        (1, false) => totp_code(now, near).into_bytes(),
        (1, true) => hotp_code(HOTP_COUNTER.saturating_add_signed(near)).into_bytes(),
        (2, _) => RECOVERY.as_bytes().to_vec(),
        _ => rest.to_vec(),
    };
    let user = if kind & 0x80 != 0 {
        UNKNOWN_USER.to_string()
    } else {
        fixture.user.clone()
    };
    let (answers, token) = match kind & 0x40 != 0 {
        true => (vec![rest.to_vec()], Some(typed)),
        false => (vec![typed, rest.to_vec()], None),
    };
    let misconfigured = config_flags_conflict(&config);
    Some(Case {
        faults: Faults(faults),
        config,
        now,
        hotp,
        answers,
        token,
        user,
        misconfigured,
        exempt,
        exempt_group,
        unenrolled,
    })
}

/// `first_factor_failed` with `forward_pass`: the module's own parser must
/// refuse the line (and `authenticate` then returns PAM_SERVICE_ERR).
fn config_flags_conflict(config: &Config) -> bool {
    let conflict = config.flags.first_factor_failed && config.flags.forward_pass;
    if conflict {
        assert!(
            Config::from_module_args_without_file(&["first_factor_failed", "forward_pass"])
                .is_err(),
            "first_factor_failed with forward_pass is accepted"
        );
    }
    conflict
}

/// What one run did besides its result.
struct Ran {
    logs: Vec<String>,
    /// The store was opened.
    opened: bool,
    /// Prompts answered.
    prompts: usize,
}

fn run(case: &Case, faults: Faults) -> (PamResultCode, Ran) {
    let mut opened = false;
    let mut session = ScriptedSession {
        user: case.user.clone(),
        answers: case.answers.clone(),
        token: case.token.clone(),
        logs: RefCell::new(Vec::new()),
    };
    let mut open = |config: &Config| -> Result<Box<dyn Store>, StoreError> {
        opened = true;
        Ok(Box::new(FaultyStore {
            inner: store::open(config, store::postgres::open)?,
            faults,
            user: case.user.clone(),
        }))
    };
    let rc = pam_totp::auth::flow::authenticate_with(&mut session, case.config.clone(), &mut open);
    let prompts = case.answers.len() - session.answers.len();
    let ran = Ran {
        logs: session.logs.into_inner(),
        opened,
        prompts,
    };
    (rc, ran)
}

/// An answer as the specification's grammar reads it (written here apart
/// from src/answer.rs, so the two can disagree).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Typed {
    /// 6 to 8 ASCII digits, at most one inner space or hyphen between two
    /// digits, surrounding ASCII white space ignored.
    Digits(String),
    /// Crockford base32, 8 characters, one optional hyphen after the
    /// fourth, case ignored, o read as 0 and i, l as 1.
    Recovery(String),
    Malformed,
}

const CROCKFORD: &str = "0123456789abcdefghjkmnpqrstvwxyz";

fn grammar(raw: &[u8]) -> Typed {
    if raw.len() > 64 {
        return Typed::Malformed;
    }
    let Ok(text) = std::str::from_utf8(raw) else {
        return Typed::Malformed;
    };
    let text = text.trim_matches([' ', '\t', '\n', '\r', '\x0c']);
    let chars: Vec<char> = text.chars().collect();
    let separators: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i] == ' ' || chars[i] == '-')
        .collect();
    let digits: String = chars.iter().filter(|c| c.is_ascii_digit()).collect();
    let only_digits_and_separators = digits.chars().count() + separators.len() == chars.len();
    let separator_inside = match separators.as_slice() {
        [] => true,
        [at] => {
            *at > 0
                && chars.get(at - 1).is_some_and(char::is_ascii_digit)
                && chars.get(at + 1).is_some_and(char::is_ascii_digit)
        }
        _ => false,
    };
    if only_digits_and_separators && separator_inside && (6..=8).contains(&digits.len()) {
        return Typed::Digits(digits);
    }
    match recovery_canonical(text) {
        Some(canonical) => Typed::Recovery(canonical),
        None => Typed::Malformed,
    }
}

/// The canonical form of `text` read as a recovery code (nothing trimmed).
fn recovery_canonical(text: &str) -> Option<String> {
    let mut canonical = String::new();
    for (index, c) in text.chars().enumerate() {
        if c == '-' && index == 4 {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !CROCKFORD.contains(c) {
            return None;
        }
        canonical.push(c);
    }
    (canonical.len() == 8).then_some(canonical)
}

/// `try_first_pass` checks a token only when it is exactly a code: the
/// token's digits (6 here) after trimming, or `xxxx-xxxx`.
fn token_is_checked(token: &[u8]) -> bool {
    let token = token.trim_ascii();
    let digits = token.len() == 6 && token.iter().all(u8::is_ascii_digit);
    let recovery = token.len() == 9
        && token.get(4) == Some(&b'-')
        && std::str::from_utf8(token).is_ok_and(|t| recovery_canonical(t).is_some());
    digits || recovery
}

/// `forward_pass`: the code is the last 9 bytes when they are a recovery
/// code, else the last 6.
fn forwarded_code(answer: &[u8]) -> &[u8] {
    if answer.len() >= 9 {
        let tail = &answer[answer.len() - 9..];
        if std::str::from_utf8(tail).is_ok_and(|t| recovery_canonical(t).is_some()) {
            return tail;
        }
    }
    &answer[answer.len().saturating_sub(6)..]
}

/// The answers the module checks, in order (the token under
/// `try_first_pass`, then the final answer).
fn checked_answers(case: &Case) -> Vec<Vec<u8>> {
    let flags = case.config.flags;
    let mut checked = Vec::new();
    if flags.try_first_pass && !flags.use_first_pass {
        if let Some(token) = &case.token {
            if token_is_checked(token) {
                checked.push(token.clone());
            }
        }
    }
    let first = case.answers.first().cloned().unwrap_or_default();
    let last = if flags.use_first_pass {
        case.token.clone().unwrap_or_default()
    } else if flags.forward_pass {
        forwarded_code(&first).to_vec()
    } else {
        first
    };
    checked.push(last);
    checked
}

/// What a valid answer is accepted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Valid {
    Totp,
    Hotp,
    Recovery,
}

/// The codes valid at `now` with a fresh state: the steps within the
/// window, or the counter values from the file's on.
fn valid_codes(case: &Case) -> Vec<String> {
    if case.hotp {
        (HOTP_COUNTER..HOTP_COUNTER + u64::from(case.config.hotp_window))
            .map(hotp_code)
            .collect()
    } else {
        let window = i64::from(case.config.window);
        (-window..=window)
            .map(|offset| totp_code(case.now, offset))
            .collect()
    }
}

fn validity(case: &Case, raw: &[u8]) -> Option<(Valid, String)> {
    match grammar(raw) {
        Typed::Digits(code) if code.len() == 6 && valid_codes(case).contains(&code) => {
            let kind = if case.hotp { Valid::Hotp } else { Valid::Totp };
            Some((kind, code))
        }
        Typed::Recovery(code) if code == RECOVERY_CANONICAL => Some((Valid::Recovery, code)),
        _ => None,
    }
}

/// Whether `needle` occurs in `line` with no `boundary` character either side.
fn occurs_alone(line: &str, needle: &str, boundary: fn(char) -> bool) -> bool {
    let line = line.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    line.match_indices(&needle).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + needle.len()..].chars().next();
        !before.is_some_and(boundary) && !after.is_some_and(boundary)
    })
}

/// No secret, valid code, recovery code or code-shaped answer in any line.
fn check_logs(case: &Case, logs: &[String]) {
    let digit = |c: char| c.is_ascii_digit();
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    let mut digit_codes: Vec<String> = (-3..=3).map(|o| totp_code(case.now, o)).collect();
    digit_codes.extend((0..HOTP_COUNTER + 20).map(hotp_code));
    let mut words: Vec<String> = vec![RECOVERY.into(), RECOVERY_CANONICAL.into()];
    // The module logs the time step it accepted: typed, that number is
    // not a code leaking.
    let step = case.now / 30;
    let logged_step = |code: &str| {
        code.parse::<u64>()
            .is_ok_and(|n| n.abs_diff(step) <= 3 || n.abs_diff(step * 30) <= 90)
    };
    for raw in case.answers.iter().chain(case.token.iter()) {
        match grammar(raw) {
            Typed::Digits(code) if !logged_step(&code) => digit_codes.push(code),
            // Letters only could be a word of the module's own lines.
            Typed::Recovery(code) if code.chars().any(|c| c.is_ascii_digit()) => {
                words.push(code);
            }
            _ => {}
        }
    }
    for line in logs {
        assert!(!line.contains(SECRET_B32), "secret in a log line: {line}");
        assert!(
            !line.contains(HOTP_SECRET_B32),
            "secret in a log line: {line}"
        );
        for code in &digit_codes {
            assert!(
                !occurs_alone(line, code, digit),
                "code {code} in a log line: {line}"
            );
        }
        for word in &words {
            assert!(
                !occurs_alone(line, word, alphanumeric),
                "recovery code {word} in a log line: {line}"
            );
        }
    }
}

/// Run one input and check every property; `None` if the input is too
/// short to decode. Returns the module's result.
pub fn check(fixture: &Fixture, data: &[u8]) -> Option<PamResultCode> {
    let case = decode(fixture, data)?;
    INPUTS.fetch_add(1, Ordering::Relaxed);
    let expected = expected_result(&case);
    if case.misconfigured {
        // Refused by the parser (checked in decode): the module never runs.
        assert_eq!(expected.rc, PamResultCode::PAM_SERVICE_ERR);
        return Some(expected.rc);
    }
    // Each input starts from no state, at its own time.
    fixture.reset_state(case.now);
    let (rc, ran) = run(&case, case.faults);
    let logs = ran.logs;
    if expected.exempted {
        // Exemptions are decided before the store is touched (the
        // break-glass must not depend on it), without a code prompt.
        assert!(!ran.opened, "{case:?}: exempt, but the store was opened");
        assert_eq!(
            ran.prompts,
            usize::from(case.config.flags.forward_pass),
            "{case:?}: exempt: only forward_pass asks (for the password): {logs:#?}"
        );
    }
    check_logs(&case, &logs);
    for (path, text) in &fixture.files {
        let now = std::fs::read(path).expect("secret file");
        assert!(
            now == *text,
            "{case:?}: the secret file {} changed: {logs:#?}",
            path.display()
        );
    }
    let first_factor_failed = case.config.flags.first_factor_failed;
    if first_factor_failed {
        assert!(
            rc != PamResultCode::PAM_SUCCESS && rc != PamResultCode::PAM_IGNORE,
            "{case:?}: a first_factor_failed line returned {rc:?}: {logs:#?}"
        );
    }
    let enrolled_file = fixture.unenrolled_file();
    if expected.may_enroll && rc != expected.rc {
        // The fuzzer typed a code of the new random secret (about one
        // input in a hundred thousand of these): an enrollment, which the
        // next input must not find.
        assert!(
            logs.iter().any(|line| line.contains("enrolled at login")
                || line.contains("enrollment at login failed")),
            "{case:?}: expected {expected:?}, got {rc:?}: {logs:#?}"
        );
        let _ = std::fs::remove_file(&enrolled_file);
        return Some(rc);
    }
    assert!(
        !enrolled_file.exists(),
        "{case:?}: enrolled ({rc:?}): {logs:#?}"
    );
    assert_eq!(
        rc, expected.rc,
        "{case:?}: expected {expected:?}, logs: {logs:#?}"
    );
    if expected.counted_wrong {
        // The answer after a failed first factor counts as a wrong code.
        let account = account::lookup_user(&case.user).expect("account");
        let snapshot = store::open(&case.config, store::postgres::open)
            .expect("store")
            .snapshot(&account)
            .expect("snapshot");
        assert_eq!(
            snapshot.state.failures, 1,
            "{case:?}: not counted as a wrong code: {logs:#?}"
        );
        assert_eq!(
            snapshot.state.lockout_remaining(snapshot.now).is_some(),
            case.config.max_failures == 1,
            "{case:?}: the lockout: {logs:#?}"
        );
    }
    if rc == PamResultCode::PAM_SUCCESS {
        let accepted_line = match expected.accepted {
            Some(Valid::Totp) => "accepted verification code for time step",
            Some(Valid::Hotp) => "accepted verification code for counter value",
            Some(Valid::Recovery) => "accepted recovery code",
            None => panic!("success without a valid code: {case:?}"),
        };
        assert!(
            logs.iter().any(|line| line.starts_with(accepted_line)),
            "no line \"{accepted_line}\": {logs:#?}"
        );
        // The same answers again at the same time: a replay, refused
        // (unless the session holds a second, different valid answer).
        if expected.distinct_valid == 1 {
            let (again, Ran { logs, .. }) = run(&case, Faults(0));
            check_logs(&case, &logs);
            assert_eq!(again, PamResultCode::PAM_AUTH_ERR, "replay: {logs:#?}");
            assert!(
                logs.iter().any(|line| line.contains("already used")),
                "replay refused for another reason: {logs:#?}"
            );
        }
        SUCCESSES.fetch_add(1, Ordering::Relaxed);
    }
    Some(rc)
}

#[derive(Debug)]
struct Expected {
    rc: PamResultCode,
    accepted: Option<Valid>,
    distinct_valid: usize,
    /// An enrolled user's answer counted as a wrong code, nothing checked.
    counted_wrong: bool,
    /// Enrollment at login offered: a code of its new secret typed by
    /// chance ends it otherwise.
    may_enroll: bool,
    /// Exempt (host or group): the store never opened, no code asked.
    exempted: bool,
}

/// The result the module must give: under OpenSSH (the session's tty is
/// "ssh") a lockout is PAM_AUTH_ERR like any refusal; a failed store call
/// is PAM_AUTHINFO_UNAVAIL.
fn expected_result(case: &Case) -> Expected {
    let refused = |rc| Expected {
        rc,
        accepted: None,
        distinct_valid: 0,
        counted_wrong: false,
        may_enroll: false,
        exempted: false,
    };
    use PamResultCode::{PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_CONV_ERR, PAM_IGNORE};
    let first_factor_failed = case.config.flags.first_factor_failed;
    if case.misconfigured {
        return refused(PamResultCode::PAM_SERVICE_ERR);
    }
    // No code asked (a line without the flag would ignore the user), but
    // the first factor failed: refused, without a prompt.
    let skip = || {
        refused(if first_factor_failed {
            PAM_AUTH_ERR
        } else {
            PAM_IGNORE
        })
    };
    // A decoy: asked, refused, never unavailable unless its store failed.
    let decoy = || {
        refused(if case.faults.fails(5) || case.faults.fails(6) {
            PAM_AUTHINFO_UNAVAIL
        } else {
            PAM_AUTH_ERR
        })
    };
    let exempted = || Expected {
        exempted: true,
        ..skip()
    };
    if case.exempt {
        return exempted();
    }
    if case.user == UNKNOWN_USER {
        return decoy();
    }
    // A member of an exempt group: decided on the user's groups before the
    // store is opened, so no store fault, missing secret or `unenrolled`
    // changes it (an unknown user has no groups: a decoy above).
    if case.exempt_group {
        return exempted();
    }
    // enrollment(): the injected error, or the row that does not verify.
    if case.faults.fails(0) || case.faults.fails(7) {
        return refused(PAM_AUTHINFO_UNAVAIL);
    }
    if case.unenrolled {
        let flags = case.config.flags;
        return match case.config.unenrolled {
            Unenrolled::Deny => decoy(),
            // Whether the user logged in with a code before: a snapshot.
            _ if case.faults.fails(1) => refused(PAM_AUTHINFO_UNAVAIL),
            Unenrolled::Allow => skip(),
            Unenrolled::Enroll
                if first_factor_failed || flags.forward_pass || flags.use_first_pass =>
            {
                decoy()
            }
            // The enrollment asks for a code of its new secret up to three
            // times; the session holds at most two answers.
            Unenrolled::Enroll => Expected {
                may_enroll: true,
                ..refused(PAM_CONV_ERR)
            },
        };
    }
    if (0..4).any(|bit| case.faults.fails(bit)) {
        return refused(PAM_AUTHINFO_UNAVAIL);
    }
    if first_factor_failed {
        // Prompted as usual, nothing checked (not the token either), the
        // answer counted as a wrong code; under OpenSSH a lockout is
        // PAM_AUTH_ERR too.
        return Expected {
            counted_wrong: true,
            ..refused(PAM_AUTH_ERR)
        };
    }
    let checked = checked_answers(case);
    let verdicts: Vec<Option<(Valid, String)>> =
        checked.iter().map(|raw| validity(case, raw)).collect();
    let mut distinct: Vec<&String> = verdicts.iter().flatten().map(|(_, code)| code).collect();
    distinct.dedup();
    let distinct_valid = distinct.len();
    let accepted = match verdicts.as_slice() {
        [Some((kind, _))] | [Some((kind, _)), _] => Some(*kind),
        // A wrong token counts: with max_failures 1 it locks the user out
        // before the prompt.
        [None, Some((kind, _))] if case.config.max_failures > 1 => Some(*kind),
        _ => None,
    };
    Expected {
        rc: if accepted.is_some() {
            PamResultCode::PAM_SUCCESS
        } else {
            PamResultCode::PAM_AUTH_ERR
        },
        accepted,
        distinct_valid,
        counted_wrong: false,
        may_enroll: false,
        exempted: false,
    }
}
