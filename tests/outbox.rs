//! The fulfilment outbox through the engine: cash rewards queued in the
//! commit that makes them available, claimed with a lease, delivered once
//! with a stable delivery key, retried with backoff, dead-lettered, taken
//! over when a worker dies, and cancelled by a refund before a claim.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, block_on};
use referrals::incentive::RuleSet;
use referrals::ledger::{DeliveryPolicy, DeliveryState, EntryKind, LedgerPolicy};
use referrals::model::{
    Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup,
};
use referrals::program::Incentive;
use referrals::{Currency, Engine, ErrorKind, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn minutes(n: i64) -> TimeDelta {
    TimeDelta::minutes(n)
}

/// 20 SAR cash to the referrer on the referee's first purchase.
fn engine(policy: LedgerPolicy) -> Engine<MemoryStore> {
    let rules: RuleSet = serde_json::from_str(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": [{"id": "cash", "trigger": {"on": "first_purchase"},
              "effects": [{"to": "referrer", "fixed": {"kind": "cash", "amount": {"minor": 2000, "currency": "SAR"}}}]}]}"#,
    )
    .unwrap();
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .incentive(Incentive::Rules(rules))
        .ledger_policy(policy)
        .build()
        .unwrap();
    Engine::new(MemoryStore::new(), program)
}

async fn refer(e: &Engine<MemoryStore>, referee: &str, at: DateTime<Utc>) -> ConversionOutcome {
    let code = e.issue_code(&cid("amira"), at).await.unwrap().record.code;
    e.record_signup(&Signup {
        id: EventId::new(format!("s-{referee}")).unwrap(),
        customer: cid(referee),
        visitor: None,
        code: Some(code),
        channel: None,
        at,
    })
    .await
    .unwrap();
    e.record_conversion(&Conversion {
        order: OrderId::new(format!("o-{referee}")).unwrap(),
        customer: cid(referee),
        amount: Money::new(10_000, Currency::SAR),
        at,
    })
    .await
    .unwrap()
}

#[test]
fn a_cash_reward_is_delivered_once_and_booked_as_redeemed() {
    let e = engine(LedgerPolicy::default());
    block_on(async {
        let o = refer(&e, "badr", t0()).await;
        assert!(matches!(o, ConversionOutcome::Rewarded { .. }), "{o:?}");
        let claimed = e
            .claim_deliveries("worker-1", t0(), minutes(5), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        let d = &claimed[0];
        assert_eq!(
            (d.customer.as_str(), d.quantity, d.attempt),
            ("amira", 2000, 1)
        );
        assert!(
            e.claim_deliveries("worker-2", t0(), minutes(5), 10)
                .await
                .unwrap()
                .is_empty(),
            "leased"
        );

        let done = e
            .mark_delivered(&d.id, "payout-77", t0() + minutes(1))
            .await
            .unwrap();
        assert_eq!(
            done.delivery_time(),
            Some(minutes(1)),
            "due to delivered, as a figure"
        );
        let again = e
            .mark_delivered(&d.id, "payout-77", t0() + minutes(2))
            .await
            .unwrap();
        assert_eq!(again, done, "reporting twice changes nothing");
        let kinds: Vec<EntryKind> = e
            .ledger(&cid("amira"))
            .await
            .unwrap()
            .iter()
            .map(|x| x.kind)
            .collect();
        assert_eq!(kinds, [EntryKind::Granted, EntryKind::Redeemed]);
        assert!(
            e.claim_deliveries("worker-1", t0() + TimeDelta::days(9), minutes(5), 10)
                .await
                .unwrap()
                .is_empty()
        );
    });
}

#[test]
fn a_dead_worker_loses_its_lease_and_the_key_stays_the_same() {
    let e = engine(LedgerPolicy::default());
    block_on(async {
        refer(&e, "badr", t0()).await;
        let first = e
            .claim_deliveries("worker-1", t0(), minutes(5), 10)
            .await
            .unwrap();
        // worker-1 dies without reporting.
        let early = e
            .claim_deliveries("worker-2", t0() + minutes(4), minutes(5), 10)
            .await
            .unwrap();
        assert!(early.is_empty(), "the lease still runs");
        let second = e
            .claim_deliveries("worker-2", t0() + minutes(5), minutes(5), 10)
            .await
            .unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(
            second[0].id, first[0].id,
            "one delivery key for every attempt"
        );
        assert_eq!(second[0].attempt, 2);
    });
}

#[test]
fn failures_back_off_and_end_in_the_dead_letter_queue() {
    let e = engine(LedgerPolicy {
        delivery: DeliveryPolicy {
            max_attempts: 3,
            backoff_seconds: 60,
        },
        ..LedgerPolicy::default()
    });
    block_on(async {
        refer(&e, "badr", t0()).await;
        let mut now = t0();
        for attempt in 1..=3u32 {
            let claimed = e.claim_deliveries("w", now, minutes(5), 10).await.unwrap();
            assert_eq!(claimed.len(), 1, "attempt {attempt}");
            let item = e
                .mark_failed(&claimed[0].id, "provider timeout", now)
                .await
                .unwrap();
            if attempt < 3 {
                // 60 s, then 120 s.
                let wait = TimeDelta::seconds(60 << (attempt - 1));
                assert_eq!(item.next_attempt_at, now + wait);
                assert!(
                    e.claim_deliveries("w", now + wait - TimeDelta::seconds(1), minutes(5), 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                now += wait;
            } else {
                assert_eq!(
                    item.state,
                    DeliveryState::Dead {
                        error: "provider timeout".into()
                    }
                );
            }
        }
        assert!(
            e.claim_deliveries("w", now + TimeDelta::days(1), minutes(5), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let err = e
            .mark_failed(
                &referrals::engine::book::delivery_id(&first_reward(&e).await),
                "x",
                now,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

async fn first_reward(e: &Engine<MemoryStore>) -> referrals::model::RewardId {
    e.ledger(&cid("amira")).await.unwrap()[0].reward.clone()
}

#[test]
fn a_held_reward_is_queued_only_when_released_and_a_refund_first_cancels_it() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        refer(&e, "badr", t0()).await;
        assert!(
            e.claim_deliveries("w", t0(), minutes(5), 10)
                .await
                .unwrap()
                .is_empty(),
            "held"
        );
        e.release_due(t0() + TimeDelta::days(1), 10).await.unwrap();
        let id = referrals::engine::book::delivery_id(&first_reward(&e).await);
        let item = e.outbox_item(&id).await.unwrap().unwrap();
        assert_eq!(
            (item.due_at, item.state.clone()),
            (t0() + TimeDelta::days(1), DeliveryState::Ready)
        );

        // Refunded before any worker claimed it: nothing leaves.
        e.record_refund(&Refund {
            id: RefundId::new("r").unwrap(),
            order: OrderId::new("o-badr").unwrap(),
            amount: RefundAmount::Full,
            at: t0() + TimeDelta::days(2),
        })
        .await
        .unwrap();
        assert_eq!(
            e.outbox_item(&id).await.unwrap().unwrap().state,
            DeliveryState::Cancelled
        );
        assert!(
            e.claim_deliveries("w", t0() + TimeDelta::days(3), minutes(5), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let err = e
            .mark_delivered(&id, "p", t0() + TimeDelta::days(3))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn a_coupon_reward_issues_a_single_use_code_redeemed_once_by_order() {
    let rules: RuleSet = serde_json::from_str(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": [{"id": "coupon", "trigger": {"on": "first_purchase"},
              "effects": [{"to": "referee", "fixed": {"kind": "coupon", "discount": {"percent": {"basis_points": 1500}}}}]}]}"#,
    )
    .unwrap();
    let format = referrals::CodeFormat::default().with_prefix("CPN").unwrap();
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .incentive(Incentive::Rules(rules))
        .ledger_policy(LedgerPolicy {
            coupons: referrals::ledger::CouponPolicy {
                format,
                valid_for_seconds: Some(30 * 86_400),
            },
            ..LedgerPolicy::default()
        })
        .build()
        .unwrap();
    let e = Engine::new(MemoryStore::new(), program);
    block_on(async {
        refer(&e, "badr", t0()).await;
        let claimed = e
            .claim_deliveries("mailer", t0(), minutes(5), 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "the coupon goes out through the outbox");
        let item = e.outbox_item(&claimed[0].id).await.unwrap().unwrap();
        let code = item
            .coupon
            .expect("the coupon's code travels with the delivery");
        assert!(code.as_str().starts_with("CPN"), "{code}");
        // It refers nobody.
        let check = e.check_code(code.as_str(), t0()).await.unwrap();
        assert_eq!(
            check.unusable,
            Some(referrals::store::CodeUnusable::Unknown)
        );
        // E-mailing the code does not spend it.
        e.mark_delivered(&claimed[0].id, "mail-1", t0())
            .await
            .unwrap();

        let typed = code.as_str().to_lowercase();
        let order = OrderId::new("o-next").unwrap();
        let used = e
            .redeem_coupon(&typed, &order, t0() + TimeDelta::days(2))
            .await
            .unwrap();
        assert_eq!(used.available, 0);
        let again = e
            .redeem_coupon(code.as_str(), &order, t0() + TimeDelta::days(3))
            .await
            .unwrap();
        assert_eq!(again, used, "the same order again: the first outcome");
        let other = OrderId::new("o-other").unwrap();
        let err = e
            .redeem_coupon(code.as_str(), &other, t0() + TimeDelta::days(3))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        let missing = e
            .redeem_coupon("CPN-7K3-MQ9-XDP", &other, t0())
            .await
            .unwrap_err();
        assert!(
            matches!(
                missing.kind(),
                ErrorKind::NotFound | ErrorKind::InvalidInput
            ),
            "{missing}"
        );
    });
}

#[test]
fn an_unused_coupon_expires() {
    let rules: RuleSet = serde_json::from_str(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": [{"id": "coupon", "trigger": {"on": "first_purchase"},
              "effects": [{"to": "referee", "fixed": {"kind": "coupon", "discount": {"fixed": {"amount": {"minor": 1000, "currency": "SAR"}}}}}]}]}"#,
    )
    .unwrap();
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .incentive(Incentive::Rules(rules))
        .ledger_policy(LedgerPolicy {
            coupons: referrals::ledger::CouponPolicy {
                valid_for_seconds: Some(86_400),
                ..Default::default()
            },
            ..LedgerPolicy::default()
        })
        .build()
        .unwrap();
    let e = Engine::new(MemoryStore::new(), program);
    block_on(async {
        refer(&e, "badr", t0()).await;
        let reward = e.ledger(&cid("badr")).await.unwrap()[0].reward.clone();
        let code = e.reward(&reward).await.unwrap().unwrap().coupon.unwrap();
        let err = e
            .redeem_coupon(
                code.as_str(),
                &OrderId::new("late").unwrap(),
                t0() + TimeDelta::days(1),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(
            e.expire_due(t0() + TimeDelta::days(1), 10)
                .await
                .unwrap()
                .moved,
            1
        );
    });
}

/// The hold ended but no release job ran before a full refund: the refund
/// releases the reward at the end of its hold and reverses it. Nothing is
/// left to deliver, so no worker may claim cash for it.
#[test]
fn a_refund_after_the_hold_but_before_the_release_job_queues_nothing_to_deliver() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        refer(&e, "badr", t0()).await;
        e.record_refund(&Refund {
            id: RefundId::new("r").unwrap(),
            order: OrderId::new("o-badr").unwrap(),
            amount: RefundAmount::Full,
            at: t0() + TimeDelta::days(2),
        })
        .await
        .unwrap();
        let reward = e.reward(&first_reward(&e).await).await.unwrap().unwrap();
        assert_eq!(reward.progress.available, 0);
        assert!(
            e.claim_deliveries("w", t0() + TimeDelta::days(3), minutes(5), 10)
                .await
                .unwrap()
                .is_empty(),
            "cash for a refunded order must not be delivered"
        );
    });
}

/// A cash reward valid for a day whose delivery was not claimed in time
/// (workers down) expires: nothing is left to deliver, so no worker may
/// claim it afterwards.
#[test]
fn an_expired_reward_is_no_longer_delivered() {
    let e = engine(LedgerPolicy {
        valid_for_seconds: Some(86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        refer(&e, "badr", t0()).await;
        let report = e.expire_due(t0() + TimeDelta::days(1), 10).await.unwrap();
        assert_eq!(report.moved, 1);
        let id = referrals::engine::book::delivery_id(&first_reward(&e).await);
        assert_eq!(
            e.outbox_item(&id).await.unwrap().unwrap().state,
            DeliveryState::Cancelled
        );
        assert!(
            e.claim_deliveries("w", t0() + TimeDelta::days(2), minutes(5), 10)
                .await
                .unwrap()
                .is_empty(),
            "cash for an expired reward must not be delivered"
        );
    });
}
