//! The whole authentication, in the manner of pam-u2f's fuzz_auth: a
//! scripted PAM session (answers, token, remote host from the input), the
//! clock set by the input, and store failures injected at any call. It
//! asserts no panic, no success without a valid code or recovery code, no
//! success when recording the outcome failed, and no replay.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pam::constants::PamResultCode;
use pam_totp::config::{Config, Unenrolled};
use pam_totp::store::LoadError;
use pam_totp::store::postgres::error::{PostgresError, RowError};
use pam_totp::store::postgres::sealing::SealError;
use pam_totp::otp::secret::SecretFile;
use pam_totp::auth::session::{LogLevel, Session};
use pam_totp::store::{
    self, Change, Listed, Removed, Repair, Replacing, Snapshot, Store, StoreError, Updated,
};
use pam_totp::system::account::{self, Account};
use zeroize::Zeroizing;

const SECRET_B32: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const RECOVERY: &str = "abcd-efgh";
const BASE_TIME: u64 = 1_800_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    secret_path: String,
    state_dir: PathBuf,
    user: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let user = account::lookup_uid(account::effective_uid())
            .expect("current user")
            .name;
        std::fs::create_dir(dir.path().join("secrets")).expect("secrets dir");
        let hash = pam_totp::otp::recovery::hash_existing(RECOVERY)
            .expect("hash")
            .expect("a recovery code");
        let text = format!(
            "version = 1\nsecret = \"{SECRET_B32}\"\nrecovery = [\"{}\"]\n",
            hash.encode()
        );
        let path = dir.path().join("secrets").join(format!("{user}.toml"));
        pam_totp::system::files::replace_atomically(&path, text.as_bytes(), None)
            .expect("secret file");
        Fixture {
            secret_path: format!("{}/secrets/%u.toml", dir.path().display()),
            state_dir: dir.path().join("state"),
            user,
            _dir: dir,
        }
    })
}

/// Which store calls fail.
#[derive(Clone, Copy)]
struct Faults(u8);

impl Faults {
    fn fails(self, bit: u8) -> bool {
        self.0 & (1 << bit) != 0
    }
}

struct FaultyStore {
    inner: Box<dyn Store>,
    faults: Faults,
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
            // The PostgreSQL store's refusal of a row that does not verify
            // (changed or copied without the key, or sealed with a key
            // this host lacks).
            return Err(LoadError::Store(StoreError::Database(PostgresError::Enrollment {
                user: account.name.clone(),
                error: RowError::Seal(SealError::NotAuthentic),
            })));
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
            let _ = self.inner.snapshot(account).map(|s| change(&s.state, s.now));
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
        self.inner.save_enrollment(account, secret, replacing, repair)
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
    rhost: Option<String>,
}

impl Session for ScriptedSession {
    fn user(&mut self) -> Result<String, PamResultCode> {
        Ok(self.user.clone())
    }
    fn service(&self) -> String {
        "fuzz".into()
    }
    fn remote_host(&self) -> Option<String> {
        self.rhost.clone()
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
        assert!(!message.contains(SECRET_B32), "secret in a log line");
    }
}

/// The input, decoded: what is typed, when, and what fails.
struct Case {
    faults: Faults,
    config: Config,
    now: u64,
    answers: Vec<Vec<u8>>,
    token: Option<Vec<u8>>,
    user: String,
}

fn code_at(time: u64, offset: i64) -> Vec<u8> {
    let secret = SecretFile::parse(format!("version = 1\nsecret = \"{SECRET_B32}\"\n").as_bytes())
        .expect("secret");
    let generator = secret.generator().expect("generator");
    let step = generator.step_at(time).saturating_add_signed(offset);
    generator.code_for_step(step).into_bytes()
}

fn decode(data: &[u8]) -> Option<Case> {
    let (&[faults, flags, when, kind], rest) = data.split_first_chunk::<4>()?;
    let f = fixture();
    let mut config = Config::default();
    config.secret_path = f.secret_path.clone();
    config.state_dir = f.state_dir.clone();
    config.flags.try_first_pass = flags & 1 != 0;
    config.flags.use_first_pass = flags & 2 != 0;
    config.flags.forward_pass = flags & 4 != 0;
    // Issue 18: the line a failed first factor is sent to (never with
    // forward_pass, which the configuration refuses).
    config.flags.first_factor_failed = faults & 0x80 != 0 && !config.flags.forward_pass;
    config.unenrolled = match (flags >> 3) & 3 {
        0 => Unenrolled::Deny,
        1 => Unenrolled::Allow,
        _ => Unenrolled::Enroll,
    };
    config.max_failures = u32::from(flags >> 5) + 1;
    let now = BASE_TIME + u64::from(when) * 17;
    // The answer: a right code, a near one, the recovery code, or bytes.
    let typed = match kind % 5 {
        0 => code_at(now, 0),
        1 => code_at(now, i64::from(kind % 7) - 3),
        2 => RECOVERY.as_bytes().to_vec(),
        _ => rest.to_vec(),
    };
    let user = if kind & 0x80 != 0 {
        "pamtotp-fuzz-nobody".to_string()
    } else {
        f.user.clone()
    };
    let (answers, token) = match kind & 0x40 != 0 {
        true => (vec![rest.to_vec()], Some(typed)),
        false => (vec![typed, rest.to_vec()], None),
    };
    Some(Case {
        faults: Faults(faults),
        config,
        now,
        answers,
        token,
        user,
    })
}

fn run(case: &Case, faults: Faults) -> PamResultCode {
    let mut session = ScriptedSession {
        user: case.user.clone(),
        answers: case.answers.clone(),
        token: case.token.clone(),
        rhost: Some("192.0.2.1".into()),
    };
    let mut open = |config: &Config| -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(FaultyStore {
            inner: store::open(config, store::postgres::open)?,
            faults,
        }))
    };
    pam_totp::auth::flow::authenticate_with(&mut session, case.config.clone(), &mut open)
}

/// How many different valid answers (codes within the window at `now`,
/// or the recovery code) the session could give.
fn valid_answers(case: &Case) -> usize {
    let valid: Vec<Vec<u8>> = (-1..=1).map(|o| code_at(case.now, o)).collect();
    let candidates = case.answers.iter().chain(case.token.iter());
    let mut found: Vec<Vec<u8>> = Vec::new();
    for given in candidates {
        let text = String::from_utf8_lossy(given);
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let hit = match valid.iter().find(|v| v.as_slice() == digits.as_bytes()) {
            Some(code) => Some(code.clone()),
            None if text.to_ascii_lowercase().contains("abcd") => Some(b"recovery".to_vec()),
            None => None,
        };
        if let Some(hit) = hit {
            if !found.contains(&hit) {
                found.push(hit);
            }
        }
    }
    found.len()
}

fuzz_target!(|data: &[u8]| {
    let Some(case) = decode(data) else {
        return;
    };
    let f = fixture();
    // Each input starts from no state, at its own time.
    let _ = std::fs::remove_dir_all(&f.state_dir);
    std::fs::create_dir(&f.state_dir).expect("state dir");
    std::fs::write(f.state_dir.join("test-clock"), case.now.to_string()).expect("clock");
    // Enrollment at login would write a new secret over the fixture's
    // (a first_factor_failed line must never enroll: it runs, and the
    // secret must be unchanged after).
    let first_factor_failed = case.config.flags.first_factor_failed;
    if case.config.unenrolled == Unenrolled::Enroll && case.user == f.user && !first_factor_failed {
        return;
    }
    let secret_file = PathBuf::from(f.secret_path.replace("%u", &f.user));
    let secret_before = std::fs::read(&secret_file).expect("the fixture's secret");

    let rc = run(&case, case.faults);
    if first_factor_failed {
        assert!(
            rc != PamResultCode::PAM_SUCCESS && rc != PamResultCode::PAM_IGNORE,
            "a first_factor_failed line let a login through ({rc:?})"
        );
        assert_eq!(
            std::fs::read(&secret_file).expect("the fixture's secret"),
            secret_before,
            "a first_factor_failed line changed the enrollment"
        );
    }
    if rc == PamResultCode::PAM_SUCCESS {
        assert!(case.user == f.user, "an unknown user logged in");
        let valid = valid_answers(&case);
        assert!(valid > 0, "success without a valid code");
        assert!(
            !case.faults.fails(0)
                && !case.faults.fails(2)
                && !case.faults.fails(3)
                && !case.faults.fails(7),
            "success although the store failed"
        );
        // The same answers again at the same time: a replay, refused
        // (unless the session holds a second, different valid answer).
        if valid == 1 {
            let again = run(&case, Faults(0));
            assert_ne!(again, PamResultCode::PAM_SUCCESS, "replay accepted");
        }
    }
    assert_ne!(
        rc,
        PamResultCode::PAM_IGNORE,
        "no exemption or allow applies to an enrolled user"
    );
    if case.user == f.user && case.faults.fails(7) && !case.faults.fails(0) {
        assert_eq!(
            rc,
            PamResultCode::PAM_AUTHINFO_UNAVAIL,
            "a row that does not verify is refused as unavailable"
        );
    }
});
