//! Building a share link: [`LinkParams::build`].

use url::{Url, form_urlencoded};

use super::parse::{is_blank, normalize_campaign};
use super::{LinkError, LinkParams, MAX_LINK_LEN};
use crate::code::Code;
use crate::model::Channel;

impl LinkParams {
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
            .append_pair(self.code_param(), code.as_str())
            .append_pair(self.source_param(), channel.as_str())
            .append_pair(self.medium_param(), self.medium_value());
        if let Some(campaign) = campaign.map(normalize_campaign).filter(|c| !is_blank(c)) {
            query.append_pair(self.campaign_param(), campaign);
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
