//! Exact Shapley values over channel coalitions.

use serde::{Deserialize, Serialize};

use super::{ChannelCredits, Credit, JourneySet, ModelError};

/// Channels beyond which no limit is accepted: `2^30` coalitions take
/// 16 GiB.
const HARD_MAX_CHANNELS: usize = 30;

/// Options of [`JourneySet::shapley`].
///
/// # Example: allow up to 24 channels
///
/// ```
/// use referrals::attribution::channel::ShapleyOptions;
///
/// let options = ShapleyOptions::default().with_max_channels(24);
/// assert_eq!(options.max_channels(), 24);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShapleyOptions {
    max_channels: usize,
}

impl Default for ShapleyOptions {
    /// At most 20 channels (2^20 coalitions, 16 MiB, tens of milliseconds).
    fn default() -> Self {
        ShapleyOptions { max_channels: 20 }
    }
}

impl ShapleyOptions {
    /// The most channels to compute for; capped at 30 (`2^30` coalitions
    /// need 16 GiB).
    ///
    /// # Example: the cap
    ///
    /// ```
    /// use referrals::attribution::channel::ShapleyOptions;
    ///
    /// assert_eq!(ShapleyOptions::default().with_max_channels(64).max_channels(), 30);
    /// ```
    pub fn with_max_channels(self, max_channels: usize) -> Self {
        ShapleyOptions {
            max_channels: max_channels.min(HARD_MAX_CHANNELS),
        }
    }

    /// The channel limit.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::ShapleyOptions;
    ///
    /// assert_eq!(ShapleyOptions::default().max_channels(), 20);
    /// ```
    pub fn max_channels(&self) -> usize {
        self.max_channels
    }
}

impl JourneySet {
    /// Shapley values of the channels in the coalition game where a set of
    /// channels `S` is worth the conversions (and, separately, the value) of
    /// the journeys whose channels all lie in `S`.
    ///
    /// `v(S) = Σ over paths p with set(p) ⊆ S of conversions_p`, and
    ///
    /// `φ_c = Σ over S ⊆ N∖{c} of |S|! (n−|S|−1)! / n! · (v(S ∪ {c}) − v(S))`.
    ///
    /// Computed exactly over all `2^n` coalitions: conversions per exact
    /// channel set, a subset-sum (zeta) transform for `v`, then the sum
    /// above, `O(n · 2^n)` time and `16 · 2^n` bytes: 20 channels take tens
    /// of milliseconds and 16 MiB, and each further channel doubles both.
    /// The values add up to `v(N)`, the total (efficiency). A path counts
    /// its channels as a set: order and repeats do not matter.
    ///
    /// (This game is a sum of unanimity games, so `φ_c` also equals the sum
    /// over paths containing `c` of `conversions_p / |set(p)|`; the tests
    /// check the transform against that identity.)
    ///
    /// # Errors
    ///
    /// [`ModelError::TooManyChannels`] when the data has more channels than
    /// [`ShapleyOptions::with_max_channels`] (default 20);
    /// [`ModelError::OutOfMemory`] when its `16 · 2^channels` bytes cannot
    /// be allocated (30 channels: 16 GiB).
    ///
    /// # Example: worked by hand
    ///
    /// `a` converts 2 times alone, `a > b` 3 times. `v({a}) = 2`,
    /// `v({b}) = 0`, `v({a, b}) = 5`. `φ_a = ½(2 − 0) + ½(5 − 0) = 3.5`,
    /// `φ_b = ½(0 − 0) + ½(5 − 2) = 1.5`.
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a"], 2, 0, 20.0))?;
    /// builder.add(&Journey::aggregated(&["a", "b"], 3, 4, 30.0))?;
    /// let set = builder.finish()?;
    /// let shapley = set.shapley(&Default::default())?;
    /// let (a, b) = (set.channels().id("a").unwrap(), set.channels().id("b").unwrap());
    /// assert_eq!(shapley.get(a).conversions, 3.5);
    /// assert_eq!(shapley.get(b).conversions, 1.5);
    /// assert_eq!(shapley.get(b).value, 15.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: too many channels
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, ModelError, ShapleyOptions};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b", "c"], 1.0))?;
    /// let set = builder.finish()?;
    /// let err = set.shapley(&ShapleyOptions::default().with_max_channels(2)).unwrap_err();
    /// assert_eq!(err, ModelError::TooManyChannels { channels: 3, limit: 2 });
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shapley(&self, options: &ShapleyOptions) -> Result<ChannelCredits, ModelError> {
        let n = self.channels.len();
        let limit = options.max_channels.min(HARD_MAX_CHANNELS);
        if n > limit {
            return Err(ModelError::TooManyChannels { channels: n, limit });
        }
        let size = 1usize << n;
        // Worth of each exact channel set, then of each set's subsets: two
        // tables of `2^n` floats, asked for fallibly (30 channels take
        // 16 GiB, which a machine may refuse).
        let mut conv: Vec<f64> = Vec::new();
        let mut value: Vec<f64> = Vec::new();
        if conv.try_reserve_exact(size).is_err() || value.try_reserve_exact(size).is_err() {
            return Err(ModelError::OutOfMemory {
                model: "Shapley",
                bytes: 16u64 << n,
            });
        }
        conv.resize(size, 0.0);
        value.resize(size, 0.0);
        for (i, stats) in self.stats.iter().enumerate() {
            if stats.conversions == 0 {
                continue;
            }
            let mask = self
                .path(i)
                .iter()
                .fold(0usize, |m, id| m | (1 << id.index()));
            conv[mask] += stats.conversions as f64;
            value[mask] += stats.value;
        }
        for bit in 0..n {
            let b = 1usize << bit;
            for mask in 0..size {
                if mask & b != 0 {
                    conv[mask] += conv[mask ^ b];
                    value[mask] += value[mask ^ b];
                }
            }
        }
        // weight[s] = s! (n-s-1)! / n! = 1 / (n · C(n-1, s)).
        let mut weight = vec![0.0f64; n.max(1)];
        let mut binom = 1.0f64;
        for (s, w) in weight.iter_mut().enumerate().take(n) {
            *w = 1.0 / (n as f64 * binom);
            binom = binom * (n - 1 - s) as f64 / (s + 1) as f64;
        }
        let mut credits = ChannelCredits::zeros(n);
        for (c, credit) in credits.credits.iter_mut().enumerate() {
            let b = 1usize << c;
            let mut phi = Credit::default();
            for mask in 0..size {
                if mask & b != 0 {
                    continue;
                }
                let w = weight[mask.count_ones() as usize];
                phi.conversions += w * (conv[mask | b] - conv[mask]);
                phi.value += w * (value[mask | b] - value[mask]);
            }
            *credit = phi;
        }
        Ok(credits)
    }
}
