//! Device and payment fingerprints: ids made by someone else's software.

use serde::{Deserialize, Serialize};

/// Most bytes of a fingerprint: far above any real id (a few dozen), so
/// that a request body passed by mistake is refused.
pub const MAX_OPAQUE: usize = 512;

/// Why a device or payment fingerprint was refused. Never contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OpaqueError {
    /// Nothing but whitespace.
    #[error("empty")]
    Empty,
    /// Longer than [`MAX_OPAQUE`] bytes.
    #[error("too long ({len} bytes, at most {MAX_OPAQUE})")]
    TooLong {
        /// Bytes after trimming.
        len: usize,
    },
    /// A control character (a line break, NUL, …): the value is not an id.
    #[error("contains a control character at character {position}")]
    Control {
        /// Its position in the trimmed text, counted in characters from 0.
        position: usize,
    },
}

/// The canonical text of an opaque id (a device fingerprint from the
/// host's client, a payment-method fingerprint from its payment provider):
/// the id with surrounding whitespace trimmed, otherwise unchanged. Case is
/// kept: such ids are often base64 or case-sensitive, and the software
/// that makes them spells one id one way. Idempotent.
///
/// Pass a provider's fingerprint of a card, never the card number.
///
/// # Errors
/// [`OpaqueError::Empty`], [`OpaqueError::TooLong`] or
/// [`OpaqueError::Control`].
///
/// # Example
/// ```
/// use referrals::fraud::identity::normalise_opaque;
/// assert_eq!(normalise_opaque("  fp_1Nv0FGQ9RKHgCVdK \n")?, "fp_1Nv0FGQ9RKHgCVdK");
/// assert!(normalise_opaque("a\nb").is_err());
/// # Ok::<(), referrals::fraud::identity::OpaqueError>(())
/// ```
pub fn normalise_opaque(raw: &str) -> Result<String, OpaqueError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(OpaqueError::Empty);
    }
    if id.len() > MAX_OPAQUE {
        return Err(OpaqueError::TooLong { len: id.len() });
    }
    if let Some(position) = id.chars().position(char::is_control) {
        return Err(OpaqueError::Control { position });
    }
    Ok(id.to_owned())
}
