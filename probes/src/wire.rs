//! What every hand-written codec shares (each protocol's own `wire.rs` has the rest).

/// Why bytes are not (yet) what a protocol allows here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// More bytes are needed (and may come): read more before judging.
    Short,
    /// Not this protocol's shape; the text says what was wrong.
    Bad(String),
}

/// `Err(Malformed::Bad(why))`, the usual way a parser gives up.
pub fn bad<T>(why: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed::Bad(why.into()))
}
