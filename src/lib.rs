//! referrals (crate docs: to be written)
#![deny(missing_docs)]

pub mod code;
pub mod link;
pub mod model;
pub mod money;
pub mod share;

pub use code::{Code, CodeFormat};
pub use link::{LinkParams, ParsedLink, ShareLink};
pub use model::Channel;
pub use money::{Currency, Money};
pub use share::{Language, ShareContext, ShareMessages, Template};
