//! Channel names held compactly: one text buffer and the end of each name
//! ([`NameList`]), and the interner that gives each new name the next id
//! ([`Interner`]).
//!
//! A file may name millions of channels (a channel per line is a valid
//! file). A `Box<str>` per name costs a heap block of at least 32 bytes
//! plus its 16-byte handle, and a `HashMap<Box<str>, u32>` beside it holds
//! a second copy: about 100 bytes for a 7-byte name. Here a name costs its
//! bytes, an 8-byte end, and 8 to 16 bytes of hash table (four-byte
//! slots, a quarter to half full).

use std::fmt;
use std::hash::BuildHasher;

use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};

/// Names in id order: name `i` is `text[ends[i - 1]..ends[i]]` (from 0
/// for the first).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct NameList {
    text: String,
    ends: Vec<usize>,
}

impl NameList {
    /// An empty list with room for `names` names of `bytes` bytes in all.
    pub(crate) fn with_capacity(names: usize, bytes: usize) -> Self {
        NameList {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(names),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The name of id `i`, `None` past the end.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// The name of id `i`, which the caller knows is in range.
    fn name(&self, i: usize) -> &str {
        self.get(i).unwrap_or_default()
    }

    pub(crate) fn push(&mut self, name: &str) {
        self.text.push_str(name);
        self.ends.push(self.text.len());
    }

    /// Every name, in id order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.name(i))
    }

    /// The id of `name` in a list sorted by bytes (binary search).
    pub(crate) fn search_sorted(&self, name: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The names sorted by their bytes, and each old id's new id.
    pub(crate) fn sorted(&self) -> (NameList, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.name(a as usize).cmp(self.name(b as usize)));
        let mut new_id = vec![0u32; order.len()];
        let mut sorted = NameList::with_capacity(self.len(), self.text.len());
        for (new, &old) in order.iter().enumerate() {
            new_id[old as usize] = new as u32;
            sorted.push(self.name(old as usize));
        }
        (sorted, new_id)
    }
}

impl fmt::Debug for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Serialised as `{"names": [...]}`, the form `Channels` always had.
impl Serialize for NameList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Names<'a>(&'a NameList);
        impl Serialize for Names<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for name in self.0.iter() {
                    seq.serialize_element(name)?;
                }
                seq.end()
            }
        }
        let mut s = serializer.serialize_struct("Channels", 1)?;
        s.serialize_field("names", &Names(self))?;
        s.end()
    }
}

/// Interns channel names to ids in order of first appearance.
///
/// The index is open addressing with linear probing, at most half full;
/// a slot holds a name's id plus one (0 marks an empty slot), and a probe
/// compares the text (four bytes a slot: a file of a new channel per line
/// spends more on this index than on the names). Growing rehashes the
/// names from the text: the hashes are not stored.
#[derive(Clone)]
pub(crate) struct Interner {
    names: NameList,
    slots: Vec<u32>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            names: NameList::default(),
            slots: vec![0; 16],
            // A per-process seed keeps crafted names from colliding on
            // purpose; ids never depend on it.
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl fmt::Debug for Interner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.names.fmt(f)
    }
}

impl Interner {
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names in id order.
    pub(crate) fn names(&self) -> &NameList {
        &self.names
    }

    /// The names, without the index.
    pub(crate) fn into_names(self) -> NameList {
        self.names
    }

    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name.as_bytes())
    }

    /// Where `name` (of hash `hash`) is, or the empty slot where it would
    /// go.
    fn position(&self, name: &str, hash: u64) -> (usize, Option<u32>) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return (i, None);
            }
            let id = slot - 1;
            if self.names.name(id as usize) == name {
                return (i, Some(id));
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `name`, if interned.
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.position(name, self.hash(name)).1
    }

    /// The id of `name`, interning it if new.
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        let hash = self.hash(name);
        let (mut at, found) = self.position(name, hash);
        if let Some(id) = found {
            return id;
        }
        let id = self.names.len() as u32;
        if (self.names.len() + 1) * 2 > self.slots.len() {
            self.grow();
            at = self.position(name, hash).0;
        }
        self.names.push(name);
        self.slots[at] = id + 1;
        id
    }

    #[cold]
    fn grow(&mut self) {
        let mut slots = vec![0u32; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (id, name) in self.names.iter().enumerate() {
            let mut i = self.hash(name) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = id as u32 + 1;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_in_order_of_first_appearance() {
        let mut names = Interner::default();
        assert_eq!(names.intern("sms"), 0);
        assert_eq!(names.intern("واتساب"), 1);
        assert_eq!(names.intern("sms"), 0);
        assert_eq!(names.intern(""), 2);
        assert_eq!(names.get("واتساب"), Some(1));
        assert_eq!(names.get("email"), None);
        let listed: Vec<&str> = names.names().iter().collect();
        assert_eq!(listed, ["sms", "واتساب", ""]);
    }

    #[test]
    fn sorted_by_bytes_with_new_ids() {
        let mut names = Interner::default();
        for n in ["sms", "email", "qr", "email"] {
            names.intern(n);
        }
        let (sorted, new_id) = names.names().sorted();
        assert_eq!(sorted.iter().collect::<Vec<_>>(), ["email", "qr", "sms"]);
        assert_eq!(new_id, [2, 0, 1]);
        assert_eq!(sorted.search_sorted("qr"), Some(1));
        assert_eq!(sorted.search_sorted("q"), None);
        assert_eq!(sorted.get(3), None);
    }

    #[test]
    fn serialised_as_a_list_of_names() {
        let mut list = NameList::default();
        list.push("a");
        list.push("ب");
        assert_eq!(
            serde_json::to_string(&list).unwrap(),
            r#"{"names":["a","ب"]}"#
        );
        assert_eq!(format!("{list:?}"), r#"["a", "ب"]"#);
    }

    proptest! {
        /// The interner agrees with a `HashMap` model on any names, across
        /// its growth.
        #[test]
        fn interner_matches_a_map(names in proptest::collection::vec("[a-c]{0,3}|\\PC{0,6}", 0..300)) {
            let mut interner = Interner::default();
            let mut model = std::collections::HashMap::new();
            for name in &names {
                let next = model.len() as u32;
                let want = *model.entry(name.clone()).or_insert(next);
                prop_assert_eq!(interner.intern(name), want);
            }
            prop_assert_eq!(interner.len(), model.len());
            for (name, &id) in &model {
                prop_assert_eq!(interner.get(name), Some(id));
                prop_assert_eq!(interner.names().get(id as usize), Some(name.as_str()));
            }
        }
    }
}
