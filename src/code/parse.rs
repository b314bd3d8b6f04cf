//! Parsing (helper: complete).
use super::{Code, CodeFormat};

/// Why typed input is not a code (helper: complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bad code")]
pub struct CodeParseError;

impl CodeFormat {
    /// Parses typed input (helper: complete).
    pub fn parse(&self, input: &str) -> Result<Code, CodeParseError> {
        Code::from_canonical(input).map_err(|_| CodeParseError)
    }
}
