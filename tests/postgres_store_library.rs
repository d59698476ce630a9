//! pam_totp_postgres.so: the module loads the PostgreSQL store only for
//! `store = "postgresql"`, only from a file as trustworthy as itself, and
//! only of its own build; a files-store login maps none of it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::fleet::{Fleet, service_without_database};
use common::sshd::oathtool_code;
use common::*;
use pam_totp::store::plugin::{self, Request};
use pam_totp::system::dl::Library;

const UNAVAILABLE: &str = "Two-factor authentication is not set up correctly";

/// Run in a child process by the tests below (`common::child`).
#[test]
#[ignore = "helper run in child processes"]
fn child_authenticate() {
    common::child::authenticate_if_asked();
}

/// A login in a fresh process with the dynamic loader reporting every
/// object it maps (`LD_DEBUG=files`): the PAM code and what was mapped.
fn login_listing_objects(service: &Service, user: &str, code: &str) -> (Option<i32>, Vec<String>) {
    let output = common::child::command(service, user, code)
        .env("LD_DEBUG", "files")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let mapped = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|line| line.split("file=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (output.status.code(), mapped)
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[test]
fn a_files_store_login_maps_no_database_code_and_a_postgresql_login_loads_the_store() {
    if skip_unless_root("the PostgreSQL half needs root (a cluster run as postgres)") {
        return;
    }
    wait_clear_of_a_step_edge();
    let fixture = Fixture::new();
    let (code, mapped) =
        login_listing_objects(&fixture.service(""), &fixture.user, &fixture.code(0));
    assert_eq!(code, Some(PAM_SUCCESS), "files store login: {mapped:?}");
    let names: Vec<&str> = mapped.iter().map(|m| file_name(m)).collect();
    assert!(names.contains(&"libpam_totp.so"), "{names:?}");
    for unwanted in ["libpam_totp_postgres.so", "libpq", "libssl", "libcrypto"] {
        assert!(
            !names.iter().any(|n| n.starts_with(unwanted)),
            "a files-store login mapped {unwanted}: {names:?}"
        );
    }

    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("library", "");
    let (code, mapped) = login_listing_objects(&host, &user, &oathtool_code(&secret, 0));
    assert_eq!(
        code,
        Some(PAM_SUCCESS),
        "PostgreSQL store login: {mapped:?}"
    );
    let beside_module = plugin::library_beside(&module_path()).unwrap();
    assert!(
        mapped.iter().any(|m| Path::new(m) == beside_module),
        "{} not loaded: {mapped:?}",
        beside_module.display()
    );
}

/// A copy of the module alone in a directory of its own, configured for
/// the PostgreSQL store (which it never reaches: every case below fails
/// before connecting).
struct LoneModule {
    dir: tempfile::TempDir,
    service: Service,
}

impl LoneModule {
    fn new() -> LoneModule {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let module = dir.path().join("pam_totp.so");
        std::fs::copy(module_path(), &module).unwrap();
        let service = service_without_database(&module, dir.path());
        LoneModule { dir, service }
    }

    fn library(&self) -> PathBuf {
        self.dir.path().join("pam_totp_postgres.so")
    }

    /// A login: refused as unavailable, without a prompt; the log line.
    fn refusal(&self) -> String {
        let user = current_user();
        let (outcome, logged) =
            syslog::capture(|| self.service.authenticate(&user, answer("123456")));
        assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
        assert!(outcome.prompts().is_empty(), "{:?}", outcome.shown);
        assert!(
            outcome.errors().iter().any(|e| e.starts_with(UNAVAILABLE)),
            "{:?}",
            outcome.shown
        );
        let ours = self.library().display().to_string();
        syslog::refusal_naming(&logged, &ours)
            .cloned()
            .unwrap_or_else(|| panic!("no refusal naming {ours} logged"))
    }
}

#[test]
fn the_module_refuses_a_store_library_that_is_missing_unsafe_or_not_ours() {
    if skip_unless_root("catching syslog and chown need root") {
        return;
    }
    let lone = LoneModule::new();
    let library = lone.library();
    let built = plugin::library_beside(&module_path()).unwrap();

    let missing = lone.refusal();
    assert!(
        missing.contains("is missing: it is installed with the module"),
        "{missing}"
    );

    std::fs::copy(&built, &library).unwrap();
    set_mode(&library, 0o664);
    let writable = lone.refusal();
    assert!(
        writable.contains("mode 0664, writable by group or others"),
        "{writable}"
    );

    set_mode(&library, 0o755);
    std::os::unix::fs::chown(&library, Some(65534), None).unwrap();
    let foreign = lone.refusal();
    assert!(
        foreign.contains("owned by uid 65534, not root"),
        "{foreign}"
    );

    std::fs::remove_file(&library).unwrap();
    std::os::unix::fs::symlink(&built, &library).unwrap();
    let link = lone.refusal();
    assert!(link.contains("is not a regular file"), "{link}");

    std::fs::remove_file(&library).unwrap();
    std::fs::write(&library, "not a shared object\n").unwrap();
    set_mode(&library, 0o755);
    let garbage = lone.refusal();
    // The dynamic loader's own reason.
    assert!(garbage.contains("cannot load"), "{garbage}");
    assert!(
        garbage.contains("invalid ELF header") || garbage.contains("file too short"),
        "{garbage}"
    );

    // Another library altogether (a PAM module): loads, but has no entry.
    let permit = [
        "/usr/lib/x86_64-linux-gnu/security",
        "/lib/x86_64-linux-gnu/security",
        "/usr/lib64/security",
    ]
    .iter()
    .map(|dir| Path::new(dir).join("pam_permit.so"))
    .find(|path| path.exists())
    .expect("pam_permit.so is installed");
    std::fs::copy(permit, &library).unwrap();
    set_mode(&library, 0o755);
    let stranger = lone.refusal();
    assert!(
        stranger.contains("is not pam-totp's PostgreSQL store (no pam_totp_postgres_store_v1)"),
        "{stranger}"
    );

    // The real one: the login gets as far as the database (not set up
    // here). In a directory of its own: a process keeps the first library
    // it loaded under a name (pam_permit.so above) until it exits.
    let lone = LoneModule::new();
    let library = lone.library();
    std::fs::copy(&built, &library).unwrap();
    set_mode(&library, 0o755);
    let user = current_user();
    let (outcome, logged) = syslog::capture(|| lone.service.authenticate(&user, answer("123456")));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    let dir = lone.dir.path().display().to_string();
    let line = syslog::refusal_naming(&logged, &dir)
        .unwrap_or_else(|| panic!("no refusal naming {dir}: {logged:?}"));
    assert!(line.contains("database.conf"), "{line}");
    assert!(!line.contains("pam_totp_postgres.so"), "{line}");
}

/// The entry point itself: a caller of another build gets `OTHER_BUILD`
/// and its request is left alone; this build gets the store.
#[test]
fn the_store_library_answers_only_its_own_build() {
    let path = plugin::library_beside(&module_path()).unwrap();
    let library = Library::open(&path).unwrap();
    let config = pam_totp::config::Config::default();
    let other = "0123456789abcdef";
    assert_ne!(other, plugin::BUILD);
    for (build, expected) in [
        (other, plugin::OTHER_BUILD),
        ("", plugin::OTHER_BUILD),
        (plugin::BUILD, plugin::ANSWERED),
    ] {
        let mut request = Request {
            config: &config,
            answer: None,
        };
        let said = library.call_entry(plugin::ENTRY, build.as_bytes(), &mut request);
        assert_eq!(said, Some(expected), "build {build:?}");
        assert_eq!(
            request.answer.is_some(),
            expected == plugin::ANSWERED,
            "build {build:?}"
        );
    }
    assert_eq!(
        library.call_entry(c"pam_sm_authenticate", plugin::BUILD.as_bytes(), &mut ()),
        None
    );
}

/// A store library of another build (as during an upgrade, with one of the
/// two files unpacked): the module refuses it, and `pam-totp check` says
/// so. The other build is this one's library with its build identity
/// changed in place.
#[test]
fn a_store_library_of_another_build_is_refused_by_the_module_and_check() {
    if skip_unless_root("catching syslog needs root") {
        return;
    }
    let lone = LoneModule::new();
    let library = lone.library();
    let built = plugin::library_beside(&module_path()).unwrap();
    let mut bytes = std::fs::read(&built).unwrap();
    let identity = plugin::BUILD.as_bytes();
    let other: Vec<u8> = identity
        .iter()
        .map(|b| if *b == b'0' { b'1' } else { b'0' })
        .collect();
    let mut replaced = 0;
    while let Some(at) = memchr::memmem::find(&bytes, identity) {
        bytes[at..at + identity.len()].copy_from_slice(&other);
        replaced += 1;
    }
    assert!(replaced > 0, "no build identity in {}", built.display());
    std::fs::write(&library, &bytes).unwrap();
    set_mode(&library, 0o755);
    let refusal = lone.refusal();
    assert!(refusal.contains("is from another build than"), "{refusal}");

    let pam = lone.dir.path().join("pam-sshd");
    std::fs::write(
        &pam,
        format!(
            "auth required {}/pam_totp.so config={}/config.toml state_dir={}/state\n",
            lone.dir.path().display(),
            lone.dir.path().display(),
            lone.dir.path().display()
        ),
    )
    .unwrap();
    let sshd_config = lone.dir.path().join("sshd_config");
    std::fs::write(
        &sshd_config,
        "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
    )
    .unwrap();
    let check = std::process::Command::new(common::sshd::cli_path())
        .arg("--config")
        .arg(lone.dir.path().join("config.toml"))
        .arg("check")
        .arg("--pam-file")
        .arg(&pam)
        .arg("--sshd-config")
        .arg(&sshd_config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.lines()
            .any(|line| line.contains(&library.display().to_string())
                && line.contains("is from another build than")),
        "{said}"
    );
}
