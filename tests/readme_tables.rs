//! Issue 20 point 11: the README's tables say what the software does. The
//! command table names every subcommand `pam-totp --help` lists, and the
//! install table names the module's directory where the `.deb` puts it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;

use common::sshd::cli_path;

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The rows of the README table that follows the line `header`.
fn table_after<'a>(readme: &'a str, header: &str) -> Vec<&'a str> {
    let start = readme
        .find(header)
        .unwrap_or_else(|| panic!("no table {header:?} in README.md"));
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect()
}

#[test]
fn the_command_table_names_every_subcommand() {
    let help = Command::new(cli_path()).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.len() >= 10, "{help}");
    let readme = repo_file("README.md");
    let rows = table_after(
        &readme,
        "| command | what it does |\n| --- | --- |\n| `pam-totp enroll`",
    );
    for command in commands {
        assert!(
            rows.iter()
                .any(|row| row.starts_with(&format!("| `pam-totp {command}"))),
            "README's command table has no row for `pam-totp {command}`"
        );
    }
}

#[test]
fn the_install_table_names_the_directory_the_deb_uses() {
    let build = repo_file("packaging/deb/build.sh");
    assert!(
        build.contains("PAMDIR=\"/lib/$multiarch/security\""),
        "packaging/deb/build.sh no longer installs to /lib/MULTIARCH/security: update this test and the README"
    );
    let readme = repo_file("README.md");
    let rows = table_after(&readme, "| installed | what |");
    for module in ["pam_totp.so", "pam_totp_postgres.so"] {
        let row = rows
            .iter()
            .find(|row| row.contains(&format!("/security/{module}`")))
            .unwrap_or_else(|| panic!("no row for {module}"));
        assert!(
            row.starts_with(&format!("| `/lib/<multiarch>/security/{module}`")),
            "{row}"
        );
    }
    assert!(
        rows.iter().any(|row| row.contains("merged /usr")),
        "the table does not say that /lib and /usr/lib are one directory on merged /usr"
    );
}
