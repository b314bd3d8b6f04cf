//! Attribution: which referrers earn the reward for a purchase
//! (per-conversion credit, this module's functions), and which channels
//! drive referred sales (channel analysis over many journeys, in
//! `channel`, feature `channels`, on by default).
//!
//! Per-conversion credit is what the engine uses: the program's
//! [`AttributionPolicy`] decides who is the referrer of a signup and how a
//! conversion's referrer reward is shared. Analysts can call [`attribute`]
//! directly on their own journeys.

#[cfg(feature = "channels")]
#[cfg_attr(docsrs, doc(cfg(feature = "channels")))]
pub mod channel;
mod credit;

pub use credit::{
    Attribution, AttributionPolicy, Credit, Model, PPB, PolicyError, Share, TouchPoint, attribute,
};
