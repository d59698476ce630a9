//! Two jobs.
//!
//! The build's identity, `PAM_TOTP_BUILD` (see `store::plugin`): a hash of
//! the sources, the compiler and the build settings, so that the module
//! refuses a pam_totp_postgres.so from another build instead of calling
//! into it. It depends on nothing random, so builds stay reproducible.
//!
//! Link the unwinder statically (libgcc_eh.a, as `gcc -static-libgcc`
//! does) on GNU/Linux, so loading pam_totp.so does not also load
//! libgcc_s.so.1 into sshd: one library fewer to map, relocate and bind on
//! every login (about 75,000 instructions, see BENCHMARKS.md). Panics still
//! unwind to pam-bindings' catch at the FFI boundary. Without libgcc_eh.a
//! the build falls back to libgcc_s as before. With
//! `PAM_TOTP_UNWINDER=dynamic` (the `.rpm`'s build) libgcc_s.so.1 is linked
//! as usual: the static libgcc_eh.a of a glibc 2.35+ build machine calls
//! `_dl_find_object@GLIBC_2.35`, which older systems (RHEL 9: glibc 2.34)
//! lack, while their own libgcc_s.so.1 fits their glibc.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src");
    for manifest in IDENTITY_FILES {
        println!("cargo:rerun-if-changed={manifest}");
    }
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rustc-env=PAM_TOTP_BUILD={}", build_identity());
    link_unwinder_statically();
}

/// Besides src/, the files whose changes make another build: the manifests
/// (dependencies and their features) and the lock file (their versions).
const IDENTITY_FILES: [&str; 4] = [
    "Cargo.toml",
    "Cargo.lock",
    "module/Cargo.toml",
    "postgres-store/Cargo.toml",
];

/// A hash of everything that decides the layout of the types the module
/// and its PostgreSQL store pass each other. Not covered: flags given only
/// to one object (`cargo rustc -- …`, a RUSTC_WRAPPER); build both with one
/// `cargo build`, as `make` and the packages do.
fn build_identity() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    if let Ok(output) = Command::new(rustc).arg("-vV").output() {
        output.stdout.hash(&mut hasher);
    }
    let mut settings: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| {
            name.starts_with("CARGO_FEATURE_")
                || name.starts_with("CARGO_CFG_")
                || [
                    "TARGET",
                    "PROFILE",
                    "OPT_LEVEL",
                    "DEBUG",
                    "CARGO_ENCODED_RUSTFLAGS",
                ]
                .contains(&name.as_str())
        })
        .collect();
    settings.sort();
    settings.hash(&mut hasher);
    std::env::var("CARGO_PKG_VERSION")
        .unwrap_or_default()
        .hash(&mut hasher);
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    for file in ["Cargo.lock", "Cargo.toml"] {
        std::fs::read(root.join(file))
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hash_tree(&root.join("src"), &mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Every file under `dir`, names and contents, in a fixed order.
fn hash_tree(dir: &Path, hasher: &mut impl Hasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        path.file_name().hash(hasher);
        if path.is_dir() {
            hash_tree(&path, hasher);
        } else {
            std::fs::read(&path).unwrap_or_default().hash(hasher);
        }
    }
}

fn link_unwinder_statically() {
    println!("cargo:rerun-if-env-changed=PAM_TOTP_UNWINDER");
    if std::env::var("PAM_TOTP_UNWINDER").as_deref() == Ok("dynamic") {
        return;
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || env != "gnu" {
        return;
    }
    // The host's compiler knows only the host's libgcc_eh.a: leave cross
    // builds to link the unwinder as usual.
    if std::env::var("TARGET").ok() != std::env::var("HOST").ok() {
        return;
    }
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let Ok(output) = Command::new(&compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    // The compiler prints the bare name when it has no such file.
    let Some(dir) = path
        .parent()
        .filter(|_| path.is_absolute() && path.is_file())
    else {
        return;
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    // -bundle: resolved at the final link, ahead of std's -lgcc_s, which
    // --as-needed then drops.
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
}
