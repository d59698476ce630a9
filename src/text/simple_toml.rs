//! A fast path for the small TOML files read on every login (configuration,
//! secret file, state).
//!
//! The full `toml` parser costs tens of thousands of instructions per file
//! (see BENCHMARKS.md); these files are a handful of `key = value` lines.
//! [`parse`] handles exactly that shape itself — bare keys, basic strings
//! without escapes, decimal integers, booleans, arrays of such strings, and
//! comments — and hands anything else to the full parser, so the result is
//! always what `toml` itself would return.

use toml::{Table, Value};

/// Parse `text` as a TOML table, as `text.parse::<toml::Table>()` would.
pub fn parse(text: &str) -> Result<Table, toml::de::Error> {
    match parse_simple(text) {
        Some(table) => Ok(table),
        None => text.parse(),
    }
}

/// The table, if `text` is within the simple subset; `None` otherwise
/// (including every invalid document). Public for the differential fuzz
/// target, which checks it never disagrees with the full parser.
pub fn parse_simple(text: &str) -> Option<Table> {
    // Control characters other than tab and newline (CR included) need the
    // full parser's rules.
    // (No early exit: a branch-free scan over the whole text is cheaper.)
    let control = text.bytes().fold(false, |seen, b| {
        seen | ((b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f)
    });
    if control {
        return None;
    }
    let mut table = Table::new();
    let mut lines = Lines(Some(text));
    while let Some(line) = lines.next() {
        let line = trim(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, rest) = split_at_byte(line, b'=')?;
        let key = trim(key);
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || table.contains_key(key)
        {
            return None;
        }
        let rest = trim(rest);
        let (value, rest) = if let Some(after) = rest.strip_prefix('[') {
            array(after, &mut lines)?
        } else {
            scalar(rest)?
        };
        let rest = trim(rest);
        if !(rest.is_empty() || rest.starts_with('#')) {
            return None;
        }
        table.insert(key.to_string(), value);
    }
    Some(table)
}

/// An array of basic strings, which may span lines; `text` follows the `[`.
fn array<'a>(mut text: &'a str, lines: &mut Lines<'a>) -> Option<(Value, &'a str)> {
    let mut items = Vec::new();
    let mut want_value = true;
    loop {
        text = trim(text);
        if text.is_empty() {
            text = lines.next()?;
            continue;
        }
        if text.starts_with('#') {
            return None;
        }
        if let Some(rest) = text.strip_prefix(']') {
            return Some((Value::Array(items), rest));
        }
        if want_value {
            let (item, rest) = basic_string(text)?;
            items.push(Value::String(item.to_string()));
            text = rest;
        } else {
            text = text.strip_prefix(',')?;
        }
        want_value = !want_value;
    }
}

/// A basic string, a decimal integer or a boolean at the start of `text`.
fn scalar(text: &str) -> Option<(Value, &str)> {
    if text.starts_with('"') {
        let (string, rest) = basic_string(text)?;
        return Some((Value::String(string.to_string()), rest));
    }
    // Bytes, not a char pattern: the three are ASCII, so `end` is a boundary.
    let end = text
        .bytes()
        .position(|b| matches!(b, b' ' | b'\t' | b'#'))
        .unwrap_or(text.len());
    let (token, rest) = text.split_at(end);
    let value = match token {
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        _ => {
            let digits = token.strip_prefix('-').unwrap_or(token);
            let plain = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits.len() == 1 || !digits.starts_with('0'));
            if !plain {
                return None;
            }
            Value::Integer(token.parse().ok()?)
        }
    };
    Some((value, rest))
}

/// `"..."` without escapes at the start of `text`: (contents, rest).
fn basic_string(text: &str) -> Option<(&str, &str)> {
    let body = text.strip_prefix('"')?;
    let (contents, rest) = split_at_byte(body, b'"')?;
    if memchr::memchr(b'\\', contents.as_bytes()).is_some() {
        return None;
    }
    Some((contents, rest))
}

/// The text before and after the first `byte` (ASCII), found with the
/// `memchr` crate (vectorised): core's `char` searcher cost more than the
/// parsing (see BENCHMARKS.md).
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = memchr::memchr(byte, text.as_bytes())?;
    Some((text.get(..at)?, text.get(at + 1..)?))
}

/// The lines of a text split at `\n`, exactly as `str::split('\n')`.
struct Lines<'a>(Option<&'a str>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.0?;
        match split_at_byte(text, b'\n') {
            Some((line, rest)) => {
                self.0 = Some(rest);
                Some(line)
            }
            None => {
                self.0 = None;
                Some(text)
            }
        }
    }
}

/// `text` without leading and trailing spaces and tabs. On bytes: the
/// char-pattern `trim_matches` decoded UTF-8 at both ends of every line.
fn trim(text: &str) -> &str {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |last| last + 1);
    // Both ends are next to ASCII bytes (or the ends of `text`): boundaries.
    text.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        "\n\n# only a comment\n",
        "version = 1\nsecret = \"JBSWY3DPEHPK3PXP\" # trailing\nalgorithm=\"SHA1\"\n",
        "# pam-totp secret\nversion = 1\nrecovery = [\n  \"sha256:aa:bb\",\n  \"sha256:cc:dd\",\n]\n",
        "used_recovery = []\nfailures = 0\nlast_step = 59861845\nlocked_until = -0\n",
        "list = [\"a\",\"b\"]  # x\nflag = true\nother = false\n",
        "prompt = \"Code # not a comment: \"\n",
        "empty = \"\"\n",
        include_str!("../../config/pam-totp.toml"),
    ];

    #[test]
    fn trim_takes_only_spaces_and_tabs_off_both_ends() {
        for (text, trimmed) in [
            ("", ""),
            ("   ", ""),
            (" \t a b \t", "a b"),
            ("\t# c", "# c"),
            ("é \u{a0}", "é \u{a0}"),
            ("x\n", "x\n"),
        ] {
            assert_eq!(trim(text), trimmed, "{text:?}");
            assert_eq!(trim(text), text.trim_matches([' ', '\t']), "{text:?}");
        }
    }

    /// Whenever the fast path answers, the answer is the full parser's;
    /// true if it answered (and so the two were compared).
    fn agrees(text: &str) -> bool {
        let Some(fast) = parse_simple(text) else {
            return false;
        };
        let full: Result<Table, _> = text.parse();
        assert_eq!(Ok(fast), full.map_err(|e| e.to_string()), "{text:?}");
        true
    }

    #[test]
    fn samples_take_the_fast_path_and_agree() {
        for text in SAMPLES {
            assert!(parse_simple(text).is_some(), "{text:?}");
            agrees(text);
        }
        let table = parse(SAMPLES[3]).unwrap();
        assert_eq!(
            table.get("recovery"),
            Some(&Value::Array(vec![
                Value::String("sha256:aa:bb".into()),
                Value::String("sha256:cc:dd".into())
            ]))
        );
    }

    #[test]
    fn lines_split_like_str_split() {
        for text in SAMPLES
            .iter()
            .chain(&["\n", "a", "a\n", "\n\nb\n\n", "x\ny"])
        {
            assert_eq!(
                Lines(Some(text)).collect::<Vec<_>>(),
                text.split('\n').collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn everything_else_goes_to_the_full_parser() {
        for text in [
            "a = 1\na = 2",
            "[table]\na = 1",
            "a.b = 1",
            "\"quoted\" = 1",
            "a = 'literal'",
            "a = \"esc\\\"aped\"",
            "a = \"\"\"multi\nline\"\"\"",
            "a = 1_000",
            "a = 01",
            "a = +1",
            "a = 1.5",
            "a = 0x10",
            "a = 99999999999999999999",
            "a = [1, 2]",
            "a = [\"x\" # comment\n]",
            "a = [,]",
            "a = [\"x\" \"y\"]",
            "a = \"x\" junk",
            "a = 1\r\n",
            "a = \"\u{1}\"",
            "a =",
            "= 1",
            "a = [\"open\"",
            "a = \"open",
        ] {
            assert!(parse_simple(text).is_none(), "{text:?}");
            // And the full parser's verdict is what callers get.
            assert_eq!(
                parse(text).map_err(|e| e.to_string()),
                text.parse::<Table>().map_err(|e| e.to_string())
            );
        }
    }

    #[test]
    fn mutated_documents_never_disagree() {
        // Deterministic single- and double-byte mutations of every sample.
        let alphabet = b" \t\n#=\"'[],.-_0123456789aztrue\\\r";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut mutated_count, mut compared) = (0, 0);
        for text in SAMPLES.iter().filter(|t| !t.is_empty()) {
            for _ in 0..2000 {
                let mut bytes = text.as_bytes().to_vec();
                for _ in 0..1 + next() % 2 {
                    let at = (next() % bytes.len() as u64) as usize;
                    let with = alphabet[(next() % alphabet.len() as u64) as usize];
                    match next() % 3 {
                        0 => bytes[at] = with,
                        1 => bytes.insert(at, with),
                        _ => {
                            bytes.remove(at);
                        }
                    }
                    if bytes.is_empty() {
                        bytes.push(b'a');
                    }
                }
                if let Ok(mutated) = String::from_utf8(bytes) {
                    mutated_count += 1;
                    if agrees(&mutated) {
                        compared += 1;
                    }
                }
            }
        }
        // Agreement means something only if the fast path answered for
        // many of them (it gives up on anything unusual).
        eprintln!("{mutated_count} mutated documents, {compared} compared");
        assert!(mutated_count >= 15_900, "{mutated_count}");
        assert!(compared >= 8_000, "{compared} of {mutated_count}");
    }
}
