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

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;
use url::form_urlencoded;

use crate::code::{Code, CodeFormat, CodeParseError};
use crate::model::Channel;
use crate::text::is_bidi_format;

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

/// Base for reading links without a scheme and bare query strings as
/// relative references (`shop.example/?ref=…`, `?ref=…`). `.invalid` is
/// reserved (RFC 2606), so this never names a real host.
const RELATIVE_BASE: &str = "https://link.invalid/";

/// What was wrong with a landing page, a link or a parameter setting.
///
/// Each variant names the input it is about. Messages do not repeat the
/// message of their [`source`](std::error::Error::source): walk the chain
/// (or let the engine's error do it) to get e.g. `referral code "X" in
/// parameter ref is invalid: <why>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// [`LinkParams::build`] was given a landing page that is not an
    /// `http` or `https` URL (e.g. `mailto:`, `ftp:`, `file:`).
    #[error("landing page {url} is not http(s)")]
    LandingNotHttp {
        /// The landing page.
        url: Url,
    },
    /// The input to [`LinkParams::parse`], or a link
    /// [`LinkParams::build`] would make, is longer than [`MAX_LINK_LEN`].
    #[error("link is {len} bytes long, the limit is {MAX_LINK_LEN}")]
    TooLong {
        /// The input's length in bytes.
        len: usize,
    },
    /// The input to [`LinkParams::parse`] has a `?` but is not a URL.
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
    /// A [`LinkParams`] setting is empty, too long, holds a control
    /// character, or clashes with another parameter name.
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

/// Query-parameter names and the medium value of a program's share links.
///
/// Defaults: `ref`, `utm_source`, `utm_medium`, `utm_campaign`, and medium
/// value `referral`. Names are matched case-insensitively (ASCII) when
/// replacing and reading parameters, and must differ from each other in
/// that sense.
///
/// Serialises as an object with the fields `code_param`, `source_param`,
/// `medium_param`, `campaign_param` and `medium_value`; missing fields take
/// their defaults and every value is validated on deserialisation.
///
/// # Example: a host that uses `invite` and its own source name
/// ```
/// use referrals::{Channel, Code, CodeFormat, LinkParams};
/// use url::Url;
///
/// let params = LinkParams::default()
///     .with_code_param("invite")?
///     .with_source_param("src")?;
/// let code = Code::from_canonical("7K3MQ9XDS")?;
/// let landing = Url::parse("https://bakery.example/")?;
/// let link = params.build(&landing, &code, &Channel::Email, None)?;
/// assert_eq!(
///     link.as_str(),
///     "https://bakery.example/?invite=7K3MQ9XDS&src=email&utm_medium=referral"
/// );
/// assert_eq!(params.parse(link.as_str(), &CodeFormat::default())?.code, code);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: settings from JSON, validated
/// ```
/// use referrals::LinkParams;
///
/// let params: LinkParams = serde_json::from_str(r#"{"code_param":"invite"}"#)?;
/// assert_eq!(params.code_param(), "invite");
/// assert_eq!(params.source_param(), "utm_source");
/// assert!(serde_json::from_str::<LinkParams>(r#"{"code_param":"UTM_SOURCE"}"#).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LinkParamsRepr", into = "LinkParamsRepr")]
pub struct LinkParams {
    code_param: String,
    source_param: String,
    medium_param: String,
    campaign_param: String,
    medium_value: String,
}

/// The serde shape of [`LinkParams`]: validated by `TryFrom` on the way in.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LinkParamsRepr {
    code_param: String,
    source_param: String,
    medium_param: String,
    campaign_param: String,
    medium_value: String,
}

impl Default for LinkParamsRepr {
    fn default() -> Self {
        LinkParams::default().into()
    }
}

impl From<LinkParams> for LinkParamsRepr {
    fn from(p: LinkParams) -> Self {
        LinkParamsRepr {
            code_param: p.code_param,
            source_param: p.source_param,
            medium_param: p.medium_param,
            campaign_param: p.campaign_param,
            medium_value: p.medium_value,
        }
    }
}

impl TryFrom<LinkParamsRepr> for LinkParams {
    type Error = LinkError;

    fn try_from(r: LinkParamsRepr) -> Result<Self, LinkError> {
        LinkParams::default()
            .with_medium_value(&r.medium_value)?
            .with_all_names(
                &r.code_param,
                &r.source_param,
                &r.medium_param,
                &r.campaign_param,
            )
    }
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            code_param: "ref".to_owned(),
            source_param: "utm_source".to_owned(),
            medium_param: "utm_medium".to_owned(),
            campaign_param: "utm_campaign".to_owned(),
            medium_value: "referral".to_owned(),
        }
    }
}

impl fmt::Debug for LinkParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkParams")
            .field("code_param", &self.code_param)
            .field("source_param", &self.source_param)
            .field("medium_param", &self.medium_param)
            .field("campaign_param", &self.campaign_param)
            .field("medium_value", &self.medium_value)
            .finish()
    }
}

/// Checks one name or value setting on its own.
fn check_setting(setting: &'static str, value: &str) -> Result<(), LinkError> {
    let reject = |reason| LinkError::InvalidParam {
        setting,
        value: excerpt(value),
        reason,
    };
    if value.is_empty() {
        return Err(reject("it is empty"));
    }
    if value.len() > MAX_PARAM_LEN {
        return Err(reject("it is longer than 64 bytes"));
    }
    if value.chars().any(char::is_control) {
        return Err(reject("it holds a control character"));
    }
    Ok(())
}

impl LinkParams {
    /// The name of the code parameter (default `ref`).
    ///
    /// # Example: default and custom
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().code_param(), "ref");
    /// assert_eq!(LinkParams::default().with_code_param("invite")?.code_param(), "invite");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn code_param(&self) -> &str {
        &self.code_param
    }

    /// The name of the channel parameter (default `utm_source`).
    ///
    /// # Example: default and custom
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().source_param(), "utm_source");
    /// assert_eq!(LinkParams::default().with_source_param("src")?.source_param(), "src");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn source_param(&self) -> &str {
        &self.source_param
    }

    /// The name of the medium parameter (default `utm_medium`).
    ///
    /// # Example: default and custom
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().medium_param(), "utm_medium");
    /// assert_eq!(LinkParams::default().with_medium_param("medium")?.medium_param(), "medium");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn medium_param(&self) -> &str {
        &self.medium_param
    }

    /// The name of the campaign parameter (default `utm_campaign`).
    ///
    /// # Example: default and custom
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().campaign_param(), "utm_campaign");
    /// assert_eq!(LinkParams::default().with_campaign_param("حملة")?.campaign_param(), "حملة");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn campaign_param(&self) -> &str {
        &self.campaign_param
    }

    /// The value written to the medium parameter (default `referral`).
    ///
    /// # Example: default and custom
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().medium_value(), "referral");
    /// assert_eq!(LinkParams::default().with_medium_value("friend")?.medium_value(), "friend");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn medium_value(&self) -> &str {
        &self.medium_value
    }

    /// Sets the name of the code parameter.
    ///
    /// # Errors
    /// [`LinkError::InvalidParam`] if `name` is empty, longer than
    /// [`MAX_PARAM_LEN`] bytes, holds a control character or equals
    /// (ignoring ASCII case) another parameter name.
    ///
    /// # Example: `?invite=…`, and a clash refused
    /// ```
    /// use referrals::LinkParams;
    /// let params = LinkParams::default().with_code_param("invite")?;
    /// assert_eq!(params.code_param(), "invite");
    /// assert!(LinkParams::default().with_code_param("utm_campaign").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_code_param(self, name: &str) -> Result<LinkParams, LinkError> {
        let (s, m, c) = (
            self.source_param.clone(),
            self.medium_param.clone(),
            self.campaign_param.clone(),
        );
        self.with_all_names(name, &s, &m, &c)
    }

    /// Sets the name of the channel parameter.
    ///
    /// # Errors
    /// As [`with_code_param`](Self::with_code_param).
    ///
    /// # Example: `?src=whatsapp`
    /// ```
    /// use referrals::LinkParams;
    /// let params = LinkParams::default().with_source_param("src")?;
    /// assert_eq!(params.source_param(), "src");
    /// assert!(LinkParams::default().with_source_param("").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_source_param(self, name: &str) -> Result<LinkParams, LinkError> {
        let (k, m, c) = (
            self.code_param.clone(),
            self.medium_param.clone(),
            self.campaign_param.clone(),
        );
        self.with_all_names(&k, name, &m, &c)
    }

    /// Sets the name of the medium parameter.
    ///
    /// # Errors
    /// As [`with_code_param`](Self::with_code_param).
    ///
    /// # Example: `?medium=referral`
    /// ```
    /// use referrals::LinkParams;
    /// let params = LinkParams::default().with_medium_param("medium")?;
    /// assert_eq!(params.medium_param(), "medium");
    /// assert!(LinkParams::default().with_medium_param("REF").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_medium_param(self, name: &str) -> Result<LinkParams, LinkError> {
        let (k, s, c) = (
            self.code_param.clone(),
            self.source_param.clone(),
            self.campaign_param.clone(),
        );
        self.with_all_names(&k, &s, name, &c)
    }

    /// Sets the name of the campaign parameter.
    ///
    /// # Errors
    /// As [`with_code_param`](Self::with_code_param).
    ///
    /// # Example: `?campaign=…`
    /// ```
    /// use referrals::LinkParams;
    /// let params = LinkParams::default().with_campaign_param("campaign")?;
    /// assert_eq!(params.campaign_param(), "campaign");
    /// assert!(LinkParams::default().with_campaign_param("a\nb").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_campaign_param(self, name: &str) -> Result<LinkParams, LinkError> {
        let (k, s, m) = (
            self.code_param.clone(),
            self.source_param.clone(),
            self.medium_param.clone(),
        );
        self.with_all_names(&k, &s, &m, name)
    }

    /// Sets the value written to the medium parameter.
    ///
    /// # Errors
    /// [`LinkError::InvalidParam`] if `value` is empty, longer than
    /// [`MAX_PARAM_LEN`] bytes or holds a control character.
    ///
    /// # Example: `utm_medium=invite`, or in Arabic
    /// ```
    /// use referrals::LinkParams;
    /// assert_eq!(LinkParams::default().with_medium_value("invite")?.medium_value(), "invite");
    /// assert_eq!(LinkParams::default().with_medium_value("إحالة")?.medium_value(), "إحالة");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_medium_value(mut self, value: &str) -> Result<LinkParams, LinkError> {
        check_setting("medium_value", value)?;
        self.medium_value = value.to_owned();
        Ok(self)
    }

    /// Validates and sets all four names at once, so that a clash is judged
    /// on the final set of names rather than on an intermediate one.
    fn with_all_names(
        mut self,
        code: &str,
        source: &str,
        medium: &str,
        campaign: &str,
    ) -> Result<LinkParams, LinkError> {
        let names = [
            ("code_param", code),
            ("source_param", source),
            ("medium_param", medium),
            ("campaign_param", campaign),
        ];
        for (setting, name) in names {
            check_setting(setting, name)?;
        }
        for (i, (setting, name)) in names.iter().enumerate() {
            if names[..i]
                .iter()
                .any(|(_, earlier)| earlier.eq_ignore_ascii_case(name))
            {
                return Err(LinkError::InvalidParam {
                    setting,
                    value: excerpt(name),
                    reason: "another link parameter has the same name",
                });
            }
        }
        self.code_param = code.to_owned();
        self.source_param = source.to_owned();
        self.medium_param = medium.to_owned();
        self.campaign_param = campaign.to_owned();
        Ok(self)
    }

    /// Whether `key` is one of the four parameters this crate writes.
    fn is_own_param(&self, key: &str) -> bool {
        [
            &self.code_param,
            &self.source_param,
            &self.medium_param,
            &self.campaign_param,
        ]
        .iter()
        .any(|name| name.eq_ignore_ascii_case(key))
    }

    /// Adds a referral code, channel and campaign to a landing page.
    ///
    /// The result is `landing` with, appended to its query in this order:
    /// the code parameter with the canonical code, the source parameter
    /// with [`Channel::as_str`], the medium parameter with the medium value,
    /// and the campaign parameter when `campaign` is given. Bidi formatting
    /// characters at the ends of the campaign are dropped and an empty (or
    /// whitespace-only) campaign is the same as none, because that is how
    /// [`parse`](Self::parse) reads them back.
    ///
    /// * The landing page's other query parameters are kept byte for byte
    ///   and in order; its fragment is kept.
    /// * Existing parameters named like any of the four (ignoring ASCII
    ///   case, so `REF` and `UTM_Source` too) are removed first: the link
    ///   carries one code and one attribution, never two that disagree.
    /// * Values are `application/x-www-form-urlencoded`: spaces become `+`,
    ///   `&`, `=`, `#`, `+` and every non-ASCII character (Arabic campaign
    ///   names) are percent-encoded as UTF-8, so the campaign reads back
    ///   exactly.
    ///
    /// # Errors
    /// [`LinkError::LandingNotHttp`] if `landing` is not `http`/`https`
    /// (share links are opened in browsers; `mailto:` or `file:` landing
    /// pages are configuration mistakes); [`LinkError::TooLong`] if the
    /// link would be longer than [`MAX_LINK_LEN`] (its own reader would
    /// refuse it). Every channel reads back as itself: a custom channel's
    /// name is valid by construction.
    ///
    /// # Example: a landing page with a query and a fragment
    /// ```
    /// use referrals::{Channel, Code, LinkParams};
    /// use url::Url;
    ///
    /// let landing = Url::parse("https://bakery.example/order?size=L&utm_source=old#pay")?;
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let link = LinkParams::default().build(&landing, &code, &Channel::Qr, Some("spring"))?;
    /// assert_eq!(
    ///     link.as_str(),
    ///     "https://bakery.example/order?size=L&ref=7K3MQ9XDS&utm_source=qr\
    ///      &utm_medium=referral&utm_campaign=spring#pay"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an Arabic campaign, and a landing page that is not http(s)
    /// ```
    /// use referrals::{Channel, Code, LinkParams};
    /// use url::Url;
    ///
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let landing = Url::parse("http://bakery.example")?;
    /// let link = LinkParams::default().build(&landing, &code, &Channel::X, Some("خصم=٢٥٪"))?;
    /// assert!(link.as_str().ends_with(
    ///     "&utm_campaign=%D8%AE%D8%B5%D9%85%3D%D9%A2%D9%A5%D9%AA"
    /// ));
    ///
    /// let mail = Url::parse("mailto:shop@bakery.example")?;
    /// let err = LinkParams::default().build(&mail, &code, &Channel::X, None).unwrap_err();
    /// assert_eq!(err.to_string(), "landing page mailto:shop@bakery.example is not http(s)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(
        &self,
        landing: &Url,
        code: &Code,
        channel: &Channel,
        campaign: Option<&str>,
    ) -> Result<Url, LinkError> {
        if !matches!(landing.scheme(), "http" | "https") {
            return Err(LinkError::LandingNotHttp {
                url: landing.clone(),
            });
        }

        // Keep the other parameters as raw `k=v` segments rather than
        // decoding and re-encoding them: re-encoding would turn `%20` into
        // `+` and `flag` into `flag=`, which some landing pages treat
        // differently.
        let kept: String = landing
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|segment| !segment.is_empty())
            .filter(|segment| {
                form_urlencoded::parse(segment.as_bytes())
                    .next()
                    .is_none_or(|(key, _)| !self.is_own_param(&key))
            })
            .collect::<Vec<_>>()
            .join("&");
        // `for_suffix(kept, 0)` appends after the kept segments, adding the
        // `&` between them when there are any.
        let mut query = form_urlencoded::Serializer::for_suffix(kept, 0);
        query
            .append_pair(&self.code_param, code.as_str())
            .append_pair(&self.source_param, channel.as_str())
            .append_pair(&self.medium_param, &self.medium_value);
        if let Some(campaign) = campaign.map(normalize_campaign).filter(|c| !is_blank(c)) {
            query.append_pair(&self.campaign_param, campaign);
        }
        let query = query.finish();
        let mut link = landing.clone();
        link.set_query(Some(&query));
        // A link its own reader would refuse must not be handed out.
        if link.as_str().len() > MAX_LINK_LEN {
            return Err(LinkError::TooLong {
                len: link.as_str().len(),
            });
        }
        Ok(link)
    }
}

impl LinkParams {
    /// Reads the code, channel and campaign out of a link or query string.
    ///
    /// # Accepted input
    /// Leading and trailing whitespace is ignored, then the input is read as
    /// * a full URL (`https://shop.example/p?ref=…`, also app deep links
    ///   such as `bakery://invite?ref=…`);
    /// * a URL without a scheme (`shop.example/?ref=…`), or a bare query
    ///   string starting with `?` (`?ref=…&utm_source=whatsapp`); both are
    ///   resolved as references relative to a placeholder base URL;
    /// * a bare query string without `?` (`ref=…&utm_source=whatsapp`),
    ///   when the input has no `?` and no query of its own.
    ///
    /// Only the query is read: codes in the path (`/r/7K3MQ9XDS`) or in the
    /// fragment (`#/?ref=…` of hash-routed apps) are not looked for.
    /// Values are decoded as `application/x-www-form-urlencoded` (`+` is a
    /// space, `%XX` are UTF-8 bytes; invalid UTF-8 becomes U+FFFD).
    ///
    /// # Which parameter
    /// * Names match ignoring ASCII case (`REF=` counts as `ref=`).
    /// * A parameter whose value is empty, or only whitespace and Unicode
    ///   bidi formatting characters, counts as absent.
    /// * When a parameter is repeated, the first occurrence wins.
    /// * The code is taken from the first of these names present: the
    ///   configured code parameter, then `ref`, `code`, `referral`,
    ///   `referral_code` ([`CODE_PARAM_FALLBACKS`]), skipping any that is
    ///   also the source, medium or campaign parameter. The first name
    ///   present decides: if its value is not a code, that is an error,
    ///   even if a later name holds a valid one (two different codes in a
    ///   link are ambiguous; guessing could credit the wrong referrer).
    ///
    /// # Values
    /// * The code value is trimmed of whitespace and bidi formatting
    ///   characters and handed to [`CodeFormat::parse`], so typed and
    ///   mangled codes (lower case, dashes, look-alike letters) are read the
    ///   way the code format reads them.
    /// * The source value goes through `Channel`'s `FromStr`
    ///   (`WhatsApp`, `twitter`, `in-store` and custom names). A value that
    ///   is neither a known channel nor a valid custom name gives
    ///   `channel: None` rather than an error: the code alone is enough to
    ///   credit the referrer, and links get their `utm_source` rewritten by
    ///   ad tools and link shorteners.
    /// * The campaign is kept as decoded, except that bidi formatting
    ///   characters at either end are dropped (chat apps glue the isolates
    ///   of right-to-left share messages onto the end of links). An empty or
    ///   whitespace-only campaign gives `None` (or a later non-blank one,
    ///   if repeated). The medium parameter is not checked.
    ///
    /// # Errors
    /// * [`LinkError::TooLong`]: the input is over [`MAX_LINK_LEN`] bytes.
    /// * [`LinkError::NotALink`]: the input has a `?` but the URL parser
    ///   refuses it (e.g. `https://[::1/?ref=…`).
    /// * [`LinkError::MissingCode`]: no code parameter with a value.
    /// * [`LinkError::InvalidCode`]: the code parameter's value is not a
    ///   code; its source is the [`CodeParseError`].
    ///
    /// # Example: a full link, first occurrence wins
    /// ```
    /// use referrals::{Channel, CodeFormat, LinkParams};
    ///
    /// let parsed = LinkParams::default().parse(
    ///     "https://bakery.example/?REF=7K3MQ9XDS&ref=AAAAAAAAT&utm_source=WhatsApp",
    ///     &CodeFormat::default(),
    /// )?;
    /// assert_eq!(parsed.code.as_str(), "7K3MQ9XDS");
    /// assert_eq!(parsed.channel, Some(Channel::WhatsApp));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an odd source, an Arabic campaign, and errors
    /// ```
    /// use referrals::{CodeFormat, LinkParams};
    /// use referrals::link::LinkError;
    ///
    /// let params = LinkParams::default();
    /// let format = CodeFormat::default();
    /// let parsed = params.parse(
    ///     "?ref=7K3MQ9XDS&utm_source=%F0%9F%A6%84&utm_campaign=%D8%B9%D9%8A%D8%AF",
    ///     &format,
    /// )?;
    /// assert_eq!(parsed.channel, None); // not a channel name: ignored, not an error
    /// assert_eq!(parsed.campaign.as_deref(), Some("عيد"));
    ///
    /// let err = params.parse("shop.example/?utm_source=sms", &format).unwrap_err();
    /// assert_eq!(err.to_string(), r#"no referral code parameter in "shop.example/?utm_source=sms""#);
    /// let err = params.parse("?Ref=N0T-A-C0DE!", &format).unwrap_err();
    /// assert!(matches!(err, LinkError::InvalidCode { ref param, .. } if param == "Ref"));
    /// assert!(std::error::Error::source(&err).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(&self, input: &str, format: &CodeFormat) -> Result<ParsedLink, LinkError> {
        if input.len() > MAX_LINK_LEN {
            return Err(LinkError::TooLong { len: input.len() });
        }
        let pairs = query_pairs(input)?;

        let fallbacks = CODE_PARAM_FALLBACKS.iter().copied().filter(|name| {
            // The configured name is tried first anyway, and a fallback that
            // is another parameter of ours would read e.g. the channel as a
            // code.
            !self.is_own_param(name)
        });
        let code_names = std::iter::once(self.code_param.as_str()).chain(fallbacks);
        let mut found = None;
        for name in code_names {
            found = first_value(&pairs, name, trim_code);
            if found.is_some() {
                break;
            }
        }
        let Some((param, value)) = found else {
            return Err(LinkError::MissingCode {
                input: excerpt(input),
            });
        };
        let code = format
            .parse(value)
            .map_err(|source| LinkError::InvalidCode {
                param: excerpt(param),
                value: excerpt(value),
                source,
            })?;

        let channel = first_value(&pairs, &self.source_param, trim_code)
            .and_then(|(_, value)| value.parse::<Channel>().ok());
        let campaign = first_value(&pairs, &self.campaign_param, normalize_campaign)
            .map(|(_, value)| value.to_owned());
        Ok(ParsedLink {
            code,
            channel,
            campaign,
        })
    }
}

/// The decoded query parameters of a link, a scheme-less URL or a bare
/// query string, in order.
fn query_pairs(input: &str) -> Result<Vec<(String, String)>, LinkError> {
    let input = input.trim();
    let not_a_link = |source| LinkError::NotALink {
        input: excerpt(input),
        source,
    };
    let base = Url::parse(RELATIVE_BASE).map_err(not_a_link)?;
    let url = match base.join(input) {
        Ok(url) if url.query().is_some() || input.contains('?') => url,
        // No `?` at all: the whole input may be a bare query string.
        Ok(_) => base.join(&format!("?{input}")).map_err(not_a_link)?,
        Err(_) if !input.contains('?') => base.join(&format!("?{input}")).map_err(not_a_link)?,
        Err(source) => return Err(not_a_link(source)),
    };
    Ok(url.query_pairs().into_owned().collect())
}

/// The first parameter named `name` (ignoring ASCII case) whose value is not
/// blank (only whitespace and bidi marks) after `clean`, as (name as
/// written, cleaned value).
fn first_value<'a>(
    pairs: &'a [(String, String)],
    name: &str,
    clean: fn(&str) -> &str,
) -> Option<(&'a str, &'a str)> {
    pairs
        .iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(key, value)| (key.as_str(), clean(value)))
        // Blank (only whitespace and bidi marks) counts as absent.
        .find(|(_, value)| !is_blank(value))
}

/// Whether `value` holds nothing but whitespace and bidi formatting
/// characters.
fn is_blank(value: &str) -> bool {
    value
        .chars()
        .all(|c| c.is_whitespace() || is_bidi_format(c))
}

/// A code or channel value without surrounding whitespace and bidi
/// formatting characters.
fn trim_code(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() || is_bidi_format(c))
}

/// A campaign value without bidi formatting characters at its ends. Only
/// those: spaces are part of a campaign name and must read back.
fn normalize_campaign(value: &str) -> &str {
    value.trim_matches(is_bidi_format)
}

/// At most the first [`EXCERPT_CHARS`] characters of `text`, marked with
/// `…` when cut, so that errors about hostile input stay loggable.
fn excerpt(text: &str) -> String {
    crate::text::excerpt(text, EXCERPT_CHARS)
}

#[cfg(test)]
mod tests {
    /// A blank campaign (only whitespace or bidi marks) counts as absent,
    /// when parsed and when built; a repeated one yields the first
    /// non-blank.
    #[test]
    fn blank_campaigns_count_as_absent() {
        let format = CodeFormat::default();
        let parsed = ShareLink::parse("?ref=7K3MQ9XDS&utm_campaign=+++", &format).unwrap();
        assert_eq!(parsed.campaign, None);
        let parsed =
            ShareLink::parse("?ref=7K3MQ9XDS&utm_campaign=+&utm_campaign=spring", &format).unwrap();
        assert_eq!(parsed.campaign.as_deref(), Some("spring"));
        let landing = Url::parse("https://b.example/").unwrap();
        let code = Code::from_canonical("7K3MQ9XDS").unwrap();
        let built = ShareLink::build(&landing, &code, &Channel::Sms, Some("  \u{2069}")).unwrap();
        assert!(!built.as_str().contains("utm_campaign"), "{built}");
        // Spaces inside a campaign are part of its name.
        let built = ShareLink::build(&landing, &code, &Channel::Sms, Some(" eid sale ")).unwrap();
        let back = ShareLink::parse(built.as_str(), &format).unwrap();
        assert_eq!(back.campaign.as_deref(), Some(" eid sale "));
    }

    use super::*;
    use proptest::prelude::*;

    fn code() -> Code {
        Code::from_canonical("7K3MQ9XDS").unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn parse(input: &str) -> Result<ParsedLink, LinkError> {
        ShareLink::parse(input, &CodeFormat::default())
    }

    #[test]
    fn relative_base_is_a_valid_url() {
        assert!(Url::parse(RELATIVE_BASE).is_ok());
    }

    #[test]
    fn build_appends_params_and_keeps_query_and_fragment() {
        let landing = url("https://bakery.example/menu?lang=ar&flag&sp=a%20b#cakes");
        let link = ShareLink::build(&landing, &code(), &Channel::InStore, Some("spring")).unwrap();
        // Other parameters are kept byte for byte: `flag` stays without `=`,
        // `%20` is not re-encoded as `+`.
        assert_eq!(
            link.as_str(),
            "https://bakery.example/menu?lang=ar&flag&sp=a%20b&ref=7K3MQ9XDS\
             &utm_source=in_store&utm_medium=referral&utm_campaign=spring#cakes"
        );
        let no_query = ShareLink::build(&url("http://b.example"), &code(), &Channel::Sms, None);
        assert_eq!(
            no_query.unwrap().as_str(),
            "http://b.example/?ref=7K3MQ9XDS&utm_source=sms&utm_medium=referral"
        );
    }

    #[test]
    fn build_replaces_existing_params_ignoring_case() {
        let landing = url(
            "https://b.example/?REF=OLD&a=1&utm_source=fb&Utm_Medium=cpc&utm_campaign=x&ref=OLD2&b=2",
        );
        let link = ShareLink::build(&landing, &code(), &Channel::X, None).unwrap();
        assert_eq!(
            link.query(),
            Some("a=1&b=2&ref=7K3MQ9XDS&utm_source=x&utm_medium=referral")
        );
        // A campaign left on the landing page is removed even when the new
        // link has none: it would otherwise be credited to this share.
        assert!(!link.as_str().contains("utm_campaign"));
    }

    #[test]
    fn build_percent_encodes_campaigns() {
        let cases = [
            (
                "رمضان كريم",
                "%D8%B1%D9%85%D8%B6%D8%A7%D9%86+%D9%83%D8%B1%D9%8A%D9%85",
            ),
            ("a&b=c#d", "a%26b%3Dc%23d"),
            ("50%+off", "50%25%2Boff"),
            ("٢٥", "%D9%A2%D9%A5"),
        ];
        for (campaign, encoded) in cases {
            let link = ShareLink::build(
                &url("https://b.example/#f"),
                &code(),
                &Channel::Email,
                Some(campaign),
            )
            .unwrap();
            let expected = format!("&utm_campaign={encoded}#f");
            assert!(link.as_str().ends_with(&expected), "{campaign}: {link}");
            assert_eq!(
                parse(link.as_str()).unwrap().campaign.as_deref(),
                Some(campaign)
            );
        }
    }

    #[test]
    fn build_drops_empty_campaign_and_glued_isolates() {
        let landing = url("https://b.example/");
        let empty = ShareLink::build(&landing, &code(), &Channel::Email, Some("")).unwrap();
        assert!(!empty.as_str().contains("utm_campaign"));
        let glued = ShareLink::build(
            &landing,
            &code(),
            &Channel::Email,
            Some("\u{2066}eid\u{2069}"),
        )
        .unwrap();
        assert!(glued.as_str().ends_with("&utm_campaign=eid"), "{glued}");
    }

    #[test]
    fn build_rejects_landing_pages_that_are_not_http() {
        for landing in [
            "mailto:a@b.example",
            "ftp://b.example/",
            "file:///tmp/x",
            "data:text/plain,hi",
        ] {
            let err = ShareLink::build(&url(landing), &code(), &Channel::Sms, None).unwrap_err();
            assert!(matches!(err, LinkError::LandingNotHttp { .. }), "{landing}");
            assert_eq!(
                err.to_string(),
                format!("landing page {} is not http(s)", url(landing))
            );
        }
    }

    #[test]
    fn parse_accepts_urls_scheme_less_urls_and_bare_queries() {
        let inputs = [
            "https://b.example/p?ref=7K3MQ9XDS&utm_source=whatsapp#x",
            "http://b.example:8080?ref=7K3MQ9XDS&utm_source=whatsapp",
            "bakery://invite?ref=7K3MQ9XDS&utm_source=whatsapp",
            "b.example/?ref=7K3MQ9XDS&utm_source=whatsapp",
            "b.example?ref=7K3MQ9XDS&utm_source=whatsapp",
            "localhost:3000/?ref=7K3MQ9XDS&utm_source=whatsapp",
            "//b.example/?ref=7K3MQ9XDS&utm_source=whatsapp",
            "/landing?ref=7K3MQ9XDS&utm_source=whatsapp",
            "?ref=7K3MQ9XDS&utm_source=whatsapp",
            "ref=7K3MQ9XDS&utm_source=whatsapp",
            "ref=7K3MQ9XDS&utm_source=whatsapp#frag",
            "  \n https://b.example/?ref=7K3MQ9XDS&utm_source=whatsapp \t",
        ];
        for input in inputs {
            let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(parsed.code, code(), "{input:?}");
            assert_eq!(parsed.channel, Some(Channel::WhatsApp), "{input:?}");
            assert_eq!(parsed.campaign, None, "{input:?}");
        }
    }

    #[test]
    fn parse_tries_code_names_in_documented_order() {
        let cases = [
            ("?referral_code=7K3MQ9XDS", "7K3MQ9XDS"),
            ("?referral=7K3MQ9XDS&referral_code=AAAAAAAAT", "7K3MQ9XDS"),
            ("?code=7K3MQ9XDS&referral=AAAAAAAAT", "7K3MQ9XDS"),
            ("?code=AAAAAAAAT&ref=7K3MQ9XDS", "7K3MQ9XDS"),
            ("?CODE=7K3MQ9XDS", "7K3MQ9XDS"),
            ("?Referral_Code=7K3MQ9XDS", "7K3MQ9XDS"),
            // First occurrence wins, across spellings of the same name.
            ("?ref=7K3MQ9XDS&REF=AAAAAAAAT&ref=BBBBBBBBJ", "7K3MQ9XDS"),
            // Empty values count as absent.
            ("?ref=&ref=+&code=7K3MQ9XDS", "7K3MQ9XDS"),
        ];
        for (input, expected) in cases {
            let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(parsed.code.as_str(), expected, "{input:?}");
        }
    }

    #[test]
    fn parse_reports_missing_and_invalid_codes() {
        let err = parse("https://b.example/?utm_source=sms&ref=").unwrap_err();
        assert!(matches!(err, LinkError::MissingCode { .. }));
        assert_eq!(
            err.to_string(),
            r#"no referral code parameter in "https://b.example/?utm_source=sms&ref=""#
        );
        for input in [
            "",
            "   ",
            "?",
            "&&&",
            "https://b.example/",
            "b.example/r/7K3MQ9XDS",
        ] {
            assert!(
                matches!(parse(input), Err(LinkError::MissingCode { .. })),
                "{input:?}"
            );
        }

        let err = parse("?REF=bad%21code&code=7K3MQ9XDS").unwrap_err();
        let LinkError::InvalidCode { param, value, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!((param.as_str(), value.as_str()), ("REF", "bad!code"));
        assert_eq!(
            err.to_string(),
            r#"referral code "bad!code" in parameter REF is invalid"#
        );
        let source = std::error::Error::source(&err).expect("source");
        assert!(source.downcast_ref::<CodeParseError>().is_some());
    }

    #[test]
    fn parse_refuses_huge_and_broken_input() {
        // Nor is one built: a landing page with a huge query of its own
        // makes a link the reader would refuse.
        let landing = Url::parse(&format!(
            "https://shop.example/?x={}",
            "a".repeat(MAX_LINK_LEN)
        ))
        .unwrap();
        let code = CodeFormat::default().parse("7K3MQ9XDS").unwrap();
        assert!(matches!(
            ShareLink::build(&landing, &code, &Channel::Sms, None),
            Err(LinkError::TooLong { .. })
        ));
        let huge = format!("?ref=7K3MQ9XDS&x={}", "a".repeat(MAX_LINK_LEN));
        assert!(matches!(parse(&huge), Err(LinkError::TooLong { .. })));
        let err = parse("https://[::1/?ref=7K3MQ9XDS").unwrap_err();
        assert!(matches!(err, LinkError::NotALink { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
        // Error messages quote a bounded excerpt of the input.
        let long = format!("?utm_source={}", "ب".repeat(5_000));
        let message = parse(&long).unwrap_err().to_string();
        assert!(message.chars().count() < 300, "{message}");
        assert!(message.contains('…'));
    }

    #[test]
    fn parse_decodes_plus_and_percent_encoding() {
        let parsed =
            parse("?r%65f=7K3MQ9XDS&utm_source=%77hats%41pp&utm_campaign=%D8%B9%D9%8A%D8%AF+50%25+%26+more")
                .unwrap();
        assert_eq!(parsed.code, code());
        assert_eq!(parsed.channel, Some(Channel::WhatsApp));
        assert_eq!(parsed.campaign.as_deref(), Some("عيد 50% & more"));
        // Raw (unencoded) Arabic and spaces pasted by hand read the same.
        let raw = parse("b.example/?ref=7K3MQ9XDS&utm_campaign=عيد 50").unwrap();
        assert_eq!(raw.campaign.as_deref(), Some("عيد 50"));
        // Invalid UTF-8 is replaced, not an error.
        let lossy = parse("?ref=7K3MQ9XDS&utm_campaign=%FF").unwrap();
        assert_eq!(lossy.campaign.as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn parse_reads_sources_leniently() {
        let cases: [(&str, Option<Channel>); 8] = [
            ("whatsapp", Some(Channel::WhatsApp)),
            ("Twitter", Some(Channel::X)),
            ("in-store", Some(Channel::InStore)),
            ("podcast", Some(Channel::custom("podcast").unwrap())),
            ("news+letter", None),
            ("%F0%9F%A6%84", None),
            ("", None),
            (&"a".repeat(33), None),
        ];
        for (source, expected) in cases {
            let parsed = parse(&format!("?ref=7K3MQ9XDS&utm_source={source}")).unwrap();
            assert_eq!(parsed.channel, expected, "{source:?}");
        }
        // The first non-empty source wins.
        let parsed = parse("?ref=7K3MQ9XDS&utm_source=&UTM_SOURCE=sms&utm_source=qr").unwrap();
        assert_eq!(parsed.channel, Some(Channel::Sms));
    }

    #[test]
    fn parse_ignores_isolates_glued_on_by_chat_apps() {
        // A right-to-left share message wraps the link in U+2066 … U+2069;
        // some linkifiers keep the U+2069 as part of the link.
        let glued = "https://b.example/?ref=7K3MQ9XDS&utm_source=sms&utm_campaign=eid\u{2069}";
        let parsed = parse(glued).unwrap();
        assert_eq!(parsed.campaign.as_deref(), Some("eid"));
        let encoded = "?utm_source=sms%E2%81%A9&ref=%E2%80%8F7K3MQ9XDS%E2%81%A9";
        let parsed = parse(encoded).unwrap();
        assert_eq!(parsed.code, code());
        assert_eq!(parsed.channel, Some(Channel::Sms));
    }

    #[test]
    fn parse_hands_typed_codes_to_the_code_format() {
        // Whatever the code format makes of typed input, the link reads the
        // same: this holds before and after the full code parser lands.
        let format = CodeFormat::default();
        for typed in ["7k3mq9xds", "7K3-MQ9-XDS", "7K3 MQ9 XDS", "7K3MQ9XDS"] {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("ref", typed)
                .finish();
            let from_link = ShareLink::parse(&query, &format).map(|p| p.code).ok();
            assert_eq!(from_link, format.parse(typed).ok(), "{typed:?}");
        }
    }

    #[test]
    fn custom_params_build_and_parse() {
        let params = LinkParams::default()
            .with_code_param("invite")
            .unwrap()
            .with_source_param("src")
            .unwrap()
            .with_medium_param("m")
            .unwrap()
            .with_campaign_param("c")
            .unwrap()
            .with_medium_value("friend")
            .unwrap();
        let landing = url("https://b.example/?invite=OLD&utm_source=keep#f");
        let link = params
            .build(&landing, &code(), &Channel::Telegram, Some("عيد"))
            .unwrap();
        assert_eq!(
            link.as_str(),
            "https://b.example/?utm_source=keep&invite=7K3MQ9XDS&src=telegram&m=friend\
             &c=%D8%B9%D9%8A%D8%AF#f"
        );
        let parsed = params.parse(link.as_str(), &CodeFormat::default()).unwrap();
        assert_eq!(parsed.code, code());
        assert_eq!(parsed.channel, Some(Channel::Telegram));
        assert_eq!(parsed.campaign.as_deref(), Some("عيد"));
        // The standard fallback names still read old links.
        let old = params
            .parse("?ref=7K3MQ9XDS", &CodeFormat::default())
            .unwrap();
        assert_eq!(old.code, code());
    }

    #[test]
    fn fallback_names_never_read_other_params() {
        // With `code` as the source parameter, `code=` holds a channel, and
        // must not be read as a referral code.
        let params = LinkParams::default().with_source_param("code").unwrap();
        let err = params
            .parse("?code=whatsapp", &CodeFormat::default())
            .unwrap_err();
        assert!(matches!(err, LinkError::MissingCode { .. }), "{err:?}");
    }

    #[test]
    fn link_params_validate_names() {
        let p = LinkParams::default;
        let cases: [(Result<LinkParams, LinkError>, &str); 6] = [
            (
                p().with_code_param(""),
                r#"link setting code_param = "" is not valid: it is empty"#,
            ),
            (
                p().with_code_param("Utm_Source"),
                r#"link setting source_param = "utm_source" is not valid: another link parameter has the same name"#,
            ),
            (
                p().with_campaign_param("a\u{0}"),
                r#"link setting campaign_param = "a\0" is not valid: it holds a control character"#,
            ),
            (
                p().with_source_param(&"s".repeat(65)),
                &format!(
                    "link setting source_param = {:?} is not valid: it is longer than 64 bytes",
                    "s".repeat(65)
                ),
            ),
            (
                p().with_medium_value(""),
                r#"link setting medium_value = "" is not valid: it is empty"#,
            ),
            (
                p().with_medium_param("ref"),
                r#"link setting medium_param = "ref" is not valid: another link parameter has the same name"#,
            ),
        ];
        for (result, message) in cases {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
        // Swapping two names is fine once both have moved.
        assert!(
            p().with_code_param("r")
                .unwrap()
                .with_source_param("ref")
                .is_ok()
        );
    }

    #[test]
    fn link_params_json_round_trip_and_validation() {
        let json = serde_json::to_string(&LinkParams::default()).unwrap();
        assert_eq!(
            json,
            r#"{"code_param":"ref","source_param":"utm_source","medium_param":"utm_medium","campaign_param":"utm_campaign","medium_value":"referral"}"#
        );
        assert_eq!(
            serde_json::from_str::<LinkParams>(&json).unwrap(),
            LinkParams::default()
        );
        assert_eq!(
            serde_json::from_str::<LinkParams>("{}").unwrap(),
            LinkParams::default()
        );
        let custom: LinkParams = serde_json::from_str(r#"{"medium_value":"إحالة"}"#).unwrap();
        assert_eq!(custom.medium_value(), "إحالة");
        for bad in [
            r#"{"code_param":""}"#,
            r#"{"code_param":"utm_medium"}"#,
            r#"{"medium_value":""}"#,
            r#"{"unknown":"x"}"#,
        ] {
            assert!(serde_json::from_str::<LinkParams>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parsed_link_json_round_trip() {
        let parsed = parse("?ref=7K3MQ9XDS&utm_source=podcast&utm_campaign=عيد").unwrap();
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(
            json,
            r#"{"code":"7K3MQ9XDS","channel":"podcast","campaign":"عيد"}"#
        );
        assert_eq!(serde_json::from_str::<ParsedLink>(&json).unwrap(), parsed);
        let bare = parse("?ref=7K3MQ9XDS").unwrap();
        let json = serde_json::to_string(&bare).unwrap();
        assert_eq!(
            json,
            r#"{"code":"7K3MQ9XDS","channel":null,"campaign":null}"#
        );
    }

    #[test]
    fn excerpt_cuts_on_character_boundaries() {
        assert_eq!(excerpt("abc"), "abc");
        let arabic = "ع".repeat(EXCERPT_CHARS + 1);
        let cut = excerpt(&arabic);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    /// Codes the full code parser accepts (right check character, or a
    /// vanity shape), and arbitrary canonical symbols, which it may refuse.
    fn any_code() -> impl Strategy<Value = Code> {
        prop_oneof![
            prop::sample::select(vec!["7K3MQ9XDS", "AAAAAAAAT", "BBBBBBBBJ", "SARA2026"])
                .prop_map(|s| Code::from_canonical(s).unwrap()),
            "[0-9A-HJKMNP-TV-Z]{1,32}".prop_map(|s| Code::from_canonical(&s).unwrap()),
        ]
    }

    fn any_channel() -> impl Strategy<Value = Channel> {
        prop_oneof![
            (0..Channel::BUILT_IN.len()).prop_map(|i| Channel::BUILT_IN[i].clone()),
            // `Channel::custom` folds names that are aliases into built-ins.
            "[a-z0-9_-]{1,32}".prop_map(|s| Channel::custom(&s).unwrap()),
        ]
    }

    /// A random http(s) landing page with a path, existing query parameters
    /// (arbitrary text, sometimes named like ours) and a fragment.
    fn any_landing() -> impl Strategy<Value = Url> {
        let key = prop_oneof![
            "[a-z_]{1,8}",
            Just("ref".to_owned()),
            Just("UTM_SOURCE".to_owned()),
            Just("utm_campaign".to_owned()),
            Just("code".to_owned()),
            any::<String>(),
        ];
        (
            prop_oneof![Just("http"), Just("https")],
            "[a-z][a-z0-9-]{0,10}\\.(example|sa|com)",
            prop::collection::vec("[a-zA-Z0-9._~-]{1,8}", 0..3),
            prop::collection::vec((key, any::<String>()), 0..4),
            prop::option::of(any::<String>()),
        )
            .prop_map(|(scheme, host, path, params, fragment)| {
                let mut url = Url::parse(&format!("{scheme}://{host}/{}", path.join("/"))).unwrap();
                if !params.is_empty() {
                    url.query_pairs_mut().extend_pairs(params);
                }
                url.set_fragment(fragment.as_deref());
                url
            })
    }

    /// Strings assembled from pieces of URLs, to reach the parser's corners
    /// more often than arbitrary text does.
    fn url_ish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("https://".to_owned()),
            Just("http:".to_owned()),
            Just("//".to_owned()),
            Just("?".to_owned()),
            Just("&".to_owned()),
            Just("=".to_owned()),
            Just("#".to_owned()),
            Just("%".to_owned()),
            Just("%E2%81%A9".to_owned()),
            Just("%FF".to_owned()),
            Just("+".to_owned()),
            Just("[::1".to_owned()),
            Just("@".to_owned()),
            Just(":".to_owned()),
            Just("ref".to_owned()),
            Just("REF".to_owned()),
            Just("code".to_owned()),
            Just("utm_source".to_owned()),
            Just("utm_campaign".to_owned()),
            Just("7K3MQ9XDS".to_owned()),
            Just("xn--".to_owned()),
            Just("متجر".to_owned()),
            Just("\u{2069}".to_owned()),
            "[a-z0-9.]{1,6}",
            "\\PC{1,3}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(input in "\\PC*") {
            let _ = parse(&input);
        }

        #[test]
        fn parse_never_panics_on_url_like_text(input in url_ish()) {
            let _ = parse(&input);
            let params = LinkParams::default().with_code_param("invite").unwrap();
            let _ = params.parse(&input, &CodeFormat::default());
        }

        #[test]
        fn build_then_parse_round_trips(
            landing in any_landing(),
            code in any_code(),
            channel in any_channel(),
            campaign in prop::option::of(any::<String>()),
        ) {
            let link = ShareLink::build(&landing, &code, &channel, campaign.as_deref()).unwrap();
            // The link reads back exactly what the code format makes of the
            // canonical code: the code itself, or the format's refusal.
            let format = CodeFormat::default();
            let parsed = match (parse(link.as_str()), format.parse(code.as_str())) {
                (Ok(parsed), Ok(expected)) => {
                    prop_assert_eq!(expected, code);
                    parsed
                }
                (Err(LinkError::InvalidCode { source, .. }), Err(refused)) => {
                    prop_assert_eq!(source, refused);
                    return Ok(());
                }
                (got, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "link gave {got:?}, code format gave {expected:?}"
                    )));
                }
            };
            prop_assert_eq!(parsed.code, code);
            prop_assert_eq!(parsed.channel, Some(channel));
            // A blank campaign (whitespace or bidi marks only) is absent.
            let expected = campaign.as_deref().filter(|c| !is_blank(c)).map(normalize_campaign);
            prop_assert_eq!(parsed.campaign.as_deref(), expected);

            // The landing page's own parameters and fragment survive.
            let ours = LinkParams::default();
            let others = |u: &Url| -> Vec<(String, String)> {
                u.query_pairs()
                    .into_owned()
                    .filter(|(k, _)| !ours.is_own_param(k))
                    .collect()
            };
            prop_assert_eq!(others(&link), others(&landing));
            prop_assert_eq!(link.fragment(), landing.fragment());
            prop_assert_eq!(link.path(), landing.path());
            prop_assert_eq!(link.host_str(), landing.host_str());
        }
    }
}
