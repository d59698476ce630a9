//! Counter-based tokens (HOTP) end to end through the real libpam: enrolled
//! with `pam-totp enroll --hotp`, codes from `oathtool --hotp`, the
//! look-ahead window, replays, 50 concurrent logins with one code,
//! `pam-totp resync`, and imports from google-authenticator's `-c` files
//! and from a users file Debian's pam_oath itself rewrote after logins.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::pam_oath::{OathService, oathtool_hotp, oathtool_totp, random_hex};
use common::sshd::cli_path;
use common::*;

/// An administrator store (secrets and state in a temporary directory),
/// `hotp_window = 10` (the default), and the module configured alike.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_config("")
    }

    fn with_config(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        let setup = Setup { dir };
        std::fs::write(
            setup.config(),
            format!(
                "secret_path = \"{}/%u.toml\"\nstate_dir = \"{}\"\n{extra}",
                setup.secrets().display(),
                setup.state_dir().display()
            ),
        )
        .unwrap();
        setup
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    fn secrets(&self) -> PathBuf {
        self.dir.path().join("secrets")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.cli_env(args, &[])
    }

    fn cli_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        Command::new(cli_path())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn service(&self) -> Service {
        Service::with_args(&format!("config={}", self.config().display()))
    }

    /// Whether the module lets `user` in with `code`.
    fn login(&self, service: &Service, user: &str, code: &str) -> bool {
        service.authenticate(user, answer(code)).code == PAM_SUCCESS
    }

    /// `enroll --hotp` as root with a hardware token's seed.
    fn enroll_token(&self, user: &str, hex: &str, counter: u64) {
        let out = self.cli(&[
            "enroll",
            "--user",
            user,
            "--hotp",
            "--secret-hex",
            hex,
            "--counter",
            &counter.to_string(),
            "--no-confirm",
            "--force",
        ]);
        assert!(out.status.success(), "enroll --hotp: {}", text(&out.stderr));
    }

    fn state_files(&self) -> Vec<(PathBuf, String)> {
        let mut files: Vec<_> = std::fs::read_dir(self.state_dir())
            .map(|dir| {
                dir.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "state"))
                    .map(|p| {
                        let text = std::fs::read_to_string(&p).unwrap();
                        (p, text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn skip_unless_root() -> bool {
    common::skip_unless_root("needs root (the CLI's state and seed options are root's)")
}

#[test]
fn hardware_token_logs_in_with_counter_codes_within_the_window_once_each() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let hex = random_hex(20);
    setup.enroll_token(&user, &hex, 5);
    let secret = std::fs::read_to_string(setup.secrets().join(format!("{user}.toml"))).unwrap();
    assert!(secret.contains("type = \"hotp\"\n"), "{secret}");
    assert!(secret.contains("counter = 5\n"), "{secret}");
    let service = setup.service();
    let code = |n: u64| oathtool_hotp(&hex, n, 6);

    // Nothing accepted yet: counter values before the file's are refused.
    assert!(
        !setup.login(&service, &user, &code(4)),
        "counter 4 before 5 accepted"
    );
    assert!(
        setup.login(&service, &user, &code(5)),
        "the token's next code refused"
    );
    // Replay of the last accepted value.
    let replay = service.authenticate(&user, answer(&code(5)));
    assert_eq!(replay.code, PAM_AUTH_ERR);
    // last + hotp_window + 1 (16) is refused, last + hotp_window (15) works.
    assert!(
        !setup.login(&service, &user, &code(16)),
        "last + 11 accepted"
    );
    assert!(setup.login(&service, &user, &code(15)), "last + 10 refused");
    // Skipped values (6 to 14) never work again; last + 1 does.
    assert!(
        !setup.login(&service, &user, &code(14)),
        "a skipped value accepted"
    );
    assert!(setup.login(&service, &user, &code(16)), "last + 1 refused");

    let status = setup.cli(&["status", "--user", &user]);
    let said = text(&status.stdout);
    assert!(said.contains("HOTP (codes from a counter)"), "{said}");
    assert!(said.contains("last accepted 16, next 17"), "{said}");
    let json = setup.cli(&["status", "--user", &user, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["type"], "hotp");
    assert_eq!(json["counter"], 17);
    assert_eq!(json["last_counter"], 16);
}

#[test]
fn wrong_hotp_codes_lock_out_as_totp_codes_do() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let hex = random_hex(20);
    setup.enroll_token(&user, &hex, 0);
    let service = setup.service();
    let near: Vec<String> = (0..30).map(|n| oathtool_hotp(&hex, n, 6)).collect();
    let wrong = (0..)
        .map(|n| format!("{:06}", n * 7_919))
        .find(|c| !near.contains(c))
        .unwrap();
    // As for TOTP: two refusals, and the third wrong code starts the lockout.
    for expected in [PAM_AUTH_ERR, PAM_AUTH_ERR, PAM_MAXTRIES] {
        assert_eq!(service.authenticate(&user, answer(&wrong)).code, expected);
    }
    let locked = service.authenticate(&user, answer(&near[0]));
    assert_eq!(locked.code, PAM_MAXTRIES, "{:?}", locked.shown);
    assert!(
        locked
            .errors()
            .iter()
            .any(|e| e.contains("Too many failed attempts"))
    );
}

#[test]
fn enroll_hotp_for_an_app_shows_an_hotp_uri_and_seed_options_are_roots() {
    let setup = Setup::new();
    let user = current_user();
    let out = setup.cli(&[
        "enroll",
        "--hotp",
        "--counter",
        "7",
        "--no-confirm",
        "--json",
        "--force",
    ]);
    if is_root() {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let uri = json["uri"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://hotp/"), "{uri}");
        assert!(uri.ends_with("&counter=7"), "{uri}");
        assert!(!uri.contains("period="), "{uri}");
        // The code for counter 7 of that secret logs in.
        let secret = json["secret"].as_str().unwrap();
        let code = Command::new("oathtool")
            .args(["--hotp", "-b", "-c", "7", secret])
            .output()
            .unwrap();
        let code = text(&code.stdout).trim().to_string();
        assert!(setup.login(&setup.service(), &user, &code));
    }
    // Bad seeds are refused with a reason, and nothing is written.
    for (seed_args, expected) in [
        (vec!["--secret-hex", "xyz"], "not hexadecimal"),
        (vec!["--secret-hex", "00112233"], "only 32 bits"),
        (vec!["--secret", "not base32!"], "not base32"),
    ] {
        let mut args = vec![
            "enroll",
            "--user",
            &user,
            "--hotp",
            "--no-confirm",
            "--force",
        ];
        args.extend(seed_args);
        let out = setup.cli(&args);
        assert_eq!(out.status.code(), Some(1));
        let said = text(&out.stderr);
        if is_root() {
            assert!(said.contains(expected), "{said}");
        } else {
            assert!(said.contains("only root"), "{said}");
        }
    }
    // --counter without --hotp is a usage error.
    let out = setup.cli(&["enroll", "--counter", "3", "--no-confirm"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Run in a child process by the race below (`common::child`).
#[test]
#[ignore = "helper run in child processes"]
fn child_authenticate() {
    common::child::authenticate_if_asked();
}

#[test]
fn fifty_processes_with_one_hotp_code_yield_exactly_one_success() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let hex = random_hex(20);
    setup.enroll_token(&user, &hex, 0);
    let service = setup.service();
    let code = oathtool_hotp(&hex, 3, 6);
    let codes = common::child::race(&service, &user, &code, 50);
    let successes = codes.iter().filter(|&&c| c == PAM_SUCCESS).count();
    let refused = codes
        .iter()
        .filter(|&&c| c == PAM_AUTH_ERR || c == PAM_MAXTRIES)
        .count();
    eprintln!("50 concurrent processes, one HOTP code: {successes} success, {refused} refused");
    assert_eq!(successes, 1, "{codes:?}");
    assert_eq!(refused, 49, "{codes:?}");
    // The code's counter value is the last accepted one now.
    let json = setup.cli(&["status", "--user", &user, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["last_counter"], 3);
}

#[test]
fn resync_moves_a_token_pressed_a_hundred_times_and_bad_pairs_change_nothing() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let hex = random_hex(20);
    setup.enroll_token(&user, &hex, 0);
    let service = setup.service();
    let code = |n: u64| oathtool_hotp(&hex, n, 6);
    assert!(setup.login(&service, &user, &code(0)));
    // Pressed 100 times in a pocket: the token now shows 101, far past the window.
    assert!(
        !setup.login(&service, &user, &code(101)),
        "101 is outside the window"
    );
    let before = setup.state_files();
    // Positive control: the user's state file is there to compare.
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].1.contains("last_counter = 0"), "{before:?}");

    for (pair, why) in [
        ((101, 103), "not consecutive"),
        ((102, 101), "in the wrong order"),
        ((0, 1), "starting at a used value"),
        ((1001, 1002), "past the 1,000 values"),
    ] {
        let out = setup.cli(&["resync", "--user", &user, &code(pair.0), &code(pair.1)]);
        assert_eq!(out.status.code(), Some(1), "{why}: {}", text(&out.stdout));
        let said = text(&out.stderr);
        assert!(said.contains("nothing was changed"), "{why}: {said}");
        assert_eq!(setup.state_files(), before, "{why}: the state changed");
    }
    let out = setup.cli(&["resync", "--user", &user, "12345", "123456"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("6-digit code"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(setup.state_files(), before);

    let out = setup.cli(&["resync", "--user", &user, &code(101), &code(102)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("from last accepted 0 to 102"), "{said}");
    assert!(said.contains("cleared 1 failed attempt"), "{said}");
    // The next one logs in; both codes are used.
    assert!(
        setup.login(&service, &user, &code(103)),
        "the next code after resync refused"
    );
    assert!(
        !setup.login(&service, &user, &code(102)),
        "a resync code works again"
    );
    assert!(!setup.login(&service, &user, &code(101)));

    // A TOTP enrollment needs no resync, and nothing changes.
    let totp = Setup::new();
    let enroll = totp.cli(&[
        "enroll",
        "--user",
        &user,
        "--no-confirm",
        "--json",
        "--force",
    ]);
    assert!(enroll.status.success());
    let out = totp.cli(&["resync", "--user", &user, "123456", "654321"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("time-based"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn counter_based_google_authenticator_file_imports_and_its_next_code_logs_in() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let file = setup.dir.path().join("google_authenticator");
    let made = Command::new("google-authenticator")
        .args(["-c", "-f", "-C", "-q", "-u", "-w", "3", "-Q", "NONE", "-s"])
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .expect("google-authenticator is installed (libpam-google-authenticator)");
    assert!(made.status.success(), "{}", text(&made.stderr));
    let contents = std::fs::read_to_string(&file).unwrap();
    assert!(contents.contains("\" HOTP_COUNTER 1\n"), "{contents}");
    let secret = contents.lines().next().unwrap().to_string();
    let code = |n: u64| {
        let out = Command::new("oathtool")
            .args(["--hotp", "-b", "-c", &n.to_string(), &secret])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    };
    let out = setup.cli(&[
        "import",
        "--user",
        &user,
        "--from",
        file.to_str().unwrap(),
        "--force",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("counter value 1"), "{said}");
    let service = setup.service();
    // Counter 0 was google-authenticator's before HOTP_COUNTER 1: never again.
    assert!(
        !setup.login(&service, &user, &code(0)),
        "a value before HOTP_COUNTER accepted"
    );
    assert!(
        setup.login(&service, &user, &code(1)),
        "the next code refused"
    );
    assert!(!setup.login(&service, &user, &code(1)), "replay accepted");
    // Its scratch codes are recovery codes.
    let scratch = contents.lines().last().unwrap();
    assert_eq!(scratch.len(), 8);
    assert!(
        setup.login(&service, &user, scratch),
        "scratch code refused"
    );
    // Importing the same file again does not rewind the counter.
    let again = setup.cli(&[
        "import",
        "--user",
        &user,
        "--from",
        file.to_str().unwrap(),
        "--force",
    ]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        !setup.login(&service, &user, &code(1)),
        "re-import revived a used code"
    );
    assert!(setup.login(&service, &user, &code(2)));
}

#[test]
fn pam_oath_users_file_imports_and_what_pam_oath_accepted_stays_used() {
    if skip_unless_root() {
        return;
    }
    // Two existing accounts (the module looks users up); the store is ours.
    let (hotp_user, totp_user) = ("root", "daemon");
    let hotp_key = random_hex(20);
    let totp_key = random_hex(20);
    let mut oath = OathService::new(&format!(
        "# pam_oath tokens\n\
         HOTP {hotp_user} - {hotp_key}\n\
         HOTP/T30 {totp_user} - {totp_key}\n\
         HOTP nobody secretpw {hotp_key}\n\
         mOTP bin - {hotp_key}\n"
    ));
    // pam_oath writes local time; a zone far from UTC shows we read it so.
    oath.tz = Some("Asia/Kolkata".into());
    let hotp_code = |n: u64| oathtool_hotp(&hotp_key, n, 6);
    // pam_oath accepts the token's third code (counter 2)...
    assert!(
        oath.login(hotp_user, &hotp_code(2)),
        "pam_oath refused an HOTP code"
    );
    // ...and a TOTP code of the current step.
    let (totp_code, step) = loop {
        let before = now();
        let code = oathtool_totp(&totp_key, before, 30, 6);
        if now() / 30 == before / 30 {
            break (code, before / 30);
        }
    };
    assert!(
        oath.login(totp_user, &totp_code),
        "pam_oath refused a TOTP code"
    );
    let rewritten = oath.users_text();
    assert!(
        rewritten.contains(&format!("\t{totp_code}\t")),
        "{rewritten}"
    );

    let setup = Setup::new();
    let users_file = oath.users_file.to_str().unwrap();
    let out = setup.cli_env(
        &["import", "--from-oath", users_file],
        &[("TZ", "Asia/Kolkata")],
    );
    let (said, errors) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{errors}");
    assert!(said.contains("Imported 2 tokens"), "{said}");
    assert!(said.contains("2 lines skipped"), "{said}");
    assert!(
        errors.contains("skipped line 4 (nobody): it has a password"),
        "{errors}"
    );
    assert!(
        errors.contains("skipped line 5 (bin): its type \"mOTP\""),
        "{errors}"
    );

    let service = setup.service();
    // HOTP: the code pam_oath accepted is refused, the next one works.
    assert!(
        !setup.login(&service, hotp_user, &hotp_code(2)),
        "pam_oath's code works again"
    );
    assert!(
        !setup.login(&service, hotp_user, &hotp_code(1)),
        "an earlier code works"
    );
    assert!(
        setup.login(&service, hotp_user, &hotp_code(3)),
        "the next HOTP code refused"
    );
    // TOTP: the step pam_oath accepted is used, the next step works.
    let next_step = oathtool_totp(&totp_key, (step + 1) * 30, 30, 6);
    assert!(
        !setup.login(&service, totp_user, &totp_code),
        "pam_oath's TOTP code works again"
    );
    assert!(
        setup.login(&service, totp_user, &next_step),
        "the next step's code refused"
    );

    // --user imports one user only; importing the same file again keeps the state.
    let again = setup.cli_env(
        &["import", "--from-oath", users_file, "--user", hotp_user],
        &[("TZ", "Asia/Kolkata")],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("Imported 1 token"),
        "{}",
        text(&again.stdout)
    );
    assert!(
        !setup.login(&service, hotp_user, &hotp_code(3)),
        "re-import revived a code"
    );
    let missing = setup.cli(&["import", "--from-oath", users_file, "--user", "nosuchuser"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn enroll_hotp_confirms_with_the_tokens_next_code_which_then_is_used() {
    if skip_unless_root() {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let hex = random_hex(20);
    let code = |n: u64| oathtool_hotp(&hex, n, 6);
    let mut child = Command::new(cli_path())
        .arg("--config")
        .arg(setup.config())
        .args([
            "enroll",
            "--user",
            &user,
            "--hotp",
            "--secret-hex",
            &hex,
            "--counter",
            "2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A wrong code first (counter 1 is before the token's next), then the press.
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        format!("{}\n{}\n", code(1), code(3)).as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said} {}", text(&out.stderr));
    assert!(said.contains("Press the token"), "{said}");
    assert!(said.contains("not the token's next code"), "{said}");
    assert!(
        !said.contains("Secret:"),
        "the seed was shown again: {said}"
    );
    assert!(said.contains("Token:   counter-based (HOTP)"), "{said}");
    let service = setup.service();
    assert!(
        !setup.login(&service, &user, &code(3)),
        "the confirming code logged in"
    );
    assert!(
        setup.login(&service, &user, &code(4)),
        "the code after it was refused"
    );
}
