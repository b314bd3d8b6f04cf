//! E-mail addresses: one canonical text per mailbox, and disposable
//! domains.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::strip_invisible;

/// Most bytes of raw input looked at: far above any real address (254), so
/// that hostile megabytes are refused before any work.
const MAX_INPUT: usize = 1024;
/// Most bytes of a canonical address (RFC 5321's path limit less the angle
/// brackets).
const MAX_ADDRESS: usize = 254;
/// Most bytes of a local part (RFC 5321).
const MAX_LOCAL: usize = 64;
/// Most bytes of one domain label (RFC 1035).
const MAX_LABEL: usize = 63;

/// Why an e-mail address was refused. Never contains the address itself,
/// so errors can be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EmailError {
    /// Nothing but whitespace or invisible marks.
    #[error("empty")]
    Empty,
    /// Longer than an address can be.
    #[error("too long ({len} bytes)")]
    TooLong {
        /// Bytes of the input, or of the canonical address.
        len: usize,
    },
    /// Not exactly one `@`.
    #[error("has {count} '@' signs, needs exactly one")]
    AtSigns {
        /// How many `@` there were.
        count: usize,
    },
    /// Nothing before the `@` (or only a `+tag`).
    #[error("nothing before the '@'")]
    EmptyLocal,
    /// A local part over 64 bytes.
    #[error("the part before the '@' is too long ({len} bytes)")]
    LocalTooLong {
        /// Bytes of the canonical local part.
        len: usize,
    },
    /// A character no mailbox name has: whitespace, a control character or
    /// one of `"(),:;<>[\]`.
    #[error("the part before the '@' contains {ch:?}")]
    LocalCharacter {
        /// The offending character.
        ch: char,
    },
    /// A local part that starts or ends with a dot or has two in a row.
    #[error("the part before the '@' has a leading, trailing or doubled dot")]
    LocalDots,
    /// Nothing after the `@`.
    #[error("nothing after the '@'")]
    EmptyDomain,
    /// A domain character other than a letter, a digit, `-` or `.`.
    #[error("the domain contains {ch:?}")]
    DomainCharacter {
        /// The offending character.
        ch: char,
    },
    /// An empty label (`a..com`), one over 63 bytes, or one that starts or
    /// ends with `-`.
    #[error("the domain has an empty, overlong or hyphen-edged label")]
    DomainLabel,
    /// A domain of one label (`localhost`): no public mailbox has one.
    #[error("the domain has no dot")]
    SingleLabelDomain,
}

/// The canonical text of an e-mail address: the one string every spelling
/// of the same mailbox maps to.
///
/// * Invisible marks (zero-width, bidi) are removed and whitespace trimmed;
///   everything is lower-cased (Unicode-aware). Local parts are
///   case-sensitive on paper, but no large provider treats them so, and a
///   fraudster varies case for free.
/// * `googlemail.com` is `gmail.com`.
/// * For `gmail.com`, dots in the local part and any `+tag` are dropped:
///   Gmail ignores both, so `a.b+x@gmail.com` is `ab@gmail.com`'s inbox.
/// * For every other domain only the `+tag` is dropped. Plus-addressing is
///   supported by most providers (Outlook, iCloud, Fastmail, Yahoo with
///   `-`, many self-hosted servers), so `+tag`s are the cheapest way to
///   make "new" addresses; dots, though, are significant outside Gmail
///   (`a.b@example.com` and `ab@example.com` can be two people).
/// * IDN domains are accepted as given, lower-cased (no conversion between
///   Unicode and `xn--` forms).
///
/// Idempotent: the output normalises to itself.
///
/// # Errors
/// An [`EmailError`] naming what was wrong, never echoing the address.
///
/// # Example
/// ```
/// use referrals::fraud::identity::normalise_email;
/// assert_eq!(normalise_email(" A.Li+promo@GoogleMail.com")?, "ali@gmail.com");
/// assert_eq!(normalise_email("a.li+promo@outlook.com")?, "a.li@outlook.com");
/// # Ok::<(), referrals::fraud::identity::EmailError>(())
/// ```
pub fn normalise_email(raw: &str) -> Result<String, EmailError> {
    if raw.len() > MAX_INPUT {
        return Err(EmailError::TooLong { len: raw.len() });
    }
    // NFKC first: full-width `ａｍｉｒａ` and a decomposed `é` are the
    // letters people see; again after lower-casing, which can decompose.
    let visible: String = strip_invisible(raw).nfkc().collect();
    let lower: String = visible.trim().to_lowercase().nfkc().collect();
    if lower.is_empty() {
        return Err(EmailError::Empty);
    }
    let count = lower.matches('@').count();
    if count != 1 {
        return Err(EmailError::AtSigns { count });
    }
    let (local, domain) = lower.split_once('@').ok_or(EmailError::AtSigns { count })?;
    // A fully qualified `example.com.` is `example.com`.
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    check_domain(domain)?;

    let untagged = local.split('+').next().unwrap_or_default();
    let local: String = if domain == "gmail.com" {
        untagged.chars().filter(|&c| c != '.').collect()
    } else {
        untagged.to_owned()
    };
    check_local(&local)?;

    let address = format!("{local}@{domain}");
    if address.len() > MAX_ADDRESS {
        return Err(EmailError::TooLong { len: address.len() });
    }
    Ok(address)
}

/// The domain of a normalised address: the text after its `@`.
///
/// # Example
/// ```
/// use referrals::fraud::identity::{email_domain, normalise_email};
/// let address = normalise_email("sara@Mailinator.com")?;
/// assert_eq!(email_domain(&address), Some("mailinator.com"));
/// # Ok::<(), referrals::fraud::identity::EmailError>(())
/// ```
pub fn email_domain(address: &str) -> Option<&str> {
    address.rsplit_once('@').map(|(_, domain)| domain)
}

fn check_local(local: &str) -> Result<(), EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocal);
    }
    if local.len() > MAX_LOCAL {
        return Err(EmailError::LocalTooLong { len: local.len() });
    }
    if let Some(ch) = local
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]".contains(c))
    {
        return Err(EmailError::LocalCharacter { ch });
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::LocalDots);
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), EmailError> {
    if domain.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    // Letters and digits of any script: IDN domains come in Unicode form.
    if let Some(ch) = domain
        .chars()
        .find(|&c| !(c.is_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(EmailError::DomainCharacter { ch });
    }
    let mut labels = 0;
    for label in domain.split('.') {
        labels += 1;
        if label.is_empty()
            || label.len() > MAX_LABEL
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(EmailError::DomainLabel);
        }
    }
    if labels < 2 {
        return Err(EmailError::SingleLabelDomain);
    }
    Ok(())
}

/// Well-known disposable e-mail domains, sorted: a short excerpt of the
/// `disposable_email_blocklist.conf` of the disposable-email-domains
/// project (<https://github.com/disposable-email-domains/disposable-email-domains>),
/// which is dedicated to the public domain under CC0 1.0. Only the best
/// known services are taken (the full list has thousands of domains and
/// changes weekly, and includes a few real ISPs); a program that wants the
/// full list loads it into [`DisposableDomains`] itself.
pub const BUILTIN_DISPOSABLE_DOMAINS: &[&str] = &[
    "0-mail.com",
    "10minutemail.co.uk",
    "10minutemail.com",
    "10minutemail.de",
    "10minutemail.net",
    "1secmail.com",
    "1secmail.net",
    "1secmail.org",
    "20minutemail.com",
    "anonbox.net",
    "armyspy.com",
    "bugmenot.com",
    "burnthespam.info",
    "byebyemail.com",
    "cuvox.de",
    "dayrep.com",
    "deadaddress.com",
    "despam.it",
    "discard.email",
    "discardmail.com",
    "discardmail.de",
    "disposableaddress.com",
    "disposableemailaddresses.com",
    "disposableinbox.com",
    "dispostable.com",
    "dodgeit.com",
    "dodgit.com",
    "dropmail.me",
    "dumpmail.de",
    "e4ward.com",
    "easytrashmail.com",
    "einrot.com",
    "email-fake.com",
    "emaildrop.io",
    "emailfake.com",
    "emailondeck.com",
    "emailsensei.com",
    "emailtemporanea.com",
    "fakeinbox.com",
    "fakemailgenerator.com",
    "fleckens.hu",
    "getairmail.com",
    "getnada.com",
    "getonemail.com",
    "grr.la",
    "guerillamail.com",
    "guerrillamail.biz",
    "guerrillamail.com",
    "guerrillamail.de",
    "guerrillamail.info",
    "guerrillamail.net",
    "guerrillamail.org",
    "guerrillamailblock.com",
    "gustr.com",
    "harakirimail.com",
    "inboxkitten.com",
    "incognitomail.com",
    "jetable.com",
    "jetable.net",
    "jetable.org",
    "jourrapide.com",
    "kurzepost.de",
    "mailcatch.com",
    "maildrop.cc",
    "mailexpire.com",
    "mailforspam.com",
    "mailinator.com",
    "mailinator.net",
    "mailinator.org",
    "mailnesia.com",
    "mailnull.com",
    "mailsac.com",
    "mintemail.com",
    "moakt.com",
    "mohmal.com",
    "mytemp.email",
    "mytrashmail.com",
    "nada.email",
    "no-spam.ws",
    "nospamfor.us",
    "oneoffemail.com",
    "pokemail.net",
    "rhyta.com",
    "sharklasers.com",
    "spam4.me",
    "spambog.com",
    "spambox.us",
    "spamex.com",
    "spamfree24.org",
    "superrito.com",
    "teleworm.us",
    "temp-mail.org",
    "temp-mail.ru",
    "tempail.com",
    "tempemail.com",
    "tempinbox.com",
    "tempmail.de",
    "tempmailo.com",
    "temporaryemail.net",
    "temporaryinbox.com",
    "tempr.email",
    "throwawaymail.com",
    "tmail.ws",
    "tmpmail.net",
    "tmpmail.org",
    "trash-mail.com",
    "trashmail.com",
    "trashmail.de",
    "trashmail.me",
    "trashmail.net",
    "trbvm.com",
    "wegwerfmail.de",
    "wegwerfmail.net",
    "yopmail.com",
    "yopmail.fr",
    "yopmail.net",
    "zehnminutenmail.de",
    "zetmail.com",
];

/// Whether `domain` (or a domain it is under, as `x.mailinator.com` is
/// under `mailinator.com`) is in [`BUILTIN_DISPOSABLE_DOMAINS`]. Case and
/// a trailing dot are ignored.
///
/// # Example
/// ```
/// use referrals::fraud::identity::is_disposable;
/// assert!(is_disposable("Mailinator.com"));
/// assert!(is_disposable("inbox.yopmail.com"));
/// assert!(!is_disposable("gmail.com"));
/// ```
pub fn is_disposable(domain: &str) -> bool {
    let domain = canonical_domain(domain);
    suffixes(&domain).any(|suffix| BUILTIN_DISPOSABLE_DOMAINS.binary_search(&suffix).is_ok())
}

/// Lower-case, trimmed, without trailing dots (all of them, and white
/// space between them: `x. .` once stripped of one dot kept another, so a
/// domain loaded from settings changed when loaded again).
fn canonical_domain(domain: &str) -> String {
    domain
        .to_lowercase()
        .trim_start()
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_owned()
}

/// `a.b.c`, `b.c`, `c`.
fn suffixes(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::once(domain).chain(domain.match_indices('.').map(|(at, _)| &domain[at + 1..]))
}

/// A program's disposable e-mail domains: the built-in list (unless
/// turned off) and domains of its own. A domain matches when it, or a
/// domain it is under, is listed.
///
/// # Example: a program's own additions
/// ```
/// use referrals::fraud::identity::DisposableDomains;
/// let mut domains = DisposableDomains::default();
/// domains.insert("Throwaway.Example");
/// assert!(domains.contains("mx.throwaway.example"));
/// assert!(domains.contains("yopmail.com"));
/// assert!(!DisposableDomains::none().contains("yopmail.com"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, from = "DisposableDomainsAsWritten")]
pub struct DisposableDomains {
    /// Whether [`BUILTIN_DISPOSABLE_DOMAINS`] count.
    builtin: bool,
    /// The program's own domains, canonical (lower-case, no trailing dot).
    extra: BTreeSet<String>,
}

/// [`DisposableDomains`] as a program's settings write it: its domains are
/// made canonical on load, as [`DisposableDomains::insert`] does, so
/// `"Throwaway.Example."` in a settings file matches.
#[derive(Deserialize)]
#[serde(default)]
struct DisposableDomainsAsWritten {
    builtin: bool,
    extra: Vec<String>,
}

impl Default for DisposableDomainsAsWritten {
    fn default() -> Self {
        DisposableDomainsAsWritten {
            builtin: true,
            extra: Vec::new(),
        }
    }
}

impl From<DisposableDomainsAsWritten> for DisposableDomains {
    fn from(written: DisposableDomainsAsWritten) -> DisposableDomains {
        let mut domains = DisposableDomains {
            builtin: written.builtin,
            extra: BTreeSet::new(),
        };
        for d in &written.extra {
            domains.insert(d);
        }
        domains
    }
}

impl Default for DisposableDomains {
    /// The built-in list and nothing else.
    fn default() -> Self {
        DisposableDomains {
            builtin: true,
            extra: BTreeSet::new(),
        }
    }
}

impl DisposableDomains {
    /// No domains at all, not even the built-in ones: for a program that
    /// brings its whole list.
    pub fn none() -> Self {
        DisposableDomains {
            builtin: false,
            extra: BTreeSet::new(),
        }
    }

    /// Adds a domain (case and a trailing dot are ignored; an empty one
    /// is not added).
    pub fn insert(&mut self, domain: &str) {
        let domain = canonical_domain(domain);
        if !domain.is_empty() {
            self.extra.insert(domain);
        }
    }

    /// Whether `domain`, or a domain it is under, is listed.
    pub fn contains(&self, domain: &str) -> bool {
        let domain = canonical_domain(domain);
        suffixes(&domain).any(|suffix| {
            (self.builtin && BUILTIN_DISPOSABLE_DOMAINS.binary_search(&suffix).is_ok())
                || self.extra.contains(suffix)
        })
    }
}

impl<S: AsRef<str>> Extend<S> for DisposableDomains {
    fn extend<I: IntoIterator<Item = S>>(&mut self, domains: I) {
        for domain in domains {
            self.insert(domain.as_ref());
        }
    }
}
