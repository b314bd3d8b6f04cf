//! Markov-chain attribution: removal effects in an absorbing chain, solved
//! exactly by Gaussian elimination (no simulation): one LU factorisation
//! for the whole run, each channel's removal a low-rank update of it (see
//! `removal_effects`).
//!
//! # Construction
//!
//! For order `k`, a transient state is a window of `k` consecutive channels
//! of a path. A path `c1 > … > cn` with `n ≥ k` visits the windows
//! `(c1..ck), (c2..ck+1), …, (cn-k+1..cn)`; a path shorter than `k` is one
//! state, the whole path. `(start)` goes to the first state, the last state
//! goes to `(conversion)` with the path's conversions and to `(null)` with
//! its nulls, and every step between states counts the path's
//! `conversions + nulls`. Transition probabilities are counts over the
//! state's outgoing total. This is the construction of
//! `channelattribution`'s `markov_model(order = k)` (checked on its
//! transition matrices): for `k = 2`, `a > b > c` is
//! `(start) → (a,b) → (b,c) → (conversion)` and `b` alone is the state `(b)`.
//!
//! Transitions from a state to itself are dropped by default, again as
//! `channelattribution` does; for order 1 that is merging repeated
//! touches (`a > a > b` as `a > b`). Keeping them changes the transition
//! probabilities but never the result: a state's self-loop only delays its
//! exit, whose distribution over the other targets stays `count / (total -
//! self)`, so every absorption probability is the same (a test checks it).

use serde::{Deserialize, Serialize};

use super::{ChannelCredits, ChannelId, Channels, Credit, FastMap, JourneySet, ModelError};

/// Options of [`JourneySet::markov`].
///
/// # Example: a second-order chain keeping self-transitions
///
/// ```
/// use referrals::attribution::channel::MarkovOptions;
///
/// let options = MarkovOptions::default().with_order(2).with_self_transitions(true);
/// assert_eq!(options.order(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkovOptions {
    order: usize,
    keep_self_transitions: bool,
    max_states: usize,
}

impl Default for MarkovOptions {
    /// First order, self-transitions dropped, at most 2,000 states.
    fn default() -> Self {
        MarkovOptions {
            order: 1,
            keep_self_transitions: false,
            max_states: 2_000,
        }
    }
}

impl MarkovOptions {
    /// The chain's order `k` (≥ 1): states are the last `k` channels.
    ///
    /// # Example: third order
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert_eq!(MarkovOptions::default().with_order(3).order(), 3);
    /// ```
    pub fn with_order(self, order: usize) -> Self {
        MarkovOptions { order, ..self }
    }

    /// Whether to keep transitions from a state to itself (default: drop).
    ///
    /// # Example: keep them
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert!(MarkovOptions::default().with_self_transitions(true).keeps_self_transitions());
    /// ```
    pub fn with_self_transitions(self, keep: bool) -> Self {
        MarkovOptions {
            keep_self_transitions: keep,
            ..self
        }
    }

    /// The most transient states to solve for (default 2,000). The chain
    /// is factored once (dense LU, about `states³/3` multiply-adds) and
    /// every removal effect follows from that factorisation and the
    /// inverse's triangular factors (another `states³/3`), so a whole run
    /// costs about two dense solves whatever the number of channels, and
    /// `states² × 8` bytes: 2,000 states (2,000 channels at order 1) take
    /// about 2.5 seconds and 32 MB.
    ///
    /// # Example: allow bigger chains
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert_eq!(MarkovOptions::default().with_max_states(5_000).max_states(), 5_000);
    /// ```
    pub fn with_max_states(self, max_states: usize) -> Self {
        MarkovOptions { max_states, ..self }
    }

    /// The chain's order.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert_eq!(MarkovOptions::default().order(), 1);
    /// ```
    pub fn order(&self) -> usize {
        self.order
    }

    /// Whether self-transitions are kept.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert!(!MarkovOptions::default().keeps_self_transitions());
    /// ```
    pub fn keeps_self_transitions(&self) -> bool {
        self.keep_self_transitions
    }

    /// The state limit.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::MarkovOptions;
    ///
    /// assert_eq!(MarkovOptions::default().max_states(), 2_000);
    /// ```
    pub fn max_states(&self) -> usize {
        self.max_states
    }
}

/// A state of the chain.
///
/// # Example: states sort start first, absorbing states last
///
/// ```
/// use referrals::attribution::channel::MarkovState;
///
/// assert!(MarkovState::Start < MarkovState::Channels(0));
/// assert!(MarkovState::Channels(7) < MarkovState::Conversion);
/// assert!(MarkovState::Conversion < MarkovState::Null);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MarkovState {
    /// Where every journey starts.
    Start,
    /// A transient state: the window of channels
    /// [`MarkovChain::state`]`(i)`.
    Channels(usize),
    /// Absorbing: the journey converted.
    Conversion,
    /// Absorbing: the journey ended without converting.
    Null,
}

/// One transition with its probability.
///
/// # Example: the probabilities out of a state sum to 1
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovState};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::aggregated(&["a", "b"], 1, 2, 0.0))?;
/// builder.add(&Journey::aggregated(&["b"], 1, 0, 0.0))?;
/// let markov = builder.finish()?.markov(&Default::default())?;
/// let out: f64 = markov
///     .chain()
///     .transitions()
///     .iter()
///     .filter(|t| t.from == MarkovState::Start)
///     .map(|t| t.probability)
///     .sum();
/// assert_eq!(out, 1.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Source state.
    pub from: MarkovState,
    /// Target state.
    pub to: MarkovState,
    /// Probability, in `(0, 1]`.
    pub probability: f64,
}

/// The estimated chain: its transient states and transition probabilities.
///
/// # Example: print the transition matrix
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::aggregated(&["whatsapp", "email"], 1, 1, 0.0))?;
/// let set = builder.finish()?;
/// let markov = set.markov(&Default::default())?;
/// let chain = markov.chain();
/// let lines: Vec<String> = chain
///     .transitions()
///     .iter()
///     .map(|t| {
///         format!(
///             "{} -> {}: {}",
///             chain.state_name(t.from, set.channels()),
///             chain.state_name(t.to, set.channels()),
///             t.probability
///         )
///     })
///     .collect();
/// assert_eq!(
///     lines,
///     [
///         "(start) -> whatsapp: 1",
///         "email -> (conversion): 0.5",
///         "email -> (null): 0.5",
///         "whatsapp -> email: 1",
///     ]
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkovChain {
    order: usize,
    states: Vec<Box<[ChannelId]>>,
    transitions: Vec<Transition>,
}

impl MarkovChain {
    /// The chain's order.
    ///
    /// # Example: as asked
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovOptions};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b", "c"], 1.0))?;
    /// let markov = builder.finish()?.markov(&MarkovOptions::default().with_order(2))?;
    /// assert_eq!(markov.chain().order(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order(&self) -> usize {
        self.order
    }

    /// How many transient states there are.
    ///
    /// # Example: second order over `a > b > c`
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovOptions};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b", "c"], 1.0))?;
    /// let markov = builder.finish()?.markov(&MarkovOptions::default().with_order(2))?;
    /// assert_eq!(markov.chain().state_count(), 2, "(a,b) and (b,c)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The channels of transient state `i` ([`MarkovState::Channels`]`(i)`),
    /// oldest first; states are sorted by these ids.
    ///
    /// # Example: windows of two channels
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovOptions};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b"], 1.0))?;
    /// let set = builder.finish()?;
    /// let markov = set.markov(&MarkovOptions::default().with_order(2))?;
    /// let ids = markov.chain().state(0).unwrap();
    /// assert_eq!(set.channels().name(ids[1]), Some("b"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state(&self, i: usize) -> Option<&[ChannelId]> {
        self.states.get(i).map(|s| &**s)
    }

    /// Every transition with a positive probability, sorted by source then
    /// target ([`MarkovState`]'s order).
    ///
    /// # Example: count transitions
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a"], 1.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// assert_eq!(markov.chain().transitions().len(), 2, "start -> a -> conversion");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// The probability of going from `from` to `to` (0 if there is no such
    /// transition).
    ///
    /// # Example: a repeated touch is no self-transition
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovState};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "a"], 1.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// let a = MarkovState::Channels(0);
    /// assert_eq!(markov.chain().probability(a, a), 0.0);
    /// assert_eq!(markov.chain().probability(a, MarkovState::Conversion), 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn probability(&self, from: MarkovState, to: MarkovState) -> f64 {
        self.transitions
            .binary_search_by(|t| (t.from, t.to).cmp(&(from, to)))
            .map(|i| self.transitions[i].probability)
            .unwrap_or(0.0)
    }

    /// A readable name: `(start)`, `(conversion)`, `(null)`, or the
    /// state's channels as `a > b`.
    ///
    /// # Example: name states
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovState};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["sms"], 1.0))?;
    /// let set = builder.finish()?;
    /// let markov = set.markov(&Default::default())?;
    /// assert_eq!(markov.chain().state_name(MarkovState::Channels(0), set.channels()), "sms");
    /// assert_eq!(markov.chain().state_name(MarkovState::Null, set.channels()), "(null)");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn state_name(&self, state: MarkovState, channels: &Channels) -> String {
        match state {
            MarkovState::Start => "(start)".to_owned(),
            MarkovState::Conversion => "(conversion)".to_owned(),
            MarkovState::Null => "(null)".to_owned(),
            MarkovState::Channels(i) => match self.state(i) {
                Some(ids) => channels.path_string(ids),
                None => format!("(unknown state {i})"),
            },
        }
    }
}

/// The result of [`JourneySet::markov`]: the chain, the conversion
/// probability, each channel's removal effect and the credits.
///
/// # Example: removal effects and credits
///
/// ```
/// use referrals::attribution::channel::{Journey, JourneySetBuilder};
///
/// let mut builder = JourneySetBuilder::new();
/// builder.add(&Journey::aggregated(&["a", "b"], 1, 0, 100.0))?;
/// builder.add(&Journey::aggregated(&["b"], 0, 1, 0.0))?;
/// builder.add(&Journey::aggregated(&["a"], 1, 1, 50.0))?;
/// let set = builder.finish()?;
/// let markov = set.markov(&Default::default())?;
/// let a = set.channels().id("a").unwrap();
/// assert!((markov.removal_effect(a) - 0.75).abs() < 1e-15);
/// assert!((markov.credits().get(a).value - 90.0).abs() < 1e-12);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkovAttribution {
    chain: MarkovChain,
    conversion_probability: f64,
    removal_effects: Vec<f64>,
    credits: ChannelCredits,
}

impl MarkovAttribution {
    /// The estimated chain.
    ///
    /// # Example: one state per channel at order 1
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::converted(&["a", "b"], 1.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// assert_eq!(markov.chain().state_count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chain(&self) -> &MarkovChain {
        &self.chain
    }

    /// `P(conversion)` from `(start)`.
    ///
    /// # Example: at order 1 without loops it is conversions over journeys
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 1, 3, 0.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// assert_eq!(markov.conversion_probability(), 0.25);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn conversion_probability(&self) -> f64 {
        self.conversion_probability
    }

    /// The removal effect of a channel, in `[0, 1]` (0 for an unknown id).
    ///
    /// # Example: a channel on every path has removal effect 1
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 1, 3, 0.0))?;
    /// let set = builder.finish()?;
    /// let markov = set.markov(&Default::default())?;
    /// assert_eq!(markov.removal_effect(set.channels().id("b").unwrap()), 1.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn removal_effect(&self, id: ChannelId) -> f64 {
        self.removal_effects.get(id.index()).copied().unwrap_or(0.0)
    }

    /// Every channel's removal effect, indexed by [`ChannelId::index`].
    ///
    /// # Example: one per channel
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 1, 3, 0.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// assert_eq!(markov.removal_effects(), [1.0, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn removal_effects(&self) -> &[f64] {
        &self.removal_effects
    }

    /// Conversions and value per channel, in proportion to removal effects.
    ///
    /// # Example: equal removal effects split evenly
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 2, 3, 10.0))?;
    /// let markov = builder.finish()?.markov(&Default::default())?;
    /// assert_eq!(markov.credits().as_slice()[0].value, 5.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn credits(&self) -> &ChannelCredits {
        &self.credits
    }
}

/// The windows of a path at order `k`: every `k` consecutive channels, or
/// the whole path if it is shorter.
fn windows(path: &[ChannelId], k: usize) -> impl Iterator<Item = &[ChannelId]> {
    let k = k.min(path.len()).max(1);
    path.windows(k)
}

impl JourneySet {
    /// Markov-chain attribution with exact removal effects.
    ///
    /// The chain (see the module docs on
    /// [`MarkovOptions`] and the construction below) gives
    /// `P = P(conversion | start)`. Removing channel `c` sends every
    /// transition into a state containing `c` to `(null)`, giving `P_c`.
    /// Then
    ///
    /// - removal effect `RE_c = 1 − P_c / P` (0 when `P = 0`; clamped to
    ///   `[0, 1]` against rounding);
    /// - `c`'s conversions `= RE_c / Σ_d RE_d × total conversions`, and the
    ///   same share of the total value.
    ///
    /// Absorption probabilities `x` solve `(I − Q) x = r`, `Q` being the
    /// transitions among transient states and `r` those into
    /// `(conversion)`; `P = Σ_s start(s) x_s`. The system is factorised
    /// once (dense LU with partial pivoting) and each channel's removal is
    /// an update of that factorisation, not a solve of its own: about
    /// `2/3 · states³` multiply-adds for the whole run, deterministic, and
    /// within about 1e-14 relative of an 80-bit reference on generated
    /// files of up to 1,000 channels (DESIGN.md).
    ///
    /// States are windows of the last `k` channels; a path shorter than `k`
    /// is one state; self-transitions are dropped unless kept (they never
    /// change the result). This matches `channelattribution`'s
    /// `markov_model(order = k)`, which estimates the same quantities by
    /// simulation: with `max_step=200` its removal effects agree with these
    /// to Monte Carlo precision. Its default `max_step` (the longest path
    /// in the data) cuts simulated journeys short, which lowers removal
    /// effects on chains with cycles (0.558 instead of 0.575 for `a` on
    /// the example in the tests). Conversions and value are both split by
    /// the conversion removal effects; `channelattribution` also reports
    /// value-weighted removal effects, which this does not.
    ///
    /// # Errors
    ///
    /// [`ModelError::InvalidParameter`] for order 0,
    /// [`ModelError::TooManyStates`] above
    /// [`MarkovOptions::with_max_states`].
    ///
    /// # Example: worked by hand
    ///
    /// Journeys: `a > b` converts once (value 100), `b` fails once, `a`
    /// converts once (value 50) and fails once. Transitions: start → a 3/4,
    /// start → b 1/4; a → b, a → conversion, a → null 1/3 each; b →
    /// conversion, b → null 1/2 each. So `x_b = 1/2`, `x_a = 1/3 + 1/3 ·
    /// 1/2 = 1/2` and `P = 1/2`. Without `a`: `P_a = 1/4 · 1/2 = 1/8`,
    /// `RE_a = 3/4`. Without `b`: `x_a = 1/3`, `P_b = 1/4`, `RE_b = 1/2`.
    /// Shares 3/5 and 2/5 of 2 conversions and 150 of value.
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b"], 1, 0, 100.0))?;
    /// builder.add(&Journey::aggregated(&["b"], 0, 1, 0.0))?;
    /// builder.add(&Journey::aggregated(&["a"], 1, 1, 50.0))?;
    /// let set = builder.finish()?;
    /// let markov = set.markov(&Default::default())?;
    /// let (a, b) = (set.channels().id("a").unwrap(), set.channels().id("b").unwrap());
    /// assert!((markov.conversion_probability() - 0.5).abs() < 1e-15);
    /// assert!((markov.removal_effect(b) - 0.5).abs() < 1e-15);
    /// assert!((markov.credits().get(a).conversions - 1.2).abs() < 1e-12);
    /// assert!((markov.credits().get(b).value - 60.0).abs() < 1e-12);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Example: second order
    ///
    /// ```
    /// use referrals::attribution::channel::{Journey, JourneySetBuilder, MarkovOptions, MarkovState};
    ///
    /// let mut builder = JourneySetBuilder::new();
    /// builder.add(&Journey::aggregated(&["a", "b", "c"], 3, 1, 0.0))?;
    /// builder.add(&Journey::aggregated(&["b"], 2, 3, 0.0))?;
    /// let set = builder.finish()?;
    /// let markov = set.markov(&MarkovOptions::default().with_order(2))?;
    /// let chain = markov.chain();
    /// let names: Vec<String> =
    ///     (0..chain.state_count()).map(|i| chain.state_name(MarkovState::Channels(i), set.channels())).collect();
    /// assert_eq!(names, ["a > b", "b", "b > c"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn markov(&self, options: &MarkovOptions) -> Result<MarkovAttribution, ModelError> {
        self.markov_with(options, DENSE_CHANNELS)
    }

    /// [`Self::markov`], counting order-1 transitions densely up to
    /// `dense_channels` channels (tests compare both ways).
    pub(crate) fn markov_with(
        &self,
        options: &MarkovOptions,
        dense_channels: usize,
    ) -> Result<MarkovAttribution, ModelError> {
        let k = options.order;
        if k == 0 {
            return Err(ModelError::InvalidParameter("Markov order must be >= 1"));
        }
        // Paths that carry weight, in canonical order.
        let live: Vec<usize> = (0..self.len())
            .filter(|&i| self.stats[i].conversions > 0 || self.stats[i].nulls > 0)
            .collect();
        // An order beyond the longest path builds the same chain as the
        // longest path's length (a shorter path is one state, whole):
        // work on it, report the order asked for.
        let requested = k;
        let longest = live.iter().map(|&i| self.path(i).len()).max().unwrap_or(1);
        let k = k.min(longest.max(1));
        let work_limit = work_limit(options.max_states);
        if k > 1 {
            // Each window is hashed (k ids) to find the states and again to
            // count transitions: bounded before starting, by the input
            // (64 ids per touch: any order up to 64 passes) or
            // `max_states²` ids.
            let (mut window_ids, mut touches) = (0u128, 0u128);
            for &i in &live {
                let len = self.path(i).len();
                let w = k.min(len);
                window_ids += ((len - w + 1) * w) as u128;
                touches += len as u128;
            }
            let m = options.max_states as u128;
            let limit = (64 * touches).max(m.saturating_mul(m));
            if window_ids > limit {
                return Err(ModelError::TooMuchWork {
                    order: requested,
                    work: window_ids,
                    limit,
                });
            }
        }

        // Transient states (distinct windows, sorted) and transition counts.
        // Integer counts (u128: a path may repeat a transition) make the
        // probabilities independent of summation order.
        let dense_ids: Vec<ChannelId>;
        let (states, counts): (Vec<&[ChannelId]>, Vec<Count>) =
            if k == 1 && self.channels.len() <= dense_channels {
                // Order 1 over few channels: a state is a channel, so plain
                // vectors replace the hash maps. One pass counts into a
                // matrix indexed by channel id (row `channels` is the start
                // state); the states are the channels with a transition in.
                let channels = self.channels.len();
                let (start_row, conv_col, null_col) = (channels, channels + 1, channels + 2);
                let width = channels + 3;
                let mut dense = vec![0u128; (channels + 1) * width];
                for (stats, i) in self.stats.iter().zip(0..) {
                    let weight = u128::from(stats.conversions) + u128::from(stats.nulls);
                    if weight == 0 {
                        continue;
                    }
                    let mut from = start_row;
                    for id in self.path(i) {
                        let to = id.index();
                        if to != from || options.keep_self_transitions {
                            dense[from * width + to] += weight;
                        }
                        from = to;
                    }
                    dense[from * width + conv_col] += u128::from(stats.conversions);
                    dense[from * width + null_col] += u128::from(stats.nulls);
                }
                // A channel on a live path has a transition in (from the
                // start or from another channel), self-transitions or not.
                dense_ids = (0..channels)
                    .filter(|&c| (0..=channels).any(|row| dense[row * width + c] > 0))
                    .map(|c| ChannelId(c as u32))
                    .collect();
                let n = dense_ids.len();
                if n > options.max_states {
                    return Err(ModelError::TooManyStates {
                        order: requested,
                        states: n,
                        limit: options.max_states,
                    });
                }
                // Channel id → state (start, conversion and null after the
                // channels' states).
                let mut state = vec![u32::MAX; width];
                for (s, id) in dense_ids.iter().enumerate() {
                    state[id.index()] = s as u32;
                }
                state[start_row] = n as u32;
                state[conv_col] = n as u32 + 1;
                state[null_col] = n as u32 + 2;
                let counts = dense
                    .iter()
                    .enumerate()
                    .filter(|&(_, &c)| c > 0)
                    .map(|(at, &c)| ((state[at / width], state[at % width]), c))
                    .collect();
                (dense_ids.chunks(1).collect(), counts)
            } else {
                let mut seen: FastMap<&[ChannelId], ()> = FastMap::default();
                for &i in &live {
                    for w in windows(self.path(i), k) {
                        seen.insert(w, ());
                    }
                    // Counting stops past the limit.
                    if seen.len() > options.max_states {
                        return Err(ModelError::TooManyStates {
                            order: requested,
                            states: seen.len(),
                            limit: options.max_states,
                        });
                    }
                }
                let mut states: Vec<&[ChannelId]> = seen.into_keys().collect();
                states.sort_unstable();
                let index: FastMap<&[ChannelId], u32> = states
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (*s, i as u32))
                    .collect();
                let n = states.len();
                let (start, conv, null) = (n as u32, n as u32 + 1, n as u32 + 2);
                let mut counts: FastMap<(u32, u32), u128> = FastMap::default();
                for &i in &live {
                    let stats = self.stats[i];
                    let weight = u128::from(stats.conversions) + u128::from(stats.nulls);
                    let mut from = start;
                    for w in windows(self.path(i), k) {
                        // OK because every window of a live path was indexed above.
                        let to = index.get(w).copied().unwrap_or(null);
                        if to != from || options.keep_self_transitions {
                            *counts.entry((from, to)).or_insert(0) += weight;
                        }
                        from = to;
                    }
                    if stats.conversions > 0 {
                        *counts.entry((from, conv)).or_insert(0) += u128::from(stats.conversions);
                    }
                    if stats.nulls > 0 {
                        *counts.entry((from, null)).or_insert(0) += u128::from(stats.nulls);
                    }
                }
                (states, counts.into_iter().collect())
            };
        let n = states.len();
        let (start, conv, null) = (n as u32, n as u32 + 1, n as u32 + 2);
        let mut out_total = vec![0u128; n + 1];
        for &((from, _), c) in &counts {
            out_total[from as usize] += c;
        }
        let state_of = |s: u32| -> MarkovState {
            match s {
                s if s == start => MarkovState::Start,
                s if s == conv => MarkovState::Conversion,
                s if s == null => MarkovState::Null,
                s => MarkovState::Channels(s as usize),
            }
        };
        let mut transitions: Vec<Transition> = counts
            .iter()
            .map(|&((from, to), c)| Transition {
                from: state_of(from),
                to: state_of(to),
                probability: c as f64 / out_total[from as usize] as f64,
            })
            .collect();
        transitions.sort_unstable_by_key(|t| (t.from, t.to));

        // The linear systems' data: start distribution, transient
        // transitions, transitions into conversion.
        let mut start_p = vec![0.0; n];
        let mut to_conv = vec![0.0; n];
        let mut inner: Vec<(usize, usize, f64)> = Vec::new();
        for t in &transitions {
            match (t.from, t.to) {
                (MarkovState::Start, MarkovState::Channels(s)) => start_p[s] = t.probability,
                (MarkovState::Channels(s), MarkovState::Conversion) => to_conv[s] = t.probability,
                (MarkovState::Channels(a), MarkovState::Channels(b)) => {
                    inner.push((a, b, t.probability))
                }
                _ => {}
            }
        }
        let channels = self.channels.len();
        // The states each channel appears in.
        // (Each state once per channel: `last` marks the state a channel
        // was last recorded for, so a window's repeats cost nothing.)
        let mut holds: Vec<Vec<usize>> = vec![Vec::new(); channels];
        let mut last = vec![usize::MAX; channels];
        for (s, ids) in states.iter().enumerate() {
            for id in ids.iter() {
                if last[id.index()] != s {
                    last[id.index()] = s;
                    holds[id.index()].push(s);
                }
            }
        }
        let (p, removal_effects) = removal_effects(&start_p, &to_conv, &inner, &holds, work_limit)
            .map_err(|e| match e {
                ModelError::TooMuchWork { work, limit, .. } => ModelError::TooMuchWork {
                    order: requested,
                    work,
                    limit,
                },
                e => e,
            })?;
        let sum_re: f64 = removal_effects.iter().sum();
        let mut credits = ChannelCredits::zeros(channels);
        if sum_re > 0.0 {
            let total_conversions = self.total_conversions as f64;
            for (credit, re) in credits.credits.iter_mut().zip(&removal_effects) {
                let share = re / sum_re;
                *credit = Credit {
                    conversions: total_conversions * share,
                    value: self.total_value * share,
                };
            }
        }
        Ok(MarkovAttribution {
            chain: MarkovChain {
                order: requested,
                states: states.into_iter().map(Box::from).collect(),
                transitions,
            },
            conversion_probability: p,
            removal_effects,
            credits,
        })
    }
}

/// A transition's `((from, to), count)`, states numbered as in
/// [`JourneySet::markov`].
type Count = ((u32, u32), u128);

/// Up to this many channels, order 1 counts transitions in a dense
/// `(channels + 1) × (channels + 3)` matrix (about 1 MiB at most).
const DENSE_CHANNELS: usize = 256;

/// `P(conversion)` from the start and every channel's removal effect,
/// from one factorisation of the chain.
///
/// With `A = I - Q` over the transient states (`Q` their transitions),
/// `s` the start distribution and `r` the transitions into conversion,
/// `p = sᵀ A⁻¹ r`. Removing the states `H` of a channel (transitions into
/// them go to null) leaves the system `A` restricted to the other states,
/// and by the block-inverse identity
/// `(A₋H,₋H)⁻¹ = B₋H,₋H − B₋H,H (B_HH)⁻¹ B_H,₋H` with `B = A⁻¹`, its
/// conversion probability is
///
/// `p_H = p − y_Hᵀ (B_HH)⁻¹ x_H`,  with `x = B r`, `yᵀ = sᵀ B`.
///
/// (For one state `h`: `y_h / B_hh` is the probability of ever reaching
/// `h`, and `x_h` of converting from there.) So the whole run is one LU
/// factorisation, two triangular solves for `x` and `y`, the inverse's
/// triangular factors (about `states³/3` multiply-adds in all), and per
/// channel a `|H| × |H|` solve over entries of `B`, each a dot product:
/// about one solve's work instead of one solve per channel. The removal
/// effect is `(p − p_H) / p = y_Hᵀ (B_HH)⁻¹ x_H / p`, computed directly
/// rather than as `1 − p_H / p`, which loses digits for rare channels.
/// `p` itself comes out of the same operations, in the same order, as a
/// plain Gaussian elimination of `A x = r`.
fn removal_effects(
    start: &[f64],
    to_conv: &[f64],
    inner: &[(usize, usize, f64)],
    holds: &[Vec<usize>],
    work_limit: u128,
) -> Result<(f64, Vec<f64>), ModelError> {
    let n = start.len();
    let mut removal_effects = vec![0.0; holds.len()];
    if n == 0 {
        return Ok((0.0, removal_effects));
    }
    // The work, counted before starting: the factorisation and the
    // inverse's factors, then per channel the cheaper of the update and a
    // solve of the states left.
    let big = n as u128;
    let mut work = 2 * big * big * big / 3;
    let mut restrict = vec![false; holds.len()];
    for (held, restrict) in holds.iter().zip(&mut restrict) {
        let h = held.len() as u128;
        let update = h * h * big + h * h * h / 3;
        let rest = big - h.min(big);
        let solve = rest * rest * rest / 3 + big * big;
        *restrict = solve < update;
        work += update.min(solve);
    }
    if work > work_limit {
        return Err(ModelError::TooMuchWork {
            order: 0,
            work,
            limit: work_limit,
        });
    }
    let mut a = vec![0.0; n * n];
    for s in 0..n {
        a[s * n + s] = 1.0;
    }
    for &(from, to, p) in inner {
        a[from * n + to] -= p;
    }
    let lu = Lu::factor(a, n)?;
    let mut x = to_conv.to_vec();
    lu.solve(&mut x);
    let p: f64 = start.iter().zip(&x).fold(0.0, |p, (s, x)| p + s * x);
    if !matches!(p.partial_cmp(&0.0), Some(std::cmp::Ordering::Greater)) {
        return Ok((p, removal_effects));
    }
    let mut y = start.to_vec();
    lu.solve_transposed(&mut y);
    let inverse = lu.into_inverse_factors();
    let mut g = Vec::new();
    let mut z = Vec::new();
    let mut active = vec![true; n];
    for ((re, held), &restrict) in removal_effects.iter_mut().zip(holds).zip(&restrict) {
        if restrict {
            // Most states go: solving what is left is cheaper.
            active.fill(true);
            for &s in held {
                active[s] = false;
            }
            let p_c = restricted_conversion_probability(start, to_conv, inner, &active)?;
            *re = (1.0 - p_c / p).clamp(0.0, 1.0);
            continue;
        }
        let delta = match held[..] {
            [] => continue,
            [h] => y[h] * x[h] / inverse.entry(h, h),
            _ => {
                let m = held.len();
                g.clear();
                for &i in held {
                    g.extend(held.iter().map(|&j| inverse.entry(i, j)));
                }
                z.clear();
                z.extend(held.iter().map(|&h| x[h]));
                solve(&mut g, &mut z, m)?;
                held.iter().zip(&z).map(|(&h, z)| y[h] * z).sum()
            }
        };
        *re = (delta / p).clamp(0.0, 1.0);
    }
    Ok((p, removal_effects))
}

/// The most work a Markov run may take, in multiply-adds (and ids hashed
/// for the windows): `max_states³`, what order 1 over `max_states`
/// channels takes.
fn work_limit(max_states: usize) -> u128 {
    let m = max_states as u128;
    m.saturating_mul(m).saturating_mul(m)
}

/// `P(conversion | start)` when only the `active` transient states exist
/// (transitions into the others go to null), by one dense solve.
fn restricted_conversion_probability(
    start: &[f64],
    to_conv: &[f64],
    inner: &[(usize, usize, f64)],
    active: &[bool],
) -> Result<f64, ModelError> {
    let mut local = vec![usize::MAX; active.len()];
    let mut m = 0;
    for (s, &on) in active.iter().enumerate() {
        if on {
            local[s] = m;
            m += 1;
        }
    }
    if m == 0 {
        return Ok(0.0);
    }
    let mut a = vec![0.0; m * m];
    let mut b = vec![0.0; m];
    for (s, &l) in local.iter().enumerate() {
        if l != usize::MAX {
            a[l * m + l] = 1.0;
            b[l] = to_conv[s];
        }
    }
    for &(from, to, p) in inner {
        let (lf, lt) = (local[from], local[to]);
        if lf != usize::MAX && lt != usize::MAX {
            a[lf * m + lt] -= p;
        }
    }
    solve(&mut a, &mut b, m)?;
    let mut p = 0.0;
    for (s, &l) in local.iter().enumerate() {
        if l != usize::MAX {
            p += start[s] * b[l];
        }
    }
    Ok(p)
}

#[cfg(test)]
thread_local! {
    /// Multiply-adds done by this thread's dense linear algebra (tests
    /// bound the work of a run with it).
    pub(crate) static MULTIPLY_ADDS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// `y -= f · x`, elementwise.
#[inline]
fn sub_scaled(y: &mut [f64], f: f64, x: &[f64]) {
    #[cfg(test)]
    MULTIPLY_ADDS.with(|c| c.set(c.get() + x.len() as u64));
    for (y, &x) in y.iter_mut().zip(x) {
        *y -= f * x;
    }
}

/// An LU factorisation with partial pivoting, `P A = L U`, of a
/// row-major `n × n` matrix: `L` (unit diagonal) below the diagonal of
/// `a`, `U` on and above it; row `k` was swapped with row `pivots[k]` at
/// step `k`.
struct Lu {
    n: usize,
    a: Vec<f64>,
    pivots: Vec<usize>,
}

impl Lu {
    /// Factors `a` by the elimination of [`solve`], step for step.
    fn factor(mut a: Vec<f64>, n: usize) -> Result<Lu, ModelError> {
        let mut pivots = Vec::with_capacity(n);
        for k in 0..n {
            let mut pivot = k;
            let mut best = a[k * n + k].abs();
            for i in k + 1..n {
                let v = a[i * n + k].abs();
                if v > best {
                    best = v;
                    pivot = i;
                }
            }
            if best == 0.0 || !best.is_finite() {
                return Err(ModelError::Singular);
            }
            if pivot != k {
                for j in 0..n {
                    a.swap(k * n + j, pivot * n + j);
                }
            }
            pivots.push(pivot);
            let (upper, lower) = a.split_at_mut((k + 1) * n);
            let pivot_row = &upper[k * n..];
            let diag = pivot_row[k];
            for row in lower.chunks_exact_mut(n) {
                let f = row[k] / diag;
                // Chains are sparse: most rows have nothing to eliminate.
                // (A multiplier that underflows to 0 eliminates nothing:
                // recorded as 0, as the elimination treated it.)
                if f == 0.0 {
                    row[k] = 0.0;
                    continue;
                }
                row[k] = f;
                sub_scaled(&mut row[k + 1..], f, &pivot_row[k + 1..]);
            }
        }
        Ok(Lu { n, a, pivots })
    }

    /// Solves `A x = b` in place: the same operations, in the same order,
    /// as [`solve`] on `A` (so the same bits).
    fn solve(&self, b: &mut [f64]) {
        let n = self.n;
        // `L` holds each row's multipliers where the row ended up: swap
        // first. Each row still meets the same updates in the same order.
        for (k, &pivot) in self.pivots.iter().enumerate() {
            b.swap(k, pivot);
        }
        for k in 0..n {
            let (head, tail) = b.split_at_mut(k + 1);
            let bk = head[k];
            for (i, bi) in tail.iter_mut().enumerate() {
                let f = self.a[(k + 1 + i) * n + k];
                if f != 0.0 {
                    *bi -= f * bk;
                }
            }
        }
        self.back_substitute(b);
    }

    /// `U x = b` in place.
    fn back_substitute(&self, b: &mut [f64]) {
        let n = self.n;
        for k in (0..n).rev() {
            let row = &self.a[k * n..(k + 1) * n];
            let mut s = b[k];
            for j in k + 1..n {
                s -= row[j] * b[j];
            }
            b[k] = s / row[k];
        }
    }

    /// Solves `Aᵀ y = b` in place: `Uᵀ Lᵀ P y = b`.
    fn solve_transposed(&self, b: &mut [f64]) {
        let n = self.n;
        // Uᵀ w = b (forward, by columns of U).
        for k in 0..n {
            let row = &self.a[k * n..(k + 1) * n];
            b[k] /= row[k];
            let bk = b[k];
            if bk != 0.0 {
                sub_scaled(&mut b[k + 1..], bk, &row[k + 1..]);
            }
        }
        // Lᵀ v = w (backward, by rows of L).
        for k in (0..n).rev() {
            let bk = b[k];
            if bk != 0.0 {
                let row = &self.a[k * n..k * n + k];
                sub_scaled(&mut b[..k], bk, row);
            }
        }
        // y = Pᵀ v: undo the swaps, last first.
        for (k, &pivot) in self.pivots.iter().enumerate().rev() {
            b.swap(k, pivot);
        }
    }

    /// Replaces `L` and `U` by their inverses, in place, so that entries
    /// of `A⁻¹ = U⁻¹ L⁻¹ P` cost one dot product each.
    fn into_inverse_factors(mut self) -> InverseFactors {
        let n = self.n;
        let mut tmp = vec![0.0; n];
        // U⁻¹, rows from the last: row i of U⁻¹ is
        // (e_i − Σ_{l>i} U_il (U⁻¹ row l)) / U_ii.
        for i in (0..n).rev() {
            tmp[i..].fill(0.0);
            let (head, rest) = self.a.split_at_mut((i + 1) * n);
            let row = &mut head[i * n..];
            let diag = row[i];
            for l in i + 1..n {
                let f = row[l];
                if f != 0.0 {
                    let inv_row = &rest[(l - i - 1) * n..(l - i) * n];
                    sub_scaled(&mut tmp[l..], f, &inv_row[l..]);
                }
            }
            row[i] = 1.0 / diag;
            for l in i + 1..n {
                row[l] = tmp[l] / diag;
            }
        }
        // L⁻¹ (unit diagonal, kept implicit), rows from the first: row k
        // of L⁻¹ is e_k − Σ_{l<k} L_kl (L⁻¹ row l).
        for k in 0..n {
            tmp[..k].fill(0.0);
            let (done, rest) = self.a.split_at_mut(k * n);
            let row = &mut rest[..n];
            for l in 0..k {
                let f = row[l];
                if f != 0.0 {
                    tmp[l] -= f;
                    sub_scaled(&mut tmp[..l], f, &done[l * n..l * n + l]);
                }
            }
            row[..k].copy_from_slice(&tmp[..k]);
        }
        // Column j of L⁻¹ P is column `position[j]` of L⁻¹, where row j
        // of A ended up after the swaps.
        let mut at: Vec<usize> = (0..n).collect();
        for (k, &pivot) in self.pivots.iter().enumerate() {
            at.swap(k, pivot);
        }
        let mut position = vec![0; n];
        for (t, &row) in at.iter().enumerate() {
            position[row] = t;
        }
        InverseFactors {
            n,
            a: self.a,
            position,
        }
    }
}

/// `U⁻¹` on and above the diagonal, `L⁻¹` below it (unit diagonal), and
/// the pivoting, from [`Lu::into_inverse_factors`].
struct InverseFactors {
    n: usize,
    a: Vec<f64>,
    position: Vec<usize>,
}

impl InverseFactors {
    /// `(A⁻¹)_ij = Σ_k (U⁻¹)_ik (L⁻¹)_{k,t}`, `t = position[j]`, over
    /// `k ≥ max(i, t)`.
    fn entry(&self, i: usize, j: usize) -> f64 {
        let n = self.n;
        let t = self.position[j];
        let u = &self.a[i * n..(i + 1) * n];
        let from = i.max(t);
        #[cfg(test)]
        MULTIPLY_ADDS.with(|c| c.set(c.get() + (n - from) as u64));
        let mut sum = 0.0;
        for (k, &uik) in u.iter().enumerate().skip(from) {
            let lkt = if k == t { 1.0 } else { self.a[k * n + t] };
            sum += uik * lkt;
        }
        sum
    }
}

/// Solves `a x = b` in place (`x` ends in `b`) by Gaussian elimination with
/// partial pivoting; `a` is `m × m`, row-major.
///
/// # Errors
///
/// [`ModelError::Singular`] if a pivot column is all zeros.
pub(crate) fn solve(a: &mut [f64], b: &mut [f64], m: usize) -> Result<(), ModelError> {
    for k in 0..m {
        let mut pivot = k;
        let mut best = a[k * m + k].abs();
        for i in k + 1..m {
            let v = a[i * m + k].abs();
            if v > best {
                best = v;
                pivot = i;
            }
        }
        if best == 0.0 || !best.is_finite() {
            return Err(ModelError::Singular);
        }
        if pivot != k {
            for j in 0..m {
                a.swap(k * m + j, pivot * m + j);
            }
            b.swap(k, pivot);
        }
        let (upper, lower) = a.split_at_mut((k + 1) * m);
        let pivot_row = &upper[k * m..];
        let diag = pivot_row[k];
        let bk = b[k];
        for (r, row) in lower.chunks_exact_mut(m).enumerate() {
            let f = row[k] / diag;
            // Chains are sparse: most rows have nothing to eliminate.
            if f == 0.0 {
                continue;
            }
            row[k] = 0.0;
            for (x, &y) in row[k + 1..].iter_mut().zip(&pivot_row[k + 1..]) {
                *x -= f * y;
            }
            b[k + 1 + r] -= f * bk;
        }
    }
    for k in (0..m).rev() {
        let row = &a[k * m..(k + 1) * m];
        let mut s = b[k];
        for j in k + 1..m {
            s -= row[j] * b[j];
        }
        b[k] = s / row[k];
    }
    Ok(())
}
