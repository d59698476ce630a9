//! One-time codes: TOTP (RFC 6238) checked within a window of time steps,
//! and HOTP (RFC 4226) checked over the counter values after the last
//! accepted one.
//!
//! RFC 6238 defines TOTP as HOTP of the time step, so one totp-rs generator
//! serves both: with a period of one second, its "time" is the HOTP counter.

use totp_rs::{Algorithm, Builder, Totp};

/// The hash a TOTP secret is used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA1",
            HashAlgorithm::Sha256 => "SHA256",
            HashAlgorithm::Sha512 => "SHA512",
        }
    }

    pub fn from_name(name: &str) -> Option<HashAlgorithm> {
        match name.to_ascii_uppercase().as_str() {
            "SHA1" => Some(HashAlgorithm::Sha1),
            "SHA256" => Some(HashAlgorithm::Sha256),
            "SHA512" => Some(HashAlgorithm::Sha512),
            _ => None,
        }
    }

    fn to_totp_rs(self) -> Algorithm {
        match self {
            HashAlgorithm::Sha1 => Algorithm::SHA1,
            HashAlgorithm::Sha256 => Algorithm::SHA256,
            HashAlgorithm::Sha512 => Algorithm::SHA512,
        }
    }
}

/// Outcome of checking a code against the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid for this step, later than the last accepted one.
    Accepted(u64),
    /// Valid, but only for steps already accepted.
    Reused(u64),
    /// Not valid for any step in the window.
    Wrong,
}

/// A TOTP generator/checker for one secret.
pub struct Generator {
    totp: Totp,
    period: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct InvalidParameters(pub String);

impl std::fmt::Display for InvalidParameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidParameters {}

impl Generator {
    /// `digits` 6 to 8, `period` at least one second, secret at least 128 bits.
    pub fn new(
        secret: &[u8],
        algorithm: HashAlgorithm,
        digits: u8,
        period: u64,
    ) -> Result<Generator, InvalidParameters> {
        let totp = Builder::new()
            .with_algorithm(algorithm.to_totp_rs())
            .with_digits(digits)
            .with_secret(secret.to_vec())
            .with_step_duration(period)
            // One step at a time: the window and replay rules are ours.
            .with_skew(0)
            .build()
            .map_err(|error| InvalidParameters(error.to_string()))?;
        Ok(Generator { totp, period })
    }

    /// The time step containing `time`.
    pub fn step_at(&self, time: u64) -> u64 {
        time / self.period
    }

    /// When time step `step` begins (Unix seconds).
    pub fn step_start(&self, step: u64) -> u64 {
        step.saturating_mul(self.period)
    }

    /// The code for time step `step`.
    pub fn code_for_step(&self, step: u64) -> String {
        self.totp
            .generate(step.saturating_mul(self.period))
            .to_string()
    }

    /// Check `code` against every step within `window` of the step at `now`.
    /// Every step is computed and compared in constant time, whatever matches.
    pub fn verify(&self, code: &str, now: u64, window: u32, last_accepted: Option<u64>) -> Verdict {
        let current = self.step_at(now);
        let first = current.saturating_sub(u64::from(window));
        let last = current.saturating_add(u64::from(window));
        let mut newest_fresh = None;
        let mut any_match = None;
        for step in first..=last {
            if self
                .totp
                .check(code, step.saturating_mul(self.period))
                .is_some()
            {
                any_match = Some(step);
                if last_accepted.is_none_or(|used| step > used) {
                    newest_fresh = Some(step);
                }
            }
        }
        match (newest_fresh, any_match) {
            (Some(step), _) => Verdict::Accepted(step),
            (None, Some(step)) => Verdict::Reused(step),
            (None, None) => Verdict::Wrong,
        }
    }
}

/// Outcome of checking a code against the counter values a token may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterVerdict {
    /// Valid for this counter value, after the last accepted one.
    Accepted(u64),
    /// Valid only for the last accepted counter value (a replay).
    Reused(u64),
    /// Not valid for any counter value tried.
    Wrong,
}

/// An HOTP (RFC 4226) generator/checker for one secret.
pub struct CounterGenerator {
    /// A period of one second: the "time" given to totp-rs is the counter.
    hotp: Totp,
}

impl CounterGenerator {
    /// `digits` 6 to 8, secret at least 128 bits.
    pub fn new(
        secret: &[u8],
        algorithm: HashAlgorithm,
        digits: u8,
    ) -> Result<CounterGenerator, InvalidParameters> {
        let hotp = Builder::new()
            .with_algorithm(algorithm.to_totp_rs())
            .with_digits(digits)
            .with_secret(secret.to_vec())
            .with_step_duration(1)
            .with_skew(0)
            .build()
            .map_err(|error| InvalidParameters(error.to_string()))?;
        Ok(CounterGenerator { hotp })
    }

    /// The code for counter value `counter`.
    pub fn code_for_counter(&self, counter: u64) -> String {
        self.hotp.generate(counter).to_string()
    }

    fn matches(&self, code: &str, counter: u64) -> bool {
        self.hotp.check(code, counter).is_some()
    }

    /// Check `code` against the `window` counter values after `last_accepted`
    /// (or from `next` on when none was accepted yet). Every candidate, and
    /// the last accepted value itself (to tell a replay), is computed and
    /// compared in constant time, whatever matches; the lowest match wins.
    pub fn verify(
        &self,
        code: &str,
        last_accepted: Option<u64>,
        next: u64,
        window: u32,
    ) -> CounterVerdict {
        let candidates = counter_candidates(last_accepted, next, window);
        let mut accepted = None;
        for counter in candidates.rev() {
            if self.matches(code, counter) {
                accepted = Some(counter);
            }
        }
        let replay = last_accepted.filter(|&last| self.matches(code, last));
        match (accepted, replay) {
            (Some(counter), _) => CounterVerdict::Accepted(counter),
            (None, Some(counter)) => CounterVerdict::Reused(counter),
            (None, None) => CounterVerdict::Wrong,
        }
    }
}

/// The counter values an HOTP code is tried against: `window` values
/// starting after `last_accepted`, or at `next` when nothing was accepted.
/// Empty past the end of the counter range.
pub fn counter_candidates(
    last_accepted: Option<u64>,
    next: u64,
    window: u32,
) -> std::ops::Range<u64> {
    let first = match last_accepted {
        Some(last) => last.checked_add(1),
        None => Some(next),
    };
    match first {
        Some(first) => first..first.saturating_add(u64::from(window)),
        None => 0..0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 appendix B: time, SHA1, SHA256, SHA512 (8 digits, 30 s).
    const VECTORS: &[(u64, &str, &str, &str)] = &[
        (59, "94287082", "46119246", "90693936"),
        (1111111109, "07081804", "68084774", "25091201"),
        (1111111111, "14050471", "67062674", "99943326"),
        (1234567890, "89005924", "91819424", "93441116"),
        (2000000000, "69279037", "90698825", "38618901"),
        (20000000000, "65353130", "77737706", "47863826"),
    ];

    #[test]
    fn rfc6238_appendix_b_vectors() {
        let sha1 = Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 8, 30).unwrap();
        let sha256 = Generator::new(SEED_SHA256, HashAlgorithm::Sha256, 8, 30).unwrap();
        let sha512 = Generator::new(SEED_SHA512, HashAlgorithm::Sha512, 8, 30).unwrap();
        for &(time, c1, c256, c512) in VECTORS {
            let step = time / 30;
            assert_eq!(sha1.code_for_step(step), c1, "SHA1 at {time}");
            assert_eq!(sha256.code_for_step(step), c256, "SHA256 at {time}");
            assert_eq!(sha512.code_for_step(step), c512, "SHA512 at {time}");
            assert_eq!(sha1.verify(c1, time, 0, None), Verdict::Accepted(step));
            assert_eq!(sha256.verify(c256, time, 0, None), Verdict::Accepted(step));
            assert_eq!(sha512.verify(c512, time, 0, None), Verdict::Accepted(step));
        }
    }

    #[test]
    fn window_edges() {
        let generator = Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 6, 30).unwrap();
        let now: u64 = 1_700_000_015;
        let current = now / 30;
        for (offset, expected) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let step = current.checked_add_signed(offset).unwrap();
            let code = generator.code_for_step(step);
            let verdict = generator.verify(&code, now, 1, None);
            if expected {
                assert_eq!(verdict, Verdict::Accepted(step), "offset {offset}");
            } else {
                assert_eq!(verdict, Verdict::Wrong, "offset {offset}");
            }
        }
        // window = 0: only the current step.
        let next = generator.code_for_step(current + 1);
        assert_eq!(generator.verify(&next, now, 0, None), Verdict::Wrong);
    }

    #[test]
    fn steps_already_accepted_are_reused() {
        let generator = Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 6, 30).unwrap();
        let now: u64 = 1_700_000_015;
        let current = now / 30;
        let code = generator.code_for_step(current);
        assert_eq!(
            generator.verify(&code, now, 1, Some(current)),
            Verdict::Reused(current)
        );
        assert_eq!(
            generator.verify(&code, now, 1, Some(current + 1)),
            Verdict::Reused(current)
        );
        assert_eq!(
            generator.verify(&code, now, 1, Some(current - 1)),
            Verdict::Accepted(current)
        );
    }

    #[test]
    fn malformed_codes_are_wrong() {
        let generator = Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 6, 30).unwrap();
        for code in [
            "",
            "12345",
            "1234567",
            "+12345",
            "12 345",
            "abcdef",
            "１２３４５６",
        ] {
            assert_eq!(
                generator.verify(code, 1_700_000_015, 1, None),
                Verdict::Wrong,
                "{code:?}"
            );
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(Generator::new(b"short", HashAlgorithm::Sha1, 6, 30).is_err());
        assert!(Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 9, 30).is_err());
        assert!(Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 5, 30).is_err());
        assert!(Generator::new(SEED_SHA1, HashAlgorithm::Sha1, 6, 0).is_err());
    }

    /// RFC 4226 appendix D: HOTP values for counters 0 to 9, secret
    /// "12345678901234567890", SHA1, 6 digits.
    const RFC4226: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];

    #[test]
    fn rfc4226_appendix_d_vectors() {
        let hotp = CounterGenerator::new(SEED_SHA1, HashAlgorithm::Sha1, 6).unwrap();
        for (counter, code) in RFC4226.iter().enumerate() {
            let counter = counter as u64;
            assert_eq!(hotp.code_for_counter(counter), *code, "counter {counter}");
            assert_eq!(
                hotp.verify(code, None, counter, 1),
                CounterVerdict::Accepted(counter)
            );
        }
    }

    /// The SHA256/SHA512 and 8-digit paths agree with RFC 6238 appendix B,
    /// whose TOTP values are HOTP values of counter time / 30.
    #[test]
    fn hotp_matches_totp_at_the_same_counter() {
        let seeds = [
            (HashAlgorithm::Sha1, SEED_SHA1),
            (HashAlgorithm::Sha256, SEED_SHA256),
            (HashAlgorithm::Sha512, SEED_SHA512),
        ];
        for &(time, c1, c256, c512) in VECTORS {
            for ((algorithm, seed), expected) in seeds.iter().zip([c1, c256, c512]) {
                let hotp = CounterGenerator::new(seed, *algorithm, 8).unwrap();
                assert_eq!(hotp.code_for_counter(time / 30), expected, "{algorithm:?}");
            }
        }
        let hotp = CounterGenerator::new(SEED_SHA1, HashAlgorithm::Sha1, 7).unwrap();
        assert_eq!(hotp.code_for_counter(0), "4755224");
    }

    #[test]
    fn counter_look_ahead_edges() {
        let hotp = CounterGenerator::new(SEED_SHA1, HashAlgorithm::Sha1, 6).unwrap();
        let last = 1_000u64;
        let window = 10;
        let verdict =
            |counter: u64| hotp.verify(&hotp.code_for_counter(counter), Some(last), 0, window);
        assert_eq!(verdict(last + 1), CounterVerdict::Accepted(last + 1));
        assert_eq!(verdict(last + 10), CounterVerdict::Accepted(last + 10));
        assert_eq!(verdict(last + 11), CounterVerdict::Wrong);
        assert_eq!(verdict(last), CounterVerdict::Reused(last));
        assert_eq!(verdict(last - 1), CounterVerdict::Wrong);
        // Nothing accepted yet: from `next` on, `window` values.
        let code = |counter: u64| hotp.code_for_counter(counter);
        assert_eq!(
            hotp.verify(&code(5), None, 5, 3),
            CounterVerdict::Accepted(5)
        );
        assert_eq!(
            hotp.verify(&code(7), None, 5, 3),
            CounterVerdict::Accepted(7)
        );
        assert_eq!(hotp.verify(&code(8), None, 5, 3), CounterVerdict::Wrong);
        assert_eq!(hotp.verify(&code(4), None, 5, 3), CounterVerdict::Wrong);
        // The state wins over the file's next value.
        assert_eq!(
            hotp.verify(&code(5), Some(5), 5, 3),
            CounterVerdict::Reused(5)
        );
        // A window of zero accepts nothing.
        assert_eq!(hotp.verify(&code(5), None, 5, 0), CounterVerdict::Wrong);
    }

    #[test]
    fn counter_candidates_stay_in_range() {
        assert_eq!(counter_candidates(None, 0, 10), 0..10);
        assert_eq!(counter_candidates(Some(0), 0, 10), 1..11);
        assert_eq!(counter_candidates(Some(u64::MAX), 0, 10), 0..0);
        assert_eq!(
            counter_candidates(Some(u64::MAX - 1), 0, 10),
            u64::MAX..u64::MAX
        );
        assert_eq!(
            counter_candidates(None, u64::MAX - 2, 10),
            u64::MAX - 2..u64::MAX
        );
        // The counter's top value itself is never reachable; it would be
        // the last one, with nothing after it.
    }

    #[test]
    fn malformed_hotp_codes_are_wrong() {
        let hotp = CounterGenerator::new(SEED_SHA1, HashAlgorithm::Sha1, 6).unwrap();
        for code in ["", "75522", "7552244", "+55224", "75 224", "１２３４５６"] {
            assert_eq!(
                hotp.verify(code, None, 0, 10),
                CounterVerdict::Wrong,
                "{code:?}"
            );
        }
        assert!(CounterGenerator::new(b"short", HashAlgorithm::Sha1, 6).is_err());
        assert!(CounterGenerator::new(SEED_SHA1, HashAlgorithm::Sha1, 9).is_err());
    }

    #[test]
    fn every_algorithm_is_found_by_its_name() {
        for algorithm in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha512,
        ] {
            assert_eq!(HashAlgorithm::from_name(algorithm.name()), Some(algorithm));
            assert_eq!(
                HashAlgorithm::from_name(&algorithm.name().to_ascii_lowercase()),
                Some(algorithm)
            );
        }
        assert_eq!(HashAlgorithm::from_name("SHA384"), None);
        assert_eq!(HashAlgorithm::from_name(""), None);
    }
}
