//! A whole database read back as a [`MemoryState`]: what the simulation's
//! auditor and a host's audit or migration read.

use super::reads::read_error;
use super::{Col, Core, Driver, Row, Session, customer_col, from_json, int, text, version};
use crate::model::ProgramId;
use crate::store::{
    Balance, CommitPlan, CounterKey, CounterScope, IdempotencyRecord, MemoryState, StoreResult,
    Write,
};

impl<D: Driver> Core<D> {
    /// Every table, as the in-memory store would hold the same records:
    /// same versions, and the balances and counters this database kept
    /// (not recomputed), so an audit compares what the database kept.
    pub(crate) async fn snapshot(&self) -> StoreResult<MemoryState> {
        let mut state = MemoryState::new();
        // One read-only transaction: every table from the same moment,
        // whatever commits run meanwhile.
        let mut view = self
            .driver
            .begin_view()
            .await
            .map_err(|e| read_error::<D>("the whole store", e))?;
        for row in all::<D>(
            &mut view,
            "SELECT record FROM referrals_idempotency",
            &[Col::Text],
        )
        .await?
        {
            let record: IdempotencyRecord =
                from_json("an idempotency record", text(&row, 0, "idempotency")?)?;
            state.load(CommitPlan {
                idempotency: Some(record),
                writes: Vec::new(),
            });
        }
        let mut writes = Vec::new();
        let vr: &'static [Col] = &[Col::Int, Col::Text];
        let prior = |row: &Row, what: &str| -> StoreResult<u64> {
            Ok(version(row, 0, what)?.saturating_sub(1))
        };
        for row in all::<D>(&mut view, "SELECT version, record FROM referrals_codes", vr).await? {
            writes.push(Write::PutCode {
                expected: prior(&row, "code")?,
                record: from_json("a code", text(&row, 1, "code")?)?,
            });
        }
        for row in all::<D>(
            &mut view,
            "SELECT version, record FROM referrals_customers",
            vr,
        )
        .await?
        {
            writes.push(Write::PutCustomer {
                expected: prior(&row, "customer")?,
                record: from_json("a customer", text(&row, 1, "customer")?)?,
            });
        }
        for row in all::<D>(
            &mut view,
            "SELECT version, record FROM referrals_conversions",
            vr,
        )
        .await?
        {
            writes.push(Write::PutConversion {
                expected: prior(&row, "conversion")?,
                record: from_json("a conversion", text(&row, 1, "conversion")?)?,
            });
        }
        for row in all::<D>(
            &mut view,
            "SELECT version, record FROM referrals_rewards",
            vr,
        )
        .await?
        {
            writes.push(Write::PutReward {
                expected: prior(&row, "reward")?,
                record: Box::new(from_json("a reward", text(&row, 1, "reward")?)?),
            });
        }
        for row in all::<D>(
            &mut view,
            "SELECT version, record FROM referrals_outbox",
            vr,
        )
        .await?
        {
            writes.push(Write::PutOutboxItem {
                expected: prior(&row, "outbox item")?,
                record: Box::new(from_json("an outbox item", text(&row, 1, "outbox item")?)?),
            });
        }
        // The hash index follows from the records, as in the memory store.
        for row in all::<D>(
            &mut view,
            "SELECT version, record FROM referrals_identities",
            vr,
        )
        .await?
        {
            writes.push(Write::PutIdentity {
                expected: prior(&row, "identity")?,
                record: from_json("an identity", text(&row, 1, "identity")?)?,
            });
        }
        for row in all::<D>(
            &mut view,
            "SELECT record FROM referrals_touches",
            &[Col::Text],
        )
        .await?
        {
            writes.push(Write::InsertTouch(from_json(
                "a touch",
                text(&row, 0, "touch")?,
            )?));
        }
        for row in all::<D>(
            &mut view,
            "SELECT record FROM referrals_ledger",
            &[Col::Text],
        )
        .await?
        {
            writes.push(Write::InsertLedgerEntry(from_json(
                "a ledger entry",
                text(&row, 0, "ledger entry")?,
            )?));
        }
        for row in all::<D>(
            &mut view,
            "SELECT record FROM referrals_assignments",
            &[Col::Text],
        )
        .await?
        {
            writes.push(Write::InsertAssignment(from_json(
                "an assignment",
                text(&row, 0, "assignment")?,
            )?));
        }
        for row in all::<D>(
            &mut view,
            "SELECT scope_kind, scope, name, used FROM referrals_counters",
            &[Col::Text, Col::Text, Col::Text, Col::Int],
        )
        .await?
        {
            let scope = text(&row, 1, "counter")?;
            let scope = if text(&row, 0, "counter")? == "shared" {
                CounterScope::Shared(crate::reward::Label::new(scope).map_err(|e| {
                    crate::store::StoreError::new(
                        crate::store::StoreErrorKind::Backend,
                        format!("a shared counter's name in the database: {e}"),
                    )
                })?)
            } else {
                CounterScope::Program(program_id(scope)?)
            };
            writes.push(Write::AddToCounter {
                key: CounterKey {
                    scope,
                    name: text(&row, 2, "counter")?.to_owned(),
                },
                delta: int(&row, 3, "counter")?,
                limit: None,
            });
        }
        state.load(CommitPlan {
            idempotency: None,
            writes,
        });
        // The balances the database kept, over the ones folded from the
        // entries above: an audit must see what the store maintained.
        for row in all::<D>(&mut view,
            "SELECT program, customer, unit, pending, available, redeemed, owed FROM referrals_balances",
            &[Col::Text, Col::Text, Col::Text, Col::Int, Col::Int, Col::Int, Col::Int],
        )
        .await?
        {
            let balance = Balance {
                unit: from_json("a balance's unit", text(&row, 2, "balance")?)?,
                pending: int(&row, 3, "balance")?,
                available: int(&row, 4, "balance")?,
                redeemed: int(&row, 5, "balance")?,
                owed: int(&row, 6, "balance")?,
            };
            let customer = customer_col(&row, 1, "balance")?;
            state.set_balance(&program_id(text(&row, 0, "balance")?)?, &customer, balance);
        }
        Ok(state)
    }
}

/// Every row of one query, inside the snapshot's view.
async fn all<D: Driver>(
    view: &mut D::View,
    sql: &'static str,
    cols: &'static [Col],
) -> StoreResult<Vec<Row>> {
    Session::rows(&mut **view, sql, Vec::new(), cols)
        .await
        .map_err(|e| read_error::<D>("the whole store", e))
}

fn program_id(s: &str) -> StoreResult<ProgramId> {
    ProgramId::new(s).map_err(|e| {
        crate::store::StoreError::new(
            crate::store::StoreErrorKind::Backend,
            format!("a program id in the database: {e}"),
        )
    })
}
