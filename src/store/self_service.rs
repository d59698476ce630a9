//! Whether a user looks after their own enrollment with the `pam-totp`
//! command, and so what a message tells them to do: on the files store
//! with the secret in the home, they run the command; with an
//! administrator-managed secret store or the PostgreSQL store only root
//! can change an enrollment, so they ask an administrator.

use crate::config::{Config, StoreKind};
use crate::store::files::secret_file as enrollment;
use crate::system::account::Account;

/// The user's own `pam-totp enroll` and `pam-totp recovery-codes` work.
pub fn users_manage_their_own(config: &Config, account: &Account) -> bool {
    config.store == StoreKind::Files
        && enrollment::secret_path(config, account)
            .is_ok_and(|path| enrollment::is_under_home(&path, account))
}

/// How `account` gets new recovery codes, as one sentence.
pub fn new_recovery_codes(config: &Config, account: &Account) -> String {
    if users_manage_their_own(config, account) {
        "Run `pam-totp recovery-codes` for new ones.".to_string()
    } else {
        format!(
            "Ask an administrator for new ones (`pam-totp recovery-codes --user {}`).",
            account.name
        )
    }
}
