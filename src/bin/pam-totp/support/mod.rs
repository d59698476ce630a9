//! What several subcommands share: which user a command acts on
//! ([`target`]), the store as the command uses it ([`state_access`]) and
//! how `--qr` draws ([`qr`]).

pub mod qr;
pub mod state_access;
pub mod target;
