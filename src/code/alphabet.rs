//! Crockford's base32 alphabet, and the tables that read typed input into it.
//!
//! The 32 symbols are `0-9` and `A-Z` without `I`, `L`, `O` and `U`: the first
//! three look like `1`, `1` and `0`, and leaving out `U` keeps a random code
//! from spelling the most common English obscenities.
//!
//! Everything here is a 256-entry table indexed by a byte, because parsing
//! and check validation run once per symbol of every code a person types or a
//! link carries: a table lookup has no branches and no search.
//!
//! # Example: symbols and their values
//! ```
//! use referrals::code::alphabet;
//! assert_eq!(alphabet::SYMBOLS[10], b'A');
//! assert_eq!(alphabet::value(b'Z'), Some(31));
//! // Only canonical upper-case symbols have a value; parsing folds the rest.
//! assert_eq!(alphabet::value(b'a'), None);
//! assert_eq!(alphabet::value(b'O'), None);
//! ```

/// The 32 symbols, in value order: `SYMBOLS[v]` is the symbol of value `v`.
pub const SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Marks a byte that is not a canonical symbol in [`VALUES`].
const NO_VALUE: u8 = 0xFF;

/// Value of each byte as a canonical symbol, [`NO_VALUE`] for all others.
const VALUES: [u8; 256] = build_values();

const fn build_values() -> [u8; 256] {
    let mut table = [NO_VALUE; 256];
    let mut v = 0;
    while v < SYMBOLS.len() {
        table[SYMBOLS[v] as usize] = v as u8;
        v += 1;
    }
    table
}

/// The value (0..32) of a canonical upper-case symbol, or `None`.
///
/// Lower case, `I`, `L`, `O`, `U` and separators have no value here: they
/// are what [`CodeFormat::parse`](crate::CodeFormat::parse) folds or skips.
///
/// # Example: canonical symbols only
/// ```
/// use referrals::code::alphabet::value;
/// assert_eq!(value(b'0'), Some(0));
/// assert_eq!(value(b'V'), Some(27));
/// assert_eq!(value(b'U'), None); // not in the alphabet
/// assert_eq!(value(b'-'), None);
/// ```
#[inline]
pub const fn value(symbol: u8) -> Option<u8> {
    match VALUES[symbol as usize] {
        NO_VALUE => None,
        v => Some(v),
    }
}

/// [`value`] without the `Option`, for loops that reject a whole input on
/// the first non-symbol: returns a number `>= 32` for anything else.
#[inline]
pub(crate) const fn raw_value(symbol: u8) -> u8 {
    VALUES[symbol as usize]
}

/// A class in the normalisation tables below: the byte is skipped.
pub(crate) const SKIP: u8 = 1;
/// A class in the normalisation tables below: the byte is not allowed.
pub(crate) const INVALID: u8 = 0;
/// A class in the normalisation tables below: the byte starts a multi-byte
/// UTF-8 character, to be decoded and passed through [`fold_non_ascii`].
pub(crate) const NON_ASCII: u8 = 2;

/// How typed input is read, byte by byte: a canonical symbol (an ASCII byte
/// `>= b'0'`), or [`SKIP`], [`INVALID`] or [`NON_ASCII`].
///
/// Lower case is folded to upper case, `I` and `L` read as `1` and `O` as `0`
/// (the mistakes people make reading a code aloud or off paper), and ASCII
/// whitespace, `-` and `_` are skipped. `U` and every other byte is invalid.
pub(crate) const TYPED: [u8; 256] = build_normalize(true);

/// Like [`TYPED`], but `I`, `L` and `O` (either case) are invalid instead of
/// being read as digits: a vanity code chosen with them could never be typed
/// back the way it was written.
pub(crate) const STRICT: [u8; 256] = build_normalize(false);

const fn build_normalize(fold_ambiguous: bool) -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut b = 0x80;
    while b < 256 {
        table[b] = NON_ASCII;
        b += 1;
    }
    // The same bytes `char::is_whitespace` accepts in ASCII.
    let skipped = b"\t\n\x0B\x0C\r -_";
    let mut i = 0;
    while i < skipped.len() {
        table[skipped[i] as usize] = SKIP;
        i += 1;
    }
    let mut v = 0;
    while v < SYMBOLS.len() {
        let s = SYMBOLS[v];
        table[s as usize] = s;
        table[s.to_ascii_lowercase() as usize] = s;
        v += 1;
    }
    if fold_ambiguous {
        table[b'I' as usize] = b'1';
        table[b'i' as usize] = b'1';
        table[b'L' as usize] = b'1';
        table[b'l' as usize] = b'1';
        table[b'O' as usize] = b'0';
        table[b'o' as usize] = b'0';
    }
    table
}

/// What a non-ASCII character of typed input stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonAscii {
    /// Read it as this ASCII byte, then through [`TYPED`] or [`STRICT`].
    Ascii(u8),
    /// Skip it: a space, a dash, or an invisible formatting mark.
    Skip,
    /// Not allowed.
    Invalid,
}

/// Reads one non-ASCII character of typed input.
///
/// * Arabic-Indic (`٠`-`٩`) and Extended Arabic-Indic (`۰`-`۹`) digits are the
///   digits `0`-`9`: phones with an Arabic keyboard type them.
/// * Full-width digits and Latin letters (from CJK input methods) are their
///   ASCII forms.
/// * Unicode whitespace (no-break space included), dashes (`U+2010`-`U+2015`,
///   minus sign `U+2212`, full-width hyphen-minus and low line), the soft
///   hyphen and zero-width and bidirectional control characters (`U+200B`-
///   `U+200F`, `U+202A`-`U+202E`, `U+2060`-`U+2069`, `U+FEFF`, `U+061C`) are
///   skipped: copying a code out of a right-to-left chat message carries them
///   along, invisibly.
/// * Everything else is invalid.
pub(crate) fn fold_non_ascii(c: char) -> NonAscii {
    let cp = c as u32;
    match c {
        '\u{0660}'..='\u{0669}' => NonAscii::Ascii(b'0' + (cp - 0x0660) as u8),
        '\u{06F0}'..='\u{06F9}' => NonAscii::Ascii(b'0' + (cp - 0x06F0) as u8),
        // Full-width forms sit at a fixed offset from ASCII.
        '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
            NonAscii::Ascii((cp - 0xFEE0) as u8)
        }
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FF0D}' | '\u{FF3F}' => NonAscii::Skip,
        '\u{00AD}'
        | '\u{061C}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}' => NonAscii::Skip,
        _ if c.is_whitespace() => NonAscii::Skip,
        _ => NonAscii::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_invert_symbols_and_nothing_else_has_one() {
        for b in 0..=255u8 {
            match value(b) {
                Some(v) => assert_eq!(SYMBOLS[v as usize], b),
                None => assert!(!SYMBOLS.contains(&b), "{b:#x}"),
            }
        }
        assert_eq!(SYMBOLS.iter().filter_map(|&s| value(s)).count(), 32);
    }

    #[test]
    fn typed_table_folds_case_and_lookalikes() {
        for &s in SYMBOLS {
            assert_eq!(TYPED[s as usize], s);
            assert_eq!(TYPED[s.to_ascii_lowercase() as usize], s);
            assert_eq!(STRICT[s.to_ascii_lowercase() as usize], s);
        }
        for (typed, read) in [(b'I', b'1'), (b'l', b'1'), (b'L', b'1'), (b'o', b'0')] {
            assert_eq!(TYPED[typed as usize], read);
            assert_eq!(STRICT[typed as usize], INVALID);
        }
        for b in [b'U', b'u', b'.', b',', b'+', 0, 0x7F] {
            assert_eq!(TYPED[b as usize], INVALID, "{b:#x}");
        }
        for b in [b' ', b'-', b'_', b'\t', b'\n'] {
            assert_eq!(TYPED[b as usize], SKIP);
        }
    }

    #[test]
    fn non_ascii_folding_covers_the_documented_ranges() {
        assert_eq!(fold_non_ascii('٧'), NonAscii::Ascii(b'7'));
        assert_eq!(fold_non_ascii('۹'), NonAscii::Ascii(b'9'));
        assert_eq!(fold_non_ascii('７'), NonAscii::Ascii(b'7'));
        assert_eq!(fold_non_ascii('Ｋ'), NonAscii::Ascii(b'K'));
        assert_eq!(fold_non_ascii('ｚ'), NonAscii::Ascii(b'z'));
        for c in [
            '\u{A0}', '\u{3000}', '\u{2010}', '\u{2015}', '\u{2212}', '－', '\u{200B}', '\u{200D}',
            '\u{200F}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{061C}',
        ] {
            assert_eq!(fold_non_ascii(c), NonAscii::Skip, "{c:?}");
        }
        for c in ['é', 'ß', '٫', 'Ω', '\u{2016}', '𝟕'] {
            assert_eq!(fold_non_ascii(c), NonAscii::Invalid, "{c:?}");
        }
    }
}
