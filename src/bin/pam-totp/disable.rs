//! `pam-totp disable`: remove an enrollment and its state (lost device).

use clap::Args;
use pam_totp::config::{Config, Unenrolled};

use crate::support::Failure;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Remove a user's enrollment and state (the procedure for a lost device)",
    long_about = "Remove a user's secret file and the module's state for them (failed attempts, \
lockout, used codes). This is the procedure for a lost or replaced phone: the old app entry and \
every recovery code stop working. What the user gets next depends on `unenrolled` in the \
configuration: with \"allow\" they log in without a code and enroll again; with \"enroll\" they \
set up the new phone at their next login; with \"deny\" (the default) root enrolls them again \
(`pam-totp enroll --user NAME`)."
)]
pub struct DisableArgs {
    /// Disable this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
}

pub fn run(config: &Config, args: DisableArgs) -> Result<(), Failure> {
    let account = target::resolve(args.user.as_deref())?;
    target::require_own_store(config, &account)?;
    let mut store = state_access::open(config)?;
    let removed = store.remove(&account).map_err(|e| Failure(e.to_string()))?;
    let name = &account.name;
    if removed.enrollment.is_some() || removed.state {
        crate::support::log_change(
            &format!(
                "disabled two-factor authentication ({})",
                match (&removed.enrollment, removed.state) {
                    (Some(place), true) => format!("removed {place} and the state"),
                    (Some(place), false) => format!("removed {place}"),
                    _ => "removed the state".to_string(),
                }
            ),
            name,
        );
    }
    match (&removed.enrollment, removed.state) {
        (None, false) => {
            return Err(Failure(format!(
                "{name} is not enrolled; there is nothing to disable"
            )));
        }
        (Some(place), true) => println!(
            "Disabled two-factor authentication for {name}: removed {place} and the module's state."
        ),
        (Some(place), false) => {
            println!("Disabled two-factor authentication for {name}: removed {place}.")
        }
        (None, true) => println!("{name} had no secret file; removed the module's state."),
    }
    // With recovery_codes = 0 none are made here: not a word of them.
    let gone = match config.recovery_codes {
        0 => "The old authenticator entry no longer works",
        _ => "The old authenticator entry and all recovery codes no longer work",
    };
    println!("{gone}, not even for a login already waiting at its code prompt.");
    match config.unenrolled {
        Unenrolled::Allow if state_access::may_use_state() => println!(
            "{name} now logs in without a code (unenrolled = \"allow\") and should run `pam-totp enroll` with the new phone."
        ),
        Unenrolled::Enroll if state_access::may_use_state() => println!(
            "{name} sets up the new phone at the next login (unenrolled = \"enroll\"): after the SSH key or password, the login shows a QR code and asks for a code from it."
        ),
        Unenrolled::Enroll => println!(
            "{name} sets up the new phone at the next login (unenrolled = \"enroll\") if {name} has never logged in with a code; otherwise logins stay refused until an administrator also runs `pam-totp disable --user {name}` (the module remembers that codes were used), or until `pam-totp enroll` is run again."
        ),
        Unenrolled::Allow => println!(
            "If {name} has logged in with a code before, logins stay refused until an administrator also runs `pam-totp disable --user {name}` (the module remembers that codes were used), or until `pam-totp enroll` is run again."
        ),
        Unenrolled::Deny => println!(
            "{name} cannot log in until enrolled again (unenrolled = \"deny\"): run `pam-totp enroll --user {name}` and give them the QR code or secret in person."
        ),
    }
    Ok(())
}
