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
//! # Memory and speed
//!
//! Readers stream: they hold a few blocks of lines (1 MiB each by default)
//! and one entry per distinct path, never the file, so memory follows the
//! number of distinct paths. Per-journey files are parsed on
//! [`ReadOptions::with_threads`] threads; aggregated files, where nearly
//! every line is a new path, on the calling thread, with tables that
//! [`read_file`] sizes from the file's size.
//!
//! Plain per-journey lines (unquoted, `0`/`1`, decimals without exponent,
//! paths of at most 16 touches over at most 255 channels per parsing
//! thread) take a fast path; any other line goes through the general
//! parser, which accepts everything described above and reports errors,
//! several times slower per line. Both read every field the same way (a
//! test checks it), so the choice never changes a result. On Linux the
//! large tables are advised onto huge pages, a hint nothing depends on.
//! How the readers are fast is told in the crate's `DESIGN.md`.
//!
//! To run every model over a file from the command line:
//!
//! ```text
//! cargo run --release --example channel_report -- FILE [--json]
//! ```
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

mod arena;
mod builder;
mod check;
mod error;
mod exact;
mod heuristic;
mod markov;
mod names;
mod read;
mod shapley;
#[doc(hidden)]
pub mod synth;
#[allow(unsafe_code)]
mod unsafe_ops;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use arena::huge_with_capacity;
pub use builder::JourneySetBuilder;
use builder::pack_path;
use check::{bad_in_name, check_half_life, name_char_error};
pub use error::{JourneyError, LineErrorKind, ModelError, ReadError};
use exact::ExactSum;
pub use heuristic::PositionWeights;
use heuristic::time_decay_shares;
pub use markov::{MarkovAttribution, MarkovChain, MarkovOptions, MarkovState, Transition};
use names::{Interner, NameList};
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
#[serde(transparent)]
pub struct Channels {
    /// Serialised as `{"names": [...]}`.
    names: NameList,
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
        self.names.get(id.index())
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
        self.names
            .search_sorted(name.trim())
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
            .map(|(i, n)| (ChannelId(i as u32), n))
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
