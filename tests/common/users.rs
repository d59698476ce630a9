//! Local users with passwords and groups for end-to-end tests, made
//! fresh and removed (with their homes) on drop. Needs root.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::sshd::{TestUser, enroll_as_root, manage, remove};

/// A group removed on drop.
pub struct Group(pub String);

impl Group {
    pub fn create(name: &str) -> Group {
        let _ = Command::new("groupdel")
            .arg(name)
            .stderr(Stdio::null())
            .status();
        manage("groupadd", &[name]);
        Group(name.to_string())
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        remove("groupdel", &[&self.0]);
    }
}

/// A fresh local user (removed with its home on drop), with an optional
/// password and supplementary groups.
pub struct User {
    pub name: String,
    pub home: PathBuf,
}

impl User {
    pub fn create(name: &str, password: Option<&str>, groups: &[&str]) -> User {
        super::hold_test_users();
        if Command::new("id")
            .arg(name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            manage("userdel", &["--remove", name]);
        }
        let mut args = vec!["--create-home", "--shell", "/bin/sh"];
        let group_list = groups.join(",");
        if !groups.is_empty() {
            args.extend(["--groups", group_list.as_str()]);
        }
        args.push(name);
        manage("useradd", &args);
        if let Some(password) = password {
            let mut child = Command::new("chpasswd")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            writeln!(child.stdin.take().unwrap(), "{name}:{password}").unwrap();
            assert!(child.wait().unwrap().success(), "chpasswd {name} failed");
        }
        let home = pam_totp::system::account::lookup_user(name).unwrap().home;
        User {
            name: name.to_string(),
            home,
        }
    }

    /// The shared helpers want a TestUser; this one is not removed by it.
    pub fn as_test_user(&self) -> TestUser {
        TestUser::create(&self.name)
    }

    /// Enroll with `pam-totp enroll` (as root), returning the base32 secret.
    pub fn enroll(&self) -> String {
        enroll_as_root(&self.name)
    }
}

impl Drop for User {
    fn drop(&mut self) {
        remove("userdel", &["--remove", &self.name]);
        let _ = std::fs::remove_dir_all(&self.home);
    }
}
