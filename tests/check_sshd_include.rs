//! Issue 20 point 3: `pam-totp check --sshd-config FILE` reads FILE as sshd
//! does, `Include` followed. Debian 12's own /etc/ssh/sshd_config with the
//! README's drop-in in /etc/ssh/sshd_config.d/ passes; a `Match` block is
//! not taken as global. /etc/ssh is a temporary directory mounted over the
//! real one in a mount namespace of the check's own (nothing else on the
//! machine sees it), so the Debian file's absolute `Include
//! /etc/ssh/sshd_config.d/*.conf` and a relative one (sshd resolves those
//! in /etc/ssh) are followed as sshd follows them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::sshd::cli_path;
use common::*;

/// The lines of Debian 12's /etc/ssh/sshd_config (openssh-server 9.2p1)
/// that are not comments.
const DEBIAN_SSHD_CONFIG: &str = "\
Include /etc/ssh/sshd_config.d/*.conf
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_*
Subsystem\tsftp\t/usr/lib/openssh/sftp-server
";

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// `pam-totp check` with `etc_ssh` as /etc/ssh; its stdout and exit code.
fn check_with_etc_ssh(etc_ssh: &Path) -> (String, i32) {
    let dir = etc_ssh.parent().unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    set_mode(&state, 0o700);
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "unenrolled = \"allow\"\nstate_dir = \"{}\"\n",
            state.display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    let pam = dir.join("pam-sshd");
    std::fs::write(
        &pam,
        format!(
            "auth required {} state_dir={}\nauth required pam_permit.so\n",
            module_path().display(),
            state.display()
        ),
    )
    .unwrap();
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$1\" /etc/ssh && shift && exec \"$@\"")
        .arg("sh")
        .arg(etc_ssh)
        .arg(cli_path())
        .arg("--config")
        .arg(&config)
        .arg("check")
        .arg("--pam-file")
        .arg(&pam)
        .args(["--sshd-config", "/etc/ssh/sshd_config"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        format!("{stdout}{stderr}"),
        output.status.code().unwrap_or(-1),
    )
}

fn etc_ssh(sshd_config: &str, drop_ins: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o755);
    let etc_ssh = dir.path().join("ssh");
    std::fs::create_dir_all(etc_ssh.join("sshd_config.d")).unwrap();
    std::fs::write(etc_ssh.join("sshd_config"), sshd_config).unwrap();
    for (name, text) in drop_ins {
        std::fs::write(etc_ssh.join("sshd_config.d").join(name), text).unwrap();
    }
    dir
}

fn can_mount() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--mount", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

#[test]
fn debian_sshd_config_with_the_readme_drop_in_passes() {
    if !can_mount() {
        return skip("needs root and mount namespaces");
    }
    let drop_in = repo_file("sshd_config.d/10-pam-totp-key-and-code.conf");
    let dir = etc_ssh(
        DEBIAN_SSHD_CONFIG,
        &[("10-pam-totp-key-and-code.conf", &drop_in)],
    );
    let (out, code) = check_with_etc_ssh(&dir.path().join("ssh"));
    assert!(
        !out.contains("KbdInteractiveAuthentication is off"),
        "{out}"
    );
    assert!(!out.contains("AuthenticationMethods is \"any\""), "{out}");
    assert!(
        out.contains("/etc/ssh/sshd_config (with 1 file included): UsePAM yes, KbdInteractiveAuthentication yes, AuthenticationMethods publickey,keyboard-interactive"),
        "{out}"
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_relative_include_is_read_from_etc_ssh_and_match_blocks_are_not_global() {
    if !can_mount() {
        return skip("needs root and mount namespaces");
    }
    let dir = etc_ssh(
        &DEBIAN_SSHD_CONFIG.replace(
            "Include /etc/ssh/sshd_config.d/*.conf",
            "Include sshd_config.d/*.conf",
        ),
        &[
            (
                "05-backup.conf",
                "Match User backup\nAuthenticationMethods publickey\n",
            ),
            (
                "10-pam-totp.conf",
                "KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
            ),
        ],
    );
    let (out, code) = check_with_etc_ssh(&dir.path().join("ssh"));
    assert!(
        out.contains("AuthenticationMethods publickey,keyboard-interactive"),
        "{out}"
    );
    assert!(!out.contains("allows \"publickey\""), "{out}");
    assert_eq!(code, 0, "{out}");

    // Without the drop-in, Debian's own "KbdInteractiveAuthentication no"
    // and the default "any" are what sshd uses: two problems.
    let dir = etc_ssh(DEBIAN_SSHD_CONFIG, &[]);
    let (out, code) = check_with_etc_ssh(&dir.path().join("ssh"));
    assert!(out.contains("KbdInteractiveAuthentication is off"), "{out}");
    assert!(out.contains("AuthenticationMethods is \"any\""), "{out}");
    assert_eq!(code, 1, "{out}");
}
