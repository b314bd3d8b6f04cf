//! Making codes: the [`CodeFormat`] builder, random codes, codes derived from
//! a program secret, and the dash-grouped display form.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::alphabet::SYMBOLS;
use super::check::check_symbol;
use super::{Code, CodeFormat, CodeParseError, MAX_CODE_LEN, normalize};
use crate::model::{CustomerId, ProgramId};

/// Domain separation for [`CodeFormat::derive`]: a MAC computed for codes can
/// never be replayed as a MAC of anything else keyed by the same secret, and
/// a future `v2` derivation gives unrelated codes.
const DERIVE_TAG: &[u8] = b"referrals/code/v1";

/// A program's secret for [`CodeFormat::derive`]: 16 to 1024 bytes.
///
/// Holds the HMAC-SHA256 state already keyed with the secret (and fed the
/// derivation's domain tag), so deriving a code only clones that state
/// instead of hashing the key again.
///
/// Deliberately **not** `Serialize`/`Deserialize`: a secret must never end up
/// in a JSON dump of a program by accident. Load it from the host's secret
/// store and pass the bytes to [`CodeSecret::new`]. `Debug` prints
/// `CodeSecret(..)`, and `==` compares in constant time. The bytes are not
/// wiped from memory on drop (the crate does not depend on `zeroize`, and the
/// keyed HMAC state holds key material of its own).
///
/// # Example: a secret from the host's configuration
/// ```
/// use referrals::code::CodeSecret;
/// let secret = CodeSecret::new(b"0123456789abcdef-bakery-secret")?;
/// assert_eq!(format!("{secret:?}"), "CodeSecret(..)");
/// # Ok::<(), referrals::code::CodeSecretError>(())
/// ```
#[derive(Clone)]
pub struct CodeSecret {
    key: Box<[u8]>,
    keyed: Hmac<Sha256>,
}

/// A [`CodeSecret`] of the wrong size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeSecretError {
    /// Fewer than [`CodeSecret::MIN_LEN`] bytes: guessable by brute force.
    #[error(
        "a code secret needs at least {} bytes, this one has {len}",
        CodeSecret::MIN_LEN
    )]
    TooShort {
        /// The secret's length in bytes.
        len: usize,
    },
    /// More than [`CodeSecret::MAX_LEN`] bytes: almost surely a file or
    /// value passed by mistake.
    #[error(
        "a code secret has at most {} bytes, this one has {len}",
        CodeSecret::MAX_LEN
    )]
    TooLong {
        /// The secret's length in bytes.
        len: usize,
    },
}

impl CodeSecret {
    /// Fewest bytes of a secret (128 bits).
    pub const MIN_LEN: usize = 16;
    /// Most bytes of a secret.
    pub const MAX_LEN: usize = 1024;

    /// Wraps a secret of 16 to 1024 bytes and keys the HMAC state with it.
    ///
    /// Use random bytes (at least 32 from a CSPRNG is a good choice), not a
    /// password.
    ///
    /// # Errors
    /// [`CodeSecretError::TooShort`] below 16 bytes,
    /// [`CodeSecretError::TooLong`] above 1024.
    ///
    /// # Example: a 32-byte secret
    /// ```
    /// use referrals::code::CodeSecret;
    /// let secret = CodeSecret::new(&[7u8; 32])?;
    /// assert_eq!(secret, CodeSecret::new(&[7u8; 32])?);
    /// # Ok::<(), referrals::code::CodeSecretError>(())
    /// ```
    ///
    /// # Example: too short
    /// ```
    /// use referrals::code::{CodeSecret, CodeSecretError};
    /// assert_eq!(CodeSecret::new(b"hunter2"), Err(CodeSecretError::TooShort { len: 7 }));
    /// ```
    pub fn new(bytes: &[u8]) -> Result<CodeSecret, CodeSecretError> {
        let len = bytes.len();
        if len < Self::MIN_LEN {
            return Err(CodeSecretError::TooShort { len });
        }
        if len > Self::MAX_LEN {
            return Err(CodeSecretError::TooLong { len });
        }
        // OK because HMAC accepts keys of any length: `new_from_slice` hashes
        // long keys and pads short ones, and never returns `InvalidLength`.
        #[allow(clippy::expect_used)]
        let mut keyed = Hmac::<Sha256>::new_from_slice(bytes).expect("HMAC takes any key length");
        // Every derivation starts with the tag: absorb it once, here.
        keyed.update(DERIVE_TAG);
        Ok(CodeSecret {
            key: bytes.into(),
            keyed,
        })
    }
}

impl fmt::Debug for CodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeSecret(..)")
    }
}

impl PartialEq for CodeSecret {
    /// Constant-time in the key bytes (the lengths are compared first; a
    /// length is not secret in the way the bytes are).
    fn eq(&self, other: &Self) -> bool {
        self.key.ct_eq(&other.key).into()
    }
}

impl Eq for CodeSecret {}

/// A [`CodeFormat`] setting out of range; each variant names the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeFormatError {
    /// `length` outside [`CodeFormat::MIN_LENGTH`]..=[`CodeFormat::MAX_LENGTH`].
    #[error(
        "`length` must be {} to {} symbols, got {length}",
        CodeFormat::MIN_LENGTH,
        CodeFormat::MAX_LENGTH
    )]
    Length {
        /// The rejected length.
        length: u8,
    },
    /// The prefix is empty or longer than [`CodeFormat::MAX_PREFIX_LEN`]
    /// symbols, after normalisation.
    #[error(
        "`prefix` must be 1 to {} symbols, got {symbols}",
        CodeFormat::MAX_PREFIX_LEN
    )]
    PrefixLength {
        /// Symbols in the prefix after normalisation.
        symbols: usize,
    },
    /// The prefix holds a character that is not allowed in a code.
    #[error(
        "`prefix` holds character {character:?} at position {position}, which is not allowed in a referral code"
    )]
    PrefixCharacter {
        /// The character.
        character: char,
        /// Its 0-based character (not byte) index in the prefix text.
        position: usize,
    },
    /// `group` above [`CodeFormat::MAX_GROUP`].
    #[error("`group` must be 0 to {}, got {group}", CodeFormat::MAX_GROUP)]
    Group {
        /// The rejected group size.
        group: u8,
    },
    /// Prefix, `length` and the check character add up to more than
    /// [`MAX_CODE_LEN`] symbols.
    #[error(
        "`prefix` and `length` make codes of {total} symbols with the check character, the limit is {MAX_CODE_LEN}"
    )]
    TooLong {
        /// Prefix, body and check symbols together.
        total: usize,
    },
}

impl CodeFormat {
    /// Fewest random symbols per code: 6 symbols are 30 bits, about a
    /// billion codes. With fewer, a program with a million codes out would
    /// let one guess in 33 (5 symbols) hit somebody's code: the check
    /// character only catches typos, anyone can compute it, so it adds no
    /// protection against guessing.
    pub const MIN_LENGTH: u8 = 6;
    /// Most random symbols per code (120 bits, far past any need).
    pub const MAX_LENGTH: u8 = 24;
    /// Most symbols in a prefix.
    pub const MAX_PREFIX_LEN: usize = 8;
    /// Largest display group.
    pub const MAX_GROUP: u8 = 8;

    /// A format with `length` random symbols, no prefix, groups of three.
    ///
    /// The default, `CodeFormat::default()`, is `CodeFormat::new(8)`: 40 bits,
    /// about a trillion codes, so that even a million issued codes leave a
    /// guess a one in a million chance.
    ///
    /// # Errors
    /// [`CodeFormatError::Length`] unless `length` is 6 to 24.
    ///
    /// # Example: a longer code
    /// ```
    /// use referrals::CodeFormat;
    /// let format = CodeFormat::new(10)?;
    /// assert_eq!(format.generated_len(), 11);
    /// assert_eq!(CodeFormat::new(8)?, CodeFormat::default());
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    ///
    /// # Example: too short to be safe
    /// ```
    /// use referrals::CodeFormat;
    /// let err = CodeFormat::new(4).unwrap_err();
    /// assert_eq!(err.to_string(), "`length` must be 6 to 24 symbols, got 4");
    /// ```
    pub fn new(length: u8) -> Result<CodeFormat, CodeFormatError> {
        if !(Self::MIN_LENGTH..=Self::MAX_LENGTH).contains(&length) {
            return Err(CodeFormatError::Length { length });
        }
        Ok(CodeFormat {
            prefix: None,
            length,
            group: 3,
        })
    }

    /// The same format with a prefix of 1 to 8 symbols before every code.
    ///
    /// The text is read like typed input (case folded, `I`/`L` as `1`, `O`
    /// as `0`, dashes and spaces dropped), so `"bake"` gives `BAKE`.
    ///
    /// # Errors
    /// [`CodeFormatError::PrefixCharacter`] for a character that is not
    /// allowed, [`CodeFormatError::PrefixLength`] for an empty prefix or one
    /// over 8 symbols, [`CodeFormatError::TooLong`] if prefix, length and check
    /// character exceed [`MAX_CODE_LEN`].
    ///
    /// # Example: a prefix in lower case, with Arabic-Indic digits
    /// ```
    /// use referrals::CodeFormat;
    /// let format = CodeFormat::default().with_prefix("eid-٢٦")?;
    /// assert_eq!(format.prefix().map(|p| p.to_string()), Some("E1D26".into()));
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    ///
    /// # Example: too long once normalised
    /// `ramadan-٢٦` reads as `RAMADAN26`, nine symbols: one too many.
    /// ```
    /// use referrals::{CodeFormat, code::CodeFormatError};
    /// let err = CodeFormat::default().with_prefix("ramadan-٢٦").unwrap_err();
    /// assert_eq!(err, CodeFormatError::PrefixLength { symbols: 9 });
    /// ```
    pub fn with_prefix(self, prefix: &str) -> Result<CodeFormat, CodeFormatError> {
        let prefix = match normalize(prefix) {
            Ok(code) => code,
            Err(CodeParseError::InvalidCharacter {
                character,
                position,
            }) => {
                return Err(CodeFormatError::PrefixCharacter {
                    character,
                    position,
                });
            }
            Err(CodeParseError::TooLong { symbols }) => {
                return Err(CodeFormatError::PrefixLength { symbols });
            }
            Err(_) => return Err(CodeFormatError::PrefixLength { symbols: 0 }),
        };
        if prefix.len() > Self::MAX_PREFIX_LEN {
            return Err(CodeFormatError::PrefixLength {
                symbols: prefix.len(),
            });
        }
        let total = prefix.len() + self.length as usize + 1;
        if total > MAX_CODE_LEN {
            return Err(CodeFormatError::TooLong { total });
        }
        Ok(CodeFormat {
            prefix: Some(prefix),
            ..self
        })
    }

    /// The same format displayed in dash-separated groups of `group`
    /// symbols; 0 displays codes without any dashes.
    ///
    /// # Errors
    /// [`CodeFormatError::Group`] if `group` is above 8.
    ///
    /// # Example: groups of four, and none
    /// ```
    /// use referrals::CodeFormat;
    /// let code = referrals::Code::from_canonical("7K3MQ9XDS")?;
    /// assert_eq!(CodeFormat::default().with_group(4)?.display(&code), "7K3M-Q9XD-S");
    /// assert_eq!(CodeFormat::default().with_group(0)?.display(&code), "7K3MQ9XDS");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_group(self, group: u8) -> Result<CodeFormat, CodeFormatError> {
        if group > Self::MAX_GROUP {
            return Err(CodeFormatError::Group { group });
        }
        Ok(CodeFormat { group, ..self })
    }

    /// Whether `code` has this format's generated shape: it starts with the
    /// prefix and has [`generated_len`](Self::generated_len) symbols.
    ///
    /// Codes of that shape are parsed with their check character verified;
    /// all others are vanity codes.
    ///
    /// # Example: generated and vanity
    /// ```
    /// use referrals::{Code, CodeFormat};
    /// let format = CodeFormat::default().with_prefix("BAKE")?;
    /// assert!(format.is_generated_shape(&Code::from_canonical("BAKE7K3MQ9XDM")?));
    /// assert!(!format.is_generated_shape(&Code::from_canonical("SARA2026")?));
    /// assert!(!format.is_generated_shape(&Code::from_canonical("CAKE7K3MQ9XDM")?));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_generated_shape(&self, code: &Code) -> bool {
        code.len() == self.generated_len()
            && self
                .prefix
                .is_none_or(|p| code.as_bytes().starts_with(p.as_bytes()))
    }

    /// Whether [`parse`](Self::parse) verifies `code`'s check character:
    /// it has [`generated_len`](Self::generated_len) symbols and starts with
    /// the prefix, or with the prefix one typo away (one symbol different,
    /// or two adjacent symbols swapped). Vanity codes must not have this
    /// shape, or they could not be read back.
    pub(crate) fn is_checked_shape(&self, code: &Code) -> bool {
        if code.len() != self.generated_len() {
            return false;
        }
        let Some(prefix) = self.prefix else {
            return true;
        };
        let prefix = prefix.as_bytes();
        let head = &code.as_bytes()[..prefix.len()];
        let mut differ = (0..prefix.len()).filter(|&i| head[i] != prefix[i]);
        match (differ.next(), differ.next(), differ.next()) {
            (None, _, _) | (Some(_), None, _) => true,
            (Some(i), Some(j), None) => j == i + 1 && head[i] == prefix[j] && head[j] == prefix[i],
            _ => false,
        }
    }

    /// A new random code: the prefix, `length` uniformly random symbols and
    /// the check character.
    ///
    /// Pass a cryptographically secure generator (the engine uses
    /// `StdRng::from_os_rng()`): with a predictable one, anyone who sees a
    /// few codes can compute the next ones. Each symbol is 5 random bits, so
    /// there is no modulo bias. The code is not checked against a
    /// [`Blocklist`](crate::code::Blocklist); the engine draws again when
    /// [`Blocklist::contains_in`](crate::code::Blocklist::contains_in) or its
    /// store reports a clash.
    ///
    /// # Example: a code from the OS generator
    /// ```
    /// use rand::{SeedableRng, rngs::StdRng};
    /// use referrals::CodeFormat;
    /// let format = CodeFormat::default().with_prefix("BAKE")?;
    /// let code = format.random(&mut StdRng::from_os_rng());
    /// assert!(code.as_str().starts_with("BAKE"));
    /// assert_eq!(format.parse(&format.display(&code)), Ok(code));
    /// # Ok::<(), referrals::code::CodeFormatError>(())
    /// ```
    ///
    /// # Example: a seeded generator gives repeatable codes (tests only)
    /// ```
    /// use rand::{SeedableRng, rngs::StdRng};
    /// use referrals::CodeFormat;
    /// let format = CodeFormat::default();
    /// let a = format.random(&mut StdRng::seed_from_u64(7));
    /// let b = format.random(&mut StdRng::seed_from_u64(7));
    /// assert_eq!(a, b);
    /// ```
    pub fn random<R: rand::RngCore + ?Sized>(&self, rng: &mut R) -> Code {
        let mut code = self.start_code();
        let start = code.len as usize;
        let mut bits = 0u64;
        let mut available = 0u32;
        for slot in &mut code.symbols[start..start + self.length as usize] {
            if available < 5 {
                bits = rng.next_u64();
                available = 64;
            }
            *slot = SYMBOLS[(bits & 31) as usize];
            bits >>= 5;
            available -= 5;
        }
        self.finish_code(code)
    }

    /// The code of `customer` in `program`: deterministic, unforgeable
    /// without the secret.
    ///
    /// The body symbols are the first `5 × length` bits of
    /// HMAC-SHA256(secret, tag ‖ len(program) ‖ program ‖ len(customer) ‖
    /// customer ‖ attempt), where the tag is `referrals/code/v1`, lengths are
    /// big-endian `u32` byte counts (so no two id pairs encode alike) and
    /// `attempt` is a big-endian `u32`. The same inputs always give the same
    /// code, so a host can recompute a customer's code instead of storing
    /// it; nobody without the secret can predict or forge a customer's code,
    /// or tell from a code whose it is. When the derived code is taken or
    /// blocked, the engine tries `attempt + 1`. Like [`random`](Self::random),
    /// this does not consult a blocklist.
    ///
    /// # Example: stable codes per customer
    /// ```
    /// use referrals::CodeFormat;
    /// use referrals::code::CodeSecret;
    /// use referrals::model::{CustomerId, ProgramId};
    /// let secret = CodeSecret::new(b"a long random program secret")?;
    /// let program = ProgramId::new("bakery")?;
    /// let format = CodeFormat::default();
    /// let sara = format.derive(&secret, &program, &CustomerId::new("sara")?, 0);
    /// assert_eq!(sara, format.derive(&secret, &program, &CustomerId::new("sara")?, 0));
    /// assert_ne!(sara, format.derive(&secret, &program, &CustomerId::new("sara")?, 1));
    /// assert_ne!(sara, format.derive(&secret, &program, &CustomerId::new("omar")?, 0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: customer ids in Arabic script
    /// ```
    /// use referrals::CodeFormat;
    /// use referrals::code::CodeSecret;
    /// use referrals::model::{CustomerId, ProgramId};
    /// let secret = CodeSecret::new(b"a long random program secret")?;
    /// let format = CodeFormat::new(6)?.with_prefix("BAKE")?;
    /// let code = format.derive(&secret, &ProgramId::new("p")?, &CustomerId::new("عميل-٧")?, 0);
    /// assert!(format.is_generated_shape(&code));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn derive(
        &self,
        secret: &CodeSecret,
        program: &ProgramId,
        customer: &CustomerId,
        attempt: u32,
    ) -> Code {
        // The state has absorbed `DERIVE_TAG` already (see `CodeSecret::new`).
        let mut mac = secret.keyed.clone();
        // Ids are at most `MAX_ID_LEN` (128) bytes, so the lengths fit a u32.
        let program = program.as_str().as_bytes();
        let customer = customer.as_str().as_bytes();
        mac.update(&(program.len() as u32).to_be_bytes());
        mac.update(program);
        mac.update(&(customer.len() as u32).to_be_bytes());
        mac.update(customer);
        mac.update(&attempt.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        let mut first = [0u8; 16];
        first.copy_from_slice(&tag[..16]);
        // 24 symbols take 120 of these 128 bits, most significant first.
        let bits = u128::from_be_bytes(first);

        let mut code = self.start_code();
        let start = code.len as usize;
        for (i, slot) in code.symbols[start..start + self.length as usize]
            .iter_mut()
            .enumerate()
        {
            *slot = SYMBOLS[((bits >> (123 - 5 * i)) & 31) as usize];
        }
        self.finish_code(code)
    }

    /// A code holding only the prefix, its length set to hold the body too.
    fn start_code(&self) -> Code {
        // Unused bytes stay 0: `Code`'s derived `Eq` and `Hash` see them.
        let mut code = Code {
            len: 0,
            symbols: [0; MAX_CODE_LEN],
        };
        if let Some(prefix) = self.prefix {
            code.symbols[..prefix.len()].copy_from_slice(prefix.as_bytes());
            code.len = prefix.len() as u8;
        }
        code
    }

    /// Appends the check symbol after prefix and body.
    fn finish_code(&self, mut code: Code) -> Code {
        // A valid format has generated_len() <= MAX_CODE_LEN (checked when it
        // was built), so these indices are in bounds.
        let body_end = self.generated_len() - 1;
        code.symbols[body_end] = check_symbol(&code.symbols[..body_end]);
        code.len = (body_end + 1) as u8;
        code
    }

    /// The form people read: symbols after the prefix in dash-separated
    /// groups of [`group`](Self::group), from the left, after the prefix and
    /// a dash.
    ///
    /// With group 0 there are no dashes at all. Codes that are not of this
    /// format's generated shape (vanity codes) are shown as they are.
    ///
    /// # Example: a prefixed code
    /// ```
    /// use referrals::{Code, CodeFormat};
    /// let format = CodeFormat::default().with_prefix("BAKE")?;
    /// let code = Code::from_canonical("BAKE7K3MQ9XDM")?;
    /// assert_eq!(format.display(&code), "BAKE-7K3-MQ9-XDM");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: a vanity code is left alone
    /// ```
    /// use referrals::{Code, CodeFormat};
    /// let code = Code::from_canonical("SARA2026")?;
    /// assert_eq!(CodeFormat::default().display(&code), "SARA2026");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn display(&self, code: &Code) -> String {
        if self.group == 0 || !self.is_generated_shape(code) {
            return code.as_str().to_owned();
        }
        let group = self.group as usize;
        let prefix_len = self.prefix.map_or(0, |p| p.len());
        let bytes = code.as_bytes();
        let mut out = String::with_capacity(2 * bytes.len());
        if prefix_len > 0 {
            out.push_str(&code.as_str()[..prefix_len]);
            out.push('-');
        }
        for (i, chunk) in bytes[prefix_len..].chunks(group).enumerate() {
            if i > 0 {
                out.push('-');
            }
            for &b in chunk {
                out.push(char::from(b));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::code::check::is_valid;

    fn secret() -> CodeSecret {
        CodeSecret::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn ids(program: &str, customer: &str) -> (ProgramId, CustomerId) {
        (
            ProgramId::new(program).unwrap(),
            CustomerId::new(customer).unwrap(),
        )
    }

    #[test]
    fn format_builder_validates_each_field() {
        assert_eq!(
            CodeFormat::new(5),
            Err(CodeFormatError::Length { length: 5 })
        );
        assert_eq!(
            CodeFormat::new(25),
            Err(CodeFormatError::Length { length: 25 })
        );
        assert!(CodeFormat::new(6).is_ok() && CodeFormat::new(24).is_ok());
        let f = CodeFormat::default();
        assert_eq!(
            f.clone().with_prefix(""),
            Err(CodeFormatError::PrefixLength { symbols: 0 })
        );
        assert_eq!(
            f.clone().with_prefix(" - "),
            Err(CodeFormatError::PrefixLength { symbols: 0 })
        );
        assert_eq!(
            f.clone().with_prefix("ABCDEFGHJ"),
            Err(CodeFormatError::PrefixLength { symbols: 9 })
        );
        assert_eq!(
            f.clone().with_prefix("BA.KE"),
            Err(CodeFormatError::PrefixCharacter {
                character: '.',
                position: 2
            })
        );
        assert_eq!(
            f.clone().with_prefix("Bäke").unwrap_err().to_string(),
            "`prefix` holds character 'ä' at position 1, which is not allowed in a referral code"
        );
        assert_eq!(
            f.clone().with_group(9),
            Err(CodeFormatError::Group { group: 9 })
        );
        assert_eq!(
            CodeFormat::new(24).unwrap().with_prefix("ABCDEFGH"),
            Err(CodeFormatError::TooLong { total: 33 })
        );
        let bill = f.with_prefix("bill").unwrap();
        assert_eq!(bill.prefix().unwrap().as_str(), "B111");
        assert_eq!(bill.generated_len(), 13);
    }

    #[test]
    fn format_serde_round_trips_and_validates() {
        let f = CodeFormat::new(10)
            .unwrap()
            .with_prefix("bake")
            .unwrap()
            .with_group(5)
            .unwrap();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"prefix":"BAKE","length":10,"group":5}"#);
        assert_eq!(serde_json::from_str::<CodeFormat>(&json).unwrap(), f);
        let default = serde_json::to_string(&CodeFormat::default()).unwrap();
        assert_eq!(default, r#"{"length":8,"group":3}"#);
        assert_eq!(
            serde_json::from_str::<CodeFormat>("{}").unwrap(),
            CodeFormat::default()
        );
        for bad in [
            r#"{"length":5}"#,
            r#"{"group":9}"#,
            r#"{"prefix":""}"#,
            r#"{"prefix":"é"}"#,
            r#"{"prefix":"ABCDEFGH","length":24}"#,
            r#"{"lenght":8}"#,
        ] {
            let err = serde_json::from_str::<CodeFormat>(bad).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad}");
        }
        let err = serde_json::from_str::<CodeFormat>(r#"{"length":5}"#).unwrap_err();
        assert!(
            err.to_string().contains("`length` must be 6 to 24"),
            "{err}"
        );
    }

    #[test]
    fn random_codes_have_the_shape_and_a_valid_check() {
        let mut rng = StdRng::seed_from_u64(1);
        for format in [
            CodeFormat::default(),
            CodeFormat::new(6).unwrap().with_prefix("X").unwrap(),
            CodeFormat::new(23)
                .unwrap()
                .with_prefix("BAKERY12")
                .unwrap(),
            CodeFormat::new(24).unwrap().with_prefix("BAKERY1").unwrap(),
        ] {
            for _ in 0..200 {
                let code = format.random(&mut rng);
                assert!(format.is_generated_shape(&code), "{code:?}");
                assert!(is_valid(code.as_bytes()), "{code:?}");
                assert_eq!(format.parse(code.as_str()), Ok(code));
            }
        }
    }

    #[test]
    fn random_symbols_are_uniform() {
        // 32 symbols × 8 positions: each symbol should appear about
        // 1/32 of the time at every position. A modulo bias or a stuck bit
        // would push some count far outside these bounds.
        let format = CodeFormat::default();
        let mut rng = StdRng::seed_from_u64(42);
        let draws = 32_000;
        let mut counts = [[0u32; 32]; 8];
        for _ in 0..draws {
            let code = format.random(&mut rng);
            for (position, &s) in code.as_bytes()[..8].iter().enumerate() {
                counts[position][crate::code::alphabet::value(s).unwrap() as usize] += 1;
            }
        }
        for row in counts {
            for count in row {
                // Expected 1000, standard deviation about 31.
                assert!((850..1150).contains(&count), "{count}");
            }
        }
    }

    #[test]
    fn derived_codes_are_deterministic_and_separate_inputs() {
        let format = CodeFormat::default();
        let s = secret();
        let (p, c) = ids("bakery", "sara");
        let code = format.derive(&s, &p, &c, 0);
        assert_eq!(code, format.derive(&s, &p, &c, 0));
        assert!(is_valid(code.as_bytes()));
        assert_ne!(code, format.derive(&s, &p, &c, 1));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let (p1, c1) = ids("ab", "c");
        let (p2, c2) = ids("a", "bc");
        assert_ne!(
            format.derive(&s, &p1, &c1, 0),
            format.derive(&s, &p2, &c2, 0)
        );
        let other = CodeSecret::new(b"another secret, also long").unwrap();
        assert_ne!(code, format.derive(&other, &p, &c, 0));
        // A longer format extends the same MAC bits.
        let long = CodeFormat::new(12).unwrap().derive(&s, &p, &c, 0);
        assert_eq!(&long.as_bytes()[..8], &code.as_bytes()[..8]);
    }

    #[test]
    fn derived_code_matches_the_documented_construction() {
        let (p, c) = ids("bakery", "sara");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
        let mut message = b"referrals/code/v1".to_vec();
        message.extend_from_slice(&[0, 0, 0, 6]);
        message.extend_from_slice(b"bakery");
        message.extend_from_slice(&[0, 0, 0, 4]);
        message.extend_from_slice(b"sara");
        message.extend_from_slice(&[0, 0, 0, 3]);
        mac.update(&message);
        let tag = mac.finalize().into_bytes();
        // First 40 bits as 8 symbols.
        let mut expected = String::from("BAKE");
        let mut bits = 0u64;
        for &b in &tag[..5] {
            bits = bits << 8 | b as u64;
        }
        for i in 0..8 {
            expected.push(SYMBOLS[((bits >> (35 - 5 * i)) & 31) as usize] as char);
        }
        expected.push(check_symbol(expected.as_bytes()) as char);
        let format = CodeFormat::default().with_prefix("BAKE").unwrap();
        assert_eq!(format.derive(&secret(), &p, &c, 3).as_str(), expected);
    }

    #[test]
    fn secrets_check_size_compare_and_redact() {
        assert_eq!(
            CodeSecret::new(&[0; 15]),
            Err(CodeSecretError::TooShort { len: 15 })
        );
        assert_eq!(
            CodeSecret::new(&[0; 1025]),
            Err(CodeSecretError::TooLong { len: 1025 })
        );
        assert!(CodeSecret::new(&[0; 16]).is_ok() && CodeSecret::new(&[0; 1024]).is_ok());
        assert_eq!(secret(), secret());
        assert_ne!(secret(), CodeSecret::new(&[0; 32]).unwrap());
        assert_ne!(secret(), CodeSecret::new(&[b'0'; 33]).unwrap());
        assert_eq!(format!("{:?}", secret()), "CodeSecret(..)");
        assert_eq!(
            CodeSecretError::TooShort { len: 3 }.to_string(),
            "a code secret needs at least 16 bytes, this one has 3"
        );
    }

    #[test]
    fn display_groups_after_the_prefix() {
        let format = CodeFormat::default().with_prefix("BAKE").unwrap();
        let code = format.random(&mut StdRng::seed_from_u64(3));
        let shown = format.display(&code);
        let body = &code.as_str()[4..];
        assert_eq!(
            shown,
            format!("BAKE-{}-{}-{}", &body[..3], &body[3..6], &body[6..])
        );
        let six = CodeFormat::new(6).unwrap();
        let code = six.random(&mut StdRng::seed_from_u64(4));
        let s = code.as_str();
        assert_eq!(
            six.display(&code),
            format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..])
        );
        let none = CodeFormat::default()
            .with_prefix("BAKE")
            .unwrap()
            .with_group(0)
            .unwrap();
        let code = none.random(&mut StdRng::seed_from_u64(5));
        assert_eq!(none.display(&code), code.as_str());
        let vanity = Code::from_canonical("SARA2026").unwrap();
        assert_eq!(format.display(&vanity), "SARA2026");
    }
}
