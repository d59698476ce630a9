//! The decision on one answer, as a pure function: given the enrollment,
//! the state, the answer, the time and the policy, it returns the outcome
//! and the state to store. No I/O, no clock, no user: the store runs it
//! under its lock (or its compare-and-set), the module reports the outcome.

use crate::config::Config;
use crate::otp::answer::Answer;
use crate::otp::code::{CounterGenerator, CounterVerdict, Generator, InvalidParameters, Verdict};
use crate::otp::recovery::RecoveryHash;
use crate::otp::secret::{SecretFile, TokenKind};
use crate::otp::state::State;

/// The configuration keys the decision depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub window: u32,
    pub max_failures: u32,
    pub lockout: u64,
    pub lockout_max: u64,
    pub hotp_window: u32,
}

impl Policy {
    pub fn of(config: &Config) -> Policy {
        Policy {
            window: config.window,
            max_failures: config.max_failures,
            lockout: config.lockout,
            lockout_max: config.lockout_max,
            hotp_window: config.hotp_window,
        }
    }
}

/// How a credential's codes are checked: from the time or a counter.
pub enum Checker {
    Time(Generator),
    Counter(CounterGenerator),
}

/// A usable enrollment: the secret file and the code checker made from it.
pub struct Credential {
    pub secret: SecretFile,
    pub checker: Checker,
}

impl Credential {
    pub fn new(secret: SecretFile) -> Result<Credential, InvalidParameters> {
        let checker = match secret.kind {
            TokenKind::Totp => Checker::Time(secret.generator()?),
            TokenKind::Hotp { .. } => Checker::Counter(secret.counter_generator()?),
        };
        Ok(Credential { secret, checker })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A code for this time step, later than the last accepted one.
    Code(u64),
    /// An HOTP code for this counter value, after the last accepted one.
    Counter(u64),
    /// A recovery code not used before (its id).
    Recovery(String),
    /// A valid code for a step already accepted.
    Reused,
    RecoveryUsed,
    Wrong,
    Malformed,
    /// Locked out for this many more seconds: no code was checked.
    LockedOut(u64),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Code(_) | Outcome::Counter(_) | Outcome::Recovery(_)
        )
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Outcome::Code(_) | Outcome::Counter(_) => "code accepted",
            Outcome::Recovery(_) => "recovery code accepted",
            Outcome::Reused => "code already used (replay)",
            Outcome::RecoveryUsed => "recovery code already used",
            Outcome::Wrong => "wrong code",
            Outcome::Malformed => "malformed answer",
            Outcome::LockedOut(_) => "locked out, no code checked",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The state to store; `None` when nothing changes (a lockout).
    pub state: Option<State>,
}

/// Decide `answer` at `now` for `credential` with the stored `state`.
pub fn decide(
    credential: &Credential,
    state: &State,
    answer: &Answer,
    now: u64,
    policy: &Policy,
) -> Decision {
    if let Some(seconds) = state.lockout_remaining(now) {
        return Decision {
            outcome: Outcome::LockedOut(seconds),
            state: None,
        };
    }
    let secret = &credential.secret;
    let outcome = match answer {
        Answer::Totp(code) => {
            let verdict = match &credential.checker {
                Checker::Time(generator) => {
                    let last = state.last_step_for_period(secret.period);
                    match generator.verify(code, now, policy.window, last) {
                        Verdict::Accepted(step) => Some(Outcome::Code(step)),
                        Verdict::Reused(_) => Some(Outcome::Reused),
                        Verdict::Wrong => None,
                    }
                }
                Checker::Counter(generator) => {
                    // The state's counter wins; the file's only starts it.
                    let next = match secret.kind {
                        TokenKind::Hotp { counter } => counter,
                        TokenKind::Totp => 0,
                    };
                    match generator.verify(code, state.last_counter, next, policy.hotp_window) {
                        CounterVerdict::Accepted(counter) => Some(Outcome::Counter(counter)),
                        CounterVerdict::Reused(_) => Some(Outcome::Reused),
                        CounterVerdict::Wrong => None,
                    }
                }
            };
            // Eight digits may be a scratch code imported from
            // google-authenticator, kept as a recovery code.
            verdict.unwrap_or_else(|| match crate::otp::recovery::normalize(code) {
                Some(canonical) => recovery_outcome(&secret.recovery, state, &canonical),
                None => Outcome::Wrong,
            })
        }
        Answer::Recovery(code) => recovery_outcome(&secret.recovery, state, code),
        Answer::Malformed => Outcome::Malformed,
    };
    let mut next = state.clone();
    match &outcome {
        Outcome::Code(step) => {
            let start = match &credential.checker {
                Checker::Time(generator) => Some(generator.step_start(*step)),
                Checker::Counter(_) => None,
            };
            next.record_success(now, start)
        }
        Outcome::Counter(counter) => {
            next.last_counter = Some(
                next.last_counter
                    .map_or(*counter, |last| last.max(*counter)),
            );
            next.record_success(now, None);
        }
        Outcome::Recovery(id) => {
            next.used_recovery.push(id.clone());
            next.record_success(now, None);
        }
        _ => next.record_failure(now, policy.max_failures, policy.lockout, policy.lockout_max),
    }
    Decision {
        outcome,
        state: Some(next),
    }
}

/// The decision for a name without a usable enrollment under `deny` (not
/// enrolled, unknown, home not mounted): no answer can be right, and each
/// counts like an enrolled user's wrong code on a decoy record, so the
/// prompts, the refusals and the lockout messages are the same for every
/// name and a client without credentials cannot tell who is enrolled.
pub fn decide_without_credential(state: &State, now: u64, policy: &Policy) -> Decision {
    if let Some(seconds) = state.lockout_remaining(now) {
        return Decision {
            outcome: Outcome::LockedOut(seconds),
            state: None,
        };
    }
    let mut next = state.clone();
    next.record_failure(now, policy.max_failures, policy.lockout, policy.lockout_max);
    Decision {
        outcome: Outcome::Wrong,
        state: Some(next),
    }
}

/// Compare against every stored hash (no early exit), then consult the state.
fn recovery_outcome(hashes: &[RecoveryHash], state: &State, code: &str) -> Outcome {
    let mut found = None;
    for hash in hashes {
        if hash.matches(code) {
            found = Some(hash.id());
        }
    }
    match found {
        Some(id) if state.used_recovery.contains(&id) => Outcome::RecoveryUsed,
        Some(id) => Outcome::Recovery(id),
        None => Outcome::Wrong,
    }
}

/// How many counter values after the last accepted one `pam-totp resync`
/// searches for two consecutive codes.
pub const RESYNC_RANGE: u32 = 1000;

/// Why a resync changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResyncError {
    /// The enrollment is time-based.
    NotCounterBased,
    /// The two codes are not consecutive codes within the range.
    NotFound { first: u64 },
}

impl std::fmt::Display for ResyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResyncError::NotCounterBased => write!(f, "the enrollment is time-based (TOTP)"),
            ResyncError::NotFound { first } => write!(
                f,
                "the two codes are not consecutive codes within {RESYNC_RANGE} counter values from {first}"
            ),
        }
    }
}

impl std::error::Error for ResyncError {}

/// The counter value after which two consecutive codes `first_code` and
/// `second_code` were found, searching `RESYNC_RANGE` values from the next
/// one the state (or the file) expects: the value to store as the last
/// accepted one. Every candidate is computed, the lowest pair wins.
pub fn resync(
    credential: &Credential,
    state: &State,
    first_code: &str,
    second_code: &str,
) -> Result<u64, ResyncError> {
    let Checker::Counter(generator) = &credential.checker else {
        return Err(ResyncError::NotCounterBased);
    };
    let next = credential
        .secret
        .next_counter(state.last_counter)
        .ok_or(ResyncError::NotCounterBased)?;
    let range = crate::otp::code::counter_candidates(state.last_counter, next, RESYNC_RANGE);
    let first = range.start;
    let mut found = None;
    let mut previous_matched = false;
    for counter in range {
        let matched =
            generator.verify(first_code, None, counter, 1) == CounterVerdict::Accepted(counter);
        let second =
            generator.verify(second_code, None, counter, 1) == CounterVerdict::Accepted(counter);
        if previous_matched && second && found.is_none() {
            found = Some(counter);
        }
        previous_matched = matched;
    }
    found.ok_or(ResyncError::NotFound { first })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::answer::parse_answer;

    const NOW: u64 = 1_800_000_015; // inside step 60_000_000 (30 s period)
    const STEP: u64 = 60_000_000;

    fn policy() -> Policy {
        Policy::of(&Config::default())
    }

    fn credential(recovery_codes: &[&str]) -> Credential {
        let secret =
            SecretFile::parse(b"version = 1\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\n")
                .unwrap();
        let mut credential = Credential::new(secret).unwrap();
        credential.secret.recovery = recovery_codes
            .iter()
            .map(|code| {
                let canonical = crate::otp::recovery::normalize(code).unwrap();
                RecoveryHash::new(&canonical, vec![7; 16])
            })
            .collect();
        credential
    }

    fn id_of(credential: &Credential, index: usize) -> String {
        credential.secret.recovery[index].id()
    }

    /// The code of the step `offset` steps from NOW's.
    fn code(credential: &Credential, offset: i64) -> String {
        let Checker::Time(generator) = &credential.checker else {
            panic!("a TOTP credential")
        };
        generator.code_for_step(STEP.checked_add_signed(offset).unwrap())
    }

    fn wrong(credential: &Credential) -> String {
        let window: Vec<String> = (-3..=3).map(|o| code(credential, o)).collect();
        (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|c| !window.contains(c))
            .unwrap()
    }

    fn step_start(step: u64) -> Option<u64> {
        Some(step * 30)
    }

    #[test]
    fn the_decision_table() {
        let c = credential(&["abcd-efgh", "jkmn-pqrs"]);
        let used_id = id_of(&c, 1);
        let fresh = State::default();
        let after_current = State {
            last_step_start: step_start(STEP),
            ..State::default()
        };
        let two_failures = State {
            failures: 2,
            ..State::default()
        };
        let locked = State {
            failures: 3,
            locked_until: NOW + 10,
            ..State::default()
        };
        let lockout_over = State {
            failures: 3,
            locked_until: NOW,
            ..State::default()
        };
        let used_recovery = State {
            used_recovery: vec![used_id.clone()],
            ..State::default()
        };
        let wrong = wrong(&c);
        // (name, state, typed, outcome, failures after, locked_until after)
        let table: Vec<(&str, &State, String, Outcome, u32, u64)> = vec![
            (
                "current code",
                &fresh,
                code(&c, 0),
                Outcome::Code(STEP),
                0,
                0,
            ),
            (
                "previous step in the window",
                &fresh,
                code(&c, -1),
                Outcome::Code(STEP - 1),
                0,
                0,
            ),
            (
                "next step in the window",
                &fresh,
                code(&c, 1),
                Outcome::Code(STEP + 1),
                0,
                0,
            ),
            (
                "two steps back is outside window 1",
                &fresh,
                code(&c, -2),
                Outcome::Wrong,
                1,
                0,
            ),
            (
                "two steps ahead is outside window 1",
                &fresh,
                code(&c, 2),
                Outcome::Wrong,
                1,
                0,
            ),
            (
                "spaced code",
                &fresh,
                format!("{} {}", &code(&c, 0)[..3], &code(&c, 0)[3..]),
                Outcome::Code(STEP),
                0,
                0,
            ),
            (
                "replay of the accepted step",
                &after_current,
                code(&c, 0),
                Outcome::Reused,
                1,
                0,
            ),
            (
                "an earlier step after a later one",
                &after_current,
                code(&c, -1),
                Outcome::Reused,
                1,
                0,
            ),
            (
                "a later step after an earlier one",
                &after_current,
                code(&c, 1),
                Outcome::Code(STEP + 1),
                0,
                0,
            ),
            ("wrong code", &fresh, wrong.clone(), Outcome::Wrong, 1, 0),
            (
                "third wrong code locks out",
                &two_failures,
                wrong.clone(),
                Outcome::Wrong,
                3,
                NOW + 30,
            ),
            (
                "a right code clears failures",
                &two_failures,
                code(&c, 0),
                Outcome::Code(STEP),
                0,
                0,
            ),
            (
                "locked out: right code not checked",
                &locked,
                code(&c, 0),
                Outcome::LockedOut(10),
                3,
                NOW + 10,
            ),
            (
                "lockout ended at its second",
                &lockout_over,
                code(&c, 0),
                Outcome::Code(STEP),
                0,
                0,
            ),
            (
                "wrong after the lockout doubles it",
                &lockout_over,
                wrong.clone(),
                Outcome::Wrong,
                4,
                NOW + 60,
            ),
            (
                "recovery code",
                &fresh,
                "ABCD-EFGH".into(),
                Outcome::Recovery(id_of(&c, 0)),
                0,
                0,
            ),
            (
                "used recovery code",
                &used_recovery,
                "jkmnpqrs".into(),
                Outcome::RecoveryUsed,
                1,
                0,
            ),
            (
                "unknown recovery code",
                &fresh,
                "zzzz-zzzz".into(),
                Outcome::Wrong,
                1,
                0,
            ),
            ("malformed", &fresh, "%s%n".into(), Outcome::Malformed, 1, 0),
            ("empty", &fresh, String::new(), Outcome::Malformed, 1, 0),
        ];
        for (name, state, typed, outcome, failures, locked_until) in table {
            let decision = decide(&c, state, &parse_answer(typed.as_bytes()), NOW, &policy());
            assert_eq!(decision.outcome, outcome, "{name}");
            let after = decision.state.clone().unwrap_or_else(|| state.clone());
            assert_eq!(
                (after.failures, after.locked_until),
                (failures, locked_until),
                "{name}"
            );
            if outcome.is_success() {
                assert_eq!(after.last_success, Some(NOW), "{name}");
            }
            if let Outcome::Code(step) = outcome {
                assert_eq!(
                    after.last_step_start,
                    step_start(step.max(state.last_step_start.unwrap_or(0) / 30)),
                    "{name}"
                );
            }
            if let Outcome::Recovery(id) = &decision.outcome {
                assert!(after.used_recovery.contains(id), "{name}");
            }
            if matches!(outcome, Outcome::LockedOut(_)) {
                assert_eq!(decision.state, None, "{name}: a lockout writes nothing");
            }
        }
    }

    #[test]
    fn without_a_credential_every_answer_counts_like_a_wrong_code() {
        let c = credential(&[]);
        let wrong = parse_answer(wrong(&c).as_bytes());
        let mut enrolled = State::default();
        let mut decoy = State::default();
        for attempt in 0..6 {
            let a = decide(&c, &enrolled, &wrong, NOW, &policy());
            let b = decide_without_credential(&decoy, NOW, &policy());
            assert_eq!(a.outcome, b.outcome, "attempt {attempt}");
            enrolled = a.state.unwrap_or(enrolled);
            decoy = b.state.unwrap_or(decoy);
            assert_eq!(
                (enrolled.failures, enrolled.locked_until),
                (decoy.failures, decoy.locked_until),
                "attempt {attempt}"
            );
        }
        assert_eq!(decoy.lockout_remaining(NOW), Some(30));
    }

    #[test]
    fn an_accepted_step_never_moves_back() {
        let c = credential(&[]);
        let later = State {
            last_step_start: step_start(STEP + 5),
            ..State::default()
        };
        // A step after NOW's window is not reachable, so no code is fresh.
        for offset in -1..=1 {
            let decision = decide(
                &c,
                &later,
                &parse_answer(code(&c, offset).as_bytes()),
                NOW,
                &policy(),
            );
            assert_eq!(decision.outcome, Outcome::Reused, "offset {offset}");
            assert_eq!(
                decision.state.unwrap().last_step_start,
                step_start(STEP + 5)
            );
        }
    }

    #[test]
    fn the_window_is_the_policys() {
        let c = credential(&[]);
        let wide = Policy {
            window: 2,
            ..policy()
        };
        let answer = parse_answer(code(&c, -2).as_bytes());
        assert_eq!(
            decide(&c, &State::default(), &answer, NOW, &wide).outcome,
            Outcome::Code(STEP - 2)
        );
        let narrow = Policy {
            window: 0,
            ..policy()
        };
        let answer = parse_answer(code(&c, 1).as_bytes());
        assert_eq!(
            decide(&c, &State::default(), &answer, NOW, &narrow).outcome,
            Outcome::Wrong
        );
    }

    fn hotp_credential(counter: u64, recovery_codes: &[&str]) -> Credential {
        let text = format!(
            "version = 1\ntype = \"hotp\"\nsecret = \"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\"\ncounter = {counter}\n"
        );
        let mut credential = Credential::new(SecretFile::parse(text.as_bytes()).unwrap()).unwrap();
        credential.secret.recovery = recovery_codes
            .iter()
            .map(|code| {
                RecoveryHash::new(&crate::otp::recovery::normalize(code).unwrap(), vec![7; 16])
            })
            .collect();
        credential
    }

    fn hotp_code(credential: &Credential, counter: u64) -> String {
        let Checker::Counter(generator) = &credential.checker else {
            panic!("an HOTP credential")
        };
        generator.code_for_counter(counter)
    }

    #[test]
    fn the_hotp_decision_table() {
        const LAST: u64 = 500;
        let c = hotp_credential(20, &["abcd-efgh"]);
        let window = u64::from(policy().hotp_window);
        let fresh = State::default();
        let after = State {
            last_counter: Some(LAST),
            ..State::default()
        };
        let two_failures = State {
            failures: 2,
            ..after.clone()
        };
        let locked = State {
            failures: 3,
            locked_until: NOW + 10,
            ..after.clone()
        };
        let all_codes: Vec<String> = (0..LAST + 2 * window).map(|n| hotp_code(&c, n)).collect();
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|code| !all_codes.contains(code))
            .unwrap();
        // (name, state, typed, outcome, failures after, last_counter after)
        type Row<'a> = (&'a str, &'a State, String, Outcome, u32, Option<u64>);
        let table: Vec<Row> = vec![
            (
                "last + 1",
                &after,
                hotp_code(&c, LAST + 1),
                Outcome::Counter(LAST + 1),
                0,
                Some(LAST + 1),
            ),
            (
                "last + hotp_window",
                &after,
                hotp_code(&c, LAST + window),
                Outcome::Counter(LAST + window),
                0,
                Some(LAST + window),
            ),
            (
                "last itself: a replay",
                &after,
                hotp_code(&c, LAST),
                Outcome::Reused,
                1,
                Some(LAST),
            ),
            (
                "last + hotp_window + 1",
                &after,
                hotp_code(&c, LAST + window + 1),
                Outcome::Wrong,
                1,
                Some(LAST),
            ),
            (
                "an earlier value",
                &after,
                hotp_code(&c, LAST - 1),
                Outcome::Wrong,
                1,
                Some(LAST),
            ),
            (
                "the file's counter once the state has one",
                &after,
                hotp_code(&c, 20),
                Outcome::Wrong,
                1,
                Some(LAST),
            ),
            (
                "fresh: the file's counter",
                &fresh,
                hotp_code(&c, 20),
                Outcome::Counter(20),
                0,
                Some(20),
            ),
            (
                "fresh: counter + hotp_window - 1",
                &fresh,
                hotp_code(&c, 20 + window - 1),
                Outcome::Counter(20 + window - 1),
                0,
                Some(20 + window - 1),
            ),
            (
                "fresh: counter + hotp_window",
                &fresh,
                hotp_code(&c, 20 + window),
                Outcome::Wrong,
                1,
                None,
            ),
            (
                "fresh: before the file's counter",
                &fresh,
                hotp_code(&c, 19),
                Outcome::Wrong,
                1,
                None,
            ),
            (
                "wrong code",
                &after,
                wrong.clone(),
                Outcome::Wrong,
                1,
                Some(LAST),
            ),
            (
                "third wrong code",
                &two_failures,
                wrong.clone(),
                Outcome::Wrong,
                3,
                Some(LAST),
            ),
            (
                "right code clears failures",
                &two_failures,
                hotp_code(&c, LAST + 2),
                Outcome::Counter(LAST + 2),
                0,
                Some(LAST + 2),
            ),
            (
                "locked out: right code not checked",
                &locked,
                hotp_code(&c, LAST + 1),
                Outcome::LockedOut(10),
                3,
                Some(LAST),
            ),
            (
                "recovery code",
                &after,
                "abcd-efgh".into(),
                Outcome::Recovery(c.secret.recovery[0].id()),
                0,
                Some(LAST),
            ),
            (
                "malformed",
                &after,
                "%s".into(),
                Outcome::Malformed,
                1,
                Some(LAST),
            ),
        ];
        for (name, state, typed, outcome, failures, last_counter) in table {
            let decision = decide(&c, state, &parse_answer(typed.as_bytes()), NOW, &policy());
            assert_eq!(decision.outcome, outcome, "{name}");
            let after = decision.state.clone().unwrap_or_else(|| state.clone());
            assert_eq!(
                (after.failures, after.last_counter),
                (failures, last_counter),
                "{name}"
            );
            assert_eq!(after.last_step_start, None, "{name}: HOTP has no time step");
            if outcome.is_success() {
                assert_eq!(after.last_success, Some(NOW), "{name}");
            }
        }
    }

    #[test]
    fn an_accepted_counter_is_refused_afterwards() {
        let c = hotp_credential(0, &[]);
        let mut state = State::default();
        for counter in [0, 1, 5, 6] {
            let answer = parse_answer(hotp_code(&c, counter).as_bytes());
            let decision = decide(&c, &state, &answer, NOW, &policy());
            assert_eq!(decision.outcome, Outcome::Counter(counter));
            state = decision.state.unwrap();
            let again = decide(&c, &state, &answer, NOW, &policy());
            assert_eq!(again.outcome, Outcome::Reused, "counter {counter} replayed");
        }
        // Values skipped over (2 to 4) never work again.
        for counter in 2..=4 {
            let answer = parse_answer(hotp_code(&c, counter).as_bytes());
            assert_eq!(
                decide(&c, &state, &answer, NOW, &policy()).outcome,
                Outcome::Wrong
            );
        }
    }

    #[test]
    fn resync_finds_two_consecutive_codes() {
        let c = hotp_credential(0, &[]);
        let state = State {
            last_counter: Some(10),
            ..State::default()
        };
        let at = |n: u64| hotp_code(&c, n);
        // Pressed 100 times since: codes 111 and 112.
        assert_eq!(resync(&c, &state, &at(111), &at(112)), Ok(112));
        // The range edges: 11/12 is the first pair, 1009/1010 the last.
        assert_eq!(resync(&c, &state, &at(11), &at(12)), Ok(12));
        assert_eq!(resync(&c, &state, &at(1009), &at(1010)), Ok(1010));
        let not_found = Err(ResyncError::NotFound { first: 11 });
        assert_eq!(resync(&c, &state, &at(1010), &at(1011)), not_found);
        // Not consecutive, reversed, repeated, or already used.
        assert_eq!(resync(&c, &state, &at(111), &at(113)), not_found);
        assert_eq!(resync(&c, &state, &at(112), &at(111)), not_found);
        assert_eq!(resync(&c, &state, &at(111), &at(111)), not_found);
        assert_eq!(resync(&c, &state, &at(9), &at(10)), not_found);
        assert_eq!(resync(&c, &state, &at(10), &at(11)), not_found);
        // Nothing accepted yet: from the file's counter.
        let c = hotp_credential(500, &[]);
        let at = |n: u64| hotp_code(&c, n);
        assert_eq!(resync(&c, &State::default(), &at(500), &at(501)), Ok(501));
        assert_eq!(
            resync(&c, &State::default(), &at(498), &at(499)),
            Err(ResyncError::NotFound { first: 500 })
        );
        // A TOTP enrollment has no counter.
        assert_eq!(
            resync(&credential(&[]), &state, "123456", "654321"),
            Err(ResyncError::NotCounterBased)
        );
    }

    #[test]
    fn only_accepted_codes_are_successes() {
        for outcome in [
            Outcome::Code(1),
            Outcome::Counter(0),
            Outcome::Recovery("id".into()),
        ] {
            assert!(outcome.is_success(), "{outcome:?}");
        }
        for outcome in [
            Outcome::Reused,
            Outcome::RecoveryUsed,
            Outcome::Wrong,
            Outcome::Malformed,
            Outcome::LockedOut(30),
        ] {
            assert!(!outcome.is_success(), "{outcome:?}");
        }
    }
}
