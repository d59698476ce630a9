//! OpenSSH's own `ssh` in a pseudo-terminal (python3's `pty` module), in
//! a UTF-8 locale, with everything it prints captured and answers typed at
//! its prompts; and a decoder for the QR code it prints: the block of half
//! blocks cut out of the text, drawn as a PBM image and read by `zbarimg`
//! (Debian's zbar-tools).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs argv[1:] in a new pty, copying our stdin into it and its output to
/// our stdout, and exits with its status.
const PTY_SPAWN: &str =
    "import os, pty, sys\nsys.exit(os.waitstatus_to_exitcode(pty.spawn(sys.argv[1:])))\n";

/// How long one expected piece of output may take.
const WAIT: Duration = Duration::from_secs(30);

/// A running `ssh` in a pty.
pub struct PtySsh {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<Mutex<Vec<u8>>>,
    user: String,
}

impl PtySsh {
    /// `ssh user@127.0.0.1 -p PORT 'echo logged-in-as-$(id -un)'`, with the
    /// key if given (else without public keys), LANG=C.UTF-8.
    pub fn spawn(port: u16, user: &str, key: Option<&Path>) -> PtySsh {
        PtySsh::spawn_with(port, user, key, false)
    }

    /// `ssh -tt user@127.0.0.1 -p PORT`: an interactive login shell, as a
    /// person gets it (type `echo logged-in-as-$(id -un); exit` into it).
    pub fn spawn_interactive(port: u16, user: &str, key: Option<&Path>) -> PtySsh {
        PtySsh::spawn_with(port, user, key, true)
    }

    /// [`spawn`](Self::spawn) with `ssh -o` options that win over the
    /// defaults above (ssh takes the first value), e.g.
    /// `NumberOfPasswordPrompts=3`, OpenSSH's own default.
    pub fn spawn_with_options(
        port: u16,
        user: &str,
        key: Option<&Path>,
        options: &[&str],
    ) -> PtySsh {
        PtySsh::spawn_full(port, user, key, false, options)
    }

    fn spawn_with(port: u16, user: &str, key: Option<&Path>, interactive: bool) -> PtySsh {
        PtySsh::spawn_full(port, user, key, interactive, &[])
    }

    fn spawn_full(
        port: u16,
        user: &str,
        key: Option<&Path>,
        interactive: bool,
        options: &[&str],
    ) -> PtySsh {
        let mut command = Command::new("python3");
        command.args(["-c", PTY_SPAWN, "ssh"]);
        for option in options {
            command.args(["-o", option]);
        }
        command
            .args(["-p", &port.to_string()])
            .args(["-F", "/dev/null", "-o", "StrictHostKeyChecking=no"])
            // The default log level, as users have it: the 9.2 client shows
            // keyboard-interactive instructions only through its log.
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=INFO"])
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10"]);
        match key {
            Some(key) => {
                command
                    .arg("-i")
                    .arg(key)
                    .args(["-o", "IdentitiesOnly=yes"]);
            }
            None => {
                command.args(["-o", "PubkeyAuthentication=no"]);
            }
        }
        if interactive {
            command.arg("-tt");
        }
        command.arg(format!("{user}@127.0.0.1"));
        if !interactive {
            command.arg("echo logged-in-as-$(id -un)");
        }
        command
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("SSH_ASKPASS")
            .env_remove("SSH_ASKPASS_REQUIRE")
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("python3 and ssh are installed");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        PtySsh {
            child,
            stdin,
            output,
            user: user.to_string(),
        }
    }

    /// Everything printed so far, as text, without the pty's carriage returns.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).replace('\r', "")
    }

    /// Wait until the output contains `needle` after byte `from` of
    /// [`text`]; the text, or a panic with what was printed.
    pub fn wait_for(&self, needle: &str, from: usize) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if text.get(from..).is_some_and(|rest| rest.contains(needle)) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("{needle:?} not printed; ssh printed:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Type `line` and Enter (only after the prompt is printed: `ssh`
    /// flushes what was typed before it).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for `ssh` to end: whether the remote command ran as the user,
    /// and everything printed.
    pub fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(self.stdin.take());
        std::thread::sleep(Duration::from_millis(100));
        let text = self.text();
        let logged_in = status.success() && text.contains(&format!("logged-in-as-{}", self.user));
        (logged_in, text)
    }
}

impl Drop for PtySsh {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The lines of the QR code in `text`: the longest run of consecutive
/// lines made only of half blocks and spaces (at least 10 of them).
pub fn qr_block(text: &str) -> Option<Vec<String>> {
    let is_qr_line = |line: &str| {
        !line.is_empty()
            && line.contains('█')
            && line.chars().all(|c| matches!(c, '█' | '▀' | '▄' | ' '))
    };
    let mut best: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if is_qr_line(line) {
            run.push(line.to_string());
        } else {
            if run.len() > best.len() {
                best = std::mem::take(&mut run);
            }
            run.clear();
        }
    }
    (best.len() >= 10).then_some(best)
}

/// How a terminal shows the characters.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Terminal {
    /// Light characters on a dark background.
    Dark,
    /// Dark characters on a light background.
    Light,
}

/// Draw `lines` as `terminal` shows them (each character cell one module
/// wide and two tall, `scale` pixels per module, with a margin of terminal
/// background) as a PBM file.
pub fn draw_pbm(lines: &[String], terminal: Terminal, scale: usize, path: &Path) {
    let margin = 4;
    let columns = lines.iter().map(|l| l.chars().count()).max().unwrap();
    let (w, h) = (columns + 2 * margin, lines.len() * 2 + 2 * margin);
    // Modules: `true` where a character is drawn.
    let mut drawn = vec![vec![false; w]; h];
    for (row, line) in lines.iter().enumerate() {
        for (column, c) in line.chars().enumerate() {
            let (top, bottom) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                _ => (false, false),
            };
            drawn[margin + 2 * row][margin + column] = top;
            drawn[margin + 2 * row + 1][margin + column] = bottom;
        }
    }
    // PBM: 1 is black. Drawn characters are black on a light terminal.
    let black = |is_drawn: bool| is_drawn == (terminal == Terminal::Light);
    let mut pbm = format!("P1\n{} {}\n", w * scale, h * scale);
    for row in &drawn {
        let line: String = row
            .iter()
            .flat_map(|&d| std::iter::repeat_n(if black(d) { '1' } else { '0' }, scale))
            .collect();
        for _ in 0..scale {
            pbm.push_str(&line);
            pbm.push('\n');
        }
    }
    std::fs::write(path, pbm).unwrap();
}

/// What `zbarimg` reads in the image at `path` (`extra` options such as
/// `-Stest-inverted`), or `None` if it finds no code.
pub fn zbarimg(path: &Path, extra: &[&str]) -> Option<String> {
    let output = Command::new("zbarimg")
        .args(["--quiet", "--raw", "--nodbus"])
        .args(extra)
        .arg(path)
        .output()
        .expect("zbarimg is installed (apt-get install zbar-tools)");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// Decode the QR code in `lines` as `terminal` shows it.
pub fn decode(lines: &[String], terminal: Terminal, extra: &[&str]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qr.pbm");
    draw_pbm(lines, terminal, 6, &path);
    zbarimg(&path, extra)
}
