//! Fraud signals. [`identity`]: keyed hashes of what a host knows about a
//! customer (e-mail, phone, device, IP, payment, address), comparable
//! without keeping the raw data.

pub mod identity;
