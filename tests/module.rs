//! The module through the real libpam, one scripted login per case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

const PROMPT: &str = "Verification code: ";

#[test]
fn right_code_logs_in_with_the_prompt_shown() {
    let fixture = Fixture::new();
    let outcome = fixture
        .service("")
        .authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert_eq!(outcome.prompts(), vec![PROMPT]);
}

#[test]
fn code_with_spaces_or_a_hyphen_is_accepted() {
    let fixture = Fixture::new();
    let code = fixture.code(0);
    let typed = format!("  {} {}\n", &code[..3], &code[3..]);
    assert_eq!(
        fixture
            .service("")
            .authenticate(&fixture.user, answer(&typed))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn wrong_code_is_refused() {
    let fixture = Fixture::new();
    let wrong = if fixture.code(0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let outcome = fixture
        .service("")
        .authenticate(&fixture.user, answer(wrong));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts(), vec![PROMPT]);
}

#[test]
fn a_code_is_accepted_once() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let code = fixture.code(0);
    assert_eq!(
        service.authenticate(&fixture.user, answer(&code)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&code)).code,
        PAM_AUTH_ERR
    );
}

#[test]
fn after_the_next_steps_code_the_current_one_is_refused() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let current = fixture.code(0);
    let next = fixture.code(1);
    // Current then next: each later than the last accepted, both accepted.
    assert_eq!(
        service.authenticate(&fixture.user, answer(&current)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        service.authenticate(&fixture.user, answer(&next)).code,
        PAM_SUCCESS
    );
    // The current step is now older than the last accepted one.
    let fresh = Fixture::new();
    let service = fresh.service("");
    assert_eq!(
        service
            .authenticate(&fresh.user, answer(&fresh.code(1)))
            .code,
        PAM_SUCCESS
    );
    assert_eq!(
        service
            .authenticate(&fresh.user, answer(&fresh.code(0)))
            .code,
        PAM_AUTH_ERR
    );
}

#[test]
fn codes_two_steps_away_are_refused() {
    // With window 1 the edge is between one and two steps away, on the
    // real clock (no test-clock file here).
    let fixture = Fixture::new();
    let service = fixture.service("window=1");
    wait_clear_of_a_step_edge();
    assert!(!fixture.state_dir().join("test-clock").exists());
    for offset in [-2, 2] {
        let outcome = service.authenticate(&fixture.user, answer(&fixture.code(offset)));
        assert_eq!(outcome.code, PAM_AUTH_ERR, "{offset} steps away");
        assert_eq!(outcome.prompts(), vec![PROMPT]);
    }
    for offset in [-1, 1] {
        assert_eq!(
            service
                .authenticate(&fixture.user, answer(&fixture.code(offset)))
                .code,
            PAM_SUCCESS,
            "{offset} step away"
        );
    }
}

#[test]
fn unenrolled_user_is_prompted_then_refused() {
    let fixture = Fixture::new();
    std::fs::remove_file(fixture.secret_file()).unwrap();
    let outcome = fixture
        .service("")
        .authenticate(&fixture.user, answer("123456"));
    assert_eq!(outcome.code, PAM_AUTH_ERR, "{:?}", outcome.shown);
    assert_eq!(outcome.prompts(), vec![PROMPT]);
    // Same for a user that does not exist at all.
    let outcome = fixture
        .service("")
        .authenticate("no-such-user-pam-totp", answer("123456"));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts(), vec![PROMPT]);
}

#[test]
fn unenrolled_user_is_let_through_under_allow_without_a_prompt() {
    let fixture = Fixture::new();
    std::fs::remove_file(fixture.secret_file()).unwrap();
    for args in ["unenrolled=allow", "nullok"] {
        let service = Service::ignore_probe(&format!("{} {args}", fixture.args()));
        let outcome = service.authenticate(&fixture.user, vec![]);
        assert_eq!(outcome.code, PROBED_IGNORE, "{args}");
        assert!(outcome.prompts().is_empty(), "{args}");
    }
}

#[test]
fn symlinked_secret_file_fails_closed() {
    let fixture = Fixture::new();
    let real = fixture.root.path().join("real.toml");
    std::fs::rename(fixture.secret_file(), &real).unwrap();
    std::os::unix::fs::symlink(&real, fixture.secret_file()).unwrap();
    let outcome = fixture
        .service("")
        .authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL);
    assert!(outcome.prompts().is_empty());
    assert_eq!(outcome.errors().len(), 1);
}

#[test]
fn group_readable_secret_file_fails_closed() {
    let fixture = Fixture::new();
    set_mode(&fixture.secret_file(), 0o640);
    let outcome = fixture
        .service("")
        .authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL);
}

#[test]
fn secret_file_owned_by_someone_else_fails_closed() {
    if skip_unless_root("needs root to chown") {
        return;
    }
    // User "daemon" with a secret outside its home: root or daemon may own it.
    let fixture = Fixture::new();
    let service = Service::with_args(&format!(
        "secret_path={} state_dir={}",
        fixture.secret_file().display(),
        fixture.state_dir().display()
    ));
    assert_eq!(
        service
            .authenticate("daemon", answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );
    std::os::unix::fs::chown(fixture.secret_file(), Some(65534), Some(65534)).unwrap();
    let outcome = service.authenticate("daemon", answer(&fixture.code(1)));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL);
    assert!(outcome.prompts().is_empty());
}

#[test]
fn malformed_secret_files_fail_closed() {
    let fixture = Fixture::new();
    for text in [
        "this is not toml".to_string(),
        "version = 1\nsecret = \"not base32!\"\n".to_string(),
        format!("version = 1\nsecret = \"{SECRET_B32}\"\ndigits = 12\n"),
        "version = 1\nsecret = \"JBSWY3DP\"\n".to_string(),
        String::new(),
    ] {
        fixture.write_secret(&text);
        let outcome = fixture
            .service("")
            .authenticate(&fixture.user, answer(&fixture.code(0)));
        assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{text:?}");
        assert!(outcome.prompts().is_empty(), "{text:?}");
    }
}

#[test]
fn unknown_argument_or_bad_value_fails_closed() {
    let fixture = Fixture::new();
    for extra in [
        "frobnicate",
        "window=eleven",
        "window=99",
        "unenrolled=maybe",
        "max_failures=0",
    ] {
        let outcome = fixture
            .service(extra)
            .authenticate(&fixture.user, answer(&fixture.code(0)));
        assert_eq!(outcome.code, PAM_SERVICE_ERR, "{extra}");
        assert!(outcome.prompts().is_empty(), "{extra}");
    }
}

#[test]
fn non_digit_and_overlong_answers_are_wrong_codes() {
    let code = Fixture::new().code(0);
    let long = "1".repeat(100_000);
    let padded = format!("{code}0");
    for typed in [
        "abcdef",
        "",
        "12345",
        long.as_str(),
        padded.as_str(),
        "%n%n%s%s",
        "１２３４５６",
    ] {
        // A fresh state each time so the lockout does not interfere.
        let fixture = Fixture::new();
        let service = fixture.service("");
        let outcome = service.authenticate(&fixture.user, answer(typed));
        assert_eq!(outcome.code, PAM_AUTH_ERR, "{typed:.20}");
        assert_eq!(outcome.prompts(), vec![PROMPT], "{typed:.20}");
        // Counted as one failure, and nothing broke: the right code works next.
        let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
        assert_eq!(state.failures, 1, "{typed:.20}");
        assert_eq!(
            service
                .authenticate(&fixture.user, answer(&fixture.code(0)))
                .code,
            PAM_SUCCESS,
            "after {typed:.20}"
        );
    }
}

#[test]
fn conversation_failure_is_refused() {
    let fixture = Fixture::new();
    let outcome = fixture.service("").authenticate(&fixture.user, vec![None]);
    assert_eq!(outcome.code, PAM_CONV_ERR);
    // Nothing was recorded: the right code works next.
    assert_eq!(
        fixture
            .service("")
            .authenticate(&fixture.user, answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );
}

#[test]
fn a_conversation_failing_with_any_code_is_a_conversation_error() {
    // A client's conversation may fail with any value, even PAM_SUCCESS or
    // PAM_IGNORE; the module must never hand those on as its own answer.
    let fixture = Fixture::new();
    for code in [PAM_IGNORE, PAM_SUCCESS, PAM_AUTH_ERR, 12345] {
        let outcome = fixture
            .service("")
            .authenticate_with_failing_conversation(&fixture.user, code);
        assert_eq!(outcome.code, PAM_CONV_ERR, "conversation returned {code}");
    }
}

#[test]
fn custom_prompt_is_shown() {
    let fixture = Fixture::new();
    let config = fixture.root.path().join("config.toml");
    std::fs::write(&config, "prompt = \"OTP please: \"\n").unwrap();
    let outcome = fixture
        .service(&format!("config={}", config.display()))
        .authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert_eq!(outcome.prompts(), vec!["OTP please: "]);
}

#[test]
fn lockout_after_three_wrong_codes_refuses_the_right_one() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let wrong = if fixture.code(0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..=3 {
        let outcome = service.authenticate(&fixture.user, answer(wrong));
        if attempt < 3 {
            assert_eq!(outcome.code, PAM_AUTH_ERR);
            assert!(outcome.errors().is_empty(), "{:?}", outcome.shown);
        } else {
            // The failure that starts the lockout tells the user at once.
            assert_eq!(outcome.code, PAM_MAXTRIES);
            assert_eq!(
                outcome.errors(),
                vec!["Too many failed attempts. Try again in 30 seconds."]
            );
        }
    }
    let outcome = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_MAXTRIES);
    assert!(
        outcome.prompts().is_empty(),
        "no code is asked for while locked out"
    );
    let errors = outcome.errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("Too many failed attempts. Try again in "),
        "{errors:?}"
    );
}

#[test]
fn changing_the_period_neither_locks_the_user_out_nor_revives_used_codes() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let t0: u64 = 1_800_000_000; // a multiple of 60
    fixture.set_clock(t0 + 30);
    assert_eq!(
        service
            .authenticate(&fixture.user, answer(&fixture.code_at(t0 + 30)))
            .code,
        PAM_SUCCESS
    );
    // Re-enrolled by the user (state kept) with a 60-second period.
    fixture.write_secret(&format!(
        "version = 1\nsecret = \"{SECRET_B32}\"\nperiod = 60\n"
    ));
    let sixty = pam_totp::otp::code::Generator::new(
        &fixture.secret,
        pam_totp::otp::code::HashAlgorithm::Sha1,
        6,
        60,
    )
    .unwrap();
    // The 60 s step that began at t0 began before the accepted 30 s step: used.
    fixture.set_clock(t0 + 45);
    let code = sixty.code_for_step(sixty.step_at(t0 + 45));
    assert_eq!(
        service.authenticate(&fixture.user, answer(&code)).code,
        PAM_AUTH_ERR
    );
    // The next 60 s step is fresh (counting steps, it would look decades old).
    fixture.set_clock(t0 + 60);
    let code = sixty.code_for_step(sixty.step_at(t0 + 60));
    assert_eq!(
        service.authenticate(&fixture.user, answer(&code)).code,
        PAM_SUCCESS
    );
}

#[test]
fn a_panic_inside_the_module_is_contained_and_refuses() {
    // test_panic (test builds only) panics inside pam_sm_authenticate: the
    // host process goes on, and the stack fails even with pam_permit after.
    let fixture = Fixture::new();
    let service = Service::with_stack(&format!(
        "auth required {} {} test_panic\nauth required pam_permit.so\n",
        module_path().display(),
        fixture.args()
    ));
    let outcome = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_ABORT);
    // Still here, and the module still works.
    assert_eq!(
        fixture
            .service("")
            .authenticate(&fixture.user, answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );
}
