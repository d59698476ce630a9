//! The module's per-user state as the command sees it: only root may read
//! or change it (the state directory is root's, mode 0700).

use pam_totp::config::Config;
use pam_totp::state::{State, StateError, StateStore};
use pam_totp::system::account::{self, Account};

use crate::Failure;

/// Whether this process may use the module's state.
pub fn may_use_state() -> bool {
    account::effective_uid() == 0
}

/// The user's state store, or `None` when this process is not root or
/// nothing was ever recorded (no state directory).
pub fn store(config: &Config, account: &Account) -> Result<Option<StateStore>, Failure> {
    if !may_use_state() || std::fs::symlink_metadata(&config.state_dir).is_err() {
        return Ok(None);
    }
    StateStore::for_account(config, account)
        .map(Some)
        .map_err(|error| Failure(error.to_string()))
}

/// Whether the user has a state file.
pub fn has_state(store: &StateStore) -> bool {
    std::fs::symlink_metadata(store.path()).is_ok()
}

/// Change an existing state file under the state lock, after a new
/// secret or new recovery codes were stored; no file is created for a user
/// who has none. A corrupt state is repaired, but the recovery codes just
/// written are fresh: they are not marked used.
pub fn update_existing(
    config: &Config,
    account: &Account,
    change: impl FnOnce(&mut State),
) -> Result<(), Failure> {
    let Some(store) = store(config, account)? else {
        return Ok(());
    };
    if !has_state(&store) {
        return Ok(());
    }
    let lock = store.lock().map_err(|error| Failure(error.to_string()))?;
    let mut state = match store.read() {
        Ok(state) => state,
        Err(StateError::Corrupt { .. }) => {
            let mut state = repaired(config, account);
            state.used_recovery.clear();
            state
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    change(&mut state);
    store
        .write(&state, &lock)
        .map_err(|error| Failure(error.to_string()))
}

/// After a new secret: forget the last accepted time step (the period may
/// have changed) and the used recovery codes (the codes were replaced).
/// Failures and a running lockout stay.
pub fn forget_old_secret(config: &Config, account: &Account) -> Result<(), Failure> {
    update_existing(config, account, |state| {
        state.last_step_start = None;
        state.used_recovery.clear();
    })
}

/// A state to put in place of one too damaged to read. Which codes were
/// used is lost, so none of the old ones may work again: every code valid
/// now (up to the current step + window) and every current recovery code
/// counts as used.
pub fn repaired(config: &Config, account: &Account) -> State {
    let mut state = State::default();
    let now = pam_totp::system::clock::now(&config.state_dir).unwrap_or(u64::MAX);
    match pam_totp::enrollment::load(config, account) {
        Ok(secret) => {
            if let Ok(generator) = secret.generator() {
                let last = generator
                    .step_at(now)
                    .saturating_add(u64::from(config.window));
                state.last_step_start = Some(generator.step_start(last));
            }
            state.used_recovery = secret.recovery.iter().map(|hash| hash.id()).collect();
        }
        // No readable secret: no code can be checked anyway; still refuse
        // every step up to a window of the longest period ahead.
        Err(_) => {
            state.last_step_start = Some(now.saturating_add(3600 * u64::from(config.window.max(1))))
        }
    }
    state
}
