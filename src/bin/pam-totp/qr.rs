//! The QR code `enroll` draws in the terminal.
//!
//! Both colours are always drawn explicitly (black on white), never left to
//! the terminal's background, so the code has the same polarity on dark
//! and on light terminals, inside a white quiet zone of four modules.

use clap::ValueEnum;
use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code (ISO/IEC 18004 asks for four).
pub const QUIET_ZONE: usize = 4;

/// Black text on a white background: `47` for terminals with eight
/// colours, then `107` (bright white), ignored where unknown.
const BLACK_ON_WHITE: &str = "\x1b[30;47;107m";
const DARK: &str = "\x1b[40m";
const LIGHT: &str = "\x1b[47;107m";
const RESET: &str = "\x1b[0m";

/// How `enroll` draws the QR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QrStyle {
    /// Unicode half blocks: two modules per character cell (compact)
    Utf8,
    /// Coloured spaces, two cells per module (for fonts without block characters)
    Ansi,
    /// No QR code; type the secret or the URI instead
    None,
}

/// A QR code as rows of modules, `true` for dark, quiet zone included.
pub struct Matrix {
    rows: Vec<Vec<bool>>,
    /// Light modules above and below the code.
    vertical_zone: usize,
}

impl Matrix {
    /// Encode `text` (byte mode, low error correction: a screen is not a
    /// scratched label, and a smaller code fits a terminal).
    pub fn encode(text: &str) -> Result<Matrix, qrcode::types::QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)?;
        let width = code.width();
        let colors = code.to_colors();
        let full = width + 2 * QUIET_ZONE;
        let mut rows = vec![vec![false; full]; QUIET_ZONE];
        for line in colors.chunks(width) {
            let mut row = vec![false; QUIET_ZONE];
            row.extend(line.iter().map(|c| *c == Color::Dark));
            row.extend(std::iter::repeat_n(false, QUIET_ZONE));
            rows.push(row);
        }
        rows.extend(std::iter::repeat_n(vec![false; full], QUIET_ZONE));
        Ok(Matrix {
            rows,
            vertical_zone: QUIET_ZONE,
        })
    }

    /// Make the drawing (two rows a line) at most `lines` high, if it can
    /// be done by narrowing the light margin above and below to no less
    /// than two modules (the sides keep four): so that in an 80x24
    /// terminal the whole code is still on screen at the prompt below it.
    pub fn fit_lines(&mut self, lines: usize) {
        const MIN_ZONE: usize = 2;
        while self.vertical_zone > MIN_ZONE && self.rows.len().div_ceil(2) > lines {
            // One light row off the top and one off the bottom.
            self.rows.remove(0);
            self.rows.pop();
            self.vertical_zone -= 1;
        }
    }

    #[cfg(test)]
    pub fn rows(&self) -> &[Vec<bool>] {
        &self.rows
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.rows
            .get(y)
            .and_then(|row| row.get(x))
            .copied()
            .unwrap_or(false)
    }

    fn width(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    /// Text for the terminal in `style` (empty for `None`), lines ending in `\n`.
    pub fn render(&self, style: QrStyle) -> String {
        match style {
            QrStyle::Utf8 => self.render_utf8(),
            QrStyle::Ansi => self.render_ansi(),
            QrStyle::None => String::new(),
        }
    }

    /// Two rows per line: upper half block for a dark top module, lower
    /// half block for a dark bottom one, full block for both.
    fn render_utf8(&self) -> String {
        let mut out = String::new();
        for y in (0..self.rows.len()).step_by(2) {
            out.push_str(BLACK_ON_WHITE);
            for x in 0..self.width() {
                out.push(match (self.is_dark(x, y), self.is_dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            out.push_str(RESET);
            out.push('\n');
        }
        out
    }

    /// One row per line, each module two coloured spaces wide.
    fn render_ansi(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let mut current = None;
            for &dark in row {
                if current != Some(dark) {
                    out.push_str(if dark { DARK } else { LIGHT });
                    current = Some(dark);
                }
                out.push_str("  ");
            }
            out.push_str(RESET);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::needless_range_loop
    )]
    use super::*;

    /// Strip colour sequences (`ESC [ ... m`).
    fn strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn decode(rows: &[Vec<bool>]) -> String {
        let scale = 4;
        let (w, h) = (rows[0].len() * scale, rows.len() * scale);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            if rows[y / scale][x / scale] { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn ansi_rendering_decodes_to_the_text() {
        let text = "otpauth://totp/host:alice%40host?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host&algorithm=SHA1&digits=6&period=30";
        let matrix = Matrix::encode(text).unwrap();
        let drawn = matrix.render(QrStyle::Ansi);
        // Every line draws both colours explicitly and resets at the end.
        for line in drawn.lines() {
            assert!(line.starts_with("\x1b["), "{line:?}");
            assert!(line.ends_with(RESET), "{line:?}");
        }
        // Back from the escape sequences: a dark module starts with DARK.
        let mut rows = Vec::new();
        for line in drawn.lines() {
            let mut row = Vec::new();
            let mut dark = false;
            let mut rest = line;
            while !rest.is_empty() {
                if let Some(after) = rest.strip_prefix(DARK) {
                    dark = true;
                    rest = after;
                } else if let Some(after) = rest.strip_prefix(LIGHT) {
                    dark = false;
                    rest = after;
                } else if let Some(after) = rest.strip_prefix(RESET) {
                    rest = after;
                } else if let Some(after) = rest.strip_prefix("  ") {
                    row.push(dark);
                    rest = after;
                } else {
                    panic!("unexpected text in {line:?}");
                }
            }
            rows.push(row);
        }
        assert_eq!(rows, matrix.rows());
        assert_eq!(decode(&rows), text);
    }

    #[test]
    fn fitting_trims_only_light_rows_above_and_below() {
        let uri = "otpauth://totp/vm:root%40vm?secret=TMOT6JQMC6DDG46FO6CDUFBWJYIUJQRS&issuer=vm&algorithm=SHA1&digits=6&period=30";
        let mut matrix = Matrix::encode(uri).unwrap();
        let before = matrix.rows().len();
        assert_eq!(before.div_ceil(2), 25);
        matrix.fit_lines(23);
        let rows = matrix.rows();
        assert_eq!(rows.len(), before - 4);
        assert!(rows.len().div_ceil(2) <= 23);
        for row in rows.iter().take(2).chain(rows.iter().rev().take(2)) {
            assert!(row.iter().all(|dark| !dark));
        }
        // Never below two light modules.
        matrix.fit_lines(1);
        assert_eq!(matrix.rows().len(), before - 4);
    }

    #[test]
    fn quiet_zone_is_light_on_every_side() {
        let matrix = Matrix::encode("otpauth://totp/a:b?secret=JBSWY3DP").unwrap();
        let rows = matrix.rows();
        let n = rows.len();
        assert_eq!(rows[0].len(), n);
        for i in 0..n {
            for q in 0..QUIET_ZONE {
                assert!(!rows[q][i] && !rows[n - 1 - q][i] && !rows[i][q] && !rows[i][n - 1 - q]);
            }
        }
        // The finder pattern's corner is dark right inside the quiet zone.
        assert!(rows[QUIET_ZONE][QUIET_ZONE]);
        assert!(strip(&matrix.render(QrStyle::Utf8)).lines().count() == n.div_ceil(2));
        assert!(matrix.render(QrStyle::None).is_empty());
    }
}
