//! "Too many failed attempts" once per SSH connection.
//!
//! OpenSSH's client tries keyboard-interactive up to
//! `NumberOfPasswordPrompts` (3) times per connection, and sshd runs each
//! round's `pam_authenticate` in a process of its own, forked from the
//! connection's privileged monitor (portable OpenSSH's `auth-pam.c`
//! emulates its PAM thread with `fork` unless built with
//! `UNSUPPORTED_POSIX_THREADS_HACK`), so nothing the module keeps in memory
//! or in the PAM handle reaches the next round. A locked-out user who
//! connects again would see the lockout message once per round. So the
//! first round that tells the connection about a lockout leaves a mark in
//! `state_dir`, named after the monitor (its process id and start time,
//! so a reused id is another connection), and later rounds of that
//! connection refuse without the message. Marks of connections that have
//! ended are removed when a new one is made. The mark holds nothing about
//! the user, so it is made alike for every name (no enumeration).
//!
//! Only the message depends on it: the decision and the log line never do.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

const PREFIX: &str = "told-lockout-";

/// Whether this round of the connection should show the lockout message:
/// `true` the first time (and whenever the mark cannot be made or read:
/// better twice than never).
pub fn first_for_this_connection(state_dir: &Path) -> bool {
    let Some(connection) = monitor() else {
        return true;
    };
    if crate::state::check_directory(state_dir).is_err() {
        return true;
    }
    let mark = state_dir.join(format!("{PREFIX}{connection}"));
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&mark)
    {
        Ok(_) => {
            remove_ended(state_dir, &mark);
            true
        }
        Err(error) => error.kind() != ErrorKind::AlreadyExists,
    }
}

/// `PID-STARTTIME` of the parent process (under sshd, the connection's
/// monitor).
fn monitor() -> Option<String> {
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
fn remove_ended(state_dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    let ended: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let connection = name.to_str()?.strip_prefix(PREFIX)?.to_string();
            let (pid, start) = connection.split_once('-')?;
            let alive = pid
                .parse()
                .ok()
                .and_then(start_time)
                .is_some_and(|now| start.parse() == Ok(now));
            (!alive).then(|| entry.path())
        })
        .filter(|path| path != keep)
        .collect();
    for path in ended {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mark_per_parent_and_ended_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        // A mark of a connection that ended long ago.
        let stale = state.join(format!("{PREFIX}999999999-1"));
        std::fs::write(&stale, "").unwrap();
        if crate::state::check_directory(&state).is_err() {
            return; // not ours (not root in a root-owned tree): nothing to test
        }
        assert!(first_for_this_connection(&state));
        assert!(!first_for_this_connection(&state));
        assert!(!stale.exists());
    }

    #[test]
    fn the_start_time_is_read_past_a_name_with_spaces() {
        let own = start_time(std::process::id()).unwrap();
        assert!(own > 0);
    }
}
