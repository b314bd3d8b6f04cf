//! Identity signals, private by design: the e-mail, phone, device, IP,
//! payment and address a host sees with a signup or conversion, normalised
//! and reduced to keyed hashes that can be stored and compared to find one
//! person behind several accounts, without the crate or the host's fraud
//! tables keeping the raw values.
//!
//! Pure code: no I/O, no clock, no store. Three steps:
//!
//! 1. **Normalise** each raw input to a canonical text, so that spellings of
//!    the same thing compare equal: [`normalise_email`] (case, Gmail dots,
//!    `+tags`, `googlemail.com`), [`normalise_phone`] (E.164 from national,
//!    `00` or Arabic-Indic input), [`normalise_ip`] and [`ip_prefix`] (IPv4
//!    `/24`, IPv6 `/64`), [`normalise_address`] (case, spacing,
//!    punctuation, abbreviations, invisible marks), [`normalise_opaque`]
//!    (device and payment fingerprints). Every normaliser is idempotent and
//!    returns a typed error instead of guessing; none panics on any input.
//! 2. **Hash** the canonical text with HMAC-SHA256 under a program secret
//!    ([`Keyring`], [`IdentityKey`]), with the [`IdentityKind`] in the MAC
//!    input so that an e-mail and a device id with the same text never
//!    collide. Without the secret a [`SignalHash`] cannot be reversed by
//!    hashing a phone book, and two programs' hashes of the same person are
//!    unrelated.
//! 3. **Compare** two customers' [`IdentitySignals`] with
//!    [`IdentitySignals::shared_with`]. Keys rotate: a keyring keeps older
//!    keys, and [`Keyring::signals_for_matching`] hashes a fresh input under
//!    each of them, so hashes stored under an older key keep matching.
//!
//! # Example: two accounts, one person
//! ```
//! use referrals::fraud::identity::{
//!     IdentityInput, IdentityKey, IdentityKind, KeyId, Keyring, NormaliseOptions,
//! };
//!
//! let keyring = Keyring::new(IdentityKey::new(KeyId::new(1), &[7u8; 32])?);
//! let options = NormaliseOptions::default().with_default_region(966)?;
//!
//! let amira = IdentityInput {
//!     email: Some("Amira.Saleh+bakery@gmail.com".into()),
//!     phone: Some("+966 50 123 4567".into()),
//!     ..IdentityInput::default()
//! };
//! // A second account: other spelling of the same Gmail box, the same
//! // phone typed the national way with Arabic-Indic digits.
//! let second = IdentityInput {
//!     email: Some("amirasaleh@googlemail.com".into()),
//!     phone: Some("٠٥٠١٢٣٤٥٦٧".into()),
//!     ..IdentityInput::default()
//! };
//!
//! let stored = keyring.signals(&amira, &options);
//! let fresh = keyring.signals_for_matching(&second, &options);
//! assert!(fresh.errors().is_empty());
//! assert_eq!(fresh.shared_with(&stored), [IdentityKind::Email, IdentityKind::Phone]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is not done
//!
//! Hashes are exact: no fuzzy matching of addresses or names, and two
//! e-mail domains that are the same IDN in Unicode and in `xn--` form hash
//! differently. Whether a shared signal means fraud (a family shares an
//! address and a home IP) is for the caller's policy to decide.

use serde::{Deserialize, Serialize};

mod address;
mod email;
mod hash;
mod ip;
mod opaque;
mod phone;
#[cfg(test)]
mod tests;

pub use address::{AddressError, MAX_ADDRESS_INPUT, normalise_address};
pub use email::{
    BUILTIN_DISPOSABLE_DOMAINS, DisposableDomains, EmailError, email_domain, is_disposable,
    normalise_email,
};
pub use hash::{
    IdentityKey, IdentityKeyError, IdentitySignals, KeyId, Keyring, KeyringError, SignalError,
    SignalHash,
};
pub use ip::{
    IPV4_PREFIX, IPV6_PREFIX, IpError, ip_prefix, normalise_ip, normalise_ip_prefix, parse_ip,
};
pub use opaque::{MAX_OPAQUE, OpaqueError, normalise_opaque};
pub use phone::{CallingCode, MAX_DIGITS, MIN_DIGITS, PhoneError, normalise_phone};

/// What an identity signal is. Part of every [`SignalHash`] and of the MAC
/// input, so equal texts of two kinds never match.
///
/// The serialised names (`"email"`, `"ip_prefix"`, …) are also the domain
/// separation tags hashed with each value: they never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityKind {
    /// An e-mail address ([`normalise_email`]).
    Email,
    /// A phone number in E.164 ([`normalise_phone`]).
    Phone,
    /// A device fingerprint from the host's client ([`normalise_opaque`]).
    Device,
    /// An IP address ([`normalise_ip`]).
    Ip,
    /// The network of an IP address: its IPv4 `/24` or IPv6 `/64`
    /// ([`ip_prefix`]). Catches addresses that rotate within one network.
    IpPrefix,
    /// A payment instrument fingerprint from the host's payment provider
    /// (never a card number; [`normalise_opaque`]).
    Payment,
    /// A postal address ([`normalise_address`]).
    Address,
}

impl IdentityKind {
    /// Every kind, in the order of their declaration.
    pub const ALL: [IdentityKind; 7] = [
        IdentityKind::Email,
        IdentityKind::Phone,
        IdentityKind::Device,
        IdentityKind::Ip,
        IdentityKind::IpPrefix,
        IdentityKind::Payment,
        IdentityKind::Address,
    ];

    /// The kind's stable name, as serialised and as hashed for domain
    /// separation.
    pub const fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Device => "device",
            IdentityKind::Ip => "ip",
            IdentityKind::IpPrefix => "ip_prefix",
            IdentityKind::Payment => "payment",
            IdentityKind::Address => "address",
        }
    }
}

impl std::fmt::Display for IdentityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The raw identity data a host passes with a signup or conversion, as
/// typed or observed. Every field is optional; absent ones give no signal.
///
/// Hold it only as long as it takes to compute [`IdentitySignals`]: the
/// point of this module is that the raw values need not be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityInput {
    /// The e-mail address the customer gave.
    pub email: Option<String>,
    /// The phone number the customer gave, in any common notation.
    pub phone: Option<String>,
    /// An opaque device fingerprint from the host's client.
    pub device: Option<String>,
    /// The client's IP address (also gives an [`IdentityKind::IpPrefix`]).
    pub ip: Option<String>,
    /// An opaque payment instrument fingerprint from the payment provider.
    pub payment: Option<String>,
    /// A postal or delivery address, as one line of text.
    pub address: Option<String>,
}

impl IdentityInput {
    /// The present fields with their kinds, in [`IdentityKind::ALL`] order.
    /// (No [`IdentityKind::IpPrefix`]: it is derived from the IP.)
    pub fn fields(&self) -> impl Iterator<Item = (IdentityKind, &str)> {
        [
            (IdentityKind::Email, &self.email),
            (IdentityKind::Phone, &self.phone),
            (IdentityKind::Device, &self.device),
            (IdentityKind::Ip, &self.ip),
            (IdentityKind::Payment, &self.payment),
            (IdentityKind::Address, &self.address),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.as_deref().map(|value| (kind, value)))
    }
}

/// A program's settings for normalising: its default phone region and its
/// list of disposable e-mail domains.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct NormaliseOptions {
    /// The calling code national phone numbers (without `+` or `00`) are
    /// read in; without one they are refused.
    pub default_region: Option<CallingCode>,
    /// Which e-mail domains count as disposable.
    pub disposable: DisposableDomains,
}

impl NormaliseOptions {
    /// Reads national phone numbers as numbers of the country with this
    /// calling code (`966` for Saudi Arabia, `44` for the United Kingdom).
    ///
    /// # Errors
    /// [`PhoneError::CallingCode`] outside `1..=999`.
    pub fn with_default_region(mut self, calling_code: u16) -> Result<Self, PhoneError> {
        self.default_region = Some(CallingCode::new(calling_code)?);
        Ok(self)
    }

    /// Uses this list of disposable e-mail domains.
    pub fn with_disposable(mut self, disposable: DisposableDomains) -> Self {
        self.disposable = disposable;
        self
    }
}

/// A normaliser's refusal of one input, by kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NormaliseError {
    /// The e-mail address was refused.
    #[error("e-mail address: {0}")]
    Email(#[from] EmailError),
    /// The phone number was refused.
    #[error("phone number: {0}")]
    Phone(#[from] PhoneError),
    /// The IP address was refused.
    #[error("IP address: {0}")]
    Ip(#[from] IpError),
    /// The postal address was refused.
    #[error("postal address: {0}")]
    Address(#[from] AddressError),
    /// A device or payment fingerprint was refused.
    #[error("fingerprint: {0}")]
    Opaque(#[from] OpaqueError),
}

/// Normalises `raw` as an input of `kind`: the canonical text that is
/// hashed. For [`IdentityKind::IpPrefix`], `raw` is an IP address or a
/// prefix this function made.
///
/// # Errors
/// The kind's normaliser's error, wrapped in [`NormaliseError`].
///
/// # Example
/// ```
/// use referrals::fraud::identity::{normalise, IdentityKind, NormaliseOptions};
/// let options = NormaliseOptions::default();
/// assert_eq!(normalise(IdentityKind::IpPrefix, "203.0.113.77", &options)?, "203.0.113.0/24");
/// assert_eq!(normalise(IdentityKind::Email, " Sara@Example.COM ", &options)?, "sara@example.com");
/// # Ok::<(), referrals::fraud::identity::NormaliseError>(())
/// ```
pub fn normalise(
    kind: IdentityKind,
    raw: &str,
    options: &NormaliseOptions,
) -> Result<String, NormaliseError> {
    Ok(match kind {
        IdentityKind::Email => normalise_email(raw)?,
        IdentityKind::Phone => normalise_phone(raw, options.default_region)?,
        IdentityKind::Device | IdentityKind::Payment => normalise_opaque(raw)?,
        IdentityKind::Ip => normalise_ip(raw)?,
        IdentityKind::IpPrefix => normalise_ip_prefix(raw)?,
        IdentityKind::Address => normalise_address(raw)?,
    })
}

/// Zero-width characters and the soft hyphen: invisible, and pasted along
/// with text from web pages and chat apps.
fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}'
    )
}

/// Characters that cannot be seen: bidi formatting (LRM, RLM, isolates,
/// embeddings; common around numbers and e-mails pasted from right-to-left
/// text) and zero-width ones. Removed before normalising typed input.
fn is_invisible(c: char) -> bool {
    crate::text::is_bidi_format(c) || is_zero_width(c)
}

/// `raw` without [`is_invisible`] characters.
fn strip_invisible(raw: &str) -> String {
    raw.chars().filter(|&c| !is_invisible(c)).collect()
}
