//! Issue 20 point 9: what `dpkg --purge pam-totp` removes, by running the
//! package's own postrm as dpkg does at the end of a purge. /etc and
//! /var/lib are temporary directories mounted over the real ones in a
//! mount namespace of the script's own, so nothing on the machine is
//! touched: the state and this host's database.conf (it holds the
//! password) go; the fleet's secret.key stays, and the script says where;
//! an administrator's own files stay, and the script names them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn can_mount() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--mount", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Run postrm purge with `root`/etc and `root`/var/lib as /etc and
/// /var/lib; what it printed (stdout and stderr) and whether it succeeded.
fn purge(root: &Path) -> (String, bool) {
    let postrm = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/deb/postrm");
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount --bind \"$1/etc\" /etc && mount --bind \"$1/var/lib\" /var/lib && exec sh \"$2\" purge",
        )
        .arg("sh")
        .arg(root)
        .arg(postrm)
        .output()
        .unwrap();
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        output.status.success(),
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn purge_removes_the_state_and_database_conf_and_keeps_the_fleet_key_saying_where() {
    if !can_mount() {
        return skip("needs root and mount namespaces");
    }
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(&r.join("var/lib/pam-totp/uid-1000.state"), "");
    write(
        &r.join("etc/pam-totp/database.conf"),
        "host=db.example.org password=secret",
    );
    write(&r.join("etc/pam-totp/secret.key"), &"k".repeat(32));
    write(&r.join("etc/pam-totp/admin-notes.txt"), "mine");
    let (said, ok) = purge(r);
    assert!(ok, "{said}");
    assert!(!r.join("var/lib/pam-totp").exists(), "{said}");
    assert!(!r.join("etc/pam-totp/database.conf").exists(), "{said}");
    assert!(r.join("etc/pam-totp/secret.key").exists(), "{said}");
    assert!(r.join("etc/pam-totp/admin-notes.txt").exists(), "{said}");
    assert!(
        said.contains("kept /etc/pam-totp/secret.key"),
        "the kept key is not named: {said}"
    );
    assert!(said.contains("database.conf"), "{said}");
    assert!(said.contains("admin-notes.txt"), "{said}");

    // A host of the files store: nothing of the database to speak of, and
    // the directory goes when nothing else is in it.
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(&r.join("var/lib/pam-totp/uid-1000.state"), "");
    std::fs::create_dir_all(r.join("etc/pam-totp")).unwrap();
    let (said, ok) = purge(r);
    assert!(ok, "{said}");
    assert!(!r.join("etc/pam-totp").exists(), "{said}");
    assert!(!r.join("var/lib/pam-totp").exists(), "{said}");
    assert_eq!(said, "", "a plain purge says nothing");
}
