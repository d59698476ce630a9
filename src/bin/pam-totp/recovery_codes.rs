//! `pam-totp recovery-codes`: replace all recovery codes.

use clap::Args;
use pam_totp::config::Config;
use pam_totp::store::LoadError;
use pam_totp::store::{Repair, Replacing};

use crate::support::Failure;
use crate::support::output::print_recovery_codes;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Replace all recovery codes with new ones (the old ones stop working)",
    long_about = "Create new single-use recovery codes and print them once. All earlier recovery \
codes, used or not, stop working. The secret (and so the authenticator app) is unchanged."
)]
pub struct RecoveryCodesArgs {
    /// Create codes for this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// How many codes [default: config `recovery_codes`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    count: Option<u32>,
    /// Print one JSON object {"user","recovery_codes"} and nothing else
    #[arg(long)]
    json: bool,
}

pub fn run(config: &Config, args: RecoveryCodesArgs) -> Result<(), Failure> {
    // With none configured, making one would be a surprise: say so, and
    // how to make some anyway, before anything is opened or replaced.
    let Some(count) = args
        .count
        .or((config.recovery_codes > 0).then_some(config.recovery_codes))
    else {
        return Err(Failure(
            "this host makes no recovery codes (recovery_codes = 0 in the configuration); \
             the codes you have, if any, are unchanged. To make some anyway: \
             `pam-totp recovery-codes --count N`"
                .to_string(),
        ));
    };
    let account = target::resolve(args.user.as_deref())?;
    target::require_own_store(config, &account)?;
    let mut store = state_access::open(config)?;
    let mut file = match store.enrollment(&account) {
        Ok(file) => file,
        Err(LoadError::NotEnrolled(_)) => {
            return Err(Failure(format!(
                "{} is not enrolled; run `pam-totp enroll` first",
                account.name
            )));
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    let (codes, hashes) = pam_totp::otp::recovery::generate(count as usize)?;
    file.recovery = hashes;
    // The old codes are gone: so are the records of which of them were used.
    let repair = Repair::With(state_access::repaired(config, &mut *store, &account));
    store
        .save_enrollment(&account, &file, Replacing::RecoveryCodes, repair)
        .map_err(|error| Failure(error.to_string()))?;
    crate::support::log_change(
        &format!("replaced the recovery codes ({count} new)"),
        &account.name,
    );
    if args.json {
        let object = serde_json::json!({
            "user": account.name,
            "recovery_codes": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        });
        println!("{object}");
        return Ok(());
    }
    println!(
        "Replaced the recovery codes of {}; the old ones no longer work.",
        account.name
    );
    print_recovery_codes(&mut std::io::stdout(), config, &account, &codes)
}
