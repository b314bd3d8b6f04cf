//! [`Template`]: text with placeholders, parsed once and rendered per
//! share, with the values isolated by direction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Language, ShareContext};
use crate::text::{FSI, LRI, excerpt};

/// How many characters of an unknown placeholder name an error quotes.
pub(super) const NAME_EXCERPT_CHARS: usize = 40;

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
pub(super) const PLACEHOLDER_NAMES: [&str; 6] = [
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

    pub(super) fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The isolate that wraps this placeholder's value in `language`, if any
    /// (see the module docs on direction safety).
    pub(super) fn isolate(self, language: Language) -> Option<char> {
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
pub(super) fn suggest(name: &str) -> Option<Placeholder> {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
