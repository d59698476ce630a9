//! `pam-totp import`: convert a google-authenticator-libpam file
//! (`~/.google_authenticator`) into a pam-totp secret file, so users keep
//! their app entry and scratch codes.
//!
//! The file is the base32 secret on the first line, option lines starting
//! with `" `, then 8-digit scratch codes, one a line.

use std::path::{Display, Path};

use clap::Args;
use pam_totp::config::Config;
use pam_totp::import::google_authenticator::{self, GoogleAuthenticator, Kind, equivalent_window};
use pam_totp::import::{MAX_FILE_SIZE, MIN_SECRET_BYTES};
use pam_totp::otp::code::HashAlgorithm;
use pam_totp::otp::secret::{SecretFile, TokenKind};
use pam_totp::store::LoadError;
use pam_totp::store::Store;
use pam_totp::store::files::secret_file;
use pam_totp::system::account::Account;
use pam_totp::text::plural;

use crate::support::Failure;
use crate::support::save::{Used, save_imported};
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Convert a ~/.google_authenticator file into a pam-totp secret file",
    long_about = "Convert a google-authenticator-libpam file into a pam-totp secret file: the same \
secret and STEP_SIZE (so the app entry keeps working), SHA1 and 6 digits as that module uses, and \
its scratch codes as single-use recovery codes. WINDOW_SIZE has no per-user place in pam-totp: the \
command says which `window` the configuration needs to accept the same codes. RATE_LIMIT, \
DISALLOW_REUSE and TIME_SKEW are not carried over (pam-totp always refuses reused codes and locks \
out after `max_failures` wrong ones). A counter-based (HOTP) file keeps its counter: HOTP_COUNTER \
is the next value google-authenticator expects, so every earlier one stays used. The old file is \
left in place.\n\n\
With --from-oath USERSFILE (root), pam_oath's users file (/etc/users.oath) is converted instead, \
for every user in it or only --user: HOTP, HOTP/E[/D], HOTP/T30[/D] and HOTP/T60[/D] lines with \
their hex secrets; the counter, last code and time pam_oath wrote back after each login go into \
the module's state, so no code pam_oath accepted works again. Lines that cannot be converted (a \
password in the line, other types, short secrets) are reported with their line number and skipped."
)]
pub struct ImportArgs {
    /// Import for this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// The google-authenticator file [default: ~USER/.google_authenticator]
    #[arg(long, value_name = "PATH")]
    from: Option<std::path::PathBuf>,
    /// Convert pam_oath's users file instead (root only)
    #[arg(long, value_name = "USERSFILE", conflicts_with = "from")]
    from_oath: Option<std::path::PathBuf>,
    /// Replace an existing pam-totp enrollment
    #[arg(long)]
    force: bool,
}

pub fn run(config: &Config, args: ImportArgs) -> Result<(), Failure> {
    if let Some(users_file) = &args.from_oath {
        return crate::import_oath::run(config, users_file, args.user.as_deref(), args.force);
    }
    let account = target::resolve(args.user.as_deref())?;
    target::require_own_store(config, &account)?;
    let from = args
        .from
        .unwrap_or_else(|| account.home.join(".google_authenticator"));
    let shown = from.display();
    let mut store = state_access::open(config)?;
    if store.is_enrolled(&account)? && !args.force {
        return Err(Failure(format!(
            "{} is already enrolled with pam-totp; use --force to replace that enrollment with {shown}",
            account.name
        )));
    }
    let imported = read(&account, &from)?;
    let (file, same_secret) = secret_file(&mut *store, &account, &imported, &shown)?;
    // Counter values google-authenticator accepted stay used.
    let used = match file.kind {
        TokenKind::Hotp { counter } => counter.checked_sub(1).map(Used::Counter),
        TokenKind::Totp => None,
    };
    let place = save_imported(config, &mut *store, &account, &file, same_secret, used)?;
    print_imported(config, &account, &shown, &place, &file, &imported);
    Ok(())
}

/// The google-authenticator file at `from`, read as its owner and parsed.
fn read(account: &Account, from: &Path) -> Result<GoogleAuthenticator, Failure> {
    let shown = from.display();
    let bytes = match secret_file::read_user_file(account, from, MAX_FILE_SIZE) {
        Ok(bytes) => bytes,
        Err(LoadError::NotEnrolled(_)) => {
            return Err(Failure(format!(
                "{shown} does not exist; give the file with --from PATH"
            )));
        }
        Err(LoadError::Unsafe { error, .. }) => {
            return Err(Failure(format!("{shown} {error}")));
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    google_authenticator::parse(&bytes).map_err(|error| {
        Failure(format!(
            "{shown} is not a google-authenticator file pam-totp can read: {error}"
        ))
    })
}

/// The pam-totp secret file for `imported`, and whether it is the secret
/// already enrolled (an import of the same file again).
fn secret_file(
    store: &mut dyn Store,
    account: &Account,
    imported: &GoogleAuthenticator,
    shown: &Display<'_>,
) -> Result<(SecretFile, bool), Failure> {
    let (step, kind) = match imported.kind {
        Kind::Totp { step } => (step, TokenKind::Totp),
        Kind::Hotp { next_counter } => (
            30,
            TokenKind::Hotp {
                counter: next_counter,
            },
        ),
    };
    if imported.secret.len() < MIN_SECRET_BYTES {
        return Err(Failure(format!(
            "the secret in {shown} has only {} bits, fewer than the 128 pam-totp requires; enroll anew with `pam-totp enroll`",
            imported.secret.len() * 8
        )));
    }
    // Importing the same file again must not revive what was used: keep
    // the state, and keep the stored hash (and so the "used" mark) of
    // every scratch code that was already imported.
    let previous = store
        .enrollment(account)
        .ok()
        .filter(|previous| previous.secret.as_slice() == imported.secret.as_slice());
    let mut recovery = Vec::with_capacity(imported.scratch_codes.len());
    for code in &imported.scratch_codes {
        let kept = previous.as_ref().and_then(|previous| {
            let canonical = pam_totp::otp::recovery::normalize(code)?;
            previous
                .recovery
                .iter()
                .find(|hash| hash.matches(&canonical))
                .cloned()
        });
        match kept {
            Some(hash) => recovery.push(hash),
            None => recovery.extend(pam_totp::otp::recovery::hash_existing(code)?),
        }
    }
    let file = SecretFile {
        secret: imported.secret.clone(),
        algorithm: HashAlgorithm::Sha1,
        digits: 6,
        period: step,
        recovery,
        kind,
    };
    file.check_usable()
        .map_err(|error| Failure(format!("the secret in {shown} cannot be used: {}", error.0)))?;
    Ok((file, previous.is_some()))
}

/// What was imported, and what the administrator may want to change.
fn print_imported(
    config: &Config,
    account: &Account,
    shown: &Display<'_>,
    place: &str,
    file: &SecretFile,
    imported: &GoogleAuthenticator,
) {
    match file.kind {
        TokenKind::Totp => println!(
            "Imported {shown} for {} into {}: the same secret (SHA1, 6 digits, every {} seconds), so the app keeps working unchanged.",
            account.name, place, file.period
        ),
        TokenKind::Hotp { counter } => println!(
            "Imported {shown} for {} into {}: the same counter-based secret (HOTP, SHA1, 6 digits); the next code accepted is the one for counter value {counter} or up to hotp_window = {} after it.",
            account.name, place, config.hotp_window
        ),
    }
    let count = file.recovery.len();
    if count > 0 {
        println!(
            "Its {} now work as recovery codes, once each (8 digits are weaker than pam-totp's own: `pam-totp recovery-codes` replaces them).",
            plural(count as u64, "scratch code")
        );
    } else if config.recovery_codes > 0 {
        println!(
            "It had no scratch codes; run `pam-totp recovery-codes` to create recovery codes."
        );
    }
    let needed = equivalent_window(imported.window_size);
    if let TokenKind::Hotp { .. } = file.kind {
        println!(
            "Its WINDOW_SIZE {} is how many codes ahead it accepted; pam-totp tries hotp_window = {} (an administrator can change it in the configuration).",
            imported.window_size, config.hotp_window
        );
    } else if needed == config.window {
        println!(
            "Its WINDOW_SIZE {} matches the configured window = {}.",
            imported.window_size, config.window
        );
    } else {
        println!(
            "Its WINDOW_SIZE {} is window = {needed} in pam-totp terms; pam-totp has no per-user window, so the configured window = {} applies to this user (an administrator can change it in the configuration).",
            imported.window_size, config.window
        );
    }
    if !imported.ignored.is_empty() {
        println!(
            "Not carried over: {} (pam-totp always refuses reused codes and locks out after max_failures wrong codes).",
            // Option names from the user's file, shown to root.
            pam_totp::text::escape_controls(&imported.ignored.join(", "))
        );
    }
    println!(
        "{shown} is left in place; remove it once pam_google_authenticator.so is out of the PAM stack."
    );
}
