//! The differences found, counted exactly and listed up to a limit.

use crate::compare::{RowDifference, RowMap, normalize};
use crate::value::{Row, Value};

pub(super) struct Tally {
    environments: Vec<String>,
    key_names: Vec<String>,
    column_names: Vec<String>,
    max_listed: usize,
    pub listed: Vec<RowDifference>,
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
            listed: Vec::new(),
            rows_missing: 0,
            rows_changed: 0,
            duplicate_keys: 0,
            total: 0,
        }
    }

    pub fn truncated(&self) -> bool {
        self.total > self.listed.len() as u64
    }

    fn push(&mut self, make: impl FnOnce(&Self) -> RowDifference) {
        self.total += 1;
        if self.listed.len() < self.max_listed {
            let difference = make(self);
            self.listed.push(difference);
        }
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
            self.push(|t| RowDifference::Missing {
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
            self.push(|t| RowDifference::Changed {
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
        self.push(|t| RowDifference::DuplicateKey {
            key: t.key_map(key),
            environment: t.environments[environment].clone(),
            count,
        });
    }
}
