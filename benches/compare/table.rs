//! The tables the bench prints, the numbers in their cells, and the
//! machine they were measured on.

use super::*;

/// 1234567 -> "1,234,567".
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&sorted, 0.5)
}

pub(crate) fn spread(samples: &[f64], unit: &str) -> String {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let fmt = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    format!(
        "{} {unit} ({}–{})",
        fmt(percentile(&sorted, 0.5)),
        fmt(percentile(&sorted, 0.1)),
        fmt(percentile(&sorted, 0.9))
    )
}

/// A Markdown table: one column per module (or store).
pub(crate) struct Table {
    columns: Vec<Module>,
    rows: Vec<(String, Vec<String>)>,
}

impl Table {
    pub(crate) fn new(columns: &[Module]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, title: &str, cells: Vec<String>) {
        eprintln!("  {title}: {}", cells.join(" | "));
        self.rows.push((title.to_string(), cells));
    }

    pub(crate) fn render(&self) -> String {
        let mut text = String::from("| measure |");
        for module in &self.columns {
            write!(text, " {} |", module.title()).unwrap();
        }
        text.push_str("\n|---|");
        for _ in &self.columns {
            text.push_str("---:|");
        }
        text.push('\n');
        for (title, cells) in &self.rows {
            write!(text, "| {title} |").unwrap();
            for cell in cells {
                write!(text, " {cell} |").unwrap();
            }
            text.push('\n');
        }
        text
    }
}

/// What the bench prints: the modules side by side, pam_totp's stores
/// side by side, and notes (figures that are no table cell).
pub(crate) struct Report {
    pub(crate) main: Table,
    pub(crate) stores: Table,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn new() -> Report {
        Report {
            main: Table::new(&MODULES),
            stores: Table::new(&STORES),
            notes: Vec::new(),
        }
    }

    pub(crate) fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    pub(crate) fn render(&self) -> String {
        let mut text = self.main.render();
        if !self.stores.rows.is_empty() {
            text.push_str("\npam_totp's stores (same run):\n\n");
            text.push_str(&self.stores.render());
        }
        if !self.notes.is_empty() {
            text.push('\n');
            for note in &self.notes {
                writeln!(text, "- {note}").unwrap();
            }
        }
        text
    }
}

/// The machine and the versions measured.
pub(crate) fn machine() -> String {
    let lscpu = run_text("lscpu", &[]);
    let field = |name: &str| {
        lscpu
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1048576.0))
        .unwrap_or_default();
    let packages = run_text(
        "dpkg-query",
        &[
            "-W",
            "-f",
            "${Package} ${Version}, ",
            "libpam-google-authenticator",
            "libpam-oath",
            "liboath0",
            "libpam0g",
            "openssh-server",
            "pamtester",
            "valgrind",
            "postgresql-15",
            "openssl",
        ],
    );
    format!(
        "Machine: {} ({} CPUs), {memory} RAM, kernel {}, Debian {}; {}; {}\n",
        field("Model name:"),
        field("CPU(s):"),
        run_text("uname", &["-r"]),
        std::fs::read_to_string("/etc/debian_version")
            .unwrap_or_default()
            .trim(),
        packages.trim_end_matches([',', ' ']),
        run_text("rustc", &["--version"]),
    )
}
