//! pam_totp: a Linux-PAM module for RFC 6238 TOTP second factors, and the
//! library shared with the `pam-totp` command.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod answer;
pub mod audit;
pub mod auth;
pub mod config;
pub mod decision;
pub mod enroll_at_login;
pub mod enrollment;
pub mod migrate;
pub mod network;
pub mod new_enrollment;
pub mod otp;
pub mod pam;
pub mod postgres;
pub mod provisioning;
pub mod recovery;
pub mod sealing;
pub mod secret;
pub mod session;
pub mod simple_toml;
pub mod state;
pub mod store;
pub mod system;
pub mod text;

/// Unit tests record their skips the way the integration tests do.
#[cfg(test)]
#[path = "../tests/common/skip.rs"]
pub(crate) mod test_skip;

use std::ffi::CStr;

use ::pam::constants::{PamFlag, PamResultCode};
use ::pam::module::{PamHandle, PamHooks};

struct PamTotp;
::pam::pam_hooks!(PamTotp);

impl PamHooks for PamTotp {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let mut session = crate::pam::PamSession::new(pamh);
        let mut text_args = Vec::with_capacity(args.len());
        for arg in &args {
            match arg.to_str() {
                Ok(arg) => text_args.push(arg),
                Err(_) => {
                    use crate::session::Session;
                    session.log(
                        session::LogLevel::Error,
                        "configuration error: a module argument is not UTF-8",
                    );
                    return PamResultCode::PAM_SERVICE_ERR;
                }
            }
        }
        #[cfg(feature = "test-hooks")]
        test_panic(&text_args);
        auth::authenticate(&mut session, &text_args)
    }

    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}

/// Test builds only: the module argument `test_panic` panics inside
/// `pam_sm_authenticate`, so tests can show a panic stays inside the
/// module (pam-bindings answers PAM_ABORT) and never reads as success.
#[cfg(feature = "test-hooks")]
#[allow(clippy::panic)]
fn test_panic(args: &[&str]) {
    if args.contains(&"test_panic") {
        panic!("test_panic: a deliberate panic inside pam_sm_authenticate");
    }
}
