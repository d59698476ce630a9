//! Secrets sealed at rest for the PostgreSQL store: AES-256-GCM (RustCrypto
//! `aes-gcm`, pure Rust, so the module links no libcrypto) under the
//! 32-byte key in `secret_key_file`, the same on every host of a fleet.
//!
//! A sealed secret is `0x01 || nonce (12 random bytes) || ciphertext || tag`.
//! The associated data binds the format and the user name, so a row copied
//! to another user, or a value from another format, does not open.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, Zeroizing};

use crate::system::files::{self, FileRules, ReadError};

/// The format byte that starts every sealed value.
pub const FORMAT_V1: u8 = 0x01;
/// The associated-data prefix; the user name follows it.
const AAD_PREFIX: &[u8] = b"pam-totp secret v1\0";
const KEY_LEN: usize = 32;
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
    /// The file does not hold exactly 32 bytes.
    Length { path: PathBuf, found: usize },
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
                "secret key file {} holds {found} bytes, not {KEY_LEN}; copy the key from a host where logins work",
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
    /// Load the key: a regular file (not a link) owned by root, no group or
    /// other permission bits, exactly 32 bytes.
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        let rules = FileRules {
            owners: &[0],
            max_size: KEY_LEN as u64,
        };
        let contents =
            Zeroizing::new(
                files::read_protected(path, &rules).map_err(|error| match error {
                    ReadError::TooLarge(size) => KeyError::Length {
                        path: path.to_path_buf(),
                        found: usize::try_from(size).unwrap_or(usize::MAX),
                    },
                    error => KeyError::File {
                        path: path.to_path_buf(),
                        error,
                    },
                })?,
            );
        SecretKey::from_slice(&contents).ok_or_else(|| KeyError::Length {
            path: path.to_path_buf(),
            found: contents.len(),
        })
    }

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
        let mut key = SecretKey {
            bytes: [0; KEY_LEN],
        };
        crate::system::random::fill(&mut key.bytes).map_err(write_error)?;
        files::replace_atomically(path, &key.bytes, None).map_err(write_error)?;
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
                "the sealed secret does not open with this key for this user (another secret_key_file on this host, a row copied from another user, or altered data)"
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
        let loaded = SecretKey::load(&path).unwrap();
        let sealed = seal(&created, "alice", b"x").unwrap();
        assert_eq!(&*open(&loaded, "alice", &sealed).unwrap(), b"x");
    }

    #[test]
    fn load_refuses_bad_files() {
        if crate::system::account::effective_uid() != 0 {
            return; // load insists on root ownership
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        assert!(matches!(
            SecretKey::load(&path),
            Err(KeyError::File {
                error: ReadError::Missing,
                ..
            })
        ));
        for len in [31, 33, 0] {
            files::replace_atomically(&path, &vec![1; len], None).unwrap();
            match SecretKey::load(&path) {
                Err(KeyError::Length { found, .. }) => assert_eq!(found, len),
                other => panic!("{len} bytes: {other:?}"),
            }
        }
        files::replace_atomically(&path, &[1; 32], None).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            SecretKey::load(&path),
            Err(KeyError::File {
                error: ReadError::BadMode(0o640),
                ..
            })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(
            SecretKey::load(&link),
            Err(KeyError::File {
                error: ReadError::Symlink,
                ..
            })
        ));
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert!(matches!(
            SecretKey::load(&path),
            Err(KeyError::File {
                error: ReadError::BadOwner(65534),
                ..
            })
        ));
        let message = SecretKey::load(&path).unwrap_err().to_string();
        assert!(message.contains("owned by root"), "{message}");
    }
}
