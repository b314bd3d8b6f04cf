//! The fulfilment outbox: rewards that must leave the system (cash, a
//! coupon to e-mail, a donation, a gift card, points for a loyalty
//! system) are queued in the commit that makes them available; the host's
//! workers claim them with a lease, deliver them through their providers
//! with the item's id as the delivery key, and report success or failure.
//! A failure is retried with backoff, then dead-lettered; a worker that
//! dies loses its lease and the item is claimed again.

use chrono::{DateTime, TimeDelta, Utc};

use super::{Decision, Engine, book};
use crate::error::{Error, ErrorKind};
use crate::ledger::{DeliveryState, EntryKind, OutboxItem};
use crate::model::{CustomerId, DeliveryId, RedemptionId, RewardId};
use crate::reward::RewardKind;
use crate::store::{CommitPlan, Store, Versioned, Write};

/// An outbox item claimed by a worker: what to deliver, to whom, and the
/// key to pass to the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Delivery {
    /// The item, and the delivery key: a provider that deduplicates on it
    /// makes a redelivery harmless.
    pub id: DeliveryId,
    /// The reward delivered.
    pub reward: RewardId,
    /// Who receives it.
    pub customer: CustomerId,
    /// What to deliver.
    pub kind: RewardKind,
    /// How much, in its unit.
    pub quantity: i64,
    /// The claim number (1 for the first).
    pub attempt: u32,
    /// When the item became due.
    pub due_at: DateTime<Utc>,
    /// When this claim's lease ends: report before then.
    pub lease_until: DateTime<Utc>,
}

impl<S: Store> Engine<S> {
    async fn read_item(&self, id: &DeliveryId) -> Result<Versioned<OutboxItem>, Error> {
        self.store
            .outbox_item(self.program.id(), id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "outbox item {id} does not exist in program {}",
                        self.program.id()
                    ),
                )
            })
    }

    async fn put_item(
        &self,
        item: OutboxItem,
        read: &Versioned<OutboxItem>,
        mut writes: Vec<Write>,
    ) -> Result<bool, Error> {
        writes.push(Write::PutOutboxItem {
            record: Box::new(item),
            expected: read.version,
        });
        let decision = Decision {
            outcome: (),
            plan: CommitPlan {
                idempotency: None,
                writes,
            },
        };
        Ok(self.commit(decision).await?.is_some())
    }

    /// Claims up to `limit` items due at `now` for `worker`, each leased
    /// for `lease`: ready items whose next attempt has come, and leased
    /// items whose worker let the lease run out. An item whose claims are
    /// used up is dead-lettered instead; one whose reward has nothing
    /// available any more (a refund or an expiry while an earlier lease
    /// ran, or its validity ended) is cancelled, and one whose reward has
    /// less available than it carries is claimed for what is left. Items
    /// another worker claims first are skipped.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a lease that is not positive;
    /// [`ErrorKind::Store`].
    pub async fn claim_deliveries(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<Delivery>, Error> {
        if lease <= TimeDelta::zero() {
            return Err(Error::invalid(
                "lease",
                format!("must be positive, is {lease}"),
            ));
        }
        let until = now
            .checked_add_signed(lease)
            .ok_or_else(|| Error::invalid("lease", "ends beyond the calendar"))?;
        let max = self.program.ledger_policy().delivery.max_attempts;
        let due = self
            .store
            .outbox_due(self.program.id(), now, None, limit)
            .await?;
        let mut out = Vec::new();
        for read in due {
            let mut item = read.record.clone();
            if item.claimable_at().is_none_or(|at| at > now) {
                continue;
            }
            if item.attempts >= max {
                item.state = DeliveryState::Dead {
                    error: item
                        .last_error
                        .clone()
                        .unwrap_or_else(|| format!("lease of attempt {} ran out", item.attempts)),
                };
                self.put_item(item, &read, Vec::new()).await?;
                continue;
            }
            // A lease that ran out (its worker died) may have been
            // overtaken by a refund or an expiry, which leave a leased
            // item to its worker, and a reward past its validity has
            // nothing left to spend whether or not `expire_due` ran:
            // deliver only what is still available, and nothing
            // (cancelled) when nothing is. A cancelled lease keeps what it
            // carried: its worker may still report having delivered it.
            let (available, guard) = self.deliverable(&item.reward, now).await?;
            if available <= 0 {
                if item.state == DeliveryState::Ready {
                    item.quantity = 0;
                }
                item.state = DeliveryState::Cancelled;
                self.put_item(item, &read, guard).await?;
                continue;
            }
            item.quantity = item.quantity.min(available);
            item.attempts += 1;
            item.state = DeliveryState::Leased {
                worker: worker.to_owned(),
                until,
            };
            let delivery = Delivery {
                id: item.id.clone(),
                reward: item.reward.clone(),
                customer: item.customer.clone(),
                kind: item.kind.clone(),
                quantity: item.quantity,
                attempt: item.attempts,
                due_at: item.due_at,
                lease_until: until,
            };
            if self.put_item(item, &read, guard).await? {
                out.push(delivery);
            }
        }
        Ok(out)
    }

    /// What of a reward is left to deliver at `at`: what is available,
    /// nothing once its validity ended (even before `expire_due` ran);
    /// with the write that holds the reward at the version read, so that
    /// a refund committed in between (which leaves a leased item alone)
    /// makes the item's commit conflict and be decided again.
    async fn deliverable(
        &self,
        reward: &RewardId,
        at: DateTime<Utc>,
    ) -> Result<(i64, Vec<Write>), Error> {
        let Some(read) = self.store.reward(self.program.id(), reward).await? else {
            return Ok((0, Vec::new()));
        };
        let r = &read.record;
        let available = if r.expires_at.is_none_or(|e| at < e) {
            r.progress.available
        } else {
            0
        };
        Ok((available, vec![book::put(r.clone(), &read)]))
    }

    /// Records that an item was delivered, with the provider's reference.
    /// Where delivery spends the reward (cash, a donation, a gift card,
    /// points) the delivered quantity is booked as redeemed from it, so a
    /// refund after this is a debt the customer sees; a coupon's delivery
    /// only sent its code (see [`redeem_coupon`](Self::redeem_coupon)). If a refund took
    /// some of the reward back while the item was leased, what was
    /// delivered beyond what was still available is noted on the item
    /// (`last_error`) for a person to settle, never dropped.
    ///
    /// Idempotent: reporting a delivered item again returns it unchanged.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::InvalidInput`] for an item
    /// cancelled before it was claimed (one cancelled after its lease ran
    /// out takes the late report, noted as above).
    pub async fn mark_delivered(
        &self,
        id: &DeliveryId,
        reference: &str,
        at: DateTime<Utc>,
    ) -> Result<OutboxItem, Error> {
        for _ in 0..self.max_attempts {
            let read = self.read_item(id).await?;
            match &read.record.state {
                DeliveryState::Delivered { .. } => return Ok(read.record),
                // Cancelled while a worker's lease ran: its late report is
                // recorded (noted below), never dropped.
                DeliveryState::Cancelled
                    if read.record.attempts > 0 && read.record.quantity > 0 => {}
                DeliveryState::Cancelled => {
                    return Err(Error::invalid(
                        "delivery",
                        format!(
                            "outbox item {id} was cancelled (its reward was reversed before delivery)"
                        ),
                    ));
                }
                _ => {}
            }
            let reward_read = self.read_reward(&read.record.reward).await?;
            let mut reward = reward_read.record.clone();
            let mut item = read.record.clone();
            let mut writes = Vec::new();
            let spends = item.kind.delivery_spends();
            let q = if spends {
                item.quantity.min(reward.progress.available)
            } else {
                item.quantity
            };
            if spends && q > 0 {
                let redemption = RedemptionId::new(id.as_str())
                    .unwrap_or_else(|_| unreachable!("delivery ids are valid ids"));
                let entry = book::redeem(&mut reward, q, &redemption, at)?;
                debug_assert_eq!(entry.kind, EntryKind::Redeemed);
                writes.push(Write::InsertLedgerEntry(entry));
                writes.push(book::put(reward, &reward_read));
            }
            if q < item.quantity {
                item.last_error = Some(format!(
                    "delivered {} but only {q} was still available: a refund reversed the rest during delivery",
                    item.quantity
                ));
            }
            item.state = DeliveryState::Delivered {
                reference: reference.to_owned(),
                at,
            };
            if self.put_item(item.clone(), &read, writes).await? {
                return Ok(item);
            }
        }
        Err(self.exhausted("mark_delivered"))
    }

    /// Records that a delivery attempt failed: the item is claimable again
    /// after the program's backoff (doubling per attempt) for what its
    /// reward still has available (cancelled if nothing: a refund or an
    /// expiry during the lease, or its validity ended), or dead-lettered
    /// once its attempts are used up.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::InvalidInput`] for an item
    /// that is not leased (delivered, dead, cancelled or never claimed).
    pub async fn mark_failed(
        &self,
        id: &DeliveryId,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<OutboxItem, Error> {
        let policy = &self.program.ledger_policy().delivery;
        for _ in 0..self.max_attempts {
            let read = self.read_item(id).await?;
            if !matches!(read.record.state, DeliveryState::Leased { .. }) {
                return Err(Error::invalid(
                    "delivery",
                    format!("outbox item {id} is not leased: {:?}", read.record.state),
                ));
            }
            let mut item = read.record.clone();
            item.last_error = Some(error.to_owned());
            let mut guard = Vec::new();
            if item.attempts >= policy.max_attempts {
                item.state = DeliveryState::Dead {
                    error: error.to_owned(),
                };
            } else {
                // A refund or an expiry during the lease: retry only what
                // is still available, or nothing (cancelled).
                let available;
                (available, guard) = self.deliverable(&item.reward, at).await?;
                item.quantity = item.quantity.min(available.max(0));
                item.state = if item.quantity > 0 {
                    DeliveryState::Ready
                } else {
                    DeliveryState::Cancelled
                };
                item.next_attempt_at = at
                    .checked_add_signed(policy.retry_after(item.attempts))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
            }
            if self.put_item(item.clone(), &read, guard).await? {
                return Ok(item);
            }
        }
        Err(self.exhausted("mark_failed"))
    }

    /// An outbox item, by id (its reward's: see
    /// [`book::delivery_id`]).
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn outbox_item(&self, id: &DeliveryId) -> Result<Option<OutboxItem>, Error> {
        Ok(self
            .store
            .outbox_item(self.program.id(), id)
            .await?
            .map(|v| v.record))
    }
}
