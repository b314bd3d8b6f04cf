//! The integration tests, in one binary (`required-features = ["testing"]`)
//! so that the crate is linked once.

mod durable;
mod engine;
mod faults;
mod fraud;
mod incentives;
mod layering;
mod ledger;
mod outbox;
mod simulation;
mod store;
