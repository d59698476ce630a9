//! The files store: each user's secret file (see [`crate::store::files::secret_file`])
//! and the module's state files under `state_dir` (see [`crate::otp::state`]),
//! updated under an exclusive lock on the user's state.

pub mod secret_file;
pub mod state;

use std::path::{Path, PathBuf};

use self::state::{StateRead, StateStore};
use crate::config::Config;
use crate::otp::secret::SecretFile;
use crate::otp::state::State;
use crate::store::api::{Change, Listed, Removed, Repair, Replacing, Snapshot, Store, Updated};
use crate::store::error::StateError;
use crate::store::error::{DecoyKeyError, FilesError, LoadError, StoreError};
use crate::store::files::secret_file::ReadFrom;
use crate::system::account::{self, Account};
use crate::system::clock;

pub struct FilesStore {
    config: Config,
    /// Whether this process may use the state: the module always, a
    /// command only as root (the state directory is root's, mode 0700).
    state_access: bool,
    /// The user's state as [`Store::snapshot`] read it before the prompt:
    /// the update under the lock reads the file again, and parses it again
    /// only if its text changed meanwhile.
    before_prompt: Option<StateRead>,
    /// The secret file [`Store::enrollment`] read: an update goes ahead
    /// only while it is still the one in place.
    enrolled: Option<ReadFrom>,
}

impl FilesStore {
    /// The store as the module uses it.
    pub fn new(config: Config) -> FilesStore {
        FilesStore {
            config,
            state_access: true,
            before_prompt: None,
            enrolled: None,
        }
    }

    /// The store as a command run by `uid` uses it.
    pub fn for_command(config: Config, uid: u32) -> FilesStore {
        FilesStore {
            config,
            state_access: uid == 0,
            before_prompt: None,
            enrolled: None,
        }
    }

    fn now(&self) -> Result<u64, StoreError> {
        clock::now(&self.config.state_dir).ok_or(StoreError::Clock)
    }

    fn state_store(&self, account: &Account) -> Result<StateStore, StoreError> {
        if !self.state_access {
            return Err(StoreError::NoAccess);
        }
        Ok(StateStore::for_account(&self.config, account)?)
    }

    /// Nothing was ever recorded on this host (a command must not create
    /// the state directory just by looking).
    fn no_state_dir(&self) -> bool {
        std::fs::symlink_metadata(&self.config.state_dir).is_err()
    }

    /// The decoy record for `name`: a bucket chosen with a random key kept
    /// in the state directory, so names cannot be steered into one bucket.
    fn decoy(&self, name: &str) -> Result<StateStore, StoreError> {
        use sha2::Digest;
        state::check_directory(&self.config.state_dir)?;
        let key = decoy_key(&self.config.state_dir)?;
        let mut hash = sha2::Sha256::new();
        hash.update(key);
        hash.update(name.as_bytes());
        let digest: [u8; 32] = hash.finalize().into();
        let [first, second, ..] = digest;
        let bucket = u16::from_be_bytes([first, second]);
        Ok(StateStore::decoy(&self.config.state_dir, bucket)?)
    }

    /// Lock, check that the enrollment read is still in place (the
    /// secret file's identity, looked up as the user: a stat, under the
    /// lock so that `disable` and `enroll --force`, which change the
    /// state under it after the file, cannot slip in between), read (a
    /// corrupt decoy starts afresh), change, write.
    fn locked_update(
        &self,
        store: &StateStore,
        enrolled: Option<(&Account, &ReadFrom)>,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        let lock = store.lock()?;
        if let Some((account, read)) = enrolled {
            match secret_file::still_in_place(account, read) {
                Ok(true) => {}
                Ok(false) => return Err(StoreError::EnrollmentChanged),
                Err(error) => return Err(StoreError::Files(FilesError::Identity(error))),
            }
        }
        let now = self.now()?;
        let read = store
            .read_again(self.before_prompt.as_ref())
            .map(StateRead::into_state);
        let (state, repaired) = match (read, repair) {
            (Ok(state), _) => (state, false),
            (Err(StateError::Corrupt { .. }), Repair::With(state)) => (state, true),
            (Err(error), _) => return Err(error.into()),
        };
        let state = match change(&state, now) {
            Some(next) => {
                store.write(&next, &lock)?;
                next
            }
            None if repaired => {
                store.write(&state, &lock)?;
                state
            }
            None => state,
        };
        Ok(Updated {
            state,
            now,
            repaired,
        })
    }

    fn has_state(store: &StateStore) -> bool {
        std::fs::symlink_metadata(store.path()).is_ok()
    }
}

impl Store for FilesStore {
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError> {
        let (secret, read) = secret_file::load_identified(&self.config, account)?;
        self.enrolled = Some(read);
        Ok(secret)
    }

    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError> {
        secret_file::exists(&self.config, account)
    }

    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError> {
        let now = self.now()?;
        if self.state_access && self.no_state_dir() {
            return Ok(Snapshot {
                state: State::default(),
                now,
            });
        }
        let read = self.state_store(account)?.read_again(None)?;
        let state = read.state().clone();
        self.before_prompt = Some(read);
        Ok(Snapshot { state, now })
    }

    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        let store = self.state_store(account)?;
        let enrolled = self.enrolled.as_ref().map(|read| (account, read));
        self.locked_update(&store, enrolled, repair, change)
    }

    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError> {
        // What is saved now is no longer the enrollment read before.
        self.enrolled = None;
        let exclusive = replacing == Replacing::NoEnrollment;
        let (path, written) = secret_file::store_as(&self.config, account, secret, exclusive)
            .map_err(|error| StoreError::Files(FilesError::Write(error)))?;
        if !written {
            return Err(StoreError::AlreadyEnrolled);
        }
        // A user's own command cannot reach root's state; root's module
        // keeps refusing the old secret's steps, which is safe.
        if self.state_access && !self.no_state_dir() {
            let store = self.state_store(account)?;
            // No state file is created for a user who has none.
            if Self::has_state(&store) {
                self.update(account, repair, &mut |state, _| {
                    Some(crate::store::api::forget(
                        state,
                        replacing,
                        &secret.recovery,
                    ))
                })?;
            }
        }
        Ok(path.display().to_string())
    }

    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError> {
        self.enrolled = None;
        let removed = secret_file::remove(&self.config, account)
            .map_err(|error| StoreError::Files(FilesError::Remove(error)))?;
        let mut state = false;
        if self.state_access && !self.no_state_dir() {
            let store = self.state_store(account)?;
            if Self::has_state(&store) {
                let lock = store.lock()?;
                store.remove(&lock)?;
                state = true;
            }
        }
        Ok(Removed {
            enrollment: removed.map(|path| path.display().to_string()),
            state,
        })
    }

    fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
        if !self.state_access {
            return Err(StoreError::NoAccess);
        }
        let mut accounts: Vec<Account> = Vec::new();
        let mut add = |account: Account| {
            if !accounts.iter().any(|known| known.name == account.name) {
                accounts.push(account);
            }
        };
        for (uid, name) in state_owners(&self.config.state_dir) {
            let found = match name {
                Some(name) => account::lookup_user(&name),
                None => account::lookup_uid(uid),
            };
            if let Ok(account) = found {
                add(account);
            }
        }
        for name in administrator_store_names(&self.config.secret_path) {
            if let Ok(account) = account::lookup_user(&name) {
                add(account);
            }
        }
        let home_based =
            self.config.secret_path.starts_with('~') || self.config.secret_path.contains("%h");
        if home_based {
            // Users who enrolled themselves and have not logged in with a
            // code yet have no state: their secret files, in the homes
            // that are there.
            for name in account::all_user_names() {
                let Ok(account) = account::lookup_user(&name) else {
                    continue;
                };
                if account.home == Path::new("/") || !account.home.is_dir() {
                    continue;
                }
                // A file there but unsafe or malformed is listed too (kind
                // "none"): the module refuses that user until it is fixed.
                match self.enrollment(&account) {
                    Ok(_) | Err(LoadError::Unsafe { .. } | LoadError::Malformed { .. }) => {
                        add(account)
                    }
                    Err(_) => {}
                }
            }
        }
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        let mut listed = Vec::with_capacity(accounts.len());
        for account in accounts {
            let kind = self
                .enrollment(&account)
                .ok()
                .map(|secret| secret.kind_name().to_string());
            let state = match self.no_state_dir() {
                true => None,
                false => self.state_store(&account)?.read().ok(),
            };
            listed.push(Listed {
                user: account.name,
                kind,
                state,
            });
        }
        Ok(listed)
    }

    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError> {
        let now = self.now()?;
        let state = match self.decoy(name)?.read() {
            Ok(state) => state,
            // A decoy guards nothing: a damaged one starts afresh.
            Err(StateError::Corrupt { .. }) => State::default(),
            Err(error) => return Err(error.into()),
        };
        Ok(Snapshot { state, now })
    }

    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError> {
        let store = self.decoy(name)?;
        self.locked_update(&store, None, Repair::With(State::default()), change)
    }

    fn release(&mut self) {}

    fn look_up_unknown(&mut self, _name: &str) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The key choosing decoy buckets: 32 random bytes in `state_dir/decoy.key`,
/// made on first use.
fn decoy_key(dir: &Path) -> Result<Vec<u8>, StoreError> {
    use crate::system::files::{self, FileRules, ReadError};
    let path = dir.join("decoy.key");
    let rules = FileRules {
        owners: &[account::effective_uid()],
        max_size: 64,
    };
    let failed = |reason: DecoyKeyError| {
        StoreError::Files(FilesError::DecoyKey {
            path: path.clone(),
            reason,
        })
    };
    match files::read_protected(&path, &rules) {
        Ok(key) if key.len() == 32 => return Ok(key),
        Ok(_) => return Err(failed(DecoyKeyError::Size)),
        Err(ReadError::Missing) => {}
        Err(error) => return Err(failed(DecoyKeyError::Read(error))),
    }
    let key = crate::system::random::bytes(32).map_err(|e| failed(DecoyKeyError::Random(e)))?;
    files::create_new(&path, &key).map_err(|e| failed(DecoyKeyError::Create(e)))?;
    // Two first logins may race: both then use the one that was kept.
    match files::read_protected(&path, &rules) {
        Ok(kept) if kept.len() == 32 => Ok(kept),
        _ => Err(failed(DecoyKeyError::NotReadBack)),
    }
}

/// The (uid, name) of every state file in `dir` (see `state_file_name`).
fn state_owners(dir: &Path) -> Vec<(u32, Option<String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let file_name = entry.file_name();
            state::parse_state_file_name(file_name.to_str()?)
        })
        .collect()
}

/// With an administrator store (`secret_path` outside the homes, with
/// `%u` in its last component), the user names of the files it holds.
fn administrator_store_names(template: &str) -> Vec<String> {
    if template.starts_with('~') || template.contains("%h") {
        return Vec::new();
    }
    let template = PathBuf::from(template);
    let (Some(dir), Some(file)) = (template.parent(), template.file_name()) else {
        return Vec::new();
    };
    let Some((prefix, suffix)) = file.to_str().and_then(|f| f.split_once("%u")) else {
        return Vec::new();
    };
    if dir.to_string_lossy().contains("%u") {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let user = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
            (!user.is_empty()).then(|| user.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrator_store_files_name_their_users() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["alice.toml", "bob.toml", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let template = format!("{}/%u.toml", dir.path().display());
        let mut names = administrator_store_names(&template);
        names.sort();
        assert_eq!(names, ["alice", "bob"]);
        assert!(administrator_store_names("~/.config/pam-totp/secret.toml").is_empty());
    }
}
