//! `pam-totp status`: what the module knows about a user.

use clap::Args;
use pam_totp::config::{Config, Unenrolled};
use pam_totp::enrollment::{self, LoadError};
use pam_totp::secret::TokenKind;
use pam_totp::state::State;
use pam_totp::store::StoreError;

use crate::Failure;
use crate::state_access;
use crate::target;

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

pub fn run(config: &Config, args: StatusArgs) -> Result<(), Failure> {
    let account = target::resolve(args.user.as_deref())?;
    let path = match config.store {
        pam_totp::config::StoreKind::Postgresql => "the database".to_string(),
        pam_totp::config::StoreKind::Files => enrollment::secret_path(config, &account)
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
    // None: this process may not read the state (not root).
    let (state, now): (Option<State>, u64) = match store.snapshot(&account) {
        Ok(snapshot) => (Some(snapshot.state), snapshot.now),
        Err(StoreError::NoAccess) => (
            None,
            pam_totp::system::clock::now(&config.state_dir).unwrap_or(0),
        ),
        Err(error) => return Err(Failure(error.to_string())),
    };
    let used: &[String] = state.as_ref().map_or(&[], |s| &s.used_recovery);

    if args.json {
        let mut object = serde_json::json!({
            "user": account.name,
            "enrolled": secret.is_some(),
            "secret_path": path,
        });
        if let (Some(secret), Some(map)) = (&secret, object.as_object_mut()) {
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
                    pam_totp::recovery::unused_count(&secret.recovery, used).into(),
                );
            }
        }
        if let (Some(state), Some(map)) = (&state, object.as_object_mut()) {
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
        println!("{object}");
        return Ok(());
    }

    println!("User:            {}", account.name);
    match &secret {
        None => {
            println!("Enrolled:        no (nothing in {path})");
        }
        Some(secret) => {
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
                TokenKind::Hotp { counter } => match &state {
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
            match &state {
                Some(_) => println!(
                    "Recovery codes:  {} of {total} left",
                    pam_totp::recovery::unused_count(&secret.recovery, used)
                ),
                None => println!(
                    "Recovery codes:  {total} issued (how many are used, only root can see)"
                ),
            }
        }
    }
    match &state {
        None => {
            println!("Last login:      unknown (only root can read the module's state)");
        }
        Some(state) => {
            let last = state
                .last_success
                .map_or_else(|| "never".to_string(), format_time);
            println!("Last login:      {last}");
            match state.lockout_remaining(now) {
                Some(seconds) => println!(
                    "Lockout:         locked for {} more after {} (`pam-totp unlock --user {}` clears it)",
                    crate::plural(seconds, "second"),
                    crate::plural(u64::from(state.failures), "failed attempt"),
                    account.name
                ),
                None if state.failures > 0 => println!(
                    "Lockout:         none ({} since the last login)",
                    crate::plural(u64::from(state.failures), "failed attempt")
                ),
                None => println!("Lockout:         none"),
            }
        }
    }
    if secret.is_none() {
        println!("{}", not_enrolled_means(config.unenrolled, &account.name));
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

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
pub fn format_time(unix: u64) -> String {
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_time(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }
}
