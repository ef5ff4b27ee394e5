//! Fan-out: one statement on many environments at once.
//!
//! Every environment runs concurrently under its own timeout and row limit,
//! so the call takes about as long as the slowest environment. One failing
//! environment never fails the others: it gets an error entry instead.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use crate::compare::{CompareOptions, Comparison, compare};
use crate::error::DbError;
use crate::fleet::{Environment, Fleet, QueryRequest, QueryResult};
use crate::readonly::classify;

/// What one piece of work gave on several environments: results and errors
/// keyed by environment.
#[derive(Debug, Clone, Serialize)]
pub struct PerEnvironment<T> {
    pub results: BTreeMap<String, T>,
    pub errors: BTreeMap<String, DbError>,
}

/// One environment of a fan-out has finished.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub environment: &'a str,
    /// It returned a result (not an error).
    pub ok: bool,
    /// Environments finished so far, this one included, of `total`.
    pub done: usize,
    pub total: usize,
}

/// The outcome of one statement on several environments.
#[derive(Debug, Clone, Serialize)]
pub struct MultiResult {
    pub results: BTreeMap<String, QueryResult>,
    pub errors: BTreeMap<String, DbError>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub requested: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub total_time_ms: f64,
    /// The environments in the order they were asked for.
    pub environments: Vec<String>,
}

impl MultiResult {
    /// Compares the successful results, in the order the environments were
    /// asked for. Rows are also compared by position when the SQL orders them.
    pub fn compare(&self, sql: &str, options: &CompareOptions) -> Result<Comparison, DbError> {
        let results: Vec<(&str, &QueryResult)> = self
            .summary
            .environments
            .iter()
            .filter_map(|name| self.results.get(name).map(|result| (name.as_str(), result)))
            .collect();
        let ordered = classify(sql, &sqlparser::dialect::GenericDialect {}).is_ok_and(|c| c.ordered);
        compare(&results, &CompareOptions { ordered: options.ordered || ordered, ..options.clone() })
    }
}

impl Fleet {
    /// The environments a fan-out runs on: each named one once, in the order
    /// given, or every enabled one when none is named.
    pub(crate) fn fan_out_names(&self, environments: Option<&[String]>) -> Vec<String> {
        match environments {
            Some(names) => {
                let mut unique: Vec<String> = Vec::with_capacity(names.len());
                for name in names {
                    if !unique.contains(name) {
                        unique.push(name.clone());
                    }
                }
                unique
            }
            None => self
                .environments()
                .iter()
                .filter(|env| env.config().enabled)
                .map(|env| env.name().to_owned())
                .collect(),
        }
    }

    /// Runs `work` concurrently on each named environment (each name once),
    /// or on every enabled one when `environments` is `None`; an environment
    /// that is unknown, disabled or down gets an error entry.
    pub async fn each<T, F, Fut>(&self, environments: Option<&[String]>, work: F) -> PerEnvironment<T>
    where
        F: Fn(Arc<Environment>) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let names = self.fan_out_names(environments);
        let outcomes = futures::future::join_all(names.iter().map(|name| async {
            let env = self.environment(Some(name))?;
            work(env).await
        }))
        .await;
        let mut answer = PerEnvironment { results: BTreeMap::new(), errors: BTreeMap::new() };
        for (name, outcome) in names.into_iter().zip(outcomes) {
            match outcome {
                Ok(value) => {
                    answer.results.insert(name, value);
                }
                Err(err) => {
                    let err = err.in_env(&name);
                    answer.errors.insert(name, err);
                }
            }
        }
        answer
    }

    /// Runs `request` on each named environment (each name once, in the order
    /// given), or on every enabled environment when `environments` is `None`.
    pub async fn query_many(&self, environments: Option<&[String]>, request: &QueryRequest) -> MultiResult {
        self.query_many_observed(environments, request, |_| {}).await
    }

    /// [`Fleet::query_many`], calling `on_answer` as each environment
    /// answers or fails, in the order they finish (for progress reports).
    pub async fn query_many_observed(
        &self,
        environments: Option<&[String]>,
        request: &QueryRequest,
        mut on_answer: impl FnMut(Answered<'_>),
    ) -> MultiResult {
        let started = Instant::now();
        let names = self.fan_out_names(environments);
        let mut running: FuturesUnordered<_> = names
            .iter()
            .map(|name| async move {
                let outcome = async { self.environment(Some(name))?.query(request).await }.await;
                (name, outcome)
            })
            .collect();
        let mut results = BTreeMap::new();
        let mut errors = BTreeMap::new();
        while let Some((name, outcome)) = running.next().await {
            let ok = outcome.is_ok();
            match outcome {
                Ok(result) => {
                    results.insert(name.clone(), result);
                }
                Err(err) => {
                    errors.insert(name.clone(), err.in_env(name));
                }
            }
            on_answer(Answered {
                environment: name,
                ok,
                done: results.len() + errors.len(),
                total: names.len(),
            });
        }
        drop(running); // it borrows `names`, which the summary takes
        let summary = Summary {
            requested: names.len(),
            succeeded: results.len(),
            failed: errors.len(),
            total_time_ms: (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0,
            environments: names,
        };
        MultiResult { results, errors, summary }
    }
}
