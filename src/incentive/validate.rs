//! Validation of a rule set on load: every error names the field path and
//! the rule.

use chrono_tz::Tz;

use crate::money::{Currency, Money};
use crate::reward::{Discount, Label, RewardKind};

use super::campaign::{Window, local_to_utc};
use super::condition::Check;
use super::experiment::Experiment;
use super::rule::{
    Beneficiary, Compiled, Effect, PayAs, Rule, RuleSetError, RuleSetSpec, Stacking, Trigger,
    TriggerKind, percent, top,
};

pub(crate) fn validate_experiment(
    i: usize,
    e: &Experiment,
    before: &[Experiment],
) -> Result<(), RuleSetError> {
    let path = format!("experiments[{i}]");
    if before.iter().any(|o| o.id == e.id) {
        return Err(top(
            format!("{path}.id"),
            format!("{:?} is declared twice", e.id.as_str()),
        ));
    }
    if e.ramp_bps > 10_000 {
        return Err(top(
            format!("{path}.ramp_bps"),
            format!("{} is above 100%", percent(e.ramp_bps)),
        ));
    }
    for (j, v) in e.variants.iter().enumerate() {
        if e.variants[..j].iter().any(|o| o.id == v.id) {
            return Err(top(
                format!("{path}.variants[{j}].id"),
                format!("{:?} is declared twice", v.id.as_str()),
            ));
        }
    }
    if e.variants.iter().all(|v| v.weight == 0) {
        return Err(top(
            format!("{path}.variants"),
            "needs a variant with a weight above zero",
        ));
    }
    if !e.variants.iter().any(|v| v.id == e.control) {
        return Err(top(
            format!("{path}.control"),
            format!("{:?} is not one of the variants", e.control.as_str()),
        ));
    }
    Ok(())
}

/// Load-time context for one rule's rewards.
pub(crate) struct Ctx<'a> {
    pub(crate) spec: &'a RuleSetSpec,
    pub(crate) rule: Option<&'a Label>,
    pub(crate) kind: TriggerKind,
}

impl Ctx<'_> {
    fn err(&self, path: String, problem: String) -> RuleSetError {
        RuleSetError {
            path,
            rule: self.rule.cloned(),
            problem,
        }
    }

    fn money(&self, path: &str, m: Money, allow_zero: bool) -> Result<(), RuleSetError> {
        if m.currency() != self.spec.currency {
            return Err(self.err(
                path.into(),
                format!(
                    "{m} is not in the rule set's currency {}",
                    self.spec.currency
                ),
            ));
        }
        if m.is_negative() || (!allow_zero && m.is_zero()) {
            return Err(self.err(
                path.into(),
                format!(
                    "{m} must be {}",
                    if allow_zero {
                        "zero or more"
                    } else {
                        "above zero"
                    }
                ),
            ));
        }
        Ok(())
    }

    fn positive(&self, path: String, n: i64) -> Result<(), RuleSetError> {
        if n > 0 {
            Ok(())
        } else {
            Err(self.err(path, format!("{n} must be above zero")))
        }
    }

    fn charity(&self, path: String, c: &Label) -> Result<(), RuleSetError> {
        if self.spec.charities.contains(c) {
            Ok(())
        } else {
            Err(self.err(
                path,
                format!("{:?} is not one of the rule set's charities", c.as_str()),
            ))
        }
    }

    pub(crate) fn reward(&self, path: &str, r: &RewardKind) -> Result<(), RuleSetError> {
        match r {
            RewardKind::Credit { amount } | RewardKind::Cash { amount } => {
                self.money(&format!("{path}.amount"), *amount, false)
            }
            RewardKind::Donation { charity, amount } => {
                self.charity(format!("{path}.charity"), charity)?;
                self.money(&format!("{path}.amount"), *amount, false)
            }
            RewardKind::GiftCard { value, .. } => {
                self.money(&format!("{path}.value"), *value, false)
            }
            RewardKind::Coupon { discount } => match discount {
                Discount::Fixed { amount } => {
                    self.money(&format!("{path}.discount.amount"), *amount, false)
                }
                Discount::Percent { basis_points, max } => {
                    self.bps(&format!("{path}.discount.basis_points"), *basis_points)?;
                    match max {
                        Some(m) => self.money(&format!("{path}.discount.max"), *m, false),
                        None => Ok(()),
                    }
                }
            },
            RewardKind::Points { amount, .. } => self.positive(format!("{path}.amount"), *amount),
            RewardKind::TrialDays { days } => self.positive(format!("{path}.days"), *days),
            RewardKind::ContestEntries { contest, entries } => {
                if !self.spec.contests.iter().any(|c| &c.id == contest) {
                    return Err(self.err(
                        format!("{path}.contest"),
                        format!("no contest {:?} in the rule set", contest.as_str()),
                    ));
                }
                self.positive(format!("{path}.entries"), *entries)
            }
            RewardKind::Perk { .. } => Ok(()),
        }
    }

    fn bps(&self, path: &str, bps: u32) -> Result<(), RuleSetError> {
        if bps == 0 {
            Err(self.err(path.into(), "0% grants nothing".into()))
        } else if bps > 10_000 {
            Err(self.err(path.into(), format!("{} is above 100%", percent(bps))))
        } else {
            Ok(())
        }
    }

    fn effect(&self, path: &str, e: &Effect, best: bool, valued: bool) -> Result<(), RuleSetError> {
        if self.kind == TriggerKind::Share && e.to != Beneficiary::Referrer {
            return Err(self.err(
                format!("{path}.to"),
                "a share has no referee to reward".into(),
            ));
        }
        match (&e.fixed, &e.percent) {
            (Some(r), None) => {
                self.reward(&format!("{path}.fixed"), r)?;
                if best && !valued && r.money_value().is_none() {
                    return Err(self.err(
                        path.to_owned(),
                        format!(
                            "a {} reward has no money value to compare in a `best` group: declare the rule's `value`",
                            r.name()
                        ),
                    ));
                }
            }
            (None, Some(p)) => {
                let pp = format!("{path}.percent");
                if self.kind != TriggerKind::Purchase {
                    return Err(self.err(
                        pp,
                        format!(
                            "a {} has no purchase amount to take a percentage of",
                            self.kind
                        ),
                    ));
                }
                self.bps(&format!("{pp}.basis_points"), p.basis_points)?;
                self.money(&format!("{pp}.min"), p.min, true)?;
                self.money(&format!("{pp}.max"), p.max, false)?;
                if p.min.minor() > p.max.minor() {
                    return Err(self.err(
                        format!("{pp}.min"),
                        format!("{} is above max {}", p.min, p.max),
                    ));
                }
                match &p.pay_as {
                    PayAs::Donation { charity } => {
                        self.charity(format!("{pp}.pay_as.charity"), charity)?
                    }
                    PayAs::Credit | PayAs::Cash | PayAs::GiftCard { .. } => {}
                }
            }
            _ => {
                return Err(self.err(
                    path.to_owned(),
                    "give exactly one of `fixed` and `percent`".into(),
                ));
            }
        }
        Ok(())
    }
}

fn validate_window(cx: &Ctx<'_>, path: String, w: &Window) -> Result<(), RuleSetError> {
    if let Window::Rolling { days: 0 } = w {
        return Err(cx.err(
            format!("{path}.days"),
            "a window of 0 days holds nothing".into(),
        ));
    }
    Ok(())
}

pub(crate) fn validate_rule(
    spec: &RuleSetSpec,
    tz: Tz,
    currency: Currency,
    path: &str,
    rule: &Rule,
) -> Result<Compiled, RuleSetError> {
    let kind = rule.trigger.kind();
    let cx = Ctx {
        spec,
        rule: Some(&rule.id),
        kind,
    };
    let tp = format!("{path}.trigger");
    match &rule.trigger {
        Trigger::Signup | Trigger::FirstPurchase => {}
        Trigger::Purchase { up_to } => {
            if *up_to == Some(0) {
                return Err(cx.err(format!("{tp}.up_to"), "0 rewards no purchase".into()));
            }
        }
        Trigger::PurchaseAtLeast { amount } => cx.money(&format!("{tp}.amount"), *amount, false)?,
        Trigger::Share { limit } => {
            if let Some(l) = limit {
                if l.max == 0 {
                    return Err(cx.err(format!("{tp}.limit.max"), "0 rewards no share".into()));
                }
                if l.days == 0 {
                    return Err(cx.err(
                        format!("{tp}.limit.days"),
                        "a window of 0 days holds nothing".into(),
                    ));
                }
            }
        }
        Trigger::Milestone {
            referrals, window, ..
        } => {
            if *referrals == 0 {
                return Err(cx.err(
                    format!("{tp}.referrals"),
                    "a milestone counts from 1".into(),
                ));
            }
            if let Window::Rolling { .. } = window {
                return Err(cx.err(
                    format!("{tp}.window"),
                    "a milestone's window is lifetime or a calendar period: a rolling window has no period to grant it once in".into(),
                ));
            }
        }
    }

    let group = match &rule.group {
        None => 0,
        Some(g) => match spec.groups.iter().position(|x| &x.id == g) {
            Some(i) => i + 1,
            None => {
                return Err(cx.err(
                    format!("{path}.group"),
                    format!("no group {:?} in the rule set", g.as_str()),
                ));
            }
        },
    };
    let best = group > 0 && spec.groups[group - 1].stacking == Stacking::Best;
    if let Some(v) = rule.value {
        cx.money(&format!("{path}.value"), v, true)?;
    }
    let valued = rule.value.is_some();

    if rule.effects.is_empty() && rule.tiers.is_none() {
        return Err(cx.err(format!("{path}.effects"), "a rule grants something".into()));
    }
    for (j, e) in rule.effects.iter().enumerate() {
        cx.effect(&format!("{path}.effects[{j}]"), e, best, valued)?;
    }
    if let Some(t) = &rule.tiers {
        let tp = format!("{path}.tiers");
        validate_window(&cx, format!("{tp}.window"), &t.window)?;
        if t.levels.is_empty() {
            return Err(cx.err(format!("{tp}.levels"), "no levels".into()));
        }
        let mut last = 0;
        for (k, level) in t.levels.iter().enumerate() {
            let lp = format!("{tp}.levels[{k}]");
            if level.at <= last {
                return Err(cx.err(
                    format!("{lp}.at"),
                    format!("{} must be above {last} (levels ascend from 1)", level.at),
                ));
            }
            last = level.at;
            if level.effects.is_empty() {
                return Err(cx.err(format!("{lp}.effects"), "a tier grants something".into()));
            }
            for (j, e) in level.effects.iter().enumerate() {
                cx.effect(&format!("{lp}.effects[{j}]"), e, best, valued)?;
            }
        }
    }

    let mut check = Check {
        rule: &rule.id,
        currency,
        experiments: &spec.experiments,
        trigger: kind,
        experiment: None,
    };
    if let Some(c) = &rule.when {
        c.validate(&format!("{path}.when"), &mut check)?;
    }
    let experiment = check
        .experiment
        .and_then(|id| spec.experiments.iter().position(|e| e.id == id));

    let campaign = match &rule.campaign {
        None => None,
        Some(c) => {
            let cp = format!("{path}.campaign");
            let start = local_to_utc(tz, c.start)
                .ok_or_else(|| cx.err(format!("{cp}.start"), "out of range".into()))?;
            let end = local_to_utc(tz, c.end)
                .ok_or_else(|| cx.err(format!("{cp}.end"), "out of range".into()))?;
            if end <= start {
                return Err(cx.err(
                    format!("{cp}.end"),
                    format!("{} is not after start {}", c.end, c.start),
                ));
            }
            Some((start, end))
        }
    };
    Ok(Compiled {
        kind,
        group,
        campaign,
        experiment,
    })
}
