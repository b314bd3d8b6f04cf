//! Numbers in fields: counts, plain decimals (exact, by SWAR where they
//! fit a word), values and hours as `f64`.

use crate::attribution::channel::error::snippet;
use crate::attribution::channel::{ExactSum, JourneyError, LineErrorKind};

/// Whether `data[start..end]` is a plain decimal, as [`plain_decimal`]
/// decides, without computing it.
#[inline(always)]
pub(super) fn is_plain_decimal(data: &[u8], start: usize, end: usize) -> bool {
    let len = end.wrapping_sub(start);
    if (1..=8).contains(&len) {
        if let Some(word) = data.get(start..start + 8) {
            if let Ok(word) = <[u8; 8]>::try_from(word) {
                return swar_decimal_shape(u64::from_le_bytes(word), len).is_some();
            }
        }
    }
    plain_decimal(data, start, end).is_some()
}

/// `data[start..end]` as a plain decimal (`digits[.digits]`, as
/// [`fast_decimal`] takes), all of it.
#[inline(always)]
pub(super) fn plain_decimal(data: &[u8], start: usize, end: usize) -> Option<Decimal> {
    let len = end.checked_sub(start)?;
    if len == 0 {
        return None;
    }
    if len <= 8 {
        if let Some(word) = data.get(start..start + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).ok()?);
            return swar_decimal(word, len);
        }
    }
    match fast_decimal(data.get(..end)?, start) {
        Some((d, stop)) if stop == end => Some(d),
        _ => None,
    }
}

/// The first `len` (1 to 8) bytes of `word` (little-endian, first byte
/// lowest) as a plain decimal: digits with at most one `.` and at least
/// one digit, with no branch per byte.
#[inline(always)]
pub(super) fn swar_decimal(word: u64, len: usize) -> Option<Decimal> {
    let (digits, n, decimals) = swar_decimal_shape(word, len)?;
    // Right-align (leading zero digits), then combine pairs, quads, eights.
    let v = digits << (8 * (8 - n));
    let v = (v * 10) + (v >> 8);
    let v = ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(Decimal {
        mantissa: v,
        decimals: decimals as u32,
    })
}

/// `LOW_BYTES[n]` keeps the low `n` bytes of a word (`n` ≤ 8).
pub(super) const LOW_BYTES: [u64; 9] = {
    let mut masks = [u64::MAX; 9];
    let mut n = 0;
    while n < 8 {
        masks[n] = (1u64 << (8 * n)) - 1;
        n += 1;
    }
    masks
};

/// The checks of [`swar_decimal`]: its digits (one per byte, the dot
/// removed, first digit lowest), their count (1 to 8) and the decimals.
#[inline(always)]
pub(super) fn swar_decimal_shape(word: u64, len: usize) -> Option<(u64, usize, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let keep = LOW_BYTES[len.min(8)];
    let d = (word & keep) ^ (0x30 * ONES);
    // High bit of each byte that is `.` (0x2E, so 0x1E after the xor).
    let t = d ^ (0x1E * ONES);
    let dots = !(((t & !HIGH) + !HIGH) | t) & HIGH & keep;
    // A byte is a digit iff it is below 10 after the xor; carries only
    // leave a byte that is already bad.
    let bad = ((d.wrapping_add(0x76 * ONES)) | d) & HIGH & keep & !dots;
    if bad != 0 || dots.count_ones() > 1 {
        return None;
    }
    let (digits, n, decimals) = if dots == 0 {
        (d & keep, len, 0)
    } else {
        let at = (dots.trailing_zeros() / 8) as usize;
        let below = (1u64 << (8 * at)) - 1;
        let digits = (d & below) | ((d & keep) >> 8 & !below);
        (digits, len - 1, len - 1 - at)
    };
    (n > 0).then_some((digits, n, decimals))
}

/// Digits at `data[i..]` followed by `;`: the count (checked against
/// `u64`) and the index after the `;`.
#[inline]
pub(super) fn fast_count(data: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let start = i;
    let mut n = 0u64;
    while let Some(&d) = data.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    (i > start && data.get(i) == Some(&b';')).then_some((n, i + 1))
}

/// A plain decimal as read: `mantissa / 10^decimals`, with a mantissa
/// below 2^53 and at most 19 digits, so the conversion is exact.
#[derive(Debug, Clone, Copy)]
pub(super) struct Decimal {
    pub(super) mantissa: u64,
    pub(super) decimals: u32,
}

impl Decimal {
    /// The value, by the same rule as [`parse_f64`]'s fast path: one
    /// correctly rounded division of two exact numbers.
    #[inline]
    pub(super) fn to_f64(self) -> f64 {
        if self.mantissa < 1 << 53 {
            return self.mantissa as f64 / POW10[self.decimals as usize];
        }
        // A wide value (16 to 19 digits, from `wide_decimal`): the exact
        // sum of one term, correctly rounded.
        let mut sum = ExactSum::default();
        sum.add(self.mantissa, self.decimals);
        sum.to_f64()
    }
}

/// An unsigned `digits[.digits]` of at most 19 digits in all, the whole of
/// `t`, whatever its mantissa (up to `10^19 - 1`): values that
/// [`fast_decimal`] leaves out for their 16 or more significant digits
/// (`999999999999999.9`) are still summed exactly.
pub(super) fn wide_decimal(t: &[u8]) -> Option<Decimal> {
    let (int, frac) = match t.iter().position(|&b| b == b'.') {
        Some(dot) => (&t[..dot], &t[dot + 1..]),
        None => (t, &t[t.len()..]),
    };
    let digits = int.len() + frac.len();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut mantissa = 0u64;
    for &d in int.iter().chain(frac) {
        if !d.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(d - b'0');
    }
    Some(Decimal {
        mantissa,
        decimals: frac.len() as u32,
    })
}

/// An unsigned `digits[.digits]` at `data[i..]` that [`parse_f64`]'s fast
/// path accepts, and the index after it.
#[inline]
pub(super) fn fast_decimal(data: &[u8], mut i: usize) -> Option<(Decimal, usize)> {
    let start = i;
    let mut mantissa = 0u64;
    while let Some(&d) = data.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    let mut count = i - start;
    let mut decimals = 0;
    if data.get(i) == Some(&b'.') {
        i += 1;
        let frac = i;
        while let Some(&d) = data.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            i += 1;
        }
        decimals = i - frac;
        count += decimals;
    }
    if count == 0 || count > 19 || mantissa >= 1 << 53 {
        return None;
    }
    let decimals = decimals as u32;
    Some((Decimal { mantissa, decimals }, i))
}

/// A finite `f64`.
pub(super) fn parse_value(field: &[u8], name: &'static str) -> Result<f64, LineErrorKind> {
    match parse_f64(field.trim_ascii()) {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(LineErrorKind::NotFinite {
            field: name,
            text: snippet(field),
        }),
        None => Err(LineErrorKind::BadNumber {
            field: name,
            text: snippet(field),
        }),
    }
}

/// A whole number ≥ 0 below 2^64: digits, or a number with no fractional
/// part such as `3.0`, `1.5e1` or `1e3`, read exactly (never through a
/// rounded `f64`).
pub(super) fn parse_count(field: &[u8], name: &'static str) -> Result<u64, LineErrorKind> {
    let t = field.trim_ascii();
    if !t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit) {
        return Ok(t.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    let text = || snippet(field);
    match exact_count(t) {
        Some(Ok(n)) => return Ok(n),
        Some(Err(ExactCount::Negative)) => {
            return Err(LineErrorKind::NegativeCount {
                field: name,
                text: text(),
            });
        }
        Some(Err(ExactCount::NotWhole)) => {
            return Err(LineErrorKind::NotWhole {
                field: name,
                text: text(),
            });
        }
        Some(Err(ExactCount::Overflow)) => return Err(JourneyError::CountOverflow.into()),
        None => {}
    }
    // Not decimal syntax: say why as a number would.
    match parse_f64(t) {
        Some(v) if !v.is_finite() => Err(LineErrorKind::NotFinite {
            field: name,
            text: text(),
        }),
        _ => Err(LineErrorKind::BadNumber {
            field: name,
            text: text(),
        }),
    }
}

/// Why a decimal is not a count (see [`exact_count`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExactCount {
    Negative,
    NotWhole,
    Overflow,
}

/// Reads `[+-]digits[.digits][(e|E)[+-]digits]` (at least one mantissa
/// digit) exactly as a whole number; `None` if `t` is not that syntax.
pub(super) fn exact_count(t: &[u8]) -> Option<Result<u64, ExactCount>> {
    let (negative, rest) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => (&rest[..e], Some(&rest[e + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    let all_digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    // The exponent, saturated far beyond any u64 (so `1e99999999999` is an
    // overflow, not a parse error).
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, digits) = match e.first() {
                Some(b'-') => (-1, &e[1..]),
                Some(b'+') => (1, &e[1..]),
                _ => (1, e),
            };
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            let magnitude = digits.iter().fold(0i64, |n, &d| {
                n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
            });
            sign * magnitude.min(1 << 40)
        }
    };
    // Significant digits (no leading zeros), and the power of ten they
    // are multiplied by.
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let Some(first) = digits.iter().position(|&d| d != b'0') else {
        return Some(Ok(0));
    };
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(first);
    let significant = &digits[first..=last];
    let power = exponent - frac.len() as i64 + (digits.len() - 1 - last) as i64;
    if negative {
        return Some(Err(ExactCount::Negative));
    }
    if power < 0 {
        return Some(Err(ExactCount::NotWhole));
    }
    let mut n = 0u64;
    for &d in significant {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
        {
            Some(n) => n,
            None => return Some(Err(ExactCount::Overflow)),
        };
    }
    for _ in 0..power {
        n = match n.checked_mul(10) {
            Some(n) => n,
            None => return Some(Err(ExactCount::Overflow)),
        };
    }
    Some(Ok(n))
}

/// Touch times `h1 > h2 > …` into `out`, each finite and ≥ 0.
pub(super) fn parse_hours(field: &[u8], out: &mut Vec<f64>) -> Result<(), LineErrorKind> {
    out.clear();
    for (i, token) in field.split(|&b| b == b'>').enumerate() {
        let Some(h) = parse_f64(token.trim_ascii()) else {
            return Err(LineErrorKind::BadHours {
                touch: i + 1,
                text: snippet(token),
            });
        };
        if !(h.is_finite() && h >= 0.0) {
            return Err(JourneyError::InvalidHours {
                touch: i + 1,
                hours: h,
            }
            .into());
        }
        out.push(h);
    }
    Ok(())
}

/// Powers of ten exactly representable in `f64`.
pub(super) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a decimal number, the same `f64` as `str::parse` (which it falls
/// back to) but faster on plain decimals.
///
/// Fast path (Clinger): `[+-]digits[.digits]` with a mantissa below 2^53
/// and at most 22 decimals is `mantissa / 10^decimals`, one correctly
/// rounded division of two exact numbers, hence the correctly rounded
/// value. Anything else (exponents, long mantissas, `inf`, errors) goes to
/// the standard parser.
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut mantissa = 0u64;
    let mut count = 0usize;
    let mut i = 0;
    while i < digits.len() && digits[i].is_ascii_digit() {
        mantissa = mantissa
            .wrapping_mul(10)
            .wrapping_add(u64::from(digits[i] - b'0'));
        i += 1;
    }
    count += i;
    let mut decimals = 0usize;
    if i < digits.len() && digits[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < digits.len() && digits[i].is_ascii_digit() {
            mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(digits[i] - b'0'));
            i += 1;
        }
        decimals = i - frac_start;
        count += decimals;
    }
    if i == digits.len() && count > 0 && count <= 19 && decimals <= 22 && mantissa < (1 << 53) {
        let v = mantissa as f64 / POW10[decimals];
        return Some(if negative { -v } else { v });
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}
