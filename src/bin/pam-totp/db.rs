//! `pam-totp db init` and `pam-totp db import`: set up the PostgreSQL
//! store, and move a host's files store into it. `pam-totp db add-key`
//! and `pam-totp db rekey`: change the key of `secret_key_file` while the
//! fleet logs in.

use clap::{Args, Subcommand};
use pam_totp::config::{Config, StoreKind};
use pam_totp::otp::state::State;
use pam_totp::store::LoadError;
use pam_totp::store::files::FilesStore;
use pam_totp::store::postgres::postgres_store::{self, PostgresStore, RekeyReport};
use pam_totp::store::postgres::sealing::{KeyError, KeyRing, SecretKey};
use pam_totp::store::postgres::{self, ConnInfo, Database};
use pam_totp::store::{Repair, Replacing, Store};
use pam_totp::system::account;

use crate::support::Failure;
use crate::support::state_access;

#[derive(Args)]
#[command(about = "Set up the PostgreSQL store (root only)")]
pub struct DbArgs {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create or upgrade the schema (idempotent) and create secret_key_file if it is missing
    Init,
    /// Copy enrollments and state from this host's files store into the database
    Import(ImportArgs),
    /// Put a new key first in secret_key_file (it seals; the others only open)
    AddKey,
    /// Re-seal every enrollment with the first key of secret_key_file
    Rekey,
}

#[derive(Args)]
struct ImportArgs {
    /// Copy only this user
    #[arg(long, value_name = "U")]
    user: Option<String>,
}

pub fn run(config: &Config, args: DbArgs) -> Result<(), Failure> {
    if !state_access::may_use_state() {
        return Err(Failure(
            "only root can set up the database store; run it with sudo".into(),
        ));
    }
    match args.command {
        DbCommand::Init => init(config),
        DbCommand::Import(args) => import(config, args.user.as_deref()),
        DbCommand::AddKey => add_key(config),
        DbCommand::Rekey => rekey(config),
    }
}

fn connect(config: &Config) -> Result<Database, Failure> {
    let info = ConnInfo::load(&config.database_file).map_err(|error| {
        Failure(format!(
            "database_file {}: {error}",
            config.database_file.display()
        ))
    })?;
    let timeout = std::time::Duration::from_secs(config.database_timeout);
    Database::connect(&info, timeout).map_err(|error| Failure(error.to_string()))
}

fn init(config: &Config) -> Result<(), Failure> {
    let mut db = connect(config)?;
    let report = postgres::init(&mut db).map_err(|error| Failure(error.to_string()))?;
    println!("Database {}: {report}.", db.host());
    let key_file = &config.secret_key_file;
    let ring = match KeyRing::load(key_file) {
        Ok(ring) => {
            println!(
                "{} is in place; every host needs this same file.",
                key_file.display()
            );
            ring
        }
        Err(KeyError::File { .. }) if !key_file.exists() => {
            let key = SecretKey::create(key_file).map_err(|error| Failure(error.to_string()))?;
            println!(
                "Created {} (32 random bytes, root, mode 0600). Copy it unchanged to every host of the fleet (same path, owner root, mode 0600): a host with another key cannot read the secrets.",
                key_file.display()
            );
            KeyRing::single(key)
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    // Rows of the first format are converted now (the module refuses them),
    // and rows of other keys re-sealed with the first, as `db rekey` does.
    let report = postgres_store::rekey(&mut db, &ring)?;
    if report.resealed > 0 || !report.left.is_empty() {
        print_rekey(&report);
    }
    if config.store != StoreKind::Postgresql {
        println!(
            "This host still uses store = \"files\": run `pam-totp db import`, then set store = \"postgresql\" in the configuration."
        );
    }
    Ok(())
}

/// A new key, first in `secret_key_file`; the keys there stay, after it.
fn add_key(config: &Config) -> Result<(), Failure> {
    let path = &config.secret_key_file;
    let ring = KeyRing::load(path).map_err(|error| Failure(error.to_string()))?;
    let key = SecretKey::random()
        .map_err(|error| Failure(format!("the random source failed: {error}")))?;
    let text = ring.text_with_new_first(&key);
    pam_totp::system::files::replace_atomically(path, text.as_bytes(), None)
        .map_err(|error| Failure(format!("cannot write {}: {error}", path.display())))?;
    println!(
        "Added key {} first in {}: it seals from now on on this host; the keys after it only open.",
        key.id(),
        path.display()
    );
    println!(
        "Next: copy the file unchanged to every host of the fleet (enrollments made on a host with the new key cannot be read by a host without it), then run `pam-totp db rekey` once, then delete the old keys' lines and copy the file to every host again."
    );
    Ok(())
}

fn rekey(config: &Config) -> Result<(), Failure> {
    let ring = postgres_store::load_keys(config)?;
    let mut db = connect(config)?;
    postgres::check_version(&mut db).map_err(|error| Failure(error.to_string()))?;
    let report = postgres_store::rekey(&mut db, &ring)?;
    print_rekey(&report);
    if report.left.is_empty() {
        Ok(())
    } else {
        Err(Failure(format!(
            "{} still {} another key or could not be re-sealed; keep the old keys in secret_key_file until they are fixed",
            pam_totp::text::plural(report.left.len() as u64, "enrollment"),
            if report.left.len() == 1 {
                "uses"
            } else {
                "use"
            }
        )))
    }
}

fn print_rekey(report: &RekeyReport) {
    let key = report.key.map(|key| key.to_string()).unwrap_or_default();
    println!(
        "Re-sealed {} with key {key} ({} converted from the first format); {} used it already.",
        pam_totp::text::plural(report.resealed as u64, "enrollment"),
        report.converted,
        report.current
    );
    for (user, why) in &report.left {
        println!("{user}: not re-sealed, {why}.");
    }
    if report.left.is_empty() {
        println!(
            "Every enrollment uses key {key}: the other keys can be deleted from secret_key_file on every host."
        );
    } else {
        println!(
            "{} still {} another key.",
            pam_totp::text::plural(report.left.len() as u64, "enrollment"),
            if report.left.len() == 1 {
                "uses"
            } else {
                "use"
            }
        );
    }
}

fn import(config: &Config, only: Option<&str>) -> Result<(), Failure> {
    let mut files_config = config.clone();
    files_config.store = StoreKind::Files;
    let mut files = FilesStore::for_command(files_config, account::effective_uid());
    let mut database = PostgresStore::new(config.clone());
    database.db()?;
    let names: Vec<String> = match only {
        Some(name) => vec![name.to_string()],
        None => files
            .list()
            .map_err(|error| Failure(error.to_string()))?
            .into_iter()
            .map(|listed| listed.user)
            .collect(),
    };
    if names.is_empty() {
        println!("The files store of this host knows no enrolled user; nothing to copy.");
        return Ok(());
    }
    let (mut copied, mut skipped) = (0, 0);
    for name in names {
        match import_one(&mut files, &mut database, &name) {
            Ok(()) => {
                copied += 1;
                println!("{name}: copied (secret, used codes, failures and lockout).");
            }
            Err(Failure(why)) => {
                skipped += 1;
                println!("{name}: skipped, {why}.");
            }
        }
    }
    println!("Copied {copied}, skipped {skipped}.");
    Ok(())
}

fn import_one(
    files: &mut FilesStore,
    database: &mut PostgresStore,
    name: &str,
) -> Result<(), Failure> {
    let account = account::lookup_user(name).map_err(|error| Failure(error.to_string()))?;
    let secret = match files.enrollment(&account) {
        Ok(secret) => secret,
        Err(LoadError::NotEnrolled(path)) => {
            return Err(Failure(format!(
                "not enrolled ({} missing)",
                path.display()
            )));
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    if database.is_enrolled(&account)? {
        return Err(Failure(
            "already enrolled in the database (`pam-totp disable --user NAME` there first to replace it)"
                .into(),
        ));
    }
    let used = files
        .snapshot(&account)
        .map_err(|error| Failure(error.to_string()))?
        .state;
    // The database keys the recovery hashes, which changes their ids: a
    // code used already is not copied at all.
    let mut secret = secret;
    secret
        .recovery
        .retain(|hash| !used.used_recovery.contains(&hash.id()));
    database
        .save_enrollment(&account, &secret, Replacing::Nothing, Repair::Refuse)
        .map_err(|error| Failure(error.to_string()))?;
    // Keep what was used used: never move a step or counter back, keep
    // every used recovery code, the failures and a running lockout.
    database
        .update(&account, Repair::Refuse, &mut |state, _| {
            Some(merged(state, &used))
        })
        .map_err(|error| Failure(error.to_string()))?;
    Ok(())
}

/// The stricter of two states: the later steps and counters, every used
/// recovery code, the larger failure count and the later lockout end.
fn merged(a: &State, b: &State) -> State {
    let mut used = a.used_recovery.clone();
    for id in &b.used_recovery {
        if !used.contains(id) {
            used.push(id.clone());
        }
    }
    State {
        last_step_start: a.last_step_start.max(b.last_step_start),
        last_counter: a.last_counter.max(b.last_counter),
        failures: a.failures.max(b.failures),
        locked_until: a.locked_until.max(b.locked_until),
        last_success: a.last_success.max(b.last_success),
        used_recovery: used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_keeps_the_stricter_of_each() {
        let a = State {
            last_step_start: Some(100),
            failures: 1,
            used_recovery: vec!["aa".into()],
            ..State::default()
        };
        let b = State {
            last_step_start: Some(50),
            last_counter: Some(7),
            locked_until: 900,
            used_recovery: vec!["bb".into(), "aa".into()],
            ..State::default()
        };
        let m = merged(&a, &b);
        assert_eq!(m.last_step_start, Some(100));
        assert_eq!(m.last_counter, Some(7));
        assert_eq!((m.failures, m.locked_until), (1, 900));
        assert_eq!(m.used_recovery, vec!["aa".to_string(), "bb".to_string()]);
    }
}
