//! The engine's one error type: a kind to match on, a message naming the
//! input that was wrong, and the precise core error as its source.

use std::error::Error as StdError;
use std::fmt;

use crate::code::{CodeParseError, VanityError};
use crate::link::LinkError;
use crate::model::{ChannelError, IdError};
use crate::money::MoneyError;
use crate::program::ProgramError;
use crate::share::TemplateError;
use crate::store::{StoreError, StoreErrorKind};

/// What kind of failure an [`Error`] is. Hosts match on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument or event field was malformed or inconsistent.
    InvalidInput,
    /// Something the call refers to does not exist (an order never
    /// recorded, a code never issued).
    NotFound,
    /// The thing to create exists already (a customer signed up twice, a
    /// vanity code taken by someone else).
    Duplicate,
    /// An event id was reused for a different event.
    IdempotencyMismatch,
    /// Concurrent writers kept winning; the engine gave up after its retry
    /// budget. Retrying the call later is safe.
    Conflict,
    /// Amounts in different currencies met.
    CurrencyMismatch,
    /// An amount left the `i64` range.
    Overflow,
    /// A limit was reached (no free code found, uses exhausted).
    LimitReached,
    /// The operation needs something this engine was not given (a code
    /// secret for derived codes).
    Unsupported,
    /// The store failed; see [`Error::is_retryable`].
    Store,
}

/// The error every engine operation returns.
///
/// `Display` joins the message and its causes with `": "`, e.g.
/// `signup.code: character 'é' at position 3 is not allowed in a referral code`.
pub struct Error {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            retryable: matches!(kind, ErrorKind::Conflict),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn invalid(field: &str, problem: impl fmt::Display) -> Error {
        Error::new(ErrorKind::InvalidInput, format!("{field}: {problem}"))
    }

    /// Wraps a money error met while handling `field`.
    pub(crate) fn money(field: &str, e: MoneyError) -> Error {
        let kind = match e {
            MoneyError::CurrencyMismatch { .. } => ErrorKind::CurrencyMismatch,
            MoneyError::Overflow { .. } => ErrorKind::Overflow,
            _ => ErrorKind::InvalidInput,
        };
        Error::new(kind, field).with_source(e)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without causes.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether calling again with the same arguments may succeed: store
    /// outages and exhausted conflict retries. Idempotency makes the retry
    /// safe: a recorded event is never applied twice.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// Whether this is [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        self.kind == ErrorKind::Conflict
    }

    /// Whether this is [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        self.kind == ErrorKind::NotFound
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("retryable", &self.retryable)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut cause = self
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static));
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        let retryable = e.is_retryable();
        let kind = match e.kind() {
            StoreErrorKind::Conflict => ErrorKind::Conflict,
            _ => ErrorKind::Store,
        };
        let mut err = Error::new(kind, "store call failed").with_source(e);
        err.retryable = retryable;
        err
    }
}

impl From<ProgramError> for Error {
    fn from(e: ProgramError) -> Error {
        Error::new(ErrorKind::InvalidInput, "invalid program").with_source(e)
    }
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Error {
        Error::new(ErrorKind::InvalidInput, "invalid identifier").with_source(e)
    }
}

impl From<ChannelError> for Error {
    fn from(e: ChannelError) -> Error {
        Error::new(ErrorKind::InvalidInput, "invalid channel").with_source(e)
    }
}

impl From<CodeParseError> for Error {
    fn from(e: CodeParseError) -> Error {
        Error::new(ErrorKind::InvalidInput, "invalid referral code").with_source(e)
    }
}

impl From<VanityError> for Error {
    fn from(e: VanityError) -> Error {
        Error::new(ErrorKind::InvalidInput, "vanity code refused").with_source(e)
    }
}

impl From<LinkError> for Error {
    fn from(e: LinkError) -> Error {
        Error::new(ErrorKind::InvalidInput, "invalid share link").with_source(e)
    }
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Error {
        Error::new(ErrorKind::InvalidInput, "share message").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_the_chain() {
        let e = Error::money(
            "conversion.amount",
            MoneyError::CurrencyMismatch {
                left: crate::Currency::SAR,
                right: crate::Currency::AED,
            },
        );
        assert_eq!(e.kind(), ErrorKind::CurrencyMismatch);
        assert_eq!(
            e.to_string(),
            "conversion.amount: currency mismatch: SAR and AED"
        );
        assert!(!e.is_retryable());
    }

    #[test]
    fn store_errors_keep_their_retryability() {
        let e: Error = StoreError::unavailable("connection reset").into();
        assert_eq!(e.kind(), ErrorKind::Store);
        assert!(e.is_retryable());
        assert_eq!(
            e.to_string(),
            "store call failed: store unavailable: connection reset"
        );
        let e: Error = StoreError::new(StoreErrorKind::Backend, "bad schema").into();
        assert!(!e.is_retryable());
    }
}
