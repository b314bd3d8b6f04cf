//! Unit tests of the readers' parts: numbers, scans, tables.

use proptest::prelude::*;

use super::ReadOptions;
use super::number::{fast_decimal, is_plain_decimal, plain_decimal};
use super::scan::{Stops, is_stop, next_stop};
use crate::attribution::channel::ReadError;
/// `fast_decimal` over the whole of `bytes`, the reference.
fn whole_decimal(bytes: &[u8]) -> Option<(u64, u32)> {
    match fast_decimal(bytes, 0) {
        Some((d, end)) if end == bytes.len() => Some((d.mantissa, d.decimals)),
        _ => None,
    }
}

fn decimal_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            6 => b'0'..=b'9',
            2 => Just(b'.'),
            1 => Just(b' '),
            1 => any::<u8>(),
        ],
        0..24,
    )
}

proptest! {
    /// The branch-free decimal reads exactly what the byte loop reads,
    /// wherever the token sits in the block (the last 8 bytes load
    /// bytewise).
    #[test]
    fn plain_decimal_agrees_with_the_byte_loop(
        token in decimal_bytes(),
        before in 0usize..4,
        after in proptest::collection::vec(any::<u8>(), 0..10),
    ) {
        let mut data = vec![b'x'; before];
        data.extend_from_slice(&token);
        data.extend_from_slice(&after);
        let got = plain_decimal(&data, before, before + token.len())
            .map(|d| (d.mantissa, d.decimals));
        prop_assert_eq!(got, whole_decimal(&token), "{:?}", String::from_utf8_lossy(&token));
        prop_assert_eq!(is_plain_decimal(&data, before, before + token.len()), got.is_some());
    }

    /// The stop bits, SIMD or not, mark exactly the stop bytes, and
    /// `next_stop` finds the first at or after any index.
    #[test]
    fn stops_mark_exactly_the_stop_bytes(
        data in proptest::collection::vec(
            prop_oneof![Just(b'>'), Just(b','), Just(b';'), Just(b'"'), Just(b'\n'), any::<u8>()],
            0..300,
        ),
        sep in prop_oneof![Just(b','), Just(b';')],
    ) {
        let mut stops = Stops::default();
        stops.mark(&data, sep);
        for i in 0..=data.len() {
            let want = data[i..].iter().position(|&b| is_stop(b, sep)).map(|k| i + k);
            prop_assert_eq!(next_stop(&stops.all, i), want);
            let want_field = data[i..]
                .iter()
                .position(|&b| b == sep || b == b'"' || b == b'\n')
                .map(|k| i + k);
            prop_assert_eq!(next_stop(&stops.fields, i), want_field);
        }
    }
}

#[test]
fn plain_decimals_of_every_shape() {
    for (text, want) in [
        ("0", Some((0, 0))),
        ("12.5", Some((125, 1))),
        ("5.", Some((5, 0))),
        (".5", Some((5, 1))),
        ("12345678", Some((12_345_678, 0))),
        ("1234.5678", Some((12_345_678, 4))),
        ("99999999", Some((99_999_999, 0))),
        (".", None),
        ("1.2.3", None),
        ("1 2", None),
        ("-1", None),
        ("1e3", None),
        ("", None),
    ] {
        let mut data = text.as_bytes().to_vec();
        data.extend_from_slice(b",xxxxxxxx");
        let got = plain_decimal(&data, 0, text.len()).map(|d| (d.mantissa, d.decimals));
        assert_eq!(got, want, "{text:?}");
    }
}

/// A memoized path is only reused for the same bytes ending at a comma:
/// the same letters before a quote or a line end go the general way.
#[test]
fn the_path_memo_never_answers_for_other_fields() {
    let data = "journey_id,path,hours,converted,value\n\
                1,sms > email,2 > 1,1,10\n\
                2,sms > email\"x\",2 > 1,1,10\n";
    let err = super::read(data.as_bytes(), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, ReadError::Line { line: 3, .. }), "{err:?}");
    let data = "journey_id,path,hours,converted,value\n\
                1,sms > email,2 > 1,1,10\n\
                2, sms > email ,2 > 1,0,0\n\
                3,sms>email,2>1,1,5\n";
    let set = super::read(data.as_bytes(), &ReadOptions::default()).unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!((set.total_conversions(), set.total_nulls()), (2, 1));
    assert_eq!(set.total_value(), 15.0);
}
