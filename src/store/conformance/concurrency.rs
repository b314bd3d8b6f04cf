//! Clauses that race real threads: one winner per conflicting key, every
//! disjoint commit applied.

use std::sync::Arc;

use tokio::sync::Barrier;

use super::fixtures::*;

/// Spawns one task per plan, lets them all commit at once, and returns
/// each plan's result in plan order.
pub(super) async fn race<S: Store + 'static>(
    store: &Arc<S>,
    clause: &str,
    plans: Vec<CommitPlan>,
) -> Vec<StoreResult<()>> {
    let barrier = Arc::new(Barrier::new(plans.len()));
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.commit(plan).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(err) => panic!("{clause}: a committing task failed: {err}"),
        }
    }
    results
}

/// Asserts that exactly one result is `Ok` and all others are conflicts;
/// returns the winner's index.
pub(super) fn one_winner(clause: &str, what: &str, results: &[StoreResult<()>]) -> usize {
    let mut winner = None;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(()) => {
                if let Some(first) = winner {
                    panic!(
                        "{clause}: {what}: tasks {first} and {i} both committed; exactly one \
                         may win"
                    );
                }
                winner = Some(i);
            }
            Err(err) if err.kind() == StoreErrorKind::Conflict => {}
            Err(err) => panic!(
                "{clause}: {what}: task {i} lost with {:?} instead of Conflict: {err}",
                err.kind()
            ),
        }
    }
    winner.unwrap_or_else(|| {
        panic!(
            "{clause}: {what}: all {} tasks failed with Conflict; exactly one must win",
            results.len()
        )
    })
}

/// How many tasks race in each concurrency clause.
pub(super) const TASKS: usize = 64;

/// How many rounds of races the concurrency clauses run.
pub(super) const ROUNDS: usize = 6;

/// Many tasks, on a multi-threaded runtime, race to create the same code,
/// to commit the same idempotency key, to give one owner a primary code, to
/// insert the same touch id and ledger entry id, and to update the same
/// record from the same version: exactly one wins each race, every other
/// fails with a conflict and writes nothing. Then they all increment one
/// counter with read-modify-write retries, and no increment is lost.
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_commits_one_winner<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_commits_one_winner";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    for round in 0..ROUNDS {
        // The same code, for different owners.
        let text = format!("RACE{round}X");
        let owner = |i: usize| format!("racer-{round}-{i}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![put_code(
                    code_record(&prog, &text, &owner(i), CodeOrigin::Vanity),
                    0,
                )])
            })
            .collect();
        let what = format!("round {round}: creating code {text}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.code(&prog, &code(&text)).await;
        let want = v1(code_record(&prog, &text, &owner(w), CodeOrigin::Vanity));
        assert_eq!(
            found, want,
            "{clause}: {what}: the stored code is not the winner's"
        );

        // The same idempotency key, each plan with a customer of its own.
        let event = format!("race-event-{round}");
        let customer = |i: usize| format!("race-customer-{round}-{i}");
        let idem = |i: usize| touch_idempotency(&prog, &event, &format!("visitor-{i}"));
        let plans = (0..TASKS)
            .map(|i| CommitPlan {
                idempotency: Some(idem(i)),
                writes: vec![put_customer(customer_record(&prog, &customer(i)), 0)],
            })
            .collect();
        let what = format!("round {round}: committing idempotency key {event}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.idempotency(&prog, &key(EventKind::Touch, &event)).await;
        assert_eq!(
            found,
            Some(idem(w)),
            "{clause}: {what}: the stored outcome is not the winner's"
        );
        for i in 0..TASKS {
            let found = p.customer(&prog, &customer(i)).await;
            assert_eq!(
                found.is_some(),
                i == w,
                "{clause}: {what}: task {i}'s customer (winner: task {w})"
            );
        }

        // Different primary codes for one owner.
        let owner = format!("primary-owner-{round}");
        let text = |i: usize| format!("P{round}Q{i:02}XYZ");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![put_code(
                    code_record(&prog, &text(i), &owner, CodeOrigin::Random),
                    0,
                )])
            })
            .collect();
        let what = format!("round {round}: primary codes for {owner}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.primary_code(&prog, &owner).await;
        let want = v1(code_record(&prog, &text(w), &owner, CodeOrigin::Random));
        assert_eq!(
            found, want,
            "{clause}: {what}: primary_code is not the winner's"
        );
        for i in 0..TASKS {
            let found = p.code(&prog, &code(&text(i))).await;
            assert_eq!(
                found.is_some(),
                i == w,
                "{clause}: {what}: task {i}'s code (winner {w})"
            );
        }

        // The same touch id and the same ledger entry id.
        let touch = format!("race-touch-{round}");
        let actor = |i: usize| Actor::Visitor(vid(&format!("race-visitor-{round}-{i}")));
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![Write::InsertTouch(touch_record(
                    &prog,
                    &touch,
                    actor(i),
                    at(1),
                ))])
            })
            .collect();
        let what = format!("round {round}: inserting touch {touch}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        for i in 0..TASKS {
            let found = p.touches(&prog, &actor(i), since_ever()).await;
            assert_eq!(
                found.len(),
                usize::from(i == w),
                "{clause}: {what}: task {i} (winner {w})"
            );
        }
        let entry = format!("race-entry-{round}");
        let earner = |i: usize| format!("race-earner-{round}-{i}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![Write::InsertLedgerEntry(ledger_entry(
                    &prog,
                    &entry,
                    &earner(i),
                    at(1),
                    100,
                ))])
            })
            .collect();
        let what = format!("round {round}: inserting ledger entry {entry}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        for i in 0..TASKS {
            let found = p.ledger(&prog, &earner(i)).await;
            assert_eq!(
                found.len(),
                usize::from(i == w),
                "{clause}: {what}: task {i} (winner {w})"
            );
        }

        // The same record from the same version.
        let counter = format!("counter-{round}");
        p.commit_ok(
            &format!("round {round}: creating {counter}"),
            plan(vec![put_customer(customer_record(&prog, &counter), 0)]),
        )
        .await;
        let bumped = |i: usize| CustomerRecord {
            rewarded_conversions: i as u32,
            ..customer_record(&prog, &counter)
        };
        let plans = (0..TASKS)
            .map(|i| plan(vec![put_customer(bumped(i), 1)]))
            .collect();
        let what = format!("round {round}: updating {counter} from version 1");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.customer(&prog, &counter).await;
        let want = Some(Versioned {
            version: 2,
            record: bumped(w),
        });
        assert_eq!(
            found, want,
            "{clause}: {what}: the stored record is not the winner's"
        );
    }

    // Lost updates: every task adds one with read-modify-write retries.
    let counter = "shared-counter";
    p.commit_ok(
        "creating the shared counter",
        plan(vec![put_customer(customer_record(&prog, counter), 0)]),
    )
    .await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let prog = prog.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                increment(&*store, &prog, counter, i).await
            })
        })
        .collect();
    for task in tasks {
        if let Err(err) = task.await {
            panic!("{clause}: an incrementing task failed: {err}");
        }
    }
    let found = p.customer(&prog, counter).await;
    let want = Some(Versioned {
        version: 1 + TASKS as u64,
        record: CustomerRecord {
            rewarded_conversions: TASKS as u32,
            ..customer_record(&prog, counter)
        },
    });
    assert_eq!(
        found, want,
        "{clause}: {TASKS} read-modify-write increments, some lost"
    );
}

/// Adds one to a customer's `rewarded_conversions`, re-reading on conflict
/// as the engine does.
async fn increment<S: Store>(store: &S, prog: &ProgramId, customer: &str, task: usize) {
    let clause = "concurrent_commits_one_winner";
    let p = Probe::new(store, clause);
    // Each conflict means another task won, so TASKS + 1 tries always
    // suffice for a store that keeps the contract; the margin is for
    // stores that also fail spuriously.
    for _ in 0..TASKS * 4 {
        let Some(current) = p.customer(prog, customer).await else {
            panic!("{clause}: task {task}: the counter {customer} vanished");
        };
        let mut record = current.record;
        record.rewarded_conversions += 1;
        match store
            .commit(plan(vec![put_customer(record, current.version)]))
            .await
        {
            Ok(()) => return,
            Err(err) if err.kind() == StoreErrorKind::Conflict => tokio::task::yield_now().await,
            Err(err) => panic!(
                "{clause}: task {task}: incrementing {customer} failed with {:?}: {err}",
                err.kind()
            ),
        }
    }
    panic!(
        "{clause}: task {task}: still conflicting after {} tries: conflicts must mean another \
         writer won",
        TASKS * 4
    );
}

/// Many tasks commit plans with disjoint keys at once, several sharing one
/// actor's touch list and one customer's ledger: every commit succeeds and
/// every write is there, in order, afterwards.
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_disjoint_commits_all_succeed<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_disjoint_commits_all_succeed";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    let shared_visitor = Actor::Visitor(vid("shared-visitor"));
    for round in 0..ROUNDS {
        let name = |what: &str, i: usize| format!("{what}-{round}-{i:02}");
        // Times descend with i, so commits arrive out of time order.
        let time = |i: usize| at(((TASKS - i) * 10 + round) as i64);
        let plans = (0..TASKS)
            .map(|i| CommitPlan {
                idempotency: Some(touch_idempotency(&prog, &name("event", i), "visitor")),
                writes: vec![
                    put_code(
                        code_record(
                            &prog,
                            &format!("D{round}J{i:02}"),
                            &name("owner", i),
                            CodeOrigin::Random,
                        ),
                        0,
                    ),
                    put_customer(customer_record(&prog, &name("customer", i)), 0),
                    put_conversion(
                        conversion_record(&prog, &name("order", i), &name("customer", i)),
                        0,
                    ),
                    Write::InsertTouch(touch_record(
                        &prog,
                        &name("touch", i),
                        shared_visitor.clone(),
                        time(i),
                    )),
                    Write::InsertLedgerEntry(ledger_entry(
                        &prog,
                        &name("entry", i),
                        "shared-earner",
                        time(i),
                        100,
                    )),
                ],
            })
            .collect();
        for (i, result) in race(&store, clause, plans).await.into_iter().enumerate() {
            if let Err(err) = result {
                panic!(
                    "{clause}: round {round}: task {i}'s plan shares no key with any other, yet \
                     failed with {:?}: {err}",
                    err.kind()
                );
            }
        }
        for i in 0..TASKS {
            let found = p.primary_code(&prog, &name("owner", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s code is missing"
            );
            let found = p.customer(&prog, &name("customer", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s customer is missing"
            );
            let found = p.conversion(&prog, &name("order", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s conversion is missing"
            );
            let k = key(EventKind::Touch, &name("event", i));
            let found = p.idempotency(&prog, &k).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s outcome is missing"
            );
        }
    }
    let touches = p.touches(&prog, &shared_visitor, since_ever()).await;
    let entries = p.ledger(&prog, "shared-earner").await;
    assert_eq!(
        (touches.len(), entries.len()),
        (TASKS * ROUNDS, TASKS * ROUNDS),
        "{clause}: touches and ledger entries after all rounds: some were lost"
    );
    let sorted_by = |keys: Vec<(DateTime<Utc>, String)>| keys.windows(2).all(|w| w[0] < w[1]);
    assert!(
        sorted_by(
            touches
                .iter()
                .map(|t| (t.touch.at, t.touch.id.to_string()))
                .collect()
        ),
        "{clause}: touches written concurrently are not ascending by (time, id): {:?}",
        ids_of_touches(&touches)
    );
    assert!(
        sorted_by(entries.iter().map(|e| (e.at, e.id.to_string())).collect()),
        "{clause}: ledger entries written concurrently are not ascending by (time, id): {:?}",
        ids_of_entries(&entries)
    );
}
