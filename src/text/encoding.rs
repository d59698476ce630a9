//! The encodings of secrets: base32 (RFC 4648, as authenticator apps,
//! `otpauth://` URIs and google-authenticator files give them) and
//! hexadecimal (as hardware token vendors and pam_oath give seeds). Every
//! decoded or encoded secret is zeroized when dropped.

use zeroize::Zeroizing;

/// Decode a base32 secret (RFC 4648; case, spaces and padding forgiven).
pub fn decode_base32(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| *c != ' ' && *c != '=')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
    );
    if cleaned.is_empty()
        || !cleaned
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    {
        return None;
    }
    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &cleaned).map(Zeroizing::new)
}

/// Decode a hexadecimal secret (either case, an even number of digits;
/// spaces forgiven), as hardware token vendors and pam_oath give seeds.
pub fn decode_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let cleaned: Zeroizing<Vec<u8>> = Zeroizing::new(text.bytes().filter(|b| *b != b' ').collect());
    if cleaned.is_empty() || cleaned.len() % 2 != 0 {
        return None;
    }
    let digit = |b: u8| char::from(b).to_digit(16);
    let mut out = Zeroizing::new(Vec::with_capacity(cleaned.len() / 2));
    for pair in cleaned.chunks_exact(2) {
        let [high, low] = pair else { return None };
        let byte = digit(*high)?.checked_mul(16)?.checked_add(digit(*low)?)?;
        out.push(u8::try_from(byte).ok()?);
    }
    Some(out)
}

/// Encode `bytes` in base32 (RFC 4648, no padding), as authenticator apps
/// and `otpauth://` URIs take secrets.
pub fn encode_base32(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(base32::encode(
        base32::Alphabet::Rfc4648 { padding: false },
        bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_is_forgiving_about_case_spaces_and_padding() {
        let a = decode_base32("JBSW Y3DP EHPK 3PXP").unwrap();
        let b = decode_base32("jbswy3dpehpk3pxp====").unwrap();
        assert_eq!(a, b);
        assert!(decode_base32("").is_none());
        assert!(decode_base32("JBSW1").is_none());
        assert_eq!(decode_hex("3132 33ff").unwrap().as_slice(), b"123\xff");
        assert_eq!(decode_hex("FFfe").unwrap().as_slice(), b"\xff\xfe");
        for bad in ["", "1", "123", "zz", "+1", "１２"] {
            assert!(decode_hex(bad).is_none(), "{bad:?}");
        }
    }
}
