//! Vanity codes: a code an influencer or partner chooses, like `SARA2026`,
//! and the blocklist of words no code may contain.
//!
//! A vanity code is not of the program's generated shape, so it carries no
//! check character; [`CodeFormat::parse`] returns it unchecked for the host
//! to look up.
//!
//! # Example: an influencer's code
//! ```
//! use referrals::CodeFormat;
//! use referrals::code::{Blocklist, VanityError};
//! let format = CodeFormat::default();
//! let blocklist = Blocklist::default_list();
//! let code = format.vanity("sara-2026", &blocklist)?;
//! assert_eq!(code.as_str(), "SARA2026");
//! // What customers type comes back to the same code.
//! assert_eq!(format.parse("Sara 2026")?, code);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use super::alphabet::TYPED;
use super::alphabet::{NonAscii, fold_non_ascii, value};
use super::parse::{Scanned, scan, scan_strict};
use super::{Code, CodeFormat, MAX_CODE_LEN, MIN_CODE_LEN};

/// Most symbols in a vanity code: longer ones are hard to read out and type.
pub const MAX_VANITY_LEN: usize = 24;

/// Words refused anywhere inside a code: offensive words in English and in
/// transliterated Arabic, and reserved words that could pass a code off as
/// official (`ADMIN`, `SUPPORT`, `FREE`).
///
/// Words are stored *folded* the way typed codes are read: upper case, `I`
/// and `L` as `1`, `O` as `0`, and `U` (which no code can hold) as its look-
/// alike `V`; separators are dropped. A code is blocked when its text
/// contains a folded word as a substring: the word `SHIT` catches `SH1T`,
/// and `FUCK` catches `FVCK`. Substring matching
/// blocks innocent words too (`TEST` in `CONTEST`): build a list of your own
/// with [`Blocklist::empty`] and [`Blocklist::with_words`] if that matters.
///
/// Short stems that are common in names or ordinary words (`ASS`, `SEX`,
/// `KUSUM`, `MARSA`) are left out on purpose.
///
/// `Default` is [`Blocklist::default_list`], so forgetting to configure a
/// list does not mean having none. Serialises as the list of folded words.
///
/// A [`Program`](crate::Program) holds a copy of its list, made when it is
/// built, and a stored program keeps the words of its day: a later crate
/// version's default list (see `# Revisions`) does not change existing
/// programs. To update one, pass `Blocklist::default_list()` again to
/// [`ProgramBuilder::blocklist`](crate::program::ProgramBuilder::blocklist).
///
/// # Revisions
/// * 2026-11-25: v1: 19 reserved words, 26 English and 24 transliterated
///   Arabic (including Arabizi spellings such as `9A7BA`) words.
///
/// # Example: checking a generated code before handing it out
/// ```
/// use referrals::{Code, code::Blocklist};
/// let blocklist = Blocklist::default_list();
/// assert_eq!(blocklist.contains_in(&Code::from_canonical("7K3SH1T9Q")?), Some("SH1T"));
/// assert_eq!(blocklist.contains_in(&Code::from_canonical("7K3MQ9XDS")?), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Blocklist {
    /// Folded, distinct, in the order added.
    words: Vec<String>,
}

/// The default words, as written; [`Blocklist::default_list`] folds them.
const DEFAULT_WORDS: &[&str] = &[
    // Reserved: codes that could pass for the host's own.
    "ADMIN",
    "ROOT",
    "SUPPORT",
    "HELPDESK",
    "STAFF",
    "OFFICIAL",
    "MODERATOR",
    "SYSTEM",
    "SECURITY",
    "BILLING",
    "REFUND",
    "EMPLOYEE",
    "INTERNAL",
    "FREE",
    "TEST",
    "NULL",
    "NONE",
    "UNDEFINED",
    "VOID",
    // English.
    "FUCK",
    "SHIT",
    "CUNT",
    "BITCH",
    "BASTARD",
    "ASSHOLE",
    "DICKHEAD",
    "WANKER",
    "TWAT",
    "SLUT",
    "WHORE",
    "PUSSY",
    "BOLLOCKS",
    "PISS",
    "DILDO",
    "JIZZ",
    "PENIS",
    "PORN",
    "RAPIST",
    "NIGGER",
    "NIGGA",
    "FAGGOT",
    "RETARD",
    "NAZI",
    "HITLER",
    "KKK",
    // Transliterated Arabic, with common Arabizi spellings.
    "SHARMOUTA",
    "SHARMOOTA",
    "SHARMUTA",
    "SHARMOTA",
    "SHARMO6A",
    "KOSOMAK",
    "KOSOMMAK",
    "KUSUMMAK",
    "KOSEKHTAK",
    "KOSOKHTAK",
    "GAHBA",
    "QAHBA",
    "KAHBA",
    "9A7BA",
    "MANYAK",
    "MANYOOK",
    "KHAWAL",
    "IBNELKALB",
    "IBNALKALB",
    "IBNELHARAM",
    "IBNALHARAM",
    "TEEZAK",
    "DAYOUTH",
    "DAYYOUTH",
];

/// A blocklist word that could never match a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("blocklist word {word:?} is not usable: {reason}")]
pub struct BlocklistError {
    /// The word as given: its first 40 characters, marked with `…` when
    /// cut (a hostile list may hold a megabyte-long word).
    pub word: String,
    /// Why it was refused.
    pub reason: &'static str,
}

/// Drops the later copies of repeated words, keeping the order of first
/// appearance: one sort of the positions, `O(n log n)` (a scan of the list
/// per word made a 200,000-word list take 52 s to load).
fn dedup_keep_first(words: &mut Vec<String>) {
    let mut order: Vec<usize> = (0..words.len()).collect();
    // Stable: equal words stay in position order, the first one first.
    order.sort_by(|&a, &b| words[a].cmp(&words[b]));
    let mut keep = vec![true; words.len()];
    for pair in order.windows(2) {
        if words[pair[0]] == words[pair[1]] {
            keep[pair[1]] = false;
        }
    }
    let mut keep = keep.into_iter();
    words.retain(|_| keep.next().unwrap_or(true));
}

/// The longest excerpt of a refused word an error keeps, in characters.
const WORD_EXCERPT_CHARS: usize = 40;

/// Folds one blocklist word the way codes are read (see [`Blocklist`]).
fn fold_word(word: &str) -> Result<String, BlocklistError> {
    let reject = |reason| BlocklistError {
        word: crate::text::excerpt(word, WORD_EXCERPT_CHARS),
        reason,
    };
    let mut folded = String::with_capacity(word.len());
    for c in word.chars() {
        let ascii = if c.is_ascii() {
            c as u8
        } else {
            match fold_non_ascii(c) {
                NonAscii::Ascii(a) => a,
                NonAscii::Skip => continue,
                NonAscii::Invalid => {
                    return Err(reject(
                        "only Latin letters, digits and separators are allowed",
                    ));
                }
            }
        };
        let symbol = match ascii.to_ascii_uppercase() {
            b' ' | b'-' | b'_' | b'\t' => continue,
            b'I' | b'L' => b'1',
            b'O' => b'0',
            b'U' => b'V',
            s if value(s).is_some() => s,
            _ => {
                return Err(reject(
                    "only Latin letters, digits and separators are allowed",
                ));
            }
        };
        folded.push(char::from(symbol));
    }
    if folded.is_empty() {
        return Err(reject(
            "it has no letters or digits, and would block every code",
        ));
    }
    if folded.len() > MAX_CODE_LEN {
        return Err(reject("it is longer than any code can be"));
    }
    Ok(folded)
}

impl Blocklist {
    /// The built-in list: reserved words, English and transliterated Arabic
    /// offensive words (see the type's `# Revisions`).
    ///
    /// # Example: an Arabizi spelling is caught
    /// ```
    /// use referrals::{Code, code::Blocklist};
    /// let code = Code::from_canonical("X9A7BAX")?;
    /// assert_eq!(Blocklist::default_list().contains_in(&code), Some("9A7BA"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: reserved words
    /// ```
    /// use referrals::{Code, code::Blocklist};
    /// let code = Code::from_canonical("ADM1N2026")?;
    /// assert_eq!(Blocklist::default_list().contains_in(&code), Some("ADM1N"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn default_list() -> Blocklist {
        let mut list = Blocklist::empty();
        for word in DEFAULT_WORDS {
            // Every default word folds (a unit test proves it); a word that
            // did not would be skipped rather than panic.
            if let Ok(folded) = fold_word(word) {
                list.words.push(folded);
            }
        }
        dedup_keep_first(&mut list.words);
        list
    }

    /// A list that blocks nothing.
    ///
    /// # Example: an empty list, extended
    /// ```
    /// use referrals::{Code, code::Blocklist};
    /// let list = Blocklist::empty();
    /// assert!(list.is_empty());
    /// let list = list.with_words(["rival-shop"])?;
    /// assert_eq!(list.contains_in(&Code::from_canonical("R1VA1SH0P")?), Some("R1VA1SH0P"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn empty() -> Blocklist {
        Blocklist { words: Vec::new() }
    }

    /// The list with more words: each is folded (case, `I`/`L` → `1`,
    /// `O` → `0`, `U` → `V`, Arabic-Indic and full-width digits read as
    /// digits, separators dropped); duplicates are ignored.
    ///
    /// # Errors
    /// [`BlocklistError`] for a word with a character other than Latin
    /// letters, digits and separators (it could never match a code), a word
    /// with no letters or digits (it would match every code), or one longer
    /// than [`MAX_CODE_LEN`] symbols.
    ///
    /// # Example: a competitor's name
    /// ```
    /// use referrals::code::Blocklist;
    /// let list = Blocklist::default_list().with_words(["Rival Bakery", "rival"])?;
    /// assert!(list.words().any(|w| w == "R1VA1BAKERY"));
    /// # Ok::<(), referrals::code::BlocklistError>(())
    /// ```
    ///
    /// # Example: a word that could never match
    /// ```
    /// use referrals::code::Blocklist;
    /// assert!(Blocklist::empty().with_words(["café"]).is_err());
    /// assert!(Blocklist::empty().with_words(["--"]).is_err());
    /// ```
    pub fn with_words<I>(mut self, words: I) -> Result<Blocklist, BlocklistError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let before = self.words.len();
        for word in words {
            self.words.push(fold_word(word.as_ref())?);
        }
        if self.words.len() > before {
            dedup_keep_first(&mut self.words);
        }
        Ok(self)
    }

    /// The first (folded) word of the list that `code` contains, if any.
    ///
    /// A code's symbols are already folded (no code holds `I`, `L`, `O` or
    /// `U`), so this is a plain substring search.
    ///
    /// # Example: a folded spelling
    /// ```
    /// use referrals::{Code, code::Blocklist};
    /// let list = Blocklist::default_list();
    /// assert_eq!(list.contains_in(&Code::from_canonical("FVCK0FF")?), Some("FVCK"));
    /// assert_eq!(list.contains_in(&Code::from_canonical("SARA2026")?), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn contains_in(&self, code: &Code) -> Option<&str> {
        let text = code.as_bytes();
        self.words
            .iter()
            .find(|word| {
                let word = word.as_bytes();
                // Comparing the first byte before the slice keeps the scan of
                // ~70 words over a 9-symbol code cheap (it runs per issued code).
                word.len() <= text.len()
                    && text
                        .windows(word.len())
                        .any(|w| w.first() == word.first() && w == word)
            })
            .map(String::as_str)
    }

    /// The folded words, in the order they were added.
    ///
    /// # Example: folding
    /// ```
    /// use referrals::code::Blocklist;
    /// let list = Blocklist::empty().with_words(["Oil"])?;
    /// assert_eq!(list.words().collect::<Vec<_>>(), ["011"]);
    /// # Ok::<(), referrals::code::BlocklistError>(())
    /// ```
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }

    /// How many words the list holds.
    ///
    /// # Example: the default list
    /// ```
    /// use referrals::code::Blocklist;
    /// assert!(Blocklist::default_list().len() >= 40);
    /// ```
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the list blocks nothing.
    ///
    /// # Example: empty and default
    /// ```
    /// use referrals::code::Blocklist;
    /// assert!(Blocklist::empty().is_empty());
    /// assert!(!Blocklist::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

impl Default for Blocklist {
    fn default() -> Self {
        Blocklist::default_list()
    }
}

impl TryFrom<Vec<String>> for Blocklist {
    type Error = BlocklistError;

    fn try_from(words: Vec<String>) -> Result<Self, BlocklistError> {
        Blocklist::empty().with_words(words)
    }
}

impl From<Blocklist> for Vec<String> {
    fn from(list: Blocklist) -> Vec<String> {
        list.words
    }
}

/// Why a vanity code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VanityError {
    /// A character a code cannot hold. `I`, `L` and `O` are refused rather
    /// than changed: typed codes read them as `1`, `1` and `0`, so the code
    /// would not be what its owner wrote; `replacement` says what to write.
    /// It is given only when the text written that way is accepted (bar
    /// being taken): `ADMIN` is refused as [`Blocked`](Self::Blocked), not
    /// sent to `ADM1N`.
    #[error(
        "character {character:?} at position {position} is not allowed in a vanity code{}",
        Hint(*.replacement)
    )]
    InvalidCharacter {
        /// The character as written.
        character: char,
        /// Its 0-based character (not byte) index in the text.
        position: usize,
        /// The symbol that typed input reads it as (`'0'` for `O`), if any.
        replacement: Option<char>,
    },
    /// Fewer than [`MIN_CODE_LEN`] symbols.
    #[error("a vanity code needs at least {MIN_CODE_LEN} symbols, this one has {symbols}")]
    TooShort {
        /// Symbols in the text (separators not counted).
        symbols: usize,
    },
    /// More than [`MAX_VANITY_LEN`] symbols.
    #[error("a vanity code has at most {MAX_VANITY_LEN} symbols, this one has {symbols}")]
    TooLong {
        /// Symbols in the text (separators not counted).
        symbols: usize,
    },
    /// The code has the program's generated length and starts with its
    /// prefix, or with the prefix one typo away, so typed input would be
    /// checked as a generated code and refused.
    #[error(
        "a vanity code must not look like a generated code ({symbols} symbols, the generated length counting the format's prefix, if any): it would be read with a check character; make it shorter or longer"
    )]
    LooksGenerated {
        /// The generated length it matches.
        symbols: usize,
    },
    /// The code contains a word of the blocklist.
    #[error("the vanity code contains the blocked word {word:?}")]
    Blocked {
        /// The (folded) word found in the code.
        word: String,
    },
}

/// The end of [`VanityError::InvalidCharacter`]'s message.
struct Hint(Option<char>);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, ": typed codes read it as {r:?}, so write {r:?} instead"),
            None => Ok(()),
        }
    }
}

impl CodeFormat {
    /// Checks a chosen (vanity) code such as `SARA2026` and returns it in
    /// canonical form.
    ///
    /// Case does not matter and separators are dropped (the same characters
    /// [`parse`](Self::parse) skips, and Arabic-Indic and full-width digits
    /// read as digits), but `I`, `L`, `O` and `U` are refused rather than
    /// silently changed. The code must have 4 to [`MAX_VANITY_LEN`]
    /// symbols, must not have this format's generated shape, and must not
    /// contain a word of `blocklist`. Whether it is already taken is for the
    /// store to say.
    ///
    /// # Errors
    /// * [`VanityError::InvalidCharacter`]: a character a code cannot hold,
    ///   with the replacement for `I`, `L` and `O` when the text written
    ///   that way passes every other rule (otherwise the error is the rule
    ///   it breaks: `ADMIN` is [`VanityError::Blocked`] for `ADM1N`, with no
    ///   hint that would lead there);
    /// * [`VanityError::TooShort`], [`VanityError::TooLong`]: outside 4..=24
    ///   symbols;
    /// * [`VanityError::LooksGenerated`]: the format's generated length,
    ///   starting with its prefix or with the prefix one typo away (typed
    ///   input of that shape is read with a check character);
    /// * [`VanityError::Blocked`]: contains a blocklisted word.
    ///
    /// # Example: an influencer's code, with Arabic-Indic digits
    /// ```
    /// use referrals::{CodeFormat, code::Blocklist};
    /// let code = CodeFormat::default().vanity("sara ٢٠٢٦", &Blocklist::default_list())?;
    /// assert_eq!(code.as_str(), "SARA2026");
    /// # Ok::<(), referrals::code::VanityError>(())
    /// ```
    ///
    /// # Example: no hint into a blocked word
    /// ```
    /// use referrals::{CodeFormat, code::{Blocklist, VanityError}};
    /// let err = CodeFormat::default().vanity("ADMIN", &Blocklist::default_list()).unwrap_err();
    /// assert_eq!(err, VanityError::Blocked { word: "ADM1N".into() });
    /// ```
    ///
    /// # Example: an O is refused, with the fix
    /// ```
    /// use referrals::{CodeFormat, code::{Blocklist, VanityError}};
    /// let err = CodeFormat::default().vanity("NOOR10", &Blocklist::default_list()).unwrap_err();
    /// assert_eq!(
    ///     err,
    ///     VanityError::InvalidCharacter { character: 'O', position: 1, replacement: Some('0') }
    /// );
    /// assert_eq!(
    ///     err.to_string(),
    ///     "character 'O' at position 1 is not allowed in a vanity code: \
    ///      typed codes read it as '0', so write '0' instead"
    /// );
    /// ```
    pub fn vanity(&self, text: &str, blocklist: &Blocklist) -> Result<Code, VanityError> {
        let r = match scan_strict(text) {
            Ok(scanned) => return self.vanity_rules(scanned, blocklist),
            Err(r) => r,
        };
        let refused = |replacement| VanityError::InvalidCharacter {
            character: r.character,
            position: r.position,
            replacement,
        };
        let replacement = match r.ascii.map(|a| a.to_ascii_uppercase()) {
            Some(b'I' | b'L') => '1',
            Some(b'O') => '0',
            _ => return Err(refused(None)),
        };
        // A hint must not lead into another refusal (`ADMIN` → `ADM1N`,
        // blocked). Check the text as typed codes read it, every `I`, `L`
        // and `O` replaced: if it passes, the hint stands; if not, why it
        // fails is the answer, since no spelling of this text avoids it.
        match scan(text, &TYPED) {
            Ok(rewritten) => self
                .vanity_rules(rewritten, blocklist)
                .and(Err(refused(Some(replacement)))),
            Err(other) => Err(VanityError::InvalidCharacter {
                character: other.character,
                position: other.position,
                replacement: None,
            }),
        }
    }

    /// The rules after the characters: length, shape, blocklist.
    fn vanity_rules(&self, scanned: Scanned, blocklist: &Blocklist) -> Result<Code, VanityError> {
        let symbols = scanned.symbols;
        if symbols < MIN_CODE_LEN {
            return Err(VanityError::TooShort { symbols });
        }
        if symbols > MAX_VANITY_LEN {
            return Err(VanityError::TooLong { symbols });
        }
        let code = scanned.code;
        if self.is_checked_shape(&code) {
            return Err(VanityError::LooksGenerated { symbols });
        }
        if let Some(word) = blocklist.contains_in(&code) {
            return Err(VanityError::Blocked {
                word: word.to_owned(),
            });
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_blocklist_loads_in_n_log_n_and_keeps_first_copies() {
        // 200,000 distinct words (and each again): the duplicate check
        // scanned the whole list per word, 52 s for this list. Measured
        // against a tenth of the list in the same process, so a busy
        // machine slows both: ten times the words took about 100 times
        // as long when quadratic, about 12 times now.
        const SYMBOLS: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let words: Vec<String> = (0..200_000usize)
            .map(|i| {
                let mut w = String::from("W");
                for shift in [0, 5, 10, 15] {
                    w.push(char::from(SYMBOLS[(i >> shift) & 31]));
                }
                w
            })
            .collect();
        let load = |words: &[String]| {
            let started = std::time::Instant::now();
            let list = super::Blocklist::empty()
                .with_words(words.iter().chain(words))
                .unwrap();
            (started.elapsed(), list)
        };
        let tenth = (0..3).map(|_| load(&words[..20_000]).0).min().unwrap();
        let (whole, list) = load(&words);
        assert!(
            whole < tenth * 40 + std::time::Duration::from_millis(100),
            "200,000 words took {whole:?}, 20,000 took {tenth:?}"
        );
        assert_eq!(list.len(), 200_000);
        assert!(list.words().eq(words.iter().map(String::as_str)));
        let list = super::Blocklist::empty()
            .with_words(["b", "a", "B", "c", "a"])
            .unwrap();
        assert_eq!(list.words().collect::<Vec<_>>(), ["B", "A", "C"]);
    }

    #[test]
    fn a_refused_word_is_quoted_as_an_excerpt() {
        let word = "X".repeat(1 << 20);
        let err = super::Blocklist::empty().with_words([&word]).unwrap_err();
        assert_eq!(err.word, format!("{}…", "X".repeat(40)));
        assert!(err.to_string().len() < 200, "{err}");
        let err = super::Blocklist::empty()
            .with_words([format!("{}é", "a".repeat(100))])
            .unwrap_err();
        assert_eq!(err.word.chars().count(), 41);
    }

    /// The generated-shape error does not speak of a prefix the format
    /// may not have.
    #[test]
    fn looks_generated_message_fits_formats_without_a_prefix() {
        let err = crate::CodeFormat::default()
            .vanity("SARA20267", &Blocklist::default_list())
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("9 symbols") && !msg.contains("starting with the prefix"),
            "{msg}"
        );
    }

    use super::*;

    fn code(s: &str) -> Code {
        Code::from_canonical(s).unwrap()
    }

    #[test]
    fn default_list_folds_every_word_and_has_a_sane_size() {
        for word in DEFAULT_WORDS {
            let folded = fold_word(word).unwrap();
            assert!(Code::from_canonical(&folded).is_ok(), "{word} → {folded}");
        }
        let list = Blocklist::default_list();
        assert_eq!(
            list.len(),
            DEFAULT_WORDS.len(),
            "duplicates in DEFAULT_WORDS"
        );
        assert!((40..=80).contains(&list.len()));
        assert!(list.words().any(|w| w == "SVPP0RT"));
        assert_eq!(Blocklist::default(), list);
    }

    #[test]
    fn folded_spellings_are_caught() {
        let list = Blocklist::default_list();
        for (text, word) in [
            ("SH1T", "SH1T"),
            ("XXFVCKXX", "FVCK"),
            ("SVPP0RT1", "SVPP0RT"),
            ("ADM1N", "ADM1N"),
            ("FREE2026", "FREE"),
            ("K0S0MAK", "K0S0MAK"),
            ("SHARM0VTA", "SHARM0VTA"),
            ("9A7BA", "9A7BA"),
            ("TEST", "TEST"),
        ] {
            assert_eq!(list.contains_in(&code(text)), Some(word), "{text}");
        }
        for text in [
            "SARA2026",
            "7K3MQ9XDS",
            "BAKE10K3MQ9XG",
            "PASSW0RD",
            "KVSVM",
        ] {
            assert_eq!(list.contains_in(&code(text)), None, "{text}");
        }
        assert_eq!(Blocklist::empty().contains_in(&code("SH1T")), None);
    }

    #[test]
    fn custom_words_are_validated() {
        let list = Blocklist::empty()
            .with_words(["Noor", "noor", "n-o-o-r", "٧ｘ"])
            .unwrap();
        assert_eq!(list.words().collect::<Vec<_>>(), ["N00R", "7X"]);
        let err = Blocklist::empty().with_words(["ok", "naïve"]).unwrap_err();
        assert_eq!(err.word, "naïve");
        assert_eq!(
            err.to_string(),
            "blocklist word \"naïve\" is not usable: only Latin letters, digits and separators are allowed"
        );
        assert!(Blocklist::empty().with_words([" "]).is_err());
        assert!(Blocklist::empty().with_words(["a.b"]).is_err());
        assert!(Blocklist::empty().with_words(["A".repeat(33)]).is_err());
    }

    #[test]
    fn blocklist_serde_round_trips_and_validates() {
        let list = Blocklist::empty().with_words(["Rival", "Oops"]).unwrap();
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, r#"["R1VA1","00PS"]"#);
        assert_eq!(serde_json::from_str::<Blocklist>(&json).unwrap(), list);
        assert_eq!(
            serde_json::from_str::<Blocklist>(r#"["rival"]"#).unwrap(),
            Blocklist::empty().with_words(["R1VA1"]).unwrap()
        );
        assert!(serde_json::from_str::<Blocklist>(r#"[""]"#).is_err());
        assert!(serde_json::from_str::<Blocklist>(r#"["é"]"#).is_err());
    }

    #[test]
    fn vanity_table() {
        use VanityError::*;
        let plain = CodeFormat::default();
        let bake = CodeFormat::default().with_prefix("BAKE").unwrap();
        let list = Blocklist::default_list();
        let invalid = |character, position, replacement| {
            Err(InvalidCharacter {
                character,
                position,
                replacement,
            })
        };
        let cases: &[(&CodeFormat, &str, Result<&str, VanityError>)] = &[
            (&plain, "SARA2026", Ok("SARA2026")),
            (&plain, "sara-2026", Ok("SARA2026")),
            (&plain, " Sara 2026 ", Ok("SARA2026")),
            (&plain, "SARA٢٠٢٦", Ok("SARA2026")),
            (&plain, "ＳＡＲＡ２０２６", Ok("SARA2026")),
            (&plain, "\u{200F}SARA2026\u{200E}", Ok("SARA2026")),
            (&plain, "ABCD", Ok("ABCD")),
            (
                &plain,
                "ABCDEFGHJKMNPQRSTVWXYZ01",
                Ok("ABCDEFGHJKMNPQRSTVWXYZ01"),
            ),
            (&plain, "NOOR", invalid('O', 1, Some('0'))),
            (&plain, "noor", invalid('o', 1, Some('0'))),
            (&plain, "ALI2026", invalid('L', 1, Some('1'))),
            (&plain, "SAMI", invalid('I', 3, Some('1'))),
            (&plain, "٢٠ｉ٦", invalid('ｉ', 2, Some('1'))),
            (&plain, "UMAR", invalid('U', 0, None)),
            (&plain, "SARA.2026", invalid('.', 4, None)),
            (&plain, "سارة", invalid('س', 0, None)),
            (&plain, "ABC", Err(TooShort { symbols: 3 })),
            (&plain, "", Err(TooShort { symbols: 0 })),
            (&plain, &"A".repeat(25), Err(TooLong { symbols: 25 })),
            (&plain, &"A".repeat(40), Err(TooLong { symbols: 40 })),
            // Nine symbols is the default generated shape.
            (&plain, "SARA20267", Err(LooksGenerated { symbols: 9 })),
            (&plain, "SARA202", Ok("SARA202")),
            (&bake, "SARA20267", Ok("SARA20267")),
            (
                &bake,
                "BAKE-SARA-2026-7",
                Err(LooksGenerated { symbols: 13 }),
            ),
            (&bake, "BAKESARA2026", Ok("BAKESARA2026")),
            // One typo from the prefix: typed input of this shape is checked.
            (
                &bake,
                "CAKE-SARA-2026-7",
                Err(LooksGenerated { symbols: 13 }),
            ),
            (
                &bake,
                "ABKE-SARA-2026-7",
                Err(LooksGenerated { symbols: 13 }),
            ),
            (&bake, "SARA-BAKE-2026-7", Ok("SARABAKE20267")),
            (
                &plain,
                "FREE-2026",
                Err(Blocked {
                    word: "FREE".into(),
                }),
            ),
            (
                &plain,
                "ADM1N",
                Err(Blocked {
                    word: "ADM1N".into(),
                }),
            ),
        ];
        let mut failures = Vec::new();
        for (format, text, expected) in cases {
            let got = format.vanity(text, &list);
            let expected = expected.clone().map(code);
            if got != expected {
                failures.push(format!("{text:?}: got {got:?}, want {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn vanity_codes_parse_back_to_themselves() {
        let format = CodeFormat::default().with_prefix("BAKE").unwrap();
        let list = Blocklist::default_list();
        for text in ["SARA2026", "ramadan-2026", "X1X1", "BAKE-MY-DAY"] {
            let code = format.vanity(text, &list).unwrap();
            assert_eq!(format.parse(code.as_str()), Ok(code), "{text}");
            assert_eq!(format.parse(&text.to_lowercase()), Ok(code), "{text}");
        }
    }

    /// Issue 13: parsing checks input one typo from the prefix, so a vanity
    /// code of that shape would not read back; it is refused instead.
    #[test]
    fn vanity_codes_one_typo_from_the_prefix_are_refused() {
        let format = CodeFormat::default().with_prefix("BAKE").unwrap();
        let list = Blocklist::empty();
        let body = "SARA20267";
        let mut heads = Vec::new();
        for i in 0..4 {
            for &s in crate::code::alphabet::SYMBOLS {
                let mut head = b"BAKE".to_vec();
                head[i] = s;
                heads.push(head);
            }
        }
        for i in 0..3 {
            let mut head = b"BAKE".to_vec();
            head.swap(i, i + 1);
            heads.push(head);
        }
        for head in heads {
            let text = format!("{}{body}", String::from_utf8(head).unwrap());
            assert_eq!(
                format.vanity(&text, &list),
                Err(VanityError::LooksGenerated { symbols: 13 }),
                "{text}"
            );
        }
        // Two symbols off is far enough: a vanity code, read back as itself.
        let code = format.vanity("CAKF-SARA-2026-7", &list).unwrap();
        assert_eq!(format.parse(code.as_str()), Ok(code));
    }

    /// Issue 13: `ADMIN` got "write '1' instead", and `ADM1N` was then
    /// refused as blocked. A hint is given only when the text written as
    /// it says passes every rule; otherwise the error is why it would not.
    #[test]
    fn a_hint_never_leads_into_another_refusal() {
        let plain = CodeFormat::default();
        let bake = CodeFormat::default().with_prefix("BAKE").unwrap();
        let list = Blocklist::default_list();
        let blocked = |word: &str| {
            Err(VanityError::Blocked {
                word: word.to_owned(),
            })
        };
        assert_eq!(plain.vanity("ADMIN", &list), blocked("ADM1N"));
        assert_eq!(plain.vanity("admin-26", &list), blocked("ADM1N"));
        assert_eq!(plain.vanity("ROOT", &list), blocked("R00T"));
        // `S010T01ET` passes, so the hint stands.
        assert_eq!(
            plain.vanity("SOLO-TOILET", &list),
            Err(VanityError::InvalidCharacter {
                character: 'O',
                position: 1,
                replacement: Some('0')
            })
        );
        assert_eq!(
            plain.vanity("٢٠ｉ", &list),
            Err(VanityError::TooShort { symbols: 3 })
        );
        assert_eq!(
            plain.vanity("NOOR.2026", &list),
            Err(VanityError::InvalidCharacter {
                character: '.',
                position: 4,
                replacement: None
            })
        );
        assert_eq!(
            bake.vanity("BAKE-SOLO-2026-7", &list),
            Err(VanityError::LooksGenerated { symbols: 13 })
        );
        // Wherever a hint is given, following it (for every I, L and O)
        // gives a code.
        for text in [
            "NOOR10",
            "ALI2026",
            "SAMI",
            "LOLA",
            "OLIVE",
            "BOILER",
            "LIONS",
            "SOLO-TOILET",
            "ADMINI",
            "FOOL",
            "ILLINOIS",
        ] {
            for format in [&plain, &bake] {
                if let Err(VanityError::InvalidCharacter {
                    replacement: Some(_),
                    ..
                }) = format.vanity(text, &list)
                {
                    let written: String = text
                        .chars()
                        .map(|c| match c.to_ascii_uppercase() {
                            'I' | 'L' => '1',
                            'O' => '0',
                            _ => c,
                        })
                        .collect();
                    assert!(format.vanity(&written, &list).is_ok(), "{text} → {written}");
                }
            }
        }
    }

    #[test]
    fn vanity_messages_say_what_and_where() {
        let f = CodeFormat::default();
        let list = Blocklist::default_list();
        assert_eq!(
            f.vanity("UMAR", &list).unwrap_err().to_string(),
            "character 'U' at position 0 is not allowed in a vanity code"
        );
        assert_eq!(
            f.vanity("AB", &list).unwrap_err().to_string(),
            "a vanity code needs at least 4 symbols, this one has 2"
        );
        assert_eq!(
            f.vanity(&"A".repeat(30), &list).unwrap_err().to_string(),
            "a vanity code has at most 24 symbols, this one has 30"
        );
        assert!(
            f.vanity("SARA20267", &list)
                .unwrap_err()
                .to_string()
                .contains("must not look like a generated code")
        );
        assert_eq!(
            f.vanity("free-2026", &list).unwrap_err().to_string(),
            "the vanity code contains the blocked word \"FREE\""
        );
    }
}
