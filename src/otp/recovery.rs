//! Single-use recovery codes: `xxxx-xxxx` from Crockford's base32 alphabet
//! (40 bits each), stored only as salted SHA-256 hashes.
//!
//! Those hashes protect the codes from being read, not from being guessed:
//! whoever has a copy of one can test all 2^40 codes in seconds on a GPU.
//! The files store keeps them beside the plain secret, under the same
//! permissions, so a copy of the file gives the second factor anyway. The
//! PostgreSQL store keeps them keyed: an HMAC-SHA256, under a random
//! [`RecoveryKey`] sealed with the enrollment, of the salted SHA-256
//! (`hmac-sha256:<salt hex>:<mac hex>`), so a dump of the database does
//! not let anyone test a guess without `secret_key_file`. Keying an
//! existing salted hash needs no code ([`RecoveryHash::keyed`]).

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Crockford's base32: no I, L, O or U, so codes are easy to read aloud.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const CODE_CHARS: usize = 8;
const SALT_BYTES: usize = 16;
const HASH_PREFIX: &str = "sha256";
const KEYED_PREFIX: &str = "hmac-sha256";
/// Bytes of a [`RecoveryKey`].
pub const RECOVERY_KEY_LEN: usize = 32;

/// The key of one database enrollment's recovery hashes: random, kept only
/// inside the sealed enrollment (so re-sealing with a new
/// `secret_key_file` key keeps the hashes valid). Wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey([u8; RECOVERY_KEY_LEN]);

impl RecoveryKey {
    pub fn from_bytes(bytes: [u8; RECOVERY_KEY_LEN]) -> RecoveryKey {
        RecoveryKey(bytes)
    }

    /// A new key from the OS random source.
    pub fn random() -> std::io::Result<RecoveryKey> {
        let mut bytes = [0u8; RECOVERY_KEY_LEN];
        crate::system::random::fill(&mut bytes)?;
        Ok(RecoveryKey(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; RECOVERY_KEY_LEN] {
        &self.0
    }

    /// HMAC-SHA256 of a salted digest under this key.
    fn mac(&self, inner: &[u8; 32]) -> Option<[u8; 32]> {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).ok()?;
        mac.update(inner);
        Some(mac.finalize().into_bytes().into())
    }
}

impl Drop for RecoveryKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

/// The canonical form of a typed recovery code (lower case, no hyphen,
/// o→0, i/l→1), or `None` if it cannot be one.
pub fn normalize(text: &str) -> Option<Zeroizing<String>> {
    let mut canonical = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for (index, c) in text.chars().enumerate() {
        if c == '-' && index == CODE_CHARS / 2 {
            continue;
        }
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        canonical.push(c);
    }
    (canonical.len() == CODE_CHARS).then_some(canonical)
}

/// A stored recovery code hash: `sha256:<salt hex>:<digest hex>` (files
/// store), or keyed, `hmac-sha256:<salt hex>:<mac hex>` (database).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryHash {
    salt: Vec<u8>,
    digest: [u8; 32],
    /// Keyed: `digest` is the HMAC of the salted digest under this key.
    key: Option<RecoveryKey>,
}

impl RecoveryHash {
    /// A salted hash (`sha256:`), as the files store keeps them.
    pub fn parse(text: &str) -> Option<RecoveryHash> {
        parse_with_prefix(text, HASH_PREFIX)
    }

    /// A keyed hash (`hmac-sha256:`) made with `key`, as the database keeps them.
    pub fn parse_keyed(text: &str, key: &RecoveryKey) -> Option<RecoveryHash> {
        let mut hash = parse_with_prefix(text, KEYED_PREFIX)?;
        hash.key = Some(key.clone());
        Some(hash)
    }

    /// Hash a canonical code with a fresh salt.
    pub fn new(canonical: &str, salt: Vec<u8>) -> RecoveryHash {
        let digest = digest(&salt, canonical);
        RecoveryHash {
            salt,
            digest,
            key: None,
        }
    }

    /// This hash keyed with `key`: a salted hash is keyed (no code needed),
    /// a hash keyed with `key` already is itself; `None` for a hash keyed
    /// with another key.
    pub fn keyed(&self, key: &RecoveryKey) -> Option<RecoveryHash> {
        match &self.key {
            None => Some(RecoveryHash {
                salt: self.salt.clone(),
                digest: key.mac(&self.digest)?,
                key: Some(key.clone()),
            }),
            Some(own) if own == key => Some(self.clone()),
            Some(_) => None,
        }
    }

    /// The key of a keyed hash.
    pub fn key(&self) -> Option<&RecoveryKey> {
        self.key.as_ref()
    }

    /// Whether `canonical` is this code, compared in constant time.
    pub fn matches(&self, canonical: &str) -> bool {
        let candidate = digest(&self.salt, canonical);
        match &self.key {
            None => constant_time_eq(&candidate, &self.digest),
            Some(key) => key
                .mac(&candidate)
                .is_some_and(|mac| constant_time_eq(&mac, &self.digest)),
        }
    }

    /// A short identifier stored in the state once the code is used.
    pub fn id(&self) -> String {
        encode_hex(self.digest.get(..8).unwrap_or(&[]))
    }

    pub fn encode(&self) -> String {
        let prefix = match self.key {
            None => HASH_PREFIX,
            Some(_) => KEYED_PREFIX,
        };
        format!(
            "{prefix}:{}:{}",
            encode_hex(&self.salt),
            encode_hex(&self.digest)
        )
    }
}

fn parse_with_prefix(text: &str, expected: &str) -> Option<RecoveryHash> {
    // A third colon lands in the digest, which then is not hex.
    let (prefix, rest) = split_at_colon(text)?;
    let (salt, digest) = split_at_colon(rest)?;
    if prefix != expected {
        return None;
    }
    let salt = decode_hex(salt)?;
    let digest: [u8; 32] = decode_hex(digest)?.try_into().ok()?;
    if salt.len() < 8 {
        return None;
    }
    Some(RecoveryHash {
        salt,
        digest,
        key: None,
    })
}

/// The text before and after the first `:`, found with memchr: core's
/// char searcher cost a third of the parse, for every hash on every login.
fn split_at_colon(text: &str) -> Option<(&str, &str)> {
    let at = memchr::memchr(b':', text.as_bytes())?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

fn digest(salt: &[u8], canonical: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(canonical.as_bytes());
    hasher.finalize().into()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// Generate `count` codes from the OS random source: the codes to show
/// once (`xxxx-xxxx`) and their hashes to store.
pub fn generate(count: usize) -> std::io::Result<(Vec<Zeroizing<String>>, Vec<RecoveryHash>)> {
    let mut codes = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let random = Zeroizing::new(crate::system::random::bytes(CODE_CHARS)?);
        let canonical: Zeroizing<String> = Zeroizing::new(
            random
                .iter()
                .map(|b| {
                    ALPHABET
                        .get(usize::from(b & 31))
                        .map_or('0', |&c| c as char)
                })
                .collect(),
        );
        let salt = crate::system::random::bytes(SALT_BYTES)?;
        hashes.push(RecoveryHash::new(&canonical, salt));
        let (left, right) = canonical.split_at(CODE_CHARS / 2);
        codes.push(Zeroizing::new(format!("{left}-{right}")));
    }
    Ok((codes, hashes))
}

/// Hash an existing code (e.g. an imported scratch code) with a fresh
/// salt; `None` if it cannot be typed as a recovery code.
pub fn hash_existing(code: &str) -> std::io::Result<Option<RecoveryHash>> {
    let Some(canonical) = normalize(code) else {
        return Ok(None);
    };
    let salt = crate::system::random::bytes(SALT_BYTES)?;
    Ok(Some(RecoveryHash::new(&canonical, salt)))
}

/// How many of `hashes` are not among the `used` identifiers (identifiers
/// of codes replaced since are ignored).
pub fn unused_count(hashes: &[RecoveryHash], used: &[String]) -> usize {
    hashes.iter().filter(|h| !used.contains(&h.id())).count()
}

fn encode_hex(bytes: &[u8]) -> String {
    // Used for every recovery hash's identifier on each login: no format!
    // (and no allocation) per byte.
    let digit = |value: u8| char::from_digit(u32::from(value), 16).unwrap_or('0');
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(digit(byte >> 4));
        text.push(digit(byte & 0x0f));
    }
    text
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.len() > 256 {
        return None;
    }
    // Read on every login (the secret file's recovery hashes): no early
    // exit per pair, one validity check at the end.
    let value = |digit: &u8| match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => NOT_HEX,
    };
    let mut invalid = 0u8;
    let bytes: Vec<u8> = text
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let (high, low) = match pair {
                [high, low] => (value(high), value(low)),
                _ => (NOT_HEX, NOT_HEX),
            };
            invalid |= high | low;
            high << 4 | (low & 0x0f)
        })
        .collect();
    (invalid & 0xf0 == 0).then_some(bytes)
}

const NOT_HEX: u8 = 0xff;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..=255u8).collect();
        let text = encode_hex(&bytes);
        assert_eq!(text.get(..8), Some("00010203"));
        assert_eq!(text.get(text.len() - 4..), Some("feff"));
        assert_eq!(
            decode_hex(text.get(..256).unwrap()),
            bytes.get(..128).map(<[u8]>::to_vec)
        );
    }

    #[test]
    fn hex_decodes_digits_only() {
        assert_eq!(decode_hex("00ff7A"), Some(vec![0x00, 0xff, 0x7a]));
        assert_eq!(decode_hex(""), Some(vec![]));
        for bad in ["0", "0g", "+f", " f", "f-", "\u{e9}"] {
            assert_eq!(decode_hex(bad), None, "{bad:?}");
        }
        let all: String = (0..=127u8).map(|b| format!("{:02x}", b * 2 + 1)).collect();
        assert_eq!(
            decode_hex(&all),
            Some((0..=127u8).map(|b| b * 2 + 1).collect())
        );
    }

    #[test]
    fn generated_codes_verify_once_hashed() {
        let (codes, hashes) = generate(5).unwrap();
        assert_eq!(codes.len(), 5);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 9);
            let canonical = normalize(code).unwrap();
            assert!(hash.matches(&canonical));
            let reparsed = RecoveryHash::parse(&hash.encode()).unwrap();
            assert_eq!(&reparsed, hash);
            assert!(!hash.encode().contains(code.as_str()));
        }
        let other = normalize(&codes[1]).unwrap();
        assert!(!hashes[0].matches(&other));
    }

    #[test]
    fn typing_is_forgiving() {
        assert_eq!(normalize("ABCD-EFGH").unwrap().as_str(), "abcdefgh");
        assert_eq!(normalize("oIlL2345").unwrap().as_str(), "01112345");
        assert!(normalize("abc-defgh").is_none());
        assert!(normalize("abcdefg").is_none());
        assert!(normalize("abcdefghu").is_none());
        assert!(normalize("abcd efgh").is_none());
    }

    #[test]
    fn existing_codes_hash_and_count() {
        let first = hash_existing("58078289").unwrap().unwrap();
        let second = hash_existing("abcd-efgh").unwrap().unwrap();
        assert!(first.matches("58078289"));
        assert!(hash_existing("1234567").unwrap().is_none());
        let hashes = vec![first.clone(), second];
        assert_eq!(unused_count(&hashes, &[]), 2);
        assert_eq!(unused_count(&hashes, &[first.id(), "stale".into()]), 1);
    }

    #[test]
    fn keyed_hashes_need_their_key() {
        let key = RecoveryKey::from_bytes([3; 32]);
        let other = RecoveryKey::from_bytes([4; 32]);
        let salted = RecoveryHash::new("abcdefgh", vec![7; 16]);
        let keyed = salted.keyed(&key).unwrap();
        assert!(keyed.matches("abcdefgh"));
        assert!(!keyed.matches("abcdefgj"));
        assert_ne!(keyed.id(), salted.id());
        let text = keyed.encode();
        assert!(text.starts_with("hmac-sha256:0707"), "{text}");
        // Neither format parses as the other.
        assert!(RecoveryHash::parse(&text).is_none());
        assert!(RecoveryHash::parse_keyed(&salted.encode(), &key).is_none());
        assert_eq!(RecoveryHash::parse_keyed(&text, &key), Some(keyed.clone()));
        // Under another key the same text is another hash.
        let wrong = RecoveryHash::parse_keyed(&text, &other).unwrap();
        assert!(!wrong.matches("abcdefgh"));
        assert_eq!(keyed.keyed(&key), Some(keyed.clone()));
        assert_eq!(keyed.keyed(&other), None);
        assert_eq!(format!("{:?}", key), "RecoveryKey(<redacted>)");
        // The MAC is HMAC-SHA256(key, SHA-256(salt || code)), as
        // pam-totp.toml(5) tells a panel (checked against Python's hmac).
        assert_eq!(
            text,
            "hmac-sha256:07070707070707070707070707070707:1bdafbf4ab7fb18d205e9d64e436eeaad1146633bc58d96853a9c4f6a6678e4a"
        );
    }

    #[test]
    fn bad_hashes_are_refused() {
        assert!(RecoveryHash::parse("plain").is_none());
        assert!(RecoveryHash::parse("sha256:00:00").is_none());
        assert!(RecoveryHash::parse("md5:0011223344556677:00").is_none());
        let good = RecoveryHash::new("abcdefgh", vec![7; 16]).encode();
        assert_eq!(
            RecoveryHash::parse(&good).map(|hash| hash.encode()),
            Some(good.clone())
        );
        for bad in [
            format!("{good}:"),
            format!("{good}:00"),
            format!(":{good}"),
            good.replacen(':', "", 1),
            good.replacen("sha256", "SHA256", 1),
            good.replacen(':', "::", 2),
        ] {
            assert!(RecoveryHash::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn differences_that_cancel_out_are_still_differences() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(&[1, 2, 3], &[1, 2, 3]));
        // 1^0 = 1 and 2^3 = 1: folded with ^ they would cancel.
        assert!(!constant_time_eq(&[1, 2], &[0, 3]));
        assert!(!constant_time_eq(&[0xff, 0x0f, 0xf0], &[0x00, 0xf0, 0x0f]));
        assert!(!constant_time_eq(&[1, 2], &[1, 2, 3]));
    }

    #[test]
    fn generated_codes_use_the_whole_alphabet() {
        let (codes, _) = generate(40).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for code in &codes {
            for c in code.chars().filter(|c| *c != '-') {
                assert!(ALPHABET.contains(&(c as u8)), "{}", code.as_str());
                seen.insert(c);
            }
        }
        // 320 characters drawn from 32: a fixed or skewed mapping shows.
        assert!(seen.len() >= 24, "only {seen:?}");
        let distinct: std::collections::BTreeSet<&str> = codes.iter().map(|c| c.as_str()).collect();
        assert_eq!(distinct.len(), codes.len());
    }

    #[test]
    fn salts_shorter_than_eight_bytes_are_refused() {
        let digest = "00".repeat(32);
        let parse = |salt_bytes: usize| {
            RecoveryHash::parse(&format!("sha256:{}:{digest}", "ab".repeat(salt_bytes)))
        };
        assert!(parse(7).is_none());
        assert!(parse(8).is_some());
        assert!(parse(128).is_some());
        assert!(parse(129).is_none(), "longer than 256 hex digits");
        assert!(
            RecoveryHash::parse(&format!("sha256:{}:{}", "ab".repeat(8), "00".repeat(31)))
                .is_none()
        );
        assert!(
            RecoveryHash::parse(&format!("sha256:{}:{}", "ab".repeat(8), "00".repeat(33)))
                .is_none()
        );
    }

    #[test]
    fn identifiers_are_the_first_eight_digest_bytes_in_hex() {
        let hash = RecoveryHash::new("abcdefgh", vec![1; 16]);
        let encoded = hash.encode();
        let digest = encoded.rsplit(':').next().unwrap();
        assert_eq!(hash.id(), &digest[..16]);
        assert_ne!(hash.id(), RecoveryHash::new("abcdefgh", vec![2; 16]).id());
    }
}
