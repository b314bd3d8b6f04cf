//! Clauses on the fulfilment outbox's part of the seam: versioned items
//! and the list of items a worker may claim.

use super::commit::check_version_conditions;
use super::fixtures::*;

/// The position of an item in the claimable list: its claimable time and
/// id.
fn outbox_cursor(clause: &str, item: &Versioned<OutboxItem>) -> OutboxCursor {
    let r = &item.record;
    let at = r.claimable_at().unwrap_or_else(|| {
        panic!(
            "{clause}: outbox_due listed item {} which no worker may claim (state {:?})",
            r.id, r.state
        )
    });
    OutboxCursor {
        at,
        id: r.id.clone(),
    }
}

/// Reads the items of `prog` claimable at `now`, whole and page by page,
/// and checks them against `want`: every page full but the last (a short
/// page reads as the end), no duplicate, no gap, ascending by (claimable
/// time, id).
async fn check_outbox_pages<S: Store>(
    p: &Probe<'_, S>,
    prog: &ProgramId,
    now: DateTime<Utc>,
    want: &[Versioned<OutboxItem>],
    after_what: &str,
) {
    let clause = p.clause;
    let want_ids = ids_of_outbox(want);
    let all = p.outbox_due(prog, now, None, usize::MAX).await;
    assert_eq!(
        ids_of_outbox(&all),
        want_ids,
        "{clause}: {after_what}: the outbox items of {prog} claimable at {now}: exactly those \
         whose claimable_at() (ready: next_attempt_at; leased: the lease's end; never delivered, \
         dead or cancelled) is at or before now, ascending by (claimable time, id), ids compared \
         bytewise"
    );
    assert_eq!(
        all, want,
        "{clause}: {after_what}: claimable outbox items of {prog} came back changed"
    );
    for limit in [1, 2, 3] {
        let mut read: Vec<Versioned<OutboxItem>> = Vec::new();
        let mut after: Option<OutboxCursor> = None;
        loop {
            let page = p.outbox_due(prog, now, after.as_ref(), limit).await;
            let remaining = want.len().saturating_sub(read.len());
            assert_eq!(
                page.len(),
                limit.min(remaining),
                "{clause}: {after_what}: a page of claimable outbox items of {prog} with limit \
                 {limit} after {after:?} (read so far: {:?}; want {want_ids:?}): a page holds \
                 `limit` items while more are claimable, since a short page reads as the end",
                ids_of_outbox(&read)
            );
            if let Some(last) = page.last() {
                after = Some(outbox_cursor(clause, last));
            }
            read.extend(page);
            if read.len() >= want.len() || remaining <= limit {
                break;
            }
        }
        assert_eq!(
            ids_of_outbox(&read),
            want_ids,
            "{clause}: {after_what}: claimable outbox items of {prog} read in pages of {limit}: \
             duplicates or gaps"
        );
        let last = p.outbox_due(prog, now, after.as_ref(), limit).await;
        assert_eq!(
            ids_of_outbox(&last),
            Vec::<&str>::new(),
            "{clause}: {after_what}: claimable outbox items of {prog} after the last one (pages \
             of {limit})"
        );
    }
}

/// `Write::PutOutboxItem` is versioned like every record (created at
/// version 1 from expected 0, a stale version is a conflict) and
/// `outbox_item` returns exactly what was put (nanoseconds, Arabic text,
/// every delivery state). `outbox_due(program, now, after, limit)` lists
/// exactly the items whose [`OutboxItem::claimable_at`] is at or before
/// `now`: ready items by their `next_attempt_at`, leased items by the end
/// of their lease (a worker that died lets it run out), never a delivered,
/// dead or cancelled item. Ascending by (claimable time, id), ids compared
/// bytewise; paged by [`OutboxCursor`] with no duplicate and no gap, at
/// most `limit` per page and exactly `limit` while more are claimable. An
/// update that leases, delivers, cancels, dead-letters or reschedules an
/// item moves it in the list or removes it, and it appears once; a
/// refused plan changes no list. Programs are isolated.
pub async fn outbox_items_are_versioned_and_listed_when_claimable<S: Store>(store: &S) {
    let p = Probe::new(
        store,
        "outbox_items_are_versioned_and_listed_when_claimable",
    );
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let now = at(1_000);

    // Cancelled, so it stays out of the lists below.
    check_version_conditions(
        &p,
        "outbox item",
        |tag| OutboxItem {
            attempts: tag,
            ..outbox_item(
                &prog,
                "ob-versioned",
                "sara",
                DeliveryState::Cancelled,
                at(1),
            )
        },
        put_outbox,
        async || p.outbox_item(&prog, "ob-versioned").await,
    )
    .await;

    let ready =
        |id: &str, next: DateTime<Utc>| outbox_item(&prog, id, "sara", DeliveryState::Ready, next);
    let in_state = |id: &str, state: DeliveryState, next: DateTime<Utc>| {
        outbox_item(&prog, id, "sara", state, next)
    };
    let coupon = OutboxItem {
        kind: RewardKind::Coupon {
            discount: Discount::Fixed { amount: sar(1_000) },
        },
        quantity: 1,
        coupon: Some(code("RAMADAN26")),
        due_at: at_ns(0, 1),
        attempts: 2,
        last_error: Some("المزوّد لا يستجيب: timeout".to_owned()),
        ..ready("ob-2", at_ns(200, 999_999_999))
    };
    // Claimable or not, in every state, inserted out of order, some
    // several to a plan; ids chosen so that id order is not time order.
    let batches: Vec<Vec<OutboxItem>> = vec![
        vec![ready("ob-a", at(500)), ready("ob-edge", now)],
        vec![ready("ob-late", at_ns(1_000, 1))],
        vec![
            ready("ob-0", at_ns(500, 1)),
            ready("ob-B", at(500)),
            // Leased: listed at the lease's end, not at its next attempt.
            in_state("ob-lapsed", leased("worker-1", at(300)), at(900)),
            in_state("ob-leased", leased("worker-2", at(2_000)), at(100)),
        ],
        vec![
            ready("ob-1", at(100)),
            coupon,
            ready("ob-b", at(500)),
            in_state(
                "ob-done",
                DeliveryState::Delivered {
                    reference: "po_٣٤٥".to_owned(),
                    at: at_ns(90, 7),
                },
                at(100),
            ),
            in_state(
                "ob-dead",
                DeliveryState::Dead {
                    error: "رفض البنك التحويل".to_owned(),
                },
                at(100),
            ),
            in_state("ob-cancelled", DeliveryState::Cancelled, at(100)),
        ],
        vec![
            outbox_item(&other, "ob-a", "nada", DeliveryState::Ready, at(50)),
            outbox_item(
                &other,
                "ob-x",
                "sara",
                leased("worker-3", at(60)),
                at(5_000),
            ),
        ],
    ];
    for batch in &batches {
        let what = format!(
            "creating outbox items {:?}",
            batch.iter().map(|i| i.id.as_str()).collect::<Vec<_>>()
        );
        p.commit_ok(
            &what,
            plan(batch.iter().cloned().map(|i| put_outbox(i, 0)).collect()),
        )
        .await;
    }
    for item in batches.iter().flatten() {
        let found = p.outbox_item(&item.program, item.id.as_str()).await;
        assert_eq!(
            found,
            v1(item.clone()),
            "{clause}: outbox item {} of {} came back changed",
            item.id,
            item.program
        );
    }
    for (program, id) in [(&prog, "ob-A"), (&prog, "ob-x"), (&pid("gamma"), "ob-a")] {
        assert_eq!(
            p.outbox_item(program, id).await,
            None,
            "{clause}: outbox item {id:?} in {program} was never put (ids are exact and scoped \
             by program)"
        );
    }

    let current = async |ids: &[&str]| {
        let mut out = Vec::new();
        for id in ids {
            match p.outbox_item(&prog, id).await {
                Some(v) => out.push(v),
                None => panic!("{clause}: outbox item {id} is missing"),
            }
        }
        out
    };
    let created = "after creating them";
    let claimable = [
        "ob-1",
        "ob-2",
        "ob-lapsed",
        "ob-B",
        "ob-a",
        "ob-b",
        "ob-0",
        "ob-edge",
    ];
    check_outbox_pages(&p, &prog, now, &current(&claimable).await, created).await;
    let early = ["ob-1", "ob-2", "ob-lapsed", "ob-B", "ob-a", "ob-b"];
    check_outbox_pages(&p, &prog, at(500), &current(&early).await, created).await;
    check_outbox_pages(&p, &prog, at_ns(99, 999_999_999), &[], created).await;
    let others = [
        outbox_item(&other, "ob-a", "nada", DeliveryState::Ready, at(50)),
        outbox_item(
            &other,
            "ob-x",
            "sara",
            leased("worker-3", at(60)),
            at(5_000),
        ),
    ]
    .map(|record| Versioned { version: 1, record });
    check_outbox_pages(&p, &other, now, &others, created).await;
    check_outbox_pages(&p, &pid("gamma"), now, &[], created).await;

    // Updates move items in the list, or out of it.
    let version = async |id: &str| p.outbox_item(&prog, id).await.map_or(0, |v| v.version);
    let updates = [
        // Claimed: listed again when the lease ends.
        OutboxItem {
            attempts: 1,
            ..in_state("ob-1", leased("worker-1", at(1_500)), at(100))
        },
        // Delivered, cancelled, dead-lettered: never listed again.
        in_state(
            "ob-a",
            DeliveryState::Delivered {
                reference: "po-1".to_owned(),
                at: at(510),
            },
            at(500),
        ),
        in_state("ob-B", DeliveryState::Cancelled, at(500)),
        in_state(
            "ob-lapsed",
            DeliveryState::Dead {
                error: "lease ran out".to_owned(),
            },
            at(900),
        ),
        // Rescheduled later, earlier; a lease cut short; a failed
        // delivery back to ready.
        OutboxItem {
            next_attempt_at: at(700),
            ..current(&["ob-2"]).await[0].record.clone()
        },
        ready("ob-late", at(400)),
        in_state("ob-leased", leased("worker-2", at(600)), at(100)),
        OutboxItem {
            attempts: 1,
            last_error: Some("503".to_owned()),
            ..ready("ob-done", at(800))
        },
    ];
    let mut writes = Vec::new();
    for item in &updates {
        writes.push(put_outbox(item.clone(), version(item.id.as_str()).await));
    }
    p.commit_ok(
        "leasing ob-1, delivering ob-a, cancelling ob-B, dead-lettering ob-lapsed, moving ob-2 \
         later and ob-late earlier, cutting ob-leased's lease short and making ob-done ready \
         again, in one plan",
        plan(writes),
    )
    .await;
    for item in &updates {
        let found = p.outbox_item(&prog, item.id.as_str()).await;
        assert_eq!(
            found,
            Some(Versioned {
                version: 2,
                record: item.clone()
            }),
            "{clause}: outbox item {} after its update",
            item.id
        );
    }
    let updated = "after leasing, delivering, cancelling, dead-lettering and rescheduling items";
    let claimable = [
        "ob-late",
        "ob-b",
        "ob-0",
        "ob-leased",
        "ob-2",
        "ob-done",
        "ob-edge",
    ];
    check_outbox_pages(&p, &prog, now, &current(&claimable).await, updated).await;
    let much_later = [
        "ob-late",
        "ob-b",
        "ob-0",
        "ob-leased",
        "ob-2",
        "ob-done",
        "ob-edge",
        "ob-1",
    ];
    check_outbox_pages(&p, &prog, at(1_500), &current(&much_later).await, updated).await;
    check_outbox_pages(&p, &other, now, &others, updated).await;

    // Refused plans change no list.
    let refused = "after refused updates";
    p.commit_conflict(
        "delivering ob-b from a stale version",
        plan(vec![put_outbox(
            in_state(
                "ob-b",
                DeliveryState::Delivered {
                    reference: "po-2".to_owned(),
                    at: at(520),
                },
                at(500),
            ),
            0,
        )]),
    )
    .await;
    p.commit_conflict(
        "leasing ob-edge and creating ob-new in a plan with a counter past its limit",
        plan(vec![
            put_outbox(
                in_state("ob-edge", leased("worker-9", at(5_000)), now),
                version("ob-edge").await,
            ),
            put_outbox(ready("ob-new", at(10)), 0),
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ]),
    )
    .await;
    assert_eq!(
        p.outbox_item(&prog, "ob-new").await,
        None,
        "{clause}: an item created by a refused plan"
    );
    check_outbox_pages(&p, &prog, now, &current(&claimable).await, refused).await;
}
