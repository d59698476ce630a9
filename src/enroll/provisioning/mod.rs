//! What enrollment shows a user: the `otpauth://` URI, its QR code, the
//! secret in groups of four, and the words around them. One implementation
//! for `pam-totp enroll` and for enrollment at login.

pub mod qr;
pub mod uri;

use zeroize::Zeroizing;

use crate::otp::code::HashAlgorithm;
use crate::otp::secret::{SecretFile, TokenKind};
use crate::text::encoding::encode_base32;

use self::qr::Matrix;
use self::uri::{KeyUri, UriKind};

/// The first line of the instructions.
pub const ADD_TO_APP: &str = "Add this account to your authenticator app (2FAS, Aegis, Ente Auth, FreeOTP, Google Authenticator ...):";
/// The second line, when a QR code is shown.
pub const SCAN_OR_TYPE: &str = "scan the QR code below, or type the secret by hand.";
/// The second line, without a QR code.
pub const TYPE_OR_OPEN: &str = "type the secret below, or open the URI on the phone.";

/// A new secret as its user is shown it.
pub struct Provisioning {
    pub issuer: String,
    pub label: String,
    pub secret_base32: Zeroizing<String>,
    pub uri: Zeroizing<String>,
    algorithm: HashAlgorithm,
    digits: u8,
    period: u64,
    kind: TokenKind,
}

impl Provisioning {
    pub fn new(issuer: &str, label: &str, file: &SecretFile) -> Provisioning {
        Provisioning::with_uri(issuer, label, file, |uri| uri.to_uri())
    }

    /// The same with the URI's default-valued parameters left out
    /// ([`KeyUri::to_short_uri`]): a smaller QR code, for enrollment at
    /// login, where it must fit an 80x24 screen with the prompt.
    pub fn with_short_uri(issuer: &str, label: &str, file: &SecretFile) -> Provisioning {
        Provisioning::with_uri(issuer, label, file, |uri| uri.to_short_uri())
    }

    fn with_uri(
        issuer: &str,
        label: &str,
        file: &SecretFile,
        form: fn(&KeyUri<'_>) -> String,
    ) -> Provisioning {
        let secret_base32 = encode_base32(&file.secret);
        let uri = Zeroizing::new(form(&KeyUri {
            issuer,
            label,
            secret_base32: &secret_base32,
            algorithm: file.algorithm,
            digits: file.digits,
            kind: match file.kind {
                TokenKind::Totp => UriKind::Totp {
                    period: file.period,
                },
                TokenKind::Hotp { counter } => UriKind::Hotp { counter },
            },
        }));
        Provisioning {
            issuer: issuer.to_string(),
            label: label.to_string(),
            secret_base32,
            uri,
            algorithm: file.algorithm,
            digits: file.digits,
            period: file.period,
            kind: file.kind,
        }
    }

    /// The QR code of the URI.
    pub fn qr_code(&self) -> Result<Matrix, qrcode::types::QrError> {
        Matrix::encode(&self.uri)
    }

    /// What to type by hand, and the URI.
    pub fn details(&self) -> Vec<String> {
        vec![
            format!("Issuer:  {}", self.issuer),
            format!("Account: {}", self.label),
            format!("Secret:  {}", in_groups_of_four(&self.secret_base32)),
            format!("Type:    {}", self.kind_line()),
            format!("URI:     {}", self.uri.as_str()),
        ]
    }

    /// "time-based (TOTP), SHA1, 6 digits, every 30 seconds", or the HOTP form.
    pub fn kind_line(&self) -> String {
        match self.kind {
            TokenKind::Totp => format!(
                "time-based (TOTP), {}, {} digits, every {} seconds",
                self.algorithm.name(),
                self.digits,
                self.period
            ),
            TokenKind::Hotp { counter } => format!(
                "counter-based (HOTP), {}, {} digits, next counter value {counter}",
                self.algorithm.name(),
                self.digits
            ),
        }
    }

    /// The prompt for the code that confirms the enrollment.
    pub fn code_prompt(&self) -> String {
        match self.kind {
            TokenKind::Totp => format!("Type the {}-digit code the app shows now: ", self.digits),
            TokenKind::Hotp { .. } => format!(
                "Press the token (or the app's refresh) and type the {}-digit code: ",
                self.digits
            ),
        }
    }

    /// After a wrong confirming code, with `tries_left` > 0.
    pub fn wrong_code(&self, tries_left: u32) -> String {
        match self.kind {
            TokenKind::Totp => wrong_code(tries_left),
            TokenKind::Hotp { .. } => format!(
                "That is not the token's next code ({tries_left} {} left). Check the seed and --counter (the counter value the token shows next).",
                if tries_left == 1 { "try" } else { "tries" }
            ),
        }
    }
}

/// The issuer shown in the app: the configured one, else the host name.
pub fn issuer(configured: Option<&str>) -> String {
    configured.map_or_else(crate::system::host::host_name, str::to_string)
}

/// The account label shown in the app: `USER@HOST`.
pub fn label(user: &str) -> String {
    format!("{user}@{}", crate::system::host::host_name())
}

/// After a wrong confirming code, with `tries_left` > 0.
pub fn wrong_code(tries_left: u32) -> String {
    format!(
        "That is not the current code ({tries_left} {} left). Check that the phone sets its clock automatically.",
        if tries_left == 1 { "try" } else { "tries" }
    )
}

/// What a user without recovery codes (`recovery_codes = 0`) does about
/// a lost phone: without a code there is no login to fix it from.
pub const LOST_PHONE: &str = "If you lose the phone, ask an administrator.";

/// The recovery codes, once, and what to do with them. With none made,
/// the words follow the configuration: where recovery codes are turned
/// off (`offered` false, `recovery_codes = 0`) nothing is said of them,
/// only what to do about a lost phone.
pub fn recovery_code_lines(user: &str, codes: &[Zeroizing<String>], offered: bool) -> Vec<String> {
    if codes.is_empty() {
        return vec![match offered {
            true => "No recovery codes were created; run `pam-totp recovery-codes` to create some."
                .into(),
            false => LOST_PHONE.into(),
        }];
    }
    let mut lines = vec![format!(
        "Recovery codes for {user} (each works once at the code prompt; shown only now):"
    )];
    lines.extend(codes.iter().map(|code| format!("  {}", code.as_str())));
    lines.push(
        "Keep them somewhere safe away from your phone (a password manager, or on paper): \
         they are how you log in if you lose it."
            .into(),
    );
    lines
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

    #[test]
    fn details_show_the_secret_grouped_and_the_uri() {
        let file = SecretFile {
            secret: Zeroizing::new(b"Hello!\xde\xad\xbe\xef".to_vec()),
            algorithm: HashAlgorithm::Sha1,
            digits: 6,
            period: 30,
            recovery: Vec::new(),
            kind: TokenKind::Totp,
        };
        let shown = Provisioning::new("host", "alice@host", &file);
        assert_eq!(shown.secret_base32.as_str(), "JBSWY3DPEHPK3PXP");
        assert_eq!(
            shown.details(),
            [
                "Issuer:  host",
                "Account: alice@host",
                "Secret:  JBSW Y3DP EHPK 3PXP",
                "Type:    time-based (TOTP), SHA1, 6 digits, every 30 seconds",
                "URI:     otpauth://totp/host:alice%40host?secret=JBSWY3DPEHPK3PXP&issuer=host&algorithm=SHA1&digits=6&period=30",
            ]
        );
        assert_eq!(
            shown.code_prompt(),
            "Type the 6-digit code the app shows now: "
        );
    }

    #[test]
    fn hotp_details_show_the_counter_uri() {
        let file = SecretFile {
            secret: Zeroizing::new(b"Hello!\xde\xad\xbe\xef".to_vec()),
            algorithm: HashAlgorithm::Sha1,
            digits: 8,
            period: 30,
            recovery: Vec::new(),
            kind: TokenKind::Hotp { counter: 4 },
        };
        let shown = Provisioning::new("host", "alice@host", &file);
        let details = shown.details();
        assert_eq!(
            details[3],
            "Type:    counter-based (HOTP), SHA1, 8 digits, next counter value 4"
        );
        assert_eq!(
            details[4],
            "URI:     otpauth://hotp/host:alice%40host?secret=JBSWY3DPEHPK3PXP&issuer=host&algorithm=SHA1&digits=8&counter=4"
        );
        assert!(shown.code_prompt().starts_with("Press the token"));
        assert!(shown.wrong_code(2).contains("--counter"));
    }
}
