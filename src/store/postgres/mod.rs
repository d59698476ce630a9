//! The PostgreSQL database layer for `store = "postgresql"`: the
//! connection string in `database_file` ([`conninfo`]), a synchronous
//! client whose every operation is time-bounded ([`client`]), TLS with
//! rustls ([`tls`]), typed errors ([`error`]) and the versioned schema
//! ([`schema`]). Nothing here runs unless the store is PostgreSQL: a host
//! with `store = "files"` never calls in.

pub mod client;
pub mod conninfo;
pub mod error;
pub mod postgres_store;
pub mod schema;
pub mod sealing;
pub mod tls;

pub use client::{Database, Row, ToSql, Type};
pub use conninfo::{
    AuthMethod, ChannelBinding, ConnInfo, ConnInfoError, Endpoint, LoadBalance, RequireAuth,
    RootCert, SslMode, TargetSession,
};
pub use error::{DbError, TimeoutDuring};
pub use postgres_store::{PostgresStore, open};
pub use schema::{InitReport, SCHEMA_VERSION, check_version, init};
