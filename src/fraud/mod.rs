//! Fraud and abuse checks, private by design: pure functions and types
//! over plain data (no store, no engine, no clock), as the rest of the
//! core.
//!
//! - [`checks`]: the battery of explainable checks. Each returns
//!   [`Signal`](checks::Signal)s: a named check, a severity, a readable
//!   reason and the evidence (which hashed identifiers matched which
//!   customer, which counts passed which limit).
//! - [`policy`]: a program's [`FraudPolicy`](policy::FraudPolicy): each
//!   signal maps to allow, hold for review or reject, per side of the
//!   referral, by thresholds or a weighted score; honest look-alikes
//!   (siblings on one home network) are at most held.

pub mod checks;
pub mod policy;
