//! pam_totp_postgres.so: pam-totp's PostgreSQL store, which pam_totp.so
//! loads only when the configuration says `store = "postgresql"`. It
//! exports one entry point; the protocol and the store are in the
//! `pam-totp` library (`store::plugin`, `store::postgres`).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};

use pam_totp::store::plugin::{self, Request};

/// The store for the module's configuration (named as `plugin::ENTRY`).
///
/// # Safety
///
/// `build` points at `build_len` readable bytes. If they are this build's
/// identity, `request` points at a live `plugin::Request` of this build,
/// which nothing else uses during the call; otherwise it is not read.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_totp_postgres_store_v1(
    build: *const u8,
    build_len: usize,
    request: *mut c_void,
) -> c_int {
    if build.is_null() || request.is_null() {
        return plugin::OTHER_BUILD;
    }
    // SAFETY: the caller's promise above.
    let build = unsafe { std::slice::from_raw_parts(build, build_len) };
    if build != plugin::BUILD.as_bytes() {
        return plugin::OTHER_BUILD;
    }
    // SAFETY: the same build, so `request` is a `Request` as this code
    // knows it (the caller's promise above).
    let request = unsafe { &mut *request.cast::<Request<'_>>() };
    plugin::serve(request);
    plugin::ANSWERED
}
