//! The command's own log lines (facility authpriv, as the module's): what
//! root changed for whom, so an enrollment, a disable or an unlock leaves
//! a trace beside the logins it affects.

use std::ffi::CString;

/// One notice line, `pam-totp[PID]: MESSAGE`, its control characters
/// escaped. Lost silently if nothing listens on /dev/log (`pam-totp check`
/// says so).
pub fn notice(message: &str) {
    let Ok(text) = CString::new(crate::text::escape_controls(message).as_bytes()) else {
        return;
    };
    // SAFETY: openlog keeps the identity pointer, so it is a 'static C
    // string literal; syslog gets the literal format "%s" and exactly one
    // NUL-terminated string, so no text is read as a format.
    unsafe {
        libc::openlog(c"pam-totp".as_ptr(), libc::LOG_PID, libc::LOG_AUTHPRIV);
        libc::syslog(
            libc::LOG_AUTHPRIV | libc::LOG_NOTICE,
            c"%s".as_ptr(),
            text.as_ptr(),
        );
    }
}
