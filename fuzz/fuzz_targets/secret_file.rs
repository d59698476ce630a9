//! The secret-file parser: never panics; what it accepts survives a
//! round trip through the writer unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pam_totp::otp::secret::SecretFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = SecretFile::parse(data) {
        let again =
            SecretFile::parse(file.to_toml().as_bytes()).expect("written secret file parses");
        assert_eq!(again.secret, file.secret);
        assert_eq!(
            (again.algorithm, again.digits, again.period),
            (file.algorithm, file.digits, file.period)
        );
        assert_eq!(again.recovery, file.recovery);
        assert_eq!(again.kind, file.kind);
        assert!(file.check_usable().is_ok());
        let generator = file.generator().expect("accepted file gives a generator");
        let _ = generator.verify("123456", 1_700_000_000, 1, None);
    }
});
