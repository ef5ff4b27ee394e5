//! Checksum bisection: each engine counts and checksums its rows by key
//! range; ranges that agree everywhere are done, ranges that differ are split
//! and checksummed again, down to ranges small enough to fetch and compare
//! row by row.

use std::collections::VecDeque;

use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};

use super::matching::Matcher;
use super::statements::{BucketSum, KeyRange, Side};
use super::tally::Tally;
use super::{DiffProgress, Progress};
use crate::error::DbError;
use crate::value::{LogicalType, Row, Value};

#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// How many parts a differing range is split into.
    pub parts: usize,
    /// Ranges with at most this many rows on every environment are fetched.
    pub leaf_rows: u64,
    /// Ranges examined at once; each runs one statement on every environment.
    pub concurrency: usize,
    /// Take the first level's checksums again at the end.
    pub verify: bool,
}

pub(super) struct Bisected {
    pub row_counts: Vec<u64>,
    pub ranges_checksummed: u64,
    pub ranges_fetched: u64,
    /// Environments whose rows changed while they were compared: a range
    /// held another number of rows than its checksum counted, or (with
    /// `verify`) the first level's checksums changed.
    pub changed: Vec<usize>,
    /// Whether a change is ruled out otherwise: the table was read in one
    /// statement, or `verify` found the first checksums unchanged.
    pub verified: bool,
}

/// Splits deeper than this fetch the range whatever its size: a guard
/// against a range that keeps splitting into itself.
const MAX_DEPTH: u32 = 48;

/// The first level of an integer key cuts the table into ranges of about
/// this many keys (at most [`MAX_FIRST_RANGES`] of them): the ranges that
/// differ are then small, and splitting them hashes few rows again.
const FIRST_RANGE_KEYS: i128 = 65_536;
const MAX_FIRST_RANGES: usize = 1024;

/// A key range to examine, with what is known of it.
struct Job {
    depth: u32,
    range: KeyRange,
    /// For a single integer key: the keys the range spans, `[low, high)`,
    /// split by arithmetic rather than by sampling.
    span: Option<(i128, i128)>,
    /// Rows in the range on each environment, when a checksum counted them.
    counts: Option<Vec<u64>>,
}

impl Job {
    fn most_rows(&self) -> u64 {
        self.counts.as_ref().and_then(|c| c.iter().copied().max()).unwrap_or(0)
    }
}

enum Task {
    Split(Job),
    Fetch(Job),
}

enum Step {
    /// The range split at `bounds`, with each part's counts and sums on
    /// every environment.
    Split { job: Job, bounds: Vec<Vec<Value>>, sums: Vec<Vec<BucketSum>>, parts: Vec<Job> },
    /// The range's rows on every environment.
    Fetched { job: Job, rows: Vec<Vec<Row>> },
}

pub(super) async fn bisect(
    sides: &[Side],
    settings: Settings,
    tally: &mut Tally,
    matcher: &mut Matcher,
    progress: Progress<'_>,
) -> Result<Bisected, DbError> {
    let integer_key = sides.iter().all(|s| s.keys.len() == 1 && s.keys[0].logical_type == LogicalType::Int);
    let span = if integer_key {
        let extents = futures::future::try_join_all(sides.iter().map(Side::key_extent)).await?;
        let mut span: Option<(i128, i128)> = None;
        for (low, high) in extents.into_iter().flatten() {
            let (Some(low), Some(high)) = (as_integer(&low), as_integer(&high)) else { continue };
            span = Some(span.map_or((low, high + 1), |(l, h)| (l.min(low), h.max(high + 1))));
        }
        match span {
            Some(span) => Some(span),
            // No rows anywhere.
            None => {
                return Ok(Bisected {
                    row_counts: vec![0; sides.len()],
                    ranges_checksummed: 0,
                    ranges_fetched: 0,
                    changed: Vec::new(),
                    verified: true,
                });
            }
        }
    } else {
        None
    };
    let mut outcome = Bisected {
        row_counts: vec![0; sides.len()],
        ranges_checksummed: 0,
        ranges_fetched: 0,
        changed: Vec::new(),
        verified: true,
    };
    let mut queue = VecDeque::new();
    let mut done: u64 = 0;
    let first_parts = span.map_or_else(Vec::new, |(low, high)| {
        let parts = usize::try_from((high - low) / FIRST_RANGE_KEYS).unwrap_or(MAX_FIRST_RANGES);
        integer_parts(low, high, parts.clamp(settings.parts, MAX_FIRST_RANGES))
    });
    let first_level = if first_parts.is_empty() {
        let root = Job { depth: 0, range: KeyRange::default(), span, counts: None };
        match split(sides, settings, root).await? {
            Step::Fetched { job: _, rows } => {
                outcome.ranges_fetched += 1;
                outcome.row_counts = rows.iter().map(|r| r.len() as u64).collect();
                matcher.range(tally, rows);
                return Ok(outcome);
            }
            Step::Split { job: _, bounds, sums, parts } => {
                outcome.ranges_checksummed += 1;
                outcome.row_counts = sums.iter().map(|s| s.iter().map(|b| b.rows).sum()).collect();
                for (part, agrees) in parts.into_iter().zip(agreement(&sums, bounds.len() + 1)) {
                    plan(part, agrees, settings, &mut queue, &mut done);
                }
                FirstLevel::Split { bounds, sums }
            }
        }
    } else {
        let ranges: Vec<KeyRange> = first_parts.iter().map(|job| job.range.clone()).collect();
        let sums = check_ranges(sides, settings, &ranges).await?;
        outcome.ranges_checksummed += ranges.len() as u64;
        for (mut part, sums) in first_parts.into_iter().zip(&sums) {
            let counts: Vec<u64> = sums.iter().map(|s| s.first().map_or(0, |b| b.rows)).collect();
            for (total, rows) in outcome.row_counts.iter_mut().zip(&counts) {
                *total += rows;
            }
            part.counts = Some(counts);
            plan(part, agreement(sums, 1)[0], settings, &mut queue, &mut done);
        }
        FirstLevel::Ranges { ranges, sums }
    };
    let total = outcome.row_counts.iter().copied().max().unwrap_or(0);
    report(progress, done, total);
    // Environments where a range held another number of rows than its
    // parent's checksum counted: rows changed, or the engine put them in
    // other ranges than its own checksum did.
    let mut recounted = Vec::new();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < settings.concurrency
            && let Some(task) = queue.pop_front()
        {
            running.push(async move {
                match task {
                    Task::Split(job) => split(sides, settings, job).await,
                    Task::Fetch(job) => fetch(sides, job).await,
                }
            });
        }
        let Some(step) = running.next().await else { break };
        match step? {
            Step::Split { job, bounds, sums, parts } => {
                outcome.ranges_checksummed += 1;
                let counted: Vec<u64> = sums.iter().map(|s| s.iter().map(|b| b.rows).sum()).collect();
                miscounted(&job, &counted, &mut recounted);
                for (part, agrees) in parts.into_iter().zip(agreement(&sums, bounds.len() + 1)) {
                    plan(part, agrees, settings, &mut queue, &mut done);
                }
            }
            Step::Fetched { job, rows } => {
                outcome.ranges_fetched += 1;
                let counted: Vec<u64> = rows.iter().map(|r| r.len() as u64).collect();
                miscounted(&job, &counted, &mut recounted);
                done += job.most_rows().max(rows.iter().map(|r| r.len() as u64).max().unwrap_or(0));
                matcher.range(tally, rows);
            }
        }
        report(progress, done.min(total), total);
    }
    outcome.verified = false;
    if settings.verify {
        let moved = match first_level {
            FirstLevel::Split { bounds, sums } => {
                let range = KeyRange::default();
                let again =
                    futures::future::try_join_all(sides.iter().map(|side| side.checksums(&range, &bounds)))
                        .await?;
                (0..sides.len()).filter(|&i| sorted(&sums[i]) != sorted(&again[i])).collect::<Vec<_>>()
            }
            FirstLevel::Ranges { ranges, sums } => {
                let again = check_ranges(sides, settings, &ranges).await?;
                (0..sides.len()).filter(|&i| sums.iter().zip(&again).any(|(a, b)| a[i] != b[i])).collect()
            }
        };
        for i in moved {
            if !recounted.contains(&i) {
                recounted.push(i);
            }
        }
        outcome.verified = true;
    }
    recounted.sort_unstable();
    outcome.changed = recounted;
    Ok(outcome)
}

/// The first level's checksums, to take again with `verify`.
enum FirstLevel {
    /// One statement per environment, split at sampled keys.
    Split { bounds: Vec<Vec<Value>>, sums: Vec<Vec<BucketSum>> },
    /// One statement per range and environment: `sums[range][environment]`.
    Ranges { ranges: Vec<KeyRange>, sums: Vec<Vec<Vec<BucketSum>>> },
}

/// The first level for a single integer key: the table cut into equal
/// ranges by arithmetic, each checksummed by a statement of its own, several
/// at once: no statement reads the whole table (each stays well within the
/// query timeout), and an engine works on as many ranges at once as the
/// comparison holds connections.
fn integer_parts(low: i128, high: i128, parts: usize) -> Vec<Job> {
    let bounds = integer_bounds(low, high, parts);
    if bounds.is_empty() {
        return Vec::new();
    }
    let edge = |b: &[Value]| as_integer(&b[0]).unwrap_or(low);
    (0..=bounds.len())
        .map(|i| {
            let from = if i == 0 { low } else { edge(&bounds[i - 1]) };
            let to = if i == bounds.len() { high } else { edge(&bounds[i]) };
            Job {
                depth: 1,
                range: KeyRange { low: (i > 0).then(|| bounds[i - 1].clone()), high: bounds.get(i).cloned() },
                span: Some((from, to)),
                counts: None,
            }
        })
        .collect()
}

/// The count and sum of each range on every environment, as one bucket:
/// `[range][environment]`.
async fn check_ranges(
    sides: &[Side],
    settings: Settings,
    ranges: &[KeyRange],
) -> Result<Vec<Vec<Vec<BucketSum>>>, DbError> {
    let mut running = FuturesOrdered::new();
    let mut checked = Vec::with_capacity(ranges.len());
    let mut next = 0;
    loop {
        while running.len() < settings.concurrency && next < ranges.len() {
            running.push_back(check_range(sides, &ranges[next]));
            next += 1;
        }
        match running.next().await {
            Some(sums) => checked.push(sums?),
            None => return Ok(checked),
        }
    }
}

async fn check_range(sides: &[Side], range: &KeyRange) -> Result<Vec<Vec<BucketSum>>, DbError> {
    futures::future::try_join_all(sides.iter().map(|side| side.checksums(range, &[]))).await
}

fn miscounted(job: &Job, counted: &[u64], recounted: &mut Vec<usize>) {
    let Some(expected) = &job.counts else { return };
    for (i, (expected, counted)) in expected.iter().zip(counted).enumerate() {
        if expected != counted && !recounted.contains(&i) {
            recounted.push(i);
        }
    }
}

fn report(progress: Progress<'_>, done: u64, total: u64) {
    progress(DiffProgress {
        rows_compared: done,
        rows_total: Some(total),
        message: format!("{done} of {total} rows compared"),
    });
}

fn sorted(sums: &[BucketSum]) -> Vec<BucketSum> {
    let mut sums = sums.to_vec();
    sums.sort_by_key(|s| s.bucket);
    sums
}

/// Whether each bucket has the same count and sum on every environment.
fn agreement(sums: &[Vec<BucketSum>], buckets: usize) -> Vec<bool> {
    fn of(side: &[BucketSum], bucket: usize) -> Option<(u64, &str)> {
        side.iter().find(|s| s.bucket == bucket).map(|s| (s.rows, s.sum.as_str()))
    }
    (0..buckets)
        .map(|bucket| {
            let first = of(&sums[0], bucket);
            sums[1..].iter().all(|side| of(side, bucket) == first)
        })
        .collect()
}

/// What to do with one part of a split range.
fn plan(part: Job, agrees: bool, settings: Settings, queue: &mut VecDeque<Task>, done: &mut u64) {
    let rows = part.most_rows();
    if agrees {
        *done += rows;
    } else if rows <= settings.leaf_rows || part.span.is_some_and(|(low, high)| high - low <= 1) {
        queue.push_back(Task::Fetch(part));
    } else {
        queue.push_back(Task::Split(part));
    }
}

/// Splits a range into parts and checksums each on every environment, or
/// fetches it when it cannot be split.
async fn split(sides: &[Side], settings: Settings, job: Job) -> Result<Step, DbError> {
    let bounds = match job.span {
        _ if job.depth >= MAX_DEPTH => Vec::new(),
        Some((low, high)) => integer_bounds(low, high, settings.parts),
        None => {
            // Sample where the rows are: the environment with the most.
            let sampler = job
                .counts
                .as_ref()
                .and_then(|counts| (0..counts.len()).max_by_key(|&i| counts[i]))
                .unwrap_or(0);
            let points = sides[sampler].split_points(&job.range, settings.parts).await?;
            distinct(points, sides[0].keys.len())
        }
    };
    if bounds.is_empty() {
        return fetch(sides, job).await;
    }
    let sums =
        futures::future::try_join_all(sides.iter().map(|side| side.checksums(&job.range, &bounds))).await?;
    let mut parts = Vec::with_capacity(bounds.len() + 1);
    for bucket in 0..=bounds.len() {
        let low = if bucket == 0 { job.range.low.clone() } else { Some(bounds[bucket - 1].clone()) };
        let high = if bucket == bounds.len() { job.range.high.clone() } else { Some(bounds[bucket].clone()) };
        let span = job.span.map(|(span_low, span_high)| {
            let edge = |i: usize| bounds.get(i).and_then(|b| as_integer(&b[0]));
            let from = if bucket == 0 { span_low } else { edge(bucket - 1).unwrap_or(span_low) };
            let to = if bucket == bounds.len() { span_high } else { edge(bucket).unwrap_or(span_high) };
            (from, to)
        });
        let counts =
            sums.iter().map(|side| side.iter().find(|s| s.bucket == bucket).map_or(0, |s| s.rows)).collect();
        parts.push(Job { depth: job.depth + 1, range: KeyRange { low, high }, span, counts: Some(counts) });
    }
    Ok(Step::Split { job, bounds, sums, parts })
}

/// Every row of the range on every environment.
async fn fetch(sides: &[Side], job: Job) -> Result<Step, DbError> {
    let range = &job.range;
    let rows = futures::future::try_join_all(sides.iter().map(|side| async move {
        let mut stream = side.rows(range, false).await?;
        let mut rows = Vec::new();
        while let Some(chunk) = stream.next_chunk().await {
            rows.extend(chunk?);
        }
        side.fetched(rows.len());
        Ok::<_, DbError>(rows)
    }))
    .await?;
    Ok(Step::Fetched { job, rows })
}

/// Up to `parts - 1` integers splitting `[low, high)` into equal widths.
fn integer_bounds(low: i128, high: i128, parts: usize) -> Vec<Vec<Value>> {
    let width = high - low;
    if width <= 1 {
        return Vec::new();
    }
    let parts = (parts as i128).min(width);
    let step = (width + parts - 1) / parts;
    (1..parts).map(|i| low + i * step).filter(|&b| b < high).map(|b| vec![integer_value(b)]).collect()
}

fn integer_value(n: i128) -> Value {
    match i64::try_from(n) {
        Ok(n) => Value::Int(n),
        Err(_) => Value::UInt(u64::try_from(n).unwrap_or(u64::MAX)),
    }
}

fn as_integer(value: &Value) -> Option<i128> {
    match value {
        Value::Int(n) => Some(i128::from(*n)),
        Value::UInt(n) => Some(i128::from(*n)),
        Value::Decimal(s) | Value::Text(s) => s.parse().ok(),
        _ => None,
    }
}

/// Split points with repeated keys removed (a key that is not unique can
/// come up twice).
fn distinct(points: Vec<Row>, keys: usize) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(points.len());
    for point in points {
        let point: Vec<Value> = point.into_iter().take(keys).collect();
        let same = out.last().is_some_and(|last| super::keys::key_of(last) == super::keys::key_of(&point));
        if !same {
            out.push(point);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bounds_split_evenly_and_stop_at_single_keys() {
        let bounds: Vec<i64> = integer_bounds(0, 100, 4)
            .into_iter()
            .map(|b| match b[0] {
                Value::Int(n) => n,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(bounds, vec![25, 50, 75]);
        assert_eq!(integer_bounds(7, 8, 32).len(), 0);
        assert_eq!(integer_bounds(7, 10, 32).len(), 2, "three keys, three parts");
        assert_eq!(integer_bounds(-5, 5, 2).len(), 1);
    }
}
