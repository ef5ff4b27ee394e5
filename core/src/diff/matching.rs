//! Matching fetched rows by key across environments.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::keys::{Key, key_of};
use super::tally::Tally;
use crate::value::Row;

pub(super) struct Matcher {
    environments: usize,
    keys: usize,
    /// Hold rows found on some environments only until the end: with keys
    /// each engine sorts by its own collation, the row may sit in another
    /// key range on another engine.
    hold_missing: bool,
    pending: BTreeMap<Key, Vec<Option<Row>>>,
}

impl Matcher {
    pub fn new(environments: usize, keys: usize, hold_missing: bool) -> Self {
        Matcher { environments, keys, hold_missing, pending: BTreeMap::new() }
    }

    /// Compares the rows of one key range: `rows[i]` are environment `i`'s.
    pub fn range(&mut self, tally: &mut Tally, rows: Vec<Vec<Row>>) {
        let mut by_key: BTreeMap<Key, Vec<Option<Row>>> = BTreeMap::new();
        let mut duplicates: BTreeMap<(usize, Key), (Row, usize)> = BTreeMap::new();
        for (environment, rows) in rows.into_iter().enumerate() {
            for row in rows {
                let key = key_of(&row[..self.keys]);
                let slots = by_key.entry(key.clone()).or_insert_with(|| vec![None; self.environments]);
                match &slots[environment] {
                    Some(first) => {
                        let seen = duplicates.entry((environment, key)).or_insert_with(|| (first.clone(), 1));
                        seen.1 += 1;
                    }
                    None => slots[environment] = Some(row),
                }
            }
        }
        for ((environment, _), (row, count)) in duplicates {
            tally.duplicate(environment, &row[..self.keys], count);
        }
        for (key, slots) in by_key {
            if !self.hold_missing || slots.iter().all(Option::is_some) {
                tally.row(&slots);
                continue;
            }
            match self.pending.entry(key) {
                Entry::Vacant(entry) => {
                    entry.insert(slots);
                }
                Entry::Occupied(mut entry) => {
                    for (held, found) in entry.get_mut().iter_mut().zip(slots) {
                        if found.is_some() {
                            *held = found;
                        }
                    }
                    if entry.get().iter().all(Option::is_some) {
                        tally.row(&entry.remove());
                    }
                }
            }
        }
    }

    /// Reports the rows still found on some environments only.
    pub fn finish(self, tally: &mut Tally) {
        for slots in self.pending.into_values() {
            tally.row(&slots);
        }
    }
}
