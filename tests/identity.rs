//! A secret under the home is read with the user's file-system identity:
//! a file the user could not read is refused even though root could.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sshd::{TestUser, manage, remove};
use common::*;

#[test]
fn secret_in_home_is_read_as_the_user() {
    if skip_unless_root("needs root to create a user") {
        return;
    }
    let user = TestUser::create("pamtotp-ident");
    let dir = user.home.join(".config/pam-totp");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret.toml");
    std::fs::write(&secret, format!("version = 1\nsecret = \"{SECRET_B32}\"\n")).unwrap();
    set_mode(&secret, 0o600);
    let state = tempfile::tempdir().unwrap();
    let service = Service::with_args(&format!("state_dir={}", state.path().join("s").display()));
    let fixture = Fixture::new();

    // Root-owned, 0600, inside a directory the user can enter: root could
    // read it, the user cannot, so the module must not.
    std::os::unix::fs::chown(
        user.home.join(".config"),
        Some(pam_totp::system::account::real_uid()),
        None,
    )
    .unwrap();
    let outcome = service.authenticate(&user.name, answer(&fixture.code(0)));
    assert_eq!(
        outcome.code, PAM_AUTHINFO_UNAVAIL,
        "read a file the user cannot read"
    );

    // The same file owned by the user, in a directory only they can enter:
    // accepted (the switch to the user's identity is not a blanket refusal).
    let account = pam_totp::system::account::lookup_user(&user.name).unwrap();
    for path in [user.home.join(".config"), dir.clone(), secret.clone()] {
        std::os::unix::fs::chown(&path, Some(account.uid), Some(account.gid)).unwrap();
    }
    set_mode(&dir, 0o700);
    let outcome = service.authenticate(&user.name, answer(&fixture.code(0)));
    assert_eq!(outcome.code, PAM_SUCCESS);
}

#[test]
fn a_code_accepted_for_one_name_is_refused_for_another_name_of_the_same_uid() {
    if skip_unless_root("needs root to create users") {
        return;
    }
    let user = TestUser::create("pamtotp-alias1");
    let account = pam_totp::system::account::lookup_user(&user.name).unwrap();
    let alias_guard = Alias::create("pamtotp-alias2", &account, &user.home);
    let alias = alias_guard.0;

    // One secret in the shared home, read by both names.
    let dir = user.home.join(".config/pam-totp");
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret.toml");
    std::fs::write(&secret, format!("version = 1\nsecret = \"{SECRET_B32}\"\n")).unwrap();
    set_mode(&secret, 0o600);
    for path in [user.home.join(".config"), dir, secret] {
        std::os::unix::fs::chown(&path, Some(account.uid), Some(account.gid)).unwrap();
    }
    let state = tempfile::tempdir().unwrap();
    let service = Service::with_args(&format!("state_dir={}", state.path().join("s").display()));
    let code = Fixture::new().code(0);
    assert_eq!(
        service.authenticate(&user.name, answer(&code)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        service.authenticate(alias, answer(&code)).code,
        PAM_AUTH_ERR,
        "replayed under an alias"
    );
}

#[test]
fn with_a_secret_per_name_each_name_of_a_uid_keeps_its_own_record() {
    if skip_unless_root("needs root to create users") {
        return;
    }
    let user = TestUser::create("pamtotp-alias3");
    let account = pam_totp::system::account::lookup_user(&user.name).unwrap();
    let alias_guard = Alias::create("pamtotp-alias4", &account, &user.home);
    let alias = alias_guard.0;
    // An administrator-managed store with one secret per name (%u).
    let store = tempfile::tempdir().unwrap();
    for name in [user.name.as_str(), alias] {
        let path = store.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("version = 1\nsecret = \"{SECRET_B32}\"\n")).unwrap();
        set_mode(&path, 0o600);
    }
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("s");
    let service = Service::with_args(&format!(
        "secret_path={}/%u.toml state_dir={}",
        store.path().display(),
        state_dir.display()
    ));
    let code = Fixture::new().code(0);
    assert_eq!(
        service.authenticate(&user.name, answer(&code)).code,
        PAM_SUCCESS
    );
    assert_eq!(
        service.authenticate(alias, answer(&code)).code,
        PAM_SUCCESS,
        "records of two secrets mixed"
    );
    assert_eq!(
        service.authenticate(&user.name, answer(&code)).code,
        PAM_AUTH_ERR
    );
    for name in [user.name.as_str(), alias] {
        let file = state_dir.join(pam_totp::store::files::state::state_file_name(
            account.uid,
            Some(name),
        ));
        assert!(file.is_file(), "{} missing", file.display());
    }
}

/// A second passwd entry with the same uid, gid and home (useradd
/// --non-unique), removed on drop.
struct Alias(&'static str);

impl Alias {
    fn create(
        name: &'static str,
        account: &pam_totp::system::account::Account,
        home: &std::path::Path,
    ) -> Alias {
        remove("userdel", &[name]);
        let (uid, gid) = (account.uid.to_string(), account.gid.to_string());
        let home = home.to_str().unwrap();
        let args = [
            "--non-unique",
            "--uid",
            &uid,
            "--gid",
            &gid,
            "--no-create-home",
            "--home-dir",
            home,
            name,
        ];
        manage("useradd", &args);
        Alias(name)
    }
}

impl Drop for Alias {
    fn drop(&mut self) {
        remove("userdel", &[self.0]);
    }
}
