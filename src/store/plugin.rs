//! The PostgreSQL store as a second shared object, pam_totp_postgres.so,
//! which the module loads only for `store = "postgresql"`: a files-store
//! host never maps the database client, TLS or their relocations (about
//! 85,000 instructions per login, see BENCHMARKS.md). The command links
//! the store in directly ([`super::postgres::open`]).
//!
//! Both objects are built from this crate in one build. The module passes
//! Rust values (the configuration, the store it gets back) across, which is
//! sound only between objects of the same build: the entry point first
//! compares the caller's [`BUILD`] with its own, and a library of another
//! build answers [`OTHER_BUILD`] without looking at the request.
//!
//! Values made in one object are dropped in the other (the store, an
//! error's owned values: [`StoreError::Database`] keeps the PostgreSQL
//! store's errors typed): sound because both allocate with the C
//! library's `malloc`, Rust's default, and the library is never unloaded.
//! Neither may get a `#[global_allocator]` of its own.
//!
//! Panics cannot cross between the two (each has its own standard
//! library): the library runs every call into its store under
//! `catch_unwind` ([`Contained`]), and the module runs the changes it
//! passes in under its own ([`Guarded`]).
//!
//! Both halves are here: [`open`] (the module's side) and [`serve`] (what
//! `postgres-store/` exports as [`ENTRY`]).

use std::ffi::{CStr, c_int};
use std::os::unix::fs::MetadataExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::otp::secret::SecretFile;
use crate::otp::state::State;
use crate::store::api::{Change, Listed, Removed, Repair, Replacing, Snapshot, Store, Updated};
use crate::store::error::{LibraryError, LoadError, StoreError};
use crate::store::postgres;
use crate::system::account::Account;
use crate::system::dl::{self, Library};

/// The entry point pam_totp_postgres.so exports (its signature is
/// `system::dl`'s `Entry`; a new signature gets a new name).
pub const ENTRY: &CStr = c"pam_totp_postgres_store_v1";

/// This build's identity (build.rs): sources, compiler, settings.
pub const BUILD: &str = env!("PAM_TOTP_BUILD");

/// The entry point filled in the request's answer.
pub const ANSWERED: c_int = 0;
/// The library is of another build and did not touch the request.
pub const OTHER_BUILD: c_int = 1;

/// What the module asks the library, behind the entry point's pointer.
pub struct Request<'a> {
    pub config: &'a Config,
    pub answer: Option<Result<Box<dyn Store>, StoreError>>,
}

/// The module's side: the PostgreSQL store from the library next to the
/// module's own file.
pub fn open(config: &Config) -> Result<Box<dyn Store>, StoreError> {
    let module = dl::own_file()
        .ok_or_else(|| unavailable("the module cannot tell which file it was loaded from"))?;
    let library = checked_library(&module)?;
    let store = load(&library, &module, config)?;
    Ok(Box::new(Guarded(store)))
}

/// The store from the library at `path` (checked already), which must be
/// of this build (`module` names the other side in messages).
/// `pam-totp check` loads it the same way to find a mismatched upgrade.
pub fn load(path: &Path, module: &Path, config: &Config) -> Result<Box<dyn Store>, StoreError> {
    let library = Library::open(path)
        .map_err(|error| unavailable(&format!("cannot load {}: {error}", path.display())))?;
    let mut request = Request {
        config,
        answer: None,
    };
    let said = library.call_entry(ENTRY, BUILD.as_bytes(), &mut request);
    match (said, request.answer) {
        (Some(ANSWERED), Some(answer)) => answer,
        (None, _) => Err(unavailable(&format!(
            "{} is not pam-totp's PostgreSQL store (no {})",
            path.display(),
            ENTRY.to_string_lossy()
        ))),
        (Some(OTHER_BUILD), _) => Err(unavailable(&format!(
            "{} is from another build than {}: install both from the same package (during an upgrade, until both are unpacked)",
            path.display(),
            module.display()
        ))),
        (Some(_), _) => Err(unavailable(&format!(
            "{} did not answer as expected",
            path.display()
        ))),
    }
}

/// The module's wrapper around the library's store: the changes it passes
/// in are the module's code, and a panic in one must be caught by the
/// module's own standard library, not unwind through the library's frames
/// (whose copy would abort the process). A caught panic changes nothing
/// and fails the update.
struct Guarded(Box<dyn Store>);

impl Guarded {
    fn guarded_change<T>(
        change: &mut Change<'_>,
        call: impl FnOnce(&mut Change<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut panicked = false;
        let mut guarded = |state: &State, now: u64| {
            catch_unwind(AssertUnwindSafe(|| change(state, now))).unwrap_or_else(|_| {
                panicked = true;
                None
            })
        };
        let result = call(&mut guarded);
        if panicked {
            return Err(panicked_error());
        }
        result
    }
}

impl Store for Guarded {
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError> {
        self.0.enrollment(account)
    }

    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError> {
        self.0.is_enrolled(account)
    }

    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError> {
        self.0.snapshot(account)
    }

    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        let store = &mut self.0;
        Guarded::guarded_change(change, |change| store.update(account, repair, change))
    }

    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError> {
        self.0.save_enrollment(account, secret, replacing, repair)
    }

    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError> {
        self.0.remove(account)
    }

    fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
        self.0.list()
    }

    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError> {
        self.0.decoy_snapshot(name)
    }

    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError> {
        let store = &mut self.0;
        Guarded::guarded_change(change, |change| store.decoy_update(name, change))
    }

    fn release(&mut self) {
        self.0.release();
    }

    fn look_up_unknown(&mut self, name: &str) -> Result<(), StoreError> {
        self.0.look_up_unknown(name)
    }
}

/// `…/pam_totp.so` → `…/pam_totp_postgres.so` (and in a build tree
/// `libpam_totp.so` → `libpam_totp_postgres.so`).
pub fn library_beside(module: &Path) -> Option<PathBuf> {
    let stem = module.file_name()?.to_str()?.strip_suffix(".so")?;
    Some(module.with_file_name(format!("{stem}_postgres.so")))
}

/// The library beside `module`, if it may be loaded (`pam-totp check`
/// asks the same).
pub fn checked_library(module: &Path) -> Result<PathBuf, StoreError> {
    // libpam loads modules by absolute path; anything else would make the
    // library's place depend on the current directory.
    if !module.is_absolute() {
        return Err(unavailable(&format!(
            "the module was loaded as {}, not by an absolute path",
            module.display()
        )));
    }
    let path = library_beside(module)
        .ok_or_else(|| unavailable(&format!("{} is not named NAME.so", module.display())))?;
    let module_owner = std::fs::metadata(module).map(|m| m.uid()).unwrap_or(0);
    check_library(&path, module_owner)?;
    Ok(path)
}

/// Code loaded into sshd as root must be as trustworthy as the module:
/// a regular file owned by root (or by `module_owner`, the module's owner,
/// in a build tree) that neither group nor others may write.
fn check_library(path: &Path, module_owner: u32) -> Result<(), StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            unavailable(&format!(
                "{} is missing: it is installed with the module (the same package)",
                path.display()
            ))
        } else {
            unavailable(&format!("cannot read {}: {error}", path.display()))
        }
    })?;
    if !meta.file_type().is_file() {
        return Err(unavailable(&format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.uid() != 0 && meta.uid() != module_owner {
        return Err(unavailable(&format!(
            "{} is owned by uid {}, not root: not loading it",
            path.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unavailable(&format!(
            "{} has mode {:04o}, writable by group or others: not loading it",
            path.display(),
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// What `pam-totp check` (run as root) asks of the library beside a module
/// named in a PAM file, without loading it: a regular file owned by root
/// in a directory owned by root, neither writable by group or others, and
/// of this build, told by this build's identity embedded in the file's
/// bytes. No code of the file runs (a PAM file may name a module in a
/// directory a user controls).
pub fn examine_library(module: &Path) -> Result<PathBuf, StoreError> {
    if !module.is_absolute() {
        return Err(unavailable(&format!(
            "the module is named as {}, not by an absolute path",
            module.display()
        )));
    }
    let path = library_beside(module)
        .ok_or_else(|| unavailable(&format!("{} is not named NAME.so", module.display())))?;
    check_library(&path, 0)?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dir_meta = std::fs::metadata(dir)
        .map_err(|error| unavailable(&format!("cannot read {}: {error}", dir.display())))?;
    if dir_meta.uid() != 0 || dir_meta.mode() & 0o022 != 0 {
        return Err(unavailable(&format!(
            "{} is in {}, owned by uid {} with mode {:04o}: the directory must be root's and not writable by group or others; not loading it",
            path.display(),
            dir.display(),
            dir_meta.uid(),
            dir_meta.mode() & 0o7777
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|error| unavailable(&format!("cannot read {}: {error}", path.display())))?;
    if memchr::memmem::find(&bytes, BUILD.as_bytes()).is_none() {
        return Err(unavailable(&format!(
            "{} is from another build than this pam-totp (or is not pam-totp's PostgreSQL store): install the module, the library and the command from the same package",
            path.display()
        )));
    }
    Ok(path)
}

fn unavailable(why: &str) -> StoreError {
    StoreError::Library(LibraryError::Unusable(why.to_string()))
}

/// The library's side, after the entry point found the same build: the
/// store, wrapped so that no panic unwinds out of the library (the module
/// has its own copy of the standard library and could not catch it).
pub fn serve(request: &mut Request<'_>) {
    let config = request.config;
    let opened = catch_unwind(AssertUnwindSafe(|| postgres::open(config)));
    request.answer = Some(match opened {
        Ok(Ok(store)) => Ok(Box::new(Contained(Some(store)))),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(panicked_error()),
    });
}

fn panicked_error() -> StoreError {
    StoreError::Library(LibraryError::Panicked)
}

/// A store whose every call runs under `catch_unwind`, in the library.
/// After a panic the store (its connection, its runtime) may be half way
/// through something: it is dropped, and every later call fails.
struct Contained(Option<Box<dyn Store>>);

impl Contained {
    /// Drop the store (closing its connection and runtime) with no panic
    /// escaping either.
    fn close(&mut self) {
        let store = self.0.take();
        let _ = catch_unwind(AssertUnwindSafe(move || drop(store)));
    }

    fn contained<T, E: From<StoreError>>(
        &mut self,
        call: impl FnOnce(&mut Box<dyn Store>) -> Result<T, E>,
    ) -> Result<T, E> {
        let Some(store) = self.0.as_mut() else {
            return Err(E::from(panicked_error()));
        };
        match catch_unwind(AssertUnwindSafe(|| call(store))) {
            Ok(result) => result,
            Err(_) => {
                self.close();
                Err(E::from(panicked_error()))
            }
        }
    }
}

impl Store for Contained {
    fn enrollment(&mut self, account: &Account) -> Result<SecretFile, LoadError> {
        self.contained(|store| store.enrollment(account))
    }

    fn is_enrolled(&mut self, account: &Account) -> Result<bool, LoadError> {
        self.contained(|store| store.is_enrolled(account))
    }

    fn snapshot(&mut self, account: &Account) -> Result<Snapshot, StoreError> {
        self.contained(|store| store.snapshot(account))
    }

    fn update(
        &mut self,
        account: &Account,
        repair: Repair,
        change: &mut Change<'_>,
    ) -> Result<Updated, StoreError> {
        self.contained(|store| store.update(account, repair, change))
    }

    fn save_enrollment(
        &mut self,
        account: &Account,
        secret: &SecretFile,
        replacing: Replacing,
        repair: Repair,
    ) -> Result<String, StoreError> {
        self.contained(|store| store.save_enrollment(account, secret, replacing, repair))
    }

    fn remove(&mut self, account: &Account) -> Result<Removed, StoreError> {
        self.contained(|store| store.remove(account))
    }

    fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
        self.contained(|store| store.list())
    }

    fn decoy_snapshot(&mut self, name: &str) -> Result<Snapshot, StoreError> {
        self.contained(|store| store.decoy_snapshot(name))
    }

    fn decoy_update(&mut self, name: &str, change: &mut Change<'_>) -> Result<Updated, StoreError> {
        self.contained(|store| store.decoy_update(name, change))
    }

    fn release(&mut self) {
        let _ = self.contained(|store| {
            store.release();
            Ok::<(), StoreError>(())
        });
    }

    fn look_up_unknown(&mut self, name: &str) -> Result<(), StoreError> {
        self.contained(|store| store.look_up_unknown(name))
    }
}

impl Drop for Contained {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_is_named_after_the_module() {
        for (module, library) in [
            (
                "/usr/lib/x86_64-linux-gnu/security/pam_totp.so",
                "/usr/lib/x86_64-linux-gnu/security/pam_totp_postgres.so",
            ),
            (
                "/w/target/debug/libpam_totp.so",
                "/w/target/debug/libpam_totp_postgres.so",
            ),
            (
                "/lib64/security/pam_totp2.so",
                "/lib64/security/pam_totp2_postgres.so",
            ),
        ] {
            assert_eq!(
                library_beside(Path::new(module)),
                Some(PathBuf::from(library))
            );
        }
    }

    #[test]
    fn a_module_not_named_so_has_no_library() {
        assert_eq!(
            library_beside(Path::new("/lib/security/pam_totp.so.1")),
            None
        );
        let error = checked_library(Path::new("/lib/security/pam_totp.so.1")).unwrap_err();
        assert!(
            error.to_string().contains("is not named NAME.so"),
            "{error}"
        );
    }

    #[test]
    fn a_module_loaded_by_a_relative_path_loads_no_library() {
        let error = checked_library(Path::new("pam_totp.so")).unwrap_err();
        assert!(
            error.to_string().contains("not by an absolute path"),
            "{error}"
        );
    }

    /// A panic in the module's change is caught on the module's side: the
    /// update fails and nothing is written.
    #[test]
    fn a_panicking_change_fails_the_update_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        std::fs::create_dir(&state_dir).unwrap();
        std::fs::set_permissions(
            &state_dir,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .unwrap();
        let config = Config {
            state_dir: state_dir.clone(),
            ..Config::default()
        };
        let account =
            crate::system::account::lookup_uid(crate::system::account::effective_uid()).unwrap();
        let mut store = Guarded(Box::new(super::super::files::FilesStore::new(config)));
        let mut change = |_: &State, _: u64| -> Option<State> { panic!("a bug in a change") };
        let error = store
            .update(&account, Repair::Refuse, &mut change)
            .unwrap_err();
        assert!(error.to_string().contains("failed unexpectedly"), "{error}");
        let written: Vec<_> = std::fs::read_dir(&state_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .filter(|name| name.to_string_lossy().ends_with(".state"))
            .collect();
        assert!(written.is_empty(), "{written:?}");
        // A change that works still does.
        let mut fine = |state: &State, _: u64| Some(state.clone());
        assert!(store.update(&account, Repair::Refuse, &mut fine).is_ok());
    }

    #[test]
    fn the_build_identity_is_a_hash() {
        assert_eq!(BUILD.len(), 16);
        assert!(BUILD.bytes().all(|b| b.is_ascii_hexdigit()), "{BUILD}");
    }

    /// A store that panics in `snapshot` (and, if asked, when dropped),
    /// counting its calls and saying when it is dropped.
    struct Panicky {
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
        panic_on_drop: bool,
    }

    impl Panicky {
        fn call(&self) -> StoreError {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            StoreError::Other("fake".into())
        }
    }

    impl Drop for Panicky {
        fn drop(&mut self) {
            self.dropped
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if self.panic_on_drop {
                panic!("a bug while closing");
            }
        }
    }

    impl Store for Panicky {
        fn enrollment(&mut self, _: &Account) -> Result<SecretFile, LoadError> {
            Err(LoadError::Identity(std::io::Error::other(
                self.call().to_string(),
            )))
        }
        fn is_enrolled(&mut self, _: &Account) -> Result<bool, LoadError> {
            Err(LoadError::Identity(std::io::Error::other(
                self.call().to_string(),
            )))
        }
        fn snapshot(&mut self, _: &Account) -> Result<Snapshot, StoreError> {
            self.call();
            panic!("a bug in the store");
        }
        fn update(
            &mut self,
            _: &Account,
            _: Repair,
            _: &mut Change<'_>,
        ) -> Result<Updated, StoreError> {
            Err(self.call())
        }
        fn save_enrollment(
            &mut self,
            _: &Account,
            _: &SecretFile,
            _: Replacing,
            _: Repair,
        ) -> Result<String, StoreError> {
            Err(self.call())
        }
        fn remove(&mut self, _: &Account) -> Result<Removed, StoreError> {
            Err(self.call())
        }
        fn list(&mut self) -> Result<Vec<Listed>, StoreError> {
            Err(self.call())
        }
        fn decoy_snapshot(&mut self, _: &str) -> Result<Snapshot, StoreError> {
            Err(self.call())
        }
        fn decoy_update(&mut self, _: &str, _: &mut Change<'_>) -> Result<Updated, StoreError> {
            Err(self.call())
        }
        fn release(&mut self) {
            self.call();
        }
        fn look_up_unknown(&mut self, _: &str) -> Result<(), StoreError> {
            Err(self.call())
        }
    }

    /// After a panic in the library, `Contained` drops the store at once
    /// (closing its connection), even if dropping it panics too, and every
    /// later call fails without reaching it.
    #[test]
    fn a_store_that_panicked_is_dropped_and_never_called_again() {
        let account =
            crate::system::account::lookup_uid(crate::system::account::effective_uid()).unwrap();
        for panic_on_drop in [false, true] {
            let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut store = Contained(Some(Box::new(Panicky {
                calls: calls.clone(),
                dropped: dropped.clone(),
                panic_on_drop,
            })));
            // Positive control: a call that does not panic reaches the store
            // and leaves it open.
            assert!(store.list().is_err());
            assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
            assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
            let error = store.snapshot(&account).unwrap_err();
            assert!(error.to_string().contains("failed unexpectedly"), "{error}");
            assert!(
                dropped.load(std::sync::atomic::Ordering::SeqCst),
                "not dropped"
            );
            let mut change = |state: &State, _: u64| Some(state.clone());
            let later = store
                .update(&account, Repair::Refuse, &mut change)
                .unwrap_err();
            assert!(later.to_string().contains("failed unexpectedly"), "{later}");
            assert!(store.list().is_err());
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::SeqCst),
                2,
                "called after the panic"
            );
            drop(store);
        }
    }
}
