//! [`JourneySetBuilder`]: journeys aggregated by distinct path into one
//! arena of slots, with channel names interned; the readers feed it too.

use super::arena::Arena;
use super::check::{check_half_life, check_hours, check_names};
use super::exact::ExactSum;
use super::heuristic::time_decay_shares;
use super::names::Interner;
use super::{
    ChannelCredits, Channels, Credit, DEFAULT_HALF_LIFE_HOURS, FastMap, Journey, JourneyError,
    JourneySet, ModelError, PathStats,
};

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
    pub(super) half_life_hours: f64,
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
        // The index goes first: only the names are sorted.
        let (sorted_names, new_id) = channels.into_names().sorted();

        // Only the arena is needed from here: free the lookups first.
        drop((packed, paths));
        for (stats, exact) in slots.iter_mut().zip(&exact) {
            stats.value += exact.to_f64();
        }
        let Arena {
            offsets,
            touches,
            stats,
            mut total_value,
        } = Arena::sorted(sorted_names.len(), &new_id, slot_ids, &slot_start, slots);
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

    /// Takes distinct paths wholesale, in the builder's channel ids, into
    /// a builder that has none yet: path `i` is
    /// `ids[path_start[i]..path_start[i + 1]]` with `stats[i]`, whose
    /// values sum exactly to `exact_total` (plain decimals).
    pub(crate) fn adopt_paths(
        &mut self,
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
        (self.conversions, self.nulls) = (conversions, nulls);
        self.slot_ids = ids;
        self.slot_start = path_start;
        self.stats = stats;
        Ok(())
    }

    /// Takes `channels` as the builder's dictionary, whose ids the caller
    /// has used as the builder's from the start (the reader's lone
    /// worker): the builder must have interned nothing itself.
    pub(crate) fn adopt_channels(&mut self, channels: Interner) {
        debug_assert!(self.channels.is_empty(), "the builder interned names");
        self.channels = channels;
    }

    /// How many channels it has interned.
    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
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
