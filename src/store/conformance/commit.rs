//! Clauses on commits: creation, atomicity and every condition a plan
//! carries.

use super::fixtures::*;

/// Every read of an empty store succeeds and finds nothing.
pub async fn reads_on_empty_store_find_nothing<S: Store>(store: &S) {
    let p = Probe::new(store, "reads_on_empty_store_find_nothing");
    let prog = pid(PROGRAM);
    let clause = p.clause;
    for kind in [
        EventKind::Touch,
        EventKind::Signup,
        EventKind::Conversion,
        EventKind::Refund,
    ] {
        let found = p.idempotency(&prog, &key(kind, "event-1")).await;
        assert_eq!(
            found, None,
            "{clause}: idempotency {kind:?} on an empty store"
        );
    }
    let found = p.code(&prog, &code("SARA2026")).await;
    assert_eq!(found, None, "{clause}: code on an empty store");
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(found, None, "{clause}: primary code on an empty store");
    let found = p.customer(&prog, "sara").await;
    assert_eq!(found, None, "{clause}: customer on an empty store");
    for actor in [Actor::Visitor(vid("sara")), Actor::Customer(cid("sara"))] {
        let found = p.touches(&prog, &actor, since_ever()).await;
        assert_eq!(
            found,
            [],
            "{clause}: touches of {actor:?} on an empty store"
        );
    }
    let found = p.conversion(&prog, "order-1").await;
    assert_eq!(found, None, "{clause}: conversion on an empty store");
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(found, [], "{clause}: ledger on an empty store");
    let found = p.identity(&prog, "sara").await;
    assert_eq!(found, None, "{clause}: identity on an empty store");
    for kind in IdentityKind::ALL {
        let hash = signal_hash(kind, 1, 0);
        let found = p.identity_matches(&prog, &hash, usize::MAX).await;
        assert_eq!(
            found,
            [],
            "{clause}: identity matches of {hash:?} on an empty store"
        );
    }
    let found = p
        .stale_identities(&prog, at(1_000_000_000), usize::MAX)
        .await;
    assert_eq!(found, [], "{clause}: stale identities on an empty store");
    let found = p.recent_referees(&prog, "sara", usize::MAX).await;
    assert_eq!(found, [], "{clause}: recent referees on an empty store");
    let found = p.customer_conversions(&prog, "sara").await;
    assert_eq!(
        found,
        [],
        "{clause}: a customer's conversions on an empty store"
    );
    for due in [Due::Release, Due::Expiry, Due::Review] {
        let found = p
            .due_rewards(&prog, due, at(1_000_000_000), None, usize::MAX)
            .await;
        assert_eq!(found, [], "{clause}: {due:?} due rewards on an empty store");
    }
}

/// A committed plan creates each record at version 1, exactly as written,
/// and stores its idempotency record.
pub async fn commit_creates_at_version_one<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_creates_at_version_one");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let vanity = code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity);
    let customer = customer_record(&prog, "nada");
    let conversion = conversion_record(&prog, "order-1", "nada");
    let touch = touch_record(&prog, "touch-1", Actor::Visitor(vid("visitor-1")), at(5));
    let entry = ledger_entry(&prog, "entry-1", "sara", at(20), 1_500);
    let idem = touch_idempotency(&prog, "touch-1", "visitor-1");
    let mut first = plan(vec![
        put_code(vanity.clone(), 0),
        put_customer(customer.clone(), 0),
        put_conversion(conversion.clone(), 0),
        Write::InsertTouch(touch.clone()),
        Write::InsertLedgerEntry(entry.clone()),
    ]);
    first.idempotency = Some(idem.clone());
    p.commit_ok("a plan creating one record of each kind", first)
        .await;

    let found = p.code(&prog, &vanity.code).await;
    assert_eq!(found, v1(vanity), "{clause}: the created code");
    let found = p.customer(&prog, "nada").await;
    assert_eq!(found, v1(customer), "{clause}: the created customer");
    let found = p.conversion(&prog, "order-1").await;
    assert_eq!(found, v1(conversion), "{clause}: the created conversion");
    let found = p
        .touches(&prog, &Actor::Visitor(vid("visitor-1")), since_ever())
        .await;
    assert_eq!(found, [touch], "{clause}: the inserted touch");
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(found, [entry], "{clause}: the inserted ledger entry");
    let found = p.idempotency(&prog, &idem.key).await;
    assert_eq!(found, Some(idem), "{clause}: the idempotency record");

    let random = code_record(&prog, "7K3MQ9XDP", "sara", CodeOrigin::Random);
    p.commit_ok(
        "a plan creating a primary code",
        plan(vec![put_code(random.clone(), 0)]),
    )
    .await;
    let found = p.code(&prog, &random.code).await;
    assert_eq!(
        found,
        v1(random.clone()),
        "{clause}: the created primary code"
    );
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        v1(random),
        "{clause}: primary_code after creating it"
    );
}

/// A plan whose LAST write fails its condition leaves no trace of its
/// earlier writes nor of its idempotency record; the same plan without the
/// failing write then commits (nothing was reserved).
pub async fn commit_is_atomic<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_is_atomic");
    let clause = p.clause;
    let prog = pid(PROGRAM);

    // Records the failing writes collide with.
    let kept_code = code_record(&prog, "KEEP22", "keeper", CodeOrigin::Vanity);
    let kept_primary = code_record(&prog, "PRMY22", "keeper", CodeOrigin::Random);
    let kept_customer = customer_record(&prog, "kept-customer");
    let kept_conversion = conversion_record(&prog, "kept-order", "kept-customer");
    let kept_touch = touch_record(&prog, "kept-touch", Actor::Visitor(vid("keeper")), at(1));
    let kept_entry = ledger_entry(&prog, "kept-entry", "keeper", at(1), 100);
    p.commit_ok(
        "setting up the records to collide with",
        plan(vec![
            put_code(kept_code.clone(), 0),
            put_code(kept_primary.clone(), 0),
            put_customer(kept_customer.clone(), 0),
            put_conversion(kept_conversion.clone(), 0),
            Write::InsertTouch(kept_touch.clone()),
            Write::InsertLedgerEntry(kept_entry.clone()),
        ]),
    )
    .await;

    let mut changed_code = kept_code.clone();
    changed_code.max_uses = Some(9);
    let mut changed_customer = kept_customer.clone();
    changed_customer.rewarded_conversions = 9;
    let mut changed_conversion = kept_conversion.clone();
    changed_conversion.refunded = sar(1);
    let mut other_touch = kept_touch.clone();
    other_touch.touch.actor = Actor::Visitor(vid("intruder"));
    let mut other_entry = kept_entry.clone();
    other_entry.customer = cid("intruder");
    let second_primary = code_record(&prog, "PRMY33", "keeper", CodeOrigin::Derived);
    let failing: [(&str, Write); 6] = [
        ("a code at a stale version", put_code(changed_code, 0)),
        (
            "a customer at a stale version",
            put_customer(changed_customer, 0),
        ),
        (
            "a conversion at a stale version",
            put_conversion(changed_conversion, 0),
        ),
        (
            "a touch id that is already stored",
            Write::InsertTouch(other_touch),
        ),
        (
            "a ledger entry id that is already stored",
            Write::InsertLedgerEntry(other_entry),
        ),
        ("a second primary code", put_code(second_primary, 0)),
    ];

    for (i, (why, bad_write)) in failing.into_iter().enumerate() {
        let new_code = code_record(&prog, &format!("ATM{i}X"), "atomic", CodeOrigin::Vanity);
        let customer = format!("atomic-customer-{i}");
        let order = format!("atomic-order-{i}");
        let visitor = format!("atomic-visitor-{i}");
        let earner = format!("atomic-earner-{i}");
        let idem = touch_idempotency(&prog, &format!("atomic-event-{i}"), &visitor);
        let good_writes = vec![
            put_code(new_code.clone(), 0),
            put_customer(customer_record(&prog, &customer), 0),
            put_conversion(conversion_record(&prog, &order, &customer), 0),
            Write::InsertTouch(touch_record(
                &prog,
                &format!("atomic-touch-{i}"),
                Actor::Visitor(vid(&visitor)),
                at(2),
            )),
            Write::InsertLedgerEntry(ledger_entry(
                &prog,
                &format!("atomic-entry-{i}"),
                &earner,
                at(2),
                700,
            )),
        ];
        let mut doomed = plan(good_writes.clone());
        doomed.writes.push(bad_write);
        doomed.idempotency = Some(idem.clone());
        p.commit_conflict(&format!("a plan ending with {why}"), doomed)
            .await;

        let after = format!("after a plan ending with {why} failed");
        let found = p.idempotency(&prog, &idem.key).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its idempotency record was stored"
        );
        let found = p.code(&prog, &new_code.code).await;
        assert_eq!(found, None, "{clause}: {after}, its new code was stored");
        let found = p.customer(&prog, &customer).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its new customer was stored"
        );
        let found = p.conversion(&prog, &order).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its new conversion was stored"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid(&visitor)), since_ever())
            .await;
        assert_eq!(found, [], "{clause}: {after}, its touch was stored");
        let found = p.ledger(&prog, &earner).await;
        assert_eq!(found, [], "{clause}: {after}, its ledger entry was stored");

        let found = p.code(&prog, &kept_code.code).await;
        assert_eq!(
            found,
            v1(kept_code.clone()),
            "{clause}: {after}, the existing code changed"
        );
        let found = p.primary_code(&prog, "keeper").await;
        assert_eq!(
            found,
            v1(kept_primary.clone()),
            "{clause}: {after}, the primary code changed"
        );
        let found = p.customer(&prog, "kept-customer").await;
        assert_eq!(
            found,
            v1(kept_customer.clone()),
            "{clause}: {after}, the customer changed"
        );
        let found = p.conversion(&prog, "kept-order").await;
        assert_eq!(
            found,
            v1(kept_conversion.clone()),
            "{clause}: {after}, the conversion changed"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid("keeper")), since_ever())
            .await;
        assert_eq!(
            found,
            std::slice::from_ref(&kept_touch),
            "{clause}: {after}, the stored touch changed"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid("intruder")), since_ever())
            .await;
        assert_eq!(
            found,
            [],
            "{clause}: {after}, the duplicate touch was stored"
        );
        let found = p.ledger(&prog, "keeper").await;
        assert_eq!(
            found,
            std::slice::from_ref(&kept_entry),
            "{clause}: {after}, the stored entry changed"
        );
        let found = p.ledger(&prog, "intruder").await;
        assert_eq!(
            found,
            [],
            "{clause}: {after}, the duplicate entry was stored"
        );

        let mut retry = plan(good_writes);
        retry.idempotency = Some(idem.clone());
        p.commit_ok(
            &format!("the plan without {why}, after the whole plan failed"),
            retry,
        )
        .await;
        let found = p.idempotency(&prog, &idem.key).await;
        assert_eq!(
            found,
            Some(idem),
            "{clause}: the retried plan's idempotency record"
        );
        let found = p.customer(&prog, &customer).await;
        assert!(
            found.is_some(),
            "{clause}: the retried plan's customer is missing"
        );
    }
}

/// A plan whose idempotency key is already stored fails with a conflict
/// and writes nothing, even when it is the very same plan again. Keys of
/// different event kinds never collide.
pub async fn commit_rejects_seen_idempotency_key<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_seen_idempotency_key");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first_idem = touch_idempotency(&prog, "event-1", "first-visitor");
    let mut first = plan(vec![put_customer(customer_record(&prog, "first"), 0)]);
    first.idempotency = Some(first_idem.clone());
    p.commit_ok("the first plan with key (touch, event-1)", first.clone())
        .await;

    p.commit_conflict("the same plan again (a retried event)", first)
        .await;
    let other_idem = touch_idempotency(&prog, "event-1", "second-visitor");
    let mut other = plan(vec![put_customer(customer_record(&prog, "second"), 0)]);
    other.idempotency = Some(other_idem);
    p.commit_conflict("another event under the stored key", other)
        .await;
    let found = p.customer(&prog, "second").await;
    assert_eq!(
        found, None,
        "{clause}: a plan with a stored key wrote its customer"
    );
    let found = p.idempotency(&prog, &first_idem.key).await;
    assert_eq!(
        found,
        Some(first_idem),
        "{clause}: the stored outcome changed"
    );

    // The same id as a signup: another key.
    let signup = Signup {
        id: eid("event-1"),
        customer: cid("third"),
        visitor: None,
        code: None,
        channel: None,
        at: at(40),
    };
    let request = Request::Signup(signup);
    let signup_idem = IdempotencyRecord {
        program: prog.clone(),
        key: request.key(),
        request,
        outcome: Outcome::Signup(SignupOutcome::NotReferred {
            reason: Reason::NoQualifyingTouch,
        }),
    };
    let mut third = plan(vec![put_customer(customer_record(&prog, "third"), 0)]);
    third.idempotency = Some(signup_idem.clone());
    p.commit_ok("key (signup, event-1) after (touch, event-1)", third)
        .await;
    let found = p.idempotency(&prog, &signup_idem.key).await;
    assert_eq!(
        found,
        Some(signup_idem),
        "{clause}: the signup key's record"
    );
}

/// Checks the version conditions of one record kind: a write naming any
/// version but the stored one (0 when absent) fails with a conflict and
/// leaves the record as it was.
pub(super) async fn check_version_conditions<S, T>(
    p: &Probe<'_, S>,
    what: &str,
    record: impl Fn(u32) -> T,
    write: impl Fn(T, u64) -> Write,
    read: impl AsyncFn() -> Option<Versioned<T>>,
) where
    S: Store,
    T: Clone + PartialEq + Debug,
{
    let clause = p.clause;
    let at_version = |version: u64, tag: u32| {
        Some(Versioned {
            version,
            record: record(tag),
        })
    };
    p.commit_conflict(
        &format!("{what}: expected version 1 on an absent record"),
        plan(vec![write(record(1), 1)]),
    )
    .await;
    assert_eq!(
        read().await,
        None,
        "{clause}: {what}: a failed write created it"
    );
    p.commit_ok(&format!("{what}: create"), plan(vec![write(record(1), 0)]))
        .await;
    p.commit_conflict(
        &format!("{what}: expected 0 (absent) on a record at version 1"),
        plan(vec![write(record(2), 0)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(1, 1),
        "{clause}: {what}: a failed create changed it"
    );
    p.commit_ok(
        &format!("{what}: update 1 -> 2"),
        plan(vec![write(record(2), 1)]),
    )
    .await;
    p.commit_conflict(
        &format!("{what}: expected 1 on a record at version 2 (a lost update)"),
        plan(vec![write(record(3), 1)]),
    )
    .await;
    p.commit_conflict(
        &format!("{what}: expected 3 on a record at version 2 (from the future)"),
        plan(vec![write(record(3), 3)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(2, 2),
        "{clause}: {what}: a stale write changed it"
    );
    p.commit_ok(
        &format!("{what}: update 2 -> 3"),
        plan(vec![write(record(3), 2)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(3, 3),
        "{clause}: {what}: after the last update"
    );
}

/// A write naming a version other than the stored one fails with a
/// conflict, for codes, customers and conversions alike, and changes
/// nothing.
pub async fn commit_rejects_stale_version<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_stale_version");
    let prog = pid(PROGRAM);
    let c = code("SARA2026");
    check_version_conditions(
        &p,
        "code",
        |tag| CodeRecord {
            max_uses: Some(tag),
            ..code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity)
        },
        put_code,
        async || p.code(&prog, &c).await,
    )
    .await;
    check_version_conditions(
        &p,
        "customer",
        |tag| CustomerRecord {
            rewarded_conversions: tag,
            ..customer_record(&prog, "nada")
        },
        put_customer,
        async || p.customer(&prog, "nada").await,
    )
    .await;
    check_version_conditions(
        &p,
        "conversion",
        |tag| ConversionRecord {
            refunded: sar(i64::from(tag)),
            ..conversion_record(&prog, "order-1", "nada")
        },
        put_conversion,
        async || p.conversion(&prog, "order-1").await,
    )
    .await;
}

/// A touch id is inserted once per program: a second touch with the same
/// id fails with a conflict, whatever its content.
pub async fn commit_rejects_duplicate_touch_id<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_duplicate_touch_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first = touch_record(&prog, "touch-1", Actor::Visitor(vid("first")), at(1));
    p.commit_ok(
        "the first touch",
        plan(vec![Write::InsertTouch(first.clone())]),
    )
    .await;
    p.commit_conflict(
        "the same touch again",
        plan(vec![Write::InsertTouch(first.clone())]),
    )
    .await;
    let mut other = touch_record(&prog, "touch-1", Actor::Visitor(vid("second")), at(2));
    other.touch.kind = TouchKind::Visit;
    p.commit_conflict(
        "another touch under a stored id",
        plan(vec![Write::InsertTouch(other)]),
    )
    .await;
    let found = p
        .touches(&prog, &Actor::Visitor(vid("first")), since_ever())
        .await;
    assert_eq!(
        found,
        [first],
        "{clause}: the stored touch after duplicates"
    );
    let found = p
        .touches(&prog, &Actor::Visitor(vid("second")), since_ever())
        .await;
    assert_eq!(
        found,
        [],
        "{clause}: a duplicate touch id was stored for another actor"
    );
}

/// A ledger entry id is inserted once per program: a second entry with the
/// same id fails with a conflict, whatever its content.
pub async fn commit_rejects_duplicate_ledger_entry_id<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_duplicate_ledger_entry_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first = ledger_entry(&prog, "entry-1", "sara", at(1), 1_500);
    p.commit_ok(
        "the first entry",
        plan(vec![Write::InsertLedgerEntry(first.clone())]),
    )
    .await;
    p.commit_conflict(
        "the same entry again",
        plan(vec![Write::InsertLedgerEntry(first.clone())]),
    )
    .await;
    let other = ledger_entry(&prog, "entry-1", "nada", at(2), -300);
    p.commit_conflict(
        "another entry under a stored id",
        plan(vec![Write::InsertLedgerEntry(other)]),
    )
    .await;
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(
        found,
        [first],
        "{clause}: the stored entry after duplicates"
    );
    let found = p.ledger(&prog, "nada").await;
    assert_eq!(
        found,
        [],
        "{clause}: a duplicate entry id was stored for another customer"
    );
}

/// An owner has at most one primary (random or derived) code per program;
/// vanity codes come on top; `primary_code` returns the primary one.
pub async fn primary_code_is_unique_per_owner<S: Store>(store: &S) {
    let p = Probe::new(store, "primary_code_is_unique_per_owner");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let primary = code_record(&prog, "7K3MQ9XDP", "sara", CodeOrigin::Random);
    p.commit_ok(
        "sara's primary code",
        plan(vec![put_code(primary.clone(), 0)]),
    )
    .await;
    for (text, origin) in [
        ("8M4NR2YEQ", CodeOrigin::Random),
        ("9N5PS3ZFR", CodeOrigin::Derived),
    ] {
        let second = code_record(&prog, text, "sara", origin);
        p.commit_conflict(
            &format!("a second primary code ({origin:?}) for sara"),
            plan(vec![put_code(second.clone(), 0)]),
        )
        .await;
        let found = p.code(&prog, &second.code).await;
        assert_eq!(
            found, None,
            "{clause}: a refused second primary code was stored"
        );
    }
    let vanity = code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity);
    p.commit_ok(
        "a vanity code for an owner with a primary code",
        plan(vec![put_code(vanity.clone(), 0)]),
    )
    .await;
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        v1(primary.clone()),
        "{clause}: primary_code after adding a vanity code"
    );

    let mut used = primary.clone();
    used.max_uses = Some(1);
    p.commit_ok(
        "an update of the primary code itself",
        plan(vec![put_code(used.clone(), 1)]),
    )
    .await;
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        Some(Versioned {
            version: 2,
            record: used
        }),
        "{clause}: primary_code after updating it"
    );

    let both = plan(vec![
        put_code(
            code_record(&prog, "A1B2C3D4E", "nada", CodeOrigin::Random),
            0,
        ),
        put_code(
            code_record(&prog, "F5G6H7J8K", "nada", CodeOrigin::Random),
            0,
        ),
    ]);
    p.commit_conflict("one plan with two primary codes for nada", both)
        .await;
    let found = p.primary_code(&prog, "nada").await;
    assert_eq!(
        found, None,
        "{clause}: a refused plan with two primary codes left one"
    );
    let found = p.code(&prog, &code("A1B2C3D4E")).await;
    assert_eq!(
        found, None,
        "{clause}: a refused plan with two primary codes left its first"
    );

    let nada = code_record(&prog, "F5G6H7J8K", "nada", CodeOrigin::Derived);
    p.commit_ok(
        "another owner's primary code",
        plan(vec![put_code(nada.clone(), 0)]),
    )
    .await;
    let found = p.primary_code(&prog, "nada").await;
    assert_eq!(found, v1(nada), "{clause}: another owner's primary code");

    let only_vanity = code_record(&prog, "MAHA77", "maha", CodeOrigin::Vanity);
    p.commit_ok("a vanity code alone", plan(vec![put_code(only_vanity, 0)]))
        .await;
    let found = p.primary_code(&prog, "maha").await;
    assert_eq!(found, None, "{clause}: a vanity code is not a primary code");
}

/// Each write of a record adds exactly one to its version, also when one
/// plan writes several records.
pub async fn versions_increase_by_one<S: Store>(store: &S) {
    let p = Probe::new(store, "versions_increase_by_one");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let c = code("SARA2026");
    let code_at = |n: u32| CodeRecord {
        max_uses: Some(n),
        ..code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity)
    };
    let customer_at = |n: u32| CustomerRecord {
        rewarded_conversions: n,
        ..customer_record(&prog, "nada")
    };
    let conversion_at = |n: u32| ConversionRecord {
        refunded: sar(i64::from(n)),
        ..conversion_record(&prog, "order-1", "nada")
    };
    for n in 0..6u32 {
        let expected = u64::from(n);
        p.commit_ok(
            &format!("write {} of each record, one plan each", n + 1),
            plan(vec![put_code(code_at(n), expected)]),
        )
        .await;
        p.commit_ok(
            &format!("write {} of the customer", n + 1),
            plan(vec![put_customer(customer_at(n), expected)]),
        )
        .await;
        p.commit_ok(
            &format!("write {} of the conversion", n + 1),
            plan(vec![put_conversion(conversion_at(n), expected)]),
        )
        .await;
        let version = expected + 1;
        let found = p.code(&prog, &c).await;
        let want = Some(Versioned {
            version,
            record: code_at(n),
        });
        assert_eq!(found, want, "{clause}: the code after {version} writes");
        let found = p.customer(&prog, "nada").await;
        let want = Some(Versioned {
            version,
            record: customer_at(n),
        });
        assert_eq!(found, want, "{clause}: the customer after {version} writes");
        let found = p.conversion(&prog, "order-1").await;
        let want = Some(Versioned {
            version,
            record: conversion_at(n),
        });
        assert_eq!(
            found, want,
            "{clause}: the conversion after {version} writes"
        );
    }
    p.commit_ok(
        "one plan writing all three at version 6",
        plan(vec![
            put_code(code_at(6), 6),
            put_customer(customer_at(6), 6),
            put_conversion(conversion_at(6), 6),
        ]),
    )
    .await;
    let versions = (
        p.code(&prog, &c).await.map(|v| v.version),
        p.customer(&prog, "nada").await.map(|v| v.version),
        p.conversion(&prog, "order-1").await.map(|v| v.version),
    );
    assert_eq!(
        versions,
        (Some(7), Some(7), Some(7)),
        "{clause}: versions after one plan wrote all three"
    );
}
