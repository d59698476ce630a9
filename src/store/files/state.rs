//! The module's per-user state files under `state_dir` (the state value
//! itself is [`crate::otp::state::State`]).
//!
//! Readers need no lock (the file is only ever replaced by rename);
//! writers hold an exclusive lock on `<user>.lock` for read-modify-write.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::otp::state::State;
use crate::store::error::StateError;
use crate::system::files::{self, FileRules, LockGuard, ReadError};

const MAX_STATE_SIZE: u64 = 64 * 1024;

/// A state as read from its file, with the text it was parsed from
/// (`None`: there was no file).
#[derive(Clone, Debug)]
pub struct StateRead {
    path: PathBuf,
    text: Option<String>,
    /// Always the parse of `text`: private, so a reused read cannot carry
    /// a state that is not what the file said.
    state: State,
}

impl StateRead {
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn into_state(self) -> State {
        self.state
    }
}

/// The state files of one user.
pub struct StateStore {
    path: PathBuf,
    lock_path: PathBuf,
}

/// The state file of an account, e.g. `uid-1000.state`. Keyed by uid:
/// names sharing a uid (and so a home and a secret) share one record, so a
/// code accepted for one name cannot be replayed under another, nor
/// failures spread over several names. Where each name has a secret of its
/// own (`secret_path` with `%u`), the name is part of the key too
/// (`uid-1000-alice.state`), so one name's enrollment cannot reset another's.
pub fn state_file_name(uid: u32, name: Option<&str>) -> String {
    format!("{}.state", state_key(uid, name))
}

fn state_key(uid: u32, name: Option<&str>) -> String {
    match name {
        None => format!("uid-{uid}"),
        Some(name) => format!("uid-{uid}-{}", escape_name(name)),
    }
}

/// The uid and (if part of the key) the user name of a state file's name;
/// `None` for any other file (locks, temporary files).
pub fn parse_state_file_name(file_name: &str) -> Option<(u32, Option<String>)> {
    let key = file_name.strip_suffix(".state")?.strip_prefix("uid-")?;
    let (uid, name) = match key.split_once('-') {
        Some((uid, name)) => (uid, Some(unescape_name(name)?)),
        None => (key, None),
    };
    if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((uid.parse().ok()?, name))
}

fn unescape_name(escaped: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// A user name as part of a file name: bytes outside `[A-Za-z0-9._-]` (and
/// a leading dot) become `%XX`, so no name can leave the directory.
fn escape_name(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for (index, byte) in name.bytes().enumerate() {
        let plain = byte.is_ascii_alphanumeric()
            || byte == b'_'
            || byte == b'-'
            || (byte == b'.' && index > 0);
        if plain {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

impl StateStore {
    /// The store for `user` in `dir`, which must be a directory owned by
    /// this process's user and not writable by anyone else. A missing
    /// directory is created (mode 0700) if its parent exists.
    pub fn open(dir: &Path, uid: u32, name: Option<&str>) -> Result<StateStore, StateError> {
        check_directory(dir)?;
        Ok(StateStore::in_directory(dir, &state_key(uid, name)))
    }

    /// The decoy record `bucket` (see `decision::decide_without_credential`):
    /// names without an enrollment share 65,536 of them, so an attacker
    /// trying names cannot fill the disk.
    pub fn decoy(dir: &Path, bucket: u16) -> Result<StateStore, StateError> {
        check_directory(dir)?;
        Ok(StateStore::in_directory(
            dir,
            &format!("decoy-{bucket:04x}"),
        ))
    }

    /// `dir/KEY.state` and `dir/KEY.lock`, each path built in one
    /// allocation (the key may hold dots: appended, not an extension set).
    fn in_directory(dir: &Path, key: &str) -> StateStore {
        let capacity = dir.as_os_str().len() + key.len() + ".state".len() + 1;
        let mut base = PathBuf::with_capacity(capacity);
        base.push(dir);
        base.push(key);
        let mut lock_path = std::ffi::OsString::with_capacity(capacity);
        lock_path.push(&base);
        lock_path.push(".lock");
        let mut path = base.into_os_string();
        path.push(".state");
        StateStore {
            path: path.into(),
            lock_path: lock_path.into(),
        }
    }

    /// The store of `account` under `config` (see [`state_file_name`]).
    pub fn for_account(
        config: &crate::config::Config,
        account: &crate::system::account::Account,
    ) -> Result<StateStore, StateError> {
        let name = config
            .secret_path
            .contains("%u")
            .then_some(account.name.as_str());
        StateStore::open(&config.state_dir, account.uid, name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current state; a missing file is a fresh state.
    pub fn read(&self) -> Result<State, StateError> {
        self.read_again(None).map(|read| read.state)
    }

    /// [`StateStore::read`], keeping the text with the state. When the file
    /// holds exactly the text of `earlier` (a read of this same file, such
    /// as the snapshot taken before the prompt), that read's state is
    /// reused: the same text parses to the same state. The file itself is
    /// opened and checked afresh either way.
    pub fn read_again(&self, earlier: Option<&StateRead>) -> Result<StateRead, StateError> {
        let owner = crate::system::account::effective_uid();
        let rules = FileRules {
            owners: &[owner],
            max_size: MAX_STATE_SIZE,
        };
        let text = match files::read_protected(&self.path, &rules) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| StateError::Corrupt {
                path: self.path.clone(),
                reason: "not UTF-8".into(),
            })?,
            Err(ReadError::Missing) => {
                return Ok(StateRead {
                    path: self.path.clone(),
                    text: None,
                    state: State::default(),
                });
            }
            Err(error) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    error,
                });
            }
        };
        if let Some(earlier) = earlier.filter(|earlier| {
            earlier.path == self.path && earlier.text.as_deref() == Some(text.as_str())
        }) {
            return Ok(StateRead {
                path: self.path.clone(),
                state: earlier.state.clone(),
                text: Some(text),
            });
        }
        let state = State::parse(&text).map_err(|reason| StateError::Corrupt {
            path: self.path.clone(),
            reason,
        })?;
        Ok(StateRead {
            path: self.path.clone(),
            text: Some(text),
            state,
        })
    }

    /// Lock the user's state for a read-modify-write.
    pub fn lock(&self) -> Result<LockGuard, StateError> {
        files::lock_exclusive(&self.lock_path).map_err(|error| StateError::Write {
            path: self.lock_path.clone(),
            error,
        })
    }

    /// Replace the state (call with the lock held).
    pub fn write(&self, state: &State, _lock: &LockGuard) -> Result<(), StateError> {
        files::replace_atomically(&self.path, state.to_toml().as_bytes(), None).map_err(|error| {
            StateError::Write {
                path: self.path.clone(),
                error,
            }
        })
    }

    /// Remove the state (call with the lock held).
    pub fn remove(&self, _lock: &LockGuard) -> Result<(), StateError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(StateError::Write {
                path: self.path.clone(),
                error,
            }),
        }
    }
}

/// Check `state_dir` (creating it, mode 0700, if its parent exists).
pub fn check_directory(dir: &Path) -> Result<(), StateError> {
    let bad = |reason: String| StateError::Directory {
        path: dir.to_path_buf(),
        reason,
    };
    use crate::system::paths::{StateDirProblem, state_directory};
    // The rule `pam-totp check` reports, written once.
    let owner = crate::system::account::effective_uid();
    let mut problems = state_directory(dir, owner);
    if problems.first() == Some(&StateDirProblem::Missing) {
        // Concurrent first logins may race to create it: that is fine.
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(bad(format!("does not exist and cannot be created: {e}"))),
        }
        problems = state_directory(dir, owner);
    }
    match problems.first() {
        None => Ok(()),
        Some(problem) => Err(bad(match problem.fix(dir) {
            Some(fix) => format!("{problem}; run: {fix}"),
            None => problem.to_string(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_names_cannot_escape_the_directory() {
        assert_eq!(state_file_name(1000, None), "uid-1000.state");
        assert_eq!(state_file_name(1000, Some("alice")), "uid-1000-alice.state");
        assert_eq!(
            state_file_name(0, Some("../etc/passwd")),
            "uid-0-%2E.%2Fetc%2Fpasswd.state"
        );
        assert_eq!(
            state_file_name(5, Some("bob@example.com")),
            "uid-5-bob%40example.com.state"
        );
        for (uid, name) in [
            (1000, None),
            (0, Some("../etc/passwd")),
            (5, Some("bob@x-y")),
        ] {
            let file_name = state_file_name(uid, name);
            assert_eq!(
                parse_state_file_name(&file_name),
                Some((uid, name.map(str::to_string))),
                "{file_name}"
            );
        }
        for other in [
            "uid-1000.lock",
            "uid-.state",
            "uid-x.state",
            "notes",
            ".uid-1.state.tmp",
        ] {
            assert_eq!(parse_state_file_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_read_again_sees_every_change_and_every_unsafe_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state"), 1000, None).unwrap();
        let other = StateStore::open(&dir.path().join("state"), 1001, None).unwrap();
        let write = |store: &StateStore, failures| {
            let lock = store.lock().unwrap();
            let state = State {
                failures,
                ..State::default()
            };
            store.write(&state, &lock).unwrap();
        };
        write(&store, 1);
        write(&other, 1);
        let first = store.read_again(None).unwrap();
        assert_eq!(first.state.failures, 1);
        // Unchanged: the same state (from the earlier parse).
        assert_eq!(store.read_again(Some(&first)).unwrap().state, first.state);
        // Changed meanwhile (to a text of the same length): the new state.
        write(&store, 2);
        assert_eq!(store.read_again(Some(&first)).unwrap().state.failures, 2);
        // Another file's read is never reused, even with the same text.
        let mut elsewhere = other.read_again(None).unwrap();
        elsewhere.state.failures = 9;
        write(&store, 1);
        assert_eq!(
            store.read_again(Some(&elsewhere)).unwrap().state.failures,
            1
        );
        // The file is checked again: unsafe now, refused whatever was read.
        let first = store.read_again(None).unwrap();
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            store.read_again(Some(&first)),
            Err(StateError::Read { .. })
        ));
        // Gone: a fresh state.
        std::fs::remove_file(store.path()).unwrap();
        assert_eq!(
            store.read_again(Some(&first)).unwrap().state,
            State::default()
        );
    }

    #[test]
    fn store_reads_writes_and_checks_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let store = StateStore::open(&state_dir, 1000, None).unwrap();
        // The paths are the names above, in the directory (a name with dots
        // keeps them all).
        for name in [None, Some("alice.smith"), Some(".x.y")] {
            let named = StateStore::open(&state_dir, 7, name).unwrap();
            let file_name = state_file_name(7, name);
            assert_eq!(named.path(), state_dir.join(&file_name));
            let lock_name = file_name.replace(".state", ".lock");
            assert_eq!(named.lock_path, state_dir.join(lock_name));
        }
        let decoy = StateStore::decoy(&state_dir, 0x1a).unwrap();
        assert_eq!(decoy.path(), state_dir.join("decoy-001a.state"));
        assert_eq!(decoy.lock_path, state_dir.join("decoy-001a.lock"));
        assert_eq!(store.read().unwrap(), State::default());
        let lock = store.lock().unwrap();
        let state = State {
            last_step_start: Some(150),
            ..State::default()
        };
        store.write(&state, &lock).unwrap();
        drop(lock);
        assert_eq!(store.read().unwrap(), state);
        crate::system::files::replace_atomically(
            store.path(),
            b"version = 1\nfailures = \"x\"\n",
            None,
        )
        .unwrap();
        assert!(matches!(store.read(), Err(StateError::Corrupt { .. })));

        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            StateStore::open(&state_dir, 1000, None),
            Err(StateError::Directory { .. })
        ));
    }

    #[test]
    fn many_used_recovery_codes_round_trip_and_only_ids_are_written() {
        let ids: Vec<String> = (0..300u32).map(|n| format!("{n:016x}")).collect();
        let state = State {
            used_recovery: ids.clone(),
            ..State::default()
        };
        let text = state.to_toml();
        // Larger than a page or two: still within the size a state may have.
        assert!(text.len() > 4096, "{}", text.len());
        assert_eq!(State::parse(&text).unwrap(), state);
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state"), 1000, None).unwrap();
        let lock = store.lock().unwrap();
        store.write(&state, &lock).unwrap();
        drop(lock);
        assert_eq!(store.read().unwrap(), state);
        // What is not an identifier is not written.
        let odd = State {
            used_recovery: vec![
                "00aa".into(),
                "zz".into(),
                String::new(),
                "0A".into(),
                "ff".into(),
            ],
            ..State::default()
        };
        assert_eq!(
            State::parse(&odd.to_toml()).unwrap().used_recovery,
            vec!["00aa".to_string(), "ff".to_string()]
        );
    }
}
