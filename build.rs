//! Link the unwinder statically (libgcc_eh.a, as `gcc -static-libgcc`
//! does) on GNU/Linux, so loading pam_totp.so does not also load
//! libgcc_s.so.1 into sshd: one library fewer to map, relocate and bind on
//! every login (about 75,000 instructions, see BENCHMARKS.md). Panics still
//! unwind to pam-bindings' catch at the FFI boundary. Without libgcc_eh.a
//! the build falls back to libgcc_s as before.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
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
