//! QR codes drawn as terminal text.
//!
//! Every drawing includes a quiet zone of four light modules on all sides
//! (ISO/IEC 18004 asks for four), drawn explicitly, so the code never
//! depends on what surrounds it on the screen.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of light margin around the code.
pub const QUIET_ZONE: usize = 4;

/// Black text on a white background: `47` for terminals with eight
/// colours, then `107` (bright white), ignored where unknown.
const BLACK_ON_WHITE: &str = "\x1b[30;47;107m";
const DARK: &str = "\x1b[40m";
const LIGHT: &str = "\x1b[47;107m";
const RESET: &str = "\x1b[0m";

/// How a QR code is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drawing {
    /// Half blocks (two modules per character cell) in explicit black on
    /// white: the same polarity on dark and light terminals, for a local
    /// terminal (`pam-totp enroll`).
    HalfBlocksInColour,
    /// Two coloured spaces per module, for fonts without block characters.
    ColouredSpaces,
    /// Half blocks and no colour sequences, which OpenSSH's `ssh` would
    /// escape in keyboard-interactive text (enrollment at login). The
    /// characters draw the light modules, as `qrencode -t UTF8` does: on a
    /// dark terminal (light text) the code has its normal polarity; on a
    /// light terminal it is inverted (light on dark) inside a drawn dark
    /// frame, which scanners that read inverted codes decode.
    HalfBlocksPlain,
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

    /// Make the drawing in half blocks (two rows a line) at most `lines`
    /// high, if it can be done by narrowing the light margin above and
    /// below to no less than two modules (the sides keep four): so that in
    /// an 80x24 terminal the whole code is on screen at the prompt below it.
    pub fn fit_lines(&mut self, lines: usize) {
        const MIN_ZONE: usize = 2;
        while self.vertical_zone > MIN_ZONE && self.rows.len().div_ceil(2) > lines {
            // One light row off the top and one off the bottom.
            self.rows.remove(0);
            self.rows.pop();
            self.vertical_zone -= 1;
        }
    }

    /// The modules, row by row, quiet zone included.
    pub fn rows(&self) -> &[Vec<bool>] {
        &self.rows
    }

    /// Modules across, quiet zone included: the character cells a drawing
    /// in half blocks takes.
    pub fn width(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        self.rows
            .get(y)
            .and_then(|row| row.get(x))
            .copied()
            .unwrap_or(false)
    }

    /// The drawing as lines of text, without line ends.
    pub fn lines(&self, drawing: Drawing) -> Vec<String> {
        match drawing {
            Drawing::HalfBlocksInColour => self
                .half_blocks(|dark| dark)
                .into_iter()
                .map(|line| format!("{BLACK_ON_WHITE}{line}{RESET}"))
                .collect(),
            Drawing::ColouredSpaces => self.coloured_spaces(),
            Drawing::HalfBlocksPlain => self.half_blocks(|dark| !dark),
        }
    }

    /// The drawing as text, every line ending in `\n`.
    pub fn render(&self, drawing: Drawing) -> String {
        self.lines(drawing)
            .into_iter()
            .map(|line| line + "\n")
            .collect()
    }

    /// Two rows per line: the upper half block where only the top module
    /// is `inked`, the lower one where only the bottom one is, a full block
    /// for both. Below the last row (codes have an odd number of rows)
    /// is light: a little more quiet zone.
    fn half_blocks(&self, inked: impl Fn(bool) -> bool) -> Vec<String> {
        (0..self.rows.len())
            .step_by(2)
            .map(|y| {
                (0..self.width())
                    .map(|x| {
                        let top = inked(self.is_dark(x, y));
                        let bottom = inked(self.is_dark(x, y + 1));
                        match (top, bottom) {
                            (true, true) => '█',
                            (true, false) => '▀',
                            (false, true) => '▄',
                            (false, false) => ' ',
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// One row per line, each module two coloured spaces wide.
    fn coloured_spaces(&self) -> Vec<String> {
        self.rows
            .iter()
            .map(|row| {
                let mut line = String::new();
                let mut current = None;
                for &dark in row {
                    if current != Some(dark) {
                        line.push_str(if dark { DARK } else { LIGHT });
                        current = Some(dark);
                    }
                    line.push_str("  ");
                }
                line.push_str(RESET);
                line
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::needless_range_loop)]
    use super::*;

    const URI: &str = "otpauth://totp/host:alice%40host?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host&algorithm=SHA1&digits=6&period=30";

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

    /// Modules back from half blocks: `inked` says whether a drawn half is dark.
    fn from_half_blocks(lines: &[String], inked_is_dark: bool) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in lines {
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                let (t, b) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?} in {line:?}"),
                };
                top.push(t == inked_is_dark);
                bottom.push(b == inked_is_dark);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    /// The half row below an odd last row is light, then cut off.
    fn cut_to(mut rows: Vec<Vec<bool>>, matrix: &Matrix) -> Vec<Vec<bool>> {
        assert_eq!(rows.len(), matrix.rows().len() + 1);
        assert!(rows.last().unwrap().iter().all(|dark| !dark));
        rows.pop();
        rows
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
    fn ansi_rendering_decodes_to_the_text() {
        let matrix = Matrix::encode(URI).unwrap();
        let drawn = matrix.render(Drawing::ColouredSpaces);
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
        assert_eq!(decode(&rows), URI);
    }

    #[test]
    fn coloured_half_blocks_draw_the_dark_modules() {
        let matrix = Matrix::encode(URI).unwrap();
        let lines: Vec<String> = matrix
            .lines(Drawing::HalfBlocksInColour)
            .iter()
            .map(|line| strip(line))
            .collect();
        let rows = cut_to(from_half_blocks(&lines, true), &matrix);
        assert_eq!(rows, matrix.rows());
        assert_eq!(decode(&rows), URI);
    }

    #[test]
    fn plain_half_blocks_draw_the_light_modules_without_escapes() {
        let matrix = Matrix::encode(URI).unwrap();
        let lines = matrix.lines(Drawing::HalfBlocksPlain);
        for line in &lines {
            assert!(!line.contains('\x1b'), "{line:?}");
            assert_eq!(line.chars().count(), matrix.width());
            // The quiet zone is drawn: four light modules, full blocks.
            assert!(
                line.starts_with("████") && line.ends_with("████"),
                "{line:?}"
            );
        }
        // As a dark terminal shows it (the characters light): decodes as is.
        let rows = cut_to(from_half_blocks(&lines, false), &matrix);
        assert_eq!(rows, matrix.rows());
        assert_eq!(decode(&rows), URI);
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
        assert_eq!(
            strip(&matrix.render(Drawing::HalfBlocksInColour))
                .lines()
                .count(),
            n.div_ceil(2)
        );
    }
}
