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
//! Amounts use [`Money`]'s `Display` (`25.00 SAR`): digits are not
//! localised (no Arabic-Indic `٢٥٫٠٠`), and currency codes are not replaced
//! by symbols or local names (`ر.س`). Plurals and grammatical gender are
//! not handled; the default Arabic texts use the customary masculine
//! imperative.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::code::{Code, CodeFormat};
use crate::model::Channel;
use crate::money::Money;

/// LEFT-TO-RIGHT ISOLATE.
const LRI: char = '\u{2066}';
/// FIRST STRONG ISOLATE.
const FSI: char = '\u{2068}';
/// POP DIRECTIONAL ISOLATE.
const PDI: char = '\u{2069}';

/// How many characters of an unknown placeholder name an error quotes.
const NAME_EXCERPT_CHARS: usize = 40;

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

/// A named value a [`Template`] can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Placeholder {
    /// `{code}`: the referral code as people read it (e.g. `BAKE-7K3-MQ9`).
    Code,
    /// `{link}`: the share link.
    Link,
    /// `{reward}`: what the referrer earns.
    Reward,
    /// `{referee_reward}`: what the friend gets (e.g. a first-order discount).
    RefereeReward,
    /// `{name}`: the referrer's display name.
    Name,
    /// `{program}`: the program's or shop's name.
    Program,
}

/// Placeholder names, in [`Placeholder::ALL`] order. A plain array so that
/// the built-in templates can be checked at compile time.
const PLACEHOLDER_NAMES: [&str; 6] = [
    "code",
    "link",
    "reward",
    "referee_reward",
    "name",
    "program",
];

impl Placeholder {
    /// Every placeholder.
    pub const ALL: [Placeholder; 6] = [
        Placeholder::Code,
        Placeholder::Link,
        Placeholder::Reward,
        Placeholder::RefereeReward,
        Placeholder::Name,
        Placeholder::Program,
    ];

    /// The name written between braces, e.g. `"referee_reward"`.
    ///
    /// # Example: names, and `Display` with braces
    /// ```
    /// use referrals::share::Placeholder;
    /// assert_eq!(Placeholder::RefereeReward.as_str(), "referee_reward");
    /// assert_eq!(Placeholder::Code.to_string(), "{code}");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::Code => "code",
            Placeholder::Link => "link",
            Placeholder::Reward => "reward",
            Placeholder::RefereeReward => "referee_reward",
            Placeholder::Name => "name",
            Placeholder::Program => "program",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The isolate that wraps this placeholder's value in `language`, if any
    /// (see the module docs on direction safety).
    fn isolate(self, language: Language) -> Option<char> {
        match self {
            Placeholder::Code
            | Placeholder::Link
            | Placeholder::Reward
            | Placeholder::RefereeReward => language.is_rtl().then_some(LRI),
            Placeholder::Name | Placeholder::Program => Some(FSI),
        }
    }
}

impl fmt::Display for Placeholder {
    /// The placeholder as written in a template: `{code}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.as_str())
    }
}

/// What is wrong with a template's text, or which value a rendering lacked.
///
/// Positions count characters (Unicode scalar values) from 0, not bytes, so
/// they match what an editor shows for Arabic text too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// `{…}` names no known placeholder.
    #[error("unknown placeholder {{{}}} at character {}{}", .name, .position, unknown_hint(.suggestion))]
    UnknownPlaceholder {
        /// The name between the braces (at most its first 40 characters).
        name: String,
        /// Character index of the `{`.
        position: usize,
        /// A known placeholder within two edits of the name, if any.
        suggestion: Option<Placeholder>,
    },
    /// A `{` has no `}` before the end of the text or the next `{`.
    #[error(
        "unclosed placeholder: '{{' at character {position} has no matching '}}' (write '{{{{' for a literal brace)"
    )]
    UnclosedPlaceholder {
        /// Character index of the `{`.
        position: usize,
    },
    /// A `}` that closes nothing and is not doubled.
    #[error("unmatched '}}' at character {position} (write '}}}}' for a literal brace)")]
    UnmatchedClose {
        /// Character index of the `}`.
        position: usize,
    },
    /// The template uses a placeholder whose value the [`ShareContext`]
    /// does not have (or has only blank).
    #[error("the template uses {placeholder} but the share context has no value for it")]
    MissingValue {
        /// The placeholder without a value.
        placeholder: Placeholder,
    },
}

fn unknown_hint(suggestion: &Option<Placeholder>) -> String {
    match suggestion {
        Some(p) => format!("; did you mean {p}?"),
        None => {
            let known: Vec<String> = Placeholder::ALL.iter().map(|p| p.to_string()).collect();
            format!("; known placeholders are {}", known.join(", "))
        }
    }
}

/// The known placeholder closest to `name` (ignoring case and surrounding
/// spaces) if it is at most two edits away.
fn suggest(name: &str) -> Option<Placeholder> {
    let name = name.trim().to_lowercase();
    // Longer names are nowhere near a placeholder; skip the quadratic work.
    if name.chars().count() > 24 {
        return None;
    }
    Placeholder::ALL
        .into_iter()
        .map(|p| (edit_distance(&name, p.as_str()), p))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, p)| p)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Value(Placeholder),
}

/// Host-supplied message text with named placeholders.
///
/// Placeholders are `{code}`, `{link}`, `{reward}`, `{referee_reward}`,
/// `{name}` and `{program}` (see [`Placeholder`]); `{{` and `}}` stand for
/// literal braces. Names are exact: `{Code}` and `{ code }` are errors
/// (with a "did you mean" hint), so that a typo is caught when the template
/// is configured rather than shipped to customers.
///
/// Serialises as its source text; deserialising parses and validates it.
///
/// # Example: a host's own text
/// ```
/// use referrals::share::{Language, ShareContext, Template};
///
/// let template = Template::parse("Use {code} at {program} ({{no expiry}})")?;
/// let context = ShareContext::new("7K3-MQ9-XDS", Language::En).with_program("Bakery");
/// assert_eq!(
///     template.render(&context)?,
///     "Use 7K3-MQ9-XDS at \u{2068}Bakery\u{2069} ({no expiry})"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: an Arabic template, and a typo caught at parse time
/// ```
/// use referrals::share::{Language, ShareContext, Template};
///
/// let template = Template::parse("رمزك: {code}")?;
/// let context = ShareContext::new("7K3-MQ9-XDS", Language::Ar);
/// assert_eq!(template.render(&context)?, "رمزك: \u{2066}7K3-MQ9-XDS\u{2069}");
///
/// let err = Template::parse("رمزك: {cod}").unwrap_err();
/// assert_eq!(err.to_string(), "unknown placeholder {cod} at character 6; did you mean {code}?");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    /// Parses template text.
    ///
    /// # Errors
    /// * [`TemplateError::UnknownPlaceholder`] for `{…}` that names no
    ///   placeholder (with a suggestion when one is close);
    /// * [`TemplateError::UnclosedPlaceholder`] for a `{` without a `}`;
    /// * [`TemplateError::UnmatchedClose`] for a lone `}`.
    ///
    /// Each gives the character index of the offending brace.
    ///
    /// # Example: placeholders and escaped braces
    /// ```
    /// use referrals::share::{Placeholder, Template};
    /// let template = Template::parse("{{code}} is {code}")?;
    /// assert_eq!(template.placeholders().collect::<Vec<_>>(), [Placeholder::Code]);
    /// assert_eq!(template.as_str(), "{{code}} is {code}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: each error names the position
    /// ```
    /// use referrals::share::{Template, TemplateError};
    /// assert_eq!(
    ///     Template::parse("Use {code now").unwrap_err(),
    ///     TemplateError::UnclosedPlaceholder { position: 4 }
    /// );
    /// assert_eq!(
    ///     Template::parse("خصم 25} فقط").unwrap_err().to_string(),
    ///     "unmatched '}' at character 6 (write '}}' for a literal brace)"
    /// );
    /// ```
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = source.chars().enumerate().peekable();
        while let Some((position, c)) = chars.next() {
            match c {
                '{' if chars.next_if(|&(_, next)| next == '{').is_some() => text.push('{'),
                '}' if chars.next_if(|&(_, next)| next == '}').is_some() => text.push('}'),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, '{')) | None => {
                                return Err(TemplateError::UnclosedPlaceholder { position });
                            }
                            Some((_, ch)) => name.push(ch),
                        }
                    }
                    let Some(placeholder) = Placeholder::from_name(&name) else {
                        return Err(TemplateError::UnknownPlaceholder {
                            suggestion: suggest(&name),
                            name: excerpt(&name, NAME_EXCERPT_CHARS),
                            position,
                        });
                    };
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Value(placeholder));
                }
                '}' => return Err(TemplateError::UnmatchedClose { position }),
                _ => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template's source text, as given to [`parse`](Self::parse).
    ///
    /// # Example: the source keeps its escapes
    /// ```
    /// use referrals::share::Template;
    /// assert_eq!(Template::parse("{{x}} {link}")?.as_str(), "{{x}} {link}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The placeholders the template uses, in order of appearance (repeats
    /// included).
    ///
    /// # Example: what a template needs from the context
    /// ```
    /// use referrals::share::{Placeholder, Template};
    /// let template = Template::parse("{name}: {code} {code}")?;
    /// let used: Vec<_> = template.placeholders().collect();
    /// assert_eq!(used, [Placeholder::Name, Placeholder::Code, Placeholder::Code]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Value(p) => Some(*p),
            Part::Text(_) => None,
        })
    }

    /// Renders the template with the values of `context`.
    ///
    /// Values are inserted as they are, except that explicit bidi
    /// embedding, override and isolate characters are removed from them,
    /// and they are wrapped in directional isolates as the module docs
    /// describe (by `context`'s language).
    ///
    /// # Errors
    /// [`TemplateError::MissingValue`] for the first placeholder whose value
    /// the context lacks or has only blank (whitespace and bidi formatting
    /// characters). Rendering an empty string instead would send customers
    /// messages like "Use my code  to get  off".
    ///
    /// # Example: an English message with an Arabic name
    /// ```
    /// use referrals::share::{Language, ShareContext, Template};
    /// use referrals::{Currency, Money};
    ///
    /// let template = Template::parse("{name} gave you {referee_reward}: {code}")?;
    /// let context = ShareContext::new("7K3-MQ9-XDS", Language::En)
    ///     .with_name("ريم")
    ///     .with_referee_reward(Money::new(1_500, Currency::KWD));
    /// assert_eq!(
    ///     template.render(&context)?,
    ///     "\u{2068}ريم\u{2069} gave you 1.500 KWD: 7K3-MQ9-XDS"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an Arabic message, and a missing value
    /// ```
    /// use referrals::share::{Language, Placeholder, ShareContext, Template, TemplateError};
    /// use referrals::{Currency, Money};
    ///
    /// let template = Template::parse("احصل على {referee_reward} مع الرمز {code}")?;
    /// let context = ShareContext::new("BAKE-7K3-MQ9", Language::Ar)
    ///     .with_referee_reward(Money::new(2500, Currency::SAR));
    /// assert_eq!(
    ///     template.render(&context)?,
    ///     "احصل على \u{2066}25.00 SAR\u{2069} مع الرمز \u{2066}BAKE-7K3-MQ9\u{2069}"
    /// );
    ///
    /// let err = Template::parse("{reward}")?.render(&context).unwrap_err();
    /// assert_eq!(err, TemplateError::MissingValue { placeholder: Placeholder::Reward });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn render(&self, context: &ShareContext) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(self.source.len() + 64);
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Value(placeholder) => context.write_value(*placeholder, &mut out)?,
            }
        }
        Ok(out)
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Template({:?})", self.source)
    }
}

impl fmt::Display for Template {
    /// The source text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, TemplateError> {
        Template::parse(s)
    }
}

impl TryFrom<String> for Template {
    type Error = TemplateError;
    fn try_from(s: String) -> Result<Self, TemplateError> {
        Template::parse(&s)
    }
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        t.source
    }
}

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
    referee_reward: Option<Money>,
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
    fn write_value(&self, placeholder: Placeholder, out: &mut String) -> Result<(), TemplateError> {
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

/// Explicit directional embeddings, overrides and isolates (and their
/// terminators): the characters that open or close a directional scope.
fn is_explicit_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// All bidi formatting characters: the explicit ones and the marks.
fn is_bidi_format(c: char) -> bool {
    is_explicit_bidi(c) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// At most the first `max` characters of `text`, marked with `…` when cut.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

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
    subject: Option<Template>,
    body: Template,
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

/// Which built-in text a channel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Email,
    Social,
    Counter,
    Generic,
}

impl Kind {
    fn of(channel: &Channel) -> Kind {
        match channel {
            Channel::Sms | Channel::WhatsApp | Channel::Telegram | Channel::Snapchat => Kind::Chat,
            Channel::Email => Kind::Email,
            Channel::X
            | Channel::Instagram
            | Channel::TikTok
            | Channel::Facebook
            | Channel::LinkedIn => Kind::Social,
            Channel::Qr | Channel::InStore => Kind::Counter,
            Channel::Link | Channel::Custom(_) => Kind::Generic,
        }
    }
}

/// A built-in text: an optional subject and a body, as template source.
#[derive(Debug, Clone, Copy)]
struct Text {
    subject: Option<&'static str>,
    body: &'static str,
}

const fn body(body: &'static str) -> Text {
    Text {
        subject: None,
        body,
    }
}

/// The built-in texts, indexed `[kind][language][with referee reward]`.
///
/// Language index: 0 English, 1 Arabic. Every entry is checked at compile
/// time by [`is_valid_template`] below.
const TEXTS: [[[Text; 2]; 2]; 5] = [
    // Chat: WhatsApp, SMS, Telegram, Snapchat.
    [
        [
            body("You'll love {program}! Sign up with my code {code}: {link}"),
            body(
                "You'll love {program}! Use my code {code} to get {referee_reward} off your first order: {link}",
            ),
        ],
        [
            body("أنصحك بتجربة {program}! سجّل باستخدام رمزي {code}:\n{link}"),
            body(
                "أنصحك بتجربة {program}! استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n{link}",
            ),
        ],
    ],
    // E-mail.
    [
        [
            Text {
                subject: Some("Join me at {program}"),
                body: "Hi,\n\nI've been enjoying {program} and I think you'll like it too. \
                       Sign up with my code {code}:\n\n{link}\n\nSee you there!",
            },
            Text {
                subject: Some("A gift for you: {referee_reward} off at {program}"),
                body: "Hi,\n\nI've been enjoying {program} and I think you'll like it too. \
                       Use my code {code} to get {referee_reward} off your first order:\n\n{link}\n\nEnjoy!",
            },
        ],
        [
            Text {
                subject: Some("انضم إليّ في {program}"),
                body: "مرحبًا،\n\nجرّبت {program} وأعجبني كثيرًا، وأظنه سيعجبك أيضًا. \
                       سجّل باستخدام رمزي {code}:\n\n{link}\n\nمع أطيب التحيات",
            },
            Text {
                subject: Some("هدية لك: خصم {referee_reward} من {program}"),
                body: "مرحبًا،\n\nجرّبت {program} وأعجبني كثيرًا، وأظنه سيعجبك أيضًا. \
                       استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n\n{link}\n\nمع أطيب التحيات",
            },
        ],
    ],
    // Social posts: X, Instagram, TikTok, Facebook, LinkedIn.
    [
        [
            body("Join me at {program} with my code {code} 🎁 {link}"),
            body(
                "{referee_reward} off your first order at {program} with my code {code} 🎁 {link}",
            ),
        ],
        [
            body("انضم إليّ في {program} مع رمزي {code} 🎁\n{link}"),
            body("خصم {referee_reward} على طلبك الأول من {program} مع رمزي {code} 🎁\n{link}"),
        ],
    ],
    // Counter: QR codes and in-store, no link.
    [
        [
            body("Show this code at the counter at {program}: {code}"),
            body(
                "Show this code at the counter: {code}\n{referee_reward} off your first order at {program}.",
            ),
        ],
        [
            body("اعرض هذا الرمز عند الدفع في {program}: {code}"),
            body(
                "اعرض هذا الرمز عند الدفع: {code}\nخصم {referee_reward} على طلبك الأول من {program}.",
            ),
        ],
    ],
    // Generic: copied links, custom channels.
    [
        [
            body("Join me at {program}! Sign up with my code {code}: {link}"),
            body(
                "Join me at {program}! Use my code {code} to get {referee_reward} off your first order: {link}",
            ),
        ],
        [
            body("انضم إليّ في {program}! سجّل باستخدام رمزي {code}:\n{link}"),
            body(
                "انضم إليّ في {program}! استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n{link}",
            ),
        ],
    ],
];

// Every built-in text parses: checked by the compiler, so that `builtin`
// below cannot fail at run time.
const _: () = {
    let mut kind = 0;
    while kind < TEXTS.len() {
        let mut language = 0;
        while language < 2 {
            let mut reward = 0;
            while reward < 2 {
                let text = TEXTS[kind][language][reward];
                assert!(
                    is_valid_template(text.body),
                    "a built-in body does not parse"
                );
                if let Some(subject) = text.subject {
                    assert!(
                        is_valid_template(subject),
                        "a built-in subject does not parse"
                    );
                }
                reward += 1;
            }
            language += 1;
        }
        kind += 1;
    }
};

/// Whether `source` parses as a [`Template`]: the same grammar as
/// [`Template::parse`], over bytes so that it runs at compile time. Braces
/// are ASCII, so byte scanning is exact for UTF-8 text.
const fn is_valid_template(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let doubled = i + 1 < bytes.len() && bytes[i + 1] == bytes[i];
        if bytes[i] == b'{' && !doubled {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'}' {
                if bytes[end] == b'{' {
                    return false;
                }
                end += 1;
            }
            if end == bytes.len() || !is_placeholder_name(bytes, start, end) {
                return false;
            }
            i = end + 1;
        } else if bytes[i] == b'}' && !doubled {
            return false;
        } else if bytes[i] == b'{' || bytes[i] == b'}' {
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// Whether `bytes[start..end]` is a placeholder name.
const fn is_placeholder_name(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut k = 0;
    while k < PLACEHOLDER_NAMES.len() {
        let name = PLACEHOLDER_NAMES[k].as_bytes();
        if name.len() == end - start {
            let mut j = 0;
            while j < name.len() && name[j] == bytes[start + j] {
                j += 1;
            }
            if j == name.len() {
                return true;
            }
        }
        k += 1;
    }
    false
}

/// The built-in template for a channel, language and reward variant.
fn builtin(channel: &Channel, language: Language, with_reward: bool) -> MessageTemplate {
    let kind = match Kind::of(channel) {
        Kind::Chat => 0,
        Kind::Email => 1,
        Kind::Social => 2,
        Kind::Counter => 3,
        Kind::Generic => 4,
    };
    let language = match language {
        Language::En => 0,
        Language::Ar => 1,
    };
    let text = TEXTS[kind][language][usize::from(with_reward)];
    MessageTemplate {
        subject: text.subject.map(parse_builtin),
        body: parse_builtin(text.body),
    }
}

fn parse_builtin(source: &'static str) -> Template {
    // OK because every built-in text is checked by `is_valid_template` at
    // compile time (the `const _` block above), and the test
    // `const_validator_agrees_with_parse` checks that it accepts exactly
    // what `Template::parse` accepts.
    Template::parse(source).expect("built-in templates are checked at compile time")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    fn full(language: Language) -> ShareContext {
        ShareContext::new("BAKE-7K3-MQ9", language)
            .with_link("https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms")
            .with_reward(Money::new(2000, Currency::SAR))
            .with_referee_reward(Money::new(2500, Currency::SAR))
            .with_name("ريم")
            .with_program("Bake & Co")
    }

    fn channels() -> Vec<Channel> {
        let mut all = Channel::BUILT_IN.to_vec();
        all.push(Channel::custom("podcast").unwrap());
        all
    }

    fn isolated(open: char, value: &str) -> String {
        format!("{open}{value}{PDI}")
    }

    #[test]
    fn every_channel_and_language_renders_with_a_full_context() {
        for channel in channels() {
            for language in Language::ALL {
                for with_reward in [true, false] {
                    let template = builtin(&channel, language, with_reward);
                    let message = template
                        .render(&full(language))
                        .unwrap_or_else(|e| panic!("{channel} {language} {with_reward}: {e}"));
                    let what = format!("{channel} {language} {with_reward}: {message:?}");
                    assert!(message.body.contains("BAKE-7K3-MQ9"), "{what}");
                    assert!(message.body.contains("Bake & Co"), "{what}");
                    assert_eq!(message.body.contains("25.00 SAR"), with_reward, "{what}");
                    let counter = matches!(channel, Channel::Qr | Channel::InStore);
                    assert_eq!(
                        message.body.contains("https://bakery.example/"),
                        !counter,
                        "{what}"
                    );
                    assert_eq!(
                        message.subject.is_some(),
                        channel == Channel::Email,
                        "{what}"
                    );
                    // No placeholder or brace leaks into the output.
                    assert!(!message.body.contains(['{', '}']), "{what}");
                }
            }
        }
    }

    #[test]
    fn defaults_need_only_code_program_and_link() {
        for channel in channels() {
            for language in Language::ALL {
                let context = ShareContext::new("BAKE-7K3-MQ9", language)
                    .with_program("مخبز")
                    .with_link("https://bakery.example/");
                let message = ShareMessages::new().render(&channel, &context);
                assert!(message.is_ok(), "{channel} {language}: {message:?}");
                let without_link = ShareContext::new("BAKE-7K3-MQ9", language).with_program("مخبز");
                let counter = matches!(channel, Channel::Qr | Channel::InStore);
                assert_eq!(
                    ShareMessages::new().render(&channel, &without_link).is_ok(),
                    counter,
                    "{channel} {language}"
                );
            }
        }
    }

    #[test]
    fn render_picks_the_default_by_referee_reward() {
        let messages = ShareMessages::new();
        let with = messages.render(&Channel::Sms, &full(Language::En)).unwrap();
        assert!(with.body.contains("25.00 SAR off"), "{with:?}");
        let context = ShareContext::new("BAKE-7K3-MQ9", Language::En)
            .with_program("Bakery")
            .with_link("https://bakery.example/");
        let without = messages.render(&Channel::Sms, &context).unwrap();
        assert_eq!(
            without.body,
            "You'll love \u{2068}Bakery\u{2069}! Sign up with my code BAKE-7K3-MQ9: https://bakery.example/"
        );
    }

    #[test]
    fn arabic_isolates_code_link_and_money_exactly() {
        for channel in channels() {
            let message = ShareMessages::new()
                .render(&channel, &full(Language::Ar))
                .unwrap();
            let text = format!("{}\n{}", message.subject.unwrap_or_default(), message.body);
            assert!(
                text.contains(&isolated(LRI, "BAKE-7K3-MQ9")),
                "{channel}: {text}"
            );
            assert!(
                text.contains(&isolated(LRI, "25.00 SAR")),
                "{channel}: {text}"
            );
            assert!(
                text.contains(&isolated(FSI, "Bake & Co")),
                "{channel}: {text}"
            );
            if !matches!(channel, Channel::Qr | Channel::InStore) {
                let link = "https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms";
                assert!(text.contains(&isolated(LRI, link)), "{channel}: {text}");
            }
            // Every isolate is closed.
            let opened = text.chars().filter(|&c| c == LRI || c == FSI).count();
            assert_eq!(
                opened,
                text.chars().filter(|&c| c == PDI).count(),
                "{channel}"
            );
        }
    }

    #[test]
    fn english_isolates_names_only() {
        let template = Template::parse("{name} ({program}) says: {code} {reward} {link}").unwrap();
        let text = template.render(&full(Language::En)).unwrap();
        assert_eq!(
            text,
            "\u{2068}ريم\u{2069} (\u{2068}Bake & Co\u{2069}) says: BAKE-7K3-MQ9 20.00 SAR \
             https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms"
        );
    }

    #[test]
    fn arabic_defaults_start_with_an_arabic_letter() {
        // Apps that take the paragraph direction from the first strong
        // letter then lay the message out right to left.
        for channel in channels() {
            for with_reward in [true, false] {
                let template = builtin(&channel, Language::Ar, with_reward);
                let sources = std::iter::once(template.body()).chain(template.subject());
                for source in sources {
                    let first = source.as_str().chars().next().unwrap();
                    assert!(
                        ('\u{0600}'..='\u{06FF}').contains(&first),
                        "{channel}: {source:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn values_cannot_break_out_of_their_isolates() {
        let context = ShareContext::new("\u{2069}AB\u{202E}C", Language::Ar)
            .with_name("\u{2067}Eve\u{2069}\u{200F}")
            .with_program("\u{202B}x\u{202C}");
        let text = Template::parse("{code}|{name}|{program}")
            .unwrap()
            .render(&context)
            .unwrap();
        assert_eq!(
            text,
            "\u{2066}ABC\u{2069}|\u{2068}Eve\u{200F}\u{2069}|\u{2068}x\u{2069}"
        );
    }

    #[test]
    fn missing_and_blank_values_are_errors() {
        let context = ShareContext::new("BAKE-7K3-MQ9", Language::En).with_name(" \u{2068} ");
        for (source, missing) in [
            ("{link}", Placeholder::Link),
            ("{reward}", Placeholder::Reward),
            ("{referee_reward}", Placeholder::RefereeReward),
            ("{name}", Placeholder::Name),
            ("{code} {program}", Placeholder::Program),
        ] {
            let err = Template::parse(source)
                .unwrap()
                .render(&context)
                .unwrap_err();
            assert_eq!(
                err,
                TemplateError::MissingValue {
                    placeholder: missing
                },
                "{source}"
            );
        }
        let err = Template::parse("{name}")
            .unwrap()
            .render(&context)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the template uses {name} but the share context has no value for it"
        );
        let blank_code = ShareContext::new("", Language::En);
        assert!(
            Template::parse("{code}")
                .unwrap()
                .render(&blank_code)
                .is_err()
        );
    }

    #[test]
    fn template_errors_name_the_problem_and_position() {
        let cases = [
            (
                "Use {cod} now",
                "unknown placeholder {cod} at character 4; did you mean {code}?",
            ),
            (
                "Use {Code}",
                "unknown placeholder {Code} at character 4; did you mean {code}?",
            ),
            (
                "{ referee_reward }",
                "unknown placeholder { referee_reward } at character 0; did you mean {referee_reward}?",
            ),
            (
                "{coupon}",
                "unknown placeholder {coupon} at character 0; known placeholders are {code}, {link}, \
                 {reward}, {referee_reward}, {name}, {program}",
            ),
            (
                "{}",
                "unknown placeholder {} at character 0; known placeholders are {code}, {link}, \
                 {reward}, {referee_reward}, {name}, {program}",
            ),
            (
                "رمزي {code",
                "unclosed placeholder: '{' at character 5 has no matching '}' (write '{{' for a literal brace)",
            ),
            (
                "{code {link}",
                "unclosed placeholder: '{' at character 0 has no matching '}' (write '{{' for a literal brace)",
            ),
            (
                "50% off} {code}",
                "unmatched '}' at character 7 (write '}}' for a literal brace)",
            ),
            (
                "{code}}",
                "unmatched '}' at character 6 (write '}}' for a literal brace)",
            ),
        ];
        for (source, message) in cases {
            let err = Template::parse(source).unwrap_err();
            assert_eq!(err.to_string(), message, "{source:?}");
        }
        assert_eq!(
            Template::parse("خصم {cod}").unwrap_err(),
            TemplateError::UnknownPlaceholder {
                name: "cod".to_owned(),
                position: 4,
                suggestion: Some(Placeholder::Code),
            }
        );
        let long = format!("{{{}}}", "x".repeat(100));
        let TemplateError::UnknownPlaceholder { name, .. } = Template::parse(&long).unwrap_err()
        else {
            panic!("not an unknown placeholder");
        };
        assert_eq!(name.chars().count(), NAME_EXCERPT_CHARS + 1);
    }

    #[test]
    fn escaped_braces_render_literally() {
        let context = full(Language::En);
        let cases = [
            ("{{code}}", "{code}"),
            ("{{{code}}}", "{BAKE-7K3-MQ9}"),
            ("}}{{", "}{"),
            ("{{{{", "{{"),
            ("", ""),
        ];
        for (source, rendered) in cases {
            let template = Template::parse(source).unwrap();
            assert_eq!(template.render(&context).unwrap(), rendered, "{source:?}");
        }
        assert_eq!(
            Template::parse("{{code}}").unwrap().placeholders().count(),
            0
        );
    }

    #[test]
    fn template_json_is_its_source_and_is_validated() {
        let template = Template::parse("استخدم {code} {{x}}").unwrap();
        let json = serde_json::to_string(&template).unwrap();
        assert_eq!(json, r#""استخدم {code} {{x}}""#);
        assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), template);
        let err = serde_json::from_str::<Template>(r#""{cod}""#).unwrap_err();
        assert!(
            err.to_string().contains("unknown placeholder {cod}"),
            "{err}"
        );
        assert!(serde_json::from_str::<Template>(r#""{code""#).is_err());
    }

    #[test]
    fn share_messages_json_round_trip() {
        let messages = ShareMessages::new()
            .with_template(
                Channel::WhatsApp,
                Language::Ar,
                Template::parse("رمزي {code}").unwrap(),
            )
            .with_template(
                Channel::Email,
                Language::En,
                MessageTemplate::new(Template::parse("{code}").unwrap())
                    .with_subject(Template::parse("From {name}").unwrap()),
            )
            .with_template(
                Channel::custom("podcast").unwrap(),
                Language::En,
                Template::parse("Code {code}").unwrap(),
            );
        let json = serde_json::to_string(&messages).unwrap();
        assert_eq!(
            json,
            r#"{"overrides":{"email":{"en":{"subject":"From {name}","body":"{code}"}},"whatsapp":{"ar":{"body":"رمزي {code}"}},"podcast":{"en":{"body":"Code {code}"}}}}"#
        );
        assert_eq!(
            serde_json::from_str::<ShareMessages>(&json).unwrap(),
            messages
        );
        assert_eq!(
            serde_json::from_str::<ShareMessages>("{}").unwrap(),
            ShareMessages::new()
        );
        for bad in [
            r#"{"overrides":{"sms":{"en":{"body":"{cod}"}}}}"#,
            r#"{"overrides":{"sms":{"fr":{"body":"{code}"}}}}"#,
            r#"{"overrides":{"Bad Channel!":{"en":{"body":"{code}"}}}}"#,
            r#"{"overrides":{"sms":{"en":{"body":"{code}","subjct":"x"}}}}"#,
            // One channel under two of its names: one would silently win.
            r#"{"overrides":{"wa":{"en":{"body":"A {code}"}},"whatsapp":{"en":{"body":"B {code}"}}}}"#,
            r#"{"overrides":{"sms":{"en":{"body":"A {code}"},"en":{"body":"B {code}"}}}}"#,
            r#"{"overides":{}}"#,
        ] {
            assert!(serde_json::from_str::<ShareMessages>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_win_per_channel_and_language() {
        let messages = ShareMessages::new().with_template(
            Channel::Sms,
            Language::Ar,
            Template::parse("رمزي {code}").unwrap(),
        );
        let ar = messages.render(&Channel::Sms, &full(Language::Ar)).unwrap();
        assert_eq!(ar.body, "رمزي \u{2066}BAKE-7K3-MQ9\u{2069}");
        let en = messages.render(&Channel::Sms, &full(Language::En)).unwrap();
        assert_eq!(
            en,
            builtin(&Channel::Sms, Language::En, true)
                .render(&full(Language::En))
                .unwrap()
        );
        let other = messages
            .render(&Channel::WhatsApp, &full(Language::Ar))
            .unwrap();
        assert_ne!(other, ar);
    }

    #[test]
    fn email_override_without_subject_keeps_the_default_subject() {
        let messages = ShareMessages::new().with_template(
            Channel::Email,
            Language::Ar,
            Template::parse("رمزي {code}").unwrap(),
        );
        let message = messages
            .render(&Channel::Email, &full(Language::Ar))
            .unwrap();
        assert_eq!(
            message.subject.as_deref(),
            Some("هدية لك: خصم \u{2066}25.00 SAR\u{2069} من \u{2068}Bake & Co\u{2069}")
        );
        assert_eq!(message.body, "رمزي \u{2066}BAKE-7K3-MQ9\u{2069}");
    }

    #[test]
    fn language_serde_and_tags() {
        assert_eq!(serde_json::to_string(&Language::Ar).unwrap(), r#""ar""#);
        assert_eq!(
            serde_json::from_str::<Language>(r#""en""#).unwrap(),
            Language::En
        );
        assert!(serde_json::from_str::<Language>(r#""EN""#).is_err());
        for (tag, expected) in [
            ("ar", Some(Language::Ar)),
            ("AR-sa", Some(Language::Ar)),
            (" ar_EG.UTF-8 ", Some(Language::Ar)),
            ("en-US", Some(Language::En)),
            ("arz", None),
            ("fr", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(Language::from_tag(tag), expected, "{tag:?}");
        }
        assert!(Language::Ar.is_rtl() && !Language::En.is_rtl());
    }

    #[test]
    fn placeholder_names_agree_with_the_const_table() {
        for (p, name) in Placeholder::ALL.iter().zip(PLACEHOLDER_NAMES) {
            assert_eq!(p.as_str(), name);
            assert_eq!(Placeholder::from_name(name), Some(*p));
        }
    }

    #[test]
    fn suggestions_are_close_or_absent() {
        assert_eq!(suggest("lnk"), Some(Placeholder::Link));
        assert_eq!(suggest("refere_reward"), Some(Placeholder::RefereeReward));
        assert_eq!(suggest("NAME"), Some(Placeholder::Name));
        assert_eq!(suggest("coupon"), None);
        assert_eq!(suggest(&"x".repeat(1000)), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    /// Template-like text: braces, placeholder names and Unicode.
    fn template_ish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("{{".to_owned()),
            Just("}}".to_owned()),
            (0..PLACEHOLDER_NAMES.len()).prop_map(|i| format!("{{{}}}", PLACEHOLDER_NAMES[i])),
            (0..PLACEHOLDER_NAMES.len()).prop_map(|i| PLACEHOLDER_NAMES[i].to_owned()),
            Just("رمز".to_owned()),
            Just("\u{2069}".to_owned()),
            "\\PC{1,4}",
        ];
        prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
    }

    fn any_value() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{1,12}",
            "[a-z\u{0627}-\u{064A}\u{200E}\u{200F}\u{202A}-\u{202E}\u{2066}-\u{2069} -]{1,12}",
        ]
    }

    proptest! {
        #[test]
        fn template_parse_never_panics(source in "\\PC*") {
            let _ = Template::parse(&source);
        }

        #[test]
        fn const_validator_agrees_with_parse(source in template_ish()) {
            prop_assert_eq!(is_valid_template(&source), Template::parse(&source).is_ok(), "{:?}", source);
        }

        #[test]
        fn parsed_templates_round_trip_through_source_and_json(source in template_ish()) {
            if let Ok(template) = Template::parse(&source) {
                prop_assert_eq!(&Template::parse(template.as_str()).unwrap(), &template);
                let json = serde_json::to_string(&template).unwrap();
                prop_assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), template);
            }
        }

        #[test]
        fn escaped_text_renders_verbatim(text in any::<String>()) {
            let escaped = text.replace('{', "{{").replace('}', "}}");
            let template = Template::parse(&escaped).unwrap();
            prop_assert_eq!(template.render(&full(Language::Ar)).unwrap(), text);
        }

        #[test]
        fn rendered_isolates_are_always_balanced(
            names in prop::collection::vec(0..PLACEHOLDER_NAMES.len(), 0..8),
            code in any_value(),
            link in any_value(),
            name in any_value(),
            program in any_value(),
            rtl in any::<bool>(),
        ) {
            let source: String = names.iter().map(|&i| format!("{{{}}} ", PLACEHOLDER_NAMES[i])).collect();
            let language = if rtl { Language::Ar } else { Language::En };
            let context = ShareContext::new(code, language)
                .with_link(link)
                .with_name(name)
                .with_program(program)
                .with_reward(Money::new(-5, Currency::KWD))
                .with_referee_reward(Money::new(i64::MAX, Currency::JPY));
            match Template::parse(&source).unwrap().render(&context) {
                Ok(text) => {
                    // Values' own isolates are stripped; only ours remain,
                    // each opened and closed in order.
                    let mut depth = 0usize;
                    for c in text.chars() {
                        if c == LRI || c == FSI { depth += 1; prop_assert_eq!(depth, 1); }
                        if c == PDI { prop_assert_eq!(depth, 1); depth -= 1; }
                        let foreign = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2067}');
                        prop_assert!(!foreign, "a value's own bidi control in {:?}", text);
                    }
                    prop_assert_eq!(depth, 0);
                }
                Err(TemplateError::MissingValue { .. }) => {} // a blank value
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
