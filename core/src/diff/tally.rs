//! The differences found, counted exactly and listed up to a limit: the
//! first ones in key order, whatever order the ranges were compared in.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::keys::{Key, key_cmp, key_of};
use crate::compare::{RowDifference, RowMap, normalize};
use crate::value::{Row, Value};

/// Where a difference is listed: by key, then missing, duplicated (by
/// environment), changed (by column).
#[derive(PartialEq, Eq)]
struct Place(Key, usize);

impl Ord for Place {
    fn cmp(&self, other: &Self) -> Ordering {
        key_cmp(&self.0, &other.0).then(self.1.cmp(&other.1))
    }
}

impl PartialOrd for Place {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

pub(super) struct Tally {
    environments: Vec<String>,
    key_names: Vec<String>,
    column_names: Vec<String>,
    max_listed: usize,
    listed: BTreeMap<Place, RowDifference>,
    pub rows_missing: u64,
    pub rows_changed: u64,
    pub duplicate_keys: u64,
    pub total: u64,
}

impl Tally {
    pub fn new(
        environments: Vec<String>,
        key_names: Vec<String>,
        column_names: Vec<String>,
        max_listed: usize,
    ) -> Self {
        Tally {
            environments,
            key_names,
            column_names,
            max_listed,
            listed: BTreeMap::new(),
            rows_missing: 0,
            rows_changed: 0,
            duplicate_keys: 0,
            total: 0,
        }
    }

    pub fn truncated(&self) -> bool {
        self.total > self.listed.len() as u64
    }

    /// The listed differences, in key order.
    pub fn listed(&mut self) -> Vec<RowDifference> {
        std::mem::take(&mut self.listed).into_values().collect()
    }

    fn push(&mut self, key: &[Value], kind: usize, make: impl FnOnce(&Self) -> RowDifference) {
        self.total += 1;
        let place = Place(key_of(key), kind);
        if self.listed.len() == self.max_listed {
            match self.listed.last_key_value() {
                Some((last, _)) if place < *last => {
                    self.listed.pop_last();
                }
                _ => return,
            }
        }
        let difference = make(self);
        self.listed.insert(place, difference);
    }

    fn key_map(&self, key: &[Value]) -> RowMap {
        self.key_names.iter().cloned().zip(key.iter().cloned()).collect()
    }

    /// One key's row on each environment (keys first, then the compared
    /// columns), `None` where it is missing.
    pub fn row(&mut self, rows: &[Option<Row>]) {
        let Some(first) = rows.iter().flatten().next() else { return };
        let keys = self.key_names.len();
        let key = &first[..keys];
        let present: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].is_some()).collect();
        if present.len() < rows.len() {
            self.rows_missing += 1;
            self.push(key, 0, |t| RowDifference::Missing {
                key: t.key_map(key),
                present_in: present.iter().map(|&i| t.environments[i].clone()).collect(),
                missing_from: (0..rows.len())
                    .filter(|i| !present.contains(i))
                    .map(|i| t.environments[i].clone())
                    .collect(),
            });
        }
        let mut changed = false;
        for column in 0..self.column_names.len() {
            let values: Vec<(usize, &Value)> =
                present.iter().filter_map(|&i| Some((i, rows[i].as_ref()?.get(keys + column)?))).collect();
            let Some((_, reference)) = values.first() else { continue };
            let reference = normalize(reference);
            if values.iter().all(|(_, v)| normalize(v) == reference) {
                continue;
            }
            changed = true;
            let kind = 1 + self.environments.len() + column;
            self.push(key, kind, |t| RowDifference::Changed {
                key: t.key_map(key),
                column: t.column_names[column].clone(),
                values: values.iter().map(|(i, v)| (t.environments[*i].clone(), (*v).clone())).collect(),
            });
        }
        if changed {
            self.rows_changed += 1;
        }
    }

    /// A key found `count` times on one environment.
    pub fn duplicate(&mut self, environment: usize, key: &[Value], count: usize) {
        self.duplicate_keys += 1;
        self.push(key, 1 + environment, |t| RowDifference::DuplicateKey {
            key: t.key_map(key),
            environment: t.environments[environment].clone(),
            count,
        });
    }
}
