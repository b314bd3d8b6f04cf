//! [`LinkError`]: what was wrong with a landing page, a link or a setting.

use url::Url;

use super::MAX_LINK_LEN;
use crate::code::CodeParseError;

/// What was wrong with a landing page, a link or a parameter setting.
///
/// Each variant names the input it is about. Messages do not repeat the
/// message of their [`source`](std::error::Error::source): walk the chain
/// (or let the engine's error do it) to get e.g. `referral code "X" in
/// parameter ref is invalid: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// [`LinkParams::build`](super::LinkParams::build) was given a landing
    /// page that is not an `http` or `https` URL (e.g. `mailto:`, `ftp:`,
    /// `file:`).
    #[error("landing page {url} is not http(s)")]
    LandingNotHttp {
        /// The landing page.
        url: Url,
    },
    /// The input to [`LinkParams::parse`](super::LinkParams::parse), or a
    /// link [`LinkParams::build`](super::LinkParams::build) would make, is
    /// longer than [`MAX_LINK_LEN`].
    #[error("link is {len} bytes long, the limit is {MAX_LINK_LEN}")]
    TooLong {
        /// The input's length in bytes.
        len: usize,
    },
    /// The input to [`LinkParams::parse`](super::LinkParams::parse) has a
    /// `?` but is not a URL.
    #[error("{input:?} is not a link or query string")]
    NotALink {
        /// The input (at most its first 200 characters).
        input: String,
        /// Why the URL parser refused it.
        #[source]
        source: url::ParseError,
    },
    /// No code parameter (the configured one or a fallback) with a
    /// non-empty value was found.
    #[error("no referral code parameter in {input:?}")]
    MissingCode {
        /// The input (at most its first 200 characters).
        input: String,
    },
    /// The code parameter's value is not a valid code.
    #[error("referral code {value:?} in parameter {param} is invalid")]
    InvalidCode {
        /// The parameter name as it appeared in the link (e.g. `REF`).
        param: String,
        /// The decoded value (at most its first 200 characters).
        value: String,
        /// Why the code format refused it.
        #[source]
        source: CodeParseError,
    },
    /// A [`LinkParams`](super::LinkParams) setting is empty, too long,
    /// holds a control character, or clashes with another parameter name.
    #[error("link setting {setting} = {value:?} is not valid: {reason}")]
    InvalidParam {
        /// Which setting, e.g. `code_param`.
        setting: &'static str,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
}
