//! What one SSH connection has been through, remembered across its
//! keyboard-interactive rounds.
//!
//! OpenSSH's client tries keyboard-interactive up to
//! `NumberOfPasswordPrompts` (3) times per connection, and sshd runs each
//! round's `pam_authenticate` in a process of its own, forked from the
//! connection's privileged monitor (portable OpenSSH's `auth-pam.c`
//! emulates its PAM thread with `fork` unless built with
//! `UNSUPPORTED_POSIX_THREADS_HACK`), so nothing the module keeps in memory
//! or in the PAM handle reaches the next round. A mark is an empty file in
//! `state_dir` named after what happened and the monitor (its process id
//! and start time, so a reused id is another connection). Marks of
//! connections that have ended are removed when a new one is made. A mark
//! holds nothing about the user, and is made alike for every name (no
//! enumeration).
//!
//! Marks only change what the user is shown or offered again, never
//! whether a code is accepted.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Every mark's file name starts with this.
const PREFIX: &str = "connection-";

/// What a connection has been through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// It was shown the lockout message.
    LockoutShown,
    /// Its enrollment at login ended after three wrong codes.
    EnrollmentFailed,
}

impl Mark {
    fn name(self) -> &'static str {
        match self {
            Mark::LockoutShown => "lockout-shown",
            Mark::EnrollmentFailed => "enrollment-failed",
        }
    }
}

/// Leave `mark` for this connection: `true` if it was not there before
/// (and whenever the mark cannot be made: the caller then does what it
/// does the first time).
pub fn make(state_dir: &Path, mark: Mark) -> bool {
    monitor().is_none_or(|connection| make_for(state_dir, mark, &connection))
}

/// Whether this connection has `mark`.
pub fn is_there(state_dir: &Path, mark: Mark) -> bool {
    monitor().is_some_and(|connection| is_there_for(state_dir, mark, &connection))
}

fn make_for(state_dir: &Path, mark: Mark, connection: &str) -> bool {
    let Some(path) = path(state_dir, mark, connection) else {
        return true;
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
    {
        Ok(_) => {
            remove_ended(state_dir);
            true
        }
        Err(error) => error.kind() != ErrorKind::AlreadyExists,
    }
}

fn is_there_for(state_dir: &Path, mark: Mark, connection: &str) -> bool {
    path(state_dir, mark, connection).is_some_and(|path| std::fs::symlink_metadata(path).is_ok())
}

/// The mark's file for `connection`, in a `state_dir` that passes the
/// module's checks.
fn path(state_dir: &Path, mark: Mark, connection: &str) -> Option<PathBuf> {
    crate::store::files::state::check_directory(state_dir).ok()?;
    Some(state_dir.join(format!("{PREFIX}{}-{connection}", mark.name())))
}

/// `PID-STARTTIME` of the parent process (under sshd, the connection's
/// monitor). None unless this process is single-threaded, as sshd's
/// forked PAM process is: under an sshd built with real PAM threads the
/// parent would be the listener, shared by every connection.
fn monitor() -> Option<String> {
    let threads = std::fs::read_dir("/proc/self/task").ok()?.count();
    (threads == 1).then_some(())?;
    let pid = std::os::unix::process::parent_id();
    (pid > 1).then_some(())?;
    Some(format!("{pid}-{}", start_time(pid)?))
}

/// Field 22 of `/proc/PID/stat`, the process's start time in clock ticks
/// since boot; the command name before it may hold spaces and parentheses.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Remove the marks of connections whose monitor is gone.
fn remove_ended(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    let ended: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let rest = name.to_str()?.strip_prefix(PREFIX)?.to_string();
            // NAME-PID-START: the last two fields.
            let mut fields = rest.rsplitn(3, '-');
            let start = fields.next()?;
            let pid = fields.next()?;
            let alive = pid
                .parse()
                .ok()
                .and_then(start_time)
                .is_some_and(|now| start.parse() == Ok(now));
            (!alive).then(|| entry.path())
        })
        .collect();
    for path in ended {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mark_of_each_kind_per_parent_and_ended_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        if crate::store::files::state::check_directory(&state).is_err() {
            return; // not root in a root-owned tree: no marks are made here
        }
        // This process as the connection (the test harness has threads, so
        // `monitor` declines).
        let own = std::process::id();
        let connection = format!("{own}-{}", start_time(own).unwrap());
        // A mark of a connection that ended long ago.
        let stale = state.join(format!("{PREFIX}lockout-shown-999999999-1"));
        std::fs::write(&stale, "").unwrap();
        assert!(monitor().is_none());
        assert!(!is_there_for(&state, Mark::LockoutShown, &connection));
        assert!(make_for(&state, Mark::LockoutShown, &connection));
        assert!(!make_for(&state, Mark::LockoutShown, &connection));
        assert!(is_there_for(&state, Mark::LockoutShown, &connection));
        assert!(!is_there_for(&state, Mark::EnrollmentFailed, &connection));
        assert!(make_for(&state, Mark::EnrollmentFailed, &connection));
        assert!(!stale.exists());
        assert!(is_there_for(&state, Mark::EnrollmentFailed, &connection));
    }

    #[test]
    fn the_start_time_is_read_past_a_name_with_spaces() {
        let own = start_time(std::process::id()).unwrap();
        assert!(own > 0);
    }
}
