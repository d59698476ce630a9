//! The README's recipe for the role's password ("The role's password, and
//! what SCRAM costs a login"), its shell block run as printed against a
//! real PostgreSQL: a random password whose SCRAM verifier has 16
//! iterations instead of 4096. A real login uses it; the old password is
//! refused from then on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::fleet::Fleet;
use common::pg::{self, PASSWORD, ROLE};
use common::sshd::oathtool_code;
use common::*;

fn verifier(fleet: &Fleet) -> String {
    fleet.db.psql_db(
        "postgres",
        &format!("SELECT rolpassword FROM pg_authid WHERE rolname = '{ROLE}'"),
    )
}

#[test]
fn the_readmes_recipe_sets_a_16_iteration_verifier_and_logins_use_its_password() {
    if skip_unless_root("the cluster runs as the postgres user, started by root") {
        return;
    }
    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("scram16", "");
    // Before: PostgreSQL's own verifier, 4096 iterations.
    assert!(
        verifier(&fleet).starts_with("SCRAM-SHA-256$4096:"),
        "{}",
        verifier(&fleet)
    );

    // `check` says what the verifier costs, and where the recipe is.
    let (_, said) = fleet.check();
    assert!(
        said.contains("note: the role's SCRAM verifier has 4096 iterations")
            && said.contains("The role's password"),
        "{said}"
    );

    let password = pg::run_readme_password_recipe(&fleet.db);
    assert_eq!(password.len(), 64, "{password}");
    assert!(
        verifier(&fleet).starts_with("SCRAM-SHA-256$16:"),
        "{}",
        verifier(&fleet)
    );

    // The old password no longer opens the role; the recipe's does.
    wait_clear_of_a_step_edge();
    let code = oathtool_code(&secret, 0);
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    fleet.write_conninfo(&fleet.db.conninfo().replace(PASSWORD, &password));
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    // With the cheap verifier, no note (the rest of check is unchanged).
    let (_, said) = fleet.check();
    assert!(said.contains("connected to database"), "{said}");
    assert!(!said.contains("SCRAM verifier"), "{said}");
    // And used once, as ever.
    let again = host.authenticate(&user, answer(&code));
    assert_eq!(again.code, PAM_AUTH_ERR, "{:?}", again.shown);
}
