//! A hosting panel provisions an enrollment itself, as pam-totp.toml(5)
//! says it may: the enrollment sealed and the recovery hash keyed by the
//! Python snippet printed in the manual page (run as it is printed), one
//! INSERT. `pam-totp check` finds the secret opens, and a
//! login through the module takes the code and the recovery code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::fleet::{Fleet, text};
use common::sshd::{TestUser, oathtool_code};
use common::*;

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
/// A recovery code in canonical form, and as a user types it.
const RECOVERY: &str = "abcd2345";
const RECOVERY_TYPED: &str = "ABCD-2345";

/// The Python example of the SEALED SECRETS section, as groff prints it.
fn sealing_snippet() -> String {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/man/pam-totp.toml.5.in"
    ))
    .unwrap();
    let section = &page[page.find(".SS SEALED SECRETS").unwrap()..];
    let start = section.find(".EX\n").unwrap() + ".EX\n".len();
    let end = section.find(".EE\n").unwrap();
    section[start..end].replace("\\-", "-").replace("\\e", "\\")
}

/// Run the manual's snippet for `user` with the fleet's key; the sealed
/// enrollment in hex and its recovery hash.
fn panel_rows(fleet: &Fleet, user: &str) -> (String, String) {
    let snippet = sealing_snippet().replace(
        "/etc/pam-totp/secret.key",
        fleet.key_file().to_str().unwrap(),
    );
    assert!(snippet.contains("AESGCM(key).encrypt("), "{snippet}");
    let script = format!(
        "import base64, hashlib\n\
         secret = base64.b32decode({SECRET:?})\n\
         user = {user:?}\n\
         codes = [{RECOVERY:?}]\n\
         {snippet}\
         print(sealed.hex())\n\
         print(recovery[0])\n"
    );
    let output = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3 is installed");
    assert!(
        output.status.success(),
        "{script}\n{}",
        text(&output.stderr)
    );
    let stdout = text(&output.stdout);
    let mut lines = stdout.lines();
    (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    )
}

#[test]
fn a_panel_seals_and_inserts_an_enrollment_as_the_manual_says() {
    if skip_unless_root("the PostgreSQL tests need root") {
        return;
    }
    let fleet = Fleet::start();
    let user = TestUser::create("pamtotp-panel");
    let (sealed, recovery) = panel_rows(&fleet, &user.name);
    assert!(sealed.starts_with("02"), "{sealed}");
    assert!(recovery.starts_with("hmac-sha256:"), "{recovery}");
    fleet.db.psql(&format!(
        "INSERT INTO pam_totp_enrollment (user_name, secret, recovery) \
         VALUES ('{}', '\\x{sealed}', ARRAY['{recovery}'])",
        user.name
    ));

    let status = fleet.cli(&["status", "--user", &user.name]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("Recovery codes:  1 of 1 left"),
        "{}",
        text(&status.stdout)
    );

    let host = fleet.pam_host("panel", "");
    wait_clear_of_a_step_edge();
    let code = oathtool_code(SECRET, 0);
    assert_eq!(
        host.authenticate(&user.name, answer(&code)).code,
        PAM_SUCCESS
    );
    // Refused as a replay: PAM_AUTH_ERR (not unavailable).
    assert_eq!(
        host.authenticate(&user.name, answer(&code)).code,
        PAM_AUTH_ERR
    );
    assert_eq!(
        host.authenticate(&user.name, answer(RECOVERY_TYPED)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        host.authenticate(&user.name, answer(RECOVERY_TYPED)).code,
        PAM_AUTH_ERR
    );

    // The same row under another name does not open (the name is sealed in).
    fleet.db.psql(&format!(
        "INSERT INTO pam_totp_enrollment (user_name, secret, recovery) \
         VALUES ('root', '\\x{sealed}', ARRAY['{recovery}'])"
    ));
    let check = fleet.cli(&[
        "check",
        "--pam-file",
        "/dev/null",
        "--sshd-config",
        "/dev/null",
    ]);
    let stdout = text(&check.stdout);
    assert!(
        stdout.contains("problem: the secrets of root (1 of 2 checked) do not open"),
        "{stdout}"
    );
}
