//! The pure core: one-time codes, the answer typed at the prompt, recovery
//! codes, the enrollment value and its file format, the state value and the
//! decision. No files and no `unsafe` here: apart from the random bytes of
//! new recovery codes, everything is a function of its arguments, so the
//! fuzzers and unit tests reach all of it.
#![forbid(unsafe_code)]

pub mod answer;
pub mod code;
pub mod decision;
pub mod recovery;
pub mod secret;
pub mod state;
