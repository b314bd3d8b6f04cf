//! Reading codes back from what people type, paste and scan.
//!
//! Input comes from strangers: a phone keyboard in Arabic, a CJK input
//! method, a code copied out of a right-to-left chat with invisible marks
//! around it, a code read aloud over the phone. Parsing is one pass over the
//! input with a byte lookup table for ASCII (the common case), never
//! allocates on success, and never panics.

use super::alphabet::{NON_ASCII, NonAscii, SKIP, STRICT, SYMBOLS, TYPED, fold_non_ascii};
use super::check::is_valid;
use super::{Code, CodeFormat, MAX_CODE_LEN, MIN_CODE_LEN};

/// Why typed input is not a referral code.
///
/// `Copy` and allocation-free, so a failed parse costs no more than a
/// successful one; [`suggestions`](Self::suggestions) does its work only
/// when asked.
///
/// Positions are 0-based **character** indices into the input (what a
/// person sees and what `input.chars().nth(position)` returns), not byte
/// offsets: `"٧é"` has `'é'` at position 1, byte 2.
///
/// # Example: what and where
/// ```
/// use referrals::{CodeFormat, code::CodeParseError};
/// let err = CodeFormat::default().parse("7K3é").unwrap_err();
/// assert_eq!(err, CodeParseError::InvalidCharacter { character: 'é', position: 3 });
/// assert_eq!(err.to_string(), "character 'é' at position 3 is not allowed in a referral code");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeParseError {
    /// A character that is neither a symbol nor something parsing skips
    /// (such as `U`, `.`, `é`).
    #[error("character {character:?} at position {position} is not allowed in a referral code")]
    InvalidCharacter {
        /// The character as it was in the input.
        character: char,
        /// Its 0-based character (not byte) index in the input.
        position: usize,
    },
    /// Nothing but separators and invisible marks, or nothing at all.
    #[error("no referral code was entered")]
    Empty,
    /// More than [`MAX_CODE_LEN`] symbols.
    #[error("a referral code has at most {MAX_CODE_LEN} symbols, this one has {symbols}")]
    TooLong {
        /// Symbols read (separators not counted).
        symbols: usize,
    },
    /// Not of the generated shape and shorter than [`MIN_CODE_LEN`], so
    /// not a vanity code either.
    #[error("a referral code has at least {MIN_CODE_LEN} symbols, this one has {symbols}")]
    TooShort {
        /// Symbols read (separators not counted).
        symbols: usize,
    },
    /// The input has the generated length and starts with the format's
    /// prefix (or with the prefix one typo away), but its check character
    /// does not match: a symbol was mistyped or two were swapped, in the
    /// prefix or after it.
    #[error("check character does not match: the code has a typo")]
    WrongCheck {
        /// The normalised symbols as typed, check character included.
        typed: Code,
        /// The format's prefix, if it has one. Every
        /// [`suggestion`](CodeParseError::suggestions) starts with it;
        /// `typed` does not when the typo is in the prefix.
        prefix: Option<Code>,
    },
}

impl CodeParseError {
    /// Every code of the generated shape one typo away from what was typed:
    /// each single substitution and each swap of two adjacent symbols that
    /// gives a code starting with the format's prefix, with a valid check
    /// character. Sorted, without duplicates; empty unless this is
    /// [`WrongCheck`](Self::WrongCheck).
    ///
    /// When the typo is in the prefix (`0AKE-…` for `BAKE-…`), the
    /// suggestions put the prefix right and change nothing else. Otherwise
    /// the prefix is left alone, and since one check character cannot tell
    /// *which* symbol is wrong, expect about one suggestion per symbol: look
    /// them up and offer only those that belong to a customer ("did you
    /// mean BAKE-7K3-MQ9-XDM?").
    ///
    /// # Example: a swapped pair
    /// ```
    /// use referrals::{Code, CodeFormat};
    /// let format = CodeFormat::default();
    /// let err = format.parse("7K3-MQ9-DXS").unwrap_err(); // XD typed as DX
    /// let original = Code::from_canonical("7K3MQ9XDS")?;
    /// assert!(err.suggestions().contains(&original));
    /// # Ok::<(), referrals::code::NonCanonicalCode>(())
    /// ```
    ///
    /// # Example: a typo in the prefix
    /// ```
    /// use referrals::{Code, CodeFormat};
    /// let format = CodeFormat::default().with_prefix("BAKE")?;
    /// let err = format.parse("0AKE-10K-3MQ-9XG").unwrap_err(); // B typed as 0
    /// assert_eq!(err.suggestions(), [Code::from_canonical("BAKE10K3MQ9XG")?]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: other errors have none
    /// ```
    /// use referrals::CodeFormat;
    /// let err = CodeFormat::default().parse("7K3.MQ9").unwrap_err();
    /// assert!(err.suggestions().is_empty());
    /// ```
    pub fn suggestions(&self) -> Vec<Code> {
        let CodeParseError::WrongCheck { typed, prefix } = *self else {
            return Vec::new();
        };
        let prefix = prefix.as_ref().map_or(&[][..], Code::as_bytes);
        // Every position, the prefix's too: a typo there is fixed by the
        // one change that restores the prefix.
        let fits = |c: &Code| c.as_bytes().starts_with(prefix) && is_valid(c.as_bytes());
        let len = typed.len();
        let mut found = Vec::new();
        let mut candidate = typed;
        for i in 0..len {
            let original = typed.symbols[i];
            for &s in SYMBOLS {
                if s != original {
                    candidate.symbols[i] = s;
                    if fits(&candidate) {
                        found.push(candidate);
                    }
                }
            }
            candidate.symbols[i] = original;
        }
        for i in 0..len.saturating_sub(1) {
            if typed.symbols[i] != typed.symbols[i + 1] {
                candidate.symbols.swap(i, i + 1);
                if fits(&candidate) {
                    found.push(candidate);
                }
                candidate.symbols.swap(i, i + 1);
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Input read into canonical symbols.
pub(crate) struct Scanned {
    /// The first [`MAX_CODE_LEN`] symbols (all of them unless `symbols` is
    /// larger).
    pub(crate) code: Code,
    /// How many symbols the input held.
    pub(crate) symbols: usize,
}

/// A character that `scan` refused.
pub(crate) struct Rejected {
    /// As it was in the input.
    pub(crate) character: char,
    /// Its 0-based character index.
    pub(crate) position: usize,
    /// Its ASCII form, if it has one (`'Ｏ'` has `b'O'`).
    pub(crate) ascii: Option<u8>,
}

/// One pass over `input` through `table` ([`TYPED`] or [`STRICT`]).
///
/// Keeps counting symbols past [`MAX_CODE_LEN`] so the error can say how
/// many there were, but stops at the first refused character.
#[inline(always)]
pub(crate) fn scan(input: &str, table: &[u8; 256]) -> Result<Scanned, Rejected> {
    let bytes = input.as_bytes();
    let mut code = Code {
        len: 0,
        symbols: [0; MAX_CODE_LEN],
    };
    let mut symbols = 0usize;
    let mut i = 0usize;
    let mut position = 0usize;
    while i < bytes.len() {
        let b = bytes[i];
        let class = table[b as usize];
        // Symbols are ASCII bytes >= b'0'; the classes are small numbers.
        let symbol = if class >= b'0' {
            i += 1;
            class
        } else if class == SKIP {
            i += 1;
            position += 1;
            continue;
        } else if class == NON_ASCII {
            // `i` is always on a character boundary: it only moves by whole
            // ASCII bytes or whole characters.
            let Some(c) = input.get(i..).and_then(|rest| rest.chars().next()) else {
                break;
            };
            i += c.len_utf8();
            match fold_non_ascii(c) {
                NonAscii::Skip => {
                    position += 1;
                    continue;
                }
                NonAscii::Ascii(a) if table[a as usize] >= b'0' => table[a as usize],
                NonAscii::Ascii(a) => {
                    return Err(Rejected {
                        character: c,
                        position,
                        ascii: Some(a),
                    });
                }
                NonAscii::Invalid => {
                    return Err(Rejected {
                        character: c,
                        position,
                        ascii: None,
                    });
                }
            }
        } else {
            // The only class left is `INVALID`.
            return Err(Rejected {
                character: char::from(b),
                position,
                ascii: Some(b),
            });
        };
        if symbols < MAX_CODE_LEN {
            code.symbols[symbols] = symbol;
        }
        symbols += 1;
        position += 1;
    }
    code.len = symbols.min(MAX_CODE_LEN) as u8;
    Ok(Scanned { code, symbols })
}

/// Reads typed input into canonical symbols: [`CodeFormat::parse`] without
/// the check character, shape or minimum length.
///
/// For looking a code up when the format is unknown, or for reading a
/// prefix. The same folding as [`CodeFormat::parse`] applies.
///
/// # Errors
/// [`CodeParseError::InvalidCharacter`] for a character that is not allowed,
/// [`CodeParseError::Empty`] if no symbol remains,
/// [`CodeParseError::TooLong`] above [`MAX_CODE_LEN`] symbols.
///
/// # Example: folding without checking
/// ```
/// use referrals::code::normalize;
/// assert_eq!(normalize(" bake-٧k3 ")?.as_str(), "BAKE7K3");
/// assert_eq!(normalize("ol1")?.as_str(), "011");
/// # Ok::<(), referrals::code::CodeParseError>(())
/// ```
///
/// # Example: nothing left
/// ```
/// use referrals::code::{normalize, CodeParseError};
/// assert_eq!(normalize("\u{200F} - \u{200E}"), Err(CodeParseError::Empty));
/// ```
pub fn normalize(input: &str) -> Result<Code, CodeParseError> {
    let scanned = scan(input, &TYPED).map_err(|r| CodeParseError::InvalidCharacter {
        character: r.character,
        position: r.position,
    })?;
    match scanned.symbols {
        0 => Err(CodeParseError::Empty),
        n if n > MAX_CODE_LEN => Err(CodeParseError::TooLong { symbols: n }),
        _ => Ok(scanned.code),
    }
}

/// The table vanity codes are read with; see [`crate::code::vanity`].
pub(crate) fn scan_strict(input: &str) -> Result<Scanned, Rejected> {
    scan(input, &STRICT)
}

impl CodeFormat {
    /// Reads a code a person typed, pasted or scanned.
    ///
    /// * Case does not matter; `I` and `L` read as `1`, `O` as `0` (the
    ///   alphabet has none of them, and people confuse them).
    /// * Spaces (any Unicode whitespace, no-break space included), dashes
    ///   (`-`, `‐`…`―`, `−`, `－`) and `_` are skipped, and so are invisible
    ///   marks: zero-width characters, bidirectional controls, the byte order
    ///   mark, the Arabic letter mark.
    /// * Arabic-Indic (`٠`-`٩`), Extended Arabic-Indic (`۰`-`۹`) and full-width
    ///   (`０`-`９`) digits read as `0`-`9`; full-width letters as Latin ones.
    /// * Anything else, `U` and `.` included, is an error.
    ///
    /// Input of [`generated_len`](Self::generated_len) symbols that starts
    /// with the format's prefix, or with the prefix one typo away (one
    /// symbol mistyped, or two adjacent ones swapped), must have a matching
    /// check character: the check character covers the prefix, so a typo
    /// there is caught like any other. Anything else of 4 to
    /// [`MAX_CODE_LEN`] symbols is returned unchecked, as a vanity code for
    /// the caller to look up.
    ///
    /// # Errors
    /// * [`CodeParseError::InvalidCharacter`]: the first character not
    ///   allowed, with its character index;
    /// * [`CodeParseError::Empty`]: no symbols;
    /// * [`CodeParseError::TooLong`]: more than [`MAX_CODE_LEN`] symbols;
    /// * [`CodeParseError::WrongCheck`]: generated length and prefix (or a
    ///   prefix one typo away), wrong check character (see
    ///   [`CodeParseError::suggestions`]);
    /// * [`CodeParseError::TooShort`]: otherwise, fewer than
    ///   [`MIN_CODE_LEN`] symbols.
    ///
    /// # Example: messy input
    /// ```
    /// use referrals::CodeFormat;
    /// let format = CodeFormat::default();
    /// let code = format.parse("7K3MQ9XDS")?;
    /// assert_eq!(format.parse(" 7k3-mq9 xds ")?, code);
    /// // An Arabic-Indic seven and three, a zero-width joiner, an en dash.
    /// assert_eq!(format.parse("٧K٣\u{200D}MQ9–XDS")?, code);
    /// # Ok::<(), referrals::code::CodeParseError>(())
    /// ```
    ///
    /// # Example: a typo is caught, and corrected
    /// ```
    /// use referrals::{CodeFormat, code::CodeParseError};
    /// let format = CodeFormat::default();
    /// let err = format.parse("7K3-MQ9-XBS").unwrap_err(); // D misread as B
    /// assert!(matches!(err, CodeParseError::WrongCheck { .. }));
    /// assert!(err.suggestions().iter().any(|c| c.as_str() == "7K3MQ9XDS"));
    /// ```
    ///
    /// # Example: a vanity code is not checked
    /// ```
    /// use referrals::CodeFormat;
    /// assert_eq!(CodeFormat::default().parse("sara-2026")?.as_str(), "SARA2026");
    /// # Ok::<(), referrals::code::CodeParseError>(())
    /// ```
    pub fn parse(&self, input: &str) -> Result<Code, CodeParseError> {
        let scanned = scan(input, &TYPED).map_err(|r| CodeParseError::InvalidCharacter {
            character: r.character,
            position: r.position,
        })?;
        let code = scanned.code;
        match scanned.symbols {
            0 => Err(CodeParseError::Empty),
            n if n > MAX_CODE_LEN => Err(CodeParseError::TooLong { symbols: n }),
            _ if self.is_checked_shape(&code) => {
                if is_valid(code.as_bytes()) {
                    Ok(code)
                } else {
                    Err(CodeParseError::WrongCheck {
                        typed: code,
                        prefix: self.prefix,
                    })
                }
            }
            n if n < MIN_CODE_LEN => Err(CodeParseError::TooShort { symbols: n }),
            _ => Ok(code),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::code::check::check_symbol;

    fn code(s: &str) -> Code {
        Code::from_canonical(s).unwrap()
    }

    fn bad(character: char, position: usize) -> Result<&'static str, CodeParseError> {
        Err(CodeParseError::InvalidCharacter {
            character,
            position,
        })
    }

    #[test]
    fn typed_input_table() {
        use CodeParseError::*;
        // 7K3MQ9XDS, 10K3MQ9XX and BAKE10K3MQ9XG have valid check characters.
        let plain = CodeFormat::default();
        let bake = CodeFormat::default().with_prefix("BAKE").unwrap();
        let cases: &[(&CodeFormat, &str, Result<&str, CodeParseError>)] = &[
            (&plain, "7K3MQ9XDS", Ok("7K3MQ9XDS")),
            (&plain, "7k3mq9xds", Ok("7K3MQ9XDS")),
            (&plain, "7K3-MQ9-XDS", Ok("7K3MQ9XDS")),
            (&plain, "  7K3 MQ9  XDS\n", Ok("7K3MQ9XDS")),
            (&plain, "-7K3--MQ9__XDS-", Ok("7K3MQ9XDS")),
            (&plain, "\t7k3 - mq9 - xds", Ok("7K3MQ9XDS")),
            (&plain, "٧K٣MQ٩XDS", Ok("7K3MQ9XDS")),
            (&plain, "۷K۳MQ۹XDS", Ok("7K3MQ9XDS")),
            (&plain, "７ｋ３MQ9XDS", Ok("7K3MQ9XDS")),
            (&plain, "７Ｋ３－ＭＱ９－ＸＤＳ", Ok("7K3MQ9XDS")),
            (&plain, "7K3\u{200D}MQ9XDS", Ok("7K3MQ9XDS")),
            (&plain, "\u{200B}7K3MQ9\u{200C}XDS", Ok("7K3MQ9XDS")),
            (&plain, "\u{200F}7K3MQ9XDS\u{200E}", Ok("7K3MQ9XDS")),
            (&plain, "\u{2067}7K3-MQ9-XDS\u{2069}", Ok("7K3MQ9XDS")),
            (&plain, "\u{2066}7K3MQ9XDS\u{2069}", Ok("7K3MQ9XDS")),
            (&plain, "\u{202B}7K3MQ9XDS\u{202C}", Ok("7K3MQ9XDS")),
            (&plain, "\u{061C}7K3MQ9XDS", Ok("7K3MQ9XDS")),
            (&plain, "\u{FEFF}7K3MQ9XDS", Ok("7K3MQ9XDS")),
            (&plain, "7K3\u{A0}MQ9\u{3000}XDS", Ok("7K3MQ9XDS")),
            (&plain, "7K3\u{2011}MQ9\u{2014}XDS", Ok("7K3MQ9XDS")),
            (&plain, "7K3\u{2212}MQ9\u{2013}XDS", Ok("7K3MQ9XDS")),
            (&plain, "10K3MQ9XX", Ok("10K3MQ9XX")),
            (&plain, "IOK3MQ9XX", Ok("10K3MQ9XX")),
            (&plain, "loK3MQ9XX", Ok("10K3MQ9XX")),
            (&plain, "Lok3mq9xx", Ok("10K3MQ9XX")),
            (&plain, "ＩＯk3mq9xx", Ok("10K3MQ9XX")),
            (&bake, "bake-10k-3mq-9xg", Ok("BAKE10K3MQ9XG")),
            (&bake, "BAKE-IOK-3MQ-9XG", Ok("BAKE10K3MQ9XG")),
            // Vanity codes: not of the generated shape, so not checked.
            (&plain, "SARA2026", Ok("SARA2026")),
            (&plain, "sara 2o26", Ok("SARA2026")),
            (&plain, "ABCD", Ok("ABCD")),
            (&bake, "7K3MQ9XDS", Ok("7K3MQ9XDS")),
            (&bake, "SARA10K3MQ9XG", Ok("SARA10K3MQ9XG")),
            // Refused characters, at character (not byte) positions.
            (&plain, "7K3.MQ9.XDS", bad('.', 3)),
            (&plain, "7K3MQ9XDU", bad('U', 8)),
            (&plain, "7k3mq9xdu", bad('u', 8)),
            (&plain, "７ｋ３Ｕ", bad('Ｕ', 3)),
            (&plain, "é7K3MQ9XDS", bad('é', 0)),
            (&plain, "٧٣é", bad('é', 2)),
            (&plain, "7K3\u{200D}é", bad('é', 4)),
            (&plain, "7K3+MQ9", bad('+', 3)),
            (&plain, "7K3\0", bad('\0', 3)),
            (&plain, "7K3٫5", bad('٫', 3)),
            (&plain, "ABC🎉", bad('🎉', 3)),
            (&plain, "𝟕K3", bad('𝟕', 0)),
            // Lengths.
            (&plain, "", Err(Empty)),
            (&plain, " - _ ", Err(Empty)),
            (&plain, "\u{200B}\u{FEFF}", Err(Empty)),
            (&plain, "ABC", Err(TooShort { symbols: 3 })),
            (&plain, "A-B-C", Err(TooShort { symbols: 3 })),
            (&plain, "7", Err(TooShort { symbols: 1 })),
            (
                &plain,
                "0123456789ABCDEFGHJKMNPQRSTVWXYZ0",
                Err(TooLong { symbols: 33 }),
            ),
            (
                &plain,
                "0123456789ABCDEFGHJKMNPQRSTVWXYZ",
                Ok("0123456789ABCDEFGHJKMNPQRSTVWXYZ"),
            ),
        ];
        let mut failures = Vec::new();
        for (format, input, expected) in cases {
            let got = format.parse(input);
            let expected = expected.map(code);
            if got != expected {
                failures.push(format!("{input:?}: got {got:?}, want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn wrong_check_cases_and_messages() {
        let plain = CodeFormat::default();
        let err = plain.parse("7K3MQ9XDT").unwrap_err();
        assert_eq!(
            err,
            CodeParseError::WrongCheck {
                typed: code("7K3MQ9XDT"),
                prefix: None
            }
        );
        assert_eq!(
            err.to_string(),
            "check character does not match: the code has a typo"
        );
        // Any 9-symbol input has this format's shape, vanity-like or not.
        assert!(matches!(
            plain.parse("SARA2026X"),
            Err(CodeParseError::WrongCheck { .. })
        ));
        let bake = CodeFormat::default().with_prefix("BAKE").unwrap();
        let err = bake.parse("BAKE-10K-3MQ-9XH").unwrap_err();
        let suggestions = err.suggestions();
        assert!(suggestions.contains(&code("BAKE10K3MQ9XG")));
        assert!(suggestions.iter().all(|c| c.as_str().starts_with("BAKE")));
        assert!(suggestions.iter().all(|c| is_valid(c.as_bytes())));
        assert!(suggestions.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            CodeParseError::TooLong { symbols: 40 }.to_string(),
            "a referral code has at most 32 symbols, this one has 40"
        );
        assert_eq!(
            CodeParseError::TooShort { symbols: 2 }.to_string(),
            "a referral code has at least 4 symbols, this one has 2"
        );
        assert_eq!(
            CodeParseError::Empty.to_string(),
            "no referral code was entered"
        );
        assert!(CodeParseError::Empty.suggestions().is_empty());
    }

    /// Issue 13: `0AKE…` for a `BAKE` code was returned unchecked, as a
    /// vanity candidate. The check character covers the prefix, so a typo
    /// there is caught like any other, and corrected.
    #[test]
    fn a_typo_in_the_prefix_is_caught_and_corrected() {
        let bake = CodeFormat::default().with_prefix("BAKE").unwrap();
        let original = code("BAKE10K3MQ9XG");
        for typed in [
            "0AKE-10K-3MQ-9XG", // B typed as 0
            "BAKF10K3MQ9XG",    // E typed as F
            "ABKE10K3MQ9XG",    // BA swapped
            "BAK1E0K3MQ9XG",    // E1 swapped, across the prefix's end
        ] {
            let err = bake.parse(typed).unwrap_err();
            assert!(
                matches!(err, CodeParseError::WrongCheck { .. }),
                "{typed}: {err:?}"
            );
            let suggestions = err.suggestions();
            assert!(suggestions.contains(&original), "{typed}: {suggestions:?}");
            assert!(
                suggestions
                    .iter()
                    .all(|c| c.as_str().starts_with("BAKE") && is_valid(c.as_bytes())),
                "{typed}: {suggestions:?}"
            );
        }
        // A substitution in the prefix has exactly one fix: the prefix.
        assert_eq!(
            bake.parse("0AKE10K3MQ9XG").unwrap_err().suggestions(),
            [original]
        );
        // Far from the prefix it is still a vanity code, unchecked.
        assert_eq!(bake.parse("SARA10K3MQ9XG"), Ok(code("SARA10K3MQ9XG")));
        assert_eq!(bake.parse("BKAF10K3MQ9XG"), Ok(code("BKAF10K3MQ9XG")));
    }

    #[test]
    fn suggestions_list_one_fix_per_position_plus_swaps() {
        // One check character fixes exactly one substitution per position.
        let err = CodeFormat::default().parse("7K3MQ9XDT").unwrap_err();
        let suggestions = err.suggestions();
        assert!(suggestions.contains(&code("7K3MQ9XDS")));
        assert!(suggestions.len() >= 9, "{suggestions:?}");
        assert!(suggestions.len() <= 9 + 8, "{suggestions:?}");
    }

    #[test]
    fn normalize_folds_without_checking() {
        assert_eq!(normalize("bake").unwrap().as_str(), "BAKE");
        assert_eq!(normalize("x").unwrap().as_str(), "X");
        assert_eq!(normalize(""), Err(CodeParseError::Empty));
        assert_eq!(
            normalize(&"A".repeat(40)),
            Err(CodeParseError::TooLong { symbols: 40 })
        );
        assert_eq!(
            normalize("BU"),
            Err(CodeParseError::InvalidCharacter {
                character: 'U',
                position: 1
            })
        );
    }

    #[test]
    fn parse_error_and_code_are_copy() {
        // The error must stay `Copy` (hot path, no heap); this fails to
        // compile if a variant gains a `String`.
        fn assert_copy<T: Copy>() {}
        assert_copy::<CodeParseError>();
        assert_copy::<Code>();
    }

    fn format_strategy() -> impl Strategy<Value = CodeFormat> {
        (
            CodeFormat::MIN_LENGTH..=CodeFormat::MAX_LENGTH,
            proptest::option::of(proptest::collection::vec(0usize..32, 1..=8)),
            0u8..=CodeFormat::MAX_GROUP,
        )
            .prop_filter_map("too long", |(length, prefix, group)| {
                let format = CodeFormat::new(length).ok()?.with_group(group).ok()?;
                match prefix {
                    None => Some(format),
                    Some(p) => {
                        let text: String = p.iter().map(|&v| SYMBOLS[v] as char).collect();
                        format.with_prefix(&text).ok()
                    }
                }
            })
    }

    /// Characters that exercise every path of the scanner.
    const INTERESTING: &[char] = &[
        '0', '7', 'A', 'k', 'z', 'I', 'l', 'o', 'O', 'U', 'u', '-', '_', ' ', '.', '\t', '٣', '۹',
        '７', 'Ｋ', 'ｑ', '－', '\u{A0}', '\u{200B}', '\u{200D}', '\u{200F}', '\u{2066}',
        '\u{FEFF}', '\u{061C}', '–', '−', 'é', 'ß', '🎉', '\0',
    ];

    fn check_outcome(input: &str, result: Result<Code, CodeParseError>, format: &CodeFormat) {
        match result {
            Ok(code) => {
                assert!(Code::from_canonical(code.as_str()).is_ok(), "{code:?}");
                assert!(code.len() >= MIN_CODE_LEN);
                if format.is_checked_shape(&code) {
                    assert!(is_valid(code.as_bytes()));
                }
                // Parsing is idempotent.
                assert_eq!(format.parse(code.as_str()), Ok(code));
            }
            Err(CodeParseError::InvalidCharacter {
                character,
                position,
            }) => {
                assert_eq!(input.chars().nth(position), Some(character), "{input:?}");
            }
            Err(CodeParseError::WrongCheck { typed, .. }) => {
                assert!(format.is_checked_shape(&typed));
                assert!(!is_valid(typed.as_bytes()));
            }
            Err(_) => {}
        }
    }

    proptest! {
        #[test]
        fn one_substitution_is_caught_and_suggested(
            format in format_strategy(),
            seed in any::<u64>(),
            at in any::<proptest::sample::Index>(),
            by in 1usize..32,
        ) {
            let original = format.random(&mut StdRng::seed_from_u64(seed));
            // Anywhere, the prefix included.
            let position = at.index(original.len());
            let mut typo = original.as_bytes().to_vec();
            let value = crate::code::alphabet::value(typo[position]).unwrap() as usize;
            typo[position] = SYMBOLS[(value + by) % 32];
            let typed = std::str::from_utf8(&typo).unwrap();
            let err = format.parse(typed).unwrap_err();
            prop_assert!(matches!(err, CodeParseError::WrongCheck { .. }), "{err:?}");
            prop_assert!(err.suggestions().contains(&original));
        }

        #[test]
        fn one_adjacent_swap_is_caught_and_suggested(
            format in format_strategy(),
            seed in any::<u64>(),
            at in any::<proptest::sample::Index>(),
        ) {
            let original = format.random(&mut StdRng::seed_from_u64(seed));
            // Anywhere, the prefix included.
            let position = at.index(original.len() - 1);
            let mut typo = original.as_bytes().to_vec();
            prop_assume!(typo[position] != typo[position + 1]);
            typo.swap(position, position + 1);
            let err = format.parse(std::str::from_utf8(&typo).unwrap()).unwrap_err();
            prop_assert!(matches!(err, CodeParseError::WrongCheck { .. }), "{err:?}");
            prop_assert!(err.suggestions().contains(&original));
        }

        #[test]
        fn display_then_parse_round_trips(
            format in format_strategy(),
            seed in any::<u64>(),
            separators in proptest::collection::vec(
                (any::<proptest::sample::Index>(), proptest::sample::select(
                    vec![" ", "-", "  ", "\u{A0}", "\u{200B}", "–", "_", "\u{200F}"])),
                0..6),
            lower in any::<bool>(),
        ) {
            let code = format.random(&mut StdRng::seed_from_u64(seed));
            let shown = format.display(&code);
            prop_assert_eq!(format.parse(&shown), Ok(code));
            let mut messy: Vec<String> = shown.chars().map(String::from).collect();
            for (at, sep) in separators {
                let i = at.index(messy.len() + 1);
                messy.insert(i, sep.to_owned());
            }
            let mut messy = messy.concat();
            if lower {
                messy = messy.to_lowercase();
            }
            prop_assert_eq!(format.parse(&messy), Ok(code), "{:?}", messy);
            prop_assert_eq!(format.parse(&shown.to_lowercase()), Ok(code));
        }

        #[test]
        fn derived_codes_round_trip(
            format in format_strategy(),
            customer in "[a-z0-9:@.-]{1,40}",
            attempt in any::<u32>(),
        ) {
            let secret = crate::code::CodeSecret::new(b"0123456789abcdef").unwrap();
            let program = crate::model::ProgramId::new("p").unwrap();
            let customer = crate::model::CustomerId::new(customer).unwrap();
            let code = format.derive(&secret, &program, &customer, attempt);
            prop_assert!(format.is_generated_shape(&code));
            prop_assert_eq!(format.parse(&format.display(&code)), Ok(code));
        }

        #[test]
        fn arbitrary_text_never_panics(input in "\\PC*", format in format_strategy()) {
            check_outcome(&input, format.parse(&input), &format);
            let _ = normalize(&input);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..80),
            format in format_strategy(),
        ) {
            let input = String::from_utf8_lossy(&bytes);
            check_outcome(&input, format.parse(&input), &format);
        }

        #[test]
        fn near_miss_text_never_panics(
            chars in proptest::collection::vec(proptest::sample::select(INTERESTING), 0..48),
            format in format_strategy(),
        ) {
            let input: String = chars.into_iter().collect();
            let result = format.parse(&input);
            check_outcome(&input, result, &format);
            if let Err(e) = result {
                // Suggestions are always valid, generated-shape codes.
                for s in e.suggestions() {
                    prop_assert!(format.is_generated_shape(&s) && is_valid(s.as_bytes()));
                }
            }
        }
    }

    #[test]
    fn check_symbol_agrees_with_parse() {
        let body = "BAKE7K3MQ9";
        let full = format!("{body}{}", check_symbol(body.as_bytes()) as char);
        let format = CodeFormat::new(6).unwrap().with_prefix("BAKE").unwrap();
        let parsed = format.parse(&full).unwrap();
        assert!(format.is_generated_shape(&parsed));
        assert_eq!(parsed.as_str(), full);
    }
}
