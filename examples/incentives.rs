//! A month of a Riyadh bakery's referral program driven by incentive rules,
//! on the in-memory store.
//!
//! One rule set, loaded from JSON, pays:
//!
//! - the friend 10 SAR credit on their first purchase (new customers only);
//! - the referrer 15 SAR credit, 25 SAR from their 3rd successful referral
//!   (a tier derived from their history, so a refund can drop it back);
//! - or, for referrers who asked to give their reward away, the same
//!   amounts as a donation to a charity of the rule set's list;
//! - or, for the 10 % of referrers in an A/B test, either 15 SAR or 300
//!   points (500 from the 3rd referral): an experiment with
//!   `ramp_bps: 1000` and rules conditioned on its variants;
//! - 5 SAR more to each side during Ramadan (a campaign in local
//!   Asia/Riyadh dates), and 100 points to the referrer on any purchase of
//!   250 SAR or more.
//!
//! Rewards are held 14 days (the bakery's refund window) and counted
//! against a budget. A deterministic month of signups, first and repeat
//! purchases and a few refunds runs through `Engine<MemoryStore>`; the held
//! rewards are released at the end and the report prints rewards per rule,
//! per experiment variant, the budget used and why some events earned
//! nothing (`incentive::explain`).
//!
//! Run: `cargo run --example incentives`

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, HostFacts, Reason, block_on};
use referrals::incentive::{
    CustomerFacts, EventFacts, Facts, PastReferral, ReferralFacts, ReferrerHistory, RuleSet,
    assign, explain,
};
use referrals::ledger::{Budget, LedgerPolicy};
use referrals::model::{
    Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, RewardId, Signup,
};
use referrals::program::Incentive;
use referrals::rand::SeedableRng;
use referrals::rand::rngs::StdRng;
use referrals::reward::{Label, RewardKind, Role, Unit};
use referrals::{Channel, Code, Currency, Engine, MemoryStore, Money, Program};

/// The rule set, as a marketing team would keep it in a file.
const RULES: &str = r#"{
  "version": 3,
  "terms_version": 2,
  "time_zone": "Asia/Riyadh",
  "currency": "SAR",
  "charities": ["ekram", "sanad"],
  "groups": [{"id": "referrer-reward", "stacking": "first"}],
  "experiments": [{
    "id": "sar-vs-points", "unit": "referrer", "control": "default", "ramp_bps": 1000,
    "variants": [
      {"id": "default", "weight": 0},
      {"id": "sar-15", "weight": 1},
      {"id": "points-300", "weight": 1}
    ]
  }],
  "rules": [
    {
      "id": "friend-welcome",
      "trigger": {"on": "first_purchase"},
      "when": {"all": [{"referee_is_new": true}, {"days_since_referral_at_most": 30}]},
      "effects": [{"to": "referee", "fixed": {"kind": "credit", "amount": {"minor": 1000, "currency": "SAR"}}}]
    },
    {
      "id": "referrer-sar",
      "trigger": {"on": "first_purchase"},
      "group": "referrer-reward", "priority": 10,
      "when": {"all": [
        {"referee_is_new": true},
        {"variant": {"experiment": "sar-vs-points", "is": ["default", "sar-15"]}}
      ]},
      "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": {"minor": 1500, "currency": "SAR"}}}],
      "tiers": {"levels": [{"at": 3, "effects": [
        {"to": "referrer", "fixed": {"kind": "credit", "amount": {"minor": 2500, "currency": "SAR"}}}
      ]}]}
    },
    {
      "id": "referrer-points",
      "trigger": {"on": "first_purchase"},
      "group": "referrer-reward", "priority": 20,
      "when": {"all": [
        {"referee_is_new": true},
        {"variant": {"experiment": "sar-vs-points", "is": ["points-300"]}}
      ]},
      "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 300}}],
      "tiers": {"levels": [{"at": 3, "effects": [
        {"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 500}}
      ]}]}
    },
    {
      "id": "donate-ekram",
      "trigger": {"on": "first_purchase"},
      "group": "referrer-reward", "priority": 30,
      "when": {"all": [{"referee_is_new": true}, {"tag": {"side": "referrer", "is": "gives-ekram"}}]},
      "effects": [{"to": "referrer", "fixed": {"kind": "donation", "charity": "ekram",
        "amount": {"minor": 1500, "currency": "SAR"}}}],
      "tiers": {"levels": [{"at": 3, "effects": [
        {"to": "referrer", "fixed": {"kind": "donation", "charity": "ekram",
          "amount": {"minor": 2500, "currency": "SAR"}}}
      ]}]}
    },
    {
      "id": "donate-sanad",
      "trigger": {"on": "first_purchase"},
      "group": "referrer-reward", "priority": 30,
      "when": {"all": [{"referee_is_new": true}, {"tag": {"side": "referrer", "is": "gives-sanad"}}]},
      "effects": [{"to": "referrer", "fixed": {"kind": "donation", "charity": "sanad",
        "amount": {"minor": 1500, "currency": "SAR"}}}],
      "tiers": {"levels": [{"at": 3, "effects": [
        {"to": "referrer", "fixed": {"kind": "donation", "charity": "sanad",
          "amount": {"minor": 2500, "currency": "SAR"}}}
      ]}]}
    },
    {
      "id": "ramadan-bonus",
      "trigger": {"on": "first_purchase"},
      "campaign": {"start": "2027-02-08T00:00:00", "end": "2027-03-10T00:00:00"},
      "when": {"referee_is_new": true},
      "effects": [{"to": "both", "fixed": {"kind": "credit", "amount": {"minor": 500, "currency": "SAR"}}}]
    },
    {
      "id": "big-basket",
      "trigger": {"on": "purchase_at_least", "amount": {"minor": 25000, "currency": "SAR"}},
      "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 100}}]
    }
  ]
}"#;

/// The simulated month, in Riyadh local time (UTC+3, no DST): 25 January
/// to 24 February 2027, so Ramadan (from 8 February) starts halfway.
const DAYS: i64 = 31;
const REFERRERS: usize = 400;
const HOLD_DAYS: i64 = 14;
const BUDGET_SAR: i64 = 10_000;

/// Names for customer ids (transliterated; the Arabic is for the reader).
const NAMES: [&str; 20] = [
    "amira", "badr", "dana", "eman", "farah", "ghada", "hamad", "hind", "jawad", "khalid", "layla",
    "majid", "noura", "omar", "rania", "saad", "tariq", "wafa", "yousef", "zainab",
];

/// SplitMix64: a tiny deterministic PRNG, so every run prints the same.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True `percent` % of the time.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Referrer {
    id: CustomerId,
    /// The charity they give their rewards to, if they asked.
    gives: Option<&'static str>,
}

struct Friend {
    id: CustomerId,
    referrer: usize,
    /// New to the bakery (a returning customer is not a new referral).
    is_new: bool,
    channel: Channel,
    /// Purchases recorded so far.
    purchases: u32,
}

enum Kind {
    Signup {
        friend: usize,
    },
    Purchase {
        friend: usize,
        order: usize,
        minor: i64,
    },
    Refund {
        order: usize,
        partial: bool,
    },
}

struct Event {
    at: DateTime<Utc>,
    kind: Kind,
}

/// A purchase that earned nothing, kept to explain it afterwards.
struct Sample {
    friend: usize,
    conversion: Conversion,
    purchase_number: u32,
    facts: HostFacts,
    history: ReferrerHistory,
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

/// `12,345.67`
fn amount(minor: i64) -> String {
    let (whole, cents) = (minor.abs() / 100, minor.abs() % 100);
    let mut digits = whole.to_string();
    let mut i = digits.len() as i64 - 3;
    while i > 0 {
        digits.insert(i as usize, ',');
        i -= 3;
    }
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{digits}.{cents:02}")
}

/// `12,345`
fn count(n: i64) -> String {
    let s = amount(n * 100);
    s[..s.len() - 3].to_owned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rules: RuleSet = serde_json::from_str(RULES)?;
    let tz = rules.time_zone();
    let local = |y, m, d, h| {
        tz.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("Riyadh has no DST")
            .with_timezone(&Utc)
    };
    let start = local(2027, 1, 25, 0);
    let end = start + TimeDelta::days(DAYS);
    let policy = LedgerPolicy {
        hold_seconds: Some(HOLD_DAYS * 86_400),
        budget: Some(Budget {
            limit: sar(BUDGET_SAR * 100),
            overdraft: None,
            shared: None,
        }),
        ..LedgerPolicy::default()
    };
    let program = Program::builder("riyadh-bakery", "Riyadh Bakery friends")
        .currency(Currency::SAR)
        .terms(
            2,
            "Your friend gets 10 SAR on their first order, you get 15 SAR (25 SAR from your 3rd friend).",
        )
        .lookback_days(30)
        .incentive(Incentive::Rules(rules.clone()))
        .ledger_policy(policy)
        .build()?;
    let engine = Engine::new(MemoryStore::new(), program).with_rng(StdRng::seed_from_u64(7));

    println!(
        "{} — rule set v{} ({} rules, {}), hold {HOLD_DAYS} days, budget {} SAR",
        engine.program().name(),
        rules.version(),
        rules.rules().len(),
        rules.time_zone(),
        amount(BUDGET_SAR * 100)
    );
    println!(
        "Simulated month: {} to {} (Riyadh time); Ramadan campaign from 2027-02-08 00:00 local",
        start.with_timezone(&tz).format("%Y-%m-%d"),
        (end - TimeDelta::seconds(1))
            .with_timezone(&tz)
            .format("%Y-%m-%d"),
    );

    // --- The month's events, generated up front and replayed in order. ---
    let mut rng = Prng(0x5EED_2027);
    let referrers: Vec<Referrer> = (0..REFERRERS)
        .map(|i| Referrer {
            id: CustomerId::new(format!("{}-{:03}", NAMES[i % NAMES.len()], i + 1)).unwrap(),
            gives: match rng.below(100) {
                0..=4 => Some("ekram"),
                5..=7 => Some("sanad"),
                _ => None,
            },
        })
        .collect();
    let mut friends: Vec<Friend> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut orders: Vec<(usize, i64)> = Vec::new(); // (friend, amount)
    let hour = TimeDelta::hours(1);
    for (r, _) in referrers.iter().enumerate() {
        let invited = match rng.below(100) {
            0..=29 => 0,
            30..=64 => 1,
            65..=82 => 2,
            83..=92 => 3,
            _ => 4 + rng.below(3),
        };
        for _ in 0..invited {
            let f = friends.len();
            let n = REFERRERS + f + 1;
            friends.push(Friend {
                id: CustomerId::new(format!("{}-{n:03}", NAMES[n % NAMES.len()])).unwrap(),
                referrer: r,
                is_new: rng.chance(94),
                channel: match rng.below(10) {
                    0..=5 => Channel::WhatsApp,
                    6..=7 => Channel::Sms,
                    _ => Channel::InStore,
                },
                purchases: 0,
            });
            // Signups between 08:00 and 23:00 local, any day of the month.
            let signup = start
                + TimeDelta::days(rng.below(DAYS as u64) as i64)
                + hour * 8
                + hour * rng.below(15) as i32;
            events.push(Event {
                at: signup,
                kind: Kind::Signup { friend: f },
            });
            if !rng.chance(80) {
                continue;
            }
            let mut at = signup + hour * (1 + rng.below(24 * 6) as i32);
            let mut first = true;
            while at < end {
                let order = orders.len();
                let minor = 4_000 + 100 * rng.below(360) as i64; // 40 to 399 SAR
                orders.push((f, minor));
                events.push(Event {
                    at,
                    kind: Kind::Purchase {
                        friend: f,
                        order,
                        minor,
                    },
                });
                if rng.chance(5) {
                    let back = at + hour * (2 + rng.below(24 * 4) as i32);
                    if back < end {
                        events.push(Event {
                            at: back,
                            kind: Kind::Refund {
                                order,
                                partial: rng.chance(35),
                            },
                        });
                    }
                }
                // Half the friends come back, some several times.
                if !rng.chance(if first { 50 } else { 40 }) {
                    break;
                }
                first = false;
                at += TimeDelta::days(2 + rng.below(9) as i64) + hour * rng.below(12) as i32;
            }
        }
    }
    // Stable: events at the same instant keep their generated order.
    events.sort_by_key(|e| e.at);

    // --- Replay them through the engine. ---
    let mut codes: BTreeMap<usize, Code> = BTreeMap::new();
    let mut paid: Vec<RewardId> = Vec::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut withheld: (usize, i64) = (0, 0);
    let mut histories: Vec<ReferrerHistory> =
        (0..REFERRERS).map(|_| ReferrerHistory::default()).collect();
    let mut order_referral: BTreeMap<usize, (usize, usize)> = BTreeMap::new(); // order -> (referrer, index in history)
    let mut samples: Vec<Sample> = Vec::new();
    let (mut signups, mut firsts, mut repeats, mut refunds) = (0, 0, 0, 0);
    block_on(async {
        for e in &events {
            match e.kind {
                Kind::Signup { friend } => {
                    let f = &friends[friend];
                    let r = f.referrer;
                    let code = match codes.get(&r) {
                        Some(c) => *c,
                        None => {
                            let c = engine
                                .issue_code(&referrers[r].id, start)
                                .await?
                                .record
                                .code;
                            codes.insert(r, c);
                            c
                        }
                    };
                    engine
                        .record_signup(&Signup {
                            id: EventId::new(format!("signup-{}", f.id))?,
                            customer: f.id.clone(),
                            visitor: None,
                            code: Some(code), // typed at the counter or from the link
                            channel: Some(f.channel.clone()),
                            at: e.at,
                        })
                        .await?;
                    signups += 1;
                }
                Kind::Purchase {
                    friend,
                    order,
                    minor,
                } => {
                    let f = &friends[friend];
                    let r = f.referrer;
                    let tags: BTreeSet<Label> = referrers[r]
                        .gives
                        .map(|c| Label::new(format!("gives-{c}")))
                        .transpose()?
                        .into_iter()
                        .collect();
                    let facts = HostFacts {
                        referrer: CustomerFacts {
                            tags,
                            ..CustomerFacts::default()
                        },
                        referee: CustomerFacts::default(),
                        referee_is_new: Some(f.is_new),
                        referring_site: None,
                    };
                    let conversion = Conversion {
                        order: OrderId::new(format!("order-{order:04}"))?,
                        customer: f.id.clone(),
                        amount: sar(minor),
                        at: e.at,
                    };
                    let history = histories[r].clone();
                    let outcome = engine.record_conversion_with(&conversion, &facts).await?;
                    let purchase_number = f.purchases + 1;
                    if purchase_number == 1 {
                        firsts += 1;
                    } else {
                        repeats += 1;
                    }
                    friends[friend].purchases = purchase_number;
                    let f = &friends[friend];
                    let key = match &outcome {
                        ConversionOutcome::Rewarded {
                            payouts,
                            withheld: w,
                            ..
                        } => {
                            paid.extend(payouts.iter().map(|p| p.reward.clone()));
                            // The referrer's history as the engine derives
                            // it: the first order that paid them for this
                            // friend makes a successful referral.
                            let new_referral = payouts.iter().any(|p| p.role == Role::Referrer)
                                && !histories[r].referrals.iter().any(|x| x.referee == f.id);
                            if new_referral {
                                order_referral.insert(order, (r, histories[r].referrals.len()));
                                histories[r].referrals.push(PastReferral {
                                    referee: f.id.clone(),
                                    at: e.at,
                                    value: sar(minor),
                                    reversed_at: None,
                                });
                            }
                            if w.is_empty() {
                                "rewarded".to_owned()
                            } else {
                                "rewarded in part (budget)".to_owned()
                            }
                        }
                        ConversionOutcome::NotRewarded { reason, .. } => {
                            if *reason == Reason::NoRuleMatched && samples.len() < 64 {
                                samples.push(Sample {
                                    friend,
                                    conversion: conversion.clone(),
                                    purchase_number,
                                    facts: facts.clone(),
                                    history,
                                });
                            }
                            format!("not rewarded ({reason:?})")
                        }
                        other => format!("{other:?}"),
                    };
                    let partly = matches!(&outcome, ConversionOutcome::Rewarded { withheld, .. } if !withheld.is_empty());
                    let refused = matches!(
                        &outcome,
                        ConversionOutcome::NotRewarded {
                            reason: Reason::BudgetExhausted,
                            ..
                        }
                    );
                    if partly || refused {
                        if let Some(record) = engine.conversion(&conversion.order).await? {
                            for w in &record.withheld {
                                withheld.0 += 1;
                                withheld.1 += w.kind.money_value().map_or(0, |m| m.minor());
                            }
                        }
                    }
                    *outcomes.entry(key).or_default() += 1;
                }
                Kind::Refund { order, partial } => {
                    let (_, minor) = orders[order];
                    let outcome = engine
                        .record_refund(&Refund {
                            id: RefundId::new(format!("refund-{order:04}"))?,
                            order: OrderId::new(format!("order-{order:04}"))?,
                            amount: if partial {
                                RefundAmount::Partial(sar(minor / 2))
                            } else {
                                RefundAmount::Full
                            },
                            at: e.at,
                        })
                        .await;
                    // An order of a friend whose signup was refused is not
                    // recorded, so neither is its refund.
                    if outcome.is_ok() {
                        refunds += 1;
                        if !partial {
                            if let Some((r, i)) = order_referral.get(&order) {
                                histories[*r].referrals[*i].reversed_at = Some(e.at);
                            }
                        }
                    }
                }
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;

    let active = codes.len();
    println!(
        "\nEvents: {active} referrers shared their code, {signups} friends signed up, \
         {firsts} first and {repeats} repeat purchases, {refunds} refunds"
    );
    for (what, n) in &outcomes {
        println!("  {n:>4} purchases {what}");
    }

    // --- End of the refund window: release what is held. ---
    let release_at = end + TimeDelta::days(HOLD_DAYS);
    let (mut released, mut batches) = (0, 0);
    block_on(async {
        loop {
            let batch = engine.release_due(release_at, 100).await?;
            released += batch.moved;
            batches += 1;
            if !batch.more {
                return Ok::<(), referrals::Error>(());
            }
        }
    })?;
    println!(
        "\nReleased {released} held rewards at {} in {batches} batches of at most 100",
        release_at.with_timezone(&tz).format("%Y-%m-%d %H:%M")
    );

    // --- Rewards per rule. ---
    struct Row {
        rewards: i64,
        sar: i64,
        stars: i64,
        taken_back: i64,
    }
    let stars = Unit::Points(Label::new("stars")?);
    let mut per_rule: BTreeMap<Label, Row> = BTreeMap::new();
    // Per referrer, what they earned as referrer, by unit.
    let mut per_referrer: BTreeMap<CustomerId, (i64, i64, i64)> = BTreeMap::new();
    let mut pending_left = 0;
    block_on(async {
        for id in &paid {
            let r = engine.reward(id).await?.expect("a booked reward exists");
            let rule_id = r.rule.clone().expect("every reward here comes from a rule");
            let row = per_rule.entry(rule_id.clone()).or_insert(Row {
                rewards: 0,
                sar: 0,
                stars: 0,
                taken_back: 0,
            });
            row.rewards += 1;
            let q = r.kind.quantity();
            let (s, p) = if r.unit == stars { (0, q) } else { (q, 0) };
            row.sar += s;
            row.stars += p;
            if r.progress.cancelled + r.progress.reversed > 0 {
                row.taken_back += 1;
            }
            pending_left += r.progress.pending;
            // The experiment compares what its group's rules pay referrers.
            let tested = [
                "referrer-sar",
                "referrer-points",
                "donate-ekram",
                "donate-sanad",
            ];
            if r.role == Role::Referrer && tested.contains(&rule_id.as_str()) {
                let e = per_referrer.entry(r.customer.clone()).or_default();
                e.0 += 1;
                e.1 += s;
                e.2 += p;
            }
        }
        Ok::<(), referrals::Error>(())
    })?;
    assert_eq!(pending_left, 0, "everything held was released or cancelled");

    println!("\nRewards per rule (as granted; refunds cancelled some while held)");
    println!(
        "  {:<16} {:>7} {:>12} {:>8} {:>10}",
        "rule", "rewards", "SAR", "stars", "taken back"
    );
    let mut total = Row {
        rewards: 0,
        sar: 0,
        stars: 0,
        taken_back: 0,
    };
    for rule in rules.rules() {
        let Some(row) = per_rule.get(&rule.id) else {
            println!("  {:<16} {:>7}", rule.id.as_str(), 0);
            continue;
        };
        println!(
            "  {:<16} {:>7} {:>12} {:>8} {:>10}",
            rule.id.as_str(),
            row.rewards,
            amount(row.sar),
            count(row.stars),
            row.taken_back
        );
        total.rewards += row.rewards;
        total.sar += row.sar;
        total.stars += row.stars;
        total.taken_back += row.taken_back;
    }
    println!(
        "  {:<16} {:>7} {:>12} {:>8} {:>10}",
        "total",
        total.rewards,
        amount(total.sar),
        count(total.stars),
        total.taken_back
    );

    // --- Per experiment variant: every referrer whose friend signed up. ---
    let experiment = &rules.experiments()[0];
    let mut per_variant: BTreeMap<(bool, Label), (usize, i64, i64, i64)> = BTreeMap::new();
    for r in codes.keys() {
        let who = &referrers[*r].id;
        let a = assign(engine.program().id(), experiment, who);
        let row = per_variant.entry((a.in_ramp, a.variant)).or_default();
        row.0 += 1;
        if let Some((n, s, p)) = per_referrer.get(who) {
            row.1 += n;
            row.2 += s;
            row.3 += p;
        }
    }
    println!(
        "\nExperiment {} ({}% of referrers in the test): what the referrer-reward group paid",
        experiment.id,
        experiment.ramp_bps / 100
    );
    println!(
        "  {:<24} {:>9} {:>9} {:>12} {:>8}",
        "variant", "referrers", "referrals", "SAR", "stars"
    );
    for ((in_ramp, variant), (n, rewards, s, p)) in per_variant.iter().rev() {
        let name = if *in_ramp {
            variant.to_string()
        } else {
            format!("{variant} (not in test)")
        };
        println!(
            "  {name:<24} {n:>9} {rewards:>9} {:>12} {:>8}",
            amount(*s),
            count(*p)
        );
    }

    // --- Budget. ---
    let used = block_on(engine.budget_used())?.map_or(0, |m| m.minor());
    println!(
        "\nBudget: {} of {} SAR used ({}%); {} rewards worth {} SAR withheld once it ran out",
        amount(used),
        amount(BUDGET_SAR * 100),
        used / BUDGET_SAR,
        withheld.0,
        amount(withheld.1)
    );

    // --- Deliveries: donations and points leave through the outbox. ---
    let mut delivered: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    block_on(async {
        loop {
            let claimed = engine
                .claim_deliveries("worker-1", release_at, TimeDelta::minutes(5), 100)
                .await?;
            if claimed.is_empty() {
                return Ok::<(), referrals::Error>(());
            }
            for d in claimed {
                let what = match &d.kind {
                    RewardKind::Donation { charity, .. } => format!("donation to {charity}"),
                    other => other.name().to_owned(),
                };
                let e = delivered.entry(what).or_default();
                e.0 += 1;
                e.1 += d.quantity;
                engine
                    .mark_delivered(&d.id, &format!("provider-{}", d.id), release_at)
                    .await?;
            }
        }
    })?;
    println!("\nDelivered through the outbox:");
    let charity_names = BTreeMap::from([
        ("donation to ekram", "إكرام, Riyadh food bank"),
        ("donation to sanad", "سند, children with cancer"),
    ]);
    for (what, (n, q)) in &delivered {
        let shown = if what.starts_with("donation") {
            format!("{} SAR", amount(*q))
        } else {
            format!("{} stars", count(*q))
        };
        let note = charity_names
            .get(what.as_str())
            .map_or(String::new(), |n| format!("  ({n})"));
        println!("  {n:>4} × {what:<18} {shown:>14}{note}");
    }

    // --- Why did these purchases earn nothing? ---
    println!("\nWhy some purchases earned nothing (incentive::explain):");
    let ramadan = local(2027, 2, 8, 0);
    let picks = [
        samples
            .iter()
            .find(|s| s.purchase_number == 1 && s.conversion.at < ramadan),
        samples.iter().find(|s| s.purchase_number > 1),
        samples
            .iter()
            .find(|s| s.purchase_number == 1 && s.conversion.at >= ramadan),
    ];
    block_on(async {
        for s in picks.into_iter().flatten() {
            let f = &friends[s.friend];
            let referral = engine
                .customer(&f.id)
                .await?
                .and_then(|c| c.referral)
                .expect("a referred friend");
            let facts = Facts {
                program: engine.program().id(),
                event: EventFacts::Purchase {
                    amount: s.conversion.amount,
                    purchase_number: s.purchase_number,
                    at: s.conversion.at,
                },
                referral: ReferralFacts {
                    referrer: referral.referrer.clone(),
                    referee: Some(f.id.clone()),
                    channel: referral.channel.clone(),
                    referred_at: referral.touched_at,
                    referee_is_new: s.facts.referee_is_new,
                },
                referrer: &s.facts.referrer,
                referee: &s.facts.referee,
                history: &s.history,
                completes_referral: !s
                    .history
                    .referrals
                    .iter()
                    .any(|r| r.referee == f.id && r.reversed_at.is_none()),
                // Empty: evaluate assigns as the engine did at first exposure.
                variants: &BTreeMap::new(),
            };
            println!(
                "  {} (referred by {}, {}), purchase #{} of {} on {}:",
                f.id,
                referral.referrer,
                if f.is_new {
                    "new customer"
                } else {
                    "returning customer"
                },
                s.purchase_number,
                s.conversion.amount,
                s.conversion.at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            );
            for t in explain(&rules, &facts) {
                println!("    {t}");
            }
        }
        Ok::<(), referrals::Error>(())
    })?;
    Ok(())
}
