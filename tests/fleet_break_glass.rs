//! With the fleet's database down every login through the module is
//! refused, except the ways in the README ("Many hosts") promises root:
//! an exempt network and an exempt group are let through without the
//! module touching the database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::fleet::{DATABASE_TIMEOUT, Fleet};
use common::*;

#[test]
fn with_the_database_down_root_gets_in_from_an_exempt_network_or_group() {
    if skip_unless_root("the PostgreSQL tests need root") {
        return;
    }
    let mut fleet = Fleet::start();
    fleet.enroll("root");
    let state = fleet.dir.path().join("state");
    let args = fleet.module_args(&state);
    let plain = Service::ignore_probe(&args);
    let network = Service::ignore_probe(&format!("{args} exempt_networks=10.99.0.0/24"));
    let group = Service::ignore_probe(&format!("{args} exempt_groups=root"));
    fleet.db.stop();

    let started = Instant::now();
    let refused = plain.authenticate_with("root", answer("123456"), Some("10.20.0.1"));
    assert_eq!(refused.code, PAM_AUTHINFO_UNAVAIL, "{:?}", refused.shown);
    assert!(started.elapsed() < Duration::from_secs(DATABASE_TIMEOUT + 1));
    // From the management network, and outside it.
    let exempt = network.authenticate_with("root", vec![], Some("10.99.0.7"));
    assert_eq!(exempt.code, PROBED_IGNORE, "{:?}", exempt.shown);
    assert!(exempt.prompts().is_empty());
    let outside = network.authenticate_with("root", answer("123456"), Some("10.20.0.1"));
    assert_eq!(outside.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outside.shown);
    // A member of an exempt group, from anywhere.
    let exempt = group.authenticate_with("root", vec![], Some("10.20.0.1"));
    assert_eq!(exempt.code, PROBED_IGNORE, "{:?}", exempt.shown);
    assert!(exempt.prompts().is_empty());
}
