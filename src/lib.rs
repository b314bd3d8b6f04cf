//! Referral tracking you embed in your own Rust backend: codes and share
//! links, touches and signups, attribution over a lookback window (last or
//! first touch, linear, time decay, position based, custom weights),
//! two-sided rewards booked to an exact ledger and clawed back on refunds,
//! over a store you plug in.
//!
//! # Quickstart
//!
//! A bakery in Riyadh pays 15 SAR to a customer who brings a friend, and
//! 10 SAR to the friend, after the friend's first order:
//!
//! ```
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use referrals::engine::{block_on, ConversionOutcome};
//! use referrals::model::{Actor, Conversion, CustomerId, EventId, OrderId, Signup, Touch, TouchKind, VisitorId};
//! use referrals::{Channel, Currency, Engine, MemoryStore, Money, Program};
//!
//! let sar = |minor| Money::new(minor, Currency::SAR);
//! let program = Program::builder("bakery", "Bakery friends")
//!     .currency(Currency::SAR)
//!     .terms(1, "15 SAR for you, 10 SAR for your friend after their first order.")
//!     .lookback_days(30)
//!     .two_sided_reward(sar(1500), sar(1000))
//!     .build()?;
//! let engine = Engine::new(MemoryStore::new(), program);
//! let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
//!
//! block_on(async {
//!     // Amira gets her code and shares it on WhatsApp.
//!     let amira = CustomerId::new("amira")?;
//!     let code = engine.issue_code(&amira, now).await?.record.code;
//!
//!     // A friend clicks the link, signs up and orders.
//!     let visitor = VisitorId::new("cookie-42")?;
//!     engine.record_touch(&Touch {
//!         id: EventId::new("click-1")?,
//!         actor: Actor::Visitor(visitor.clone()),
//!         code,
//!         channel: Channel::WhatsApp,
//!         kind: TouchKind::Click,
//!         at: now,
//!     }).await?;
//!     let badr = CustomerId::new("badr")?;
//!     engine.record_signup(&Signup {
//!         id: EventId::new("signup-1")?,
//!         customer: badr.clone(),
//!         visitor: Some(visitor),
//!         code: None,
//!         channel: None,
//!         at: now + TimeDelta::minutes(5),
//!     }).await?;
//!     let outcome = engine.record_conversion(&Conversion {
//!         order: OrderId::new("order-1")?,
//!         customer: badr.clone(),
//!         amount: sar(12_000),
//!         at: now + TimeDelta::days(2),
//!     }).await?;
//!
//!     assert!(matches!(outcome, ConversionOutcome::Rewarded { .. }));
//!     assert_eq!(engine.balance(&amira).await?, sar(1500));
//!     assert_eq!(engine.balance(&badr).await?, sar(1000));
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! Three layers (see [`_documentation::architecture`]):
//!
//! - **A pure core**: [`money`], [`model`], [`code`], [`link`], [`share`],
//!   [`attribution`], [`program`], [`reward`], [`incentive`], [`ledger`]
//!   and [`fraud`] are plain types and functions with no I/O. Time comes in
//!   as an argument; randomness through an injected RNG.
//! - **One storage seam**: the [`Store`] trait. [`MemoryStore`] is the
//!   embedded default; durable stores over SQLite and PostgreSQL come with
//!   features `sqlite` and `postgres`; your application can implement
//!   `Store` over its own database and check it with the conformance suite
//!   (feature `testing`).
//! - **The [`Engine`]**: reads from the store, decides with pure code
//!   ([`engine::decide`]), and applies each decision in one atomic,
//!   conditional [`Store::commit`]. Every event is idempotent by its id.
//!
//! # Features
//!
//! What it does:
//!
//! - Codes in Crockford base32 with a check character that catches every
//!   single typo and adjacent swap; random or derived from a secret; vanity
//!   codes; expiry, use limits, deactivation. Typed input is read forgivingly
//!   (lower case, `I`/`L`/`O`, dashes and spaces, Arabic-Indic digits,
//!   full-width forms, invisible bidi marks) and typos get suggestions.
//! - Share links with UTM parameters, and share texts per channel in English
//!   and Arabic that render correctly right to left.
//! - Touches, signups, conversions and refunds; attribution within a
//!   lookback window by last touch, first touch, linear, time decay, position
//!   based or custom weights, with shares that add up to exactly one;
//!   self-referral refused.
//! - Channel analysis over millions of journeys: heuristic models, exact
//!   Markov removal effects and Shapley values ([`attribution::channel`]).
//! - A fixed two-sided reward, or incentive rules ([`incentive`]:
//!   triggers, conditions, tiers, milestones, campaigns, stacking,
//!   experiments, contests, with a trace per rule), paid through the reward
//!   ledger ([`ledger`]): holds, review, expiry, redemption, coupons,
//!   budgets and caps, clawbacks and debts on refunds, a fulfilment outbox.
//! - Durable stores over SQLite and PostgreSQL on your own `sqlx` pool.
//! - Fraud checks ([`fraud`]): identity signals keyed-hashed on entry,
//!   explainable checks and a per-program policy (pure; not yet run by the
//!   engine).
//!
//! What it does not do yet: fraud checks run by the engine with a review
//! queue, erasure and export of a customer's data, program analytics. Those
//! come on top of the same seams.
//!
//! # Usage
//!
//! Build a [`Program`], wrap a store in an [`Engine`], and report events as
//! they happen in your application, passing the time of each. Every "no" the
//! engine gives carries an [`engine::Reason`]. Errors carry an
//! [`ErrorKind`]; [`Error::is_retryable`] says whether the same call may
//! succeed later, and retrying an event is always safe.
//!
//! From synchronous code, drive the engine with [`engine::block_on`] (enough
//! for [`MemoryStore`]) or your runtime's `block_on`.
//!
//! # Crate features
//!
//! - `channels` (default): channel analysis for analysts
//!   (`attribution::channel`, `examples/channel_report.rs`), the one part
//!   of the crate that reads files, spawns threads and holds `unsafe`
//!   (SIMD scans, huge-page advice, in one module). Build with
//!   `default-features = false` for the engine alone.
//! - `testing`: the store conformance suite (`store::conformance`) and the
//!   seeded fault-injecting `store::FaultyStore`, for testing your own
//!   `Store`. Pulls in tokio. Outside semver.
//! - `sqlite`, `postgres`: `store::SqliteStore` and `store::PostgresStore`,
//!   built on `sqlx` 0.8 (re-exported as `referrals::sqlx`) and tokio; no
//!   TLS feature of sqlx is enabled (yours decide).
//!
//! The default build has no async runtime, database driver or HTTP
//! dependency.
//!
//! # The `url` and `rand` crates
//!
//! Two dependencies are part of this crate's API: [`ShareLink::build`] and
//! [`LinkParams::build`] take and return a [`url::Url`], and
//! [`CodeFormat::random`] and [`Engine::with_rng`] take a `rand` 0.9
//! [`RngCore`](rand::RngCore). Both crates are re-exported at the root, as
//! [`referrals::url`](url) and [`referrals::rand`](rand): use them from
//! there rather than adding them to your `Cargo.toml`, so their versions
//! cannot drift from this crate's (a `url` or `rand` of another major
//! version has types of the same name that do not fit).
//!
//! ```
//! use referrals::rand::{SeedableRng, rngs::StdRng};
//! use referrals::url::Url;
//! use referrals::{Channel, CodeFormat, ShareLink};
//!
//! let code = CodeFormat::default().random(&mut StdRng::from_os_rng());
//! let landing = Url::parse("https://bakery.example/welcome")?;
//! let link: Url = ShareLink::build(&landing, &code, &Channel::WhatsApp, None)?;
//! assert_eq!(link.host_str(), Some("bakery.example"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Untrusted input
//!
//! Codes, links and ids come from strangers. No parser in this crate panics
//! on any input: [`CodeFormat::parse`], [`link::ShareLink::parse`],
//! [`share::Template::parse`], [`Money::parse`], the journey readers
//! ([`attribution::channel::read`]) and the id constructors are
//! fuzzed with arbitrary strings in property tests, return typed errors that
//! say what was wrong (the code parser names the offending character and its
//! position, the readers the line), and never allocate more than a small
//! multiple of their input.

#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![deny(rustdoc::broken_intra_doc_links)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod attribution;
pub mod code;
pub mod engine;
mod error;
pub mod fraud;
pub mod incentive;
pub mod ledger;
pub mod link;
pub mod model;
pub mod money;
pub mod program;
pub mod reward;
pub mod share;
pub mod store;
mod text;

pub use code::{Code, CodeFormat};
pub use engine::Engine;
pub use error::{Error, ErrorKind};
pub use link::{LinkParams, ParsedLink, ShareLink};
pub use model::Channel;
pub use money::{Currency, Money};
pub use program::Program;
pub use share::{Language, ShareContext, ShareMessages, Template};
pub use store::{MemoryStore, Store};

/// The `rand` crate (0.9) whose [`RngCore`](rand::RngCore) is taken by
/// [`CodeFormat::random`] and [`Engine::with_rng`], re-exported so that the
/// version you use cannot drift from this crate's.
pub use rand;
/// `sqlx`, re-exported so the pool a host builds and the one the durable
/// stores take are one version: build pools with `referrals::sqlx`, or
/// depend on the same `sqlx` minor version (0.8).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use sqlx;
/// The `url` crate whose [`Url`](url::Url) [`ShareLink::build`] and
/// [`LinkParams::build`] take and return, re-exported so that the version
/// you use cannot drift from this crate's.
pub use url;

/// Long-form documentation: architecture, design notes and changes.
pub mod _documentation {
    /// The architecture: layers, code map, invariants.
    #[doc = include_str!("../ARCHITECTURE.md")]
    pub mod architecture {}
    /// Design decisions, as questions and answers.
    #[doc = include_str!("../DESIGN.md")]
    pub mod design {}
    /// The changelog.
    #[doc = include_str!("../CHANGELOG.md")]
    pub mod changelog {}
}

#[cfg(test)]
mod tests {
    /// Issue 13: `url` and `rand` types are in the API but were not
    /// re-exported, and no doc said which versions to add.
    #[test]
    fn url_and_rand_are_reexported_at_the_root() {
        use crate::rand::SeedableRng;
        let mut rng = crate::rand::rngs::StdRng::seed_from_u64(7);
        let code = crate::CodeFormat::default().random(&mut rng);
        let landing = crate::url::Url::parse("https://bakery.example/").unwrap();
        let link: crate::url::Url =
            crate::ShareLink::build(&landing, &code, &crate::Channel::Sms, None).unwrap();
        assert_eq!(link.host_str(), Some("bakery.example"));
        let _engine = crate::Engine::new(
            crate::MemoryStore::new(),
            crate::Program::builder("p", "P")
                .currency(crate::Currency::SAR)
                .two_sided_reward(
                    crate::Money::new(1, crate::Currency::SAR),
                    crate::Money::new(1, crate::Currency::SAR),
                )
                .build()
                .unwrap(),
        )
        .with_rng(rng);
    }
}

/// The README's examples run as doctests, so the README cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
