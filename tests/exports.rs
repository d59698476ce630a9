//! The module exports only the PAM entry points.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[test]
fn module_exports_only_pam_sm_symbols() {
    let output = std::process::Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(common::module_path())
        .output()
        .expect("nm (binutils) is installed");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let exported: Vec<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let expected = [
        "pam_sm_acct_mgmt",
        "pam_sm_authenticate",
        "pam_sm_chauthtok",
        "pam_sm_close_session",
        "pam_sm_open_session",
        "pam_sm_setcred",
    ];
    let mut sorted = exported.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, expected, "unexpected exports: {exported:?}");
}

/// The module links only libpam and libc: the database client and its TLS
/// (tokio-postgres, rustls with ring, aes-gcm) are compiled in, so a host
/// with `store = "files"` loads no libssl, libcrypto or libpq at login.
#[test]
fn module_needs_only_libpam_and_libc() {
    let output = std::process::Command::new("readelf")
        .args(["-d", "-W"])
        .arg(common::module_path())
        .output()
        .expect("readelf (binutils) is installed");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let mut needed: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        // The dynamic loader's name depends on the architecture.
        .filter(|name| !name.starts_with("ld-linux"))
        .collect();
    needed.sort_unstable();
    assert_eq!(
        needed,
        ["libc.so.6", "libpam.so.0"],
        "unexpected shared libraries"
    );
}
