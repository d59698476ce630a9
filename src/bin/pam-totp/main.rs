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

use crate::support::Failure;

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
