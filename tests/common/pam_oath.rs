//! Debian's own pam_oath, run through `pamtester`, with a users file in a
//! temporary directory: what it writes back after a login is what
//! `pam-totp import --from-oath` must understand.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// pam_oath's window in these tests: counter values ahead (HOTP), steps on
/// each side (TOTP).
pub const OATH_WINDOW: u32 = 5;

/// A PAM service (in /etc/pam.d, as pamtester has no other place) whose
/// stack is pam_oath with a users file of the test's own; both removed on drop.
pub struct OathService {
    pub dir: tempfile::TempDir,
    pub users_file: PathBuf,
    pub name: String,
    pam_file: PathBuf,
    /// `TZ` for pamtester (pam_oath writes local time).
    pub tz: Option<String>,
}

impl OathService {
    pub fn new(users: &str) -> OathService {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let users_file = dir.path().join("users.oath");
        std::fs::write(&users_file, users).unwrap();
        super::set_mode(&users_file, 0o600);
        let name = format!(
            "pamtotp-oath-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let pam_file = PathBuf::from("/etc/pam.d").join(&name);
        std::fs::write(
            &pam_file,
            format!(
                "auth requisite pam_oath.so usersfile={} window={OATH_WINDOW}\naccount required pam_permit.so\n",
                users_file.display()
            ),
        )
        .unwrap();
        OathService {
            dir,
            users_file,
            name,
            pam_file,
            tz: None,
        }
    }

    /// Whether pam_oath lets `user` in with `code`.
    pub fn login(&self, user: &str, code: &str) -> bool {
        let mut command = Command::new("pamtester");
        command
            .args([&self.name, user, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(tz) = &self.tz {
            command.env("TZ", tz);
        }
        let mut child = command
            .spawn()
            .expect("pamtester is installed (apt-get install pamtester libpam-oath)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{code}\n").as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    }

    pub fn users_text(&self) -> String {
        std::fs::read_to_string(&self.users_file).unwrap()
    }
}

impl Drop for OathService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pam_file);
    }
}

/// An HOTP code from oathtool for a hex secret.
pub fn oathtool_hotp(hex: &str, counter: u64, digits: u8) -> String {
    oathtool(&[
        "--hotp",
        "-d",
        &digits.to_string(),
        "-c",
        &counter.to_string(),
        hex,
    ])
}

/// A TOTP code from oathtool for a hex secret at Unix time `time`.
pub fn oathtool_totp(hex: &str, time: u64, period: u64, digits: u8) -> String {
    oathtool(&[
        "--totp",
        "-d",
        &digits.to_string(),
        "-s",
        &format!("{period}s"),
        "--now",
        &format!("@{time}"),
        hex,
    ])
}

fn oathtool(args: &[&str]) -> String {
    let output = Command::new("oathtool")
        .args(args)
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(output.status.success(), "oathtool {args:?} failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// `count` random bytes as hex: a token seed.
pub fn random_hex(count: usize) -> String {
    let mut bytes = vec![0u8; count];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
