//! `pam-totp check` on a good setup and on one mistake at a time: each bad
//! setup must exit 1 with exactly one problem line saying what to fix.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::sshd::{cli_path, repository_stack};
use common::*;

const ROOT_NEEDED: &str = "needs root: ownership checks expect root-owned files";

const GOOD_SSHD: &str = "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n";

/// A configuration, state directory, PAM file and sshd_config that pass.
struct Setup {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn problems(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|line| line.starts_with("problem: "))
            .collect()
    }

    /// Exit 1 with exactly one problem, which mentions every one of `words`.
    fn assert_one_problem(&self, words: &[&str]) {
        assert_eq!(self.code, 1, "{}\n{}", self.stdout, self.stderr);
        let problems = self.problems();
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

impl Setup {
    fn new() -> Setup {
        let setup = Setup {
            dir: tempfile::tempdir().unwrap(),
        };
        set_mode(setup.dir.path(), 0o755);
        setup.config(&format!(
            "window = 1\nunenrolled = \"allow\"\nstate_dir = \"{}\"\n",
            setup.state().display()
        ));
        std::fs::create_dir(setup.state()).unwrap();
        set_mode(&setup.state(), 0o700);
        setup.pam(&format!(
            "# comment\nauth required {} state_dir={}\nauth required pam_permit.so\n@include common-account\n",
            module_path().display(),
            setup.state().display()
        ));
        setup.sshd(GOOD_SSHD);
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> PathBuf {
        self.path("state")
    }

    fn config(&self, text: &str) {
        std::fs::write(self.path("config.toml"), text).unwrap();
        set_mode(&self.path("config.toml"), 0o644);
    }

    fn pam(&self, text: &str) {
        std::fs::write(self.path("pam-sshd"), text).unwrap();
    }

    fn sshd(&self, text: &str) {
        std::fs::write(self.path("sshd_config"), text).unwrap();
    }

    fn check(&self) -> Run {
        let output = Command::new(cli_path())
            .arg("--config")
            .arg(self.path("config.toml"))
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
}

#[test]
fn good_setup_passes() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    let run = setup.check();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.problems().is_empty());
    assert!(run.stdout.contains("all is well"), "{}", run.stdout);
    assert!(run.stdout.contains("state directory"), "{}", run.stdout);
    assert!(run.stdout.contains("cannot be skipped"), "{}", run.stdout);
}

#[test]
fn every_repository_stack_passes_with_its_sshd_lines() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    for (stack, methods) in [
        ("sshd-key-and-code", "publickey,keyboard-interactive"),
        (
            "sshd-key-and-code-rollout",
            "publickey,keyboard-interactive",
        ),
        ("sshd-password-and-code", "keyboard-interactive"),
        ("sshd-password-code-one-prompt", "keyboard-interactive"),
    ] {
        let setup = Setup::new();
        setup.pam(&repository_stack(
            stack,
            &format!("state_dir={}", setup.state().display()),
        ));
        setup.sshd(&format!(
            "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods {methods}\n"
        ));
        let run = setup.check();
        assert_eq!(run.code, 0, "{stack}:\n{}\n{}", run.stdout, run.stderr);
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    setup.config("window = 1\nwindw = 2\n");
    let expected = format!(
        "{}:2: unknown key \"windw\"",
        setup.path("config.toml").display()
    );
    setup
        .check()
        .assert_one_problem(&[&expected, "refuses every login"]);
}

/// Issue 11 point 8: every bad key and value in one run, in line order.
#[test]
fn every_configuration_problem_is_reported_in_line_order() {
    if skip_unless_root("the check needs root") {
        return;
    }
    let setup = Setup::new();
    setup.config(&format!(
        "state_dir = \"{}\"\nwindw = 2\nmax_failures = 0\nunenrolled = \"maybe\"\nprompt = \"Code: \"\nexempt_networks = [\"300.0.0.1\"]\n",
        setup.state().display()
    ));
    let run = setup.check();
    assert_eq!(run.code, 1, "{}", run.stdout);
    let problems = run.problems();
    let config = setup.path("config.toml").display().to_string();
    let expected = [
        format!("{config}:2: unknown key \"windw\"; did you mean \"window\"?"),
        format!("{config}:3: bad value for \"max_failures\""),
        format!("{config}:4: bad value for \"unenrolled\""),
        format!("{config}:6: bad value for \"exempt_networks\""),
    ];
    assert_eq!(problems.len(), expected.len(), "{}", run.stdout);
    for (problem, start) in problems.iter().zip(&expected) {
        assert!(
            problem.starts_with(&format!("problem: {start}")),
            "{problem} is not {start}"
        );
    }
    assert!(run.stderr.contains("4 problems found"), "{}", run.stderr);
}

#[test]
fn bad_module_argument_is_named_with_its_pam_line() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    setup.pam(&format!(
        "auth required pam_permit.so\nauth required {} state_dir={} window=eleven\n",
        module_path().display(),
        setup.state().display()
    ));
    setup
        .check()
        .assert_one_problem(&["pam-sshd:2", "\"window\"", "refuses every login"]);
}

#[test]
fn state_directory_mode_and_owner() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    set_mode(&setup.state(), 0o755);
    setup
        .check()
        .assert_one_problem(&["state directory", "mode 0755", "chmod 700"]);

    set_mode(&setup.state(), 0o700);
    std::os::unix::fs::chown(setup.state(), Some(65534), None).unwrap();
    setup
        .check()
        .assert_one_problem(&["state directory", "uid 65534", "chown root"]);

    std::fs::remove_dir(setup.state()).unwrap();
    setup
        .check()
        .assert_one_problem(&["does not exist", "install -d -m 0700"]);
}

#[test]
fn config_writable_by_others() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    set_mode(&setup.path("config.toml"), 0o666);
    setup
        .check()
        .assert_one_problem(&["config.toml", "mode 0666", "chmod 644"]);
}

#[test]
fn sufficient_or_skippable_pam_totp() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let module = module_path().display().to_string();
    for (control, words) in [
        (
            "sufficient",
            vec!["pam-sshd:1", "\"sufficient\"", "use \"required\""],
        ),
        ("optional", vec!["pam-sshd:1", "\"optional\""]),
        (
            "[success=ok default=ignore]",
            vec!["pam-sshd:1", "skipped", "auth_err"],
        ),
        (
            "[success=done new_authtok_reqd=done default=die]",
            vec!["pam-sshd:1", "success=done"],
        ),
        // Debian's pam_selinux pattern: a missing pam_totp.so is ignored
        // and pam_permit then logs everyone in (issue 11 point 4).
        (
            "[success=ok ignore=ignore module_unknown=ignore default=die]",
            vec!["pam-sshd:1", "skipped", "module_unknown"],
        ),
        (
            "[success=ok ignore=ignore open_err=ok symbol_err=ignore default=bad]",
            vec!["pam-sshd:1", "open_err, symbol_err"],
        ),
    ] {
        let setup = Setup::new();
        setup.pam(&format!(
            "auth {control} {module} state_dir={}\nauth required pam_permit.so\n",
            setup.state().display()
        ));
        setup.check().assert_one_problem(&words);
    }
    // "requisite" and an explicit die/bad control are fine.
    for control in ["requisite", "[success=ok ignore=ignore default=die]"] {
        let setup = Setup::new();
        setup.pam(&format!(
            "auth {control} {module} state_dir={}\nauth required pam_permit.so\n",
            setup.state().display()
        ));
        assert_eq!(setup.check().code, 0, "{control}");
    }
}

#[test]
fn modules_before_pam_totp_that_skip_it() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let module = module_path().display().to_string();
    for (before, words) in [
        (
            "auth sufficient pam_unix.so",
            vec!["pam-sshd:1", "pam_unix.so", "no code is asked"],
        ),
        (
            "auth [success=2 default=ignore] pam_unix.so\nauth requisite pam_deny.so",
            vec!["pam-sshd:1", "jumps over pam_totp.so", "success=2"],
        ),
    ] {
        let setup = Setup::new();
        setup.pam(&format!(
            "{before}\nauth required {module} state_dir={}\nauth required pam_permit.so\n",
            setup.state().display()
        ));
        setup.check().assert_one_problem(&words);
    }
}

#[test]
fn dash_auth_missing_module_and_ignore_alone() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    let module = module_path().display().to_string();
    setup.pam(&format!(
        "-auth required {module} state_dir={}\nauth required pam_permit.so\n",
        setup.state().display()
    ));
    setup
        .check()
        .assert_one_problem(&["-auth", "remove the \"-\""]);

    setup.pam(&format!(
        "auth required /nonexistent/pam_totp.so state_dir={}\nauth required pam_permit.so\n",
        setup.state().display()
    ));
    setup.check().assert_one_problem(&["not found"]);

    // unenrolled = "allow" (in the configuration) with nothing after pam_totp.
    setup.pam(&format!(
        "auth required {module} state_dir={}\n",
        setup.state().display()
    ));
    setup
        .check()
        .assert_one_problem(&["only auth module", "pam_permit.so"]);

    setup.pam("auth required pam_unix.so\n");
    setup
        .check()
        .assert_one_problem(&["pam_totp.so is not in the auth stack"]);
}

#[test]
fn sshd_settings() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    setup.sshd(&GOOD_SSHD.replace("UsePAM yes", "UsePAM no"));
    setup.check().assert_one_problem(&["UsePAM", "UsePAM yes"]);

    // An sshd_config without the line: sshd's built-in default is no.
    setup.sshd(&GOOD_SSHD.replace("UsePAM yes\n", ""));
    setup.check().assert_one_problem(&["UsePAM"]);

    setup.sshd(&GOOD_SSHD.replace(
        "KbdInteractiveAuthentication yes",
        "KbdInteractiveAuthentication no",
    ));
    setup
        .check()
        .assert_one_problem(&["KbdInteractiveAuthentication", "yes"]);

    // Saved `sshd -T` output (lower case, old keyword) works as well.
    setup.sshd("usepam yes\nchallengeresponseauthentication no\nauthenticationmethods keyboard-interactive\n");
    setup
        .check()
        .assert_one_problem(&["KbdInteractiveAuthentication"]);

    setup.sshd(&GOOD_SSHD.replace(
        "AuthenticationMethods publickey,keyboard-interactive",
        "AuthenticationMethods any",
    ));
    setup
        .check()
        .assert_one_problem(&["publickey alone logs in without a code"]);

    setup.sshd(&GOOD_SSHD.replace(
        "publickey,keyboard-interactive",
        "publickey,keyboard-interactive publickey",
    ));
    setup.check().assert_one_problem(&["allows \"publickey\""]);
}

#[test]
fn administrator_secret_store_must_be_roots_alone() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    let store = setup.path("secrets");
    std::fs::create_dir(&store).unwrap();
    set_mode(&store, 0o755);
    setup.config(&format!(
        "state_dir = \"{}\"\nsecret_path = \"{}/%u.toml\"\n",
        setup.state().display(),
        store.display()
    ));
    let run = setup.check();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("secret store"), "{}", run.stdout);
    set_mode(&store, 0o1777);
    setup
        .check()
        .assert_one_problem(&["secret store", "mode 1777", "chmod go-w"]);
}

#[test]
fn debian_common_auth_before_pam_totp_is_fine_but_nullok_sufficient_is_not() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    let setup = Setup::new();
    // Debian 12's common-auth, next to the PAM file (found there first).
    std::fs::write(
        setup.path("common-auth"),
        "auth\t[success=1 default=ignore]\tpam_unix.so nullok\nauth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n",
    )
    .unwrap();
    let module = module_path().display().to_string();
    setup.pam(&format!("@include common-auth\nauth required {module}\n"));
    let run = setup.check();
    assert_eq!(run.code, 0, "{}", run.stdout);

    // A module before pam_totp that ends the stack, from an @include.
    std::fs::write(
        setup.path("common-auth"),
        "auth sufficient pam_unix.so nullok\nauth requisite pam_deny.so\n",
    )
    .unwrap();
    setup
        .check()
        .assert_one_problem(&["common-auth:1", "pam_unix.so", "\"sufficient\""]);
    // Through "auth substack" it ends only the substack: pam_totp still runs.
    setup.pam(&format!(
        "auth substack common-auth\nauth required {module}\n"
    ));
    let run = setup.check();
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn without_sshd_config_the_output_of_sshd_t_is_checked() {
    if skip_unless_root(ROOT_NEEDED) {
        return;
    }
    if !std::path::Path::new("/usr/sbin/sshd").exists() {
        return skip("sshd is not installed (apt-get install openssh-server)");
    }
    let setup = Setup::new();
    let output = Command::new(cli_path())
        .arg("--config")
        .arg(setup.path("config.toml"))
        .arg("check")
        .arg("--pam-file")
        .arg(setup.path("pam-sshd"))
        .output()
        .unwrap();
    let from_sshd_t = Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    // Whatever this machine's settings are, the check must judge exactly
    // what `sshd -T` prints: the same findings and exit status as when
    // that output is given as the sshd_config file.
    let effective = Command::new("/usr/sbin/sshd").arg("-T").output().unwrap();
    assert!(
        effective.status.success(),
        "sshd -T failed: {}",
        String::from_utf8_lossy(&effective.stderr)
    );
    setup.sshd(&String::from_utf8_lossy(&effective.stdout));
    let from_file = setup.check();
    let file_name = setup.path("sshd_config").display().to_string();
    let sshd_lines = |run: &Run, source: &str| -> Vec<String> {
        run.stdout
            .lines()
            .filter(|line| line.contains(source))
            .map(|line| line.replace(source, "SSHD"))
            .collect()
    };
    let judged = sshd_lines(&from_sshd_t, "sshd -T");
    assert!(
        !judged.is_empty(),
        "no finding names sshd -T:\n{}",
        from_sshd_t.stdout
    );
    assert_eq!(
        judged,
        sshd_lines(&from_file, &file_name),
        "{}",
        from_file.stdout
    );
    assert_eq!(
        from_sshd_t.code, from_file.code,
        "{}\n{}",
        from_sshd_t.stdout, from_file.stdout
    );
    assert_eq!(from_sshd_t.problems().len(), from_file.problems().len());
}

/// Issue 11 point 9: with nothing at /dev/log every log line is lost;
/// check says so (a warning: the exit status stays 0).
#[test]
fn nothing_listening_on_dev_log_is_said() {
    if skip_unless_root("the check needs root") {
        return;
    }
    if !syslog::can_capture() {
        common::skip("catching syslog needs mount namespaces");
        return;
    }
    let setup = Setup::new();
    let lost = syslog::without_dev_log(|| setup.check());
    assert_eq!(lost.code, 0, "{}", lost.stdout);
    assert!(
        lost.stdout
            .contains("warning: nothing at /dev/log, so every log line of the module"),
        "{}",
        lost.stdout
    );
    assert!(
        lost.stdout.contains("all is well (1 warning above)"),
        "{}",
        lost.stdout
    );
    let (heard, _) = syslog::capture(|| setup.check());
    assert!(
        heard
            .stdout
            .contains("ok: /dev/log receives the module's log lines"),
        "{}",
        heard.stdout
    );
    assert!(!heard.stdout.contains("warning:"), "{}", heard.stdout);
}

/// Issue 13's check point: `unenrolled = "enroll"` with no first factor
/// before the module lets a stranger enroll for a user without a secret.
#[test]
fn enroll_at_login_without_a_first_factor_is_warned_about() {
    if skip_unless_root("the check needs root") {
        return;
    }
    let module = module_path().display().to_string();
    for (stack, methods, warned) in [
        ("", "keyboard-interactive", true),
        ("", "publickey,keyboard-interactive", false),
        // Issue 18 point 1: "required" does not stop the stack.
        ("auth required pam_unix.so\n", "keyboard-interactive", true),
        (
            "auth requisite pam_unix.so\n",
            "keyboard-interactive",
            false,
        ),
        ("auth optional pam_unix.so\n", "keyboard-interactive", true),
    ] {
        let setup = Setup::new();
        setup.config(&format!(
            "unenrolled = \"enroll\"\nstate_dir = \"{}\"\n",
            setup.state().display()
        ));
        setup.pam(&format!(
            "{stack}auth required {module}\nauth required pam_permit.so\n"
        ));
        setup.sshd(&format!(
            "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods {methods}\n"
        ));
        let run = setup.check();
        let warning = run
            .stdout
            .lines()
            .any(|l| l.starts_with("warning: unenrolled = \"enroll\" but a login can reach"));
        assert_eq!(warning, warned, "{stack} / {methods}:\n{}", run.stdout);
    }
}

/// Issue 18 point 1: check warns on the old two-prompt stack (pam_unix
/// "required", then pam_totp) and is silent on every shipped stack, with
/// `unenrolled = "enroll"` in the configuration; a forward_pass line is
/// warned about (it never enrolls).
#[test]
fn enroll_is_warned_about_on_the_old_password_stack_only() {
    if skip_unless_root("the check needs root") {
        return;
    }
    let module = module_path().display().to_string();
    let old = format!("auth required pam_unix.so\nauth required {module}\n");
    let keyboard = "keyboard-interactive";
    let key = "publickey,keyboard-interactive";
    // None: the old stack; else a shipped one, given this setup's
    // configuration (config=), so the line reads unenrolled = "enroll".
    let stacks = [
        (None, keyboard, Some("but a login can reach")),
        (Some("sshd-password-and-code"), keyboard, None),
        (Some("sshd-key-and-code"), key, None),
        (
            Some("sshd-password-code-one-prompt"),
            keyboard,
            Some("on a forward_pass line"),
        ),
    ];
    for (shipped, methods, warning) in stacks {
        let setup = Setup::new();
        setup.config(&format!(
            "unenrolled = \"enroll\"\nstate_dir = \"{}\"\n",
            setup.state().display()
        ));
        let stack = match shipped {
            None => old.clone(),
            Some(name) => repository_stack(
                name,
                &format!("config={}", setup.path("config.toml").display()),
            ),
        };
        setup.pam(&stack);
        setup.sshd(&format!(
            "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods {methods}\n"
        ));
        let run = setup.check();
        let warnings: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("warning: unenrolled = \"enroll\""))
            .collect();
        match warning {
            Some(text) => assert!(
                warnings.len() == 1 && warnings[0].contains(text),
                "{stack}:\n{}",
                run.stdout
            ),
            None => assert!(warnings.is_empty(), "{stack}:\n{}", run.stdout),
        }
        assert!(run.problems().is_empty(), "{stack}:\n{}", run.stdout);
    }
}

/// Issue 11 point 6: under "deny" with no one enrolled, every login is
/// refused: check warns, and stops warning once someone is enrolled.
#[test]
fn deny_with_no_one_enrolled_is_warned_about() {
    if skip_unless_root("the check needs root") {
        return;
    }
    let setup = Setup::new();
    let store = setup.path("secrets");
    std::fs::create_dir(&store).unwrap();
    set_mode(&store, 0o755);
    setup.config(&format!(
        "unenrolled = \"deny\"\nstate_dir = \"{}\"\nsecret_path = \"{}/%u.toml\"\n",
        setup.state().display(),
        store.display()
    ));
    let run = setup.check();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("warning: unenrolled = \"deny\" and the store knows of no enrolled user"),
        "{}",
        run.stdout
    );
    let enrolled = Command::new(cli_path())
        .arg("--config")
        .arg(setup.path("config.toml"))
        .args([
            "enroll",
            "--user",
            &current_user(),
            "--no-confirm",
            "--qr",
            "none",
        ])
        .output()
        .unwrap();
    assert!(enrolled.status.success());
    let run = setup.check();
    assert!(!run.stdout.contains("no enrolled user"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("ok: 1 enrolled user known to the store"),
        "{}",
        run.stdout
    );
}
