//! The database schema, versioned. `init` creates it or upgrades it in one
//! transaction (two hosts running `pam-totp db init` at once are
//! serialized by an advisory lock); running it again changes nothing.
//! The module checks the version with `check_version` and refuses any
//! other (older: run `db init`; newer: upgrade pam-totp).
//!
//! Tables of version 2 (these comments are the reference for
//! pam-totp.toml(5); a hosting panel may provision rows itself). Version 2
//! has version 1's tables; its `secret` seals the whole enrollment (format
//! 2) and its `recovery` hashes are keyed. The upgrade changes no row: `pam-totp db init`
//! then converts the rows of the first format with the key (the module
//! refuses them until then).
//!
//! `pam_totp_meta` -- facts about the schema.
//! - `key`   text, primary key; `schema_version` is the one key so far.
//! - `value` text; for `schema_version`, the version as a decimal number.
//!
//! `pam_totp_enrollment` -- one row per enrolled user.
//! - `user_name`   text, primary key: the login name (uids may differ between hosts).
//! - `kind`        `totp` (default) or `hotp`.
//! - `secret`      bytea: the enrollment sealed with the first key of
//!   `secret_key_file` (AES-256-GCM: `0x02`, 4-byte key id, 12-byte nonce,
//!   ciphertext of the recovery key and the secret, tag; the user name and
//!   every column below but `enrolled_at` are the associated data, see
//!   `sealing`). Never the plain secret.
//! - `algorithm`   `SHA1` (default), `SHA256` or `SHA512`.
//! - `digits`      6 (default) to 8.
//! - `period`      TOTP step in seconds, 1-3600, default 30.
//! - `counter`     HOTP: the next counter value at enrollment, >= 0, default 0.
//! - `recovery`    text[]: recovery codes as keyed hashes,
//!   `hmac-sha256:<salt hex>:<HMAC-SHA256 under the sealed recovery key of
//!   SHA-256(salt || code), hex>`; default empty.
//! - `enrolled_at` timestamptz, default now().
//!
//! `pam_totp_state` -- what the module has seen of a user (a missing row
//! is the same as a row of defaults).
//! - `user_name`       text, primary key.
//! - `version`         bigint, bumped by every update (compare-and-set), default 0.
//! - `last_step_start` bigint: Unix time the last accepted TOTP step began; NULL: none yet.
//! - `last_counter`    bigint: HOTP, the last accepted counter value; NULL: none yet.
//! - `failures`        integer: consecutive wrong codes, default 0.
//! - `locked_until`    bigint: Unix seconds by the database's clock; 0 (default): not locked.
//! - `last_success`    bigint: Unix seconds of the last accepted code; NULL: never.
//! - `used_recovery`   text[]: the hashes of recovery codes already used; default empty.
//!
//! No privilege is granted by `init`: the role in `database_file` needs
//! SELECT, INSERT, UPDATE and DELETE on `pam_totp_enrollment` and
//! `pam_totp_state` and SELECT on `pam_totp_meta`; `init` itself needs a
//! role that may create tables in the schema (on PostgreSQL 15 and later
//! `public` is no longer open to every role: use the database's owner).

use super::client::{Database, Type};
use super::error::DbError;

/// The version this pam-totp reads and writes.
pub const SCHEMA_VERSION: u32 = 2;

/// `MIGRATIONS[n]` takes the schema from version n to n + 1.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1, V2];

const V1: &str = "
CREATE TABLE pam_totp_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE pam_totp_enrollment (
  user_name text PRIMARY KEY,
  kind text NOT NULL DEFAULT 'totp' CHECK (kind IN ('totp', 'hotp')),
  secret bytea NOT NULL,
  algorithm text NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
  digits smallint NOT NULL DEFAULT 6 CHECK (digits BETWEEN 6 AND 8),
  period integer NOT NULL DEFAULT 30 CHECK (period BETWEEN 1 AND 3600),
  counter bigint NOT NULL DEFAULT 0 CHECK (counter >= 0),
  recovery text[] NOT NULL DEFAULT '{}',
  enrolled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE pam_totp_state (
  user_name text PRIMARY KEY,
  version bigint NOT NULL DEFAULT 0,
  last_step_start bigint,
  last_counter bigint,
  failures integer NOT NULL DEFAULT 0,
  locked_until bigint NOT NULL DEFAULT 0,
  last_success bigint,
  used_recovery text[] NOT NULL DEFAULT '{}'
);
";

/// Version 2 seals whole enrollments and keys the recovery hashes: the
/// columns stay, their contents change (converted by `pam-totp db init`
/// and `pam-totp db rekey`, which hold the key). The comments say so to
/// whoever reads the schema.
const V2: &str = "
COMMENT ON COLUMN pam_totp_enrollment.secret IS
  'pam-totp: the enrollment sealed with secret_key_file (format 0x02), every column that decides a login bound to user_name; see pam-totp.toml(5)';
COMMENT ON COLUMN pam_totp_enrollment.recovery IS
  'pam-totp: recovery codes as keyed hashes (hmac-sha256:SALT:MAC), bound by the seal';
";

/// An arbitrary constant: the advisory lock key of `init`.
const INIT_LOCK: i64 = 0x0070_616d_746f_7470; // "pamtotp"

/// What `init` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitReport {
    Created { version: u32 },
    Upgraded { from: u32, to: u32 },
    AlreadyCurrent { version: u32 },
}

impl std::fmt::Display for InitReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitReport::Created { version } => write!(f, "schema created (version {version})"),
            InitReport::Upgraded { from, to } => {
                write!(f, "schema upgraded from version {from} to {to}")
            }
            InitReport::AlreadyCurrent { version } => {
                write!(f, "schema already at version {version}; nothing changed")
            }
        }
    }
}

/// Create the schema, or upgrade it to [`SCHEMA_VERSION`], in one
/// transaction. A newer schema is refused and left alone.
pub fn init(db: &mut Database) -> Result<InitReport, DbError> {
    db.transaction(|db| {
        db.execute_typed(
            "SELECT pg_advisory_xact_lock($1)",
            &[(&INIT_LOCK, Type::INT8)],
        )?;
        let from = match stored_version_in_transaction(db)? {
            None => 0,
            Some(text) => parse_version(&text)?,
        };
        if from > SCHEMA_VERSION {
            return Err(DbError::Schema {
                found: Some(from.to_string()),
                expected: SCHEMA_VERSION,
            });
        }
        if from == SCHEMA_VERSION {
            return Ok(InitReport::AlreadyCurrent { version: from });
        }
        for migration in MIGRATIONS.iter().skip(from as usize) {
            db.batch_execute(migration)?;
        }
        let version = SCHEMA_VERSION.to_string();
        db.execute_typed(
            "INSERT INTO pam_totp_meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[(&version, Type::TEXT)],
        )?;
        Ok(if from == 0 {
            InitReport::Created {
                version: SCHEMA_VERSION,
            }
        } else {
            InitReport::Upgraded {
                from,
                to: SCHEMA_VERSION,
            }
        })
    })
}

/// Check the schema is exactly at [`SCHEMA_VERSION`] (one statement, in
/// a transaction of its own).
pub fn check_version(db: &mut Database) -> Result<u32, DbError> {
    let stored = match db.transaction(stored_version) {
        // 42P01 undefined_table: no schema.
        Err(error) if error.sqlstate() == Some("42P01") => None,
        other => other?,
    };
    match stored {
        None => Err(DbError::Schema {
            found: None,
            expected: SCHEMA_VERSION,
        }),
        Some(text) => match parse_version(&text)? {
            SCHEMA_VERSION => Ok(SCHEMA_VERSION),
            other => Err(DbError::Schema {
                found: Some(other.to_string()),
                expected: SCHEMA_VERSION,
            }),
        },
    }
}

/// The stored version text (empty if the row is missing); an error with
/// SQLSTATE 42P01 when there is no schema at all.
fn stored_version(db: &mut Database) -> Result<Option<String>, DbError> {
    let rows = db.query_typed(
        "SELECT coalesce((SELECT value FROM pam_totp_meta WHERE key = 'schema_version'), '')",
        &[],
    )?;
    Ok(Some(
        rows.first()
            .and_then(|row| row.try_get::<_, String>(0).ok())
            .unwrap_or_default(),
    ))
}

/// Like `stored_version`, without an error inside a transaction when the
/// table is missing (an error would abort the transaction).
fn stored_version_in_transaction(db: &mut Database) -> Result<Option<String>, DbError> {
    let rows = db.simple_query("SELECT to_regclass('pam_totp_meta') IS NOT NULL")?;
    let exists = rows
        .first()
        .and_then(|row| row.first())
        .is_some_and(|value| value.as_deref() == Some("t"));
    if exists { stored_version(db) } else { Ok(None) }
}

fn parse_version(text: &str) -> Result<u32, DbError> {
    text.parse().map_err(|_| DbError::Schema {
        found: Some(if text.is_empty() {
            "(none recorded)".to_string()
        } else {
            text.to_string()
        }),
        expected: SCHEMA_VERSION,
    })
}
