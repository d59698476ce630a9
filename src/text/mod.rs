//! Text from files and users made safe to show: every log line and every
//! message quoting a file goes through [`escape_controls`], so a planted
//! newline cannot forge a log line and an escape sequence cannot retitle
//! or repaint a terminal.
//!
//! Also here: the encodings of secrets ([`encoding`]: base32, hexadecimal)
//! and the small TOML reader ([`simple_toml`]).

pub mod encoding;
pub mod simple_toml;

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every control character written as a visible escape: C0
/// (`\n`, `\r`, `\t`, `\x1b` ...), DEL (`\x7f`), C1 (`\u{9b}` ...) and the
/// Unicode format and bidirectional controls (`\u{202e}` ...) and line
/// separators. Printable text, backslashes included, is left as it is, so
/// escaping twice changes nothing. Borrows when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    // Fast path: plain printable ASCII, which is nearly every log line.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(text);
    }
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !needs_escape(c) {
            escaped.push(c);
            continue;
        }
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if u32::from(c) < 0x80 => {
                let _ = write!(escaped, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(escaped)
}

/// A count and its noun, in the plural unless it is one: `1 second`,
/// `2 seconds`, `0 failed attempts` (regular English plurals only).
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Whether `c` must not reach a log or a terminal as it is.
fn needs_escape(c: char) -> bool {
    c.is_control() // C0, DEL and C1
        || matches!(
            c,
            '\u{061c}'                      // Arabic letter mark
            | '\u{200b}'..='\u{200f}'       // zero-width spaces and marks
            | '\u{2028}'..='\u{202e}'       // line/paragraph separators, bidi embeddings
            | '\u{2060}'..='\u{2064}'       // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'       // bidi isolates
            | '\u{206a}'..='\u{206f}'       // deprecated format controls
            | '\u{feff}'                    // byte order mark
            | '\u{fff9}'..='\u{fffb}' // interlinear annotation
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in [
            "",
            "user alice: wrong code",
            "Grüße, 日本",
            "back\\slash \\x1b",
        ] {
            assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn every_kind_of_control_is_escaped() {
        let cases = [
            ("a\nb", "a\\nb"),
            ("a\r\tb", "a\\r\\tb"),
            ("\u{1b}]2;pwned\u{7}", "\\x1b]2;pwned\\x07"),
            ("nul\0", "nul\\x00"),
            ("del\u{7f}", "del\\x7f"),
            ("csi\u{9b}31m", "csi\\u{9b}31m"),
            ("\u{202e}evil", "\\u{202e}evil"),
            ("iso\u{2066}late\u{2069}", "iso\\u{2066}late\\u{2069}"),
            ("zw\u{200b}j", "zw\\u{200b}j"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("bom\u{feff}", "bom\\u{feff}"),
            ("\u{61c}", "\\u{61c}"),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape_controls(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "failed attempt"), "1 failed attempt");
        assert_eq!(plural(0, "second"), "0 seconds");
        assert_eq!(plural(2, "recovery code"), "2 recovery codes");
    }

    #[test]
    fn escaping_twice_changes_nothing() {
        let once = escape_controls("x\nDec 1 sshd[1]: Accepted\u{1b}]2;pwned\u{7}\u{202e}");
        assert_eq!(escape_controls(&once), once);
        assert!(once.chars().all(|c| !needs_escape(c)));
    }
}
