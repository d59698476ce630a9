//! The decision on one answer, as a pure function: given the enrollment,
//! the state, the answer, the time and the policy, it returns the outcome
//! and the state to store. No I/O, no clock, no user: the store runs it
//! under its lock (or its compare-and-set), the module reports the outcome.

use crate::answer::Answer;
use crate::config::Config;
use crate::otp::{Generator, InvalidParameters, Verdict};
use crate::recovery::RecoveryHash;
use crate::secret::SecretFile;
use crate::state::State;

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

/// A usable enrollment: the secret file and the code generator made from it.
pub struct Credential {
    pub secret: SecretFile,
    pub generator: Generator,
}

impl Credential {
    pub fn new(secret: SecretFile) -> Result<Credential, InvalidParameters> {
        let generator = secret.generator()?;
        Ok(Credential { secret, generator })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A code for this time step, later than the last accepted one.
    Code(u64),
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
        matches!(self, Outcome::Code(_) | Outcome::Recovery(_))
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Outcome::Code(_) => "code accepted",
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
            let last = state.last_step_for_period(secret.period);
            match credential.generator.verify(code, now, policy.window, last) {
                Verdict::Accepted(step) => Outcome::Code(step),
                Verdict::Reused(_) => Outcome::Reused,
                // Eight digits may be a scratch code imported from
                // google-authenticator, kept as a recovery code.
                Verdict::Wrong => match crate::recovery::normalize(code) {
                    Some(canonical) => recovery_outcome(&secret.recovery, state, &canonical),
                    None => Outcome::Wrong,
                },
            }
        }
        Answer::Recovery(code) => recovery_outcome(&secret.recovery, state, code),
        Answer::Malformed => Outcome::Malformed,
    };
    let mut next = state.clone();
    match &outcome {
        Outcome::Code(step) => {
            next.record_success(now, Some(credential.generator.step_start(*step)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::parse_answer;

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
                let canonical = crate::recovery::normalize(code).unwrap();
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
        credential
            .generator
            .code_for_step(STEP.checked_add_signed(offset).unwrap())
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
}
