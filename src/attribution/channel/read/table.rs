//! The workers' hash tables: paths by their raw bytes ([`ByteTable`]) and
//! paths packed into a `u128` of channel ids ([`PackedPaths`]), with their
//! hashes.

use std::hash::BuildHasher;

use super::parser::UNTOUCHED;
use crate::attribution::channel::huge_with_capacity;
use crate::attribution::channel::unsafe_ops::{prefetch_read, zeroed_vec};

/// Byte strings → `u32`: open addressing with linear probing over flat
/// slots, keys in one arena, no `memcmp` call (a `HashMap` of boxed keys
/// chases a pointer and calls `memcmp` per line).
pub(super) struct ByteTable {
    /// A power of two long, at most half full.
    slots: Vec<RawSlot>,
    keys: Vec<u8>,
    len: usize,
    seed: u64,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct RawSlot {
    hash: u64,
    start: usize,
    len: u32,
    /// The value, `UNTOUCHED` for an empty slot.
    value: u32,
}

pub(super) const EMPTY_SLOT: RawSlot = RawSlot {
    hash: 0,
    start: 0,
    len: 0,
    value: UNTOUCHED,
};

impl ByteTable {
    pub(super) fn new() -> Self {
        // A random seed keeps crafted inputs from colliding on purpose;
        // results never depend on the table's order.
        let seed = foldhash::fast::RandomState::default().hash_one(0x5EED_u64);
        ByteTable {
            slots: vec![EMPTY_SLOT; 64],
            keys: Vec::new(),
            len: 0,
            seed,
        }
    }

    #[inline]
    pub(super) fn get(&self, key: &[u8]) -> Option<u32> {
        let hash = hash_bytes(self.seed, key);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.value == UNTOUCHED {
                return None;
            }
            if slot.hash == hash
                && slot.len as usize == key.len()
                && bytes_eq(&self.keys[slot.start..slot.start + key.len()], key)
            {
                return Some(slot.value);
            }
            i = (i + 1) & mask;
        }
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Inserts a key known to be absent.
    pub(super) fn insert(&mut self, key: &[u8], value: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let mut bigger = vec![EMPTY_SLOT; self.slots.len() * 2];
            let mask = bigger.len() - 1;
            for slot in self.slots.iter().filter(|s| s.value != UNTOUCHED) {
                let mut i = slot.hash as usize & mask;
                while bigger[i].value != UNTOUCHED {
                    i = (i + 1) & mask;
                }
                bigger[i] = *slot;
            }
            self.slots = bigger;
        }
        let hash = hash_bytes(self.seed, key);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i].value != UNTOUCHED {
            i = (i + 1) & mask;
        }
        self.slots[i] = RawSlot {
            hash,
            start: self.keys.len(),
            // Lines are at most `max_line_bytes` long, far below 4 GiB.
            len: key.len() as u32,
            value,
        };
        self.keys.extend_from_slice(key);
        self.len += 1;
    }
}

/// Paths that do not pack into a `u128` (more than 16 touches, or a
/// channel past the 255th) → worker path index, keyed by their channel
/// ids: open addressing over path indexes, whose ids are compared in the
/// worker's path arena (`channels[starts[p]..starts[p + 1]]`), so the
/// table holds no copy of a path. A slot is the path's index plus one (0:
/// empty), four bytes; at most half full.
pub(super) struct IdPaths {
    slots: Vec<u32>,
    len: usize,
    seed: u64,
}

impl IdPaths {
    pub(super) fn new() -> Self {
        IdPaths {
            slots: vec![0; 16],
            len: 0,
            seed: foldhash::fast::RandomState::default().hash_one(0x1D5_u64),
        }
    }

    fn hash(&self, ids: &[u32]) -> u64 {
        const K1: u64 = 0x9E37_79B9_7F4A_7C15;
        const K2: u64 = 0xBF58_476D_1CE4_E5B9;
        let h = ids.iter().fold(self.seed ^ ids.len() as u64, |h, &id| {
            fold_mul(h ^ u64::from(id), K2)
        });
        fold_mul(h, K1)
    }

    /// The index of the path `ids`, or `next` after registering it as new
    /// (the caller then adds path `next` to the arena: `channels` and
    /// `starts` hold only the paths before it).
    pub(super) fn get_or_insert(
        &mut self,
        ids: &[u32],
        next: u32,
        channels: &[u32],
        starts: &[usize],
    ) -> (u32, bool) {
        let path_of = |p: usize| &channels[starts[p]..starts[p + 1]];
        let hash = self.hash(ids);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            let p = slot - 1;
            if path_of(p as usize) == ids {
                return (p, false);
            }
            i = (i + 1) & mask;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            let mut bigger = vec![0u32; self.slots.len() * 2];
            let mask = bigger.len() - 1;
            for &slot in self.slots.iter().filter(|&&s| s != 0) {
                let p = (slot - 1) as usize;
                let mut j = self.hash(path_of(p)) as usize & mask;
                while bigger[j] != 0 {
                    j = (j + 1) & mask;
                }
                bigger[j] = slot;
            }
            self.slots = bigger;
            let mask = self.slots.len() - 1;
            i = hash as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
        }
        self.slots[i] = next + 1;
        self.len += 1;
        (next, true)
    }
}

/// Paths of channel ids packed into a `u128` (id + 1 per byte, first
/// touch lowest; 0 marks an empty slot) → worker path index, with the
/// path's entry in the current block, so a line costs one slot access.
pub(super) struct PackedPaths {
    /// A power of two long, at most half full.
    pub(super) slots: Vec<PackedSlot>,
    len: usize,
    seed: u64,
}

/// 32 bytes: two to a cache line. All zero is the empty slot (a large
/// table comes zeroed from [`zeroed_vec`], which checks
/// every field can be zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(in crate::attribution::channel) struct PackedSlot {
    /// The packed path; 0 in an empty slot.
    pub(in crate::attribution::channel) key: u128,
    /// The worker's index of the path.
    pub(in crate::attribution::channel) path: u32,
    /// The path's counts while they fit (see `Parser::add_counts_at`).
    pub(in crate::attribution::channel) conversions: u32,
    pub(in crate::attribution::channel) nulls: u32,
    /// Whether the counts moved to the path's accumulator.
    pub(in crate::attribution::channel) spilled: bool,
}

impl PackedPaths {
    /// A table for about `paths` keys (at least 1024 slots): the first
    /// power of two that holds them at most 5/8 full, so an estimate up to
    /// 25% high does not double the table; it grows past half full. It
    /// takes at most `max_bytes` up front (then grows as keys come): the
    /// estimate counts lines, and a line whose path does not pack (a
    /// channel past the 255th) never lands here.
    pub(super) fn with_capacity(paths: usize, max_bytes: usize) -> Self {
        let mut slots = paths
            .saturating_mul(8)
            .div_ceil(5)
            .next_power_of_two()
            .clamp(1024, 1 << 27);
        while slots > 1024 && slots * size_of::<PackedSlot>() > max_bytes {
            slots /= 2;
        }
        PackedPaths {
            slots: empty_slots(slots),
            len: 0,
            seed: foldhash::fast::RandomState::default().hash_one(0x9ACC_u64),
        }
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for about `paths` keys in all (as [`Self::with_capacity`]),
    /// moving the keys held; never shrinks.
    pub(super) fn reserve_for(&mut self, paths: usize, max_bytes: usize) {
        let bigger = PackedPaths::with_capacity(paths, max_bytes);
        if bigger.slots.len() <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, bigger.slots);
        for slot in old.into_iter().filter(|s| s.key != 0) {
            let (i, _) = self.position(slot.key);
            self.slots[i] = slot;
        }
    }

    /// The slot holding `key` (true), or the empty slot where it would go.
    #[inline]
    pub(super) fn position(&self, key: u128) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = hash_u128(self.seed, key) as usize & mask;
        loop {
            let k = self.slots[i].key;
            if k == key {
                return (i, true);
            }
            if k == 0 {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Hints the CPU to start loading `key`'s home slot.
    #[inline]
    pub(super) fn prefetch(&self, key: u128) {
        let mask = self.slots.len() - 1;
        let i = hash_u128(self.seed, key) as usize & mask;
        prefetch_read(&self.slots[i]);
    }

    /// Inserts an absent key at the empty slot `at` from [`Self::position`];
    /// returns where it ended up (the table may grow).
    pub(super) fn insert(&mut self, mut at: usize, key: u128, path: u32) -> usize {
        if (self.len + 1) * 2 > self.slots.len() {
            let bigger = empty_slots(self.slots.len() * 2);
            let old = std::mem::replace(&mut self.slots, bigger);
            for slot in old.into_iter().filter(|s| s.key != 0) {
                let (i, _) = self.position(slot.key);
                self.slots[i] = slot;
            }
            at = self.position(key).0;
        }
        self.slots[at] = PackedSlot {
            key,
            path,
            ..PackedSlot::default()
        };
        self.len += 1;
        at
    }
}

/// `n` empty slots (at least one), backed by huge pages where the OS
/// offers them (see [`huge_with_capacity`]). A large table (from 32
/// MiB) is zeroed by the allocator ([`zeroed_vec`]; an
/// all-zero slot is the empty slot): it comes as fresh pages that the OS
/// zeroes when first touched, so memory follows the slots in use (the
/// distinct paths), not the table's size. A smaller one is written out
/// after the huge-page advice (an allocator may zero it before any advice
/// could apply).
pub(super) fn empty_slots(n: usize) -> Vec<PackedSlot> {
    const LAZY_BYTES: usize = 32 << 20;
    let n = n.max(1);
    let lazy = n.saturating_mul(size_of::<PackedSlot>()) >= LAZY_BYTES;
    if let Some(slots) = lazy.then(|| zeroed_vec(n)).flatten() {
        return slots;
    }
    let mut slots = huge_with_capacity(n);
    slots.resize(n, PackedSlot::default());
    slots
}

#[inline]
pub(super) fn hash_u128(seed: u64, key: u128) -> u64 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xBF58_476D_1CE4_E5B9;
    fold_mul(fold_mul(seed ^ key as u64, K1) ^ (key >> 64) as u64, K2)
}

/// The 128-bit product of `a` and `b`, folded to 64 bits: a strong, cheap
/// mixer (as in foldhash).
#[inline]
pub(super) fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Up to 8 bytes as a little-endian `u64` (a loop, not a `memcpy` call).
#[inline]
pub(super) fn load_u64(chunk: &[u8]) -> u64 {
    if let Ok(b) = <[u8; 8]>::try_from(chunk) {
        return u64::from_le_bytes(b);
    }
    chunk
        .iter()
        .enumerate()
        .fold(0, |v, (i, &b)| v | u64::from(b) << (8 * i))
}

/// The first and last 8 bytes of a key of 8 to 16 bytes (overlapping),
/// or its bytes in one word below 8: with the length, all of it.
#[inline]
pub(super) fn short_words(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    if n >= 8 {
        (load_u64(&key[..8]), load_u64(&key[n - 8..]))
    } else if n >= 4 {
        let lo = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
        let hi = u32::from_le_bytes([key[n - 4], key[n - 3], key[n - 2], key[n - 1]]);
        (u64::from(lo), u64::from(hi))
    } else {
        (load_u64(key), 0)
    }
}

/// Hashes a byte string: overlapping words up to 16 bytes, eight bytes at
/// a time beyond.
#[inline]
pub(super) fn hash_bytes(seed: u64, key: &[u8]) -> u64 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xBF58_476D_1CE4_E5B9;
    let h = seed ^ (key.len() as u64).wrapping_mul(K1);
    if key.len() <= 16 {
        let (a, b) = short_words(key);
        return fold_mul(fold_mul(h ^ a, K2) ^ b, K1);
    }
    let mut h = h;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        h = fold_mul(h ^ load_u64(chunk), K2);
    }
    h = fold_mul(h ^ load_u64(&key[key.len() - 8..]), K2);
    fold_mul(h, K1)
}

/// Byte equality of equal-length slices, inline (no `memcmp` call, which
/// costs more than the comparison on keys of a few dozen bytes).
#[inline]
pub(super) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() <= 16 {
        return short_words(a) == short_words(b);
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if load_u64(x) != load_u64(y) {
            return false;
        }
    }
    load_u64(&a[a.len() - 8..]) == load_u64(&b[b.len() - 8..])
}
