//! Bad lines and what the readers say of them: every line error with its
//! line, overflowing sums, refused channel names, and no panic on any input.

use proptest::prelude::*;

use super::*;

/// Each bad line, on line 3 after a good line 2, with the error it gives.
#[test]
fn every_line_error_names_its_line() {
    use JourneyError as J;
    use LineErrorKind as K;
    type Check = fn(&LineErrorKind) -> bool;
    let journeys: &[(&str, Check)] = &[
        ("1,a,1,1", |k| {
            matches!(
                k,
                K::FieldCount {
                    expected: 5,
                    found: 4,
                    ..
                }
            )
        }),
        ("1,a,1,1,2,3", |k| {
            matches!(
                k,
                K::FieldCount {
                    expected: 5,
                    found: 6,
                    ..
                }
            )
        }),
        ("1,a,1,1,12x", |k| {
            matches!(k, K::BadNumber { field: "value", .. })
        }),
        ("1,a,1,1,", |k| {
            matches!(k, K::BadNumber { field: "value", .. })
        }),
        ("1,a,1,1,inf", |k| {
            matches!(k, K::NotFinite { field: "value", .. })
        }),
        ("1,a,1,1,NaN", |k| {
            matches!(k, K::NotFinite { field: "value", .. })
        }),
        ("1,a,1,yes,1", |k| matches!(k, K::BadConverted { .. })),
        ("1,a > b,1 > x,1,1", |k| {
            matches!(k, K::BadHours { touch: 2, .. })
        }),
        ("1,a > b,1 > -2,1,1", |k| {
            matches!(k, K::Journey(J::InvalidHours { touch: 2, .. }))
        }),
        ("1,a > b,1,1,1", |k| {
            matches!(
                k,
                K::Journey(J::HoursMismatch {
                    touches: 2,
                    hours: 1
                })
            )
        }),
        ("1,,1,1,1", |k| matches!(k, K::Journey(J::EmptyPath))),
        ("1, ,1,1,1", |k| matches!(k, K::Journey(J::EmptyPath))),
        ("1,a > > b,1 > 1 > 1,1,1", |k| {
            matches!(k, K::Journey(J::EmptyChannel { touch: 2 }))
        }),
        ("1,a >,1 > 1,1,1", |k| {
            matches!(k, K::Journey(J::EmptyChannel { touch: 2 }))
        }),
        ("1,a\"b,1,1,1", |k| matches!(k, K::StrayQuote { field: 2 })),
        ("1,\"a,1,1,1", |k| {
            matches!(k, K::UnterminatedQuote { field: 2 })
        }),
        ("1,\"a\"x,1,1,1", |k| {
            matches!(k, K::TextAfterQuote { field: 2 })
        }),
    ];
    for (line, check) in journeys {
        let data = format!("{JOURNEYS_HEADER}1,a,1,0,0\n{line}\n2,a,1,1,1\n");
        for threads in [1, 2] {
            let options = ReadOptions::default().with_threads(threads);
            match read(data.as_bytes(), &options) {
                Err(ReadError::Line { line: 3, kind }) => {
                    assert!(check(&kind), "{line:?}: unexpected {kind:?}")
                }
                other => panic!("{line:?}: expected an error on line 3, got {other:?}"),
            }
        }
    }
    // Invalid UTF-8 in a name.
    let mut bytes = format!("{JOURNEYS_HEADER}1,a,1,0,0\n1,").into_bytes();
    bytes.extend_from_slice(b"\xff\xfe,1,1,1\n");
    match read(&bytes[..], &ReadOptions::default()) {
        Err(ReadError::Line {
            line: 3,
            kind: K::InvalidUtf8 { field: "path" },
        }) => {}
        other => panic!("{other:?}"),
    }

    let paths: &[(&str, Check)] = &[
        ("a;1;0", |k| {
            matches!(
                k,
                K::FieldCount {
                    expected: 4,
                    found: 3,
                    separator: ';'
                }
            )
        }),
        ("a;-1;0;0", |k| {
            matches!(
                k,
                K::NegativeCount {
                    field: "total_conversions",
                    ..
                }
            )
        }),
        ("a;1;-3;0", |k| {
            matches!(
                k,
                K::NegativeCount {
                    field: "total_null",
                    ..
                }
            )
        }),
        ("a;1.5;0;0", |k| matches!(k, K::NotWhole { .. })),
        ("a;1e-1;0;0", |k| matches!(k, K::NotWhole { .. })),
        ("a;0;12345678901234567.5;0", |k| {
            matches!(k, K::NotWhole { .. })
        }),
        ("a;-2.0;0;0", |k| matches!(k, K::NegativeCount { .. })),
        ("a;1.;0;e5", |k| matches!(k, K::BadNumber { .. })),
        ("a;1e;0;0", |k| matches!(k, K::BadNumber { .. })),
        ("a;.;0;0", |k| matches!(k, K::BadNumber { .. })),
        ("a;1e20;0;0", |k| matches!(k, K::Journey(J::CountOverflow))),
        ("a;1e99999999999999999999;0;0", |k| {
            matches!(k, K::Journey(J::CountOverflow))
        }),
        ("a;1;two;0", |k| matches!(k, K::BadNumber { .. })),
        ("a;1;inf;0", |k| matches!(k, K::NotFinite { .. })),
        ("a;99999999999999999999;0;0", |k| {
            matches!(k, K::Journey(J::CountOverflow))
        }),
        ("a;1;0;1e999", |k| {
            matches!(
                k,
                K::NotFinite {
                    field: "total_conversion_value",
                    ..
                }
            )
        }),
        (";1;0;0", |k| matches!(k, K::Journey(J::EmptyPath))),
    ];
    for (line, check) in paths {
        let data = format!("{PATHS_HEADER}a;1;0;1\n{line}\n");
        match read_str(&data) {
            Err(ReadError::Line { line: 3, kind }) => {
                assert!(check(&kind), "{line:?}: unexpected {kind:?}")
            }
            other => panic!("{line:?}: expected an error on line 3, got {other:?}"),
        }
    }
}

#[test]
fn aggregated_sums_that_overflow_name_their_line() {
    // One path's sum, with its line.
    let data = format!("{PATHS_HEADER}a;18446744073709551615;0;1\na;1;0;1\n");
    match read_str(&data) {
        Err(ReadError::Line {
            line: 3,
            kind: LineErrorKind::Journey(JourneyError::CountOverflow),
        }) => {}
        other => panic!("{other:?}"),
    }
    // The grand total across paths, found when blocks are merged.
    let data = format!("{PATHS_HEADER}a;18446744073709551615;0;1\nb;1;0;1\n");
    assert!(matches!(
        read_str(&data),
        Err(ReadError::Totals(JourneyError::CountOverflow))
    ));
}

#[test]
fn errors_after_many_blocks_keep_their_line_number() {
    let mut csv = String::from_utf8(synth::journeys_csv(300, 3)).unwrap();
    csv.push_str("301,a,1,maybe,0\n");
    for threads in [1, 2, 3] {
        let options = ReadOptions::default()
            .with_threads(threads)
            .with_block_bytes(97);
        let err = read(csv.as_bytes(), &options).unwrap_err();
        assert_eq!(err.line(), Some(302), "{err}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn readers_never_panic_on_arbitrary_bytes(
        body in prop::collection::vec(any::<u8>(), 0..300),
        header in 0usize..3,
        threads in 1usize..3,
        block_bytes in 1usize..64,
    ) {
        let mut data = [JOURNEYS_HEADER, PATHS_HEADER, ""][header].as_bytes().to_vec();
        data.extend_from_slice(&body);
        let options = ReadOptions::default().with_threads(threads).with_block_bytes(block_bytes);
        let _ = read(&data[..], &options);
    }

    #[test]
    fn readers_never_panic_on_near_miss_lines(
        edits in prop::collection::vec((0usize..60, prop::sample::select(&b"\",;>\r\n \t-.e0123456789xX\xd8\xa7\xff"[..]), 0u8..3), 1..6),
        paths in any::<bool>(),
    ) {
        let (header, line) = if paths {
            (PATHS_HEADER, "whatsapp > \"qr in store\";12;3;45.5\n")
        } else {
            (JOURNEYS_HEADER, "7,whatsapp > qr in store,30.5 > 2,1,120.25\n")
        };
        let mut bytes = line.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let at = at.min(bytes.len());
            match op {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => { bytes.remove(at); }
                _ if at < bytes.len() => bytes[at] = byte,
                _ => bytes.push(byte),
            }
        }
        let mut data = header.as_bytes().to_vec();
        data.extend_from_slice(&bytes);
        data.extend_from_slice(&bytes);
        let lines = data.split(|&b| b == b'\n').count() as u64;
        for threads in [1, 2] {
            let result = read(&data[..], &ReadOptions::default().with_threads(threads).with_block_bytes(16));
            if let Err(e) = &result {
                // Errors name a line of the input when they are about one.
                if let Some(line) = e.line() {
                    prop_assert!((1..=lines).contains(&line), "{}", e);
                }
            }
        }
    }
}

/// Fast aggregated lines are added one line late; an overflowing sum still
/// names its own line, whatever follows it (a fast line, a general line,
/// a bad line).
#[test]
fn aggregated_overflow_names_its_line_when_added_late() {
    let big = "18446744073709551615";
    let cases = [
        (format!("{PATHS_HEADER}a;{big};0;1\na;1;0;1\nb;1;0;1\n"), 3),
        (
            format!("{PATHS_HEADER}a;{big};0;1\na;1;0;1\n\"b\";1;0;1\n"),
            3,
        ),
        (format!("{PATHS_HEADER}a;{big};0;1\na;1;0;1\nb;x;0;1\n"), 3),
        (
            format!("{PATHS_HEADER}b;0;0;0\na;0;{big};1\na;0;1;1\nb;1;0;1\n"),
            4,
        ),
    ];
    for (data, line) in &cases {
        // (Lines in different blocks overflow in the merge instead.)
        for block in [1 << 16, 1 << 20] {
            let options = ReadOptions::default().with_block_bytes(block);
            match read(data.as_bytes(), &options) {
                Err(ReadError::Line {
                    line: l,
                    kind: LineErrorKind::Journey(JourneyError::CountOverflow),
                }) if l == *line => {}
                other => panic!("{data:?} block {block}: {other:?}"),
            }
        }
    }
    let data = format!("{PATHS_HEADER}a;1;0;1e308\nb;1;0;1\na;1;0;1.7e308\nb;1;0;1\n");
    match read(data.as_bytes(), &ReadOptions::default()) {
        Err(ReadError::Line {
            line: 4,
            kind: LineErrorKind::Journey(JourneyError::ValueOverflow),
        }) => {}
        other => panic!("{other:?}"),
    }
}

/// A channel name holding a control character is refused with its line,
/// on the fast path, the general parser and the builder alike.
#[test]
fn channel_names_with_control_characters_are_refused() {
    for (data, line) in [
        (format!("{PATHS_HEADER}a;1;0;1\nx\u{0}y > b;1;0;1\n"), 3),
        (format!("{PATHS_HEADER}\"a\tb\";1;0;1\n"), 2),
        (
            format!("{JOURNEYS_HEADER}1,a,1,1,1\n2,a > b\u{7}c,2 > 1,0,0\n"),
            3,
        ),
    ] {
        match read_str(&data) {
            Err(ReadError::Line {
                line: l,
                kind: LineErrorKind::Journey(JourneyError::ControlInChannel { .. }),
            }) => assert_eq!(l, line, "{data:?}"),
            other => panic!("{data:?}: {other:?}"),
        }
    }
    let mut b = JourneySetBuilder::new();
    let err = b
        .add(&Journey::converted(&["a", "b\u{0}"], 1.0))
        .unwrap_err();
    assert_eq!(
        err,
        JourneyError::ControlInChannel {
            touch: 2,
            code_point: 0
        }
    );
    // Spaces and tabs around a name are trimmed, not refused.
    let ok = format!("{PATHS_HEADER}\ta\t > b;1;0;1\n");
    assert_eq!(read_str(&ok).unwrap().len(), 1);
}

#[test]
fn channel_names_with_bidi_formatting_characters_are_refused() {
    // An override (U+202E) shows `lanigiro` as `original` in a table; ids
    // refuse these characters, and so do channel names, naming the line.
    for (data, line, code_point) in [
        (
            format!("{PATHS_HEADER}a;1;0;1\nx\u{202E}y > b;1;0;1\n"),
            3,
            0x202E,
        ),
        (
            format!("{PATHS_HEADER}\"a > b\u{2066}\";1;0;1\n"),
            2,
            0x2066,
        ),
        (
            format!("{JOURNEYS_HEADER}1,a,1,1,1\n2,a > \u{200F}email,2 > 1,0,0\n"),
            3,
            0x200F,
        ),
        (format!("{JOURNEYS_HEADER}1,\u{202B}sms,1,1,1\n"), 2, 0x202B),
    ] {
        match read_str(&data) {
            Err(ReadError::Line {
                line: l,
                kind: LineErrorKind::Journey(JourneyError::BidiInChannel { code_point: c, .. }),
            }) => assert_eq!((l, c), (line, code_point), "{data:?}"),
            other => panic!("{data:?}: {other:?}"),
        }
    }
    let err = JourneySetBuilder::new()
        .add(&Journey::converted(&["sms", "e\u{202D}mail"], 1.0))
        .unwrap_err();
    assert_eq!(
        err,
        JourneyError::BidiInChannel {
            touch: 2,
            code_point: 0x202D
        }
    );
    assert!(err.to_string().contains("U+202D"), "{err}");
    // Arabic names (strong right-to-left letters, no formatting) are fine.
    assert_eq!(
        read_str(&format!("{PATHS_HEADER}واتساب > بريد;1;0;1\n"))
            .unwrap()
            .len(),
        1
    );
}
