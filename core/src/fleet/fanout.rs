//! Fan-out: one piece of work on many environments at once.
//!
//! Every environment runs concurrently under its own timeout and row limit,
//! so the call takes about as long as the slowest environment. One failing
//! environment never fails the others: it gets an error entry instead. Every
//! operation across environments — queries, listings, schema comparison —
//! goes through the one loop of [`Fleet::each_observed`].

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::{Environment, Fleet};
use crate::catalog::{TableFilter, TableRef, TableSchema};
use crate::compare::{SchemaComparison, compare_schemas};
use crate::error::DbError;
use crate::result::{MultiResult, QueryRequest, Summary, duration_ms};

/// What one piece of work gave on several environments: results and errors
/// keyed by environment.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
        self.each_observed(&self.fan_out_names(environments), work, |_| {}).await
    }

    /// [`Fleet::each`] on `names`, calling `on_answer` as each environment
    /// answers or fails, in the order they finish (for progress reports).
    async fn each_observed<T, F, Fut>(
        &self,
        names: &[String],
        work: F,
        mut on_answer: impl FnMut(Answered<'_>),
    ) -> PerEnvironment<T>
    where
        F: Fn(Arc<Environment>) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let mut waiting: VecDeque<_> = names
            .iter()
            .map(|name| {
                let work = &work;
                async move {
                    let outcome = async { work(self.environment(Some(name))?).await }.await;
                    (name, outcome)
                }
            })
            .collect();
        // At most `max_parallel` at once: a fan-out over hundreds of
        // environments does not open hundreds of connections together.
        let mut running = FuturesUnordered::new();
        while running.len() < self.max_parallel
            && let Some(next) = waiting.pop_front()
        {
            running.push(next);
        }
        let mut answer = PerEnvironment { results: BTreeMap::new(), errors: BTreeMap::new() };
        while let Some((name, outcome)) = running.next().await {
            if let Some(next) = waiting.pop_front() {
                running.push(next);
            }
            let ok = outcome.is_ok();
            match outcome {
                Ok(value) => {
                    answer.results.insert(name.clone(), value);
                }
                Err(err) => {
                    answer.errors.insert(name.clone(), err.in_env(name));
                }
            }
            let done = answer.results.len() + answer.errors.len();
            on_answer(Answered { environment: name, ok, done, total: names.len() });
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
        on_answer: impl FnMut(Answered<'_>),
    ) -> MultiResult {
        self.query_each_observed(environments, |_| Ok(request.clone()), on_answer).await
    }

    /// Runs a statement on each named environment (each name once, in the
    /// order given), or on every enabled one: the statement `request_for`
    /// gives for that environment (its engine's form of it). An environment
    /// for which it gives an error gets that error entry.
    pub async fn query_each_observed(
        &self,
        environments: Option<&[String]>,
        request_for: impl Fn(&Environment) -> Result<QueryRequest, DbError>,
        on_answer: impl FnMut(Answered<'_>),
    ) -> MultiResult {
        let started = Instant::now();
        let names = self.fan_out_names(environments);
        let request_for = &request_for;
        let PerEnvironment { results, errors } = self
            .each_observed(&names, |env| async move { env.query(&request_for(&env)?).await }, on_answer)
            .await;
        let summary = Summary {
            requested: names.len(),
            succeeded: results.len(),
            failed: errors.len(),
            total_time_ms: duration_ms(started.elapsed()),
            environments: names,
        };
        MultiResult { results, errors, summary }
    }
}

/// A schema comparison across the fleet, with the environments that failed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SchemaReport {
    /// `None` when fewer than two environments could be described.
    pub comparison: Option<SchemaComparison>,
    pub errors: BTreeMap<String, DbError>,
    pub total_time_ms: f64,
}

impl Fleet {
    /// Describes `table` (or every table) on each environment concurrently and
    /// compares the definitions; an environment that fails is reported apart.
    pub async fn compare_schema(&self, environments: Option<&[String]>, table: Option<&str>) -> SchemaReport {
        let started = Instant::now();
        let names = self.fan_out_names(environments);
        let PerEnvironment { mut results, errors } =
            self.each_observed(&names, |env| async move { describe_all(&env, table).await }, |_| {}).await;
        // In the order the environments were asked for.
        let schemas: Vec<(&str, Vec<TableSchema>)> = names
            .iter()
            .filter_map(|name| results.remove(name).map(|tables| (name.as_str(), tables)))
            .collect();
        let comparison = (schemas.len() >= 2).then(|| compare_schemas(&schemas)).transpose().ok().flatten();
        SchemaReport { comparison, errors, total_time_ms: duration_ms(started.elapsed()) }
    }
}

/// One table, or every table and view, described. A table asked for that an
/// environment lacks is simply absent from its list, so the comparison
/// reports it as missing there.
async fn describe_all(env: &Environment, table: Option<&str>) -> Result<Vec<TableSchema>, DbError> {
    let listed = env.list_tables(&TableFilter::default()).await?;
    let mut described = Vec::new();
    for info in listed {
        if table.is_some_and(|t| !t.eq_ignore_ascii_case(&info.name)) {
            continue;
        }
        if described.iter().any(|d: &TableSchema| d.name.eq_ignore_ascii_case(&info.name)) {
            continue;
        }
        described.push(env.describe_table(&TableRef::new(info.schema.clone(), info.name.clone())).await?);
    }
    Ok(described)
}
