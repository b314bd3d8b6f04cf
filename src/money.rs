//! Exact money: integer minor units with an ISO 4217 currency.
//!
//! No floating point anywhere: amounts are `i64` minor units (halalas,
//! fils, cents), rates are basis points, and splits use the largest
//! remainder method so the parts always add up to the whole.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What went wrong with an amount or a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in `i64` minor units.
    #[error("amount overflow in {operation} ({currency})")]
    Overflow {
        /// The operation that overflowed.
        operation: &'static str,
        /// The currency involved.
        currency: Currency,
    },
    /// A currency code that is not in the table.
    #[error("unknown currency code {code:?}")]
    UnknownCurrency {
        /// The code as given (up to 24 bytes kept).
        code: CurrencyCode,
    },
    /// A split was asked for with weights that add up to zero (or none).
    #[error("cannot split {amount} by weights that sum to zero")]
    ZeroWeights {
        /// The amount that was to be split.
        amount: Money,
    },
    /// A decimal amount could not be read.
    #[error("cannot read amount {text:?}: {reason}")]
    InvalidAmount {
        /// The text (first 24 bytes).
        text: ShortText,
        /// What was wrong with it.
        reason: &'static str,
    },
}

/// A currency code as given (up to 24 bytes, cut on a character
/// boundary and marked `…` if longer), for error messages without
/// allocating.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CurrencyCode(ShortText, bool);

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)?;
        if self.1 { f.write_str("…") } else { Ok(()) }
    }
}

/// Up to 24 bytes of rejected text, for `Copy` error messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortText([u8; 24], u8);

impl ShortText {
    fn new(s: &str) -> Self {
        let mut buf = [0u8; 24];
        // Cut on a char boundary so the text stays valid UTF-8.
        let mut end = s.len().min(24);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        ShortText(buf, end as u8)
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0[..self.1 as usize]), f)
    }
}

/// An ISO 4217 currency with its minor-unit exponent.
///
/// `Copy` and owned: three ASCII letters and the number of decimal places.
/// Currencies without a minor unit in ISO 4217 (XAU, XDR, XXX) are refused
/// when built, so every `Currency` has an exponent.
///
/// # Example: the exponent decides the minor unit
/// ```
/// use referrals::Currency;
/// assert_eq!(Currency::JPY.exponent(), 0);
/// assert_eq!(Currency::SAR.exponent(), 2);
/// assert_eq!("kwd".parse::<Currency>()?.exponent(), 3);
/// # Ok::<(), referrals::money::MoneyError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// ISO 4217 currencies known to the crate: code and minor-unit exponent.
///
/// # Revisions
/// - 2026-11-25: first table: the world's most traded currencies, every
///   Arab League currency, and the zero- and three-decimal currencies.
const CURRENCY_TABLE: &[(&str, u8)] = &[
    // Gulf and wider Arab world.
    ("AED", 2),
    ("BHD", 3),
    ("DZD", 2),
    ("EGP", 2),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LBP", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MRU", 2),
    ("OMR", 3),
    ("QAR", 2),
    ("SAR", 2),
    ("SDG", 2),
    ("SOS", 2),
    ("SYP", 2),
    ("TND", 3),
    ("YER", 2),
    ("DJF", 0),
    ("KMF", 0),
    // Major and regional currencies.
    ("AUD", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("RON", 2),
    ("RUB", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("ZAR", 2),
];

impl Currency {
    /// Saudi riyal (2 decimals).
    pub const SAR: Currency = Currency::known(*b"SAR", 2);
    /// UAE dirham (2 decimals).
    pub const AED: Currency = Currency::known(*b"AED", 2);
    /// Egyptian pound (2 decimals).
    pub const EGP: Currency = Currency::known(*b"EGP", 2);
    /// Kuwaiti dinar (3 decimals).
    pub const KWD: Currency = Currency::known(*b"KWD", 3);
    /// Bahraini dinar (3 decimals).
    pub const BHD: Currency = Currency::known(*b"BHD", 3);
    /// Omani rial (3 decimals).
    pub const OMR: Currency = Currency::known(*b"OMR", 3);
    /// Jordanian dinar (3 decimals).
    pub const JOD: Currency = Currency::known(*b"JOD", 3);
    /// Tunisian dinar (3 decimals).
    pub const TND: Currency = Currency::known(*b"TND", 3);
    /// Qatari riyal (2 decimals).
    pub const QAR: Currency = Currency::known(*b"QAR", 2);
    /// US dollar (2 decimals).
    pub const USD: Currency = Currency::known(*b"USD", 2);
    /// Euro (2 decimals).
    pub const EUR: Currency = Currency::known(*b"EUR", 2);
    /// Pound sterling (2 decimals).
    pub const GBP: Currency = Currency::known(*b"GBP", 2);
    /// Japanese yen (no minor unit).
    pub const JPY: Currency = Currency::known(*b"JPY", 0);

    const fn known(code: [u8; 3], exponent: u8) -> Currency {
        Currency { code, exponent }
    }

    /// Looks a currency up by its ISO 4217 code, in any letter case.
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] if the code is not in the crate's
    /// table (which also refuses XAU, XDR and XXX: they have no minor unit).
    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        let bytes = code.as_bytes();
        let unknown = || {
            let kept = ShortText::new(code);
            MoneyError::UnknownCurrency {
                code: CurrencyCode(kept, usize::from(kept.1) < code.len()),
            }
        };
        if bytes.len() != 3 {
            return Err(unknown());
        }
        let upper = [
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ];
        CURRENCY_TABLE
            .iter()
            .find(|(c, _)| c.as_bytes() == upper)
            .map(|&(_, exponent)| Currency {
                code: upper,
                exponent,
            })
            .ok_or_else(unknown)
    }

    /// The three-letter ISO 4217 code.
    pub fn code(&self) -> &str {
        // OK because codes are only ever built from ASCII table entries.
        std::str::from_utf8(&self.code).unwrap_or("???")
    }

    /// Number of decimal places of the minor unit (JPY 0, SAR 2, KWD 3).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// Minor units in one major unit (1, 100 or 1000).
    pub fn minor_per_major(&self) -> i64 {
        10i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Currency, MoneyError> {
        Currency::from_code(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::from_code(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money: integer minor units of one currency.
///
/// There is no `Add`, no `PartialOrd` and no float constructor: arithmetic
/// is checked and refuses mixed currencies and overflow.
///
/// # Example: a reward in riyals
/// ```
/// use referrals::{Currency, Money};
/// let reward = Money::parse("25.50", Currency::SAR)?;
/// assert_eq!(reward.minor(), 2550);
/// assert_eq!(reward.to_string(), "25.50 SAR");
/// let doubled = reward.checked_add(reward)?;
/// assert_eq!(doubled, Money::new(5100, Currency::SAR));
/// # Ok::<(), referrals::money::MoneyError>(())
/// ```
///
/// # Example: three decimals, and currencies never mix
/// ```
/// use referrals::{Currency, Money};
/// let kwd = Money::new(1_250, Currency::KWD);
/// assert_eq!(kwd.to_string(), "1.250 KWD");
/// assert!(kwd.checked_add(Money::new(1, Currency::SAR)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount in minor units (halalas for SAR, fils for KWD).
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Reads a decimal amount such as `"25"`, `"25.5"` or `"-1.250"`.
    ///
    /// At most the currency's exponent of decimals is accepted: `"1.234"` in
    /// SAR is an error, never silently rounded. Arabic-Indic digits and the
    /// Arabic decimal separator `٫` are accepted.
    ///
    /// # Errors
    /// [`MoneyError::InvalidAmount`] for anything else, and
    /// [`MoneyError::Overflow`] if it does not fit.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let invalid = |reason| MoneyError::InvalidAmount {
            text: ShortText::new(text),
            reason,
        };
        let overflow = MoneyError::Overflow {
            operation: "parse",
            currency,
        };
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        // In i128, so that the magnitude of i64::MIN (one more than
        // i64::MAX) can be built before the sign is applied.
        let mut major: i128 = 0;
        let mut minor: i128 = 0;
        let mut decimals: Option<u8> = None;
        let mut seen_digit = false;
        for c in digits.chars() {
            let d = match c {
                '0'..='9' => c as u32 - '0' as u32,
                '\u{0660}'..='\u{0669}' => c as u32 - 0x0660,
                '\u{06F0}'..='\u{06F9}' => c as u32 - 0x06F0,
                '.' | '\u{066B}' => {
                    if decimals.is_some() {
                        return Err(invalid("more than one decimal point"));
                    }
                    decimals = Some(0);
                    continue;
                }
                _ => return Err(invalid("only digits and one decimal point are allowed")),
            };
            seen_digit = true;
            match decimals.as_mut() {
                None => {
                    major = major
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(i128::from(d)))
                        .ok_or(overflow)?;
                }
                Some(n) => {
                    *n += 1;
                    if *n > currency.exponent {
                        return Err(invalid("more decimals than the currency has"));
                    }
                    minor = minor * 10 + i128::from(d);
                }
            }
        }
        if !seen_digit {
            return Err(invalid("no digits"));
        }
        let scale = u32::from(currency.exponent - decimals.unwrap_or(0));
        let minor = minor * 10i128.pow(scale);
        let total = major
            .checked_mul(i128::from(currency.minor_per_major()))
            .and_then(|m| m.checked_add(minor))
            .ok_or(overflow)?;
        let total = i64::try_from(if negative { -total } else { total }).map_err(|_| overflow)?;
        Ok(Money::new(total, currency))
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn same_currency(&self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    fn overflow(&self, operation: &'static str) -> MoneyError {
        MoneyError::Overflow {
            operation,
            currency: self.currency,
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or_else(|| self.overflow("add"))
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|m| Money::new(m, self.currency))
            .ok_or_else(|| self.overflow("subtract"))
    }

    /// `-self`.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] for `i64::MIN` minor units.
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.minor
            .checked_neg()
            .map(|m| Money::new(m, self.currency))
            .ok_or_else(|| self.overflow("negate"))
    }

    /// `self × n`.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn checked_mul(self, n: i64) -> Result<Money, MoneyError> {
        self.minor
            .checked_mul(n)
            .map(|m| Money::new(m, self.currency))
            .ok_or_else(|| self.overflow("multiply"))
    }

    /// A percentage in basis points (1 bp = 0.01 %, 10 000 bp = 100 %),
    /// rounded half away from zero to the minor unit.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] if the result does not fit.
    ///
    /// # Example: 12.5 % of 9.99 SAR
    /// ```
    /// use referrals::{Currency, Money};
    /// let price = Money::new(999, Currency::SAR);
    /// assert_eq!(price.checked_mul_bps(1250)?.minor(), 125); // 124.875 -> 125
    /// # Ok::<(), referrals::money::MoneyError>(())
    /// ```
    pub fn checked_mul_bps(self, bps: u32) -> Result<Money, MoneyError> {
        self.checked_mul_ratio(u64::from(bps), 10_000)
    }

    /// `self × numerator / denominator`, rounded half away from zero.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] if the result does not fit or the
    /// denominator is zero.
    pub fn checked_mul_ratio(self, numerator: u64, denominator: u64) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(self.overflow("divide by zero"));
        }
        let product = i128::from(self.minor) * i128::from(numerator);
        let d = i128::from(denominator);
        let (q, r) = (product / d, product % d);
        // Round half away from zero: |r| * 2 >= d moves one step outwards.
        let rounded = if r.abs() * 2 >= d {
            q + product.signum()
        } else {
            q
        };
        i64::try_from(rounded)
            .map(|m| Money::new(m, self.currency))
            .map_err(|_| self.overflow("multiply by ratio"))
    }

    /// `self × numerator / denominator`, rounded towards zero: never more
    /// than the exact share. Used where a share must not exceed its bound,
    /// such as a partial clawback.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] if the denominator is zero or the result does
    /// not fit.
    pub fn checked_mul_ratio_floor(
        self,
        numerator: u64,
        denominator: u64,
    ) -> Result<Money, MoneyError> {
        if denominator == 0 {
            return Err(self.overflow("divide by zero"));
        }
        let product = i128::from(self.minor) * i128::from(numerator);
        i64::try_from(product / i128::from(denominator))
            .map(|m| Money::new(m, self.currency))
            .map_err(|_| self.overflow("multiply by ratio"))
    }

    /// Compares two amounts of the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn compare(&self, other: &Money) -> Result<Ordering, MoneyError> {
        self.same_currency(*other)?;
        Ok(self.minor.cmp(&other.minor))
    }

    /// Splits the amount in proportion to `weights`, exactly: the parts add
    /// up to `self` to the minor unit.
    ///
    /// Largest remainder method with `i128` intermediates: each part first
    /// gets the floor of its exact share; the minor units left over go one
    /// each to the parts with the largest remainders, ties to the lower
    /// index. A negative amount is split as its magnitude and negated, so a
    /// clawback splits the same way its reward did. A zero weight gets zero.
    ///
    /// # Errors
    /// [`MoneyError::ZeroWeights`] if `weights` is empty or sums to zero.
    ///
    /// # Example: 100 halalas in three equal parts
    /// ```
    /// use referrals::{Currency, Money};
    /// let parts = Money::new(100, Currency::SAR).allocate(&[1, 1, 1])?;
    /// let minors: Vec<i64> = parts.iter().map(|m| m.minor()).collect();
    /// assert_eq!(minors, [34, 33, 33]);
    /// # Ok::<(), referrals::money::MoneyError>(())
    /// ```
    ///
    /// # Example: a three-decimal currency, 40/20/40
    /// ```
    /// use referrals::{Currency, Money};
    /// let parts = Money::new(1_001, Currency::KWD).allocate(&[40, 20, 40])?;
    /// let minors: Vec<i64> = parts.iter().map(|m| m.minor()).collect();
    /// assert_eq!(minors, [401, 200, 400]);
    /// # Ok::<(), referrals::money::MoneyError>(())
    /// ```
    pub fn allocate(&self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total_weight: u128 = weights.iter().map(|&w| u128::from(w)).sum();
        if total_weight == 0 {
            return Err(MoneyError::ZeroWeights { amount: *self });
        }
        let magnitude = u128::from(self.minor.unsigned_abs());
        let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
        let mut given: u128 = 0;
        for (i, &w) in weights.iter().enumerate() {
            // magnitude < 2^64 and w < 2^64, so the product fits in u128.
            let exact = magnitude * u128::from(w);
            let part = exact / total_weight;
            given += part;
            parts.push(part);
            remainders.push((exact % total_weight, i));
        }
        let mut left = magnitude - given;
        // Largest remainder first; equal remainders go to the lower index.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(remainder, i) in &remainders {
            if left == 0 {
                break;
            }
            if remainder > 0 {
                parts[i] += 1;
                left -= 1;
            }
        }
        let negative = self.minor < 0;
        Ok(parts
            .into_iter()
            .map(|p| {
                // Each part is at most `magnitude`, which came from an i64.
                let p = p as i128;
                let signed = if negative { -p } else { p };
                Money::new(signed as i64, self.currency)
            })
            .collect())
    }
}

impl fmt::Display for Money {
    /// `"25.50 SAR"`, `"1.250 KWD"`, `"500 JPY"`: the decimal amount with
    /// exactly the currency's exponent of decimals, then the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            write!(f, "{sign}{abs} {}", self.currency)
        } else {
            let per = 10u64.pow(exp);
            write!(
                f,
                "{sign}{}.{:0width$} {}",
                abs / per,
                abs % per,
                self.currency,
                width = exp as usize
            )
        }
    }
}

#[cfg(test)]
mod tests {
    /// `Display` and `parse` round-trip at the extremes: the magnitude of
    /// `i64::MIN` does not fit an `i64`, but the amount does.
    #[test]
    fn parse_reads_back_the_extremes() {
        for currency in [Currency::USD, Currency::JPY, Currency::KWD] {
            for minor in [i64::MIN, i64::MIN + 1, i64::MAX] {
                let money = Money::new(minor, currency);
                let shown = money.to_string();
                let number = shown.split(' ').next().unwrap();
                assert_eq!(Money::parse(number, currency), Ok(money), "{shown}");
            }
        }
        assert!(matches!(
            Money::parse("-92233720368547758.09", Currency::USD),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(matches!(
            Money::parse("92233720368547758.08", Currency::USD),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(matches!(
            Money::parse("99999999999999999999999999999999999999999", Currency::JPY),
            Err(MoneyError::Overflow { .. })
        ));
    }

    /// An unknown currency's error quotes what was given, whole or cut on a
    /// character with `…`.
    #[test]
    fn unknown_currency_errors_quote_the_input() {
        let msg = |code: &str| Currency::from_code(code).unwrap_err().to_string();
        assert_eq!(msg("SARR"), r#"unknown currency code "SARR""#);
        assert_eq!(msg("ريال"), r#"unknown currency code "ريال""#);
        assert_eq!(msg(""), r#"unknown currency code """#);
        let long = "ر".repeat(20);
        let shown = msg(&long);
        assert!(
            shown.ends_with("\"…") && !shown.contains('\u{FFFD}'),
            "{shown}"
        );
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currency_table_pins_exponents() {
        for (code, exp) in [
            ("JPY", 0),
            ("USD", 2),
            ("EUR", 2),
            ("SAR", 2),
            ("AED", 2),
            ("EGP", 2),
            ("KWD", 3),
            ("BHD", 3),
            ("OMR", 3),
            ("JOD", 3),
            ("TND", 3),
        ] {
            assert_eq!(Currency::from_code(code).unwrap().exponent(), exp, "{code}");
        }
        for bad in ["XAU", "XDR", "XXX", "", "SA", "SARR", "€"] {
            assert!(Currency::from_code(bad).is_err(), "{bad}");
        }
        // Every constant agrees with the table.
        for c in [
            Currency::SAR,
            Currency::AED,
            Currency::EGP,
            Currency::KWD,
            Currency::BHD,
            Currency::OMR,
            Currency::JOD,
            Currency::TND,
            Currency::QAR,
            Currency::USD,
            Currency::EUR,
            Currency::GBP,
            Currency::JPY,
        ] {
            assert_eq!(Currency::from_code(c.code()).unwrap(), c);
        }
    }

    #[test]
    fn table_has_no_duplicates() {
        let mut codes: Vec<&str> = CURRENCY_TABLE.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn display_uses_the_exponent() {
        assert_eq!(Money::new(500, Currency::JPY).to_string(), "500 JPY");
        assert_eq!(Money::new(-5, Currency::SAR).to_string(), "-0.05 SAR");
        assert_eq!(Money::new(1_005, Currency::BHD).to_string(), "1.005 BHD");
    }

    #[test]
    fn parse_is_exact_and_strict() {
        let sar = Currency::SAR;
        assert_eq!(Money::parse("25", sar).unwrap().minor(), 2500);
        assert_eq!(Money::parse("25.5", sar).unwrap().minor(), 2550);
        assert_eq!(Money::parse("-0.05", sar).unwrap().minor(), -5);
        assert_eq!(Money::parse("٢٥٫٥٠", sar).unwrap().minor(), 2550);
        assert_eq!(Money::parse("1.250", Currency::KWD).unwrap().minor(), 1250);
        assert_eq!(Money::parse("7", Currency::JPY).unwrap().minor(), 7);
        assert!(Money::parse("1.234", sar).is_err());
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        assert!(Money::parse("1.2.3", sar).is_err());
        assert!(Money::parse("", sar).is_err());
        assert!(Money::parse("abc", sar).is_err());
        assert!(matches!(
            Money::parse("99999999999999999999", sar),
            Err(MoneyError::Overflow { .. })
        ));
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let sar = Money::new(1, Currency::SAR);
        let aed = Money::new(1, Currency::AED);
        let err = sar.checked_add(aed).unwrap_err();
        assert_eq!(err.to_string(), "currency mismatch: SAR and AED");
        assert!(sar.compare(&aed).is_err());
        let max = Money::new(i64::MAX, Currency::SAR);
        assert!(matches!(
            max.checked_add(sar),
            Err(MoneyError::Overflow { .. })
        ));
        assert!(Money::new(i64::MIN, Currency::SAR).checked_neg().is_err());
        assert!(max.checked_mul(2).is_err());
    }

    #[test]
    fn bps_rounds_half_away_from_zero() {
        let m = Money::new(999, Currency::SAR);
        assert_eq!(m.checked_mul_bps(1250).unwrap().minor(), 125);
        assert_eq!(m.checked_mul_bps(0).unwrap().minor(), 0);
        assert_eq!(m.checked_mul_bps(10_000).unwrap().minor(), 999);
        assert_eq!(
            Money::new(-999, Currency::SAR)
                .checked_mul_bps(1250)
                .unwrap()
                .minor(),
            -125
        );
        assert_eq!(
            Money::new(5, Currency::SAR)
                .checked_mul_bps(5000)
                .unwrap()
                .minor(),
            3
        );
        assert_eq!(
            Money::new(5, Currency::SAR)
                .checked_mul_ratio_floor(1, 2)
                .unwrap()
                .minor(),
            2
        );
    }

    #[test]
    fn allocate_edge_cases() {
        let m = Money::new(10, Currency::SAR);
        assert!(matches!(
            m.allocate(&[]),
            Err(MoneyError::ZeroWeights { .. })
        ));
        assert!(m.allocate(&[0, 0]).is_err());
        let minors = |v: Vec<Money>| v.iter().map(|m| m.minor()).collect::<Vec<_>>();
        assert_eq!(minors(m.allocate(&[0, 1]).unwrap()), [0, 10]);
        assert_eq!(
            minors(
                Money::new(-100, Currency::SAR)
                    .allocate(&[1, 1, 1])
                    .unwrap()
            ),
            [-34, -33, -33]
        );
        assert_eq!(
            minors(
                Money::new(i64::MAX, Currency::SAR)
                    .allocate(&[u64::MAX, u64::MAX])
                    .unwrap()
            ),
            [i64::MAX / 2 + 1, i64::MAX / 2]
        );
        assert_eq!(
            minors(Money::new(i64::MIN, Currency::SAR).allocate(&[1]).unwrap()),
            [i64::MIN]
        );
    }

    #[test]
    fn money_json_round_trip() {
        let m = Money::new(1250, Currency::KWD);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"minor":1250,"currency":"KWD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#"{"minor":1,"currency":"XAU"}"#).is_err());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        (0..CURRENCY_TABLE.len()).prop_map(|i| Currency::from_code(CURRENCY_TABLE[i].0).unwrap())
    }

    proptest! {
        #[test]
        fn allocation_sum_equals_original(
            minor in any::<i64>(),
            weights in prop::collection::vec(any::<u64>(), 1..12),
            currency in any_currency(),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let m = Money::new(minor, currency);
            let parts = m.allocate(&weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            let sum: i128 = parts.iter().map(|p| i128::from(p.minor())).sum();
            prop_assert_eq!(sum, i128::from(minor));
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert_eq!(p.currency(), currency);
                if *w == 0 { prop_assert_eq!(p.minor(), 0); }
                // Every part is within one minor unit of its exact share.
                let exact = i128::from(minor) * i128::from(*w);
                let total: i128 = weights.iter().map(|&w| i128::from(w)).sum();
                let diff = i128::from(p.minor()) * total - exact;
                prop_assert!(diff.abs() < total, "part {} too far from exact share", p.minor());
            }
        }

        #[test]
        fn allocation_is_deterministic(
            minor in -1_000_000i64..1_000_000,
            weights in prop::collection::vec(0u64..1000, 1..8),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let m = Money::new(minor, Currency::SAR);
            prop_assert_eq!(m.allocate(&weights).unwrap(), m.allocate(&weights).unwrap());
        }

        #[test]
        fn allocation_works_for_three_decimal_currency(
            minor in 0i64..10_000_000,
            weights in prop::collection::vec(1u64..100, 1..6),
        ) {
            let m = Money::new(minor, Currency::KWD);
            let parts = m.allocate(&weights).unwrap();
            prop_assert_eq!(parts.iter().map(|p| p.minor()).sum::<i64>(), minor);
        }

        #[test]
        fn parse_round_trips_display(minor in any::<i64>().prop_filter("neg", |m| *m != i64::MIN), currency in any_currency()) {
            let m = Money::new(minor, currency);
            let text = m.to_string();
            let number = text.split(' ').next().unwrap();
            prop_assert_eq!(Money::parse(number, currency).unwrap(), m);
        }

        #[test]
        fn parse_never_panics(text in ".{0,40}") {
            let _ = Money::parse(&text, Currency::SAR);
        }
    }
}
