//! Whether enrollment at login is safe: a first factor must always come
//! before the module.

use crate::check::{pam_stack, sshd};

/// With `unenrolled = "enroll"` the module sets up whoever reaches it
/// without a secret: unless a first factor always comes before it (a key
/// in every `AuthenticationMethods` list, or a password module that stops
/// the stack before pam_totp), a stranger who knows only a user name
/// would enroll their own phone for an account that has none yet.
pub fn enroll_without_first_factor(
    entries: &[pam_stack::Entry],
    settings: Option<&sshd::Settings>,
) -> bool {
    let key_first = settings.is_some_and(sshd::first_factor_before_code);
    !key_first && !pam_stack::password_before_totp(entries)
}

/// The finding for [`enroll_without_first_factor`].
pub const ENROLL_WITHOUT_FIRST_FACTOR: &str = "unenrolled = \"enroll\" but a login can reach pam_totp.so without a first factor: anyone who knows the name of a user without a secret would enroll their own authenticator; put a password module (@include common-auth) before pam_totp.so, or require a key first (AuthenticationMethods publickey,keyboard-interactive)";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn entries(text: &str) -> Vec<pam_stack::Entry> {
        let text = text.to_string();
        pam_stack::read_stack(Path::new("/t/sshd"), &mut |_| Ok(text.clone())).entries
    }

    /// Issue 13's check point: enrollment at login needs a first factor.
    #[test]
    fn enroll_needs_a_key_or_a_password_before_the_module() {
        let key = sshd::Settings::parse("AuthenticationMethods publickey,keyboard-interactive\n");
        let kbd = sshd::Settings::parse("AuthenticationMethods keyboard-interactive\n");
        let any = sshd::Settings::parse("UsePAM yes\n");
        let code_only = "auth required pam_totp.so\nauth required pam_permit.so\n";
        let password = "auth required pam_unix.so\nauth required pam_totp.so\n";
        let optional_password = "auth optional pam_unix.so\nauth required pam_totp.so\n";
        for (stack, settings, warned) in [
            (code_only, Some(&key), false),
            (code_only, Some(&kbd), true),
            (code_only, Some(&any), true),
            (code_only, None, true),
            (password, Some(&kbd), false),
            (password, None, false),
            (optional_password, Some(&kbd), true),
            (optional_password, Some(&key), false),
        ] {
            assert_eq!(
                enroll_without_first_factor(&entries(stack), settings),
                warned,
                "{stack} with {settings:?}"
            );
        }
    }
}
