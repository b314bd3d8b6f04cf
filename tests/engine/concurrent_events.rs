//! Events racing through one engine: the store's counters and
//! idempotency keys, not caller retries, keep them right.

use std::sync::Arc;

use chrono::TimeDelta;
use referrals::engine::{Reason, RefundOutcome, SignupOutcome};
use referrals::model::RefundAmount;
use referrals::store::{CounterKey, IdempotencyKey};
use referrals::{Code, Engine, MemoryStore, Store};
use tokio::sync::Barrier;

use super::{cid, engine_with, order, program, refund, signup, t0};

const SIGNUPS: usize = 64;

/// `SIGNUPS` different customers sign up at once with `code`, each
/// delivered once (no caller retry): the outcomes in customer order.
async fn racing_signups(e: &Arc<Engine<MemoryStore>>, code: Code) -> Vec<SignupOutcome> {
    let barrier = Arc::new(Barrier::new(SIGNUPS));
    let tasks: Vec<_> = (0..SIGNUPS)
        .map(|i| {
            let e = Arc::clone(e);
            let barrier = Arc::clone(&barrier);
            let s = signup(
                &format!("s-{i:02}"),
                &format!("friend-{i:02}"),
                None,
                Some(code),
                t0() + TimeDelta::hours(1),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                e.record_signup(&s).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(SIGNUPS);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("a signup task panicked") {
            Ok(o) => outcomes.push(o),
            Err(err) => panic!("signup {i} failed ({:?}): {err}", err.kind()),
        }
    }
    outcomes
}

async fn code_uses(e: &Engine<MemoryStore>, code: Code) -> i64 {
    let key = CounterKey::code_uses(e.program().id(), &code);
    e.store().counter(&key).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signups_racing_through_one_unlimited_code_are_all_referred() {
    let e = Arc::new(engine_with(program().build().unwrap()));
    let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
    let outcomes = racing_signups(&e, code).await;
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, SignupOutcome::Referred { referral, .. } if referral.referrer == cid("amira")),
            "signup {i}: {o:?}"
        );
    }
    assert_eq!(code_uses(&e, code).await, SIGNUPS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signups_racing_through_a_code_with_three_uses_refer_exactly_three() {
    let e = Arc::new(engine_with(program().code_max_uses(3).build().unwrap()));
    let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
    let outcomes = racing_signups(&e, code).await;
    let referred = outcomes
        .iter()
        .filter(|o| matches!(o, SignupOutcome::Referred { .. }))
        .count();
    assert_eq!(referred, 3, "{outcomes:?}");
    for (i, o) in outcomes.iter().enumerate() {
        assert!(
            matches!(o, SignupOutcome::Referred { .. })
                || *o
                    == SignupOutcome::NotReferred {
                        reason: Reason::CodeExhausted
                    },
            "signup {i}: {o:?}"
        );
    }
    assert_eq!(code_uses(&e, code).await, 3);
    // Every customer signed up, referred or not.
    for i in 0..SIGNUPS {
        let customer = e.customer(&cid(&format!("friend-{i:02}"))).await.unwrap();
        assert!(customer.is_some(), "friend-{i:02} was not recorded");
    }
}

const COPIES: usize = 8;
const ROUNDS: usize = 300;

/// Runs `COPIES` copies of one call at once and returns their results.
async fn at_once<T, F, Fut>(call: F) -> Vec<Result<T, referrals::Error>>
where
    T: Send + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, referrals::Error>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(COPIES));
    let tasks: Vec<_> = (0..COPIES)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let fut = call();
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(COPIES);
    for task in tasks {
        results.push(task.await.expect("a task panicked"));
    }
    results
}

/// The same signup and the same full refund, each delivered by
/// several tasks at once (a queue redelivering while the first
/// delivery is still running): every delivery gets the first outcome,
/// never a `Duplicate` nor "already fully refunded".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_delivered_several_times_at_once_answers_the_first_outcome_to_all() {
    let e = Arc::new(engine_with(program().build().unwrap()));
    let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
    for round in 0..ROUNDS {
        let friend = format!("friend-{round}");
        let s = signup(
            &format!("s-{round}"),
            &friend,
            None,
            Some(code),
            t0() + TimeDelta::hours(1),
        );
        let results = at_once(|| {
            let e = Arc::clone(&e);
            let s = s.clone();
            async move { e.record_signup(&s).await }
        })
        .await;
        let outcomes: Vec<SignupOutcome> = results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|err| {
                    panic!(
                        "round {round}: signup delivery {i} failed ({:?}): {err}",
                        err.kind()
                    )
                })
            })
            .collect();
        assert!(
            matches!(&outcomes[0], SignupOutcome::Referred { .. }),
            "round {round}: {:?}",
            outcomes[0]
        );
        assert!(
            outcomes.iter().all(|o| *o == outcomes[0]),
            "round {round}: deliveries of one signup answered differently: {outcomes:?}"
        );
        let stored = e
            .store()
            .idempotency(e.program().id(), &IdempotencyKey::signup(&s.id))
            .await
            .unwrap()
            .expect("the signup's outcome is remembered");
        assert_eq!(
            stored.outcome,
            referrals::store::Outcome::Signup(outcomes[0].clone()),
            "round {round}: the remembered outcome"
        );

        let o = order(
            &format!("o-{round}"),
            &friend,
            10_000,
            t0() + TimeDelta::hours(2),
        );
        e.record_conversion(&o).await.unwrap();
        let r = refund(
            &format!("r-{round}"),
            &format!("o-{round}"),
            RefundAmount::Full,
            t0() + TimeDelta::hours(3),
        );
        let results = at_once(|| {
            let e = Arc::clone(&e);
            let r = r.clone();
            async move { e.record_refund(&r).await }
        })
        .await;
        let outcomes: Vec<RefundOutcome> = results
            .into_iter()
            .enumerate()
            .map(|(i, res)| {
                res.unwrap_or_else(|err| {
                    panic!(
                        "round {round}: refund delivery {i} failed ({:?}): {err}",
                        err.kind()
                    )
                })
            })
            .collect();
        assert_eq!(
            outcomes[0].refunded,
            super::sar(10_000),
            "round {round}: the full refund"
        );
        assert!(
            outcomes.iter().all(|o| *o == outcomes[0]),
            "round {round}: deliveries of one refund answered differently: {outcomes:?}"
        );
    }
    // Every order fully refunded once: the referrer's balance is back to zero.
    assert_eq!(e.balance(&cid("amira")).await.unwrap(), super::sar(0));
}
