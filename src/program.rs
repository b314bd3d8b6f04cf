//! A referral program's definition: terms, code policy, attribution window,
//! dates and incentive. Built with validation that names the bad field.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::attribution::AttributionPolicy;
use crate::code::{Blocklist, CodeFormat};
use crate::fraud::FraudSettings;
use crate::incentive::RuleSet;
use crate::ledger::LedgerPolicy;
use crate::model::ProgramId;
use crate::money::{Currency, Money};

/// A program definition was invalid: which field, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program.{field}: {problem}")]
pub struct ProgramError {
    /// The field, e.g. `ends_at` or `incentive.referrer`.
    pub field: &'static str,
    /// What was wrong with it.
    pub problem: String,
}

fn bad(field: &'static str, problem: impl Into<String>) -> ProgramError {
    ProgramError {
        field,
        problem: problem.into(),
    }
}

/// Deserialises the field `field` of a program, naming it in any error
/// (`program.currency: unknown currency code "XYZ"`) as [`ProgramError`]
/// names the fields `build` refuses: the error of a `Currency` or `Money`
/// alone cannot say where it was.
fn field<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
    field: &str,
) -> Result<T, D::Error> {
    T::deserialize(d).map_err(|e| serde::de::Error::custom(format_args!("program.{field}: {e}")))
}

fn currency_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Currency>, D::Error> {
    field(d, "currency")
}

fn referrer_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
    field(d, "incentive.referrer")
}

fn referee_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
    field(d, "incentive.referee")
}

fn min_order_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
    field(d, "incentive.min_order")
}

/// The terms customers accept, with a version so that every reward can be
/// traced to the terms in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Increases with every change of `text`.
    pub version: u32,
    /// The terms as shown to customers.
    pub text: String,
}

/// How the engine makes a customer's primary code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeGeneration {
    /// From a CSPRNG (the engine's RNG); stored, so the store is the only
    /// record of who owns which code.
    #[default]
    Random,
    /// HMAC-SHA256 of the program secret and the customer id: the same
    /// customer always gets the same code and nobody without the secret can
    /// forge one. The engine needs the secret (`Engine::with_code_secret`).
    Derived,
}

/// A fixed reward to both sides of a referral, paid when the referee
/// converts.
///
/// # Example: 15 SAR and 10 SAR, for orders of 50 SAR or more, split
/// among every referrer who touched the friend
/// ```
/// use referrals::program::{ReferrerSplit, TwoSidedReward};
/// use referrals::{Currency, Money};
/// let sar = |m| Money::new(m, Currency::SAR);
/// let reward = TwoSidedReward::new(sar(1500), sar(1000))
///     .with_min_order(sar(5000))
///     .with_referrer_split(ReferrerSplit::Shares);
/// assert_eq!(reward.max_rewarded_conversions, Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TwoSidedReward {
    /// What the referrer earns (zero for a one-sided program).
    #[serde(deserialize_with = "referrer_field")]
    pub referrer: Money,
    /// What the referee earns (zero for a one-sided program).
    #[serde(deserialize_with = "referee_field")]
    pub referee: Money,
    /// Orders below this value earn nothing. Orders of zero value earn
    /// rewards unless this is set to at least one minor unit.
    #[serde(default, deserialize_with = "min_order_field")]
    pub min_order: Option<Money>,
    /// How many of a referee's conversions are rewarded; `None` rewards
    /// every one. Default 1: the first purchase.
    #[serde(default = "one")]
    pub max_rewarded_conversions: Option<u32>,
    /// Whether the referrer reward goes to the one referrer the attribution
    /// policy names, or is split among all credited referrers by their
    /// shares (exactly, to the minor unit).
    #[serde(default)]
    pub referrer_split: ReferrerSplit,
}

/// Who receives the referrer side of a reward when several referrers
/// touched the referee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReferrerSplit {
    /// All of it to the referrer with the largest share (the only one under
    /// last or first touch): a reward per referral. When the referee typed
    /// a code at signup, its owner takes it instead, as long as the signup
    /// lies inside the lookback of the order: the typed code made the
    /// referral whatever the model.
    #[default]
    Primary,
    /// Split among the credited referrers by their shares: a reward per
    /// conversion.
    Shares,
}

fn one() -> Option<u32> {
    Some(1)
}

impl TwoSidedReward {
    /// Pays `referrer` and `referee` for a referee's first conversion, to
    /// the one referrer the attribution policy names.
    pub fn new(referrer: Money, referee: Money) -> TwoSidedReward {
        TwoSidedReward {
            referrer,
            referee,
            min_order: None,
            max_rewarded_conversions: Some(1),
            referrer_split: ReferrerSplit::Primary,
        }
    }

    /// Orders below `min` earn nothing.
    pub fn with_min_order(mut self, min: Money) -> TwoSidedReward {
        self.min_order = Some(min);
        self
    }

    /// Rewards up to `max` conversions per referee (`None`: every one).
    pub fn with_max_rewarded_conversions(mut self, max: Option<u32>) -> TwoSidedReward {
        self.max_rewarded_conversions = max;
        self
    }

    /// Chooses who receives the referrer side.
    pub fn with_referrer_split(mut self, split: ReferrerSplit) -> TwoSidedReward {
        self.referrer_split = split;
        self
    }
}

/// What a program pays for a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Incentive {
    /// A fixed amount to the referrer and to the referee.
    TwoSided(TwoSidedReward),
    /// Declarative rules ([`crate::incentive`]): every reward kind,
    /// triggers, conditions, tiers, milestones, campaigns, stacking and
    /// experiments. Its currency must be the program's.
    Rules(RuleSet),
}

/// A referral program. Build it with [`Program::builder`]; deserialising
/// validates the same way, and its errors name the field too
/// (`program.currency: unknown currency code "XYZ"`).
///
/// # Example: a bakery's program in riyals
/// ```
/// use chrono::{TimeZone, Utc};
/// use referrals::{Currency, Money, Program};
///
/// let program = Program::builder("bakery", "Bakery friends")
///     .currency(Currency::SAR)
///     .terms(1, "Both of you get 15 SAR after your friend's first order.")
///     .starts_at(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
///     .lookback_days(30)
///     .two_sided_reward(Money::new(1500, Currency::SAR), Money::new(1500, Currency::SAR))
///     .build()?;
/// assert_eq!(program.lookback().num_days(), 30);
/// # Ok::<(), referrals::program::ProgramError>(())
/// ```
///
/// # Example: the bad field is named
/// ```
/// use referrals::{Currency, Money, Program};
/// let err = Program::builder("p", "Shop")
///     .currency(Currency::KWD)
///     .two_sided_reward(Money::new(500, Currency::SAR), Money::new(0, Currency::KWD))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.to_string(), "program.incentive.referrer: is in SAR, the program pays in KWD");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ProgramBuilder", into = "ProgramBuilder")]
pub struct Program {
    id: ProgramId,
    name: String,
    terms: Terms,
    currency: Currency,
    code_format: CodeFormat,
    code_generation: CodeGeneration,
    code_valid_for: Option<TimeDelta>,
    code_max_uses: Option<u32>,
    blocklist: Blocklist,
    attribution: AttributionPolicy,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    incentive: Incentive,
    ledger: LedgerPolicy,
    fraud: Option<FraudSettings>,
}

impl Program {
    /// Starts a program definition. `id` and `name` are checked by
    /// [`ProgramBuilder::build`].
    pub fn builder(id: impl Into<String>, name: impl Into<String>) -> ProgramBuilder {
        ProgramBuilder {
            id: id.into(),
            name: name.into(),
            ..ProgramBuilder::default()
        }
    }

    /// The program's id (scopes every record in the store).
    pub fn id(&self) -> &ProgramId {
        &self.id
    }
    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The terms in force.
    pub fn terms(&self) -> &Terms {
        &self.terms
    }
    /// The currency all rewards and orders are in.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// The shape of generated codes.
    pub fn code_format(&self) -> &CodeFormat {
        &self.code_format
    }
    /// Random or derived primary codes.
    pub fn code_generation(&self) -> CodeGeneration {
        self.code_generation
    }
    /// How long an issued code stays valid; `None`: until deactivated.
    pub fn code_valid_for(&self) -> Option<TimeDelta> {
        self.code_valid_for
    }
    /// How many referrals one issued code may make; `None`: no limit.
    pub fn code_max_uses(&self) -> Option<u32> {
        self.code_max_uses
    }
    /// Words no code may contain: the list the program was built with (a
    /// later crate version's default list does not change it).
    pub fn blocklist(&self) -> &Blocklist {
        &self.blocklist
    }
    /// How far back a touch may lie and still earn credit (the attribution
    /// policy's window).
    pub fn lookback(&self) -> TimeDelta {
        self.attribution.lookback()
    }
    /// Who is credited for a signup or a conversion.
    pub fn attribution(&self) -> &AttributionPolicy {
        &self.attribution
    }
    /// When the program opens.
    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }
    /// When it closes (exclusive), if ever.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.ends_at
    }
    /// What it pays.
    pub fn incentive(&self) -> &Incentive {
        &self.incentive
    }
    /// How it screens referrals for fraud, if it does.
    pub fn fraud(&self) -> Option<&FraudSettings> {
        self.fraud.as_ref()
    }

    /// How it books, holds, limits and releases rewards.
    pub fn ledger_policy(&self) -> &LedgerPolicy {
        &self.ledger
    }
    /// Whether the program is open at `at`: `starts_at <= at < ends_at`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        at >= self.starts_at && self.ends_at.is_none_or(|end| at < end)
    }
}

/// The editable, serialisable form of a [`Program`]; [`build`](Self::build)
/// validates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramBuilder {
    /// See [`Program::id`].
    pub id: String,
    /// See [`Program::name`].
    pub name: String,
    /// See [`Program::terms`].
    pub terms: Terms,
    /// See [`Program::currency`]. Required.
    #[serde(deserialize_with = "currency_field")]
    pub currency: Option<Currency>,
    /// See [`Program::code_format`].
    pub code_format: CodeFormat,
    /// See [`Program::code_generation`].
    pub code_generation: CodeGeneration,
    /// See [`Program::code_valid_for`], in seconds.
    pub code_valid_for_seconds: Option<i64>,
    /// See [`Program::code_max_uses`].
    pub code_max_uses: Option<u32>,
    /// See [`Program::blocklist`]. Defaults to the built-in list of the
    /// crate version that made the builder; copied into the program (see
    /// [`ProgramBuilder::blocklist`]).
    pub blocklist: Blocklist,
    /// See [`Program::attribution`]: the model, the lookback window
    /// (default 30 days) and which touches count. Default: last touch.
    pub attribution: AttributionPolicy,
    /// See [`Program::starts_at`]. Default: the Unix epoch (always open).
    pub starts_at: DateTime<Utc>,
    /// See [`Program::ends_at`].
    pub ends_at: Option<DateTime<Utc>>,
    /// See [`Program::incentive`]. Required.
    pub incentive: Option<Incentive>,
    /// See [`Program::ledger_policy`]. Default: no hold, no expiry, no
    /// budget, no caps, no debt limit.
    pub ledger: LedgerPolicy,
    /// See [`Program::fraud`]. Default: no screening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraud: Option<FraudSettings>,
}

impl Default for ProgramBuilder {
    fn default() -> Self {
        ProgramBuilder {
            id: String::new(),
            name: String::new(),
            terms: Terms {
                version: 1,
                text: String::new(),
            },
            currency: None,
            code_format: CodeFormat::default(),
            code_generation: CodeGeneration::Random,
            code_valid_for_seconds: None,
            code_max_uses: None,
            blocklist: Blocklist::default_list(),
            attribution: AttributionPolicy::default(),
            starts_at: DateTime::<Utc>::UNIX_EPOCH,
            ends_at: None,
            incentive: None,
            ledger: LedgerPolicy::default(),
            fraud: None,
        }
    }
}

impl ProgramBuilder {
    /// Sets the currency.
    pub fn currency(mut self, currency: Currency) -> Self {
        self.currency = Some(currency);
        self
    }
    /// Sets the terms and their version.
    pub fn terms(mut self, version: u32, text: impl Into<String>) -> Self {
        self.terms = Terms {
            version,
            text: text.into(),
        };
        self
    }
    /// Sets the code format.
    pub fn code_format(mut self, format: CodeFormat) -> Self {
        self.code_format = format;
        self
    }
    /// Random or derived codes.
    pub fn code_generation(mut self, generation: CodeGeneration) -> Self {
        self.code_generation = generation;
        self
    }
    /// Issued codes expire this long after issue.
    pub fn code_valid_for(mut self, validity: TimeDelta) -> Self {
        self.code_valid_for_seconds = Some(validity.num_seconds());
        self
    }
    /// Each issued code refers at most this many customers.
    pub fn code_max_uses(mut self, uses: u32) -> Self {
        self.code_max_uses = Some(uses);
        self
    }
    /// Replaces the blocklist (default: [`Blocklist::default_list`]).
    ///
    /// The list is copied into the program when it is built, and a stored
    /// or serialised program carries its words: a later crate version's
    /// default list does not change existing programs. Pass
    /// `Blocklist::default_list()` again (and store the program again) to
    /// update.
    ///
    /// # Example: a stored program keeps its list; updating is explicit
    /// ```
    /// use referrals::{Currency, Money, Program, code::Blocklist};
    /// let sar = |m| Money::new(m, Currency::SAR);
    /// let program = Program::builder("bakery", "Bakery")
    ///     .currency(Currency::SAR)
    ///     .two_sided_reward(sar(1500), sar(1000))
    ///     .blocklist(Blocklist::empty().with_words(["rival"])?)
    ///     .build()?;
    /// let stored = serde_json::to_string(&program)?;
    /// let loaded: Program = serde_json::from_str(&stored)?;
    /// assert_eq!(loaded.blocklist().words().collect::<Vec<_>>(), ["R1VA1"]);
    /// // To take up the current default list:
    /// let updated = referrals::program::ProgramBuilder::from(loaded)
    ///     .blocklist(Blocklist::default_list())
    ///     .build()?;
    /// assert_eq!(updated.blocklist(), &Blocklist::default_list());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocklist(mut self, blocklist: Blocklist) -> Self {
        self.blocklist = blocklist;
        self
    }
    /// Sets the attribution lookback window.
    pub fn lookback(mut self, window: TimeDelta) -> Self {
        self.attribution.lookback_seconds = window.num_seconds();
        self
    }
    /// Sets the attribution policy (model, window, counted touches). A
    /// policy with the default window (30 days) keeps a window set before
    /// with [`lookback`](Self::lookback), so the order of the two calls
    /// does not matter; a policy with a window of its own sets it.
    pub fn attribution(mut self, policy: AttributionPolicy) -> Self {
        let earlier = self.attribution.lookback_seconds;
        let default = AttributionPolicy::default().lookback_seconds;
        self.attribution = policy;
        if self.attribution.lookback_seconds == default {
            self.attribution.lookback_seconds = earlier;
        }
        self
    }
    /// Sets the attribution lookback window in days.
    pub fn lookback_days(self, days: u32) -> Self {
        self.lookback(TimeDelta::days(i64::from(days)))
    }
    /// Sets the opening instant.
    pub fn starts_at(mut self, at: DateTime<Utc>) -> Self {
        self.starts_at = at;
        self
    }
    /// Sets the closing instant (exclusive).
    pub fn ends_at(mut self, at: DateTime<Utc>) -> Self {
        self.ends_at = Some(at);
        self
    }
    /// Pays `referrer` and `referee` for each referee's first conversion.
    /// The referrer's part goes whole to one referrer, the one the
    /// attribution names ([`ReferrerSplit::Primary`]); to split it by the
    /// shares of a multi-touch model, set a [`TwoSidedReward`] with
    /// [`ReferrerSplit::Shares`] through [`incentive`](Self::incentive).
    pub fn two_sided_reward(mut self, referrer: Money, referee: Money) -> Self {
        self.incentive = Some(Incentive::TwoSided(TwoSidedReward::new(referrer, referee)));
        self
    }
    /// Sets the incentive in full.
    pub fn incentive(mut self, incentive: Incentive) -> Self {
        self.incentive = Some(incentive);
        self
    }
    /// Sets the ledger policy: hold period, validity, budget, caps, debt
    /// limit.
    pub fn ledger_policy(mut self, policy: LedgerPolicy) -> Self {
        self.ledger = policy;
        self
    }

    /// Screens referrals for fraud with these settings: the checks run at
    /// every signup and conversion, and their verdict holds a side's
    /// rewards for review or withholds them with the reason.
    pub fn fraud(mut self, settings: FraudSettings) -> Self {
        self.fraud = Some(settings);
        self
    }

    /// Validates and builds the program.
    ///
    /// # Errors
    /// [`ProgramError`] naming the first bad field: an invalid id, an empty
    /// name, no currency, an invalid attribution policy (see
    /// [`AttributionPolicy::validate`]), an end not after the start, a code validity that is not
    /// positive, zero max uses, no incentive, or reward amounts that are
    /// negative, in another currency, or all zero.
    pub fn build(self) -> Result<Program, ProgramError> {
        let id = ProgramId::new(self.id).map_err(|e| bad("id", e.to_string()))?;
        let name = self.name.trim().to_owned();
        if name.is_empty() {
            return Err(bad("name", "must not be empty"));
        }
        // A name is shown in share texts and admin screens: an override or
        // isolate in it would reorder the text around it.
        if let Some((i, c)) = name
            .char_indices()
            .find(|&(_, c)| c.is_control() || crate::text::is_explicit_bidi(c))
        {
            return Err(bad(
                "name",
                format!(
                    "holds control or bidi formatting character U+{:04X} at byte {i}",
                    c as u32
                ),
            ));
        }
        let currency = self
            .currency
            .ok_or_else(|| bad("currency", "is required"))?;
        const MAX_WINDOW: i64 = 10 * 366 * 24 * 3600;
        self.attribution
            .validate()
            .map_err(|e| bad("attribution", e.to_string()))?;
        let code_valid_for = match self.code_valid_for_seconds {
            None => None,
            Some(s) if s > 0 && s <= MAX_WINDOW => Some(TimeDelta::seconds(s)),
            Some(s) => {
                return Err(bad(
                    "code_valid_for_seconds",
                    format!("must be between 1 second and 10 years, is {s}"),
                ));
            }
        };
        // Every generated code starts with the prefix: a blocked word in it
        // would make the program unable to issue any code at all.
        if let Some(prefix) = self.code_format.prefix() {
            if let Some(word) = self.blocklist.contains_in(&prefix) {
                return Err(bad(
                    "code_format",
                    format!(
                        "the prefix {prefix} contains the blocked word {word:?}: no code could be issued"
                    ),
                ));
            }
        }
        if self.code_max_uses == Some(0) {
            return Err(bad(
                "code_max_uses",
                "must be at least 1 (or unset for no limit)",
            ));
        }
        if let Some(end) = self.ends_at {
            if end <= self.starts_at {
                return Err(bad(
                    "ends_at",
                    format!("{end} is not after starts_at {}", self.starts_at),
                ));
            }
        }
        let incentive = self
            .incentive
            .ok_or_else(|| bad("incentive", "is required"))?;
        self.ledger
            .validate(currency)
            .map_err(|e| bad("ledger", e.to_string()))?;
        if let Some(f) = &self.fraud {
            f.validate().map_err(|e| bad("fraud", e.to_string()))?;
        }
        match &incentive {
            Incentive::TwoSided(r) => {
                for (field, amount) in [
                    ("incentive.referrer", r.referrer),
                    ("incentive.referee", r.referee),
                ] {
                    if amount.currency() != currency {
                        return Err(bad(
                            field,
                            format!(
                                "is in {}, the program pays in {currency}",
                                amount.currency()
                            ),
                        ));
                    }
                    if amount.is_negative() {
                        return Err(bad(field, format!("must not be negative, is {amount}")));
                    }
                }
                if r.referrer.is_zero() && r.referee.is_zero() {
                    return Err(bad("incentive", "pays nothing to either side"));
                }
                if let Some(min) = r.min_order {
                    if min.currency() != currency || min.is_negative() {
                        return Err(bad(
                            "incentive.min_order",
                            format!("must be a non-negative amount in {currency}, is {min}"),
                        ));
                    }
                }
                if r.max_rewarded_conversions == Some(0) {
                    return Err(bad(
                        "incentive.max_rewarded_conversions",
                        "must be at least 1 (or unset to reward every conversion)",
                    ));
                }
            }
            Incentive::Rules(rules) => {
                if rules.currency() != currency {
                    return Err(bad(
                        "incentive.rules.currency",
                        format!("is {}, the program pays in {currency}", rules.currency()),
                    ));
                }
                if rules.terms_version() != self.terms.version {
                    return Err(bad(
                        "incentive.rules.terms_version",
                        format!(
                            "is {}, the program's terms are version {}: every reward records the terms that granted it",
                            rules.terms_version(),
                            self.terms.version
                        ),
                    ));
                }
            }
        }
        Ok(Program {
            id,
            name,
            terms: self.terms,
            currency,
            code_format: self.code_format,
            code_generation: self.code_generation,
            code_valid_for,
            code_max_uses: self.code_max_uses,
            blocklist: self.blocklist,
            attribution: self.attribution,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            incentive,
            ledger: self.ledger,
            fraud: self.fraud,
        })
    }
}

impl TryFrom<ProgramBuilder> for Program {
    type Error = ProgramError;
    fn try_from(b: ProgramBuilder) -> Result<Program, ProgramError> {
        b.build()
    }
}

impl From<Program> for ProgramBuilder {
    fn from(p: Program) -> ProgramBuilder {
        ProgramBuilder {
            id: p.id.into(),
            name: p.name,
            terms: p.terms,
            currency: Some(p.currency),
            code_format: p.code_format,
            code_generation: p.code_generation,
            code_valid_for_seconds: p.code_valid_for.map(|d| d.num_seconds()),
            code_max_uses: p.code_max_uses,
            blocklist: p.blocklist,
            attribution: p.attribution,
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            incentive: Some(p.incentive),
            ledger: p.ledger,
            fraud: p.fraud,
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_name_with_a_bidi_override_is_refused() {
        let err = Program::builder("p", "Shop\u{202E}nimda")
            .currency(Currency::SAR)
            .two_sided_reward(Money::new(1, Currency::SAR), Money::new(1, Currency::SAR))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "program.name: holds control or bidi formatting character U+202E at byte 4"
        );
        // Arabic names and their marks are fine.
        assert!(
            Program::builder("p", "أصدقاء المخبز")
                .currency(Currency::SAR)
                .two_sided_reward(Money::new(1, Currency::SAR), Money::new(1, Currency::SAR))
                .build()
                .is_ok()
        );
    }
    use super::*;

    fn sar(minor: i64) -> Money {
        Money::new(minor, Currency::SAR)
    }

    fn valid() -> ProgramBuilder {
        Program::builder("bakery", "Bakery")
            .currency(Currency::SAR)
            .two_sided_reward(sar(1500), sar(1000))
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(ProgramBuilder, &str)> = vec![
            (
                ProgramBuilder {
                    id: String::new(),
                    ..valid()
                },
                "id",
            ),
            (
                Program::builder("p", "  ")
                    .currency(Currency::SAR)
                    .two_sided_reward(sar(1), sar(1)),
                "name",
            ),
            (
                ProgramBuilder {
                    currency: None,
                    ..valid()
                },
                "currency",
            ),
            (valid().lookback(TimeDelta::zero()), "attribution"),
            (
                ProgramBuilder {
                    code_valid_for_seconds: Some(-1),
                    ..valid()
                },
                "code_valid_for_seconds",
            ),
            (valid().code_max_uses(0), "code_max_uses"),
            (
                ProgramBuilder {
                    incentive: None,
                    ..valid()
                },
                "incentive",
            ),
            (
                valid().two_sided_reward(sar(-1), sar(1)),
                "incentive.referrer",
            ),
            (
                valid().two_sided_reward(sar(1), Money::new(1, Currency::AED)),
                "incentive.referee",
            ),
            (valid().two_sided_reward(sar(0), sar(0)), "incentive"),
            (
                valid()
                    .starts_at(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(2))
                    .ends_at(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(1)),
                "ends_at",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn json_round_trip_validates() {
        let program = valid().lookback_days(14).code_max_uses(5).build().unwrap();
        let json = serde_json::to_string(&program).unwrap();
        let back: Program = serde_json::from_str(&json).unwrap();
        assert_eq!(back, program);
        let broken = json.replace("\"lookback_seconds\":1209600", "\"lookback_seconds\":0");
        assert_ne!(broken, json);
        let err = serde_json::from_str::<Program>(&broken).unwrap_err();
        assert!(
            err.to_string().contains("attribution.lookback_seconds"),
            "{err}"
        );
    }

    /// Issue 13: an unknown currency said `unknown currency code "XYZ"`,
    /// the one program error that did not name its field.
    #[test]
    fn an_unknown_currency_names_its_field() {
        let program = valid()
            .incentive(Incentive::TwoSided(
                TwoSidedReward::new(sar(1500), sar(1000)).with_min_order(sar(5000)),
            ))
            .build()
            .unwrap();
        let json = serde_json::to_value(&program).unwrap();
        for (pointer, field) in [
            ("/currency", "program.currency"),
            (
                "/incentive/two_sided/referrer/currency",
                "program.incentive.referrer",
            ),
            (
                "/incentive/two_sided/referee/currency",
                "program.incentive.referee",
            ),
            (
                "/incentive/two_sided/min_order/currency",
                "program.incentive.min_order",
            ),
        ] {
            let mut broken = json.clone();
            *broken.pointer_mut(pointer).unwrap() = "XYZ".into();
            let text = broken.to_string();
            for err in [
                serde_json::from_str::<Program>(&text).unwrap_err(),
                serde_json::from_str::<ProgramBuilder>(&text).unwrap_err(),
            ] {
                let msg = err.to_string();
                assert!(
                    msg.starts_with(&format!("{field}: unknown currency code \"XYZ\"")),
                    "{pointer}: {msg}"
                );
                assert_eq!(msg.matches(" at line ").count(), 1, "{msg}");
            }
        }
        // Any other mistake in these fields is named too.
        let mut broken = json.clone();
        *broken.pointer_mut("/incentive/two_sided/referee").unwrap() =
            serde_json::json!({"currency": "SAR"});
        let msg = serde_json::from_str::<Program>(&broken.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("program.incentive.referee: missing field `minor`"),
            "{msg}"
        );
    }

    /// Issue 13: a stored program carries the blocklist of its day, as
    /// now documented; the default of a later version does not replace it.
    #[test]
    fn a_stored_program_keeps_its_blocklist() {
        let program = valid().build().unwrap();
        assert_eq!(program.blocklist(), &Blocklist::default_list());
        let mut json = serde_json::to_value(&program).unwrap();
        // As if stored by a version whose default list was one word.
        json["blocklist"] = serde_json::json!(["OLDWORD"]);
        let loaded: Program = serde_json::from_value(json).unwrap();
        assert_eq!(loaded.blocklist().words().collect::<Vec<_>>(), ["01DW0RD"]);
        let updated = ProgramBuilder::from(loaded)
            .blocklist(Blocklist::default_list())
            .build()
            .unwrap();
        assert_eq!(updated.blocklist(), &Blocklist::default_list());
    }

    #[test]
    fn active_window_is_half_open() {
        let start = DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(10);
        let end = start + TimeDelta::days(5);
        let p = valid().starts_at(start).ends_at(end).build().unwrap();
        assert!(!p.is_active_at(start - TimeDelta::seconds(1)));
        assert!(p.is_active_at(start));
        assert!(!p.is_active_at(end));
    }
}
