//! `pam-totp`: enroll users and manage their enrollments.

mod check;
mod db;
mod disable;
mod enroll;
mod import;
mod import_oath;
mod list;
mod recovery_codes;
mod resync;
mod status;
mod support;
mod unlock;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pam-totp",
    version,
    about = "Manage TOTP two-factor authentication for PAM (SSH) logins"
)]
struct Cli {
    /// Configuration file [default: /etc/pam-totp/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Enroll(enroll::EnrollArgs),
    Status(status::StatusArgs),
    RecoveryCodes(recovery_codes::RecoveryCodesArgs),
    Disable(disable::DisableArgs),
    Unlock(unlock::UnlockArgs),
    Resync(resync::ResyncArgs),
    Import(import::ImportArgs),
    List(list::ListArgs),
    Check(check::CheckArgs),
    Db(db::DbArgs),
}

/// Record in the system log what this command changed for `user`, and
/// who ran it (`SUDO_USER` too, when root got there through sudo).
pub fn log_change(what: &str, user: &str) {
    let uid = pam_totp::system::account::real_uid();
    let by = match std::env::var("SUDO_USER") {
        Ok(sudo) if uid == 0 => format!("uid {uid} (sudo from {sudo})"),
        _ => format!("uid {uid}"),
    };
    pam_totp::system::syslog::notice(&format!("{what} for user {user} by {by}"));
}

pub use pam_totp::text::plural;

/// An error for the user: one sentence on stderr, exit status 1.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure(error.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` reports a broken configuration itself, with its other findings.
    if let Command::Check(args) = &cli.command {
        return check::run(cli.config.as_deref(), args);
    }
    let config = match pam_totp::config::Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("pam-totp: {error}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Enroll(args) => enroll::run(&config, args),
        Command::Status(args) => status::run(&config, args),
        Command::RecoveryCodes(args) => recovery_codes::run(&config, args),
        Command::Disable(args) => disable::run(&config, args),
        Command::Unlock(args) => unlock::run(&config, args),
        Command::Resync(args) => resync::run(&config, args),
        Command::Import(args) => import::run(&config, args),
        Command::Db(args) => db::run(&config, args),
        Command::List(args) => list::run(&config, args),
        Command::Check(_) => Ok(()), // run above, before the configuration is loaded
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            // Errors may quote a file: escaped like every message.
            eprintln!("pam-totp: {}", pam_totp::text::escape_controls(&message));
            ExitCode::from(1)
        }
    }
}
