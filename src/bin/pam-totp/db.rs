//! `pam-totp db init` and `pam-totp db import`: set up the PostgreSQL
//! store, and move a host's files store into it.

use clap::{Args, Subcommand};
use pam_totp::config::{Config, StoreKind};
use pam_totp::otp::state::State;
use pam_totp::store::LoadError;
use pam_totp::store::files::FilesStore;
use pam_totp::store::postgres::PostgresStore;
use pam_totp::store::postgres::sealing::{KeyError, SecretKey};
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
    match SecretKey::load(key_file) {
        Ok(_) => println!(
            "{} is in place; every host needs this same file.",
            key_file.display()
        ),
        Err(KeyError::File { .. }) if !key_file.exists() => {
            SecretKey::create(key_file).map_err(|error| Failure(error.to_string()))?;
            println!(
                "Created {} (32 random bytes, root, mode 0600). Copy it unchanged to every host of the fleet (same path, owner root, mode 0600): a host with another key cannot read the secrets.",
                key_file.display()
            );
        }
        Err(error) => return Err(Failure(error.to_string())),
    }
    if config.store != StoreKind::Postgresql {
        println!(
            "This host still uses store = \"files\": run `pam-totp db import`, then set store = \"postgresql\" in the configuration."
        );
    }
    Ok(())
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
