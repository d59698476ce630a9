//! A new enrollment: the secret and recovery codes it creates, and the
//! code that confirms it, which is checked against the new secret and then
//! recorded as used, so it cannot log in once more. One implementation for
//! `pam-totp enroll` and for enrollment at login.

use zeroize::Zeroizing;

use crate::otp::answer::Answer;
use crate::otp::code::{CounterVerdict, HashAlgorithm, Verdict};
use crate::otp::decision::Checker;
use crate::otp::secret::{SecretFile, TokenKind};
use crate::otp::state::State;

/// Secret length: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;
/// Confirming codes typed before the enrollment is given up, nothing saved.
pub const TRIES: u32 = 3;

#[derive(Debug)]
pub enum NewEnrollmentError {
    /// The OS random source failed.
    Random(std::io::Error),
    /// The parameters make no generator (cannot happen with the CLI's bounds).
    Parameters(String),
}

impl std::fmt::Display for NewEnrollmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewEnrollmentError::Random(error) => {
                write!(f, "cannot read the OS random source: {error}")
            }
            NewEnrollmentError::Parameters(why) => write!(f, "cannot use the new secret: {why}"),
        }
    }
}

impl std::error::Error for NewEnrollmentError {}

/// A secret not saved yet, with the recovery codes whose hashes it holds.
pub struct NewEnrollment {
    pub file: SecretFile,
    /// The codes themselves, shown once after saving; only hashes are kept.
    pub recovery_codes: Vec<Zeroizing<String>>,
    checker: Checker,
}

impl NewEnrollment {
    /// A TOTP secret from the OS random source and `recovery_codes` codes.
    pub fn create(
        algorithm: HashAlgorithm,
        digits: u8,
        period: u64,
        recovery_codes: usize,
    ) -> Result<NewEnrollment, NewEnrollmentError> {
        NewEnrollment::with_secret(
            TokenKind::Totp,
            None,
            algorithm,
            digits,
            period,
            recovery_codes,
        )
    }

    /// A secret of `kind`: `seed` (a hardware token's, given by root), or
    /// one from the OS random source.
    pub fn with_secret(
        kind: TokenKind,
        seed: Option<Zeroizing<Vec<u8>>>,
        algorithm: HashAlgorithm,
        digits: u8,
        period: u64,
        recovery_codes: usize,
    ) -> Result<NewEnrollment, NewEnrollmentError> {
        let secret = match seed {
            Some(seed) => seed,
            None => Zeroizing::new(
                crate::system::random::bytes(SECRET_BYTES).map_err(NewEnrollmentError::Random)?,
            ),
        };
        let (codes, hashes) =
            crate::otp::recovery::generate(recovery_codes).map_err(NewEnrollmentError::Random)?;
        let file = SecretFile {
            secret,
            algorithm,
            digits,
            period,
            recovery: hashes,
            kind,
        };
        let checker = match kind {
            TokenKind::Totp => file.generator().map(Checker::Time),
            TokenKind::Hotp { .. } => file.counter_generator().map(Checker::Counter),
        }
        .map_err(|error| NewEnrollmentError::Parameters(error.0))?;
        Ok(NewEnrollment {
            file,
            recovery_codes: codes,
            checker,
        })
    }

    /// For an HOTP secret: the counter value `answer` is the code of, if it
    /// is one of the `window` values from the file's `counter` on. The
    /// token then shows the next value next: the file says so, so the
    /// confirming code never logs in (whoever may write the state).
    pub fn confirm_counter(&mut self, answer: &Answer, window: u32) -> Option<u64> {
        let (Answer::Totp(code), Checker::Counter(generator), TokenKind::Hotp { counter }) =
            (answer, &self.checker, self.file.kind)
        else {
            return None;
        };
        match generator.verify(code, None, counter, window.max(1)) {
            CounterVerdict::Accepted(matched) => {
                self.file.kind = TokenKind::Hotp {
                    counter: matched.saturating_add(1),
                };
                Some(matched)
            }
            CounterVerdict::Reused(_) | CounterVerdict::Wrong => None,
        }
    }

    /// The start of the time step `answer` is the code of, if it is a right
    /// code at `now` (within `window` steps, at least one: the user reads
    /// the code off a phone and types it).
    pub fn confirmed_step_start(&self, answer: &Answer, now: u64, window: u32) -> Option<u64> {
        let (Answer::Totp(code), Checker::Time(generator)) = (answer, &self.checker) else {
            return None;
        };
        match generator.verify(code, now, window.max(1), None) {
            Verdict::Accepted(step) => Some(generator.step_start(step)),
            Verdict::Reused(_) | Verdict::Wrong => None,
        }
    }
}

/// The state once the confirming code of the step starting at
/// `step_start` is used: that step and every earlier one are refused.
pub fn confirming_code_used(state: &State, step_start: u64) -> State {
    let mut next = state.clone();
    next.last_step_start = Some(
        next.last_step_start
            .map_or(step_start, |l| l.max(step_start)),
    );
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otp::answer::parse_answer;

    #[test]
    fn only_a_current_code_confirms_and_then_it_is_used() {
        let new = NewEnrollment::create(HashAlgorithm::Sha1, 6, 30, 3).unwrap();
        let Checker::Time(generator) = &new.checker else {
            panic!("a TOTP enrollment")
        };
        assert_eq!(new.file.secret.len(), SECRET_BYTES);
        assert_eq!(new.recovery_codes.len(), 3);
        assert_eq!(new.file.recovery.len(), 3);
        let now = 1_800_000_015;
        let step = generator.step_at(now);
        let code = generator.code_for_step(step);
        let start = new.confirmed_step_start(&parse_answer(code.as_bytes()), now, 0);
        assert_eq!(start, Some(generator.step_start(step)));
        let old = generator.code_for_step(step - 5);
        if old != code {
            assert_eq!(
                new.confirmed_step_start(&parse_answer(old.as_bytes()), now, 1),
                None
            );
        }
        let recovery = parse_answer(new.recovery_codes[0].as_bytes());
        assert_eq!(new.confirmed_step_start(&recovery, now, 1), None);

        let used = confirming_code_used(&State::default(), start.unwrap());
        assert_eq!(used.last_step_for_period(30), Some(step));
        assert_eq!(used.last_success, None, "confirming is not a login");
        // Never moves the last used step back.
        let later = confirming_code_used(&used, 0);
        assert_eq!(later.last_step_for_period(30), Some(step));
    }

    #[test]
    fn an_hotp_token_confirms_with_its_next_code_which_is_then_used() {
        let seed = Zeroizing::new(b"12345678901234567890".to_vec());
        let mut new = NewEnrollment::with_secret(
            TokenKind::Hotp { counter: 3 },
            Some(seed),
            HashAlgorithm::Sha1,
            6,
            30,
            0,
        )
        .unwrap();
        // RFC 4226 appendix D: 969429 is counter 3, 254676 counter 5.
        assert_eq!(new.confirm_counter(&parse_answer(b"755224"), 10), None);
        assert_eq!(new.file.kind, TokenKind::Hotp { counter: 3 });
        assert_eq!(new.confirm_counter(&parse_answer(b"254676"), 10), Some(5));
        assert_eq!(new.file.kind, TokenKind::Hotp { counter: 6 });
        assert_eq!(
            new.confirmed_step_start(&parse_answer(b"254676"), 0, 1),
            None
        );
    }
}
