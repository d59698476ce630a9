//! `pam-totp import --from-oath USERSFILE`: convert pam_oath's users file.
//! Each token becomes the user's secret file; what pam_oath last accepted
//! (its counter value, or its time step) goes into the module's state, so
//! it never works again.

use std::path::Path;

use pam_totp::config::Config;
use pam_totp::import::MAX_FILE_SIZE;
use pam_totp::import::pam_oath::{self, OathKind, OathToken};
use pam_totp::otp::code::HashAlgorithm;
use pam_totp::otp::secret::{SecretFile, TokenKind};
use pam_totp::store::Store;
use pam_totp::system::files::{FileRules, read_protected};

use crate::support::Failure;
use crate::support::save::{Used, save_imported};
use crate::support::state_access;
use crate::support::target;

pub fn run(
    config: &Config,
    users_file: &Path,
    only: Option<&str>,
    force: bool,
) -> Result<(), Failure> {
    let shown = users_file.display();
    if !state_access::may_use_state() {
        return Err(Failure(
            "only root can import pam_oath's users file; run it with sudo".into(),
        ));
    }
    // pam_oath's file is root's: anyone else could have planted tokens.
    let bytes = read_protected(
        users_file,
        &FileRules {
            owners: &[0],
            max_size: MAX_FILE_SIZE,
        },
    )
    .map_err(|error| Failure(format!("cannot read {shown}: {error}")))?;
    let parsed = pam_oath::parse(&bytes);
    let now = pam_totp::system::clock::now(&config.state_dir)
        .ok_or_else(|| Failure("the system clock is set before 1970".into()))?;
    let mut store = state_access::open(config)?;

    let mut imported = 0usize;
    let mut problems = 0usize;
    let mut seen = false;
    for skipped in &parsed.skipped {
        if only.is_none() || skipped.user.as_deref() == only {
            seen |= skipped.user.as_deref() == only;
            eprintln!("{shown}: skipped {skipped}");
            problems += 1;
        }
    }
    for token in &parsed.tokens {
        if only.is_some_and(|user| user != token.user) {
            continue;
        }
        seen = true;
        match import_token(config, &mut *store, token, now, force) {
            Ok(said) => {
                println!("{said}");
                imported += 1;
            }
            Err(Failure(why)) => {
                eprintln!(
                    "{shown}: skipped line {} ({}): {why}",
                    token.line, token.user
                );
                problems += 1;
            }
        }
    }
    if let (Some(user), false) = (only, seen) {
        return Err(Failure(format!("{shown} has no token for {user}")));
    }
    if imported == 0 {
        return Err(Failure(format!(
            "nothing was imported from {shown}{}",
            if problems > 0 {
                " (see the lines above)"
            } else {
                ": it has no tokens"
            }
        )));
    }
    println!(
        "Imported {imported} token{} from {shown}{}. Replace pam_oath.so with pam_totp.so in the PAM stack; {shown} is left in place.",
        if imported == 1 { "" } else { "s" },
        if problems > 0 {
            format!(
                "; {problems} line{} skipped (see above)",
                if problems == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Save one token and what pam_oath accepted; says what it did.
fn import_token(
    config: &Config,
    store: &mut dyn Store,
    token: &OathToken,
    now: u64,
    force: bool,
) -> Result<String, Failure> {
    let account = target::resolve(Some(&token.user))?;
    let previous = store.enrollment(&account).ok();
    let same_secret = previous
        .as_ref()
        .is_some_and(|previous| previous.secret.as_slice() == token.secret.as_slice());
    if store.is_enrolled(&account)? && !force && !same_secret {
        return Err(Failure(format!(
            "{} is already enrolled with pam-totp; use --force to replace that enrollment",
            account.name
        )));
    }
    let (kind, period, used) = match token.kind {
        OathKind::Hotp => {
            let (next, last) = token.hotp_counters();
            (
                TokenKind::Hotp { counter: next },
                30,
                last.map(Used::Counter),
            )
        }
        OathKind::Totp { period } => {
            let accepted_at = token.last_time.and_then(|t| {
                pam_totp::system::local_time::to_unix(
                    t.year, t.month, t.day, t.hour, t.minute, t.second,
                )
            });
            let used = token
                .last_totp_step(accepted_at, now)
                .map(|step| Used::StepStart(step.saturating_mul(period)));
            (TokenKind::Totp, period, used)
        }
    };
    let file = SecretFile {
        secret: token.secret.clone(),
        algorithm: HashAlgorithm::Sha1,
        digits: token.digits,
        period,
        // Keep recovery codes of an earlier import of the same token.
        recovery: previous
            .filter(|_| same_secret)
            .map(|previous| previous.recovery)
            .unwrap_or_default(),
        kind,
    };
    file.check_usable()
        .map_err(|error| Failure(format!("its secret cannot be used: {}", error.0)))?;
    let place = save_imported(config, store, &account, &file, same_secret, used)?;
    let what = match (file.kind, used) {
        (TokenKind::Hotp { counter }, _) => {
            format!("HOTP, {} digits, next counter value {counter}", file.digits)
        }
        (TokenKind::Totp, Some(Used::StepStart(start))) => format!(
            "TOTP, {} digits, every {period} seconds; codes up to the time step pam_oath last accepted (from {start}) stay used",
            file.digits
        ),
        (TokenKind::Totp, _) => format!("TOTP, {} digits, every {period} seconds", file.digits),
    };
    Ok(format!(
        "Imported line {} for {} into {place}: {what}.",
        token.line, account.name
    ))
}
