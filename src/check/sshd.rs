//! sshd's effective settings (`sshd -T` output or an sshd_config) and
//! what in them lets a login skip keyboard-interactive, and so the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::EXAMPLES_DIR;

/// sshd settings, keyword in lower case, as the first occurrence gives
/// them (sshd keeps the first value it reads; Debian's
/// `Include /etc/ssh/sshd_config.d/*.conf` comes first, so a drop-in wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    /// Parse sshd_config text or `sshd -T` output; only the global part
    /// (before the first `Match`) applies to every connection.
    pub fn parse(text: &str) -> Settings {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut parts = line.splitn(2, |c: char| c.is_whitespace() || c == '=');
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if key == "match" {
                break;
            }
            let key = if key == "challengeresponseauthentication" {
                "kbdinteractiveauthentication".to_string()
            } else {
                key
            };
            values.entry(key).or_insert_with(|| {
                value
                    .trim_start_matches([' ', '\t', '='])
                    .trim()
                    .to_string()
            });
        }
        Settings { values }
    }

    /// The global settings of the sshd_config at `path` as sshd reads it:
    /// `Include` followed where it stands (each pattern a glob(3) pattern,
    /// a relative one relative to [`SSHD_DIR`], the matches in name order,
    /// a pattern matching nothing skipped as sshd skips it), the first
    /// value of a keyword kept, and nothing under a `Match` taken as
    /// global: neither its lines nor the files it includes (a `Match` in an
    /// included file ends with that file; `Match all` is global again).
    /// Also the files read, in order.
    pub fn read_config(path: &Path) -> Result<(Settings, Vec<PathBuf>), String> {
        let mut reader = ConfigReader::default();
        reader.read(path, 0)?;
        Ok((
            Settings {
                values: reader.values,
            },
            reader.files,
        ))
    }

    /// A setting in lower case, or sshd's built-in default.
    pub fn get(&self, key: &str, default: &str) -> String {
        self.values
            .get(key)
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_else(|| default.to_string())
    }

    pub fn raw(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// `AuthenticationMethods` as lists of methods (`any` is one list
    /// holding `any`).
    pub fn method_lists(&self) -> Vec<Vec<String>> {
        self.get("authenticationmethods", "any")
            .split_whitespace()
            .map(|list| list.split(',').map(str::to_string).collect())
            .collect()
    }
}

/// Where sshd looks for a relative `Include` (its SSHDIR).
pub const SSHD_DIR: &str = "/etc/ssh";
/// sshd's limit on nested `Include`s (`SERVCONF_MAX_DEPTH`).
const MAX_INCLUDE_DEPTH: usize = 16;

/// An sshd_config and what it includes, read as sshd reads them.
#[derive(Default)]
struct ConfigReader {
    values: BTreeMap<String, String>,
    files: Vec<PathBuf>,
}

impl ConfigReader {
    fn read(&mut self, path: &Path, depth: usize) -> Result<(), String> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!(
                "{}: Include nested deeper than sshd allows ({MAX_INCLUDE_DEPTH})",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        self.files.push(path.to_path_buf());
        let mut in_match = false;
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut parts = line.splitn(2, |c: char| c.is_whitespace() || c == '=');
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            let value = value.trim_start_matches([' ', '\t', '=']).trim();
            match key.as_str() {
                "match" => in_match = !value.eq_ignore_ascii_case("all"),
                _ if in_match => {}
                "include" => {
                    for pattern in value.split_whitespace() {
                        let pattern = if pattern.starts_with('/') {
                            pattern.to_string()
                        } else {
                            format!("{SSHD_DIR}/{pattern}")
                        };
                        let found = crate::system::glob::glob(&pattern)
                            .map_err(|error| format!("{}: Include {error}", path.display()))?;
                        for included in found {
                            self.read(&included, depth + 1)?;
                        }
                    }
                }
                _ => {
                    let key = if key == "challengeresponseauthentication" {
                        "kbdinteractiveauthentication".to_string()
                    } else {
                        key
                    };
                    self.values.entry(key).or_insert_with(|| value.to_string());
                }
            }
        }
        Ok(())
    }
}

fn is_keyboard_interactive(method: &str) -> bool {
    method.starts_with("keyboard-interactive")
}

/// What is wrong with sshd's settings for pam_totp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshdFinding {
    UsePamOff,
    KbdInteractiveOff,
    /// `AuthenticationMethods any` with these methods enabled.
    AnyMethod {
        bypass: Vec<&'static str>,
    },
    /// A list without keyboard-interactive.
    ListWithoutCode {
        list: String,
    },
}

impl std::fmt::Display for SshdFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SshdFinding::UsePamOff => write!(
                f,
                "UsePAM is off, so sshd never asks pam_totp; set \"UsePAM yes\" (drop-ins in {EXAMPLES_DIR}/sshd_config.d/)"
            ),
            SshdFinding::KbdInteractiveOff => write!(
                f,
                "KbdInteractiveAuthentication is off, so sshd cannot ask for the code; set \"KbdInteractiveAuthentication yes\" (drop-ins in {EXAMPLES_DIR}/sshd_config.d/)"
            ),
            SshdFinding::AnyMethod { bypass } => write!(
                f,
                "AuthenticationMethods is \"any\": {} alone logs in without a code; set \"AuthenticationMethods publickey,keyboard-interactive\" (key + code) or \"keyboard-interactive\" (password + code): see the drop-ins in {EXAMPLES_DIR}/sshd_config.d/",
                bypass.join(", ")
            ),
            SshdFinding::ListWithoutCode { list } => write!(
                f,
                "AuthenticationMethods allows \"{list}\", which logs in without keyboard-interactive and so without a code"
            ),
        }
    }
}

/// Everything in `settings` that keeps the code from being asked.
pub fn analyse(settings: &Settings) -> Vec<SshdFinding> {
    let mut findings = Vec::new();
    if settings.get("usepam", "no") != "yes" {
        findings.push(SshdFinding::UsePamOff);
    }
    if settings.get("kbdinteractiveauthentication", "yes") != "yes" {
        findings.push(SshdFinding::KbdInteractiveOff);
    }
    let methods = settings.get("authenticationmethods", "any");
    if methods == "any" {
        let bypass: Vec<&'static str> = [
            ("pubkeyauthentication", "yes", "publickey"),
            ("hostbasedauthentication", "no", "hostbased"),
            ("gssapiauthentication", "no", "gssapi-with-mic"),
        ]
        .iter()
        .filter(|(key, default, _)| settings.get(key, default) == "yes")
        .map(|(_, _, method)| *method)
        .collect();
        if !bypass.is_empty() {
            findings.push(SshdFinding::AnyMethod { bypass });
        }
    } else {
        for list in methods.split_whitespace() {
            if !list.split(',').any(is_keyboard_interactive) {
                findings.push(SshdFinding::ListWithoutCode {
                    list: list.to_string(),
                });
            }
        }
    }
    findings
}

/// Whether every way sshd lets a user reach keyboard-interactive (and so
/// pam_totp) comes after another method (a key, host-based or GSSAPI
/// authentication, or sshd's own password method). `any` allows
/// keyboard-interactive first, as does a list starting with it.
pub fn first_factor_before_code(settings: &Settings) -> bool {
    settings.method_lists().iter().all(|list| {
        match list
            .iter()
            .position(|method| is_keyboard_interactive(method))
        {
            Some(at) => at > 0,
            // No keyboard-interactive in this list: pam_totp is not reached
            // through it (analyse reports the list itself), except "any".
            None => list.iter().all(|method| method != "any"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_setting_wins_and_match_ends() {
        let settings = Settings::parse(
            "UsePAM yes\nusepam no\nChallengeResponseAuthentication no\nMatch User x\nKbdInteractiveAuthentication yes\n",
        );
        assert_eq!(settings.raw("usepam"), Some("yes"));
        assert_eq!(settings.raw("kbdinteractiveauthentication"), Some("no"));
    }

    #[test]
    fn includes_are_followed_where_they_stand_and_match_blocks_are_not_global() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("conf.d")).unwrap();
        std::fs::write(
            d.join("conf.d/20-later.conf"),
            "KbdInteractiveAuthentication no\nPasswordAuthentication yes\n",
        )
        .unwrap();
        std::fs::write(
            d.join("conf.d/10-first.conf"),
            "KbdInteractiveAuthentication yes\nMatch User x\nUsePAM no\n",
        )
        .unwrap();
        std::fs::write(d.join("in-match.conf"), "AuthenticationMethods any\n").unwrap();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Include {0}/conf.d/*.conf {0}/none/*.conf\nUsePAM yes\nKbdInteractiveAuthentication no\nMatch Address 10.0.0.0/8\nInclude {0}/in-match.conf\nMatch all\nAuthenticationMethods publickey,keyboard-interactive\n",
                d.display()
            ),
        )
        .unwrap();
        let (settings, files) = Settings::read_config(&d.join("sshd_config")).unwrap();
        assert_eq!(settings.raw("kbdinteractiveauthentication"), Some("yes"));
        assert_eq!(settings.raw("usepam"), Some("yes"));
        assert_eq!(settings.raw("passwordauthentication"), Some("yes"));
        assert_eq!(
            settings.raw("authenticationmethods"),
            Some("publickey,keyboard-interactive")
        );
        let names: Vec<_> = files.iter().map(|f| f.strip_prefix(d).unwrap()).collect();
        assert_eq!(
            names,
            [
                Path::new("sshd_config"),
                Path::new("conf.d/10-first.conf"),
                Path::new("conf.d/20-later.conf")
            ]
        );
    }

    #[test]
    fn findings_table() {
        let good = "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n";
        assert!(analyse(&Settings::parse(good)).is_empty());
        for (text, expected) in [
            (
                "UsePAM no\nAuthenticationMethods keyboard-interactive",
                "UsePAM is off",
            ),
            (
                "UsePAM yes\nKbdInteractiveAuthentication no\nAuthenticationMethods keyboard-interactive",
                "KbdInteractiveAuthentication is off",
            ),
            ("UsePAM yes", "publickey alone"),
            (
                "UsePAM yes\nAuthenticationMethods publickey,keyboard-interactive publickey",
                "allows \"publickey\"",
            ),
        ] {
            let found = analyse(&Settings::parse(text));
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert!(
                found[0].to_string().contains(expected),
                "{text}: {}",
                found[0]
            );
        }
    }

    #[test]
    fn a_first_factor_comes_before_keyboard_interactive() {
        for (methods, expected) in [
            ("publickey,keyboard-interactive", true),
            ("publickey,keyboard-interactive:pam", true),
            ("password,keyboard-interactive", true),
            ("keyboard-interactive", false),
            ("keyboard-interactive,publickey", false),
            ("publickey,keyboard-interactive keyboard-interactive", false),
            ("any", false),
        ] {
            let settings = Settings::parse(&format!("AuthenticationMethods {methods}\n"));
            assert_eq!(first_factor_before_code(&settings), expected, "{methods}");
        }
        assert!(!first_factor_before_code(&Settings::parse("UsePAM yes\n")));
    }
}
