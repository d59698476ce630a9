//! `pam-totp check` with `store = "postgresql"`, against a real cluster
//! started by the test: a good setup passes, and each mistake (in the
//! files, the key, the connection string, the database) is one problem
//! line saying what to fix, with exit status 1; the sslmode warning does
//! not change the exit status.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::fleet::{DATABASE_TIMEOUT, Fleet};
use common::pg::{DATABASE, ROLE};
use common::sshd::cli_path;
use common::*;

const GOOD_SSHD: &str = "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n";

/// Two existing accounts, enrolled in the database only.
const USERS: [&str; 2] = ["nobody", "root"];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The lines of one kind; whether this machine has a syslog daemon
    /// (a warning of its own, tested in tests/check.rs) is left out.
    fn lines(&self, kind: &str) -> Vec<&str> {
        let prefix = format!("{kind}: ");
        self.stdout
            .lines()
            .filter(|line| line.starts_with(&prefix) && !line.contains("/dev/log"))
            .collect()
    }

    fn assert_ok_line(&self, words: &str) {
        assert!(
            self.lines("ok").iter().any(|line| line.contains(words)),
            "no ok line with {words:?}:\n{}",
            self.stdout
        );
    }

    fn assert_all_well(&self) {
        assert_eq!(self.code, 0, "{}\n{}", self.stdout, self.stderr);
        assert!(self.lines("problem").is_empty(), "{}", self.stdout);
        assert!(self.stdout.contains("pam-totp check: all is well"));
    }

    /// Exit 1 with a problem that mentions every one of `words`.
    fn assert_problem(&self, words: &[&str]) {
        assert_eq!(self.code, 1, "{}\n{}", self.stdout, self.stderr);
        assert!(
            self.lines("problem")
                .iter()
                .any(|line| words.iter().all(|word| line.contains(word))),
            "no problem mentions {words:?}:\n{}",
            self.stdout
        );
    }

    /// Exit 1 with exactly one problem, which mentions every one of `words`.
    fn assert_one_problem(&self, words: &[&str]) {
        assert_eq!(self.code, 1, "{}\n{}", self.stdout, self.stderr);
        let problems = self.lines("problem");
        assert_eq!(problems.len(), 1, "{}", self.stdout);
        for word in words {
            assert!(
                problems[0].contains(word),
                "{word:?} not in {}",
                problems[0]
            );
        }
        assert!(self.stderr.contains("1 problem found"), "{}", self.stderr);
    }
}

/// A fleet with two users enrolled, a PAM file with pam_totp.so reading
/// the fleet's configuration, and good sshd settings. The configuration
/// names a state_dir and secret_path that do not exist: the database
/// store uses neither, and check must not ask for them.
struct Setup {
    fleet: Fleet,
}

impl Setup {
    fn new() -> Setup {
        let fleet = Fleet::start();
        let setup = Setup { fleet };
        let mut config = std::fs::read_to_string(setup.fleet.config()).unwrap();
        config.push_str(&format!(
            "state_dir = \"{}\"\nsecret_path = \"{}/%u.toml\"\n",
            setup.path("no-state").display(),
            setup.path("no-secrets").display()
        ));
        std::fs::write(setup.fleet.config(), config).unwrap();
        std::fs::write(
            setup.path("pam-sshd"),
            format!(
                "auth required {} config={}\n@include common-account\n",
                module_path().display(),
                setup.fleet.config().display()
            ),
        )
        .unwrap();
        std::fs::write(setup.path("sshd_config"), GOOD_SSHD).unwrap();
        for user in USERS {
            setup.fleet.enroll(user);
        }
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.fleet.dir.path().join(name)
    }

    fn check(&self) -> Run {
        let output = Command::new(cli_path())
            .arg("--config")
            .arg(self.fleet.config())
            .arg("check")
            .arg("--pam-file")
            .arg(self.path("pam-sshd"))
            .arg("--sshd-config")
            .arg(self.path("sshd_config"))
            .output()
            .unwrap();
        Run {
            code: output.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn write_key(&self, bytes: &[u8]) {
        std::fs::write(self.fleet.key_file(), bytes).unwrap();
        set_mode(&self.fleet.key_file(), 0o600);
    }
}

#[test]
fn a_good_fleet_setup_passes_and_each_mistake_in_files_or_key_is_one_problem() {
    if skip_unless_root("the PostgreSQL tests need root") {
        return;
    }
    let setup = Setup::new();
    let port = setup.fleet.db.port;

    let run = setup.check();
    run.assert_all_well();
    assert!(run.lines("warning").is_empty(), "{}", run.stdout);
    run.assert_ok_line(&format!(
        "database_file {} (root, no group or other access)",
        setup.fleet.database_file().display()
    ));
    run.assert_ok_line(&format!(
        "secret_key_file {} (root",
        setup.fleet.key_file().display()
    ));
    run.assert_ok_line("1 host (127.0.0.1:");
    run.assert_ok_line(&format!("connected to database 127.0.0.1:{port} as {ROLE}"));
    run.assert_ok_line("database schema version 2");
    run.assert_ok_line("the secrets of all 2 enrolled users open with secret_key_file");
    run.assert_ok_line("2 enrolled users known to the store");
    run.assert_ok_line(&format!(
        "store = \"postgresql\": {} is in place, of this build",
        pam_totp::store::plugin::library_beside(&module_path())
            .unwrap()
            .display()
    ));
    // The files store's rules do not apply.
    assert!(!run.stdout.contains("state directory"), "{}", run.stdout);
    assert!(!run.stdout.contains("secret store"), "{}", run.stdout);

    // database.conf readable by others: the one problem, and the rest of
    // the check still runs (it connects).
    set_mode(&setup.fleet.database_file(), 0o644);
    let run = setup.check();
    run.assert_one_problem(&[
        "database_file",
        "has mode 0644",
        "database password",
        &format!("run: chmod 600 {}", setup.fleet.database_file().display()),
    ]);
    run.assert_ok_line("connected to database");
    set_mode(&setup.fleet.database_file(), 0o600);
    setup.check().assert_all_well();

    // A module without pam_totp_postgres.so beside it: the one problem.
    let lone = setup.path("lone");
    std::fs::create_dir(&lone).unwrap();
    std::fs::copy(module_path(), lone.join("pam_totp.so")).unwrap();
    let good_pam = std::fs::read_to_string(setup.path("pam-sshd")).unwrap();
    std::fs::write(
        setup.path("pam-sshd"),
        good_pam.replace(
            &module_path().display().to_string(),
            &lone.join("pam_totp.so").display().to_string(),
        ),
    )
    .unwrap();
    setup.check().assert_one_problem(&[
        &lone.join("pam_totp_postgres.so").display().to_string(),
        "is missing: it is installed with the module",
        "every login through this line is refused",
    ]);
    std::fs::write(setup.path("pam-sshd"), good_pam).unwrap();
    setup.check().assert_all_well();

    // The key readable by the group.
    set_mode(&setup.fleet.key_file(), 0o640);
    setup
        .check()
        .assert_one_problem(&["secret_key_file", "has mode 0640", "chmod 600"]);
    set_mode(&setup.fleet.key_file(), 0o600);

    // Another host's key: no secret opens.
    let good_key = std::fs::read(setup.fleet.key_file()).unwrap();
    let other: Vec<u8> = good_key.iter().map(|byte| byte ^ 0x5a).collect();
    setup.write_key(&other);
    setup.check().assert_one_problem(&[
        "none of the 2 enrolled secrets checked opens with secret_key_file",
        "copy secret.key unchanged",
    ]);

    // A key of the wrong length.
    setup.write_key(&good_key[..31]);
    setup
        .check()
        .assert_one_problem(&["secret_key_file", "holds 31 bytes, not 32"]);

    // No key at all.
    std::fs::remove_file(setup.fleet.key_file()).unwrap();
    setup.check().assert_one_problem(&[
        "secret_key_file",
        "does not exist",
        "copy it unchanged from a host of the fleet",
    ]);
    setup.write_key(&good_key);
    setup.check().assert_all_well();

    // One user's row sealed for another user (or with another host's key):
    // that user, named, and only that one.
    setup.fleet.db.psql(
        "UPDATE pam_totp_enrollment SET secret = \
         (SELECT secret FROM pam_totp_enrollment WHERE user_name = 'root') \
         WHERE user_name = 'nobody'",
    );
    setup.check().assert_one_problem(&[
        "the secrets of nobody (1 of 2 checked) do not open",
        "enroll them again",
    ]);
    // A value that is no sealed secret at all, as a panel might write.
    setup
        .fleet
        .db
        .psql("UPDATE pam_totp_enrollment SET secret = '\\x0102' WHERE user_name = 'nobody'");
    setup
        .check()
        .assert_one_problem(&["the secrets of nobody are not sealed values"]);
    setup.fleet.enroll("nobody");
    setup.check().assert_all_well();

    // sslmode below verify-full on a host reached over the network: a
    // warning, and the exit status stays 0 (the first host answers; the
    // second, a documentation address, is never tried).
    setup.fleet.write_conninfo(&format!(
        "host=127.0.0.1,203.0.113.9 port={port} user={ROLE} password={} dbname={DATABASE} sslmode=prefer",
        common::pg::PASSWORD
    ));
    let run = setup.check();
    run.assert_all_well();
    let warnings = run.lines("warning");
    assert_eq!(warnings.len(), 1, "{}", run.stdout);
    assert!(
        warnings[0].contains("203.0.113.9:")
            && warnings[0].contains("sslmode=prefer")
            && warnings[0].contains("use sslmode=verify-full")
            && !warnings[0].contains("127.0.0.1"),
        "{}",
        warnings[0]
    );

    // A connection string pam-totp does not take.
    setup.fleet.write_conninfo(&format!(
        "host=127.0.0.1 port={port} user={ROLE} sslpassword=x"
    ));
    setup
        .check()
        .assert_one_problem(&["sslpassword", "passphrase"]);
}

#[test]
fn a_wrong_password_a_newer_schema_and_a_stopped_database_are_each_one_problem() {
    if skip_unless_root("the PostgreSQL tests need root") {
        return;
    }
    let mut setup = Setup::new();
    let port = setup.fleet.db.port;
    setup.check().assert_all_well();
    let good = setup.fleet.db.conninfo();

    setup.fleet.write_conninfo(&format!(
        "host=127.0.0.1 port={port} user={ROLE} password=not-it-x7q dbname={DATABASE} sslmode=disable"
    ));
    let run = setup.check();
    run.assert_one_problem(&[
        "refused the credentials",
        "check user and password in database_file",
        "every login through pam_totp.so is refused",
    ]);
    assert!(!run.stdout.contains("not-it-x7q"), "{}", run.stdout);
    setup.fleet.write_conninfo(&good);

    setup
        .fleet
        .db
        .psql("UPDATE pam_totp_meta SET value = '99' WHERE key = 'schema_version'");
    setup
        .check()
        .assert_one_problem(&["schema is at version 99", "upgrade pam-totp on this host"]);
    setup
        .fleet
        .db
        .psql("UPDATE pam_totp_meta SET value = '2' WHERE key = 'schema_version'");
    setup.check().assert_all_well();

    setup.fleet.db.stop();
    let started = Instant::now();
    let run = setup.check();
    let took = started.elapsed();
    run.assert_one_problem(&["unreachable", &format!("127.0.0.1:{port}")]);
    assert!(
        took < Duration::from_secs(DATABASE_TIMEOUT + 5),
        "check took {took:?}"
    );
    // Nothing more is asked of a database that cannot be reached.
    assert!(
        !run.stdout.contains("enrolled users known"),
        "{}",
        run.stdout
    );

    // A frozen database (accepts TCP, never answers): bounded by
    // database_timeout.
    setup.fleet.db.start_again();
    setup.check().assert_all_well();
    setup.fleet.db.freeze();
    let started = Instant::now();
    let run = setup.check();
    let took = started.elapsed();
    setup.fleet.db.thaw();
    run.assert_one_problem(&["did not complete the connection within"]);
    assert!(
        took < Duration::from_secs(DATABASE_TIMEOUT + 5),
        "check took {took:?}"
    );
}

/// A module and a store library in a directory a user owns, named in a PAM
/// file: check (run as root) reports it and runs none of the library's
/// code, not even when the files are root's; a root-owned library of
/// another build is told apart without loading it either.
#[test]
fn check_loads_no_store_library_and_refuses_one_a_user_controls() {
    if skip_unless_root("the PostgreSQL tests need root") {
        return;
    }
    use std::os::unix::fs::chown;
    let setup = Setup::new();
    let marker = setup.path("constructor-ran");
    let source = setup.path("evil.c");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n__attribute__((constructor)) static void mark(void) {{ FILE *f = fopen(\"{}\", \"w\"); if (f) fclose(f); }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let evil_library = setup.path("evil.so");
    let compiled = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&evil_library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(compiled.success());
    // The compiled library does run its constructor when loaded (the
    // proof below would prove nothing otherwise).
    assert!(load_library(&evil_library) && marker.exists());
    std::fs::remove_file(&marker).unwrap();

    let user_dir = setup.path("user-dir");
    std::fs::create_dir(&user_dir).unwrap();
    set_mode(&user_dir, 0o755);
    std::fs::copy(module_path(), user_dir.join("pam_totp.so")).unwrap();
    std::fs::copy(&evil_library, user_dir.join("pam_totp_postgres.so")).unwrap();
    for path in [
        user_dir.clone(),
        user_dir.join("pam_totp.so"),
        user_dir.join("pam_totp_postgres.so"),
    ] {
        chown(&path, Some(65534), Some(65534)).unwrap();
    }
    let good_pam = std::fs::read_to_string(setup.path("pam-sshd")).unwrap();
    let name_module = |dir: &std::path::Path| {
        std::fs::write(
            setup.path("pam-sshd"),
            good_pam.replace(
                &module_path().display().to_string(),
                &dir.join("pam_totp.so").display().to_string(),
            ),
        )
        .unwrap();
    };
    let library = user_dir.join("pam_totp_postgres.so").display().to_string();
    name_module(&user_dir);
    let run = setup.check();
    assert!(!marker.exists(), "check ran the library's constructor");
    run.assert_problem(&[&library, "owned by uid 65534, not root: not loading it"]);

    // Root's files in a directory the user owns.
    chown(user_dir.join("pam_totp_postgres.so"), Some(0), Some(0)).unwrap();
    let run = setup.check();
    run.assert_problem(&[
        &library,
        "the directory must be root's and not writable by group or others",
    ]);
    assert!(!marker.exists(), "check ran the library's constructor");

    // Root's directory, root's library, not of this build: told by its
    // bytes, never loaded.
    chown(&user_dir, Some(0), Some(0)).unwrap();
    let run = setup.check();
    run.assert_problem(&[&library, "is from another build than this pam-totp"]);
    assert!(!marker.exists(), "check ran the library's constructor");

    // A copy of the real library there: in place, of this build.
    std::fs::copy(
        pam_totp::store::plugin::library_beside(&module_path()).unwrap(),
        user_dir.join("pam_totp_postgres.so"),
    )
    .unwrap();
    let run = setup.check();
    run.assert_ok_line(&format!("{library} is in place, of this build"));
    std::fs::write(setup.path("pam-sshd"), good_pam).unwrap();
}
