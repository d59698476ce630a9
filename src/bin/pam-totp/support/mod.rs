//! What several subcommands share: the error they end with ([`Failure`]),
//! the log line of a change ([`log_change`]), which user a command acts on
//! ([`target`]), the store as the command uses it ([`state_access`]), how
//! `--qr` draws ([`qr`]), output ([`output`]) and the save sequence of
//! both imports ([`save`]). Nothing here imports a subcommand.

pub mod failure;
pub mod log;
pub mod output;
pub mod qr;
pub mod save;
pub mod state_access;
pub mod target;

pub use failure::Failure;
pub use log::log_change;
