//! Attribution: which referrers earn the reward for a purchase
//! (per-conversion credit), and which channels drive referred sales
//! (channel analysis over many journeys, in [`channel`]).

pub mod channel;
