//! Real sshd logins on 127.0.0.1 (key + code): latency one at a time,
//! throughput with concurrent clients.

use super::*;

/// One SSH part's run: the users (one fresh user per login and module, so
/// no code is ever reused and no state needs resetting while sshd runs)
/// and their key.
struct SshRun<'a> {
    bench: &'a Bench,
    users: Vec<TestUser>,
    key: PathBuf,
    _key_dir: tempfile::TempDir,
    /// Sequential logins per module.
    logins: usize,
    /// Logins per module under load.
    concurrent_logins: usize,
    clients: usize,
    rounds: usize,
}

impl Bench {
    pub(crate) fn ssh(&self, report: &mut Report) {
        let run = SshRun::prepare(self);
        run.reset();
        // One sshd per module, and one per PostgreSQL store.
        let kinds: Vec<Module> = MODULES.iter().chain(&PG_STORES).copied().collect();
        let servers: Vec<(Module, Sshd)> = kinds
            .iter()
            .map(|&module| {
                let name = format!("{}-ssh", module.service());
                (module, run.start(module, &name, "ssh-state"))
            })
            .collect();
        let latency = run.latency(&servers);
        run.latency_rows(report, &kinds, &latency);
        run.reset();
        run.throughput_one_host(report, &servers[..MODULES.len()]);
        drop(servers);
        run.reset();
        run.throughput_two_hosts(report);
    }
}

impl SshRun<'_> {
    /// The users with the key in authorized_keys and the secret in their
    /// home, enrolled in every PostgreSQL store too.
    fn prepare(bench: &Bench) -> SshRun<'_> {
        let logins = if bench.quick { 16 } else { 64 };
        let concurrent_logins = if bench.quick { 16 } else { 128 };
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
                &bench.secret_toml,
                0o600,
                Some(owner),
            );
        }
        // The same users enrolled in each PostgreSQL store, as root would.
        let names: Vec<String> = users.iter().map(|user| user.name.clone()).collect();
        for pg in &bench.pg {
            pg.enroll_ssh_users(&names);
        }
        SshRun {
            bench,
            users,
            key,
            _key_dir: key_dir,
            logins,
            concurrent_logins,
            clients: 16,
            rounds: 2,
        }
    }

    /// Every module's and store's state as before any login (the two
    /// files-store "hosts" start with empty state directories of their own).
    fn reset(&self) {
        let bench = self.bench;
        for dir in ["ssh-state", "ssh-state-a", "ssh-state-b"] {
            let dir = bench.path(dir);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            set_mode(&dir, 0o700);
        }
        let mut oath = String::new();
        for user in &self.users {
            let owner = owner_of(&user.home);
            write_file(
                &user.home.join(".google_authenticator"),
                &bench.gauth_text(1),
                0o400,
                Some(owner),
            );
            oath.push_str(&bench.oath_line(&user.name));
        }
        write_file(&bench.path("ssh-users.oath"), &oath, 0o600, None);
        for pg in &bench.pg {
            pg.forget_state();
        }
    }

    /// The module line of `module`'s stack on a host keeping its own
    /// state in `state` (a directory name).
    fn line(&self, module: Module, state: &str) -> String {
        let bench = self.bench;
        match module {
            Module::Permit => "pam_permit.so".to_string(),
            Module::Totp => format!(
                "{} config={} state_dir={}",
                bench.module.display(),
                bench.path("config.toml").display(),
                bench.path(state).display()
            ),
            Module::Gauth => "pam_google_authenticator.so".to_string(),
            Module::Oath => format!(
                "pam_oath.so usersfile={} window=1 digits=6",
                bench.path("ssh-users.oath").display()
            ),
            _ => {
                let fleet = &bench.pg_store(module).fleet;
                format!(
                    "{} {}",
                    bench.module.display(),
                    fleet.module_args(&fleet.dir.path().join(state))
                )
            }
        }
    }

    fn start(&self, module: Module, name: &str, state: &str) -> Sshd {
        let stack = format!(
            "auth required {}\n@include common-account\n@include common-session\n",
            self.line(module, state)
        );
        Sshd::start(
            name,
            &stack,
            "AuthenticationMethods publickey,keyboard-interactive\nMaxStartups 100:30:200\nMaxSessions 100\n",
        )
    }

    /// One login; a failure panics unless `tolerate` (then it is counted).
    fn login(&self, module: Module, sshd: &Sshd, user: &str, tolerate: bool) -> Option<Duration> {
        let code = self.bench.ssh_code(module, user);
        let started = Instant::now();
        let result = ssh_login(sshd.port, user, Some(&self.key), &[&code]);
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
    }

    /// Latency: logins one at a time, all interleaved (rotating order);
    /// milliseconds per server.
    fn latency(&self, servers: &[(Module, Sshd)]) -> Vec<Vec<f64>> {
        let mut latency: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
        for (i, user) in self.users.iter().take(self.logins).enumerate() {
            for k in 0..servers.len() {
                let index = (i + k) % servers.len();
                let (module, sshd) = &servers[index];
                if let Some(elapsed) = self.login(*module, sshd, &user.name, false) {
                    latency[index].push(elapsed.as_secs_f64() * 1e3);
                }
            }
        }
        latency
    }

    /// The latency rows of both tables and the target's verdicts.
    fn latency_rows(&self, report: &mut Report, kinds: &[Module], latency: &[Vec<f64>]) {
        let logins = self.logins;
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
    }

    /// Runs `hosts` (one or more sshd of one module, clients spread over
    /// them) for one round's users; seconds and refusals.
    fn burst(&self, module: Module, hosts: &[Sshd], round: usize) -> (f64, usize) {
        let per_round = self.concurrent_logins / self.rounds;
        let clients = self.clients;
        let round_users = &self.users[round * per_round..(round + 1) * per_round];
        let failed = std::sync::atomic::AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for client in 0..clients {
                let failed = &failed;
                let sshd = &hosts[client % hosts.len()];
                scope.spawn(move || {
                    for user in round_users.iter().skip(client).step_by(clients) {
                        if self.login(module, sshd, &user.name, true).is_none() {
                            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        (started.elapsed().as_secs_f64(), failed.into_inner())
    }

    /// Throughput: `clients` at once, each logging in its share of users.
    /// Two rounds on different users, modules in rotating order, so a
    /// drift in the machine's load does not favour one module. One cell
    /// per entry of `groups`.
    fn throughput(&self, groups: &[(Module, &[Sshd])]) -> Vec<String> {
        let mut seconds = vec![0.0f64; groups.len()];
        let mut failures = vec![0usize; groups.len()];
        for round in 0..self.rounds {
            for k in 0..groups.len() {
                let index = (round + k) % groups.len();
                let (module, hosts) = groups[index];
                let (spent, failed) = self.burst(module, hosts, round);
                seconds[index] += spent;
                failures[index] += failed;
            }
        }
        let total = self.concurrent_logins;
        seconds
            .iter()
            .zip(&failures)
            .map(|(&seconds, &failed)| {
                let rate = (total - failed) as f64 / seconds;
                if failed == 0 {
                    format!("{rate:.1} logins/s")
                } else {
                    format!("{rate:.1} logins/s; {failed} of {total} refused")
                }
            })
            .collect()
    }

    /// The modules' throughput, one sshd each.
    fn throughput_one_host(&self, report: &mut Report, single: &[(Module, Sshd)]) {
        let groups: Vec<(Module, &[Sshd])> = single
            .iter()
            .map(|(module, sshd)| (*module, std::slice::from_ref(sshd)))
            .collect();
        let cells = self.throughput(&groups);
        report.main.row(
            &format!(
                "SSH throughput, {} concurrent clients ({} logins)",
                self.clients, self.concurrent_logins
            ),
            cells,
        );
    }

    /// Two "hosts" per store: two sshd, each with a state_dir of its own;
    /// the files store's secrets are the users' own files, the PostgreSQL
    /// hosts share one database.
    fn throughput_two_hosts(&self, report: &mut Report) {
        let fleets: Vec<(Module, Vec<Sshd>)> = STORES
            .iter()
            .map(|&module| {
                let hosts = ["a", "b"]
                    .iter()
                    .map(|host| {
                        self.start(
                            module,
                            &format!("{}-{host}", module.service()),
                            &format!("ssh-state-{host}"),
                        )
                    })
                    .collect();
                (module, hosts)
            })
            .collect();
        let groups: Vec<(Module, &[Sshd])> = fleets
            .iter()
            .map(|(module, hosts)| (*module, hosts.as_slice()))
            .collect();
        let cells = self.throughput(&groups);
        report.stores.row(
            &format!(
                "SSH throughput, {} concurrent clients over two sshd (hosts) sharing the store ({} logins)",
                self.clients, self.concurrent_logins
            ),
            cells,
        );
    }
}
