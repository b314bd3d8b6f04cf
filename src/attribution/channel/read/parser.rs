//! A worker's parser: the lines of its blocks into per-path counts and
//! exact value sums, fast paths over the scanned stops and the slow path
//! that splits fields and reports a line's error.

use std::hash::BuildHasher;

use super::Format;
use super::number::{
    Decimal, LOW_BYTES, fast_count, fast_decimal, is_plain_decimal, parse_count, parse_hours,
    parse_value, plain_decimal, wide_decimal,
};
use super::scan::{Stops, line_end, next_stop, trim_token, window};
use super::table::{ByteTable, IdPaths, PackedPaths, fold_mul, short_words};
use crate::attribution::channel::error::snippet;
use crate::attribution::channel::unsafe_ops::prefetch_read;
use crate::attribution::channel::{
    Credit, ExactSum, Interner, JourneyError, LineErrorKind, NameList, bad_in_name,
    huge_with_capacity, name_char_error, pack_path, time_decay_shares,
};

#[derive(Debug, Clone, Copy)]
pub(super) struct ParseConfig {
    pub(super) format: Format,
    pub(super) half_life: f64,
    pub(super) max_line: usize,
    /// Distinct paths this worker is expected to meet (0: unknown).
    pub(super) expected_paths: usize,
    /// The most bytes the packed-path table takes up front.
    pub(super) packed_table_bytes: usize,
    /// Whether each block's [`Partial`] lists the channels first met in
    /// it. A lone worker's ids are the builder's, so it need not.
    pub(super) announce_names: bool,
}

/// The most raw path spellings `Parser::raw_paths` remembers: it is a
/// memo in front of the path tables, and a file of millions of distinct
/// paths would otherwise hold each one's bytes a second time.
const RAW_PATH_MEMO: usize = 1 << 14;

/// The packed paths the table is first sized for when many are expected:
/// about a 1 MiB block of 64-byte lines.
const FIRST_BLOCK_PATHS: usize = 1 << 14;

/// The most short tokens `Parser::short_tokens` caches (a power of two):
/// only the first 255 channels' tokens are cached at all, but their
/// spellings (with spaces) are not bounded.
const SHORT_TOKEN_SLOTS: usize = 1 << 14;

/// A worker path's totals over all its blocks.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PathTotals {
    pub(super) conversions: u64,
    pub(super) nulls: u64,
    /// Plain decimal values of converting lines, exactly.
    pub(super) value: ExactSum,
}

impl PathTotals {
    fn add_counts(&mut self, conversions: u64, nulls: u64) -> Result<(), JourneyError> {
        let (Some(c), Some(n)) = (
            self.conversions.checked_add(conversions),
            self.nulls.checked_add(nulls),
        ) else {
            return Err(JourneyError::CountOverflow);
        };
        (self.conversions, self.nulls) = (c, n);
        Ok(())
    }
}

/// A line's value: a plain decimal (summed exactly, in any order) or any
/// other finite number (summed as `f64` in file order).
#[derive(Debug, Clone, Copy)]
pub(super) enum LineValue {
    Decimal(Decimal),
    Other(f64),
}

impl LineValue {
    fn to_f64(self) -> f64 {
        match self {
            LineValue::Decimal(d) => d.to_f64(),
            LineValue::Other(v) => v,
        }
    }
}

/// What a worker hands over for one block.
#[derive(Debug, Default)]
pub(super) struct Partial {
    /// Lines in the block (blank ones included).
    pub(super) lines: u64,
    /// The first bad line (relative to the block, from 1).
    pub(super) error: Option<(u64, LineErrorKind)>,
    /// Channels the worker met first in this block, in worker-id order.
    pub(super) new_names: NameList,
    /// Values of converting lines that are not plain decimals, in line
    /// order: (touches, line in the block, value), the paths' worker
    /// channel ids concatenated in `inexact_ids`.
    pub(super) inexact: Vec<(u32, u64, f64)>,
    pub(super) inexact_ids: Vec<u32>,
    /// Time-decay credit by worker channel id, for the channels credited
    /// in this block only (a file may name millions of channels).
    pub(super) time_decay: Vec<(u32, Credit)>,
}

pub(super) const UNTOUCHED: u32 = u32::MAX;

/// A worker's parsing state, kept across blocks.
pub(super) struct Parser {
    config: ParseConfig,
    /// Raw path bytes (quotes removed) → worker path index, for the
    /// general parser on journey lines: a memo of at most
    /// [`RAW_PATH_MEMO`] spellings (aggregated lines are new paths).
    raw_paths: ByteTable,
    /// Channel-id paths packed in a `u128` → worker path index, for the
    /// fast path.
    packed_paths: PackedPaths,
    /// Paths that do not pack → worker path index, by their ids: with
    /// `packed_paths`, each worker path is a distinct path however it
    /// was spelled.
    id_paths: IdPaths,
    /// Raw channel tokens (ASCII spaces trimmed) → worker channel id, for
    /// the fast path: only the first 255 channels, which the fast path
    /// takes (a file of a new channel per line would otherwise hold every
    /// name a second time).
    token_channels: ByteTable,
    pub(super) channel_names: Interner,
    /// Worker path `i` is `path_channels[path_start[i]..path_start[i + 1]]`.
    pub(super) path_start: Vec<usize>,
    pub(super) path_channels: Vec<u32>,
    names_sent: usize,
    /// Totals per worker path, over all blocks.
    pub(super) path_totals: Vec<PathTotals>,
    /// Whether the slots' counts are in the totals already.
    settled: bool,
    /// This block's values that are not plain decimals (see [`Partial`]).
    inexact: Vec<(u32, u64, f64)>,
    inexact_ids: Vec<u32>,
    /// The line being parsed, in its block (from 1).
    line: u64,
    /// This block's time-decay credit by worker channel id, kept (and
    /// zeroed) across blocks.
    time_decay: Vec<Credit>,
    /// The channels past the 255th credited in this block (the first 255,
    /// all the fast path credits, are scanned instead).
    decay_touched: Vec<u32>,
    /// Buffers for the unquoted fields of a journey line and of a path line.
    journey_field_bufs: [Vec<u8>; 5],
    path_field_bufs: [Vec<u8>; 4],
    hours: Vec<f64>,
    decimals: Vec<Decimal>,
    shares: Vec<f64>,
    /// The last fast journey line, parsed but not yet added: its path slot
    /// is prefetched and added while the next line parses, so a rare
    /// path's cache miss overlaps useful work.
    pending: Option<PendingJourney>,
    /// The last converting fast journey's (worker path, value), counted
    /// but its value not yet added: its path's totals are prefetched and
    /// added one converting line later.
    pending_value: Option<(u32, Decimal)>,
    /// The last fast aggregated line, parsed but not yet added (as
    /// `pending`).
    pending_path: Option<PendingPath>,
    /// The aggregated line parsed after `pending_path` (two lines of
    /// prefetch distance, as for journeys).
    pending_path_next: Option<PendingPath>,
    /// The pending line's touch times (swapped with `decimals`).
    pending_decimals: Vec<Decimal>,
    /// The line parsed after `pending`, also not yet added: a path slot
    /// is prefetched two lines before it is read.
    pending_next: Option<PendingJourney>,
    pending_next_decimals: Vec<Decimal>,
    /// The block's stop bytes (see [`Stops`]), for the fast paths.
    stops: Stops,
    /// A direct-mapped cache of raw path fields of at most 32 bytes →
    /// their packed key: a journey whose path was met recently skips
    /// tokenizing it.
    path_memo: Box<[MemoPath]>,
    memo_seed: u64,
    /// Tokens of at most 16 bytes (held whole in two words) → channel id,
    /// in front of `tokens`: open addressing at most a quarter full, so a
    /// token usually costs one multiply and one compare, and no two
    /// channels ever evict each other.
    short_tokens: Vec<CachedToken>,
    short_len: usize,
}

pub(super) const PATH_MEMO: usize = 1 << 13;

/// A path field of at most 32 bytes (its bytes as four words, zero past
/// `len`) and its packed key; `len` is `u32::MAX` in an empty entry.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(super) struct MemoPath {
    words: [u64; 4],
    len: u32,
    touches: u32,
    key: u128,
}

pub(super) const EMPTY_MEMO: MemoPath = MemoPath {
    words: [0; 4],
    len: u32::MAX,
    touches: 0,
    key: 0,
};

/// Where a short token's probe starts in `Parser::short_tokens` (before
/// the mask): one multiply of its words and length.
#[inline(always)]
pub(super) fn token_home(words: (u64, u64), len: u32) -> usize {
    let mix =
        (words.0 ^ words.1.rotate_left(29) ^ u64::from(len)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mix >> 40) as usize
}

/// A token of at most 16 bytes as [`short_words`] and its length (which
/// together give all its bytes), and its channel id; `len` is `u32::MAX`
/// in an empty entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct CachedToken {
    words: (u64, u64),
    len: u32,
    id: u32,
}

pub(super) const EMPTY_TOKEN: CachedToken = CachedToken {
    words: (0, 0),
    len: u32::MAX,
    id: 0,
};

/// A parsed fast aggregated line waiting to be added (see
/// `Parser::pending_path`).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingPath {
    key: u128,
    touches: u32,
    conversions: u64,
    nulls: u64,
    value: Decimal,
    /// Its line number in the block.
    line: u64,
}

/// A parsed fast journey line waiting to be added (see `Parser::pending`).
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingJourney {
    key: u128,
    touches: u32,
    converted: bool,
    value: Decimal,
}

impl Parser {
    pub(super) fn new(config: ParseConfig) -> Self {
        Parser {
            config,
            raw_paths: ByteTable::new(),
            id_paths: IdPaths::new(),
            // Sized for the first block only: how many of the expected
            // paths pack is known after it (see `expect_packed_paths`).
            packed_paths: PackedPaths::with_capacity(
                config.expected_paths.min(FIRST_BLOCK_PATHS),
                config.packed_table_bytes,
            ),
            token_channels: ByteTable::new(),
            channel_names: Interner::default(),
            path_start: {
                let mut starts = huge_with_capacity(config.expected_paths + 1);
                starts.push(0);
                starts
            },
            // Sized for the expected paths (aggregated files) at about
            // eight touches each; journeys start small.
            path_channels: huge_with_capacity(config.expected_paths.saturating_mul(8)),
            names_sent: 0,
            path_totals: huge_with_capacity(config.expected_paths),
            settled: false,
            inexact: Vec::new(),
            inexact_ids: Vec::new(),
            line: 0,
            time_decay: Vec::new(),
            decay_touched: Vec::new(),
            journey_field_bufs: Default::default(),
            path_field_bufs: Default::default(),
            hours: Vec::new(),
            decimals: Vec::new(),
            shares: Vec::new(),
            pending: None,
            pending_value: None,
            pending_path: None,
            pending_path_next: None,
            pending_decimals: Vec::new(),
            pending_next: None,
            pending_next_decimals: Vec::new(),
            stops: Stops::default(),
            path_memo: vec![EMPTY_MEMO; PATH_MEMO].into_boxed_slice(),
            memo_seed: foldhash::fast::RandomState::default().hash_one(0x3E30_u64),
            short_tokens: vec![EMPTY_TOKEN; 64],
            short_len: 0,
        }
    }

    pub(super) fn parse(&mut self, data: &[u8]) -> Partial {
        let mut partial = Partial::default();
        let mut p = 0;
        let mut line_no = 0u64;
        let sep = match self.config.format {
            Format::Journeys => b',',
            Format::Paths => b';',
        };
        let mut stops = std::mem::take(&mut self.stops);
        stops.mark(data, sep);
        while p < data.len() {
            line_no += 1;
            let fast = match self.config.format {
                Format::Journeys => self.fast_journey(data, &stops, p).map(Ok),
                Format::Paths => self.fast_path_line(data, &stops, p, line_no),
            };
            match fast {
                Some(Ok(next)) => {
                    p = next;
                    continue;
                }
                Some(Err(error)) => {
                    partial.error = Some(error);
                    break;
                }
                None => {}
            }
            // The general parser adds lines in order: the pending one first.
            self.flush_pending();
            if let Err(error) = self.flush_pending_path() {
                partial.error = Some(error);
                break;
            }
            let end = memchr::memchr(b'\n', &data[p..]).map_or(data.len(), |q| p + q);
            let line = &data[p..end];
            p = (end + 1).min(data.len());
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line = line_no;
            let result = if line.len() > self.config.max_line {
                Err(LineErrorKind::TooLong {
                    max_bytes: self.config.max_line,
                })
            } else if line.trim_ascii().is_empty() {
                continue;
            } else {
                match self.config.format {
                    Format::Journeys => self.journey_line(line),
                    Format::Paths => self.path_line(line),
                }
            };
            if let Err(kind) = result {
                partial.error = Some((line_no, kind));
                break;
            }
        }
        self.flush_pending();
        self.add_pending_value();
        if let Err(error) = self.flush_pending_path() {
            partial.error.get_or_insert(error);
        }
        partial.lines = line_no;

        self.stops = stops;
        if self.config.announce_names {
            let names = self.channel_names.names();
            let mut new_names = NameList::default();
            for i in self.names_sent..names.len() {
                new_names.push(names.get(i).unwrap_or_default());
            }
            partial.new_names = new_names;
            self.names_sent = self.channel_names.len();
        }
        partial.inexact = std::mem::take(&mut self.inexact);
        partial.inexact_ids = std::mem::take(&mut self.inexact_ids);
        partial.time_decay = self.take_time_decay();
        partial
    }

    /// Whether each block's [`Partial`] lists the channels first met in
    /// it (see [`ParseConfig::announce_names`]).
    pub(super) fn announce_names(&mut self, announce: bool) {
        self.config.announce_names = announce;
        self.names_sent = self.channel_names.len();
    }

    /// How many channels it has met.
    pub(super) fn channel_count(&self) -> usize {
        self.channel_names.len()
    }

    /// Sizes the packed-path table for the whole file, once the first
    /// block's `lines` have been parsed: for `expected_lines` in all, as
    /// many packed paths as the first block's share of them (a file that
    /// names a new channel per line packs 255 paths, whatever its size).
    pub(super) fn expect_packed_paths(&mut self, lines: u64, expected_lines: usize) {
        let packed = self.packed_paths.len() as u128;
        let paths = (expected_lines as u128 * packed / u128::from(lines.max(1))) as usize;
        self.packed_paths
            .reserve_for(paths, self.config.packed_table_bytes);
    }

    /// Folds another worker's path totals into this one's (after the last
    /// block): its channel ids mapped through `channels` (to this worker's,
    /// some beyond its dictionary), each path is found by its key or its
    /// ids, or added.
    pub(super) fn absorb(&mut self, other: &Parser, channels: &[u32]) {
        // Three passes, so the two random accesses per path (this table's
        // slot, this worker's totals) are prefetched a few paths ahead.
        const AHEAD: usize = 8;
        let mut ids = Vec::new();
        // 0 for a path that does not pack (a packed key never is 0).
        let keys: Vec<u128> = (0..other.path_totals.len())
            .map(|i| {
                other.mapped_path(i, channels, &mut ids);
                pack_path(&ids).unwrap_or(0)
            })
            .collect();
        let mut targets: Vec<u32> = Vec::with_capacity(keys.len());
        for (i, &key) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + AHEAD).filter(|&&k| k != 0) {
                self.packed_paths.prefetch(ahead);
            }
            let path = match key {
                0 => {
                    other.mapped_path(i, channels, &mut ids);
                    let next = self.path_totals.len() as u32;
                    let (path, new) = self.id_paths.get_or_insert(
                        &ids,
                        next,
                        &self.path_channels,
                        &self.path_start,
                    );
                    if new {
                        self.new_path(&ids);
                    }
                    path
                }
                key => {
                    let (at, found) = self.packed_paths.position(key);
                    if found {
                        self.packed_paths.slots[at].path
                    } else {
                        other.mapped_path(i, channels, &mut ids);
                        let path = self.new_path(&ids) as u32;
                        self.packed_paths.insert(at, key, path);
                        path
                    }
                }
            };
            targets.push(path);
        }
        drop(keys);
        for (i, (totals, &path)) in other.path_totals.iter().zip(&targets).enumerate() {
            if let Some(&ahead) = targets.get(i + AHEAD) {
                prefetch_read(&self.path_totals[ahead as usize]);
            }
            let mine = &mut self.path_totals[path as usize];
            // Each worker's totals are at most the file's, which its lines
            // cannot make exceed u64 (a journey counts 1; aggregated files
            // are read by one worker).
            mine.conversions = mine.conversions.saturating_add(totals.conversions);
            mine.nulls = mine.nulls.saturating_add(totals.nulls);
            mine.value.merge(&totals.value);
        }
    }

    /// Worker path `i` with its channel ids mapped through `channels`, into
    /// `out`.
    /// Frees every table but the paths (`ids`, `path_start`) and their
    /// totals (`path_totals`): the parser parses nothing more.
    pub(super) fn release_lookups(&mut self) {
        self.channel_names = Interner::default();
        self.raw_paths = ByteTable::new();
        self.id_paths = IdPaths::new();
        self.token_channels = ByteTable::new();
        self.packed_paths = PackedPaths::with_capacity(0, 0);
        self.short_tokens = Vec::new();
        self.path_memo = Box::default();
        self.inexact = Vec::new();
        self.inexact_ids = Vec::new();
        self.time_decay = Vec::new();
        self.decay_touched = Vec::new();
    }

    pub(super) fn mapped_path(&self, i: usize, channels: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            self.path_channels[self.path_start[i]..self.path_start[i + 1]]
                .iter()
                .map(|&c| channels[c as usize]),
        );
    }

    /// Registers a new worker path of these ids; returns its index.
    fn new_path(&mut self, ids: &[u32]) -> usize {
        self.path_channels.extend_from_slice(ids);
        self.path_start.push(self.path_channels.len());
        self.path_totals.push(PathTotals::default());
        self.path_totals.len() - 1
    }

    /// The fast path for a plain journey line at `data[p..]`: unquoted
    /// fields, a path of at most 16 touches over the worker's first 255
    /// channels, `0`/`1` for converted, unsigned decimals without
    /// exponent. Returns where the next line starts, or `None` to leave
    /// the line to the general parser (which also reports errors). It
    /// reads every field exactly as the general parser would: a token is
    /// the bytes between `>`s with ASCII spaces trimmed, and its channel
    /// is the token as UTF-8 with all white space trimmed.
    ///
    /// Fields and tokens are found from the block's stop bits (`stops`),
    /// one bit scan each, with no branch per byte.
    #[inline]
    fn fast_journey(&mut self, data: &[u8], stops: &Stops, p: usize) -> Option<usize> {
        // The journey id, skipped.
        let i = next_stop(&stops.fields, p)?;
        if data[i] != b',' {
            return None;
        }
        let (key, touches, end) = self.memo_path_key(data, stops, i + 1)?;
        let hours_start = end + 1;
        let hours_end = next_stop(&stops.fields, hours_start)?;
        if data[hours_end] != b',' {
            return None;
        }
        let converted = match data.get(hours_end + 1..hours_end + 3)? {
            b"0," => false,
            b"1," => true,
            _ => return None,
        };
        // Touch times as decimals (mantissa, decimals) if the journey
        // converted (time decay needs them; a division each); else only
        // checked. The `>`s come from one window of stop bits when the
        // field is short (any stop inside it is a `>`: the field ends at
        // the first other one).
        self.decimals.clear();
        let len = hours_end - hours_start;
        let mut gts = if len < 64 {
            window(&stops.all, hours_start) & ((1u64 << len) - 1)
        } else {
            u64::MAX
        };
        let mut start = hours_start;
        let mut times = 0u32;
        loop {
            let stop = match gts {
                0 => hours_end,
                u64::MAX => next_stop(&stops.all, start)?,
                _ => hours_start + gts.trailing_zeros() as usize,
            };
            if gts != u64::MAX {
                gts &= gts.wrapping_sub(1);
            }
            let (a, b) = trim_token(data, start, stop);
            if converted {
                self.decimals.push(plain_decimal(data, a, b)?);
            } else if !is_plain_decimal(data, a, b) {
                return None;
            }
            times += 1;
            if stop == hours_end {
                break;
            }
            start = stop + 1;
        }
        if times != touches {
            return None;
        }
        let value_start = hours_end + 3;
        // The value runs to the line's end (the block's end for a last line
        // without one); a stop there other than `\n` is for the general
        // parser.
        let (value_end, next) = match next_stop(&stops.all, value_start) {
            Some(stop) if data[stop] == b'\n' => (stop, stop + 1),
            Some(_) => return None,
            None => (data.len(), data.len()),
        };
        let value_end = if value_end > value_start && data[value_end - 1] == b'\r' {
            value_end - 1
        } else {
            value_end
        };
        // A non-converting journey's value is only checked.
        let value = if converted {
            plain_decimal(data, value_start, value_end)?
        } else if is_plain_decimal(data, value_start, value_end) {
            Decimal {
                mantissa: 0,
                decimals: 0,
            }
        } else {
            return None;
        };
        if value_end - p > self.config.max_line {
            return None;
        }
        // The line is taken. Start loading its path's slot (on a rare path
        // it misses the cache), add the previous line meanwhile, and leave
        // this one pending.
        self.packed_paths.prefetch(key);
        self.flush_oldest();
        self.pending = self.pending_next.take();
        std::mem::swap(&mut self.pending_decimals, &mut self.pending_next_decimals);
        std::mem::swap(&mut self.decimals, &mut self.pending_next_decimals);
        self.pending_next = Some(PendingJourney {
            key,
            touches,
            converted,
            value,
        });
        Some(next)
    }

    /// Adds both pending fast journey lines, oldest first.
    #[inline]
    fn flush_pending(&mut self) {
        self.flush_oldest();
        self.pending = self.pending_next.take();
        std::mem::swap(&mut self.pending_decimals, &mut self.pending_next_decimals);
        self.flush_oldest();
    }

    /// Adds the older pending fast journey line, if any.
    #[inline]
    fn flush_oldest(&mut self) {
        let Some(PendingJourney {
            key,
            touches,
            converted,
            value,
        }) = self.pending.take()
        else {
            return;
        };
        let (at, found) = self.packed_paths.position(key);
        let at = self.packed_slot(at, found, key, touches);
        // One journey cannot overflow the counts (see `add_counts_at`).
        let _ = self.add_counts_at(at, u64::from(converted), u64::from(!converted));
        if converted {
            // The path's totals are another cache miss: start loading them
            // and add the previous converting line's value instead (exact
            // sums, so the order of additions does not matter).
            let path = self.packed_paths.slots[at].path;
            prefetch_read(&self.path_totals[path as usize]);
            self.add_pending_value();
            self.pending_value = Some((path, value));
            let value = value.to_f64();
            self.hours.clear();
            self.hours
                .extend(self.pending_decimals.iter().map(|d| d.to_f64()));
            time_decay_shares(&self.hours, self.config.half_life, &mut self.shares);
            for (t, &share) in self.shares.iter().enumerate() {
                let c = ((key >> (8 * t)) as usize & 0xFF) - 1;
                if self.time_decay.len() <= c {
                    self.time_decay.resize(c + 1, Credit::default());
                }
                self.time_decay[c].add_scaled(1.0, value, share);
            }
        }
    }

    /// Adds the value left by [`Self::flush_pending`], if any.
    #[inline]
    fn add_pending_value(&mut self) {
        if let Some((path, value)) = self.pending_value.take() {
            self.path_totals[path as usize]
                .value
                .add(value.mantissa, value.decimals);
        }
    }

    /// Tokenizes the unquoted path at `data[i..]`, ending at `sep`, into a
    /// key of (id + 1) bytes, first touch lowest. Returns the key, the
    /// touches and the index of `sep`; `None` for anything the fast path
    /// does not take (quotes, a line end, more than 16 touches, a channel
    /// past the 255th, an empty or non-UTF-8 name).
    #[inline]
    fn fast_path_key(
        &mut self,
        data: &[u8],
        stops: &Stops,
        mut i: usize,
        sep: u8,
    ) -> Option<(u128, u32, usize)> {
        let mut key = 0u128;
        let mut touches = 0u32;
        loop {
            let end = next_stop(&stops.all, i)?;
            let stop = data[end];
            if stop != b'>' && stop != sep {
                return None;
            }
            // Untrimmed: `a > b` caches ` b` and `a ` as they come, and their
            // channels are trimmed once, when first met.
            let token = &data[i..end];
            let id = self.token_id(token)?;
            if id >= 255 || touches == 16 {
                return None;
            }
            key |= u128::from(id + 1) << (8 * touches);
            touches += 1;
            if stop == sep {
                return Some((key, touches, end));
            }
            i = end + 1;
        }
    }

    /// [`Self::fast_path_key`] for a journey's path field at `data[i..]`,
    /// through the path memo when the field has at most 32 bytes.
    #[inline]
    fn memo_path_key(
        &mut self,
        data: &[u8],
        stops: &Stops,
        i: usize,
    ) -> Option<(u128, u32, usize)> {
        let end = next_stop(&stops.fields, i)?;
        if data[end] != b',' {
            return None;
        }
        let len = end - i;
        let Some(raw) = data.get(i..i + 32).filter(|_| len <= 32) else {
            return self.fast_path_key(data, stops, i, b',');
        };
        let mut words = [0u64; 4];
        for (k, word) in words.iter_mut().enumerate() {
            let bytes = <[u8; 8]>::try_from(&raw[8 * k..8 * k + 8]).ok()?;
            *word = u64::from_le_bytes(bytes) & LOW_BYTES[len.saturating_sub(8 * k).min(8)];
        }
        let h = fold_mul(
            self.memo_seed ^ words[0] ^ (len as u64),
            0x9E37_79B9_7F4A_7C15,
        ) ^ fold_mul(words[1] ^ words[2].rotate_left(23), 0xBF58_476D_1CE4_E5B9)
            ^ words[3];
        let at = (h.wrapping_mul(0x94D0_49BB_1331_11EB) >> 32) as usize & (PATH_MEMO - 1);
        let memo = &self.path_memo[at];
        if memo.len == len as u32 && memo.words == words {
            return Some((memo.key, memo.touches, end));
        }
        let (key, touches, stop) = self.fast_path_key(data, stops, i, b',')?;
        self.path_memo[at] = MemoPath {
            words,
            len: len as u32,
            touches,
            key,
        };
        Some((key, touches, stop))
    }

    /// The slot of a packed path at `at` (from [`PackedPaths::position`]),
    /// registering the path if it is new.
    #[inline]
    fn packed_slot(&mut self, at: usize, found: bool, key: u128, touches: u32) -> usize {
        if found {
            return at;
        }
        let path = self.path_totals.len() as u32;
        for t in 0..touches {
            self.path_channels
                .push(((key >> (8 * t)) as u32 & 0xFF) - 1);
        }
        self.path_start.push(self.path_channels.len());
        self.path_totals.push(PathTotals::default());
        self.packed_paths.insert(at, key, path)
    }

    /// Adds counts to the packed path in slot `at`: in the slot's own
    /// 32-bit counters (no second cache line) until they would overflow,
    /// then in the path's `u64` totals, checked, for good. So a slot's
    /// counters are the path's whole count until it spills, and zero after.
    #[inline]
    fn add_counts_at(
        &mut self,
        at: usize,
        conversions: u64,
        nulls: u64,
    ) -> Result<(), JourneyError> {
        let slot = &mut self.packed_paths.slots[at];
        if !slot.spilled {
            if let (Ok(c), Ok(n)) = (u32::try_from(conversions), u32::try_from(nulls)) {
                if let (Some(c), Some(n)) =
                    (slot.conversions.checked_add(c), slot.nulls.checked_add(n))
                {
                    (slot.conversions, slot.nulls) = (c, n);
                    return Ok(());
                }
            }
        }
        self.spill_counts(at, conversions, nulls)
    }

    #[cold]
    fn spill_counts(
        &mut self,
        at: usize,
        conversions: u64,
        nulls: u64,
    ) -> Result<(), JourneyError> {
        let slot = &mut self.packed_paths.slots[at];
        slot.spilled = true;
        let held = (
            std::mem::take(&mut slot.conversions),
            std::mem::take(&mut slot.nulls),
        );
        let e = &mut self.path_totals[slot.path as usize];
        e.add_counts(held.0.into(), held.1.into())?;
        e.add_counts(conversions, nulls)
    }

    /// Adds counts to any worker path: for journey lines through its slot
    /// if it is packable (see [`Self::add_counts_at`]), else to its totals,
    /// checked.
    fn add_counts(&mut self, path: u32, conversions: u64, nulls: u64) -> Result<(), JourneyError> {
        let (start, end) = (
            self.path_start[path as usize],
            self.path_start[path as usize + 1],
        );
        if self.config.format == Format::Journeys {
            if let Some(key) = pack_path(&self.path_channels[start..end]) {
                let (at, found) = self.packed_paths.position(key);
                if found {
                    return self.add_counts_at(at, conversions, nulls);
                }
            }
        }
        self.path_totals[path as usize].add_counts(conversions, nulls)
    }

    /// Moves every slot's counters into its path's totals (after the last
    /// block).
    pub(super) fn settle_counts(&mut self) -> Result<(), JourneyError> {
        // Only journey lines count in slots; once is enough.
        if self.config.format != Format::Journeys || self.settled {
            return Ok(());
        }
        self.settled = true;
        for slot in self.packed_paths.slots.iter_mut().filter(|s| s.key != 0) {
            self.path_totals[slot.path as usize]
                .add_counts(slot.conversions.into(), slot.nulls.into())?;
            (slot.conversions, slot.nulls, slot.spilled) = (0, 0, true);
        }
        Ok(())
    }

    /// The fast path for a plain aggregated line: an unquoted path, digit
    /// counts, an unsigned decimal value. As [`Self::fast_journey`], but
    /// sums that overflow are reported here, with the line.
    #[inline]
    fn fast_path_line(
        &mut self,
        data: &[u8],
        stops: &Stops,
        p: usize,
        line: u64,
    ) -> Option<Result<usize, (u64, LineErrorKind)>> {
        let (key, touches, end) = self.fast_path_key(data, stops, p, b';')?;
        let (conversions, i) = fast_count(data, end + 1)?;
        let (nulls, i) = fast_count(data, i)?;
        let (value, i) = fast_decimal(data, i)?;
        let next = line_end(data, i)?;
        if i - p > self.config.max_line {
            return None;
        }
        // The line is taken. Usually a new path: its slot misses the
        // cache, so start loading it, add the previous line meanwhile and
        // leave this one pending.
        self.packed_paths.prefetch(key);
        if let Err(error) = self.flush_oldest_path() {
            return Some(Err(error));
        }
        self.pending_path = self.pending_path_next.take();
        self.pending_path_next = Some(PendingPath {
            key,
            touches,
            conversions,
            nulls,
            value,
            line,
        });
        Some(Ok(next))
    }

    /// Adds both pending fast aggregated lines, oldest first.
    #[inline]
    fn flush_pending_path(&mut self) -> Result<(), (u64, LineErrorKind)> {
        self.flush_oldest_path()?;
        self.pending_path = self.pending_path_next.take();
        self.flush_oldest_path()
    }

    /// Adds the older pending fast aggregated line, if any; an overflowing
    /// sum is reported with that line's number (in the block).
    #[inline]
    fn flush_oldest_path(&mut self) -> Result<(), (u64, LineErrorKind)> {
        let Some(PendingPath {
            key,
            touches,
            conversions,
            nulls,
            value,
            line,
        }) = self.pending_path.take()
        else {
            return Ok(());
        };
        let (at, found) = self.packed_paths.position(key);
        let at = self.packed_slot(at, found, key, touches);
        // Aggregated lines are mostly new paths, met once: their counts
        // go straight to the totals (see `add_counts`).
        let e = &mut self.path_totals[self.packed_paths.slots[at].path as usize];
        e.add_counts(conversions, nulls)
            .map_err(|e| (line, e.into()))?;
        if conversions > 0 {
            e.value.add(value.mantissa, value.decimals);
        }
        Ok(())
    }

    /// The channel id of a fast-path token (see [`Self::new_token`]).
    #[inline]
    fn token_id(&mut self, token: &[u8]) -> Option<u32> {
        if token.len() > 16 {
            return match self.token_channels.get(token) {
                Some(id) => Some(id),
                None => self.new_token(token),
            };
        }
        let words = short_words(token);
        let len = token.len() as u32;
        let mask = self.short_tokens.len() - 1;
        let mut at = token_home(words, len) & mask;
        loop {
            let cached = self.short_tokens[at];
            if cached.len == len && cached.words == words {
                return Some(cached.id);
            }
            if cached.len == u32::MAX {
                break;
            }
            at = (at + 1) & mask;
        }
        let id = match self.token_channels.get(token) {
            Some(id) => id,
            None => self.new_token(token)?,
        };
        self.add_short_token(CachedToken { words, len, id });
        Some(id)
    }

    /// Adds a token absent from `short_tokens`, growing it to stay at most
    /// a quarter full.
    #[cold]
    fn add_short_token(&mut self, token: CachedToken) {
        if token.id >= 255 || (self.short_len + 1) * 4 > SHORT_TOKEN_SLOTS {
            // The fast path gives such a line up anyway; and the cache is
            // full (the table behind it still answers).
            return;
        }
        self.short_len += 1;
        if self.short_len * 4 > self.short_tokens.len() {
            let bigger = vec![EMPTY_TOKEN; self.short_tokens.len() * 2];
            let old = std::mem::replace(&mut self.short_tokens, bigger);
            self.short_len = 1;
            for t in old.into_iter().filter(|t| t.len != u32::MAX) {
                self.short_len += 1;
                self.place_short_token(t);
            }
        }
        self.place_short_token(token);
    }

    fn place_short_token(&mut self, token: CachedToken) {
        let mask = self.short_tokens.len() - 1;
        let mut at = token_home(token.words, token.len) & mask;
        while self.short_tokens[at].len != u32::MAX {
            at = (at + 1) & mask;
        }
        self.short_tokens[at] = token;
    }

    /// Interns a token first met on the fast path: its channel is the token
    /// as UTF-8, trimmed as the general parser trims. `None` (leave the
    /// line to the general parser, which says why) if it is not UTF-8,
    /// trims to nothing or holds a control or bidi formatting character.
    #[cold]
    fn new_token(&mut self, token: &[u8]) -> Option<u32> {
        let name = std::str::from_utf8(token).ok()?.trim();
        if name.is_empty() || name.chars().any(bad_in_name) {
            return None;
        }
        let id = self.channel_names.intern(name);
        if id < 255 {
            self.token_channels.insert(token, id);
        }
        Some(id)
    }

    /// `journey_id,path,hours,converted,value`, any form.
    fn journey_line(&mut self, line: &[u8]) -> Result<(), LineErrorKind> {
        let mut scratch = std::mem::take(&mut self.journey_field_bufs);
        let result = self.journey_fields(line, &mut scratch);
        self.journey_field_bufs = scratch;
        result
    }

    fn journey_fields(
        &mut self,
        line: &[u8],
        scratch: &mut [Vec<u8>; 5],
    ) -> Result<(), LineErrorKind> {
        let [_, path, hours, converted, value] = split_fields::<5>(line, b',', scratch)?;
        let path = self.path_of(path)?;
        let converted = parse_converted(converted)?;
        let value = parse_line_value(value, "value")?;
        parse_hours(hours, &mut self.hours)?;
        let touches = self.path_len(path);
        if self.hours.len() != touches {
            return Err(JourneyError::HoursMismatch {
                touches,
                hours: self.hours.len(),
            }
            .into());
        }
        self.record_journey(path, converted, value);
        Ok(())
    }

    /// Adds one journey whose touch times are in `self.hours`.
    fn record_journey(&mut self, path: u32, converted: bool, value: LineValue) {
        // One journey cannot overflow the counts (see `add_counts_at`).
        let _ = self.add_counts(path, u64::from(converted), u64::from(!converted));
        if converted {
            self.add_value(path, value);
            let value = value.to_f64();
            time_decay_shares(&self.hours, self.config.half_life, &mut self.shares);
            let start = self.path_start[path as usize];
            for (&c, &share) in self.path_channels[start..].iter().zip(&self.shares) {
                let i = c as usize;
                if self.time_decay.len() <= i {
                    self.time_decay.resize(i + 1, Credit::default());
                }
                if c >= 255 && self.time_decay[i] == Credit::default() {
                    self.decay_touched.push(c);
                }
                self.time_decay[i].add_scaled(1.0, value, share);
            }
        }
    }

    /// `path;total_conversions;total_null;total_conversion_value`
    fn path_line(&mut self, line: &[u8]) -> Result<(), LineErrorKind> {
        let mut scratch = std::mem::take(&mut self.path_field_bufs);
        let result = self.path_fields(line, &mut scratch);
        self.path_field_bufs = scratch;
        result
    }

    fn path_fields(
        &mut self,
        line: &[u8],
        scratch: &mut [Vec<u8>; 4],
    ) -> Result<(), LineErrorKind> {
        let [path, conversions, nulls, value] = split_fields::<4>(line, b';', scratch)?;
        let path = self.path_of(path)?;
        let conversions = parse_count(conversions, "total_conversions")?;
        let nulls = parse_count(nulls, "total_null")?;
        let value = parse_line_value(value, "total_conversion_value")?;
        self.add_counts(path, conversions, nulls)?;
        if conversions > 0 {
            self.add_value(path, value);
        }
        Ok(())
    }

    /// This block's time-decay credit, each channel's taken (zeroed) from
    /// `time_decay`: the first 255 channels scanned, the others as
    /// recorded in `decay_touched` (a channel listed twice, because its
    /// credit stayed zero, is taken once).
    fn take_time_decay(&mut self) -> Vec<(u32, Credit)> {
        let mut credits = Vec::new();
        let scanned = self.time_decay.len().min(255) as u32;
        for c in (0..scanned).chain(self.decay_touched.drain(..)) {
            let credit = std::mem::take(&mut self.time_decay[c as usize]);
            if credit != Credit::default() {
                credits.push((c, credit));
            }
        }
        credits
    }

    /// Adds a converting line's value to its worker path: a plain decimal
    /// exactly, any other number to this block's `f64` list.
    fn add_value(&mut self, path: u32, value: LineValue) {
        match value {
            LineValue::Decimal(d) => self.path_totals[path as usize]
                .value
                .add(d.mantissa, d.decimals),
            LineValue::Other(v) => {
                let (start, end) = (
                    self.path_start[path as usize],
                    self.path_start[path as usize + 1],
                );
                self.inexact_ids
                    .extend_from_slice(&self.path_channels[start..end]);
                self.inexact.push(((end - start) as u32, self.line, v));
            }
        }
    }

    fn path_len(&self, path: u32) -> usize {
        let i = path as usize;
        self.path_start[i + 1] - self.path_start[i]
    }

    /// The worker index of a raw path, registered (split, trimmed,
    /// interned) on first sight.
    fn path_of(&mut self, raw: &[u8]) -> Result<u32, LineErrorKind> {
        if let Some(i) = self.raw_paths.get(raw) {
            return Ok(i);
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| LineErrorKind::InvalidUtf8 { field: "path" })?;
        if text.trim().is_empty() {
            return Err(JourneyError::EmptyPath.into());
        }
        let start = self.path_channels.len();
        for (i, name) in text.split('>').enumerate() {
            let name = name.trim();
            if name.is_empty() {
                self.path_channels.truncate(start);
                return Err(JourneyError::EmptyChannel { touch: i + 1 }.into());
            }
            if let Some(c) = name.chars().find(|&c| bad_in_name(c)) {
                self.path_channels.truncate(start);
                return Err(name_char_error(i + 1, c).into());
            }
            let id = self.channel_names.intern(name);
            self.path_channels.push(id);
        }
        // A path is keyed by its ids (packed when it fits, as on the fast
        // path), so it is one worker path however it is spelled (which
        // the builder's adoption of a worker's paths relies on).
        let next = self.path_totals.len() as u32;
        let index = match pack_path(&self.path_channels[start..]) {
            Some(key) => match self.packed_paths.position(key) {
                (at, true) => self.packed_paths.slots[at].path,
                (at, false) => {
                    self.packed_paths.insert(at, key, next);
                    next
                }
            },
            None => {
                // The paths before this one, and this one's ids.
                let (before, ids) = self.path_channels.split_at(start);
                self.id_paths
                    .get_or_insert(ids, next, before, &self.path_start)
                    .0
            }
        };
        if index == next {
            self.path_start.push(self.path_channels.len());
            self.path_totals.push(PathTotals::default());
        } else {
            self.path_channels.truncate(start);
        }
        if self.config.format == Format::Journeys && self.raw_paths.len() < RAW_PATH_MEMO {
            self.raw_paths.insert(raw, index);
        }
        Ok(index)
    }
}

/// Splits a line into exactly `N` fields separated by `sep`. A field that
/// starts with `"` is quoted (RFC 4180): it ends at the next lone `"`, and
/// `""` inside stands for `"`; unescaped fields borrow from `line`, escaped
/// ones are copied into their `scratch` buffer.
pub(super) fn split_fields<'a, const N: usize>(
    line: &'a [u8],
    sep: u8,
    scratch: &'a mut [Vec<u8>; N],
) -> Result<[&'a [u8]; N], LineErrorKind> {
    let mut out: [&'a [u8]; N] = [&[]; N];
    let mut pos = 0usize;
    for (i, (slot, buf)) in out.iter_mut().zip(scratch.iter_mut()).enumerate() {
        if line.get(pos) == Some(&b'"') {
            let (content, end) = quoted(line, pos, i + 1, buf)?;
            *slot = content;
            pos = end;
            if pos < line.len() && line[pos] != sep {
                return Err(LineErrorKind::TextAfterQuote { field: i + 1 });
            }
        } else {
            let start = pos;
            while pos < line.len() {
                let b = line[pos];
                if b == sep {
                    break;
                }
                if b == b'"' {
                    return Err(LineErrorKind::StrayQuote { field: i + 1 });
                }
                pos += 1;
            }
            *slot = &line[start..pos];
        }
        if i + 1 < N {
            if pos >= line.len() {
                return Err(LineErrorKind::FieldCount {
                    expected: N,
                    found: i + 1,
                    separator: sep as char,
                });
            }
            pos += 1;
        } else if pos < line.len() {
            return Err(LineErrorKind::FieldCount {
                expected: N,
                found: count_fields(line, sep),
                separator: sep as char,
            });
        }
    }
    Ok(out)
}

/// The content of the quoted field opening at `line[open]`, and the index
/// after its closing quote.
pub(super) fn quoted<'a>(
    line: &'a [u8],
    open: usize,
    field: usize,
    buf: &'a mut Vec<u8>,
) -> Result<(&'a [u8], usize), LineErrorKind> {
    let start = open + 1;
    let mut pos = start;
    let mut escaped = false;
    loop {
        let Some(q) = memchr::memchr(b'"', &line[pos..]) else {
            return Err(LineErrorKind::UnterminatedQuote { field });
        };
        let q = pos + q;
        if line.get(q + 1) == Some(&b'"') {
            escaped = true;
            pos = q + 2;
            continue;
        }
        if !escaped {
            return Ok((&line[start..q], q + 1));
        }
        buf.clear();
        let mut rest = &line[start..q];
        while let Some(p) = memchr::memchr(b'"', rest) {
            // Inside the content quotes come in pairs.
            buf.extend_from_slice(&rest[..=p]);
            rest = rest.get(p + 2..).unwrap_or_default();
        }
        buf.extend_from_slice(rest);
        let buf: &'a Vec<u8> = buf;
        return Ok((buf, q + 1));
    }
}

/// Counts fields the way [`split_fields`] would, for error messages.
pub(super) fn count_fields(line: &[u8], sep: u8) -> usize {
    let mut fields = 1;
    let mut in_quotes = false;
    for &b in line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            fields += 1;
        }
    }
    fields
}

pub(super) fn parse_converted(field: &[u8]) -> Result<bool, LineErrorKind> {
    match field.trim_ascii() {
        b"1" => Ok(true),
        b"0" => Ok(false),
        t if t.eq_ignore_ascii_case(b"true") => Ok(true),
        t if t.eq_ignore_ascii_case(b"false") => Ok(false),
        _ => Err(LineErrorKind::BadConverted {
            text: snippet(field),
        }),
    }
}

/// A finite number, kept as a plain decimal when it is one.
pub(super) fn parse_line_value(
    field: &[u8],
    name: &'static str,
) -> Result<LineValue, LineErrorKind> {
    let t = field.trim_ascii();
    if let Some((d, end)) = fast_decimal(t, 0) {
        if end == t.len() {
            return Ok(LineValue::Decimal(d));
        }
    }
    if let Some(d) = wide_decimal(t) {
        return Ok(LineValue::Decimal(d));
    }
    parse_value(field, name).map(LineValue::Other)
}
