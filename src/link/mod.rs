//! Share links: put a referral code, channel and campaign into a landing-page
//! URL, and read them back out of whatever a visitor's browser, app or
//! clipboard hands the host.
//!
//! ```
//! use referrals::{Channel, Code, CodeFormat, ShareLink};
//! use url::Url;
//!
//! let landing = Url::parse("https://bakery.example/menu?lang=ar#cakes")?;
//! let code = Code::from_canonical("7K3MQ9XDS")?;
//! let link = ShareLink::build(&landing, &code, &Channel::WhatsApp, Some("رمضان"))?;
//! assert_eq!(
//!     link.as_str(),
//!     "https://bakery.example/menu?lang=ar&ref=7K3MQ9XDS&utm_source=whatsapp\
//!      &utm_medium=referral&utm_campaign=%D8%B1%D9%85%D8%B6%D8%A7%D9%86#cakes"
//! );
//!
//! let parsed = ShareLink::parse(link.as_str(), &CodeFormat::default())?;
//! assert_eq!(parsed.code, code);
//! assert_eq!(parsed.channel, Some(Channel::WhatsApp));
//! assert_eq!(parsed.campaign.as_deref(), Some("رمضان"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! * [`LinkParams`] holds the query-parameter names (`ref`, `utm_source`,
//!   `utm_medium`, `utm_campaign`) and the medium value (`referral`), and
//!   does the work: [`LinkParams::build`] and [`LinkParams::parse`].
//! * [`ShareLink`] is a namespace whose functions use
//!   [`LinkParams::default()`]; most hosts need nothing else.
//! * All URL and query handling goes through the `url` crate (a WHATWG URL
//!   parser and `application/x-www-form-urlencoded` codec): links come from
//!   strangers, and hand-written splitting gets percent-encoding, `+` and
//!   `#` wrong.
//!
//! # Untrusted input
//!
//! [`LinkParams::parse`] takes any string and never panics; it is
//! property-tested with arbitrary text and with strings assembled from
//! URL-like pieces. Inputs longer than [`MAX_LINK_LEN`] bytes are refused
//! before parsing, and error messages quote at most the first 200
//! characters of the input.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::code::{Code, CodeFormat};
use crate::model::Channel;

// One concern a file: the error, the parameter settings (and their serde
// shape), building a link, reading one (and the query handling it needs),
// and the tests. The public API is defined or re-exported here. The tests
// are declared last: tests/layering.rs reads a file's code only up to its
// first `#[cfg(test)]`.
mod build;
mod error;
mod params;
mod parse;

pub use error::LinkError;
pub use params::LinkParams;

/// Longest input [`LinkParams::parse`] reads, in bytes.
///
/// Real share links are well under 2 KiB even with tracking parameters from
/// ad networks; 16 KiB leaves room for those and keeps a hostile caller from
/// making the server parse megabytes.
pub const MAX_LINK_LEN: usize = 16 * 1024;

/// Longest parameter name or medium value [`LinkParams`] accepts, in bytes.
pub const MAX_PARAM_LEN: usize = 64;

/// Code parameter names tried, case-insensitively and in this order, after
/// the configured one when reading a link.
///
/// Hand-made links, older links of a host and other referral tools use these
/// names.
pub const CODE_PARAM_FALLBACKS: [&str; 4] = ["ref", "code", "referral", "referral_code"];

/// How many characters of an offending input an error message quotes.
const EXCERPT_CHARS: usize = 200;

/// The parts of a referral link read by [`LinkParams::parse`].
///
/// Serialises as `{"code":"7K3MQ9XDS","channel":"whatsapp","campaign":null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ParsedLink {
    /// The referral code, in canonical form.
    pub code: Code,
    /// The channel from the source parameter (`utm_source`), if it named a
    /// known channel or a valid custom channel name.
    pub channel: Option<Channel>,
    /// The campaign parameter (`utm_campaign`), decoded, if present and
    /// non-empty.
    pub campaign: Option<String>,
}

/// Builds and reads referral links with the default parameter names.
///
/// A namespace with no values: each function is the [`LinkParams`] method of
/// the same name on [`LinkParams::default()`] (`ref`, `utm_source`,
/// `utm_medium=referral`, `utm_campaign`).
#[derive(Debug)]
pub enum ShareLink {}

impl ShareLink {
    /// Adds a referral code, channel and campaign to a landing page, with
    /// the default parameter names.
    ///
    /// See [`LinkParams::build`] for what is kept, replaced and encoded.
    ///
    /// # Errors
    /// [`LinkError::LandingNotHttp`] if `landing` is not `http`/`https`.
    ///
    /// # Example: a WhatsApp link
    /// ```
    /// use referrals::{Channel, Code, ShareLink};
    /// use url::Url;
    ///
    /// let landing = Url::parse("https://bakery.example/")?;
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let link = ShareLink::build(&landing, &code, &Channel::WhatsApp, None)?;
    /// assert_eq!(
    ///     link.as_str(),
    ///     "https://bakery.example/?ref=7K3MQ9XDS&utm_source=whatsapp&utm_medium=referral"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an Arabic campaign with spaces, and an old `ref` replaced
    /// ```
    /// use referrals::{Channel, Code, ShareLink};
    /// use url::Url;
    ///
    /// let landing = Url::parse("https://bakery.example/?ref=OLD&size=L#top")?;
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let link = ShareLink::build(&landing, &code, &Channel::Sms, Some("عيد سعيد & more"))?;
    /// assert_eq!(
    ///     link.as_str(),
    ///     "https://bakery.example/?size=L&ref=7K3MQ9XDS&utm_source=sms&utm_medium=referral\
    ///      &utm_campaign=%D8%B9%D9%8A%D8%AF+%D8%B3%D8%B9%D9%8A%D8%AF+%26+more#top"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(
        landing: &Url,
        code: &Code,
        channel: &Channel,
        campaign: Option<&str>,
    ) -> Result<Url, LinkError> {
        LinkParams::default().build(landing, code, channel, campaign)
    }

    /// Reads the code, channel and campaign out of a link or query string,
    /// with the default parameter names.
    ///
    /// See [`LinkParams::parse`] for the accepted inputs and the order in
    /// which parameters are tried.
    ///
    /// # Errors
    /// [`LinkError::MissingCode`] if there is no code parameter,
    /// [`LinkError::InvalidCode`] if its value is not a code,
    /// [`LinkError::TooLong`] and [`LinkError::NotALink`] for input that is
    /// not a link at all.
    ///
    /// # Example: a link pasted without its scheme
    /// ```
    /// use referrals::{Channel, CodeFormat, ShareLink};
    ///
    /// let parsed = ShareLink::parse(
    ///     "bakery.example/?ref=7K3MQ9XDS&utm_source=telegram",
    ///     &CodeFormat::default(),
    /// )?;
    /// assert_eq!(parsed.code.as_str(), "7K3MQ9XDS");
    /// assert_eq!(parsed.channel, Some(Channel::Telegram));
    /// assert_eq!(parsed.campaign, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: a bare query string with an Arabic campaign and a fallback name
    /// ```
    /// use referrals::{CodeFormat, ShareLink};
    ///
    /// let parsed = ShareLink::parse(
    ///     "Referral_Code=7K3MQ9XDS&utm_campaign=%D8%B9%D9%8A%D8%AF+%D8%B3%D8%B9%D9%8A%D8%AF",
    ///     &CodeFormat::default(),
    /// )?;
    /// assert_eq!(parsed.code.as_str(), "7K3MQ9XDS");
    /// assert_eq!(parsed.campaign.as_deref(), Some("عيد سعيد"));
    /// assert!(ShareLink::parse("?utm_source=x", &CodeFormat::default()).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(input: &str, format: &CodeFormat) -> Result<ParsedLink, LinkError> {
        LinkParams::default().parse(input, format)
    }
}

/// At most the first [`EXCERPT_CHARS`] characters of `text`, marked with
/// `…` when cut, so that errors about hostile input stay loggable.
fn excerpt(text: &str) -> String {
    crate::text::excerpt(text, EXCERPT_CHARS)
}

#[cfg(test)]
mod tests;
