//! Clauses on the fraud part of the seam (schema 3): identity records and
//! their index from hash to customers, the referees listed per referrer,
//! and the review queue.

use super::commit::check_version_conditions;
use super::fixtures::*;
use super::ledger::{check_due_pages, witness, witnessed};

/// The limits every list is read with: none, one, a few, and no limit.
const LIMITS: [usize; 5] = [0, 1, 2, 3, usize::MAX];

/// `list` cut to `limit`.
fn first<T: Clone>(list: &[T], limit: usize) -> Vec<T> {
    list.iter().take(limit).cloned().collect()
}

/// `Write::PutIdentity` creates an identity record at version 1 and each
/// write adds one; `identity` returns exactly what was put (non-Latin and
/// maximum-length customer ids, hashes of all seven kinds under two key
/// ids, digests with zero and high bytes, first-seen times to the
/// nanosecond, `disposable_email`, a record holding no hash). A write
/// naming another version fails with a conflict and writes nothing of its
/// plan. `Write::DeleteIdentity` at the stored version removes the record
/// and every hash of it from the index; at any other version (0
/// included), or when there is no record, it fails with a conflict and
/// writes nothing of its plan. A deleted record may be created again, from
/// version 0.
pub async fn identity_records_are_versioned_and_round_trip<S: Store>(store: &S) {
    let p = Probe::new(store, "identity_records_are_versioned_and_round_trip");
    let clause = p.clause;
    let prog = pid("برنامج-الإحالة");
    let long = "م".repeat(64);

    // Round trip.
    let full = full_identity(&prog, "عميل-٧");
    let single = identity_record(
        &prog,
        &long,
        &[(
            signal_hash(IdentityKind::Device, u32::MAX, 0xFF),
            DateTime::from_timestamp(946_684_799, 999_999_999)
                .unwrap_or_else(|| panic!("{clause}: fixture time out of range")),
        )],
    );
    let bare = IdentityRecord {
        disposable_email: true,
        ..identity_record(&prog, "بلا-إشارات", &[])
    };
    let kinds: Vec<IdentityKind> = full.signals.iter().map(|s| s.hash.kind).collect();
    for kind in IdentityKind::ALL {
        assert!(
            kinds.contains(&kind),
            "{clause}: fixture: the full identity lacks {kind:?}"
        );
    }
    let records = [full.clone(), single.clone(), bare.clone()];
    p.commit_ok(
        "one plan creating three identity records",
        plan(
            records
                .iter()
                .cloned()
                .map(|r| put_identity(r, 0))
                .collect(),
        ),
    )
    .await;
    for record in &records {
        let found = p.identity(&prog, record.customer.as_str()).await;
        assert_eq!(
            found,
            v1(record.clone()),
            "{clause}: an identity record came back changed (timestamps keep nanoseconds, \
             digests all 32 bytes, key ids up to u32::MAX)"
        );
    }
    for signal in &full.signals {
        let found = p.identity_matches(&prog, &signal.hash, usize::MAX).await;
        assert_eq!(
            found,
            [IdentityMatch {
                customer: full.customer.clone(),
                first_seen: signal.first_seen,
            }],
            "{clause}: the matches of {:?}, held by one customer since {}",
            signal.hash,
            signal.first_seen
        );
    }
    assert_eq!(
        p.identity(&prog, "عميل-٨").await,
        None,
        "{clause}: the identity of a customer never written"
    );
    assert_eq!(
        p.identity(&pid("conformance-other"), "عميل-٧").await,
        None,
        "{clause}: the identity of the same customer in another program"
    );

    // Versions.
    let home = pid(PROGRAM);
    let h = signal_hash(IdentityKind::Email, 1, 0x10);
    check_version_conditions(
        &p,
        "identity",
        |tag| IdentityRecord {
            disposable_email: tag % 2 == 0,
            ..identity_record(&home, "nada", &[(h, at(i64::from(tag)))])
        },
        put_identity,
        async || p.identity(&home, "nada").await,
    )
    .await;
    for n in 0..4u32 {
        let version = u64::from(n) + 1;
        let what = format!("write {version} of two identity records in one plan");
        let a = identity_record(&home, "a", &[(h, at(i64::from(n)))]);
        let b = identity_record(&home, "b", &[(h, at(i64::from(n) + 1))]);
        p.commit_ok(
            &what,
            plan(vec![
                put_identity(a.clone(), u64::from(n)),
                put_identity(b.clone(), u64::from(n)),
            ]),
        )
        .await;
        for record in [a, b] {
            let found = p.identity(&home, record.customer.as_str()).await;
            assert_eq!(
                found,
                Some(Versioned { version, record }),
                "{clause}: after {what}"
            );
        }
    }

    // A refused write writes nothing of its plan.
    let kept = p.identity(&home, "nada").await;
    let new_hash = signal_hash(IdentityKind::Phone, 1, 0x20);
    let stale = identity_record(&home, "nada", &[(new_hash, at(5))]);
    let newcomer = identity_record(&home, "newcomer", &[(new_hash, at(6))]);
    let refused: [(&str, Vec<Write>); 4] = [
        (
            "a plan creating an identity, with a touch, ending with an identity at a stale version",
            vec![
                put_identity(newcomer.clone(), 0),
                witness(&home, "w-1"),
                put_identity(stale.clone(), 1),
            ],
        ),
        (
            "a plan starting with an identity at a stale version, then a touch and a new identity",
            vec![
                put_identity(stale.clone(), 4),
                witness(&home, "w-1"),
                put_identity(newcomer.clone(), 0),
            ],
        ),
        (
            "a plan creating an identity, with a touch, ending with the creation of an existing one",
            vec![
                put_identity(newcomer.clone(), 0),
                witness(&home, "w-1"),
                put_identity(stale.clone(), 0),
            ],
        ),
        (
            "a plan with a touch and a new identity, ending with a counter past its limit",
            vec![
                witness(&home, "w-1"),
                put_identity(newcomer.clone(), 0),
                add(&program_counter(&home, "full"), 1, Some(0)),
            ],
        ),
    ];
    for (what, writes) in refused {
        p.commit_conflict(what, plan(writes)).await;
        let after = format!("after {what} was refused");
        assert_eq!(
            p.identity(&home, "nada").await,
            kept,
            "{clause}: {after}, the stored identity"
        );
        assert_eq!(
            p.identity(&home, "newcomer").await,
            None,
            "{clause}: {after}, its new identity was stored"
        );
        assert!(
            !witnessed(&p, &home, "w-1").await,
            "{clause}: {after}, its touch was stored"
        );
        let found = p.identity_matches(&home, &new_hash, usize::MAX).await;
        assert_eq!(
            customers_of_matches(&found),
            Vec::<&str>::new(),
            "{clause}: {after}, the index holds a hash of its refused identities"
        );
        let found = p.identity_matches(&home, &h, usize::MAX).await;
        assert_eq!(
            customers_of_matches(&found),
            ["b", "a", "nada"],
            "{clause}: {after}, the index of the stored identities' hash"
        );
    }

    // Deletes.
    let version = |v: &Option<Versioned<IdentityRecord>>| v.as_ref().map_or(0, |v| v.version);
    let at_version = version(&kept);
    assert_eq!(at_version, 3, "{clause}: the fixture's version of nada");
    let bad: [(String, u64); 4] = [
        ("at version 0 (absent)".to_owned(), 0),
        ("at the version before the stored one".to_owned(), 2),
        ("at the version after the stored one".to_owned(), 4),
        ("at version 1".to_owned(), 1),
    ];
    for (why, expected) in bad {
        let what = format!("deleting an identity stored at version 3 {why}, after a touch");
        p.commit_conflict(
            &what,
            plan(vec![
                witness(&home, "w-2"),
                delete_identity(&home, "nada", expected),
            ]),
        )
        .await;
        assert_eq!(
            p.identity(&home, "nada").await,
            kept,
            "{clause}: after {what} was refused, the identity"
        );
        assert!(
            !witnessed(&p, &home, "w-2").await,
            "{clause}: after {what} was refused, its touch was stored"
        );
        let found = p.identity_matches(&home, &h, usize::MAX).await;
        assert_eq!(
            customers_of_matches(&found),
            ["b", "a", "nada"],
            "{clause}: after {what} was refused, the matches of its hash"
        );
    }
    for expected in [0, 1, 2] {
        let what = format!("deleting an identity never stored, expecting version {expected}");
        p.commit_conflict(
            &what,
            plan(vec![
                delete_identity(&home, "nobody", expected),
                witness(&home, "w-3"),
            ]),
        )
        .await;
        assert!(
            !witnessed(&p, &home, "w-3").await,
            "{clause}: after {what} was refused, its touch was stored"
        );
        assert_eq!(
            p.identity(&home, "nobody").await,
            None,
            "{clause}: after {what} was refused, the identity"
        );
    }
    p.commit_conflict(
        "deleting an identity of one program at its version, in another program",
        plan(vec![delete_identity(&pid("conformance-other"), "nada", 3)]),
    )
    .await;
    p.commit_ok(
        "deleting nada's identity at version 3, beside a touch",
        plan(vec![
            delete_identity(&home, "nada", 3),
            witness(&home, "w-4"),
        ]),
    )
    .await;
    assert_eq!(
        p.identity(&home, "nada").await,
        None,
        "{clause}: a deleted identity"
    );
    assert!(
        witnessed(&p, &home, "w-4").await,
        "{clause}: the touch beside a delete was not stored"
    );
    let found = p.identity_matches(&home, &h, usize::MAX).await;
    assert_eq!(
        customers_of_matches(&found),
        ["b", "a"],
        "{clause}: the matches of a deleted identity's hash (a delete removes its index entries)"
    );
    let found = p.stale_identities(&home, at(1_000_000), usize::MAX).await;
    assert_eq!(
        customers_of_identities(&found),
        ["a", "b"],
        "{clause}: stale identities after a delete"
    );
    for expected in [0, 3, 4] {
        p.commit_conflict(
            &format!("deleting a deleted identity again, expecting version {expected}"),
            plan(vec![delete_identity(&home, "nada", expected)]),
        )
        .await;
    }
    p.commit_conflict(
        "updating a deleted identity at its last version",
        plan(vec![put_identity(
            identity_record(&home, "nada", &[(h, at(7))]),
            3,
        )]),
    )
    .await;
    let again = identity_record(&home, "nada", &[(new_hash, at(8))]);
    p.commit_ok(
        "creating a deleted identity again from version 0",
        plan(vec![put_identity(again.clone(), 0)]),
    )
    .await;
    assert_eq!(
        p.identity(&home, "nada").await,
        v1(again),
        "{clause}: an identity created again after its delete starts at version 1"
    );
    let found = p.identity_matches(&home, &h, usize::MAX).await;
    assert_eq!(
        customers_of_matches(&found),
        ["b", "a"],
        "{clause}: an identity created again holds only its new hashes"
    );

    // Deleting the records of the round trip, one of them holding no hash;
    // version 0 is not the version of a record at version 1.
    for record in &records {
        let what = format!(
            "deleting the identity of {} (at version 1) expecting version 0, beside a touch",
            record.customer
        );
        p.commit_conflict(
            &what,
            plan(vec![
                witness(&prog, "w-5"),
                delete_identity(&prog, record.customer.as_str(), 0),
            ]),
        )
        .await;
        assert_eq!(
            p.identity(&prog, record.customer.as_str()).await,
            v1(record.clone()),
            "{clause}: after {what} was refused, the identity"
        );
        assert!(
            !witnessed(&p, &prog, "w-5").await,
            "{clause}: after {what} was refused, its touch was stored"
        );
    }
    p.commit_ok(
        "deleting the three identities of the round trip",
        plan(
            records
                .iter()
                .map(|r| delete_identity(&prog, r.customer.as_str(), 1))
                .collect(),
        ),
    )
    .await;
    for record in &records {
        assert_eq!(
            p.identity(&prog, record.customer.as_str()).await,
            None,
            "{clause}: a deleted identity"
        );
    }
    for signal in full.signals.iter().chain(&single.signals) {
        let found = p.identity_matches(&prog, &signal.hash, usize::MAX).await;
        assert_eq!(
            found,
            [],
            "{clause}: the matches of {:?} after its only holder was deleted",
            signal.hash
        );
    }
}

/// `identity_matches(program, hash, limit)` lists every customer whose
/// identity record holds `hash`, each once, with the time the hash was
/// first seen with them: descending by that time, ties by customer
/// ascending (bytewise), at most `limit`. A hash matches only the same
/// kind, key id and digest: the same digest under another kind or key id
/// is another hash. The index follows the records: a record replaced
/// without the hash leaves its matches, one replaced with another first
/// time moves, a deleted one leaves, a refused plan changes nothing.
/// Programs are isolated.
pub async fn identity_matches_follow_the_records<S: Store>(store: &S) {
    let p = Probe::new(store, "identity_matches_follow_the_records");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let shared = signal_hash(IdentityKind::Email, 1, 0x11);
    let as_phone = signal_hash(IdentityKind::Phone, 1, 0x11);
    let under_key_2 = signal_hash(IdentityKind::Email, 2, 0x11);
    let nobodys = signal_hash(IdentityKind::Email, 1, 0x12);
    let own = |n: u8| signal_hash(IdentityKind::Device, 1, 0x80 + n);
    let ip = signal_hash(IdentityKind::Ip, 7, 0x11);

    // (customer, when `shared` was first seen with them); each also holds
    // a device hash of their own and a shared IP seen at 1 s.
    let holders: [(&str, DateTime<Utc>); 6] = [
        ("c-old", at(100)),
        ("c-B", at(300)),
        ("عميل", at(300)),
        ("c-late", at_ns(300, 1)),
        ("c-a", at(300)),
        ("c-0", at(200)),
    ];
    let holder = |i: usize, shared_at: DateTime<Utc>| {
        let (customer, _) = holders[i];
        let n = u8::try_from(i).unwrap_or(0);
        identity_record(
            &prog,
            customer,
            &[(shared, shared_at), (own(n), at(50)), (ip, at(1))],
        )
    };
    let batches: Vec<Vec<IdentityRecord>> = vec![
        vec![holder(0, holders[0].1)],
        vec![holder(1, holders[1].1), holder(2, holders[2].1)],
        vec![
            holder(3, holders[3].1),
            identity_record(&prog, "c-phone", &[(as_phone, at(900))]),
        ],
        vec![
            identity_record(&prog, "c-key2", &[(under_key_2, at(900))]),
            holder(4, holders[4].1),
            holder(5, holders[5].1),
        ],
        vec![
            identity_record(&other, "c-a", &[(shared, at(999))]),
            identity_record(&other, "c-x", &[(shared, at(50)), (ip, at(1))]),
        ],
    ];
    for batch in &batches {
        let what = format!(
            "creating the identities of {:?}",
            batch
                .iter()
                .map(|r| r.customer.as_str())
                .collect::<Vec<_>>()
        );
        p.commit_ok(
            &what,
            plan(batch.iter().cloned().map(|r| put_identity(r, 0)).collect()),
        )
        .await;
    }

    let m = |customer: &str, first_seen: DateTime<Utc>| IdentityMatch {
        customer: cid(customer),
        first_seen,
    };
    let check =
        async |program: &ProgramId, hash: &SignalHash, want: &[IdentityMatch], after: &str| {
            for limit in LIMITS {
                let found = p.identity_matches(program, hash, limit).await;
                let want = first(want, limit);
                assert_eq!(
                    customers_of_matches(&found),
                    customers_of_matches(&want),
                    "{clause}: {after}: the matches of {hash:?} in {program} with limit {limit}: \
                 exactly the customers holding this kind, key id and digest, descending by first \
                 seen, ties by customer ascending (bytewise: \"c-B\" < \"c-a\" < \"عميل\"), at \
                 most `limit`"
                );
                assert_eq!(
                    found, want,
                    "{clause}: {after}: the matches of {hash:?} in {program} with limit {limit}: \
                 first seen times (to the nanosecond)"
                );
            }
        };
    let created = "after creating them";
    let all_shared = [
        m("c-late", at_ns(300, 1)),
        m("c-B", at(300)),
        m("c-a", at(300)),
        m("عميل", at(300)),
        m("c-0", at(200)),
        m("c-old", at(100)),
    ];
    check(&prog, &shared, &all_shared, created).await;
    check(&prog, &as_phone, &[m("c-phone", at(900))], created).await;
    check(&prog, &under_key_2, &[m("c-key2", at(900))], created).await;
    check(&prog, &nobodys, &[], created).await;
    check(&prog, &own(4), &[m("c-a", at(50))], created).await;
    let all_ip = [
        m("c-0", at(1)),
        m("c-B", at(1)),
        m("c-a", at(1)),
        m("c-late", at(1)),
        m("c-old", at(1)),
        m("عميل", at(1)),
    ];
    check(&prog, &ip, &all_ip, created).await;
    check(
        &other,
        &shared,
        &[m("c-a", at(999)), m("c-x", at(50))],
        created,
    )
    .await;
    check(&other, &ip, &[m("c-x", at(1))], created).await;
    check(&pid("gamma"), &shared, &[], created).await;

    // Updates and deletes.
    let version = async |c: &str| p.identity(&prog, c).await.map_or(0, |v| v.version);
    let without_shared = identity_record(&prog, "c-old", &[(own(0), at(50)), (ip, at(1))]);
    let moved = holder(5, at(400));
    p.commit_ok(
        "replacing c-old's identity without the shared hash, c-0's with the shared hash first \
         seen at 400 s, and deleting c-B's",
        plan(vec![
            put_identity(without_shared, version("c-old").await),
            put_identity(moved, version("c-0").await),
            delete_identity(&prog, "c-B", version("c-B").await),
        ]),
    )
    .await;
    let updated = "after c-old dropped the shared hash, c-0 moved to 400 s and c-B was deleted";
    let now_shared = [
        m("c-0", at(400)),
        m("c-late", at_ns(300, 1)),
        m("c-a", at(300)),
        m("عميل", at(300)),
    ];
    check(&prog, &shared, &now_shared, updated).await;
    let now_ip = [
        m("c-0", at(1)),
        m("c-a", at(1)),
        m("c-late", at(1)),
        m("c-old", at(1)),
        m("عميل", at(1)),
    ];
    check(&prog, &ip, &now_ip, updated).await;
    check(&prog, &own(0), &[m("c-old", at(50))], updated).await;
    check(&prog, &own(1), &[], updated).await;
    check(
        &other,
        &shared,
        &[m("c-a", at(999)), m("c-x", at(50))],
        updated,
    )
    .await;

    let refused = "after refused plans";
    p.commit_conflict(
        "replacing c-a's identity without the shared hash from a stale version",
        plan(vec![put_identity(
            identity_record(&prog, "c-a", &[(ip, at(1))]),
            version("c-a").await + 1,
        )]),
    )
    .await;
    p.commit_conflict(
        "deleting c-late's identity in a plan ending with a counter past its limit",
        plan(vec![
            delete_identity(&prog, "c-late", version("c-late").await),
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ]),
    )
    .await;
    check(&prog, &shared, &now_shared, refused).await;
    check(&prog, &ip, &now_ip, refused).await;

    p.commit_ok(
        "deleting the other program's c-a",
        plan(vec![delete_identity(&other, "c-a", 1)]),
    )
    .await;
    let deleted = "after deleting c-a in the other program";
    check(&other, &shared, &[m("c-x", at(50))], deleted).await;
    check(&prog, &shared, &now_shared, deleted).await;
}

/// `stale_identities(program, before, limit)` lists the identity records
/// whose oldest signal ([`IdentityRecord::oldest_seen`]) was first seen
/// strictly before `before`, ascending by that time, ties by customer
/// (bytewise), at most `limit`, each at its current version. A record
/// holding no hash is never listed. The list follows the records: one
/// whose oldest signal is removed moves to its next oldest (or leaves),
/// one given an older signal moves earlier, a deleted one leaves, a
/// refused plan changes nothing. Programs are isolated.
pub async fn stale_identities_are_listed_by_oldest_signal<S: Store>(store: &S) {
    let p = Probe::new(store, "stale_identities_are_listed_by_oldest_signal");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let hash = |n: u8| signal_hash(IdentityKind::Email, 1, n);
    let phone = |n: u8| signal_hash(IdentityKind::Phone, 1, n);
    let r = |customer: &str, seen: &[DateTime<Utc>]| {
        let signals: Vec<(SignalHash, DateTime<Utc>)> = (0u8..)
            .zip(seen)
            .map(|(i, &t)| (if i % 2 == 0 { hash(i) } else { phone(i) }, t))
            .collect();
        identity_record(&prog, customer, &signals)
    };
    let batches: Vec<Vec<IdentityRecord>> = vec![
        vec![r("s-new", &[at(2_000), at(5_000)])],
        vec![r("s-1", &[at(500), at(100)]), r("s-a", &[at(300), at(200)])],
        vec![r("s-edge", &[at(1_000)])],
        vec![
            r("s-B", &[at(200)]),
            r("s-none", &[]),
            r("s-just", &[at_ns(999, 999_999_999), at(3_000)]),
        ],
        vec![identity_record(&other, "s-x", &[(hash(0), at(1))])],
    ];
    for batch in &batches {
        let what = format!(
            "creating the identities of {:?}",
            batch
                .iter()
                .map(|r| r.customer.as_str())
                .collect::<Vec<_>>()
        );
        p.commit_ok(
            &what,
            plan(batch.iter().cloned().map(|r| put_identity(r, 0)).collect()),
        )
        .await;
    }
    let current = async |program: &ProgramId, ids: &[&str]| {
        let mut out = Vec::new();
        for id in ids {
            match p.identity(program, id).await {
                Some(v) => out.push(v),
                None => panic!("{clause}: the identity of {id} is missing"),
            }
        }
        out
    };
    let check = async |program: &ProgramId, before: DateTime<Utc>, ids: &[&str], after: &str| {
        let want = current(program, ids).await;
        for limit in LIMITS {
            let found = p.stale_identities(program, before, limit).await;
            let want = first(&want, limit);
            assert_eq!(
                customers_of_identities(&found),
                customers_of_identities(&want),
                "{clause}: {after}: the identities of {program} with a signal first seen strictly \
                 before {before}, limit {limit}: ascending by oldest signal, ties by customer \
                 bytewise, at most `limit`, never one holding no hash"
            );
            assert_eq!(
                found, want,
                "{clause}: {after}: the identities of {program} seen before {before}, limit \
                 {limit}, came back changed or at an old version"
            );
        }
    };
    let created = "after creating them";
    check(&prog, at(1_000), &["s-1", "s-B", "s-a", "s-just"], created).await;
    check(&prog, at(200), &["s-1"], created).await;
    check(&prog, at_ns(200, 1), &["s-1", "s-B", "s-a"], created).await;
    check(&prog, at(100), &[], created).await;
    check(
        &prog,
        at_ns(1_000, 1),
        &["s-1", "s-B", "s-a", "s-just", "s-edge"],
        created,
    )
    .await;
    let everyone = ["s-1", "s-B", "s-a", "s-just", "s-edge", "s-new"];
    check(&prog, at(1_000_000), &everyone, created).await;
    check(&other, at(1_000), &["s-x"], created).await;
    check(&other, at(1), &[], created).await;
    check(&pid("gamma"), at(1_000_000), &[], created).await;

    let version = async |c: &str| p.identity(&prog, c).await.map_or(0, |v| v.version);
    p.commit_ok(
        "dropping s-1's oldest signal, giving s-new an older one, deleting s-a and emptying s-B",
        plan(vec![
            put_identity(
                identity_record(&prog, "s-1", &[(hash(0), at(500))]),
                version("s-1").await,
            ),
            put_identity(
                identity_record(
                    &prog,
                    "s-new",
                    &[
                        (hash(0), at(2_000)),
                        (phone(1), at(5_000)),
                        (hash(9), at(50)),
                    ],
                ),
                version("s-new").await,
            ),
            delete_identity(&prog, "s-a", version("s-a").await),
            put_identity(r("s-B", &[]), version("s-B").await),
        ]),
    )
    .await;
    let updated = "after s-1 lost its oldest signal, s-new gained an older one, s-a was deleted \
                   and s-B emptied";
    check(&prog, at(1_000), &["s-new", "s-1", "s-just"], updated).await;
    check(&prog, at(500), &["s-new"], updated).await;
    check(
        &prog,
        at(1_000_000),
        &["s-new", "s-1", "s-just", "s-edge"],
        updated,
    )
    .await;
    check(&other, at(1_000), &["s-x"], updated).await;

    p.commit_conflict(
        "giving s-edge an older signal from a stale version",
        plan(vec![put_identity(
            r("s-edge", &[at(1_000), at(10)]),
            version("s-edge").await + 1,
        )]),
    )
    .await;
    p.commit_conflict(
        "deleting s-new in a plan ending with a counter past its limit",
        plan(vec![
            delete_identity(&prog, "s-new", version("s-new").await),
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ]),
    )
    .await;
    check(
        &prog,
        at(1_000_000),
        &["s-new", "s-1", "s-just", "s-edge"],
        "after refused plans",
    )
    .await;
}

/// `recent_referees(program, referrer, limit)` lists the customers whose
/// record names `referrer` in its referral: descending by signup time,
/// ties by customer ascending (bytewise), at most `limit`, each as stored
/// now. Referrers compare exactly (`Sara` is not `sara`); customers
/// without a referral are never listed. The list follows the records: a
/// customer rewritten with another referrer moves to that referrer's
/// list, one rewritten without a referral leaves, one with another signup
/// time moves, one rewritten otherwise is listed as it is now, a refused
/// plan changes nothing. Programs are isolated.
pub async fn recent_referees_are_listed_per_referrer<S: Store>(store: &S) {
    let p = Probe::new(store, "recent_referees_are_listed_per_referrer");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let r = |customer: &str, referrer: Option<&str>, at: DateTime<Utc>| {
        referee_record(&prog, customer, referrer, at)
    };
    let batches: Vec<Vec<CustomerRecord>> = vec![
        vec![r("r-1", Some("sara"), at(100))],
        vec![
            r("r-B", Some("sara"), at(300)),
            r("r-late", Some("sara"), at_ns(300, 1)),
            r("r-n", Some("nada"), at(500)),
        ],
        vec![r("sara", None, at(1)), r("r-none", None, at(600))],
        vec![
            r("عميل-٣", Some("sara"), at(300)),
            r("r-case", Some("Sara"), at(400)),
        ],
        vec![
            r("r-2", Some("sara"), at(200)),
            r("r-a", Some("sara"), at(300)),
        ],
        vec![
            referee_record(&other, "r-1", Some("sara"), at(900)),
            referee_record(&other, "r-x", Some("sara"), at(50)),
        ],
    ];
    for batch in &batches {
        let what = format!("creating customers {:?}", customers_of(batch));
        p.commit_ok(
            &what,
            plan(batch.iter().cloned().map(|c| put_customer(c, 0)).collect()),
        )
        .await;
    }
    let current = async |program: &ProgramId, ids: &[&str]| {
        let mut out = Vec::new();
        for id in ids {
            match p.customer(program, id).await {
                Some(v) => out.push(v.record),
                None => panic!("{clause}: customer {id} is missing"),
            }
        }
        out
    };
    let check = async |program: &ProgramId, referrer: &str, ids: &[&str], after: &str| {
        let want = current(program, ids).await;
        for limit in LIMITS {
            let found = p.recent_referees(program, referrer, limit).await;
            let want = first(&want, limit);
            assert_eq!(
                customers_of(&found),
                customers_of(&want),
                "{clause}: {after}: the referees of {referrer:?} in {program}, limit {limit}: \
                 exactly the customers whose referral names them (exactly), descending by signup \
                 time, ties by customer ascending (bytewise: \"r-B\" < \"r-a\" < \"عميل-٣\"), at \
                 most `limit`"
            );
            assert_eq!(
                found, want,
                "{clause}: {after}: the referees of {referrer:?} in {program}, limit {limit}, \
                 are not the customer records as stored"
            );
        }
    };
    let created = "after creating them";
    let sara = ["r-late", "r-B", "r-a", "عميل-٣", "r-2", "r-1"];
    check(&prog, "sara", &sara, created).await;
    check(&prog, "nada", &["r-n"], created).await;
    check(&prog, "Sara", &["r-case"], created).await;
    check(&prog, "r-1", &[], created).await;
    check(&prog, "nobody", &[], created).await;
    check(&other, "sara", &["r-1", "r-x"], created).await;
    check(&pid("gamma"), "sara", &[], created).await;

    let version = async |c: &str| p.customer(&prog, c).await.map_or(0, |v| v.version);
    let counted = CustomerRecord {
        rewarded_conversions: 1,
        purchases: 2,
        ..r("r-1", Some("sara"), at(100))
    };
    p.commit_ok(
        "r-B now names nada, r-a no referrer, r-2 signed up at 350 s, r-none names sara (600 s), \
         r-1 counts a purchase",
        plan(vec![
            put_customer(r("r-B", Some("nada"), at(300)), version("r-B").await),
            put_customer(r("r-a", None, at(300)), version("r-a").await),
            put_customer(r("r-2", Some("sara"), at(350)), version("r-2").await),
            put_customer(r("r-none", Some("sara"), at(600)), version("r-none").await),
            put_customer(counted, version("r-1").await),
        ]),
    )
    .await;
    let updated = "after rewriting r-B, r-a, r-2, r-none and r-1";
    let sara = ["r-none", "r-2", "r-late", "عميل-٣", "r-1"];
    check(&prog, "sara", &sara, updated).await;
    check(&prog, "nada", &["r-n", "r-B"], updated).await;
    check(&prog, "Sara", &["r-case"], updated).await;
    check(&other, "sara", &["r-1", "r-x"], updated).await;

    p.commit_conflict(
        "moving r-late to nada from a stale version",
        plan(vec![put_customer(
            r("r-late", Some("nada"), at_ns(300, 1)),
            version("r-late").await + 1,
        )]),
    )
    .await;
    p.commit_conflict(
        "dropping r-none's referrer in a plan ending with a counter past its limit",
        plan(vec![
            put_customer(r("r-none", None, at(600)), version("r-none").await),
            add(&program_counter(&prog, "full"), 1, Some(0)),
        ]),
    )
    .await;
    let refused = "after refused plans";
    check(&prog, "sara", &sara, refused).await;
    check(&prog, "nada", &["r-n", "r-B"], refused).await;
}

/// `due_rewards(Review)` is the review queue: exactly the rewards held
/// for review (`HoldReason::Review`) with some quantity pending
/// ([`Reward::review_due`]), earned at or before `before` (inclusive, as
/// for the other due lists), ascending by (earning time, reward id), paged
/// by [`RewardCursor`] with no duplicate and no gap. Rewards held for a
/// hold period, released, cancelled or never pending are not in it, and
/// rewards held only for review are not in the release list. A reward
/// written again with nothing pending (approved or rejected) leaves the
/// queue, one newly held for review enters it, a refused plan changes
/// nothing; the balances stay the fold of the entries booked beside the
/// rewards. Programs are isolated.
pub async fn review_queue_lists_rewards_held_for_review<S: Store>(store: &S) {
    let p = Probe::new(store, "review_queue_lists_rewards_held_for_review");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let sar_unit = Unit::Money(Currency::SAR);
    use EntryKind::*;

    let review = |program: &ProgramId,
                  id: &str,
                  earned_at: DateTime<Utc>,
                  steps: &[(EntryKind, i64)]| Reward {
        earned_at,
        hold: Some(HoldReason::Review {
            note: format!("مراجعة {id}"),
            screening: None,
        }),
        ..reward_record(program, id, "sara", None, None, steps)
    };
    // A reward's plan: the reward and an entry per step from `from`, so
    // that the balances follow its progress.
    let booked = |reward: &Reward, steps: &[(EntryKind, i64)], from: usize, expected: u64| {
        let mut writes = vec![put_reward(reward.clone(), expected)];
        for (i, &(kind, q)) in steps.iter().enumerate().skip(from) {
            writes.push(Write::InsertLedgerEntry(entry_of(
                &reward.program,
                &format!("{}/{i}", reward.id),
                "sara",
                reward.id.as_str(),
                kind,
                sar_unit.clone(),
                q,
                reward.earned_at,
            )));
        }
        writes
    };
    let held = [(Held, 100)];
    let rewards: Vec<(Reward, Vec<(EntryKind, i64)>)> = vec![
        (review(&prog, "rv-edge", at(1_000), &held), held.to_vec()),
        (
            review(&prog, "rv-late", at_ns(1_000, 1), &held),
            held.to_vec(),
        ),
        (review(&prog, "rv-a", at(300), &held), held.to_vec()),
        (review(&prog, "rv-1", at(100), &held), held.to_vec()),
        (review(&prog, "rv-0", at_ns(300, 1), &held), held.to_vec()),
        (review(&prog, "rv-B", at(300), &held), held.to_vec()),
        (
            review(&prog, "rv-part", at(200), &[(Held, 100), (Released, 40)]),
            vec![(Held, 100), (Released, 40)],
        ),
        (
            review(
                &prog,
                "rv-approved",
                at(150),
                &[(Held, 100), (Released, 100)],
            ),
            vec![(Held, 100), (Released, 100)],
        ),
        (
            review(
                &prog,
                "rv-rejected",
                at(150),
                &[(Held, 100), (Cancelled, 100)],
            ),
            vec![(Held, 100), (Cancelled, 100)],
        ),
        (
            review(&prog, "rv-granted", at(150), &[(Granted, 100)]),
            vec![(Granted, 100)],
        ),
        (
            reward_record(&prog, "rv-period", "sara", Some(at(500)), None, &held),
            held.to_vec(),
        ),
        (
            reward_record(&prog, "rv-plain", "sara", None, None, &[(Granted, 100)]),
            vec![(Granted, 100)],
        ),
        (review(&other, "rv-x", at(50), &held), held.to_vec()),
    ];
    let mut entries: Vec<LedgerEntry> = Vec::new();
    for chunk in rewards.chunks(3) {
        let what = format!(
            "creating rewards {:?} with their entries",
            chunk.iter().map(|(r, _)| r.id.as_str()).collect::<Vec<_>>()
        );
        let writes: Vec<Write> = chunk
            .iter()
            .flat_map(|(r, steps)| booked(r, steps, 0, 0))
            .collect();
        entries.extend(writes.iter().filter_map(|w| match w {
            Write::InsertLedgerEntry(e) => Some(e.clone()),
            _ => None,
        }));
        p.commit_ok(&what, plan(writes)).await;
    }
    for (reward, _) in &rewards {
        let found = p.reward(&reward.program, reward.id.as_str()).await;
        assert_eq!(
            found,
            v1(reward.clone()),
            "{clause}: reward {} came back changed",
            reward.id
        );
    }

    let current = async |program: &ProgramId, ids: &[&str]| {
        let mut out = Vec::new();
        for id in ids {
            match p.reward(program, id).await {
                Some(v) => out.push(v),
                None => panic!("{clause}: reward {id} is missing"),
            }
        }
        out
    };
    let before = at(1_000);
    let created = "after creating them";
    let queue = ["rv-1", "rv-part", "rv-B", "rv-a", "rv-0", "rv-edge"];
    check_due_pages(
        &p,
        &prog,
        Due::Review,
        before,
        &current(&prog, &queue).await,
        created,
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Review,
        at(300),
        &current(&prog, &["rv-1", "rv-part", "rv-B", "rv-a"]).await,
        created,
    )
    .await;
    check_due_pages(&p, &prog, Due::Review, at_ns(99, 999_999_999), &[], created).await;
    let with_late = [
        "rv-1", "rv-part", "rv-B", "rv-a", "rv-0", "rv-edge", "rv-late",
    ];
    check_due_pages(
        &p,
        &prog,
        Due::Review,
        at_ns(1_000, 1),
        &current(&prog, &with_late).await,
        created,
    )
    .await;
    check_due_pages(
        &p,
        &prog,
        Due::Release,
        before,
        &current(&prog, &["rv-period"]).await,
        created,
    )
    .await;
    check_due_pages(
        &p,
        &other,
        Due::Review,
        before,
        &current(&other, &["rv-x"]).await,
        created,
    )
    .await;
    check_due_pages(&p, &pid("gamma"), Due::Review, before, &[], created).await;

    // Decisions and new holds.
    let version = async |id: &str| p.reward(&prog, id).await.map_or(0, |v| v.version);
    let decided =
        |id: &str, earned: DateTime<Utc>, steps: &[(EntryKind, i64)], approved: bool| Reward {
            decision: Some(ReviewDecision {
                approved,
                by: opid("مشرف-١"),
                note: String::new(),
                at: at(2_000),
            }),
            ..review(&prog, id, earned, steps)
        };
    let approve_b = [(Held, 100), (Released, 100)];
    let reject_1 = [(Held, 100), (Cancelled, 100)];
    let part_more = [(Held, 100), (Released, 40), (Released, 30)];
    let to_review = Reward {
        hold: Some(HoldReason::Review {
            note: "flagged after its hold began".to_owned(),
            screening: None,
        }),
        release_at: None,
        ..reward_record(&prog, "rv-period", "sara", Some(at(500)), None, &held)
    };
    let mut writes = Vec::new();
    writes.extend(booked(
        &decided("rv-B", at(300), &approve_b, true),
        &approve_b,
        1,
        version("rv-B").await,
    ));
    writes.extend(booked(
        &decided("rv-1", at(100), &reject_1, false),
        &reject_1,
        1,
        version("rv-1").await,
    ));
    writes.extend(booked(
        &review(&prog, "rv-part", at(200), &part_more),
        &part_more,
        2,
        version("rv-part").await,
    ));
    writes.push(put_reward(to_review, version("rv-period").await));
    entries.extend(writes.iter().filter_map(|w| match w {
        Write::InsertLedgerEntry(e) => Some(e.clone()),
        _ => None,
    }));
    p.commit_ok(
        "approving rv-B, rejecting rv-1, releasing 30 more of rv-part and holding rv-period for \
         review instead, with their entries",
        plan(writes),
    )
    .await;
    let updated = "after approving rv-B, rejecting rv-1, releasing more of rv-part and holding \
                   rv-period for review";
    let queue = ["rv-period", "rv-part", "rv-a", "rv-0", "rv-edge"];
    check_due_pages(
        &p,
        &prog,
        Due::Review,
        before,
        &current(&prog, &queue).await,
        updated,
    )
    .await;
    check_due_pages(&p, &prog, Due::Release, before, &[], updated).await;

    let approve_a = [(Held, 100), (Released, 100)];
    let mut stale = booked(
        &decided("rv-a", at(300), &approve_a, true),
        &approve_a,
        1,
        0,
    );
    stale.reverse();
    p.commit_conflict(
        "approving rv-a, with its entry, from a stale version",
        plan(stale),
    )
    .await;
    let mut full = booked(
        &decided("rv-0", at_ns(300, 1), &approve_a, true),
        &approve_a,
        1,
        version("rv-0").await,
    );
    full.push(add(&program_counter(&prog, "full"), 1, Some(0)));
    p.commit_conflict(
        "approving rv-0, with its entry, in a plan ending with a counter past its limit",
        plan(full),
    )
    .await;
    let refused = "after refused approvals";
    check_due_pages(
        &p,
        &prog,
        Due::Review,
        before,
        &current(&prog, &queue).await,
        refused,
    )
    .await;
    for program in [&prog, &other] {
        let found = p.balances(program, "sara").await;
        let want = folded_balances(&entries, program, "sara");
        assert_eq!(
            found, want,
            "{clause}: {refused}: the balances of sara in {program} are not the fold of the \
             entries booked with the rewards"
        );
    }
}
