use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::fraud::identity::IdentityKind;
use crate::money::Currency;

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn kinds(k: &[&str]) -> Vec<IdentityKind> {
    k.iter()
        .map(|s| {
            *IdentityKind::ALL
                .iter()
                .find(|kind| kind.as_str() == *s)
                .unwrap_or_else(|| panic!("no kind {s}"))
        })
        .collect()
}

#[test]
fn siblings_on_one_home_network_are_weak_and_a_shared_card_is_strong() {
    let amira = cid("amira");
    assert_eq!(self_referral(&amira, &[]), None);
    let home = self_referral(&amira, &kinds(&["ip_prefix", "ip"])).unwrap();
    assert_eq!(home.severity, Severity::Weak);
    assert!(home.reason.contains("ip, ip_prefix"), "{}", home.reason);
    let household = self_referral(&amira, &kinds(&["address", "ip"])).unwrap();
    assert_eq!(household.severity, Severity::Suspicious);
    for strong in ["payment", "phone", "email"] {
        let s = self_referral(&amira, &kinds(&[strong, "ip"])).unwrap();
        assert_eq!(s.severity, Severity::Strong, "{strong}");
        assert_eq!(
            s.evidence,
            vec![Evidence::SharedIdentifiers {
                with: amira.clone(),
                kinds: {
                    let mut k = kinds(&[strong, "ip"]);
                    k.sort();
                    k
                },
            }]
        );
    }
}

#[test]
fn a_referee_who_was_a_customer_or_someone_elses_is_a_duplicate() {
    assert_eq!(duplicate_referee(&RefereeHistory::default()), None);
    let s = duplicate_referee(&RefereeHistory {
        existing_customer: true,
        referred_by: Some(cid("badr")),
    })
    .unwrap();
    assert_eq!(s.severity, Severity::Strong);
    assert!(s.reason.contains("before the referral") && s.reason.contains("badr"));
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

#[test]
fn a_busy_honest_week_passes_and_a_burst_does_not() {
    let limits = Limits::default();
    // 35 referrals over a week, at most 8 a day and 3 an hour.
    let week: Vec<DateTime<Utc>> = (0..35).map(|i| t(i * 60 * 24 / 5 + (i % 3))).collect();
    for now in &week {
        for rate in [Rate::ReferralsPerHour, Rate::ReferralsPerDay] {
            let n = count_in_window(rate, &week, *now);
            assert_eq!(velocity(rate, n, &limits), None, "{rate:?} {n} at {now}");
        }
    }
    // 25 in twenty minutes.
    let burst: Vec<DateTime<Utc>> = (0..25).map(t).collect();
    let n = count_in_window(Rate::ReferralsPerHour, &burst, t(24));
    assert_eq!(n, 25);
    let s = velocity(Rate::ReferralsPerHour, n, &limits).unwrap();
    assert_eq!(s.severity, Severity::Strong);
    assert!(
        s.reason.contains("25 referrals by the referrer in an hour"),
        "{}",
        s.reason
    );
    // A network is never more than weak, however busy.
    let s = velocity(Rate::SignupsPerIpPrefixPerDay, 500, &limits).unwrap();
    assert_eq!(s.severity, Severity::Weak);
}

#[test]
fn the_window_includes_now_and_excludes_its_start() {
    let times = [t(0), t(60), t(61)];
    assert_eq!(count_in_window(Rate::ReferralsPerHour, &times, t(60)), 1);
    assert_eq!(count_in_window(Rate::ReferralsPerHour, &times, t(61)), 2);
}

#[test]
fn a_ring_of_five_is_found_with_its_members_in_order() {
    let e = |a: &str, b: &str| (cid(a), cid(b));
    let edges = [
        e("b", "c"),
        e("c", "d"),
        e("d", "e"),
        e("x", "y"),
        e("c", "x"),
    ];
    // a refers b; b → c → d → e already; e refers a closes a, b, c, d, e.
    let edges_with_ab: Vec<_> = edges.into_iter().chain([e("a", "b")]).collect();
    let s = ring(
        &cid("e"),
        &cid("a"),
        referees_in(&edges_with_ab),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        s.evidence,
        vec![Evidence::Loop {
            customers: ["e", "a", "b", "c", "d", "e"].map(cid).to_vec()
        }]
    );
    assert!(
        s.reason
            .contains("loop of 5 customers: e → a → b → c → d → e"),
        "{}",
        s.reason
    );
    // Too long for the limit.
    let short = Limits {
        longest_ring: 4,
        ..Limits::default()
    };
    assert_eq!(
        ring(&cid("e"), &cid("a"), referees_in(&edges_with_ab), &short),
        None
    );
    // No loop: a chain.
    assert_eq!(
        ring(
            &cid("z"),
            &cid("a"),
            referees_in(&edges_with_ab),
            &Limits::default()
        ),
        None
    );
}

#[test]
fn timing_order_value_leakage_guessing_and_refunds() {
    let limits = Limits::default();
    assert!(timing(t(0), t(0) + TimeDelta::seconds(5), &limits).is_some());
    assert!(timing(t(0), t(0) + TimeDelta::seconds(20), &limits).is_none());
    assert!(
        timing(t(1), t(0), &limits).is_none(),
        "an order before the click is not timing"
    );

    let sar = |m| Money::new(m, Currency::SAR);
    assert!(order_value(sar(50_000), sar(10_000), &limits).is_some());
    assert!(order_value(sar(49_999), sar(10_000), &limits).is_none());
    assert!(order_value(sar(50_000), Money::new(10_000, Currency::AED), &limits).is_none());
    assert!(order_value(sar(50_000), sar(0), &limits).is_none());
    let s = order_value(sar(i64::MAX), sar(1), &limits).unwrap();
    assert!(s.reason.contains("5.00×"), "{}", s.reason);

    assert!(code_leakage("coupons.example", 16, &limits).is_some());
    assert!(code_leakage("coupons.example", 15, &limits).is_none());
    assert_eq!(
        code_guessing("203.0.113.0/24", 101, &limits)
            .unwrap()
            .severity,
        Severity::Strong
    );
    assert_eq!(
        code_guessing("203.0.113.0/24", 21, &limits)
            .unwrap()
            .severity,
        Severity::Suspicious
    );
    assert!(code_guessing("203.0.113.0/24", 20, &limits).is_none());

    let amira = cid("amira");
    let program = RefundCounts {
        refunds: 50,
        conversions: 1_000,
    };
    // 5 %: 3× is 15 %. 3 of 20 is exactly 15 %.
    assert!(
        refund_abuse(
            &amira,
            RefundCounts {
                refunds: 3,
                conversions: 20
            },
            program,
            &limits
        )
        .is_some()
    );
    assert!(
        refund_abuse(
            &amira,
            RefundCounts {
                refunds: 3,
                conversions: 21
            },
            program,
            &limits
        )
        .is_none()
    );
    // Too few to mean anything.
    assert!(
        refund_abuse(
            &amira,
            RefundCounts {
                refunds: 2,
                conversions: 4
            },
            program,
            &limits
        )
        .is_none()
    );
    // A program without refunds: any referrer past the least refunds.
    let none = RefundCounts {
        refunds: 0,
        conversions: 100,
    };
    assert!(
        refund_abuse(
            &amira,
            RefundCounts {
                refunds: 3,
                conversions: 50
            },
            none,
            &limits
        )
        .is_some()
    );
}

proptest! {
    #[test]
    fn checks_never_panic_on_any_counts(
        count in any::<u64>(),
        attempts in any::<u64>(),
        refunds in any::<u64>(),
        conversions in any::<u64>(),
        p_refunds in any::<u64>(),
        p_conversions in any::<u64>(),
        amount in any::<i64>(),
        norm in any::<i64>(),
        bps in any::<u32>(),
        secs in any::<i32>(),
    ) {
        let limits = Limits { order_value_multiple_bps: bps, refund_rate_multiple_bps: bps, ..Limits::default() };
        let _ = velocity(Rate::ConversionsPerDay, count, &limits);
        let _ = code_guessing("s", attempts, &limits);
        let _ = refund_abuse(&cid("a"), RefundCounts { refunds, conversions }, RefundCounts { refunds: p_refunds, conversions: p_conversions }, &limits);
        let _ = order_value(Money::new(amount, Currency::SAR), Money::new(norm, Currency::SAR), &limits);
        let _ = timing(t(0), t(0) + TimeDelta::seconds(i64::from(secs)), &limits);
    }

    #[test]
    fn a_signal_of_velocity_means_the_count_passed_its_limit(count in 0u64..200, limit in 0u64..100) {
        let limits = Limits { referrals_per_day: limit, ..Limits::default() };
        prop_assert_eq!(velocity(Rate::ReferralsPerDay, count, &limits).is_some(), count > limit);
    }
}

#[test]
fn edges_found_in_review_hold() {
    let limits = Limits::default();
    // A window before the earliest time does not panic.
    let min = DateTime::<Utc>::MIN_UTC;
    assert!(count_in_window(Rate::ReferralsPerDay, &[min], min) <= 1);
    // An order up to a second before the click is not "0 s after".
    assert!(timing(t(0), t(0) - TimeDelta::milliseconds(500), &limits).is_none());
    // More refunds than orders is read as all refunded, not as nothing.
    let program = RefundCounts {
        refunds: 50,
        conversions: 1_000,
    };
    assert!(
        refund_abuse(
            &cid("a"),
            RefundCounts {
                refunds: 30,
                conversions: 10
            },
            program,
            &limits
        )
        .is_some()
    );
    // A multiple of 0 is the check turned off, not every order flagged.
    let off = Limits {
        order_value_multiple_bps: 0,
        ..Limits::default()
    };
    let sar = |m| Money::new(m, Currency::SAR);
    assert!(order_value(sar(0), sar(100), &off).is_none());
    // A referrer with a huge fan-out: the search stops, bounded.
    let hub = cid("hub");
    let mut calls = 0;
    let found = ring(
        &cid("nobody"),
        &hub,
        |c| {
            calls += 1;
            if c == &hub {
                (0..50_000).map(|i| cid(&format!("r{i}"))).collect()
            } else {
                Vec::new()
            }
        },
        &limits,
    );
    assert_eq!(found, None);
    assert!(calls <= 2, "{calls}");
}
