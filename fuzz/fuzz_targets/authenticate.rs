//! The whole authentication: see fuzz/common/authenticate.rs for the input
//! and what is checked (shared with tests/fuzz_seeds.rs, which replays the
//! seeds in `make test`). At exit it prints how many inputs ran and how
//! many successes were checked (accepted, and refused when replayed).
#![no_main]

#[path = "../common/authenticate.rs"]
mod authenticate;

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static authenticate::Fixture {
    static FIXTURE: OnceLock<authenticate::Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // libFuzzer ends with exit(): no destructor removes the fixture.
        // SAFETY: registers a plain extern "C" function with no captures.
        unsafe { libc::atexit(at_exit) };
        authenticate::Fixture::new()
    })
}

extern "C" fn at_exit() {
    eprintln!(
        "authenticate: {} inputs run, {} successes checked",
        authenticate::INPUTS.load(Ordering::Relaxed),
        authenticate::SUCCESSES.load(Ordering::Relaxed)
    );
    if let Some(fixture) = FIXTURE_PATH.get() {
        let _ = std::fs::remove_dir_all(fixture);
    }
}

static FIXTURE_PATH: OnceLock<std::path::PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    FIXTURE_PATH.get_or_init(|| fixture.path().to_path_buf());
    authenticate::check(fixture, data);
});
