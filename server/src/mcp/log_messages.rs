//! The MCP logging capability: the server's own events (an environment
//! lost and back, a refused statement or request) sent to each client as
//! `notifications/message`, from the level it chose with `logging/setLevel`
//! (`info` until it chooses).
//!
//! The events are dbfleet's tracing events: a layer of the process's
//! subscriber copies those of dbfleet's crates into a broadcast channel, and
//! each session forwards what passes its level. tracing has no ready layer
//! that hands events to a channel, hence the small one here.
//!
//! rmcp marks MCP logging deprecated (SEP-2577 plans its removal from the
//! specification); clients and the conformance suite still use it.
#![expect(deprecated, reason = "MCP logging is deprecated by SEP-2577, and still what clients use")]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rmcp::RoleServer;
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::service::Peer;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

/// Events kept for a session that is slow to take them; it skips older ones.
const BACKLOG: usize = 256;

/// One event, as clients receive it.
#[derive(Debug, Clone)]
struct LogEvent {
    level: LoggingLevel,
    /// The module that logged it (`dbfleet_core::fleet::health`).
    logger: String,
    /// `message` and the event's other fields (`environment`, `error`).
    data: serde_json::Value,
}

fn channel() -> &'static broadcast::Sender<LogEvent> {
    static EVENTS: OnceLock<broadcast::Sender<LogEvent>> = OnceLock::new();
    EVENTS.get_or_init(|| broadcast::channel(BACKLOG).0)
}

/// The layer that copies dbfleet's events of level info and above into the
/// channel sessions read (whatever the level of the logs on stderr).
pub fn layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer;
    // The hint keeps the process-wide maximum level at info when nothing
    // else asks for more, so that trace-level callsites (a tool call's span,
    // each statement's) are skipped at once.
    Forward.with_filter(
        tracing_subscriber::filter::filter_fn(|metadata| {
            metadata.target().starts_with("dbfleet") && *metadata.level() <= tracing::Level::INFO
        })
        .with_max_level_hint(tracing::Level::INFO),
    )
}

struct Forward;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let sender = channel();
        if sender.receiver_count() == 0 {
            return;
        }
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        let metadata = event.metadata();
        let level = match *metadata.level() {
            tracing::Level::ERROR => LoggingLevel::Error,
            tracing::Level::WARN => LoggingLevel::Warning,
            tracing::Level::INFO => LoggingLevel::Info,
            _ => LoggingLevel::Debug,
        };
        let _ = sender.send(LogEvent {
            level,
            logger: metadata.target().to_owned(),
            data: serde_json::Value::Object(fields.0),
        });
    }
}

struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
}

/// The level one session receives from, as chosen by `logging/setLevel`.
#[derive(Debug)]
pub struct SessionLevel(AtomicU8);

impl Default for SessionLevel {
    fn default() -> Self {
        SessionLevel(AtomicU8::new(rank(LoggingLevel::Info)))
    }
}

impl SessionLevel {
    pub fn set(&self, level: LoggingLevel) {
        self.0.store(rank(level), Ordering::Relaxed);
    }

    fn passes(&self, level: LoggingLevel) -> bool {
        rank(level) >= self.0.load(Ordering::Relaxed)
    }
}

/// RFC 5424 severities, least severe first.
fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

/// A session's events from the moment it opens, kept until the client has
/// initialized it and they can be sent: a call the client makes at once may
/// be handled before the `initialized` notification, and its events must
/// not be lost.
pub struct SessionEvents(Mutex<Option<broadcast::Receiver<LogEvent>>>);

impl SessionEvents {
    pub fn subscribe() -> Self {
        SessionEvents(Mutex::new(Some(channel().subscribe())))
    }
}

/// Sends the session's events that pass its level to its client until the
/// session ends (`ended` is cancelled) or the client is gone. Once per
/// session: a second `initialized` changes nothing.
pub fn forward(
    peer: Peer<RoleServer>,
    level: Arc<SessionLevel>,
    ended: CancellationToken,
    events: &SessionEvents,
) {
    let Some(mut events) = events.0.lock().unwrap_or_else(PoisonError::into_inner).take() else { return };
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                () = ended.cancelled() => return,
                event = events.recv() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !level.passes(event.level) {
                continue;
            }
            let message =
                LoggingMessageNotificationParam::new(event.level, event.data).with_logger(event.logger);
            if peer.notify_logging_message(message).await.is_err() {
                return;
            }
        }
    });
}
