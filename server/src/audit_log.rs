//! The audit log's sink: one JSON line per record, to stderr or to a file
//! rotated by size (file-rotate).

use std::io::Write;
use std::sync::Mutex;

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
        let mut out = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per line: a rotation happens between lines, never inside one.
        if let Err(err) = out.write_all(&line).and_then(|()| out.flush()) {
            tracing::error!(error = %err, "could not write the audit log");
        }
    }
}

/// Sends the audit records of this process where `config` says.
pub fn install(config: &AuditConfig) -> anyhow::Result<()> {
    let out: Box<dyn Write + Send> = match &config.destination {
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
    };
    if !dbfleet_core::audit::install(Box::new(JsonLines(Mutex::new(out))), config.include_literals) {
        anyhow::bail!("the audit log is already installed");
    }
    Ok(())
}
