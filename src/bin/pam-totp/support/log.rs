//! What a command changed, in the system log.

/// Record in the system log what this command changed for `user`, and
/// who ran it (`SUDO_USER` too, when root got there through sudo).
pub fn log_change(what: &str, user: &str) {
    let uid = pam_totp::system::account::real_uid();
    let by = match std::env::var("SUDO_USER") {
        Ok(sudo) if uid == 0 => format!("uid {uid} (sudo from {sudo})"),
        _ => format!("uid {uid}"),
    };
    pam_totp::system::syslog::notice(&format!("{what} for user {user} by {by}"));
}
