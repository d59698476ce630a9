//! `pam-totp unlock`: clear failed attempts and a lockout.

use clap::Args;
use pam_totp::config::Config;
use pam_totp::store::Repair;

use crate::support::Failure;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Clear a user's failed attempts and lockout (root only)",
    long_about = "Clear a user's count of failed codes and any lockout, under the state lock, so \
the next correct code is accepted at once. Root only: a lockout protects the account from \
guessing. A state file too damaged to read is replaced; since which codes were used is then \
unknown, the current time step's codes and all recovery codes count as used (issue new ones \
with `pam-totp recovery-codes`)."
)]
pub struct UnlockArgs {
    /// The user to unlock
    #[arg(long, value_name = "U")]
    user: String,
}

pub fn run(config: &Config, args: UnlockArgs) -> Result<(), Failure> {
    let account = target::resolve(Some(&args.user))?;
    if !state_access::may_use_state() {
        return Err(Failure(
            "only root can clear a lockout; ask an administrator to run `pam-totp unlock`".into(),
        ));
    }
    let name = &account.name;
    let mut store = state_access::open(config)?;
    let repaired = state_access::repaired(config, &mut *store, &account);
    // The recovery codes a repair marks used: all the user has.
    let codes = repaired.used_recovery.len();
    let repair = Repair::With(repaired);
    let mut before = None;
    let updated = store
        .update(&account, repair, &mut |state, now| {
            before = Some((state.failures, state.lockout_remaining(now)));
            let mut next = state.clone();
            next.failures = 0;
            next.locked_until = 0;
            Some(next)
        })
        .map_err(|e| Failure(e.to_string()))?;
    let corrupt = updated.repaired;
    let (failures, remaining) = before.unwrap_or((0, None));
    crate::support::log_change(
        &match (corrupt, remaining) {
            (true, _) => "unlock replaced an unreadable state".to_string(),
            (false, Some(seconds)) => format!(
                "unlocked (cleared {} and a lockout with {} left)",
                pam_totp::text::plural(u64::from(failures), "failed attempt"),
                pam_totp::text::plural(seconds, "second")
            ),
            (false, None) => format!(
                "unlock cleared {}, no lockout",
                pam_totp::text::plural(u64::from(failures), "failed attempt")
            ),
        },
        name,
    );
    if corrupt {
        match (codes, config.recovery_codes) {
            // None made here and none to lose: not a word of them.
            (0, 0) => println!("Replaced the unreadable state of {name}."),
            _ => println!(
                "Replaced the unreadable state of {name}; its old recovery codes are marked used: run `pam-totp recovery-codes --user {name}` for new ones."
            ),
        }
        return Ok(());
    }
    match remaining {
        Some(seconds) => println!(
            "Unlocked {name}: cleared {} and a lockout that had {} to run.",
            pam_totp::text::plural(u64::from(failures), "failed attempt"),
            pam_totp::text::plural(seconds, "second")
        ),
        None if failures > 0 => {
            println!(
                "{name} was not locked out; cleared {}.",
                pam_totp::text::plural(u64::from(failures), "failed attempt")
            )
        }
        None => println!("{name} has no failed attempts and is not locked out."),
    }
    Ok(())
}
