//! `GET /ui/estate`: every environment's status and its latency over the
//! last minutes. One sampler serves every open console: it checks the estate
//! every [`PERIOD`] while some console asked within [`IDLE_AFTER`], and
//! stops when none does, so a console left open costs one health check per
//! period whatever the number of pages, and a closed one costs nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use dbfleet_core::fleet::{EnvironmentStatus, Fleet};
use serde_json::json;

use crate::mcp::tokens::Caller;

pub const PERIOD: Duration = Duration::from_secs(10);
const IDLE_AFTER: Duration = Duration::from_secs(60);
/// Five minutes of samples.
const SAMPLES: usize = 30;

pub struct Sampler {
    fleet: Arc<Fleet>,
    state: Mutex<Samples>,
    /// Held by the sampling in progress: a request that finds it taken waits
    /// for that sample instead of starting another.
    sampling: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Samples {
    /// Per environment: (unix time in ms, latency in ms), oldest first.
    history: HashMap<String, VecDeque<(u64, Option<f64>)>>,
    statuses: Vec<EnvironmentStatus>,
    taken: Option<Instant>,
    asked: Option<Instant>,
    running: bool,
}

impl Sampler {
    pub fn new(fleet: Arc<Fleet>) -> Arc<Sampler> {
        Arc::new(Sampler { fleet, state: Mutex::default(), sampling: tokio::sync::Mutex::new(()) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Checks the estate unless a sample younger than a period exists.
    async fn sample(&self) {
        let _sampling = self.sampling.lock().await;
        if self.state().taken.is_some_and(|taken| taken.elapsed() < PERIOD) {
            return;
        }
        let Ok(statuses) = self.fleet.health_check(None).await else { return };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut state = self.state();
        state.history.retain(|name, _| statuses.iter().any(|s| &s.name == name));
        for status in &statuses {
            let samples = state.history.entry(status.name.clone()).or_default();
            if samples.len() == SAMPLES {
                samples.pop_front();
            }
            samples.push_back((now, status.latency_ms));
        }
        state.statuses = statuses;
        state.taken = Some(Instant::now());
    }

    /// Samples every period until no console has asked for a while.
    fn keep_sampling(self: &Arc<Self>) {
        {
            let mut state = self.state();
            state.asked = Some(Instant::now());
            if state.running {
                return;
            }
            state.running = true;
        }
        let sampler = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PERIOD).await;
                {
                    let mut state = sampler.state();
                    if state.asked.is_none_or(|asked| asked.elapsed() > IDLE_AFTER) {
                        state.running = false;
                        return;
                    }
                }
                sampler.sample().await;
            }
        });
    }
}

pub async fn estate(State(sampler): State<Arc<Sampler>>, caller: Option<Extension<Arc<Caller>>>) -> Response {
    sampler.keep_sampling();
    sampler.sample().await;
    let visible = |name: &str| {
        caller.as_ref().is_none_or(|Extension(caller)| {
            caller.environments.as_ref().is_none_or(|names| names.iter().any(|n| n == name))
        })
    };
    let state = sampler.state();
    let environments: Vec<&EnvironmentStatus> = state.statuses.iter().filter(|s| visible(&s.name)).collect();
    let history: HashMap<&str, &VecDeque<(u64, Option<f64>)>> =
        state.history.iter().filter(|(name, _)| visible(name)).map(|(name, s)| (name.as_str(), s)).collect();
    Json(json!({ "environments": environments, "history": history, "period_secs": PERIOD.as_secs() }))
        .into_response()
}
