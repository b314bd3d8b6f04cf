//! The sorted path arena [`JourneySetBuilder::finish`](super::JourneySetBuilder::finish)
//! builds from the builder's slots, and the huge-page vectors the arena and
//! the readers' tables are allocated as.

use super::{ChannelId, PathStats, unsafe_ops};

/// The distinct paths in canonical ids, sorted: path `i` is
/// `touches[offsets[i]..offsets[i + 1]]` with `stats[i]`.
pub(super) struct Arena {
    pub(super) offsets: Vec<usize>,
    pub(super) touches: Vec<ChannelId>,
    pub(super) stats: Vec<PathStats>,
    /// The sum of the paths' values, in path order.
    pub(super) total_value: f64,
}

impl Arena {
    /// Sorts the builder's slots by path: slot `i`'s path is
    /// `slot_ids[slot_start[i]..slot_start[i + 1]]` in interned ids, which
    /// `new_id` maps to canonical ones (of `channels` channels), and its
    /// totals `slots[i]`.
    pub(super) fn sorted(
        channels: usize,
        new_id: &[u32],
        slot_ids: Vec<u32>,
        slot_start: &[usize],
        slots: Vec<PathStats>,
    ) -> Arena {
        let longest = slot_start
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0);
        let whole = channels < 255 && longest <= 16;
        let paths = slots.len();
        let mut offsets = huge_with_capacity(paths + 1);
        let mut touches = huge_with_capacity(slot_ids.len());
        let mut stats;
        offsets.push(0);
        let mut total_value = 0.0;
        if whole && longest <= 12 {
            // At most 12 touches leave the whole-path key's low 32 bits
            // zero: the slot goes there, plain `u128`s sort (half the bytes
            // to move, one compare), and each path is read back from its
            // key, in order, rather than gathered from the arena.
            stats = huge_with_capacity(paths);
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
            let order = sorted_slots(whole, paths, path);
            for &slot in &order {
                touches.extend_from_slice(path(slot));
                offsets.push(touches.len());
            }
            drop(ids);
            // The totals in path order, moved in place (a second vector
            // would be held at the peak).
            stats = permuted(slots, order);
            for s in &stats {
                total_value += s.value;
            }
        }
        Arena {
            offsets,
            touches,
            stats,
            total_value,
        }
    }
}

/// `items` reordered so that item `i` is the old `items[order[i]]`
/// (`order` a permutation of the indexes), in place: each cycle of the
/// permutation is followed once, `order` marking what has moved.
fn permuted<T: Copy>(mut items: Vec<T>, mut order: Vec<u32>) -> Vec<T> {
    const MOVED: u32 = u32::MAX;
    for start in 0..items.len() {
        if order[start] == MOVED {
            continue;
        }
        let held = items[start];
        let mut at = start;
        loop {
            let from = order[at] as usize;
            order[at] = MOVED;
            if from == start {
                items[at] = held;
                break;
            }
            items[at] = items[from];
            at = from;
        }
    }
    items
}

/// The slots `0..n` in path order, `path(slot)` giving each distinct path:
/// sorted as `(key, slot)` pairs. With `whole` (fewer than 255 channels, at
/// most 16 touches) the key is the whole path (id + 1 a byte, first touch
/// highest) and alone orders the paths; otherwise it is the first two
/// ids plus one (0 past the end) in one integer ordered like the slices
/// over those two, with a slice compare on ties: one compare for most
/// pairs, and 16-byte pairs to move (a file of millions of paths sorts
/// them at its peak memory).
fn sorted_slots<'a>(whole: bool, n: usize, path: impl Fn(u32) -> &'a [ChannelId]) -> Vec<u32> {
    if whole {
        let mut keys: Vec<(u128, u32)> = huge_with_capacity(n);
        keys.extend((0..n as u32).map(|slot| {
            let key = path(slot).iter().enumerate().fold(0u128, |k, (i, id)| {
                k | u128::from(id.0 + 1) << (8 * (15 - i))
            });
            (key, slot)
        }));
        // Distinct paths, so an unstable sort is deterministic.
        keys.sort_unstable_by_key(|&(key, _)| key);
        return keys.into_iter().map(|(_, slot)| slot).collect();
    }
    let mut keys: Vec<(u64, u32)> = huge_with_capacity(n);
    keys.extend((0..n as u32).map(|slot| {
        let key = path(slot)
            .iter()
            .take(2)
            .enumerate()
            .fold(0u64, |k, (i, id)| {
                k | u64::from(id.0.saturating_add(1)) << (32 * (1 - i))
            });
        (key, slot)
    }));
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| path(a.1).cmp(path(b.1))));
    keys.into_iter().map(|(_, slot)| slot).collect()
}

/// An empty vector with room for `n` elements whose memory the OS is
/// asked to back with huge pages (Linux, from 4 MiB): a table or arena
/// read at random then misses the TLB far less (the gain measured is in
/// `DESIGN.md`). Only a hint: contents and results never depend on it.
pub(crate) fn huge_with_capacity<T>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    unsafe_ops::advise_huge_pages(v.spare_capacity_mut());
    v
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The in-place permutation agrees with gathering into a new vector.
        #[test]
        fn permuted_gathers_in_order(keys in proptest::collection::vec(any::<u16>(), 0..200)) {
            let mut order: Vec<u32> = (0..keys.len() as u32).collect();
            order.sort_by_key(|&i| (keys[i as usize], i));
            let gathered: Vec<u16> = order.iter().map(|&i| keys[i as usize]).collect();
            prop_assert_eq!(super::permuted(keys, order), gathered);
        }
    }
}
