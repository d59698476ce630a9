//! glob(3): the file names a shell pattern matches, as sshd expands an
//! `Include` (`pam-totp check --sshd-config`).

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The existing paths `pattern` matches, sorted as glob(3) sorts them;
/// none when nothing matches (sshd then includes nothing, silently).
pub fn glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    let c_pattern =
        CString::new(pattern).map_err(|_| format!("{pattern:?} holds a NUL character"))?;
    // SAFETY: glob_t is a plain C struct for which all zeroes is the
    // documented "empty" value glob(3) fills in.
    let mut found: libc::glob_t = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated pattern, no error callback, and a glob_t
    // that lives until globfree below.
    let rc = unsafe { libc::glob(c_pattern.as_ptr(), 0, None, &raw mut found) };
    let result = match rc {
        0 => {
            let count = found.gl_pathc;
            let mut paths = Vec::with_capacity(count);
            for i in 0..count {
                // SAFETY: on success gl_pathv holds gl_pathc pointers to
                // NUL-terminated strings, valid until globfree.
                let name = unsafe { CStr::from_ptr(*found.gl_pathv.add(i)) };
                paths.push(PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())));
            }
            Ok(paths)
        }
        libc::GLOB_NOMATCH => Ok(Vec::new()),
        libc::GLOB_NOSPACE => Err(format!("{pattern}: out of memory")),
        _ => Err(format!("{pattern}: a directory could not be read")),
    };
    // SAFETY: `found` was filled in by glob above (or is still all zeroes,
    // which globfree accepts).
    unsafe { libc::globfree(&raw mut found) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_are_sorted_and_no_match_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["20-b.conf", "10-a.conf", "notes.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let found = glob(&format!("{}/*.conf", dir.path().display())).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["10-a.conf", "20-b.conf"]);
        assert!(
            glob(&format!("{}/*.none", dir.path().display()))
                .unwrap()
                .is_empty()
        );
    }
}
