//! The module's per-user state, as a value: last accepted time step,
//! consecutive failures and lockout, used recovery codes, and its text
//! form. Where it is kept is the store's business (see
//! [`crate::store::files::state`] for the files store).
#![forbid(unsafe_code)]

const STATE_VERSION: i64 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// When the last accepted time step began (Unix seconds). Kept as a
    /// time, not a step number, so a new secret with another period
    /// cannot make every code look "already used" (or an old one fresh).
    pub last_step_start: Option<u64>,
    /// HOTP: the last accepted counter value.
    pub last_counter: Option<u64>,
    /// Consecutive wrong codes since the last success.
    pub failures: u32,
    /// Unix time until which no code is checked.
    pub locked_until: u64,
    /// Unix time of the last successful authentication.
    pub last_success: Option<u64>,
    /// Identifiers of used recovery codes.
    pub used_recovery: Vec<String>,
}

impl State {
    /// Seconds of lockout left at `now`, if any.
    pub fn lockout_remaining(&self, now: u64) -> Option<u64> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }

    /// Record a wrong code; from `max_failures` on, lock out for `lockout`
    /// seconds, doubling with each further failure up to `lockout_max`.
    pub fn record_failure(&mut self, now: u64, max_failures: u32, lockout: u64, lockout_max: u64) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= max_failures {
            let doublings = self.failures - max_failures;
            let duration = lockout
                .checked_shl(doublings)
                .filter(|d| d >> doublings == lockout)
                .unwrap_or(u64::MAX)
                .min(lockout_max);
            self.locked_until = now.saturating_add(duration);
        }
    }

    /// The last accepted step counted in steps of `period` seconds: a step
    /// `s` of that period is fresh only if `s` is greater.
    pub fn last_step_for_period(&self, period: u64) -> Option<u64> {
        self.last_step_start.map(|start| start / period.max(1))
    }

    /// Record an accepted code whose time step began at `step_start`
    /// (`None` for a recovery code).
    pub fn record_success(&mut self, now: u64, step_start: Option<u64>) {
        if let Some(start) = step_start {
            self.last_step_start = Some(self.last_step_start.map_or(start, |last| last.max(start)));
        }
        self.failures = 0;
        self.locked_until = 0;
        self.last_success = Some(now);
    }

    pub fn parse(text: &str) -> Result<State, String> {
        let table: toml::Table = crate::text::simple_toml::parse(text)
            .map_err(|e: toml::de::Error| e.message().to_string())?;
        let mut state = State::default();
        let number = |key: &str| -> Result<Option<u64>, String> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::Integer(i)) => u64::try_from(*i)
                    .map(Some)
                    .map_err(|_| format!("negative {key}")),
                Some(_) => Err(format!("{key} is not a number")),
            }
        };
        match table.get("version") {
            Some(toml::Value::Integer(STATE_VERSION)) => {}
            _ => return Err("missing or unknown version".into()),
        }
        for key in table.keys() {
            if ![
                "version",
                "last_step_start",
                "last_counter",
                "failures",
                "locked_until",
                "last_success",
                "used_recovery",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("unknown key {key}"));
            }
        }
        state.last_step_start = number("last_step_start")?;
        state.last_counter = number("last_counter")?;
        state.failures = u32::try_from(number("failures")?.unwrap_or(0))
            .map_err(|_| "failures too large".to_string())?;
        state.locked_until = number("locked_until")?.unwrap_or(0);
        state.last_success = number("last_success")?;
        state.used_recovery = match table.get("used_recovery") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .filter(|id| is_recovery_id(id))
                        .map(str::to_string)
                })
                .collect::<Option<_>>()
                .ok_or("used_recovery is not a list of recovery code ids")?,
            Some(_) => return Err("used_recovery is not a list".into()),
        };
        Ok(state)
    }

    pub fn to_toml(&self) -> String {
        use std::fmt::Write as _;
        // One buffer written in place (writing to a String cannot fail).
        let mut text = String::with_capacity(128 + 20 * self.used_recovery.len());
        let _ = writeln!(text, "version = {STATE_VERSION}");
        if let Some(start) = self.last_step_start {
            let _ = writeln!(text, "last_step_start = {}", start.min(i64::MAX as u64));
        }
        if let Some(counter) = self.last_counter {
            let _ = writeln!(text, "last_counter = {}", counter.min(i64::MAX as u64));
        }
        let _ = writeln!(text, "failures = {}", self.failures);
        let _ = writeln!(
            text,
            "locked_until = {}",
            self.locked_until.min(i64::MAX as u64)
        );
        if let Some(time) = self.last_success {
            let _ = writeln!(text, "last_success = {}", time.min(i64::MAX as u64));
        }
        text.push_str("used_recovery = [");
        let used = self.used_recovery.iter().filter(|id| is_recovery_id(id));
        for (index, id) in used.enumerate() {
            if index > 0 {
                text.push_str(", ");
            }
            text.push('"');
            text.push_str(id);
            text.push('"');
        }
        text.push_str("]\n");
        text
    }
}

/// Recovery code ids are short lower-case hex strings (see `RecoveryHash::id`).
fn is_recovery_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let state = State {
            last_step_start: Some(1_700_000_010),
            last_counter: Some(42),
            failures: 2,
            locked_until: 1_700_000_100,
            last_success: Some(1_700_000_000),
            used_recovery: vec!["00aa11bb".into()],
        };
        assert_eq!(State::parse(&state.to_toml()).unwrap(), state);
        assert_eq!(
            State::parse(&State::default().to_toml()).unwrap(),
            State::default()
        );
    }

    #[test]
    fn corrupt_states_are_refused() {
        for bad in [
            "",
            "version = 2",
            "version = 1\nfailures = -1",
            "version = 1\nlast_step_start = \"x\"",
            "garbage",
            "version = 1\nx = 1",
            "version = 1\nused_recovery = [\"00aa'11\"]",
        ] {
            assert!(State::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_stops_at_the_maximum() {
        let mut state = State::default();
        let mut durations = Vec::new();
        for _ in 0..8 {
            state.record_failure(1000, 3, 30, 900);
            durations.push(state.lockout_remaining(1000).unwrap_or(0));
        }
        assert_eq!(durations, vec![0, 0, 30, 60, 120, 240, 480, 900]);
        for _ in 0..100 {
            state.record_failure(1000, 3, 30, 900);
        }
        assert_eq!(state.lockout_remaining(1000), Some(900));
        state.record_success(2000, Some(1980));
        assert_eq!(
            (
                state.failures,
                state.lockout_remaining(2000),
                state.last_step_start
            ),
            (0, None, Some(1980))
        );
    }

    #[test]
    fn last_step_holds_across_a_change_of_period() {
        let state = State {
            last_step_start: Some(1_800_000_000),
            ..State::default()
        };
        // Same period: the step itself.
        assert_eq!(state.last_step_for_period(30), Some(60_000_000));
        // A 60 s period: steps starting at or before that moment are used.
        assert_eq!(state.last_step_for_period(60), Some(30_000_000));
        // A 7 s period: step 257142857 starts at 1799999999 (used), the next at 1800000006 (fresh).
        assert_eq!(state.last_step_for_period(7), Some(257_142_857));
        assert_eq!(State::default().last_step_for_period(30), None);
    }

    #[test]
    fn a_lockout_ends_at_its_second() {
        let state = State {
            locked_until: 1000,
            ..State::default()
        };
        assert_eq!(state.lockout_remaining(999), Some(1));
        assert_eq!(state.lockout_remaining(1000), None);
        assert_eq!(state.lockout_remaining(1001), None);
        assert_eq!(State::default().lockout_remaining(0), None);
    }

    #[test]
    fn a_recovery_id_is_at_most_64_hex_digits() {
        assert!(is_recovery_id(&"a".repeat(64)));
        assert!(!is_recovery_id(&"a".repeat(65)));
    }
}
