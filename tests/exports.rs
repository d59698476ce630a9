//! The module exports only the PAM entry points, and its PostgreSQL store
//! only its one entry point.
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
/// (tokio-postgres, rustls with ring, aes-gcm) are not in it at all but in
/// pam_totp_postgres.so, so a host with `store = "files"` loads no libssl,
/// libcrypto or libpq at login, nor their code.
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

fn dynamic_symbols(path: &std::path::Path, which: &str) -> Vec<String> {
    let output = std::process::Command::new("nm")
        .args(["-D", which, "--format=posix"])
        .arg(path)
        .output()
        .expect("nm (binutils) is installed");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect()
}

/// pam_totp_postgres.so exports its entry point alone (none of the
/// module's `pam_sm_*`: it is not a PAM module), and the module has none
/// of the database code: no socket or event-loop calls.
#[test]
fn the_postgres_store_exports_one_entry_and_the_module_no_database_code() {
    let library = pam_totp::store::plugin::library_beside(&common::module_path()).unwrap();
    assert_eq!(
        dynamic_symbols(&library, "--defined-only"),
        [pam_totp::store::plugin::ENTRY.to_str().unwrap()]
    );
    let module_imports = dynamic_symbols(&common::module_path(), "--undefined-only");
    let library_imports = dynamic_symbols(&library, "--undefined-only");
    for call in ["connect", "getaddrinfo", "epoll_wait", "eventfd", "socket"] {
        assert!(
            !module_imports.iter().any(|name| name == call),
            "the module imports {call}: {module_imports:?}"
        );
        assert!(
            library_imports.iter().any(|name| name == call),
            "the store does not import {call}: {library_imports:?}"
        );
    }
}
