//! User account lookup through NSS (`getpwnam_r`, `getgrouplist`).

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The parts of a passwd entry the module uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

#[derive(Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No such user.
    NotFound,
    /// NSS failed (e.g. LDAP unreachable); `errno` says why.
    Failed(i32),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound => write!(f, "no such user"),
            LookupError::Failed(errno) => write!(
                f,
                "user lookup failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for LookupError {}

/// Largest buffer offered to a reentrant NSS lookup (entries with huge
/// member lists need more than the first 4 KiB).
const MAX_NSS_BUFFER: usize = 1 << 22;

/// Run a reentrant NSS lookup (`get*_r`), doubling its buffer on ERANGE.
/// `attempt` returns the call's status and, when it found an entry, the
/// value taken from it (while the buffer is still alive).
///
/// The buffer is handed over uninitialised: the lookup only writes to it,
/// and zeroing 4 KiB cost about 4,400 instructions on every login.
fn with_nss_buffer<T>(
    mut attempt: impl FnMut(&mut [MaybeUninit<libc::c_char>]) -> (libc::c_int, Option<T>),
) -> Result<Option<T>, LookupError> {
    let mut size = 4096;
    loop {
        let mut buffer: Vec<libc::c_char> = Vec::with_capacity(size);
        let (rc, found) = attempt(buffer.spare_capacity_mut());
        if rc == libc::ERANGE && size < MAX_NSS_BUFFER {
            size *= 2;
            continue;
        }
        // getpwnam(3): these may also mean "no such entry".
        if matches!(rc, libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM) {
            return Ok(None);
        }
        if rc != 0 {
            return Err(LookupError::Failed(rc));
        }
        return Ok(found);
    }
}

/// Call `getpwnam_r` or `getpwuid_r` (the `lookup` closure) and convert.
fn passwd_lookup(
    mut lookup: impl FnMut(
        &mut libc::passwd,
        &mut [MaybeUninit<libc::c_char>],
        &mut *mut libc::passwd,
    ) -> libc::c_int,
) -> Result<Account, LookupError> {
    with_nss_buffer(|buffer| {
        // SAFETY: libc::passwd is plain data (integers and pointers), for
        // which all zero bytes are a valid value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = lookup(&mut entry, buffer, &mut result);
        if rc != 0 || result.is_null() {
            return (rc, None);
        }
        if entry.pw_name.is_null() || entry.pw_dir.is_null() {
            // An NSS module that returns no name or home: a failed lookup.
            return (libc::EINVAL, None);
        }
        // SAFETY: the lookup succeeded and the pointers are not null, so the
        // strings point into `buffer`, into bytes the lookup wrote.
        let (name, home) = unsafe { (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir)) };
        let account = Account {
            name: name.to_string_lossy().into_owned(),
            uid: entry.pw_uid,
            gid: entry.pw_gid,
            home: PathBuf::from(std::ffi::OsStr::from_bytes(home.to_bytes())),
        };
        (0, Some(account))
    })?
    .ok_or(LookupError::NotFound)
}

/// Look up a user by name.
pub fn lookup_user(name: &str) -> Result<Account, LookupError> {
    let c_name = CString::new(name).map_err(|_| LookupError::NotFound)?;
    // SAFETY: c_name is a NUL-terminated string that outlives the call;
    // entry, buffer (with its true length) and result are valid and
    // writable for getpwnam_r, which writes only within them (and never
    // reads the buffer's uninitialised bytes).
    passwd_lookup(|entry, buffer, result| unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            entry,
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            result,
        )
    })
}

/// Look up a user by uid.
pub fn lookup_uid(uid: u32) -> Result<Account, LookupError> {
    // SAFETY: entry, buffer (with its true length) and result are valid
    // and writable for getpwuid_r, which writes only within them.
    passwd_lookup(|entry, buffer, result| unsafe {
        libc::getpwuid_r(uid, entry, buffer.as_mut_ptr().cast(), buffer.len(), result)
    })
}

/// The names of all groups the account belongs to, primary and supplementary.
pub fn group_names(account: &Account) -> Result<Vec<String>, LookupError> {
    let c_name = CString::new(account.name.as_str()).map_err(|_| LookupError::NotFound)?;
    let mut count: libc::c_int = 64;
    let mut gids: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let capacity = count;
        // SAFETY: c_name is NUL-terminated; gids holds `count` elements
        // (capacity == count here), and getgrouplist writes at most that
        // many and stores the number it needs in count.
        let rc = unsafe {
            libc::getgrouplist(c_name.as_ptr(), account.gid, gids.as_mut_ptr(), &mut count)
        };
        if rc >= 0 {
            gids.truncate(usize::try_from(count).unwrap_or(0));
            break;
        }
        if count <= capacity || count > 65536 {
            return Err(LookupError::Failed(libc::ERANGE));
        }
        gids.resize(usize::try_from(count).unwrap_or(0), 0);
    }
    let mut names = Vec::with_capacity(gids.len());
    for gid in gids {
        if let Some(name) = group_name(gid)? {
            names.push(name);
        }
    }
    Ok(names)
}

fn group_name(gid: u32) -> Result<Option<String>, LookupError> {
    with_nss_buffer(|buffer| {
        // SAFETY: libc::group is plain data, valid when all zero.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: entry, buffer (with its true length) and result are valid
        // and writable; getgrgid_r writes only within them.
        let rc = unsafe {
            libc::getgrgid_r(
                gid,
                &mut entry,
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() || entry.gr_name.is_null() {
            return (rc, None);
        }
        // SAFETY: getgrgid_r succeeded, so gr_name points into `buffer`.
        let name = unsafe { CStr::from_ptr(entry.gr_name) };
        (0, Some(name.to_string_lossy().into_owned()))
    })
}

/// The effective user id of this process.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// The real user id of this process (who ran the command).
pub fn real_uid() -> u32 {
    // SAFETY: getuid takes no arguments and cannot fail.
    unsafe { libc::getuid() }
}

/// The names of every account the user database enumerates (`getent
/// passwd`: the local files, and NSS sources that allow enumeration), for
/// the command only: getpwent is not reentrant, and a PAM module must not
/// disturb its host's enumeration.
pub fn all_user_names() -> Vec<String> {
    let mut names = Vec::new();
    // SAFETY: setpwent, getpwent and endpwent take no arguments; each
    // entry getpwent returns is valid until the next call, and only its
    // name is copied out before that, after a null check.
    unsafe {
        libc::setpwent();
        loop {
            let entry = libc::getpwent();
            if entry.is_null() {
                break;
            }
            let name = (*entry).pw_name;
            if !name.is_null() {
                names.push(CStr::from_ptr(name).to_string_lossy().into_owned());
            }
        }
        libc::endpwent();
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_with_uid_zero() {
        let root = lookup_user("root").unwrap();
        assert_eq!(root.uid, 0);
        assert_eq!(lookup_uid(0).unwrap(), root);
        assert!(group_names(&root).unwrap().contains(&"root".to_string()));
    }

    #[test]
    fn unknown_user_is_not_found() {
        assert_eq!(
            lookup_user("no-such-user-pam-totp"),
            Err(LookupError::NotFound)
        );
        assert_eq!(lookup_user("nul\0byte"), Err(LookupError::NotFound));
    }
}
