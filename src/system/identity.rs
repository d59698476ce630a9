//! Acting with a user's file-system identity.
//!
//! A secret under a user's home is read with the user's fsuid/fsgid, so a
//! root-squashed NFS home works and a user cannot make the module read a
//! file they could not read themselves.

use std::io;

use super::account::Account;

/// While alive, file-system access uses the account's uid and gid (and no
/// supplementary groups). Dropping it restores the previous identity.
pub struct FsIdentity {
    previous_uid: u32,
    previous_gid: u32,
    previous_groups: Option<Vec<libc::gid_t>>,
}

impl FsIdentity {
    /// Switch to `account`'s identity. A no-op when not running as root
    /// (an unprivileged process can only read what it may read anyway).
    pub fn switch_to(account: &Account) -> io::Result<FsIdentity> {
        let euid = unsafe { libc::geteuid() };
        if euid != 0 || account.uid == 0 {
            return Ok(FsIdentity {
                previous_uid: euid,
                previous_gid: unsafe { libc::getegid() },
                previous_groups: None,
            });
        }
        let groups = current_groups()?;
        let only_primary = [account.gid];
        if unsafe { libc::setgroups(1, only_primary.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut guard = FsIdentity {
            previous_uid: 0,
            previous_gid: 0,
            previous_groups: Some(groups),
        };
        guard.previous_gid = unsafe { libc::setfsgid(account.gid) } as u32;
        guard.previous_uid = unsafe { libc::setfsuid(account.uid) } as u32;
        // setfs[ug]id report no errors; a second call returns the value in force.
        let (fsgid, fsuid) = unsafe {
            (
                libc::setfsgid(account.gid) as u32,
                libc::setfsuid(account.uid) as u32,
            )
        };
        if fsgid != account.gid || fsuid != account.uid {
            return Err(io::Error::other("could not switch file-system identity"));
        }
        Ok(guard)
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        if let Some(groups) = self.previous_groups.take() {
            unsafe {
                libc::setfsuid(self.previous_uid);
                libc::setfsgid(self.previous_gid);
                libc::setgroups(groups.len(), groups.as_ptr());
            }
        }
    }
}

fn current_groups() -> io::Result<Vec<libc::gid_t>> {
    let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let Ok(size) = usize::try_from(count) else {
        return Err(io::Error::last_os_error());
    };
    let mut groups: Vec<libc::gid_t> = vec![0; size];
    let got = unsafe { libc::getgroups(count, groups.as_mut_ptr()) };
    let Ok(got) = usize::try_from(got) else {
        return Err(io::Error::last_os_error());
    };
    groups.truncate(got);
    Ok(groups)
}
