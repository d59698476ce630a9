//! Whether a user looks after their own enrollment with the `pam-totp`
//! command, and so what a message tells them to do: on the files store
//! with the secret in the home, they run the command; with an
//! administrator-managed secret store or the PostgreSQL store only root
//! can change an enrollment, so they ask an administrator. With
//! `recovery_codes = 0` no message sends anyone for new recovery codes.

use crate::config::{Config, StoreKind};
use crate::store::files::secret_file as enrollment;
use crate::system::account::Account;

/// The user's own `pam-totp enroll` and `pam-totp recovery-codes` work.
pub fn users_manage_their_own(config: &Config, account: &Account) -> bool {
    config.store == StoreKind::Files
        && enrollment::secret_path(config, account)
            .is_ok_and(|path| enrollment::is_under_home(&path, account))
}

/// What `account` does after logging in with a recovery code, as one
/// sentence: how to get new ones; with `recovery_codes = 0` (none are
/// made on this host) nothing of new codes, only what to do about a lost
/// phone.
pub fn after_recovery_code(config: &Config, account: &Account) -> String {
    if config.recovery_codes == 0 {
        return if users_manage_their_own(config, account) {
            "If the phone is lost, run `pam-totp enroll --force` with the new one.".to_string()
        } else {
            "If the phone is lost, ask an administrator.".to_string()
        };
    }
    if users_manage_their_own(config, account) {
        "Run `pam-totp recovery-codes` for new ones.".to_string()
    } else {
        format!(
            "Ask an administrator for new ones (`pam-totp recovery-codes --user {}`).",
            account.name
        )
    }
}
