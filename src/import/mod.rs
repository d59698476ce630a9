//! Moving over from other OTP modules: parsers for the files they keep.
//!
//! Each parser is pure (the file's bytes in, a typed result out) so it can
//! be fuzzed and tested without a system; the `pam-totp import` command
//! reads the files, converts what they hold and writes it through the store.

pub mod google_authenticator;
pub mod pam_oath;

/// The shortest secret pam-totp accepts (RFC 4226 asks for 128 bits at least).
pub const MIN_SECRET_BYTES: usize = 16;

/// Largest file either parser is given, in bytes.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// `text` with control characters escaped, for messages that quote a file.
pub(crate) fn printable(text: &str) -> String {
    // The one escaping rule (C0, DEL, C1, bidi and format controls).
    crate::text::escape_controls(text).into_owned()
}
