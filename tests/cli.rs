//! The `pam-totp` command as users and administrators run it: the QR code
//! it draws, interactive enrollment through a pseudo-terminal, recovery
//! codes and imported google-authenticator files logging in through the
//! real module and libpam, and who may act on whom.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::sshd::*;
use common::*;

/// A configuration with the secrets and the state in a temporary directory.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup::with("")
    }

    /// Replace `user`'s state file (made if missing, in a state_dir made
    /// 0700 if missing) with one that does not parse.
    fn damage_state(&self, user: &str) {
        let uid = pam_totp::system::account::lookup_user(user).unwrap().uid;
        std::fs::create_dir_all(self.state_dir()).unwrap();
        set_mode(&self.state_dir(), 0o700);
        let state_file = self
            .state_dir()
            .join(pam_totp::store::files::state::state_file_name(
                uid,
                Some(user),
            ));
        std::fs::write(&state_file, "garbage").unwrap();
        set_mode(&state_file, 0o600);
    }

    /// The same with `extra` lines in the configuration.
    fn with(extra: &str) -> Setup {
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

    fn secret_file(&self, user: &str) -> PathBuf {
        self.secrets().join(format!("{user}.toml"))
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(cli_path())
            .arg("--config")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The module with the same secrets and state.
    fn service(&self) -> Service {
        Service::with_args(&format!(
            "secret_path={}/%u.toml state_dir={}",
            self.secrets().display(),
            self.state_dir().display()
        ))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json_of(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Strip `ESC [ ... m` colour sequences.
fn strip_colours(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Read the half-block QR code back into modules (true = dark).
fn modules_from_half_blocks(lines: &[&str]) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in lines {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in strip_colours(line).chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected {other:?} in the QR code"),
            };
            top.push(t);
            bottom.push(b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// Decode a module matrix the way a camera would see it (scaled up).
fn decode_qr(rows: &[Vec<bool>]) -> String {
    let scale = 6;
    let (w, h) = (rows[0].len() * scale, rows.len() * scale);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if rows[y / scale][x / scale] { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code expected");
    grids[0].decode().unwrap().1
}

fn query_parameters(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn uri_follows_key_uri_format_and_round_trips_through_the_drawn_qr_code() {
    let setup = Setup::new();
    let user = current_user();
    let output = setup.cli(&[
        "enroll",
        "--no-confirm",
        "--issuer",
        "Example Co",
        "--label",
        "alice@example.org",
        "--algorithm",
        "SHA256",
        "--digits",
        "8",
        "--period",
        "60",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);

    // The URI, as printed.
    let uri = stdout
        .lines()
        .find_map(|line| line.strip_prefix("URI:"))
        .unwrap()
        .trim()
        .to_string();
    // Key Uri Format: otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...
    let rest = uri.strip_prefix("otpauth://totp/").unwrap();
    let (label, query) = rest.split_once('?').unwrap();
    assert_eq!(label, "Example%20Co:alice%40example.org");
    let parameters = query_parameters(query);
    let get = |key: &str| {
        parameters
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{key} missing from {uri}"))
    };
    assert_eq!(get("issuer"), "Example%20Co");
    assert_eq!(get("algorithm"), "SHA256");
    assert_eq!(get("digits"), "8");
    assert_eq!(get("period"), "60");
    let secret = get("secret");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "secret is not unpadded base32: {secret}"
    );
    assert!(secret.len() >= 32, "fewer than 160 bits: {secret}");

    // The secret, in groups of four, is the URI's and the saved file's.
    let grouped = stdout
        .lines()
        .find_map(|line| line.strip_prefix("Secret:"))
        .unwrap()
        .trim();
    assert!(
        grouped.split(' ').all(|group| group.len() <= 4),
        "{grouped}"
    );
    assert_eq!(grouped.replace(' ', ""), secret);
    let saved =
        pam_totp::otp::secret::SecretFile::parse(&std::fs::read(setup.secret_file(&user)).unwrap())
            .unwrap();
    assert_eq!(
        pam_totp::otp::secret::encode_base32(&saved.secret).as_str(),
        secret
    );
    assert_eq!((saved.digits, saved.period), (8, 60));

    // The QR code: black on white drawn explicitly on every line (so dark
    // and light terminals look alike), decoding to the same URI.
    let qr_lines: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("\x1b[30;47"))
        .collect();
    assert!(qr_lines.len() > 10, "no QR code in:\n{stdout}");
    for line in &qr_lines {
        assert!(line.ends_with("\x1b[0m"), "{line:?}");
    }
    let modules = modules_from_half_blocks(&qr_lines);
    // A light quiet zone around the code: four modules at the sides, at
    // least two above and below (narrowed to fit an 80x24 terminal).
    for row in modules.iter().take(2).chain(modules.iter().rev().take(2)) {
        assert!(row.iter().all(|dark| !dark));
    }
    for row in &modules {
        assert!(row.iter().take(4).all(|dark| !dark));
        assert!(row.iter().rev().take(4).all(|dark| !dark));
    }
    assert_eq!(decode_qr(&modules), uri);

    // --qr none draws nothing; --json prints one object and nothing else.
    let none = setup.cli(&["enroll", "--no-confirm", "--force", "--qr", "none"]);
    assert!(none.status.success());
    assert!(!text(&none.stdout).contains('\x1b'));
    assert!(text(&none.stdout).contains("URI:"));
    let json = json_of(&setup.cli(&["enroll", "--no-confirm", "--force", "--json"]));
    assert_eq!(json["user"], user.as_str());
    assert!(json["uri"].as_str().unwrap().starts_with("otpauth://totp/"));
}

#[test]
fn enroll_refuses_to_replace_an_enrollment_without_force() {
    let setup = Setup::new();
    let first = json_of(&setup.cli(&["enroll", "--no-confirm", "--json"]));
    let again = setup.cli(&["enroll", "--no-confirm", "--json"]);
    assert_eq!(again.status.code(), Some(1));
    let stderr = text(&again.stderr);
    assert!(stderr.contains("already enrolled") && stderr.contains("--force"));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(again.stdout.is_empty());
    let saved = std::fs::read_to_string(setup.secret_file(&current_user())).unwrap();
    assert!(saved.contains(first["secret"].as_str().unwrap()));
    // Usage errors are clap's: exit status 2.
    assert_eq!(
        setup.cli(&["enroll", "--digits", "9"]).status.code(),
        Some(2)
    );
}

/// `pam-totp` in a pseudo-terminal (python3's pty module relays our pipe).
struct Terminal {
    child: std::process::Child,
    output: Arc<Mutex<Vec<u8>>>,
}

const PTY_RELAY: &str =
    "import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))\n";

impl Terminal {
    fn spawn(program: &Path, args: &[&str]) -> Terminal {
        let mut child = Command::new("python3")
            .args(["-c", PTY_RELAY])
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is installed");
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        Terminal { child, output }
    }

    fn screen(&self) -> String {
        text(&self.output.lock().unwrap())
    }

    /// Wait until `needle` has appeared `times` times.
    fn wait_for(&self, needle: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {needle:?} x{times}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn exit_code(mut self) -> Option<i32> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "pam-totp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const PROMPT: &str = "code the app shows now: ";

fn secret_on_screen(screen: &str) -> String {
    screen
        .lines()
        .find_map(|line| line.strip_prefix("Secret:"))
        .unwrap()
        .trim()
        .replace(' ', "")
}

/// A six-digit code valid for no step near now.
fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-3..=3).map(|o| oathtool_code(secret, o)).collect();
    (0..)
        .map(|n| format!("{:06}", (123_457 + n * 7919) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

#[test]
fn interactive_enroll_writes_nothing_after_three_wrong_codes() {
    let setup = Setup::new();
    let config = setup.config();
    let mut terminal = Terminal::spawn(
        &cli_path(),
        &["--config", config.to_str().unwrap(), "enroll"],
    );
    let screen = terminal.wait_for(PROMPT, 1);
    let secret = secret_on_screen(&screen);
    let wrong = wrong_code(&secret);
    for attempt in 1..=3 {
        terminal.wait_for(PROMPT, attempt);
        terminal.type_line(&wrong);
    }
    terminal.wait_for("nothing was saved", 1);
    let screen = terminal.screen();
    assert_eq!(terminal.exit_code(), Some(1), "{screen}");
    assert!(screen.contains("2 tries left"), "{screen}");
    assert!(screen.contains("1 try left"), "{screen}");
    assert!(
        !setup.secret_file(&current_user()).exists(),
        "a secret was written after wrong codes"
    );
    assert!(!screen.contains("Recovery codes"), "{screen}");
}

#[test]
fn interactive_enroll_saves_after_the_right_code_with_mode_0600() {
    let setup = Setup::new();
    let config = setup.config();
    let mut terminal = Terminal::spawn(
        &cli_path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "enroll",
            "--recovery-codes",
            "4",
        ],
    );
    let screen = terminal.wait_for(PROMPT, 1);
    // The QR code is drawn on the terminal by default.
    assert!(screen.contains('▀') && screen.contains('▄'), "{screen}");
    let secret = secret_on_screen(&screen);
    terminal.type_line(&wrong_code(&secret));
    terminal.wait_for("not the current code", 1);
    terminal.wait_for(PROMPT, 2);
    let file = setup.secret_file(&current_user());
    assert!(!file.exists(), "written before a right code was typed");

    terminal.type_line(&oathtool_code(&secret, 0));
    terminal.wait_for("Keep them somewhere safe", 1);
    let screen = terminal.screen();
    assert_eq!(terminal.exit_code(), Some(0), "{screen}");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    let saved = pam_totp::otp::secret::SecretFile::parse(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        pam_totp::otp::secret::encode_base32(&saved.secret).as_str(),
        secret
    );
    assert_eq!(saved.recovery.len(), 4);
    // The four codes are shown once, after saving, as xxxx-xxxx.
    let after = screen.split("Recovery codes").nth(1).unwrap();
    let codes: Vec<&str> = after
        .lines()
        .map(str::trim)
        .filter(|l| l.len() == 9 && l.as_bytes()[4] == b'-')
        .collect();
    assert_eq!(codes.len(), 4, "{screen}");
    for code in codes {
        assert!(!std::fs::read_to_string(&file).unwrap().contains(code));
    }
}

#[test]
fn the_code_that_confirmed_enroll_cannot_log_in_again() {
    if skip_unless_root("only root's enroll reaches the module's state") {
        return;
    }
    let setup = Setup::new();
    let config = setup.config();
    let mut terminal = Terminal::spawn(
        &cli_path(),
        &["--config", config.to_str().unwrap(), "enroll"],
    );
    let secret = secret_on_screen(&terminal.wait_for(PROMPT, 1));
    let code = oathtool_code(&secret, 0);
    terminal.type_line(&code);
    terminal.wait_for("Keep them somewhere safe", 1);
    let screen = terminal.screen();
    assert_eq!(terminal.exit_code(), Some(0), "{screen}");

    let user = current_user();
    let replay = setup.service().authenticate(&user, answer(&code));
    assert_eq!(replay.code, PAM_AUTH_ERR, "the confirming code logged in");
    let next = setup
        .service()
        .authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(next.code, PAM_SUCCESS);
}

#[test]
fn recovery_code_logs_in_once_and_regenerated_codes_replace_the_old() {
    let setup = Setup::new();
    let user = current_user();
    let enrolled =
        json_of(&setup.cli(&["enroll", "--no-confirm", "--json", "--recovery-codes", "3"]));
    let codes: Vec<String> = enrolled["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 3);
    let service = setup.service();

    let first = service.authenticate(&user, answer(&codes[0]));
    assert_eq!(first.code, PAM_SUCCESS);
    assert!(
        first
            .shown
            .iter()
            .any(|(_, text)| text.contains("Recovery code accepted; 2 left")),
        "{:?}",
        first.shown
    );
    assert_eq!(
        service.authenticate(&user, answer(&codes[0])).code,
        PAM_AUTH_ERR,
        "a recovery code worked twice"
    );

    let replaced = json_of(&setup.cli(&["recovery-codes", "--json", "--count", "4"]));
    let new_codes: Vec<String> = replaced["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_codes.len(), 4);
    assert_eq!(
        service.authenticate(&user, answer(&codes[1])).code,
        PAM_AUTH_ERR,
        "an old, unused recovery code still works after regeneration"
    );
    let new = service.authenticate(&user, answer(&new_codes[0]));
    assert_eq!(new.code, PAM_SUCCESS);
    assert!(
        new.shown.iter().any(|(_, text)| text.contains("3 left")),
        "{:?}",
        new.shown
    );

    let status = json_of(&setup.cli(&["status", "--json"]));
    assert_eq!(status["enrolled"], true);
    assert_eq!(status["recovery_codes"], 4);
    if is_root() {
        assert_eq!(status["recovery_codes_left"], 3);
        assert!(status["last_success"].as_u64().unwrap() >= now() - 60);
        let text_status = text(&setup.cli(&["status"]).stdout);
        assert!(
            text_status.contains("Recovery codes:  3 of 4 left"),
            "{text_status}"
        );
    } else {
        skip("the codes left are in root's state: that part needs root");
    }
}

#[test]
fn status_unlock_and_disable_as_root() {
    if skip_unless_root("needs root: unlock is for root") {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let secret = json_of(&setup.cli(&["enroll", "--no-confirm", "--json"]))["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let service = setup.service();
    let wrong = wrong_code(&secret);
    for attempt in 1..=3 {
        // The third wrong code starts the lockout and says so.
        let expected = if attempt == 3 {
            PAM_MAXTRIES
        } else {
            PAM_AUTH_ERR
        };
        assert_eq!(service.authenticate(&user, answer(&wrong)).code, expected);
    }
    let locked = service.authenticate(&user, answer(&oathtool_code(&secret, 0)));
    assert_eq!(locked.code, PAM_MAXTRIES);
    let status = json_of(&setup.cli(&["status", "--json"]));
    assert_eq!(status["failures"], 3);
    assert!(status["lockout_remaining"].as_u64().unwrap() > 0);
    assert!(text(&setup.cli(&["status"]).stdout).contains("locked for"));

    let unlock = setup.cli(&["unlock", "--user", &user]);
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    assert!(text(&unlock.stdout).contains("cleared 3 failed attempts"));
    assert_eq!(
        service
            .authenticate(&user, answer(&oathtool_code(&secret, 0)))
            .code,
        PAM_SUCCESS
    );

    // disable: secret file and state both gone; the module then treats the
    // user as not enrolled.
    let disable = setup.cli(&["disable", "--user", &user]);
    assert!(disable.status.success(), "{}", text(&disable.stderr));
    assert!(!setup.secret_file(&user).exists());
    let state_files: Vec<_> = std::fs::read_dir(setup.state_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".state"))
        .collect();
    assert!(state_files.is_empty(), "{state_files:?}");
    assert_eq!(
        json_of(&setup.cli(&["status", "--json"]))["enrolled"],
        false
    );
    let again = setup.cli(&["disable"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("not enrolled"));
}

#[test]
fn unlock_replaces_a_corrupt_state_without_reviving_recovery_codes() {
    if skip_unless_root("needs root: unlock is for root") {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let enrolled =
        json_of(&setup.cli(&["enroll", "--no-confirm", "--json", "--recovery-codes", "2"]));
    let code = enrolled["recovery_codes"][0].as_str().unwrap().to_string();
    let service = setup.service();
    assert_eq!(service.authenticate(&user, answer(&code)).code, PAM_SUCCESS);
    setup.damage_state(&user);
    assert_eq!(
        service.authenticate(&user, answer(&code)).code,
        PAM_AUTHINFO_UNAVAIL
    );
    let unlock = setup.cli(&["unlock", "--user", &user]);
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    assert!(text(&unlock.stdout).contains("recovery-codes"));
    // The used code stays used; so does the one never used (unknown now).
    assert_eq!(
        service.authenticate(&user, answer(&code)).code,
        PAM_AUTH_ERR
    );
    let other = enrolled["recovery_codes"][1].as_str().unwrap();
    assert_eq!(
        service.authenticate(&user, answer(other)).code,
        PAM_AUTH_ERR
    );
    let status = json_of(&setup.cli(&["status", "--json"]));
    assert_eq!(status["recovery_codes_left"], 0);
}

/// With `recovery_codes = 0` (none are made) `enroll`, `status`,
/// `disable` and `unlock` of a damaged state print not a word of recovery
/// codes, and `enroll` says what a lost phone means instead; with the
/// default, each of them mentions them (the positive control).
#[test]
fn recovery_codes_0_leaves_them_out_of_what_the_commands_print() {
    if skip_unless_root("needs root: unlock and the module's state") {
        return;
    }
    let user = current_user();
    for (extra, made) in [("", true), ("recovery_codes = 0\n", false)] {
        let setup = Setup::with(extra);
        let said = |output: &Output| {
            assert!(output.status.success(), "{}", text(&output.stderr));
            format!("{}{}", text(&output.stdout), text(&output.stderr))
        };
        let enroll = said(&setup.cli(&["enroll", "--no-confirm", "--qr", "none"]));
        assert!(
            enroll.contains("Saved: two-factor authentication is on"),
            "{enroll}"
        );
        assert_eq!(
            enroll.contains(pam_totp::enroll::provisioning::LOST_PHONE),
            !made,
            "{extra:?}: {enroll}"
        );
        let status = said(&setup.cli(&["status"]));
        assert!(status.contains("Enrolled:        yes"), "{status}");
        setup.damage_state(&user);
        let unlock = said(&setup.cli(&["unlock", "--user", &user]));
        assert!(unlock.contains("Replaced the unreadable state"), "{unlock}");
        let disable = said(&setup.cli(&["disable", "--user", &user]));
        assert!(
            disable.contains("Disabled two-factor authentication"),
            "{disable}"
        );
        for (command, output) in [
            ("enroll", &enroll),
            ("status", &status),
            ("unlock", &unlock),
            ("disable", &disable),
        ] {
            assert_eq!(
                output.to_ascii_lowercase().contains("recovery"),
                made,
                "{extra:?}: {command}: {output}"
            );
        }
    }
}

/// With `recovery_codes = 0` a user can still hold codes (made with
/// `--recovery-codes N`, imported): `unlock` of a damaged state marks them
/// used, and must say so, or the administrator does not know that they
/// stopped working.
#[test]
fn recovery_codes_0_unlock_says_when_codes_left_from_before_stop_working() {
    if skip_unless_root("needs root: unlock and the module's state") {
        return;
    }
    let setup = Setup::with("recovery_codes = 0\n");
    let user = current_user();
    let enrolled =
        json_of(&setup.cli(&["enroll", "--no-confirm", "--json", "--recovery-codes", "2"]));
    let code = enrolled["recovery_codes"][0].as_str().unwrap().to_string();
    setup.damage_state(&user);
    let unlock = setup.cli(&["unlock", "--user", &user]);
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    let unlock = text(&unlock.stdout);
    assert!(
        unlock.contains("its old recovery codes are marked used"),
        "{unlock}"
    );
    // As said: the code left from before no longer works.
    assert_eq!(
        setup.service().authenticate(&user, answer(&code)).code,
        PAM_AUTH_ERR
    );
}

#[test]
fn new_recovery_codes_work_after_a_corrupt_state() {
    // The lost-phone case with a damaged state: root makes new codes, and
    // they must work (not be taken for used ones by the repair).
    if skip_unless_root("needs root: the state is root's") {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let enrolled =
        json_of(&setup.cli(&["enroll", "--no-confirm", "--json", "--recovery-codes", "2"]));
    let service = setup.service();
    let used = enrolled["recovery_codes"][0].as_str().unwrap().to_string();
    assert_eq!(service.authenticate(&user, answer(&used)).code, PAM_SUCCESS);
    setup.damage_state(&user);
    let fresh = json_of(&setup.cli(&["recovery-codes", "--user", &user, "--count", "2", "--json"]));
    let code = fresh["recovery_codes"][0].as_str().unwrap();
    assert_eq!(
        service.authenticate(&user, answer(code)).code,
        PAM_SUCCESS,
        "a new recovery code does not work"
    );
    assert_eq!(
        service.authenticate(&user, answer(&used)).code,
        PAM_AUTH_ERR
    );
}

/// A directory anyone may read, with a copy of the CLI and a configuration,
/// for running the command as a test user.
struct Public {
    dir: tempfile::TempDir,
}

impl Public {
    fn new(config: &str) -> Public {
        let dir = tempfile::tempdir().unwrap();
        set_mode(dir.path(), 0o755);
        std::fs::copy(cli_path(), dir.path().join("pam-totp")).unwrap();
        set_mode(&dir.path().join("pam-totp"), 0o755);
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        set_mode(&dir.path().join("config.toml"), 0o644);
        Public { dir }
    }

    fn cli_as(&self, user: &TestUser, args: &[&str]) -> Output {
        let cli = self.dir.path().join("pam-totp");
        let config = self.dir.path().join("config.toml");
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend_from_slice(args);
        user.run(cli.to_str().unwrap(), &all)
    }
}

#[test]
fn imported_google_authenticator_file_logs_in_and_its_scratch_codes_work_once() {
    if skip_unless_root("needs root to create a test user") {
        return;
    }
    let user = TestUser::create("pt3-alice");
    // Made by Debian's own google-authenticator, as the user, where it puts it.
    let ga_file = user.home.join(".google_authenticator");
    let _ = std::fs::remove_file(&ga_file);
    let made = user.run(
        "google-authenticator",
        &[
            "-t",
            "-d",
            "-f",
            "-r",
            "3",
            "-R",
            "30",
            "-w",
            "3",
            "-Q",
            "NONE",
            "-C",
            "-s",
            ga_file.to_str().unwrap(),
        ],
    );
    assert!(
        made.status.success(),
        "google-authenticator (package libpam-google-authenticator) failed: {}",
        text(&made.stderr)
    );
    let contents = std::fs::read_to_string(&ga_file).unwrap();
    let secret = contents.lines().next().unwrap().to_string();
    let scratch: Vec<String> = contents
        .lines()
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect();
    assert_eq!(scratch.len(), 5, "{contents}");

    // The user imports it themselves, with the default secret_path in their home.
    let public = Public::new("window = 1\n");
    let imported = public.cli_as(&user, &["import"]);
    let said = text(&imported.stdout);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    assert!(said.contains("5 scratch codes"), "{said}");
    assert!(said.contains("WINDOW_SIZE 3"), "{said}");
    let secret_file = user.home.join(".config/pam-totp/secret.toml");
    let meta = std::fs::symlink_metadata(&secret_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        pam_totp::system::account::lookup_user(&user.name)
            .unwrap()
            .uid
    );

    let state = tempfile::tempdir().unwrap();
    // The module's rule: the state directory is 0700 (tempdir makes 0755).
    set_mode(state.path(), 0o700);
    let service = Service::with_args(&format!("state_dir={}", state.path().display()));
    let (outcome, logs) =
        syslog::capture(|| service.authenticate(&user.name, answer(&oathtool_code(&secret, 0))));
    assert_eq!(
        outcome.code, PAM_SUCCESS,
        "the imported secret does not log in: {logs:?}"
    );
    assert_eq!(
        service.authenticate(&user.name, answer(&scratch[0])).code,
        PAM_SUCCESS,
        "a scratch code does not log in"
    );
    assert_eq!(
        service.authenticate(&user.name, answer(&scratch[0])).code,
        PAM_AUTH_ERR,
        "a scratch code worked twice"
    );
    assert_eq!(
        service.authenticate(&user.name, answer(&scratch[1])).code,
        PAM_SUCCESS
    );

    // Importing again does not silently replace the enrollment.
    let again = public.cli_as(&user, &["import"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("--force"));

    // Root imports for the user (reading the file as the user); the file
    // stays the user's, and the scratch codes are fresh again.
    let config = public.dir.path().join("config.toml");
    let by_root = Command::new(cli_path())
        .arg("--config")
        .arg(&config)
        .args(["import", "--user", &user.name, "--force"])
        .output()
        .unwrap();
    assert!(by_root.status.success(), "{}", text(&by_root.stderr));
    let meta = std::fs::symlink_metadata(&secret_file).unwrap();
    assert_ne!(std::os::unix::fs::MetadataExt::uid(&meta), 0);
    // The same file imported again does not revive a used scratch code.
    let same_state = Service::with_args(&format!("state_dir={}", state.path().display()));
    assert_eq!(
        same_state
            .authenticate(&user.name, answer(&scratch[0]))
            .code,
        PAM_AUTH_ERR,
        "a used scratch code works again after a re-import"
    );
    let fresh_state = tempfile::tempdir().unwrap();
    set_mode(fresh_state.path(), 0o700);
    let service = Service::with_args(&format!("state_dir={}", fresh_state.path().display()));
    assert_eq!(
        service.authenticate(&user.name, answer(&scratch[2])).code,
        PAM_SUCCESS
    );
}

/// Counter-based files import (see tests/hotp.rs); a file that is neither
/// time- nor counter-based is refused in one sentence, and nothing is written.
#[test]
fn google_authenticator_files_of_no_known_kind_are_refused() {
    let setup = Setup::new();
    let file = setup.dir.path().join("neither");
    std::fs::write(
        &file,
        "ZTOBY62LWWAU4CCJGBMQU4U5XI\n\" WINDOW_SIZE 3\n12345678\n",
    )
    .unwrap();
    set_mode(&file, 0o600);
    let imported = setup.cli(&["import", "--from", file.to_str().unwrap()]);
    assert_eq!(imported.status.code(), Some(1));
    let stderr = text(&imported.stderr);
    assert!(
        stderr.contains("it has neither TOTP_AUTH nor HOTP_COUNTER"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert!(!setup.secret_file(&current_user()).exists());
}

#[test]
fn non_root_users_cannot_act_on_others() {
    if skip_unless_root("needs root to create a test user") {
        return;
    }
    let user = TestUser::create("pt3-bob");
    let public = Public::new("window = 1\n");
    for args in [
        &["status", "--user", "root"][..],
        &["enroll", "--user", "root", "--no-confirm"],
        &["recovery-codes", "--user", "root"],
        &["disable", "--user", "root"],
        &["import", "--user", "root"],
        &["unlock", "--user", "root"],
    ] {
        let output = public.cli_as(&user, args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("only root can act on another user"),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // Not even on themselves may they clear a lockout.
    let unlock = public.cli_as(&user, &["unlock", "--user", "pt3-bob"]);
    assert_eq!(unlock.status.code(), Some(1));
    assert!(text(&unlock.stderr).contains("only root can clear a lockout"));
    // On themselves the commands work.
    let status = public.cli_as(&user, &["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(text(&status.stdout).contains("Enrolled:        no"));
}

#[test]
fn every_subcommand_has_help() {
    for command in [
        "enroll",
        "status",
        "recovery-codes",
        "disable",
        "unlock",
        "import",
    ] {
        let output = Command::new(cli_path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{command} --help");
        let help = text(&output.stdout);
        assert!(
            help.contains(&format!("Usage: pam-totp {command}")),
            "{help}"
        );
        assert!(help.contains("--config"), "{help}");
    }
}

#[test]
fn users_are_told_at_once_when_the_administrator_keeps_the_secrets() {
    if skip_unless_root("needs root to create a test user") {
        return;
    }
    let user = TestUser::create("pt3-carol");
    let store = tempfile::tempdir().unwrap();
    let public = Public::new(&format!(
        "secret_path = \"{}/%u.toml\"\n",
        store.path().display()
    ));
    let enroll = public.cli_as(&user, &["enroll"]);
    assert_eq!(enroll.status.code(), Some(1));
    let stderr = text(&enroll.stderr);
    assert!(stderr.contains("ask root"), "{stderr}");
    assert!(
        !text(&enroll.stdout).contains("otpauth://"),
        "showed a QR code it could not save"
    );
    assert!(!store.path().join("pt3-carol.toml").exists());
}

/// With the PostgreSQL store a user who is not root is told to ask an
/// administrator; with `recovery_codes = 0` that sentence says nothing of
/// new recovery codes (the default does: the positive control). No
/// database is needed: the command says so before it connects.
#[test]
fn recovery_codes_0_leaves_them_out_of_the_databases_ask_an_administrator() {
    if skip_unless_root("needs root to create a test user") {
        return;
    }
    let user = TestUser::create("pt3-dave");
    for (extra, made) in [("", true), ("recovery_codes = 0\n", false)] {
        let public = Public::new(&format!(
            "store = \"postgresql\"\ndatabase_file = \"/nonexistent/pam-totp/database.conf\"\n{extra}"
        ));
        let status = public.cli_as(&user, &["status"]);
        assert_eq!(status.status.code(), Some(1));
        let stderr = text(&status.stderr);
        assert!(stderr.contains("kept centrally in a database"), "{stderr}");
        assert_eq!(stderr.contains("recovery"), made, "{extra:?}: {stderr}");
    }
}

/// Issue 11 points 6 and 11: `list` shows who is enrolled, with kind,
/// last login and lockout; counts read "1 failed attempt".
#[test]
fn list_shows_enrolled_users_and_counts_are_singular_at_one() {
    if skip_unless_root("list is for root") {
        return;
    }
    let setup = Setup::new();
    let user = current_user();
    let empty = setup.cli(&["list"]);
    assert!(empty.status.success(), "{}", text(&empty.stderr));
    assert!(text(&empty.stdout).contains("No enrolled user is known"));
    let enrolled = setup.cli(&[
        "enroll",
        "--user",
        &user,
        "--no-confirm",
        "--qr",
        "none",
        "--json",
    ]);
    assert!(enrolled.status.success(), "{}", text(&enrolled.stderr));
    let secret = json_of(&enrolled)["secret"].as_str().unwrap().to_string();
    // One wrong code through the module.
    let right = oathtool_code(&secret, 0);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_eq!(
        setup.service().authenticate(&user, answer(wrong)).code,
        PAM_AUTH_ERR
    );
    let status = text(&setup.cli(&["status", "--user", &user]).stdout);
    assert!(
        status.contains("Lockout:         none (1 failed attempt since the last login)"),
        "{status}"
    );
    let listed = setup.cli(&["list"]);
    let table = text(&listed.stdout);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let row = table
        .lines()
        .find(|l| l.starts_with(&user))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("TOTP"), "{row}");
    assert!(row.contains("never"), "{row}");
    assert!(row.ends_with("none (1 failed attempt)"), "{row}");
    let json = json_of(&setup.cli(&["list", "--json"]));
    assert_eq!(json[0]["user"], user.as_str());
    assert_eq!(json[0]["kind"], "TOTP");
    assert_eq!(json[0]["failures"], 1);
    let unlocked = text(&setup.cli(&["unlock", "--user", &user]).stdout);
    assert!(unlocked.contains("cleared 1 failed attempt."), "{unlocked}");
}

/// Issue 11 point 11: in an 80x24 terminal the whole QR code is still on
/// screen when the prompt for the code is shown (it comes last, fitted).
#[test]
fn the_whole_qr_code_is_on_an_80x24_screen_at_the_prompt() {
    let setup = Setup::new();
    let mut child = Command::new(cli_path())
        .arg("--config")
        .arg(setup.config())
        .args(["enroll"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"x\nx\nx\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.split('\n').collect();
    let first_qr = lines
        .iter()
        .position(|line| line.starts_with("\x1b[30;47"))
        .unwrap_or_else(|| panic!("no QR code in:\n{stdout}"));
    let prompt = lines
        .iter()
        .position(|line| line.starts_with("Type the 6-digit code"))
        .unwrap();
    assert!(
        prompt > first_qr,
        "the QR code comes after the prompt:\n{stdout}"
    );
    // Screen lines from the top of the code to the prompt, long lines wrapped.
    let screen: usize = lines[first_qr..=prompt]
        .iter()
        .map(|line| strip_colours(line).chars().count().div_ceil(80).max(1))
        .sum();
    assert!(
        screen <= 24,
        "{screen} lines from the code's top to the prompt:\n{stdout}"
    );
    let qr: Vec<&str> = lines[first_qr..prompt]
        .iter()
        .copied()
        .filter(|line| line.starts_with("\x1b[30;47"))
        .collect();
    let uri = stdout
        .lines()
        .find_map(|line| line.strip_prefix("URI:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(decode_qr(&modules_from_half_blocks(&qr)), uri);
}

/// `recovery-codes` with `recovery_codes = 0` and no `--count` makes none
/// and changes nothing (it used to make one); `--count N` still makes N.
#[test]
fn recovery_codes_0_makes_none_without_count_and_keeps_the_old_ones() {
    if skip_unless_root("needs root: the module's state") {
        return;
    }
    let setup = Setup::with("recovery_codes = 0\n");
    let user = current_user();
    let enrolled =
        json_of(&setup.cli(&["enroll", "--no-confirm", "--json", "--recovery-codes", "2"]));
    let old = enrolled["recovery_codes"][0].as_str().unwrap().to_string();
    let refused = setup.cli(&["recovery-codes"]);
    assert!(!refused.status.success());
    let said = text(&refused.stderr);
    assert!(
        said.contains("recovery_codes = 0") && said.contains("--count N"),
        "{said}"
    );
    // Nothing replaced: the old code still works.
    assert_eq!(
        setup.service().authenticate(&user, answer(&old)).code,
        PAM_SUCCESS
    );
    // Positive control: with --count the command makes that many.
    let made = json_of(&setup.cli(&["recovery-codes", "--count", "3", "--json"]));
    assert_eq!(made["recovery_codes"].as_array().unwrap().len(), 3);
}
