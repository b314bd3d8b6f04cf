//! referrals (crate docs: to be written)
#![deny(missing_docs)]

pub mod code;
pub mod engine;
mod error;
pub mod model;
pub mod money;
pub mod program;
pub mod store;

pub use code::{Code, CodeFormat};
pub use engine::Engine;
pub use error::{Error, ErrorKind};
pub use model::Channel;
pub use money::{Currency, Money};
pub use program::Program;
pub use store::{MemoryStore, Store};
