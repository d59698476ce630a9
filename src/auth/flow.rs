//! One authentication, as the specification's "One authentication" lays
//! it out. Every path ends in a log line and a PAM return code; nothing
//! here can return success except an accepted code recorded durably.

use pam::constants::PamResultCode;
use zeroize::Zeroizing;

use crate::auth::connection_mark;
use crate::auth::enroll_at_login::{self, Ending};
use crate::auth::session::{LogLevel, Session};
use crate::config::network;
use crate::config::{Config, Unenrolled};
use crate::otp::answer::{Answer, is_code_shaped, parse_answer, split_forwarded};
use crate::otp::decision::{Credential, Outcome, Policy, decide, decide_without_credential};
use crate::otp::state::State;
use crate::store::{self, LoadError, Repair, Store};
use crate::system::account;

/// What the user sees when a code is refused because of a lockout.
pub fn lockout_message(seconds: u64) -> String {
    format!(
        "Too many failed attempts. Try again in {}.",
        crate::text::plural(seconds, "second")
    )
}

const UNAVAILABLE_MESSAGE: &str = "Two-factor authentication is not set up correctly for this account. Contact your administrator.";
const FORWARD_PASS_PROMPT: &str = "Password & verification code: ";
/// Under `forward_pass`, what users who are not asked for a code are asked
/// instead: the module has taken over the password prompt, so it must still
/// collect the password for `pam_unix use_first_pass`.
const PASSWORD_ONLY_PROMPT: &str = "Password: ";
/// After a message OpenSSH must show now (see `show_now_to_openssh`).
const CONTINUE_PROMPT: &str = "Press Enter to continue: ";

/// Who is logging in from where, for log lines.
struct Context {
    user: String,
    service: String,
    remote_host: String,
}

impl Context {
    /// `WHAT (user=.. service=.. rhost=..)`, the form of every log line.
    fn describe(&self, what: &str) -> String {
        let mut line = String::with_capacity(
            what.len() + self.user.len() + self.service.len() + self.remote_host.len() + 32,
        );
        line.push_str(what);
        line.push_str(" (user=");
        push_escaped(&mut line, &self.user);
        line.push_str(" service=");
        push_escaped(&mut line, &self.service);
        line.push_str(" rhost=");
        push_escaped(&mut line, &self.remote_host);
        line.push(')');
        line
    }
}

/// `value.escape_debug()` appended to `line`; a value of printable ASCII
/// with no backslash or quote (what user, service and host names are) is
/// its own escape, and is copied without the formatting machinery.
fn push_escaped(line: &mut String, value: &str) {
    if value
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'\\' | b'\'' | b'"'))
    {
        line.push_str(value);
    } else {
        line.extend(value.escape_debug());
    }
}

struct Authenticator<'s> {
    session: &'s mut dyn Session,
    config: Config,
    context: Context,
}

/// Opens the configured store when the authentication first needs it
/// (exempt hosts never do).
pub type StoreOpener<'a> = dyn FnMut(&Config) -> Result<Box<dyn Store>, store::StoreError> + 'a;

/// Run `pam_sm_authenticate` with the module's arguments.
pub fn authenticate(session: &mut dyn Session, args: &[&str]) -> PamResultCode {
    let config = match Config::from_module_args(args) {
        Ok(config) => config,
        Err(error) => {
            session.log(
                LogLevel::Error,
                &format!("configuration error, refusing every login until it is fixed: {error}"),
            );
            return PamResultCode::PAM_SERVICE_ERR;
        }
    };
    authenticate_with(session, config, &mut |config| {
        store::open(config, store::plugin::open)
    })
}

/// One authentication with `config` and the store `open` gives: the
/// module's path with the store wrapped (the whole-authentication fuzzer
/// injects store failures through it).
pub fn authenticate_with(
    session: &mut dyn Session,
    config: Config,
    open: &mut StoreOpener<'_>,
) -> PamResultCode {
    let user = match session.user() {
        Ok(user) => user,
        Err(code) => {
            session.log(
                LogLevel::Error,
                &format!("cannot get the user name: {code:?}"),
            );
            return code;
        }
    };
    let context = Context {
        user,
        service: session.service(),
        remote_host: session.remote_host().unwrap_or_else(|| "-".to_string()),
    };
    let first_factor_failed = config.flags.first_factor_failed;
    let mut authenticator = Authenticator {
        session,
        config,
        context,
    };
    let code = authenticator.run(open);
    match code {
        // A login whose first factor failed never passes this line, whatever
        // the configuration says (exempt, unenrolled = "allow").
        PamResultCode::PAM_SUCCESS | PamResultCode::PAM_IGNORE if first_factor_failed => {
            authenticator.log(
                LogLevel::Error,
                &format!("refused: the first factor failed (first_factor_failed), not {code:?}"),
            );
            PamResultCode::PAM_AUTH_ERR
        }
        code => code,
    }
}

impl Authenticator<'_> {
    fn log(&self, level: LogLevel, what: &str) {
        self.session.log(level, &self.context.describe(what));
    }

    /// A debug line, only with the `debug` flag; the text is built only then.
    fn debug(&self, what: impl FnOnce() -> String) {
        if self.config.flags.debug {
            self.log(LogLevel::Debug, &what());
        }
    }

    fn refuse_unavailable(&mut self, why: &str) -> PamResultCode {
        self.log(LogLevel::Error, &format!("refused: {why}"));
        self.session.show_error(UNAVAILABLE_MESSAGE);
        PamResultCode::PAM_AUTHINFO_UNAVAIL
    }

    fn run(&mut self, open: &mut StoreOpener<'_>) -> PamResultCode {
        // Before the user lookup, so known and unknown users from an exempt
        // network are treated alike.
        if network::host_in(&self.context.remote_host, &self.config.exempt_networks) {
            return self.skip("exempt: remote host is in exempt_networks");
        }
        // Exemptions are decided before the store is opened: the
        // break-glass (exempt_groups, exempt_networks) must not depend on
        // the database or on its library (issue 18 point 9).
        let account = match account::lookup_user(&self.context.user) {
            Ok(account) => Some(account),
            Err(account::LookupError::NotFound) => None,
            Err(error) => return self.refuse_unavailable(&error.to_string()),
        };
        if let Some(account) = &account
            && let Some(code) = self.exemption(account)
        {
            return code;
        }
        let mut store = match open(&self.config) {
            Ok(store) => store,
            Err(error) => return self.refuse_unavailable(&error.to_string()),
        };
        let Some(account) = account else {
            // The lookup a known name's enrollment costs, so that the
            // prompt comes as soon for a name that does not exist.
            if let Err(error) = store.look_up_unknown(&self.context.user) {
                return self.refuse_unavailable(&error.to_string());
            }
            return self.deny_without_secret(&mut *store, "unknown user");
        };
        let credential = match self.credential(&mut *store, &account) {
            Ok(credential) => credential,
            Err(code) => return code,
        };
        if let Some(code) = self.lockout(&mut *store, &account) {
            return code;
        }
        self.ask(&mut *store, &account, &credential)
    }

    /// The enrolled user's credential (`Err`: the authentication ends with
    /// that code, as for a user without a usable enrollment).
    fn credential(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
    ) -> Result<Credential, PamResultCode> {
        let secret = match store.enrollment(account) {
            Ok(secret) => secret,
            Err(LoadError::NotEnrolled(path)) => {
                return Err(self.unenrolled(store, account, &path));
            }
            // Whether such a user is enrolled is unknown: under deny, like any
            // user without a usable secret (prompted, refused).
            Err(error @ LoadError::HomeUnavailable(_))
                if self.config.unenrolled == Unenrolled::Deny =>
            {
                return Err(self.deny_without_secret(store, &error.to_string()));
            }
            Err(error) => return Err(self.refuse_unavailable(&error.to_string())),
        };
        self.debug(|| {
            format!(
                "secret loaded: {}, {} digits, {} s period, {} window, {} hotp_window, {} recovery codes",
                secret.kind.name(),
                secret.digits,
                secret.period,
                self.config.window,
                self.config.hotp_window,
                secret.recovery.len()
            )
        });
        Credential::new(secret)
            .map_err(|error| self.refuse_unavailable(&format!("secret unusable: {}", error.0)))
    }

    /// A user without a secret file, as `unenrolled` says.
    fn unenrolled(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
        path: &std::path::Path,
    ) -> PamResultCode {
        match self.config.unenrolled {
            Unenrolled::Allow => {
                let before = self.logged_in_with_a_code_before(store, account);
                // Done with the store (skip may prompt for a password).
                store.release();
                match before {
                    // A secret that vanished (an empty mount point for
                    // a home, a file deleted from the user's shell) must
                    // not turn the second factor off: root's state
                    // remembers the enrollment until `pam-totp disable`.
                    Ok(true) => self.refuse_unavailable(&vanished(path, account)),
                    Ok(false) => self.skip(&format!(
                        "not enrolled ({} missing), allowed by policy",
                        path.display()
                    )),
                    Err(error) => self.refuse_unavailable(&error),
                }
            }
            Unenrolled::Enroll => self.enroll_at_login(store, account, path),
            Unenrolled::Deny => self
                .deny_without_secret(store, &format!("not enrolled ({} missing)", path.display())),
        }
    }

    /// The code to end with if the user is locked out. Read without the
    /// lock: the user may take minutes to type.
    fn lockout(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
    ) -> Option<PamResultCode> {
        match store.snapshot(account) {
            Ok(snapshot) => snapshot
                .state
                .lockout_remaining(snapshot.now)
                .map(|seconds| {
                    store.release();
                    self.locked_out(seconds)
                }),
            Err(error) => Some(self.refuse_unavailable(&error.to_string())),
        }
    }

    /// Ask for the code (or take it from the token) and decide.
    fn ask(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
        credential: &Credential,
    ) -> PamResultCode {
        let digits = usize::from(credential.secret.digits);
        if self.config.flags.first_factor_failed {
            return self.refuse_after_failed_first_factor(store, account, digits);
        }
        let mut attempt = Attempt {
            store,
            account,
            credential,
        };
        // try_first_pass: a token that is a valid code logs in without a
        // prompt. Only a token shaped exactly like a code is checked, and
        // then it counts when wrong (no free guesses through the token);
        // anything else (such as pam_unix's password) is not checked.
        if self.config.flags.try_first_pass && !self.config.flags.use_first_pass {
            if let Some(token) = self.session.auth_token() {
                if is_code_shaped(&token, digits) {
                    if let Some(code) =
                        self.attempt(&mut attempt, parse_answer(&token), Trial::Token)
                    {
                        return code;
                    }
                }
                self.debug(|| "try_first_pass: PAM_AUTHTOK is not a valid code, asking".into());
            }
        }
        // No connection is held while the user types: the update after
        // the prompt connects again (and reads the state again).
        attempt.store.release();
        let raw = match self.obtain_answer(digits) {
            Ok(raw) => raw,
            Err(code) => {
                self.log(
                    LogLevel::Error,
                    &format!("refused: conversation failed ({code:?})"),
                );
                return code;
            }
        };
        let answer = parse_answer(&raw);
        drop(raw);
        self.attempt(&mut attempt, answer, Trial::Final)
            .unwrap_or(PamResultCode::PAM_AUTH_ERR)
    }

    /// Decide `answer` and record the outcome, in one update of the store
    /// (which never talks to the user). `None` only for a `Trial::Token`
    /// that was refused without starting a lockout: then the user is asked.
    fn attempt(
        &mut self,
        attempt: &mut Attempt<'_>,
        answer: Answer,
        trial: Trial,
    ) -> Option<PamResultCode> {
        let policy = Policy::of(&self.config);
        let mut decision = None;
        let updated = attempt
            .store
            .update(attempt.account, Repair::Refuse, &mut |state, now| {
                let decided = decide(attempt.credential, state, &answer, now, &policy);
                let next = decided.state.clone();
                decision = Some(decided);
                next
            });
        // Nothing more to read or write: what follows may wait on the user.
        attempt.store.release();
        drop(answer);
        let (updated, decision) = match (updated, decision) {
            (Ok(updated), Some(decision)) => (updated, decision),
            (Ok(_), None) => {
                return Some(self.refuse_unavailable("the store returned without deciding"));
            }
            // `disable`, `enroll --force` or `recovery-codes` meanwhile: the
            // answer belongs to an enrollment that is gone.
            (Err(error @ store::StoreError::EnrollmentChanged), _) => {
                self.log(LogLevel::Warning, &format!("refused: {error}"));
                return Some(PamResultCode::PAM_AUTH_ERR);
            }
            // Without a durable record the code could be used again: refuse.
            (Err(error), decided) => {
                let what = decided.map_or("no decision", |d| d.outcome.describe());
                return Some(self.refuse_unavailable(&format!(
                    "{error}; the outcome ({what}) was not recorded"
                )));
            }
        };
        let outcome = decision.outcome;
        let state = updated.state;
        let now = updated.now;
        self.debug(|| format!("checked at {now}: {}", outcome.describe()));
        if let Outcome::LockedOut(seconds) = outcome {
            return Some(self.locked_out(seconds));
        }
        if trial == Trial::Token && !outcome.is_success() {
            // Counted; now ask, unless this failure started a lockout.
            self.log(
                LogLevel::Warning,
                &format!(
                    "PAM_AUTHTOK from an earlier module: {} ({})",
                    outcome.describe(),
                    failures(state.failures)
                ),
            );
            return state
                .lockout_remaining(now)
                .map(|seconds| self.locked_out(seconds));
        }
        Some(self.finish(
            attempt.account,
            &outcome,
            &state,
            &attempt.credential.secret.recovery,
            now,
        ))
    }

    fn finish(
        &mut self,
        account: &account::Account,
        outcome: &Outcome,
        state: &State,
        recovery: &[crate::otp::recovery::RecoveryHash],
        now: u64,
    ) -> PamResultCode {
        match outcome {
            Outcome::Code(step) => {
                self.log(
                    LogLevel::Notice,
                    &format!("accepted verification code for time step {step}"),
                );
                PamResultCode::PAM_SUCCESS
            }
            Outcome::Counter(counter) => {
                self.log(
                    LogLevel::Notice,
                    &format!("accepted verification code for counter value {counter}"),
                );
                PamResultCode::PAM_SUCCESS
            }
            Outcome::Recovery(_) => {
                // Counted only here: a code or a refusal does not say it.
                let left = crate::otp::recovery::unused_count(recovery, &state.used_recovery);
                self.log(
                    LogLevel::Warning,
                    &format!("accepted recovery code ({left} left)"),
                );
                self.session.show_info(&format!(
                    "Recovery code accepted; {left} left. {}",
                    crate::store::self_service::after_recovery_code(&self.config, account)
                ));
                self.show_now_to_openssh();
                PamResultCode::PAM_SUCCESS
            }
            _ => self.refuse_counted(outcome.describe(), state, now),
        }
    }

    /// A counted failure: logged, and if it started a lockout the user is
    /// told now (not only at the next try).
    fn refuse_counted(&mut self, what: &str, state: &State, now: u64) -> PamResultCode {
        let locked = state.lockout_remaining(now);
        let lock = match locked {
            Some(seconds) => format!(
                ", locked out for {}",
                crate::text::plural(seconds, "second")
            ),
            None => String::new(),
        };
        self.log(
            LogLevel::Warning,
            &format!("refused: {what} ({}{lock})", failures(state.failures)),
        );
        match locked {
            Some(seconds) => {
                self.show_lockout(seconds);
                self.lockout_code()
            }
            None => PamResultCode::PAM_AUTH_ERR,
        }
    }

    /// OpenSSH's sshd (`PAM_TTY` "ssh") holds text shown after the last
    /// prompt for its login banner, which an interactive session then
    /// prints twice. A prompt after it makes sshd send the text at once,
    /// with the prompt, and only then. The answer does not matter, nor
    /// does a client that gives none: the login has already succeeded.
    fn show_now_to_openssh(&mut self) {
        if self.under_openssh() {
            let _ = self.session.prompt_hidden(CONTINUE_PROMPT);
        }
    }

    /// What a lockout returns: `PAM_MAXTRIES` ("stop asking"), except to
    /// OpenSSH's sshd (`PAM_TTY` "ssh"), which answers `PAM_MAXTRIES` by
    /// dropping keyboard-interactive and asking `user@host's password:`,
    /// a prompt nothing behind it can accept. `PAM_AUTH_ERR` lets `ssh`
    /// show the lockout message and end.
    fn lockout_code(&self) -> PamResultCode {
        if self.under_openssh() {
            PamResultCode::PAM_AUTH_ERR
        } else {
            PamResultCode::PAM_MAXTRIES
        }
    }

    /// OpenSSH's sshd sets `PAM_TTY` to "ssh" (its PAM_TTY_KLUDGE).
    fn under_openssh(&self) -> bool {
        self.session.tty().as_deref() == Some("ssh")
    }

    /// Whether the module's own (root-owned) state shows this account has
    /// been enrolled: a code or recovery code was accepted before.
    fn logged_in_with_a_code_before(
        &self,
        store: &mut dyn Store,
        account: &account::Account,
    ) -> Result<bool, String> {
        let state = store.snapshot(account).map_err(|e| e.to_string())?.state;
        Ok(state.last_success.is_some()
            || state.last_step_start.is_some()
            || state.last_counter.is_some())
    }

    /// `unenrolled = "enroll"` for a user with no secret: only one the
    /// store has never seen log in with a code (else the secret vanished,
    /// and that fails closed as under `allow`), and only through the
    /// module's own prompt.
    fn enroll_at_login(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
        path: &std::path::Path,
    ) -> PamResultCode {
        match self.logged_in_with_a_code_before(store, account) {
            Ok(false) => {}
            Ok(true) => return self.refuse_unavailable(&vanished(path, account)),
            Err(error) => return self.refuse_unavailable(&error),
        }
        if let Some(why) = self.no_enrollment_on_this_line() {
            return self.deny_without_secret(
                store,
                &format!("not enrolled ({} missing); {why}", path.display()),
            );
        }
        // OpenSSH's client tries again in the same connection after a
        // failed round: a new secret each time would have the user scan
        // one code after another. "Log in again to start over" it is.
        if self.under_openssh()
            && connection_mark::is_there(
                &self.config.state_dir,
                connection_mark::Mark::EnrollmentFailed,
            )
        {
            self.log(
                LogLevel::Warning,
                &format!(
                    "refused: not enrolled ({} missing); enrollment at login already failed in this connection, not offered again",
                    path.display()
                ),
            );
            return PamResultCode::PAM_AUTH_ERR;
        }
        self.log(
            LogLevel::Info,
            &format!(
                "not enrolled ({} missing): enrollment at login offered",
                path.display()
            ),
        );
        // The enrollment is shown and confirmed without a connection; the
        // save connects again.
        store.release();
        match enroll_at_login::run(&mut *self.session, &self.config, store, account) {
            Ending::Enrolled { place, step_start } => {
                self.log(
                    LogLevel::Notice,
                    &format!(
                        "enrolled at login ({place}); the confirming code, for the time step starting at {step_start}, is recorded as used"
                    ),
                );
                PamResultCode::PAM_SUCCESS
            }
            Ending::WrongCodes => {
                if self.under_openssh() {
                    connection_mark::make(
                        &self.config.state_dir,
                        connection_mark::Mark::EnrollmentFailed,
                    );
                }
                self.log(
                    LogLevel::Warning,
                    "refused: enrollment at login not confirmed (wrong codes), nothing saved",
                );
                PamResultCode::PAM_AUTH_ERR
            }
            Ending::Conversation(code) => {
                self.log(
                    LogLevel::Error,
                    &format!(
                        "refused: conversation failed during enrollment at login ({code:?}), nothing saved"
                    ),
                );
                code
            }
            Ending::EnrolledMeanwhile => {
                self.log(
                    LogLevel::Warning,
                    "refused: another login enrolled this account meanwhile, nothing saved by this one",
                );
                PamResultCode::PAM_AUTH_ERR
            }
            Ending::Failed(why) => {
                self.refuse_unavailable(&format!("enrollment at login failed: {why}"))
            }
        }
    }

    /// An enrolled user's login whose first factor failed
    /// (`first_factor_failed`): the same prompt as for a code, then the
    /// answer counted as a wrong code without looking at it, so a wrong
    /// password is refused, and locked out, exactly as a wrong code is.
    fn refuse_after_failed_first_factor(
        &mut self,
        store: &mut dyn Store,
        account: &account::Account,
        digits: usize,
    ) -> PamResultCode {
        let why = "the first factor failed (first_factor_failed), no code checked";
        // As for any prompt: no connection held while the user types.
        store.release();
        if let Err(code) = self.obtain_answer(digits) {
            self.log(
                LogLevel::Error,
                &format!("refused: {why}; conversation failed ({code:?})"),
            );
            return code;
        }
        let policy = Policy::of(&self.config);
        let mut outcome = None;
        let updated = store.update(account, Repair::Refuse, &mut |state, now| {
            let decided = decide_without_credential(state, now, &policy);
            outcome = Some(decided.outcome);
            decided.state
        });
        store.release();
        match (updated, outcome) {
            (Ok(_), Some(Outcome::LockedOut(seconds))) => {
                self.log(LogLevel::Warning, &format!("refused: {why}"));
                self.locked_out(seconds)
            }
            (Ok(updated), _) => self.refuse_counted(why, &updated.state, updated.now),
            (Err(error), _) => {
                self.log(LogLevel::Warning, &format!("refused: {why}"));
                self.refuse_unavailable(&error.to_string())
            }
        }
    }

    /// The lockout message, once per SSH connection: sshd starts up to
    /// three keyboard-interactive rounds, each in a process of its own
    /// (see `connection_mark`).
    fn show_lockout(&mut self, seconds: u64) {
        if self.under_openssh()
            && !connection_mark::make(&self.config.state_dir, connection_mark::Mark::LockoutShown)
        {
            self.debug(|| "lockout message already shown in this connection".into());
            return;
        }
        self.session.show_error(&lockout_message(seconds));
    }

    /// Why this line may not enroll (`None`: it may). Such a user is
    /// refused as under `deny`, with the code prompt an enrolled user gets,
    /// so the prompts tell nothing.
    fn no_enrollment_on_this_line(&self) -> Option<&'static str> {
        let flags = &self.config.flags;
        if flags.first_factor_failed {
            Some("the first factor failed, so no enrollment is offered")
        } else if flags.forward_pass {
            // forward_pass runs before the password module: nothing has been
            // checked yet, so enrolling here would enroll whoever knows a name.
            Some(
                "no enrollment at login under forward_pass (the password is checked after this module, so nothing proves who this is); treated as unenrolled = \"deny\"",
            )
        } else if flags.use_first_pass {
            Some("enrollment at login needs the module's own prompt, not use_first_pass")
        } else {
            None
        }
    }

    fn locked_out(&mut self, seconds: u64) -> PamResultCode {
        self.log(
            LogLevel::Warning,
            &format!(
                "refused: locked out for {} more, no code checked",
                crate::text::plural(seconds, "second")
            ),
        );
        self.show_lockout(seconds);
        self.lockout_code()
    }

    /// Names without a usable enrollment under `deny` (unknown, not
    /// enrolled, home not mounted) go through the same steps as an enrolled
    /// user who types wrong codes, on a decoy record: asked for a code,
    /// refused, and locked out after `max_failures`, with the same
    /// messages, so the prompts do not reveal who is enrolled.
    fn deny_without_secret(&mut self, store: &mut dyn Store, why: &str) -> PamResultCode {
        let name = self.context.user.clone();
        let snapshot = store.decoy_snapshot(&name);
        // As for an enrolled user: nothing held while the user types.
        store.release();
        match snapshot {
            Ok(snapshot) => {
                if let Some(seconds) = snapshot.state.lockout_remaining(snapshot.now) {
                    self.log(LogLevel::Warning, &format!("refused: {why}"));
                    return self.locked_out(seconds);
                }
            }
            Err(error) => return self.refuse_unavailable(&error.to_string()),
        }
        // The code an enrolled user's failed conversation returns, so that
        // an application printing it does not tell who is enrolled.
        if let Err(code) = self.obtain_answer(6) {
            self.log(
                LogLevel::Warning,
                &format!("refused: {why}; conversation failed ({code:?})"),
            );
            return code;
        }
        let policy = Policy::of(&self.config);
        let mut outcome = None;
        let updated = store.decoy_update(&name, &mut |state, now| {
            let decided = decide_without_credential(state, now, &policy);
            outcome = Some(decided.outcome);
            decided.state
        });
        store.release();
        match (updated, outcome) {
            (Ok(_), Some(Outcome::LockedOut(seconds))) => {
                self.log(LogLevel::Warning, &format!("refused: {why}"));
                self.locked_out(seconds)
            }
            (Ok(updated), _) => self.refuse_counted(why, &updated.state, updated.now),
            (Err(error), _) => {
                self.log(LogLevel::Warning, &format!("refused: {why}"));
                self.refuse_unavailable(&error.to_string())
            }
        }
    }

    fn exemption(&mut self, account: &account::Account) -> Option<PamResultCode> {
        if !self.config.exempt_groups.is_empty() {
            match account::group_names(account) {
                Ok(groups) => {
                    if let Some(group) = groups
                        .iter()
                        .find(|g| self.config.exempt_groups.contains(g))
                    {
                        let why = format!("exempt: member of group {group}");
                        return Some(self.skip(&why));
                    }
                }
                Err(error) => {
                    // Not knowing the groups means not exempt: ask for the code.
                    self.log(
                        LogLevel::Warning,
                        &format!("cannot read group membership: {error}"),
                    );
                }
            }
        }
        self.debug(|| "not exempt".into());
        None
    }

    /// No code for this user (exempt, or unenrolled under `allow`):
    /// `PAM_IGNORE`, so the rest of the stack decides. Under `forward_pass`
    /// the module owns the only prompt, so it still asks for the password
    /// and hands all of it on as `PAM_AUTHTOK`; otherwise `pam_unix
    /// use_first_pass` would find no password and refuse the user.
    fn skip(&mut self, why: &str) -> PamResultCode {
        // No prompt, as on a line without the flag (a wrong password is not
        // told apart), but a refusal: the first factor failed.
        if self.config.flags.first_factor_failed {
            self.log(
                LogLevel::Warning,
                &format!("refused: {why}, but the first factor failed (first_factor_failed)"),
            );
            return PamResultCode::PAM_AUTH_ERR;
        }
        self.log(LogLevel::Info, why);
        if self.config.flags.forward_pass {
            let password = match self.session.prompt_hidden(PASSWORD_ONLY_PROMPT) {
                Ok(password) => password,
                Err(code) => {
                    self.log(
                        LogLevel::Error,
                        &format!("conversation failed asking for the password ({code:?})"),
                    );
                    return code;
                }
            };
            if let Err(code) = self.session.set_auth_token(&password) {
                self.log(
                    LogLevel::Error,
                    &format!("cannot hand the password on ({code:?})"),
                );
                return code;
            }
        }
        PamResultCode::PAM_IGNORE
    }

    /// The code as typed, from the prompt or from `PAM_AUTHTOK`.
    fn obtain_answer(&mut self, digits: usize) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
        let flags = self.config.flags;
        // use_first_pass: the token is the answer, never a prompt.
        // (try_first_pass tried the token already: from here on, ask.)
        if flags.use_first_pass {
            if let Some(token) = self.session.auth_token() {
                return Ok(token);
            }
            self.log(
                LogLevel::Warning,
                "use_first_pass but no earlier module set a token",
            );
            return Ok(Zeroizing::new(Vec::new()));
        }
        if flags.forward_pass {
            let answer = self.session.prompt_hidden(FORWARD_PASS_PROMPT)?;
            let (password, code) = split_forwarded(&answer, digits);
            self.session.set_auth_token(password)?;
            return Ok(Zeroizing::new(code.to_vec()));
        }
        let prompt = self.config.prompt.clone();
        self.session.prompt_hidden(&prompt)
    }
}

/// Why a missing secret of an account that has logged in with a code
/// before fails closed.
fn vanished(path: &std::path::Path, account: &account::Account) -> String {
    format!(
        "no secret file {}, but this account has logged in with a code before (home not mounted, or the file was removed); if the user is really no longer enrolled, run `pam-totp disable --user {}`",
        path.display(),
        account.name
    )
}

/// What an enrolled user's answer is checked against, and where it is recorded.
struct Attempt<'a> {
    store: &'a mut dyn Store,
    account: &'a account::Account,
    credential: &'a Credential,
}

/// A token tried before prompting (`try_first_pass`): refused, it leads to
/// the prompt. The final answer ends the authentication whatever it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trial {
    Token,
    Final,
}

/// "1 consecutive failure", "2 consecutive failures".
fn failures(count: u32) -> String {
    crate::text::plural(u64::from(count), "consecutive failure")
}

#[cfg(test)]
mod tests {

    #[test]
    fn log_context_escapes_as_escape_debug() {
        for value in [
            "alice",
            "sshd",
            "192.0.2.7",
            "",
            "a b",
            "o'brien",
            "say \"hi\"",
            "back\\slash",
            "new\nline",
            "tab\tand\u{7f}del",
            "\u{301}accent first",
            "caf\u{e9}",
            "\u{200b}zero width",
        ] {
            let context = Context {
                user: value.to_string(),
                service: value.to_string(),
                remote_host: value.to_string(),
            };
            let escaped = value.escape_debug();
            assert_eq!(
                context.describe("refused"),
                format!("refused (user={escaped} service={escaped} rhost={escaped})"),
                "{value:?}"
            );
        }
    }
    use super::*;
    use std::cell::RefCell;

    /// A session that answers from a script and keeps what was logged.
    struct FakeSession {
        user: String,
        answers: Vec<Vec<u8>>,
        logs: RefCell<Vec<String>>,
        shown: Vec<String>,
    }

    impl Session for FakeSession {
        fn user(&mut self) -> Result<String, PamResultCode> {
            Ok(self.user.clone())
        }
        fn service(&self) -> String {
            "sshd".into()
        }
        fn remote_host(&self) -> Option<String> {
            Some("192.0.2.7".into())
        }
        fn tty(&self) -> Option<String> {
            None
        }
        fn prompt_hidden(&mut self, _text: &str) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
            if self.answers.is_empty() {
                return Err(PamResultCode::PAM_CONV_ERR);
            }
            Ok(Zeroizing::new(self.answers.remove(0)))
        }
        fn show_error(&mut self, text: &str) {
            self.shown.push(text.to_string());
        }
        fn show_info(&mut self, text: &str) {
            self.shown.push(text.to_string());
        }
        fn auth_token(&self) -> Option<Zeroizing<Vec<u8>>> {
            None
        }
        fn set_auth_token(&mut self, _token: &[u8]) -> Result<(), PamResultCode> {
            Ok(())
        }
        fn log(&self, _level: LogLevel, message: &str) {
            self.logs.borrow_mut().push(message.to_string());
        }
    }

    #[test]
    fn every_outcome_is_logged_with_who_and_where_but_never_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let user = account::lookup_uid(account::effective_uid()).unwrap().name;
        let secret_b32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let secret_path = dir.path().join("secret.toml");
        crate::system::files::replace_atomically(
            &secret_path,
            format!("version = 1\nsecret = \"{secret_b32}\"\n").as_bytes(),
            None,
        )
        .unwrap();
        let args_owned = [
            format!("secret_path={}", secret_path.display()),
            format!("state_dir={}", dir.path().join("state").display()),
            "debug".to_string(),
        ];
        let args: Vec<&str> = args_owned.iter().map(String::as_str).collect();
        let generator =
            crate::otp::secret::SecretFile::parse(std::fs::read(&secret_path).unwrap().as_slice())
                .unwrap()
                .generator()
                .unwrap();
        let now = crate::system::clock::now(dir.path()).unwrap();
        let code = generator.code_for_step(generator.step_at(now));
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let answers = [code.as_str(), code.as_str(), wrong, "%s%n"];
        let expected = [
            (PamResultCode::PAM_SUCCESS, "accepted verification code"),
            (PamResultCode::PAM_AUTH_ERR, "code already used (replay)"),
            (PamResultCode::PAM_AUTH_ERR, "wrong code"),
            // The third failure starts the lockout, and says so.
            (PamResultCode::PAM_MAXTRIES, "malformed answer"),
        ];
        for (typed, (rc, reason)) in answers.iter().zip(expected) {
            let mut session = FakeSession {
                user: user.clone(),
                answers: vec![typed.as_bytes().to_vec()],
                logs: RefCell::new(Vec::new()),
                shown: Vec::new(),
            };
            assert_eq!(authenticate(&mut session, &args), rc, "{reason}");
            let logs = session.logs.into_inner();
            let last = logs.last().unwrap();
            assert!(last.contains(reason), "{logs:?}");
            assert!(
                last.contains(&format!("user={user} service=sshd rhost=192.0.2.7")),
                "{last}"
            );
            for line in &logs {
                assert!(
                    !line.contains(&code) && !line.contains(wrong),
                    "code in log: {line}"
                );
                assert!(!line.contains(secret_b32), "secret in log: {line}");
            }
        }
    }
}
