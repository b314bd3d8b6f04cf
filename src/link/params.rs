//! [`LinkParams`]: the parameter names and medium value of share links,
//! their validation, and their serde shape.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{LinkError, MAX_PARAM_LEN, excerpt};

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
    pub(super) fn is_own_param(&self, key: &str) -> bool {
        [
            &self.code_param,
            &self.source_param,
            &self.medium_param,
            &self.campaign_param,
        ]
        .iter()
        .any(|name| name.eq_ignore_ascii_case(key))
    }
}
