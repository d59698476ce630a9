//! `pam-totp enroll`: create a secret and recovery codes.

use clap::{Args, ValueEnum};
use pam_totp::config::Config;
use pam_totp::enrollment;
use pam_totp::otp::HashAlgorithm;
use pam_totp::secret::{SecretFile, encode_base32};
use zeroize::Zeroizing;

use crate::Failure;
use crate::target;
use crate::uri::KeyUri;

/// Secret length: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

#[derive(Args)]
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
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    period: u64,
    /// How many recovery codes to create [default: config `recovery_codes`]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=100))]
    recovery_codes: Option<u32>,
    /// Replace an existing enrollment
    #[arg(long)]
    force: bool,
    /// Do not ask for a code before saving
    #[arg(long)]
    no_confirm: bool,
    /// Print one JSON object and nothing else on stdout
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
    if enrollment::exists(config, &account)? && !args.force {
        return Err(Failure(format!(
            "{} is already enrolled; use --force to replace the enrollment (the old codes stop working)",
            account.name
        )));
    }
    if !args.no_confirm {
        return Err(Failure(
            "interactive confirmation is not available yet; pass --no-confirm".into(),
        ));
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
    let secret_base32 = encode_base32(&file.secret);
    let uri = KeyUri {
        issuer: &issuer,
        label: &label,
        secret_base32: &secret_base32,
        algorithm: file.algorithm,
        digits: file.digits,
        period: file.period,
    }
    .to_uri();
    let path = enrollment::store(config, &account, &file)
        .map_err(|error| Failure(format!("cannot write the secret file: {error}")))?;
    if args.json {
        let object = serde_json::json!({
            "user": account.name,
            "secret": secret_base32.as_str(),
            "uri": uri,
            "recovery_codes": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        });
        println!("{object}");
    } else {
        println!("Secret saved to {}.", path.display());
        println!("URI: {uri}");
        println!(
            "Recovery codes (each works once; keep them somewhere safe, away from this phone):"
        );
        for code in &codes {
            println!("  {}", code.as_str());
        }
    }
    Ok(())
}
