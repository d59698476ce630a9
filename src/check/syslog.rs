//! Whether anything receives the module's log lines: `pam_syslog` writes
//! to `/dev/log`, and with no journald or rsyslog there every line is
//! silently lost.

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

/// Where syslog(3) sends its lines.
pub const DEV_LOG: &str = "/dev/log";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogProblem {
    /// No socket at the path.
    Missing,
    /// A socket file with no one reading it (a daemon that stopped).
    NotListening,
    /// Something else stops a connection (permissions ...).
    Unreachable(String),
}

impl std::fmt::Display for SyslogProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = "so every log line of the module (refusals, lockouts, enrollments) is lost; start journald or rsyslog";
        match self {
            SyslogProblem::Missing => write!(f, "nothing at {DEV_LOG}, {lost}"),
            SyslogProblem::NotListening => write!(f, "nothing listens on {DEV_LOG}, {lost}"),
            SyslogProblem::Unreachable(error) => {
                write!(f, "cannot send to {DEV_LOG} ({error}), {lost}")
            }
        }
    }
}

/// Connect to the syslog socket at `path` as syslog(3) would (datagram,
/// then stream), sending nothing.
pub fn probe(path: &Path) -> Result<(), SyslogProblem> {
    let classify = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => SyslogProblem::Missing,
        std::io::ErrorKind::ConnectionRefused => SyslogProblem::NotListening,
        _ => SyslogProblem::Unreachable(error.to_string()),
    };
    let socket = UnixDatagram::unbound().map_err(classify)?;
    match socket.connect(path) {
        Ok(()) => Ok(()),
        // A stream socket (some syslog daemons): syslog(3) tries that next.
        Err(error) if error.raw_os_error() == Some(libc::EPROTOTYPE) => {
            UnixStream::connect(path).map(drop).map_err(classify)
        }
        Err(error) => Err(classify(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_a_stale_socket_and_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert_eq!(probe(&path), Err(SyslogProblem::Missing));
        let listener = UnixDatagram::bind(&path).unwrap();
        assert_eq!(probe(&path), Ok(()));
        drop(listener);
        assert_eq!(probe(&path), Err(SyslogProblem::NotListening));
        std::fs::remove_file(&path).unwrap();
        let stream = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(probe(&path), Ok(()));
        drop(stream);
    }
}
