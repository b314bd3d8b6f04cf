//! The heuristic models: first, last, linear, position-based and time
//! decay, and position weights read from JSON.

use super::*;

#[test]
fn heuristics_by_hand() {
    // a > b > a converts twice for 60; b > c once for 9; c fails.
    let set = set_of(&[
        Journey::aggregated(&["a", "b", "a"], 2, 0, 60.0),
        Journey::aggregated(&["b", "c"], 1, 0, 9.0),
        Journey::lost(&["c"]),
    ]);
    let (a, b, c) = (id(&set, "a"), id(&set, "b"), id(&set, "c"));
    let first = set.first_touch();
    assert_eq!(
        first.get(a),
        Credit {
            conversions: 2.0,
            value: 60.0
        }
    );
    assert_eq!(
        first.get(b),
        Credit {
            conversions: 1.0,
            value: 9.0
        }
    );
    assert_eq!(first.get(c), Credit::default());
    let last = set.last_touch();
    assert_eq!(last.get(a).conversions, 2.0);
    assert_eq!(last.get(c).value, 9.0);
    let linear = set.linear();
    assert_close(linear.get(a).conversions, 4.0 / 3.0, "linear a");
    assert_close(linear.get(b).conversions, 2.0 / 3.0 + 0.5, "linear b");
    assert_close(linear.get(b).value, 20.0 + 4.5, "linear b value");
    // Position 40/20/40: a > b > a gives a 0.4 + 0.4, b 0.2; b > c 50/50.
    let u = set.position_based(PositionWeights::default());
    assert_close(u.get(a).conversions, 1.6, "position a");
    assert_close(u.get(b).conversions, 0.4 + 0.5, "position b");
    assert_close(u.get(c).value, 4.5, "position c");
}

#[test]
fn position_rule_for_one_two_and_many_touches() {
    let w = PositionWeights::new(1.0, 2.0, 1.0).unwrap();
    let set = set_of(&[Journey::converted(&["a"], 8.0)]);
    assert_eq!(set.position_based(w).get(id(&set, "a")).value, 8.0);

    let set = set_of(&[Journey::converted(&["a", "b"], 8.0)]);
    let u = set.position_based(PositionWeights::new(3.0, 5.0, 1.0).unwrap());
    assert_eq!(u.get(id(&set, "a")).value, 6.0);
    assert_eq!(u.get(id(&set, "b")).value, 2.0);
    // No weight on the ends: two touches split evenly.
    let u = set.position_based(PositionWeights::new(0.0, 1.0, 0.0).unwrap());
    assert_eq!(u.get(id(&set, "a")).value, 4.0);

    let set = set_of(&[Journey::converted(&["a", "b", "c", "d", "e"], 100.0)]);
    let u = set.position_based(w);
    for (name, share) in [
        ("a", 25.0),
        ("b", 50.0 / 3.0),
        ("d", 50.0 / 3.0),
        ("e", 25.0),
    ] {
        assert_close(u.get(id(&set, name)).value, share, name);
    }
    assert!(PositionWeights::new(f64::INFINITY, 0.0, 0.0).is_err());
}

#[test]
fn time_decay_by_hand() {
    // Half-life 168 h: weights 2^(-336/168) = 1/4, 2^(-168/168) = 1/2, 1.
    let set = set_of(&[
        Journey::converted(&["a", "b", "c"], 70.0).with_hours(&[336.0, 168.0, 0.0]),
        Journey::lost(&["a"]).with_hours(&[0.0]),
    ]);
    let decay = set.time_decay().unwrap();
    assert_close(decay.get(id(&set, "a")).conversions, 1.0 / 7.0, "a");
    assert_close(decay.get(id(&set, "b")).value, 20.0, "b");
    assert_close(decay.get(id(&set, "c")).value, 40.0, "c");

    // Old journeys do not underflow: only differences of hours matter.
    let set = set_of(&[Journey::converted(&["a", "b"], 3.0).with_hours(&[1e6 + 168.0, 1e6])]);
    assert_close(
        set.time_decay().unwrap().get(id(&set, "b")).value,
        2.0,
        "old",
    );

    // The same through the reader, with a one-day half-life.
    let data = format!("{JOURNEYS_HEADER}1,a > b,48 > 24,1,5\n");
    let options = ReadOptions::default().with_half_life_hours(24.0);
    let set = read(data.as_bytes(), &options).unwrap();
    assert_close(
        set.time_decay().unwrap().get(id(&set, "b")).value,
        10.0 / 3.0,
        "read",
    );
    assert_eq!(set.half_life_hours(), 24.0);
}

/// Position weights read from JSON are checked and normalised as by
/// `PositionWeights::new` (they once skipped it: 40/20/40 credited one
/// conversion as 100).
#[test]
fn position_weights_from_json_are_checked_and_normalised() {
    let w: PositionWeights =
        serde_json::from_str(r#"{"first":40.0,"middle":20.0,"last":40.0}"#).unwrap();
    assert_eq!(w, PositionWeights::default());
    let mut b = JourneySetBuilder::new();
    b.add(&Journey::converted(&["a", "b", "c"], 10.0)).unwrap();
    let total = b.finish().unwrap().position_based(w).total();
    assert_eq!((total.conversions, total.value), (1.0, 10.0));
    for bad in [
        r#"{"first":-1.0,"middle":1.0,"last":1.0}"#,
        r#"{"first":0,"middle":0,"last":0}"#,
        r#"{"first":1,"middle":1}"#,
        r#"{"first":1,"middle":1,"last":1,"extra":1}"#,
    ] {
        assert!(
            serde_json::from_str::<PositionWeights>(bad).is_err(),
            "{bad}"
        );
    }
    // Every set of weights reads back as written (normalised weights
    // whose sum is an ulp off one are not divided again).
    for first in 0..=10 {
        for middle in 0..=10 {
            for last in 0..=10 {
                let Ok(w) = PositionWeights::new(first.into(), middle.into(), last.into()) else {
                    continue;
                };
                let json = serde_json::to_string(&w).unwrap();
                let back: PositionWeights = serde_json::from_str(&json).unwrap();
                assert_eq!(back, w, "{json}");
            }
        }
    }
}
