//! Identifiers, channels and the events a host reports.
//!
//! Everything here is plain data: serde-serialisable, comparable, and free of
//! any store or engine. The engine turns these events into decisions.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::money::Money;

/// Longest identifier accepted, in bytes. Long enough for UUIDs, ULIDs,
/// e-mail-like keys and `shop:order:123`-style composite keys; short enough
/// that a hostile caller cannot bloat the store through ids.
pub const MAX_ID_LEN: usize = 128;

/// An identifier was empty, too long or held a control character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The identifier was the empty string.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier type, e.g. `customer id`.
        kind: &'static str,
    },
    /// The identifier was longer than [`MAX_ID_LEN`] bytes.
    #[error("{kind} is {len} bytes long, the limit is {MAX_ID_LEN}")]
    TooLong {
        /// Which identifier type.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The identifier held a control character, a bidi formatting
    /// character or an invisible space (they break logs and keys, or make
    /// two ids look the same: `U+202E` reverses the text after it).
    #[error("{kind} holds control or invisible character U+{code_point:04X} at byte {position}")]
    ControlCharacter {
        /// Which identifier type.
        kind: &'static str,
        /// The offending code point.
        code_point: u32,
        /// Its byte offset.
        position: usize,
    },
}

fn validate_id(kind: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { kind, len: s.len() });
    }
    if let Some((position, c)) = s
        .char_indices()
        .find(|&(_, c)| c.is_control() || is_invisible(c))
    {
        return Err(IdError::ControlCharacter {
            kind,
            code_point: c as u32,
            position,
        });
    }
    Ok(())
}

/// Bidi formatting characters (marks, embeddings, overrides, isolates) and
/// invisible characters (soft hyphen, Mongolian vowel separator,
/// zero-width space, word joiner and invisible operators, deprecated
/// format controls, BOM). The zero-width (non-)joiners stay allowed:
/// Persian and Indic text need them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        ///
        /// Opaque text chosen by the host: 1 to [`MAX_ID_LEN`] bytes, no
        /// control characters. A distinct type, so ids of different kinds
        /// cannot be mixed up. Immutable and shared: cloning one (records
        /// repeat ids many times) copies a pointer, not the text.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Checks and wraps an identifier.
            ///
            /// # Errors
            /// [`IdError`] if `id` is empty, longer than [`MAX_ID_LEN`]
            /// bytes or holds a control character.
            pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
                let id = id.into();
                validate_id($kind, &id)?;
                Ok(Self(id.into()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_ref().to_owned()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A customer of the host application: a referrer, a referee, or both.
    CustomerId,
    "customer id"
);
id_type!(
    /// A referral program. One store may hold many programs.
    ProgramId,
    "program id"
);
id_type!(
    /// An anonymous visitor (a cookie or device id) seen before signup.
    VisitorId,
    "visitor id"
);
id_type!(
    /// The host's id for one reported event (a touch or a signup). Used as
    /// the idempotency key: the same id always means the same event.
    EventId,
    "event id"
);
id_type!(
    /// The host's order id. Conversions are idempotent by order id.
    OrderId,
    "order id"
);
id_type!(
    /// The host's id for one refund of an order (an order may be refunded in
    /// several parts).
    RefundId,
    "refund id"
);
id_type!(
    /// One entry of the reward ledger.
    LedgerEntryId,
    "ledger entry id"
);
id_type!(
    /// One reward in the ledger: derived from what earned it, so the same
    /// cause always names the same reward.
    RewardId,
    "reward id"
);
id_type!(
    /// The host's id for one redemption (spending some of a reward). A
    /// redemption is idempotent by this id.
    RedemptionId,
    "redemption id"
);
id_type!(
    /// Who made a review decision (a staff member, a fraud system).
    OperatorId,
    "operator id"
);
id_type!(
    /// One item of the fulfilment outbox. Also the delivery key a host
    /// passes to its provider, so a redelivery is harmless.
    DeliveryId,
    "delivery id"
);

/// Where a referral travelled: the medium a share link or code was sent by.
///
/// Serialises as a lower-case name (`"whatsapp"`, `"in_store"`); a
/// [`Channel::Custom`] serialises as its own name.
///
/// # Example: parsing what hosts and links send
/// ```
/// use referrals::Channel;
/// assert_eq!("WhatsApp".parse::<Channel>()?, Channel::WhatsApp);
/// assert_eq!("twitter".parse::<Channel>()?, Channel::X);
/// assert_eq!("in-store".parse::<Channel>()?, Channel::InStore);
/// assert_eq!("podcast".parse::<Channel>()?.as_str(), "podcast");
/// # Ok::<(), referrals::model::ChannelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum Channel {
    /// E-mail.
    Email,
    /// SMS text message.
    Sms,
    /// WhatsApp.
    WhatsApp,
    /// Telegram.
    Telegram,
    /// Facebook (and Messenger).
    Facebook,
    /// Instagram.
    Instagram,
    /// X (formerly Twitter).
    X,
    /// LinkedIn.
    LinkedIn,
    /// TikTok.
    TikTok,
    /// Snapchat.
    Snapchat,
    /// A printed or on-screen QR code.
    Qr,
    /// Told in person at a shop counter.
    InStore,
    /// A copied link with no known medium.
    Link,
    /// A host-defined channel: 1 to 32 of `a-z`, `0-9`, `_`, `-` that is
    /// not a built-in channel's name or alias (made by
    /// [`Channel::custom`] or parsing, so it always reads back as itself).
    Custom(CustomChannel),
}

/// The name of a host-defined channel, valid by construction: 1 to 32 of
/// `a-z`, `0-9`, `_` and `-`, and not the name or alias of a built-in
/// channel. Made by [`Channel::custom`] or by parsing a [`Channel`].
///
/// # Example
/// ```
/// use referrals::Channel;
///
/// let Channel::Custom(name) = Channel::custom("Souq-Flyer")? else { unreachable!() };
/// assert_eq!(name.as_str(), "souq-flyer");
/// # Ok::<(), referrals::model::ChannelError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomChannel(String);

impl CustomChannel {
    /// The name (lower case).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A channel name that is neither known nor a valid custom name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel name {name:?} is not valid: {reason}")]
pub struct ChannelError {
    /// The rejected name.
    pub name: String,
    /// Why it was rejected.
    pub reason: &'static str,
}

impl Channel {
    /// Every built-in channel, in declaration order.
    pub const BUILT_IN: [Channel; 13] = [
        Channel::Email,
        Channel::Sms,
        Channel::WhatsApp,
        Channel::Telegram,
        Channel::Facebook,
        Channel::Instagram,
        Channel::X,
        Channel::LinkedIn,
        Channel::TikTok,
        Channel::Snapchat,
        Channel::Qr,
        Channel::InStore,
        Channel::Link,
    ];

    /// The canonical lower-case name, as used in `utm_source`.
    pub fn as_str(&self) -> &str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::WhatsApp => "whatsapp",
            Channel::Telegram => "telegram",
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::X => "x",
            Channel::LinkedIn => "linkedin",
            Channel::TikTok => "tiktok",
            Channel::Snapchat => "snapchat",
            Channel::Qr => "qr",
            Channel::InStore => "in_store",
            Channel::Link => "link",
            Channel::Custom(name) => name.as_str(),
        }
    }

    /// A host-defined channel.
    ///
    /// # Errors
    /// [`ChannelError`] unless `name` is 1 to 32 characters of `a-z`, `0-9`,
    /// `_` and `-` (upper case is folded). A name that is a built-in
    /// channel's returns that channel instead of a custom one.
    pub fn custom(name: &str) -> Result<Channel, ChannelError> {
        name.parse()
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = ChannelError;

    fn from_str(s: &str) -> Result<Self, ChannelError> {
        let folded: String = s.trim().to_ascii_lowercase();
        let known = match folded.as_str() {
            "email" | "e-mail" | "mail" => Some(Channel::Email),
            "sms" | "text" => Some(Channel::Sms),
            "whatsapp" | "wa" => Some(Channel::WhatsApp),
            "telegram" | "tg" => Some(Channel::Telegram),
            "facebook" | "fb" | "messenger" => Some(Channel::Facebook),
            "instagram" | "ig" => Some(Channel::Instagram),
            "x" | "twitter" => Some(Channel::X),
            "linkedin" => Some(Channel::LinkedIn),
            "tiktok" => Some(Channel::TikTok),
            "snapchat" | "snap" => Some(Channel::Snapchat),
            "qr" | "qr_code" | "qrcode" | "qr-code" => Some(Channel::Qr),
            "in_store" | "in-store" | "instore" | "store" => Some(Channel::InStore),
            "link" | "copy" | "direct" => Some(Channel::Link),
            _ => None,
        };
        if let Some(channel) = known {
            return Ok(channel);
        }
        let reject = |reason| ChannelError {
            name: s.to_owned(),
            reason,
        };
        if folded.is_empty() {
            return Err(reject("it is empty"));
        }
        // The characters first: then bytes are characters, and the length
        // check says what it means.
        if !folded
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            return Err(reject("only a-z, 0-9, '_' and '-' are allowed"));
        }
        if folded.len() > 32 {
            return Err(reject("it is longer than 32 characters"));
        }
        Ok(Channel::Custom(CustomChannel(folded)))
    }
}

impl TryFrom<String> for Channel {
    type Error = ChannelError;
    fn try_from(s: String) -> Result<Self, ChannelError> {
        s.parse()
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.as_str().to_owned()
    }
}

/// Who made a touch: an anonymous visitor or a signed-in customer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// Not signed in; known by a cookie or device id.
    Visitor(VisitorId),
    /// A signed-in customer.
    Customer(CustomerId),
}

/// What kind of contact a touch was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TouchKind {
    /// Followed a share link or scanned a QR code.
    Click,
    /// Visited a landing page with a code (typed or remembered).
    Visit,
    /// Shared a code onwards (recorded for measurement; does not attribute).
    Share,
    /// Typed the code in by hand (at signup, say): the referee's own
    /// explicit choice, so it counts under every attribution policy,
    /// whatever its `counted_kinds`.
    Typed,
}

impl TouchKind {
    /// Whether this kind of touch credits its code's owner under the
    /// default attribution policy: clicks, visits and typed codes do; a
    /// share is the sharer's own act. Programs choose otherwise in their
    /// policy's `counted_kinds` (a typed code always counts).
    pub fn attributes(self) -> bool {
        matches!(self, TouchKind::Click | TouchKind::Visit | TouchKind::Typed)
    }
}

/// A visitor or customer came into contact with a referral code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    /// The host's id for this touch (idempotency key).
    pub id: EventId,
    /// Who touched.
    pub actor: Actor,
    /// The code in the link or typed in.
    pub code: Code,
    /// The channel the touch came through.
    pub channel: Channel,
    /// Click, visit or share.
    pub kind: TouchKind,
    /// When it happened.
    pub at: DateTime<Utc>,
}

/// A new customer signed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signup {
    /// The host's id for this signup event (idempotency key).
    pub id: EventId,
    /// The new customer.
    pub customer: CustomerId,
    /// The visitor id they had before signing up, if known: their earlier
    /// touches then count towards the referral.
    pub visitor: Option<VisitorId>,
    /// A code typed into the signup form, if any. Counts as a touch at
    /// signup time and wins over earlier touches.
    pub code: Option<Code>,
    /// The channel the typed code came through, if known; a typed code
    /// without one is recorded as [`Channel::Link`].
    pub channel: Option<Channel>,
    /// When the customer signed up.
    pub at: DateTime<Utc>,
}

/// A customer bought something: an order that may earn referral rewards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// The host's order id (idempotency key).
    pub order: OrderId,
    /// The buyer.
    pub customer: CustomerId,
    /// The order value, in the program's currency.
    pub amount: Money,
    /// When the order was placed.
    pub at: DateTime<Utc>,
}

/// How much of an order was refunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundAmount {
    /// Everything not refunded yet.
    Full,
    /// Part of the order value.
    Partial(Money),
}

/// An order was refunded, in full or in part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The host's id for this refund (idempotency key).
    pub id: RefundId,
    /// The refunded order.
    pub order: OrderId,
    /// How much was refunded.
    pub amount: RefundAmount,
    /// When the refund happened.
    pub at: DateTime<Utc>,
}

/// A customer spent some of an available reward (store credit used at
/// checkout, points exchanged, days taken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redemption {
    /// The host's id for this redemption (idempotency key).
    pub id: RedemptionId,
    /// The reward spent from.
    pub reward: RewardId,
    /// How much of it, in its unit (minor units for money), positive.
    pub quantity: i64,
    /// When.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    /// Ids refuse characters that break logs or make two ids look alike;
    /// the zero-width joiners of Persian and Indic text stay allowed.
    #[test]
    fn ids_refuse_bidi_controls_and_invisible_spaces() {
        for bad in [
            "amira\u{202E}gnp",
            "a\u{200B}b",
            "\u{FEFF}amira",
            "a\u{2066}b\u{2069}",
            "a\u{200F}",
            "a\u{00AD}b",
            "a\u{2062}b",
            "a\u{206A}",
        ] {
            let err = CustomerId::new(bad).unwrap_err();
            assert!(
                matches!(err, IdError::ControlCharacter { .. }),
                "{bad:?}: {err}"
            );
        }
        for good in ["می\u{200C}خواهم", "أميرة", "amira-2026"] {
            assert!(CustomerId::new(good).is_ok(), "{good:?}");
        }
    }

    /// Every channel that can be made serialises and reads back as itself
    /// (a custom channel's name is valid by construction), and a custom
    /// name's error says what is wrong with it.
    #[test]
    fn channels_round_trip_and_custom_names_say_why_they_fail() {
        let mut all: Vec<Channel> = Channel::BUILT_IN.to_vec();
        for name in [
            "podcast",
            "souq-flyer",
            "a",
            &"z".repeat(32),
            "WA2",
            "qr_v2",
        ] {
            all.push(Channel::custom(name).unwrap());
        }
        for channel in all {
            let json = serde_json::to_string(&channel).unwrap();
            assert_eq!(
                serde_json::from_str::<Channel>(&json).unwrap(),
                channel,
                "{json}"
            );
        }
        assert_eq!(Channel::custom("wa").unwrap(), Channel::WhatsApp);
        let reason = |name: &str| Channel::custom(name).unwrap_err().reason;
        // 19 characters, 36 bytes: the characters are what is wrong.
        assert_eq!(
            reason("قناة_واتساب_الجديدة"),
            "only a-z, 0-9, '_' and '-' are allowed"
        );
        assert_eq!(reason(&"z".repeat(33)), "it is longer than 32 characters");
        assert_eq!(reason("  "), "it is empty");
        assert!(serde_json::from_str::<Channel>(r#""Bad Name""#).is_err());
    }

    use super::*;

    #[test]
    fn ids_reject_bad_input_and_name_the_kind() {
        assert_eq!(
            CustomerId::new("").unwrap_err().to_string(),
            "customer id must not be empty"
        );
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(matches!(
            OrderId::new(long),
            Err(IdError::TooLong { len: 129, .. })
        ));
        let err = EventId::new("a\nb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "event id holds control or invisible character U+000A at byte 1"
        );
        assert_eq!(CustomerId::new("عميل-٧").unwrap().as_str(), "عميل-٧");
    }

    #[test]
    fn ids_round_trip_through_json_and_validate_on_the_way_in() {
        let id = CustomerId::new("cust-42").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"cust-42\"");
        assert_eq!(serde_json::from_str::<CustomerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CustomerId>("\"\"").is_err());
    }

    #[test]
    fn channels_parse_aliases_and_round_trip() {
        for c in Channel::BUILT_IN {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Channel>(&json).unwrap(), c);
        }
        assert_eq!("Twitter".parse::<Channel>().unwrap(), Channel::X);
        assert_eq!(
            "Podcast".parse::<Channel>().unwrap(),
            Channel::custom("podcast").unwrap()
        );
        assert!("two words".parse::<Channel>().is_err());
        assert!("".parse::<Channel>().is_err());
        assert!("واتساب".parse::<Channel>().is_err());
    }
}
