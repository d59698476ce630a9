//! Operating-system services: user accounts, file-system identity, files
//! read and written safely, the clock, the random source, and loading the
//! PostgreSQL store.
//!
//! Every call into libc that needs `unsafe` is wrapped here.
#![allow(unsafe_code)]

pub mod account;
pub mod clock;
pub mod dl;
pub mod files;
pub mod glob;
pub mod host;
pub mod identity;
pub mod local_time;
pub mod paths;
pub mod random;
pub mod syslog;
#[cfg(test)]
pub(crate) mod test_skip;
