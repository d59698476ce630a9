//! The bench's setup: the user, the secret, the PAM services and
//! putting each module's state back before a measured authentication.

use super::*;

impl Bench {
    pub(crate) fn new(out: PathBuf, quick: bool) -> Bench {
        let module = common::module_path();
        // cargo bench builds the command along with the bench.
        let cli = common::sshd::cli_path();
        assert!(cli.exists(), "{} not built", cli.display());
        let user = TestUser::create(USER);
        let work = tempfile::Builder::new()
            .prefix("pt7-bench.")
            .tempdir()
            .unwrap();
        set_mode(work.path(), 0o755);
        // The documented example configuration (all defaults) plus the
        // bench's state directory, as an administrator would install it.
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pam-totp.toml"),
        )
        .unwrap();
        std::fs::write(
            work.path().join("config.toml"),
            format!(
                "{example}\nstate_dir = \"{}\"\n",
                work.path().join("state").display()
            ),
        )
        .unwrap();
        // Root's and not writable by others, as the module requires.
        set_mode(&work.path().join("config.toml"), 0o644);
        for dir in ["state", "ssh-state"] {
            std::fs::create_dir(work.path().join(dir)).unwrap();
            set_mode(&work.path().join(dir), 0o700);
        }
        // Enroll the way a user would; the other modules get the same secret.
        let output = Command::new(&cli)
            .arg("--config")
            .arg(work.path().join("config.toml"))
            .args([
                "enroll",
                "--user",
                USER,
                "--force",
                "--no-confirm",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pam-totp enroll failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let secret_b32 = json["secret"].as_str().unwrap().replace(' ', "");
        let secret_toml =
            std::fs::read_to_string(user.home.join(".config/pam-totp/secret.toml")).unwrap();
        // google-authenticator's own setup writes five 8-digit scratch codes.
        let scratch = (0..5)
            .map(|i| format!("{}", 40_000_000 + i * 1_234_567))
            .collect();
        Bench {
            work,
            out,
            module,
            cli,
            secret_b32,
            secret_toml,
            scratch,
            quick,
            user,
            totp_state: std::sync::Mutex::new(Vec::new()),
            pg: stores::PgStore::start_all(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    pub(crate) fn secret_hex(&self) -> String {
        common::base32_decode(&self.secret_b32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub(crate) fn gauth_text(&self, window: u32) -> String {
        // No RATE_LIMIT line: rate limiting off, so wrong codes can repeat.
        format!(
            "{}\n\" WINDOW_SIZE {}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{}\n",
            self.secret_b32,
            2 * window + 1,
            self.scratch.join("\n")
        )
    }

    pub(crate) fn oath_line(&self, user: &str) -> String {
        format!("HOTP/T30/6\t{user}\t-\t{}\n", self.secret_hex())
    }

    /// Write /etc/pam.d/pt7-* for `layout` and `window`.
    pub(crate) fn configure(&self, layout: Layout, window: u32) {
        let config = self.path("config.toml");
        let lockouts_off = "max_failures=1000";
        let (totp, gauth, oath) = match layout {
            Layout::Home => (
                format!("config={} window={window} {lockouts_off}", config.display()),
                String::new(),
                format!(
                    "usersfile={} window={window} digits=6",
                    self.path("users.oath").display()
                ),
            ),
            Layout::Shared => (
                format!(
                    "config={} secret_path={}/%u.toml state_dir={} window={window} {lockouts_off}",
                    config.display(),
                    self.path("shared/totp-secrets").display(),
                    self.path("shared/totp-state").display()
                ),
                format!(
                    "secret={}/${{USER}} user=root",
                    self.path("shared/gauth").display()
                ),
                format!(
                    "usersfile={} window={window} digits=6",
                    self.path("shared/users.oath").display()
                ),
            ),
        };
        let stacks = [
            (Module::Permit, "auth required pam_permit.so".to_string()),
            (
                Module::Totp,
                format!("auth required {} {totp}", self.module.display()),
            ),
            (
                Module::Gauth,
                format!("auth required pam_google_authenticator.so {gauth}"),
            ),
            (Module::Oath, format!("auth required pam_oath.so {oath}")),
        ];
        let pg_stacks = PG_STORES.iter().map(|&module| {
            (
                module,
                format!(
                    "auth required {} {}",
                    self.module.display(),
                    self.pg_args(module, window)
                ),
            )
        });
        for (module, stack) in stacks.into_iter().chain(pg_stacks) {
            std::fs::write(Path::new(PAM_DIR).join(module.service()), stack + "\n").unwrap();
        }
        self.reset_all(layout, window);
    }

    /// Put every module's files for USER back to "enrolled, not used yet".
    pub(crate) fn reset_all(&self, layout: Layout, window: u32) {
        for module in PEERS.iter().chain(&PG_STORES) {
            self.reset(*module, layout, window);
        }
    }

    pub(crate) fn reset(&self, module: Module, layout: Layout, window: u32) {
        match (module, layout) {
            (Module::Permit, _) => {}
            (Module::Totp, Layout::Home) => self.restore_totp_state(&self.path("state")),
            (Module::Totp, Layout::Shared) => {
                self.restore_totp_state(&self.path("shared/totp-state"))
            }
            (Module::Gauth, Layout::Home) => {
                let path = self.user.home.join(".google_authenticator");
                let owner = owner_of(&self.user.home);
                write_file(&path, &self.gauth_text(window), 0o400, Some(owner));
            }
            (Module::Gauth, Layout::Shared) => {
                write_file(
                    &self.path("shared/gauth").join(USER),
                    &self.gauth_text(window),
                    0o600,
                    None,
                );
            }
            (Module::Oath, Layout::Home) => {
                write_file(&self.path("users.oath"), &self.oath_line(USER), 0o600, None);
            }
            (Module::Oath, Layout::Shared) => {
                std::fs::copy(
                    self.path("shared/users.oath.pristine"),
                    self.path("shared/users.oath"),
                )
                .unwrap();
            }
            (pg, _) => self.restore_pg_state(pg),
        }
    }

    /// Put back USER's pam_totp state as the module wrote it after a login
    /// one time step before the first measurement (so any later code is
    /// fresh). The module writes it itself, whatever its file names and
    /// format: the first time, log in once with the previous step's code
    /// (window 1 accepts it) and keep what changed in the directory.
    pub(crate) fn restore_totp_state(&self, dir: &Path) {
        let mut saved = self.totp_state.lock().unwrap();
        if let Some((_, files)) = saved.iter().find(|(d, _)| d == dir) {
            for (path, bytes) in files {
                let _ = std::fs::remove_file(path);
                std::fs::write(path, bytes).unwrap();
                set_mode(path, 0o600);
            }
            return;
        }
        let before = directory_contents(dir);
        let generator = generator(&self.secret_b32);
        let mut last_rc = -1;
        for _ in 0..3 {
            let previous = generator.step_at(common::now()) - 1;
            let (rc, _) = authenticate_timed(
                Module::Totp.service(),
                USER,
                &generator.code_for_step(previous),
            );
            last_rc = rc;
            if rc == 0 {
                break;
            }
        }
        assert_eq!(last_rc, 0, "pam_totp refused the previous step's code");
        let files: Files = directory_contents(dir)
            .into_iter()
            .filter(|file| !before.contains(file))
            .collect();
        assert!(
            !files.is_empty(),
            "pam_totp wrote no state in {}",
            dir.display()
        );
        saved.push((dir.to_path_buf(), files));
    }

    pub(crate) fn right_code(&self) -> String {
        common::sshd::oathtool_code(&self.secret_b32, 0)
    }

    /// USER's secret (base32) in `module`'s store.
    pub(crate) fn secret_of(&self, module: Module) -> &str {
        match module {
            module if module.is_pg() => &self.pg_store(module).secret_b32,
            _ => &self.secret_b32,
        }
    }

    pub(crate) fn right_code_for(&self, module: Module) -> String {
        common::sshd::oathtool_code(self.secret_of(module), 0)
    }

    /// A code that no step near now produces (for any of the secrets).
    pub(crate) fn wrong_code(&self) -> String {
        let secrets: Vec<&str> = std::iter::once(self.secret_b32.as_str())
            .chain(self.pg.iter().map(|pg| pg.secret_b32.as_str()))
            .collect();
        let near: Vec<String> = secrets
            .iter()
            .flat_map(|secret| {
                let generator = generator(secret);
                let current = generator.step_at(common::now());
                (current - 12..=current + 12)
                    .map(|step| generator.code_for_step(step))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut candidate: u32 = 0;
        loop {
            let code = format!("{candidate:06}");
            if !near.contains(&code) {
                return code;
            }
            candidate += 111_111;
        }
    }
}
