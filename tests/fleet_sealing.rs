//! What the key protects in the PostgreSQL store, against a real cluster:
//! every column that decides whether a code is accepted is bound to the
//! user name under the key (a row changed or copied by someone who can
//! write the database but has no key is refused, and the log says which
//! user and why); keys rotate while logins go on (`db add-key`, `db
//! rekey`, the old key removed); rows of the first format are converted by
//! `db init` and refused until then.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fleet::{Fleet, text};
use common::sshd::*;
use common::*;
use pam_totp::otp::recovery::RecoveryHash;
use pam_totp::store::postgres::sealing::{self, KeyRing};

/// A login of `user` answering `code` is refused as unavailable before any
/// prompt, and the module's log line names the user and contains every
/// one of `words`.
fn refused(host: &Service, user: &str, code: &str, words: &[&str]) {
    // glibc keeps one syslog connection per process, and the tests of this
    // file are threads of one process: one capture at a time, and a line
    // that went to another test's socket is looked for again.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = Vec::new();
    let mut found = None;
    for _ in 0..3 {
        let (outcome, logged) = common::syslog::capture(|| host.authenticate(user, answer(code)));
        assert_eq!(
            outcome.code, PAM_AUTHINFO_UNAVAIL,
            "{user}: {:?}",
            outcome.shown
        );
        assert!(outcome.prompts().is_empty(), "{user}: asked for a code");
        found = common::syslog::refusal_naming(&logged, &format!("(user={user} ")).cloned();
        if found.is_some() {
            break;
        }
        seen.extend(logged);
    }
    let line = found.unwrap_or_else(|| panic!("{user}: no refusal logged: {seen:?}"));
    assert!(line.contains(&format!("enrollment of {user}")), "{line}");
    for word in words {
        assert!(line.contains(word), "{word:?} not in {line}");
    }
    assert!(!line.contains(code), "the log holds the code: {line}");
}

fn accepted(host: &Service, user: &str, code: &str) {
    let outcome = host.authenticate(user, answer(code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{user}: {:?}", outcome.shown);
}

const DOES_NOT_VERIFY: &str = "does not verify with its key for this user";

#[test]
fn a_row_changed_or_copied_without_the_key_is_refused_and_logged() {
    let fleet = Fleet::start();
    let alice = TestUser::create("pamtotp-seal-a");
    let bob = TestUser::create("pamtotp-seal-b");
    let secret = fleet.enroll(&alice.name);
    let bob_secret = fleet.enroll(&bob.name);
    let bob_codes = fleet.recovery_codes(&bob.name);
    let host = fleet.pam_host("seal", "");
    wait_clear_of_a_step_edge();

    // The positive control: the row as pam-totp wrote it verifies.
    accepted(&host, &alice.name, &oathtool_code(&secret, -1));

    let db = &fleet.db;
    db.psql("CREATE TABLE saved AS SELECT * FROM pam_totp_enrollment");
    let restore = || {
        db.psql(
            "DELETE FROM pam_totp_enrollment; INSERT INTO pam_totp_enrollment SELECT * FROM saved",
        )
    };
    let a = &alice.name;
    let cases = [
        (
            "a recovery hash copied from another user's row",
            format!(
                "UPDATE pam_totp_enrollment SET recovery = recovery || \
                 (SELECT recovery[1] FROM pam_totp_enrollment WHERE user_name = '{}') \
                 WHERE user_name = '{a}'",
                bob.name
            ),
            bob_codes[0].clone(),
        ),
        (
            "a recovery hash replaced by another user's",
            format!(
                "UPDATE pam_totp_enrollment SET recovery = \
                 (SELECT recovery FROM pam_totp_enrollment WHERE user_name = '{}') \
                 WHERE user_name = '{a}'",
                bob.name
            ),
            bob_codes[1].clone(),
        ),
        (
            "digits",
            format!("UPDATE pam_totp_enrollment SET digits = 8 WHERE user_name = '{a}'"),
            oathtool_code(&secret, 0),
        ),
        (
            "period",
            format!("UPDATE pam_totp_enrollment SET period = 60 WHERE user_name = '{a}'"),
            oathtool_code(&secret, 0),
        ),
        (
            "kind",
            format!(
                "UPDATE pam_totp_enrollment SET kind = 'hotp', counter = 0 WHERE user_name = '{a}'"
            ),
            oathtool_code(&secret, 0),
        ),
        (
            "algorithm",
            format!("UPDATE pam_totp_enrollment SET algorithm = 'SHA256' WHERE user_name = '{a}'"),
            oathtool_code(&secret, 0),
        ),
    ];
    for (what, change, code) in &cases {
        db.psql(change);
        eprintln!("case: {what}");
        refused(&host, a, code, &[DOES_NOT_VERIFY]);
        restore();
    }

    // Alice's whole row copied over Bob's: Bob is refused, not logged in
    // with Alice's code.
    db.psql(&format!(
        "UPDATE pam_totp_enrollment b SET kind = a.kind, secret = a.secret, \
         algorithm = a.algorithm, digits = a.digits, period = a.period, \
         counter = a.counter, recovery = a.recovery \
         FROM pam_totp_enrollment a WHERE a.user_name = '{a}' AND b.user_name = '{}'",
        bob.name
    ));
    refused(
        &host,
        &bob.name,
        &oathtool_code(&secret, 0),
        &[DOES_NOT_VERIFY],
    );
    // ... and `check` names him.
    let check = fleet.cli(&[
        "check",
        "--pam-file",
        "/dev/null",
        "--sshd-config",
        "/dev/null",
    ]);
    assert!(
        text(&check.stdout).contains(&format!("the secrets of {} (1 of 2 checked)", bob.name)),
        "{}",
        text(&check.stdout)
    );
    restore();

    // Restored: both log in again, Bob with a recovery code too.
    accepted(&host, a, &oathtool_code(&secret, 0));
    accepted(&host, &bob.name, &oathtool_code(&bob_secret, 0));
    accepted(&host, &bob.name, &bob_codes[2]);
}

/// The id of the first key in a key file's contents.
fn first_key_id(contents: &[u8]) -> String {
    KeyRing::parse(contents).unwrap().sealing().id().to_string()
}

fn sealed_with(fleet: &Fleet, user: &str) -> String {
    fleet.db.psql(&format!(
        "SELECT encode(substring(secret FROM 2 FOR 4), 'hex') FROM pam_totp_enrollment WHERE user_name = '{user}'"
    ))
}

#[test]
fn keys_rotate_while_logins_go_on_and_a_removed_key_fails_closed() {
    let fleet = Fleet::start();
    let alice = TestUser::create("pamtotp-rotate-a");
    let bob = TestUser::create("pamtotp-rotate-b");
    let carol = TestUser::create("pamtotp-rotate-c");
    let alice_secret = fleet.enroll(&alice.name);
    let bob_secret = fleet.enroll(&bob.name);
    let alice_codes = fleet.recovery_codes(&alice.name);
    let old_file = std::fs::read(fleet.key_file()).unwrap();
    assert_eq!(old_file.len(), 32, "db init writes one raw key");
    let old_id = first_key_id(&old_file);
    assert_eq!(sealed_with(&fleet, &alice.name), old_id);
    let host = fleet.pam_host("rotate", "");
    wait_clear_of_a_step_edge();
    accepted(&host, &alice.name, &oathtool_code(&alice_secret, -1));
    db_keep_old_row(&fleet, &alice.name);

    // A second key, first: rows sealed with the old one still open.
    let added = fleet.cli(&["db", "add-key"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let new_file = std::fs::read(fleet.key_file()).unwrap();
    let new_id = first_key_id(&new_file);
    assert_ne!(new_id, old_id);
    let stdout = text(&added.stdout);
    assert!(
        stdout.contains(&format!("Added key {new_id} first")) && stdout.contains("db rekey"),
        "{stdout}"
    );
    let ring = KeyRing::parse(&new_file).unwrap();
    assert_eq!(ring.keys().len(), 2);
    assert_eq!(ring.keys()[1].as_bytes(), old_file.as_slice());
    accepted(&host, &bob.name, &oathtool_code(&bob_secret, -1));
    // A new enrollment is sealed with the new key.
    let carol_secret = fleet.enroll(&carol.name);
    assert_eq!(sealed_with(&fleet, &carol.name), new_id);
    accepted(&host, &carol.name, &oathtool_code(&carol_secret, -1));
    let check = fleet.cli(&[
        "check",
        "--pam-file",
        "/dev/null",
        "--sshd-config",
        "/dev/null",
    ]);
    assert!(
        text(&check.stdout).contains("2 enrollments are sealed with another key")
            && text(&check.stdout).contains("run `pam-totp db rekey`"),
        "{}",
        text(&check.stdout)
    );

    // Rekey: every row with the new key, and says so.
    let rekey = fleet.cli(&["db", "rekey"]);
    let stdout = text(&rekey.stdout);
    assert!(rekey.status.success(), "{stdout}{}", text(&rekey.stderr));
    assert!(
        stdout.contains(&format!(
            "Re-sealed 2 enrollments with key {new_id} (0 converted from the first format); 1 used it already."
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("Every enrollment uses key {new_id}")),
        "{stdout}"
    );
    for user in [&alice.name, &bob.name, &carol.name] {
        assert_eq!(sealed_with(&fleet, user), new_id, "{user}");
    }
    let again = fleet.cli(&["db", "rekey"]);
    assert!(
        text(&again.stdout).contains("Re-sealed 0 enrollments")
            && text(&again.stdout).contains("3 used it already"),
        "{}",
        text(&again.stdout)
    );

    // The old key removed (its line deleted): logins still work, the
    // recovery codes made under the old key too.
    let text_file = String::from_utf8(new_file).unwrap();
    let only_new: String = text_file
        .lines()
        .filter(|line| !line.contains(&format!("# key {old_id}")))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(fleet.key_file(), &only_new).unwrap();
    assert_eq!(KeyRing::parse(only_new.as_bytes()).unwrap().keys().len(), 1);
    accepted(&host, &alice.name, &oathtool_code(&alice_secret, 0));
    accepted(&host, &bob.name, &oathtool_code(&bob_secret, 0));
    accepted(&host, &carol.name, &oathtool_code(&carol_secret, 0));
    accepted(&host, &alice.name, &alice_codes[0]);

    // A row still sealed with the removed key (here: put back from before
    // the rekey) fails closed, and the log names the key.
    fleet.db.psql(&format!(
        "UPDATE pam_totp_enrollment e SET secret = o.secret, recovery = o.recovery \
         FROM old_rows o WHERE e.user_name = o.user_name AND e.user_name = '{}'",
        alice.name
    ));
    refused(
        &host,
        &alice.name,
        &oathtool_code(&alice_secret, 1),
        &[
            &format!("sealed with key {old_id}, which is not in secret_key_file"),
            "put that key back",
        ],
    );
    // Rekey cannot re-seal it, names it, and fails.
    let rekey = fleet.cli(&["db", "rekey"]);
    assert!(!rekey.status.success());
    let stdout = text(&rekey.stdout);
    assert!(
        stdout.contains(&format!(
            "{}: not re-sealed, it is sealed with key {old_id}",
            alice.name
        )) && stdout.contains("1 enrollment still uses another key."),
        "{stdout}"
    );
    assert!(
        text(&rekey.stderr).contains("keep the old keys"),
        "{}",
        text(&rekey.stderr)
    );
}

/// Keep `user`'s row as it is now in a table `old_rows`.
fn db_keep_old_row(fleet: &Fleet, user: &str) {
    fleet.db.psql(&format!(
        "CREATE TABLE old_rows AS SELECT * FROM pam_totp_enrollment WHERE user_name = '{user}'"
    ));
}

#[test]
fn rows_of_the_first_format_are_refused_until_db_init_converts_them() {
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-format1");
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let raw = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret).unwrap();
    let key_file = std::fs::read(fleet.key_file()).unwrap();
    let ring = KeyRing::parse(&key_file).unwrap();
    // As pam-totp 0.1 with schema version 1 wrote it.
    let sealed = sealing::seal(ring.sealing(), &user.name, &raw).unwrap();
    let hex: String = sealed.iter().map(|b| format!("{b:02x}")).collect();
    let used = RecoveryHash::new("abcd2345", vec![1; 16]);
    let unused = RecoveryHash::new("efgh6789", vec![2; 16]);
    fleet.db.psql(&format!(
        "INSERT INTO pam_totp_enrollment (user_name, secret, recovery) \
         VALUES ('{}', '\\x{hex}', ARRAY['{}', '{}']); \
         INSERT INTO pam_totp_state (user_name, used_recovery) VALUES ('{}', ARRAY['{}'])",
        user.name,
        used.encode(),
        unused.encode(),
        user.name,
        used.id()
    ));
    let host = fleet.pam_host("format1", "");
    wait_clear_of_a_step_edge();
    refused(
        &host,
        &user.name,
        &oathtool_code(secret, -1),
        &["first format", "run `pam-totp db rekey`"],
    );

    // The database as version 1 left it: db init upgrades and converts.
    fleet
        .db
        .psql("UPDATE pam_totp_meta SET value = '1' WHERE key = 'schema_version'");
    let init = fleet.cli(&["db", "init"]);
    let stdout = text(&init.stdout);
    assert!(init.status.success(), "{stdout}{}", text(&init.stderr));
    assert!(
        stdout.contains("schema upgraded from version 1 to 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Re-sealed 1 enrollment with key")
            && stdout.contains("(1 converted from the first format)"),
        "{stdout}"
    );
    let recovery = fleet.db.psql(&format!(
        "SELECT array_to_string(recovery, ' ') FROM pam_totp_enrollment WHERE user_name = '{}'",
        user.name
    ));
    assert!(
        recovery.starts_with("hmac-sha256:") && !recovery.contains(' '),
        "the used code is dropped, the other keyed: {recovery}"
    );
    accepted(&host, &user.name, &oathtool_code(secret, 0));
    let outcome = host.authenticate(&user.name, answer("ABCD-2345"));
    assert_ne!(outcome.code, PAM_SUCCESS, "a used recovery code came back");
    accepted(&host, &user.name, "EFGH-6789");
    let again = fleet.cli(&["db", "init"]);
    assert!(
        text(&again.stdout).contains("already at version 2")
            && !text(&again.stdout).contains("Re-sealed"),
        "{}",
        text(&again.stdout)
    );
}
