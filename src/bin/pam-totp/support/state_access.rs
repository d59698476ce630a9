//! The store as the command uses it: the files store reads the module's
//! state only as root (the state directory is root's, mode 0700).

use pam_totp::config::Config;
use pam_totp::otp::secret::TokenKind;
use pam_totp::otp::state::State;
use pam_totp::store::{self, Store, files::FilesStore};
use pam_totp::system::account::{self, Account};

use crate::support::Failure;

/// Whether this process may use the module's state.
pub fn may_use_state() -> bool {
    account::effective_uid() == 0
}

/// With the PostgreSQL store only root reaches the database: anyone else
/// is told, in one sentence, where enrollments are and how to get one.
pub fn require_root_for_database(config: &Config) -> Result<(), Failure> {
    if config.store == pam_totp::config::StoreKind::Postgresql && !may_use_state() {
        // With recovery_codes = 0 none are made here: not a word of them.
        let recovery = match config.recovery_codes {
            0 => "",
            _ => ", for new recovery codes `pam-totp recovery-codes --user NAME`",
        };
        return Err(Failure(format!(
            "enrollments on this host are kept centrally in a database that only root can change: ask an administrator (for a new phone `pam-totp enroll --user NAME --force`{recovery}); if you are not enrolled yet, enroll at your next SSH login if the administrator has turned that on (unenrolled = \"enroll\")"
        )));
    }
    Ok(())
}

/// The configured store, for this process.
pub fn open(config: &Config) -> Result<Box<dyn Store>, Failure> {
    require_root_for_database(config)?;
    match config.store {
        pam_totp::config::StoreKind::Files => Ok(Box::new(FilesStore::for_command(
            config.clone(),
            account::effective_uid(),
        ))),
        _ => store::open(config, store::postgres::open).map_err(|error| Failure(error.to_string())),
    }
}

/// A state to put in place of one too damaged to read. Which codes were
/// used is lost, so none of the old ones may work again: every code valid
/// now (up to the current step + window) and every current recovery code
/// counts as used. Built before the store's update takes its lock, since
/// it reads the user's secret (which may sit on a hung mount).
pub fn repaired(config: &Config, store: &mut dyn Store, account: &Account) -> State {
    let mut state = State::default();
    let now = pam_totp::system::clock::now(&config.state_dir).unwrap_or(u64::MAX);
    match store.enrollment(account) {
        Ok(secret) => {
            match secret.kind {
                TokenKind::Totp => {
                    if let Ok(generator) = secret.generator() {
                        let last = generator
                            .step_at(now)
                            .saturating_add(u64::from(config.window));
                        state.last_step_start = Some(generator.step_start(last));
                    }
                }
                // How far the token went is lost with the state: no counter
                // value works until root runs `pam-totp enroll --hotp --force`
                // with the token's current counter.
                TokenKind::Hotp { .. } => state.last_counter = Some(u64::MAX),
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
