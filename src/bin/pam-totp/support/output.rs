//! Output several subcommands share: times, and the recovery codes.

use std::io::Write;

use pam_totp::config::Config;
use pam_totp::enroll::provisioning;
use pam_totp::system::account::Account;
use zeroize::Zeroizing;

use crate::support::Failure;

/// The codes, once, and what to do with them (with none, the words follow
/// `recovery_codes`: see [`provisioning::recovery_code_lines`]).
pub fn print_recovery_codes(
    out: &mut dyn Write,
    config: &Config,
    account: &Account,
    codes: &[Zeroizing<String>],
) -> Result<(), Failure> {
    if !codes.is_empty() {
        writeln!(out)?;
    }
    for line in provisioning::recovery_code_lines(&account.name, codes, config.recovery_codes > 0) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` for a Unix time.
pub fn format_time(unix: u64) -> String {
    let days = unix / 86_400;
    let seconds = unix % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_time(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }
}
