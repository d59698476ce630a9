//! Issue 18 points 8 and 9, through the real libpam: a client that hangs
//! up at the prompt gets the same code whether the name is enrolled or
//! not, and exempt users and networks do not depend on the store (its
//! library or its database).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::*;

/// Point 8: enrolled, unenrolled (deny) and unknown names alike.
#[test]
fn hanging_up_at_the_prompt_gives_one_code_for_every_name() {
    let fixture = Fixture::new();
    let service = fixture.service("");
    let enrolled = service.authenticate_with_failing_conversation(&fixture.user, PAM_CONV_ERR);
    assert_eq!(enrolled.code, PAM_CONV_ERR);
    assert_eq!(enrolled.prompts(), ["Verification code: "]);
    let unknown = service.authenticate_with_failing_conversation("pt18-no-such-user", PAM_CONV_ERR);
    assert_eq!(unknown.code, enrolled.code, "unknown name told apart");
    assert_eq!(unknown.prompts(), enrolled.prompts());
    // A conversation failing with another code: the module's answer is the same.
    let other = service.authenticate_with_failing_conversation("pt18-no-such-user", PAM_ABORT);
    assert_eq!(other.code, enrolled.code);
    std::fs::remove_file(fixture.secret_file()).unwrap();
    let unenrolled = service.authenticate_with_failing_conversation(&fixture.user, PAM_CONV_ERR);
    assert_eq!(unenrolled.code, enrolled.code, "unenrolled name told apart");
}

/// `store = "postgresql"` with `exempt` settings, and neither a database
/// configuration nor (with `alone`) the store library beside the module.
fn postgres_service(dir: &Path, module: &Path, exempt: &str) -> Service {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"postgresql\"\ndatabase_file = \"{0}/database.conf\"\nsecret_key_file = \"{0}/secret.key\"\n{exempt}\n",
            dir.display()
        ),
    )
    .unwrap();
    set_mode(&config, 0o644);
    // Only PAM_IGNORE reaches pam_permit (PROBED_IGNORE); any other code
    // ends the stack as itself (see Service::ignore_probe).
    Service::with_stack(&format!(
        "auth [success=1 ignore=ignore default=die] {} config={} state_dir={}/state\n\
         auth sufficient pam_permit.so\n\
         auth requisite pam_deny.so\n",
        module.display(),
        config.display(),
        dir.display()
    ))
}

/// Point 9: the break-glass works with the store library missing and with
/// no database; everyone else is still refused (fail closed).
#[test]
fn exempt_users_and_networks_do_not_need_the_store() {
    let user = current_user();
    let groups = pam_totp::system::account::group_names(
        &pam_totp::system::account::lookup_user(&user).unwrap(),
    )
    .unwrap();
    let group = groups.first().unwrap();
    // The built module (its library beside it, no database), and a copy of
    // the module alone in a directory of its own (no library).
    let lone = tempfile::tempdir().unwrap();
    let copy = lone.path().join("pam_totp.so");
    std::fs::copy(module_path(), &copy).unwrap();
    for module in [module_path(), copy] {
        let dir = tempfile::tempdir().unwrap();
        let by_group = postgres_service(
            dir.path(),
            &module,
            &format!("exempt_groups = [\"{group}\"]"),
        );
        let outcome = by_group.authenticate(&user, answer("123456"));
        assert_eq!(outcome.code, PROBED_IGNORE, "{}", module.display());
        assert!(outcome.prompts().is_empty());

        let by_network =
            postgres_service(dir.path(), &module, "exempt_networks = [\"192.0.2.0/24\"]");
        let outcome = by_network.authenticate_with(&user, answer("123456"), Some("192.0.2.9"));
        assert_eq!(outcome.code, PROBED_IGNORE, "{}", module.display());
        // Not exempt: the store is needed, and its absence refuses.
        let outcome = by_network.authenticate_with(&user, answer("123456"), Some("198.51.100.9"));
        assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{}", module.display());
    }
}
