//! [`ExactSum`]: plain decimal values summed exactly, so that totals do not
//! depend on line order or threads.

/// An exact sum of plain decimals (`mantissa / 10^decimals`, at most 19
/// digits in all), in units of 10^-19 over 160 bits: no order of additions
/// changes it, and it holds 2^33 terms of the largest size (about 10^10
/// lines of 19-digit integers near 10^19; of values below 9·10^15, 2^43;
/// of cents below a million, 2^77). Readers
/// sum values this way so that results do not depend on how lines are
/// shared among threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExactSum {
    /// The low 128 bits as two words (8-byte aligned: 24 bytes in all).
    lo: [u64; 2],
    hi: u32,
    /// The most decimals of any term.
    scale: u8,
}

/// `10^i` for `i` in `0..=19`, as `u64`.
const POW10_U64: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

impl ExactSum {
    /// Adds `mantissa / 10^decimals` (`decimals` ≤ 19; the term,
    /// `mantissa · 10^(19 - decimals)`, below 2^128: at most 19 digits).
    #[inline]
    pub(crate) fn add(&mut self, mantissa: u64, decimals: u32) {
        let d = decimals.min(19) as usize;
        let units = u128::from(mantissa) * u128::from(POW10_U64[19 - d]);
        self.add_units(units, 0);
        self.scale = self.scale.max(d as u8);
    }

    pub(crate) fn merge(&mut self, other: &ExactSum) {
        self.add_units(other.low(), other.hi);
        self.scale = self.scale.max(other.scale);
    }

    fn low(&self) -> u128 {
        u128::from(self.lo[0]) | u128::from(self.lo[1]) << 64
    }

    /// Adds `hi · 2^128 + lo` units (a term is below 2^117: a mantissa
    /// below 2^53 times at most 10^19).
    #[inline]
    fn add_units(&mut self, lo: u128, hi: u32) {
        let (sum, carry) = self.low().overflowing_add(lo);
        self.lo = [sum as u64, (sum >> 64) as u64];
        self.hi = self.hi.wrapping_add(hi).wrapping_add(u32::from(carry));
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.lo == [0, 0] && self.hi == 0
    }

    /// The sum as `f64`, correctly rounded (as `str::parse` rounds the
    /// sum written out): one division of two exact numbers when the sum,
    /// written without trailing zero decimals, has fewer than 2^53 units
    /// of its last decimal, else an exact integer division with a sticky
    /// bit. A function of the sum's value alone, never of how its terms
    /// were spelled or grouped (`0.000` adds nothing, and changes
    /// nothing).
    pub(crate) fn to_f64(self) -> f64 {
        let lo = self.low();
        if self.hi == 0 {
            // `scale` bounds the decimals the sum needs: every term is a
            // multiple of 10^-scale. Usually that is few enough; else drop
            // the sum's trailing zero decimals (terms such as `0.500000`).
            let mut scale = usize::from(self.scale);
            let mut n = lo / u128::from(POW10_U64[19 - scale]);
            while n >= 1 << 53 && scale > 0 && n % 10 == 0 {
                n /= 10;
                scale -= 1;
            }
            if n < 1 << 53 {
                return n as f64 / POW10_U64[scale] as f64;
            }
        }
        self.to_f64_wide()
    }

    /// The sum as `f64`, correctly rounded, for any sum (of at least 2^53
    /// units: the quotient below then keeps 55 bits or more). The value
    /// is `N / 10^19`; `Q = ⌊N · 2^66 / 10^19⌋` with a sticky bit for the
    /// remainder, `2Q + sticky` converted to `f64` (one rounding, to
    /// nearest even: the sticky bit can never sit on a halfway point),
    /// then scaled by `2^-67` exactly. (Converting `N` to `f64` and then
    /// dividing rounded twice: 10,000 × `999999999999999.9` came out one
    /// ulp off.)
    fn to_f64_wide(self) -> f64 {
        let lo = self.low();
        let (l0, l1, l2) = (lo as u64, (lo >> 64) as u64, u64::from(self.hi));
        // N · 2^66 in four 64-bit limbs, most significant first (the top
        // one is 0: N < 2^160).
        let limbs = [
            (l2 << 2) | (l1 >> 62),
            (l1 << 2) | (l0 >> 62),
            l0 << 2,
            0u64,
        ];
        let d = u128::from(POW10_U64[19]);
        let mut rem = 0u128;
        let mut q = [0u64; 4];
        for (q, &limb) in q.iter_mut().zip(&limbs) {
            let cur = (rem << 64) | u128::from(limb);
            *q = (cur / d) as u64;
            rem = cur % d;
        }
        let q_hi = u128::from(q[0]) << 64 | u128::from(q[1]);
        let q_lo = u128::from(q[2]) << 64 | u128::from(q[3]);
        let y_hi = q_hi << 1 | q_lo >> 127;
        let y_lo = q_lo << 1 | u128::from(rem != 0);
        let (z, shift) = if y_hi == 0 {
            (y_lo, 0)
        } else {
            let s = 128 - y_hi.leading_zeros();
            let lost = y_lo & ((1u128 << s) - 1);
            (
                y_hi << (128 - s) | y_lo >> s | u128::from(lost != 0),
                s as i32,
            )
        };
        z as f64 * 2f64.powi(shift - 67)
    }
}
