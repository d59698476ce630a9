//! The rules for the module's directories, written once: the module
//! applies them before it uses a directory, `pam-totp check` reports them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why a state directory may not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDirProblem {
    Missing,
    Unreadable(String),
    Symlink,
    NotDirectory,
    /// Owned by someone other than the user the module runs as (root).
    Owner {
        uid: u32,
        expected: u32,
    },
    /// Group or other permission bits: others could read who logs in
    /// when, or (with write) change lockouts and used codes.
    Mode {
        mode: u32,
    },
}

impl StateDirProblem {
    /// The command that fixes it, for `dir`.
    pub fn fix(&self, dir: &Path) -> Option<String> {
        let dir = dir.display();
        match self {
            StateDirProblem::Missing => Some(format!("install -d -m 0700 -o root -g root {dir}")),
            StateDirProblem::Owner { expected: 0, .. } => Some(format!("chown root: {dir}")),
            StateDirProblem::Mode { .. } => Some(format!("chmod 700 {dir}")),
            _ => None,
        }
    }
}

impl std::fmt::Display for StateDirProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateDirProblem::Missing => write!(f, "does not exist"),
            StateDirProblem::Unreadable(error) => write!(f, "cannot be examined: {error}"),
            StateDirProblem::Symlink => write!(
                f,
                "is a symbolic link; make it a real directory (root, 0700)"
            ),
            StateDirProblem::NotDirectory => write!(f, "is not a directory"),
            StateDirProblem::Owner { uid, expected: 0 } => {
                write!(f, "is owned by uid {uid}, not root")
            }
            StateDirProblem::Owner { uid, expected } => {
                write!(f, "is owned by uid {uid}, not {expected}")
            }
            StateDirProblem::Mode { mode } => write!(
                f,
                "has mode {mode:04o}; it must be 0700 (others could read or change login state)"
            ),
        }
    }
}

/// The state directory rule: a real directory (not a link), owned by
/// `owner` (the user the module runs as: root), mode 0700 (no group or
/// other bits). Every problem found, the worst first.
pub fn state_directory(dir: &Path, owner: u32) -> Vec<StateDirProblem> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return vec![StateDirProblem::Missing];
        }
        Err(error) => return vec![StateDirProblem::Unreadable(error.to_string())],
    };
    if meta.file_type().is_symlink() {
        return vec![StateDirProblem::Symlink];
    }
    if !meta.is_dir() {
        return vec![StateDirProblem::NotDirectory];
    }
    let mut problems = Vec::new();
    if meta.uid() != owner {
        problems.push(StateDirProblem::Owner {
            uid: meta.uid(),
            expected: owner,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        problems.push(StateDirProblem::Mode { mode });
    }
    problems
}

/// Why a root-only file (`database_file`, `secret_key_file`) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootFileProblem {
    Missing,
    Unreadable(String),
    /// The module opens it with `O_NOFOLLOW`.
    Symlink,
    NotRegular,
    Owner {
        uid: u32,
    },
    /// Group or other permission bits: the database password or the key
    /// that opens every secret would be open to them.
    Mode {
        mode: u32,
    },
}

impl RootFileProblem {
    /// The command that fixes it, for `path`.
    pub fn fix(&self, path: &Path) -> Option<String> {
        let path = path.display();
        match self {
            RootFileProblem::Owner { .. } => Some(format!("chown root: {path}")),
            RootFileProblem::Mode { .. } => Some(format!("chmod 600 {path}")),
            _ => None,
        }
    }

    /// Whether the file is still there to be read (by `check`, which goes
    /// on to examine what it holds): only its owner or mode is wrong.
    pub fn leaves_it_readable(&self) -> bool {
        matches!(
            self,
            RootFileProblem::Owner { .. } | RootFileProblem::Mode { .. }
        )
    }
}

impl std::fmt::Display for RootFileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootFileProblem::Missing => write!(f, "does not exist"),
            RootFileProblem::Unreadable(error) => write!(f, "cannot be examined: {error}"),
            RootFileProblem::Symlink => write!(
                f,
                "is a symbolic link, which the module does not follow; put the file itself there"
            ),
            RootFileProblem::NotRegular => write!(f, "is not a regular file"),
            RootFileProblem::Owner { uid } => write!(f, "is owned by uid {uid}, not root"),
            RootFileProblem::Mode { mode } => write!(
                f,
                "has mode {mode:04o}: group or others may read it; it must be 0600"
            ),
        }
    }
}

/// The rule for root-only files, as `system::files::read_protected` applies
/// it with root as the only owner (the module reads both files that way):
/// a regular file, not a link, owned by root, no group or other bits.
/// Every problem found, the worst first.
pub fn root_only_file(path: &Path) -> Vec<RootFileProblem> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return vec![RootFileProblem::Missing];
        }
        Err(error) => return vec![RootFileProblem::Unreadable(error.to_string())],
    };
    if meta.file_type().is_symlink() {
        return vec![RootFileProblem::Symlink];
    }
    if !meta.is_file() {
        return vec![RootFileProblem::NotRegular];
    }
    let mut problems = Vec::new();
    if meta.uid() != 0 {
        problems.push(RootFileProblem::Owner { uid: meta.uid() });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        problems.push(RootFileProblem::Mode { mode });
    }
    problems
}

/// Why an administrator-managed secret store may not be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreProblem {
    /// No directory on the way exists (not even `/`).
    Missing,
    Unreadable {
        dir: PathBuf,
        error: String,
    },
    NotDirectory {
        dir: PathBuf,
    },
    /// A directory of the store, or above it, is owned by someone else.
    Owner {
        dir: PathBuf,
        uid: u32,
    },
    /// Others may write the store's directory (or a non-sticky one above
    /// it): they could plant, swap or remove secret files.
    Writable {
        dir: PathBuf,
        mode: u32,
    },
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreProblem::Missing => write!(f, "no directory of it exists"),
            StoreProblem::Unreadable { dir, error } => {
                write!(f, "{} cannot be examined: {error}", dir.display())
            }
            StoreProblem::NotDirectory { dir } => write!(f, "{} is not a directory", dir.display()),
            StoreProblem::Owner { dir, uid } => write!(
                f,
                "{} is owned by uid {uid}, not root: its owner can swap secret files; run: chown root: {}",
                dir.display(),
                dir.display()
            ),
            StoreProblem::Writable { dir, mode } => write!(
                f,
                "{} has mode {mode:04o}: others can add, swap or remove secret files; run: chmod go-w {}",
                dir.display(),
                dir.display()
            ),
        }
    }
}

/// The secret store rule, for the directory `dir` that holds (or will
/// hold) secret files outside the homes: the deepest part of it that
/// exists, with links resolved, is owned by root (or `trusted`, the user
/// the module runs as) and writable by no one else; every directory above
/// it too, except that sticky ones (`/tmp`) may be shared.
pub fn secret_store(dir: &Path, trusted: u32) -> Result<(), StoreProblem> {
    let mut existing = Some(dir);
    while let Some(candidate) = existing {
        if candidate.as_os_str().is_empty() || candidate.exists() {
            break;
        }
        existing = candidate.parent();
    }
    let Some(existing) = existing.filter(|d| !d.as_os_str().is_empty()) else {
        return Err(StoreProblem::Missing);
    };
    let real = std::fs::canonicalize(existing).map_err(|error| StoreProblem::Unreadable {
        dir: existing.to_path_buf(),
        error: error.to_string(),
    })?;
    for (depth, ancestor) in real.ancestors().enumerate() {
        let meta = std::fs::metadata(ancestor).map_err(|error| StoreProblem::Unreadable {
            dir: ancestor.to_path_buf(),
            error: error.to_string(),
        })?;
        if !meta.is_dir() {
            return Err(StoreProblem::NotDirectory {
                dir: ancestor.to_path_buf(),
            });
        }
        if meta.uid() != 0 && meta.uid() != trusted {
            return Err(StoreProblem::Owner {
                dir: ancestor.to_path_buf(),
                uid: meta.uid(),
            });
        }
        let mode = meta.mode() & 0o7777;
        let sticky = mode & 0o1000 != 0;
        // The store's own directory may not be shared even when sticky:
        // anyone could create the file of a user who has none yet.
        if mode & 0o022 != 0 && (depth == 0 || !sticky) {
            return Err(StoreProblem::Writable {
                dir: ancestor.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// The directory part of a `secret_path` template outside the homes that
/// is the same for every user (up to the first component with a `%`);
/// `None` for secrets in the homes.
pub fn fixed_store_dir(template: &str) -> Option<PathBuf> {
    if template.starts_with('~') || template.contains("%h") {
        return None;
    }
    let parent = Path::new(template).parent()?;
    let mut dir = PathBuf::new();
    for component in parent.components() {
        if component.as_os_str().to_string_lossy().contains('%') {
            break;
        }
        dir.push(component);
    }
    Some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn me() -> u32 {
        crate::system::account::effective_uid()
    }

    #[test]
    fn state_directory_table() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("state");
        assert_eq!(state_directory(&dir, me()), vec![StateDirProblem::Missing]);
        std::fs::create_dir(&dir).unwrap();
        for (mode, expected) in [
            (0o700, vec![]),
            (0o750, vec![StateDirProblem::Mode { mode: 0o750 }]),
            // Issue 11 point 12: the module used to take this one.
            (0o755, vec![StateDirProblem::Mode { mode: 0o755 }]),
            (0o777, vec![StateDirProblem::Mode { mode: 0o777 }]),
        ] {
            set_mode(&dir, mode);
            assert_eq!(state_directory(&dir, me()), expected, "{mode:o}");
        }
        set_mode(&dir, 0o700);
        assert_eq!(
            state_directory(&dir, me() + 1),
            vec![StateDirProblem::Owner {
                uid: me(),
                expected: me() + 1
            }]
        );
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert_eq!(state_directory(&link, me()), vec![StateDirProblem::Symlink]);
        let file = root.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            state_directory(&file, me()),
            vec![StateDirProblem::NotDirectory]
        );
        assert_eq!(
            StateDirProblem::Mode { mode: 0o755 }.fix(&dir),
            Some(format!("chmod 700 {}", dir.display()))
        );
    }

    /// `check` reports a root-only file exactly when the module refuses it.
    #[test]
    fn root_only_file_agrees_with_the_module() {
        use crate::system::files::{FileRules, read_protected};
        if me() != 0 {
            crate::system::test_skip::skip("root-only files must be owned by root: needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("database.conf");
        let rules = FileRules {
            owners: &[0],
            max_size: 1024,
        };
        assert_eq!(root_only_file(&file), vec![RootFileProblem::Missing]);
        std::fs::write(&file, "host=db").unwrap();
        for (mode, expected) in [
            (0o600, vec![]),
            (0o400, vec![]),
            (0o640, vec![RootFileProblem::Mode { mode: 0o640 }]),
            (0o644, vec![RootFileProblem::Mode { mode: 0o644 }]),
            (0o604, vec![RootFileProblem::Mode { mode: 0o604 }]),
        ] {
            set_mode(&file, mode);
            assert_eq!(root_only_file(&file), expected, "{mode:o}");
            assert_eq!(
                read_protected(&file, &rules).is_ok(),
                expected.is_empty(),
                "{mode:o}"
            );
        }
        set_mode(&file, 0o600);
        std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
        assert_eq!(
            root_only_file(&file),
            vec![RootFileProblem::Owner { uid: 65534 }]
        );
        assert!(read_protected(&file, &rules).is_err());
        set_mode(&file, 0o644);
        let problems = root_only_file(&file);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(RootFileProblem::leaves_it_readable));
        assert_eq!(
            problems[1].fix(&file),
            Some(format!("chmod 600 {}", file.display()))
        );
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(root_only_file(&link), vec![RootFileProblem::Symlink]);
        assert!(read_protected(&link, &rules).is_err());
        assert_eq!(
            root_only_file(root.path()),
            vec![RootFileProblem::NotRegular]
        );
    }

    #[test]
    fn secret_store_table() {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        std::fs::create_dir(&store).unwrap();
        set_mode(&store, 0o755);
        assert_eq!(secret_store(&store, me()), Ok(()));
        // Not yet there: its deepest existing part counts.
        assert_eq!(secret_store(&store.join("a/b"), me()), Ok(()));
        for mode in [0o775, 0o777, 0o1777, 0o757] {
            set_mode(&store, mode);
            assert_eq!(
                secret_store(&store, me()),
                Err(StoreProblem::Writable {
                    dir: std::fs::canonicalize(&store).unwrap(),
                    mode
                }),
                "{mode:o}"
            );
        }
        // A sticky shared directory above the store is fine (/tmp), a
        // plain shared one is not.
        set_mode(&store, 0o755);
        let inner = store.join("inner");
        std::fs::create_dir(&inner).unwrap();
        set_mode(&inner, 0o755);
        set_mode(&store, 0o1777);
        assert_eq!(secret_store(&inner, me()), Ok(()));
        set_mode(&store, 0o777);
        assert!(matches!(
            secret_store(&inner, me()),
            Err(StoreProblem::Writable { mode: 0o777, .. })
        ));
        set_mode(&store, 0o755);
        if me() == 0 {
            std::os::unix::fs::chown(&inner, Some(65534), None).unwrap();
            assert!(matches!(
                secret_store(&inner, me()),
                Err(StoreProblem::Owner { uid: 65534, .. })
            ));
        }
    }

    #[test]
    fn the_fixed_part_of_a_store_template() {
        assert_eq!(fixed_store_dir("~/.config/pam-totp/secret.toml"), None);
        assert_eq!(fixed_store_dir("%h/.totp"), None);
        assert_eq!(
            fixed_store_dir("/etc/pam-totp/secrets/%u.toml"),
            Some(PathBuf::from("/etc/pam-totp/secrets"))
        );
        assert_eq!(
            fixed_store_dir("/srv/totp/%u/secret.toml"),
            Some(PathBuf::from("/srv/totp"))
        );
    }
}
