//! Keyed hashes of normalised signals, keys and their rotation, and the
//! signal sets compared between customers.

use std::collections::BTreeSet;
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{
    IdentityInput, IdentityKind, NormaliseError, NormaliseOptions, email_domain, ip_prefix,
    normalise, normalise_email, parse_ip,
};

/// Domain separation from every other MAC keyed by the same bytes (a host
/// might reuse its code secret): a `v2` scheme gives unrelated hashes.
const TAG: &[u8] = b"referrals/identity/v1";

/// Which [`IdentityKey`] made a [`SignalHash`]: a number the program
/// chooses, new for each key (a counter, or a date such as `20260301`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(u32);

impl KeyId {
    /// A key id.
    pub const fn new(id: u32) -> KeyId {
        KeyId(id)
    }

    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A program secret for identity hashes, with its [`KeyId`].
///
/// Not `Serialize` and its `Debug` shows only the id, so the secret never
/// lands in a log or a JSON dump by accident. The bytes are not wiped from
/// memory on drop.
#[derive(Clone)]
pub struct IdentityKey {
    id: KeyId,
    /// HMAC-SHA256 keyed with the secret, [`TAG`] already absorbed.
    keyed: Hmac<Sha256>,
}

/// An [`IdentityKey`] secret of the wrong size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityKeyError {
    /// Fewer than [`IdentityKey::MIN_LEN`] bytes: a phone number has so few
    /// possible values that a short key would be found by brute force.
    #[error(
        "an identity key needs at least {} bytes, this one has {len}",
        IdentityKey::MIN_LEN
    )]
    TooShort {
        /// The secret's length in bytes.
        len: usize,
    },
    /// More than [`IdentityKey::MAX_LEN`] bytes: surely a file or value
    /// passed by mistake.
    #[error(
        "an identity key has at most {} bytes, this one has {len}",
        IdentityKey::MAX_LEN
    )]
    TooLong {
        /// The secret's length in bytes.
        len: usize,
    },
}

impl IdentityKey {
    /// Fewest bytes of a secret (128 bits).
    pub const MIN_LEN: usize = 16;
    /// Most bytes of a secret.
    pub const MAX_LEN: usize = 1024;

    /// A key from 16 to 1024 secret bytes. Use random bytes (32 from a
    /// CSPRNG), kept in the host's secret store, and a new id for each.
    ///
    /// # Errors
    /// [`IdentityKeyError::TooShort`] or [`IdentityKeyError::TooLong`].
    ///
    /// # Example
    /// ```
    /// use referrals::fraud::identity::{IdentityKey, KeyId};
    /// let key = IdentityKey::new(KeyId::new(1), &[42u8; 32])?;
    /// assert_eq!(format!("{key:?}"), "IdentityKey { id: KeyId(1), .. }");
    /// assert!(IdentityKey::new(KeyId::new(2), b"hunter2").is_err());
    /// # Ok::<(), referrals::fraud::identity::IdentityKeyError>(())
    /// ```
    pub fn new(id: KeyId, secret: &[u8]) -> Result<IdentityKey, IdentityKeyError> {
        let len = secret.len();
        if len < Self::MIN_LEN {
            return Err(IdentityKeyError::TooShort { len });
        }
        if len > Self::MAX_LEN {
            return Err(IdentityKeyError::TooLong { len });
        }
        // OK because HMAC takes keys of any length: `new_from_slice` never
        // returns `InvalidLength` for HMAC.
        #[allow(clippy::expect_used)]
        let mut keyed = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        keyed.update(TAG);
        Ok(IdentityKey { id, keyed })
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The hash of a normalised value of `kind` under this key.
    ///
    /// The MAC input is the tag, a zero byte, the kind's name, a zero byte
    /// and the text: kind names have no zero byte, so no two (kind, text)
    /// pairs give the same input.
    pub fn hash(&self, kind: IdentityKind, normalised: &str) -> SignalHash {
        let mut mac = self.keyed.clone();
        mac.update(&[0]);
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        SignalHash {
            kind,
            key: self.id,
            digest: mac.finalize().into_bytes().into(),
        }
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A refused change to a [`Keyring`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// A key with this id is already in the ring: two keys of one id would
    /// make hashes that claim the same key and never match.
    #[error("the keyring already has a key with id {id}")]
    DuplicateId {
        /// The id.
        id: KeyId,
    },
}

/// A program's identity keys: the current one, which makes new hashes, and
/// older ones, still used to compare with hashes stored under them.
///
/// # Rotation
///
/// Rotate with [`Keyring::rotate`]: the new key hashes from then on, the
/// old one moves to the older keys. Stored hashes stay as they are;
/// [`Keyring::signals_for_matching`] hashes a fresh input under every key,
/// so it meets stored hashes of any key still in the ring. Re-store a
/// customer's [`Keyring::signals`] when you next see their raw input, and
/// [`Keyring::retire`] an old key once no stored hash uses it (hashes
/// stored under a retired key can no longer be matched, since the raw
/// values are gone).
///
/// # Example: a hash made before a rotation still matches
/// ```
/// use referrals::fraud::identity::{IdentityKey, IdentityKind, KeyId, Keyring};
/// let mut keyring = Keyring::new(IdentityKey::new(KeyId::new(1), &[1u8; 32])?);
/// let stored = keyring.hash(IdentityKind::Phone, "+966501234567");
///
/// keyring.rotate(IdentityKey::new(KeyId::new(2), &[2u8; 32])?)?;
/// assert_ne!(keyring.hash(IdentityKind::Phone, "+966501234567"), stored);
/// assert!(keyring.hashes_for_matching(IdentityKind::Phone, "+966501234567").contains(&stored));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Keyring {
    current: IdentityKey,
    /// Newest first.
    previous: Vec<IdentityKey>,
}

impl Keyring {
    /// A ring of one key.
    pub fn new(current: IdentityKey) -> Keyring {
        Keyring {
            current,
            previous: Vec::new(),
        }
    }

    /// The ring with an older key added after the others (for loading a
    /// ring from configuration: current key first, then older ones, newest
    /// first).
    ///
    /// # Errors
    /// [`KeyringError::DuplicateId`] if a key with its id is in the ring.
    pub fn with_previous(mut self, key: IdentityKey) -> Result<Keyring, KeyringError> {
        self.check_new(key.id)?;
        self.previous.push(key);
        Ok(self)
    }

    /// Makes `key` the current key; the current one becomes the newest of
    /// the older keys.
    ///
    /// # Errors
    /// [`KeyringError::DuplicateId`] if a key with its id is in the ring.
    pub fn rotate(&mut self, key: IdentityKey) -> Result<(), KeyringError> {
        self.check_new(key.id)?;
        let old = std::mem::replace(&mut self.current, key);
        self.previous.insert(0, old);
        Ok(())
    }

    /// Removes the older key `id`; whether there was one. The current key
    /// cannot be retired (rotate first).
    pub fn retire(&mut self, id: KeyId) -> bool {
        let before = self.previous.len();
        self.previous.retain(|key| key.id != id);
        self.previous.len() != before
    }

    /// The current key's id.
    pub fn current_id(&self) -> KeyId {
        self.current.id
    }

    /// Every key's id: the current one first, then older ones, newest
    /// first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys().map(IdentityKey::id).collect()
    }

    fn keys(&self) -> impl Iterator<Item = &IdentityKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    fn check_new(&self, id: KeyId) -> Result<(), KeyringError> {
        if self.keys().any(|key| key.id == id) {
            return Err(KeyringError::DuplicateId { id });
        }
        Ok(())
    }

    /// The hash of a normalised value under the current key: the one to
    /// store. Pass the output of the kind's normaliser (or of
    /// [`super::normalise`]); other text hashes, but will not match.
    pub fn hash(&self, kind: IdentityKind, normalised: &str) -> SignalHash {
        self.current.hash(kind, normalised)
    }

    /// The hashes of a normalised value under every key, current first: one
    /// of them equals a stored hash of the same value made under any key
    /// still in the ring.
    pub fn hashes_for_matching(&self, kind: IdentityKind, normalised: &str) -> Vec<SignalHash> {
        self.keys().map(|key| key.hash(kind, normalised)).collect()
    }

    /// A customer's signals to store: every present input normalised and
    /// hashed under the current key (an IP gives an [`IdentityKind::Ip`]
    /// and an [`IdentityKind::IpPrefix`] hash). Inputs a normaliser refuses
    /// give no hash and are reported in [`IdentitySignals::errors`].
    ///
    /// # Example
    /// ```
    /// use referrals::fraud::identity::{
    ///     IdentityInput, IdentityKey, IdentityKind, KeyId, Keyring, NormaliseOptions,
    /// };
    /// let keyring = Keyring::new(IdentityKey::new(KeyId::new(1), &[7u8; 32])?);
    /// let input = IdentityInput {
    ///     email: Some("sara@yopmail.com".into()),
    ///     ip: Some("203.0.113.7".into()),
    ///     phone: Some("0501234567".into()), // national, and no default region
    ///     ..IdentityInput::default()
    /// };
    /// let signals = keyring.signals(&input, &NormaliseOptions::default());
    /// assert_eq!(signals.kinds(), [IdentityKind::Email, IdentityKind::Ip, IdentityKind::IpPrefix]);
    /// assert!(signals.disposable_email());
    /// assert_eq!(signals.errors()[0].kind, IdentityKind::Phone);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signals(&self, input: &IdentityInput, options: &NormaliseOptions) -> IdentitySignals {
        self.signals_under(input, options, &[&self.current])
    }

    /// A customer's signals for comparing with stored ones: as
    /// [`Keyring::signals`], but hashed under every key in the ring, so they
    /// meet signals stored under older keys.
    pub fn signals_for_matching(
        &self,
        input: &IdentityInput,
        options: &NormaliseOptions,
    ) -> IdentitySignals {
        let keys: Vec<&IdentityKey> = self.keys().collect();
        self.signals_under(input, options, &keys)
    }

    fn signals_under(
        &self,
        input: &IdentityInput,
        options: &NormaliseOptions,
        keys: &[&IdentityKey],
    ) -> IdentitySignals {
        let mut signals = IdentitySignals::default();
        let mut add = |kind: IdentityKind, text: &str| {
            for key in keys {
                signals.hashes.insert(key.hash(kind, text));
            }
        };
        let mut errors = Vec::new();
        let mut disposable = false;
        for (kind, raw) in input.fields() {
            let result = match kind {
                IdentityKind::Ip => parse_ip(raw).map_err(NormaliseError::from).map(|addr| {
                    add(IdentityKind::Ip, &addr.to_string());
                    add(IdentityKind::IpPrefix, &ip_prefix(addr));
                }),
                IdentityKind::Email => {
                    normalise_email(raw)
                        .map_err(NormaliseError::from)
                        .map(|address| {
                            disposable = email_domain(&address)
                                .is_some_and(|domain| options.disposable.contains(domain));
                            add(IdentityKind::Email, &address);
                        })
                }
                _ => normalise(kind, raw, options).map(|text| add(kind, &text)),
            };
            if let Err(error) = result {
                errors.push(SignalError { kind, error });
            }
        }
        signals.errors = errors;
        signals.disposable_email = disposable;
        signals
    }
}

/// The keyed hash of one normalised signal: what is stored and compared
/// instead of the raw value.
///
/// Serialises with the digest as 64 lower-case hex digits:
/// `{"kind":"email","key":1,"digest":"9f2c…"}`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SignalHash {
    /// What was hashed.
    pub kind: IdentityKind,
    /// The key it was hashed under.
    pub key: KeyId,
    /// HMAC-SHA256 of the kind and the normalised text.
    #[serde(with = "hex_digest")]
    pub digest: [u8; 32],
}

impl SignalHash {
    /// The digest as 64 lower-case hex digits.
    pub fn digest_hex(&self) -> String {
        hex_digest::encode(&self.digest)
    }
}

impl fmt::Debug for SignalHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHash")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("digest", &self.digest_hex())
            .finish()
    }
}

/// A signal input a normaliser refused, with its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{kind}: {error}")]
pub struct SignalError {
    /// Which input.
    pub kind: IdentityKind,
    /// What was wrong with it.
    pub error: NormaliseError,
}

/// One customer's identity signals: the set of their [`SignalHash`]es, the
/// inputs that gave none because a normaliser refused them, and whether
/// their e-mail domain is disposable.
///
/// Store it (it serialises; no raw value is in it) and compare it with
/// another customer's by [`IdentitySignals::shared_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentitySignals {
    hashes: BTreeSet<SignalHash>,
    // Errors can quote a character of the refused input: they are for the
    // caller at entry, never stored.
    #[serde(skip)]
    errors: Vec<SignalError>,
    disposable_email: bool,
}

impl IdentitySignals {
    /// Signals from stored hashes (no errors, not known to be disposable).
    pub fn from_hashes(hashes: impl IntoIterator<Item = SignalHash>) -> IdentitySignals {
        IdentitySignals {
            hashes: hashes.into_iter().collect(),
            ..IdentitySignals::default()
        }
    }

    /// The hashes, in order of kind, key and digest.
    pub fn hashes(&self) -> impl Iterator<Item = &SignalHash> {
        self.hashes.iter()
    }

    /// The inputs that were present but refused, in input order.
    pub fn errors(&self) -> &[SignalError] {
        &self.errors
    }

    /// Whether the e-mail's domain is disposable (per the
    /// [`NormaliseOptions`] used).
    pub fn disposable_email(&self) -> bool {
        self.disposable_email
    }

    /// Whether there is no hash at all.
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The kinds with at least one hash, in [`IdentityKind`] order.
    pub fn kinds(&self) -> Vec<IdentityKind> {
        let mut kinds: Vec<IdentityKind> = self.hashes.iter().map(|hash| hash.kind).collect();
        kinds.dedup();
        kinds
    }

    /// The kinds of which both have an equal hash (same kind, key and
    /// digest), in [`IdentityKind`] order: what the two customers share.
    /// Hashes under different keys never compare equal; compare fresh
    /// [`Keyring::signals_for_matching`] with stored signals.
    pub fn shared_with(&self, other: &IdentitySignals) -> Vec<IdentityKind> {
        let mut kinds: Vec<IdentityKind> = self
            .hashes
            .intersection(&other.hashes)
            .map(|hash| hash.kind)
            .collect();
        kinds.dedup();
        kinds
    }
}

/// Lower-case hex for digests, by hand: two small functions do not justify
/// a dependency.
mod hex_digest {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    pub(super) fn encode(digest: &[u8; 32]) -> String {
        let mut text = String::with_capacity(64);
        for byte in digest {
            text.push(char::from(DIGITS[usize::from(byte >> 4)]));
            text.push(char::from(DIGITS[usize::from(byte & 0xF)]));
        }
        text
    }

    fn decode(text: &str) -> Option<[u8; 32]> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut digest = [0u8; 32];
        for (out, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
            let high = char::from(pair[0]).to_digit(16)?;
            let low = char::from(pair[1]).to_digit(16)?;
            *out = u8::try_from(high * 16 + low).ok()?;
        }
        Some(digest)
    }

    pub(super) fn serialize<S: Serializer>(
        digest: &[u8; 32],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&encode(digest))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 32], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        decode(&text).ok_or_else(|| D::Error::custom("a digest is 64 hex digits"))
    }
}
