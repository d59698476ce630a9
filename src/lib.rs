//! pam-totp: what the PAM module (`module/`, pam_totp.so), its PostgreSQL
//! store (`postgres-store/`, pam_totp_postgres.so) and the `pam-totp`
//! command share. The module's work starts at [`auth::flow::authenticate`].
//!
//! The folders are layers; each imports only from the layers below it, and
//! no two modules import each other (`unsafe` is allowed only in
//! [`system`] and [`auth::pam_session`]):
//!
//! - [`auth`]: one PAM authentication (the flow, the session port, the PAM
//!   adapter, enrollment at login);
//! - [`check`] and [`import`]: what `pam-totp check` examines, and the
//!   google-authenticator and pam_oath parsers of `pam-totp import`;
//! - [`enroll`]: making and showing a new enrollment (secret, URI, QR);
//! - [`store`]: the `Store` trait, the files store and the PostgreSQL store;
//! - [`otp`]: the pure core (codes, answers, recovery codes, the secret
//!   file's format, the state value, the decision): no files, no `unsafe`;
//! - [`config`]: the configuration and its parser;
//! - [`system`] and [`text`]: OS services with the path rules the module
//!   applies, and escaping, plurals, the small TOML reader, the encodings.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod auth;
pub mod check;
pub mod config;
pub mod enroll;
pub mod import;
pub mod otp;
pub mod store;
pub mod system;
pub mod text;
