//! Acting with a user's file-system identity.
//!
//! A secret under a user's home is read with the user's fsuid/fsgid, so a
//! root-squashed NFS home works and a user cannot make the module read a
//! file they could not read themselves.
//!
//! Everything here changes the calling thread only: setfsuid/setfsgid are
//! per-thread, and supplementary groups are set with the raw system call
//! (glibc's setgroups() would change every thread of the host process).

use std::io;
use std::marker::PhantomData;

use super::account::Account;

/// While alive, file-system access by this thread uses the account's uid
/// and gid (and no other groups). Dropping it restores the previous
/// identity. Not `Send`: it must be dropped on the thread that made it.
pub struct FsIdentity {
    previous: Option<Previous>,
    _same_thread: PhantomData<*const ()>,
}

struct Previous {
    fsuid: u32,
    fsgid: u32,
    groups: Vec<libc::gid_t>,
}

impl FsIdentity {
    /// Switch to `account`'s identity. A no-op when not running as root
    /// (an unprivileged process can only read what it may read anyway).
    pub fn switch_to(account: &Account) -> io::Result<FsIdentity> {
        let euid = crate::system::account::effective_uid();
        if euid != 0 || account.uid == 0 {
            return Ok(FsIdentity {
                previous: None,
                _same_thread: PhantomData,
            });
        }
        let groups = thread_groups()?;
        set_thread_groups(&[account.gid])?;
        // From here on, dropping the guard restores what was there.
        let mut guard = FsIdentity {
            previous: Some(Previous {
                fsuid: 0,
                fsgid: 0,
                groups,
            }),
            _same_thread: PhantomData,
        };
        // SAFETY: setfsgid and setfsuid take plain ids and change only
        // this thread's file-system identity; the guard restores it.
        let fsgid = unsafe { libc::setfsgid(account.gid) } as u32;
        // SAFETY: as above.
        let fsuid = unsafe { libc::setfsuid(account.uid) } as u32;
        if let Some(previous) = guard.previous.as_mut() {
            previous.fsgid = fsgid;
            previous.fsuid = fsuid;
        }
        if current_fsgid() != account.gid || current_fsuid() != account.uid {
            return Err(io::Error::other("could not switch file-system identity"));
        }
        Ok(guard)
    }
}

impl Drop for FsIdentity {
    fn drop(&mut self) {
        let Some(previous) = self.previous.take() else {
            return;
        };
        // SAFETY: plain ids, this thread only: back to what was in force.
        unsafe {
            libc::setfsuid(previous.fsuid);
            libc::setfsgid(previous.fsgid);
        }
        let restored = set_thread_groups(&previous.groups).is_ok()
            && current_fsuid() == previous.fsuid
            && current_fsgid() == previous.fsgid;
        if !restored {
            // Carrying on inside a root process with a user's identity is
            // worse than ending this one login.
            std::process::abort();
        }
    }
}

/// setfsuid returns the value in force; asking for an invalid id (-1)
/// changes nothing, so this reads it.
fn current_fsuid() -> u32 {
    // SAFETY: an invalid id (-1) changes nothing; only the old value is read.
    unsafe { libc::setfsuid(u32::MAX) as u32 }
}

fn current_fsgid() -> u32 {
    // SAFETY: as in current_fsuid.
    unsafe { libc::setfsgid(u32::MAX) as u32 }
}

fn thread_groups() -> io::Result<Vec<libc::gid_t>> {
    // SAFETY: with a size of 0 getgroups writes nothing and only counts.
    let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    let Ok(size) = usize::try_from(count) else {
        return Err(io::Error::last_os_error());
    };
    let mut groups: Vec<libc::gid_t> = vec![0; size];
    // SAFETY: `groups` holds `count` elements, the most getgroups writes.
    let got = unsafe { libc::getgroups(count, groups.as_mut_ptr()) };
    let Ok(got) = usize::try_from(got) else {
        return Err(io::Error::last_os_error());
    };
    groups.truncate(got);
    Ok(groups)
}

/// Set this thread's supplementary groups (the raw system call is per-thread).
fn set_thread_groups(groups: &[libc::gid_t]) -> io::Result<()> {
    // On 32-bit x86 and ARM, setgroups is the old 16-bit call; use the 32-bit one.
    #[cfg(any(target_arch = "x86", target_arch = "arm"))]
    let call = libc::SYS_setgroups32;
    #[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
    let call = libc::SYS_setgroups;
    // SAFETY: the raw setgroups call reads `groups.len()` ids from a live
    // slice; it changes only this thread's supplementary groups.
    let rc = unsafe { libc::syscall(call, groups.len(), groups.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_changes_only_this_thread_and_is_undone() {
        if crate::system::account::effective_uid() != 0 {
            return crate::system::test_skip::skip("needs root to switch the file-system identity");
        }
        let nobody = Account {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            home: "/nonexistent".into(),
        };
        let before = thread_groups().unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let other = {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait(); // the main thread has switched
                let seen = (thread_groups().unwrap(), current_fsuid());
                barrier.wait();
                seen
            })
        };
        let guard = FsIdentity::switch_to(&nobody).unwrap();
        assert_eq!(current_fsuid(), 65534);
        assert_eq!(thread_groups().unwrap(), vec![65534]);
        barrier.wait();
        barrier.wait();
        let (other_groups, other_fsuid) = other.join().unwrap();
        assert_eq!(other_groups, before, "another thread's groups changed");
        assert_eq!(other_fsuid, 0);
        drop(guard);
        assert_eq!(current_fsuid(), 0);
        assert_eq!(thread_groups().unwrap(), before);
    }
}
