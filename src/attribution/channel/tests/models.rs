//! Properties every model keeps: the credits add up to the totals, and the
//! order of the journeys does not matter.

use proptest::prelude::*;

use super::*;

fn all_models(set: &JourneySet) -> Vec<(&'static str, ChannelCredits)> {
    vec![
        ("first", set.first_touch()),
        ("last", set.last_touch()),
        ("linear", set.linear()),
        ("position", set.position_based(PositionWeights::default())),
        ("time decay", set.time_decay().unwrap().clone()),
        (
            "markov",
            set.markov(&MarkovOptions::default())
                .unwrap()
                .credits()
                .clone(),
        ),
        (
            "markov 2",
            set.markov(&MarkovOptions::default().with_order(2))
                .unwrap()
                .credits()
                .clone(),
        ),
        ("shapley", set.shapley(&ShapleyOptions::default()).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_model_credits_the_totals(journeys in prop::collection::vec(raw_journey(), 1..30)) {
        let set = build(&journeys);
        let conversions = set.total_conversions() as f64;
        let converting = set.paths().any(|(_, s)| s.conversions > 0);
        for (name, credits) in all_models(&set) {
            let total = credits.total();
            // Markov credits nothing when no journey converts; so do the others.
            if !converting {
                prop_assert_eq!(total, Credit::default(), "{}", name);
                continue;
            }
            prop_assert!(close(total.conversions, conversions), "{name}: {total:?} vs {conversions}");
            prop_assert!(close(total.value, set.total_value()), "{name}: {total:?}");
        }
    }

    #[test]
    fn every_model_ignores_journey_order(
        journeys in prop::collection::vec(raw_journey(), 1..20),
        seed in any::<u64>(),
    ) {
        let mut shuffled = journeys.clone();
        let mut rng = synth::Rng::new(seed);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let (a, b) = (build(&journeys), build(&shuffled));
        prop_assert_eq!(a.channels(), b.channels());
        for ((name, x), (_, y)) in all_models(&a).iter().zip(all_models(&b).iter()) {
            for (p, q) in x.as_slice().iter().zip(y.as_slice()) {
                prop_assert!(close(p.conversions, q.conversions) && close(p.value, q.value), "{}", name);
            }
        }
    }
}
