//! What the authentication logic needs from a PAM transaction.
//!
//! The real implementation is [`crate::auth::pam_session::PamSession`]; keeping the logic
//! behind this trait lets it be driven by fuzzers and unit tests too.

use pam::constants::PamResultCode;
use zeroize::Zeroizing;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warning,
    Notice,
    Info,
    Debug,
}

pub trait Session {
    /// The user being authenticated (`PAM_USER`, asked for if unset).
    fn user(&mut self) -> Result<String, PamResultCode>;
    /// The PAM service name, e.g. `sshd`.
    fn service(&self) -> String;
    /// `PAM_RHOST`, if the application set one.
    fn remote_host(&self) -> Option<String>;
    /// `PAM_TTY`, if the application set one (OpenSSH's sshd sets "ssh"
    /// while it authenticates).
    fn tty(&self) -> Option<String>;
    /// Ask a question whose answer is not echoed.
    fn prompt_hidden(&mut self, text: &str) -> Result<Zeroizing<Vec<u8>>, PamResultCode>;
    /// Show an error message to the user.
    fn show_error(&mut self, text: &str);
    /// Show an informational message to the user.
    fn show_info(&mut self, text: &str);
    /// `PAM_AUTHTOK` as set by an earlier module.
    fn auth_token(&self) -> Option<Zeroizing<Vec<u8>>>;
    /// Set `PAM_AUTHTOK` for the modules after this one.
    fn set_auth_token(&mut self, token: &[u8]) -> Result<(), PamResultCode>;
    /// One line in the system log (authpriv).
    fn log(&self, level: LogLevel, message: &str);
}
