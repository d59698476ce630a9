//! pam_totp.so: the PAM entry points, and nothing else. Everything they do
//! is in the `pam-totp` library (`auth::flow::authenticate`); this crate exists so
//! that the module's shared object exports only `pam_sm_*` and links only
//! the code they reach.

use std::ffi::CStr;

use pam::constants::{PamFlag, PamResultCode};
use pam::module::{PamHandle, PamHooks};
use totp::auth::session::{LogLevel, Session};

struct PamTotp;
pam::pam_hooks!(PamTotp);

impl PamHooks for PamTotp {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        let mut session = totp::auth::pam_session::PamSession::new(pamh);
        let mut text_args = Vec::with_capacity(args.len());
        for arg in &args {
            match arg.to_str() {
                Ok(arg) => text_args.push(arg),
                Err(_) => {
                    session.log(
                        LogLevel::Error,
                        "configuration error: a module argument is not UTF-8",
                    );
                    return PamResultCode::PAM_SERVICE_ERR;
                }
            }
        }
        #[cfg(feature = "test-hooks")]
        test_panic(&text_args);
        totp::auth::flow::authenticate(&mut session, &text_args)
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
