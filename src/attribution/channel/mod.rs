//! Channel analysis over many journeys: which channels (WhatsApp, email, a
//! QR code in the store…) drive referred sales.
//!
//! ```
//! use referrals::attribution::channel::{read, ReadOptions};
//!
//! let data = "journey_id,path,hours,converted,value\n\
//!             1,whatsapp > email,30 > 2,1,120.5\n\
//!             2,email,5,0,0\n\
//!             3,\"qr in store > whatsapp\",48 > 1,1,80\n";
//! let set = read(data.as_bytes(), &ReadOptions::default())?;
//! let whatsapp = set.channels().id("whatsapp").unwrap();
//!
//! assert_eq!(set.total_conversions(), 2);
//! assert_eq!(set.last_touch().get(whatsapp).conversions, 1.0);
//! let markov = set.markov(&Default::default())?;
//! assert!(markov.removal_effect(whatsapp) > 0.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Overview
//!
//! This is an analyst's module, pure and separate from the engine: journeys
//! go in, per-channel credit comes out.
//!
//! 1. **Journeys are aggregated by distinct path.** A [`JourneySet`] holds one
//!    [`PathStats`] (conversions, nulls, conversion value) per distinct
//!    channel path, and channel names interned to small [`ChannelId`]s in a
//!    dictionary ([`Channels`]). Memory grows with the number of distinct
//!    paths, not of journeys. Build one with a [`JourneySetBuilder`] from
//!    [`Journey`]s, or stream a file with [`read`](fn@read) / [`read_file`], which
//!    parse blocks of lines on several threads.
//! 2. **Models credit channels** with conversions and value; each model's
//!    credits add up to the data's totals (up to float rounding):
//!    - heuristics: [`JourneySet::first_touch`], [`JourneySet::last_touch`],
//!      [`JourneySet::linear`], [`JourneySet::position_based`] and
//!      [`JourneySet::time_decay`] (needs touch times; computed while the
//!      journeys stream in, so times are never stored);
//!    - [`JourneySet::markov`]: removal effects in an absorbing Markov chain
//!      of order `k`, solved exactly by linear algebra;
//!    - [`JourneySet::shapley`]: exact Shapley values over channel
//!      coalitions.
//!
//! # Input formats
//!
//! Both are text with a required header line, `\n` or `\r\n` line endings
//! and an optional final newline; blank lines are skipped (before the
//! header too) and a UTF-8 byte order mark is ignored, so a file of only
//! those is [`ReadError::Empty`]. Line numbers in errors count from 1 at
//! the header (blank lines before it are not counted).
//! Columns are read by position, whatever the header calls them; but a
//! header that puts one of the format's own column names in another column
//! (`path;total_null;total_conversions;…`) is refused
//! ([`ReadError::MisplacedColumn`]) rather than read mixed up.
//!
//! - **Aggregated paths** ([`Format::Paths`], the `channelattribution`
//!   layout): `path;total_conversions;total_null;total_conversion_value`.
//! - **One journey per line** ([`Format::Journeys`]):
//!   `journey_id,path,hours,converted,value`. `hours` gives, for each touch,
//!   the hours before the journey's end, in the same `a > b` form as the
//!   path; `converted` is `0`, `1`, `true` or `false` (any case).
//!   **`journey_id` is not read**: every line is a journey, so a journey
//!   listed twice (an export run twice, a join that repeats rows) counts
//!   twice, silently. Telling repeats apart would need memory per line
//!   rather than per distinct path; deduplicate upstream (`sort -u` on
//!   whole lines, or by id in the query that exports them).
//!
//! A path is channel names separated by `>`; spaces around names are
//! trimmed (`a > b`, `a>b` and `a >b` are the same path) and inner spaces
//! kept. Names may be in any script (`واتساب > بريد`). Any field may be
//! wrapped in double quotes as in RFC 4180, with a quote inside written
//! twice (`"say ""hi"""`), so names can contain the separator character; a
//! quoted field cannot span lines. Counts are whole numbers ≥ 0 (written
//! `3` or `3.0`); values and times are decimal numbers, finite, and times
//! ≥ 0. A journey's value counts only if it converted: the value on a
//! non-converting line (or a path with zero conversions) is checked, then
//! ignored, so every model attributes value in the same proportions as
//! conversions.
//!
//! # Speed and memory
//!
//! Readers stream: they hold a few blocks of lines (1 MiB each by default)
//! and one entry per distinct path, never the file. Plain per-journey lines
//! (unquoted, `0`/`1`, decimals without exponent, paths of at most 16
//! touches over at most 255 channels per parsing thread) take a fused
//! single-pass path that looks paths up by their packed channel ids; any
//! other line goes through the general parser, which accepts everything
//! described above and reports errors, several times slower per line.
//! Both read every field the same way (a test checks it).
//!
//! Each block is first scanned once, 16 bytes at a time (SSE2 on x86_64,
//! bytewise elsewhere), for the bytes where a field or token can end (`>`,
//! the separator, a quote, a line end), so the fast path finds every field
//! and token by a bit scan rather than a branch per byte. A journey's path
//! field of at most 32 bytes is looked up whole in a direct-mapped memo of
//! recent paths (its bytes as four words) before it is tokenized; touch
//! times and values of up to 8 bytes are read eight bytes at a time with no
//! branch per digit. A channel token of at most 16 bytes is looked up in a
//! small open table (its bytes as two words and its length) before the
//! token table, and each journey line is added two lines late: its path
//! slot is prefetched first, so a rare path's cache miss overlaps the next
//! two lines' parsing (6% faster than one line late on 10M journeys); a
//! converting line's value waits, its path's totals prefetched, until the
//! next converting line (exact sums do not depend on the order). The
//! builder keys paths of at most 16 touches over ids below 255 by a packed
//! `u128` and keeps all paths in one arena, which [`JourneySetBuilder::finish`]
//! sorts by key: with at most 12 touches per path over fewer than 255
//! channels, plain `u128`s holding the whole path (id + 1 a byte, first
//! touch highest) and the slot, each path then read back from its key; up
//! to 16 touches, `(key, slot)` pairs; else a first-four-ids prefix with
//! slice compares on ties. Each worker settles its own table, and the
//! others' tables are folded into the first with their slots prefetched a
//! few paths ahead. First-order Markov over at most 256 channels counts
//! transitions in a dense matrix, in one pass, instead of hash maps
//! (bit-identical; a test compares both).
//!
//! The readers' hash tables and the arrays [`JourneySetBuilder::finish`]
//! builds are allocated untouched and, on Linux, advised onto huge pages
//! (`madvise(MADV_HUGEPAGE)`; a hint, nothing depends on it): random reads
//! over tens of megabytes then miss the TLB far less.
//!
//! Aggregated files, where nearly every line is a new path, are parsed by
//! one worker on the calling thread (two workers would each insert half the
//! paths and then fold them: measured no faster): [`read_file`] sizes the
//! worker's table and arenas from the file size and the first block's line
//! length, the worker keys every packable path by its ids however it is
//! spelled, and a fresh builder adopts its arena as it is. As journey lines, each
//! aggregated line is added two lines late, its path slot prefetched
//! (an overflowing sum still names its own line).
//!
//! # Determinism
//!
//! Channel ids are assigned in name order and paths are kept sorted, so the
//! models never see the order in which journeys arrived; conversion counts
//! are exact integers. The readers sum each path's values exactly when they
//! are plain decimals (`12.5`, `0.00`, `999999999999999.9`: digits with
//! an optional point, at most 19 digits in all; summed as a 160-bit integer
//! of 10^-19 units and turned into `f64` once, correctly rounded), so those
//! totals do not depend on line order at all. Other values (exponents, signs) and time-decay credit are `f64`
//! sums, so reordering journeys may change their last bits; through
//! [`JourneySetBuilder::add`] every value is an `f64` sum in call order.
//! Reading the same bytes gives bit-identical results whatever the number
//! of threads: each worker keeps its paths' integer and exact totals over
//! all its blocks, and the `f64` parts are cut into blocks at fixed points
//! (a property of the bytes and [`ReadOptions::with_block_bytes`], not of
//! the threads) and added in file order.
//!
//! # Floating point
//!
//! The crate keeps money exact (integer minor units, no `f32`/`f64` on any
//! amount path). This module is the exception by design: conversion values
//! here are an analyst's data, read from files as decimals, and credits are
//! shares of them, so they are `f64`. Nothing here feeds the ledger.

// Every `unsafe` block is in `unsafe_ops`, beside its safety argument;
// the rest of the crate is checked free of it by `tests/layering.rs`.
#![deny(unsafe_code)]

mod error;
mod heuristic;
mod markov;
mod read;
mod shapley;
#[doc(hidden)]
pub mod synth;
#[allow(unsafe_code)]
mod unsafe_ops;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use error::{JourneyError, LineErrorKind, ModelError, ReadError};
pub use heuristic::PositionWeights;
pub use markov::{MarkovAttribution, MarkovChain, MarkovOptions, MarkovState, Transition};
pub use read::{Format, ReadOptions, detect_format, read, read_file};
pub use shapley::ShapleyOptions;

/// Hash maps on short keys (channel ids, path bytes): foldhash, as in the
/// memory store, several times faster than SipHash. Iteration order is
/// never used for results.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The default time-decay half-life: 7 days, in hours.
pub const DEFAULT_HALF_LIFE_HOURS: f64 = 168.0;

/// A channel's id in a [`Channels`] dictionary: its index in name order.
///
/// # Example: ids follow name order
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["whatsapp", "email"], 10.0))?;
/// let set = builder.finish()?;
/// let email = set.channels().id("email").unwrap();
/// assert_eq!(email.index(), 0);
/// assert_eq!(set.channels().name(email), Some("email"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(u32);

impl ChannelId {
    /// The id's index, `0..channels.len()`.
    ///
    /// # Example: index a per-channel vector
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms"], 1.0))?;
    /// let set = builder.finish()?;
    /// let sms = set.channels().id("sms").unwrap();
    /// assert_eq!(set.linear().as_slice()[sms.index()].conversions, 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The channel dictionary of a [`JourneySet`]: names sorted by their UTF-8
/// bytes, the id of a name being its position.
///
/// # Example: look names and ids up
///
/// ```
/// use referrals::attribution::channel::{read, ReadOptions};
///
/// let data = "path;total_conversions;total_null;total_conversion_value\n\
///             واتساب > بريد;2;1;50\n";
/// let set = read(data.as_bytes(), &ReadOptions::default())?;
/// let names: Vec<&str> = set.channels().iter().map(|(_, name)| name).collect();
/// assert_eq!(names, ["بريد", "واتساب"]);
/// assert!(set.channels().id("email").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Channels {
    names: Vec<Box<str>>,
}

impl Channels {
    /// How many channels there are.
    ///
    /// # Example: count channels
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// let set = JourneySetBuilder::new().finish()?;
    /// assert_eq!(set.channels().len(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no channels.
    ///
    /// # Example: an empty set has no channels
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// assert!(JourneySetBuilder::new().finish()?.channels().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The name of a channel, `None` for an id from another dictionary that
    /// is out of range.
    ///
    /// # Example: name an id
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["qr in store"]))?;
    /// let set = builder.finish()?;
    /// let (id, _) = set.channels().iter().next().unwrap();
    /// assert_eq!(set.channels().name(id), Some("qr in store"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self, id: ChannelId) -> Option<&str> {
        self.names.get(id.index()).map(|n| &**n)
    }

    /// The id of a channel name (exact, after trimming as the readers do).
    ///
    /// # Example: unknown names give `None`
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["email"]))?;
    /// let set = builder.finish()?;
    /// assert!(set.channels().id(" email ").is_some());
    /// assert!(set.channels().id("Email").is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self, name: &str) -> Option<ChannelId> {
        let name = name.trim();
        self.names
            .binary_search_by(|n| (**n).cmp(name))
            .ok()
            .map(|i| ChannelId(i as u32))
    }

    /// Every `(id, name)`, in id (name) order.
    ///
    /// # Example: list channels
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["sms", "email"]))?;
    /// let set = builder.finish()?;
    /// let names: Vec<&str> = set.channels().iter().map(|(_, n)| n).collect();
    /// assert_eq!(names, ["email", "sms"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (ChannelId, &str)> + '_ {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (ChannelId(i as u32), &**n))
    }

    /// Writes a path of ids as `a > b > c`.
    pub(crate) fn path_string(&self, path: &[ChannelId]) -> String {
        let mut s = String::new();
        for (i, id) in path.iter().enumerate() {
            if i > 0 {
                s.push_str(" > ");
            }
            s.push_str(self.name(*id).unwrap_or("?"));
        }
        s
    }
}

/// What one distinct path totals: converting and non-converting journeys,
/// and the value of the converting ones.
///
/// # Example: read a path's totals
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["sms"], 25.0))?;
/// builder.add(&Journey::lost(&["sms"]))?;
/// let set = builder.finish()?;
/// let (_, stats) = set.paths().next().unwrap();
/// assert_eq!((stats.conversions, stats.nulls, stats.value), (1, 1, 25.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PathStats {
    /// Conversions of journeys with this path.
    pub conversions: u64,
    /// Journeys with this path that did not convert.
    pub nulls: u64,
    /// Summed conversion value of the converting journeys.
    pub value: f64,
}

/// Credit given to one channel: conversions and conversion value.
///
/// # Example: the total of a model's credits
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["sms", "email"], 10.0))?;
/// let total = builder.finish()?.linear().total();
/// assert_eq!((total.conversions, total.value), (1.0, 10.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Credit {
    /// Conversions attributed (fractional).
    pub conversions: f64,
    /// Conversion value attributed.
    pub value: f64,
}

impl Credit {
    fn add_scaled(&mut self, conversions: f64, value: f64, share: f64) {
        self.conversions += conversions * share;
        self.value += value * share;
    }
}

/// A model's credit per channel, indexed by [`ChannelId`].
///
/// # Example: iterate credits
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["sms", "email"], 10.0))?;
/// let set = builder.finish()?;
/// for (id, credit) in set.first_touch().iter() {
///     let name = set.channels().name(id).unwrap();
///     assert_eq!(credit.conversions, if name == "sms" { 1.0 } else { 0.0 });
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelCredits {
    credits: Vec<Credit>,
}

impl ChannelCredits {
    fn zeros(channels: usize) -> Self {
        ChannelCredits {
            credits: vec![Credit::default(); channels],
        }
    }

    /// The credit of a channel (zero for an id out of range).
    ///
    /// # Example: one channel's credit
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms"], 10.0))?;
    /// let set = builder.finish()?;
    /// let sms = set.channels().id("sms").unwrap();
    /// assert_eq!(set.last_touch().get(sms).value, 10.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, id: ChannelId) -> Credit {
        self.credits.get(id.index()).copied().unwrap_or_default()
    }

    /// The credits as a slice indexed by [`ChannelId::index`].
    ///
    /// # Example: as many credits as channels
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms", "email", "sms"], 3.0))?;
    /// let set = builder.finish()?;
    /// assert_eq!(set.linear().as_slice().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_slice(&self) -> &[Credit] {
        &self.credits
    }

    /// Every `(id, credit)` in id order.
    ///
    /// # Example: find the top channel
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms", "email", "sms"], 3.0))?;
    /// let set = builder.finish()?;
    /// let linear = set.linear();
    /// let (top, _) = linear
    ///     .iter()
    ///     .max_by(|a, b| a.1.conversions.total_cmp(&b.1.conversions))
    ///     .unwrap();
    /// assert_eq!(set.channels().name(top), Some("sms"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (ChannelId, Credit)> + '_ {
        self.credits
            .iter()
            .enumerate()
            .map(|(i, c)| (ChannelId(i as u32), *c))
    }

    /// The sum over channels (in id order).
    ///
    /// # Example: totals match the data
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms", "email"], 7.0))?;
    /// builder.add(&Journey::lost(&["email"]))?;
    /// let set = builder.finish()?;
    /// assert_eq!(set.first_touch().total().value, set.total_value());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total(&self) -> Credit {
        let mut total = Credit::default();
        for c in &self.credits {
            total.conversions += c.conversions;
            total.value += c.value;
        }
        total
    }
}

/// One journey (or a group of journeys with the same path): the channel
/// path, its outcome, and optionally when each touch happened.
///
/// # Example: journeys with and without touch times
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["whatsapp", "email"], 120.0).with_hours(&[30.0, 2.0]))?;
/// builder.add(&Journey::aggregated(&["email"], 3, 7, 90.0))?;
/// let set = builder.finish()?;
/// assert_eq!(set.total_conversions(), 4);
/// assert!(set.time_decay().is_err(), "the second journey has no times");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Journey<'a> {
    /// Channel names in touch order (trimmed; must be non-empty and contain
    /// no `>`).
    pub path: &'a [&'a str],
    /// For each touch, the hours before the journey's end (finite, ≥ 0),
    /// if known.
    pub hours: Option<&'a [f64]>,
    /// Conversions.
    pub conversions: u64,
    /// Non-converting journeys.
    pub nulls: u64,
    /// Conversion value (finite); ignored when `conversions` is 0.
    pub value: f64,
}

impl<'a> Journey<'a> {
    /// One journey that converted with this value.
    ///
    /// # Example: a converted journey
    ///
    /// ```
    /// use referrals::attribution::channel::Journey;
    ///
    /// let j = Journey::converted(&["sms"], 5.0);
    /// assert_eq!((j.conversions, j.nulls), (1, 0));
    /// ```
    pub fn converted(path: &'a [&'a str], value: f64) -> Self {
        Journey {
            path,
            hours: None,
            conversions: 1,
            nulls: 0,
            value,
        }
    }

    /// One journey that did not convert.
    ///
    /// # Example: a lost journey
    ///
    /// ```
    /// use referrals::attribution::channel::Journey;
    ///
    /// let j = Journey::lost(&["sms"]);
    /// assert_eq!((j.conversions, j.nulls), (0, 1));
    /// ```
    pub fn lost(path: &'a [&'a str]) -> Self {
        Journey {
            path,
            hours: None,
            conversions: 0,
            nulls: 1,
            value: 0.0,
        }
    }

    /// Journeys of one path in aggregate, as in the aggregated format.
    ///
    /// # Example: a path's totals
    ///
    /// ```
    /// use referrals::attribution::channel::Journey;
    ///
    /// let j = Journey::aggregated(&["sms", "email"], 3, 10, 45.5);
    /// assert_eq!(j.value, 45.5);
    /// ```
    pub fn aggregated(path: &'a [&'a str], conversions: u64, nulls: u64, value: f64) -> Self {
        Journey {
            path,
            hours: None,
            conversions,
            nulls,
            value,
        }
    }

    /// The same journey with a time for each touch: hours before the
    /// journey's end.
    ///
    /// # Example: touch times for time decay
    ///
    /// ```
    /// use referrals::attribution::channel::Journey;
    ///
    /// let j = Journey::converted(&["sms", "email"], 5.0).with_hours(&[48.0, 0.5]);
    /// assert_eq!(j.hours, Some(&[48.0, 0.5][..]));
    /// ```
    pub fn with_hours(self, hours: &'a [f64]) -> Self {
        Journey {
            hours: Some(hours),
            ..self
        }
    }
}

/// Interns channel names to ids in order of first appearance.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interner {
    pub(crate) names: Vec<Box<str>>,
    index: FastMap<Box<str>, u32>,
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.index.insert(name.into(), id);
        id
    }
}

/// Validates and trims the channel names of a path given through the API.
fn check_names<'a>(path: &[&'a str]) -> Result<Vec<&'a str>, JourneyError> {
    if path.is_empty() {
        return Err(JourneyError::EmptyPath);
    }
    path.iter()
        .enumerate()
        .map(|(i, name)| {
            let trimmed = name.trim();
            if trimmed.is_empty() {
                Err(JourneyError::EmptyChannel { touch: i + 1 })
            } else if trimmed.contains('>') {
                Err(JourneyError::SeparatorInChannel {
                    touch: i + 1,
                    name: (*name).to_owned(),
                })
            } else if let Some(c) = trimmed.chars().find(|&c| bad_in_name(c)) {
                Err(name_char_error(i + 1, c))
            } else {
                Ok(trimmed)
            }
        })
        .collect()
}

/// Whether a channel name may not hold `c`: control characters and bidi
/// formatting characters.
pub(crate) fn bad_in_name(c: char) -> bool {
    c.is_control() || crate::text::is_bidi_format(c)
}

/// The error for a character [`bad_in_name`] refuses, at touch `touch`.
pub(crate) fn name_char_error(touch: usize, c: char) -> JourneyError {
    if c.is_control() {
        JourneyError::ControlInChannel {
            touch,
            code_point: c as u32,
        }
    } else {
        JourneyError::BidiInChannel {
            touch,
            code_point: c as u32,
        }
    }
}

/// Checks touch times: one per touch, finite, ≥ 0.
pub(crate) fn check_hours(touches: usize, hours: &[f64]) -> Result<(), JourneyError> {
    if hours.len() != touches {
        return Err(JourneyError::HoursMismatch {
            touches,
            hours: hours.len(),
        });
    }
    for (i, &h) in hours.iter().enumerate() {
        if !h.is_finite() || h < 0.0 {
            return Err(JourneyError::InvalidHours {
                touch: i + 1,
                hours: h,
            });
        }
    }
    Ok(())
}

/// Time-decay shares of the touches of one journey: touch `i` weighs
/// `2^(-hours_i / half_life)`, and shares are weights over their sum.
/// Weights are taken relative to the latest touch (`2^((min - hours_i) / h)`),
/// the same shares after normalising, so that the latest touch weighs 1 and
/// the sum never underflows to 0 on old journeys.
pub(crate) fn time_decay_shares(hours: &[f64], half_life: f64, shares: &mut Vec<f64>) {
    shares.clear();
    let min = hours.iter().copied().fold(f64::INFINITY, f64::min);
    let mut sum = 0.0;
    for &h in hours {
        let w = ((min - h) / half_life).exp2();
        sum += w;
        shares.push(w);
    }
    for w in shares.iter_mut() {
        *w /= sum;
    }
}

/// Builds a [`JourneySet`] from journeys, aggregating by distinct path.
///
/// Time-decay credit is accumulated as journeys arrive, with the half-life
/// set here, so touch times are never stored.
///
/// # Example: build from journeys
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::converted(&["whatsapp", "email"], 120.0))?;
/// builder.add(&Journey::converted(&["whatsapp", "email"], 80.0))?;
/// builder.add(&Journey::lost(&["email"]))?;
/// let set = builder.finish()?;
/// assert_eq!(set.len(), 2, "two distinct paths");
/// assert_eq!(set.total_value(), 200.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JourneySetBuilder {
    channels: Interner,
    /// Paths of at most 16 touches over ids below 255, packed as (id + 1)
    /// bytes, first touch lowest → slot in `stats`: no allocation or slice
    /// hashing.
    packed: FastMap<u128, u32>,
    /// Any other path (interned ids) → its slot in `stats`.
    paths: FastMap<Box<[u32]>, u32>,
    /// Slot `i`'s path is `slot_ids[slot_start[i]..slot_start[i + 1]]`.
    slot_ids: Vec<u32>,
    slot_start: Vec<usize>,
    stats: Vec<PathStats>,
    /// Exact decimal value sums per slot, added to `stats[i].value` at
    /// [`Self::finish`] (readers only; empty otherwise).
    exact: Vec<ExactSum>,
    /// The exact sum of every path's exact value sum: the total value,
    /// rounded once, unless `float_values`.
    exact_total: ExactSum,
    /// Whether some value came as an `f64` (not a plain decimal summed
    /// exactly): then the total is the sum of the paths' values.
    float_values: bool,
    half_life_hours: f64,
    /// Time-decay credit per interned channel.
    time_decay: Vec<Credit>,
    /// False once a journey without touch times has been added.
    has_times: bool,
    conversions: u64,
    nulls: u64,
    ids: Vec<u32>,
    shares: Vec<f64>,
}

impl Default for JourneySetBuilder {
    fn default() -> Self {
        JourneySetBuilder::new()
    }
}

impl JourneySetBuilder {
    /// An empty builder with the default time-decay half-life (7 days).
    ///
    /// # Example: an empty set
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// let set = JourneySetBuilder::new().finish()?;
    /// assert!(set.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        JourneySetBuilder {
            channels: Interner::default(),
            packed: FastMap::default(),
            paths: FastMap::default(),
            slot_ids: Vec::new(),
            slot_start: vec![0],
            stats: Vec::new(),
            exact: Vec::new(),
            exact_total: ExactSum::default(),
            float_values: false,
            half_life_hours: DEFAULT_HALF_LIFE_HOURS,
            time_decay: Vec::new(),
            has_times: true,
            conversions: 0,
            nulls: 0,
            ids: Vec::new(),
            shares: Vec::new(),
        }
    }

    /// An empty builder whose time decay uses this half-life, in hours.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidParameter`] unless the half-life is finite and
    /// positive.
    ///
    /// # Example: a one-day half-life
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::with_half_life_hours(24.0)?;
    /// builder.add(&Journey::converted(&["sms", "email"], 3.0).with_hours(&[24.0, 0.0]))?;
    /// let set = builder.finish()?;
    /// let email = set.channels().id("email").unwrap();
    /// // weights 1/2 and 1: email gets 2/3.
    /// assert!((set.time_decay()?.get(email).conversions - 2.0 / 3.0).abs() < 1e-15);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: zero is refused
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// assert!(JourneySetBuilder::with_half_life_hours(0.0).is_err());
    /// ```
    pub fn with_half_life_hours(half_life_hours: f64) -> Result<Self, ModelError> {
        check_half_life(half_life_hours)?;
        Ok(JourneySetBuilder {
            half_life_hours,
            ..JourneySetBuilder::new()
        })
    }

    /// Adds a journey (or a group of journeys with the same path).
    ///
    /// # Errors
    ///
    /// A [`JourneyError`] saying what is wrong: an empty path or channel
    /// name, a name containing `>`, touch times that are not one finite
    /// number ≥ 0 per touch, a value that is not finite, or counts that
    /// overflow `u64`. Nothing is added then.
    ///
    /// # Example: add journeys
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["واتساب", "بريد"], 99.5))?;
    /// assert_eq!(builder.finish()?.total_conversions(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: an empty channel name is refused
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneyError, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// let err = builder.add(&Journey::lost(&["sms", " "])).unwrap_err();
    /// assert_eq!(err, JourneyError::EmptyChannel { touch: 2 });
    /// ```
    pub fn add(&mut self, journey: &Journey<'_>) -> Result<(), JourneyError> {
        let names = check_names(journey.path)?;
        if let Some(hours) = journey.hours {
            check_hours(names.len(), hours)?;
        }
        if !journey.value.is_finite() {
            return Err(JourneyError::NonFiniteValue {
                value: journey.value,
            });
        }
        // Check the counts before interning, so a refused journey leaves no
        // trace (add_ids checks again; the path sum can only overflow on a
        // path that exists already).
        if self.conversions.checked_add(journey.conversions).is_none()
            || self.nulls.checked_add(journey.nulls).is_none()
        {
            return Err(JourneyError::CountOverflow);
        }
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.extend(names.iter().map(|n| self.channels.intern(n)));
        let result = self.add_ids(&ids, journey.conversions, journey.nulls, journey.value);
        if result.is_ok() {
            match journey.hours {
                Some(hours) if journey.conversions > 0 => {
                    let mut shares = std::mem::take(&mut self.shares);
                    time_decay_shares(hours, self.half_life_hours, &mut shares);
                    let value = journey.value;
                    let conversions = journey.conversions as f64;
                    for (&id, &share) in ids.iter().zip(&shares) {
                        self.time_decay_mut(id)
                            .add_scaled(conversions, value, share);
                    }
                    self.shares = shares;
                }
                Some(_) => {}
                None => self.has_times = false,
            }
        }
        self.ids = ids;
        result
    }

    /// Finishes: sorts channels by name and paths by channel ids.
    ///
    /// # Errors
    ///
    /// [`JourneyError::ValueOverflow`] if the summed value is not finite.
    ///
    /// # Example: channels end up in name order
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["sms", "email"]))?;
    /// let set = builder.finish()?;
    /// let (path, _) = set.paths().next().unwrap();
    /// assert_eq!(set.channels().name(path[0]), Some("sms"));
    /// assert_eq!(path[0].index(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(self) -> Result<JourneySet, JourneyError> {
        let JourneySetBuilder {
            channels,
            packed,
            paths,
            slot_ids,
            slot_start,
            stats: mut slots,
            exact,
            exact_total,
            float_values,
            half_life_hours,
            time_decay,
            has_times,
            conversions,
            nulls,
            ..
        } = self;
        // Canonical ids: position in name order.
        let mut order: Vec<u32> = (0..channels.names.len() as u32).collect();
        order
            .sort_unstable_by(|&a, &b| channels.names[a as usize].cmp(&channels.names[b as usize]));
        let mut new_id = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_id[old as usize] = new as u32;
        }
        let mut names: Vec<Option<Box<str>>> = channels.names.into_iter().map(Some).collect();
        let sorted_names: Vec<Box<str>> = order
            .iter()
            .map(|&old| names[old as usize].take().unwrap_or_default())
            .collect();

        // Only the arena is needed from here: free the lookups first.
        drop((packed, paths));
        for (stats, exact) in slots.iter_mut().zip(&exact) {
            stats.value += exact.to_f64();
        }
        let longest = slot_start
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0);
        let whole = sorted_names.len() < 255 && longest <= 16;
        let paths = slots.len();
        let mut offsets = huge_with_capacity(paths + 1);
        let mut touches = huge_with_capacity(slot_ids.len());
        let mut stats = huge_with_capacity(paths);
        offsets.push(0);
        let mut total_value = 0.0;
        if whole && longest <= 12 {
            // At most 12 touches leave the whole-path key's low 32 bits
            // zero: the slot goes there, plain `u128`s sort (half the bytes
            // to move, one compare), and each path is read back from its
            // key, in order, rather than gathered from the arena.
            let mut keys: Vec<u128> = huge_with_capacity(paths);
            keys.extend((0..paths).map(|slot| {
                slot_ids[slot_start[slot]..slot_start[slot + 1]]
                    .iter()
                    .enumerate()
                    .fold(slot as u128, |k, (i, &id)| {
                        k | u128::from(new_id[id as usize] + 1) << (8 * (15 - i))
                    })
            }));
            keys.sort_unstable();
            for (i, &key) in keys.iter().enumerate() {
                // The stats are gathered in key order: load a few ahead.
                if let Some(&ahead) = keys.get(i + 16) {
                    if let Some(s) = slots.get(ahead as u32 as usize) {
                        unsafe_ops::prefetch_read(s);
                    }
                }
                let mut rest = key >> 32;
                // The first touch is the highest byte: shift it out first.
                while rest != 0 {
                    let id = (rest >> 88) as u32;
                    touches.push(ChannelId(id - 1));
                    rest = (rest << 8) & ((1u128 << 96) - 1);
                }
                offsets.push(touches.len());
                let s = slots[key as u32 as usize];
                total_value += s.value;
                stats.push(s);
            }
        } else {
            // The paths in canonical ids, in slot order, in one arena
            // (mapped in place), sorted by `sorted_slots`.
            let ids: Vec<ChannelId> = slot_ids
                .into_iter()
                .map(|id| ChannelId(new_id[id as usize]))
                .collect();
            let path = |slot: u32| &ids[slot_start[slot as usize]..slot_start[slot as usize + 1]];
            for slot in sorted_slots(whole, paths, path) {
                touches.extend_from_slice(path(slot));
                offsets.push(touches.len());
                let s = slots[slot as usize];
                total_value += s.value;
                stats.push(s);
            }
        }
        if !total_value.is_finite() {
            return Err(JourneyError::ValueOverflow);
        }
        // Every value a plain decimal: the total is their exact sum, rounded
        // once (so 0.10 + 0.20 over two paths is 0.3, as within one).
        if !float_values {
            total_value = exact_total.to_f64();
        }
        let time_decay = has_times.then(|| {
            let mut credits = ChannelCredits::zeros(sorted_names.len());
            for (old, credit) in time_decay.into_iter().enumerate() {
                if let Some(&new) = new_id.get(old) {
                    credits.credits[new as usize] = credit;
                }
            }
            credits
        });
        Ok(JourneySet {
            channels: Channels {
                names: sorted_names,
            },
            offsets,
            touches,
            stats,
            total_conversions: conversions,
            total_nulls: nulls,
            total_value,
            half_life_hours,
            time_decay,
        })
    }

    /// Adds counts to a path of interned ids.
    pub(crate) fn add_ids(
        &mut self,
        ids: &[u32],
        conversions: u64,
        nulls: u64,
        value: f64,
    ) -> Result<(), JourneyError> {
        let slot = self.slot(ids);
        self.add_to_slot(slot, conversions, nulls, value)
    }

    /// The slot of a path of interned ids, created empty on first sight.
    pub(crate) fn slot(&mut self, ids: &[u32]) -> u32 {
        let next = self.stats.len() as u32;
        let slot = match pack_path(ids) {
            Some(key) => *self.packed.entry(key).or_insert(next),
            None => match self.paths.get(ids) {
                Some(&slot) => slot,
                None => {
                    self.paths.insert(ids.into(), next);
                    next
                }
            },
        };
        if slot == next {
            self.stats.push(PathStats::default());
            self.slot_ids.extend_from_slice(ids);
            self.slot_start.push(self.slot_ids.len());
        }
        slot
    }

    /// Makes room for `paths` more paths.
    pub(crate) fn reserve_paths(&mut self, paths: usize) {
        self.stats.reserve(paths);
        self.slot_start.reserve(paths);
        self.slot_ids.reserve(paths.saturating_mul(4));
        self.packed.reserve(paths);
    }

    /// Adds counts to the path in `slot` (from [`Self::slot`]).
    pub(crate) fn add_to_slot(
        &mut self,
        slot: u32,
        conversions: u64,
        nulls: u64,
        value: f64,
    ) -> Result<(), JourneyError> {
        let total_conversions = self
            .conversions
            .checked_add(conversions)
            .ok_or(JourneyError::CountOverflow)?;
        let total_nulls = self
            .nulls
            .checked_add(nulls)
            .ok_or(JourneyError::CountOverflow)?;
        let value = if conversions > 0 { value } else { 0.0 };
        if value != 0.0 {
            self.float_values = true;
        }
        let Some(stats) = self.stats.get_mut(slot as usize) else {
            // Slots come from `slot`; an unknown one adds nothing.
            return Ok(());
        };
        let sum = stats.value + value;
        if !sum.is_finite() {
            return Err(JourneyError::ValueOverflow);
        }
        // Path counts never exceed the totals, which were just checked.
        stats.conversions += conversions;
        stats.nulls += nulls;
        stats.value = sum;
        self.conversions = total_conversions;
        self.nulls = total_nulls;
        Ok(())
    }

    /// Adds counts and an exact value sum to the path in `slot`; the
    /// value counts only if `conversions > 0`, as in [`Self::add_to_slot`].
    pub(crate) fn add_exact_to_slot(
        &mut self,
        slot: u32,
        conversions: u64,
        nulls: u64,
        value: &ExactSum,
    ) -> Result<(), JourneyError> {
        self.add_to_slot(slot, conversions, nulls, 0.0)?;
        if conversions > 0 && !value.is_zero() {
            self.exact_total.merge(value);
            let i = slot as usize;
            if self.exact.len() <= i {
                self.exact.resize(self.stats.len(), ExactSum::default());
            }
            if let Some(sum) = self.exact.get_mut(i) {
                sum.merge(value);
            }
        }
        Ok(())
    }

    /// Adds a converting journey's value (not a count) to the path in
    /// `slot`.
    pub(crate) fn add_value_to_slot(&mut self, slot: u32, value: f64) -> Result<(), JourneyError> {
        if value != 0.0 {
            self.float_values = true;
        }
        if let Some(stats) = self.stats.get_mut(slot as usize) {
            let sum = stats.value + value;
            if !sum.is_finite() {
                return Err(JourneyError::ValueOverflow);
            }
            stats.value = sum;
        }
        Ok(())
    }

    /// Takes distinct paths wholesale, into a builder that has none yet:
    /// the channel dictionary `channels` replaces the builder's (time-decay
    /// credit is carried over by name), path `i` is
    /// `ids[path_start[i]..path_start[i + 1]]` with `stats[i]`, whose
    /// values sum exactly to `exact_total` (plain decimals).
    pub(crate) fn adopt_paths(
        &mut self,
        channels: Interner,
        ids: Vec<u32>,
        path_start: Vec<usize>,
        stats: Vec<PathStats>,
        exact_total: &ExactSum,
    ) -> Result<(), JourneyError> {
        self.exact_total.merge(exact_total);
        let (mut conversions, mut nulls) = (self.conversions, self.nulls);
        for s in &stats {
            conversions = conversions
                .checked_add(s.conversions)
                .ok_or(JourneyError::CountOverflow)?;
            nulls = nulls
                .checked_add(s.nulls)
                .ok_or(JourneyError::CountOverflow)?;
        }
        let time_decay = channels
            .names
            .iter()
            .map(|name| {
                self.channels
                    .index
                    .get(name)
                    .and_then(|&old| self.time_decay.get(old as usize))
                    .copied()
                    .unwrap_or_default()
            })
            .collect();
        // Names the builder met that no adopted path uses stay channels.
        let mut channels = channels;
        for name in &self.channels.names {
            channels.intern(name);
        }
        (self.conversions, self.nulls) = (conversions, nulls);
        self.channels = channels;
        self.time_decay = time_decay;
        self.slot_ids = ids;
        self.slot_start = path_start;
        self.stats = stats;
        Ok(())
    }

    /// Whether no path has been added yet.
    pub(crate) fn has_no_paths(&self) -> bool {
        self.stats.is_empty()
    }

    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        self.channels.intern(name)
    }

    pub(crate) fn time_decay_mut(&mut self, id: u32) -> &mut Credit {
        let i = id as usize;
        if self.time_decay.len() <= i {
            self.time_decay.resize(i + 1, Credit::default());
        }
        &mut self.time_decay[i]
    }

    pub(crate) fn set_no_times(&mut self) {
        self.has_times = false;
    }
}

/// The slots `0..n` in path order, `path(slot)` giving each distinct path:
/// sorted as `(key, slot)` pairs. With `whole` (fewer than 255 channels, at
/// most 16 touches) the key is the whole path (id + 1 a byte, first touch
/// highest) and alone orders the paths; otherwise it is the first four
/// ids plus one (0 past the end) in one integer ordered like the slices
/// over those four, with a slice compare on ties: one compare for most
/// pairs, and small elements to move.
fn sorted_slots<'a>(whole: bool, n: usize, path: impl Fn(u32) -> &'a [ChannelId]) -> Vec<u32> {
    let mut keys: Vec<(u128, u32)> = huge_with_capacity(n);
    keys.extend((0..n as u32).map(|slot| {
        let key = if whole {
            path(slot).iter().enumerate().fold(0u128, |k, (i, id)| {
                k | u128::from(id.0 + 1) << (8 * (15 - i))
            })
        } else {
            path(slot)
                .iter()
                .take(4)
                .enumerate()
                .fold(0u128, |k, (i, id)| {
                    k | u128::from(id.0.saturating_add(1)) << (32 * (3 - i))
                })
        };
        (key, slot)
    }));
    // Distinct paths, so an unstable sort is deterministic.
    if whole {
        keys.sort_unstable_by_key(|&(key, _)| key);
    } else {
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| path(a.1).cmp(path(b.1))));
    }
    keys.into_iter().map(|(_, slot)| slot).collect()
}

/// An empty vector with room for `n` elements whose memory the OS is
/// asked to back with huge pages (Linux, from 4 MiB): a table or arena
/// read at random then misses the TLB far less (the 10M-path aggregated
/// file reads about 10% faster). Only a hint: contents and results never
/// depend on it.
pub(crate) fn huge_with_capacity<T>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    unsafe_ops::advise_huge_pages(v.spare_capacity_mut());
    v
}

/// An exact sum of plain decimals (`mantissa / 10^decimals`, at most 19
/// digits in all), in units of 10^-19 over 160 bits: no order of additions
/// changes it, and it holds 2^33 terms of the largest size (about 10^10
/// lines of 19-digit integers near 10^19; of values below 9·10^15, 2^43;
/// of cents below a million, 2^77). Readers
/// sum values this way so that results do not depend on how lines are
/// shared among threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ExactSum {
    /// The low 128 bits as two words (8-byte aligned: 24 bytes in all).
    lo: [u64; 2],
    hi: u32,
    /// The most decimals of any term.
    scale: u8,
}

/// `10^i` for `i` in `0..=19`, as `u64`.
const POW10_U64: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};

impl ExactSum {
    /// Adds `mantissa / 10^decimals` (`decimals` ≤ 19; the term,
    /// `mantissa · 10^(19 - decimals)`, below 2^128: at most 19 digits).
    #[inline]
    pub(crate) fn add(&mut self, mantissa: u64, decimals: u32) {
        let d = decimals.min(19) as usize;
        let units = u128::from(mantissa) * u128::from(POW10_U64[19 - d]);
        self.add_units(units, 0);
        self.scale = self.scale.max(d as u8);
    }

    pub(crate) fn merge(&mut self, other: &ExactSum) {
        self.add_units(other.low(), other.hi);
        self.scale = self.scale.max(other.scale);
    }

    fn low(&self) -> u128 {
        u128::from(self.lo[0]) | u128::from(self.lo[1]) << 64
    }

    /// Adds `hi · 2^128 + lo` units (a term is below 2^117: a mantissa
    /// below 2^53 times at most 10^19).
    #[inline]
    fn add_units(&mut self, lo: u128, hi: u32) {
        let (sum, carry) = self.low().overflowing_add(lo);
        self.lo = [sum as u64, (sum >> 64) as u64];
        self.hi = self.hi.wrapping_add(hi).wrapping_add(u32::from(carry));
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.lo == [0, 0] && self.hi == 0
    }

    /// The sum as `f64`, correctly rounded (as `str::parse` rounds the
    /// sum written out): one division of two exact numbers when the sum,
    /// written without trailing zero decimals, has fewer than 2^53 units
    /// of its last decimal, else an exact integer division with a sticky
    /// bit. A function of the sum's value alone, never of how its terms
    /// were spelled or grouped (`0.000` adds nothing, and changes
    /// nothing).
    pub(crate) fn to_f64(self) -> f64 {
        let lo = self.low();
        if self.hi == 0 {
            // `scale` bounds the decimals the sum needs: every term is a
            // multiple of 10^-scale. Usually that is few enough; else drop
            // the sum's trailing zero decimals (terms such as `0.500000`).
            let mut scale = usize::from(self.scale);
            let mut n = lo / u128::from(POW10_U64[19 - scale]);
            while n >= 1 << 53 && scale > 0 && n % 10 == 0 {
                n /= 10;
                scale -= 1;
            }
            if n < 1 << 53 {
                return n as f64 / POW10_U64[scale] as f64;
            }
        }
        self.to_f64_wide()
    }

    /// The sum as `f64`, correctly rounded, for any sum (of at least 2^53
    /// units: the quotient below then keeps 55 bits or more). The value
    /// is `N / 10^19`; `Q = ⌊N · 2^66 / 10^19⌋` with a sticky bit for the
    /// remainder, `2Q + sticky` converted to `f64` (one rounding, to
    /// nearest even: the sticky bit can never sit on a halfway point),
    /// then scaled by `2^-67` exactly. (Converting `N` to `f64` and then
    /// dividing rounded twice: 10,000 × `999999999999999.9` came out one
    /// ulp off.)
    fn to_f64_wide(self) -> f64 {
        let lo = self.low();
        let (l0, l1, l2) = (lo as u64, (lo >> 64) as u64, u64::from(self.hi));
        // N · 2^66 in four 64-bit limbs, most significant first (the top
        // one is 0: N < 2^160).
        let limbs = [
            (l2 << 2) | (l1 >> 62),
            (l1 << 2) | (l0 >> 62),
            l0 << 2,
            0u64,
        ];
        let d = u128::from(POW10_U64[19]);
        let mut rem = 0u128;
        let mut q = [0u64; 4];
        for (q, &limb) in q.iter_mut().zip(&limbs) {
            let cur = (rem << 64) | u128::from(limb);
            *q = (cur / d) as u64;
            rem = cur % d;
        }
        let q_hi = u128::from(q[0]) << 64 | u128::from(q[1]);
        let q_lo = u128::from(q[2]) << 64 | u128::from(q[3]);
        let y_hi = q_hi << 1 | q_lo >> 127;
        let y_lo = q_lo << 1 | u128::from(rem != 0);
        let (z, shift) = if y_hi == 0 {
            (y_lo, 0)
        } else {
            let s = 128 - y_hi.leading_zeros();
            let lost = y_lo & ((1u128 << s) - 1);
            (
                y_hi << (128 - s) | y_lo >> s | u128::from(lost != 0),
                s as i32,
            )
        };
        z as f64 * 2f64.powi(shift - 67)
    }
}

/// A path of at most 16 touches over ids below 255 packed as (id + 1)
/// bytes, first touch lowest (so distinct paths get distinct keys). The
/// builder and the readers' fast path share it, so their keys agree.
#[inline]
pub(super) fn pack_path(ids: &[u32]) -> Option<u128> {
    if ids.len() > 16 {
        return None;
    }
    let mut key = 0u128;
    for (t, &id) in ids.iter().enumerate() {
        if id >= 255 {
            return None;
        }
        key |= u128::from(id + 1) << (8 * t);
    }
    Some(key)
}

pub(crate) fn check_half_life(half_life_hours: f64) -> Result<(), ModelError> {
    if half_life_hours.is_finite() && half_life_hours > 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter(
            "time-decay half-life must be finite and > 0 hours",
        ))
    }
}

/// Journeys aggregated by distinct channel path, with the channel
/// dictionary: the input of every model.
///
/// Build one with a [`JourneySetBuilder`], [`read`](fn@read) or [`read_file`].
///
/// # Example: inspect paths
///
/// ```
/// use referrals::attribution::channel::{read, ReadOptions};
///
/// let data = "path;total_conversions;total_null;total_conversion_value\n\
///             whatsapp > email;3;10;300\n\
///             whatsapp>email;1;0;50\n\
///             sms;0;4;0\n";
/// let set = read(data.as_bytes(), &ReadOptions::default())?;
/// let paths: Vec<(String, u64)> = set
///     .paths()
///     .map(|(path, stats)| {
///         let names: Vec<&str> = path.iter().map(|&c| set.channels().name(c).unwrap()).collect();
///         (names.join(" > "), stats.conversions)
///     })
///     .collect();
/// assert_eq!(paths, [("sms".to_owned(), 0), ("whatsapp > email".to_owned(), 4)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JourneySet {
    channels: Channels,
    /// Path `i` is `touches[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    touches: Vec<ChannelId>,
    stats: Vec<PathStats>,
    total_conversions: u64,
    total_nulls: u64,
    total_value: f64,
    half_life_hours: f64,
    time_decay: Option<ChannelCredits>,
}

impl JourneySet {
    /// The channel dictionary.
    ///
    /// # Example: channel count
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["sms", "email", "sms"]))?;
    /// assert_eq!(builder.finish()?.channels().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// How many distinct paths there are.
    ///
    /// # Example: journeys with the same path are one entry
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::lost(&["sms"]))?;
    /// builder.add(&Journey::converted(&["sms"], 1.0))?;
    /// assert_eq!(builder.finish()?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.stats.len()
    }

    /// Whether there are no paths.
    ///
    /// # Example: empty
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// assert!(JourneySetBuilder::new().finish()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }

    /// Every distinct path with its totals, sorted by channel ids.
    ///
    /// # Example: sum the journeys
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["sms"], 2, 3, 10.0))?;
    /// builder.add(&Journey::aggregated(&["email", "sms"], 1, 4, 5.0))?;
    /// let set = builder.finish()?;
    /// let journeys: u64 = set.paths().map(|(_, s)| s.conversions + s.nulls).sum();
    /// assert_eq!(journeys, 10);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn paths(&self) -> impl ExactSizeIterator<Item = (&[ChannelId], &PathStats)> + '_ {
        self.stats
            .iter()
            .enumerate()
            .map(|(i, s)| (&self.touches[self.offsets[i]..self.offsets[i + 1]], s))
    }

    /// Total conversions.
    ///
    /// # Example: conversions of every path
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["sms"], 2, 3, 10.0))?;
    /// assert_eq!(builder.finish()?.total_conversions(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_conversions(&self) -> u64 {
        self.total_conversions
    }

    /// Total non-converting journeys.
    ///
    /// # Example: nulls of every path
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["sms"], 2, 3, 10.0))?;
    /// assert_eq!(builder.finish()?.total_nulls(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_nulls(&self) -> u64 {
        self.total_nulls
    }

    /// Total conversion value (of converting journeys).
    ///
    /// # Example: a lost journey's value is not counted
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms"], 10.0))?;
    /// builder.add(&Journey { value: 99.0, ..Journey::lost(&["sms"]) })?;
    /// assert_eq!(builder.finish()?.total_value(), 10.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn total_value(&self) -> f64 {
        self.total_value
    }

    /// The half-life time decay was computed with, in hours.
    ///
    /// # Example: the default is 7 days
    ///
    /// ```
    /// use referrals::attribution::channel::JourneySetBuilder;
    ///
    /// assert_eq!(JourneySetBuilder::new().finish()?.half_life_hours(), 168.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn half_life_hours(&self) -> f64 {
        self.half_life_hours
    }

    /// Path `i` as channel ids.
    fn path(&self, i: usize) -> &[ChannelId] {
        &self.touches[self.offsets[i]..self.offsets[i + 1]]
    }
}

#[cfg(test)]
mod tests;
