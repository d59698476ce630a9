//! `service=NAME` in `database.conf`, read from the system's service file
//! as libpq reads it (`/etc/postgresql-common/pg_service.conf` on Debian),
//! through a real login on a real PostgreSQL: the section's keywords fill
//! in what the string leaves out, the string's own keywords win, and a
//! file anyone but root could read, or a section that is not there, fails
//! closed with a message that names it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use common::fleet::{Fleet, text};
use common::pg::{DATABASE, PASSWORD, ROLE};
use common::sshd::oathtool_code;
use common::*;

/// The system service file for the time of a test: what was there before
/// (an administrator's own file) is put back when it is dropped.
struct SystemServiceFile {
    path: PathBuf,
    before: Option<Vec<u8>>,
    made_dir: bool,
    _lock: std::fs::File,
}

impl SystemServiceFile {
    fn take() -> SystemServiceFile {
        let lock = machine_lock("pg-service-file");
        let path = PathBuf::from(pam_totp::store::postgres::conninfo::SERVICE_FILES[0]);
        let dir = path.parent().unwrap();
        let made_dir = !dir.exists();
        std::fs::create_dir_all(dir).unwrap();
        let before = std::fs::read(&path).ok();
        SystemServiceFile {
            path,
            before,
            made_dir,
            _lock: lock,
        }
    }

    fn write(&self, text: &str, mode: u32) {
        std::fs::write(&self.path, text).unwrap();
        set_mode(&self.path, mode);
    }
}

impl Drop for SystemServiceFile {
    fn drop(&mut self) {
        match &self.before {
            Some(bytes) => {
                let _ = std::fs::write(&self.path, bytes);
            }
            None => {
                let _ = std::fs::remove_file(&self.path);
                if self.made_dir {
                    let _ = std::fs::remove_dir(self.path.parent().unwrap_or(Path::new("/")));
                }
            }
        }
    }
}

#[test]
fn a_login_reads_its_connection_from_a_service_in_the_system_service_file() {
    if skip_unless_root("the system's service file is root's, under /etc") {
        return;
    }
    let fleet = Fleet::start();
    let user = current_user();
    let secret = fleet.enroll(&user);
    let host = fleet.pam_host("service", "");
    let file = SystemServiceFile::take();
    let name = format!("pamtotp-test-{}", std::process::id());
    let section = |password: &str| {
        format!(
            "# the fleet's database\n[other]\nhost=192.0.2.1\n\n[{name}]\nhost=127.0.0.1\nport={}\nuser={ROLE}\npassword={password}\ndbname={DATABASE}\nsslmode=disable\n",
            fleet.db.port
        )
    };

    // The section's values are the ones used: a wrong password there fails
    // closed (unavailable, nothing recorded).
    file.write(&section("not-the-password"), 0o600);
    fleet.write_conninfo(&format!("service={name}"));
    wait_clear_of_a_step_edge();
    let code = oathtool_code(&secret, 0);
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);

    // A file others can read, or a section that is not there: refused,
    // and `status` says why, naming the file or the section.
    file.write(&section(PASSWORD), 0o644);
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    let status = fleet.cli(&["status", "--user", &user]);
    let said = text(&status.stderr);
    assert!(!status.status.success(), "{said}");
    assert!(
        said.contains(&file.path.display().to_string()) && said.contains("0644"),
        "{said}"
    );
    file.write(&section(PASSWORD), 0o600);
    fleet.write_conninfo("service=no-such-service");
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_AUTHINFO_UNAVAIL, "{:?}", outcome.shown);
    let status = fleet.cli(&["status", "--user", &user]);
    let said = text(&status.stderr);
    assert!(!status.status.success(), "{said}");
    assert!(said.contains("no-such-service"), "{said}");

    // Everything from the section, the file root's and 0600: the same code
    // now logs in (so none of the refusals above recorded anything).
    fleet.write_conninfo(&format!("service={name}"));
    let outcome = host.authenticate(&user, answer(&code));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);

    // The string's own keyword wins over the section's, as in libpq.
    file.write(&section("not-the-password"), 0o600);
    fleet.write_conninfo(&format!("service={name} password={PASSWORD}"));
    let outcome = host.authenticate(&user, answer(&oathtool_code(&secret, 1)));
    assert_eq!(outcome.code, PAM_SUCCESS, "{:?}", outcome.shown);
}
