//! The builder: refused journeys, interned channels, packed and general
//! path keys, and the order paths come out in.

use super::*;

#[test]
fn builder_refuses_bad_journeys_and_leaves_no_trace() {
    let mut builder = JourneySetBuilder::new();
    assert_eq!(
        builder.add(&Journey::lost(&[])),
        Err(JourneyError::EmptyPath)
    );
    assert!(matches!(
        builder.add(&Journey::lost(&["a>b"])),
        Err(JourneyError::SeparatorInChannel { touch: 1, .. })
    ));
    assert!(matches!(
        builder.add(&Journey::lost(&["a", "b"]).with_hours(&[1.0])),
        Err(JourneyError::HoursMismatch {
            touches: 2,
            hours: 1
        })
    ));
    assert!(matches!(
        builder.add(&Journey::lost(&["a"]).with_hours(&[f64::NAN])),
        Err(JourneyError::InvalidHours { touch: 1, .. })
    ));
    assert!(matches!(
        builder.add(&Journey::converted(&["a"], f64::INFINITY)),
        Err(JourneyError::NonFiniteValue { .. })
    ));
    builder
        .add(&Journey::aggregated(&["x"], u64::MAX, 0, 0.0))
        .unwrap();
    assert_eq!(
        builder.add(&Journey::aggregated(&["y"], 1, 0, 0.0)),
        Err(JourneyError::CountOverflow)
    );
    let set = builder.finish().unwrap();
    let names: Vec<&str> = set.channels().iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["x"]);
}

/// The builder keys short paths over few channels by a packed integer and
/// the others by their ids: both kinds aggregate and sort as slices.
#[test]
fn builder_packed_and_general_paths_agree() {
    let names: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
    let name = |i: usize| names[i].as_str();
    let mut builder = JourneySetBuilder::new();
    let long: Vec<&str> = (0..20).map(|i| name(i % 3)).collect();
    let prefix16: Vec<&str> = long[..16].to_vec();
    let mut paths: Vec<Vec<&str>> = vec![
        long.clone(),
        prefix16.clone(),
        vec![name(299)],
        vec![name(299), name(0)],
        vec![name(0)],
        vec![name(0), name(299)],
    ];
    // Intern all 300 names, so ids past 254 exist.
    for i in 0..300 {
        paths.push(vec![name(i), name(i)]);
    }
    for round in 0..2 {
        for path in &paths {
            builder
                .add(&Journey::converted(path, 1.0 + round as f64))
                .unwrap();
        }
    }
    let set = builder.finish().unwrap();
    assert_eq!(set.len(), paths.len());
    let got: Vec<Vec<&str>> = set
        .paths()
        .map(|(p, s)| {
            assert_eq!(s.conversions, 2);
            assert_eq!(s.value, 3.0);
            p.iter().map(|&c| set.channels().name(c).unwrap()).collect()
        })
        .collect();
    let mut want = paths.clone();
    want.sort();
    assert_eq!(got, want);
}

/// Paths come out in slice order whether they fit the whole-path sort
/// key (at most 16 touches, fewer than 255 channels) or not.
#[test]
fn paths_are_in_slice_order_with_and_without_whole_keys() {
    let names = ["a", "b", "c", "d"];
    for longest in [16usize, 17] {
        let mut builder = JourneySetBuilder::new();
        let mut x = 7u32;
        for n in 1..=longest {
            for _ in 0..20 {
                let path: Vec<&str> = (0..n)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        names[(x >> 16) as usize % names.len()]
                    })
                    .collect();
                builder.add(&Journey::lost(&path)).unwrap();
            }
        }
        let set = builder.finish().unwrap();
        let paths: Vec<&[ChannelId]> = set.paths().map(|(p, _)| p).collect();
        assert!(paths.windows(2).all(|w| w[0] < w[1]), "longest {longest}");
        assert!(paths.iter().any(|p| p.len() == longest));
    }
}

/// Paths of every length the sort handles differently (up to 12 touches
/// share a `u128` with their slot, 13 to 16 fill it, 17 and more compare
/// slices) come out in the same order: by channel ids, shorter prefix first.
#[test]
fn paths_of_every_length_come_out_sorted() {
    for extra in [0usize, 14, 17] {
        let mut builder = JourneySetBuilder::new();
        let names = ["c", "a", "b"];
        let mut lengths: Vec<usize> = (1..=12).collect();
        if extra > 0 {
            lengths.push(extra);
        }
        for (n, &len) in lengths.iter().enumerate().rev() {
            for start in 0..3 {
                let path: Vec<&str> = (0..len).map(|i| names[(start + i * (n + 1)) % 3]).collect();
                builder.add(&Journey::converted(&path, 1.0)).unwrap();
            }
        }
        let set = builder.finish().unwrap();
        let paths: Vec<Vec<ChannelId>> = set.paths().map(|(p, _)| p.to_vec()).collect();
        assert!(
            paths.windows(2).all(|w| w[0] < w[1]),
            "extra {extra}: {paths:?}"
        );
        assert_eq!(set.total_conversions(), 3 * lengths.len() as u64);
    }
}
