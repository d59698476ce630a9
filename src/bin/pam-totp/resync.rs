//! `pam-totp resync`: move an HOTP token's counter past two consecutive
//! codes, for a token pressed more often than `hotp_window` allows.

use clap::Args;
use pam_totp::config::Config;
use pam_totp::otp::answer::{Answer, parse_answer};
use pam_totp::otp::decision::{Credential, RESYNC_RANGE, ResyncError, resync};
use pam_totp::store::Repair;
use zeroize::Zeroizing;

use crate::support::Failure;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Find a counter-based token that was pressed too often (root only)",
    long_about = "Find where a counter-based (HOTP) token is: press it twice and give both codes. \
If they are consecutive codes within 1,000 counter values after the last accepted one, the \
counter moves past them (both are then used) and the failed attempts the drift caused, with \
any lockout, are cleared, under the state lock. Otherwise nothing changes \
and the command says why. Root only."
)]
pub struct ResyncArgs {
    /// The user whose token to resynchronise
    #[arg(long, value_name = "U")]
    user: String,
    /// A code from the token
    #[arg(value_name = "CODE")]
    first: String,
    /// The code the token showed next
    #[arg(value_name = "CODE")]
    second: String,
}

fn code_of(text: &str, digits: u8) -> Result<Zeroizing<String>, Failure> {
    match parse_answer(text.as_bytes()) {
        Answer::Totp(code) if code.len() == usize::from(digits) => {
            Ok(Zeroizing::new(code.to_string()))
        }
        _ => Err(Failure(format!(
            "each CODE must be a {digits}-digit code from the token; nothing was changed"
        ))),
    }
}

pub fn run(config: &Config, args: ResyncArgs) -> Result<(), Failure> {
    let account = target::resolve(Some(&args.user))?;
    if !state_access::may_use_state() {
        return Err(Failure(
            "only root can resynchronise a token; ask an administrator to run `pam-totp resync`"
                .into(),
        ));
    }
    let name = &account.name;
    let mut store = state_access::open(config)?;
    let secret = store
        .enrollment(&account)
        .map_err(|error| Failure(error.to_string()))?;
    let first = code_of(&args.first, secret.digits)?;
    let second = code_of(&args.second, secret.digits)?;
    let credential = Credential::new(secret)
        .map_err(|error| Failure(format!("the secret of {name} cannot be used: {}", error.0)))?;
    let mut outcome = None;
    store
        .update(&account, Repair::Refuse, &mut |state, _now| {
            let found = resync(&credential, state, &first, &second);
            // Two consecutive codes prove the token: the failures its
            // drift caused, and their lockout, go too.
            let next = found.as_ref().ok().map(|&counter| {
                let mut next = state.clone();
                next.last_counter = Some(counter);
                next.failures = 0;
                next.locked_until = 0;
                next
            });
            outcome = Some((found, state.last_counter, state.failures));
            next
        })
        .map_err(|error| Failure(error.to_string()))?;
    match outcome {
        Some((Ok(counter), before, failures)) => {
            let moved = match before {
                Some(last) => format!("from last accepted {last} to {counter}"),
                None => format!("to {counter}"),
            };
            let cleared = match failures {
                0 => String::new(),
                1 => " (cleared 1 failed attempt)".to_string(),
                n => format!(" (cleared {n} failed attempts)"),
            };
            println!(
                "Resynchronised {name}'s token: its counter moved {moved}{cleared}; the next code it shows (counter value {}) logs in.",
                counter.saturating_add(1)
            );
            Ok(())
        }
        Some((Err(ResyncError::NotCounterBased), _, _)) => Err(Failure(format!(
            "{name} is enrolled with time-based codes (TOTP), which need no resync; nothing was changed"
        ))),
        Some((Err(ResyncError::NotFound { first }), _, _)) => Err(Failure(format!(
            "the two codes are not consecutive codes of {name}'s token within the {RESYNC_RANGE} counter values from {first} on; nothing was changed (press the token twice and give both codes, in order)"
        ))),
        None => Err(Failure(
            "the store returned without a result; nothing was changed".into(),
        )),
    }
}
