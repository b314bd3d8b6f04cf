//! [`ShareMessages`]: a template per channel and language, the built-in
//! texts unless a host overrides them, rendered to a [`ShareMessage`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::builtin::builtin;
use super::{Language, ShareContext, Template, TemplateError};
use crate::model::Channel;

/// A rendered share message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMessage {
    /// The subject line, for channels that have one (e-mail).
    pub subject: Option<String>,
    /// The message text.
    pub body: String,
}

/// The templates of one channel in one language: a body and, for e-mail,
/// a subject.
///
/// Serialises as `{"subject": "...", "body": "..."}`; `subject` may be left
/// out.
///
/// # Example: an e-mail template
/// ```
/// use referrals::share::{Language, MessageTemplate, ShareContext, Template};
///
/// let template = MessageTemplate::new(Template::parse("Code: {code}")?)
///     .with_subject(Template::parse("A gift from {name}")?);
/// let context = ShareContext::new("7K3-MQ9-XDS", Language::En).with_name("Sara");
/// let message = template.render(&context)?;
/// assert_eq!(message.subject.as_deref(), Some("A gift from \u{2068}Sara\u{2069}"));
/// assert_eq!(message.body, "Code: 7K3-MQ9-XDS");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) subject: Option<Template>,
    pub(super) body: Template,
}

impl MessageTemplate {
    /// A template with a body and no subject.
    ///
    /// # Example: an SMS body
    /// ```
    /// use referrals::share::{MessageTemplate, Template};
    /// let template = MessageTemplate::new(Template::parse("رمزي {code}")?);
    /// assert_eq!(template.body().as_str(), "رمزي {code}");
    /// assert!(template.subject().is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(body: Template) -> MessageTemplate {
        MessageTemplate {
            subject: None,
            body,
        }
    }

    /// Adds a subject line.
    ///
    /// # Example: an Arabic subject
    /// ```
    /// use referrals::share::{MessageTemplate, Template};
    /// let template = MessageTemplate::new(Template::parse("{code}")?)
    ///     .with_subject(Template::parse("هدية من {name}")?);
    /// assert_eq!(template.subject().map(|s| s.as_str()), Some("هدية من {name}"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_subject(mut self, subject: Template) -> MessageTemplate {
        self.subject = Some(subject);
        self
    }

    /// The subject template, if any.
    ///
    /// # Example: e-mail defaults have one
    /// ```
    /// use referrals::share::{Language, ShareMessages};
    /// use referrals::Channel;
    /// assert!(ShareMessages::default_for(&Channel::Email, Language::En).subject().is_some());
    /// assert!(ShareMessages::default_for(&Channel::Sms, Language::En).subject().is_none());
    /// ```
    pub fn subject(&self) -> Option<&Template> {
        self.subject.as_ref()
    }

    /// The body template.
    ///
    /// # Example: what the default QR text needs
    /// ```
    /// use referrals::share::{Language, Placeholder, ShareMessages};
    /// use referrals::Channel;
    /// let qr = ShareMessages::default_for(&Channel::Qr, Language::Ar);
    /// assert!(!qr.body().placeholders().any(|p| p == Placeholder::Link));
    /// ```
    pub fn body(&self) -> &Template {
        &self.body
    }

    /// Renders the subject (if any) and the body.
    ///
    /// # Errors
    /// [`TemplateError::MissingValue`] if either uses a value `context`
    /// lacks.
    ///
    /// # Example: body only
    /// ```
    /// use referrals::share::{Language, MessageTemplate, ShareContext, Template};
    /// let template = MessageTemplate::from(Template::parse("{code}")?);
    /// let message = template.render(&ShareContext::new("7K3-MQ9-XDS", Language::En))?;
    /// assert_eq!((message.subject, message.body.as_str()), (None, "7K3-MQ9-XDS"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: a subject that needs a missing name
    /// ```
    /// use referrals::share::{Language, MessageTemplate, ShareContext, Template};
    /// let template = MessageTemplate::new(Template::parse("{code}")?)
    ///     .with_subject(Template::parse("دعوة من {name}")?);
    /// assert!(template.render(&ShareContext::new("7K3-MQ9-XDS", Language::Ar)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render(&self, context: &ShareContext) -> Result<ShareMessage, TemplateError> {
        Ok(ShareMessage {
            subject: self
                .subject
                .as_ref()
                .map(|s| s.render(context))
                .transpose()?,
            body: self.body.render(context)?,
        })
    }
}

impl From<Template> for MessageTemplate {
    fn from(body: Template) -> MessageTemplate {
        MessageTemplate::new(body)
    }
}

/// Share-message templates per channel and language: the built-in defaults
/// plus a host's overrides.
///
/// [`render`](Self::render) uses the override for the channel and the
/// context's language if there is one, otherwise the built-in default. An
/// override without a subject keeps the default's subject (so overriding an
/// e-mail body does not lose the subject line). Overrides are per language:
/// overriding the Arabic WhatsApp text leaves the English default in place.
///
/// The defaults mention the friend's reward when the context has a
/// `referee_reward` ([`default_for`](Self::default_for)) and leave it out
/// otherwise ([`default_without_reward_for`](Self::default_without_reward_for)).
/// They need the code and the program name, and, except for QR and in-store,
/// the link.
///
/// Serialises as `{"overrides": {"<channel>": {"<language>": {"subject":
/// ..., "body": ...}}}}`; templates are validated on the way in.
///
/// # Example: an Arabic override for WhatsApp
/// ```
/// use referrals::share::{Language, ShareContext, ShareMessages, Template};
/// use referrals::Channel;
///
/// let messages = ShareMessages::new().with_template(
///     Channel::WhatsApp,
///     Language::Ar,
///     Template::parse("جرّب {program} برمزي {code}\n{link}")?,
/// );
/// let context = ShareContext::new("BAKE-7K3-MQ9", Language::Ar)
///     .with_program("مخبز الريم")
///     .with_link("https://bakery.example/?ref=BAKE7K3MQ9");
/// let message = messages.render(&Channel::WhatsApp, &context)?;
/// assert_eq!(
///     message.body,
///     "جرّب \u{2068}مخبز الريم\u{2069} برمزي \u{2066}BAKE-7K3-MQ9\u{2069}\n\
///      \u{2066}https://bakery.example/?ref=BAKE7K3MQ9\u{2069}"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: overrides from JSON
/// ```
/// use referrals::share::{Language, ShareMessages};
/// use referrals::Channel;
///
/// let messages: ShareMessages = serde_json::from_str(
///     r#"{"overrides": {"sms": {"en": {"body": "Code {code}: {link}"}}}}"#,
/// )?;
/// assert!(messages.override_for(&Channel::Sms, Language::En).is_some());
/// assert!(serde_json::from_str::<ShareMessages>(
///     r#"{"overrides": {"sms": {"en": {"body": "Code {cod}"}}}}"#
/// ).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareMessages {
    #[serde(default, deserialize_with = "unique_overrides")]
    overrides: BTreeMap<Channel, BTreeMap<Language, MessageTemplate>>,
}

/// The overrides, refusing a channel (or a language of one channel) given
/// twice, say once as `wa` and once as `whatsapp`: one would silently win.
fn unique_overrides<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Channel, BTreeMap<Language, MessageTemplate>>, D::Error> {
    let UniqueMap(outer) =
        UniqueMap::<Channel, UniqueMap<Language, MessageTemplate>>::deserialize(d)?;
    Ok(outer.into_iter().map(|(k, UniqueMap(v))| (k, v)).collect())
}

/// A map whose keys, once read (aliases folded), must all differ.
struct UniqueMap<K, V>(BTreeMap<K, V>);

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> serde::de::Visitor<'de> for Visit<K, V>
        where
            K: Deserialize<'de> + Ord + fmt::Display,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map with each key once")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<K, V>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "{key} is given twice (perhaps under two of its names)"
                        )));
                    }
                    out.insert(key, value);
                }
                Ok(UniqueMap(out))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

impl ShareMessages {
    /// No overrides: every channel uses the built-in defaults.
    ///
    /// # Example: defaults for a custom channel
    /// ```
    /// use referrals::share::{Language, ShareContext, ShareMessages};
    /// use referrals::Channel;
    /// let context = ShareContext::new("7K3-MQ9-XDS", Language::En)
    ///     .with_program("Bakery")
    ///     .with_link("https://bakery.example/?ref=7K3MQ9XDS");
    /// let message = ShareMessages::new().render(&Channel::custom("podcast")?, &context)?;
    /// assert!(message.body.contains("7K3-MQ9-XDS"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> ShareMessages {
        ShareMessages::default()
    }

    /// Sets the template for one channel and language (a [`Template`] for
    /// the body alone, or a [`MessageTemplate`]), replacing any earlier one.
    ///
    /// # Example: an English e-mail with its own subject
    /// ```
    /// use referrals::share::{Language, MessageTemplate, ShareContext, ShareMessages, Template};
    /// use referrals::Channel;
    ///
    /// let messages = ShareMessages::new().with_template(
    ///     Channel::Email,
    ///     Language::En,
    ///     MessageTemplate::new(Template::parse("{code}")?).with_subject(Template::parse("Hi")?),
    /// );
    /// let message = messages.render(&Channel::Email, &ShareContext::new("7K3", Language::En))?;
    /// assert_eq!(message.subject.as_deref(), Some("Hi"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_template(
        mut self,
        channel: Channel,
        language: Language,
        template: impl Into<MessageTemplate>,
    ) -> ShareMessages {
        self.overrides
            .entry(channel)
            .or_default()
            .insert(language, template.into());
        self
    }

    /// The host's override for a channel and language, if set.
    ///
    /// # Example: per language
    /// ```
    /// use referrals::share::{Language, ShareMessages, Template};
    /// use referrals::Channel;
    /// let messages = ShareMessages::new()
    ///     .with_template(Channel::Sms, Language::Ar, Template::parse("{code}")?);
    /// assert!(messages.override_for(&Channel::Sms, Language::Ar).is_some());
    /// assert!(messages.override_for(&Channel::Sms, Language::En).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn override_for(&self, channel: &Channel, language: Language) -> Option<&MessageTemplate> {
        self.overrides.get(channel)?.get(&language)
    }

    /// The built-in template for a channel and language, mentioning the
    /// friend's reward (`{referee_reward}`).
    ///
    /// Chat apps (WhatsApp, SMS, Telegram, Snapchat) get a short text with
    /// the link; e-mail a greeting, a subject and the link on its own line;
    /// social posts (X, Instagram, TikTok, Facebook, LinkedIn) a one-liner;
    /// QR and in-store a "show this code at the counter" text without a
    /// link; copied links and custom channels a generic text. Arabic texts
    /// put the link on its own line and start with an Arabic letter, so
    /// apps that pick the direction from the first letter show them right
    /// to left.
    ///
    /// # Example: the English WhatsApp text
    /// ```
    /// use referrals::share::{Language, ShareMessages};
    /// use referrals::Channel;
    /// let template = ShareMessages::default_for(&Channel::WhatsApp, Language::En);
    /// assert_eq!(
    ///     template.body().as_str(),
    ///     "You'll love {program}! Use my code {code} to get {referee_reward} off \
    ///      your first order: {link}"
    /// );
    /// ```
    ///
    /// # Example: the Arabic in-store text has no link
    /// ```
    /// use referrals::share::{Language, ShareMessages};
    /// use referrals::Channel;
    /// let template = ShareMessages::default_for(&Channel::InStore, Language::Ar);
    /// assert_eq!(
    ///     template.body().as_str(),
    ///     "اعرض هذا الرمز عند الدفع: {code}\nخصم {referee_reward} على طلبك الأول من {program}."
    /// );
    /// ```
    pub fn default_for(channel: &Channel, language: Language) -> MessageTemplate {
        builtin(channel, language, true)
    }

    /// The built-in template for a channel and language, for programs
    /// without a reward for the friend (no `{referee_reward}`).
    ///
    /// # Example: the English SMS text
    /// ```
    /// use referrals::share::{Language, ShareMessages};
    /// use referrals::Channel;
    /// let template = ShareMessages::default_without_reward_for(&Channel::Sms, Language::En);
    /// assert_eq!(
    ///     template.body().as_str(),
    ///     "You'll love {program}! Sign up with my code {code}: {link}"
    /// );
    /// ```
    ///
    /// # Example: the Arabic e-mail subject
    /// ```
    /// use referrals::share::{Language, ShareMessages};
    /// use referrals::Channel;
    /// let template = ShareMessages::default_without_reward_for(&Channel::Email, Language::Ar);
    /// assert_eq!(template.subject().map(|s| s.as_str()), Some("انضم إليّ في {program}"));
    /// ```
    pub fn default_without_reward_for(channel: &Channel, language: Language) -> MessageTemplate {
        builtin(channel, language, false)
    }

    /// Renders the message for a channel in the context's language.
    ///
    /// Uses the override for (`channel`, the context's language) if set,
    /// else [`default_for`](Self::default_for) when the context has a
    /// `referee_reward` and
    /// [`default_without_reward_for`](Self::default_without_reward_for)
    /// when not. An override without a subject takes the default's subject.
    ///
    /// # Errors
    /// [`TemplateError::MissingValue`] if the template uses a value the
    /// context lacks (the defaults need the program name and, except for QR
    /// and in-store, the link).
    ///
    /// # Example: an English e-mail
    /// ```
    /// use referrals::share::{Language, ShareContext, ShareMessages};
    /// use referrals::{Channel, Currency, Money};
    ///
    /// let context = ShareContext::new("7K3-MQ9-XDS", Language::En)
    ///     .with_program("Bakery")
    ///     .with_referee_reward(Money::new(2500, Currency::SAR))
    ///     .with_link("https://bakery.example/?ref=7K3MQ9XDS");
    /// let message = ShareMessages::new().render(&Channel::Email, &context)?;
    /// assert_eq!(
    ///     message.subject.as_deref(),
    ///     Some("A gift for you: 25.00 SAR off at \u{2068}Bakery\u{2069}")
    /// );
    /// assert!(message.body.starts_with("Hi,\n\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an Arabic counter message, and a missing program name
    /// ```
    /// use referrals::share::{Language, ShareContext, ShareMessages};
    /// use referrals::Channel;
    ///
    /// let context = ShareContext::new("BAKE-7K3-MQ9", Language::Ar).with_program("مخبز الريم");
    /// let message = ShareMessages::new().render(&Channel::InStore, &context)?;
    /// assert_eq!(
    ///     message.body,
    ///     "اعرض هذا الرمز عند الدفع في \u{2068}مخبز الريم\u{2069}: \u{2066}BAKE-7K3-MQ9\u{2069}"
    /// );
    /// let bare = ShareContext::new("BAKE-7K3-MQ9", Language::Ar);
    /// assert!(ShareMessages::new().render(&Channel::InStore, &bare).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render(
        &self,
        channel: &Channel,
        context: &ShareContext,
    ) -> Result<ShareMessage, TemplateError> {
        let language = context.language();
        let with_reward = context.referee_reward.is_some();
        match self.override_for(channel, language) {
            Some(template) if template.subject.is_some() => template.render(context),
            Some(template) => {
                let subject = builtin(channel, language, with_reward).subject;
                Ok(ShareMessage {
                    subject: subject.map(|s| s.render(context)).transpose()?,
                    body: template.body.render(context)?,
                })
            }
            None => builtin(channel, language, with_reward).render(context),
        }
    }
}
