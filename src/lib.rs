//! referrals (crate docs: to be written)
#![deny(missing_docs)]

pub mod code;
pub mod model;
pub mod money;

pub use code::{Code, CodeFormat};
pub use model::Channel;
pub use money::{Currency, Money};
