//! The README's recipe for the role's password ("The role's password, and
//! what SCRAM costs a login"): a random password whose SCRAM verifier has
//! 16 iterations instead of 4096, made by the README's Python as printed,
//! set on a real PostgreSQL and used by a real login. The server checks the
//! password against it: a wrong one still fails closed.
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
fn the_readmes_cheap_verifier_logs_in_and_a_wrong_password_still_fails_closed() {
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

    let sql = pg::readme_scram_verifier_sql(PASSWORD);
    assert!(
        sql.starts_with(&format!("ALTER ROLE {ROLE} PASSWORD 'SCRAM-SHA-256$16:")),
        "{sql}"
    );
    fleet.db.psql_db("postgres", sql.trim());
    assert!(
        verifier(&fleet).starts_with("SCRAM-SHA-256$16:"),
        "{}",
        verifier(&fleet)
    );

    // The same password, checked against the new verifier.
    wait_clear_of_a_step_edge();
    let code = oathtool_code(&secret, 0);
    let wrong = fleet.db.conninfo().replace(PASSWORD, "not-the-password");
    assert_ne!(wrong, fleet.db.conninfo());
    fleet.write_conninfo(&wrong);
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    fleet.write_conninfo(&fleet.db.conninfo());
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
    // And used once, as ever.
    let again = host.authenticate(&user, answer(&code));
    assert_eq!(again.code, PAM_AUTH_ERR, "{:?}", again.shown);
}
