//! Where a user's secret file is, and reading it safely.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::otp::secret::{MAX_SECRET_FILE_SIZE, SecretFile};
use crate::store::error::LoadError;
use crate::system::account::Account;
use crate::system::files::{self, FileIdentity, FileRules, ReadError};
use crate::system::identity::FsIdentity;

/// `secret_path` for `account`: `~` (at the start) and `%h` become the
/// home directory, `%u` the user name.
pub fn secret_path(config: &Config, account: &Account) -> Result<PathBuf, LoadError> {
    let name = &account.name;
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(LoadError::BadPath(format!(
            "user name {name:?} cannot be part of a path"
        )));
    }
    let home = account.home.to_string_lossy();
    let template = &config.secret_path;
    let expanded = match template.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{home}{rest}"),
        _ => template.clone(),
    };
    // Most templates (the default included) have no `%`: nothing to replace.
    let expanded = match memchr::memchr(b'%', expanded.as_bytes()) {
        Some(_) => expanded.replace("%h", &home).replace("%u", name),
        None => expanded,
    };
    if !expanded.starts_with('/') {
        return Err(LoadError::BadPath(format!(
            "\"{template}\" does not give an absolute path"
        )));
    }
    Ok(PathBuf::from(expanded))
}

/// Whether `path` is inside the user's home (then it is read as the user).
pub fn is_under_home(path: &Path, account: &Account) -> bool {
    account.home != Path::new("/") && path.starts_with(&account.home)
}

/// What an operation on a user's file does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// Run `operation` on `path` with the right identity: the user's under
/// their home (root's rights are not lent to a path the user controls);
/// elsewhere this process's own, and for writes only where no one but
/// root can change the directories on the way.
fn as_owner<T>(
    path: &Path,
    account: &Account,
    access: Access,
    operation: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    if is_under_home(path, account) {
        let _identity = FsIdentity::switch_to(account)?;
        return operation();
    }
    if access == Access::Write {
        files::check_trusted_directories(path)?;
    }
    operation()
}

/// Read a protected file of the user's, as its owner would.
fn read_as_owner(account: &Account, path: &Path, max_size: u64) -> Result<Vec<u8>, LoadError> {
    read_as_owner_identified(account, path, max_size).map(|(contents, _)| contents)
}

/// [`read_as_owner`], with the identity of the file read.
fn read_as_owner_identified(
    account: &Account,
    path: &Path,
    max_size: u64,
) -> Result<(Vec<u8>, FileIdentity), LoadError> {
    let rules = FileRules {
        owners: &[account.uid, 0],
        max_size,
    };
    let mut result = Err(ReadError::Missing);
    as_owner(path, account, Access::Read, || {
        result = files::read_protected_identified(path, &rules);
        Ok(())
    })
    .map_err(LoadError::Identity)?;
    result.map_err(|error| match error {
        ReadError::Missing => LoadError::NotEnrolled(path.to_path_buf()),
        error => LoadError::Unsafe {
            path: path.to_path_buf(),
            error,
        },
    })
}

/// Read and parse the user's secret file.
pub fn load(config: &Config, account: &Account) -> Result<SecretFile, LoadError> {
    load_identified(config, account).map(|(file, _)| file)
}

/// Which secret file [`load_identified`] read: whether it is still the
/// one in place is [`still_in_place`].
#[derive(Clone, Debug)]
pub struct ReadFrom {
    path: PathBuf,
    identity: FileIdentity,
}

/// [`load`], and which file was read.
pub fn load_identified(
    config: &Config,
    account: &Account,
) -> Result<(SecretFile, ReadFrom), LoadError> {
    let path = secret_path(config, account)?;
    let (bytes, identity) = match read_as_owner_identified(account, &path, MAX_SECRET_FILE_SIZE) {
        Ok((bytes, identity)) => (zeroize::Zeroizing::new(bytes), identity),
        // A missing file means "not enrolled" only if the home it lives in
        // is there: an unmounted home must not turn 2FA off (unenrolled=allow).
        Err(LoadError::NotEnrolled(_))
            if is_under_home(&path, account) && !account.home.is_dir() =>
        {
            return Err(LoadError::HomeUnavailable(account.home.clone()));
        }
        Err(error) => return Err(error),
    };
    match SecretFile::parse(&bytes) {
        Ok(file) => Ok((file, ReadFrom { path, identity })),
        Err(error) => Err(LoadError::Malformed { path, error }),
    }
}

/// Whether the secret file `read` is still the one at its path (not
/// removed, replaced or made again), looked at as [`load`] reads it (a
/// stat, with the user's identity under the home).
pub fn still_in_place(account: &Account, read: &ReadFrom) -> std::io::Result<bool> {
    as_owner(&read.path, account, Access::Read, || {
        files::identity(&read.path)
    })
    .map(|now| now == Some(read.identity))
}

/// Write `file` as `account`'s secret (atomically, mode 0600). Under the
/// home it is written with the user's identity, so it is theirs and no
/// link planted in the home can redirect root's write.
pub fn store(
    config: &Config,
    account: &Account,
    file: &SecretFile,
) -> Result<PathBuf, std::io::Error> {
    store_as(config, account, file, false).map(|(path, _)| path)
}

/// [`store`]; with `exclusive`, only if the user has no secret file (the
/// first of two enrollments at once wins): `false` if one was there and
/// nothing was written.
pub fn store_as(
    config: &Config,
    account: &Account,
    file: &SecretFile,
    exclusive: bool,
) -> Result<(PathBuf, bool), std::io::Error> {
    let path =
        secret_path(config, account).map_err(|error| std::io::Error::other(error.to_string()))?;
    as_owner(&path, account, Access::Write, || {
        if let Some(parent) = path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let contents = zeroize::Zeroizing::new(file.to_toml());
        match exclusive {
            true => files::create_exclusively(&path, contents.as_bytes()),
            false => files::replace_atomically(&path, contents.as_bytes(), None).map(|()| true),
        }
    })
    .map(|written| (path, written))
}

/// Whether `account` has a secret file (of any kind) at `secret_path`.
pub fn exists(config: &Config, account: &Account) -> Result<bool, LoadError> {
    let path = secret_path(config, account)?;
    as_owner(&path, account, Access::Read, || {
        Ok(std::fs::symlink_metadata(&path).is_ok())
    })
    .map_err(LoadError::Identity)
}

/// Remove `account`'s secret file (not following a symlink: a link is
/// removed itself). `Ok(None)` if there was none.
pub fn remove(config: &Config, account: &Account) -> Result<Option<PathBuf>, std::io::Error> {
    let path =
        secret_path(config, account).map_err(|error| std::io::Error::other(error.to_string()))?;
    as_owner(
        &path,
        account,
        Access::Write,
        || match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(path.clone())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        },
    )
}

/// Read another protected file of `account`'s (such as
/// `~/.google_authenticator`), with the user's file-system identity when
/// it is under their home, owned by the user or root, private.
pub fn read_user_file(
    account: &Account,
    path: &Path,
    max_size: u64,
) -> Result<zeroize::Zeroizing<Vec<u8>>, LoadError> {
    read_as_owner(account, path, max_size).map(zeroize::Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Account {
        Account {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: PathBuf::from("/home/alice"),
        }
    }

    #[test]
    fn paths_expand() {
        let mut config = Config::default();
        assert_eq!(
            secret_path(&config, &alice()).unwrap(),
            PathBuf::from("/home/alice/.config/pam-totp/secret.toml")
        );
        config.secret_path = "/etc/pam-totp/secrets/%u.toml".into();
        assert_eq!(
            secret_path(&config, &alice()).unwrap(),
            PathBuf::from("/etc/pam-totp/secrets/alice.toml")
        );
        config.secret_path = "%h/.totp".into();
        assert_eq!(
            secret_path(&config, &alice()).unwrap(),
            PathBuf::from("/home/alice/.totp")
        );
        config.secret_path = "relative/%u".into();
        assert!(secret_path(&config, &alice()).is_err());
        assert!(is_under_home(Path::new("/home/alice/.totp"), &alice()));
        assert!(!is_under_home(Path::new("/home/alicex/.totp"), &alice()));
    }
}
