//! Whether enrollment at login is safe: a first factor must always come
//! before the module.

use crate::check::{pam_stack, sshd};

/// With `unenrolled = "enroll"` the module sets up whoever reaches it
/// without a secret: unless a first factor always comes before it (a key
/// in every `AuthenticationMethods` list, or a password module that stops
/// the stack before pam_totp, or sends a failed one to a
/// `first_factor_failed` line), a stranger who knows only a user name
/// would enroll their own phone for an account that has none yet.
pub fn enroll_without_first_factor(
    entries: &[pam_stack::Entry],
    settings: Option<&sshd::Settings>,
) -> bool {
    let key_first = settings.is_some_and(sshd::first_factor_before_code);
    !key_first && !pam_stack::password_before_totp(entries)
}

/// The finding for [`enroll_without_first_factor`].
pub const ENROLL_WITHOUT_FIRST_FACTOR: &str = "unenrolled = \"enroll\" but a login can reach pam_totp.so without a first factor: anyone who knows the name of a user without a secret would enroll their own authenticator; a failed \"required\" module does not stop the stack; send a failed password to a first_factor_failed line (see the stack in /usr/share/doc/pam-totp/examples/pam.d/sshd-password-and-code), or require a key first (AuthenticationMethods publickey,keyboard-interactive)";

/// With `forward_pass` pam_totp runs before the password module, so the
/// module never enrolls there (it refuses unenrolled users as under
/// `deny`, and logs why).
pub const ENROLL_WITH_FORWARD_PASS: &str = "unenrolled = \"enroll\" on a forward_pass line: that line comes before the password, so it never enrolls and refuses users without a secret (as unenrolled = \"deny\"); enroll them with `pam-totp enroll`, or use the two-prompt stack (sshd-password-and-code)";

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
        // Issue 18 point 1: "required" does not stop the stack.
        let password = "auth required pam_unix.so\nauth required pam_totp.so\n";
        let requisite = "auth requisite pam_unix.so\nauth required pam_totp.so\n";
        let jump = "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_totp.so first_factor_failed\nauth required pam_totp.so\nauth required pam_permit.so\n";
        let optional_password = "auth optional pam_unix.so\nauth required pam_totp.so\n";
        for (stack, settings, warned) in [
            (code_only, Some(&key), false),
            (code_only, Some(&kbd), true),
            (code_only, Some(&any), true),
            (code_only, None, true),
            (password, Some(&kbd), true),
            (password, None, true),
            (password, Some(&key), false),
            (requisite, Some(&kbd), false),
            (jump, Some(&kbd), false),
            (jump, None, false),
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
