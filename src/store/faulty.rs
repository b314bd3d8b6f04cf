//! faulty (placeholder until the store-testing branch lands)
#![allow(missing_docs, dead_code)]
pub struct Fault;
pub struct FaultPlan;
pub struct FaultyStore;
