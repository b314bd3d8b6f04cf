//! Reading a share link: [`LinkParams::parse`], and the query handling
//! it needs (a link, a scheme-less URL or a bare query string; blank and
//! bidi-wrapped values).

use url::Url;

use super::{CODE_PARAM_FALLBACKS, LinkError, LinkParams, MAX_LINK_LEN, ParsedLink, excerpt};
use crate::code::CodeFormat;
use crate::model::Channel;
use crate::text::is_bidi_format;

/// Base for reading links without a scheme and bare query strings as
/// relative references (`shop.example/?ref=…`, `?ref=…`). `.invalid` is
/// reserved (RFC 2606), so this never names a real host.
pub(super) const RELATIVE_BASE: &str = "https://link.invalid/";

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
    ///   code; its source is the
    ///   [`CodeParseError`](crate::code::CodeParseError).
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
        let code_names = std::iter::once(self.code_param()).chain(fallbacks);
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

        let channel = first_value(&pairs, self.source_param(), trim_code)
            .and_then(|(_, value)| value.parse::<Channel>().ok());
        let campaign = first_value(&pairs, self.campaign_param(), normalize_campaign)
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
pub(super) fn is_blank(value: &str) -> bool {
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
pub(super) fn normalize_campaign(value: &str) -> &str {
    value.trim_matches(is_bidi_format)
}
