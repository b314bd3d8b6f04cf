//! Postal addresses: one text per way of writing the same address.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::is_invisible;

/// Most bytes of raw input looked at: a generous address is a few hundred.
pub const MAX_ADDRESS_INPUT: usize = 2048;

/// Why a postal address was refused. Never contains the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AddressError {
    /// Nothing but whitespace, punctuation and invisible marks.
    #[error("has no words")]
    Empty,
    /// Longer than [`MAX_ADDRESS_INPUT`] bytes.
    #[error("too long ({len} bytes, at most {MAX_ADDRESS_INPUT})")]
    TooLong {
        /// Bytes of the input.
        len: usize,
    },
}

/// Abbreviations folded to their word, after lower-casing. Both spellings
/// of an address get the same folding, so a fold that is wrong for some
/// address (`st` for "saint") still compares equal spellings equal.
/// `ش` stands alone only as the abbreviation `ش.` of `شارع` (street):
/// as a word of its own it is not Arabic.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("apt", "apartment"),
    ("av", "avenue"),
    ("ave", "avenue"),
    ("bld", "building"),
    ("bldg", "building"),
    ("blvd", "boulevard"),
    ("fl", "floor"),
    ("rd", "road"),
    ("st", "street"),
    ("ste", "suite"),
    ("str", "street"),
    ("ش", "شارع"),
];

/// Punctuation outside ASCII that separates words: Latin-1 marks (`¡`,
/// `§`, `«`, `»`, `·`, `¿`, …), general punctuation
/// (dashes, quotes, bullets), Arabic comma, semicolon, question mark,
/// percent and decimal signs and full stop, CJK punctuation and the
/// full-width forms not folded to ASCII.
fn is_unicode_punctuation(c: char) -> bool {
    matches!(
        c,
        '\u{00A1}'
            | '\u{00A7}'
            | '\u{00AB}'
            | '\u{00B6}'
            | '\u{00B7}'
            | '\u{00BB}'
            | '\u{00BF}'
            | '\u{2010}'..='\u{2027}'
            | '\u{2030}'..='\u{205E}'
            | '\u{060C}'
            | '\u{061B}'
            | '\u{061F}'
            | '\u{066A}'..='\u{066D}'
            | '\u{06D4}'
            | '\u{3000}'..='\u{303F}'
            | '\u{FF5F}'..='\u{FF65}'
    )
}

/// Arabic marks that do not change which word is written: tatweel
/// (kashida, a stretching stroke), the short-vowel and other harakat, and
/// the superscript alef. Rarely typed in addresses, and then optional.
fn is_arabic_decoration(c: char) -> bool {
    matches!(c, '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}')
}

/// One character folded: full-width ASCII to ASCII, Arabic-Indic digits to
/// ASCII, and the Arabic letter variants people write interchangeably
/// (alef with hamza or madda to alef, teh marbuta to heh, alef maksura and
/// the Persian yeh to yeh, the Persian kaf to kaf), Greek final sigma to
/// sigma. The usual folding of Arabic search engines.
fn fold_char(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        '\u{0660}'..='\u{0669}' => {
            char::from_u32(u32::from(c) - 0x0660 + u32::from('0')).unwrap_or(c)
        }
        '\u{06F0}'..='\u{06F9}' => {
            char::from_u32(u32::from(c) - 0x06F0 + u32::from('0')).unwrap_or(c)
        }
        '\u{0622}' | '\u{0623}' | '\u{0625}' | '\u{0671}' => '\u{0627}',
        '\u{0629}' => '\u{0647}',
        '\u{0649}' | '\u{06CC}' => '\u{064A}',
        '\u{06A9}' => '\u{0643}',
        'ς' => 'σ',
        _ => c,
    }
}

/// The canonical text of a postal address, for equality only (it is not a
/// deliverable address):
///
/// * invisible marks (zero-width, bidi) and Arabic decorations (tatweel,
///   harakat) are removed;
/// * full-width characters and Arabic-Indic digits become ASCII, and Arabic
///   letter variants are folded (`أ`, `إ`, `آ` to `ا`; `ة` to `ه`; `ى` to
///   `ي`);
/// * lower case (Unicode-aware);
/// * punctuation, whitespace and control characters only separate words;
///   words are joined by one space;
/// * common abbreviations become their word: `st`/`str` street, `rd` road,
///   `ave`/`av` avenue, `apt` apartment, `bldg`/`bld` building, `blvd`
///   boulevard, `ste` suite, `fl` floor, and `ش.` شارع (street).
///
/// So `12 King Fahd Rd., Apt 4` and `12  king fahd road apartment 4` are
/// one text. Idempotent.
///
/// # Errors
/// [`AddressError::Empty`] without any word,
/// [`AddressError::TooLong`] above [`MAX_ADDRESS_INPUT`] bytes.
///
/// # Example
/// ```
/// use referrals::fraud::identity::normalise_address;
/// assert_eq!(normalise_address("12 King Fahd Rd., Apt 4")?, "12 king fahd road apartment 4");
/// assert_eq!(normalise_address("ش. الملك فهد، ١٢")?, "شارع الملك فهد 12");
/// # Ok::<(), referrals::fraud::identity::AddressError>(())
/// ```
pub fn normalise_address(raw: &str) -> Result<String, AddressError> {
    if raw.len() > MAX_ADDRESS_INPUT {
        return Err(AddressError::TooLong { len: raw.len() });
    }
    // NFKC first: Arabic presentation forms (`ﻻ`), full-width digits and
    // decomposed accents become the letters they show.
    let normal: String = raw.nfkc().collect();
    let mut folded = String::with_capacity(normal.len());
    for c in normal.chars() {
        if is_invisible(c) || is_arabic_decoration(c) {
            continue;
        }
        let c = fold_char(c);
        if c.is_whitespace()
            || c.is_control()
            || c.is_ascii_punctuation()
            || is_unicode_punctuation(c)
        {
            folded.push(' ');
        } else {
            folded.extend(c.to_lowercase().map(fold_char));
        }
    }
    // NFKC again: lower case can leave combining marks out of canonical
    // order (`İ` becomes `i` and U+0307, before marks that sort first),
    // and a dropped mark can free the next to compose with its letter.
    // Without this the result would change when normalised again.
    let normal: String = folded.nfkc().collect();
    let words: Vec<&str> = normal.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Err(AddressError::Empty);
    }
    let words: Vec<&str> = words
        .into_iter()
        .map(|word| {
            ABBREVIATIONS
                .binary_search_by(|(short, _)| short.cmp(&word))
                .ok()
                .and_then(|at| ABBREVIATIONS.get(at))
                .map_or(word, |(_, long)| long)
        })
        .collect();
    Ok(words.join(" "))
}
