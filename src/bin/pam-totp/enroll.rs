//! `pam-totp enroll`: create a secret, show it, confirm a code, save it,
//! print recovery codes.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, ValueEnum};
use pam_totp::config::{Config, StoreKind};
use pam_totp::enroll::new_enrollment::{NewEnrollment, TRIES, confirming_code_used};
use pam_totp::enroll::provisioning::{self, Provisioning};
use pam_totp::otp::answer::{Answer, parse_answer};
use pam_totp::otp::code::HashAlgorithm;
use pam_totp::otp::secret::TokenKind;
use pam_totp::store::{Repair, Replacing, Store, StoreError};
use pam_totp::system::account::Account;
use pam_totp::text::encoding::{decode_base32, decode_hex};
use zeroize::Zeroizing;

use crate::support::Failure;
use crate::support::output::print_recovery_codes;
use crate::support::qr::QrStyle;
use crate::support::state_access;
use crate::support::target;

#[derive(Args)]
#[command(
    about = "Create a secret, show it as a QR code, and print recovery codes",
    long_about = "Create a secret from the OS random source, show it as a QR code, the otpauth:// URI \
and the secret in groups of four, ask for the code the app then shows, and only after a correct \
code save the secret file (mode 0600) and print single-use recovery codes, once.\n\n\
An existing enrollment is replaced only with --force; the old app entry and recovery codes \
then stop working.\n\n\
With --hotp the codes come from a counter (RFC 4226), as with hardware OATH tokens and YubiKey \
HOTP slots: the URI is otpauth://hotp/...&counter=N. For a hardware token, root gives its seed \
with --secret-hex or --secret (and --counter, the counter value the token shows next), and \
confirms with the token's next code or --no-confirm."
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
    /// Codes from a counter (HOTP, RFC 4226) instead of the time
    #[arg(long)]
    hotp: bool,
    /// With --hotp: the counter value the token shows next
    #[arg(long, value_name = "N", requires = "hotp", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=i64::MAX as u64))]
    counter: u64,
    /// With --hotp: the token's seed in hexadecimal (root only)
    #[arg(long, value_name = "HEX", requires = "hotp", conflicts_with = "secret")]
    secret_hex: Option<String>,
    /// With --hotp: the token's seed in base32 (root only)
    #[arg(long, value_name = "BASE32", requires = "hotp")]
    secret: Option<String>,
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

pub fn run(config: &Config, args: EnrollArgs) -> Result<(), Failure> {
    let account = target::resolve(args.user.as_deref())?;
    target::require_own_store(config, &account)?;
    let seed = given_seed(&args)?;
    let mut store = state_access::open(config)?;
    if store.is_enrolled(&account)? && !args.force {
        return Err(Failure(format!(
            "{} is already enrolled; use --force to replace the enrollment (the old codes stop working)",
            account.name
        )));
    }
    let issuer = args
        .issuer
        .unwrap_or_else(|| provisioning::issuer(config.issuer.as_deref()));
    let label = args
        .label
        .unwrap_or_else(|| provisioning::label(&account.name));
    if issuer.contains(':') || label.contains(':') {
        return Err(Failure("the issuer and label must not contain ':'".into()));
    }
    let count = args.recovery_codes.unwrap_or(config.recovery_codes);
    let seed_given = seed.is_some();
    let kind = match args.hotp {
        true => TokenKind::Hotp {
            counter: args.counter,
        },
        false => TokenKind::Totp,
    };
    let mut new = NewEnrollment::with_secret(
        kind,
        seed,
        args.algorithm.into(),
        args.digits,
        args.period,
        count as usize,
    )?;
    let shown = Provisioning::new(&issuer, &label, &new.file);

    // Human-readable text goes to stdout, or to stderr when stdout is JSON.
    let mut out: Box<dyn Write> = if args.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    // A seed root typed in is already in the token: not shown again.
    let show = !(seed_given || args.json && args.no_confirm);
    if show {
        let qr = if args.json { QrStyle::None } else { args.qr };
        show_secret(&mut out, &shown, qr)?;
    } else if seed_given {
        writeln!(out, "Token:   {}", shown.kind_line())?;
    }
    let confirmed = match args.no_confirm {
        true => None,
        false => confirm(&mut out, &mut new, config, &shown)?,
    };

    let repair = Repair::With(state_access::repaired(config, &mut *store, &account));
    // Without --force only a first enrollment is saved: of two at once
    // (two `enroll` runs, or one and a login), the first saved wins.
    let replacing = match args.force {
        true => Replacing::Secret,
        false => Replacing::NoEnrollment,
    };
    let place = match store.save_enrollment(&account, &new.file, replacing, repair) {
        Ok(place) => place,
        Err(StoreError::AlreadyEnrolled) => {
            return Err(Failure(format!(
                "{} was enrolled meanwhile (another enrollment was saved first), so nothing was saved: remove the entry you just added from the app; `pam-totp status` shows the enrollment in place",
                account.name
            )));
        }
        Err(error) => return Err(Failure(error.to_string())),
    };
    if let Some(step_start) = confirmed {
        record_confirming_code(config, &mut *store, &account, step_start);
    }
    crate::support::log_change(
        &format!("enrolled ({}, saved in {place})", new.file.kind_name()),
        &account.name,
    );
    let codes = &new.recovery_codes;

    if args.json {
        let object = serde_json::json!({
            "user": account.name,
            "secret": shown.secret_base32.as_str(),
            "uri": shown.uri.as_str(),
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
    print_recovery_codes(&mut out, config, &account, codes)?;
    Ok(())
}

/// The smallest common terminal's height: the QR code and the prompt
/// below it fit in it.
const SCREEN_LINES: usize = 24;

fn show_secret(out: &mut dyn Write, shown: &Provisioning, qr: QrStyle) -> Result<(), Failure> {
    writeln!(out, "{}", provisioning::ADD_TO_APP)?;
    match qr.drawing() {
        None => writeln!(out, "{}", provisioning::TYPE_OR_OPEN)?,
        Some(_) => writeln!(out, "scan the QR code below, or type the secret by hand.")?,
    }
    writeln!(out)?;
    for line in shown.details() {
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    // The code last, right above the prompt, and small enough that its top
    // is still on an 80x24 screen when the prompt is shown.
    if let Some(drawing) = qr.drawing() {
        let mut matrix = shown.qr_code().map_err(|error| {
            Failure(format!("cannot draw the QR code ({error}); use --qr none"))
        })?;
        matrix.fit_lines(SCREEN_LINES - 1);
        write!(out, "{}", matrix.render(drawing))?;
    }
    out.flush()?;
    Ok(())
}

/// The seed root gave (`--secret-hex`, `--secret`), checked.
fn given_seed(args: &EnrollArgs) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
    let (option, decoded, form) = match (&args.secret_hex, &args.secret) {
        (None, None) => return Ok(None),
        (Some(hex), _) => (
            "--secret-hex",
            decode_hex(hex),
            "hexadecimal (an even number of 0-9 a-f)",
        ),
        (None, Some(base32)) => ("--secret", decode_base32(base32), "base32 (A-Z, 2-7)"),
    };
    if !state_access::may_use_state() {
        return Err(Failure(format!(
            "only root can give the seed with {option}; enroll without it for a new random secret"
        )));
    }
    let seed = decoded.ok_or_else(|| Failure(format!("the {option} value is not {form}")))?;
    if seed.len() < pam_totp::import::MIN_SECRET_BYTES {
        return Err(Failure(format!(
            "the seed has only {} bits, fewer than the 128 pam-totp requires",
            seed.len() * 8
        )));
    }
    Ok(Some(seed))
}

/// Ask for the current code until one is right, at most `TRIES` times.
/// For TOTP, the start of its time step (to record as used); an HOTP
/// token's confirming code moves the new file's counter past it instead.
fn confirm(
    out: &mut dyn Write,
    new: &mut NewEnrollment,
    config: &Config,
    shown: &Provisioning,
) -> Result<Option<u64>, Failure> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut tries_left = TRIES;
    while tries_left > 0 {
        write!(out, "{}", shown.code_prompt())?;
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
        let now = pam_totp::system::clock::now(&config.state_dir)
            .ok_or_else(|| Failure("the system clock is set before 1970".into()))?;
        let answer: Answer = parse_answer(line.as_bytes());
        if let TokenKind::Hotp { .. } = new.file.kind {
            if new.confirm_counter(&answer, config.hotp_window).is_some() {
                return Ok(None);
            }
        } else if let Some(step_start) = new.confirmed_step_start(&answer, now, config.window) {
            return Ok(Some(step_start));
        }
        tries_left -= 1;
        if tries_left > 0 {
            writeln!(out, "{}", shown.wrong_code(tries_left))?;
        }
    }
    Err(Failure(format!(
        "{TRIES} wrong codes, so nothing was saved; remove the entry from the app and run `pam-totp enroll` again"
    )))
}

/// Record the confirming code's time step as used, so it cannot log in
/// once more. A user's own command cannot reach root's state in the files
/// store (the module then accepts that code once, within its window).
fn record_confirming_code(
    config: &Config,
    store: &mut dyn Store,
    account: &Account,
    step_start: u64,
) {
    if config.store == StoreKind::Files && !state_access::may_use_state() {
        return;
    }
    let recorded = store.update(account, Repair::Refuse, &mut |state, _| {
        Some(confirming_code_used(state, step_start))
    });
    if let Err(error) = recorded {
        eprintln!(
            "pam-totp: warning: the code you typed was not recorded as used ({error}); it may log in once more within a minute"
        );
    }
}
