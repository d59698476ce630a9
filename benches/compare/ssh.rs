//! Real sshd logins on 127.0.0.1 (key + code): latency one at a time,
//! throughput with concurrent clients.

use super::*;

impl Bench {
    // ---- (4) ssh -----------------------------------------------------------

    pub(crate) fn ssh(&self, report: &mut Report) {
        // Sequential logins per module, and logins per module under load.
        let logins = if self.quick { 16 } else { 64 };
        let concurrent_logins = if self.quick { 16 } else { 128 };
        let clients = 16;
        // One fresh user per login and module, so no code is ever reused and
        // no state needs resetting while sshd runs.
        let key_dir = tempfile::tempdir().unwrap();
        let key = key_dir.path().join("id_ed25519");
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(&key),
        );
        let public = std::fs::read_to_string(key_dir.path().join("id_ed25519.pub")).unwrap();
        let users: Vec<TestUser> = (0..logins.max(concurrent_logins))
            .map(|i| TestUser::create(&format!("pt7-u{i:02}")))
            .collect();
        for user in &users {
            let owner = owner_of(&user.home);
            let ssh = user.home.join(".ssh");
            std::fs::create_dir_all(&ssh).unwrap();
            chown(&ssh, Some(owner.0), Some(owner.1)).unwrap();
            write_file(&ssh.join("authorized_keys"), &public, 0o600, Some(owner));
            let config_dir = user.home.join(".config/pam-totp");
            std::fs::create_dir_all(&config_dir).unwrap();
            chown(user.home.join(".config"), Some(owner.0), Some(owner.1)).unwrap();
            chown(&config_dir, Some(owner.0), Some(owner.1)).unwrap();
            write_file(
                &config_dir.join("secret.toml"),
                &self.secret_toml,
                0o600,
                Some(owner),
            );
        }
        // The same users enrolled in each PostgreSQL store, as root would.
        let names: Vec<String> = users.iter().map(|user| user.name.clone()).collect();
        for pg in &self.pg {
            pg.enroll_ssh_users(&names);
        }
        // Every module's and store's state as before any login (the two
        // files-store "hosts" start with empty state directories of their own).
        let reset = || {
            for dir in ["ssh-state", "ssh-state-a", "ssh-state-b"] {
                let dir = self.path(dir);
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir(&dir).unwrap();
                set_mode(&dir, 0o700);
            }
            let mut oath = String::new();
            for user in &users {
                let owner = owner_of(&user.home);
                write_file(
                    &user.home.join(".google_authenticator"),
                    &self.gauth_text(1),
                    0o400,
                    Some(owner),
                );
                oath.push_str(&self.oath_line(&user.name));
            }
            write_file(&self.path("ssh-users.oath"), &oath, 0o600, None);
            for pg in &self.pg {
                pg.forget_state();
            }
        };
        reset();
        // The module line of `module`'s stack on a host keeping its own
        // state in `state` (a directory name).
        let line = |module: Module, state: &str| -> String {
            match module {
                Module::Permit => "pam_permit.so".to_string(),
                Module::Totp => format!(
                    "{} config={} state_dir={}",
                    self.module.display(),
                    self.path("config.toml").display(),
                    self.path(state).display()
                ),
                Module::Gauth => "pam_google_authenticator.so".to_string(),
                Module::Oath => format!(
                    "pam_oath.so usersfile={} window=1 digits=6",
                    self.path("ssh-users.oath").display()
                ),
                Module::TotpPg | Module::TotpPgTls => {
                    let fleet = &self.pg_store(module).fleet;
                    format!(
                        "{} {}",
                        self.module.display(),
                        fleet.module_args(&fleet.dir.path().join(state))
                    )
                }
            }
        };
        let start = |module: Module, name: &str, state: &str| -> Sshd {
            let stack = format!(
                "auth required {}\n@include common-account\n@include common-session\n",
                line(module, state)
            );
            Sshd::start(
                name,
                &stack,
                "AuthenticationMethods publickey,keyboard-interactive\nMaxStartups 100:30:200\nMaxSessions 100\n",
            )
        };
        // One login; a failure panics unless `tolerate` (then it is counted).
        let login = |module: Module, sshd: &Sshd, user: &str, tolerate: bool| -> Option<Duration> {
            let code = self.ssh_code(module, user);
            let started = Instant::now();
            let result = ssh_login(sshd.port, user, Some(&key), &[&code]);
            let elapsed = started.elapsed();
            if !result.success && tolerate {
                return None;
            }
            if !result.success {
                let log = sshd.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                panic!(
                    "ssh login of {user} through {module:?} failed: {}\nsshd log (last lines first):\n{}",
                    result.stderr,
                    tail.join("\n")
                );
            }
            Some(elapsed)
        };
        // One sshd per module, and one per PostgreSQL store.
        let kinds: Vec<Module> = MODULES.iter().chain(&PG_STORES).copied().collect();
        let servers: Vec<(Module, Sshd)> = kinds
            .iter()
            .map(|&module| {
                let name = format!("{}-ssh", module.service());
                (module, start(module, &name, "ssh-state"))
            })
            .collect();
        // Latency: logins one at a time, all interleaved (rotating order).
        let mut latency: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for (i, user) in users.iter().take(logins).enumerate() {
            for k in 0..servers.len() {
                let index = (i + k) % servers.len();
                let (module, sshd) = &servers[index];
                if let Some(elapsed) = login(*module, sshd, &user.name, false) {
                    latency[index].push(elapsed.as_secs_f64() * 1e3);
                }
            }
        }
        report.main.row(
            &format!(
                "SSH login (key + code) on 127.0.0.1, median (p10–p90), {logins} sequential logins"
            ),
            (0..MODULES.len())
                .map(|index| {
                    let samples = &latency[index];
                    if index == 0 {
                        spread(samples, "ms")
                    } else {
                        format!(
                            "{}; {:+.1} ms over pam_permit",
                            spread(samples, "ms"),
                            median(samples) - median(&latency[0])
                        )
                    }
                })
                .collect(),
        );
        let of = |module: Module| &latency[kinds.iter().position(|&m| m == module).unwrap()];
        let files = median(of(Module::Totp));
        report.stores.row(
            &format!(
                "SSH login (key + code) on 127.0.0.1, median (p10–p90), {logins} sequential logins, interleaved with the table above"
            ),
            STORES
                .iter()
                .map(|&module| {
                    let samples = of(module);
                    if module == Module::Totp {
                        spread(samples, "ms")
                    } else {
                        format!(
                            "{}; {:+.1} ms over files",
                            spread(samples, "ms"),
                            median(samples) - files
                        )
                    }
                })
                .collect(),
        );
        let mut verdicts = vec!["(the reference)".to_string()];
        for module in PG_STORES {
            let ratio = median(of(module)) / files;
            let verdict = if ratio <= TARGET_RATIO {
                "met"
            } else {
                "**not met**"
            };
            eprintln!(
                "  target: {} SSH login / files = {ratio:.3} (at most {TARGET_RATIO:.2}): {verdict}",
                module.title()
            );
            verdicts.push(format!("{ratio:.3}×: {verdict}"));
        }
        report.stores.row(
            &format!(
                "Target: SSH login through PostgreSQL at most {TARGET_RATIO:.2}× one through files (median, this run)"
            ),
            verdicts,
        );
        // Throughput: 16 clients at once, each logging in its share of
        // users. Two rounds on different users, modules in rotating order,
        // so a drift in the machine's load does not favour one module.
        let rounds = 2;
        let per_round = concurrent_logins / rounds;
        // Runs `hosts` (one or more sshd of one module, clients spread
        // over them) for each round's users; seconds and refusals.
        let burst = |module: Module, hosts: &[Sshd], round: usize| -> (f64, usize) {
            let round_users = &users[round * per_round..(round + 1) * per_round];
            let failed = std::sync::atomic::AtomicUsize::new(0);
            let started = Instant::now();
            std::thread::scope(|scope| {
                for client in 0..clients {
                    let login = &login;
                    let failed = &failed;
                    let sshd = &hosts[client % hosts.len()];
                    scope.spawn(move || {
                        for user in round_users.iter().skip(client).step_by(clients) {
                            if login(module, sshd, &user.name, true).is_none() {
                                failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            (started.elapsed().as_secs_f64(), failed.into_inner())
        };
        let rate = |seconds: f64, failed: usize| {
            let rate = (concurrent_logins - failed) as f64 / seconds;
            if failed == 0 {
                format!("{rate:.1} logins/s")
            } else {
                format!("{rate:.1} logins/s; {failed} of {concurrent_logins} refused")
            }
        };
        reset();
        let single = &servers[..MODULES.len()];
        let mut seconds = vec![0.0f64; single.len()];
        let mut failures = vec![0usize; single.len()];
        for round in 0..rounds {
            for k in 0..single.len() {
                let index = (round + k) % single.len();
                let (module, sshd) = &single[index];
                let (spent, failed) = burst(*module, std::slice::from_ref(sshd), round);
                seconds[index] += spent;
                failures[index] += failed;
            }
        }
        report.main.row(
            &format!("SSH throughput, {clients} concurrent clients ({concurrent_logins} logins)"),
            seconds
                .iter()
                .zip(&failures)
                .map(|(&seconds, &failed)| rate(seconds, failed))
                .collect(),
        );
        drop(servers);
        // Two "hosts" per store: two sshd, each with a state_dir of its
        // own; the files store's secrets are the users' own files, the
        // PostgreSQL hosts share one database.
        reset();
        let fleets: Vec<(Module, Vec<Sshd>)> = STORES
            .iter()
            .map(|&module| {
                let hosts = ["a", "b"]
                    .iter()
                    .map(|host| {
                        start(
                            module,
                            &format!("{}-{host}", module.service()),
                            &format!("ssh-state-{host}"),
                        )
                    })
                    .collect();
                (module, hosts)
            })
            .collect();
        let mut seconds = vec![0.0f64; fleets.len()];
        let mut failures = vec![0usize; fleets.len()];
        for round in 0..rounds {
            for k in 0..fleets.len() {
                let index = (round + k) % fleets.len();
                let (module, hosts) = &fleets[index];
                let (spent, failed) = burst(*module, hosts, round);
                seconds[index] += spent;
                failures[index] += failed;
            }
        }
        report.stores.row(
            &format!(
                "SSH throughput, {clients} concurrent clients over two sshd (hosts) sharing the store ({concurrent_logins} logins)"
            ),
            seconds
                .iter()
                .zip(&failures)
                .map(|(&seconds, &failed)| rate(seconds, failed))
                .collect(),
        );
        drop(fleets);
    }
}
