//! Which user a command acts on, and who may name another user.

use pam_totp::config::Config;
use pam_totp::store::files::secret_file;
use pam_totp::system::account::{self, Account};

use crate::support::Failure;

/// The account named by `--user`, or the calling user. Only root may act
/// on someone else.
pub fn resolve(user: Option<&str>) -> Result<Account, Failure> {
    let caller_uid = account::real_uid();
    let caller = account::lookup_uid(caller_uid).map_err(|error| {
        Failure(format!(
            "cannot look up the calling user (uid {caller_uid}): {error}"
        ))
    })?;
    let Some(name) = user else {
        return Ok(caller);
    };
    let target =
        account::lookup_user(name).map_err(|error| Failure(format!("user \"{name}\": {error}")))?;
    if target.uid != caller_uid && caller_uid != 0 {
        return Err(Failure(format!(
            "only root can act on another user (\"{name}\"); run it with sudo"
        )));
    }
    Ok(target)
}

/// Before changing a user's enrollment: a non-root user can change only a
/// secret under their own home. With an administrator-managed store, say
/// so at once (not after the QR code has been scanned).
pub fn require_own_store(config: &Config, account: &Account) -> Result<(), Failure> {
    crate::support::state_access::require_root_for_database(config)?;
    let path =
        secret_file::secret_path(config, account).map_err(|error| Failure(error.to_string()))?;
    if account::effective_uid() != 0 && !secret_file::is_under_home(&path, account) {
        return Err(Failure(format!(
            "secrets are kept by the administrator ({}); ask root to run this for you, e.g. `sudo pam-totp enroll --user {}`",
            path.display(),
            account.name
        )));
    }
    Ok(())
}
