//! Which user a command acts on, and who may name another user.

use pam_totp::system::account::{self, Account};

use crate::Failure;

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
