//! The wall clock, in whole seconds since the Unix epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, or `None` if the clock is set before 1970
/// (the module then refuses rather than guess).
pub fn now() -> Option<u64> {
    #[cfg(feature = "test-hooks")]
    if let Some(fake) = test_clock() {
        return Some(fake);
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Test builds only (cargo feature `test-hooks`, never in a package): the
/// file named by `PAM_TOTP_TEST_CLOCK_FILE` holds the current time, so
/// tests can drive lockouts without sleeping.
#[cfg(feature = "test-hooks")]
fn test_clock() -> Option<u64> {
    let path = std::env::var_os("PAM_TOTP_TEST_CLOCK_FILE")?;
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
