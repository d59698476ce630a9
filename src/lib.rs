//! pam-totp: what the PAM module (`module/`, pam_totp.so), its PostgreSQL
//! store (`postgres-store/`, pam_totp_postgres.so) and the `pam-totp`
//! command share. The module's work starts at [`auth::authenticate`].
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod answer;
pub mod audit;
pub mod auth;
pub mod config;
pub mod connection_mark;
pub mod decision;
pub mod enroll_at_login;
pub mod enrollment;
pub mod migrate;
pub mod network;
pub mod new_enrollment;
pub mod otp;
pub mod pam;
pub mod postgres;
pub mod provisioning;
pub mod recovery;
pub mod sealing;
pub mod secret;
pub mod self_service;
pub mod session;
pub mod simple_toml;
pub mod state;
pub mod store;
pub mod system;
pub mod text;

/// Unit tests record their skips the way the integration tests do.
#[cfg(test)]
#[path = "../tests/common/skip.rs"]
pub(crate) mod test_skip;
