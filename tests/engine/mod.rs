//! The engine end to end on the in-memory store.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::code::CodeSecret;
use referrals::engine::{
    ConversionOutcome, Reason, SignupOutcome, TouchOutcome, VanityOptions, block_on,
};
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup, Touch,
    TouchKind, VisitorId,
};
use referrals::program::CodeGeneration;
use referrals::store::{CodeUnusable, EntryKind, Role};
use referrals::{Channel, Code, Currency, Engine, ErrorKind, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn program() -> referrals::program::ProgramBuilder {
    Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .terms(3, "15 SAR each after the first order")
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
}

fn engine_with(p: Program) -> Engine<MemoryStore> {
    Engine::new(MemoryStore::new(), p).with_rng(StdRng::seed_from_u64(7))
}

fn engine() -> Engine<MemoryStore> {
    engine_with(program().build().unwrap())
}

fn touch(id: &str, visitor: &str, code: Code, channel: Channel, at: DateTime<Utc>) -> Touch {
    Touch {
        id: EventId::new(id).unwrap(),
        actor: Actor::Visitor(VisitorId::new(visitor).unwrap()),
        code,
        channel,
        kind: TouchKind::Click,
        at,
    }
}

fn signup(
    id: &str,
    customer: &str,
    visitor: Option<&str>,
    code: Option<Code>,
    at: DateTime<Utc>,
) -> Signup {
    Signup {
        id: EventId::new(id).unwrap(),
        customer: cid(customer),
        visitor: visitor.map(|v| VisitorId::new(v).unwrap()),
        code,
        channel: None,
        at,
    }
}

fn order(id: &str, customer: &str, minor: i64, at: DateTime<Utc>) -> Conversion {
    Conversion {
        order: OrderId::new(id).unwrap(),
        customer: cid(customer),
        amount: sar(minor),
        at,
    }
}

fn refund(id: &str, order: &str, amount: RefundAmount, at: DateTime<Utc>) -> Refund {
    Refund {
        id: RefundId::new(id).unwrap(),
        order: OrderId::new(order).unwrap(),
        amount,
        at,
    }
}

#[test]
fn a_whole_referral_pays_both_sides_and_a_refund_claws_back() {
    let e = engine();
    block_on(async {
        let issued = e.issue_code(&cid("amira"), t0()).await.unwrap();
        assert!(issued.created);
        let code = issued.record.code;
        let clicked = e
            .record_touch(&touch(
                "t1",
                "v-1",
                code,
                Channel::WhatsApp,
                t0() + TimeDelta::hours(1),
            ))
            .await
            .unwrap();
        assert_eq!(
            clicked,
            TouchOutcome::Recorded {
                referrer: cid("amira"),
                rewards: Vec::new(),
            }
        );
        let joined = e
            .record_signup(&signup(
                "s1",
                "badr",
                Some("v-1"),
                None,
                t0() + TimeDelta::hours(2),
            ))
            .await
            .unwrap();
        let SignupOutcome::Referred { referral, .. } = joined else {
            panic!("not referred: {joined:?}")
        };
        assert_eq!(referral.referrer, cid("amira"));
        assert_eq!(referral.channel, Channel::WhatsApp);
        let bought = e
            .record_conversion(&order("o1", "badr", 12_000, t0() + TimeDelta::days(3)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded {
            referrer,
            payouts,
            entries,
            ..
        } = bought
        else {
            panic!("not rewarded: {bought:?}")
        };
        assert_eq!(referrer, cid("amira"));
        assert_eq!(payouts.len(), 2);
        assert_eq!(entries.len(), 2);
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(1500));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(1000));

        // A third of the order comes back: a third of each reward, rounded
        // down, is clawed back.
        let r1 = e
            .record_refund(&refund(
                "r1",
                "o1",
                RefundAmount::Partial(sar(4_000)),
                t0() + TimeDelta::days(4),
            ))
            .await
            .unwrap();
        assert_eq!(r1.refunded, sar(4_000));
        assert_eq!(r1.remaining, sar(8_000));
        let claws: Vec<i64> = r1
            .clawbacks
            .iter()
            .map(|c| c.net_money().unwrap().minor())
            .collect();
        assert_eq!(claws, [-500, -333]);
        // The rest: the whole rewards are reversed, to the minor unit.
        let r2 = e
            .record_refund(&refund(
                "r2",
                "o1",
                RefundAmount::Full,
                t0() + TimeDelta::days(5),
            ))
            .await
            .unwrap();
        assert_eq!(r2.refunded, sar(8_000));
        assert!(r2.remaining.is_zero());
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(0));
        let ledger = e.ledger(&cid("amira")).await.unwrap();
        assert_eq!(ledger.len(), 3);
        assert_eq!(ledger[0].kind, EntryKind::Granted);
        assert_eq!(ledger[0].role, Role::Referrer);
        assert!(ledger[1..].iter().all(|l| l.kind == EntryKind::Reversed));

        // The host can read back who referred whom, codes and orders.
        let badr = e.customer(&cid("badr")).await.unwrap().unwrap();
        assert_eq!(badr.referral.unwrap().referrer, cid("amira"));
        assert_eq!(badr.qualifying_touches.len(), 1);
        assert_eq!(
            e.primary_code(&cid("amira")).await.unwrap().unwrap().code,
            code
        );
        assert_eq!(e.primary_code(&cid("badr")).await.unwrap(), None);
        let o1 = e
            .conversion(&OrderId::new("o1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o1.refunded, sar(12_000));
        assert_eq!(o1.refund_count, 2);
        assert_eq!(e.customer(&cid("nobody")).await.unwrap(), None);

        let again = e
            .record_refund(&refund(
                "r3",
                "o1",
                RefundAmount::Full,
                t0() + TimeDelta::days(6),
            ))
            .await
            .unwrap_err();
        assert_eq!(again.kind(), ErrorKind::InvalidInput, "{again}");
    });
}

trait WithAmount {
    fn with_amount(self, amount: Money) -> Self;
}

impl WithAmount for Conversion {
    fn with_amount(mut self, amount: Money) -> Conversion {
        self.amount = amount;
        self
    }
}

async fn balances(e: &Engine<MemoryStore>) -> Vec<i64> {
    let mut v = Vec::new();
    for f in ["a", "b", "c", "d"] {
        v.push(e.balance(&cid(f)).await.unwrap().minor());
    }
    v
}

mod attribution;
mod codes;
mod concurrent_events;
mod events;
