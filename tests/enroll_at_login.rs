//! `unenrolled = "enroll"` through the real libpam: who is offered an
//! enrollment, what is saved, what the conversation carries.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;
use pam_totp::otp::code::{Generator, HashAlgorithm};

/// The module's clock in these tests: the middle of a time step.
const T: u64 = 1_800_000_015;

fn enroll_fixture() -> Fixture {
    let fixture = Fixture::new();
    std::fs::remove_file(fixture.secret_file()).unwrap();
    fixture.set_clock(T);
    fixture
}

/// The base32 secret as shown ("Secret:  ABCD EFGH ..."), without spaces.
fn shown_secret(shown: &[(String, String)]) -> Option<String> {
    shown
        .iter()
        .flat_map(|(_, text)| text.lines())
        .find_map(|line| line.strip_prefix("Secret:  "))
        .map(|grouped| grouped.replace(' ', ""))
}

fn code_at(secret_b32: &str, time: u64) -> String {
    let secret = base32_decode(secret_b32);
    let generator = Generator::new(&secret, HashAlgorithm::Sha1, 6, 30).unwrap();
    generator.code_for_step(generator.step_at(time))
}

/// Answers the code prompts with `codes(secret)` in turn, Enter elsewhere.
fn responder(mut codes: impl FnMut(&str) -> String + 'static) -> Responder {
    Box::new(move |shown, prompt| {
        if prompt.contains("code the app shows now") {
            let secret = shown_secret(shown).expect("the secret is shown before the prompt");
            Some(codes(&secret).into_bytes())
        } else {
            Some(Vec::new())
        }
    })
}

fn all_text(outcome: &Outcome) -> String {
    outcome
        .shown
        .iter()
        .map(|(_, text)| text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_right_code_saves_the_enrollment_and_the_code_is_used() {
    let fixture = enroll_fixture();
    let service = fixture.service("unenrolled=enroll");
    let outcome =
        service.authenticate_responding(&fixture.user, responder(|secret| code_at(secret, T)));
    let text = all_text(&outcome);
    assert_eq!(outcome.code, PAM_SUCCESS, "{text}");
    let secret = shown_secret(&outcome.shown).unwrap();
    assert!(text.contains("otpauth://totp/"), "{text}");
    assert!(text.contains(&format!("secret={secret}&")), "{text}");
    assert!(
        text.contains('▀') || text.contains('▄'),
        "no QR code: {text}"
    );
    assert!(!text.contains('\x1b'), "colour sequences: {text:?}");

    // Saved as `pam-totp enroll` saves it: 0600, the secret shown.
    let file = fixture.secret_file();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains(&format!("secret = \"{secret}\"")), "{saved}");

    // The recovery codes were shown once, after saving, and work.
    let recovery: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|code| code.len() == 9 && code.as_bytes()[4] == b'-')
        .map(str::to_string)
        .collect();
    assert_eq!(recovery.len(), 10, "{text}");
    // The file holds what was shown: the secret, and a hash of each code.
    let parsed = pam_totp::otp::secret::SecretFile::parse(saved.as_bytes()).unwrap();
    assert_eq!(parsed.secret.as_slice(), base32_decode(&secret).as_slice());
    assert_eq!(parsed.recovery.len(), 10, "{saved}");
    for code in &recovery {
        let canonical = pam_totp::otp::recovery::normalize(code).unwrap();
        assert_eq!(
            parsed
                .recovery
                .iter()
                .filter(|h| h.matches(&canonical))
                .count(),
            1,
            "{code} is not among the saved hashes"
        );
    }
    // ... in the form `pam-totp enroll` writes: the same keys in the same
    // order, the same owner and mode.
    let cli = tempfile::tempdir().unwrap();
    let cli_config = cli.path().join("config.toml");
    std::fs::write(
        &cli_config,
        format!(
            "secret_path = \"{0}/%u.toml\"\nstate_dir = \"{0}/state\"\n",
            cli.path().display()
        ),
    )
    .unwrap();
    let enroll = std::process::Command::new(common::sshd::cli_path())
        .arg("--config")
        .arg(&cli_config)
        .args(["enroll", "--user", &fixture.user, "--no-confirm", "--json"])
        .output()
        .unwrap();
    assert!(
        enroll.status.success(),
        "{}",
        String::from_utf8_lossy(&enroll.stderr)
    );
    let cli_file = cli.path().join(format!("{}.toml", fixture.user));
    let keys = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.split_once(" = ").map(|(key, _)| key.to_string()))
            .collect()
    };
    let by_cli = std::fs::read_to_string(&cli_file).unwrap();
    assert_eq!(keys(&saved), keys(&by_cli), "{saved}\n---\n{by_cli}");
    let cli_meta = std::fs::metadata(&cli_file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (cli_meta.uid(), cli_meta.gid(), cli_meta.mode() & 0o7777)
    );
    assert_eq!(
        outcome.prompts().last().unwrap(),
        "Press Enter once you have saved them: "
    );

    // The confirming code is used; the next step's code works.
    let replay = fixture
        .service("unenrolled=enroll")
        .authenticate(&fixture.user, answer(&code_at(&secret, T)));
    assert_eq!(replay.code, PAM_AUTH_ERR);
    assert_eq!(
        replay.prompts(),
        ["Verification code: "],
        "not enrolled again"
    );
    fixture.set_clock(T + 30);
    let next = service.authenticate(&fixture.user, answer(&code_at(&secret, T + 30)));
    assert_eq!(next.code, PAM_SUCCESS);
    let with_recovery = service.authenticate(&fixture.user, answer(&recovery[0]));
    assert_eq!(with_recovery.code, PAM_SUCCESS);
}

#[test]
fn every_message_is_within_what_sshd_and_libpam_pass() {
    let fixture = enroll_fixture();
    let outcome = fixture
        .service("unenrolled=enroll")
        .authenticate_responding(&fixture.user, responder(|secret| code_at(secret, T)));
    assert_eq!(outcome.code, PAM_SUCCESS);
    // PAM_MAX_NUM_MSG (32) per call, sshd's auth-pam.c refuses more; the
    // module sends one.
    assert!(outcome.calls.iter().all(|&n| n == 1), "{:?}", outcome.calls);
    // PAM_MAX_MSG_SIZE (512) bytes per message.
    for (_, text) in &outcome.shown {
        assert!(text.len() <= 512, "{} bytes: {text}", text.len());
        assert!(!text.ends_with('\n'), "{text:?}");
    }
    assert_eq!(
        pam_totp::auth::enroll_at_login::MAX_MESSAGE_BYTES,
        512,
        "PAM_MAX_MSG_SIZE"
    );
}

#[test]
fn three_wrong_codes_save_nothing() {
    let fixture = enroll_fixture();
    let outcome = fixture
        .service("unenrolled=enroll")
        .authenticate_responding(
            &fixture.user,
            responder(|secret| {
                let right = code_at(secret, T);
                if right == "000000" {
                    "111111"
                } else {
                    "000000"
                }
                .to_string()
            }),
        );
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts().len(), 3, "{:?}", outcome.prompts());
    assert_eq!(
        outcome.errors()[..2],
        [
            "That is not the current code (2 tries left). Check that the phone sets its clock automatically.",
            "That is not the current code (1 try left). Check that the phone sets its clock automatically.",
        ]
    );
    assert!(outcome.errors()[2].contains("nothing was saved"));
    assert!(!fixture.secret_file().exists());
    assert!(!fixture.state_file().exists(), "{}", fixture.state_text());
}

#[test]
fn a_conversation_that_fails_saves_nothing() {
    let fixture = enroll_fixture();
    let outcome = fixture
        .service("unenrolled=enroll")
        .authenticate_responding(&fixture.user, Box::new(|_, _| None));
    assert_eq!(outcome.code, PAM_CONV_ERR);
    assert!(shown_secret(&outcome.shown).is_some());
    assert!(!fixture.secret_file().exists());
}

#[test]
fn an_unknown_user_is_not_offered_an_enrollment() {
    let fixture = enroll_fixture();
    let outcome = fixture
        .service("unenrolled=enroll")
        .authenticate("pamtotp-no-such-user", answer("123456"));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts(), ["Verification code: "]);
    assert!(
        shown_secret(&outcome.shown).is_none(),
        "{}",
        all_text(&outcome)
    );
}

#[test]
fn an_unusable_secret_stays_fail_closed() {
    let fixture = enroll_fixture();
    let service = fixture.service("unenrolled=enroll");
    // Unsafe (others may read it), then malformed: never replaced.
    fixture.write_secret(&format!("version = 1\nsecret = \"{SECRET_B32}\"\n"));
    set_mode(&fixture.secret_file(), 0o644);
    let before = std::fs::metadata(fixture.secret_file()).unwrap();
    let unsafe_file = service.authenticate(&fixture.user, answer("123456"));
    // As documented: a secret file others may read is unusable,
    // PAM_AUTHINFO_UNAVAIL (never an enrollment, never PAM_IGNORE).
    assert_eq!(
        unsafe_file.code, PAM_AUTHINFO_UNAVAIL,
        "{:?}",
        unsafe_file.shown
    );
    assert!(shown_secret(&unsafe_file.shown).is_none());
    let after = std::fs::metadata(fixture.secret_file()).unwrap();
    assert_eq!((before.ino(), before.mtime()), (after.ino(), after.mtime()));

    fixture.write_secret("version = 1\nsecret = 42\n");
    let malformed = service.authenticate(&fixture.user, answer("123456"));
    assert_eq!(malformed.code, PAM_AUTHINFO_UNAVAIL);
    assert!(shown_secret(&malformed.shown).is_none());
    assert_eq!(
        std::fs::read_to_string(fixture.secret_file()).unwrap(),
        "version = 1\nsecret = 42\n"
    );
}

#[test]
fn a_secret_that_vanished_after_logins_is_not_replaced() {
    let fixture = Fixture::new();
    fixture.set_clock(T);
    let service = fixture.service("unenrolled=enroll");
    let login = service.authenticate(&fixture.user, answer(&fixture.code_at(T)));
    assert_eq!(login.code, PAM_SUCCESS);
    std::fs::remove_file(fixture.secret_file()).unwrap();
    let outcome = service.authenticate(&fixture.user, answer("123456"));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL);
    assert!(shown_secret(&outcome.shown).is_none());
    assert!(!fixture.secret_file().exists());
}

#[test]
fn without_the_modules_own_prompt_there_is_no_enrollment() {
    let fixture = enroll_fixture();
    let outcome = fixture
        .service("unenrolled=enroll use_first_pass")
        .authenticate(&fixture.user, Vec::new());
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert!(outcome.shown.is_empty(), "{}", all_text(&outcome));
    assert!(!fixture.secret_file().exists());
}

/// `recovery_codes = 0`: the enrollment at login makes none and says not a
/// word of them (nor asks to save them), only what a lost phone means; with
/// the default it shows them (the positive control).
#[test]
fn with_recovery_codes_0_the_enrollment_says_nothing_of_them() {
    for (extra, made) in [("", 10), ("recovery_codes=0", 0)] {
        let fixture = enroll_fixture();
        let outcome = fixture
            .service(&format!("unenrolled=enroll {extra}"))
            .authenticate_responding(&fixture.user, responder(|secret| code_at(secret, T)));
        let text = all_text(&outcome);
        assert_eq!(outcome.code, PAM_SUCCESS, "{text}");
        let saved = std::fs::read(fixture.secret_file()).unwrap();
        let saved = pam_totp::otp::secret::SecretFile::parse(&saved).unwrap();
        assert_eq!(saved.recovery.len(), made, "{extra:?}");
        let everything = format!("{text}\n{}", outcome.prompts().join("\n"));
        assert_eq!(
            everything.to_ascii_lowercase().contains("recovery"),
            made > 0,
            "{extra:?}: {everything}"
        );
        let lost_phone = text
            .lines()
            .any(|line| line == pam_totp::enroll::provisioning::LOST_PHONE);
        assert_eq!(lost_phone, made == 0, "{extra:?}: {text}");
        let last = outcome.prompts().last().unwrap().clone();
        match made {
            0 => assert_eq!(last, "Press Enter to continue: "),
            _ => assert_eq!(last, "Press Enter once you have saved them: "),
        }
        // The confirmation comes before that prompt, so sshd shows it.
        let saved_line = outcome
            .shown
            .iter()
            .position(|(_, text)| text.starts_with("Saved: two-factor authentication is on"))
            .expect("the confirmation");
        assert_eq!(saved_line + 2, outcome.shown.len(), "{:?}", outcome.shown);
    }
}
