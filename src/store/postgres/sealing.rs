//! Enrollments sealed at rest for the PostgreSQL store: AES-256-GCM
//! (RustCrypto `aes-gcm`, pure Rust, so the module links no libcrypto)
//! under a 32-byte key from `secret_key_file`, the same on every host of
//! a fleet.
//!
//! `secret_key_file` holds one key (32 raw bytes, the first format) or
//! several, one per line in 64 hexadecimal digits (`#` starts a comment):
//! the first seals, the others only open, so a fleet can change keys while
//! it logs in ([`KeyRing`]). A key is named by its [`KeyId`], the first 4
//! bytes of SHA-256 of `pam-totp key id\0` and the key.
//!
//! A sealed enrollment (format 2, [`seal_enrollment`]) is `0x02 || key id
//! (4) || nonce (12 random bytes) || ciphertext || tag`; the plaintext is
//! the enrollment's [`RecoveryKey`] (32 bytes) followed by the secret. The
//! associated data binds every column that decides whether a code is
//! accepted to the user name ([`Binding`]): a row copied to another user,
//! a changed kind, algorithm, digits, period or counter, or a recovery
//! hash added, removed or copied from another row does not open.
//!
//! Format 1 (`0x01 || nonce || ciphertext || tag`, only the secret bound to
//! the user name) is opened only to convert it (`pam-totp db rekey`).

use std::path::{Path, PathBuf};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::otp::recovery::{RECOVERY_KEY_LEN, RecoveryKey};
use crate::system::files::{self, FileRules, ReadError};

/// The format byte of a sealed secret of the first format (the secret only).
pub const FORMAT_V1: u8 = 0x01;
/// The format byte of a sealed enrollment.
pub const FORMAT_V2: u8 = 0x02;
/// The associated-data prefix; the user name follows it.
const AAD_PREFIX: &[u8] = b"pam-totp secret v1\0";
/// Format 2's associated-data prefix; the key id and the bound columns follow.
const AAD_PREFIX_V2: &[u8] = b"pam-totp enrollment v2\0";
const KEY_ID_PREFIX: &[u8] = b"pam-totp key id\0";
const KEY_LEN: usize = 32;
const KEY_ID_LEN: usize = 4;
/// The largest key file read: many keys with comments.
const MAX_KEY_FILE: u64 = 64 * 1024;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The key in `secret_key_file`. Wiped from memory when dropped; never printed.
pub struct SecretKey {
    bytes: [u8; KEY_LEN],
}

impl SecretKey {
    /// The key itself, for deriving other keys from it (decoy buckets).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The name of this key in sealed values and messages.
    pub fn id(&self) -> KeyId {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(KEY_ID_PREFIX);
        hash.update(self.bytes);
        let digest: [u8; 32] = hash.finalize().into();
        let [a, b, c, d, ..] = digest;
        KeyId([a, b, c, d])
    }
}

/// A key's name: the first 4 bytes of SHA-256 of `pam-totp key id\0` and
/// the key, shown as 8 hexadecimal digits. Reveals nothing of the key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The keys of `secret_key_file`: the first seals, every one opens.
#[derive(Debug)]
pub struct KeyRing {
    /// Never empty.
    keys: Vec<SecretKey>,
}

impl KeyRing {
    /// The ring of one key.
    pub fn single(key: SecretKey) -> KeyRing {
        KeyRing { keys: vec![key] }
    }

    /// The ring of `keys`, the first sealing; `None` if there is none.
    pub fn from_keys(keys: Vec<SecretKey>) -> Option<KeyRing> {
        (!keys.is_empty()).then_some(KeyRing { keys })
    }

    /// Load `secret_key_file`: a regular file (not a link) owned by root,
    /// no group or other permission bits, holding one 32-byte key or lines
    /// of 64 hexadecimal digits.
    pub fn load(path: &Path) -> Result<KeyRing, KeyError> {
        let rules = FileRules {
            owners: &[0],
            max_size: MAX_KEY_FILE,
        };
        let contents = Zeroizing::new(files::read_protected(path, &rules).map_err(|error| {
            KeyError::File {
                path: path.to_path_buf(),
                error,
            }
        })?);
        KeyRing::parse(&contents).map_err(|error| error.at(path))
    }

    /// The keys in a key file's contents.
    pub fn parse(contents: &[u8]) -> Result<KeyRing, KeyFormatError> {
        if contents.len() == KEY_LEN {
            let key = SecretKey::from_slice(contents).ok_or(KeyFormatError::Length(KEY_LEN))?;
            return Ok(KeyRing::single(key));
        }
        let text = match std::str::from_utf8(contents) {
            Ok(text)
                if !text.is_empty()
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
            {
                text
            }
            _ => return Err(KeyFormatError::Length(contents.len())),
        };
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
            if !decode_key_hex(line, &mut bytes) {
                return Err(KeyFormatError::Line(index + 1));
            }
            keys.push(SecretKey { bytes: *bytes });
        }
        KeyRing::from_keys(keys).ok_or(KeyFormatError::NoKey)
    }

    /// The key that seals.
    pub fn sealing(&self) -> &SecretKey {
        // Never empty: `from_keys` and `parse` refuse an empty ring.
        #[allow(clippy::indexing_slicing)]
        &self.keys[0]
    }

    /// The key named `id`, if it is in the ring.
    pub fn get(&self, id: KeyId) -> Option<&SecretKey> {
        self.keys.iter().find(|key| key.id() == id)
    }

    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// The key file's text for these keys with `first` before them: one
    /// key per line in hexadecimal, each with its id as a comment.
    pub fn text_with_new_first(&self, first: &SecretKey) -> Zeroizing<String> {
        // Room for every line at once: a reallocation would leave a copy.
        let mut text = Zeroizing::new(String::with_capacity(100 + 96 * (self.keys.len() + 1)));
        text.push_str(
            "# pam-totp secret_key_file: one key per line, the first seals, the others only open.\n",
        );
        for key in std::iter::once(first).chain(self.keys.iter()) {
            // Digit by digit: no temporary string holds the key.
            let digit = |value: u8| char::from_digit(u32::from(value), 16).unwrap_or('0');
            for byte in key.bytes {
                text.push(digit(byte >> 4));
                text.push(digit(byte & 0x0f));
            }
            text.push_str(&format!("  # key {}\n", key.id()));
        }
        text
    }
}

/// 64 hexadecimal digits into `out`; false if `text` is not that.
fn decode_key_hex(text: &str, out: &mut [u8; KEY_LEN]) -> bool {
    if text.len() != KEY_LEN * 2 {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let digits = std::str::from_utf8(pair).ok();
        match digits.and_then(|digits| u8::from_str_radix(digits, 16).ok()) {
            Some(value) => *byte = value,
            None => return false,
        }
    }
    true
}

/// What is wrong inside a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormatError {
    /// Neither 32 bytes nor text: the size found.
    Length(usize),
    /// This line (from 1) is not 64 hexadecimal digits.
    Line(usize),
    /// Text without any key.
    NoKey,
}

impl KeyFormatError {
    fn at(self, path: &Path) -> KeyError {
        match self {
            KeyFormatError::Length(found) => KeyError::Length {
                path: path.to_path_buf(),
                found,
            },
            error => KeyError::Format {
                path: path.to_path_buf(),
                error,
            },
        }
    }
}

impl std::fmt::Display for KeyFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFormatError::Length(found) => write!(
                f,
                "holds {found} bytes, not {KEY_LEN} (nor lines of 64 hexadecimal digits, one key each)"
            ),
            KeyFormatError::Line(line) => write!(
                f,
                "line {line} is not a key: each line holds one key in 64 hexadecimal digits (`#` starts a comment)"
            ),
            KeyFormatError::NoKey => write!(f, "holds no key"),
        }
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Why `secret_key_file` could not be loaded or created.
#[derive(Debug)]
pub enum KeyError {
    /// The file is missing, a link, not regular, not root's, readable by
    /// group or others, or unreadable.
    File { path: PathBuf, error: ReadError },
    /// The file holds neither 32 bytes nor text.
    Length { path: PathBuf, found: usize },
    /// The file is text, but not lines of keys.
    Format {
        path: PathBuf,
        error: KeyFormatError,
    },
    /// `create` found a file (or anything) already at the path.
    AlreadyExists(PathBuf),
    /// Writing the new key failed, or the random source failed.
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::File { path, error } => write!(
                f,
                "secret key file {} {error} (it must be a regular file owned by root, mode 0600)",
                path.display()
            ),
            KeyError::Length { path, found } => write!(
                f,
                "secret key file {} {}; copy the key file from a host where logins work",
                path.display(),
                KeyFormatError::Length(*found)
            ),
            KeyError::Format { path, error } => write!(
                f,
                "secret key file {} {error}; copy the key file from a host where logins work",
                path.display()
            ),
            KeyError::AlreadyExists(path) => write!(
                f,
                "secret key file {} already exists; it is not replaced (secrets sealed with it would no longer open)",
                path.display()
            ),
            KeyError::Write { path, error } => {
                write!(
                    f,
                    "cannot create secret key file {}: {error}",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for KeyError {}

impl SecretKey {
    /// Create a new key from the OS random source at `path` (mode 0600,
    /// owned by the caller, written atomically). Refuses to replace anything
    /// already there.
    pub fn create(path: &Path) -> Result<SecretKey, KeyError> {
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(KeyError::AlreadyExists(path.to_path_buf()));
        }
        let write_error = |error| KeyError::Write {
            path: path.to_path_buf(),
            error,
        };
        let key = SecretKey::random().map_err(write_error)?;
        files::replace_atomically(path, &key.bytes, None).map_err(write_error)?;
        Ok(key)
    }

    /// A new key from the OS random source.
    pub fn random() -> std::io::Result<SecretKey> {
        let mut key = SecretKey {
            bytes: [0; KEY_LEN],
        };
        crate::system::random::fill(&mut key.bytes)?;
        Ok(key)
    }

    /// A key from raw bytes (exactly 32), for tests and imports.
    pub fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SecretKey { bytes })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.bytes.into())
    }
}

/// Why a sealed value did not open. None of these says which byte was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Shorter than format byte + nonce + tag.
    Truncated,
    /// The first byte is not a known format.
    UnknownFormat(u8),
    /// Authentication failed: another key, another user's row, or altered bytes.
    NotAuthentic,
    /// A format-1 value, which binds only the secret: to be converted.
    OldFormat,
    /// Sealed with a key that is not in `secret_key_file`.
    UnknownKey(KeyId),
    /// Sealing only: the random source failed.
    Random,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealError::Truncated => write!(f, "the sealed secret is truncated"),
            SealError::UnknownFormat(byte) => {
                write!(f, "the sealed secret has unknown format {byte:#04x}")
            }
            SealError::NotAuthentic => write!(
                f,
                "it does not verify with its key for this user: the row was copied from another user, or a column (kind, algorithm, digits, period, counter, recovery) or the sealed bytes were changed by someone without the key, or this host's key file holds another key with that id"
            ),
            SealError::OldFormat => write!(
                f,
                "it is sealed in the first format, which does not protect the other columns: run `pam-totp db rekey` (root) once to convert every row"
            ),
            SealError::UnknownKey(id) => write!(
                f,
                "it is sealed with key {id}, which is not in secret_key_file: put that key back in the file (after the first key) until `pam-totp db rekey` has re-sealed every row, or enroll the user again"
            ),
            SealError::Random => write!(f, "the random source failed"),
        }
    }
}

impl std::error::Error for SealError {}

fn associated_data(user_name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + user_name.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(user_name.as_bytes());
    aad
}

/// Seal `plaintext` for `user_name`: format byte, random nonce, ciphertext and tag.
pub fn seal(key: &SecretKey, user_name: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::system::random::fill(&mut nonce).map_err(|_| SealError::Random)?;
    let mut buffer = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    buffer.push(FORMAT_V1);
    buffer.extend_from_slice(&nonce);
    let mut body = Zeroizing::new(plaintext.to_vec());
    key.cipher()
        .encrypt_in_place(&Nonce::from(nonce), &associated_data(user_name), &mut *body)
        .map_err(|_| SealError::NotAuthentic)?;
    buffer.extend_from_slice(&body);
    Ok(buffer)
}

/// Open a value made by [`seal`] for the same user with the same key.
pub fn open(
    key: &SecretKey,
    user_name: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (&format, rest) = sealed.split_first().ok_or(SealError::Truncated)?;
    if format != FORMAT_V1 {
        return Err(SealError::UnknownFormat(format));
    }
    if rest.len() < NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Truncated)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    key.cipher()
        .decrypt_in_place(
            &Nonce::from(nonce),
            &associated_data(user_name),
            &mut *buffer,
        )
        .map_err(|_| SealError::NotAuthentic)?;
    Ok(buffer)
}

/// Open a format-1 value with whichever key of `ring` opens it (to convert it).
pub fn open_v1(
    ring: &KeyRing,
    user_name: &str,
    sealed: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, KeyId), SealError> {
    let mut last = SealError::NotAuthentic;
    for key in ring.keys() {
        match open(key, user_name, sealed) {
            Ok(plain) => return Ok((plain, key.id())),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// The columns of one enrollment row that decide whether a code is
/// accepted, bound to its user name by the seal, exactly as stored.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub user: &'a str,
    pub kind: &'a str,
    pub algorithm: &'a str,
    pub digits: i16,
    pub period: i32,
    pub counter: i64,
    pub recovery: &'a [String],
}

impl Binding<'_> {
    /// `pam-totp enrollment v2\0`, the key id, then the user name, kind,
    /// algorithm, digits, period and counter (numbers in decimal) and each
    /// recovery hash, each followed by a NUL byte. None of them can hold a
    /// NUL byte (PostgreSQL text cannot), so the encoding is unambiguous.
    fn associated_data(&self, key: KeyId) -> Option<Vec<u8>> {
        let numbers = [
            self.digits.to_string(),
            self.period.to_string(),
            self.counter.to_string(),
        ];
        let fields = [self.user, self.kind, self.algorithm]
            .into_iter()
            .chain(numbers.iter().map(String::as_str))
            .chain(self.recovery.iter().map(String::as_str));
        let mut aad = Vec::with_capacity(128 + 96 * self.recovery.len());
        aad.extend_from_slice(AAD_PREFIX_V2);
        aad.extend_from_slice(&key.0);
        for field in fields {
            if field.as_bytes().contains(&0) {
                return None;
            }
            aad.extend_from_slice(field.as_bytes());
            aad.push(0);
        }
        Some(aad)
    }
}

/// What a sealed enrollment holds.
pub struct Opened {
    pub recovery_key: RecoveryKey,
    pub secret: Zeroizing<Vec<u8>>,
    /// The key that sealed it.
    pub key: KeyId,
}

/// The key a sealed value of format 2 names; `None` for any other value.
pub fn sealed_key_id(sealed: &[u8]) -> Option<KeyId> {
    match sealed {
        [FORMAT_V2, a, b, c, d, ..] => Some(KeyId([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Seal an enrollment with the ring's first key, binding `binding`.
pub fn seal_enrollment(
    ring: &KeyRing,
    binding: &Binding<'_>,
    recovery_key: &RecoveryKey,
    secret: &[u8],
) -> Result<Vec<u8>, SealError> {
    let key = ring.sealing();
    let id = key.id();
    let aad = binding.associated_data(id).ok_or(SealError::NotAuthentic)?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::system::random::fill(&mut nonce).map_err(|_| SealError::Random)?;
    let mut body = Zeroizing::new(Vec::with_capacity(
        RECOVERY_KEY_LEN + secret.len() + TAG_LEN,
    ));
    body.extend_from_slice(recovery_key.as_bytes());
    body.extend_from_slice(secret);
    key.cipher()
        .encrypt_in_place(&Nonce::from(nonce), &aad, &mut *body)
        .map_err(|_| SealError::NotAuthentic)?;
    let mut sealed = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + body.len());
    sealed.push(FORMAT_V2);
    sealed.extend_from_slice(&id.0);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// Open an enrollment sealed by [`seal_enrollment`] with the key it names,
/// if `binding` is what was sealed.
pub fn open_enrollment(
    ring: &KeyRing,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<Opened, SealError> {
    let (&format, rest) = sealed.split_first().ok_or(SealError::Truncated)?;
    match format {
        FORMAT_V2 => {}
        FORMAT_V1 if rest.len() >= NONCE_LEN + TAG_LEN => return Err(SealError::OldFormat),
        FORMAT_V1 => return Err(SealError::Truncated),
        other => return Err(SealError::UnknownFormat(other)),
    }
    if rest.len() < KEY_ID_LEN + NONCE_LEN + RECOVERY_KEY_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (id, rest) = rest.split_at(KEY_ID_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let id = KeyId(id.try_into().map_err(|_| SealError::Truncated)?);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Truncated)?;
    let key = ring.get(id).ok_or(SealError::UnknownKey(id))?;
    let aad = binding.associated_data(id).ok_or(SealError::NotAuthentic)?;
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    key.cipher()
        .decrypt_in_place(&Nonce::from(nonce), &aad, &mut *buffer)
        .map_err(|_| SealError::NotAuthentic)?;
    let (recovery_key, secret) = buffer
        .split_first_chunk::<RECOVERY_KEY_LEN>()
        .ok_or(SealError::Truncated)?;
    Ok(Opened {
        recovery_key: RecoveryKey::from_bytes(*recovery_key),
        secret: Zeroizing::new(secret.to_vec()),
        key: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).unwrap()
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let k = key(7);
        let a = seal(&k, "alice", b"JBSWY3DPEHPK3PXP").unwrap();
        let b = seal(&k, "alice", b"JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(a[0], FORMAT_V1);
        assert_eq!(a.len(), 1 + 12 + 16 + 16);
        assert_ne!(a, b, "a nonce was reused");
        assert!(!a.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"));
        assert_eq!(&*open(&k, "alice", &a).unwrap(), b"JBSWY3DPEHPK3PXP");
    }

    #[test]
    fn wrong_key_is_refused() {
        let sealed = seal(&key(1), "alice", b"secret").unwrap();
        assert_eq!(
            open(&key(2), "alice", &sealed),
            Err(SealError::NotAuthentic)
        );
    }

    #[test]
    fn another_users_row_is_refused() {
        let sealed = seal(&key(1), "alice", b"secret").unwrap();
        assert_eq!(open(&key(1), "bob", &sealed), Err(SealError::NotAuthentic));
        // A prefix of the name is another name too.
        assert_eq!(open(&key(1), "alic", &sealed), Err(SealError::NotAuthentic));
    }

    #[test]
    fn truncated_or_altered_values_are_refused() {
        let k = key(1);
        let sealed = seal(&k, "alice", b"secret").unwrap();
        for len in 0..sealed.len() {
            let result = open(&k, "alice", &sealed[..len]);
            assert!(result.is_err(), "a {len}-byte prefix opened");
        }
        assert_eq!(open(&k, "alice", &sealed[..28]), Err(SealError::Truncated));
        assert_eq!(open(&k, "alice", &[]), Err(SealError::Truncated));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&k, "alice", &altered), Err(SealError::NotAuthentic));
        let mut altered = sealed;
        altered[5] ^= 0x80;
        assert_eq!(open(&k, "alice", &altered), Err(SealError::NotAuthentic));
    }

    #[test]
    fn unknown_format_byte_is_refused() {
        let k = key(1);
        let mut sealed = seal(&k, "alice", b"secret").unwrap();
        sealed[0] = 0x02;
        assert_eq!(
            open(&k, "alice", &sealed),
            Err(SealError::UnknownFormat(0x02))
        );
    }

    #[test]
    fn debug_does_not_show_the_key() {
        assert_eq!(format!("{:?}", key(0x41)), "SecretKey(<redacted>)");
    }

    #[test]
    fn create_then_load_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let created = SecretKey::create(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            SecretKey::create(&path),
            Err(KeyError::AlreadyExists(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        if crate::system::account::effective_uid() != 0 {
            return; // load insists on root ownership
        }
        let loaded = KeyRing::load(&path).unwrap();
        let sealed = seal(&created, "alice", b"x").unwrap();
        assert_eq!(&*open(loaded.sealing(), "alice", &sealed).unwrap(), b"x");
    }

    #[test]
    fn load_refuses_bad_files() {
        if crate::system::account::effective_uid() != 0 {
            return; // load insists on root ownership
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(matches!(
            KeyRing::load(&path),
            Err(KeyError::File {
                error: ReadError::Missing,
                ..
            })
        ));
        for len in [31, 33, 0, 65] {
            files::replace_atomically(&path, &vec![1; len], None).unwrap();
            match KeyRing::load(&path) {
                Err(KeyError::Length { found, .. }) => assert_eq!(found, len),
                other => panic!("{len} bytes: {other:?}"),
            }
        }
        files::replace_atomically(&path, &[1; 32], None).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            KeyRing::load(&path),
            Err(KeyError::File {
                error: ReadError::BadMode(0o640),
                ..
            })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(
            KeyRing::load(&link),
            Err(KeyError::File {
                error: ReadError::Symlink,
                ..
            })
        ));
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert!(matches!(
            KeyRing::load(&path),
            Err(KeyError::File {
                error: ReadError::BadOwner(65534),
                ..
            })
        ));
        let message = KeyRing::load(&path).unwrap_err().to_string();
        assert!(message.contains("owned by root"), "{message}");
    }

    fn binding<'a>(user: &'a str, recovery: &'a [String]) -> Binding<'a> {
        Binding {
            user,
            kind: "totp",
            algorithm: "SHA1",
            digits: 6,
            period: 30,
            counter: 0,
            recovery,
        }
    }

    #[test]
    fn key_files_hold_one_raw_key_or_lines_of_hex_keys() {
        let raw = [7u8; 32];
        let ring = KeyRing::parse(&raw).unwrap();
        assert_eq!(ring.keys().len(), 1);
        assert_eq!(ring.sealing().as_bytes(), &raw);
        let text = ring.text_with_new_first(&key(9));
        let ring = KeyRing::parse(text.as_bytes()).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.sealing().as_bytes(), &[9; 32]);
        assert_eq!(ring.keys()[1].as_bytes(), &raw);
        assert!(
            text.contains(&format!("# key {}", key(9).id())),
            "{}",
            &*text
        );
        // Upper case, blank lines and comments.
        let hex = "AB".repeat(32);
        let ring = KeyRing::parse(format!("# keys\n\n  {hex}  # old\n").as_bytes()).unwrap();
        assert_eq!(ring.sealing().as_bytes(), &[0xab; 32]);
        assert_eq!(
            KeyRing::parse(format!("{hex}\n{}\n", "ab".repeat(31)).as_bytes()).unwrap_err(),
            KeyFormatError::Line(2)
        );
        assert_eq!(
            KeyRing::parse(b"# nothing\n").unwrap_err(),
            KeyFormatError::NoKey
        );
        assert_eq!(
            KeyRing::parse(&[0xff; 31]).unwrap_err(),
            KeyFormatError::Length(31)
        );
        // Ids name keys; 8 hex digits.
        assert_ne!(key(1).id(), key(2).id());
        assert_eq!(key(1).id().to_string().len(), 8);
    }

    #[test]
    fn an_enrollment_opens_only_with_every_bound_column_as_sealed() {
        let ring = KeyRing::single(key(1));
        let recovery = vec!["hmac-sha256:00:11".to_string()];
        let rkey = RecoveryKey::from_bytes([5; 32]);
        let sealed =
            seal_enrollment(&ring, &binding("alice", &recovery), &rkey, b"secret").unwrap();
        assert_eq!(sealed[0], FORMAT_V2);
        assert_eq!(sealed_key_id(&sealed), Some(key(1).id()));
        let opened = open_enrollment(&ring, &binding("alice", &recovery), &sealed).unwrap();
        assert_eq!(&*opened.secret, b"secret");
        assert_eq!(opened.recovery_key, rkey);
        assert_eq!(opened.key, key(1).id());
        let refused = |b: Binding<'_>| open_enrollment(&ring, &b, &sealed).err();
        let other = vec!["hmac-sha256:00:12".to_string()];
        let more = vec![recovery[0].clone(), other[0].clone()];
        for changed in [
            binding("bob", &recovery),
            binding("alice", &other),
            binding("alice", &more),
            binding("alice", &[]),
            Binding {
                kind: "hotp",
                ..binding("alice", &recovery)
            },
            Binding {
                algorithm: "SHA256",
                ..binding("alice", &recovery)
            },
            Binding {
                digits: 8,
                ..binding("alice", &recovery)
            },
            Binding {
                period: 60,
                ..binding("alice", &recovery)
            },
            Binding {
                counter: 1,
                ..binding("alice", &recovery)
            },
            // Fields cannot slide into each other.
            Binding {
                user: "alice\0totp",
                kind: "",
                ..binding("alice", &recovery)
            },
        ] {
            assert_eq!(
                refused(changed),
                Some(SealError::NotAuthentic),
                "{changed:?}"
            );
        }
    }

    #[test]
    fn every_key_of_the_ring_opens_and_the_first_seals() {
        let recovery: Vec<String> = Vec::new();
        let rkey = RecoveryKey::from_bytes([5; 32]);
        let old = KeyRing::single(key(1));
        let sealed_old = seal_enrollment(&old, &binding("alice", &recovery), &rkey, b"s").unwrap();
        let both = KeyRing::from_keys(vec![key(2), key(1)]).unwrap();
        assert_eq!(
            open_enrollment(&both, &binding("alice", &recovery), &sealed_old)
                .unwrap()
                .key,
            key(1).id()
        );
        let sealed_new = seal_enrollment(&both, &binding("alice", &recovery), &rkey, b"s").unwrap();
        assert_eq!(sealed_key_id(&sealed_new), Some(key(2).id()));
        let new = KeyRing::single(key(2));
        assert!(open_enrollment(&new, &binding("alice", &recovery), &sealed_new).is_ok());
        assert_eq!(
            open_enrollment(&new, &binding("alice", &recovery), &sealed_old).err(),
            Some(SealError::UnknownKey(key(1).id()))
        );
        // A first-format value is refused, and opened only to convert it.
        let v1 = seal(&key(1), "alice", b"s").unwrap();
        assert_eq!(
            open_enrollment(&both, &binding("alice", &recovery), &v1).err(),
            Some(SealError::OldFormat)
        );
        let (plain, id) = open_v1(&both, "alice", &v1).unwrap();
        assert_eq!((&plain[..], id), (&b"s"[..], key(1).id()));
        assert!(open_v1(&new, "alice", &v1).is_err());
        let text = SealError::UnknownKey(key(1).id()).to_string();
        assert!(text.contains(&key(1).id().to_string()), "{text}");
    }
}
