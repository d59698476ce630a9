//! The wall clock, in whole seconds since the Unix epoch.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, or `None` if the clock is set before 1970
/// (the module then refuses rather than guess).
///
/// `state_dir` is only consulted by test builds (cargo feature
/// `test-hooks`, never packaged): a file `test-clock` there holds the
/// current time, so tests can drive lockouts without sleeping. The state
/// directory is root's, so even such a build takes the clock only from root.
pub fn now(state_dir: &Path) -> Option<u64> {
    #[cfg(feature = "test-hooks")]
    if let Some(fake) = test_clock(state_dir) {
        return Some(fake);
    }
    let _ = state_dir;
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

#[cfg(feature = "test-hooks")]
fn test_clock(state_dir: &Path) -> Option<u64> {
    std::fs::read_to_string(state_dir.join("test-clock"))
        .ok()?
        .trim()
        .parse()
        .ok()
}
