//! A new enrollment: the secret and recovery codes it creates, and the
//! code that confirms it, which is checked against the new secret and then
//! recorded as used, so it cannot log in once more. One implementation for
//! `pam-totp enroll` and for enrollment at login.

use zeroize::Zeroizing;

use crate::answer::Answer;
use crate::otp::{Generator, HashAlgorithm, Verdict};
use crate::secret::SecretFile;
use crate::state::State;

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

/// A secret not saved yet, with the recovery codes whose hashes it holds.
pub struct NewEnrollment {
    pub file: SecretFile,
    /// The codes themselves, shown once after saving; only hashes are kept.
    pub recovery_codes: Vec<Zeroizing<String>>,
    generator: Generator,
}

impl NewEnrollment {
    /// A TOTP secret from the OS random source and `recovery_codes` codes.
    pub fn create(
        algorithm: HashAlgorithm,
        digits: u8,
        period: u64,
        recovery_codes: usize,
    ) -> Result<NewEnrollment, NewEnrollmentError> {
        let secret = Zeroizing::new(
            crate::system::random::bytes(SECRET_BYTES).map_err(NewEnrollmentError::Random)?,
        );
        let (codes, hashes) =
            crate::recovery::generate(recovery_codes).map_err(NewEnrollmentError::Random)?;
        let file = SecretFile {
            secret,
            algorithm,
            digits,
            period,
            recovery: hashes,
        };
        let generator = file
            .generator()
            .map_err(|error| NewEnrollmentError::Parameters(error.0))?;
        Ok(NewEnrollment {
            file,
            recovery_codes: codes,
            generator,
        })
    }

    /// The start of the time step `answer` is the code of, if it is a right
    /// code at `now` (within `window` steps, at least one: the user reads
    /// the code off a phone and types it).
    pub fn confirmed_step_start(&self, answer: &Answer, now: u64, window: u32) -> Option<u64> {
        let Answer::Totp(code) = answer else {
            return None;
        };
        match self.generator.verify(code, now, window.max(1), None) {
            Verdict::Accepted(step) => Some(self.generator.step_start(step)),
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
    use crate::answer::parse_answer;

    #[test]
    fn only_a_current_code_confirms_and_then_it_is_used() {
        let new = NewEnrollment::create(HashAlgorithm::Sha1, 6, 30, 3).unwrap();
        assert_eq!(new.file.secret.len(), SECRET_BYTES);
        assert_eq!(new.recovery_codes.len(), 3);
        assert_eq!(new.file.recovery.len(), 3);
        let now = 1_800_000_015;
        let step = new.generator.step_at(now);
        let code = new.generator.code_for_step(step);
        let start = new.confirmed_step_start(&parse_answer(code.as_bytes()), now, 0);
        assert_eq!(start, Some(new.generator.step_start(step)));
        let old = new.generator.code_for_step(step - 5);
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
}
