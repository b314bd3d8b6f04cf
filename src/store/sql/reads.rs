//! Every read of the [`Store`](crate::store::Store) contract, in SQL.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    Arg, Col, Core, Driver, Row, customer_col, from_json, int, store_error, text, time_cols,
    time_from_cols, version,
};
use crate::code::Code;
use crate::fraud::identity::SignalHash;
use crate::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use crate::reward::{Label, Unit};
use crate::store::{
    AssignmentRecord, Balance, CodeRecord, ConversionRecord, CounterKey, CounterScope,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, OutboxCursor, OutboxItem, ReferredCustomer, Reward, RewardCursor,
    StoreResult, TouchRecord, Versioned,
};

/// A serde unit-variant name (`"held"` → `held`), or the JSON text of
/// anything else: the text kept in a tag column.
pub(crate) fn tag<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// An actor's kind and id, the columns touches are found by.
pub(crate) fn actor_cols(actor: &Actor) -> (&'static str, &str) {
    match actor {
        Actor::Visitor(v) => ("visitor", v.as_str()),
        Actor::Customer(c) => ("customer", c.as_str()),
    }
}

/// A counter key's three columns.
pub(crate) fn counter_cols(key: &CounterKey) -> [Arg; 3] {
    let (kind, scope) = match &key.scope {
        CounterScope::Program(p) => ("program", p.as_str()),
        CounterScope::Shared(l) => ("shared", l.as_str()),
    };
    [
        Arg::from(kind),
        Arg::from(scope),
        Arg::from(key.name.as_str()),
    ]
}

/// A read's error: never a conflict (the contract), even when a host's
/// database runs reads serializable and one fails to serialize: that read
/// may simply be tried again.
pub(crate) fn read_error<D: Driver>(what: &str, err: sqlx::Error) -> crate::store::StoreError {
    let e = store_error::<D>(&format!("reading {what}"), err);
    if e.kind() == crate::store::StoreErrorKind::Conflict {
        let message = e.message().to_owned();
        crate::store::StoreError::new(crate::store::StoreErrorKind::Unavailable, message)
    } else {
        e
    }
}

/// A hash's three columns in the identity index: its kind, its key id and
/// its digest as 64 lower-case hex digits.
pub(crate) fn hash_cols(hash: &SignalHash) -> [Arg; 3] {
    [
        Arg::from(hash.kind.as_str()),
        Arg::from(i64::from(hash.key.get())),
        Arg::from(hash.digest_hex()),
    ]
}

/// A page size as a `LIMIT` argument.
fn limit_arg(limit: usize) -> Arg {
    Arg::from(i64::try_from(limit).unwrap_or(i64::MAX))
}

fn versioned<T: serde::de::DeserializeOwned>(row: &Row, what: &str) -> StoreResult<Versioned<T>> {
    Ok(Versioned {
        version: version(row, 0, what)?,
        record: from_json(what, text(row, 1, what)?)?,
    })
}

const VERSION_RECORD: &[Col] = &[Col::Int, Col::Text];
const RECORD: &[Col] = &[Col::Text];

impl<D: Driver> Core<D> {
    /// Runs one query on a pooled connection.
    pub(super) async fn query(
        &self,
        what: &str,
        sql: &str,
        args: Vec<Arg>,
        cols: &'static [Col],
    ) -> StoreResult<Vec<Row>> {
        let mut conn = self
            .driver
            .read()
            .await
            .map_err(|e| read_error::<D>(what, e))?;
        super::Session::rows(&mut *conn, sql, args, cols)
            .await
            .map_err(|e| read_error::<D>(what, e))
    }

    async fn one_versioned<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        sql: &str,
        args: Vec<Arg>,
    ) -> StoreResult<Option<Versioned<T>>> {
        let rows = self.query(what, sql, args, VERSION_RECORD).await?;
        rows.first().map(|r| versioned(r, what)).transpose()
    }

    pub(crate) async fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let rows = self
            .query(
                "an idempotency record",
                "SELECT record FROM referrals_idempotency
                 WHERE program = $1 AND kind = $2 AND event_id = $3",
                vec![
                    program.as_str().into(),
                    tag(&key.kind).into(),
                    key.id.as_str().into(),
                ],
                RECORD,
            )
            .await?;
        rows.first()
            .map(|r| from_json("an idempotency record", text(r, 0, "idempotency")?))
            .transpose()
    }

    pub(crate) async fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.one_versioned(
            "a code",
            "SELECT version, record FROM referrals_codes WHERE program = $1 AND code = $2",
            vec![program.as_str().into(), code.as_str().into()],
        )
        .await
    }

    pub(crate) async fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.one_versioned(
            "a primary code",
            "SELECT version, record FROM referrals_codes
             WHERE program = $1 AND owner = $2 AND is_primary = 1",
            vec![program.as_str().into(), owner.as_str().into()],
        )
        .await
    }

    pub(crate) async fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<CustomerRecord>>> {
        self.one_versioned(
            "a customer",
            "SELECT version, record FROM referrals_customers WHERE program = $1 AND customer = $2",
            vec![program.as_str().into(), customer.as_str().into()],
        )
        .await
    }

    pub(crate) async fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<TouchRecord>> {
        let (kind, id) = actor_cols(actor);
        let (s, ns) = time_cols(since);
        let rows = self
            .query(
                "touches",
                "SELECT record FROM referrals_touches
                 WHERE program = $1 AND actor_kind = $2 AND actor = $3 AND (at_s, at_ns) >= ($4, $5)
                 ORDER BY at_s, at_ns, touch_id",
                vec![
                    program.as_str().into(),
                    kind.into(),
                    id.into(),
                    s.into(),
                    ns.into(),
                ],
                RECORD,
            )
            .await?;
        rows.iter()
            .map(|r| from_json("a touch", text(r, 0, "touch")?))
            .collect()
    }

    pub(crate) async fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> StoreResult<Option<Versioned<ConversionRecord>>> {
        self.one_versioned(
            "a conversion",
            "SELECT version, record FROM referrals_conversions WHERE program = $1 AND order_id = $2",
            vec![program.as_str().into(), order.as_str().into()],
        )
        .await
    }

    pub(crate) async fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let rows = match after {
            None => {
                self.query(
                    "ledger entries",
                    "SELECT record FROM referrals_ledger WHERE program = $1 AND customer = $2
                     ORDER BY at_s, at_ns, entry_id LIMIT $3",
                    vec![
                        program.as_str().into(),
                        customer.as_str().into(),
                        limit_arg(limit),
                    ],
                    RECORD,
                )
                .await?
            }
            Some(c) => {
                let (s, ns) = time_cols(c.at);
                self.query(
                    "ledger entries",
                    "SELECT record FROM referrals_ledger WHERE program = $1 AND customer = $2
                       AND (at_s, at_ns, entry_id) > ($3, $4, $5)
                     ORDER BY at_s, at_ns, entry_id LIMIT $6",
                    vec![
                        program.as_str().into(),
                        customer.as_str().into(),
                        s.into(),
                        ns.into(),
                        c.id.as_str().into(),
                        limit_arg(limit),
                    ],
                    RECORD,
                )
                .await?
            }
        };
        rows.iter()
            .map(|r| from_json("a ledger entry", text(r, 0, "ledger entry")?))
            .collect()
    }

    pub(crate) async fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<Balance>> {
        let rows = self
            .query(
                "balances",
                "SELECT unit, pending, available, redeemed, owed FROM referrals_balances
                 WHERE program = $1 AND customer = $2",
                vec![program.as_str().into(), customer.as_str().into()],
                &[Col::Text, Col::Int, Col::Int, Col::Int, Col::Int],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(Balance {
                    unit: from_json::<Unit>("a balance's unit", text(r, 0, "balance")?)?,
                    pending: int(r, 1, "balance")?,
                    available: int(r, 2, "balance")?,
                    redeemed: int(r, 3, "balance")?,
                    owed: int(r, 4, "balance")?,
                })
            })
            .collect::<StoreResult<Vec<Balance>>>()?;
        // The unit column holds JSON, whose order is not the units' order.
        out.sort_by(|a, b| a.unit.cmp(&b.unit));
        Ok(out)
    }

    pub(crate) async fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> StoreResult<Option<Versioned<Reward>>> {
        self.one_versioned(
            "a reward",
            "SELECT version, record FROM referrals_rewards WHERE program = $1 AND reward_id = $2",
            vec![program.as_str().into(), reward.as_str().into()],
        )
        .await
    }

    pub(crate) async fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.conversions(
            "referred conversions",
            "SELECT record FROM referrals_conversions
             WHERE program = $1 AND referrer = $2 ORDER BY at_s, at_ns, order_id",
            program,
            referrer,
        )
        .await
    }

    pub(crate) async fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.conversions(
            "a customer's conversions",
            "SELECT record FROM referrals_conversions
             WHERE program = $1 AND customer = $2 ORDER BY at_s, at_ns, order_id",
            program,
            customer,
        )
        .await
    }

    /// The conversions `sql` lists under a customer (`$1` the program, `$2`
    /// the customer), in its order.
    async fn conversions(
        &self,
        what: &str,
        sql: &str,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        let args = vec![program.as_str().into(), customer.as_str().into()];
        let rows = self.query(what, sql, args, RECORD).await?;
        rows.iter()
            .map(|r| from_json("a conversion", text(r, 0, "conversion")?))
            .collect()
    }

    pub(crate) async fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> StoreResult<Option<AssignmentRecord>> {
        let rows = self
            .query(
                "an assignment",
                "SELECT record FROM referrals_assignments
                 WHERE program = $1 AND experiment = $2 AND customer = $3",
                vec![
                    program.as_str().into(),
                    experiment.as_str().into(),
                    customer.as_str().into(),
                ],
                RECORD,
            )
            .await?;
        rows.first()
            .map(|r| from_json("an assignment", text(r, 0, "assignment")?))
            .transpose()
    }

    pub(crate) async fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> StoreResult<Option<Versioned<OutboxItem>>> {
        self.one_versioned(
            "an outbox item",
            "SELECT version, record FROM referrals_outbox WHERE program = $1 AND item_id = $2",
            vec![program.as_str().into(), id.as_str().into()],
        )
        .await
    }

    pub(crate) async fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<OutboxItem>>> {
        let (s, ns) = time_cols(now);
        let rows = match after {
            None => {
                self.query(
                    "due outbox items",
                    "SELECT version, record FROM referrals_outbox
                     WHERE program = $1 AND claimable_s IS NOT NULL
                       AND (claimable_s, claimable_ns) <= ($2, $3)
                     ORDER BY claimable_s, claimable_ns, item_id LIMIT $4",
                    vec![
                        program.as_str().into(),
                        s.into(),
                        ns.into(),
                        limit_arg(limit),
                    ],
                    VERSION_RECORD,
                )
                .await?
            }
            Some(c) => {
                let (cs, cns) = time_cols(c.at);
                self.query(
                    "due outbox items",
                    "SELECT version, record FROM referrals_outbox
                     WHERE program = $1 AND claimable_s IS NOT NULL
                       AND (claimable_s, claimable_ns) <= ($2, $3)
                       AND (claimable_s, claimable_ns, item_id) > ($4, $5, $6)
                     ORDER BY claimable_s, claimable_ns, item_id LIMIT $7",
                    vec![
                        program.as_str().into(),
                        s.into(),
                        ns.into(),
                        cs.into(),
                        cns.into(),
                        c.id.as_str().into(),
                        limit_arg(limit),
                    ],
                    VERSION_RECORD,
                )
                .await?
            }
        };
        rows.iter()
            .map(|r| versioned(r, "an outbox item"))
            .collect()
    }

    pub(crate) async fn counter(&self, key: &CounterKey) -> StoreResult<i64> {
        let rows = self
            .query(
                "a counter",
                "SELECT used FROM referrals_counters WHERE scope_kind = $1 AND scope = $2 AND name = $3",
                counter_cols(key).into(),
                &[Col::Int],
            )
            .await?;
        rows.first().map_or(Ok(0), |r| int(r, 0, "counter"))
    }

    pub(crate) async fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<IdentityRecord>>> {
        self.one_versioned(
            "an identity",
            "SELECT version, record FROM referrals_identities WHERE program = $1 AND customer = $2",
            vec![program.as_str().into(), customer.as_str().into()],
        )
        .await
    }

    pub(crate) async fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> StoreResult<Vec<IdentityMatch>> {
        let mut args = vec![program.as_str().into()];
        args.extend(hash_cols(hash));
        args.push(limit_arg(limit));
        let rows = self
            .query(
                "identity matches",
                "SELECT customer, first_seen_s, first_seen_ns FROM referrals_identity_hashes
                 WHERE program = $1 AND kind = $2 AND key_id = $3 AND digest = $4
                 ORDER BY first_seen_s DESC, first_seen_ns DESC, customer LIMIT $5",
                args,
                &[Col::Text, Col::Int, Col::Int],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let (customer, first_seen) = customer_and_time(r, "an identity match")?;
                Ok(IdentityMatch {
                    customer,
                    first_seen,
                })
            })
            .collect()
    }

    pub(crate) async fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<IdentityRecord>>> {
        let (s, ns) = time_cols(before);
        let rows = self
            .query(
                "stale identities",
                "SELECT version, record FROM referrals_identities
                 WHERE program = $1 AND oldest_s IS NOT NULL AND (oldest_s, oldest_ns) < ($2, $3)
                 ORDER BY oldest_s, oldest_ns, customer LIMIT $4",
                vec![
                    program.as_str().into(),
                    s.into(),
                    ns.into(),
                    limit_arg(limit),
                ],
                VERSION_RECORD,
            )
            .await?;
        rows.iter().map(|r| versioned(r, "an identity")).collect()
    }

    pub(crate) async fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> StoreResult<Vec<ReferredCustomer>> {
        // Index only: velocity needs who and when, not the records.
        let rows = self
            .query(
                "referees",
                "SELECT customer, signed_up_s, signed_up_ns FROM referrals_customers
                 WHERE program = $1 AND referrer = $2
                 ORDER BY signed_up_s DESC, signed_up_ns DESC, customer LIMIT $3",
                vec![
                    program.as_str().into(),
                    referrer.as_str().into(),
                    limit_arg(limit),
                ],
                &[Col::Text, Col::Int, Col::Int],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let (customer, signed_up_at) = customer_and_time(r, "a referee")?;
                Ok(ReferredCustomer {
                    customer,
                    signed_up_at,
                })
            })
            .collect()
    }

    pub(crate) async fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<Reward>>> {
        let (s, ns) = time_cols(before);
        let mut args: Vec<Arg> = vec![program.as_str().into(), s.into(), ns.into()];
        let sql = match (due, after) {
            (Due::Release, None) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND hold_due_s IS NOT NULL
                   AND (hold_due_s, hold_due_ns) <= ($2, $3)
                 ORDER BY hold_due_s, hold_due_ns, reward_id LIMIT $4"
            }
            (Due::Expiry, None) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND expiry_due_s IS NOT NULL
                   AND (expiry_due_s, expiry_due_ns) <= ($2, $3)
                 ORDER BY expiry_due_s, expiry_due_ns, reward_id LIMIT $4"
            }
            (Due::Review, None) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND review_due_s IS NOT NULL
                   AND (review_due_s, review_due_ns) <= ($2, $3)
                 ORDER BY review_due_s, review_due_ns, reward_id LIMIT $4"
            }
            (Due::Release, Some(_)) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND hold_due_s IS NOT NULL
                   AND (hold_due_s, hold_due_ns) <= ($2, $3)
                   AND (hold_due_s, hold_due_ns, reward_id) > ($5, $6, $7)
                 ORDER BY hold_due_s, hold_due_ns, reward_id LIMIT $4"
            }
            (Due::Expiry, Some(_)) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND expiry_due_s IS NOT NULL
                   AND (expiry_due_s, expiry_due_ns) <= ($2, $3)
                   AND (expiry_due_s, expiry_due_ns, reward_id) > ($5, $6, $7)
                 ORDER BY expiry_due_s, expiry_due_ns, reward_id LIMIT $4"
            }
            (Due::Review, Some(_)) => {
                "SELECT version, record FROM referrals_rewards
                 WHERE program = $1 AND review_due_s IS NOT NULL
                   AND (review_due_s, review_due_ns) <= ($2, $3)
                   AND (review_due_s, review_due_ns, reward_id) > ($5, $6, $7)
                 ORDER BY review_due_s, review_due_ns, reward_id LIMIT $4"
            }
        };
        args.push(limit_arg(limit));
        if let Some(c) = after {
            let (cs, cns) = time_cols(c.at);
            args.extend([cs.into(), cns.into(), c.id.as_str().into()]);
        }
        let rows = self.query("due rewards", sql, args, VERSION_RECORD).await?;
        rows.iter().map(|r| versioned(r, "a reward")).collect()
    }
}

/// A row of a customer id and a time (seconds, nanoseconds): who holds a
/// hash since when, who signed up when.
fn customer_and_time(row: &Row, what: &str) -> StoreResult<(CustomerId, DateTime<Utc>)> {
    Ok((
        customer_col(row, 0, what)?,
        time_from_cols(int(row, 1, what)?, int(row, 2, what)?, what)?,
    ))
}
