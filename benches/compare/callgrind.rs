//! Instructions per authentication (callgrind, pamtester), the module's
//! own share (callgrind_annotate), and the window and enrolled-users rows.

use super::*;

impl Bench {
    // ---- (1) instructions ------------------------------------------------

    /// Instructions of one `pamtester SERVICE pt7-bench authenticate`.
    pub(crate) fn callgrind(&self, module: Module, right: bool, label: &str) -> u64 {
        let answer = if right {
            self.right_code_for(module)
        } else {
            self.wrong_code()
        };
        let out_file = self.out.join(format!("callgrind.{label}.out"));
        let mut child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out_file.display()))
            .args(["pamtester", module.service(), USER, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .ok(); // pam_permit asks nothing; pamtester may be gone already
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let expected = right || module == Module::Permit;
        assert_eq!(
            output.status.success(),
            expected,
            "pamtester {} with a {} code: {}",
            module.service(),
            if right { "right" } else { "wrong" },
            stderr
        );
        stderr
            .lines()
            .find_map(|line| line.split("Collected : ").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no callgrind total in: {stderr}"))
    }

    /// Median of three runs, module state reset before each.
    pub(crate) fn instructions_of(
        &self,
        module: Module,
        right: bool,
        layout: Layout,
        window: u32,
        label: &str,
    ) -> u64 {
        let runs = if self.quick { 1 } else { 3 };
        let mut counts: Vec<u64> = (0..runs)
            .map(|_| {
                self.reset(module, layout, window);
                self.callgrind(module, right, label)
            })
            .collect();
        counts.sort_unstable();
        counts[counts.len() / 2]
    }

    pub(crate) fn instructions(&self, report: &mut Report) {
        let table = &mut report.main;
        self.configure(Layout::Home, 1);
        let base = self.instructions_of(Module::Permit, true, Layout::Home, 1, "permit");
        let mut files_right = 0;
        for (right, name) in [(true, "right"), (false, "wrong")] {
            let mut cells = vec![format!("{} (whole run)", group(base))];
            let mut inside = vec![String::new()];
            for module in PEERS {
                let label = format!("{}.{name}", module.service());
                let count = self.instructions_of(module, right, Layout::Home, 1, &label);
                if module == Module::Totp && right {
                    files_right = count.saturating_sub(base);
                }
                cells.push(group(count.saturating_sub(base)));
                inside.push(group(self.inside_module(&label)));
            }
            table.row(
                &format!("Instructions per authentication added over pam_permit, {name} code (callgrind, pamtester)"),
                cells,
            );
            table.row(
                &format!("… of which inside the module's pam_sm_authenticate, {name} code (the rest: loading it)"),
                inside,
            );
        }
        let change = files_right as f64 / RECORDED_FILES_RIGHT as f64 - 1.0;
        report.note(format!(
            "Right code, files store: {} instructions added over pam_permit; {} recorded in BENCHMARKS.md in the previous round ({:+.1} %): {}",
            group(files_right),
            group(RECORDED_FILES_RIGHT),
            change * 100.0,
            if files_right <= RECORDED_FILES_RIGHT {
                "did not grow"
            } else {
                "**grew**"
            }
        ));
    }

    /// Inclusive instructions of pam_sm_authenticate in a callgrind profile.
    pub(crate) fn inside_module(&self, label: &str) -> u64 {
        let file = self.out.join(format!("callgrind.{label}.out"));
        let output = Command::new("callgrind_annotate")
            .arg("--inclusive=yes")
            .arg(&file)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find(|line| line.contains(":pam_sm_authenticate ["))
            .and_then(|line| line.split_whitespace().next())
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or(0)
    }

    // ---- (5) window and enrolled users ----------------------------------

    pub(crate) fn windows(&self, report: &mut Report) {
        let table = &mut report.main;
        let windows: &[u32] = if self.quick { &[1, 10] } else { &[1, 3, 10] };
        for &window in windows {
            self.configure(Layout::Home, window);
            let base = self.instructions_of(Module::Permit, true, Layout::Home, window, "permit");
            let mut cells = vec![String::new()];
            for module in PEERS {
                let right = self.instructions_of(
                    module,
                    true,
                    Layout::Home,
                    window,
                    &format!("{}.window{window}.right", module.service()),
                );
                let wrong = self.instructions_of(
                    module,
                    false,
                    Layout::Home,
                    window,
                    &format!("{}.window{window}.wrong", module.service()),
                );
                cells.push(format!(
                    "{} / {}",
                    group(right.saturating_sub(base)),
                    group(wrong.saturating_sub(base))
                ));
            }
            table.row(
                &format!(
                    "window = {window} ({} steps): instructions added, right / wrong code",
                    2 * window + 1
                ),
                cells,
            );
        }
        self.configure(Layout::Home, 1);
    }

    /// Populate the shared stores with `total` enrolled users (USER among them).
    pub(crate) fn populate(&self, from: usize, total: usize) {
        let shared = self.path("shared");
        let secrets = shared.join("totp-secrets");
        let state = shared.join("totp-state");
        let gauth = shared.join("gauth");
        if from == 0 {
            std::fs::create_dir_all(&secrets).unwrap();
            std::fs::create_dir_all(&gauth).unwrap();
            std::fs::create_dir_all(&state).unwrap();
            set_mode(&state, 0o700);
            write_file(
                &secrets.join(format!("{USER}.toml")),
                &self.secret_toml,
                0o600,
                None,
            );
        }
        // Other users' state: a copy of USER's under their names.
        let state_text = String::from_utf8(
            self.totp_state
                .lock()
                .unwrap()
                .iter()
                .find(|(dir, _)| dir == &state)
                .and_then(|(_, files)| files.iter().max_by_key(|(_, bytes)| bytes.len()))
                .map(|(_, bytes)| bytes.clone())
                .unwrap_or_default(),
        )
        .unwrap();
        let gauth_text = self.gauth_text(1);
        // Other users' files: the same contents under other names.
        for i in from.max(1)..total {
            let name = format!("pt7-other{i:06}");
            write_file(
                &secrets.join(format!("{name}.toml")),
                &self.secret_toml,
                0o600,
                None,
            );
            write_file(
                &state.join(format!("{name}.state")),
                &state_text,
                0o600,
                None,
            );
            write_file(&gauth.join(&name), &gauth_text, 0o600, None);
        }
        // One users.oath with every user; ours in the middle.
        let mut oath = String::with_capacity(total * 70);
        for i in 1..total {
            if i == total / 2 {
                oath.push_str(&self.oath_line(USER));
            }
            oath.push_str(&self.oath_line(&format!("pt7-other{i:06}")));
        }
        if total < 2 {
            oath.push_str(&self.oath_line(USER));
        }
        write_file(&shared.join("users.oath.pristine"), &oath, 0o600, None);
    }

    pub(crate) fn enrolled_users(&self, report: &mut Report) {
        let table = &mut report.main;
        let sizes: &[usize] = if self.quick {
            &[1, 1_000]
        } else {
            &[1, 1_000, 100_000]
        };
        let count = if self.quick { 20 } else { 100 };
        let mut from = 0;
        for &size in sizes {
            self.populate(from, size);
            from = size;
            self.configure(Layout::Shared, 1);
            let base = self.instructions_of(Module::Permit, true, Layout::Shared, 1, "permit");
            let mut instructions = vec![String::new()];
            let mut times = vec![spread(
                &self.time_in_process(Module::Permit, true, Layout::Shared, count),
                "µs",
            )];
            for module in PEERS {
                let n = self.instructions_of(
                    module,
                    true,
                    Layout::Shared,
                    1,
                    &format!("{}.users{size}", module.service()),
                );
                instructions.push(group(n.saturating_sub(base)));
                self.time_in_process(module, true, Layout::Shared, 3);
                times.push(spread(
                    &self.time_in_process(module, true, Layout::Shared, count),
                    "µs",
                ));
            }
            let users = if size == 1 {
                "1 enrolled user".to_string()
            } else {
                format!("{} enrolled users", group(size as u64))
            };
            table.row(
                &format!("{users}: instructions added, right code"),
                instructions,
            );
            table.row(
                &format!("{users}: pam_authenticate wall time, right code ({count} runs)"),
                times,
            );
        }
        self.configure(Layout::Home, 1);
    }
}
