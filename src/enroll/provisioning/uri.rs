//! The `otpauth://` Key URI that authenticator apps scan.

use crate::otp::code::HashAlgorithm;

pub struct KeyUri<'a> {
    pub issuer: &'a str,
    pub label: &'a str,
    pub secret_base32: &'a str,
    pub algorithm: HashAlgorithm,
    pub digits: u8,
    pub kind: UriKind,
}

/// `otpauth://totp/...&period=P` or `otpauth://hotp/...&counter=N`.
pub enum UriKind {
    Totp { period: u64 },
    Hotp { counter: u64 },
}

impl KeyUri<'_> {
    /// The URI with the parameters that have the Key URI format's default
    /// value (SHA1, 6 digits, a period of 30 seconds) left out: every app
    /// reads it as the full one, and its QR code is smaller.
    pub fn to_short_uri(&self) -> String {
        let mut short = self.to_uri();
        for default in ["&algorithm=SHA1", "&digits=6", "&period=30"] {
            // Only a whole parameter: "&digits=6" is not "&digits=6x".
            if let Some(at) = short.find(default) {
                let end = at + default.len();
                if short.get(end..end + 1).is_none_or(|next| next == "&") {
                    short.replace_range(at..end, "");
                }
            }
        }
        short
    }

    pub fn to_uri(&self) -> String {
        let (kind, last) = match self.kind {
            UriKind::Totp { period } => ("totp", format!("period={period}")),
            UriKind::Hotp { counter } => ("hotp", format!("counter={counter}")),
        };
        format!(
            "otpauth://{kind}/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&{last}",
            encode(self.issuer),
            encode(self.label),
            self.secret_base32,
            encode(self.issuer),
            self.algorithm.name(),
            self.digits,
        )
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_uri_leaves_out_default_values_only() {
        let mut uri = KeyUri {
            issuer: "h",
            label: "bob@h",
            secret_base32: "JBSWY3DPEHPK3PXP",
            algorithm: HashAlgorithm::Sha1,
            digits: 6,
            kind: UriKind::Totp { period: 30 },
        };
        assert_eq!(
            uri.to_short_uri(),
            "otpauth://totp/h:bob%40h?secret=JBSWY3DPEHPK3PXP&issuer=h"
        );
        uri.digits = 8;
        uri.kind = UriKind::Totp { period: 300 };
        assert_eq!(
            uri.to_short_uri(),
            "otpauth://totp/h:bob%40h?secret=JBSWY3DPEHPK3PXP&issuer=h&digits=8&period=300"
        );
    }

    #[test]
    fn uri_has_every_parameter_and_encodes_labels() {
        let uri = KeyUri {
            issuer: "My Host",
            label: "alice@my host",
            secret_base32: "JBSWY3DPEHPK3PXP",
            algorithm: HashAlgorithm::Sha256,
            digits: 8,
            kind: UriKind::Totp { period: 60 },
        }
        .to_uri();
        assert_eq!(
            uri,
            "otpauth://totp/My%20Host:alice%40my%20host?secret=JBSWY3DPEHPK3PXP&issuer=My%20Host&algorithm=SHA256&digits=8&period=60"
        );
        let uri = KeyUri {
            issuer: "h",
            label: "bob@h",
            secret_base32: "JBSWY3DPEHPK3PXP",
            algorithm: HashAlgorithm::Sha1,
            digits: 6,
            kind: UriKind::Hotp { counter: 7 },
        }
        .to_uri();
        assert_eq!(
            uri,
            "otpauth://hotp/h:bob%40h?secret=JBSWY3DPEHPK3PXP&issuer=h&algorithm=SHA1&digits=6&counter=7"
        );
    }
}
