//! [`ShareContext`]: the values of one share, and their bidi isolation.

use super::{Language, Placeholder, TemplateError};
use crate::code::{Code, CodeFormat};
use crate::money::Money;
use crate::text::{PDI, is_bidi_format, is_explicit_bidi};

/// The values for rendering one share message, and its language.
///
/// Only the code and the language are required; the rest is set with the
/// `with_*` methods. A template that uses a value the context lacks fails
/// to render ([`TemplateError::MissingValue`]).
///
/// # Example: everything a template can use
/// ```
/// use referrals::share::{Language, ShareContext, Template};
/// use referrals::{Currency, Money};
/// use url::Url;
///
/// let context = ShareContext::new("7K3-MQ9-XDS", Language::En)
///     .with_link(Url::parse("https://bakery.example/?ref=7K3MQ9XDS")?)
///     .with_reward(Money::new(2000, Currency::SAR))
///     .with_referee_reward(Money::new(2500, Currency::SAR))
///     .with_name("Sara")
///     .with_program("Bakery");
/// let text = Template::parse("{name}|{program}|{code}|{reward}|{referee_reward}|{link}")?
///     .render(&context)?;
/// assert_eq!(
///     text,
///     "\u{2068}Sara\u{2069}|\u{2068}Bakery\u{2069}|7K3-MQ9-XDS|20.00 SAR|25.00 SAR|\
///      https://bakery.example/?ref=7K3MQ9XDS"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareContext {
    code: String,
    link: Option<String>,
    reward: Option<Money>,
    pub(super) referee_reward: Option<Money>,
    name: Option<String>,
    program: Option<String>,
    language: Language,
}

impl ShareContext {
    /// A context for a code in the form people read it (e.g. the
    /// dash-grouped `BAKE-7K3-MQ9`).
    ///
    /// # Example: a code as displayed
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// let context = ShareContext::new("BAKE-7K3-MQ9", Language::En);
    /// assert_eq!(Template::parse("{code}")?.render(&context)?, "BAKE-7K3-MQ9");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(code: impl Into<String>, language: Language) -> ShareContext {
        ShareContext {
            code: code.into(),
            link: None,
            reward: None,
            referee_reward: None,
            name: None,
            program: None,
            language,
        }
    }

    /// A context for a code, shown in `format`'s display form
    /// ([`CodeFormat::display`]).
    ///
    /// # Example: a code in an Arabic message
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// use referrals::{Code, CodeFormat};
    ///
    /// let format = CodeFormat::default();
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let context = ShareContext::for_code(&code, &format, Language::Ar);
    /// let text = Template::parse("{code}")?.render(&context)?;
    /// assert_eq!(text, format!("\u{2066}{}\u{2069}", format.display(&code)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_code(code: &Code, format: &CodeFormat, language: Language) -> ShareContext {
        ShareContext::new(format.display(code), language)
    }

    /// Sets the share link (a [`url::Url`] or text).
    ///
    /// # Example: a link from [`crate::link`]
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// use referrals::{Channel, Code, ShareLink};
    /// use url::Url;
    ///
    /// let code = Code::from_canonical("7K3MQ9XDS")?;
    /// let landing = Url::parse("https://bakery.example/")?;
    /// let link = ShareLink::build(&landing, &code, &Channel::Sms, None)?;
    /// let context = ShareContext::new("7K3-MQ9-XDS", Language::En).with_link(link);
    /// assert_eq!(
    ///     Template::parse("{link}")?.render(&context)?,
    ///     "https://bakery.example/?ref=7K3MQ9XDS&utm_source=sms&utm_medium=referral"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_link(mut self, link: impl Into<String>) -> ShareContext {
        self.link = Some(link.into());
        self
    }

    /// Sets what the referrer earns.
    ///
    /// # Example: a three-decimal currency
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// use referrals::{Currency, Money};
    /// let context = ShareContext::new("X", Language::En).with_reward(Money::new(5_000, Currency::BHD));
    /// assert_eq!(Template::parse("{reward}")?.render(&context)?, "5.000 BHD");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_reward(mut self, reward: Money) -> ShareContext {
        self.reward = Some(reward);
        self
    }

    /// Sets what the friend gets.
    ///
    /// # Example: isolated in Arabic
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// use referrals::{Currency, Money};
    /// let context = ShareContext::new("X", Language::Ar)
    ///     .with_referee_reward(Money::new(500, Currency::JPY));
    /// assert_eq!(Template::parse("{referee_reward}")?.render(&context)?, "\u{2066}500 JPY\u{2069}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_referee_reward(mut self, referee_reward: Money) -> ShareContext {
        self.referee_reward = Some(referee_reward);
        self
    }

    /// Sets the referrer's display name.
    ///
    /// # Example: a name cannot break out of its isolate
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// // U+202E (RIGHT-TO-LEFT OVERRIDE) and U+2069 are removed from values.
    /// let context = ShareContext::new("X", Language::En).with_name("Eve\u{2069}\u{202E}lin");
    /// assert_eq!(Template::parse("{name}")?.render(&context)?, "\u{2068}Evelin\u{2069}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> ShareContext {
        self.name = Some(name.into());
        self
    }

    /// Sets the program's or shop's name.
    ///
    /// # Example: a Latin shop name in Arabic text
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// let context = ShareContext::new("X", Language::Ar).with_program("Bake & Co.");
    /// assert_eq!(
    ///     Template::parse("تسوق من {program}")?.render(&context)?,
    ///     "تسوق من \u{2068}Bake & Co.\u{2069}"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_program(mut self, program: impl Into<String>) -> ShareContext {
        self.program = Some(program.into());
        self
    }

    /// The language messages are rendered in.
    ///
    /// # Example: set at construction
    /// ```
    /// use referrals::share::{Language, ShareContext};
    /// assert_eq!(ShareContext::new("X", Language::Ar).language(), Language::Ar);
    /// ```
    pub fn language(&self) -> Language {
        self.language
    }

    /// Appends the value of `placeholder`, cleaned and isolated, to `out`.
    pub(super) fn write_value(
        &self,
        placeholder: Placeholder,
        out: &mut String,
    ) -> Result<(), TemplateError> {
        let money;
        let value: Option<&str> = match placeholder {
            Placeholder::Code => Some(&self.code),
            Placeholder::Link => self.link.as_deref(),
            Placeholder::Name => self.name.as_deref(),
            Placeholder::Program => self.program.as_deref(),
            Placeholder::Reward | Placeholder::RefereeReward => {
                let amount = if placeholder == Placeholder::Reward {
                    self.reward
                } else {
                    self.referee_reward
                };
                money = amount.map(|m| m.to_string());
                money.as_deref()
            }
        };
        let value = value
            .filter(|v| !v.chars().all(|c| c.is_whitespace() || is_bidi_format(c)))
            .ok_or(TemplateError::MissingValue { placeholder })?;
        let isolate = placeholder.isolate(self.language);
        out.extend(isolate);
        out.extend(value.chars().filter(|&c| !is_explicit_bidi(c)));
        if isolate.is_some() {
            out.push(PDI);
        }
        Ok(())
    }
}
