//! The `otpauth://` Key URI that authenticator apps scan.

use crate::otp::HashAlgorithm;

pub struct KeyUri<'a> {
    pub issuer: &'a str,
    pub label: &'a str,
    pub secret_base32: &'a str,
    pub algorithm: HashAlgorithm,
    pub digits: u8,
    pub period: u64,
}

impl KeyUri<'_> {
    pub fn to_uri(&self) -> String {
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={}&period={}",
            encode(self.issuer),
            encode(self.label),
            self.secret_base32,
            encode(self.issuer),
            self.algorithm.name(),
            self.digits,
            self.period
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
    fn uri_has_every_parameter_and_encodes_labels() {
        let uri = KeyUri {
            issuer: "My Host",
            label: "alice@my host",
            secret_base32: "JBSWY3DPEHPK3PXP",
            algorithm: HashAlgorithm::Sha256,
            digits: 8,
            period: 60,
        }
        .to_uri();
        assert_eq!(
            uri,
            "otpauth://totp/My%20Host:alice%40my%20host?secret=JBSWY3DPEHPK3PXP&issuer=My%20Host&algorithm=SHA256&digits=8&period=60"
        );
    }
}
