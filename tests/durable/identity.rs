//! Schema 3's reads and writes on the durable stores, against the memory
//! store's answers to the same plans: identity records and their hash
//! index, referees per referrer, the review queue. Every plan goes to
//! both stores; after each, every read of the new seam is asked of both
//! with several limits and cursors, and at the end the whole database
//! must read back as the memory store's state.
//!
//! (Until the conformance clauses for the seam land; they will cover the
//! same ground for every store.)

use std::future::Future;

use chrono::{DateTime, Utc};
use referrals::fraud::identity::{IdentityKind, KeyId, SignalHash};
use referrals::ledger::HoldReason;
use referrals::model::{CustomerId, ProgramId, RewardId};
use referrals::store::{
    CommitPlan, CustomerRecord, Due, IdentityRecord, MemoryState, Referral, Reward, RewardCursor,
    SeenSignal, StoreErrorKind, StoreResult, Write,
};
use referrals::{MemoryStore, Store};

/// A durable store whose whole state can be read back.
pub trait Durable: Store {
    fn whole(&self) -> impl Future<Output = StoreResult<MemoryState>> + Send;
}

#[cfg(feature = "sqlite")]
impl Durable for referrals::store::SqliteStore {
    fn whole(&self) -> impl Future<Output = StoreResult<MemoryState>> + Send {
        self.snapshot()
    }
}

#[cfg(feature = "postgres")]
impl Durable for referrals::store::PostgresStore {
    fn whole(&self) -> impl Future<Output = StoreResult<MemoryState>> + Send {
        self.snapshot()
    }
}

/// A customer of the schema-2 fixture (Badr, referred by Amira): the
/// template the customers here are made from.
pub const CUSTOMER_JSON: &str = r#"{"program":"fixture","customer":"badr","signed_up_at":"2026-03-01T09:00:00Z","visitor":null,"referral":{"referrer":"amira","code":"GNJS298CA","channel":"link","touched_at":"2026-03-01T09:00:00Z"},"qualifying_touches":[],"rewarded_conversions":1,"purchases":1}"#;

/// A reward of the schema-2 fixture (Amira's credit): the template the
/// rewards here are made from.
pub const REWARD_JSON: &str = r#"{"id":"rw_54605a03283319925264971b05424aff","program":"fixture","customer":"amira","role":"referrer","kind":{"kind":"credit","amount":{"minor":1500,"currency":"SAR"}},"unit":{"unit":"money","of":"SAR"},"order":"order-badr-1","rule":null,"rule_set_version":null,"terms_version":1,"variant":null,"once_key":null,"earned_at":"2026-03-01T10:00:00Z","hold":null,"release_at":null,"expires_at":null,"coupon":null,"decision":null,"reserved":[],"progress":{"quantity":1500,"pending":0,"available":1500,"redeemed":0,"cancelled":0,"expired":0,"reversed":0,"repaid":0,"owed":0,"written_off":0}}"#;

pub fn pid(s: &str) -> ProgramId {
    ProgramId::new(s).unwrap()
}

pub fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

/// A time `s` seconds and `ns` nanoseconds after 2026-02-25.
pub fn t(s: i64, ns: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_000_000 + s, ns).unwrap()
}

fn hash(kind: IdentityKind, key: u32, byte: u8) -> SignalHash {
    SignalHash {
        kind,
        key: KeyId::new(key),
        digest: [byte; 32],
    }
}

/// Every hash the plans use, and one they never do.
fn hashes() -> Vec<SignalHash> {
    vec![
        hash(IdentityKind::Email, 1, 0xA),
        hash(IdentityKind::Email, 2, 0xA),
        hash(IdentityKind::Phone, 1, 0xB),
        hash(IdentityKind::Device, 1, 0xC),
        hash(IdentityKind::IpPrefix, 1, 0xD),
        hash(IdentityKind::Payment, 1, 0xE),
    ]
}

fn identity(
    program: &str,
    customer: &str,
    signals: &[(SignalHash, DateTime<Utc>)],
) -> IdentityRecord {
    let mut signals: Vec<SeenSignal> = signals
        .iter()
        .map(|&(hash, first_seen)| SeenSignal { hash, first_seen })
        .collect();
    signals.sort();
    IdentityRecord {
        program: pid(program),
        customer: cid(customer),
        signals,
        disposable_email: false,
    }
}

fn put_identity(record: IdentityRecord, expected: u64) -> Write {
    Write::PutIdentity { record, expected }
}

fn delete_identity(program: &str, customer: &str, expected: u64) -> Write {
    Write::DeleteIdentity {
        program: pid(program),
        customer: cid(customer),
        expected,
    }
}

pub fn customer(
    program: &str,
    customer: &str,
    referrer: Option<&str>,
    signed_up_at: DateTime<Utc>,
) -> CustomerRecord {
    let mut record: CustomerRecord = serde_json::from_str(CUSTOMER_JSON).unwrap();
    let template = record.referral.take().unwrap();
    record.program = pid(program);
    record.customer = cid(customer);
    record.signed_up_at = signed_up_at;
    record.referral = referrer.map(|r| Referral {
        referrer: cid(r),
        ..template
    });
    record
}

fn put_customer(record: CustomerRecord, expected: u64) -> Write {
    Write::PutCustomer { record, expected }
}

/// A reward earned at `earned_at` with `pending` of its 1,500 still
/// pending (the rest available), held as `hold` says.
pub fn reward(
    program: &str,
    id: &str,
    earned_at: DateTime<Utc>,
    pending: i64,
    hold: Option<HoldReason>,
) -> Reward {
    let mut r: Reward = serde_json::from_str(REWARD_JSON).unwrap();
    r.program = pid(program);
    r.id = RewardId::new(id).unwrap();
    r.earned_at = earned_at;
    r.release_at = matches!(hold, Some(HoldReason::HoldPeriod)).then(|| t(600, 0));
    r.hold = hold;
    r.progress.pending = pending;
    r.progress.available = r.progress.quantity - pending;
    r
}

pub fn review(note: &str) -> Option<HoldReason> {
    Some(HoldReason::Review {
        note: note.to_owned(),
        screening: None,
    })
}

fn put_reward(record: Reward, expected: u64) -> Write {
    Write::PutReward {
        record: Box::new(record),
        expected,
    }
}

fn plan(writes: Vec<Write>) -> CommitPlan {
    CommitPlan {
        idempotency: None,
        writes,
    }
}

/// The plans, in order, each named for what it checks.
fn plans() -> Vec<(&'static str, CommitPlan)> {
    let [e1, e2, phone, device, ip, _] = <[SignalHash; 6]>::try_from(hashes()).unwrap();
    let p = "idp";
    vec![
        (
            "identities are created with overlapping hashes",
            plan(vec![
                put_identity(identity(p, "a", &[(e1, t(10, 0)), (phone, t(20, 5))]), 0),
                // Same hash, same time as a's: ties go by customer.
                put_identity(
                    identity(p, "b", &[(e1, t(10, 0)), (device, t(5, 999_999_999))]),
                    0,
                ),
                // The same digest under another key is another hash.
                put_identity(identity(p, "c", &[(e1, t(30, 1)), (e2, t(1, 0))]), 0),
            ]),
        ),
        (
            "a record without signals is never stale",
            plan(vec![put_identity(
                IdentityRecord {
                    disposable_email: true,
                    ..identity(p, "d", &[])
                },
                0,
            )]),
        ),
        (
            "another program's hashes are its own",
            plan(vec![put_identity(
                identity("other", "a", &[(e1, t(100, 0))]),
                0,
            )]),
        ),
        (
            "creating an identity that exists is a conflict",
            plan(vec![put_identity(identity(p, "a", &[(e1, t(0, 0))]), 0)]),
        ),
        (
            "a replaced record's dropped hashes leave the index",
            plan(vec![put_identity(
                identity(p, "b", &[(device, t(5, 999_999_999)), (ip, t(40, 0))]),
                1,
            )]),
        ),
        (
            "replacing at a stale version is a conflict",
            plan(vec![put_identity(identity(p, "b", &[]), 1)]),
        ),
        (
            "a deleted identity leaves the index",
            plan(vec![delete_identity(p, "c", 1)]),
        ),
        (
            "deleting an absent identity is a conflict",
            plan(vec![delete_identity(p, "c", 1)]),
        ),
        (
            "deleting at version 0 is a conflict, even of a record at version 1",
            plan(vec![delete_identity(p, "d", 0)]),
        ),
        (
            "deleting at the version read",
            plan(vec![delete_identity(p, "d", 1)]),
        ),
        (
            "deleting at a stale version is a conflict",
            plan(vec![delete_identity(p, "a", 7)]),
        ),
        (
            "a plan that fails elsewhere writes no identity and no hash",
            plan(vec![
                put_identity(identity(p, "a", &[(ip, t(1, 0))]), 1),
                put_customer(customer(p, "nobody", None, t(0, 0)), 5),
            ]),
        ),
        (
            "a deleted identity can be created again",
            plan(vec![put_identity(identity(p, "c", &[(phone, t(2, 0))]), 0)]),
        ),
        (
            "one plan creates one identity and deletes another",
            plan(vec![
                put_identity(identity(p, "e", &[(e1, t(10, 0)), (ip, t(40, 0))]), 0),
                delete_identity(p, "b", 2),
            ]),
        ),
        (
            "referees are listed by referrer, the latest first",
            plan(vec![
                put_customer(customer(p, "x", Some("amira"), t(10, 0)), 0),
                put_customer(customer(p, "y", Some("amira"), t(10, 0)), 0),
                put_customer(customer(p, "z", Some("amira"), t(20, 1)), 0),
                put_customer(customer(p, "w", Some("badr"), t(15, 0)), 0),
                put_customer(customer(p, "v", None, t(30, 0)), 0),
                put_customer(customer("other", "x", Some("amira"), t(99, 0)), 0),
            ]),
        ),
        (
            "a referee whose referrer changes moves",
            plan(vec![put_customer(
                customer(p, "y", Some("badr"), t(50, 0)),
                1,
            )]),
        ),
        (
            "a referee who loses the referral leaves the list",
            plan(vec![put_customer(customer(p, "z", None, t(20, 1)), 1)]),
        ),
        (
            "rewards held for review with some pending are queued by earning time",
            plan(vec![
                put_reward(reward(p, "rv1", t(10, 0), 100, review("one")), 0),
                put_reward(reward(p, "rv2", t(10, 0), 1_500, review("two")), 0),
                put_reward(reward(p, "rv3", t(5, 0), 0, review("nothing pending")), 0),
                put_reward(
                    reward(p, "rv4", t(1, 0), 100, Some(HoldReason::HoldPeriod)),
                    0,
                ),
                put_reward(reward(p, "rv5", t(30, 7), 50, review("five")), 0),
                put_reward(reward(p, "rv6", t(2, 0), 100, None), 0),
                put_reward(reward("other", "rv1", t(0, 0), 100, review("elsewhere")), 0),
            ]),
        ),
        (
            "an approved reward leaves the queue",
            plan(vec![put_reward(reward(p, "rv1", t(10, 0), 0, None), 1)]),
        ),
        (
            "a reward put on review joins the queue",
            plan(vec![put_reward(
                reward(p, "rv6", t(2, 0), 100, review("later")),
                1,
            )]),
        ),
    ]
}

/// Every read of the new seam, asked of both stores.
async fn same_reads<S: Store>(memory: &MemoryStore, sql: &S, step: &str) {
    let befores = [
        t(0, 0),
        t(1, 0),
        t(5, 999_999_999),
        t(10, 0),
        t(10, 1),
        t(30, 1),
        t(10_000, 0),
    ];
    let limits = [0, 1, 2, 3, 100];
    for program in [pid("idp"), pid("other"), pid("none")] {
        for c in ["a", "b", "c", "d", "e", "x", "nobody"] {
            assert_eq!(
                sql.identity(&program, &cid(c)).await.unwrap(),
                memory.identity(&program, &cid(c)).await.unwrap(),
                "{step}: identity of {c} in {program}"
            );
        }
        for h in hashes() {
            for limit in limits {
                assert_eq!(
                    sql.identity_matches(&program, &h, limit).await.unwrap(),
                    memory.identity_matches(&program, &h, limit).await.unwrap(),
                    "{step}: matches of {h:?} in {program}, limit {limit}"
                );
            }
        }
        for before in befores {
            for limit in limits {
                assert_eq!(
                    sql.stale_identities(&program, before, limit).await.unwrap(),
                    memory
                        .stale_identities(&program, before, limit)
                        .await
                        .unwrap(),
                    "{step}: stale identities before {before} in {program}, limit {limit}"
                );
            }
        }
        for referrer in ["amira", "badr", "x"] {
            for limit in limits {
                assert_eq!(
                    sql.recent_referees(&program, &cid(referrer), limit)
                        .await
                        .unwrap(),
                    memory
                        .recent_referees(&program, &cid(referrer), limit)
                        .await
                        .unwrap(),
                    "{step}: referees of {referrer} in {program}, limit {limit}"
                );
            }
        }
        for before in befores {
            for limit in [1, 2, 100] {
                assert_eq!(
                    review_pages(sql, &program, before, limit).await,
                    review_pages(memory, &program, before, limit).await,
                    "{step}: review queue before {before}, pages of {limit}"
                );
            }
        }
    }
}

/// The review queue read page by page, each page after the last one's
/// (due time, id).
pub async fn review_pages<S: Store>(
    store: &S,
    program: &ProgramId,
    before: DateTime<Utc>,
    limit: usize,
) -> Vec<Vec<(RewardId, u64)>> {
    let mut pages = Vec::new();
    let mut after: Option<RewardCursor> = None;
    loop {
        let page = store
            .due_rewards(program, Due::Review, before, after.as_ref(), limit)
            .await
            .unwrap();
        let Some(last) = page.last() else {
            return pages;
        };
        after = Some(RewardCursor {
            at: last
                .record
                .review_due()
                .expect("a queued reward is due for review"),
            id: last.record.id.clone(),
        });
        let full = page.len() == limit;
        pages.push(
            page.iter()
                .map(|r| (r.record.id.clone(), r.version))
                .collect(),
        );
        if !full || pages.len() > 20 {
            return pages;
        }
    }
}

/// Every plan to both stores, with the same outcome; the same reads after
/// each; the same state at the end.
async fn same_as_memory<S: Durable>(sql: &S) {
    let memory = MemoryStore::new();
    for (step, plan) in plans() {
        let want = memory.commit(plan.clone()).await.map_err(|e| e.kind());
        let got = sql.commit(plan).await;
        assert_eq!(
            got.as_ref().map(|_| ()).map_err(|e| e.kind()),
            want,
            "{step}: {got:?}"
        );
        same_reads(&memory, sql, step).await;
    }
    assert_eq!(
        sql.whole().await.unwrap(),
        memory.snapshot(),
        "the whole state"
    );
}

/// A record holding one hash twice breaks its own rule; a durable store
/// refuses it whole (its hash index has one row per customer and hash),
/// as a final error rather than a conflict a retry would meet again.
async fn a_repeated_hash_is_refused<S: Durable>(sql: &S) {
    let e1 = hash(IdentityKind::Email, 1, 0xA);
    let record = IdentityRecord {
        program: pid("idp"),
        customer: cid("twice"),
        signals: vec![
            SeenSignal {
                hash: e1,
                first_seen: t(1, 0),
            },
            SeenSignal {
                hash: e1,
                first_seen: t(2, 0),
            },
        ],
        disposable_email: false,
    };
    let before = sql.whole().await.unwrap();
    let err = sql
        .commit(plan(vec![put_identity(record, 0)]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("holds a hash twice"), "{err}");
    assert_eq!(sql.whole().await.unwrap(), before);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_identity_referee_and_review_reads_match_memory() {
    let store = super::lite::fresh_file("identity").await;
    same_as_memory(&store).await;
    a_repeated_hash_is_refused(&store).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_identity_referee_and_review_reads_match_memory() {
    use super::pg;
    let Some(url) = pg::url() else {
        return pg::skipped("postgres_identity_referee_and_review_reads_match_memory");
    };
    for (tag, isolation) in [
        ("idrc", referrals::store::Isolation::ReadCommitted),
        ("idser", referrals::store::Isolation::Serializable),
    ] {
        let store = pg::fresh(&url, tag, isolation, 2).await;
        same_as_memory(&store).await;
        a_repeated_hash_is_refused(&store).await;
        store.pool().close().await;
        pg::drop_schemas(&url, tag).await;
    }
}
