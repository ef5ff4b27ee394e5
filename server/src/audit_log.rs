//! The audit log's sinks: one JSON line per record, to stderr or to a file
//! rotated by size (file-rotate); and the last records in memory, for the
//! console's Activity page.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use dbfleet_core::audit::{AuditRecord, AuditSink};
use dbfleet_core::config::{AuditConfig, AuditDestination};
use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};

struct JsonLines(Mutex<Box<dyn Write + Send>>);

impl AuditSink for JsonLines {
    fn record(&self, record: &AuditRecord) {
        let Ok(mut line) = serde_json::to_vec(record) else { return };
        line.push(b'\n');
        let mut out = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // One write per line: a rotation happens between lines, never inside one.
        if let Err(err) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::error!(error = %err, "could not write the audit log");
        }
    }
}

/// The last records, newest last, for the console.
pub struct Recent {
    records: Mutex<VecDeque<AuditRecord>>,
    capacity: usize,
}

/// Records the console keeps: a few screens of recent work, a few hundred
/// kilobytes at most.
pub const RECENT_RECORDS: usize = 500;

impl Recent {
    pub fn new(capacity: usize) -> Arc<Recent> {
        Arc::new(Recent { records: Mutex::new(VecDeque::with_capacity(capacity)), capacity })
    }

    /// Newest first.
    pub fn newest_first(&self) -> Vec<AuditRecord> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().cloned().collect()
    }
}

impl AuditSink for Recent {
    fn record(&self, record: &AuditRecord) {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() == self.capacity {
            records.pop_front();
        }
        records.push_back(record.clone());
    }
}

/// Several sinks: the configured log and the console's memory.
struct Tee(Vec<Box<dyn AuditSink>>);

impl AuditSink for Tee {
    fn record(&self, record: &AuditRecord) {
        for sink in &self.0 {
            sink.record(record);
        }
    }
}

struct Shared(Arc<Recent>);

impl AuditSink for Shared {
    fn record(&self, record: &AuditRecord) {
        self.0.record(record);
    }
}

/// Sends the audit records of this process where `config` says, and to
/// `recent` when the console shows them; without either nothing is recorded.
pub fn install(config: Option<&AuditConfig>, recent: Option<Arc<Recent>>) -> anyhow::Result<()> {
    let mut sinks: Vec<Box<dyn AuditSink>> = Vec::new();
    if let Some(config) = config {
        sinks.push(Box::new(JsonLines(Mutex::new(log_destination(config)?))));
    }
    if let Some(recent) = recent {
        sinks.push(Box::new(Shared(recent)));
    }
    if sinks.is_empty() {
        return Ok(());
    }
    let include_literals = config.is_some_and(|config| config.include_literals);
    if !dbfleet_core::audit::install(Box::new(Tee(sinks)), include_literals) {
        anyhow::bail!("the audit log is already installed");
    }
    Ok(())
}

fn log_destination(config: &AuditConfig) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match &config.destination {
        AuditDestination::Stderr => Box::new(std::io::stderr()),
        AuditDestination::File { path, max_bytes, max_files } => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Box::new(FileRotate::new(
                path,
                AppendCount::new(*max_files),
                ContentLimit::BytesSurpassed(usize::try_from(*max_bytes).unwrap_or(usize::MAX)),
                Compression::None,
                None,
            ))
        }
    })
}
