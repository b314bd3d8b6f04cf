//! Share messages: the text a referrer sends to a friend, per channel, in
//! English and Arabic, from templates a host can replace.
//!
//! ```
//! use referrals::share::{Language, ShareContext, ShareMessages};
//! use referrals::{Channel, Currency, Money};
//!
//! let context = ShareContext::new("BAKE-7K3-MQ9", Language::Ar)
//!     .with_program("مخبز الريم")
//!     .with_referee_reward(Money::new(2500, Currency::SAR))
//!     .with_link("https://bakery.example/?ref=BAKE7K3MQ9");
//! let message = ShareMessages::new().render(&Channel::WhatsApp, &context)?;
//! assert_eq!(
//!     message.body,
//!     "أنصحك بتجربة \u{2068}مخبز الريم\u{2069}! استخدم رمزي \u{2066}BAKE-7K3-MQ9\u{2069} \
//!      واحصل على خصم \u{2066}25.00 SAR\u{2069} على طلبك الأول:\n\
//!      \u{2066}https://bakery.example/?ref=BAKE7K3MQ9\u{2069}"
//! );
//! assert_eq!(message.subject, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Pieces
//!
//! * [`Template`]: text with the placeholders `{code}`, `{link}`,
//!   `{reward}`, `{referee_reward}`, `{name}` and `{program}`; `{{` and `}}`
//!   are literal braces. Parsed once, so mistakes surface when a host
//!   configures a template, not when a customer shares.
//! * [`ShareContext`]: the values for one share (code, link, amounts,
//!   names) and the [`Language`].
//! * [`ShareMessages`]: a template per channel and language, with built-in
//!   defaults a host may override; renders a [`ShareMessage`] (a body, and a
//!   subject for e-mail).
//!
//! # Direction safety
//!
//! Arabic is written right to left, but codes, links and amounts are
//! left-to-right runs that often start or end with "neutral" characters
//! (dashes, dots, slashes, digits). The Unicode Bidirectional Algorithm
//! ([UAX #9](https://www.unicode.org/reports/tr9/)) resolves neutrals from
//! the text around them, so inside Arabic text `BAKE-7K3-MQ9` can show as
//! `MQ9-7K3-BAKE` and `25.00 SAR` as `SAR 25.00` with the punctuation moved
//! to the wrong end. Wrapping a value in a *directional isolate* makes the
//! algorithm lay it out on its own and treat it as one neutral character
//! outside, which fixes both.
//!
//! * In right-to-left languages, `{code}`, `{link}`, `{reward}` and
//!   `{referee_reward}` are wrapped in LEFT-TO-RIGHT ISOLATE (U+2066) …
//!   POP DIRECTIONAL ISOLATE (U+2069).
//! * In every language, `{name}` and `{program}` are wrapped in FIRST
//!   STRONG ISOLATE (U+2068) … U+2069: names may be Arabic inside English
//!   text or Latin inside Arabic text, and their own first letter should
//!   decide their direction.
//! * In left-to-right languages codes, links and amounts are not wrapped:
//!   they need no help there, and invisible characters travel with
//!   copy-and-paste into code fields and address bars.
//! * Values are stripped of the explicit embedding, override and isolate
//!   characters (U+202A–U+202E, U+2066–U+2069) before wrapping, so a
//!   display name cannot close the isolate early or reverse the text after
//!   it. Marks (U+200E, U+200F, U+061C) are harmless and kept.
//!
//! Hosts should make the code parser ignore U+2066–U+2069 (a code copied
//! out of an Arabic message carries them); [`crate::link`] already drops
//! them at the ends of link parameters, because some chat apps make the
//! closing U+2069 part of the link.
//!
//! # Not done here
//!
//! Amounts use [`Money`](crate::Money)'s `Display` (`25.00 SAR`): digits are not
//! localised (no Arabic-Indic `٢٥٫٠٠`), and currency codes are not replaced
//! by symbols or local names (`ر.س`). Plurals and grammatical gender are
//! not handled; the default Arabic texts use the customary masculine
//! imperative.

mod builtin;
mod context;
mod message;
mod template;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use context::ShareContext;
pub use message::{MessageTemplate, ShareMessage, ShareMessages};
pub use template::{Placeholder, Template, TemplateError};

/// The language of a share message.
///
/// Serialises as its ISO 639-1 code, `"en"` or `"ar"`.
///
/// # Example: direction and tags
/// ```
/// use referrals::share::Language;
/// assert!(Language::Ar.is_rtl());
/// assert_eq!(Language::from_tag("ar-SA"), Some(Language::Ar));
/// assert_eq!(serde_json::to_string(&Language::En)?, r#""en""#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Language {
    /// English.
    En,
    /// Arabic (Modern Standard Arabic).
    Ar,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Language; 2] = [Language::En, Language::Ar];

    /// The ISO 639-1 code: `"en"` or `"ar"`.
    ///
    /// # Example: the code
    /// ```
    /// use referrals::share::Language;
    /// assert_eq!(Language::Ar.as_str(), "ar");
    /// assert_eq!(Language::En.to_string(), "en");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ar => "ar",
        }
    }

    /// Whether the language is written right to left.
    ///
    /// # Example: Arabic is, English is not
    /// ```
    /// use referrals::share::Language;
    /// assert!(Language::Ar.is_rtl());
    /// assert!(!Language::En.is_rtl());
    /// ```
    pub fn is_rtl(self) -> bool {
        match self {
            Language::En => false,
            Language::Ar => true,
        }
    }

    /// The language of a BCP 47 or POSIX locale tag, by its primary subtag
    /// (`ar`, `ar-SA`, `ar_EG.UTF-8`, `EN-gb`), or `None` if unsupported.
    ///
    /// # Example: browser and OS locale tags
    /// ```
    /// use referrals::share::Language;
    /// assert_eq!(Language::from_tag("ar-EG"), Some(Language::Ar));
    /// assert_eq!(Language::from_tag("en_GB.UTF-8"), Some(Language::En));
    /// assert_eq!(Language::from_tag("fr-FR"), None);
    /// assert_eq!(Language::from_tag(""), None);
    /// ```
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_', '.']).next().unwrap_or("");
        Language::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary))
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
