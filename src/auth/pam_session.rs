//! The thin layer between libpam and the rest of the module.
//!
//! Everything `unsafe` lives here: the few libpam calls pam-bindings lacks
//! (`pam_set_item` for the authentication token, a `pam_syslog` line) and the safe
//! [`PamSession`] wrapper the authentication logic talks to.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};

use libc::{c_int, c_void};
use pam::constants::{PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_TEXT_INFO, PamResultCode};
use pam::conv::Conv;
use pam::items::{AuthTok, RHost, Service, Tty};
use pam::module::PamHandle;
use zeroize::Zeroizing;

use crate::auth::session::{LogLevel, Session};

const PAM_AUTHTOK: c_int = 6;

/// The name every log line starts with, whatever the module's file is called.
pub const LOG_TAG: &str = "pam_totp";

#[link(name = "pam")]
unsafe extern "C" {
    fn pam_set_item(pamh: *mut PamHandle, item_type: c_int, item: *const c_void) -> c_int;
}

/// A libpam failure as a code the module may return: never one that a
/// stack could read as success or "no opinion".
fn refusal(code: PamResultCode) -> PamResultCode {
    match code {
        PamResultCode::PAM_SUCCESS | PamResultCode::PAM_IGNORE => PamResultCode::PAM_SYSTEM_ERR,
        other => other,
    }
}

/// A PAM transaction seen through the operations the module needs.
pub struct PamSession<'a> {
    handle: &'a mut PamHandle,
}

impl<'a> PamSession<'a> {
    pub fn new(handle: &'a mut PamHandle) -> Self {
        PamSession { handle }
    }

    fn string_item<'s, T>(&'s self) -> Option<String>
    where
        T: pam::items::Item<'s> + std::ops::Deref<Target = &'s CStr>,
    {
        match self.handle.get_item::<T>() {
            Ok(Some(item)) => Some(item.to_string_lossy().into_owned()),
            _ => None,
        }
    }

    fn converse(
        &self,
        style: c_int,
        text: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, PamResultCode> {
        let conv = match self.handle.get_item::<Conv>() {
            Ok(Some(conv)) => conv,
            Ok(None) => return Err(PamResultCode::PAM_CONV_ERR),
            Err(code) => return Err(refusal(code)),
        };
        // Whatever the application's conversation returned, a failure here
        // is a conversation error: never pass its code (e.g. PAM_IGNORE) on.
        let answer = conv
            .send(style, text)
            .map_err(|_| PamResultCode::PAM_CONV_ERR)?;
        Ok(answer.map(|secret| Zeroizing::new(secret.as_bytes().to_vec())))
    }
}

impl Session for PamSession<'_> {
    fn user(&mut self) -> Result<String, PamResultCode> {
        self.handle.get_user(None).map_err(refusal)
    }

    fn service(&self) -> String {
        self.string_item::<Service>()
            .unwrap_or_else(|| "?".to_string())
    }

    fn remote_host(&self) -> Option<String> {
        self.string_item::<RHost>().filter(|host| !host.is_empty())
    }

    fn tty(&self) -> Option<String> {
        self.string_item::<Tty>()
    }

    fn prompt_hidden(&mut self, text: &str) -> Result<Zeroizing<Vec<u8>>, PamResultCode> {
        match self.converse(PAM_PROMPT_ECHO_OFF, text)? {
            Some(answer) => Ok(answer),
            None => Err(PamResultCode::PAM_CONV_ERR),
        }
    }

    fn show_error(&mut self, text: &str) {
        // The outcome is decided already; a client that cannot show the
        // message changes nothing.
        let _ = self.converse(PAM_ERROR_MSG, text);
    }

    fn show_info(&mut self, text: &str) {
        let _ = self.converse(PAM_TEXT_INFO, text);
    }

    fn auth_token(&self) -> Option<Zeroizing<Vec<u8>>> {
        match self.handle.get_item::<AuthTok>() {
            Ok(Some(token)) => Some(Zeroizing::new(token.as_bytes().to_vec())),
            _ => None,
        }
    }

    fn set_auth_token(&mut self, token: &[u8]) -> Result<(), PamResultCode> {
        let token = Zeroizing::new(token.to_vec());
        let c_token = CString::new(token.as_slice()).map_err(|_| PamResultCode::PAM_BUF_ERR)?;
        // libpam copies the string, so our copy can be zeroed afterwards.
        // SAFETY: the handle is the live one libpam gave this call, and
        // c_token is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            pam_set_item(
                &raw mut *self.handle,
                PAM_AUTHTOK,
                c_token.as_ptr().cast::<c_void>(),
            )
        };
        let mut bytes = c_token.into_bytes_with_nul();
        zeroize::Zeroize::zeroize(&mut bytes);
        match PamResultCode::try_from(rc).unwrap_or(PamResultCode::PAM_SYSTEM_ERR) {
            PamResultCode::PAM_SUCCESS => Ok(()),
            code => Err(refusal(code)),
        }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let priority = libc::LOG_AUTHPRIV
            | match level {
                LogLevel::Error => libc::LOG_ERR,
                LogLevel::Warning => libc::LOG_WARNING,
                LogLevel::Notice => libc::LOG_NOTICE,
                LogLevel::Info => libc::LOG_INFO,
                LogLevel::Debug => libc::LOG_DEBUG,
            };
        // pam_syslog's own line, "MODULE(SERVICE:auth): TEXT", with the
        // module's documented name: pam_syslog takes MODULE from the file
        // name, which is "libpam_totp" for a module loaded by its path
        // from a build directory. Only pam_sm_authenticate logs.
        let service = self
            .string_item::<Service>()
            .unwrap_or_else(|| "<unknown>".to_string());
        let line = format!("{LOG_TAG}({service}:auth): {message}");
        // Every log line, here and only here, with its control characters
        // made visible: a newline from a file cannot forge another line.
        // NUL is among them, so the CString cannot fail.
        let Ok(text) = CString::new(crate::text::escape_controls(&line).as_bytes()) else {
            return;
        };
        // SAFETY: the format is the literal "%s" with exactly one
        // NUL-terminated string argument, so no user text is ever read as
        // a format; syslog(3) is what pam_syslog calls, with the same
        // identity and facility.
        unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
    }
}
