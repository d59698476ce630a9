//! Operating-system services: user accounts, file-system identity, files
//! read and written safely, the clock and the random source.
//!
//! Every call into libc that needs `unsafe` is wrapped here.

pub mod account;
pub mod clock;
pub mod files;
pub mod host;
pub mod identity;
pub mod local_time;
pub mod random;
pub mod syslog;
