//! Files read and written the careful way: no symlinks followed at the last
//! component, ownership and mode checked on the opened descriptor, size
//! capped, updates written to a temporary file, fsynced and renamed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a protected file could not be used.
#[derive(Debug)]
pub enum ReadError {
    /// The file does not exist (or a directory on the way does not).
    Missing,
    /// The last path component is a symbolic link.
    Symlink,
    /// Not a regular file (directory, FIFO, device ...).
    NotRegular,
    /// Owned by a uid that is neither of the allowed ones.
    BadOwner(u32),
    /// Group or other permission bits are set.
    BadMode(u32),
    /// Larger than the cap.
    TooLarge(u64),
    /// Any other I/O error (permission denied, I/O error ...).
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Missing => write!(f, "does not exist"),
            ReadError::Symlink => write!(f, "is a symbolic link"),
            ReadError::NotRegular => write!(f, "is not a regular file"),
            ReadError::BadOwner(uid) => write!(f, "is owned by uid {uid}, not by the user or root"),
            ReadError::BadMode(mode) => {
                write!(
                    f,
                    "has mode {mode:04o}; it must not be accessible by group or others (chmod 600)"
                )
            }
            ReadError::TooLarge(size) => write!(f, "is too large ({size} bytes)"),
            ReadError::Io(error) => write!(f, "cannot be read: {error}"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Rules a protected file must satisfy.
pub struct FileRules<'a> {
    /// Uids that may own the file.
    pub owners: &'a [u32],
    /// Largest accepted size in bytes.
    pub max_size: u64,
}

/// Which file a path named when it was read: a file replaced (renamed
/// over), removed, or removed and made again has another identity, even
/// with the same contents (the change time cannot be set by anyone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    dev: u64,
    ino: u64,
    ctime: i64,
    ctime_nsec: i64,
}

impl FileIdentity {
    fn of(meta: &std::fs::Metadata) -> FileIdentity {
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }
}

/// The identity of what `path` names now, not following a last symbolic
/// link; `None` if nothing is there.
pub fn identity(path: &Path) -> io::Result<Option<FileIdentity>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(FileIdentity::of(&meta))),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Read a whole protected file (see [`ReadError`] for what is refused).
pub fn read_protected(path: &Path, rules: &FileRules) -> Result<Vec<u8>, ReadError> {
    read_protected_identified(path, rules).map(|(contents, _)| contents)
}

/// [`read_protected`], with the identity of the file read.
pub fn read_protected_identified(
    path: &Path,
    rules: &FileRules,
) -> Result<(Vec<u8>, FileIdentity), ReadError> {
    let file = OpenOptions::new()
        .read(true)
        // O_NONBLOCK: opening a FIFO must not hang the login.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            // ENOTDIR (a file where a directory should be) is not "missing".
            Some(libc::ENOENT) => ReadError::Missing,
            Some(libc::ELOOP) => ReadError::Symlink,
            _ => ReadError::Io(error),
        })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular);
    }
    if !rules.owners.contains(&meta.uid()) {
        return Err(ReadError::BadOwner(meta.uid()));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(ReadError::BadMode(mode));
    }
    if meta.size() > rules.max_size {
        return Err(ReadError::TooLarge(meta.size()));
    }
    let mut contents = Vec::with_capacity(usize::try_from(meta.size()).unwrap_or(0));
    // The file may grow between fstat and read: read at most one byte more.
    file.take(rules.max_size + 1)
        .read_to_end(&mut contents)
        .map_err(ReadError::Io)?;
    if contents.len() as u64 > rules.max_size {
        return Err(ReadError::TooLarge(contents.len() as u64));
    }
    Ok((contents, FileIdentity::of(&meta)))
}

/// Replace `path` atomically with `contents` (mode 0600): write a temporary
/// file beside it, fsync, rename over, fsync the directory. On any error
/// the old file is left as it was and the temporary file removed.
pub fn replace_atomically(
    path: &Path,
    contents: &[u8],
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let result = write_then_rename(&temporary, path, contents, owner);
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn temporary_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(format!(".tmp{}", std::process::id()));
    Ok(path.with_file_name(temporary_name))
}

fn write_then_rename(
    temporary: &Path,
    path: &Path,
    contents: &[u8],
    owner: Option<(u32, u32)>,
) -> io::Result<()> {
    let _ = std::fs::remove_file(temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(temporary)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
    }
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents)?;
    crash_point("after-write");
    file.sync_all()?;
    drop(file);
    crash_point("before-rename");
    std::fs::rename(temporary, path)?;
    sync_directory(path)
}

/// Create `path` with `contents` (mode 0600, fsynced) only if nothing is
/// there: written aside, then linked into place (link(2) fails if the name
/// exists), so it is never seen half written and of two creators exactly
/// one succeeds. `Ok(false)`: something was there first, nothing written.
pub fn create_exclusively(path: &Path, contents: &[u8]) -> io::Result<bool> {
    let temporary = temporary_path(path)?;
    let _ = std::fs::remove_file(&temporary);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temporary)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match std::fs::hard_link(&temporary, path) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(error) => Err(error),
            Ok(()) => sync_directory(path).map(|()| true),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    result
}

/// Create `path` with `contents` (mode 0600, fsynced) only if it does not
/// exist: written aside, then linked into place, so it is never seen half
/// written. `Ok` also when another process created it first.
pub fn create_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temporary = temporary_path(path)?;
    let _ = std::fs::remove_file(&temporary);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match std::fs::hard_link(&temporary, path) {
            Err(error) if error.kind() != io::ErrorKind::AlreadyExists => Err(error),
            _ => sync_directory(path),
        }
    })();
    let _ = std::fs::remove_file(&temporary);
    result
}

fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

/// Test builds only: abort the process at a named point of an update, so
/// tests can show a crash leaves the old state whole.
#[cfg(feature = "test-hooks")]
fn crash_point(name: &str) {
    if std::env::var("PAM_TOTP_TEST_CRASH_AT").as_deref() == Ok(name) {
        std::process::abort();
    }
}

#[cfg(not(feature = "test-hooks"))]
fn crash_point(_name: &str) {}

/// Refuse to let this (root) process write or remove at `path` unless
/// the secret store rule holds for its directory
/// ([`crate::system::paths::secret_store`]: every directory on the way
/// owned by root or by us, the store's own not writable by anyone else,
/// those above it only if sticky, like /tmp): otherwise whoever can write
/// one of them could swap in a symbolic link and redirect the write or
/// removal anywhere.
pub fn check_trusted_directories(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
        return Ok(());
    };
    let euid = crate::system::account::effective_uid();
    crate::system::paths::secret_store(dir, euid)
        .map_err(|problem| io::Error::other(problem.to_string()))
}

/// An exclusive advisory lock (flock) on a lock file, released on drop.
pub struct LockGuard {
    _file: File,
}

/// How long a lock is waited for. Holders keep it only for a read and a
/// write of a small local file, so a wait this long means a holder is stuck
/// (a frozen process, a hung file system): refuse rather than hang logins.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Take an exclusive lock on `path`, creating it (mode 0600) if needed,
/// waiting at most [`LOCK_WAIT`] (`ErrorKind::TimedOut` past it).
pub fn lock_exclusive(path: &Path) -> io::Result<LockGuard> {
    lock_exclusive_within(path, LOCK_WAIT)
}

/// [`lock_exclusive`] with a wait of at most `wait`.
pub fn lock_exclusive_within(path: &Path, wait: std::time::Duration) -> io::Result<LockGuard> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)?;
    let deadline = std::time::Instant::now() + wait;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        // SAFETY: flock only reads the descriptor, which `file` keeps open
        // for the duration of the call.
        let rc = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        };
        if rc == 0 {
            return Ok(LockGuard { _file: file });
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {}
            _ => return Err(error),
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the lock {} was held by another process for more than {} seconds",
                    path.display(),
                    wait.as_secs()
                ),
            ));
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn me() -> u32 {
        crate::system::account::effective_uid()
    }

    fn rules(owners: &[u32]) -> FileRules<'_> {
        FileRules {
            owners,
            max_size: 64,
        }
    }

    #[test]
    fn a_lock_held_elsewhere_is_waited_for_only_so_long() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("user.lock");
        let held = lock_exclusive(&path).unwrap();
        let started = std::time::Instant::now();
        let error = lock_exclusive_within(&path, std::time::Duration::from_millis(300))
            .err()
            .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(300),
            "{waited:?}"
        );
        assert!(waited < std::time::Duration::from_secs(2), "{waited:?}");
        drop(held);
        assert!(lock_exclusive_within(&path, std::time::Duration::from_millis(300)).is_ok());
    }

    #[test]
    fn reads_a_private_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_atomically(&path, b"hello", None).unwrap();
        let owners = [me()];
        assert_eq!(read_protected(&path, &rules(&owners)).unwrap(), b"hello");
        let mode = std::fs::metadata(&path).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refuses_unsafe_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let owners = [me()];
        assert!(matches!(
            read_protected(&path, &rules(&owners)),
            Err(ReadError::Missing)
        ));
        replace_atomically(&path, b"hello", None).unwrap();
        let link = dir.path().join("link");
        symlink(&path, &link).unwrap();
        assert!(matches!(
            read_protected(&link, &rules(&owners)),
            Err(ReadError::Symlink)
        ));
        assert!(matches!(
            read_protected(dir.path(), &rules(&owners)),
            Err(ReadError::NotRegular)
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            read_protected(&path, &rules(&owners)),
            Err(ReadError::BadMode(0o640))
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let others = [me().wrapping_add(1)];
        assert!(matches!(
            read_protected(&path, &rules(&others)),
            Err(ReadError::BadOwner(_))
        ));
        replace_atomically(&path, &[b'x'; 65], None).unwrap();
        assert!(matches!(
            read_protected(&path, &rules(&owners)),
            Err(ReadError::TooLarge(65))
        ));
    }

    #[test]
    fn directories_others_can_change_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let secret = store.join("alice.toml");
        check_trusted_directories(&secret).unwrap();
        check_trusted_directories(&store.join("new/dir/alice.toml")).unwrap();
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_trusted_directories(&secret).is_err());
        // The store's own directory may not be shared even if sticky.
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_trusted_directories(&secret).is_err());
        // A link on the way is followed: its target is what counts.
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link");
        symlink(&store, &link).unwrap();
        check_trusted_directories(&link.join("alice.toml")).unwrap();
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_trusted_directories(&link.join("alice.toml")).is_err());
        if me() == 0 {
            std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::chown(&store, Some(65534), None).unwrap();
            assert!(check_trusted_directories(&secret).is_err());
        } else {
            crate::system::test_skip::skip("the foreign-owner case needs root to chown");
        }
    }

    #[test]
    fn failed_replace_keeps_old_contents_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        replace_atomically(&path, b"old", None).unwrap();
        // Renaming a file over a non-empty directory fails.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"").unwrap();
        assert!(replace_atomically(&blocked, b"new", None).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "temporary file left behind: {names:?}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
