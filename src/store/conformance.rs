//! conformance (placeholder until the store-testing branch lands)
