//! Referral codes: generation, check characters, parsing of typed input,
//! vanity codes.
//!
//! Codes use Crockford's base32 alphabet (`0-9`, `A-Z` without `I L O U`),
//! end in one check character from the same alphabet (Damm's algorithm over
//! a quasigroup of order 32, see [`check`]), and are read back from whatever
//! a person typed (see [`CodeFormat::parse`]).
//!
//! * [`CodeFormat`] describes a program's codes: prefix, length, grouping.
//! * [`CodeFormat::random`] and [`CodeFormat::derive`] make codes;
//!   [`CodeFormat::display`] shows them as `BAKE-7K3-MQ9-XDM`.
//! * [`CodeFormat::parse`] reads them back from typing in any case, with
//!   dashes, spaces, Arabic-Indic or full-width digits and invisible marks,
//!   and reports typos with [`CodeParseError::suggestions`].
//! * [`CodeFormat::vanity`] accepts chosen codes such as `SARA2026`, refusing
//!   words of a [`Blocklist`].
//!
//! # Example: issue a code, read it back from a customer's phone
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use referrals::{CodeFormat, code::CodeParseError};
//!
//! let format = CodeFormat::default().with_prefix("BAKE")?;
//! let code = format.random(&mut StdRng::from_os_rng());
//! let shown = format.display(&code); // e.g. "BAKE-7K3-MQ9-XDM"
//! assert_eq!(format.parse(&shown.to_lowercase())?, code);
//!
//! // Typed on an Arabic keyboard: Arabic-Indic digits are read as digits.
//! let code = format.parse("bake ٧k٣ mq٩ xdm")?;
//! assert_eq!(code.as_str(), "BAKE7K3MQ9XDM");
//!
//! // A typo never matches somebody else's code by accident.
//! let typo = format.parse("BAKE-7K3-MQ9-XDN").unwrap_err();
//! assert!(matches!(typo, CodeParseError::WrongCheck { .. }));
//! assert!(typo.suggestions().contains(&code));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod alphabet;
pub mod check;
mod generate;
mod parse;
pub mod vanity;

pub use generate::{CodeFormatError, CodeSecret, CodeSecretError};
pub use parse::{CodeParseError, normalize};
pub use vanity::{Blocklist, BlocklistError, VanityError};

/// Most symbols a code may have, prefix and check character included.
pub const MAX_CODE_LEN: usize = 32;

/// Fewest symbols of a code that is not of a program's generated shape (a
/// vanity code): shorter ones are too easy to hit by mistake.
pub const MIN_CODE_LEN: usize = 4;

/// A referral code in canonical form: 1 to [`MAX_CODE_LEN`] upper-case
/// Crockford base32 symbols, without dashes.
///
/// `Copy` and allocation-free, so parsing and lookups never touch the heap.
/// Serialises as its canonical text. Use [`CodeFormat::display`] for the
/// dash-grouped form people read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    len: u8,
    /// Canonical symbols in `..len`; every byte after them is 0, because the
    /// derived `Eq`, `Ord` and `Hash` compare the whole array.
    symbols: [u8; MAX_CODE_LEN],
}

/// A string that is not a canonical code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a canonical referral code: {reason}")]
pub struct NonCanonicalCode {
    /// What was wrong.
    pub reason: &'static str,
}

impl Code {
    /// Builds a code from canonical symbols (upper-case Crockford base32,
    /// no separators). This does not verify a check character: use
    /// [`CodeFormat::parse`] for anything a person typed.
    ///
    /// # Errors
    /// [`NonCanonicalCode`] if `text` is empty, longer than
    /// [`MAX_CODE_LEN`] or holds anything but canonical symbols.
    ///
    /// # Example: canonical text only
    /// ```
    /// use referrals::Code;
    /// assert_eq!(Code::from_canonical("7K3MQ9XDS")?.len(), 9);
    /// // Typed forms are for `CodeFormat::parse`, not for this.
    /// assert!(Code::from_canonical("7k3-mq9").is_err());
    /// assert!(Code::from_canonical("٧K3").is_err());
    /// # Ok::<(), referrals::code::NonCanonicalCode>(())
    /// ```
    pub fn from_canonical(text: &str) -> Result<Code, NonCanonicalCode> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err(NonCanonicalCode {
                reason: "it is empty",
            });
        }
        if bytes.len() > MAX_CODE_LEN {
            return Err(NonCanonicalCode {
                reason: "it is longer than 32 symbols",
            });
        }
        if !bytes.iter().all(|&b| alphabet::value(b).is_some()) {
            return Err(NonCanonicalCode {
                reason: "only the symbols 0-9 and A-Z without I, L, O, U are allowed",
            });
        }
        Ok(Code::from_symbols_unchecked(bytes))
    }

    /// `bytes` must be canonical symbols, 1..=MAX_CODE_LEN of them.
    pub(crate) fn from_symbols_unchecked(bytes: &[u8]) -> Code {
        let mut symbols = [0u8; MAX_CODE_LEN];
        let len = bytes.len().min(MAX_CODE_LEN);
        symbols[..len].copy_from_slice(&bytes[..len]);
        Code {
            len: len as u8,
            symbols,
        }
    }

    /// The canonical text, e.g. `"7K3MQ9XDS"`.
    ///
    /// # Example: what a parsed code holds
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().parse("٧k3-mq9-xds")?.as_str(), "7K3MQ9XDS");
    /// # Ok::<(), referrals::code::CodeParseError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        // OK because symbols are always ASCII from the alphabet.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The canonical symbols as ASCII bytes.
    ///
    /// # Example: validating the check character
    /// ```
    /// use referrals::{Code, code::check};
    /// assert!(check::is_valid(Code::from_canonical("7K3MQ9XDS")?.as_bytes()));
    /// # Ok::<(), referrals::code::NonCanonicalCode>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.symbols[..self.len as usize]
    }

    /// Number of symbols, check character included.
    ///
    /// # Example: separators are not symbols
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().parse("7K3-MQ9-XDS")?.len(), 9);
    /// # Ok::<(), referrals::code::CodeParseError>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // a code is never empty
    pub fn len(&self) -> usize {
        self.len as usize
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({})", self.as_str())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Code::from_canonical(&s).map_err(serde::de::Error::custom)
    }
}

/// The shape of a program's generated codes: an optional prefix, a number of
/// random (or derived) symbols, one check character, and how to group them
/// with dashes for display.
///
/// The default is 8 symbols (40 bits) plus the check character, shown in
/// groups of three: `7K3-MQ9-XDS`. Build others with [`CodeFormat::new`];
/// every constructor validates, and so does deserialisation, so a
/// `CodeFormat` value is always usable.
///
/// Serialises as `{"prefix": "BAKE", "length": 8, "group": 3}`; every field
/// may be left out for its default, the prefix goes through the same
/// normalisation as typed input, and unknown fields are refused (a misspelt
/// `"lenght"` must not silently fall back to the default).
///
/// # Example: a bakery's codes
/// ```
/// use referrals::CodeFormat;
/// let format = CodeFormat::new(8)?.with_prefix("bake")?.with_group(4)?;
/// assert_eq!(format.prefix().map(|p| p.to_string()), Some("BAKE".into()));
/// assert_eq!(format.generated_len(), 13);
/// # Ok::<(), referrals::code::CodeFormatError>(())
/// ```
///
/// # Example: validation on the way in from JSON
/// ```
/// use referrals::CodeFormat;
/// let format: CodeFormat = serde_json::from_str(r#"{"prefix": "bake", "length": 10}"#)?;
/// assert_eq!(format.group(), 3);
/// assert!(serde_json::from_str::<CodeFormat>(r#"{"length": 3}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CodeFormatSpec", into = "CodeFormatSpec")]
pub struct CodeFormat {
    prefix: Option<Code>,
    length: u8,
    group: u8,
}

/// The serialised form of a [`CodeFormat`], validated on the way in.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CodeFormatSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    length: u8,
    group: u8,
}

impl Default for CodeFormatSpec {
    fn default() -> Self {
        CodeFormat::default().into()
    }
}

impl From<CodeFormat> for CodeFormatSpec {
    fn from(format: CodeFormat) -> Self {
        CodeFormatSpec {
            prefix: format.prefix.map(|p| p.as_str().to_owned()),
            length: format.length,
            group: format.group,
        }
    }
}

impl TryFrom<CodeFormatSpec> for CodeFormat {
    type Error = CodeFormatError;

    fn try_from(spec: CodeFormatSpec) -> Result<Self, CodeFormatError> {
        let format = CodeFormat::new(spec.length)?.with_group(spec.group)?;
        match spec.prefix {
            Some(prefix) => format.with_prefix(&prefix),
            None => Ok(format),
        }
    }
}

impl Default for CodeFormat {
    fn default() -> Self {
        CodeFormat {
            prefix: None,
            length: 8,
            group: 3,
        }
    }
}

impl CodeFormat {
    /// Total symbols of a generated code: prefix, body and check character.
    ///
    /// # Example: the default and a prefixed format
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().generated_len(), 9);
    /// assert_eq!(CodeFormat::default().with_prefix("BAKE")?.generated_len(), 13);
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    pub fn generated_len(&self) -> usize {
        self.prefix.map_or(0, |p| p.len()) + self.length as usize + 1
    }

    /// The prefix, if any, in canonical form.
    ///
    /// # Example: normalised on the way in
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().prefix(), None);
    /// let format = CodeFormat::default().with_prefix("bake")?;
    /// assert_eq!(format.prefix().map(|p| p.to_string()).as_deref(), Some("BAKE"));
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    pub fn prefix(&self) -> Option<Code> {
        self.prefix
    }

    /// Random (or derived) symbols per code, check character excluded.
    ///
    /// # Example: the default is 8 (40 bits)
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().length(), 8);
    /// assert_eq!(CodeFormat::new(12)?.length(), 12);
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    pub fn length(&self) -> u8 {
        self.length
    }

    /// Symbols per dash-separated group when displayed (0: no dashes).
    ///
    /// # Example: the default groups by three
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().group(), 3);
    /// assert_eq!(CodeFormat::default().with_group(0)?.group(), 0);
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    pub fn group(&self) -> u8 {
        self.group
    }
}
