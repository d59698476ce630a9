//! A crowd at the prompt: many real libpam conversations started at once,
//! each blocked in its conversation function at the code prompt until all
//! of them are there (or have ended), then all answering at once. While
//! they wait, the caller looks at the database (e.g. counts connections).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{Outcome, Service};

/// How long the crowd waits for everyone to reach the prompt, and then
/// for the go.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Counts {
    /// Logins blocked at the prompt now.
    waiting: usize,
    /// Logins that reached the prompt at all.
    prompted: usize,
    /// Logins whose pam_authenticate returned.
    ended: usize,
    go: bool,
}

struct Gate {
    counts: Mutex<Counts>,
    changed: Condvar,
}

impl Gate {
    fn update(&self, change: impl FnOnce(&mut Counts)) {
        change(&mut self.counts.lock().unwrap());
        self.changed.notify_all();
    }
}

/// What the crowd did.
pub struct Crowd {
    /// How many logins were blocked at the prompt at once.
    pub waiting_at_once: usize,
    /// What `while_waiting` returned.
    pub seen_while_waiting: String,
    pub outcomes: Vec<Outcome>,
}

/// Start one login per `(user, answer)` on `service`; once every login is
/// at its prompt or has ended, run `while_waiting`, then let all answer.
pub fn at_the_prompt(
    service: &Service,
    logins: &[(String, String)],
    while_waiting: impl FnOnce() -> String,
) -> Crowd {
    let gate = Arc::new(Gate {
        counts: Mutex::new(Counts::default()),
        changed: Condvar::new(),
    });
    let total = logins.len();
    std::thread::scope(|scope| {
        let threads: Vec<_> = logins
            .iter()
            .map(|(user, answer)| {
                let gate = gate.clone();
                let answer = answer.clone();
                scope.spawn(move || {
                    let at_prompt = gate.clone();
                    let outcome = service.authenticate_responding(
                        user,
                        Box::new(move |_shown, _prompt| {
                            at_prompt.update(|counts| {
                                counts.waiting += 1;
                                counts.prompted += 1;
                            });
                            let deadline = Instant::now() + PATIENCE;
                            let mut counts = at_prompt.counts.lock().unwrap();
                            while !counts.go && Instant::now() < deadline {
                                counts = at_prompt
                                    .changed
                                    .wait_timeout(counts, Duration::from_millis(200))
                                    .unwrap()
                                    .0;
                            }
                            counts.waiting -= 1;
                            Some(answer.as_bytes().to_vec())
                        }),
                    );
                    gate.update(|counts| counts.ended += 1);
                    outcome
                })
            })
            .collect();
        let deadline = Instant::now() + PATIENCE;
        let waiting_at_once = {
            let mut counts = gate.counts.lock().unwrap();
            while counts.prompted + counts.ended < total && Instant::now() < deadline {
                counts = gate
                    .changed
                    .wait_timeout(counts, Duration::from_millis(200))
                    .unwrap()
                    .0;
            }
            counts.waiting
        };
        let seen_while_waiting = while_waiting();
        gate.update(|counts| counts.go = true);
        let outcomes = threads.into_iter().map(|t| t.join().unwrap()).collect();
        Crowd {
            waiting_at_once,
            seen_while_waiting,
            outcomes,
        }
    })
}
