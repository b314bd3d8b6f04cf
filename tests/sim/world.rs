//! What the generator knows, and the generators that draw each operation
//! from it.

use super::*;

/// What the generator knows: what it created and what the engine answered.
#[derive(Debug)]
pub struct World {
    /// The history's configuration.
    pub config: Config,
    /// Its program.
    pub program: Program,
    pub(super) now: DateTime<Utc>,
    pub(super) next: u64,
    /// Customers who may ask for a code.
    pub(super) owners: Vec<CustomerId>,
    pub(super) codes: Vec<Code>,
    pub(super) visitors: Vec<VisitorId>,
    /// Customers whose signup was recorded.
    pub(super) customers: Vec<CustomerId>,
    /// Recorded orders.
    pub(super) orders: Vec<Conversion>,
    pub(super) rewards: Vec<RewardId>,
    /// Events whose outcome the store remembers, with their first answer.
    pub(super) remembered: Vec<(Op, Answer)>,
    /// Leases live workers hold.
    pub(super) leases: Vec<Delivery>,
    /// Coupon codes used on orders, with the first answer.
    pub(super) coupon_uses: Vec<(referrals::Code, OrderId, Answer)>,
    /// Rewards needing delivery seen with something available after a
    /// step: each must have its outbox item.
    pub(super) had_available: HashSet<RewardId>,
    /// The state after the last step.
    pub(super) state: MemoryState,
}

/// Makes one operation from what the world knows; `None` if it cannot yet
/// (no code to touch, no order to refund).
pub type Generator = fn(&mut World, &mut Rng) -> Option<Op>;

/// Every operation the simulation drives, with its weight.
pub const GENERATORS: &[(&str, u64, Generator)] = &[
    ("issue_code", 5, gen_issue_code),
    ("touch", 8, gen_touch),
    ("signup", 14, gen_signup),
    ("conversion", 16, gen_conversion),
    ("refund", 10, gen_refund),
    ("redeem", 10, gen_redeem),
    ("approve", 4, gen_approve),
    ("reject", 3, gen_reject),
    ("release_due", 5, gen_release_due),
    ("expire_due", 4, gen_expire_due),
    ("replay", 7, gen_replay),
    ("reuse", 2, gen_reuse),
    ("claim", 20, gen_claim),
    ("delivered", 24, gen_delivered),
    ("failed", 10, gen_failed),
    ("die", 4, gen_die),
    ("redeem_coupon", 6, gen_redeem_coupon),
];

pub(super) fn gen_claim(w: &mut World, rng: &mut Rng) -> Option<Op> {
    w.config.rules.as_ref()?;
    Some(Op::Claim {
        worker: format!("worker-{}", rng.below(3)),
        now: w.now,
        lease: TimeDelta::seconds(w.config.lease_seconds),
        limit: rng.range(1, 4) as usize,
    })
}

pub(super) fn gen_delivered(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let id = if rng.chance(15) {
        // A duplicate report of a delivered item.
        let done: Vec<DeliveryId> = w
            .state
            .all_outbox_items()
            .into_iter()
            .filter(|v| matches!(v.record.state, DeliveryState::Delivered { .. }))
            .map(|v| v.record.id)
            .collect();
        rng.pick(&done)?.clone()
    } else {
        rng.pick(&w.leases)?.id.clone()
    };
    Some(Op::Delivered {
        reference: format!("ref-{}", &id.as_str()[..8]),
        id,
        at: w.now,
    })
}

pub(super) fn gen_failed(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Failed {
        id: rng.pick(&w.leases)?.id.clone(),
        at: w.now,
    })
}

pub(super) fn gen_die(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Die {
        id: rng.pick(&w.leases)?.id.clone(),
    })
}

pub(super) fn gen_redeem_coupon(w: &mut World, rng: &mut Rng) -> Option<Op> {
    w.config.rules.as_ref()?;
    let n = w.id();
    if rng.chance(10) {
        // A referral code typed as a coupon: not a coupon.
        let code = *rng.pick(&w.codes)?;
        return Some(Op::RedeemCoupon {
            typed: code.as_str().to_owned(),
            order: OrderId::new(format!("co{n}")).ok()?,
            at: w.now,
            first: None,
        });
    }
    let coupons: Vec<referrals::Code> = w
        .rewards
        .iter()
        .filter_map(|id| w.state.reward(w.program.id(), id)?.record.coupon)
        .collect();
    let code = *rng.pick(&coupons)?;
    let used: Vec<(OrderId, Answer)> = w
        .coupon_uses
        .iter()
        .filter(|(c, _, _)| *c == code)
        .map(|(_, o, a)| (o.clone(), a.clone()))
        .collect();
    let (order, first) = match rng.pick(&used) {
        // The same order reported again: its first outcome.
        Some((o, a)) if rng.chance(40) => (o.clone(), Some(Box::new(a.clone()))),
        _ => (OrderId::new(format!("co{n}")).ok()?, None),
    };
    let typed = if rng.chance(30) {
        code.as_str().to_lowercase()
    } else {
        code.as_str().to_owned()
    };
    Some(Op::RedeemCoupon {
        typed,
        order,
        at: w.now,
        first,
    })
}

pub(super) fn gen_issue_code(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let customer = rng.pick(&w.owners)?.clone();
    Some(Op::IssueCode {
        customer,
        at: w.now,
    })
}

pub(super) fn gen_touch(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let code = *rng.pick(&w.codes)?;
    let actor = match rng.pick(&w.customers) {
        Some(c) if rng.chance(20) => Actor::Customer(c.clone()),
        _ => Actor::Visitor(rng.pick(&w.visitors)?.clone()),
    };
    let kind = match rng.below(10) {
        0..6 => TouchKind::Click,
        6..9 => TouchKind::Visit,
        _ => TouchKind::Share,
    };
    Some(Op::Touch(Touch {
        id: EventId::new(format!("t{}", w.id())).ok()?,
        actor,
        code,
        channel: if rng.chance(50) {
            Channel::WhatsApp
        } else {
            Channel::Link
        },
        kind,
        at: w.now,
    }))
}

pub(super) fn gen_signup(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let n = w.id();
    let customer = match rng.pick(&w.customers) {
        // Signed up already, under another event: refused as a duplicate.
        Some(c) if rng.chance(4) => c.clone(),
        _ => CustomerId::new(format!("c{n}")).ok()?,
    };
    let code = if rng.chance(75) {
        rng.pick(&w.codes).copied()
    } else {
        None
    };
    let visitor = if rng.chance(50) {
        rng.pick(&w.visitors).cloned()
    } else {
        None
    };
    Some(Op::Signup(Signup {
        id: EventId::new(format!("s{n}")).ok()?,
        customer,
        visitor,
        code,
        channel: None,
        at: w.now,
    }))
}

pub(super) fn gen_conversion(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let n = w.id();
    let customer = match rng.pick(&w.customers) {
        Some(c) if rng.chance(92) => c.clone(),
        // Never signed up: not a referred purchase, not remembered.
        _ => CustomerId::new(format!("stranger{n}")).ok()?,
    };
    let minor = if rng.chance(3) {
        0
    } else {
        rng.range(1, 40_000)
    };
    Some(Op::Conversion(Conversion {
        order: OrderId::new(format!("o{n}")).ok()?,
        customer,
        amount: sar(minor),
        at: w.now,
    }))
}

pub(super) fn gen_refund(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let order = rng.pick(&w.orders)?.clone();
    let n = w.id();
    let roll = rng.below(100);
    let (amount, at) = if roll < 8 {
        // Dated before the order: refused.
        (
            RefundAmount::Full,
            order.at - TimeDelta::seconds(rng.range(1, DAY)),
        )
    } else if roll < 45 {
        (RefundAmount::Full, w.now)
    } else {
        let value = order.amount.minor().max(1);
        // Up to the whole value: more than what is left is refused.
        (RefundAmount::Partial(sar(rng.range(1, value))), w.now)
    };
    Some(Op::Refund(Refund {
        id: RefundId::new(format!("rf{n}")).ok()?,
        order: order.order,
        amount,
        at,
    }))
}

pub(super) fn gen_redeem(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let reward = rng.pick(&w.rewards)?.clone();
    let record = w.state.reward(w.program.id(), &reward)?.record;
    // What leaves through the outbox is spent by its delivery (cash,
    // points) or by its code on an order (coupons), not by `redeem`.
    if record.kind.needs_delivery() {
        return None;
    }
    let p = record.progress;
    let available = p.available;
    let roll = rng.below(100);
    let quantity = if roll < 40 && available > 0 {
        rng.range(1, available)
    } else if roll < 55 {
        // All of it; nothing when nothing is available (refused).
        available
    } else if roll < 80 {
        // More than is available: refused.
        available + rng.range(1, 500)
    } else {
        rng.range(1, p.quantity.max(1))
    };
    let n = w.id();
    Some(Op::Redeem(Redemption {
        id: RedemptionId::new(format!("rd{n}")).ok()?,
        reward,
        quantity,
        at: w.now,
    }))
}

/// A reward to review: mostly one still pending.
pub(super) fn review_target(w: &World, rng: &mut Rng) -> Option<RewardId> {
    let pending: Vec<RewardId> = w
        .rewards
        .iter()
        .filter(|id| {
            w.state
                .reward(w.program.id(), id)
                .is_some_and(|v| v.record.progress.pending > 0)
        })
        .cloned()
        .collect();
    if !pending.is_empty() && rng.chance(80) {
        return rng.pick(&pending).cloned();
    }
    rng.pick(&w.rewards).cloned()
}

pub(super) fn gen_approve(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Approve {
        reward: review_target(w, rng)?,
        at: w.now,
    })
}

pub(super) fn gen_reject(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Reject {
        reward: review_target(w, rng)?,
        at: w.now,
    })
}

pub(super) fn gen_release_due(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::ReleaseDue {
        now: w.now,
        limit: rng.range(1, 6) as usize,
    })
}

pub(super) fn gen_expire_due(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::ExpireDue {
        now: w.now,
        limit: rng.range(1, 6) as usize,
    })
}

pub(super) fn gen_replay(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let (op, first) = rng.pick(&w.remembered)?.clone();
    Some(Op::Replay {
        op: Box::new(op),
        first,
    })
}

pub(super) fn gen_reuse(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let (op, _) = rng.pick(&w.remembered)?;
    let second = TimeDelta::seconds(1);
    let other = match op.clone() {
        Op::Touch(t) => Op::Touch(Touch {
            at: t.at + second,
            ..t
        }),
        Op::Signup(s) => Op::Signup(Signup {
            at: s.at + second,
            ..s
        }),
        Op::Conversion(c) => Op::Conversion(Conversion {
            amount: sar(c.amount.minor() + 1),
            ..c
        }),
        Op::Refund(r) => Op::Refund(Refund {
            at: r.at + second,
            ..r
        }),
        Op::Redeem(r) => Op::Redeem(Redemption {
            quantity: r.quantity + 1,
            ..r
        }),
        _ => return None,
    };
    Some(Op::Reuse(Box::new(other)))
}

impl World {
    /// A fresh world for `config`.
    pub fn new(config: Config) -> World {
        let program = config.program();
        World {
            program,
            config,
            now: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            next: 0,
            owners: (0..4)
                .map(|i| CustomerId::new(format!("ref{i}")).unwrap())
                .collect(),
            codes: Vec::new(),
            visitors: (0..6)
                .map(|i| VisitorId::new(format!("v{i}")).unwrap())
                .collect(),
            customers: Vec::new(),
            orders: Vec::new(),
            rewards: Vec::new(),
            remembered: Vec::new(),
            leases: Vec::new(),
            coupon_uses: Vec::new(),
            had_available: HashSet::new(),
            state: MemoryState::new(),
        }
    }

    pub(super) fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Moves the clock forward: minutes to hours, sometimes days (past
    /// holds, validities and the lookback).
    pub fn tick(&mut self, rng: &mut Rng) {
        self.now += TimeDelta::seconds(rng.range(1, 6 * 3600));
        if rng.chance(8) {
            self.now += TimeDelta::days(rng.range(1, 12));
        }
    }

    /// The next operation.
    pub fn generate(&mut self, rng: &mut Rng) -> Op {
        let total: u64 = GENERATORS.iter().map(|(_, w, _)| w).sum();
        // The first history steps have no code yet: issue them first.
        if self.codes.len() < 2 && rng.chance(60) {
            if let Some(op) = gen_issue_code(self, rng) {
                return op;
            }
        }
        for _ in 0..16 {
            let mut roll = rng.below(total);
            for (_, weight, generate) in GENERATORS {
                if roll < *weight {
                    if let Some(op) = generate(self, rng) {
                        return op;
                    }
                    break;
                }
                roll -= weight;
            }
        }
        Op::ReleaseDue {
            now: self.now,
            limit: 10,
        }
    }

    /// Learns from an answer what later operations may use.
    pub fn learn(&mut self, op: &Op, answer: &Answer, after: &MemoryState) {
        let pid = self.program.id();
        match (op, answer) {
            (Op::IssueCode { .. }, Answer::Code(code)) if !self.codes.contains(code) => {
                self.codes.push(*code);
            }
            (Op::Signup(s), Answer::Event(_)) if !self.customers.contains(&s.customer) => {
                self.customers.push(s.customer.clone());
                self.owners.push(s.customer.clone());
            }
            (Op::Conversion(c), Answer::Event(Outcome::Conversion(o))) => {
                if after.conversion(pid, &c.order).is_some()
                    && !self.orders.iter().any(|x| x.order == c.order)
                {
                    self.orders.push(c.clone());
                }
                if let ConversionOutcome::Rewarded { payouts, .. } = o {
                    for p in payouts {
                        if !self.rewards.contains(&p.reward) {
                            self.rewards.push(p.reward.clone());
                        }
                    }
                }
            }
            (Op::Claim { .. }, Answer::Claimed(claimed)) => {
                self.leases.extend(claimed.iter().cloned());
            }
            (Op::Delivered { id, .. } | Op::Failed { id, .. } | Op::Die { id }, _) => {
                self.leases.retain(|d| d.id != *id);
            }
            (Op::RedeemCoupon { typed, order, .. }, _) => {
                if let Ok(code) = self.program.ledger_policy().coupons.format.parse(typed) {
                    if !self
                        .coupon_uses
                        .iter()
                        .any(|(c, o, _)| *c == code && o == order)
                        && matches!(answer, Answer::Event(_))
                    {
                        self.coupon_uses.push((code, order.clone(), answer.clone()));
                    }
                }
            }
            _ => {}
        }
        for v in after.all_rewards() {
            let r = v.record;
            if r.kind.needs_delivery() && r.progress.available > 0 {
                self.had_available.insert(r.id);
            }
        }
        if let (Some(request), Answer::Event(_)) = (op.request(), answer) {
            let key = request.key();
            if after.idempotency(pid, &key).is_some()
                && !self
                    .remembered
                    .iter()
                    .any(|(o, _)| o.request().is_some_and(|r| r.key() == key))
            {
                self.remembered.push((op.clone(), answer.clone()));
            }
        }
    }
}
