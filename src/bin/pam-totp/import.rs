//! `pam-totp import`: convert a google-authenticator-libpam file
//! (`~/.google_authenticator`) into a pam-totp secret file, so users keep
//! their app entry and scratch codes.
//!
//! The file is the base32 secret on the first line, option lines starting
//! with `" `, then 8-digit scratch codes, one a line.

use clap::Args;
use pam_totp::config::Config;
use pam_totp::enrollment::{self, LoadError};
use pam_totp::otp::HashAlgorithm;
use pam_totp::secret::{SecretFile, decode_base32};
use pam_totp::store::{Repair, Replacing};
use pam_totp::text::escape_controls;
use zeroize::Zeroizing;

use crate::Failure;
use crate::state_access;
use crate::target;

/// Largest file read.
const MAX_FILE_SIZE: u64 = 64 * 1024;
/// google-authenticator's default WINDOW_SIZE: the current code and one on each side.
const DEFAULT_WINDOW_SIZE: u32 = 3;
/// The shortest secret pam-totp accepts (RFC 4226 asks for 128 bits at least).
const MIN_SECRET_BYTES: usize = 16;

#[derive(Args)]
#[command(
    about = "Convert a ~/.google_authenticator file into a pam-totp secret file",
    long_about = "Convert a google-authenticator-libpam file into a pam-totp secret file: the same \
secret and STEP_SIZE (so the app entry keeps working), SHA1 and 6 digits as that module uses, and \
its scratch codes as single-use recovery codes. WINDOW_SIZE has no per-user place in pam-totp: the \
command says which `window` the configuration needs to accept the same codes. RATE_LIMIT, \
DISALLOW_REUSE and TIME_SKEW are not carried over (pam-totp always refuses reused codes and locks \
out after `max_failures` wrong ones). Counter-based (HOTP) files are refused. The old file is left \
in place."
)]
pub struct ImportArgs {
    /// Import for this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// The google-authenticator file [default: ~USER/.google_authenticator]
    #[arg(long, value_name = "PATH")]
    from: Option<std::path::PathBuf>,
    /// Replace an existing pam-totp enrollment
    #[arg(long)]
    force: bool,
}

/// What a google-authenticator file holds that pam-totp can use.
pub struct GoogleAuthenticator {
    pub secret: Zeroizing<Vec<u8>>,
    /// `STEP_SIZE`, seconds.
    pub step: u64,
    /// `WINDOW_SIZE`: how many codes around the current one were accepted.
    pub window_size: u32,
    pub scratch_codes: Vec<Zeroizing<String>>,
    /// Options present that pam-totp does not carry over.
    pub ignored: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The file is for counter-based codes.
    Hotp,
    /// Anything else, as a sentence fragment.
    Bad(String),
}

/// Parse the text of a `.google_authenticator` file.
pub fn parse(text: &str) -> Result<GoogleAuthenticator, ParseError> {
    let bad = |reason: String| ParseError::Bad(reason);
    let mut lines = text.lines();
    let first = lines
        .next()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .ok_or_else(|| bad("the file is empty".into()))?;
    let secret = decode_base32(first).ok_or_else(|| bad("line 1 is not a base32 secret".into()))?;
    let mut totp = false;
    let mut hotp = false;
    let mut step = 30;
    let mut window_size = DEFAULT_WINDOW_SIZE;
    let mut scratch_codes = Vec::new();
    let mut ignored = Vec::new();
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(option) = line.strip_prefix('"') {
            let mut words = option.split_whitespace();
            let name = words.next().unwrap_or("");
            let value = words.next();
            let number_value = |min: u64, max: u64| -> Result<u64, ParseError> {
                value
                    .and_then(|v| v.parse::<u64>().ok())
                    .filter(|v| (min..=max).contains(v))
                    .ok_or_else(|| {
                        bad(format!(
                            "line {number}: {} must be a number from {min} to {max}",
                            escape_controls(name)
                        ))
                    })
            };
            match name {
                "TOTP_AUTH" => totp = true,
                "HOTP_COUNTER" => hotp = true,
                "STEP_SIZE" => step = number_value(1, 3600)?,
                "WINDOW_SIZE" => {
                    window_size =
                        u32::try_from(number_value(1, 100)?).unwrap_or(DEFAULT_WINDOW_SIZE)
                }
                "" => {}
                other => {
                    if !ignored.iter().any(|o| o == other) {
                        ignored.push(other.to_string());
                    }
                }
            }
        } else if line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) {
            scratch_codes.push(Zeroizing::new(line.to_string()));
        } else {
            return Err(bad(format!(
                "line {number} is neither an option nor an 8-digit scratch code"
            )));
        }
    }
    if hotp || !totp {
        return Err(ParseError::Hotp);
    }
    Ok(GoogleAuthenticator {
        secret,
        step,
        window_size,
        scratch_codes,
        ignored,
    })
}

/// The pam-totp `window` that accepts every code google-authenticator
/// accepted with `window_size` (it checks from (W-1)/2 steps back to W/2
/// steps ahead).
pub fn equivalent_window(window_size: u32) -> u32 {
    window_size / 2
}

pub fn run(config: &Config, args: ImportArgs) -> Result<(), Failure> {
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
    let bytes = match enrollment::read_user_file(&account, &from, MAX_FILE_SIZE) {
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
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Failure(format!(
            "{shown} is not a google-authenticator file (not text)"
        ))
    })?;
    let imported = match parse(text) {
        Ok(imported) => imported,
        Err(ParseError::Hotp) => {
            return Err(Failure(format!(
                "{shown} is set up for counter-based codes (HOTP), which pam-totp does not support; enroll anew with `pam-totp enroll`"
            )));
        }
        Err(ParseError::Bad(reason)) => {
            return Err(Failure(format!(
                "{shown} is not a google-authenticator file pam-totp can read: {reason}"
            )));
        }
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
        .enrollment(&account)
        .ok()
        .filter(|previous| previous.secret.as_slice() == imported.secret.as_slice());
    let mut recovery = Vec::with_capacity(imported.scratch_codes.len());
    for code in &imported.scratch_codes {
        let kept = previous.as_ref().and_then(|previous| {
            let canonical = pam_totp::recovery::normalize(code)?;
            previous
                .recovery
                .iter()
                .find(|hash| hash.matches(&canonical))
                .cloned()
        });
        match kept {
            Some(hash) => recovery.push(hash),
            None => recovery.extend(pam_totp::recovery::hash_existing(code)?),
        }
    }
    let same_secret = previous.is_some();
    let file = SecretFile {
        secret: imported.secret,
        algorithm: HashAlgorithm::Sha1,
        digits: 6,
        period: imported.step,
        recovery,
    };
    file.generator()
        .map_err(|error| Failure(format!("the secret in {shown} cannot be used: {}", error.0)))?;
    let replacing = if same_secret {
        Replacing::Nothing
    } else {
        Replacing::Secret
    };
    let repair = Repair::With(state_access::repaired(config, &mut *store, &account));
    let place = store
        .save_enrollment(&account, &file, replacing, repair)
        .map_err(|error| Failure(error.to_string()))?;

    println!(
        "Imported {shown} for {} into {}: the same secret (SHA1, 6 digits, every {} seconds), so the app keeps working unchanged.",
        account.name, place, file.period
    );
    let count = file.recovery.len();
    if count > 0 {
        println!(
            "Its {} now work as recovery codes, once each (8 digits are weaker than pam-totp's own: `pam-totp recovery-codes` replaces them).",
            crate::plural(count as u64, "scratch code")
        );
    } else {
        println!(
            "It had no scratch codes; run `pam-totp recovery-codes` to create recovery codes."
        );
    }
    let needed = equivalent_window(imported.window_size);
    if needed == config.window {
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
            escape_controls(&imported.ignored.join(", "))
        );
    }
    println!(
        "{shown} is left in place; remove it once pam_google_authenticator.so is out of the PAM stack."
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn parses_a_totp_file() {
        let text = "ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" RATE_LIMIT 3 30 1700000000\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666\n\" STEP_SIZE 60\n\" TOTP_AUTH\n58078289\n26545919\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.secret.len(), 16);
        assert_eq!(parsed.step, 60);
        assert_eq!(parsed.window_size, 17);
        assert_eq!(equivalent_window(parsed.window_size), 8);
        assert_eq!(parsed.scratch_codes.len(), 2);
        assert_eq!(parsed.ignored, vec!["RATE_LIMIT", "DISALLOW_REUSE"]);
    }

    #[test]
    fn defaults_match_google_authenticator() {
        let parsed = parse("ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n").unwrap();
        assert_eq!((parsed.step, parsed.window_size), (30, 3));
        assert_eq!(equivalent_window(3), 1);
    }

    #[test]
    fn refuses_hotp_and_garbage() {
        assert_eq!(
            parse("ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" HOTP_COUNTER 1\n12345678\n").err(),
            Some(ParseError::Hotp)
        );
        assert_eq!(
            parse("ZTOBY62LWWAU4CCJGBMQU4U5XI\n").err(),
            Some(ParseError::Hotp)
        );
        for (text, expected) in [
            ("", "empty"),
            ("not base32!\n\" TOTP_AUTH\n", "line 1"),
            ("ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" TOTP_AUTH\n1234\n", "line 3"),
            (
                "ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" STEP_SIZE 0\n\" TOTP_AUTH\n",
                "STEP_SIZE",
            ),
        ] {
            match parse(text) {
                Err(ParseError::Bad(reason)) => assert!(reason.contains(expected), "{reason}"),
                _ => panic!("{text:?} was accepted"),
            }
        }
    }
}
