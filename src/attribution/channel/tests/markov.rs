//! The Markov model: worked examples, `channelattribution`'s figures,
//! self-transitions, the dense solver, removal effects and long windows.

use proptest::prelude::*;

use super::*;

#[test]
fn markov_worked_example_with_a_cycle() {
    // a > b > a converts, b > a > b fails. a: to b 2/3, conversion 1/3;
    // b: to a 2/3, null 1/3. x_a = 1/3 + 2/3 x_b, x_b = 2/3 x_a, so
    // x_a = 3/5, x_b = 2/5 and P = (3/5 + 2/5) / 2 = 1/2.
    // Without a: x_b = 0, P_a = 0, RE_a = 1. Without b: x_a = 1/3,
    // P_b = 1/6, RE_b = 2/3. Shares 3/5 and 2/5.
    let set = set_of(&[
        Journey::aggregated(&["a", "b", "a"], 1, 0, 10.0),
        Journey::aggregated(&["b", "a", "b"], 0, 1, 0.0),
    ]);
    let m = set.markov(&MarkovOptions::default()).unwrap();
    let (a, b) = (id(&set, "a"), id(&set, "b"));
    assert_close(m.conversion_probability(), 0.5, "P");
    assert_close(m.removal_effect(a), 1.0, "RE a");
    assert_close(m.removal_effect(b), 2.0 / 3.0, "RE b");
    assert_close(m.credits().get(a).conversions, 0.6, "a");
    assert_close(m.credits().get(b).value, 4.0, "b value");
    let (sa, sb) = (MarkovState::Channels(0), MarkovState::Channels(1));
    assert_close(m.chain().probability(sa, sb), 2.0 / 3.0, "a -> b");
    assert_close(
        m.chain().probability(sb, MarkovState::Null),
        1.0 / 3.0,
        "b -> null",
    );
    assert_eq!(m.chain().probability(MarkovState::Start, sa), 0.5);
}

/// `channelattribution`'s own example shape; its `markov_model` with
/// `max_step=200` and 3e6 simulations gave removal effects 0.5751,
/// 0.6522, 0.6114 (order 1) and 0.6254, 0.8504, 0.7504 (order 2).
fn ca_example() -> JourneySet {
    let data = format!(
        "{PATHS_HEADER}a > b > c;3;1;30\na > c;1;2;10\nb;2;3;20\nb > a > c > a;1;1;10\nc > c > b;1;1;5\n"
    );
    read_str(&data).unwrap()
}

#[test]
fn markov_matches_channelattribution_orders_one_to_three() {
    let set = ca_example();
    let (a, b, c) = (id(&set, "a"), id(&set, "b"), id(&set, "c"));
    let re = |order| {
        let m = set
            .markov(&MarkovOptions::default().with_order(order))
            .unwrap();
        [
            m.removal_effect(a),
            m.removal_effect(b),
            m.removal_effect(c),
        ]
    };
    let [ra, rb, rc] = re(1);
    assert!((ra - 0.5751).abs() < 2e-3 && (rb - 0.6522).abs() < 2e-3 && (rc - 0.6114).abs() < 2e-3);
    // Orders 2 and 3 are acyclic here: exact fractions.
    let [ra, rb, rc] = re(2);
    assert_close(ra, 5.0 / 8.0, "a2");
    assert_close(rb, 17.0 / 20.0, "b2");
    assert_close(rc, 3.0 / 4.0, "c2");
    let [ra, rb, rc] = re(3);
    assert_close(ra, 5.0 / 8.0, "a3");
    assert_close(rb, 7.0 / 8.0, "b3");
    assert_close(rc, 3.0 / 4.0, "c3");

    // Order 2 states and transitions as channelattribution lists them.
    let m = set.markov(&MarkovOptions::default().with_order(2)).unwrap();
    let chain = m.chain();
    let name = |s| chain.state_name(s, set.channels());
    let listed: Vec<(String, String, f64)> = chain
        .transitions()
        .iter()
        .map(|t| (name(t.from), name(t.to), t.probability))
        .collect();
    let find = |from: &str, to: &str| {
        listed
            .iter()
            .find(|(f, t, _)| f == from && t == to)
            .map(|x| x.2)
            .unwrap_or_else(|| panic!("{from} -> {to} missing from {listed:?}"))
    };
    assert_eq!(find("(start)", "a > b"), 0.25);
    assert_eq!(find("(start)", "b"), 0.3125);
    assert_eq!(find("(start)", "c > c"), 0.125);
    assert_eq!(find("a > b", "b > c"), 1.0);
    assert_eq!(find("b > c", "(conversion)"), 0.75);
    assert_eq!(find("a > c", "c > a"), 0.4);
    assert_eq!(find("c > c", "c > b"), 1.0);
    assert_eq!(listed.len(), 19);
}

#[test]
fn self_transitions_never_change_the_result() {
    let set = set_of(&[
        Journey::aggregated(&["a", "a", "b"], 3, 1, 30.0),
        Journey::aggregated(&["b", "b", "b"], 1, 4, 5.0),
        Journey::aggregated(&["a", "c", "c", "a"], 2, 2, 8.0),
    ]);
    for order in [1, 2] {
        let drop = set
            .markov(&MarkovOptions::default().with_order(order))
            .unwrap();
        let keep = set
            .markov(
                &MarkovOptions::default()
                    .with_order(order)
                    .with_self_transitions(true),
            )
            .unwrap();
        assert_ne!(drop.chain().transitions(), keep.chain().transitions());
        assert_close(
            drop.conversion_probability(),
            keep.conversion_probability(),
            "P",
        );
        for (x, y) in drop.removal_effects().iter().zip(keep.removal_effects()) {
            assert!((x - y).abs() < 1e-12, "order {order}: {x} vs {y}");
        }
    }
    // Order 1 without self-transitions is the chain of the collapsed paths.
    let collapsed = set_of(&[
        Journey::aggregated(&["a", "b"], 3, 1, 30.0),
        Journey::aggregated(&["b"], 1, 4, 5.0),
        Journey::aggregated(&["a", "c", "a"], 2, 2, 8.0),
    ]);
    let m = set.markov(&MarkovOptions::default()).unwrap();
    let n = collapsed.markov(&MarkovOptions::default()).unwrap();
    assert_eq!(m.chain().transitions(), n.chain().transitions());
}

#[test]
fn markov_edge_cases() {
    let set = set_of(&[Journey::lost(&["a", "b"]), Journey::lost(&["b"])]);
    let m = set.markov(&MarkovOptions::default()).unwrap();
    assert_eq!(m.conversion_probability(), 0.0);
    assert_eq!(m.removal_effects(), [0.0, 0.0]);
    assert_eq!(m.credits().total(), Credit::default());

    let empty = JourneySetBuilder::new().finish().unwrap();
    assert_eq!(
        empty
            .markov(&MarkovOptions::default())
            .unwrap()
            .credits()
            .total(),
        Credit::default()
    );
    assert!(matches!(
        set.markov(&MarkovOptions::default().with_order(0)),
        Err(ModelError::InvalidParameter(_))
    ));
    assert_eq!(
        set.markov(&MarkovOptions::default().with_max_states(1)),
        Err(ModelError::TooManyStates {
            order: 1,
            states: 2,
            limit: 1
        })
    );
}

#[test]
fn dense_solver_pivots() {
    // [[0, 1], [2, 3]] x = [1, 8] needs a row swap: x = [2.5, 1].
    let mut a = [0.0, 1.0, 2.0, 3.0];
    let mut b = [1.0, 8.0];
    super::super::markov::solve(&mut a, &mut b, 2).unwrap();
    assert_eq!(b, [2.5, 1.0]);
    let mut a = [1.0, 2.0, 2.0, 4.0];
    let mut b = [1.0, 2.0];
    assert_eq!(
        super::super::markov::solve(&mut a, &mut b, 2),
        Err(ModelError::Singular)
    );
}

/// The removal effects by one restricted solve per channel (the
/// construction before the factor-once update): transitions into a
/// removed channel's states go to null.
fn removal_effects_by_restricted_solves(set: &JourneySet, m: &MarkovAttribution) -> Vec<f64> {
    let chain = m.chain();
    let n = chain.state_count();
    let restricted = |active: &[bool]| -> f64 {
        let local: Vec<usize> = active
            .iter()
            .scan(0, |next, &on| {
                let l = if on { *next } else { usize::MAX };
                *next += usize::from(on);
                Some(l)
            })
            .collect();
        let size = active.iter().filter(|&&on| on).count();
        let mut a = vec![0.0; size * size];
        let mut b = vec![0.0; size];
        for l in 0..size {
            a[l * size + l] = 1.0;
        }
        for t in chain.transitions() {
            if let MarkovState::Channels(from) = t.from {
                if local[from] == usize::MAX {
                    continue;
                }
                match t.to {
                    MarkovState::Channels(to) if local[to] != usize::MAX => {
                        a[local[from] * size + local[to]] -= t.probability
                    }
                    MarkovState::Conversion => b[local[from]] = t.probability,
                    _ => {}
                }
            }
        }
        if size > 0 {
            super::super::markov::solve(&mut a, &mut b, size).unwrap();
        }
        chain
            .transitions()
            .iter()
            .filter_map(|t| match (t.from, t.to) {
                (MarkovState::Start, MarkovState::Channels(s)) if local[s] != usize::MAX => {
                    Some(t.probability * b[local[s]])
                }
                _ => None,
            })
            .sum()
    };
    let p = restricted(&vec![true; n]);
    set.channels()
        .iter()
        .map(|(c, _)| {
            let active: Vec<bool> = (0..n)
                .map(|s| !chain.state(s).unwrap().contains(&c))
                .collect();
            if p > 0.0 && active.contains(&false) {
                (1.0 - restricted(&active) / p).clamp(0.0, 1.0)
            } else {
                0.0
            }
        })
        .collect()
}

#[test]
fn markov_removal_effects_cost_about_one_solve() {
    // 120 channels, every ordered pair a path: a dense chain, where one
    // solve per channel would cost about 120 solves.
    let channels = 120;
    let names: Vec<String> = (0..channels).map(|c| format!("c{c:03}")).collect();
    let mut builder = JourneySetBuilder::new();
    for i in 0..channels {
        for j in 0..channels {
            let path = [names[i].as_str(), names[j].as_str()];
            let conversions = u64::from((i * 7 + j * 3) % 5 == 0);
            builder
                .add(&Journey::aggregated(
                    &path,
                    conversions,
                    1 + (i % 3) as u64,
                    1.0,
                ))
                .unwrap();
        }
    }
    let set = builder.finish().unwrap();
    super::super::markov::MULTIPLY_ADDS.with(|c| c.set(0));
    let m = set.markov(&MarkovOptions::default()).unwrap();
    let work = super::super::markov::MULTIPLY_ADDS.with(|c| c.get());
    let n = m.chain().state_count() as u64;
    assert_eq!(n, channels as u64);
    // LU n³/3, the inverse's factors n³/3, entries and solves n²: one
    // solve per channel would be n⁴/3.
    assert!(work <= n * n * n, "{work} multiply-adds for {n} states");
    let reference = removal_effects_by_restricted_solves(&set, &m);
    for (a, b) in m.removal_effects().iter().zip(&reference) {
        assert!((a - b).abs() <= 1e-12 * a.abs().max(*b), "{a} vs {b}");
    }
}

/// One long path of distinct channels, in the aggregated format.
fn long_path_set(touches: usize) -> JourneySet {
    let path: Vec<String> = (0..touches).map(|c| format!("c{c}")).collect();
    let data = format!("{PATHS_HEADER}{};1;1;10\n", path.join(" > "));
    read_str(&data).unwrap()
}

#[test]
fn markov_orders_beyond_the_longest_path_are_the_longest_path() {
    // 5,000 distinct channels on one path: an order beyond it is one
    // state, the whole path (the file: 169 KB, order 99,000, did
    // not finish in 120 s).
    let set = long_path_set(5_000);
    let far = set
        .markov(&MarkovOptions::default().with_order(99_000))
        .unwrap();
    let exact = set
        .markov(&MarkovOptions::default().with_order(5_000))
        .unwrap();
    assert_eq!(far.chain().order(), 99_000);
    assert_eq!(far.chain().state_count(), 1);
    assert_eq!(far.removal_effects(), exact.removal_effects());
    assert_eq!(far.credits(), exact.credits());
    assert!(far.removal_effects().iter().all(|&r| r == 1.0));
}

#[test]
fn markov_refuses_long_windows_before_hashing_them() {
    // Order 3,000 over a path of 5,000 distinct channels: 2,001 windows
    // of 3,000 ids (the 169 KB file at order 18,500 took 103 s
    // and 419 MB). Refused before starting, naming the work.
    let set = long_path_set(5_000);
    let Err(err) = set.markov(&MarkovOptions::default().with_order(3_000)) else {
        panic!("order 3,000 ran");
    };
    assert_eq!(
        err,
        ModelError::TooMuchWork {
            order: 3_000,
            work: 2_001 * 3_000,
            limit: 4_000_000,
        }
    );
    assert!(err.to_string().contains("order-3000"), "{err}");
    // Within the limits it runs: most channels are in every window, so
    // their removals solve the states left (none), and the others update.
    let set = long_path_set(600);
    let m = set
        .markov(&MarkovOptions::default().with_order(500))
        .unwrap();
    assert_eq!(m.chain().state_count(), 101);
    assert!(m.removal_effects().iter().all(|&r| r == 1.0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn removal_effects_lie_in_zero_one_and_self_loops_do_not_matter(
        journeys in prop::collection::vec(raw_journey(), 1..25),
    ) {
        let set = build(&journeys);
        let drop = set.markov(&MarkovOptions::default()).unwrap();
        let keep = set.markov(&MarkovOptions::default().with_self_transitions(true)).unwrap();
        for (x, y) in drop.removal_effects().iter().zip(keep.removal_effects()) {
            prop_assert!((0.0..=1.0).contains(x));
            prop_assert!((x - y).abs() < 1e-9, "{} vs {}", x, y);
        }
        let third = set.markov(&MarkovOptions::default().with_order(3)).unwrap();
        prop_assert!(third.removal_effects().iter().all(|r| (0.0..=1.0).contains(r)));
    }

    #[test]
    fn removal_effects_match_one_restricted_solve_per_channel(
        journeys in prop::collection::vec(raw_journey(), 1..25),
        order in 1usize..4,
        keep in any::<bool>(),
    ) {
        let set = build(&journeys);
        let options = MarkovOptions::default().with_order(order).with_self_transitions(keep);
        let m = set.markov(&options).unwrap();
        let reference = removal_effects_by_restricted_solves(&set, &m);
        for (a, b) in m.removal_effects().iter().zip(&reference) {
            prop_assert!((a - b).abs() <= 1e-12 * a.abs().max(*b) + 1e-15, "{} vs {}", a, b);
        }
    }
}

proptest! {
    /// Order 1 counts transitions in a dense matrix over few channels:
    /// bit-identical to the general (hash map) construction.
    #[test]
    fn dense_order_one_markov_matches_the_general_construction(
        journeys in prop::collection::vec(raw_journey(), 1..40),
        keep in any::<bool>(),
    ) {
        let set = build(&journeys);
        let options = MarkovOptions::default().with_self_transitions(keep);
        let dense = set.markov_with(&options, usize::MAX).unwrap();
        let general = set.markov_with(&options, 0).unwrap();
        prop_assert_eq!(&dense, &general);
        prop_assert_eq!(&dense, &set.markov(&options).unwrap());
        let few = MarkovOptions::default().with_max_states(1);
        prop_assert_eq!(
            set.markov_with(&few, usize::MAX).is_err(),
            set.markov_with(&few, 0).is_err()
        );
    }
}
