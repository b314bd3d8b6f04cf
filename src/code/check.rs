//! The check character: Damm's algorithm over a quasigroup of order 32.
//!
//! A generated code ends in one check symbol from the same 32-symbol
//! alphabet. It catches every single-symbol typo and every swap of two
//! adjacent symbols, the two mistakes people make most when copying a code,
//! so a typo is reported as a typo instead of silently attributing a signup
//! to nobody (or to someone else).
//!
//! # Construction
//!
//! Symbol values are the elements of GF(32) = GF(2)\[x\] / (x⁵ + x² + 1),
//! written as 5-bit numbers (bit *i* is the coefficient of xⁱ); addition is
//! XOR (`⊕`). Let `a = x` (the number 2), so `a ∉ {0, 1}`. The operation
//!
//! ```text
//! s ∘ d = a·s ⊕ d
//! ```
//!
//! is a totally anti-symmetric quasigroup, and Damm's algorithm runs it over
//! the symbols: the interim starts at 0 and each symbol value `d` makes it
//! `interim ∘ d`. The check symbol `c` is the one that brings the final interim
//! to 0: from `a·interim ⊕ c = 0` follows `c = a·interim`. A code is valid
//! when the interim over all its symbols, check symbol included, ends at 0.
//!
//! The 32×32 table of `∘` is computed at compile time by a `const fn`.
//!
//! # Why it catches what it claims (proof sketch)
//!
//! * **Quasigroup (every row and column is a permutation).** For a fixed `s`,
//!   `d ↦ a·s ⊕ d` is XOR with a constant, a bijection. For a fixed `d`,
//!   `s ↦ a·s ⊕ d` is a bijection because `a ≠ 0` is invertible in a field.
//! * **Single substitutions.** If one symbol `x` becomes `y ≠ x`, the interim
//!   right after it differs (rows are permutations), and every later step
//!   `s ↦ s ∘ d` is a bijection, so the final interim differs from the
//!   correct one, 0.
//! * **Adjacent transpositions.** Suppose `(s∘x)∘y = (s∘y)∘x`. Expanding,
//!   `a²s ⊕ a·x ⊕ y = a²s ⊕ a·y ⊕ x`, so `(a ⊕ 1)(x ⊕ y) = 0`. A field has no
//!   zero divisors and `a ≠ 1`, so `x ⊕ y = 0`, i.e. `x = y`: swapping two
//!   *different* adjacent symbols always changes the interim, and (as above)
//!   the final one.
//!
//! Unrolled, the check is the linear condition `Σ aⁿ⁻¹⁻ⁱ·dᵢ = 0`, and `a`
//! has multiplicative order 31 (31 is prime), so as a bonus twin errors
//! (`xx → yy`) and transpositions of symbols up to 30 places apart are caught
//! too. What no single check symbol can do is say *where* the typo is:
//! every position has exactly one substitution that makes the code valid
//! again, which is why [`CodeParseError::suggestions`] should be filtered
//! against the codes that actually exist.
//!
//! The unit tests check all of this exhaustively over the 32×32 table.
//!
//! [`CodeParseError::suggestions`]: crate::code::CodeParseError::suggestions
//!
//! # Example: computing and validating a check symbol
//! ```
//! use referrals::code::check::{check_symbol, is_valid};
//! let body = b"7K3MQ9XD";
//! let c = check_symbol(body);
//! let mut code = body.to_vec();
//! code.push(c);
//! assert!(is_valid(&code));
//! code.swap(2, 3); // a typist swapped "3M" into "M3"
//! assert!(!is_valid(&code));
//! ```

use subtle::ConstantTimeEq;

use super::alphabet::{SYMBOLS, raw_value};

/// The reduction polynomial x⁵ + x² + 1, with the x⁵ bit.
const POLY: u8 = 0b10_0101;

/// Multiplies a field element by `a = x`: a shift, reduced mod [`POLY`].
const fn mul_a(v: u8) -> u8 {
    let shifted = (v & 0x1F) << 1;
    if shifted & 0x20 != 0 {
        shifted ^ POLY
    } else {
        shifted
    }
}

const fn build_table() -> [[u8; 32]; 32] {
    let mut table = [[0u8; 32]; 32];
    let mut s = 0;
    while s < 32 {
        let mut d = 0;
        while d < 32 {
            table[s][d] = mul_a(s as u8) ^ d as u8;
            d += 1;
        }
        s += 1;
    }
    table
}

/// `TABLE[s][d] = s ∘ d = a·s ⊕ d`, the quasigroup operation.
pub(crate) const TABLE: [[u8; 32]; 32] = build_table();

/// The final interim over `symbols`, or `None` if one is not canonical.
#[inline]
fn interim(symbols: &[u8]) -> Option<u8> {
    let mut interim = 0u8;
    for &s in symbols {
        let d = raw_value(s);
        if d >= 32 {
            return None;
        }
        // `& 31` lets the compiler drop the bounds checks; both are < 32.
        interim = TABLE[(interim & 31) as usize][(d & 31) as usize];
    }
    Some(interim)
}

/// The check symbol (an ASCII byte of the alphabet) for canonical symbols.
///
/// Append it to `symbols` to get a code that [`is_valid`] accepts. The input
/// is meant to be canonical symbols (such as [`Code::as_bytes`]); to keep
/// the function total, a byte outside the alphabet is counted as value 0,
/// and [`is_valid`] rejects any input that holds one.
///
/// [`Code::as_bytes`]: crate::Code::as_bytes
///
/// # Example: a code body and its check symbol
/// ```
/// use referrals::code::check::check_symbol;
/// assert_eq!(check_symbol(b"7K3MQ9XD"), b'S');
/// // The prefix is part of what the check covers.
/// assert_ne!(check_symbol(b"BAKE7K3MQ9XD"), check_symbol(b"7K3MQ9XD"));
/// ```
///
/// # Example: an empty body
/// ```
/// use referrals::code::check::check_symbol;
/// assert_eq!(check_symbol(b""), b'0');
/// ```
pub fn check_symbol(symbols: &[u8]) -> u8 {
    let mut interim = 0u8;
    for &s in symbols {
        let d = raw_value(s);
        let d = if d >= 32 { 0 } else { d };
        interim = TABLE[(interim & 31) as usize][(d & 31) as usize];
    }
    SYMBOLS[(mul_a(interim) & 31) as usize]
}

/// Whether canonical `symbols` (check symbol last) pass the check.
///
/// The final comparison runs in constant time (`subtle`), so timing does not
/// tell how close a guess came. Empty input and any byte outside the
/// alphabet (lower case, `I`, a dash) are invalid: pass a [`Code`] or the
/// output of [`CodeFormat::parse`], not raw typing.
///
/// [`Code`]: crate::Code
/// [`CodeFormat::parse`]: crate::CodeFormat::parse
///
/// # Example: a typo is caught
/// ```
/// use referrals::code::check::is_valid;
/// assert!(is_valid(b"7K3MQ9XDS"));
/// assert!(!is_valid(b"7K3MQ9XBS")); // D typed as B
/// assert!(!is_valid(b"7K3MQ9DXS")); // XD swapped
/// ```
///
/// # Example: only canonical symbols
/// ```
/// use referrals::code::check::is_valid;
/// assert!(!is_valid(b"7k3mq9xds")); // parse first: it folds case
/// assert!(!is_valid(b""));
/// ```
pub fn is_valid(symbols: &[u8]) -> bool {
    if symbols.is_empty() {
        return false;
    }
    match interim(symbols) {
        Some(interim) => interim.ct_eq(&0).into(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(s: u8, d: u8) -> u8 {
        TABLE[s as usize][d as usize]
    }

    /// Reference multiplication in GF(32), independent of `mul_a`.
    fn gf_mul(mut x: u8, mut y: u8) -> u8 {
        let mut product = 0;
        while y != 0 {
            if y & 1 != 0 {
                product ^= x;
            }
            y >>= 1;
            x <<= 1;
            if x & 0x20 != 0 {
                x ^= POLY;
            }
        }
        product
    }

    #[test]
    fn table_is_a_times_s_xor_d_in_gf32() {
        for s in 0..32 {
            for d in 0..32 {
                assert_eq!(op(s, d), gf_mul(2, s) ^ d);
                assert!(op(s, d) < 32);
            }
        }
        // x^5 + x^2 + 1 is irreducible: every non-zero element has an inverse.
        for v in 1..32 {
            assert!((1..32).any(|w| gf_mul(v, w) == 1), "{v} has no inverse");
        }
    }

    #[test]
    fn every_row_and_column_is_a_permutation() {
        for s in 0..32u8 {
            let mut row = [false; 32];
            let mut column = [false; 32];
            for d in 0..32u8 {
                row[op(s, d) as usize] = true;
                column[op(d, s) as usize] = true;
            }
            assert!(row.iter().all(|&b| b), "row {s}");
            assert!(column.iter().all(|&b| b), "column {s}");
        }
    }

    #[test]
    fn every_single_substitution_is_detected_for_every_state() {
        for s in 0..32u8 {
            for x in 0..32u8 {
                for y in 0..32u8 {
                    if x != y {
                        assert_ne!(op(s, x), op(s, y), "s={s} x={x} y={y}");
                    }
                }
            }
        }
        // ... and a difference survives every later symbol: s ↦ s∘d is a
        // bijection for every d, so two different interims never merge.
        for d in 0..32u8 {
            for s in 0..32u8 {
                for t in 0..32u8 {
                    if s != t {
                        assert_ne!(op(s, d), op(t, d), "d={d} s={s} t={t}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_is_detected_for_every_state() {
        for s in 0..32u8 {
            for x in 0..32u8 {
                for y in 0..32u8 {
                    if x != y {
                        assert_ne!(op(op(s, x), y), op(op(s, y), x), "s={s} x={x} y={y}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_twin_error_is_detected_for_every_state() {
        for s in 0..32u8 {
            for x in 0..32u8 {
                for y in 0..32u8 {
                    if x != y {
                        assert_ne!(op(op(s, x), x), op(op(s, y), y));
                    }
                }
            }
        }
    }

    fn code3(d0: u8, d1: u8) -> [u8; 3] {
        let body = [SYMBOLS[d0 as usize], SYMBOLS[d1 as usize]];
        [body[0], body[1], check_symbol(&body)]
    }

    #[test]
    fn brute_force_all_three_symbol_codes() {
        for d0 in 0..32 {
            for d1 in 0..32 {
                let code = code3(d0, d1);
                assert!(is_valid(&code), "{code:?}");
                for position in 0..3 {
                    for &other in SYMBOLS {
                        if other == code[position] {
                            continue;
                        }
                        let mut typo = code;
                        typo[position] = other;
                        assert!(!is_valid(&typo), "substitution {typo:?} of {code:?}");
                    }
                }
                for position in 0..2 {
                    if code[position] == code[position + 1] {
                        continue;
                    }
                    let mut swapped = code;
                    swapped.swap(position, position + 1);
                    assert!(!is_valid(&swapped), "swap {swapped:?} of {code:?}");
                }
            }
        }
    }

    #[test]
    fn transpositions_up_to_thirty_apart_are_detected() {
        // The bonus claimed in the module docs: a has order 31.
        let mut power = 1u8;
        for k in 1..=31 {
            power = gf_mul(power, 2);
            assert_eq!(power == 1, k == 31, "a^{k}");
        }
        let body: Vec<u8> = (0..31).map(|i| SYMBOLS[(i * 7 + 3) % 32]).collect();
        let mut code = body.clone();
        code.push(check_symbol(&body));
        for i in 0..code.len() {
            for j in i + 1..code.len() {
                if code[i] != code[j] {
                    let mut swapped = code.clone();
                    swapped.swap(i, j);
                    assert_eq!(is_valid(&swapped), j - i == 31, "swap {i} {j}");
                }
            }
        }
    }

    #[test]
    fn golden_check_symbols_do_not_change() {
        // Codes already handed out depend on these: changing the field, the
        // multiplier or the symbol order would invalidate every one of them.
        assert_eq!(check_symbol(b""), b'0');
        assert_eq!(check_symbol(b"0"), b'0');
        assert_eq!(check_symbol(b"1"), b'2');
        assert_eq!(check_symbol(b"G"), b'5');
        assert_eq!(check_symbol(b"7K3MQ9XD"), b'S');
        assert_eq!(check_symbol(b"BAKE7K3MQ9XD"), b'M');
    }

    #[test]
    fn non_canonical_input_is_never_valid() {
        assert!(!is_valid(b""));
        assert!(is_valid(b"0"));
        assert!(!is_valid(b"o"));
        assert!(!is_valid(b"7K3MQ9XDS-"));
        assert!(!is_valid("7K3MQ9XD٤".as_bytes()));
        assert_eq!(check_symbol(b"1U"), check_symbol(b"10"));
    }
}
