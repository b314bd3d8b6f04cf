//! The review queue, and what a person may ask of their data: erasure,
//! export, and retention of identity hashes.
//!
//! Erasure and retention touch only identity records and the visitor id:
//! ledger entries, rewards, balances, budgets and counters stay as they
//! are, so the program's totals and metrics do not move.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::ledger_ops::BatchReport;
use super::{Decision, Engine, LEDGER_PAGE};
use crate::error::{Error, ErrorKind};
use crate::ledger::{Balance, LedgerEntry, Reward};
use crate::model::{CustomerId, OperatorId, ProgramId, RewardId};
use crate::program::Incentive;
use crate::store::{
    AssignmentRecord, CodeRecord, CommitPlan, ConversionRecord, CustomerRecord, Due,
    IdentityRecord, LedgerCursor, RewardCursor, Store, TouchRecord, Write,
};

/// What [`Engine::erase_customer`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Erasure {
    /// Identity hashes deleted (with their record and index entries).
    pub identity_hashes: usize,
    /// Whether a visitor id (a browser or device cookie) was removed from
    /// the customer record.
    pub visitor_id: bool,
}

/// A customer's identity record as exported: keyed hashes only (the raw
/// values were never stored).
pub type IdentityExport = IdentityRecord;

/// Everything the program stores about one customer
/// ([`Engine::export_customer`]), serialisable as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CustomerExport {
    /// The program.
    pub program: ProgramId,
    /// The customer.
    pub customer: CustomerId,
    /// Their signup: when, who referred them, the screening of the
    /// referral.
    pub signup: Option<CustomerRecord>,
    /// The keyed hashes of their identity.
    pub identity: Option<IdentityExport>,
    /// Their primary referral code.
    pub code: Option<CodeRecord>,
    /// The touches they made as a customer (clicks, shares).
    pub touches: Vec<TouchRecord>,
    /// Their own orders (conversions they bought, referred or not), by
    /// time, each as last recorded (refunds, screening).
    pub orders: Vec<ConversionRecord>,
    /// The variants they were given in the experiments of the program's
    /// rules, in the rules' order of experiments.
    pub assignments: Vec<AssignmentRecord>,
    /// Every ledger entry, oldest first.
    pub ledger: Vec<LedgerEntry>,
    /// Their balances per unit.
    pub balances: Vec<Balance>,
    /// Every reward their ledger names, by id.
    pub rewards: Vec<Reward>,
}

impl<S: Store> Engine<S> {
    /// A page of the review queue: rewards held for review with something
    /// pending, oldest first, each with the screening that held it
    /// ([`HoldReason::Review`](crate::ledger::HoldReason::Review)). Pass
    /// the last one's [`RewardCursor`] (`at` = its `earned_at`) for the
    /// next page. Decide each with [`approve`](Self::approve) or
    /// [`reject`](Self::reject).
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn review_queue(
        &self,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> Result<Vec<Reward>, Error> {
        Ok(self
            .store
            .due_rewards(
                self.program.id(),
                Due::Review,
                DateTime::<Utc>::MAX_UTC,
                after,
                limit,
            )
            .await?
            .into_iter()
            .map(|v| v.record)
            .collect())
    }

    /// Declines every pending reward of a customer found to be
    /// fraudulent, held for review or for the hold period alike, recording
    /// who decided and why on each. Returns the rewards rejected.
    /// What is already available or spent is left to refunds.
    ///
    /// Safe to retry: rewards declined before are not pending any more.
    ///
    /// # Errors
    /// [`ErrorKind::Store`]; [`ErrorKind::Conflict`] if a reward kept
    /// changing under it (retry).
    pub async fn decline_pending(
        &self,
        customer: &CustomerId,
        by: &OperatorId,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Reward>, Error> {
        let mut declined = Vec::new();
        for id in self.reward_ids(customer).await? {
            let read = self.read_reward(&id).await?;
            if read.record.progress.pending == 0 {
                continue;
            }
            match self.reject(&id, by, note, at).await {
                Ok(r) => declined.push(r),
                // Released or refunded between the read and the decision.
                Err(e) if e.kind() == ErrorKind::InvalidInput => {}
                Err(e) => return Err(e),
            }
        }
        Ok(declined)
    }

    /// The ids of the rewards a customer's ledger names, in order.
    async fn reward_ids(&self, customer: &CustomerId) -> Result<Vec<RewardId>, Error> {
        let mut ids = BTreeSet::new();
        let mut after: Option<LedgerCursor> = None;
        loop {
            let page = self
                .ledger_page(customer, after.as_ref(), LEDGER_PAGE)
                .await?;
            let done = page.len() < LEDGER_PAGE;
            after = page.last().map(LedgerCursor::after);
            ids.extend(page.into_iter().map(|e| e.reward));
            if done {
                return Ok(ids.into_iter().collect());
            }
        }
    }

    /// Erases what identifies a customer (GDPR, Saudi PDPL), at once: their
    /// identity record with every keyed hash and its index entries, and
    /// the visitor id on their customer record. Ledger entries, rewards,
    /// balances, budgets and counters are untouched, so every total stays
    /// right; the customer id itself is the host's pseudonymous key.
    ///
    /// Idempotent: erasing again removes nothing more.
    ///
    /// # Errors
    /// [`ErrorKind::Store`]; [`ErrorKind::Conflict`] if the records kept
    /// changing under it (retry).
    pub async fn erase_customer(&self, customer: &CustomerId) -> Result<Erasure, Error> {
        let program = self.program.id();
        for _ in 0..self.max_attempts {
            let identity = self.store.identity(program, customer).await?;
            let record = self.store.customer(program, customer).await?;
            let mut erasure = Erasure::default();
            let mut writes = Vec::new();
            if let Some(v) = identity {
                erasure.identity_hashes = v.record.signals.len();
                writes.push(Write::DeleteIdentity {
                    program: program.clone(),
                    customer: customer.clone(),
                    expected: v.version,
                });
            }
            if let Some(v) = record.filter(|v| v.record.visitor.is_some()) {
                erasure.visitor_id = true;
                let mut r = v.record;
                r.visitor = None;
                writes.push(Write::PutCustomer {
                    record: r,
                    expected: v.version,
                });
            }
            let decision = Decision {
                outcome: erasure,
                plan: CommitPlan {
                    idempotency: None,
                    writes,
                },
            };
            if let Some(e) = self.commit(decision).await? {
                return Ok(e);
            }
        }
        Err(self.exhausted("erase_customer"))
    }

    /// Everything stored about one customer, to hand them as JSON
    /// (`serde_json::to_string(&export)`): their signup, identity hashes,
    /// primary code, touches as a customer, their own orders, experiment
    /// assignments, ledger, balances and rewards.
    ///
    /// Not included: codes other than the primary one, touches made as a
    /// visitor (before signup, under a cookie id), and assignments in
    /// experiments no longer in the program's rules (only the current
    /// rules' experiments are looked up). The orders a customer referred
    /// are someone else's purchases and are not theirs to export; what
    /// they earned from them is in the ledger and rewards.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn export_customer(&self, customer: &CustomerId) -> Result<CustomerExport, Error> {
        let program = self.program.id();
        let mut rewards = Vec::new();
        for id in self.reward_ids(customer).await? {
            if let Some(v) = self.store.reward(program, &id).await? {
                rewards.push(v.record);
            }
        }
        let mut assignments = Vec::new();
        if let Incentive::Rules(rules) = self.program.incentive() {
            for experiment in rules.experiments() {
                if let Some(a) = self
                    .store
                    .assignment(program, &experiment.id, customer)
                    .await?
                {
                    assignments.push(a);
                }
            }
        }
        Ok(CustomerExport {
            program: program.clone(),
            customer: customer.clone(),
            signup: self.customer(customer).await?,
            identity: self
                .store
                .identity(program, customer)
                .await?
                .map(|v| v.record),
            code: self.primary_code(customer).await?,
            touches: self
                .store
                .touches(
                    program,
                    &crate::model::Actor::Customer(customer.clone()),
                    DateTime::<Utc>::MIN_UTC,
                )
                .await?,
            orders: self.store.customer_conversions(program, customer).await?,
            assignments,
            ledger: self.ledger(customer).await?,
            balances: self.balances(customer).await?,
            rewards,
        })
    }

    /// Drops identity hashes first seen longer ago than the program's
    /// retention ([`FraudSettings::retention_days`](crate::fraud::FraudSettings)):
    /// at most `limit` customers' records per call, each in its own commit.
    /// A record left without hashes is deleted. Call it on a schedule
    /// until [`BatchReport::more`] is false. Does nothing for a program
    /// without a retention.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<BatchReport, Error> {
        let mut report = BatchReport::default();
        let Some(days) = self.program.fraud().and_then(|f| f.retention_days) else {
            return Ok(report);
        };
        let cutoff = now
            .checked_sub_signed(TimeDelta::days(i64::from(days)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let program = self.program.id();
        let stale = self.store.stale_identities(program, cutoff, limit).await?;
        let listed = stale.len();
        for v in stale {
            let mut record = v.record;
            record.signals.retain(|s| s.first_seen >= cutoff);
            let write = if record.signals.is_empty() {
                Write::DeleteIdentity {
                    program: program.clone(),
                    customer: record.customer,
                    expected: v.version,
                }
            } else {
                Write::PutIdentity {
                    record,
                    expected: v.version,
                }
            };
            let decision = Decision {
                outcome: (),
                plan: CommitPlan {
                    idempotency: None,
                    writes: vec![write],
                },
            };
            // A conflict means the customer was seen (or erased) since the
            // read: the next call looks again.
            match self.commit(decision).await? {
                Some(()) => report.moved += 1,
                None => report.skipped += 1,
            }
        }
        // A full page, or records skipped on a conflict, may leave work.
        report.more = limit > 0 && (listed == limit || report.skipped > 0);
        Ok(report)
    }
}
