//! Issue 20 point 12: the `.rpm` is for glibc 2.34 and later (RHEL 9 and
//! its rebuilds, Fedora 35+). No shared object or program it ships asks
//! for a glibc symbol version newer than that: `objdump -T` of each file
//! taken out of the package (rpm2cpio) shows nothing past GLIBC_2.34 (the
//! static unwinder of a newer build machine would add
//! `_dl_find_object@GLIBC_2.35`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The oldest glibc the `.rpm` is for (RHEL 9).
const RPM_GLIBC: (u32, u32) = (2, 34);

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The regular files of a "newc" cpio archive (rpm2cpio's output): name
/// and contents.
fn cpio_files(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex =
        |bytes: &[u8]| usize::from_str_radix(std::str::from_utf8(bytes).unwrap(), 16).unwrap();
    let align = |n: usize| n.div_ceil(4) * 4;
    let mut files = Vec::new();
    let mut at = 0;
    while at + 110 <= archive.len() {
        let header = &archive[at..at + 110];
        assert_eq!(&header[..6], b"070701", "not a newc cpio archive");
        let mode = hex(&header[14..22]);
        let size = hex(&header[54..62]);
        let name_size = hex(&header[94..102]);
        let name_start = at + 110;
        let name =
            String::from_utf8_lossy(&archive[name_start..name_start + name_size - 1]).into_owned();
        let data_start = align(name_start + name_size);
        if name == "TRAILER!!!" {
            break;
        }
        if mode & 0o170000 == 0o100000 {
            files.push((name, archive[data_start..data_start + size].to_vec()));
        }
        at = align(data_start + size);
    }
    files
}

/// Every `GLIBC_x.y` version `objdump -T` shows for `path`.
fn glibc_versions(path: &Path) -> Vec<(String, (u32, u32))> {
    let output = Command::new("objdump")
        .arg("-T")
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "objdump -T {}", path.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let at = line.find("GLIBC_")?;
            let version: String = line[at + 6..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let major = parts.next()?;
            let minor = parts.next().unwrap_or(0);
            let symbol = line.split_whitespace().last().unwrap_or("").to_string();
            Some((symbol, (major, minor)))
        })
        .collect()
}

#[test]
fn the_rpm_ships_nothing_that_needs_a_glibc_newer_than_2_34() {
    for program in ["rpmbuild", "rpm2cpio", "objdump"] {
        if !have(program) {
            return skip(&format!(
                "{program} is not installed (apt-get install rpm binutils)"
            ));
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let build = Command::new("make")
        .args(["--no-print-directory", "rpm"])
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "make rpm: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let arch = String::from_utf8(Command::new("uname").arg("-m").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let rpm = repo.join(format!(
        "target/rpm/RPMS/{arch}/pam-totp-{}-1.{arch}.rpm",
        env!("CARGO_PKG_VERSION")
    ));
    let archive = Command::new("rpm2cpio").arg(&rpm).output().unwrap();
    assert!(archive.status.success(), "rpm2cpio {}", rpm.display());
    let dir = tempfile::tempdir().unwrap();
    let mut checked = Vec::new();
    for (name, contents) in cpio_files(&archive.stdout) {
        let is_object = name.ends_with(".so") || name.ends_with("/usr/bin/pam-totp");
        if !is_object {
            continue;
        }
        let path = dir.path().join(name.replace('/', "_"));
        std::fs::write(&path, contents).unwrap();
        let versions = glibc_versions(&path);
        assert!(!versions.is_empty(), "{name}: no GLIBC versions seen");
        let newer: Vec<_> = versions.iter().filter(|(_, v)| *v > RPM_GLIBC).collect();
        assert!(
            newer.is_empty(),
            "{name} needs a glibc newer than {}.{}: {newer:?}",
            RPM_GLIBC.0,
            RPM_GLIBC.1
        );
        checked.push(name);
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "./usr/bin/pam-totp",
            "./usr/lib64/security/pam_totp.so",
            "./usr/lib64/security/pam_totp_postgres.so"
        ]
    );
}
