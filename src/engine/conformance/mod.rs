//! The engine's end-to-end clauses over a host's [`Store`], and
//! [`run_all`], the one call a backend makes: every clause of the store
//! contract ([`store::conformance`](crate::store::conformance)) and then
//! the engine driven over the store.
//!
//! **For tests only** (the `testing` feature), and outside semver, like
//! the store suite. It lives beside the engine, not in the store, so that
//! the store imports nothing from the engine.
//!
//! ```
//! use referrals::MemoryStore;
//! use referrals::engine::conformance;
//!
//! // In the backend's tests:
//! #[tokio::test(flavor = "multi_thread")]
//! async fn memory_store_keeps_the_contract() {
//!     conformance::run_all(|| async { MemoryStore::new() }).await;
//! }
//! # fn main() {
//! #     tokio::runtime::Builder::new_multi_thread()
//! #         .build()
//! #         .unwrap()
//! #         .block_on(conformance::run_all(|| async { MemoryStore::new() }));
//! # }
//! ```

use std::fmt::Debug;
use std::future::Future;

use super::{ConversionOutcome, Engine, Reason, SignupOutcome, TouchOutcome, VanityOptions};

mod fraud;
use crate::error::{Error, ErrorKind};
use crate::program::Program;
use crate::store::conformance::fixtures::*;
pub use fraud::fraud_screening_over_store;

/// Runs the whole store suite and then every engine clause, each on a
/// fresh store from `fresh`.
///
/// Must run inside a multi-threaded tokio runtime; panics with the
/// failing clause's name and message on the first violation.
pub async fn run_all<S, F, Fut>(mut fresh: F)
where
    S: Store + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    crate::store::conformance::run_all(&mut fresh).await;
    engine_end_to_end_over_store(&fresh().await).await;
    fraud_screening_over_store(&fresh().await).await;
}

/// An entry's change to the spendable money balance (rewards positive,
/// reversals negative).
fn net(e: &LedgerEntry) -> Money {
    e.net_money()
        .unwrap_or_else(|| panic!("engine clause: entry {e:?} is not counted in money"))
}

/// Unwraps an engine result, naming the clause, the step and the error.
pub(crate) fn ok<T>(clause: &str, step: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| {
        panic!(
            "{clause}: {step}: the engine failed ({:?}): {err}",
            err.kind()
        )
    })
}

fn expect_error<T: Debug>(clause: &str, step: &str, result: Result<T, Error>, kind: ErrorKind) {
    match result {
        Ok(value) => panic!("{clause}: {step}: expected a {kind:?} error, got {value:?}"),
        Err(err) if err.kind() == kind => {}
        Err(err) => panic!(
            "{clause}: {step}: expected {kind:?}, got {:?}: {err}",
            err.kind()
        ),
    }
}

/// The engine over this store, end to end: a vanity code, a visitor's
/// click, the visitor's signup, a second signup with the typed code, an
/// order, a partial and a full refund. Every event replayed returns the
/// same outcome and writes nothing; the ledgers balance to zero after the
/// full refund.
pub async fn engine_end_to_end_over_store<S: Store>(store: &S) {
    let clause = "engine_end_to_end_over_store";
    let program = Program::builder("conformance-engine", "Conformance")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1_500), sar(1_000))
        .build()
        .unwrap_or_else(|err| panic!("{clause}: the fixture program is invalid: {err}"));
    let prog = program.id().clone();
    let engine = Engine::new(store, program);
    let p = Probe::new(store, clause);
    let sara = cid("sara");
    let nada = cid("nada");

    let record = ok(
        clause,
        "create_vanity_code",
        engine
            .create_vanity_code(&sara, "SARA2026", VanityOptions::default(), at(0))
            .await,
    );
    let sara_code = code("SARA2026");
    assert_eq!(
        (record.code, &record.owner, record.origin),
        (sara_code, &sara, CodeOrigin::Vanity),
        "{clause}: the vanity code"
    );
    let again = engine
        .create_vanity_code(&sara, "SARA2026", VanityOptions::default(), at(5))
        .await;
    assert_eq!(
        ok(clause, "create_vanity_code again", again),
        record,
        "{clause}: vanity replay"
    );

    let click = Touch {
        id: eid("touch-1"),
        actor: Actor::Visitor(vid("visitor-1")),
        code: sara_code,
        channel: Channel::WhatsApp,
        kind: TouchKind::Click,
        at: at(60),
    };
    let self_touch = Touch {
        id: eid("touch-2"),
        actor: Actor::Customer(sara.clone()),
        channel: Channel::Link,
        at: at(61),
        ..click.clone()
    };
    let clicked = ok(clause, "record_touch", engine.record_touch(&click).await);
    assert_eq!(
        clicked,
        TouchOutcome::Recorded {
            referrer: sara.clone(),
            rewards: Vec::new(),
        },
        "{clause}: the visitor's click"
    );
    let own = ok(
        clause,
        "record_touch (own code)",
        engine.record_touch(&self_touch).await,
    );
    assert_eq!(
        own,
        TouchOutcome::Ignored {
            reason: Reason::SelfReferral
        },
        "{clause}: the owner's own click"
    );

    let signup = Signup {
        id: eid("signup-1"),
        customer: nada.clone(),
        visitor: Some(vid("visitor-1")),
        code: None,
        channel: None,
        at: at(3_600),
    };
    let signed = ok(clause, "record_signup", engine.record_signup(&signup).await);
    let referral = Referral {
        referrer: sara.clone(),
        code: sara_code,
        channel: Channel::WhatsApp,
        touched_at: at(60),
    };
    assert_eq!(
        signed,
        SignupOutcome::Referred {
            referral: referral.clone(),
            rewards: Vec::new(),
        },
        "{clause}: the visitor's signup"
    );
    let typed = Signup {
        id: eid("signup-2"),
        customer: cid("maha"),
        visitor: None,
        code: Some(sara_code),
        channel: Some(Channel::Instagram),
        at: at(4_000),
    };
    let typed_out = ok(
        clause,
        "record_signup (typed code)",
        engine.record_signup(&typed).await,
    );
    assert_eq!(
        typed_out,
        SignupOutcome::Referred {
            referral: Referral {
                channel: Channel::Instagram,
                touched_at: at(4_000),
                ..referral
            },
            rewards: Vec::new(),
        },
        "{clause}: the signup with a typed code"
    );
    let stored = p.code(&prog, &sara_code).await;
    let checked = ok(
        clause,
        "check_code after two referrals",
        engine.check_code("SARA2026", at(4_001)).await,
    );
    assert_eq!(
        (stored.map(|v| v.version), checked.uses),
        (Some(1), 2),
        "{clause}: the code after two referrals (version: uses live in its counter, uses)"
    );

    let order = Conversion {
        order: oid("order-1"),
        customer: nada.clone(),
        amount: sar(20_000),
        at: at(7_200),
    };
    let converted = ok(
        clause,
        "record_conversion",
        engine.record_conversion(&order).await,
    );
    let ConversionOutcome::Rewarded {
        referrer,
        payouts,
        entries,
        ..
    } = &converted
    else {
        panic!("{clause}: the referee's first order earned nothing: {converted:?}");
    };
    assert_eq!(referrer, &sara, "{clause}: the credited referrer");
    let paid: Vec<(&CustomerId, Role, Money)> = payouts
        .iter()
        .map(|x| (&x.beneficiary, x.role, sar(x.quantity)))
        .collect();
    assert_eq!(
        paid,
        [
            (&sara, Role::Referrer, sar(1_500)),
            (&nada, Role::Referee, sar(1_000))
        ],
        "{clause}: the payouts"
    );
    assert_eq!(
        entries.len(),
        2,
        "{clause}: the reward entries: {entries:?}"
    );
    let balance = |who: &CustomerId, step: &str| {
        let who = who.clone();
        let step = step.to_owned();
        let engine = &engine;
        async move {
            ok(
                clause,
                &format!("balance {step}"),
                engine.balance(&who).await,
            )
        }
    };
    assert_eq!(
        balance(&sara, "after the order").await,
        sar(1_500),
        "{clause}: sara's balance"
    );
    assert_eq!(
        balance(&nada, "after the order").await,
        sar(1_000),
        "{clause}: nada's balance"
    );

    let partial = Refund {
        id: rid("refund-1"),
        order: oid("order-1"),
        amount: RefundAmount::Partial(sar(5_000)),
        at: at(8_000),
    };
    let refunded = ok(
        clause,
        "record_refund (partial)",
        engine.record_refund(&partial).await,
    );
    let clawed: Vec<Money> = refunded.clawbacks.iter().map(net).collect();
    assert_eq!(
        (refunded.refunded, refunded.remaining, clawed),
        (sar(5_000), sar(15_000), vec![sar(-375), sar(-250)]),
        "{clause}: a quarter of the order refunded claws back a quarter of each reward"
    );
    let full = Refund {
        id: rid("refund-2"),
        order: oid("order-1"),
        amount: RefundAmount::Full,
        at: at(9_000),
    };
    let rest = ok(
        clause,
        "record_refund (full)",
        engine.record_refund(&full).await,
    );
    let clawed: Vec<Money> = rest.clawbacks.iter().map(net).collect();
    assert_eq!(
        (rest.refunded, rest.remaining, clawed),
        (sar(15_000), sar(0), vec![sar(-1_125), sar(-750)]),
        "{clause}: the full refund claws back the rest"
    );
    let once_more = Refund {
        id: rid("refund-3"),
        ..full.clone()
    };
    expect_error(
        clause,
        "a third refund of a fully refunded order",
        engine.record_refund(&once_more).await,
        ErrorKind::InvalidInput,
    );
    let reused = Touch {
        at: at(62),
        ..click.clone()
    };
    expect_error(
        clause,
        "a touch id reused for another touch",
        engine.record_touch(&reused).await,
        ErrorKind::IdempotencyMismatch,
    );

    let before_replay = (
        p.ledger(&prog, "sara").await,
        p.ledger(&prog, "nada").await,
        p.conversion(&prog, "order-1").await,
        p.code(&prog, &sara_code).await,
        p.customer(&prog, "nada").await,
    );
    // Every event again, as a host retrying after a timeout would.
    let step = "replaying";
    assert_eq!(
        ok(clause, step, engine.record_touch(&click).await),
        clicked,
        "{clause}: {step} the click"
    );
    assert_eq!(
        ok(clause, step, engine.record_touch(&self_touch).await),
        own,
        "{clause}: {step} the own click"
    );
    assert_eq!(
        ok(clause, step, engine.record_signup(&signup).await),
        signed,
        "{clause}: {step} the signup"
    );
    assert_eq!(
        ok(clause, step, engine.record_signup(&typed).await),
        typed_out,
        "{clause}: {step} the typed signup"
    );
    assert_eq!(
        ok(clause, step, engine.record_conversion(&order).await),
        converted,
        "{clause}: {step} the order"
    );
    assert_eq!(
        ok(clause, step, engine.record_refund(&partial).await),
        refunded,
        "{clause}: {step} the partial refund"
    );
    assert_eq!(
        ok(clause, step, engine.record_refund(&full).await),
        rest,
        "{clause}: {step} the full refund"
    );
    let after_replay = (
        p.ledger(&prog, "sara").await,
        p.ledger(&prog, "nada").await,
        p.conversion(&prog, "order-1").await,
        p.code(&prog, &sara_code).await,
        p.customer(&prog, "nada").await,
    );
    assert_eq!(
        after_replay, before_replay,
        "{clause}: replaying every event changed the store"
    );

    let (sara_ledger, nada_ledger, conversion, ..) = after_replay;
    let amounts = |l: &[LedgerEntry]| l.iter().map(net).collect::<Vec<_>>();
    assert_eq!(
        amounts(&sara_ledger),
        [sar(1_500), sar(-375), sar(-1_125)],
        "{clause}: sara's ledger, oldest first"
    );
    assert_eq!(
        amounts(&nada_ledger),
        [sar(1_000), sar(-250), sar(-750)],
        "{clause}: nada's ledger, oldest first"
    );
    assert_eq!(
        balance(&sara, "after the refunds").await,
        sar(0),
        "{clause}: sara's final balance"
    );
    assert_eq!(
        balance(&nada, "after the refunds").await,
        sar(0),
        "{clause}: nada's final balance"
    );
    let conversion =
        conversion.unwrap_or_else(|| panic!("{clause}: the conversion record is missing"));
    assert_eq!(
        (
            conversion.version,
            conversion.record.refunded,
            conversion.record.refund_count
        ),
        (3, sar(20_000), 2),
        "{clause}: the conversion after two refunds (version, refunded, refunds)"
    );
    assert!(
        conversion
            .record
            .payouts
            .iter()
            .all(|x| x.clawed_back == x.quantity),
        "{clause}: every payout is clawed back in full: {:?}",
        conversion.record.payouts
    );
}
