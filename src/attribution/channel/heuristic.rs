//! Rule-based models: first touch, last touch, linear, position based and
//! time decay.
//!
//! Every model here is touch based: a channel that appears twice in a path
//! is credited for each appearance (under linear, `a > b > a` gives `a` 2/3
//! and `b` 1/3), which is what `channelattribution` and
//! `marketing-attribution-models` do. A path's value is split in the same
//! shares as its conversions.

use serde::{Deserialize, Serialize};

use super::{ChannelCredits, ChannelId, Credit, JourneySet, ModelError};

/// Shares of position-based attribution: first touch, all middle touches
/// together, last touch. Normalised to sum to 1, so `(40, 20, 40)` and
/// `(0.4, 0.2, 0.4)` are the same. The default is 40/20/40.
///
/// # Example: 30/40/30
///
/// ```
/// use referrals::attribution::channel::PositionWeights;
///
/// let w = PositionWeights::new(30.0, 40.0, 30.0)?;
/// assert!((w.middle() - 0.4).abs() < 1e-15);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: from JSON, checked and normalised as by [`PositionWeights::new`]
///
/// ```
/// use referrals::attribution::channel::PositionWeights;
///
/// let w: PositionWeights = serde_json::from_str(r#"{"first": 40, "middle": 20, "last": 40}"#)?;
/// assert_eq!(w, PositionWeights::default());
/// assert!(serde_json::from_str::<PositionWeights>(r#"{"first": -1, "middle": 1, "last": 1}"#).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PositionWeightsSpec")]
pub struct PositionWeights {
    first: f64,
    middle: f64,
    last: f64,
}

/// [`PositionWeights`] as written, before [`PositionWeights::new`] checks
/// and normalises them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionWeightsSpec {
    first: f64,
    middle: f64,
    last: f64,
}

impl TryFrom<PositionWeightsSpec> for PositionWeights {
    type Error = ModelError;

    fn try_from(w: PositionWeightsSpec) -> Result<Self, ModelError> {
        let normalised = PositionWeights::new(w.first, w.middle, w.last)?;
        // Weights that already sum to one (within rounding: what `new`
        // gave and serde wrote) are kept as written, so that a round trip
        // gives back the same weights; dividing by a sum an ulp off one
        // would move them.
        let sum = w.first + w.middle + w.last;
        if (sum - 1.0).abs() <= 4.0 * f64::EPSILON {
            return Ok(PositionWeights {
                first: w.first,
                middle: w.middle,
                last: w.last,
            });
        }
        Ok(normalised)
    }
}

impl Default for PositionWeights {
    fn default() -> Self {
        PositionWeights {
            first: 0.4,
            middle: 0.2,
            last: 0.4,
        }
    }
}

impl PositionWeights {
    /// Weights for the first touch, the middle touches together and the last
    /// touch, normalised by their sum.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidParameter`] if a weight is negative or not
    /// finite, or all are zero.
    ///
    /// # Example: percentages
    ///
    /// ```
    /// use referrals::attribution::channel::PositionWeights;
    ///
    /// assert_eq!(PositionWeights::new(40.0, 20.0, 40.0)?, PositionWeights::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: negative weights are refused
    ///
    /// ```
    /// use referrals::attribution::channel::PositionWeights;
    ///
    /// assert!(PositionWeights::new(-1.0, 1.0, 1.0).is_err());
    /// assert!(PositionWeights::new(0.0, 0.0, 0.0).is_err());
    /// ```
    pub fn new(first: f64, middle: f64, last: f64) -> Result<Self, ModelError> {
        let ok = |w: f64| w.is_finite() && w >= 0.0;
        if !(ok(first) && ok(middle) && ok(last)) {
            return Err(ModelError::InvalidParameter(
                "position weights must be finite and >= 0",
            ));
        }
        let sum = first + middle + last;
        if !(sum > 0.0 && sum.is_finite()) {
            return Err(ModelError::InvalidParameter(
                "position weights must not all be 0",
            ));
        }
        Ok(PositionWeights {
            first: first / sum,
            middle: middle / sum,
            last: last / sum,
        })
    }

    /// The first touch's share (normalised).
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::PositionWeights;
    ///
    /// assert_eq!(PositionWeights::default().first(), 0.4);
    /// ```
    pub fn first(&self) -> f64 {
        self.first
    }

    /// The middle touches' share together (normalised).
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::PositionWeights;
    ///
    /// assert_eq!(PositionWeights::default().middle(), 0.2);
    /// ```
    pub fn middle(&self) -> f64 {
        self.middle
    }

    /// The last touch's share (normalised).
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::PositionWeights;
    ///
    /// assert_eq!(PositionWeights::default().last(), 0.4);
    /// ```
    pub fn last(&self) -> f64 {
        self.last
    }

    /// The share of touch `i` (from 0) in a path of `len` touches.
    fn share(&self, i: usize, len: usize) -> f64 {
        match len {
            1 => 1.0,
            2 => {
                let ends = self.first + self.last;
                if ends > 0.0 {
                    if i == 0 {
                        self.first / ends
                    } else {
                        self.last / ends
                    }
                } else {
                    0.5
                }
            }
            _ if i == 0 => self.first,
            _ if i == len - 1 => self.last,
            _ => self.middle / (len - 2) as f64,
        }
    }
}

impl JourneySet {
    /// Credits each converting path's conversions and value by
    /// `share(position, len)`. A path of `len` touches has at most three
    /// distinct shares (first, middle, last), so each is scaled once per
    /// path and the touches only add: the same products as scaling per
    /// touch, without a division or a branch per touch.
    fn touch_based(&self, share: impl Fn(usize, usize) -> f64) -> ChannelCredits {
        let mut credits = ChannelCredits::zeros(self.channels.len());
        let scaled = |conversions: f64, value: f64, s: f64| Credit {
            conversions: conversions * s,
            value: value * s,
        };
        for (i, stats) in self.stats.iter().enumerate() {
            if stats.conversions == 0 {
                continue;
            }
            let path = self.path(i);
            let len = path.len();
            let conversions = stats.conversions as f64;
            let at = |pos: usize| {
                let s = share(pos, len);
                (s != 0.0).then(|| scaled(conversions, stats.value, s))
            };
            let mut add = |id: &ChannelId, credit: Credit| {
                let c = &mut credits.credits[id.index()];
                c.conversions += credit.conversions;
                c.value += credit.value;
            };
            let Some((first, rest)) = path.split_first() else {
                continue;
            };
            if let Some(credit) = at(0) {
                add(first, credit);
            }
            if let Some((last, middle)) = rest.split_last() {
                if let Some(credit) = at(1).filter(|_| !middle.is_empty()) {
                    for id in middle {
                        add(id, credit);
                    }
                }
                if let Some(credit) = at(len - 1) {
                    add(last, credit);
                }
            }
        }
        credits
    }

    /// Credits one touch per path, picked by `pick(path)`.
    fn single_touch(&self, pick: impl Fn(&[ChannelId]) -> Option<&ChannelId>) -> ChannelCredits {
        let mut credits = ChannelCredits::zeros(self.channels.len());
        for (i, stats) in self.stats.iter().enumerate() {
            if let Some(id) = pick(self.path(i)) {
                let c = &mut credits.credits[id.index()];
                c.conversions += stats.conversions as f64;
                c.value += stats.value;
            }
        }
        credits
    }

    /// First touch: each path's conversions and value go to its first
    /// channel.
    ///
    /// `credit(c) = Σ over paths p with p[0] = c of (conversions_p, value_p)`.
    ///
    /// # Example: `a > b` converts twice for 30, `b` once for 5
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 2, 0, 30.0))?;
    /// builder.add(&Journey::aggregated(&["b"], 1, 5, 5.0))?;
    /// let set = builder.finish()?;
    /// let first = set.first_touch();
    /// let (a, b) = (set.channels().id("a").unwrap(), set.channels().id("b").unwrap());
    /// assert_eq!((first.get(a).conversions, first.get(a).value), (2.0, 30.0));
    /// assert_eq!((first.get(b).conversions, first.get(b).value), (1.0, 5.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn first_touch(&self) -> ChannelCredits {
        self.single_touch(|p| p.first())
    }

    /// Last touch: each path's conversions and value go to its last channel.
    ///
    /// `credit(c) = Σ over paths p with p[last] = c of (conversions_p, value_p)`.
    ///
    /// # Example: `a > b` converts twice for 30, `b` once for 5
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 2, 0, 30.0))?;
    /// builder.add(&Journey::aggregated(&["b"], 1, 5, 5.0))?;
    /// let set = builder.finish()?;
    /// let b = set.channels().id("b").unwrap();
    /// assert_eq!(set.last_touch().get(b).conversions, 3.0);
    /// assert_eq!(set.last_touch().get(b).value, 35.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_touch(&self) -> ChannelCredits {
        self.single_touch(|p| p.last())
    }

    /// Linear: each touch of a path gets `1/len` of its conversions and
    /// value; a channel gets a share per appearance.
    ///
    /// `credit(c) = Σ_p (conversions_p, value_p) × |{i : p[i] = c}| / len(p)`.
    ///
    /// # Example: `a > b > a` converts once for 30
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b", "a"], 30.0))?;
    /// let set = builder.finish()?;
    /// let linear = set.linear();
    /// let (a, b) = (set.channels().id("a").unwrap(), set.channels().id("b").unwrap());
    /// assert!((linear.get(a).conversions - 2.0 / 3.0).abs() < 1e-15);
    /// assert!((linear.get(b).value - 10.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn linear(&self) -> ChannelCredits {
        self.touch_based(|_, len| 1.0 / len as f64)
    }

    /// Position based ("U-shaped"): the first and last touches get fixed
    /// shares, the middle touches split the rest evenly.
    ///
    /// With normalised weights `(f, m, l)` (default 0.4/0.2/0.4), a path of
    /// `n` touches gives:
    ///
    /// - `n = 1`: the touch gets 1;
    /// - `n = 2`: first `f/(f+l)`, last `l/(f+l)`: the middle share goes to
    ///   the ends in proportion (50/50 by default; 50/50 too if `f = l = 0`);
    /// - `n ≥ 3`: first `f`, last `l`, each middle touch `m/(n-2)`.
    ///
    /// Repeated channels are credited per touch.
    ///
    /// # Example: `a > b > c > d` converts once for 100, default weights
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, PositionWeights};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b", "c", "d"], 100.0))?;
    /// let set = builder.finish()?;
    /// let u = set.position_based(PositionWeights::default());
    /// let get = |n: &str| u.get(set.channels().id(n).unwrap()).value;
    /// assert!((get("a") - 40.0).abs() < 1e-12);
    /// assert!((get("b") - 10.0).abs() < 1e-12);
    /// assert!((get("d") - 40.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: two touches with 30/40/30 split 50/50
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, PositionWeights};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b"], 10.0))?;
    /// let set = builder.finish()?;
    /// let u = set.position_based(PositionWeights::new(30.0, 40.0, 30.0)?);
    /// assert_eq!(u.get(set.channels().id("a").unwrap()).conversions, 0.5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn position_based(&self, weights: PositionWeights) -> ChannelCredits {
        self.touch_based(|i, len| weights.share(i, len))
    }

    /// Time decay: touch `i` of a converting journey weighs
    /// `2^(-hours_i / half_life)`, `hours_i` being how long before the
    /// journey's end it happened, and gets `weight_i / Σ weights` of the
    /// journey's conversions and value.
    ///
    /// Computed while the journeys arrive (with the half-life of the
    /// [`JourneySetBuilder`](super::JourneySetBuilder) or
    /// [`ReadOptions`](super::ReadOptions), default 168 h = 7 days), so no
    /// touch time is stored.
    ///
    /// # Errors
    ///
    /// [`ModelError::NoTouchTimes`] if some journey came without touch
    /// times (always for the aggregated file format).
    ///
    /// # Example: touches 7 days and 0 hours before a 30.0 sale
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b"], 30.0).with_hours(&[168.0, 0.0]))?;
    /// let set = builder.finish()?;
    /// let decay = set.time_decay()?;
    /// // Weights 1/2 and 1: a gets 1/3, b gets 2/3.
    /// assert!((decay.get(set.channels().id("a").unwrap()).value - 10.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: the aggregated format has no times
    ///
    /// ```
    /// use referrals::attribution::channel::{read, ModelError, ReadOptions};
    ///
    /// let data = "path;total_conversions;total_null;total_conversion_value\na;1;0;5\n";
    /// let set = read(data.as_bytes(), &ReadOptions::default())?;
    /// assert_eq!(set.time_decay().unwrap_err(), ModelError::NoTouchTimes);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn time_decay(&self) -> Result<&ChannelCredits, ModelError> {
        self.time_decay.as_ref().ok_or(ModelError::NoTouchTimes)
    }
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
