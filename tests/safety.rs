//! Safety under attack, load and faults, through the real module and libpam:
//! lockout with backoff, exactly-once acceptance across processes, full
//! disk, read-only and corrupt state, crashes mid-update, hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const T0: u64 = 1_800_000_000;

fn seconds_in(message: &str) -> u64 {
    let rest = message
        .strip_prefix("Too many failed attempts. Try again in ")
        .unwrap();
    rest.strip_suffix(" seconds.")
        .or_else(|| rest.strip_suffix(" second."))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn lockout_backs_off_doubling_up_to_the_maximum() {
    let fixture = Fixture::new();
    let service = fixture.service("max_failures=3 lockout=30 lockout_max=120");
    let mut now = T0;
    fixture.set_clock(now);
    for attempt in 1..=3 {
        let outcome = service.authenticate(&fixture.user, answer(&fixture.wrong_code_at(now)));
        let expected = if attempt == 3 {
            PAM_MAXTRIES
        } else {
            PAM_AUTH_ERR
        };
        assert_eq!(outcome.code, expected);
    }
    let mut backoff = Vec::new();
    for _ in 0..4 {
        // Locked out: the right code is not even asked for, and not consumed.
        let before = fixture.state_text();
        let locked = service.authenticate(&fixture.user, answer(&fixture.code_at(now)));
        assert_eq!(locked.code, PAM_MAXTRIES);
        assert!(locked.prompts().is_empty(), "prompted while locked out");
        assert_eq!(
            fixture.state_text(),
            before,
            "a locked-out attempt changed the state"
        );
        let seconds = seconds_in(&locked.errors()[0]);
        backoff.push(seconds);
        // Once it expires, another wrong code locks again, for longer.
        now += seconds;
        fixture.set_clock(now);
        let outcome = service.authenticate(&fixture.user, answer(&fixture.wrong_code_at(now)));
        assert_eq!(
            outcome.code, PAM_MAXTRIES,
            "a wrong code after a lockout locks again"
        );
    }
    eprintln!("backoff sequence: {backoff:?}");
    assert_eq!(backoff, vec![30, 60, 120, 120]);
    // One second before the end it is still locked; at the end the right code works.
    now += 119;
    fixture.set_clock(now);
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(now)))
            .code,
        PAM_MAXTRIES
    );
    now += 1;
    fixture.set_clock(now);
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(now)))
            .code,
        PAM_SUCCESS
    );
    // A success resets the count: one wrong code does not lock again.
    now += 30;
    fixture.set_clock(now);
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.wrong_code_at(now)))
            .code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(now)))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn a_lockout_ends_on_the_real_clock() {
    // No test-clock file: the module reads the system clock.
    let fixture = Fixture::new();
    let service = fixture.service("max_failures=3 lockout=1 lockout_max=1");
    let wrong = || answer(&fixture.wrong_code_at(now()));
    for _ in 0..2 {
        assert_eq!(
            service.authenticate(&fixture.user, wrong()).code,
            PAM_AUTH_ERR
        );
    }
    // The third failure and the locked attempt early in one second, so
    // the 1-second lockout cannot end between them.
    let into_second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    std::thread::sleep(Duration::from_millis(u64::from(1010 - into_second)));
    let started = Instant::now();
    // The failure that starts the lockout says so.
    let third = service.authenticate(&fixture.user, wrong());
    assert_eq!(third.code, PAM_MAXTRIES);
    assert_eq!(third.errors().len(), 1, "{:?}", third.shown);
    assert_eq!(seconds_in(&third.errors()[0]), 1);
    let locked = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "too slow to tell"
    );
    assert_eq!(locked.code, PAM_MAXTRIES);
    assert_eq!(locked.errors().len(), 1, "{:?}", locked.shown);
    assert_eq!(seconds_in(&locked.errors()[0]), 1);
    assert!(!fixture.state_dir().join("test-clock").exists());
    // Two seconds later, on the real clock, the lockout is over.
    std::thread::sleep(Duration::from_secs(2));
    let after = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(after.code, PAM_SUCCESS, "{:?}", after.shown);
}

/// Run in a child process by the tests below (`common::child`).
#[test]
#[ignore = "helper run in child processes"]
fn child_authenticate() {
    common::child::authenticate_if_asked();
}

fn spawn_child(
    service: &Service,
    user: &str,
    answer: &str,
    go: &Path,
    envs: &[(&str, &str)],
) -> std::process::Child {
    common::child::command(service, user, answer)
        .env("CHILD_GO", go)
        .envs(envs.iter().copied())
        .spawn()
        .unwrap()
}

#[test]
fn fifty_processes_with_one_valid_code_yield_exactly_one_success() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let codes = common::child::race(&service, &fixture.user, &fixture.code(0), 50);
    let successes = codes.iter().filter(|&&c| c == PAM_SUCCESS).count();
    let refused = codes
        .iter()
        .filter(|&&c| c == PAM_AUTH_ERR || c == PAM_MAXTRIES)
        .count();
    eprintln!(
        "50 concurrent processes, one code: {successes} success, {refused} refused, codes {codes:?}"
    );
    assert_eq!(successes, 1, "{codes:?}");
    assert_eq!(refused, 49, "{codes:?}");
}

#[test]
fn fifty_processes_with_one_recovery_code_yield_exactly_one_success() {
    let fixture = Fixture::new();
    let (codes, hashes) = pam_totp::otp::recovery::generate(2).unwrap();
    let recovery: Vec<String> = hashes
        .iter()
        .map(|h| format!("\"{}\"", h.encode()))
        .collect();
    fixture.write_secret(&format!(
        "version = 1\nsecret = \"{SECRET_B32}\"\nrecovery = [{}]\n",
        recovery.join(", ")
    ));
    // No lockout, so that each of the 49 others meets the code check itself.
    let service = fixture.service("max_failures=1000");
    let results = common::child::race(&service, &fixture.user, &codes[0], 50);
    let successes = results.iter().filter(|&&c| c == PAM_SUCCESS).count();
    // Every other one refused as a wrong code: no crash (-1), no error
    // code, no second success.
    let refused = results.iter().filter(|&&c| c == PAM_AUTH_ERR).count();
    eprintln!(
        "50 concurrent processes, one recovery code: {successes} success, {refused} refused, codes {results:?}"
    );
    assert_eq!(successes, 1, "{results:?}");
    assert_eq!(refused, 49, "{results:?}");
    // The code is used up; the other one still works.
    assert_eq!(
        service.authenticate(&fixture.user, answer(&codes[0])).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&codes[1])).code,
        PAM_SUCCESS
    );
}

/// A small tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs failed");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, option: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{option}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The fixture's secret with the state on `state_dir`.
fn service_with_state(fixture: &Fixture, state_dir: &Path) -> Service {
    Service::with_args(&format!(
        "secret_path={}/secrets/%u.toml state_dir={}",
        fixture.root.path().display(),
        state_dir.display()
    ))
}

#[test]
fn full_disk_fails_closed_and_keeps_the_last_step() {
    if skip_unless_root("needs root to mount a tmpfs") {
        return;
    }
    let fixture = Fixture::new();
    let disk = Tmpfs::mount("64k");
    let state_dir = disk.path().join("state");
    let service = service_with_state(&fixture, &state_dir);
    let first = fixture.code(0);
    let second = fixture.code(1);
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_SUCCESS
    );
    // Fill the file system.
    let filler = disk.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let refused = service.authenticate(&fixture.user, answer(&second));
    assert_eq!(
        refused.code, PAM_AUTHINFO_UNAVAIL,
        "a code was accepted without being recorded"
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_AUTHINFO_UNAVAIL
    );
    let leftovers: Vec<_> = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".tmp")),
        "temporary left: {leftovers:?}"
    );
    std::fs::remove_file(&filler).unwrap();
    // Space again: the step accepted before the fault is still used up.
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&second)).code,
        PAM_SUCCESS
    );
}

#[test]
fn read_only_state_directory_fails_closed_and_keeps_the_last_step() {
    if skip_unless_root("needs root to mount a tmpfs") {
        return;
    }
    let fixture = Fixture::new();
    let disk = Tmpfs::mount("1m");
    let state_dir = disk.path().join("state");
    let service = service_with_state(&fixture, &state_dir);
    let first = fixture.code(0);
    let second = fixture.code(1);
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_SUCCESS
    );
    disk.remount("ro");
    assert_eq!(
        service.authenticate(&fixture.user, answer(&second)).code,
        PAM_AUTHINFO_UNAVAIL
    );
    disk.remount("rw");
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&second)).code,
        PAM_SUCCESS
    );
}

#[test]
fn corrupt_truncated_or_foreign_state_fails_closed_and_is_not_overwritten() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let first = fixture.code(0);
    let second = fixture.code(1);
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_SUCCESS
    );
    let state_file = fixture.state_file();
    let good = std::fs::read(&state_file).unwrap();
    let mut damaged: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"\x00\x01garbage\xff".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        (
            "wrong types",
            b"version = 1\nlast_step_start = \"yesterday\"\n".to_vec(),
        ),
    ];
    if is_root() {
        damaged.push(("foreign owner", good.clone()));
    } else {
        skip("the foreign-owner case needs root to chown");
    }
    for (what, bytes) in damaged {
        pam_totp::system::files::replace_atomically(&state_file, &bytes, None).unwrap();
        if what == "foreign owner" {
            std::os::unix::fs::chown(&state_file, Some(65534), None).unwrap();
        }
        let outcome = service.authenticate(&fixture.user, answer(&second));
        assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{what}");
        assert_eq!(
            outcome.errors().len(),
            1,
            "{what}: the user is told to contact the administrator"
        );
        assert_eq!(
            std::fs::read(&state_file).unwrap(),
            bytes,
            "{what}: the module overwrote the evidence"
        );
    }
    // Restored by the administrator: the last accepted step still holds.
    pam_totp::system::files::replace_atomically(&state_file, &good, None).unwrap();
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&second)).code,
        PAM_SUCCESS
    );
}

#[test]
fn crash_in_the_middle_of_a_state_update_leaves_a_valid_state() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let first = fixture.code(0);
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_SUCCESS
    );
    let before = fixture.state_text();
    let go_dir = tempfile::tempdir().unwrap();
    let go = go_dir.path().join("go");
    std::fs::write(&go, b"").unwrap();
    for point in ["after-write", "before-rename"] {
        let child = spawn_child(
            &service,
            &fixture.user,
            &fixture.code(1),
            &go,
            &[("PAM_TOTP_TEST_CRASH_AT", point)],
        );
        let status = child.wait_with_output().unwrap().status;
        assert_eq!(
            status.code(),
            None,
            "{point}: the process was meant to die, got {status:?}"
        );
        assert_eq!(
            fixture.state_text(),
            before,
            "{point}: state changed by a crashed update"
        );
        pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
    }
    // The crashed logins never succeeded, so their code is still unused; the old one is not.
    assert_eq!(
        service.authenticate(&fixture.user, answer(&first)).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code(1)))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn hostile_answers_are_plain_wrong_codes() {
    let fixture = Fixture::new();
    let service = fixture.service("max_failures=1000");
    let huge = "7".repeat(100 * 1024);
    let huge_letters = "A".repeat(100 * 1024);
    let table: Vec<(&str, Vec<u8>)> = vec![
        ("empty", b"".to_vec()),
        ("spaces", b"      ".to_vec()),
        ("letters", b"abcdef".to_vec()),
        ("full-width digits", "１２３４５６".as_bytes().to_vec()),
        ("arabic-indic digits", "١٢٣٤٥٦".as_bytes().to_vec()),
        ("100 kB of digits", huge.into_bytes()),
        ("100 kB of letters", huge_letters.into_bytes()),
        ("embedded NUL", b"123\x00456".to_vec()),
        ("format string", b"%s%s%s%n%x".to_vec()),
        ("overflowing number", b"99999999999999999999999999".to_vec()),
        ("negative", b"-123456".to_vec()),
        ("plus sign", b"+123456".to_vec()),
        ("hex", b"0x1e240".to_vec()),
        ("two inner spaces", b"12 34 56".to_vec()),
        ("newline inside", b"123\n456".to_vec()),
        ("invalid UTF-8", b"\xff\xfe\xfd\xfc\xfb\xfa".to_vec()),
        (
            "right-to-left override",
            "\u{202e}123456".as_bytes().to_vec(),
        ),
        ("shell", b"$(reboot)".to_vec()),
    ];
    let count = table.len();
    for (what, bytes) in table {
        let outcome = service.authenticate(&fixture.user, vec![Some(bytes)]);
        assert_eq!(outcome.code, PAM_AUTH_ERR, "{what}");
        assert_eq!(outcome.prompts(), vec!["Verification code: "], "{what}");
    }
    // Each counted as one failure, and nothing broke: the right code still works.
    let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
    assert_eq!(state.failures as usize, count);
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn pam_totp_unlock_clears_a_lockout() {
    if skip_unless_root("needs root: unlock is for root") {
        return;
    }
    let fixture = Fixture::new();
    let config = fixture.root.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "secret_path = \"{}/secrets/%u.toml\"\nstate_dir = \"{}\"\n",
            fixture.root.path().display(),
            fixture.state_dir().display()
        ),
    )
    .unwrap();
    let service = Service::with_args(&format!("config={}", config.display()));
    fixture.set_clock(T0);
    for attempt in 1..=3 {
        let expected = if attempt == 3 {
            PAM_MAXTRIES
        } else {
            PAM_AUTH_ERR
        };
        assert_eq!(
            service
                .authenticate(&fixture.user, answer(&fixture.wrong_code_at(T0)))
                .code,
            expected
        );
    }
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(T0)))
            .code,
        PAM_MAXTRIES
    );
    let unlock = Command::new(common::sshd::cli_path())
        .arg("--config")
        .arg(&config)
        .args(["unlock", "--user", &fixture.user])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&unlock.stdout);
    assert!(
        unlock.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&unlock.stderr)
    );
    assert!(said.contains("Unlocked"), "{said}");
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(T0)))
            .code,
        PAM_SUCCESS
    );
}
