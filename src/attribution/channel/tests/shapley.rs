//! The Shapley model: a worked example, its channel and memory limits, and
//! the unanimity split.

use proptest::prelude::*;

use super::*;

#[test]
fn shapley_by_hand_three_channels() {
    // v({a}) = 1, v({a,b}) = 1 + 2 = 3, v({a,b,c}) = 3 + 3 = 6 (a > b > c
    // and c > b > a are one set); every other coalition is 0 except
    // supersets. By the unanimity split: a = 1 + 2/2 + 3/3 = 3,
    // b = 1 + 1 = 2, c = 1.
    let set = set_of(&[
        Journey::aggregated(&["a"], 1, 0, 10.0),
        Journey::aggregated(&["a", "b", "a"], 2, 5, 20.0),
        Journey::aggregated(&["a", "b", "c"], 1, 0, 30.0),
        Journey::aggregated(&["c", "b", "a"], 2, 0, 0.0),
    ]);
    let s = set.shapley(&ShapleyOptions::default()).unwrap();
    assert_close(s.get(id(&set, "a")).conversions, 3.0, "a");
    assert_close(s.get(id(&set, "b")).conversions, 2.0, "b");
    assert_close(s.get(id(&set, "c")).conversions, 1.0, "c");
    assert_close(s.get(id(&set, "a")).value, 10.0 + 10.0 + 10.0, "a value");
}

/// Shapley over 30 channels wants 16 GiB: under an address-space limit
/// of 4 GiB it must say so, not abort. Run in a child process (the limit
/// would bind every test thread), this same test with an environment
/// variable set.
#[cfg(target_os = "linux")]
#[test]
fn shapley_reports_memory_it_cannot_get() {
    const CHILD: &str = "REFERRALS_SHAPLEY_OOM_CHILD";
    if std::env::var_os(CHILD).is_some() {
        assert!(super::super::unsafe_ops::limit_address_space(4 << 30));
        let mut builder = JourneySetBuilder::new();
        let names: Vec<String> = (0..30).map(|c| format!("c{c:02}")).collect();
        for name in &names {
            builder
                .add(&Journey::converted(&[name.as_str()], 1.0))
                .unwrap();
        }
        let set = builder.finish().unwrap();
        let err = set
            .shapley(&ShapleyOptions::default().with_max_channels(30))
            .unwrap_err();
        assert_eq!(
            err,
            ModelError::OutOfMemory {
                model: "Shapley",
                bytes: 16 << 30
            }
        );
        println!("child: {err}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "attribution::channel::tests::shapley::shapley_reports_memory_it_cannot_get",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("child: Shapley needs 17179869184 bytes"),
        "{:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn shapley_limit_is_enforced() {
    let names: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let path: Vec<&str> = names.iter().map(String::as_str).collect();
    let set = set_of(&[Journey::converted(&path, 1.0)]);
    assert_eq!(
        set.shapley(&ShapleyOptions::default()),
        Err(ModelError::TooManyChannels {
            channels: 21,
            limit: 20
        })
    );
    // 16 channels, exact (2^16 coalitions).
    let set = set_of(&[
        Journey::converted(&path[..16], 16.0),
        Journey::converted(&path[..1], 1.0),
    ]);
    let s = set.shapley(&ShapleyOptions::default()).unwrap();
    assert_close(s.total().conversions, 2.0, "16 channels");
    assert_close(s.get(id(&set, "c0")).value, 2.0, "c0");
    assert_close(s.get(id(&set, "c9")).value, 1.0, "c9");
    let empty = JourneySetBuilder::new().finish().unwrap();
    assert_eq!(
        empty.shapley(&ShapleyOptions::default()).unwrap().total(),
        Credit::default()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn shapley_equals_the_unanimity_split(journeys in prop::collection::vec(raw_journey(), 1..25)) {
        let set = build(&journeys);
        let shapley = set.shapley(&ShapleyOptions::default()).unwrap();
        let mut expected = vec![Credit::default(); set.channels().len()];
        for (path, stats) in set.paths() {
            let mut distinct: Vec<ChannelId> = path.to_vec();
            distinct.sort();
            distinct.dedup();
            let n = distinct.len() as f64;
            for c in distinct {
                expected[c.index()].conversions += stats.conversions as f64 / n;
                expected[c.index()].value += stats.value / n;
            }
        }
        for (got, want) in shapley.as_slice().iter().zip(&expected) {
            prop_assert!(close(got.conversions, want.conversions), "{:?} vs {:?}", got, want);
            prop_assert!(close(got.value, want.value), "{:?} vs {:?}", got, want);
        }
    }
}
