//! What Debian's pam_oath writes back into its users file after a login,
//! read by our parser: the counter and time step it accepted are the ones
//! we take as used. Runs the real pam_oath through pamtester (root).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::pam_oath::{OathService, oathtool_hotp, oathtool_totp, random_hex};
use common::{now, skip_unless_root};
use pam_totp::import::pam_oath::{self, OathKind};

fn accepted_at(token: &pam_oath::OathToken) -> Option<u64> {
    let t = token.last_time?;
    pam_totp::system::local_time::to_unix(t.year, t.month, t.day, t.hour, t.minute, t.second)
}

#[test]
fn hotp_line_rewritten_by_pam_oath_gives_the_counter_it_accepted() {
    if skip_unless_root("pamtester needs a service in /etc/pam.d (root)") {
        return;
    }
    let key = random_hex(20);
    let service = OathService::new(&format!(
        "# a comment\nHOTP token - {key}\nHOTP/T30 other - {key}\nHOTP withpw secret {key}\n"
    ));
    // Nothing accepted yet: pam_oath would take counter 0 first.
    let fresh = pam_oath::parse(service.users_text().as_bytes());
    assert_eq!(fresh.tokens[0].hotp_counters(), (0, None));
    assert_eq!(fresh.skipped.len(), 1, "{:?}", fresh.skipped);
    assert_eq!(fresh.skipped[0].line, 4);

    // The token was pressed three times; pam_oath accepts the third code.
    let code = oathtool_hotp(&key, 2, 6);
    assert!(
        service.login("token", &code),
        "pam_oath refused a fresh code"
    );
    assert!(!service.login("token", &code), "pam_oath accepted a replay");
    let rewritten = service.users_text();
    let file = pam_oath::parse(rewritten.as_bytes());
    let token = file.tokens.iter().find(|t| t.user == "token").unwrap();
    assert_eq!(token.kind, OathKind::Hotp);
    assert_eq!(token.counter, 2, "{rewritten}");
    // The next value the token shows is 3, and 2 is the last accepted one.
    assert_eq!(token.hotp_counters(), (3, Some(2)));
    assert_eq!(
        token.last_otp.as_deref().map(String::as_str),
        Some(code.as_str())
    );
    let at = accepted_at(token).expect("pam_oath writes the time of the login");
    assert!(at.abs_diff(now()) < 120, "time stamp {at} is not now");
    // The other lines are still there, the password line still skipped.
    assert_eq!(file.tokens.len(), 2);
    assert_eq!(file.skipped.len(), 1);
    // pam_oath itself goes on from there: counter 3 works, as we will say.
    assert!(service.login("token", &oathtool_hotp(&key, 3, 6)));
    let after = pam_oath::parse(service.users_text().as_bytes());
    assert_eq!(after.tokens[0].hotp_counters(), (4, Some(3)));
}

#[test]
fn totp_line_rewritten_by_pam_oath_gives_the_step_it_accepted() {
    if skip_unless_root("pamtester needs a service in /etc/pam.d (root)") {
        return;
    }
    let key = random_hex(20);
    for (kind, digits) in [("HOTP/T30", 6u8), ("HOTP/T30/8", 8)] {
        let service = OathService::new(&format!("{kind} clock - {key}\n"));
        // A code two steps ahead, inside pam_oath's window.
        let (code, step) = loop {
            let before = now();
            let step = before / 30 + 2;
            let code = oathtool_totp(&key, step * 30, 30, digits);
            if now() / 30 == before / 30 {
                break (code, step);
            }
        };
        assert!(service.login("clock", &code), "pam_oath refused {kind}");
        let file = pam_oath::parse(service.users_text().as_bytes());
        let token = &file.tokens[0];
        assert_eq!(
            (token.kind, token.digits),
            (OathKind::Totp { period: 30 }, digits)
        );
        let at = accepted_at(token).expect("pam_oath writes the time of the login");
        assert!(at.abs_diff(now()) < 120, "time stamp {at} is not now");
        assert_eq!(token.last_totp_step(Some(at), now()), Some(step));
        // pam_oath refuses that code again, and an earlier step's code.
        assert!(!service.login("clock", &code), "pam_oath accepted a replay");
        let earlier = oathtool_totp(&key, (step - 1) * 30, 30, digits);
        assert!(
            !service.login("clock", &earlier),
            "pam_oath went back in time"
        );
        // ...and accepts a later one, moving the step on.
        let later_step = step + 1;
        let later = oathtool_totp(&key, later_step * 30, 30, digits);
        assert!(
            service.login("clock", &later),
            "pam_oath refused a later step"
        );
        let file = pam_oath::parse(service.users_text().as_bytes());
        let at = accepted_at(&file.tokens[0]);
        assert_eq!(file.tokens[0].last_totp_step(at, now()), Some(later_step));
    }
}
