//! An error for the user: one sentence on stderr, exit status 1.

/// An error for the user: one sentence on stderr, exit status 1.
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure(error.to_string())
    }
}
