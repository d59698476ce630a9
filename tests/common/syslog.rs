//! What the module sends to syslog, caught for a test.
//!
//! `pam_syslog` writes to `/dev/log`, which nothing listens on in CI (and a
//! test must not read the machine's real log). [`capture`] runs a closure
//! on a thread with its own mount namespace whose `/dev` holds a few device
//! nodes and a datagram socket the test listens on, so everything glibc's
//! syslog sends from that thread is caught (and, through glibc's one connection per
//! process, what other threads log meanwhile), and nothing else on the machine
//! sees a `/dev/log` appear.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

fn mount(source: &Path, target: &Path, fstype: Option<&str>, flags: libc::c_ulong) {
    let source = CString::new(source.to_str().unwrap()).unwrap();
    let target_c = CString::new(target.to_str().unwrap()).unwrap();
    let fstype = fstype.map(|t| CString::new(t).unwrap());
    // SAFETY: NUL-terminated strings (or null) that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target_c.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
            flags,
            std::ptr::null(),
        )
    };
    assert_eq!(
        rc,
        0,
        "mount {} on {}: {}",
        source.to_string_lossy(),
        target.display(),
        std::io::Error::last_os_error()
    );
}

/// Whether this process may make mount namespaces (root, not in a locked
/// down container).
pub fn can_capture() -> bool {
    if pam_totp::system::account::effective_uid() != 0 {
        return false;
    }
    std::process::Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Run `f` where `/dev/log` is a socket of ours; returns what it returned
/// and every syslog datagram sent meanwhile, as text. glibc keeps one
/// syslog connection per process, so lines other test threads log
/// meanwhile arrive too: a caller keeps the lines of its own user or
/// service.
pub fn capture<T: Send>(f: impl FnOnce() -> T + Send) -> (T, Vec<String>) {
    private_dev(true, |_| f())
}

/// The module's refusal line among `lines` that mentions `needle` (a user
/// as `(user=NAME `, a path): the way a caller keeps its own line.
pub fn refusal_naming<'a>(lines: &'a [String], needle: &str) -> Option<&'a String> {
    lines
        .iter()
        .find(|line| line.contains("refused:") && line.contains(needle))
}

/// Run `f` (and the processes it starts) where nothing is at `/dev/log`,
/// as on a machine without journald or rsyslog.
pub fn without_dev_log<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    private_dev(false, |_| f()).0
}

/// The same as [`capture`], `f` given the temporary directory that holds
/// the private `/dev` (for a test that it is removed afterwards).
pub fn capture_showing_dir<T: Send>(f: impl FnOnce(&Path) -> T + Send) -> (T, Vec<String>) {
    private_dev(true, f)
}

fn private_dev<T: Send>(listen: bool, f: impl FnOnce(&Path) -> T + Send) -> (T, Vec<String>) {
    // Made and removed outside the private namespace: inside it, the
    // device files are mount points, which cannot be removed (the
    // directory was left behind in /tmp on every run).
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path();
    let out = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                // This thread alone gets the new namespace (CLONE_NEWNS
                // implies CLONE_FS, which a thread may unshare).
                // SAFETY: unshare takes flags only.
                let unshared = unsafe { libc::unshare(libc::CLONE_NEWNS) };
                assert_eq!(unshared, 0, "unshare: {}", std::io::Error::last_os_error());
                mount(
                    Path::new("none"),
                    Path::new("/"),
                    None,
                    libc::MS_REC | libc::MS_PRIVATE,
                );
                let dev = dir_path.join("dev");
                std::fs::create_dir(&dev).unwrap();
                for node in ["null", "zero", "full", "random", "urandom"] {
                    let target = dev.join(node);
                    std::fs::write(&target, "").unwrap();
                    mount(&Path::new("/dev").join(node), &target, None, libc::MS_BIND);
                }
                let socket = listen.then(|| UnixDatagram::bind(dev.join("log")).unwrap());
                mount(&dev, Path::new("/dev"), None, libc::MS_BIND | libc::MS_REC);
                // glibc keeps one syslog connection per process: drop it,
                // so the next line connects to this namespace's /dev/log.
                // SAFETY: closelog takes nothing; syslog reopens on use.
                unsafe { libc::closelog() };
                // Drain the socket while `f` runs: a datagram socket holds
                // only net.unix.max_dgram_qlen (10) unread lines, after which
                // every syslog() in the process would block.
                let stop = std::sync::atomic::AtomicBool::new(false);
                let (result, lines) = std::thread::scope(|inner| {
                    let reader = socket.as_ref().map(|socket| {
                        let stop = &stop;
                        inner.spawn(move || {
                            socket
                                .set_read_timeout(Some(std::time::Duration::from_millis(20)))
                                .unwrap();
                            let mut lines = Vec::new();
                            let mut buffer = vec![0u8; 65536];
                            loop {
                                match socket.recv(&mut buffer) {
                                    Ok(n) => lines
                                        .push(String::from_utf8_lossy(&buffer[..n]).into_owned()),
                                    Err(_) if stop.load(std::sync::atomic::Ordering::SeqCst) => {
                                        break lines;
                                    }
                                    Err(_) => {}
                                }
                            }
                        })
                    });
                    let result = f(dir_path);
                    // SAFETY: as above.
                    unsafe { libc::closelog() };
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    let lines = reader.map(|r| r.join().unwrap()).unwrap_or_default();
                    (result, lines)
                });
                (result, lines)
            })
            .join()
            .unwrap()
    });
    // The namespace went with its thread; here the files are plain files.
    let path = dir.path().to_path_buf();
    dir.close()
        .unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
    out
}
