//! ANSI colour for the person-facing reports, off unless asked for (`--color`, a terminal).

/// Green: passed.
pub const GREEN: &str = "\x1b[32m";
/// Red: failed.
pub const RED: &str = "\x1b[31m";
/// Yellow: warnings and optional failures.
pub const YELLOW: &str = "\x1b[33m";
/// Dim: hints and headers.
pub const DIM: &str = "\x1b[2m";
/// Bold: titles.
pub const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Paints text when colour is on, and leaves it alone otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Paint(pub bool);

impl Paint {
    /// `s` in colour `code`, or `s` as it is.
    pub fn p(&self, code: &str, s: &str) -> String {
        if self.0 { format!("{code}{s}{RESET}") } else { s.to_owned() }
    }
}
