//! Phone numbers to E.164.
//!
//! # Why no `phonenumber` crate
//!
//! The `phonenumber` crate (0.3, a port of Google's libphonenumber) knows
//! every country's numbering plan and could refuse unassigned numbers. It is
//! not used, for three reasons:
//!
//! * A signal only needs one stable text per number, not validation or
//!   formatting. Numbers a fraudster makes up are refused by the host's
//!   SMS check, not here.
//! * Stability: hashes are stored for months and compared with new ones.
//!   A normaliser driven by numbering-plan metadata can change its output
//!   when the metadata is updated (a new trunk-prefix rule, a re-split
//!   range), and every stored hash of such a number silently stops
//!   matching. The rules below are few, written down, and change only with
//!   a changelog entry.
//! * Cost: about 40 more crates in the default build (`regex`, `nom`,
//!   `quick-xml`, `postcard`, `strum` among them), metadata parsed at
//!   build time, for a crate that keeps its default build small.
//!
//! What it costs: numbers of the right length that no operator assigns are
//! accepted, and national numbers are only read for a program's one default
//! region, with the trunk-prefix rules of [`normalise_phone`].

use serde::{Deserialize, Serialize};

use super::is_invisible;

/// Most bytes of raw input looked at: far above any real number in any
/// notation, so hostile megabytes are refused before any work.
const MAX_INPUT: usize = 128;
/// Fewest digits (country code included) of a number accepted. E.164 has
/// no minimum; shorter numbers exist (some small islands) but are mostly
/// typos and service numbers.
pub const MIN_DIGITS: usize = 8;
/// Most digits of an E.164 number, country code included.
pub const MAX_DIGITS: usize = 15;

/// A country calling code, `1..=999` (`966` for Saudi Arabia, `1` for the
/// North American plan): the region national numbers are read in.
///
/// Not checked against the list of assigned codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct CallingCode(u16);

impl CallingCode {
    /// A calling code.
    ///
    /// # Errors
    /// [`PhoneError::CallingCode`] outside `1..=999`.
    pub fn new(code: u16) -> Result<CallingCode, PhoneError> {
        if (1..=999).contains(&code) {
            Ok(CallingCode(code))
        } else {
            Err(PhoneError::CallingCode { code })
        }
    }

    /// The code as a number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for CallingCode {
    type Error = PhoneError;
    fn try_from(code: u16) -> Result<Self, Self::Error> {
        CallingCode::new(code)
    }
}

impl From<CallingCode> for u16 {
    fn from(code: CallingCode) -> u16 {
        code.0
    }
}

/// Why a phone number was refused. Never contains the number's digits, so
/// errors can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PhoneError {
    /// No digits at all.
    #[error("has no digits")]
    Empty,
    /// Far longer than any phone number in any notation.
    #[error("input too long ({len} bytes)")]
    InputTooLong {
        /// Bytes of the input.
        len: usize,
    },
    /// A character that is neither a digit, a `+` nor a separator (space,
    /// dash, dot, parenthesis).
    #[error("contains {ch:?} at character {position}")]
    Character {
        /// The offending character.
        ch: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// A `+` after a digit or a second `+`.
    #[error("has a '+' that is not in front, at character {position}")]
    MisplacedPlus {
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// A national number (no `+` or `00`) and no default region to read it
    /// in.
    #[error("is a national number and the program has no default region")]
    NoRegion,
    /// An international number whose country code starts with 0.
    #[error("has a country code starting with 0")]
    ZeroCountryCode,
    /// Fewer than [`MIN_DIGITS`] digits, country code included.
    #[error("has {digits} digits with its country code, at least {MIN_DIGITS} are needed")]
    TooShort {
        /// Digits of the number, country code included.
        digits: usize,
    },
    /// More than [`MAX_DIGITS`] digits, country code included.
    #[error("has {digits} digits with its country code, E.164 allows at most {MAX_DIGITS}")]
    TooLong {
        /// Digits of the number, country code included.
        digits: usize,
    },
    /// A default region outside `1..=999`.
    #[error("{code} is not a calling code (1 to 999)")]
    CallingCode {
        /// The number given.
        code: u16,
    },
}

/// A digit in ASCII, Arabic-Indic (`٠`-`٩`), Extended (Eastern)
/// Arabic-Indic (`۰`-`۹`) or full-width (`０`-`９`) form, as ASCII.
fn digit(c: char) -> Option<char> {
    let zero = match c {
        '0'..='9' => '0',
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        '\u{FF10}'..='\u{FF19}' => '\u{FF10}',
        _ => return None,
    };
    let offset = u32::from(c) - u32::from(zero);
    char::from_digit(offset, 10)
}

/// Characters people put between digits: whitespace, dashes (ASCII,
/// Unicode and full-width), dots, slashes and parentheses.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '/' | '(' | ')' | '\u{2010}'
                ..='\u{2015}' | '\u{2212}' | '\u{FF08}' | '\u{FF09}' | '\u{FF0D}' | '\u{FF0E}'
        )
}

/// A phone number in E.164: `+`, the country code and the national
/// number, digits only (`+966501234567`).
///
/// Read forgivingly, as people type numbers:
///
/// * digits in ASCII, Arabic-Indic (`٠`-`٩`), Eastern Arabic-Indic
///   (`۰`-`۹`) or full-width form; spaces, dashes, dots, slashes and
///   parentheses between them; invisible bidi and zero-width marks (phone
///   numbers in right-to-left text often carry them) are ignored;
/// * `+` (or full-width `＋`) in front, or `00` in front (the international
///   prefix of most countries), starts an international number;
/// * anything else is a national number of `default_region`, with its
///   trunk prefix dropped: a leading `0` in most countries
///   (`0501234567` with `966` is `+966501234567`); a leading `1` of an
///   11-digit number with `1` (North America); a leading `8` of an 11-digit
///   number with `7` (Russia, Kazakhstan); nothing with `39` (Italy keeps
///   its leading `0` in international form).
///
/// The result has 8 to 15 digits ([`MIN_DIGITS`], [`MAX_DIGITS`]). A
/// national number typed with its country code but without `+` or `00`
/// (`966501234567`) cannot be told from a national one and is read as
/// national. Idempotent: the output normalises to itself.
///
/// # Errors
/// A [`PhoneError`] naming what was wrong, never echoing the digits.
///
/// # Example
/// ```
/// use referrals::fraud::identity::{normalise_phone, CallingCode};
/// let saudi = Some(CallingCode::new(966)?);
/// assert_eq!(normalise_phone("+966 50 123 4567", None)?, "+966501234567");
/// assert_eq!(normalise_phone("00966-50-123-4567", None)?, "+966501234567");
/// assert_eq!(normalise_phone("٠٥٠١٢٣٤٥٦٧", saudi)?, "+966501234567");
/// assert_eq!(normalise_phone("(050) 123.4567", saudi)?, "+966501234567");
/// assert_eq!(normalise_phone("+44 (0)20 7946 0958", None)?, "+442079460958");
/// # Ok::<(), referrals::fraud::identity::PhoneError>(())
/// ```
pub fn normalise_phone(
    raw: &str,
    default_region: Option<CallingCode>,
) -> Result<String, PhoneError> {
    if raw.len() > MAX_INPUT {
        return Err(PhoneError::InputTooLong { len: raw.len() });
    }
    // `+44 (0)20 …`: the bracketed trunk prefix written beside the
    // country code is not dialled from abroad; drop it, or one number
    // would have two forms.
    let trimmed = raw.trim_start();
    let owned;
    let raw = if (trimmed.starts_with('+')
        || trimmed.starts_with("00")
        || trimmed.starts_with('\u{FF0B}'))
        && raw.contains("(0)")
    {
        owned = raw.replacen("(0)", "", 1);
        owned.as_str()
    } else {
        raw
    };
    let mut digits = String::with_capacity(MAX_DIGITS);
    let mut plus = false;
    for (position, c) in raw.chars().enumerate() {
        if let Some(d) = digit(c) {
            digits.push(d);
        } else if c == '+' || c == '\u{FF0B}' {
            if plus || !digits.is_empty() {
                return Err(PhoneError::MisplacedPlus { position });
            }
            plus = true;
        } else if !(is_separator(c) || is_invisible(c)) {
            return Err(PhoneError::Character { ch: c, position });
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }
    let international = if plus {
        digits
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest.to_owned()
    } else {
        let region = default_region.ok_or(PhoneError::NoRegion)?;
        national(region, &digits)
    };
    if international.starts_with('0') {
        return Err(PhoneError::ZeroCountryCode);
    }
    let count = international.len();
    if count < MIN_DIGITS {
        return Err(PhoneError::TooShort { digits: count });
    }
    if count > MAX_DIGITS {
        return Err(PhoneError::TooLong { digits: count });
    }
    Ok(format!("+{international}"))
}

/// Country code and national number, the trunk prefix dropped.
fn national(region: CallingCode, number: &str) -> String {
    let code = region.get();
    let subscriber = match code {
        // Italy: the 0 of fixed lines is dialled from abroad too.
        39 => number,
        // North America: trunk prefix 1 before a 10-digit number.
        1 if number.len() == 11 => number.strip_prefix('1').unwrap_or(number),
        // Russia and Kazakhstan: trunk prefix 8 before a 10-digit number.
        7 if number.len() == 11 => number.strip_prefix('8').unwrap_or(number),
        _ => number.strip_prefix('0').unwrap_or(number),
    };
    format!("{code}{subscriber}")
}
