//! Clauses on the reward ledger's part of the seam: limited counters,
//! balances kept beside the entries, versioned rewards and the due lists,
//! and ledger pages.

use std::sync::Arc;

use super::commit::check_version_conditions;
use super::concurrency::{ROUNDS, TASKS, race};
use super::fixtures::*;

/// A touch whose only purpose is to show whether the plan carrying it was
/// applied: visitor and touch id are both `name`.
pub(super) fn witness(program: &ProgramId, name: &str) -> Write {
    Write::InsertTouch(touch_record(
        program,
        name,
        Actor::Visitor(vid(name)),
        at(1),
    ))
}

/// Whether the witness `name` was stored.
pub(super) async fn witnessed<S: Store>(p: &Probe<'_, S>, program: &ProgramId, name: &str) -> bool {
    let found = p
        .touches(program, &Actor::Visitor(vid(name)), since_ever())
        .await;
    !found.is_empty()
}

/// `Write::AddToCounter` creates its counter at 0 and adds only while the
/// result stays within `0..=limit`: a plan that would pass the limit or go
/// below zero fails with a conflict and writes nothing (nor its other
/// writes). Several adds to one counter in one plan apply in order, each
/// checked against the running value and its own limit. `limit: None` has
/// no upper bound. A counter never written reads 0. Counters are keyed by
/// their scope and exact name: a program's counters are its own, a shared
/// counter is one counter for the plans of every program.
pub async fn counters_stay_within_their_limits<S: Store>(store: &S) {
    let p = Probe::new(store, "counters_stay_within_their_limits");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let budget = program_counter(&prog, "budget");

    for k in [
        &budget,
        &program_counter(&other, "budget"),
        &shared_counter("allowance", "budget"),
    ] {
        let found = p.counter(k).await;
        assert_eq!(found, 0, "{clause}: the counter {k:?}, never written");
    }

    // Within the limit, up to it exactly.
    p.commit_ok(
        "adding 3 (limit 5) to a new counter, beside a touch",
        plan(vec![add(&budget, 3, Some(5)), witness(&prog, "w-1")]),
    )
    .await;
    assert_eq!(
        p.counter(&budget).await,
        3,
        "{clause}: a new counter after adding 3 (counters start at 0)"
    );
    assert!(
        witnessed(&p, &prog, "w-1").await,
        "{clause}: the touch beside a counter add was not stored"
    );
    p.commit_ok(
        "adding 2 (limit 5) to a counter at 3",
        plan(vec![add(&budget, 2, Some(5))]),
    )
    .await;
    assert_eq!(
        p.counter(&budget).await,
        5,
        "{clause}: a counter added up to its limit exactly"
    );

    // Past the limit, below zero: refused, and nothing of the plan written.
    let refused: [(&str, Vec<Write>, &str); 3] = [
        (
            "adding 1 (limit 5) to a counter at 5, after a touch",
            vec![witness(&prog, "w-2"), add(&budget, 1, Some(5))],
            "w-2",
        ),
        (
            "adding -6 to a counter at 5 (below zero), before a touch",
            vec![add(&budget, -6, Some(5)), witness(&prog, "w-3")],
            "w-3",
        ),
        (
            "adding -6 (no limit) to a counter at 5 (below zero)",
            vec![witness(&prog, "w-4"), add(&budget, -6, None)],
            "w-4",
        ),
    ];
    for (what, writes, touch) in refused {
        p.commit_conflict(what, plan(writes)).await;
        assert_eq!(
            p.counter(&budget).await,
            5,
            "{clause}: after {what} was refused, the counter"
        );
        assert!(
            !witnessed(&p, &prog, touch).await,
            "{clause}: after {what} was refused, the plan's touch was stored"
        );
    }

    // Giving back, and a limit below the value: the result must be within
    // 0..=limit of each write (`used + d <= limit AND used + d >= 0`).
    p.commit_ok(
        "adding -5 (limit 5) to a counter at 5",
        plan(vec![add(&budget, -5, Some(5))]),
    )
    .await;
    assert_eq!(p.counter(&budget).await, 0, "{clause}: given back to 0");
    p.commit_ok(
        "adding 4 (limit 10) to a counter at 0",
        plan(vec![add(&budget, 4, Some(10))]),
    )
    .await;
    p.commit_conflict(
        "adding -1 (limit 2) to a counter at 4: the result 3 is above the limit",
        plan(vec![add(&budget, -1, Some(2))]),
    )
    .await;
    p.commit_ok(
        "adding -1 (limit 3) to a counter at 4",
        plan(vec![add(&budget, -1, Some(3))]),
    )
    .await;
    p.commit_ok(
        "adding -3 (no limit) to a counter at 3",
        plan(vec![add(&budget, -3, None)]),
    )
    .await;
    assert_eq!(
        p.counter(&budget).await,
        0,
        "{clause}: after 4, -1 and -3 from 0 (and one refused add)"
    );

    // Several adds to one counter in one plan: in order, against the
    // running value.
    let running: [(&str, Vec<Write>); 4] = [
        (
            "three adds of 2 (limit 5) in one plan to a counter at 0: each fits alone, not \
             together",
            vec![
                add(&budget, 2, Some(5)),
                add(&budget, 2, Some(5)),
                add(&budget, 2, Some(5)),
                witness(&prog, "w-5"),
            ],
        ),
        (
            "+6 then -3 (limit 5) in one plan: the running value 6 passes the limit",
            vec![
                witness(&prog, "w-5"),
                add(&budget, 6, Some(5)),
                add(&budget, -3, Some(5)),
            ],
        ),
        (
            "-1 then +1 (limit 5) in one plan to a counter at 0: the running value goes below \
             zero",
            vec![
                add(&budget, -1, Some(5)),
                add(&budget, 1, Some(5)),
                witness(&prog, "w-5"),
            ],
        ),
        (
            "+1 (no limit) then +1 (limit 1) in one plan to a counter at 0: the second write's \
             own limit",
            vec![
                add(&budget, 1, None),
                add(&budget, 1, Some(1)),
                witness(&prog, "w-5"),
            ],
        ),
    ];
    for (what, writes) in running {
        p.commit_conflict(what, plan(writes)).await;
        assert_eq!(
            p.counter(&budget).await,
            0,
            "{clause}: after {what} was refused, the counter"
        );
        assert!(
            !witnessed(&p, &prog, "w-5").await,
            "{clause}: after {what} was refused, the plan's touch was stored"
        );
    }
    p.commit_ok(
        "+4, -3, +4 (limit 5) in one plan to a counter at 0",
        plan(vec![
            add(&budget, 4, Some(5)),
            add(&budget, -3, Some(5)),
            witness(&prog, "w-5"),
            add(&budget, 4, Some(5)),
        ]),
    )
    .await;
    assert_eq!(
        p.counter(&budget).await,
        5,
        "{clause}: after +4, -3, +4 in one plan"
    );
    assert!(
        witnessed(&p, &prog, "w-5").await,
        "{clause}: the touch of a plan with several counter adds"
    );

    // No upper bound.
    let big = 1_000_000_000_000_i64;
    p.commit_ok(
        "adding 10^12 with no limit",
        plan(vec![add(&budget, big, None), add(&budget, big, None)]),
    )
    .await;
    assert_eq!(
        p.counter(&budget).await,
        5 + 2 * big,
        "{clause}: a counter with no upper bound"
    );

    // A plan refused for another write leaves its counters alone.
    let spare = program_counter(&prog, "spare");
    p.commit_conflict(
        "a counter add with a customer at a stale version",
        plan(vec![
            add(&spare, 1, None),
            put_customer(customer_record(&prog, "nobody"), 1),
        ]),
    )
    .await;
    assert_eq!(
        p.counter(&spare).await,
        0,
        "{clause}: a plan refused for a stale version added to its counter"
    );

    // Scopes and exact names.
    let mine = program_counter(&prog, "scoped");
    let theirs = program_counter(&other, "scoped");
    p.commit_ok(
        "adding 5 (limit 5) to a counter of one program",
        plan(vec![add(&mine, 5, Some(5))]),
    )
    .await;
    p.commit_ok(
        "adding 5 (limit 5) to the counter of the same name in another program",
        plan(vec![add(&theirs, 5, Some(5)), witness(&other, "w-other")]),
    )
    .await;
    p.commit_ok(
        "adding -2 to the other program's counter",
        plan(vec![add(&theirs, -2, Some(5))]),
    )
    .await;
    assert_eq!(
        (p.counter(&mine).await, p.counter(&theirs).await),
        (5, 3),
        "{clause}: counters of the same name in two programs are two counters"
    );
    let upper = program_counter(&prog, "Scoped");
    assert_eq!(
        p.counter(&upper).await,
        0,
        "{clause}: counter names compare exactly (\"Scoped\" is not \"scoped\")"
    );
    // A shared scope spelt like the program: another counter still.
    let lookalike = shared_counter(PROGRAM, "scoped");
    assert_eq!(
        p.counter(&lookalike).await,
        0,
        "{clause}: a shared counter named like a program's counter"
    );

    let allowance = shared_counter("allowance", "per-customer/sara");
    let mut from_prog = plan(vec![add(&allowance, 3, Some(5)), witness(&prog, "w-6")]);
    from_prog.idempotency = Some(touch_idempotency(&prog, "shared-1", "visitor"));
    p.commit_ok(
        "adding 3 (limit 5) to a shared counter from one program",
        from_prog,
    )
    .await;
    let mut from_other = plan(vec![add(&allowance, 2, Some(5)), witness(&other, "w-7")]);
    from_other.idempotency = Some(touch_idempotency(&other, "shared-2", "visitor"));
    p.commit_ok(
        "adding 2 (limit 5) to the shared counter from another program",
        from_other,
    )
    .await;
    for prog_of_plan in [&prog, &other] {
        p.commit_conflict(
            &format!("adding 1 (limit 5) to the shared counter at 5, from program {prog_of_plan}"),
            plan(vec![
                add(&allowance, 1, Some(5)),
                witness(prog_of_plan, "w-8"),
            ]),
        )
        .await;
        assert!(
            !witnessed(&p, prog_of_plan, "w-8").await,
            "{clause}: a refused add to a shared counter wrote its touch"
        );
    }
    assert_eq!(
        p.counter(&allowance).await,
        5,
        "{clause}: a shared counter counts the plans of every program"
    );
    let another = shared_counter("allowance-2", "per-customer/sara");
    assert_eq!(
        p.counter(&another).await,
        0,
        "{clause}: shared counters of two scopes with one name"
    );
    assert_eq!(
        p.counter(&lookalike).await,
        0,
        "{clause}: a shared counter named like a program's counter, after adds"
    );
}

/// Many tasks at once each commit a plan adding 1 to one counter with a
/// limit, each plan with a touch of its own: exactly as many commit as the
/// limit leaves room for, every other fails with a conflict and writes
/// nothing, and the counter ends at its limit. With no limit every plan
/// commits: concurrent adds to one counter never conflict (counters
/// commute, unlike versioned records).
///
/// A store that reads the counter, checks the limit and then writes the
/// sum fails here: the check and the add must be one atomic step (in SQL,
/// `UPDATE … SET used = used + $d WHERE used + $d <= $limit`).
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_counter_adds_never_pass_the_limit<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_counter_adds_never_pass_the_limit";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    // (starting value, limit) per round.
    let rounds: [(i64, i64); ROUNDS] = [(0, 10), (0, 1), (0, 0), (3, 63), (0, 64), (20, 37)];
    for (round, (start, limit)) in rounds.into_iter().enumerate() {
        // Odd rounds race on a shared counter, from plans of two programs.
        let counter = if round % 2 == 1 {
            shared_counter("race-allowance", &format!("round-{round}"))
        } else {
            program_counter(&prog, &format!("race-budget-{round}"))
        };
        if start > 0 {
            p.commit_ok(
                &format!("round {round}: starting the counter at {start}"),
                plan(vec![add(&counter, start, None)]),
            )
            .await;
        }
        let in_prog = |i: usize| {
            if round % 2 == 1 && i % 2 == 1 {
                &other
            } else {
                &prog
            }
        };
        let name = |i: usize| format!("counter-race-{round}-{i:02}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![
                    add(&counter, 1, Some(limit)),
                    witness(in_prog(i), &name(i)),
                ])
            })
            .collect();
        let results = race(&store, clause, plans).await;
        let what = format!(
            "round {round}: {TASKS} tasks adding 1 at once to a counter at {start} limited to \
             {limit}"
        );
        let mut won = Vec::new();
        for (i, result) in results.iter().enumerate() {
            match result {
                Ok(()) => won.push(i),
                Err(err) if err.kind() == StoreErrorKind::Conflict => {}
                Err(err) => panic!(
                    "{clause}: {what}: task {i} failed with {:?} instead of Conflict: {err}",
                    err.kind()
                ),
            }
        }
        let room = usize::try_from(limit - start).unwrap_or(0).min(TASKS);
        assert!(
            won.len() <= room,
            "{clause}: the counter passed its limit: {what}: {} plans committed, with room for \
             {room}: checking the limit and adding must be one atomic step",
            won.len()
        );
        assert_eq!(
            won.len(),
            room,
            "{clause}: {what}: plans committed (the others must conflict only when the limit \
             is reached)"
        );
        let found = p.counter(&counter).await;
        assert_eq!(
            found,
            start + room as i64,
            "{clause}: {what}: the counter afterwards"
        );
        for i in 0..TASKS {
            let stored = witnessed(&p, in_prog(i), &name(i)).await;
            assert_eq!(
                stored,
                won.contains(&i),
                "{clause}: {what}: task {i}'s touch stored (its plan committed: {})",
                won.contains(&i)
            );
        }

        // No limit: every add commits, also when some give back.
        let free = program_counter(&prog, &format!("race-free-{round}"));
        p.commit_ok(
            &format!("round {round}: starting the unlimited counter at {TASKS}"),
            plan(vec![add(&free, TASKS as i64, Some(TASKS as i64))]),
        )
        .await;
        let free_name = |i: usize| format!("counter-free-{round}-{i:02}");
        let delta = |i: usize| if i % 2 == 0 { 2 } else { -1 };
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![
                    add(&free, delta(i), None),
                    witness(&prog, &free_name(i)),
                ])
            })
            .collect();
        let what = format!("round {round}: {TASKS} tasks adding 2 or -1 at once with no limit");
        for (i, result) in race(&store, clause, plans).await.into_iter().enumerate() {
            if let Err(err) = result {
                panic!(
                    "{clause}: {what}: task {i} failed with {:?}: adds to a counter commute and \
                     must not conflict: {err}",
                    err.kind()
                );
            }
        }
        let want = TASKS as i64 + (0..TASKS).map(delta).sum::<i64>();
        assert_eq!(
            p.counter(&free).await,
            want,
            "{clause}: {what}: the counter afterwards (adds were lost)"
        );
        for i in 0..TASKS {
            assert!(
                witnessed(&p, &prog, &free_name(i)).await,
                "{clause}: {what}: task {i}'s touch is missing"
            );
        }
    }
}

/// After every committed plan, each customer's `balances` are exactly the
/// fold of their ledger entries ([`fold_balances`]: each entry's
/// `EntryKind::deltas` added to its unit's balance), one balance per unit
/// they ever had an entry in (also when it is back to zero), ascending by
/// unit; entries of every kind, in several units, one or several per
/// plan. A refused plan changes no balance. Balances are per program and
/// per exact customer id.
pub async fn balances_follow_ledger_entries<S: Store>(store: &S) {
    let p = Probe::new(store, "balances_follow_ledger_entries");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let sar = Unit::Money(Currency::SAR);
    let kwd = Unit::Money(Currency::KWD);
    let stars = Unit::Points(label("stars"));
    let nujoom = Unit::Points(label("نجوم"));
    let e = |prog: &ProgramId,
             id: &str,
             customer: &str,
             reward: &str,
             kind: EntryKind,
             unit: &Unit,
             q: i64,
             secs: i64| {
        entry_of(prog, id, customer, reward, kind, unit.clone(), q, at(secs))
    };
    use EntryKind::*;
    let plans: Vec<(&str, Vec<LedgerEntry>)> = vec![
        (
            "a held, a granted and another customer's entry in one plan",
            vec![
                e(&prog, "b-1", "sara", "rw-1", Held, &sar, 1_500, 10),
                e(&prog, "b-2", "sara", "rw-2", Granted, &stars, 200, 10),
                e(&prog, "b-3", "nada", "rw-3", Granted, &sar, 750, 11),
            ],
        ),
        (
            "a release",
            vec![e(&prog, "b-4", "sara", "rw-1", Released, &sar, 1_500, 20)],
        ),
        (
            "a redemption, a reversal and an expiry in one plan",
            vec![
                e(&prog, "b-5", "sara", "rw-1", Redeemed, &sar, 1_000, 30),
                e(&prog, "b-6", "sara", "rw-1", Reversed, &sar, 500, 30),
                e(&prog, "b-7", "sara", "rw-2", Expired, &stars, 50, 30),
            ],
        ),
        (
            "a debt",
            vec![e(&prog, "b-8", "sara", "rw-1", Owed, &sar, 1_000, 40)],
        ),
        (
            "a write-off",
            vec![e(&prog, "b-9", "sara", "rw-1", WrittenOff, &sar, 200, 41)],
        ),
        (
            "a grant repaying the debt",
            vec![
                e(&prog, "b-10", "sara", "rw-4", Granted, &sar, 300, 50),
                e(&prog, "b-11", "sara", "rw-4", Repaid, &sar, 300, 50),
            ],
        ),
        (
            "held and cancelled days, a perk, contest entries, a coupon, kwd and نجوم",
            vec![
                e(&prog, "b-12", "nada", "rw-5", Held, &Unit::Days, 7, 60),
                e(&prog, "b-13", "nada", "rw-5", Cancelled, &Unit::Days, 7, 61),
                e(
                    &prog,
                    "b-14",
                    "nada",
                    "rw-6",
                    Granted,
                    &Unit::Perk(label("early-access")),
                    1,
                    62,
                ),
                e(
                    &prog,
                    "b-15",
                    "nada",
                    "rw-7",
                    Granted,
                    &Unit::Entries(label("ramadan-draw")),
                    3,
                    63,
                ),
                e(
                    &prog,
                    "b-16",
                    "nada",
                    "rw-8",
                    Granted,
                    &Unit::Coupons,
                    1,
                    64,
                ),
                e(&prog, "b-17", "sara", "rw-9", Granted, &kwd, 2_500, 65),
                e(&prog, "b-18", "sara", "rw-10", Held, &nujoom, 40, 66),
            ],
        ),
        (
            "entries booked out of time order",
            vec![
                e(&prog, "b-19", "nada", "rw-11", Granted, &sar, 100, 5),
                e(&prog, "b-20", "sara", "rw-10", Released, &nujoom, 40, 1),
            ],
        ),
        (
            "the same entry ids, customers and units in another program",
            vec![
                e(&other, "b-1", "sara", "rw-1", Granted, &sar, 9, 10),
                e(&other, "b-3", "nada", "rw-3", Held, &sar, 8, 11),
            ],
        ),
    ];
    let customers = ["sara", "nada", "Sara", "maha"];
    let mut booked: Vec<LedgerEntry> = Vec::new();
    let check = async |booked: &[LedgerEntry], after: &str| {
        for prog in [&prog, &other, &pid("gamma")] {
            for customer in customers {
                let found = p.balances(prog, customer).await;
                let want = folded_balances(booked, prog, customer);
                assert_eq!(
                    found, want,
                    "{clause}: after {after}, the balances of {customer:?} in {prog} are not the \
                     fold of their entries (EntryKind::deltas per entry, one balance per unit \
                     ever booked, ascending by unit)"
                );
            }
        }
    };
    check(&booked, "nothing was booked").await;
    for (what, entries) in plans {
        p.commit_ok(
            what,
            plan(
                entries
                    .iter()
                    .cloned()
                    .map(Write::InsertLedgerEntry)
                    .collect(),
            ),
        )
        .await;
        booked.extend(entries);
        check(&booked, what).await;
    }

    let fresh = |n: &str| {
        vec![
            Write::InsertLedgerEntry(e(&prog, n, "sara", "rw-x", Granted, &sar, 999, 70)),
            Write::InsertLedgerEntry(e(
                &prog,
                &format!("{n}-kwd"),
                "nada",
                "rw-x",
                Granted,
                &kwd,
                5,
                70,
            )),
        ]
    };
    let refused: [(&str, Write); 3] = [
        (
            "a plan of new entries ending with an entry id already stored",
            Write::InsertLedgerEntry(e(&prog, "b-1", "maha", "rw-x", Granted, &sar, 1, 70)),
        ),
        (
            "a plan of new entries ending with a counter past its limit",
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ),
        (
            "a plan of new entries ending with a customer at a stale version",
            put_customer(customer_record(&prog, "nobody"), 3),
        ),
    ];
    for (i, (what, bad)) in refused.into_iter().enumerate() {
        let mut writes = fresh(&format!("refused-{i}"));
        writes.push(bad);
        p.commit_conflict(what, plan(writes)).await;
        check(&booked, &format!("{what} was refused")).await;
    }
}

/// The position of a reward in a due list: its due time and id.
fn due_cursor(clause: &str, due: Due, reward: &Versioned<Reward>) -> RewardCursor {
    let r = &reward.record;
    let at = match due {
        Due::Release => r.hold_due(),
        Due::Expiry => r.expiry_due(),
        Due::Review => r.review_due(),
    };
    let at = at.unwrap_or_else(|| {
        panic!(
            "{clause}: {due:?} listed reward {} which is not due (pending {}, available {}, \
             release_at {:?}, expires_at {:?})",
            r.id, r.progress.pending, r.progress.available, r.release_at, r.expires_at
        )
    });
    RewardCursor {
        at,
        id: r.id.clone(),
    }
}

/// Reads a due list page by page with `limit` and checks it against
/// `want`: every page full but the last (a short page reads as the end),
/// no duplicate, no gap, ascending by (due time, id).
pub(super) async fn check_due_pages<S: Store>(
    p: &Probe<'_, S>,
    prog: &ProgramId,
    due: Due,
    before: DateTime<Utc>,
    want: &[Versioned<Reward>],
    after_what: &str,
) {
    let clause = p.clause;
    let want_ids = ids_of_rewards(want);
    let all = p.due_rewards(prog, due, before, None, usize::MAX).await;
    assert_eq!(
        ids_of_rewards(&all),
        want_ids,
        "{clause}: {after_what}: the {due:?} due rewards at or before {before}: exactly those \
         due, ascending by (due time, id), ids compared bytewise"
    );
    assert_eq!(
        all, want,
        "{clause}: {after_what}: {due:?} due rewards came back changed"
    );
    for limit in [1, 2, 3] {
        let mut read: Vec<Versioned<Reward>> = Vec::new();
        let mut after: Option<RewardCursor> = None;
        loop {
            let page = p
                .due_rewards(prog, due, before, after.as_ref(), limit)
                .await;
            let remaining = want.len().saturating_sub(read.len());
            assert_eq!(
                page.len(),
                limit.min(remaining),
                "{clause}: {after_what}: a page of {due:?} due rewards with limit {limit} after \
                 {after:?} (read so far: {:?}; want {want_ids:?}): a page holds `limit` rewards \
                 while more are due, since a short page reads as the end",
                ids_of_rewards(&read)
            );
            if let Some(last) = page.last() {
                after = Some(due_cursor(clause, due, last));
            }
            read.extend(page);
            if read.len() >= want.len() || remaining <= limit {
                break;
            }
        }
        assert_eq!(
            ids_of_rewards(&read),
            want_ids,
            "{clause}: {after_what}: {due:?} due rewards read in pages of {limit}: duplicates \
             or gaps"
        );
        let last = p
            .due_rewards(prog, due, before, after.as_ref(), limit)
            .await;
        assert_eq!(
            ids_of_rewards(&last),
            Vec::<&str>::new(),
            "{clause}: {after_what}: {due:?} due rewards after the last one (pages of {limit})"
        );
    }
}

/// `Write::PutReward` is versioned like every record (created at version
/// 1 from expected 0, a stale version is a conflict) and `reward` returns
/// exactly what was put. `due_rewards(Release)` lists exactly the rewards
/// with something pending and a `release_at` at or before `before`, and
/// `due_rewards(Expiry)` those with something available and an
/// `expires_at` at or before `before`: ascending by (due time, id), paged
/// by [`RewardCursor`] with no duplicate and no gap, at most `limit` per
/// page and exactly `limit` while more are due. A reward updated out of a
/// list leaves it; one whose due time moves appears once, at its new
/// place; a refused plan changes no list.
pub async fn rewards_are_versioned_and_due_rewards_are_listed_in_order<S: Store>(store: &S) {
    let p = Probe::new(
        store,
        "rewards_are_versioned_and_due_rewards_are_listed_in_order",
    );
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");

    check_version_conditions(
        &p,
        "reward",
        |tag| Reward {
            terms_version: tag,
            ..reward_record(
                &prog,
                "rw-versioned",
                "sara",
                None,
                None,
                &[(EntryKind::Granted, 100)],
            )
        },
        put_reward,
        async || p.reward(&prog, "rw-versioned").await,
    )
    .await;

    use EntryKind::*;
    let held = |q: i64| vec![(Held, q)];
    let r = |id: &str,
             release: Option<DateTime<Utc>>,
             expires: Option<DateTime<Utc>>,
             steps: Vec<(EntryKind, i64)>| {
        reward_record(&prog, id, "sara", release, expires, &steps)
    };
    let before = at(1_000);
    // In one list, another, both, or none; inserted out of order, some
    // several to a plan.
    let batches: Vec<Vec<Reward>> = vec![
        vec![
            r("rw-a", Some(at(500)), Some(at(900)), held(100)),
            r("rw-edge", Some(before), None, held(100)),
        ],
        vec![r("rw-late", Some(at_ns(1_000, 1)), None, held(100))],
        vec![
            r("rw-0", Some(at_ns(500, 1)), None, held(100)),
            r("rw-B", Some(at(500)), None, held(100)),
            r("rw-review", None, Some(at(10)), held(100)),
        ],
        vec![
            r("rw-1", Some(at(100)), None, held(100)),
            r(
                "rw-part",
                Some(at(300)),
                Some(at(800)),
                vec![(Held, 100), (Released, 40)],
            ),
            r(
                "rw-free",
                Some(at(200)),
                Some(at(700)),
                vec![(Held, 100), (Released, 100)],
            ),
        ],
        vec![
            r("rw-g1", None, Some(at(700)), vec![(Granted, 50)]),
            r(
                "rw-spent",
                None,
                Some(at(100)),
                vec![(Granted, 50), (Redeemed, 50)],
            ),
            r("rw-noexp", None, None, vec![(Granted, 50)]),
            r("rw-later", None, Some(at(2_000)), vec![(Granted, 50)]),
            r(
                "rw-cancelled",
                Some(at(100)),
                Some(at(100)),
                vec![(Held, 50), (Cancelled, 50)],
            ),
        ],
        vec![reward_record(
            &other,
            "rw-x",
            "sara",
            Some(at(50)),
            Some(at(50)),
            &[(Held, 100), (Released, 50)],
        )],
    ];
    for batch in &batches {
        let what = format!(
            "creating rewards {:?}",
            batch.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()
        );
        p.commit_ok(
            &what,
            plan(batch.iter().cloned().map(|r| put_reward(r, 0)).collect()),
        )
        .await;
    }
    for reward in batches.iter().flatten() {
        let found = p.reward(&reward.program, reward.id.as_str()).await;
        assert_eq!(
            found,
            v1(reward.clone()),
            "{clause}: reward {} came back changed",
            reward.id
        );
    }

    let current = async |ids: &[&str]| {
        let mut out = Vec::new();
        for id in ids {
            match p.reward(&prog, id).await {
                Some(v) => out.push(v),
                None => panic!("{clause}: reward {id} is missing"),
            }
        }
        out
    };
    let release = ["rw-1", "rw-part", "rw-B", "rw-a", "rw-0", "rw-edge"];
    let expiry = ["rw-free", "rw-g1", "rw-part"];
    let created = "after creating them";
    check_due_pages(
        &p,
        &prog,
        Due::Release,
        before,
        &current(&release).await,
        created,
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Expiry,
        before,
        &current(&expiry).await,
        created,
    )
    .await;
    let early = ["rw-1", "rw-part", "rw-B", "rw-a"];
    check_due_pages(
        &p,
        &prog,
        Due::Release,
        at(500),
        &current(&early).await,
        created,
    )
    .await;
    check_due_pages(&p, &prog, Due::Expiry, at(699), &[], created).await;
    let x = [reward_record(
        &other,
        "rw-x",
        "sara",
        Some(at(50)),
        Some(at(50)),
        &[(Held, 100), (Released, 50)],
    )]
    .map(|record| Versioned { version: 1, record });
    check_due_pages(&p, &other, Due::Release, before, &x, created).await;
    check_due_pages(&p, &other, Due::Expiry, before, &x, created).await;
    check_due_pages(&p, &pid("gamma"), Due::Release, before, &[], created).await;

    // Updates move rewards between the lists.
    let version = async |id: &str| p.reward(&prog, id).await.map_or(0, |v| v.version);
    let released = r(
        "rw-a",
        Some(at(500)),
        Some(at(900)),
        vec![(Held, 100), (Released, 100)],
    );
    let moved = r("rw-1", Some(at(600)), None, held(100));
    let expired = r(
        "rw-free",
        Some(at(200)),
        Some(at(700)),
        vec![(Held, 100), (Released, 100), (Expired, 100)],
    );
    p.commit_ok(
        "releasing rw-a, moving rw-1's release and expiring rw-free in one plan",
        plan(vec![
            put_reward(released, version("rw-a").await),
            put_reward(moved, version("rw-1").await),
            put_reward(expired, version("rw-free").await),
        ]),
    )
    .await;
    let release = ["rw-part", "rw-B", "rw-0", "rw-1", "rw-edge"];
    let expiry = ["rw-g1", "rw-part", "rw-a"];
    let updated = "after releasing rw-a, moving rw-1 to 600 s and expiring rw-free";
    check_due_pages(
        &p,
        &prog,
        Due::Release,
        before,
        &current(&release).await,
        updated,
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Expiry,
        before,
        &current(&expiry).await,
        updated,
    )
    .await;

    let refused = "after refused updates";
    p.commit_conflict(
        "releasing rw-edge from a stale version",
        plan(vec![put_reward(
            r(
                "rw-edge",
                Some(before),
                None,
                vec![(Held, 100), (Released, 100)],
            ),
            0,
        )]),
    )
    .await;
    p.commit_conflict(
        "releasing rw-B in a plan with a counter past its limit",
        plan(vec![
            put_reward(
                r(
                    "rw-B",
                    Some(at(500)),
                    Some(at(10)),
                    vec![(Held, 100), (Released, 100)],
                ),
                version("rw-B").await,
            ),
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ]),
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Release,
        before,
        &current(&release).await,
        refused,
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Expiry,
        before,
        &current(&expiry).await,
        refused,
    )
    .await;
}

/// `ledger(program, customer, after, limit)` read page by page with
/// [`LedgerCursor::after`] of each page's last entry returns every entry of
/// the customer exactly once, ascending by (time, id), for limits 1, 2, 3
/// and `usize::MAX`; each page holds `limit` entries while more remain (the
/// engine reads until a page is short). A cursor is a position, not an
/// entry: a cursor between entries starts after that position.
pub async fn ledger_pages_are_ordered_and_complete<S: Store>(store: &S) {
    let p = Probe::new(store, "ledger_pages_are_ordered_and_complete");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let e = |prog: &ProgramId, id: &str, customer: &str, at: DateTime<Utc>| {
        ledger_entry(prog, id, customer, at, 100)
    };
    let batches: Vec<Vec<LedgerEntry>> = vec![
        vec![e(&prog, "pg-9", "sara", at(900))],
        vec![
            e(&prog, "pg-b", "sara", at(500)),
            e(&prog, "pg-B", "sara", at(500)),
            e(&prog, "pg-n", "nada", at(500)),
        ],
        vec![e(&prog, "pg-1", "sara", at(100))],
        vec![e(&other, "pg-o", "sara", at(300))],
        vec![
            e(&prog, "pg-0", "sara", at_ns(500, 1)),
            e(&prog, "pg-a", "sara", at(500)),
            e(&prog, "pg-2", "sara", at(200)),
        ],
        vec![e(&prog, "pg-3", "sara", at_ns(200, 999_999_999))],
        vec![e(&prog, "pg-4", "sara", at(1_000))],
    ];
    let mut want: Vec<LedgerEntry> = Vec::new();
    for batch in batches {
        let what = format!("inserting {:?}", ids_of_entries(&batch));
        want.extend(
            batch
                .iter()
                .filter(|x| x.program == prog && x.customer.as_str() == "sara")
                .cloned(),
        );
        p.commit_ok(
            &what,
            plan(batch.into_iter().map(Write::InsertLedgerEntry).collect()),
        )
        .await;
    }
    want.sort_by(|a, b| (a.at, a.id.as_str()).cmp(&(b.at, b.id.as_str())));
    let want_ids = ids_of_entries(&want);
    assert_eq!(
        want_ids,
        [
            "pg-1", "pg-2", "pg-3", "pg-B", "pg-a", "pg-b", "pg-0", "pg-9", "pg-4"
        ],
        "{clause}: the fixture's order"
    );
    for limit in [1, 2, 3, usize::MAX] {
        let mut read: Vec<LedgerEntry> = Vec::new();
        let mut after: Option<LedgerCursor> = None;
        loop {
            let page = p.ledger_page(&prog, "sara", after.as_ref(), limit).await;
            let remaining = want.len() - read.len().min(want.len());
            assert_eq!(
                page.len(),
                limit.min(remaining),
                "{clause}: a ledger page with limit {limit} after {after:?} (read so far: {:?}): \
                 a page holds `limit` entries while more remain, since the engine stops at a \
                 short page",
                ids_of_entries(&read)
            );
            if let Some(last) = page.last() {
                after = Some(LedgerCursor::after(last));
            }
            read.extend(page);
            if read.len() >= want.len() || remaining <= limit {
                break;
            }
        }
        assert_eq!(
            ids_of_entries(&read),
            want_ids,
            "{clause}: the ledger read in pages of {limit}: duplicates, gaps or out of order \
             (ascending by time, then id bytewise)"
        );
        assert_eq!(
            read, want,
            "{clause}: ledger entries read in pages of {limit} came back changed"
        );
        let rest = p.ledger_page(&prog, "sara", after.as_ref(), limit).await;
        assert_eq!(
            ids_of_entries(&rest),
            Vec::<&str>::new(),
            "{clause}: the ledger page after the last entry (limit {limit})"
        );
    }
    // Positions between entries.
    let cases: [(LedgerCursor, &[&str]); 4] = [
        (
            LedgerCursor {
                at: at(500),
                id: lid("pg-M"),
            },
            &["pg-a", "pg-b", "pg-0", "pg-9", "pg-4"],
        ),
        (
            LedgerCursor {
                at: at(300),
                id: lid("pg-o"),
            },
            &["pg-B", "pg-a", "pg-b", "pg-0", "pg-9", "pg-4"],
        ),
        (
            LedgerCursor {
                at: at(500),
                id: lid("pg-n"),
            },
            &["pg-0", "pg-9", "pg-4"],
        ),
        (
            LedgerCursor {
                at: since_ever(),
                id: lid("pg-z"),
            },
            &[
                "pg-1", "pg-2", "pg-3", "pg-B", "pg-a", "pg-b", "pg-0", "pg-9", "pg-4",
            ],
        ),
    ];
    for (cursor, want) in cases {
        let found = p
            .ledger_page(&prog, "sara", Some(&cursor), usize::MAX)
            .await;
        assert_eq!(
            ids_of_entries(&found),
            want,
            "{clause}: the ledger after the position {cursor:?} (a cursor need not be an entry \
             of this customer: entries after (time, id))"
        );
    }
    let found = p.ledger_page(&other, "sara", None, usize::MAX).await;
    assert_eq!(
        ids_of_entries(&found),
        ["pg-o"],
        "{clause}: the ledger of the same customer in another program"
    );
}
