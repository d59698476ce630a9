//! `pam-totp status`: what the module knows about a user.

use clap::Args;
use pam_totp::config::{Config, Unenrolled};
use pam_totp::otp::secret::{SecretFile, TokenKind};
use pam_totp::otp::state::State;
use pam_totp::store::LoadError;
use pam_totp::store::StoreError;
use pam_totp::store::files::secret_file;
use pam_totp::system::account::Account;
use pam_totp::text::plural;

use crate::support::Failure;
use crate::support::output::format_time;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Show whether a user is enrolled, the code parameters, recovery codes left, last login and lockout",
    long_about = "Show whether a user is enrolled, the algorithm, digits and period of the codes, \
how many recovery codes are left, the last successful login and any lockout.\n\n\
The last login and the lockout live in the module's state, which only root can read; \
run as another user, status says so."
)]
pub struct StatusArgs {
    /// Show this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Print one JSON object instead of text
    #[arg(long)]
    json: bool,
}

/// What `status` shows about one user.
struct Report {
    account: Account,
    /// Where the enrollment is: a path, or "the database".
    place: String,
    secret: Option<SecretFile>,
    /// `None`: this process may not read the state (not root).
    state: Option<State>,
    now: u64,
}

pub fn run(config: &Config, args: StatusArgs) -> Result<(), Failure> {
    let report = gather(config, args.user.as_deref())?;
    if args.json {
        println!("{}", report.json());
        return Ok(());
    }
    report.print_enrollment(config);
    report.print_state();
    if report.secret.is_none() {
        println!(
            "{}",
            not_enrolled_means(config.unenrolled, &report.account.name)
        );
    }
    Ok(())
}

/// What a user without an enrollment gets at a login, under `policy`.
fn not_enrolled_means(policy: Unenrolled, name: &str) -> String {
    match policy {
        Unenrolled::Allow => format!(
            "{name} logs in without a code (unenrolled = \"allow\"); `pam-totp enroll` sets one up."
        ),
        Unenrolled::Deny => format!(
            "{name} cannot log in through pam_totp until enrolled (unenrolled = \"deny\"); `pam-totp enroll` sets it up."
        ),
        Unenrolled::Enroll => format!(
            "{name} sets it up at the next login (unenrolled = \"enroll\": a QR code after the SSH key or password), or with `pam-totp enroll`."
        ),
    }
}

/// The user's enrollment and, for root, state.
fn gather(config: &Config, user: Option<&str>) -> Result<Report, Failure> {
    let account = target::resolve(user)?;
    let place = match config.store {
        pam_totp::config::StoreKind::Postgresql => "the database".to_string(),
        pam_totp::config::StoreKind::Files => secret_file::secret_path(config, &account)
            .map_err(|e| Failure(e.to_string()))?
            .display()
            .to_string(),
    };
    let mut store = state_access::open(config)?;
    let secret = match store.enrollment(&account) {
        Ok(secret) => Some(secret),
        Err(LoadError::NotEnrolled(_)) => None,
        Err(error) => {
            return Err(Failure(format!(
                "{error}; the module refuses {}'s logins until it is fixed or `pam-totp enroll --force` replaces it",
                account.name
            )));
        }
    };
    let (state, now): (Option<State>, u64) = match store.snapshot(&account) {
        Ok(snapshot) => (Some(snapshot.state), snapshot.now),
        Err(StoreError::NoAccess) => (
            None,
            pam_totp::system::clock::now(&config.state_dir).unwrap_or(0),
        ),
        Err(error) => return Err(Failure(error.to_string())),
    };
    Ok(Report {
        account,
        place,
        secret,
        state,
        now,
    })
}

impl Report {
    fn used(&self) -> &[String] {
        self.state.as_ref().map_or(&[], |s| &s.used_recovery)
    }

    /// `--json`: one object.
    fn json(&self) -> serde_json::Value {
        let (state, now, used) = (&self.state, self.now, self.used());
        let mut object = serde_json::json!({
            "user": self.account.name,
            "enrolled": self.secret.is_some(),
            "secret_path": self.place,
        });
        if let (Some(secret), Some(map)) = (&self.secret, object.as_object_mut()) {
            map.insert(
                "type".into(),
                secret.kind.name().to_ascii_lowercase().into(),
            );
            map.insert("algorithm".into(), secret.algorithm.name().into());
            map.insert("digits".into(), secret.digits.into());
            match secret.kind {
                TokenKind::Totp => {
                    map.insert("period".into(), secret.period.into());
                }
                TokenKind::Hotp { .. } => {
                    let last = state.as_ref().and_then(|state| state.last_counter);
                    map.insert("counter".into(), secret.next_counter(last).into());
                    if state.is_some() {
                        map.insert("last_counter".into(), last.into());
                    }
                }
            }
            map.insert("recovery_codes".into(), secret.recovery.len().into());
            if state.is_some() {
                map.insert(
                    "recovery_codes_left".into(),
                    pam_totp::otp::recovery::unused_count(&secret.recovery, used).into(),
                );
            }
        }
        if let (Some(state), Some(map)) = (state, object.as_object_mut()) {
            map.insert("last_success".into(), state.last_success.into());
            map.insert("failures".into(), state.failures.into());
            map.insert(
                "locked_until".into(),
                state
                    .lockout_remaining(now)
                    .map(|_| state.locked_until)
                    .into(),
            );
            map.insert(
                "lockout_remaining".into(),
                state.lockout_remaining(now).into(),
            );
        }
        object
    }

    /// The text lines on the user and the enrollment: no recovery-code
    /// line for a user who has none where none are made
    /// (`recovery_codes = 0`).
    fn print_enrollment(&self, config: &Config) {
        let (path, state, used) = (&self.place, &self.state, self.used());
        println!("User:            {}", self.account.name);
        let Some(secret) = &self.secret else {
            println!("Enrolled:        no (nothing in {path})");
            return;
        };
        println!("Enrolled:        yes ({path})");
        println!(
            "Type:            {}",
            match secret.kind {
                TokenKind::Totp => "TOTP (codes from the time)",
                TokenKind::Hotp { .. } => "HOTP (codes from a counter)",
            }
        );
        println!("Algorithm:       {}", secret.algorithm.name());
        println!("Digits:          {}", secret.digits);
        match secret.kind {
            TokenKind::Totp => println!("Period:          {} seconds", secret.period),
            TokenKind::Hotp { counter } => match state {
                Some(state) => match state.last_counter {
                    Some(last) => println!(
                        "Counter:         last accepted {last}, next {}",
                        last.saturating_add(1)
                    ),
                    None => println!("Counter:         none accepted yet, next {counter}"),
                },
                None => println!(
                    "Counter:         {counter} at enrollment (the last accepted one, only root can see)"
                ),
            },
        }
        let total = secret.recovery.len();
        if total == 0 && config.recovery_codes == 0 {
            return;
        }
        match state {
            Some(_) => println!(
                "Recovery codes:  {} of {total} left",
                pam_totp::otp::recovery::unused_count(&secret.recovery, used)
            ),
            None => {
                println!("Recovery codes:  {total} issued (how many are used, only root can see)")
            }
        }
    }

    /// The text lines on the last login and the lockout.
    fn print_state(&self) {
        let Some(state) = &self.state else {
            println!("Last login:      unknown (only root can read the module's state)");
            return;
        };
        let last = state
            .last_success
            .map_or_else(|| "never".to_string(), format_time);
        println!("Last login:      {last}");
        match state.lockout_remaining(self.now) {
            Some(seconds) => println!(
                "Lockout:         locked for {} more after {} (`pam-totp unlock --user {}` clears it)",
                plural(seconds, "second"),
                plural(u64::from(state.failures), "failed attempt"),
                self.account.name
            ),
            None if state.failures > 0 => println!(
                "Lockout:         none ({} since the last login)",
                plural(u64::from(state.failures), "failed attempt")
            ),
            None => println!("Lockout:         none"),
        }
    }
}
