//! A program's fraud settings: the policy, how identity inputs are read,
//! and how long their hashes are kept.

use serde::{Deserialize, Serialize};

use super::identity::NormaliseOptions;
use super::policy::FraudPolicy;

/// The most `least_seconds_to_convert` accepted: a day.
const MOST_SECONDS_TO_CONVERT: i64 = 86_400;

/// The longest ring looked for: each step up the chain is a store read.
const MOST_RING: usize = 64;

/// The longest retention accepted: ten years, in days.
pub const MOST_RETENTION_DAYS: u32 = 3_660;

/// How a program screens its referrals for fraud (`ProgramBuilder::fraud`).
///
/// Serde-configurable; every field has a default, so `{}` screens with
/// the default policy, no phone region and the built-in disposable
/// domains, keeping identity hashes until a customer is erased.
///
/// # Example
/// ```
/// use referrals::fraud::FraudSettings;
/// let settings: FraudSettings = serde_json::from_str(
///     r#"{ "identity": { "default_region": 966 }, "retention_days": 365 }"#,
/// )?;
/// assert_eq!(settings.retention_days, Some(365));
/// settings.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct FraudSettings {
    /// Which signals hold or reject which side's rewards, and the limits
    /// the checks compare with.
    pub policy: FraudPolicy,
    /// The default phone region and the disposable e-mail domains.
    pub identity: NormaliseOptions,
    /// How many days identity hashes are kept after they were first seen;
    /// `Engine::purge_expired` drops older ones. `None`: kept until the
    /// customer is erased.
    pub retention_days: Option<u32>,
    /// The share of the program's referred orders refunded in full that is
    /// normal, in basis points (default 500: 5 %), which the refund-abuse check
    /// compares a referrer's referees with.
    pub normal_refund_rate_bps: u32,
}

impl Default for FraudSettings {
    fn default() -> FraudSettings {
        FraudSettings {
            policy: FraudPolicy::default(),
            identity: NormaliseOptions::default(),
            retention_days: None,
            normal_refund_rate_bps: DEFAULT_NORMAL_REFUND_RATE_BPS,
        }
    }
}

/// The normal refund rate assumed unless a program says otherwise: 5 %.
pub const DEFAULT_NORMAL_REFUND_RATE_BPS: u32 = 500;

impl FraudSettings {
    /// The default policy with `policy` instead.
    pub fn with_policy(mut self, policy: FraudPolicy) -> FraudSettings {
        self.policy = policy;
        self
    }

    /// Reads identity with these options.
    pub fn with_identity(mut self, identity: NormaliseOptions) -> FraudSettings {
        self.identity = identity;
        self
    }

    /// Keeps identity hashes `days` after they were first seen.
    pub fn with_retention_days(mut self, days: u32) -> FraudSettings {
        self.retention_days = Some(days);
        self
    }

    /// Checks the settings, naming the first bad field.
    ///
    /// # Errors
    /// [`SettingsError`] for a retention outside 1 to 3,660 days or a
    /// normal refund rate above 100 %.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(days) = self.retention_days {
            if days == 0 || days > MOST_RETENTION_DAYS {
                return Err(SettingsError {
                    field: "retention_days",
                    message: format!("must be between 1 and {MOST_RETENTION_DAYS} days, is {days}"),
                });
            }
        }
        let limits = &self.policy.limits;
        if !(0..=MOST_SECONDS_TO_CONVERT).contains(&limits.least_seconds_to_convert) {
            return Err(SettingsError {
                field: "policy.limits.least_seconds_to_convert",
                message: format!(
                    "must be between 0 and {MOST_SECONDS_TO_CONVERT} (a day), is {}",
                    limits.least_seconds_to_convert
                ),
            });
        }
        if limits.longest_ring > MOST_RING {
            return Err(SettingsError {
                field: "policy.limits.longest_ring",
                message: format!(
                    "must be at most {MOST_RING} (each step is a read), is {}",
                    limits.longest_ring
                ),
            });
        }
        if self.normal_refund_rate_bps > 10_000 {
            return Err(SettingsError {
                field: "normal_refund_rate_bps",
                message: format!(
                    "must be at most 10000 (100 %), is {}",
                    self.normal_refund_rate_bps
                ),
            });
        }
        Ok(())
    }
}

/// A bad field of [`FraudSettings`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}
