//! The reward ledger through the engine on `MemoryStore`: holds and their
//! release, review, expiry, redemption, refunds at every stage (cancel,
//! reverse, debt and its repayment, write-off), budgets and caps. After
//! every story the kept balances equal the fold of the entries.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, Reason, block_on};
use referrals::ledger::{
    Budget, Cap, CapMeasure, CapPeriod, CapSubject, EntryKind, LedgerPolicy, RewardState,
    fold_balances,
};
use referrals::model::{
    Conversion, CustomerId, EventId, OperatorId, OrderId, Redemption, RedemptionId, Refund,
    RefundAmount, RefundId, RewardId, Signup,
};
use referrals::reward::Unit;
use referrals::store::Payout;
use referrals::{Code, Currency, Engine, ErrorKind, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn engine(policy: LedgerPolicy) -> Engine<MemoryStore> {
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
        .ledger_policy(policy)
        .build()
        .unwrap();
    Engine::new(MemoryStore::new(), program)
}

/// `referrer` refers `referee` (a typed code at `at`), who orders
/// `minor` at `at + 1 day`; returns the order's payouts.
async fn referral(
    e: &Engine<MemoryStore>,
    referrer: &str,
    referee: &str,
    minor: i64,
    at: DateTime<Utc>,
) -> ConversionOutcome {
    let code: Code = e.issue_code(&cid(referrer), at).await.unwrap().record.code;
    e.record_signup(&Signup {
        id: EventId::new(format!("signup-{referee}")).unwrap(),
        customer: cid(referee),
        visitor: None,
        code: Some(code),
        channel: None,
        at,
    })
    .await
    .unwrap();
    e.record_conversion(&Conversion {
        order: OrderId::new(format!("order-{referee}")).unwrap(),
        customer: cid(referee),
        amount: sar(minor),
        at: at + days(1),
    })
    .await
    .unwrap()
}

fn payouts(o: &ConversionOutcome) -> &[Payout] {
    match o {
        ConversionOutcome::Rewarded { payouts, .. } => payouts,
        other => panic!("not rewarded: {other:?}"),
    }
}

fn refund(order: &str, id: &str, amount: RefundAmount, at: DateTime<Utc>) -> Refund {
    Refund {
        id: RefundId::new(id).unwrap(),
        order: OrderId::new(order).unwrap(),
        amount,
        at,
    }
}

fn redemption(id: &str, reward: &RewardId, quantity: i64, at: DateTime<Utc>) -> Redemption {
    Redemption {
        id: RedemptionId::new(id).unwrap(),
        reward: reward.clone(),
        quantity,
        at,
    }
}

/// (pending, available, redeemed, owed) of a customer's SAR balance.
async fn sar_balance(e: &Engine<MemoryStore>, who: &str) -> (i64, i64, i64, i64) {
    let unit = Unit::Money(Currency::SAR);
    e.balances(&cid(who))
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.unit == unit)
        .map_or((0, 0, 0, 0), |b| {
            (b.pending, b.available, b.redeemed, b.owed)
        })
}

/// The ledger laws over the whole store: kept balances equal the fold of
/// the entries, every reward's progress equals the fold of its entries,
/// and no counter is negative.
fn audit(e: &Engine<MemoryStore>) {
    let state = e.store().snapshot();
    let entries = state.all_ledger_entries();
    let folded = fold_balances(&entries);
    let kept = state.all_balances();
    assert_eq!(kept.len(), folded.len());
    for (_, customer, b) in kept {
        assert_eq!(
            folded.get(&(customer.clone(), b.unit.clone())),
            Some(&b),
            "{customer}"
        );
    }
    for v in state.all_rewards() {
        let r = v.record;
        let p = referrals::ledger::Progress::folded(entries.iter().filter(|x| x.reward == r.id));
        assert_eq!(p, r.progress, "reward {} vs its entries", r.id);
    }
    for (key, v) in state.all_counters() {
        assert!(v >= 0, "counter {key:?} is {v}");
    }
}

#[test]
fn a_held_reward_is_released_when_its_hold_ends_and_only_once() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(14 * 86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let ids: Vec<RewardId> = payouts(&o).iter().map(|p| p.reward.clone()).collect();
        assert_eq!(
            e.balance(&cid("amira")).await.unwrap(),
            sar(0),
            "held, not spendable"
        );
        assert_eq!(sar_balance(&e, "amira").await, (1500, 0, 0, 0));
        let r = e.reward(&ids[0]).await.unwrap().unwrap();
        assert_eq!(r.state(), RewardState::Pending);
        assert_eq!(r.release_at, Some(t0() + days(15)));

        let early = e
            .release_due(t0() + days(15) - TimeDelta::seconds(1), 100)
            .await
            .unwrap();
        assert_eq!(early.moved, 0, "one second before the hold ends");
        let due = e.release_due(t0() + days(15), 100).await.unwrap();
        assert_eq!((due.moved, due.more), (2, false));
        assert_eq!(
            e.release_due(t0() + days(40), 100).await.unwrap().moved,
            0,
            "once"
        );
        assert_eq!(sar_balance(&e, "amira").await, (0, 1500, 0, 0));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(1000));
        let ledger = e.ledger(&cid("amira")).await.unwrap();
        let kinds: Vec<EntryKind> = ledger.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [EntryKind::Held, EntryKind::Released]);
        assert_eq!(
            ledger[1].at,
            t0() + days(15),
            "booked at the end of the hold"
        );
        audit(&e);
    });
}

#[test]
fn release_due_works_in_batches() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        for i in 0..5 {
            referral(&e, &format!("r{i}"), &format!("f{i}"), 10_000, t0()).await;
        }
        let later = t0() + days(10);
        let first = e.release_due(later, 4).await.unwrap();
        assert_eq!((first.moved, first.more), (4, true));
        let second = e.release_due(later, 4).await.unwrap();
        assert_eq!((second.moved, second.more), (4, true));
        let third = e.release_due(later, 4).await.unwrap();
        assert_eq!((third.moved, third.more), (2, false));
        audit(&e);
    });
}

#[test]
fn a_refund_during_the_hold_cancels_and_after_it_reverses() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(14 * 86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        referral(&e, "amira", "badr", 12_000, t0()).await;
        let r = e
            .record_refund(&refund(
                "order-badr",
                "r1",
                RefundAmount::Full,
                t0() + days(3),
            ))
            .await
            .unwrap();
        assert!(r.clawbacks.iter().all(|c| c.kind == EntryKind::Cancelled));
        assert_eq!(sar_balance(&e, "amira").await, (0, 0, 0, 0));

        // After the hold ended, even before the release job ran: released
        // at the hold's end, then reversed.
        referral(&e, "amira", "dana", 12_000, t0()).await;
        let r = e
            .record_refund(&refund(
                "order-dana",
                "r1",
                RefundAmount::Full,
                t0() + days(20),
            ))
            .await
            .unwrap();
        let kinds: Vec<EntryKind> = r.clawbacks.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                EntryKind::Released,
                EntryKind::Reversed,
                EntryKind::Released,
                EntryKind::Reversed
            ]
        );
        assert_eq!(sar_balance(&e, "amira").await, (0, 0, 0, 0));
        assert_eq!(e.release_due(t0() + days(40), 100).await.unwrap().moved, 0);
        audit(&e);
    });
}

#[test]
fn redemption_spends_available_rewards_once() {
    let e = engine(LedgerPolicy::default());
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        let at = t0() + days(2);
        let first = e
            .redeem(&redemption("spend-1", &reward, 400, at))
            .await
            .unwrap();
        assert_eq!(first.available, 1100);
        let again = e
            .redeem(&redemption("spend-1", &reward, 400, at))
            .await
            .unwrap();
        assert_eq!(
            again, first,
            "a retried redemption returns the first outcome"
        );
        assert_eq!(sar_balance(&e, "amira").await, (0, 1100, 400, 0));
        let reused = e
            .redeem(&redemption("spend-1", &reward, 401, at))
            .await
            .unwrap_err();
        assert_eq!(reused.kind(), ErrorKind::IdempotencyMismatch);
        let too_much = e
            .redeem(&redemption("spend-2", &reward, 1101, at))
            .await
            .unwrap_err();
        assert_eq!(too_much.kind(), ErrorKind::InvalidInput, "{too_much}");
        let zero = e
            .redeem(&redemption("spend-3", &reward, 0, at))
            .await
            .unwrap_err();
        assert_eq!(zero.kind(), ErrorKind::InvalidInput);
        let unknown = RewardId::new("rw_nope").unwrap();
        let missing = e
            .redeem(&redemption("spend-4", &unknown, 1, at))
            .await
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        audit(&e);
    });
}

#[test]
fn a_pending_reward_cannot_be_spent() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        let err = e
            .redeem(&redemption("spend", &reward, 1, t0() + days(1)))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("pending"), "{err}");
    });
}

#[test]
fn a_refund_after_redemption_is_a_visible_debt_repaid_from_the_next_reward() {
    let e = engine(LedgerPolicy::default());
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        e.redeem(&redemption("spend", &reward, 1500, t0() + days(2)))
            .await
            .unwrap();
        let r = e
            .record_refund(&refund(
                "order-badr",
                "r1",
                RefundAmount::Full,
                t0() + days(3),
            ))
            .await
            .unwrap();
        let amira: Vec<(EntryKind, i64)> = r
            .clawbacks
            .iter()
            .filter(|c| c.customer == cid("amira"))
            .map(|c| (c.kind, c.quantity))
            .collect();
        assert_eq!(amira, [(EntryKind::Owed, 1500)]);
        assert_eq!(
            e.balance(&cid("amira")).await.unwrap(),
            sar(-1500),
            "never floored at zero"
        );
        assert_eq!(sar_balance(&e, "amira").await, (0, 0, 1500, 1500));

        // Her next reward pays the debt first.
        referral(&e, "amira", "dana", 12_000, t0() + days(4)).await;
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
        assert_eq!(sar_balance(&e, "amira").await, (0, 0, 1500, 0));
        // Entries booked at one instant are ordered by id, not by cause:
        // compare the last two as a set.
        let mut kinds: Vec<EntryKind> = e
            .ledger(&cid("amira"))
            .await
            .unwrap()
            .iter()
            .map(|x| x.kind)
            .collect();
        kinds[3..].sort();
        assert_eq!(
            kinds,
            [
                EntryKind::Granted,
                EntryKind::Redeemed,
                EntryKind::Owed,
                EntryKind::Granted,
                EntryKind::Repaid
            ]
        );
        audit(&e);
    });
}

#[test]
fn debt_beyond_the_program_limit_is_written_off_and_recorded() {
    let e = engine(LedgerPolicy {
        debt_limit: Some(sar(1000)),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        e.redeem(&redemption("spend", &reward, 1500, t0() + days(2)))
            .await
            .unwrap();
        e.record_refund(&refund(
            "order-badr",
            "r1",
            RefundAmount::Full,
            t0() + days(3),
        ))
        .await
        .unwrap();
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(-1000));
        let r = e.reward(&reward).await.unwrap().unwrap();
        assert_eq!((r.progress.owed, r.progress.written_off), (1500, 500));
        assert_eq!(r.state(), RewardState::Reversed);
        audit(&e);
    });
}

#[test]
fn a_budget_is_a_hard_stop_and_a_refund_gives_it_back() {
    let e = engine(LedgerPolicy {
        budget: Some(Budget {
            limit: sar(5000),
            overdraft: None,
            shared: None,
        }),
        ..LedgerPolicy::default()
    });
    block_on(async {
        // 2,500 per referral: two fit.
        referral(&e, "amira", "badr", 12_000, t0()).await;
        referral(&e, "amira", "dana", 12_000, t0()).await;
        let third = referral(&e, "amira", "eman", 12_000, t0()).await;
        assert_eq!(
            third,
            ConversionOutcome::NotRewarded {
                referrer: Some(cid("amira")),
                reason: Reason::BudgetExhausted
            }
        );
        let rec = e
            .conversion(&OrderId::new("order-eman").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            rec.withheld.len(),
            2,
            "recorded and visible: {:?}",
            rec.withheld
        );
        assert!(
            rec.withheld
                .iter()
                .all(|w| w.reason == Reason::BudgetExhausted)
        );

        e.record_refund(&refund(
            "order-badr",
            "r1",
            RefundAmount::Full,
            t0() + days(2),
        ))
        .await
        .unwrap();
        let fourth = referral(&e, "amira", "farah", 12_000, t0() + days(3)).await;
        assert_eq!(payouts(&fourth).len(), 2, "the refund gave the budget back");
        audit(&e);
    });
}

#[test]
fn an_overdraft_lets_the_budget_pass_its_limit_by_a_stated_amount() {
    let e = engine(LedgerPolicy {
        budget: Some(Budget {
            limit: sar(4000),
            overdraft: Some(sar(1000)),
            shared: None,
        }),
        ..LedgerPolicy::default()
    });
    block_on(async {
        referral(&e, "amira", "badr", 12_000, t0()).await;
        let second = referral(&e, "amira", "dana", 12_000, t0()).await;
        assert_eq!(payouts(&second).len(), 2, "4,000 + 1,000 of overdraft");
        let third = referral(&e, "amira", "eman", 12_000, t0()).await;
        assert!(matches!(
            third,
            ConversionOutcome::NotRewarded {
                reason: Reason::BudgetExhausted,
                ..
            }
        ));
    });
}

#[test]
fn a_referrer_cap_per_month_withholds_only_the_referrer_side() {
    let e = engine(LedgerPolicy {
        caps: vec![Cap {
            on: CapSubject::Referrer,
            measure: CapMeasure::Count,
            limit: 2,
            period: CapPeriod::Month,
            shared: None,
        }],
        ..LedgerPolicy::default()
    });
    block_on(async {
        referral(&e, "amira", "badr", 12_000, t0()).await;
        referral(&e, "amira", "dana", 12_000, t0()).await;
        let third = referral(&e, "amira", "eman", 12_000, t0()).await;
        let ConversionOutcome::Rewarded {
            payouts, withheld, ..
        } = &third
        else {
            panic!("the referee is still paid: {third:?}");
        };
        assert_eq!(payouts.len(), 1);
        assert_eq!(payouts[0].beneficiary, cid("eman"));
        assert_eq!(withheld.len(), 1);
        assert_eq!(withheld[0].reason, Reason::CapReached);
        // A new month, a new allowance.
        let april = Utc.with_ymd_and_hms(2026, 4, 2, 0, 0, 0).unwrap();
        let fourth = referral(&e, "amira", "farah", 12_000, april).await;
        assert_eq!(payouts_len(&fourth), 2);
        audit(&e);
    });
}

fn payouts_len(o: &ConversionOutcome) -> usize {
    payouts(o).len()
}

#[test]
fn review_approves_or_rejects_a_held_reward_once() {
    let e = engine(LedgerPolicy {
        hold_seconds: Some(30 * 86_400),
        budget: Some(Budget {
            limit: sar(2500),
            overdraft: None,
            shared: None,
        }),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let (referrer, referee) = (payouts(&o)[0].reward.clone(), payouts(&o)[1].reward.clone());
        let staff = OperatorId::new("staff:huda").unwrap();
        let at = t0() + days(2);
        let approved = e
            .approve(&referrer, &staff, "known customer", at)
            .await
            .unwrap();
        assert_eq!(approved.state(), RewardState::Available);
        assert_eq!(approved.decision.as_ref().unwrap().by, staff);
        assert_eq!(
            e.approve(&referrer, &staff, "again", at).await.unwrap(),
            approved
        );
        let err = e
            .reject(&referrer, &staff, "changed my mind", at)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        let rejected = e
            .reject(&referee, &staff, "fake account", at)
            .await
            .unwrap();
        assert_eq!(rejected.state(), RewardState::Cancelled);
        assert_eq!(
            e.reject(&referee, &staff, "again", at).await.unwrap(),
            rejected
        );
        // The rejection gave its 1,000 back to the budget: a new referral's
        // referee reward fits, the referrer's 1,500 does not.
        let next = referral(&e, "dana", "eman", 12_000, at).await;
        let ConversionOutcome::Rewarded { withheld, .. } = &next else {
            panic!("{next:?}");
        };
        assert_eq!(withheld.len(), 1);
        assert_eq!(e.release_due(t0() + days(60), 10).await.unwrap().moved, 1);
        audit(&e);
    });
}

#[test]
fn unused_rewards_expire_and_give_their_budget_back() {
    let e = engine(LedgerPolicy {
        valid_for_seconds: Some(30 * 86_400),
        budget: Some(Budget {
            limit: sar(2500),
            overdraft: None,
            shared: None,
        }),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        e.redeem(&redemption("spend", &reward, 500, t0() + days(2)))
            .await
            .unwrap();
        let expiry = t0() + days(31);
        assert_eq!(
            e.expire_due(expiry - TimeDelta::seconds(1), 10)
                .await
                .unwrap()
                .moved,
            0
        );
        let report = e.expire_due(expiry, 10).await.unwrap();
        assert_eq!(report.moved, 2, "{report:?}");
        assert_eq!(e.expire_due(expiry + days(1), 10).await.unwrap().moved, 0);
        assert_eq!(sar_balance(&e, "amira").await, (0, 0, 500, 0));
        let r = e.reward(&reward).await.unwrap().unwrap();
        assert_eq!((r.progress.expired, r.progress.redeemed), (1000, 500));
        // 500 stayed spent; 2,000 came back: of a new referral's 2,500 the
        // referrer's 1,500 fits and the referee's 1,000 does not.
        let next = referral(&e, "dana", "eman", 12_000, expiry).await;
        assert_eq!(payouts(&next).len(), 1);
        assert_eq!(payouts(&next)[0].beneficiary, cid("dana"));
        audit(&e);
    });
}

#[test]
fn a_refund_dated_before_its_order_is_refused() {
    let e = engine(LedgerPolicy::default());
    block_on(async {
        referral(&e, "amira", "badr", 12_000, t0()).await;
        let err = e
            .record_refund(&refund("order-badr", "r1", RefundAmount::Full, t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("refund.at: "), "{err}");
    });
}

/// The expiry job is late: a reward past its validity is expired, whether
/// or not `expire_due` ran yet, so it cannot be spent (as a refund treats
/// a hold that ended as released whether or not `release_due` ran).
#[test]
fn a_reward_past_its_validity_cannot_be_spent_before_the_expiry_job_runs() {
    let e = engine(LedgerPolicy {
        valid_for_seconds: Some(30 * 86_400),
        ..LedgerPolicy::default()
    });
    block_on(async {
        let o = referral(&e, "amira", "badr", 12_000, t0()).await;
        let reward = payouts(&o)[0].reward.clone();
        let expiry = e
            .reward(&reward)
            .await
            .unwrap()
            .unwrap()
            .expires_at
            .unwrap();
        e.redeem(&redemption(
            "before",
            &reward,
            100,
            expiry - TimeDelta::seconds(1),
        ))
        .await
        .unwrap();
        let err = e
            .redeem(&redemption("late", &reward, 100, expiry))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("expired"), "{err}");
        assert_eq!(e.expire_due(expiry, 10).await.unwrap().moved, 2);
        let r = e.reward(&reward).await.unwrap().unwrap();
        assert_eq!((r.progress.redeemed, r.progress.expired), (100, 1400));
        audit(&e);
    });
}

#[test]
fn a_rolling_cap_counts_the_last_days_in_local_time() {
    let e = engine(LedgerPolicy {
        caps: vec![Cap {
            on: CapSubject::Referrer,
            measure: CapMeasure::Count,
            limit: 2,
            period: CapPeriod::Rolling { days: 7 },
            shared: None,
        }],
        time_zone: Some("Asia/Riyadh".into()),
        ..LedgerPolicy::default()
    });
    block_on(async {
        // `referral` orders a day after the signup: order days 1, 2, 4, 8, 8.
        let referrer_paid = |o: &ConversionOutcome| {
            payouts(o)
                .iter()
                .any(|p| p.role == referrals::reward::Role::Referrer)
        };
        let mut paid = Vec::new();
        for (friend, day) in [("f1", 0), ("f2", 1), ("f3", 3), ("f4", 7), ("f5", 7)] {
            let o = referral(&e, "amira", friend, 12_000, t0() + days(day)).await;
            paid.push(referrer_paid(&o));
        }
        // Day 4 sees days 1 and 2 in its window: full. Day 8's window is
        // days 2 to 8: day 2 used one, so one more fits, and then no more.
        assert_eq!(paid, [true, true, false, true, false]);
        // A refund of the day-2 referral gives its day back.
        e.record_refund(&refund("order-f2", "r", RefundAmount::Full, t0() + days(7)))
            .await
            .unwrap();
        let o = referral(&e, "amira", "f6", 12_000, t0() + days(7)).await;
        assert!(referrer_paid(&o));
        audit(&e);
    });
}

#[test]
fn a_rolling_cap_of_a_bad_length_is_refused() {
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1500), sar(1000))
        .ledger_policy(LedgerPolicy {
            caps: vec![Cap {
                on: CapSubject::Referrer,
                measure: CapMeasure::Count,
                limit: 2,
                period: CapPeriod::Rolling { days: 0 },
                shared: None,
            }],
            ..LedgerPolicy::default()
        })
        .build()
        .unwrap_err();
    assert_eq!(
        program.to_string(),
        "program.ledger: caps[0].period.days: must be 1 to 366, is 0"
    );
}
