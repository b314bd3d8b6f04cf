//! Numbers: counts and values in every spelling, the fast float parser,
//! and exact sums of plain decimals.

use proptest::prelude::*;

use super::super::read::parse_f64;
use super::*;

/// Counts written with a fraction or an exponent are read exactly, not
/// through a rounded `f64` (2^53 + 1 stays 2^53 + 1).
#[test]
fn counts_in_decimal_or_exponent_form_are_exact() {
    for (text, want) in [
        ("9007199254740993.0", 9_007_199_254_740_993u64),
        ("9007199254740993e0", 9_007_199_254_740_993),
        ("18446744073709551615.000", u64::MAX),
        ("1844674407370955161.5e1", 18_446_744_073_709_551_615),
        ("1.5e1", 15),
        ("+7", 7),
        ("-0", 0),
        ("0.000e99999", 0),
        ("1.e3", 1000),
        (".5e1", 5),
    ] {
        let data = format!(
            "{PATHS_HEADER}a;{text};0;1
"
        );
        let set = read_str(&data).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(set.total_conversions(), want, "{text}");
    }
    let data = format!(
        "{PATHS_HEADER}a;2500E-2;3.0e0;1
"
    );
    let set = read_str(&data).unwrap();
    assert_eq!((set.total_conversions(), set.total_nulls()), (25, 3));
}

/// A value sum is a function of the values alone: a zero written with many
/// decimals, or a value with trailing zero decimals, changes nothing, on
/// any route (one or two threads, a path through the fast path or not,
/// spelled one way or two).
#[test]
fn value_sums_do_not_depend_on_how_values_or_paths_are_spelled() {
    let mut sum = ExactSum::default();
    sum.add(0, 18);
    sum.add(12_345_678, 2);
    assert_eq!(sum.to_f64(), 123_456.78);
    let mut sum = ExactSum::default();
    sum.add(500_000_000_000_000_000, 18); // 0.500000000000000000
    sum.add(12_345_678, 2);
    assert_eq!(sum.to_f64(), 123_457.28);

    let aggregated = format!(
        "{PATHS_HEADER}a;1;0;123456.78
a;1;0;0.000000000000000000
"
    );
    assert_eq!(read_str(&aggregated).unwrap().total_value(), 123_456.78);
    // 17 touches: never packable, so these go through the general tables.
    let tight = vec!["a"; 17].join(">");
    let spaced = vec!["a"; 17].join(" > ");
    let hours = vec!["1"; 17].join(">");
    for first in [&tight, &spaced] {
        let data = format!(
            "{JOURNEYS_HEADER}1,{first},{hours},1,0.000000000000000000
2,{tight},{hours},1,123456.78
"
        );
        for threads in [1, 2] {
            let options = ReadOptions::default()
                .with_threads(threads)
                .with_block_bytes(64);
            let set = read(data.as_bytes(), &options).unwrap();
            assert_eq!(set.total_value(), 123_456.78, "{threads} threads");
        }
    }
}

#[test]
fn fast_float_parser_matches_std_on_edge_cases() {
    for s in [
        "0",
        "-0",
        "1",
        "1.",
        ".5",
        "-.5",
        "+2.5",
        "0.1",
        "123.456",
        "9007199254740991",
        "9007199254740993",
        "0.30000000000000004",
        "1e3",
        "1E-3",
        "12345678901234567890",
        "0.0000000000000000000001",
        "inf",
        "-infinity",
        "NaN",
        "",
        ".",
        "-",
        "1.2.3",
        "1,5",
        " 1",
        "0x10",
    ] {
        let ours = parse_f64(s.as_bytes());
        let std = s.parse::<f64>().ok();
        assert_eq!(
            ours.map(f64::to_bits),
            std.map(f64::to_bits),
            "{s:?}: {ours:?} vs {std:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn fast_float_parser_matches_std(
        int in "[0-9]{0,20}",
        frac in proptest::option::of("[0-9]{0,25}"),
        sign in proptest::option::of("[+-]"),
        exp in proptest::option::of(-30i32..30),
    ) {
        let mut s = sign.unwrap_or_default() + &int;
        if let Some(f) = frac {
            s.push('.');
            s.push_str(&f);
        }
        if let Some(e) = exp {
            s.push_str(&format!("e{e}"));
        }
        let ours = parse_f64(s.as_bytes()).map(f64::to_bits);
        let std = s.parse::<f64>().ok().map(f64::to_bits);
        prop_assert_eq!(ours, std, "{}", s);
    }
}

#[test]
fn exact_sums_round_like_one_decimal_parse() {
    let mut sum = ExactSum::default();
    for (m, d) in [(1, 1), (2, 1)] {
        sum.add(m, d);
    }
    // 0.1 + 0.2 is 0.3 exactly, rounded once (an f64 sum gives 0.30000000000000004).
    assert_eq!(sum.to_f64(), 0.3);
    let mut mixed = ExactSum::default();
    mixed.add(1205, 2); // 12.05
    mixed.add(7, 0); // 7
    mixed.add(123_456_789, 6); // 123.456789
    assert_eq!(mixed.to_f64(), 142.506789);
    assert_eq!(ExactSum::default().to_f64(), 0.0);
    // Past 2^53 units at its scale: still close, and deterministic.
    let mut big = ExactSum::default();
    for _ in 0..1000 {
        big.add((1 << 53) - 1, 19);
        big.add((1 << 53) - 1, 0);
    }
    let want = 1000.0 * ((1u64 << 53) - 1) as f64 * (1.0 + 1e-19);
    assert!(
        (big.to_f64() - want).abs() <= want * 1e-15,
        "{}",
        big.to_f64()
    );
}

proptest! {
    /// An exact sum is the same whatever the order of its terms and however
    /// they are grouped (as threads group lines), and within an ulp of the
    /// true sum.
    #[test]
    fn exact_sums_ignore_order_and_grouping(
        terms in proptest::collection::vec((0u64..1 << 53, 0u32..=19), 0..40),
        split in 0usize..40,
    ) {
        let mut forward = ExactSum::default();
        for &(m, d) in &terms {
            forward.add(m, d);
        }
        let mut backward = ExactSum::default();
        for &(m, d) in terms.iter().rev() {
            backward.add(m, d);
        }
        let split = split.min(terms.len());
        let (mut left, mut right) = (ExactSum::default(), ExactSum::default());
        for &(m, d) in &terms[..split] {
            left.add(m, d);
        }
        for &(m, d) in &terms[split..] {
            right.add(m, d);
        }
        right.merge(&left);
        prop_assert_eq!(forward, backward);
        prop_assert_eq!(forward, right);
        let approx: f64 = terms.iter().map(|&(m, d)| m as f64 / 10f64.powi(d as i32)).sum();
        let got = forward.to_f64();
        prop_assert!((got - approx).abs() <= 1e-12 * approx.abs().max(1.0), "{} vs {}", got, approx);
    }

    /// The exact sum's `f64` is the sum written out and parsed: correctly
    /// rounded, however many digits it has (terms of up to 19 digits).
    #[test]
    fn exact_sums_round_correctly(
        terms in proptest::collection::vec((any::<u64>(), 0u32..=19), 1..40),
        repeat in 1usize..200,
    ) {
        let terms: Vec<(u64, u32)> = terms
            .into_iter()
            .map(|(m, d)| (m % 10_000_000_000_000_000_000, d))
            .collect();
        let mut sum = ExactSum::default();
        // The sum in units of 10^-19, as 64-bit limbs, least first.
        let mut limbs = [0u64; 4];
        for &(m, d) in &terms {
            for _ in 0..repeat {
                sum.add(m, d);
                let units = u128::from(m) * 10u128.pow(19 - d);
                let mut carry = 0u128;
                for (i, limb) in limbs.iter_mut().enumerate() {
                    let add = if i < 2 { (units >> (64 * i)) as u64 } else { 0 };
                    let t = u128::from(*limb) + u128::from(add) + carry;
                    *limb = t as u64;
                    carry = t >> 64;
                }
            }
        }
        // Written out in decimal (19 digits at a time), then parsed.
        let mut chunks = Vec::new();
        while limbs.iter().any(|&l| l != 0) {
            let mut rem = 0u128;
            for limb in limbs.iter_mut().rev() {
                let cur = rem << 64 | u128::from(*limb);
                *limb = (cur / 10u128.pow(19)) as u64;
                rem = cur % 10u128.pow(19);
            }
            chunks.push(rem as u64);
        }
        let fraction = chunks.first().copied().unwrap_or(0);
        let mut text: String = chunks.iter().skip(1).rev().map(|c| format!("{c:019}")).collect();
        if text.is_empty() {
            text.push('0');
        }
        let text = format!("{text}.{fraction:019}");
        prop_assert_eq!(sum.to_f64(), text.parse::<f64>().unwrap(), "{}", text);
    }
}

#[test]
fn values_of_sixteen_digits_are_summed_exactly() {
    // 10,000 × 999999999999999.9 is 9999999999999999000 exactly; it was
    // one ulp off (the value, 16 digits, was summed as f64 in file order).
    let exact: f64 = "9999999999999999000".parse().unwrap();
    let mut journeys = String::from(JOURNEYS_HEADER);
    let mut paths = String::from(PATHS_HEADER);
    for i in 0..10_000 {
        journeys.push_str(&format!("{i},a,1,1,999999999999999.9\n"));
        paths.push_str(&format!("p{};1;0;999999999999999.9\n", i % 7));
    }
    for data in [&journeys, &paths] {
        for threads in [1, 3] {
            let options = ReadOptions::default()
                .with_threads(threads)
                .with_block_bytes(4096);
            let set = read(data.as_bytes(), &options).unwrap();
            assert_eq!(set.total_value(), exact, "{threads} threads");
        }
    }
    // A single wide value reads as `str::parse` reads it.
    let set = read_str(&format!("{PATHS_HEADER}a;1;0;9999999999999999.99\n")).unwrap();
    assert_eq!(
        set.total_value(),
        "9999999999999999.99".parse::<f64>().unwrap()
    );
    // Plain decimals whose exact sum needs more than 2^53 units: rounded
    // once (it was twice: the sum's integer to f64, then divided).
    let mut many = String::from(PATHS_HEADER);
    for i in 0..10_000 {
        many.push_str(&format!("p{};1;0;900719925474.0993\n", i % 5));
    }
    let set = read_str(&many).unwrap();
    assert_eq!(
        set.total_value(),
        "9007199254740993".parse::<f64>().unwrap()
    );
}

/// Plain decimal values are summed exactly over the whole file, not only
/// within a path: the total is their sum rounded once, on every route.
#[test]
fn the_total_value_is_the_exact_sum_of_plain_decimals() {
    // 0.1 on one path, 0.2 on another: an f64 sum gives 0.30000000000000004.
    let paths = format!("{PATHS_HEADER}a;1;0;0.1\nb;1;0;0.2\n");
    assert_eq!(read_str(&paths).unwrap().total_value(), 0.3);
    let mut journeys = JOURNEYS_HEADER.to_owned();
    for i in 0..300 {
        // 300 paths of values with cents: their exact sum is 4501.50.
        let path = format!("c{} > d{}", i % 17, i % 5);
        journeys.push_str(&format!(
            "{i},{path},2 > 1,1,{}.{:02}\n",
            i / 20,
            (i * 7) % 100
        ));
    }
    let want: i64 = (0..300).map(|i| (i / 20) * 100 + (i * 7) % 100).sum();
    let want = want as f64 / 100.0;
    for threads in [1, 2] {
        for block_bytes in [64, 1 << 20] {
            let options = ReadOptions::default()
                .with_threads(threads)
                .with_block_bytes(block_bytes);
            let set = read(journeys.as_bytes(), &options).unwrap();
            assert_eq!(
                set.total_value(),
                want,
                "{threads} threads, {block_bytes}-byte blocks"
            );
        }
    }
    // A value that is not a plain decimal: the paths' f64 sum, as before.
    let mixed = format!("{PATHS_HEADER}a;1;0;1e-1\nb;1;0;0.2\n");
    assert_eq!(read_str(&mixed).unwrap().total_value(), 0.1 + 0.2);
}
