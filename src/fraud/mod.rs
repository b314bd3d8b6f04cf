//! Fraud and abuse checks, private by design: pure functions and types
//! over plain data (no store, no engine, no clock), as the rest of the
//! core.
//!
//! - [`identity`]: what a host knows about a customer (e-mail, phone,
//!   device, IP, payment, address), normalised against the usual tricks
//!   and keyed-hashed (HMAC-SHA256 with a program secret, rotatable), so
//!   identifiers are compared without being kept.
//! - [`checks`]: the battery of explainable checks. Each returns
//!   [`Signal`](checks::Signal)s: a named check, a severity, a readable
//!   reason and the evidence (which identifier kinds matched which
//!   customer, which counts passed which limit).
//! - [`policy`]: a program's [`FraudPolicy`](policy::FraudPolicy): each
//!   signal maps to allow, hold for review or reject, per side of the
//!   referral, by rules or a weighted score; honest look-alikes (siblings
//!   on one home network) are at most held.
//! - [`FraudSettings`]: what a program screens with (`ProgramBuilder::fraud`):
//!   the policy, the identity options and the retention of hashes.
//!
//! The engine runs the checks at every signup and conversion of a program
//! with settings; `docs/fraud-tuning.md` says how to tune each check.

pub mod checks;
pub mod identity;
pub mod policy;
mod settings;

pub use settings::{
    DEFAULT_NORMAL_REFUND_RATE_BPS, FraudSettings, MOST_RETENTION_DAYS, SettingsError,
};

#[cfg(test)]
mod tests;
