//! Tests leave the machine as they found it: the syslog capture's private
//! `/dev` is removed with its directory.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::syslog;

#[test]
fn the_syslog_capture_removes_its_private_dev() {
    if !syslog::can_capture() {
        common::skip("needs root and mount namespaces");
        return;
    }
    let ((dir, inside), lines) = syslog::capture_showing_dir(|dir| {
        // SAFETY: NUL-terminated strings that outlive the call.
        unsafe {
            libc::syslog(
                libc::LOG_NOTICE,
                c"%s".as_ptr(),
                c"isolation probe".as_ptr(),
            )
        };
        let null = dir.join("dev/null");
        (
            dir.to_path_buf(),
            null.exists() && std::fs::read(&null).is_ok(),
        )
    });
    // Positive control: the capture ran, with its device nodes in place.
    assert!(
        inside,
        "no dev/null in {} during the capture",
        dir.display()
    );
    assert!(
        lines.iter().any(|line| line.contains("isolation probe")),
        "{lines:?}"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn a_stopped_clusters_port_stays_reserved_for_its_restart() {
    if common::skip_unless_root("PostgreSQL runs as the postgres user") {
        return;
    }
    let mut cluster = common::pg::PgCluster::start(common::pg::PgOptions::default());
    let port = cluster.port;
    assert!(
        common::ports::try_reserve(port).is_none(),
        "a running cluster's port handed out"
    );
    cluster.stop();
    assert!(
        common::ports::try_reserve(port).is_none(),
        "a stopped cluster's port handed out before its restart"
    );
    cluster.start_again();
    assert_eq!(cluster.psql("SELECT 1").trim(), "1");
    drop(cluster);
    assert!(
        common::ports::try_reserve(port).is_some(),
        "{port} not released with the cluster"
    );
}

#[test]
fn sshd_stacks_and_enrollments_name_the_tests_own_configuration() {
    let config = common::sshd::test_config();
    assert!(!config.starts_with("/etc"), "{}", config.display());
    let text = std::fs::read_to_string(config).unwrap();
    assert!(!text.contains("store"), "{text}");
    let stack = common::sshd::repository_stack("sshd-key-and-code", "max_failures=2");
    let module_line = stack
        .lines()
        .find(|line| line.contains("libpam_totp"))
        .unwrap();
    assert!(
        module_line.contains(&format!("config={} ", config.display())),
        "{module_line}"
    );
    // A stack given a configuration of its own keeps it alone.
    let own = common::sshd::repository_stack("sshd-key-and-code", "config=/x.toml");
    assert_eq!(own.matches("config=").count(), 1, "{own}");
}

#[test]
fn every_skip_goes_through_common_skip() {
    // A skip that only prints counts as a pass, even under CI=true.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut offenders = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let printed = ["eprintln!(\"skip", "println!(\"skip"];
            if printed.iter().any(|p| line.trim_start().starts_with(p)) {
                offenders.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(
        files > 20,
        "only {files} test files found in {}",
        dir.display()
    );
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// Run in a child process by the test below: hangs.
#[test]
#[ignore = "helper run in a child process"]
fn child_hangs() {
    if std::env::var_os("CHILD_HANG").is_some() {
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}

#[test]
fn a_hung_test_fails_its_binary_after_the_timeout() {
    let started = std::time::Instant::now();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_hangs", "--exact", "--ignored", "--test-threads=2"])
        .env("CHILD_HANG", "1")
        .env("PAM_TOTP_TEST_TIMEOUT", "3")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{said}");
    assert!(
        said.contains("test child_hangs is still running after"),
        "{said}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Positive control: the same test, not hanging, passes with the limit.
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_hangs", "--exact", "--ignored"])
        .env("PAM_TOTP_TEST_TIMEOUT", "3")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}
