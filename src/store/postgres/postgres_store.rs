//! The PostgreSQL store: one database shared by every host of a fleet
//! (tables in [`crate::store::postgres::schema`]). Enrollments are sealed with
//! the first key in `secret_key_file`, every column that decides whether a
//! code is accepted bound to the user name ([`EnrollmentRow`]); a row that
//! does not verify is refused, never obeyed. Every state change is
//! one conditional statement on the row's `version` (compare-and-set):
//! of any number of concurrent logins on any hosts, exactly one writes
//! each version, and the others run the pure decision again on what it
//! wrote. The read and the conditional write are one transaction; no lock
//! is held across them (after a few lost races for one user the row is
//! locked for one read and write, so a crowd of logins is serialised
//! rather than refused), and the clock is the database's, so lockouts end
//! at the same moment everywhere.
//!
//! Every call is one or more transactions with their own server-side
//! bounds, of unnamed statements (see [`crate::store::postgres::client`]): the
//! store works through PgBouncer in transaction pooling.
//!
//! The connection is opened at the first call and closed by
//! [`Store::release`] (the module releases it before it waits on the user,
//! so no connection is held while a user types: a login opens at most two,
//! one before the prompt and one after) or when the store is dropped.

use std::time::Duration;

use crate::config::Config;
use crate::otp::code::HashAlgorithm;
use crate::otp::recovery::{RecoveryHash, RecoveryKey};
use crate::otp::secret::{SecretFile, TokenKind};
use crate::otp::state::State;
use crate::store::api::{Change, Listed, Removed, Repair, Replacing, Snapshot, Store, Updated};
use crate::store::error::{LoadError, StoreError};
use crate::store::postgres::client::{Connector, Database, FromSqlOwned, Row, Type};
use crate::store::postgres::conninfo::ConnInfo;
use crate::store::postgres::error::{ColumnError, DbError, PostgresError, RowError};
use crate::store::postgres::schema;
use crate::store::postgres::sealing::{self, Binding, KeyId, KeyRing, SealError};
use crate::system::account::Account;

/// Compare-and-set tries before the row is locked instead (each lost try
/// means another login changed the state in between).
const OPTIMISTIC_TRIES: usize = 4;

/// Names standing for users without an enrollment share this many decoy
/// rows (see `decision::decide_without_credential`).
const DECOY_BUCKETS: u16 = u16::MAX;

pub struct PostgresStore {
    config: Config,
    /// Made at the first connection, for the next ones.
    connector: Option<Connector>,
    db: Option<Database>,
    key: Option<KeyRing>,
    /// When the enrollment [`Store::enrollment`] read was saved
    /// (`enrolled_at`, microseconds): an update writes only while that
    /// enrollment is still the row in place.
    enrolled_at: Option<i64>,
}

/// `enrolled_at` as an exact integer (microseconds since 1970).
const ENROLLED_AT: &str = "(extract(epoch FROM enrolled_at) * 1000000)::bigint";

/// The PostgreSQL store for `config`, linked in (see [`crate::store::OpenPostgres`]).
pub fn open(config: &Config) -> Result<Box<dyn Store>, StoreError> {
    Ok(Box::new(PostgresStore::new(config.clone())))
}

impl PostgresStore {
    pub fn new(config: Config) -> PostgresStore {
        PostgresStore {
            config,
            connector: None,
            db: None,
            key: None,
            enrolled_at: None,
        }
    }

    /// The connection, opened (and its schema version checked) on first use.
    pub fn db(&mut self) -> Result<&mut Database, StoreError> {
        let db = match self.db.take() {
            Some(db) => db,
            None => {
                let connector = match self.connector.take() {
                    Some(connector) => connector,
                    None => connector(&self.config)?,
                };
                let connected = connect_through(&connector, &self.config);
                self.connector = Some(connector);
                connected?
            }
        };
        Ok(self.db.insert(db))
    }

    fn key(&mut self) -> Result<&KeyRing, StoreError> {
        let key = match self.key.take() {
            Some(key) => key,
            None => load_keys(&self.config)?,
        };
        Ok(self.key.insert(key))
    }

    /// Read, change, and write with compare-and-set, running `change` again
    /// on the newer state each time another login wrote first. After a few
    /// lost races (many logins at once for one user) the row is locked for
    /// one read and write instead, so a busy user is never refused.
    ///
    /// `enrolled_at`: write only while the user's enrollment is the one
    /// saved then (checked in the writing statement itself), else
    /// [`StoreError::EnrollmentChanged`].
    fn update_row(
        &mut self,
        user: &str,
        enrolled_at: Option<i64>,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        let db = self.db()?;
        for _ in 0..OPTIMISTIC_TRIES {
            // The read and the conditional write in one transaction (a lost
            // race writes nothing).
            let tried = db.transaction(|db| -> Result<Option<Updated>, StoreError> {
                let (state, version, now) = read_state(db, user, false)?;
                let Some(next) = change(&state, now) else {
                    return Ok(Some(stored(state, now)));
                };
                if write_state(db, user, version, &next, enrolled_at)? {
                    return Ok(Some(stored(next, now)));
                }
                // A lost race, unless the enrollment read is gone.
                enrollment_unchanged(db, user, enrolled_at)?;
                Ok(None)
            })?;
            if let Some(updated) = tried {
                return Ok(updated);
            }
            enrollment_unchanged(db, user, enrolled_at)?;
        }
        db.transaction(|db| {
            ensure_state_row(db, user)?;
            locked_update(db, user, enrolled_at, change)
        })
    }

    /// The decoy row for `name`: chosen with a hash keyed by the secret
    /// key, so names cannot be steered into one bucket.
    fn decoy_row(&mut self, name: &str) -> Result<String, StoreError> {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(b"pam-totp decoy\0");
        hash.update(self.key()?.sealing().as_bytes());
        hash.update(name.as_bytes());
        let digest: [u8; 32] = hash.finalize().into();
        let [first, second, ..] = digest;
        let bucket = u16::from_be_bytes([first, second]) % DECOY_BUCKETS;
        // ':' is in no user name (it separates passwd fields).
        Ok(format!("decoy:{bucket:04x}"))
    }
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> StoreError {
        database(error)
    }
}

impl From<ColumnError> for StoreError {
    fn from(error: ColumnError) -> StoreError {
        StoreError::Database(PostgresError::Column(error))
    }
}

/// Inside a transaction: make sure `user` has a state row, to lock.
fn ensure_state_row(db: &mut Database, user: &str) -> Result<(), StoreError> {
    db.execute_typed(
        "INSERT INTO pam_totp_state (user_name) VALUES ($1) ON CONFLICT (user_name) DO NOTHING",
        &[(&user, Type::TEXT)],
    )?;
    Ok(())
}

/// `user`'s enrollment row, if any (the same statement for every name).
fn enrollment_row(db: &mut Database, user: &str) -> Result<Option<Row>, DbError> {
    db.transaction(|db| {
        db.query_typed_opt(
            &format!(
                "SELECT {ENROLLMENT_COLUMNS}, {ENROLLED_AT} AS stamp \
                 FROM pam_totp_enrollment WHERE user_name = $1"
            ),
            &[(&user, Type::TEXT)],
        )
    })
}

/// The connector for the string in `database_file`.
fn connector(config: &Config) -> Result<Connector, StoreError> {
    let info = ConnInfo::load(&config.database_file).map_err(|error| {
        StoreError::Database(PostgresError::DatabaseFile {
            path: config.database_file.clone(),
            error,
        })
    })?;
    Connector::new(info).map_err(database)
}

/// A new connection through `connector`, its schema version checked.
fn connect_through(connector: &Connector, config: &Config) -> Result<Database, StoreError> {
    let timeout = Duration::from_secs(config.database_timeout);
    let mut db = connector.connect(timeout).map_err(database)?;
    schema::check_version(&mut db).map_err(database)?;
    Ok(db)
}

/// What an update returns: the state as stored now.
fn stored(state: State, now: u64) -> Updated {
    Updated {
        state,
        now,
        repaired: false,
    }
}

/// Inside a transaction, with the row present: lock it, change, write.
fn locked_update(
    db: &mut Database,
    user: &str,
    enrolled_at: Option<i64>,
    change: &mut Change<'_>,
) -> Result<Updated, StoreError> {
    let (state, version, now) = read_state(db, user, true)?;
    let Some(next) = change(&state, now) else {
        return Ok(stored(state, now));
    };
    match write_state(db, user, version, &next, enrolled_at)? {
        true => Ok(stored(next, now)),
        false => enrollment_unchanged(db, user, enrolled_at).and_then(|()| {
            Err(StoreError::Database(PostgresError::StateRowChanged {
                user: user.to_string(),
            }))
        }),
    }
}

/// After a write that did not happen: [`StoreError::EnrollmentChanged`] if
/// that is why (the enrollment read is no longer the row in place).
fn enrollment_unchanged(
    db: &mut Database,
    user: &str,
    enrolled_at: Option<i64>,
) -> Result<(), StoreError> {
    let Some(expected) = enrolled_at else {
        return Ok(());
    };
    let row = db
        .query_typed_opt(
            &format!("SELECT {ENROLLED_AT} AS stamp FROM pam_totp_enrollment WHERE user_name = $1"),
            &[(&user, Type::TEXT)],
        )
        .map_err(database)?;
    match row {
        Some(row) if get::<i64>(&row, "stamp")? == expected => Ok(()),
        _ => Err(StoreError::EnrollmentChanged),
    }
}

/// Read `user`'s state row (defaults if there is none), its version
/// (`None`: no row yet) and the database's time; `lock`: FOR UPDATE (the
/// row must exist).
fn read_state(
    db: &mut Database,
    user: &str,
    lock: bool,
) -> Result<(State, Option<i64>, u64), StoreError> {
    const COLUMNS: &str = "s.version, s.last_step_start, s.last_counter, s.failures, \
        s.locked_until, s.last_success, s.used_recovery, extract(epoch FROM now())::bigint AS now";
    let sql = match lock {
        false => format!(
            "SELECT {COLUMNS} FROM (SELECT 1) AS one LEFT JOIN pam_totp_state s ON s.user_name = $1"
        ),
        true => format!("SELECT {COLUMNS} FROM pam_totp_state s WHERE s.user_name = $1 FOR UPDATE"),
    };
    let row = db
        .query_typed_opt(&sql, &[(&user, Type::TEXT)])
        .map_err(database)?
        .ok_or_else(|| {
            StoreError::Database(PostgresError::NoStateRow {
                user: user.to_string(),
            })
        })?;
    let now = unsigned(get::<i64>(&row, "now")?);
    let Some(version) = get::<Option<i64>>(&row, "version")? else {
        return Ok((State::default(), None, now));
    };
    Ok((state_of(&row)?, Some(version), now))
}

/// The state columns of a `pam_totp_state` row.
fn state_of(row: &Row) -> Result<State, StoreError> {
    Ok(State {
        last_step_start: get::<Option<i64>>(row, "last_step_start")?.map(unsigned),
        last_counter: get::<Option<i64>>(row, "last_counter")?.map(unsigned),
        failures: u32::try_from(get::<i32>(row, "failures")?).unwrap_or(0),
        locked_until: unsigned(get::<i64>(row, "locked_until")?),
        last_success: get::<Option<i64>>(row, "last_success")?.map(unsigned),
        used_recovery: get::<Vec<String>>(row, "used_recovery")?,
    })
}

/// Write `next` if the row is still at `version` (one conditional
/// statement); `false` if another login changed it first.
/// With `enrolled_at`, only while the enrollment saved then is in place.
fn write_state(
    db: &mut Database,
    user: &str,
    version: Option<i64>,
    next: &State,
    enrolled_at: Option<i64>,
) -> Result<bool, StoreError> {
    let last_step_start = next.last_step_start.map(signed);
    let last_counter = next.last_counter.map(signed);
    let failures = i32::try_from(next.failures).unwrap_or(i32::MAX);
    let locked_until = signed(next.locked_until);
    let last_success = next.last_success.map(signed);
    let used = &next.used_recovery;
    let written = match version {
        // The first record of this user: an insert that a concurrent
        // first record makes a no-op (then this login decides again).
        None => db.execute_typed(
            &format!(
                "INSERT INTO pam_totp_state (user_name, version, last_step_start, last_counter, \
                 failures, locked_until, last_success, used_recovery) \
                 SELECT $1::text, 1, $2::bigint, $3::bigint, $4::integer, $5::bigint, $6::bigint, \
                 $7::text[] WHERE $8::bigint IS NULL OR EXISTS (SELECT 1 FROM pam_totp_enrollment \
                 WHERE user_name = $1 AND {ENROLLED_AT} = $8) \
                 ON CONFLICT (user_name) DO NOTHING"
            ),
            &[
                (&user, Type::TEXT),
                (&last_step_start, Type::INT8),
                (&last_counter, Type::INT8),
                (&failures, Type::INT4),
                (&locked_until, Type::INT8),
                (&last_success, Type::INT8),
                (used, Type::TEXT_ARRAY),
                (&enrolled_at, Type::INT8),
            ],
        ),
        Some(version) => db.execute_typed(
            &format!(
                "UPDATE pam_totp_state SET version = version + 1, last_step_start = $3, \
                 last_counter = $4, failures = $5, locked_until = $6, last_success = $7, \
                 used_recovery = $8 WHERE user_name = $1 AND version = $2 \
                 AND ($9::bigint IS NULL OR EXISTS (SELECT 1 FROM pam_totp_enrollment \
                 WHERE user_name = $1 AND {ENROLLED_AT} = $9))"
            ),
            &[
                (&user, Type::TEXT),
                (&version, Type::INT8),
                (&last_step_start, Type::INT8),
                (&last_counter, Type::INT8),
                (&failures, Type::INT4),
                (&locked_until, Type::INT8),
                (&last_success, Type::INT8),
                (used, Type::TEXT_ARRAY),
                (&enrolled_at, Type::INT8),
            ],
        ),
    }
    .map_err(database)?;
    Ok(written == 1)
}

fn database(error: DbError) -> StoreError {
    StoreError::Database(PostgresError::Db(error))
}

fn get<T: FromSqlOwned>(row: &Row, column: &str) -> Result<T, ColumnError> {
    row.try_get::<_, T>(column).map_err(|error| ColumnError {
        column: column.to_string(),
        reason: error.to_string(),
    })
}

/// Database integers are signed; times and counters never negative.
fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError> {
        let user = account.name.as_str();
        let db = self.db()?;
        let row = enrollment_row(db, user).map_err(database)?;
        let Some(row) = row else {
            return Err(LoadError::NotEnrolled(std::path::PathBuf::from(format!(
                "database row pam_totp_enrollment.{user}"
            ))));
        };
        let bad = |error: RowError| {
            LoadError::Store(StoreError::Database(PostgresError::Enrollment {
                user: user.to_string(),
                error,
            }))
        };
        let field = |error: ColumnError| bad(RowError::Read(error));
        self.enrolled_at = Some(get::<i64>(&row, "stamp").map_err(field)?);
        let stored = EnrollmentRow::from_row(&row).map_err(field)?;
        let ring = self.key()?;
        stored.open(ring, user).map(|(file, _)| file).map_err(bad)
    }

    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError> {
        let user = account.name.as_str();
        self.db()?
            .transaction(|db| {
                db.query_typed_opt(
                    "SELECT 1 FROM pam_totp_enrollment WHERE user_name = $1",
                    &[(&user, Type::TEXT)],
                )
            })
            .map(|row| row.is_some())
            .map_err(|error| LoadError::Store(database(error)))
    }

    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError> {
        let (state, _, now) = self
            .db()?
            .transaction(|db| read_state(db, &account.name, false))?;
        Ok(Snapshot { state, now })
    }

    fn update(
        &mut self,
        account: &Account,
        _repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        // Typed columns cannot be half written: there is nothing to repair.
        let enrolled_at = self.enrolled_at;
        self.update_row(&account.name, enrolled_at, change)
    }

    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        _repair: Repair,
    ) -> Result<String, StoreError> {
        let user = account.name.as_str();
        let (row, keyed) = seal_row(self.key()?, user, secret)?;
        // What is saved now is no longer the enrollment read before.
        self.enrolled_at = None;
        // A first enrollment: the first saved wins (the row count says).
        let on_conflict = match replacing {
            Replacing::NoEnrollment => "DO NOTHING",
            _ => {
                "DO UPDATE SET kind = $2, secret = $3, algorithm = $4, digits = $5, \
                  period = $6, counter = $7, recovery = $8, enrolled_at = now()"
            }
        };
        // The enrollment and what the state forgets of the old one: one
        // transaction.
        self.db()?.transaction(|db| -> Result<(), StoreError> {
            let written = db.execute_typed(
                &format!(
                    "INSERT INTO pam_totp_enrollment (user_name, kind, secret, algorithm, digits, \
                     period, counter, recovery, enrolled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) \
                     ON CONFLICT (user_name) {on_conflict}"
                ),
                &[
                    (&user, Type::TEXT),
                    (&row.kind, Type::TEXT),
                    (&row.secret, Type::BYTEA),
                    (&row.algorithm, Type::TEXT),
                    (&row.digits, Type::INT2),
                    (&row.period, Type::INT4),
                    (&row.counter, Type::INT8),
                    (&row.recovery, Type::TEXT_ARRAY),
                ],
            )?;
            if written == 0 {
                return Err(StoreError::AlreadyEnrolled);
            }
            if replacing != Replacing::Nothing {
                ensure_state_row(db, user)?;
                locked_update(db, user, None, &mut |state, _| {
                    Some(crate::store::api::forget(state, replacing, &keyed))
                })?;
            }
            Ok(())
        })?;
        Ok("the database".to_string())
    }

    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError> {
        self.enrolled_at = None;
        let user = account.name.as_str();
        let (enrollment, state) = self
            .db()?
            .transaction(|db| {
                let enrollment = db.execute_typed(
                    "DELETE FROM pam_totp_enrollment WHERE user_name = $1",
                    &[(&user, Type::TEXT)],
                )?;
                let state = db.execute_typed(
                    "DELETE FROM pam_totp_state WHERE user_name = $1",
                    &[(&user, Type::TEXT)],
                )?;
                Ok((enrollment, state))
            })
            .map_err(database)?;
        Ok(Removed {
            enrollment: (enrollment > 0).then(|| "the database's enrollment".to_string()),
            state: state > 0,
        })
    }

    fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
        let rows = self
            .db()?
            .transaction(|db| {
                db.query_typed(
                    "SELECT user_name, e.kind, s.version, s.last_step_start, s.last_counter, \
                     s.failures, s.locked_until, s.last_success, s.used_recovery \
                     FROM pam_totp_enrollment e FULL JOIN pam_totp_state s USING (user_name) \
                     WHERE user_name NOT LIKE 'decoy:%' ORDER BY user_name",
                    &[],
                )
            })
            .map_err(database)?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind = get::<Option<String>>(row, "kind")?.map(|kind| kind.to_ascii_uppercase());
            let state = match get::<Option<i64>>(row, "version")? {
                None => None,
                Some(_) => Some(state_of(row)?),
            };
            listed.push(Listed {
                user: get(row, "user_name")?,
                kind,
                state,
            });
        }
        Ok(listed)
    }

    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError> {
        let row = self.decoy_row(name)?;
        let (state, _, now) = self.db()?.transaction(|db| read_state(db, &row, false))?;
        Ok(Snapshot { state, now })
    }

    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError> {
        let row = self.decoy_row(name)?;
        self.update_row(&row, None, change)
    }

    fn release(&mut self) {
        // Dropping the connection closes it (see `Database`'s drop).
        self.db = None;
    }

    fn look_up_unknown(&mut self, name: &str) -> Result<(), StoreError> {
        enrollment_row(self.db()?, name)?;
        Ok(())
    }
}

/// The keys of `secret_key_file`.
pub fn load_keys(config: &Config) -> Result<KeyRing, StoreError> {
    KeyRing::load(&config.secret_key_file)
        .map_err(|error| StoreError::Database(PostgresError::KeyFile(error)))
}

/// The columns of a `pam_totp_enrollment` row that [`EnrollmentRow`] reads.
pub const ENROLLMENT_COLUMNS: &str = "kind, secret, algorithm, digits, period, counter, recovery";

/// One `pam_totp_enrollment` row as stored. Only [`EnrollmentRow::open`]
/// turns it into an enrollment: with the key its seal names, and only if
/// its columns are the ones sealed for its user.
pub struct EnrollmentRow {
    pub kind: String,
    pub secret: Vec<u8>,
    pub algorithm: String,
    pub digits: i16,
    pub period: i32,
    pub counter: i64,
    pub recovery: Vec<String>,
}

impl EnrollmentRow {
    /// The row from a query selecting [`ENROLLMENT_COLUMNS`].
    pub fn from_row(row: &Row) -> Result<EnrollmentRow, ColumnError> {
        Ok(EnrollmentRow {
            kind: get(row, "kind")?,
            secret: get(row, "secret")?,
            algorithm: get(row, "algorithm")?,
            digits: get(row, "digits")?,
            period: get(row, "period")?,
            counter: get(row, "counter")?,
            recovery: get(row, "recovery")?,
        })
    }

    /// What the seal binds for `user`.
    pub fn binding<'a>(&'a self, user: &'a str) -> Binding<'a> {
        Binding {
            user,
            kind: &self.kind,
            algorithm: &self.algorithm,
            digits: self.digits,
            period: self.period,
            counter: self.counter,
            recovery: &self.recovery,
        }
    }

    /// The enrollment, if the row verifies for `user` with a key of
    /// `ring`, and the key that sealed it.
    pub fn open(&self, ring: &KeyRing, user: &str) -> Result<(SecretFile, KeyId), RowError> {
        let opened = sealing::open_enrollment(ring, &self.binding(user), &self.secret)
            .map_err(RowError::Seal)?;
        let bad = |what: &str| RowError::Column(what.to_string());
        let kind = match self.kind.as_str() {
            "totp" => TokenKind::Totp,
            "hotp" => TokenKind::Hotp {
                counter: u64::try_from(self.counter).map_err(|_| bad("a negative counter"))?,
            },
            _ => return Err(bad("an unknown kind")),
        };
        let algorithm =
            HashAlgorithm::from_name(&self.algorithm).ok_or_else(|| bad("an unknown algorithm"))?;
        let digits = u8::try_from(self.digits).map_err(|_| bad("bad digits"))?;
        let period = u64::try_from(self.period).map_err(|_| bad("a bad period"))?;
        let recovery = self
            .recovery
            .iter()
            .map(|text| RecoveryHash::parse_keyed(text, &opened.recovery_key))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a malformed recovery hash"))?;
        let file = SecretFile {
            secret: opened.secret,
            algorithm,
            digits,
            period,
            recovery,
            kind,
        };
        Ok((file, opened.key))
    }
}

/// What `pam-totp db rekey` did.
#[derive(Debug, Default)]
pub struct RekeyReport {
    /// The key every row is sealed with now (the first of the file).
    pub key: Option<KeyId>,
    /// Rows re-sealed with it (including `converted`).
    pub resealed: usize,
    /// Of those, rows of the first format converted.
    pub converted: usize,
    /// Rows that used it already.
    pub current: usize,
    /// Rows left as they were: user and why.
    pub left: Vec<(String, String)>,
}

/// Seal `file` for `user` with the ring's first key: its recovery hashes
/// keyed (with the key they have, else a new one). The row's columns and
/// the keyed hashes.
fn seal_row(
    ring: &KeyRing,
    user: &str,
    file: &SecretFile,
) -> Result<(EnrollmentRow, Vec<RecoveryHash>), StoreError> {
    let recovery_key = match file.recovery.iter().find_map(RecoveryHash::key) {
        Some(key) => key.clone(),
        None => RecoveryKey::random()
            .map_err(|error| StoreError::Database(PostgresError::Random(error)))?,
    };
    let keyed = file
        .recovery
        .iter()
        .map(|hash| hash.keyed(&recovery_key))
        .collect::<Option<Vec<_>>>()
        .ok_or(StoreError::Database(PostgresError::MixedRecovery))?;
    let (kind, counter) = match file.kind {
        TokenKind::Totp => ("totp", 0),
        TokenKind::Hotp { counter } => ("hotp", signed(counter)),
    };
    let mut row = EnrollmentRow {
        kind: kind.to_string(),
        secret: Vec::new(),
        algorithm: file.algorithm.name().to_string(),
        digits: i16::from(file.digits),
        period: i32::try_from(file.period).unwrap_or(i32::MAX),
        counter,
        recovery: keyed.iter().map(RecoveryHash::encode).collect(),
    };
    row.secret = sealing::seal_enrollment(ring, &row.binding(user), &recovery_key, &file.secret)
        .map_err(|error| StoreError::Database(PostgresError::Seal(error)))?;
    Ok((row, keyed))
}

/// Re-seal every enrollment with the first key of `ring` (rows of the
/// first format are converted: their columns are taken as they are, and
/// recovery codes already used are dropped). Each row is written by one
/// conditional statement, so logins and enrollments on other hosts go on.
pub fn rekey(db: &mut Database, ring: &KeyRing) -> Result<RekeyReport, StoreError> {
    let first = ring.sealing().id();
    let mut report = RekeyReport {
        key: Some(first),
        ..RekeyReport::default()
    };
    let rows = db
        .transaction(|db| {
            db.query_typed(
                &format!(
                    "SELECT user_name, {ENROLLMENT_COLUMNS}, \
                     coalesce(s.used_recovery, '{{}}') AS used_recovery \
                     FROM pam_totp_enrollment e LEFT JOIN pam_totp_state s USING (user_name) \
                     ORDER BY user_name"
                ),
                &[],
            )
        })
        .map_err(database)?;
    for row in &rows {
        let user: String = get(row, "user_name")?;
        let stored = EnrollmentRow::from_row(row)?;
        let (file, converted) = match stored.open(ring, &user) {
            Ok((_, key)) if key == first => {
                report.current += 1;
                continue;
            }
            Ok((file, _)) => (file, false),
            Err(RowError::Seal(SealError::OldFormat)) => {
                let used: Vec<String> = get(row, "used_recovery")?;
                match convert_v1(ring, &user, &stored, &used) {
                    Ok(file) => (file, true),
                    Err(why) => {
                        report.left.push((user, why));
                        continue;
                    }
                }
            }
            Err(error) => {
                report.left.push((user, error.to_string()));
                continue;
            }
        };
        let (next, _) = seal_row(ring, &user, &file)?;
        let written = db
            .transaction(|db| {
                db.execute_typed(
                    "UPDATE pam_totp_enrollment SET secret = $2, recovery = $3 \
                     WHERE user_name = $1 AND secret = $4",
                    &[
                        (&user, Type::TEXT),
                        (&next.secret, Type::BYTEA),
                        (&next.recovery, Type::TEXT_ARRAY),
                        (&stored.secret, Type::BYTEA),
                    ],
                )
            })
            .map_err(database)?;
        if written == 1 {
            report.resealed += 1;
            report.converted += usize::from(converted);
        } else {
            report.left.push((
                user,
                "enrolled again while this ran; run `pam-totp db rekey` again".into(),
            ));
        }
    }
    Ok(report)
}

/// A first-format row as an enrollment, its columns taken as stored, its
/// used recovery codes dropped (their ids change once keyed).
fn convert_v1(
    ring: &KeyRing,
    user: &str,
    stored: &EnrollmentRow,
    used: &[String],
) -> Result<SecretFile, String> {
    let (secret, _) = sealing::open_v1(ring, user, &stored.secret)
        .map_err(|error| format!("first format: {error}"))?;
    let mut recovery = Vec::with_capacity(stored.recovery.len());
    for text in &stored.recovery {
        let hash = RecoveryHash::parse(text)
            .ok_or_else(|| "first format: a malformed recovery hash".to_string())?;
        if !used.contains(&hash.id()) {
            recovery.push(hash);
        }
    }
    let kind = match stored.kind.as_str() {
        "hotp" => TokenKind::Hotp {
            counter: unsigned(stored.counter),
        },
        _ => TokenKind::Totp,
    };
    Ok(SecretFile {
        secret,
        algorithm: HashAlgorithm::from_name(&stored.algorithm)
            .ok_or_else(|| "first format: an unknown algorithm".to_string())?,
        digits: u8::try_from(stored.digits).map_err(|_| "first format: bad digits")?,
        period: u64::try_from(stored.period).map_err(|_| "first format: bad period")?,
        recovery,
        kind,
    })
}
