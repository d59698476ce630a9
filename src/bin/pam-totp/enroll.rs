//! `pam-totp enroll`: create a secret, show it, confirm a code, save it,
//! print recovery codes.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, ValueEnum};
use pam_totp::answer::{Answer, parse_answer};
use pam_totp::config::Config;
use pam_totp::otp::{Generator, HashAlgorithm, Verdict};
use pam_totp::secret::{SecretFile, encode_base32};
use pam_totp::store::{Repair, Replacing};
use pam_totp::system::account::Account;
use zeroize::Zeroizing;

use crate::Failure;
use crate::qr::{Matrix, QrStyle};
use crate::state_access;
use crate::target;
use crate::uri::KeyUri;

/// Secret length: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Codes typed before `enroll` gives up without saving.
const TRIES: u32 = 3;

#[derive(Args)]
#[command(
    about = "Create a secret, show it as a QR code, and print recovery codes",
    long_about = "Create a secret from the OS random source, show it as a QR code, the otpauth:// URI \
and the secret in groups of four, ask for the code the app then shows, and only after a correct \
code save the secret file (mode 0600) and print single-use recovery codes, once.\n\n\
An existing enrollment is replaced only with --force; the old app entry and recovery codes \
then stop working."
)]
pub struct EnrollArgs {
    /// Enroll this user instead of yourself (root only)
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Issuer shown in the authenticator app [default: config `issuer`, else the host name]
    #[arg(long, value_name = "S")]
    issuer: Option<String>,
    /// Account label shown in the app [default: USER@HOST]
    #[arg(long, value_name = "S")]
    label: Option<String>,
    /// HMAC algorithm (SHA1 works with every app)
    #[arg(long, value_enum, default_value = "SHA1")]
    algorithm: AlgorithmArg,
    /// Digits per code
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(6..=8))]
    digits: u8,
    /// Seconds each code is valid
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    period: u64,
    /// How many recovery codes to create [default: config `recovery_codes`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    recovery_codes: Option<u32>,
    /// How to draw the QR code
    #[arg(long, value_enum, default_value = "utf8")]
    qr: QrStyle,
    /// Replace an existing enrollment
    #[arg(long)]
    force: bool,
    /// Do not ask for a code before saving
    #[arg(long)]
    no_confirm: bool,
    /// Print one JSON object {"user","secret","uri","recovery_codes"} and nothing else on
    /// stdout (implies --qr none; without --no-confirm the prompt goes to stderr)
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum AlgorithmArg {
    Sha1,
    Sha256,
    Sha512,
}

impl From<AlgorithmArg> for HashAlgorithm {
    fn from(arg: AlgorithmArg) -> HashAlgorithm {
        match arg {
            AlgorithmArg::Sha1 => HashAlgorithm::Sha1,
            AlgorithmArg::Sha256 => HashAlgorithm::Sha256,
            AlgorithmArg::Sha512 => HashAlgorithm::Sha512,
        }
    }
}

/// `ABCD EFGH IJKL ...`, for typing the secret by hand.
pub fn in_groups_of_four(secret_base32: &str) -> String {
    secret_base32
        .as_bytes()
        .chunks(4)
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The smallest common terminal's height: the QR code and the prompt
/// below it fit in it.
const SCREEN_LINES: usize = 24;

pub fn run(config: &Config, args: EnrollArgs) -> Result<(), Failure> {
    let account = target::resolve(args.user.as_deref())?;
    target::require_own_store(config, &account)?;
    let mut store = state_access::open(config)?;
    if store.is_enrolled(&account)? && !args.force {
        return Err(Failure(format!(
            "{} is already enrolled; use --force to replace the enrollment (the old codes stop working)",
            account.name
        )));
    }
    let host = pam_totp::system::host::host_name();
    let issuer = args
        .issuer
        .or_else(|| config.issuer.clone())
        .unwrap_or_else(|| host.clone());
    let label = args
        .label
        .unwrap_or_else(|| format!("{}@{host}", account.name));
    if issuer.contains(':') || label.contains(':') {
        return Err(Failure("the issuer and label must not contain ':'".into()));
    }
    let secret = Zeroizing::new(pam_totp::system::random::bytes(SECRET_BYTES)?);
    let count = args.recovery_codes.unwrap_or(config.recovery_codes);
    let (codes, hashes) = pam_totp::recovery::generate(count as usize)?;
    let file = SecretFile {
        secret,
        algorithm: args.algorithm.into(),
        digits: args.digits,
        period: args.period,
        recovery: hashes,
    };
    let generator = file
        .generator()
        .map_err(|error| Failure(format!("cannot use the new secret: {}", error.0)))?;
    let secret_base32 = encode_base32(&file.secret);
    let uri = Zeroizing::new(
        KeyUri {
            issuer: &issuer,
            label: &label,
            secret_base32: &secret_base32,
            algorithm: file.algorithm,
            digits: file.digits,
            period: file.period,
        }
        .to_uri(),
    );

    // Human-readable text goes to stdout, or to stderr when stdout is JSON.
    let mut out: Box<dyn Write> = if args.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let show = !(args.json && args.no_confirm);
    if show {
        let qr = if args.json { QrStyle::None } else { args.qr };
        show_secret(&mut out, &file, &issuer, &label, &secret_base32, &uri, qr)?;
    }
    if !args.no_confirm {
        confirm(
            &mut out,
            &generator,
            config.window.max(1),
            &file,
            &config.state_dir,
        )?;
    }

    let repair = Repair::With(state_access::repaired(config, &mut *store, &account));
    let place = store
        .save_enrollment(&account, &file, Replacing::Secret, repair)
        .map_err(|error| Failure(error.to_string()))?;
    crate::log_change(
        &format!("enrolled ({}, saved in {place})", file.kind_name()),
        &account.name,
    );

    if args.json {
        let object = serde_json::json!({
            "user": account.name,
            "secret": secret_base32.as_str(),
            "uri": uri.as_str(),
            "recovery_codes": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        });
        println!("{object}");
        return Ok(());
    }
    writeln!(
        out,
        "Saved: two-factor authentication is on for {} ({place}).",
        account.name
    )?;
    print_recovery_codes(&mut out, &account, &codes)?;
    Ok(())
}

fn show_secret(
    out: &mut dyn Write,
    file: &SecretFile,
    issuer: &str,
    label: &str,
    secret_base32: &str,
    uri: &str,
    qr: QrStyle,
) -> Result<(), Failure> {
    writeln!(
        out,
        "Add this account to your authenticator app (2FAS, Aegis, Ente Auth, FreeOTP, Google Authenticator ...):"
    )?;
    if qr == QrStyle::None {
        writeln!(out, "type the secret below, or open the URI on the phone.")?;
    } else {
        writeln!(out, "scan the QR code below, or type the secret by hand.")?;
    }
    writeln!(out)?;
    writeln!(out, "Issuer:  {issuer}")?;
    writeln!(out, "Account: {label}")?;
    writeln!(out, "Secret:  {}", in_groups_of_four(secret_base32))?;
    writeln!(
        out,
        "Type:    time-based (TOTP), {}, {} digits, every {} seconds",
        file.algorithm.name(),
        file.digits,
        file.period
    )?;
    writeln!(out, "URI:     {uri}")?;
    writeln!(out)?;
    // The code last, right above the prompt, and small enough that its top
    // is still on an 80x24 screen when the prompt is shown.
    if qr != QrStyle::None {
        let mut matrix = Matrix::encode(uri).map_err(|error| {
            Failure(format!("cannot draw the QR code ({error}); use --qr none"))
        })?;
        matrix.fit_lines(SCREEN_LINES - 1);
        write!(out, "{}", matrix.render(qr))?;
    }
    out.flush()?;
    Ok(())
}

/// Ask for the current code until one is right, at most `TRIES` times.
fn confirm(
    out: &mut dyn Write,
    generator: &Generator,
    window: u32,
    file: &SecretFile,
    state_dir: &std::path::Path,
) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut tries_left = TRIES;
    while tries_left > 0 {
        write!(
            out,
            "Type the {}-digit code the app shows now: ",
            file.digits
        )?;
        out.flush()?;
        let mut line = Zeroizing::new(String::new());
        let read = input.read_line(&mut line)?;
        if !std::io::stdin().is_terminal() {
            // Nothing echoed the answer and its newline.
            writeln!(out)?;
        }
        if read == 0 {
            return Err(Failure(
                "no code was typed, so nothing was saved; run `pam-totp enroll` again".into(),
            ));
        }
        if line.trim().is_empty() {
            continue;
        }
        let now = pam_totp::system::clock::now(state_dir)
            .ok_or_else(|| Failure("the system clock is set before 1970".into()))?;
        let right = match parse_answer(line.as_bytes()) {
            Answer::Totp(code) => matches!(
                generator.verify(&code, now, window, None),
                Verdict::Accepted(_)
            ),
            _ => false,
        };
        if right {
            return Ok(());
        }
        tries_left -= 1;
        if tries_left > 0 {
            writeln!(
                out,
                "That is not the current code ({tries_left} {} left). Check that the phone sets its clock automatically.",
                if tries_left == 1 { "try" } else { "tries" }
            )?;
        }
    }
    Err(Failure(format!(
        "{TRIES} wrong codes, so nothing was saved; remove the entry from the app and run `pam-totp enroll` again"
    )))
}

/// The codes, once, and what to do with them.
pub fn print_recovery_codes(
    out: &mut dyn Write,
    account: &Account,
    codes: &[Zeroizing<String>],
) -> Result<(), Failure> {
    if codes.is_empty() {
        writeln!(
            out,
            "No recovery codes were created; run `pam-totp recovery-codes` to create some."
        )?;
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Recovery codes for {} (each works once at the code prompt; shown only now):",
        account.name
    )?;
    for code in codes {
        writeln!(out, "  {}", code.as_str())?;
    }
    writeln!(
        out,
        "Keep them somewhere safe away from your phone (a password manager, or on paper): \
         they are how you log in if you lose it."
    )?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_shown_in_groups_of_four() {
        assert_eq!(
            in_groups_of_four("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
            "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
        );
        assert_eq!(in_groups_of_four("ABCDEF"), "ABCD EF");
    }
}
