//! The save sequence of `import` (google-authenticator) and `import
//! --from-oath` (pam_oath), written once: save the enrollment (keeping the
//! state when it is the same secret again), then record what the old
//! module last accepted as used.

use pam_totp::config::Config;
use pam_totp::otp::secret::SecretFile;
use pam_totp::store::{Repair, Replacing, Store};
use pam_totp::system::account::Account;

use crate::support::Failure;
use crate::support::state_access;

/// What an imported token already used, to be kept as used in the state.
#[derive(Clone, Copy)]
pub enum Used {
    /// The last accepted HOTP counter value.
    Counter(u64),
    /// The start (Unix seconds) of the last accepted TOTP time step.
    StepStart(u64),
}

/// Save `file` as the enrollment of `account` and record `used`; returns
/// where it was saved. `same_secret`: an import of the secret already
/// enrolled, which keeps everything the state says was used.
pub fn save_imported(
    config: &Config,
    store: &mut dyn Store,
    account: &Account,
    file: &SecretFile,
    same_secret: bool,
    used: Option<Used>,
) -> Result<String, Failure> {
    let replacing = if same_secret {
        Replacing::Nothing
    } else {
        Replacing::Secret
    };
    let repair = Repair::With(state_access::repaired(config, &mut *store, account));
    let place = store
        .save_enrollment(account, file, replacing, repair)
        .map_err(|error| Failure(error.to_string()))?;
    if let Some(used) = used {
        record_used(store, account, used)?;
    }
    Ok(place)
}

/// Record `used` in the state as already accepted, never moving it back.
fn record_used(store: &mut dyn Store, account: &Account, used: Used) -> Result<(), Failure> {
    store
        .update(account, Repair::Refuse, &mut |state, _now| {
            let mut next = state.clone();
            match used {
                Used::Counter(counter) => {
                    next.last_counter = Some(state.last_counter.map_or(counter, |c| c.max(counter)))
                }
                Used::StepStart(start) => {
                    next.last_step_start =
                        Some(state.last_step_start.map_or(start, |s| s.max(start)))
                }
            }
            (next != *state).then_some(next)
        })
        .map(drop)
        .map_err(|error| {
            Failure(format!(
                "the enrollment of {} was saved, but what the old module accepted could not be recorded ({error}); run `pam-totp disable --user {}` and import again",
                account.name, account.name
            ))
        })
}
