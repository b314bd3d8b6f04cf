//! Unit and property tests of the channel readers and models, one file per
//! concern; the fixtures and helpers they share are here.

mod agreement;
mod builder;
mod heuristics;
mod line_errors;
mod markov;
mod models;
mod numbers;
mod readers;
mod shapley;

use proptest::prelude::*;

use super::*;

const JOURNEYS_HEADER: &str = "journey_id,path,hours,converted,value\n";
const PATHS_HEADER: &str = "path;total_conversions;total_null;total_conversion_value\n";

fn read_str(data: &str) -> Result<JourneySet, ReadError> {
    read(data.as_bytes(), &ReadOptions::default())
}

fn id(set: &JourneySet, name: &str) -> ChannelId {
    set.channels()
        .id(name)
        .unwrap_or_else(|| panic!("no channel {name:?}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(close(a, b), "{what}: {a} != {b}");
}

fn assert_credits_close(a: &ChannelCredits, b: &ChannelCredits, what: &str) {
    assert_eq!(a.as_slice().len(), b.as_slice().len(), "{what}");
    for (x, y) in a.as_slice().iter().zip(b.as_slice()) {
        assert_close(x.conversions, y.conversions, what);
        assert_close(x.value, y.value, what);
    }
}

fn set_of(journeys: &[Journey<'_>]) -> JourneySet {
    let mut builder = JourneySetBuilder::new();
    for j in journeys {
        builder.add(j).unwrap();
    }
    builder.finish().unwrap()
}

/// A random journey over up to 5 channels: path, hours, conversions,
/// nulls, value in cents.
type RawJourney = (Vec<usize>, Vec<u32>, u64, u64, u32);

const NAMES: [&str; 5] = ["whatsapp", "email", "qr in store", "واتساب", "sms"];

fn raw_journey() -> impl Strategy<Value = RawJourney> {
    (1usize..6).prop_flat_map(|len| {
        (
            prop::collection::vec(0usize..5, len),
            prop::collection::vec(0u32..2000, len),
            0u64..3,
            0u64..3,
            0u32..100_000,
        )
    })
}

fn build(journeys: &[RawJourney]) -> JourneySet {
    let mut builder = JourneySetBuilder::new();
    for (path, tenths, conversions, nulls, cents) in journeys {
        let names: Vec<&str> = path.iter().map(|&c| NAMES[c]).collect();
        let hours: Vec<f64> = tenths.iter().map(|&t| f64::from(t) / 10.0).collect();
        let j = Journey::aggregated(&names, *conversions, *nulls, f64::from(*cents) / 100.0)
            .with_hours(&hours);
        builder.add(&j).unwrap();
    }
    builder.finish().unwrap()
}
