//! `pam-totp list`: the users the store knows, for root.

use clap::Args;
use pam_totp::config::Config;
use pam_totp::text::escape_controls;

use crate::support::Failure;
use crate::support::output::format_time;
use crate::support::state_access;

#[derive(Args)]
#[command(
    about = "List the enrolled users the store knows, with kind, last login and lockout (root only)",
    long_about = "List the users the store knows: those in an administrator-managed secret store \
or the database, and every user with a state record (one who has logged in with a code, or \
failed to). For each: the kind of token (TOTP or HOTP; \"none\" for a state record without an \
enrollment), the last successful login and any lockout. With the secrets in the homes, also \
every account the user database enumerates (getent passwd) whose home directory is there and \
holds a secret file, logged in yet or not (an automounted home is mounted to look). Root only: \
the state is root's."
)]
pub struct ListArgs {
    /// Print one JSON array instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: ListArgs) -> Result<(), Failure> {
    if !state_access::may_use_state() {
        return Err(Failure(
            "only root can list enrolled users (the module's state is root's); run it with sudo"
                .into(),
        ));
    }
    let mut store = state_access::open(config)?;
    let listed = store.list().map_err(|error| Failure(error.to_string()))?;
    let now = pam_totp::system::clock::now(&config.state_dir).unwrap_or(0);
    if args.json {
        let users: Vec<serde_json::Value> = listed
            .iter()
            .map(|user| {
                let state = user.state.clone().unwrap_or_default();
                serde_json::json!({
                    "user": user.user,
                    "enrolled": user.kind.is_some(),
                    "kind": user.kind,
                    "last_success": state.last_success,
                    "failures": state.failures,
                    "lockout_remaining": state.lockout_remaining(now),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(users));
        return Ok(());
    }
    if listed.is_empty() {
        println!(
            "No enrolled user is known to the store (nor a secret file in a home directory that is there)."
        );
        return Ok(());
    }
    println!("{:<20} {:<5} {:<24} LOCKOUT", "USER", "KIND", "LAST LOGIN");
    for user in &listed {
        let state = user.state.clone().unwrap_or_default();
        let last = state
            .last_success
            .map_or_else(|| "never".to_string(), format_time);
        let lockout = match state.lockout_remaining(now) {
            Some(seconds) => format!("locked, {} left", pam_totp::text::plural(seconds, "second")),
            None if state.failures > 0 => {
                format!(
                    "none ({})",
                    pam_totp::text::plural(u64::from(state.failures), "failed attempt")
                )
            }
            None => "none".to_string(),
        };
        println!(
            "{:<20} {:<5} {:<24} {lockout}",
            escape_controls(&user.user),
            user.kind.as_deref().unwrap_or("none"),
            last
        );
    }
    Ok(())
}
