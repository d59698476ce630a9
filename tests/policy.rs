//! Policies and stacking through the real libpam: exemptions, unenrolled
//! users, the first-pass flags and `forward_pass`, and how `PAM_IGNORE`
//! combines with the rest of a stack.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;

const PROMPT: &str = "Verification code: ";
const FORWARD_PROMPT: &str = "Password & verification code: ";
const PASSWORD_PROMPT: &str = "Password: ";

fn wrong_code(fixture: &Fixture) -> &'static str {
    if fixture.code(0) == "000000" || fixture.code(-1) == "000000" || fixture.code(1) == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// A stack line that records `PAM_AUTHTOK` as the next module sees it (the
/// application cannot read it back: libpam clears it after
/// `pam_authenticate`, and only modules may set it). Without a token,
/// pam_exec asks "Password: " itself and sets `PAM_AUTHTOK` to the answer.
fn authtok_recorder(fixture: &Fixture) -> String {
    let script = fixture.root.path().join("record-authtok");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntr -d '\\000' > {}\n",
            fixture.root.path().join("authtok").display()
        ),
    )
    .unwrap();
    set_mode(&script, 0o755);
    format!(
        "auth optional pam_exec.so expose_authtok {}\n",
        script.display()
    )
}

/// pam_echo shows this between pam_totp and pam_exec, so the prompts can
/// be told apart by whether they came before or after it.
const MARKER: &str = "pt5-marker";

fn marker_line() -> String {
    format!("auth optional pam_echo.so {MARKER}\n")
}

/// The prompts shown before and after the marker.
fn around_marker(outcome: &Outcome) -> (Vec<String>, Vec<String>) {
    let at = outcome
        .shown
        .iter()
        .position(|(style, text)| style == "info" && text == MARKER)
        .expect("marker shown");
    let prompts = |part: &[(String, String)]| -> Vec<String> {
        part.iter()
            .filter(|(style, _)| style.starts_with("prompt"))
            .map(|(_, text)| text.clone())
            .collect()
    };
    (
        prompts(&outcome.shown[..at]),
        prompts(&outcome.shown[at + 1..]),
    )
}

fn recorded_authtok(fixture: &Fixture) -> Option<String> {
    let path = fixture.root.path().join("authtok");
    let text = std::fs::read_to_string(&path).ok();
    let _ = std::fs::remove_file(&path);
    text
}

fn module_line(control: &str, fixture: &Fixture, extra: &str) -> String {
    format!(
        "auth {control} {} {} {extra}\n",
        module_path().display(),
        fixture.args()
    )
}

#[test]
fn exempt_network_gets_no_prompt_for_v4_mapped_and_unknown_users() {
    let fixture = Fixture::new();
    let networks = "exempt_networks=10.0.0.0/8,127.0.0.0/8,2001:db8::/32";
    // The module's own answer is PAM_IGNORE (not a refusal such as
    // PAM_PERM_DENIED, which a stack of it alone would also end with).
    let probe = Service::ignore_probe(&format!("{} {networks}", fixture.args()));
    let alone = fixture.service(networks);
    for host in ["127.0.0.1", "::ffff:127.0.0.1", "10.9.8.7", "2001:db8::1"] {
        let outcome = probe.authenticate_with(&fixture.user, vec![], Some(host));
        assert_eq!(outcome.code, PROBED_IGNORE, "{host}");
        assert!(
            outcome.prompts().is_empty(),
            "{host}: {:?}",
            outcome.prompts()
        );
        let outcome = alone.authenticate_with(&fixture.user, vec![], Some(host));
        assert_eq!(outcome.code, PAM_IGNORE_ALONE, "{host}");
    }
    // Unknown users from an exempt network are treated like known ones.
    let outcome = probe.authenticate_with("pt5-no-such-user", vec![], Some("127.0.0.1"));
    assert_eq!(outcome.code, PROBED_IGNORE);
    assert!(outcome.prompts().is_empty());
    let outcome = alone.authenticate_with("pt5-no-such-user", vec![], Some("127.0.0.1"));
    assert_eq!(outcome.code, PAM_IGNORE_ALONE);
}

/// A stack whose only module returns `PAM_IGNORE` fails: libpam turns
/// "nobody decided" into `PAM_PERM_DENIED`. This is why the stacks in
/// `pam.d/` end with `auth required pam_permit.so`.
const PAM_IGNORE_ALONE: i32 = 6; // PAM_PERM_DENIED

#[test]
fn host_names_and_other_networks_are_asked_for_the_code() {
    let fixture = Fixture::new();
    let service = fixture.service("exempt_networks=127.0.0.0/8 max_failures=100");
    for host in ["localhost", "128.0.0.1", "::1", "127.0.0.1.example.com"] {
        let outcome =
            service.authenticate_with(&fixture.user, answer(wrong_code(&fixture)), Some(host));
        assert_eq!(outcome.code, PAM_AUTH_ERR, "{host}");
        assert_eq!(outcome.prompts(), vec![PROMPT], "{host}");
    }
}

#[test]
fn exempt_group_gets_no_prompt() {
    let fixture = Fixture::new();
    // The primary group of the user running the tests.
    let group = pam_totp::system::account::group_names(
        &pam_totp::system::account::lookup_user(&fixture.user).unwrap(),
    )
    .unwrap()
    .remove(0);
    let service = Service::with_stack(&format!(
        "{}auth required pam_permit.so\n",
        module_line(
            "required",
            &fixture,
            &format!("exempt_groups=pt5-nothing,{group}")
        )
    ));
    let outcome = service.authenticate(&fixture.user, vec![]);
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert!(outcome.prompts().is_empty());
    // Not a member: asked.
    let service = fixture.service("exempt_groups=pt5-nothing");
    let outcome = service.authenticate(&fixture.user, answer(wrong_code(&fixture)));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(outcome.prompts(), vec![PROMPT]);
}

#[test]
fn ignore_alone_is_refused_and_pam_permit_after_lets_it_through() {
    let fixture = Fixture::new();
    std::fs::remove_file(fixture.secret_file()).unwrap();
    let alone = Service::with_stack(&module_line("required", &fixture, "unenrolled=allow"));
    let outcome = alone.authenticate(&fixture.user, vec![]);
    assert_eq!(outcome.code, PAM_IGNORE_ALONE);
    assert!(outcome.prompts().is_empty());
    // ... because the module ignored, not because it refused.
    let probe = Service::ignore_probe(&format!("{} unenrolled=allow", fixture.args()));
    assert_eq!(
        probe.authenticate(&fixture.user, vec![]).code,
        PROBED_IGNORE
    );

    let with_permit = Service::with_stack(&format!(
        "{}auth required pam_permit.so\n",
        module_line("required", &fixture, "unenrolled=allow")
    ));
    let outcome = with_permit.authenticate(&fixture.user, vec![]);
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert!(outcome.prompts().is_empty());
}

#[test]
fn required_with_pam_permit_still_refuses_a_wrong_code_but_sufficient_does_not() {
    let fixture = Fixture::new();
    let required = Service::with_stack(&format!(
        "{}auth required pam_permit.so\n",
        module_line("required", &fixture, "")
    ));
    let outcome = required.authenticate(&fixture.user, answer(wrong_code(&fixture)));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert_eq!(
        required
            .authenticate(&fixture.user, answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );

    // The mistake `pam-totp check` warns about: a failed `sufficient`
    // module is skipped, and pam_permit lets the wrong code in.
    let fixture = Fixture::new();
    let sufficient = Service::with_stack(&format!(
        "{}auth required pam_permit.so\n",
        module_line("sufficient", &fixture, "")
    ));
    let outcome = sufficient.authenticate(&fixture.user, answer(wrong_code(&fixture)));
    assert_eq!(
        outcome.code, PAM_SUCCESS,
        "sufficient no longer skips failures?"
    );
}

/// `pam_totp ARGS`, the marker, the recorder and pam_permit. The recorder
/// would ask "Password: " itself if pam_totp set no token: the marker shows
/// who asked.
fn forwarding_stack(fixture: &Fixture, extra: &str) -> Service {
    Service::with_stack(&format!(
        "{}{}{}auth required pam_permit.so\n",
        module_line("required", fixture, extra),
        marker_line(),
        authtok_recorder(fixture)
    ))
}

/// Asked by pam_totp, and nothing asked after it.
fn asked_by_module(outcome: &Outcome, prompt: &str) {
    assert_eq!(
        around_marker(outcome),
        (vec![prompt.to_string()], vec![]),
        "{:?}",
        outcome.shown
    );
}

#[test]
fn forward_pass_splits_the_answer_and_hands_the_password_on() {
    let fixture = Fixture::new();
    let service = forwarding_stack(&fixture, "forward_pass");
    let outcome = service.authenticate(
        &fixture.user,
        answer(&format!("correct horse{}", fixture.code(0))),
    );
    assert_eq!(outcome.code, PAM_SUCCESS);
    asked_by_module(&outcome, FORWARD_PROMPT);
    assert_eq!(recorded_authtok(&fixture).as_deref(), Some("correct horse"));

    let outcome = service.authenticate(
        &fixture.user,
        answer(&format!("correct horse{}", wrong_code(&fixture))),
    );
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    asked_by_module(&outcome, FORWARD_PROMPT);
    assert_eq!(recorded_authtok(&fixture).as_deref(), Some("correct horse"));
}

#[test]
fn forward_pass_still_collects_the_password_of_users_asked_no_code() {
    // Exempt network, and unenrolled under allow: "Password: " only, the
    // whole answer becomes PAM_AUTHTOK, the module ignores itself.
    let fixture = Fixture::new();
    let exempt = forwarding_stack(&fixture, "forward_pass exempt_networks=127.0.0.0/8");
    let outcome = exempt.authenticate_with(&fixture.user, answer("pw123456"), Some("127.0.0.1"));
    assert_eq!(outcome.code, PAM_SUCCESS);
    asked_by_module(&outcome, PASSWORD_PROMPT);
    assert_eq!(recorded_authtok(&fixture).as_deref(), Some("pw123456"));

    std::fs::remove_file(fixture.secret_file()).unwrap();
    let allow = forwarding_stack(&fixture, "forward_pass unenrolled=allow");
    let outcome = allow.authenticate(&fixture.user, answer("pw123456"));
    assert_eq!(outcome.code, PAM_SUCCESS);
    asked_by_module(&outcome, PASSWORD_PROMPT);
    assert_eq!(recorded_authtok(&fixture).as_deref(), Some("pw123456"));

    // Under deny the unenrolled user sees the enrolled users' prompt, the
    // password part is handed on as for them, and the module refuses.
    let deny = forwarding_stack(&fixture, "forward_pass");
    let outcome = deny.authenticate(&fixture.user, answer("pw123456"));
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    asked_by_module(&outcome, FORWARD_PROMPT);
    assert_eq!(recorded_authtok(&fixture).as_deref(), Some("pw"));
}

/// pam_exec first: it asks "Password: " and sets PAM_AUTHTOK to the
/// answer; then the marker, then pam_totp.
fn first_pass_stack(fixture: &Fixture, extra: &str) -> Service {
    Service::with_stack(&format!(
        "{}{}{}",
        authtok_recorder(fixture),
        marker_line(),
        module_line("required", fixture, extra)
    ))
}

/// What pam_totp asked, after pam_exec's "Password: ".
fn asked_after_token(outcome: &Outcome) -> Vec<String> {
    let (before, after) = around_marker(outcome);
    assert_eq!(before, vec![PASSWORD_PROMPT], "{:?}", outcome.shown);
    after
}

#[test]
fn use_first_pass_takes_the_code_from_authtok() {
    let fixture = Fixture::new();
    let service = first_pass_stack(&fixture, "use_first_pass");
    let outcome = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert!(asked_after_token(&outcome).is_empty());
    // No token: refused without asking.
    let alone = fixture.service("use_first_pass");
    let outcome = alone.authenticate(&fixture.user, vec![]);
    assert_eq!(outcome.code, PAM_AUTH_ERR);
    assert!(outcome.prompts().is_empty());
}

#[test]
fn try_first_pass_asks_when_the_token_is_a_password_and_counts_no_failure() {
    let fixture = Fixture::new();
    let service = first_pass_stack(&fixture, "try_first_pass max_failures=1");
    // A code in PAM_AUTHTOK: no second prompt.
    let outcome = service.authenticate(&fixture.user, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert!(asked_after_token(&outcome).is_empty());
    // A password in PAM_AUTHTOK: asked for the code; with max_failures=1 a
    // counted failure would lock the following logins out.
    for _ in 0..2 {
        let outcome =
            service.authenticate(&fixture.user, vec![Some(b"my password".to_vec()), None]);
        assert_eq!(asked_after_token(&outcome), vec![PROMPT]);
        assert_eq!(outcome.code, PAM_CONV_ERR);
    }
    let outcome = service.authenticate(
        &fixture.user,
        vec![
            Some(b"my password".to_vec()),
            Some(fixture.code(1).into_bytes()),
        ],
    );
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
}

#[test]
fn try_first_pass_never_counts_a_password_that_looks_like_a_code() {
    // "Passw0rd" folds to a recovery-code shape, "12345678" is all digits:
    // as tokens they are tried, not accepted, not counted, and the user is asked.
    let fixture = Fixture::new();
    let service = first_pass_stack(&fixture, "try_first_pass max_failures=1");
    for password in ["Passw0rd", "12345678", "password", "dragon12"] {
        let outcome = service.authenticate(
            &fixture.user,
            vec![Some(password.as_bytes().to_vec()), None],
        );
        assert_eq!(asked_after_token(&outcome), vec![PROMPT], "{password}");
        assert_eq!(outcome.code, PAM_CONV_ERR, "{password}");
    }
    let outcome = service.authenticate(
        &fixture.user,
        vec![
            Some(b"Passw0rd".to_vec()),
            Some(fixture.code(0).into_bytes()),
        ],
    );
    assert_eq!(
        outcome.code, PAM_SUCCESS,
        "a password token led to a lockout: {:?}",
        outcome.shown
    );
    let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
    assert_eq!(state.failures, 0);
}

#[test]
fn a_missing_home_is_not_taken_for_not_enrolled() {
    // "nobody" has the home /nonexistent: like an unmounted NFS home, the
    // module cannot tell whether a secret exists, so even under
    // unenrolled=allow it refuses rather than skip the code.
    let state = tempfile::tempdir().unwrap();
    let service = Service::with_args(&format!(
        "state_dir={} unenrolled=allow",
        state.path().join("s").display()
    ));
    let outcome = service.authenticate("nobody", vec![]);
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL);
    assert!(outcome.prompts().is_empty());
}

#[test]
fn try_first_pass_counts_a_wrong_code_in_the_token_so_it_cannot_be_used_to_guess() {
    // Guessing through the token and hanging up at the prompt must still
    // run into the lockout.
    let fixture = Fixture::new();
    let service = first_pass_stack(&fixture, "try_first_pass max_failures=3");
    let wrong = wrong_code(&fixture);
    for _ in 0..3 {
        let outcome =
            service.authenticate(&fixture.user, vec![Some(wrong.as_bytes().to_vec()), None]);
        assert_ne!(outcome.code, PAM_SUCCESS);
    }
    let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
    assert_eq!(state.failures, 3);
    // Locked out now: even the right code in the token is not checked.
    let outcome = service.authenticate(&fixture.user, vec![Some(fixture.code(0).into_bytes())]);
    assert_eq!(outcome.code, PAM_MAXTRIES);
}

#[test]
fn under_allow_a_vanished_secret_of_a_user_who_used_codes_is_refused_not_skipped() {
    // Like a home that is an empty mount point at login, or a secret file
    // deleted from the user's shell: the module's own state remembers the
    // enrollment, so the code is not silently skipped.
    let fixture = Fixture::new();
    let allow = Service::with_stack(&format!(
        "auth required {} {} unenrolled=allow\nauth required pam_permit.so\n",
        module_path().display(),
        fixture.args()
    ));
    assert_eq!(
        allow
            .authenticate(&fixture.user, answer(&fixture.code(0)))
            .code,
        PAM_SUCCESS
    );
    std::fs::remove_file(fixture.secret_file()).unwrap();
    let outcome = allow.authenticate(&fixture.user, vec![]);
    assert_eq!(
        outcome.code, PAM_AUTHINFO_UNAVAIL,
        "logged in without a code"
    );
    assert!(outcome.prompts().is_empty());
    // Once an administrator disables the user (state removed), allow applies.
    std::fs::remove_file(fixture.state_file()).unwrap();
    let outcome = allow.authenticate(&fixture.user, vec![]);
    assert_eq!(outcome.code, PAM_SUCCESS);
    assert!(outcome.prompts().is_empty());
}

#[test]
fn try_first_pass_checks_only_tokens_it_would_count() {
    // Review finding: "913 571" (the right code, spaced) used to be checked
    // without being counted when wrong. Now a token is checked only if it
    // is shaped exactly like a code, and then it counts.
    let fixture = Fixture::new();
    let service = first_pass_stack(&fixture, "try_first_pass max_failures=1");
    let code = fixture.code(0);
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let outcome = service.authenticate(&fixture.user, vec![Some(spaced.into_bytes()), None]);
    assert_eq!(asked_after_token(&outcome), vec![PROMPT]);
    assert_eq!(outcome.code, PAM_CONV_ERR);
    let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap_or_default();
    assert_eq!(state.failures, 0, "an unchecked token counts nothing");
    // Exactly shaped and wrong: counted (max_failures=1 locks out at once).
    let wrong = fixture.wrong_code_at(common::now());
    let outcome = service.authenticate(&fixture.user, vec![Some(wrong.into_bytes()), None]);
    assert_eq!(outcome.code, PAM_MAXTRIES, "{:?}", outcome.shown);
    let state = pam_totp::otp::state::State::parse(&fixture.state_text()).unwrap();
    assert_eq!(state.failures, 1);
}

#[test]
fn without_credentials_enrolled_unenrolled_and_unknown_users_look_alike() {
    // Password + code with a wrong password (pam_deny stands for pam_unix
    // refusing it): the client sees the same prompts, messages and results
    // for an enrolled user, an unenrolled one and a name that does not exist.
    fn seen(fixture: &Fixture, user: &str) -> Vec<(i32, Vec<String>, Vec<String>)> {
        // The module's clock held still: a second passing between two
        // logins would change "Try again in 30 seconds" (a flake under load).
        let at = now();
        fixture.set_clock(at);
        let service = Service::with_stack(&format!(
            "auth required pam_deny.so\nauth required {} {}\n",
            module_path().display(),
            fixture.args()
        ));
        (0..5)
            .map(|_| {
                let outcome = service.authenticate(user, answer(&fixture.wrong_code_at(at)));
                (outcome.code, outcome.prompts(), outcome.errors())
            })
            .collect()
    }
    let enrolled = Fixture::new();
    let unenrolled = Fixture::new();
    std::fs::remove_file(unenrolled.secret_file()).unwrap();
    let unknown = Fixture::new();
    let for_enrolled = seen(&enrolled, &enrolled.user);
    assert_eq!(for_enrolled, seen(&unenrolled, &unenrolled.user));
    assert_eq!(for_enrolled, seen(&unknown, "pamtotp-no-such-user"));
    // ... and the lockout is still there for the enrolled user.
    assert_eq!(
        for_enrolled[2].2,
        vec!["Too many failed attempts. Try again in 30 seconds."]
    );
    assert!(for_enrolled[3].1.is_empty(), "asked while locked out");
}
