//! `--qr`: how `enroll` draws the QR code (the drawings are the library's).

use clap::ValueEnum;
use pam_totp::enroll::provisioning::qr::Drawing;

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

impl QrStyle {
    /// The drawing, or `None` for no QR code. Both colours are drawn
    /// explicitly (black on white), so a local terminal shows the code in
    /// its normal polarity whether it is dark or light.
    pub fn drawing(self) -> Option<Drawing> {
        match self {
            QrStyle::Utf8 => Some(Drawing::HalfBlocksInColour),
            QrStyle::Ansi => Some(Drawing::ColouredSpaces),
            QrStyle::None => None,
        }
    }
}
