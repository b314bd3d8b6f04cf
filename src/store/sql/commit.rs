//! [`Store::commit`](crate::store::Store::commit) in SQL: every condition
//! a single statement the database checks inside one transaction.

use std::collections::BTreeMap;

use super::reads::{actor_cols, counter_cols, hash_cols, tag};
use super::{
    Arg, Core, Driver, Session, conversion_cols, customer_cols, opt_time_args, review_cols,
    store_error, time_cols, to_json, version_arg,
};
use crate::ledger::Deltas;
use crate::store::{CommitPlan, StoreError, StoreErrorKind, StoreResult, Write};

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

const PUT_CODE: (&str, &str) = (
    "INSERT INTO referrals_codes (program, code, owner, is_primary, record, version)
     VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (program, code) DO NOTHING",
    "UPDATE referrals_codes SET owner = $3, is_primary = $4, record = $5, version = version + 1
     WHERE program = $1 AND code = $2 AND version = $6",
);
const PUT_CUSTOMER: (&str, &str) = (
    "INSERT INTO referrals_customers
       (program, customer, referrer, signed_up_s, signed_up_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, $6, 1) ON CONFLICT (program, customer) DO NOTHING",
    "UPDATE referrals_customers SET referrer = $3, signed_up_s = $4, signed_up_ns = $5,
       record = $6, version = version + 1
     WHERE program = $1 AND customer = $2 AND version = $7",
);
const PUT_CONVERSION: (&str, &str) = (
    "INSERT INTO referrals_conversions
       (program, order_id, referrer, customer, at_s, at_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 1) ON CONFLICT (program, order_id) DO NOTHING",
    "UPDATE referrals_conversions
     SET referrer = $3, customer = $4, at_s = $5, at_ns = $6, record = $7, version = version + 1
     WHERE program = $1 AND order_id = $2 AND version = $8",
);
const PUT_REWARD: (&str, &str) = (
    "INSERT INTO referrals_rewards (program, reward_id, customer, hold_due_s, hold_due_ns,
       expiry_due_s, expiry_due_ns, review_due_s, review_due_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)
     ON CONFLICT (program, reward_id) DO NOTHING",
    "UPDATE referrals_rewards SET customer = $3, hold_due_s = $4, hold_due_ns = $5,
       expiry_due_s = $6, expiry_due_ns = $7, review_due_s = $8, review_due_ns = $9,
       record = $10, version = version + 1
     WHERE program = $1 AND reward_id = $2 AND version = $11",
);
const PUT_IDENTITY: (&str, &str) = (
    "INSERT INTO referrals_identities (program, customer, oldest_s, oldest_ns, record, version)
     VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (program, customer) DO NOTHING",
    "UPDATE referrals_identities SET oldest_s = $3, oldest_ns = $4, record = $5,
       version = version + 1
     WHERE program = $1 AND customer = $2 AND version = $6",
);
const DELETE_IDENTITY: &str = "DELETE FROM referrals_identities
     WHERE program = $1 AND customer = $2 AND version = $3";
// Changes as many rows as the record held hashes before: the one
// statement of a plan whose count is not checked (see `Changes`).
const CLEAR_IDENTITY_HASHES: &str =
    "DELETE FROM referrals_identity_hashes WHERE program = $1 AND customer = $2";
const INSERT_IDENTITY_HASH: &str = "INSERT INTO referrals_identity_hashes
       (program, customer, kind, key_id, digest, first_seen_s, first_seen_ns)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (program, customer, kind, key_id, digest) DO NOTHING";
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
// Counters: one statement each. An add that fits a new counter (0 <= d <=
// limit) inserts it or adds to it; one that could not fit a new counter
// (giving back) only updates an existing one. Conditions are written so
// that no sum is computed unless it fits in 64 bits: counters stay in
// 0..=limit, and `used + $d` is only computed for rows where it fits.
const ADD_TO_COUNTER_UP: &str = "INSERT INTO referrals_counters (scope_kind, scope, name, used)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (scope_kind, scope, name) DO UPDATE
     SET used = referrals_counters.used + excluded.used
     WHERE referrals_counters.used <= 9223372036854775807 - excluded.used
       AND ($5 IS NULL OR referrals_counters.used <= $5 - excluded.used)";
const ADD_TO_COUNTER_DOWN: &str = "UPDATE referrals_counters SET used = used + $4
     WHERE scope_kind = $1 AND scope = $2 AND name = $3
       AND used >= -$4 AND ($5 IS NULL OR used + $4 <= $5)";

/// `column = column + excluded.column`, saturating at the `i64` bounds as
/// [`Balance::add`](crate::ledger::Balance::add) does. Nested `CASE`s, because SQL promises the order of
/// `WHEN`s but not of `AND`'s operands: no difference is computed that
/// could overflow.
fn saturating_add(column: &str) -> String {
    let (b, d) = (
        format!("referrals_balances.{column}"),
        format!("excluded.{column}"),
    );
    format!(
        "{column} = CASE \
           WHEN {d} > 0 THEN (CASE WHEN {b} > 9223372036854775807 - {d} \
             THEN 9223372036854775807 ELSE {b} + {d} END) \
           WHEN {d} < 0 THEN (CASE WHEN {b} < (-9223372036854775807 - 1) - {d} \
             THEN (-9223372036854775807 - 1) ELSE {b} + {d} END) \
           ELSE {b} END"
    )
}

/// Adds one entry's deltas to its balance, creating it at the deltas.
fn add_to_balance_sql() -> String {
    format!(
        "INSERT INTO referrals_balances (program, customer, unit, pending, available, redeemed, owed)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (program, customer, unit) DO UPDATE SET {}, {}, {}, {}",
        saturating_add("pending"),
        saturating_add("available"),
        saturating_add("redeemed"),
        saturating_add("owed"),
    )
}

static ADD_TO_BALANCE: std::sync::LazyLock<String> = std::sync::LazyLock::new(add_to_balance_sql);

/// Which part of the plan a statement writes, to say which condition
/// failed.
#[derive(Debug, Clone, Copy)]
enum Origin {
    Idempotency,
    Write(usize),
    Balance,
}

/// How many rows a statement must change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Changes {
    /// Exactly one: an insert that must be new, an update or delete at the
    /// expected version, a counter within its limit, a balance upsert, an
    /// identity hash. Anything else is a failed condition.
    One,
    /// Any number, unchecked: clearing an identity's hash rows before its
    /// new ones go in (the rows its earlier version held). Its own
    /// condition is the versioned identity write in the same plan.
    Any,
}

/// One statement of a plan.
struct Statement {
    sql: &'static str,
    args: Vec<Arg>,
    origin: Origin,
    changes: Changes,
}

/// The statements that apply `plan`, in order; a conflict when a counter
/// write cannot fit whatever the database holds.
fn statements(plan: &CommitPlan) -> Result<Vec<Statement>, Refused> {
    let mut out = Vec::with_capacity(plan.writes.len() + 3);
    if let Some(idem) = &plan.idempotency {
        out.push(Statement {
            sql: INSERT_IDEMPOTENCY,
            args: vec![
                idem.program.as_str().into(),
                tag(&idem.key.kind).into(),
                idem.key.id.as_str().into(),
                to_json("an idempotency record", idem)?.into(),
            ],
            origin: Origin::Idempotency,
            changes: Changes::One,
        });
    }
    // Identity hash rows a plan replaces are cleared first, ahead of every
    // checked statement: the batch then runs as two texts (the unchecked
    // clears, then all the checked rest), not three per identity. Running
    // them before the versioned write they depend on is safe: a failed
    // condition rolls the whole transaction back.
    let mut clears = Vec::new();
    let mut hashes = Vec::new();
    // Balances change after every other write, in key order: two plans
    // lock the rows they share in the same order (no deadlock between
    // them).
    let mut balances: BTreeMap<(&str, &str, String), Vec<Deltas>> = BTreeMap::new();
    for (i, write) in plan.writes.iter().enumerate() {
        let (sql, args) = match write {
            Write::PutCode { record, expected } => versioned(
                PUT_CODE,
                *expected,
                vec![
                    record.program.as_str().into(),
                    record.code.as_str().into(),
                    record.owner.as_str().into(),
                    i64::from(record.origin.is_primary()).into(),
                    to_json("a code", record)?.into(),
                ],
            )?,
            Write::PutCustomer { record, expected } => {
                let mut args = vec![
                    record.program.as_str().into(),
                    record.customer.as_str().into(),
                ];
                args.extend(customer_cols(record));
                args.push(to_json("a customer", record)?.into());
                versioned(PUT_CUSTOMER, *expected, args)?
            }
            Write::PutConversion { record, expected } => {
                let mut args = vec![
                    record.program.as_str().into(),
                    record.conversion.order.as_str().into(),
                ];
                args.extend(conversion_cols(record));
                args.push(to_json("a conversion", record)?.into());
                versioned(PUT_CONVERSION, *expected, args)?
            }
            Write::InsertTouch(t) => {
                let (kind, actor) = actor_cols(&t.touch.actor);
                let (s, ns) = time_cols(t.touch.at);
                (
                    INSERT_TOUCH,
                    vec![
                        t.program.as_str().into(),
                        t.touch.id.as_str().into(),
                        kind.into(),
                        actor.into(),
                        t.referrer.as_str().into(),
                        s.into(),
                        ns.into(),
                        to_json("a touch", t)?.into(),
                    ],
                )
            }
            Write::InsertLedgerEntry(e) => {
                let (s, ns) = time_cols(e.at);
                let unit = to_json("a unit", &e.unit)?;
                balances
                    .entry((e.program.as_str(), e.customer.as_str(), unit.clone()))
                    .or_default()
                    .push(e.deltas());
                (
                    INSERT_LEDGER,
                    vec![
                        e.program.as_str().into(),
                        e.id.as_str().into(),
                        e.customer.as_str().into(),
                        e.reward.as_str().into(),
                        tag(&e.kind).into(),
                        unit.into(),
                        e.quantity.into(),
                        s.into(),
                        ns.into(),
                        to_json("a ledger entry", e)?.into(),
                    ],
                )
            }
            Write::PutReward { record, expected } => {
                let [hs, hns] = opt_time_args(record.hold_due());
                let [es, ens] = opt_time_args(record.expiry_due());
                let [rs, rns] = review_cols(record);
                versioned(
                    PUT_REWARD,
                    *expected,
                    vec![
                        record.program.as_str().into(),
                        record.id.as_str().into(),
                        record.customer.as_str().into(),
                        hs,
                        hns,
                        es,
                        ens,
                        rs,
                        rns,
                        to_json("a reward", record)?.into(),
                    ],
                )?
            }
            Write::PutIdentity { record, expected } => {
                let key = || -> Vec<Arg> {
                    vec![
                        record.program.as_str().into(),
                        record.customer.as_str().into(),
                    ]
                };
                // The primary key of the hash rows would refuse the second
                // of a repeated hash as a conflict, which retrying never
                // clears: the record breaks its own rule (each hash at most
                // once), an engine bug, so final.
                let distinct: std::collections::BTreeSet<_> =
                    record.signals.iter().map(|s| &s.hash).collect();
                if distinct.len() != record.signals.len() {
                    return Err(Refused::Final(StoreError::new(
                        StoreErrorKind::Backend,
                        format!(
                            "the identity record of {} in program {} holds a hash twice",
                            record.customer, record.program
                        ),
                    )));
                }
                clears.push(Statement {
                    sql: CLEAR_IDENTITY_HASHES,
                    args: key(),
                    origin: Origin::Write(i),
                    changes: Changes::Any,
                });
                for signal in &record.signals {
                    let (s, ns) = time_cols(signal.first_seen);
                    let mut args = key();
                    args.extend(hash_cols(&signal.hash));
                    args.extend([s.into(), ns.into()]);
                    hashes.push(Statement {
                        sql: INSERT_IDENTITY_HASH,
                        args,
                        origin: Origin::Write(i),
                        changes: Changes::One,
                    });
                }
                let mut args = key();
                args.extend(opt_time_args(record.oldest_seen()));
                args.push(to_json("an identity", record)?.into());
                versioned(PUT_IDENTITY, *expected, args)?
            }
            Write::DeleteIdentity {
                program,
                customer,
                expected,
            } => {
                let key =
                    || -> Vec<Arg> { vec![program.as_str().into(), customer.as_str().into()] };
                clears.push(Statement {
                    sql: CLEAR_IDENTITY_HASHES,
                    args: key(),
                    origin: Origin::Write(i),
                    changes: Changes::Any,
                });
                let mut args = key();
                // Versions start at 1: expecting 0 matches no row, a
                // conflict whether the record exists or not.
                args.push(version_arg(*expected, "a versioned delete")?);
                (DELETE_IDENTITY, args)
            }
            Write::PutOutboxItem { record, expected } => {
                let [cs, cns] = opt_time_args(record.claimable_at());
                versioned(
                    PUT_OUTBOX,
                    *expected,
                    vec![
                        record.program.as_str().into(),
                        record.id.as_str().into(),
                        cs,
                        cns,
                        to_json("an outbox item", record)?.into(),
                    ],
                )?
            }
            Write::InsertAssignment(a) => (
                INSERT_ASSIGNMENT,
                vec![
                    a.program.as_str().into(),
                    a.experiment.as_str().into(),
                    a.customer.as_str().into(),
                    a.variant.as_str().into(),
                    to_json("an assignment", a)?.into(),
                ],
            ),
            Write::AddToCounter { key, delta, limit } => {
                let mut args = counter_cols(key).to_vec();
                args.push((*delta).into());
                args.push(Arg::Int(*limit));
                let fits_new = *delta >= 0 && limit.is_none_or(|l| *delta <= l);
                if fits_new {
                    (ADD_TO_COUNTER_UP, args)
                } else if *delta < 0 && *delta != i64::MIN && limit.is_none_or(|l| l >= 0) {
                    (ADD_TO_COUNTER_DOWN, args)
                } else {
                    // Past the limit even from 0, below any reachable
                    // value, or a limit nothing fits under.
                    return Err(conflict(message(plan, Origin::Write(i))));
                }
            }
        };
        out.push(Statement {
            sql,
            args,
            origin: Origin::Write(i),
            changes: Changes::One,
        });
    }
    // Hash rows after the identity writes: a new record's rows go in once
    // its versioned write has held.
    out.append(&mut hashes);
    for ((program, customer, unit), deltas) in balances {
        for d in deltas {
            out.push(Statement {
                sql: &ADD_TO_BALANCE,
                args: vec![
                    program.into(),
                    customer.into(),
                    unit.as_str().into(),
                    d.pending.into(),
                    d.available.into(),
                    d.redeemed.into(),
                    d.owed.into(),
                ],
                origin: Origin::Balance,
                changes: Changes::One,
            });
        }
    }
    clears.append(&mut out);
    Ok(clears)
}

/// The insert (when `expected` is 0: the key must be new) or the update at
/// exactly version `expected`, with its arguments.
fn versioned(
    (insert, update): (&'static str, &'static str),
    expected: u64,
    mut args: Vec<Arg>,
) -> Result<(&'static str, Vec<Arg>), Refused> {
    if expected == 0 {
        Ok((insert, args))
    } else {
        args.push(version_arg(expected, "a versioned write")?);
        Ok((update, args))
    }
}

/// Why the statement from `origin` changed no row.
fn message(plan: &CommitPlan, origin: Origin) -> String {
    let put = |what: String, expected: u64| {
        if expected == 0 {
            format!("{what} already exists; the plan expected it absent")
        } else {
            format!("{what} is not at version {expected} (or is absent)")
        }
    };
    match origin {
        Origin::Idempotency => match &plan.idempotency {
            Some(idem) => format!(
                "idempotency key {:?} {:?} is already stored in program {}",
                idem.key.kind, idem.key.id, idem.program
            ),
            None => "an idempotency record was not stored".to_owned(),
        },
        Origin::Balance => "a balance was not written".to_owned(),
        Origin::Write(i) => match plan.writes.get(i) {
            Some(Write::PutCode { record, expected }) => put(
                format!("code {} in program {}", record.code, record.program),
                *expected,
            ),
            Some(Write::PutCustomer { record, expected }) => put(
                format!("customer {} in program {}", record.customer, record.program),
                *expected,
            ),
            Some(Write::PutConversion { record, expected }) => put(
                format!(
                    "order {} in program {}",
                    record.conversion.order, record.program
                ),
                *expected,
            ),
            Some(Write::PutReward { record, expected }) => put(
                format!("reward {} in program {}", record.id, record.program),
                *expected,
            ),
            Some(Write::PutOutboxItem { record, expected }) => put(
                format!("outbox item {} in program {}", record.id, record.program),
                *expected,
            ),
            Some(Write::InsertTouch(t)) => {
                format!(
                    "touch {} is already stored in program {}",
                    t.touch.id, t.program
                )
            }
            Some(Write::InsertLedgerEntry(e)) => {
                format!(
                    "ledger entry {} is already stored in program {}",
                    e.id, e.program
                )
            }
            Some(Write::InsertAssignment(a)) => format!(
                "customer {} already has a variant of experiment {} in program {}",
                a.customer, a.experiment, a.program
            ),
            Some(Write::PutIdentity { record, expected }) => put(
                format!(
                    "identity of {} in program {}",
                    record.customer, record.program
                ),
                *expected,
            ),
            Some(Write::DeleteIdentity {
                program,
                customer,
                expected,
            }) => format!(
                "identity of {customer} in program {program} is not at version {expected} \
                 (or is absent); a delete needs the record at the version read"
            ),
            Some(Write::AddToCounter { key, delta, limit }) => format!(
                "counter {:?} {:?}: adding {delta} leaves 0..={}",
                key.scope,
                key.name,
                limit.map_or("∞".to_owned(), |l| l.to_string())
            ),
            None => "a write was not applied".to_owned(),
        },
    }
}

/// Runs the statements one by one; the first checked one that does not
/// change exactly one row is the conflict, named.
async fn apply_each<S: Session>(
    tx: &mut S,
    plan: &CommitPlan,
    statements: Vec<Statement>,
) -> Result<(), Refused> {
    for st in statements {
        match (tx.run(st.sql, st.args).await, st.changes) {
            (Ok(_), Changes::Any) | (Ok(1), Changes::One) => {}
            (Ok(_), Changes::One) => return Err(conflict(message(plan, st.origin))),
            (Err(e), _) => return Err(Refused::Database("applying a commit", e)),
        }
    }
    Ok(())
}

/// Plans with more parameters than this run statement by statement: a
/// bound on the one text a batch builds (SQLite's own limit of 32,766
/// parameters applies per statement, not per text).
const MOST_BATCHED_ARGS: usize = 30_000;

/// Runs the statements in as few calls as their checks allow (SQLite runs
/// a text of several statements, with `$N` numbered across them, and
/// reports the rows they changed together): one round trip to the
/// connection's thread per run of statements alike, instead of one per
/// statement. A run of [`Changes::One`] statements must change as many
/// rows as it has statements; a run of [`Changes::Any`] is not counted.
/// `Ok(false)` when some checked statement changed no row; the caller
/// rolls back and finds which.
async fn apply_batch<S: Session>(tx: &mut S, statements: Vec<Statement>) -> Result<bool, Refused> {
    let mut statements = statements.into_iter().peekable();
    while let Some(first) = statements.next() {
        let changes = first.changes;
        let mut count = 1u64;
        let mut sql = String::new();
        let mut args = Vec::new();
        let mut st = Some(first);
        while let Some(s) = st {
            renumber(s.sql, args.len(), &mut sql);
            sql.push_str(";\n");
            args.extend(s.args);
            st = statements.next_if(|next| next.changes == changes);
            count += u64::from(st.is_some());
        }
        match tx.run(&sql, args).await {
            Ok(changed) if changes == Changes::One && changed != count => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(Refused::Database("applying a commit", e)),
        }
    }
    Ok(true)
}

/// Appends `sql` with every parameter `$N` written `$(N + offset)`.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = 0usize;
        let mut digits = false;
        while let Some(&(_, d)) = chars.peek() {
            match d.to_digit(10) {
                Some(v) => {
                    n = n * 10 + v as usize;
                    digits = true;
                    chars.next();
                }
                None => break,
            }
        }
        if digits {
            out.push_str(&(n + offset).to_string());
        }
    }
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
        let statements = statements(plan)?;
        let args: usize = statements.iter().map(|s| s.args.len()).sum();
        let mut tx = self.begin().await?;
        let applied = if D::BATCHES && args <= MOST_BATCHED_ARGS {
            match apply_batch(&mut *tx, statements).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    // Some condition failed: roll back, and run the plan
                    // statement by statement to name it (or, if another
                    // writer changed things meanwhile, to apply it after
                    // all).
                    let _ = D::rollback(tx).await;
                    tx = self.begin().await?;
                    apply_each(&mut *tx, plan, self::statements(plan)?).await
                }
                Err(e) => Err(e),
            }
        } else {
            apply_each(&mut *tx, plan, statements).await
        };
        match applied {
            Ok(()) => D::commit(tx)
                .await
                .map_err(|e| Refused::Database("committing", e)),
            Err(refused) => {
                // Its error, if any, changes nothing: the transaction is
                // gone either way.
                let _ = D::rollback(tx).await;
                Err(refused)
            }
        }
    }

    async fn begin(&self) -> Result<D::Write, Refused> {
        self.driver
            .begin()
            .await
            .map_err(|e| Refused::Database("beginning a commit", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumber_shifts_every_parameter_and_nothing_else() {
        let mut out = String::new();
        renumber(
            "UPDATE t SET a = $1, b = $12 WHERE c = $2 AND d = 5",
            10,
            &mut out,
        );
        assert_eq!(out, "UPDATE t SET a = $11, b = $22 WHERE c = $12 AND d = 5");
    }

    #[test]
    fn statement_texts_have_nothing_renumber_could_misread() {
        // `renumber` does not know quotes or comments: keep them out.
        let texts = [
            PUT_CODE.0,
            PUT_CODE.1,
            PUT_CUSTOMER.0,
            PUT_CUSTOMER.1,
            PUT_CONVERSION.0,
            PUT_CONVERSION.1,
            PUT_REWARD.0,
            PUT_REWARD.1,
            PUT_OUTBOX.0,
            PUT_OUTBOX.1,
            PUT_IDENTITY.0,
            PUT_IDENTITY.1,
            DELETE_IDENTITY,
            CLEAR_IDENTITY_HASHES,
            INSERT_IDENTITY_HASH,
            INSERT_IDEMPOTENCY,
            INSERT_TOUCH,
            INSERT_LEDGER,
            INSERT_ASSIGNMENT,
            ADD_TO_COUNTER_UP,
            ADD_TO_COUNTER_DOWN,
            &ADD_TO_BALANCE,
        ];
        for text in texts {
            for bad in ["'", "\"", "--", "/*", "?", ";"] {
                assert!(!text.contains(bad), "{bad} in {text}");
            }
        }
    }
}
