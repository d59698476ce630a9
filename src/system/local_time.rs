//! Local civil time to Unix seconds, as the C library's `mktime` sees it
//! (the `TZ` environment variable, else `/etc/localtime`).

/// Unix seconds of the given local time; `tm_isdst = -1` lets the C library
/// decide on daylight saving time, as pam_oath does when it reads its own
/// time stamps. `None` if it is not a time the C library can represent, or
/// before 1970.
pub fn to_unix(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<u64> {
    // SAFETY: `libc::tm` is plain data for which all zero bytes is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year.checked_sub(1900)?;
    tm.tm_mon = i32::from(month).checked_sub(1)?;
    tm.tm_mday = i32::from(day);
    tm.tm_hour = i32::from(hour);
    tm.tm_min = i32::from(minute);
    tm.tm_sec = i32::from(second);
    tm.tm_isdst = -1;
    // SAFETY: `tm` is a valid, exclusively borrowed `struct tm` for the call.
    let time = unsafe { libc::mktime(&mut tm) };
    if time == -1 {
        return None;
    }
    u64::try_from(time).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_local_time() {
        // Whatever the zone, a day later is 86400 seconds later (no DST
        // change in mid-January anywhere that has one).
        let a = to_unix(2026, 1, 14, 12, 0, 0).unwrap();
        let b = to_unix(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(b - a, 86_400);
        // Within a day of the UTC value.
        let utc = 1_768_392_000; // 2026-01-14T12:00:00Z
        assert!(a.abs_diff(utc) <= 14 * 3600, "{a}");
        assert_eq!(to_unix(1960, 1, 1, 0, 0, 0), None);
    }
}
