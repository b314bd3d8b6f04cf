//! [`Store::commit`](crate::store::Store::commit) in SQL: every condition
//! a single statement the database checks inside one transaction.

use std::collections::BTreeMap;

use super::reads::{actor_cols, counter_cols, tag};
use super::{
    Arg, Col, Core, Dialect, Driver, Session, int, opt_time_args, store_error, time_cols, to_json,
    version_arg,
};
use crate::store::{Balance, CommitPlan, StoreError, StoreErrorKind, StoreResult, Write};

/// How many times a plan is run when transactions keep meeting
/// (serialization failures, deadlocks) before the store answers with a
/// conflict: enough for dozens of writers on one hot row.
const TRANSIENT_ATTEMPTS: u32 = 40;

/// Why a plan was not applied: a failed condition (rolled back, answered
/// as a conflict) or a database error.
enum Refused {
    Conflict(StoreError),
    Database(&'static str, sqlx::Error),
    Final(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        Refused::Final(e)
    }
}

fn conflict(message: String) -> Refused {
    Refused::Conflict(StoreError::conflict(message))
}

/// Runs a statement that must change exactly one row; a conflict naming
/// `what` otherwise.
async fn one_row<S: Session>(
    tx: &mut S,
    doing: &'static str,
    sql: &str,
    args: Vec<Arg>,
    what: impl FnOnce() -> String,
) -> Result<(), Refused> {
    match tx.run(sql, args).await {
        Ok(1) => Ok(()),
        Ok(_) => Err(conflict(what())),
        Err(e) => Err(Refused::Database(doing, e)),
    }
}

/// A versioned write: insert when `expected` is 0 (the key must be new),
/// otherwise update the row at exactly that version.
async fn put_versioned<S: Session>(
    tx: &mut S,
    doing: &'static str,
    (insert, update): (&str, &str),
    mut args: Vec<Arg>,
    expected: u64,
    what: impl FnOnce() -> String,
) -> Result<(), Refused> {
    if expected == 0 {
        one_row(tx, doing, insert, args, || {
            format!("{} already exists; the plan expected it absent", what())
        })
        .await
    } else {
        args.push(version_arg(expected, doing)?);
        one_row(tx, doing, update, args, || {
            format!("{} is not at version {expected} (or is absent)", what())
        })
        .await
    }
}

const PUT_CODE: (&str, &str) = (
    "INSERT INTO referrals_codes (program, code, owner, is_primary, record, version)
     VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (program, code) DO NOTHING",
    "UPDATE referrals_codes SET owner = $3, is_primary = $4, record = $5, version = version + 1
     WHERE program = $1 AND code = $2 AND version = $6",
);
const PUT_CUSTOMER: (&str, &str) = (
    "INSERT INTO referrals_customers (program, customer, record, version)
     VALUES ($1, $2, $3, 1) ON CONFLICT (program, customer) DO NOTHING",
    "UPDATE referrals_customers SET record = $3, version = version + 1
     WHERE program = $1 AND customer = $2 AND version = $4",
);
const PUT_CONVERSION: (&str, &str) = (
    "INSERT INTO referrals_conversions (program, order_id, referrer, at_s, at_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT (program, order_id) DO NOTHING",
    "UPDATE referrals_conversions
     SET referrer = $3, at_s = $4, at_ns = $5, record = $6, version = version + 1
     WHERE program = $1 AND order_id = $2 AND version = $7",
);
const PUT_REWARD: (&str, &str) = (
    "INSERT INTO referrals_rewards (program, reward_id, customer, hold_due_s, hold_due_ns,
       expiry_due_s, expiry_due_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1) ON CONFLICT (program, reward_id) DO NOTHING",
    "UPDATE referrals_rewards SET customer = $3, hold_due_s = $4, hold_due_ns = $5,
       expiry_due_s = $6, expiry_due_ns = $7, record = $8, version = version + 1
     WHERE program = $1 AND reward_id = $2 AND version = $9",
);
const PUT_OUTBOX: (&str, &str) = (
    "INSERT INTO referrals_outbox (program, item_id, claimable_s, claimable_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (program, item_id) DO NOTHING",
    "UPDATE referrals_outbox SET claimable_s = $3, claimable_ns = $4, record = $5,
       version = version + 1
     WHERE program = $1 AND item_id = $2 AND version = $6",
);
const INSERT_IDEMPOTENCY: &str =
    "INSERT INTO referrals_idempotency (program, kind, event_id, record)
     VALUES ($1, $2, $3, $4) ON CONFLICT (program, kind, event_id) DO NOTHING";
const INSERT_TOUCH: &str = "INSERT INTO referrals_touches
       (program, touch_id, actor_kind, actor, referrer, at_s, at_ns, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (program, touch_id) DO NOTHING";
const INSERT_LEDGER: &str = "INSERT INTO referrals_ledger
       (program, entry_id, customer, reward_id, kind, unit, quantity, at_s, at_ns, record)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (program, entry_id) DO NOTHING";
const INSERT_ASSIGNMENT: &str = "INSERT INTO referrals_assignments
       (program, experiment, customer, variant, record)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (program, experiment, customer) DO NOTHING";
const CREATE_COUNTER: &str = "INSERT INTO referrals_counters (scope_kind, scope, name, used)
     VALUES ($1, $2, $3, 0) ON CONFLICT (scope_kind, scope, name) DO NOTHING";
// Two forms so that no comparison can overflow: counters stay in
// 0..=limit, so `used + $4` is only computed for rows where it fits.
const ADD_TO_COUNTER_UP: &str = "UPDATE referrals_counters SET used = used + $4
     WHERE scope_kind = $1 AND scope = $2 AND name = $3
       AND used <= 9223372036854775807 - $4 AND ($5 IS NULL OR used <= $5 - $4)";
const ADD_TO_COUNTER_DOWN: &str = "UPDATE referrals_counters SET used = used + $4
     WHERE scope_kind = $1 AND scope = $2 AND name = $3
       AND used >= -$4 AND ($5 IS NULL OR used + $4 <= $5)";
const CREATE_BALANCE: &str = "INSERT INTO referrals_balances
       (program, customer, unit, pending, available, redeemed, owed)
     VALUES ($1, $2, $3, 0, 0, 0, 0) ON CONFLICT (program, customer, unit) DO NOTHING";
const UPDATE_BALANCE: &str = "UPDATE referrals_balances
     SET pending = $4, available = $5, redeemed = $6, owed = $7
     WHERE program = $1 AND customer = $2 AND unit = $3";

/// Applies every write of `plan` in `tx`; the caller commits on `Ok`.
async fn apply<S: Session>(tx: &mut S, dialect: Dialect, plan: &CommitPlan) -> Result<(), Refused> {
    if let Some(idem) = &plan.idempotency {
        one_row(
            tx,
            "storing an idempotency record",
            INSERT_IDEMPOTENCY,
            vec![
                idem.program.as_str().into(),
                tag(&idem.key.kind).into(),
                idem.key.id.as_str().into(),
                to_json("an idempotency record", idem)?.into(),
            ],
            || {
                format!(
                    "idempotency key {:?} {:?} is already stored in program {}",
                    idem.key.kind, idem.key.id, idem.program
                )
            },
        )
        .await?;
    }
    // Balances change once per (program, customer, unit), after every
    // other write, in key order: fewer statements, and two plans lock the
    // rows they share in the same order (no deadlock between them).
    let mut balances: BTreeMap<(&str, &str, String), Vec<crate::ledger::Deltas>> = BTreeMap::new();
    for write in &plan.writes {
        match write {
            Write::PutCode { record, expected } => {
                let args = vec![
                    record.program.as_str().into(),
                    record.code.as_str().into(),
                    record.owner.as_str().into(),
                    i64::from(record.origin.is_primary()).into(),
                    to_json("a code", record)?.into(),
                ];
                put_versioned(tx, "writing a code", PUT_CODE, args, *expected, || {
                    format!("code {} in program {}", record.code, record.program)
                })
                .await?;
            }
            Write::PutCustomer { record, expected } => {
                let args = vec![
                    record.program.as_str().into(),
                    record.customer.as_str().into(),
                    to_json("a customer", record)?.into(),
                ];
                put_versioned(
                    tx,
                    "writing a customer",
                    PUT_CUSTOMER,
                    args,
                    *expected,
                    || format!("customer {} in program {}", record.customer, record.program),
                )
                .await?;
            }
            Write::PutConversion { record, expected } => {
                let (s, ns) = time_cols(record.conversion.at);
                let args = vec![
                    record.program.as_str().into(),
                    record.conversion.order.as_str().into(),
                    record
                        .referrer
                        .as_ref()
                        .map(|r| r.as_str().to_owned())
                        .into(),
                    s.into(),
                    ns.into(),
                    to_json("a conversion", record)?.into(),
                ];
                put_versioned(
                    tx,
                    "writing a conversion",
                    PUT_CONVERSION,
                    args,
                    *expected,
                    || {
                        format!(
                            "order {} in program {}",
                            record.conversion.order, record.program
                        )
                    },
                )
                .await?;
            }
            Write::InsertTouch(t) => {
                let (kind, actor) = actor_cols(&t.touch.actor);
                let (s, ns) = time_cols(t.touch.at);
                let args = vec![
                    t.program.as_str().into(),
                    t.touch.id.as_str().into(),
                    kind.into(),
                    actor.into(),
                    t.referrer.as_str().into(),
                    s.into(),
                    ns.into(),
                    to_json("a touch", t)?.into(),
                ];
                one_row(tx, "storing a touch", INSERT_TOUCH, args, || {
                    format!(
                        "touch {} is already stored in program {}",
                        t.touch.id, t.program
                    )
                })
                .await?;
            }
            Write::InsertLedgerEntry(e) => {
                let (s, ns) = time_cols(e.at);
                let unit = to_json("a unit", &e.unit)?;
                let args = vec![
                    e.program.as_str().into(),
                    e.id.as_str().into(),
                    e.customer.as_str().into(),
                    e.reward.as_str().into(),
                    tag(&e.kind).into(),
                    unit.clone().into(),
                    e.quantity.into(),
                    s.into(),
                    ns.into(),
                    to_json("a ledger entry", e)?.into(),
                ];
                one_row(tx, "storing a ledger entry", INSERT_LEDGER, args, || {
                    format!(
                        "ledger entry {} is already stored in program {}",
                        e.id, e.program
                    )
                })
                .await?;
                balances
                    .entry((e.program.as_str(), e.customer.as_str(), unit))
                    .or_default()
                    .push(e.deltas());
            }
            Write::PutReward { record, expected } => {
                let [hs, hns] = opt_time_args(record.hold_due());
                let [es, ens] = opt_time_args(record.expiry_due());
                let args = vec![
                    record.program.as_str().into(),
                    record.id.as_str().into(),
                    record.customer.as_str().into(),
                    hs,
                    hns,
                    es,
                    ens,
                    to_json("a reward", record)?.into(),
                ];
                put_versioned(tx, "writing a reward", PUT_REWARD, args, *expected, || {
                    format!("reward {} in program {}", record.id, record.program)
                })
                .await?;
            }
            Write::PutOutboxItem { record, expected } => {
                let [cs, cns] = opt_time_args(record.claimable_at());
                let args = vec![
                    record.program.as_str().into(),
                    record.id.as_str().into(),
                    cs,
                    cns,
                    to_json("an outbox item", record)?.into(),
                ];
                put_versioned(
                    tx,
                    "writing an outbox item",
                    PUT_OUTBOX,
                    args,
                    *expected,
                    || format!("outbox item {} in program {}", record.id, record.program),
                )
                .await?;
            }
            Write::InsertAssignment(a) => {
                let args = vec![
                    a.program.as_str().into(),
                    a.experiment.as_str().into(),
                    a.customer.as_str().into(),
                    a.variant.as_str().into(),
                    to_json("an assignment", a)?.into(),
                ];
                one_row(tx, "storing an assignment", INSERT_ASSIGNMENT, args, || {
                    format!(
                        "customer {} already has a variant of experiment {} in program {}",
                        a.customer, a.experiment, a.program
                    )
                })
                .await?;
            }
            Write::AddToCounter { key, delta, limit } => {
                let refused = || {
                    conflict(format!(
                        "counter {:?} {:?}: adding {delta} leaves 0..={}",
                        key.scope,
                        key.name,
                        limit.map_or("∞".to_owned(), |l| l.to_string())
                    ))
                };
                // Nothing fits below zero, and -i64::MIN does not exist.
                if limit.is_some_and(|l| l < 0) || *delta == i64::MIN {
                    return Err(refused());
                }
                let cols = counter_cols(key);
                tx.run(CREATE_COUNTER, cols.to_vec())
                    .await
                    .map_err(|e| Refused::Database("creating a counter", e))?;
                let mut args = cols.to_vec();
                args.push((*delta).into());
                args.push(Arg::Int(*limit));
                let sql = if *delta >= 0 {
                    ADD_TO_COUNTER_UP
                } else {
                    ADD_TO_COUNTER_DOWN
                };
                match tx.run(sql, args).await {
                    Ok(1) => {}
                    Ok(_) => return Err(refused()),
                    Err(e) => return Err(Refused::Database("adding to a counter", e)),
                }
            }
        }
    }
    let select_balance = format!(
        "SELECT pending, available, redeemed, owed FROM referrals_balances
         WHERE program = $1 AND customer = $2 AND unit = $3{}",
        dialect.for_update()
    );
    for ((program, customer, unit), deltas) in balances {
        let key: Vec<Arg> = vec![program.into(), customer.into(), unit.as_str().into()];
        tx.run(CREATE_BALANCE, key.clone())
            .await
            .map_err(|e| Refused::Database("creating a balance", e))?;
        let rows = tx
            .rows(
                &select_balance,
                key.clone(),
                &[Col::Int, Col::Int, Col::Int, Col::Int],
            )
            .await
            .map_err(|e| Refused::Database("reading a balance", e))?;
        let row = rows.first().ok_or_else(|| {
            Refused::Final(StoreError::new(
                StoreErrorKind::Backend,
                "a balance created in this transaction is missing",
            ))
        })?;
        let unit = super::from_json("a balance's unit", &unit)?;
        let mut b = Balance {
            unit,
            pending: int(row, 0, "balance")?,
            available: int(row, 1, "balance")?,
            redeemed: int(row, 2, "balance")?,
            owed: int(row, 3, "balance")?,
        };
        // The same saturating sums, entry by entry, as every store.
        for d in deltas {
            b.add(d);
        }
        let mut args = key;
        args.extend([b.pending, b.available, b.redeemed, b.owed].map(Arg::from));
        tx.run(UPDATE_BALANCE, args)
            .await
            .map_err(|e| Refused::Database("writing a balance", e))?;
    }
    Ok(())
}

impl<D: Driver> Core<D> {
    pub(crate) async fn commit(&self, plan: CommitPlan) -> StoreResult<()> {
        if plan.writes_a_key_twice() {
            // An engine bug, not a race: final, as in every store.
            return Err(StoreError::new(
                StoreErrorKind::Backend,
                "the plan writes the same key twice",
            ));
        }
        // A serialization failure or deadlock says nothing about the plan's
        // conditions, only that two transactions met: run the same plan
        // again (its conditions are checked afresh), a few times, with a
        // growing random pause, before answering with a conflict.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let (doing, err) = match self.try_commit(&plan).await {
                Ok(()) => return Ok(()),
                Err(Refused::Conflict(e) | Refused::Final(e)) => return Err(e),
                Err(Refused::Database(doing, e)) => (doing, e),
            };
            if !D::is_transient(&err) || attempt >= TRANSIENT_ATTEMPTS {
                return Err(store_error::<D>(doing, err));
            }
            let ceiling = 1u64 << attempt.min(6);
            let pause = rand::random_range(0..=ceiling * 250);
            tokio::time::sleep(std::time::Duration::from_micros(pause)).await;
        }
    }

    /// One transaction applying `plan`.
    async fn try_commit(&self, plan: &CommitPlan) -> Result<(), Refused> {
        let mut tx = self
            .driver
            .begin()
            .await
            .map_err(|e| Refused::Database("beginning a commit", e))?;
        apply(&mut *tx, D::DIALECT, plan).await?;
        // On any error above, dropping `tx` uncommitted rolls it back.
        D::commit(tx)
            .await
            .map_err(|e| Refused::Database("committing", e))
    }
}
