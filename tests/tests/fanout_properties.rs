//! Property: whatever environments are asked for and whichever of them fail,
//! every requested environment appears exactly once, in results or in errors,
//! and the response has the same shape.

use dbfleet_core::ErrorKind;
use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::{Fleet, StartOptions};
use dbfleet_tests::config_in;
use proptest::prelude::*;

/// Environment kinds: reachable, down (missing file), disabled, unknown name.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Up,
    Down,
    Disabled,
    Unknown,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Up), Just(Kind::Down), Just(Kind::Disabled), Just(Kind::Unknown)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn every_requested_environment_is_answered_once(
        envs in proptest::collection::btree_map("[a-z][a-z0-9]{0,6}", kind(), 1..7),
        repeat_first in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = String::new();
        for (name, kind) in &envs {
            let settings = match kind {
                Kind::Up => "path = \":memory:\"\n",
                Kind::Down => "path = \"absent.db\"\n",
                Kind::Disabled => "path = \":memory:\"\nenabled = false\n",
                Kind::Unknown => continue,
            };
            toml.push_str(&format!("[environments.{name}]\ndriver = \"sqlite\"\n{settings}"));
        }
        // At least one configured environment, so that the file is valid.
        toml.push_str("[environments.zzz_anchor]\ndriver = \"sqlite\"\npath = \":memory:\"\n");
        let config = config_in(dir.path(), &toml, &[]);
        let mut requested: Vec<String> = envs.keys().cloned().collect();
        if repeat_first {
            requested.push(requested[0].clone());
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = runtime.block_on(async {
            let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..Default::default() }).unwrap();
            fleet.wait_ready().await;
            let request = QueryRequest { sql: "SELECT 1 AS one".into(), ..Default::default() };
            let outcome = fleet.query_many(Some(&requested), &request).await;
            fleet.shutdown().await;
            outcome
        });
        prop_assert_eq!(outcome.summary.requested, envs.len());
        prop_assert_eq!(outcome.summary.environments, envs.keys().cloned().collect::<Vec<_>>());
        prop_assert_eq!(outcome.summary.succeeded + outcome.summary.failed, envs.len());
        for (name, kind) in &envs {
            let in_results = outcome.results.contains_key(name);
            let error = outcome.errors.get(name);
            prop_assert!(in_results != error.is_some(), "{} must appear exactly once", name);
            let expected = match kind {
                Kind::Up => None,
                Kind::Down => Some(ErrorKind::Connection),
                Kind::Disabled => Some(ErrorKind::DisabledEnvironment),
                Kind::Unknown => Some(ErrorKind::UnknownEnvironment),
            };
            prop_assert_eq!(error.map(|e| e.kind), expected, "{}", name);
            if let Some(error) = error {
                prop_assert_eq!(error.environment.as_deref(), Some(name.as_str()));
            } else {
                prop_assert_eq!(outcome.results[name].rows[0][0].to_text(), "1");
            }
        }
        let succeeded = envs.values().filter(|k| matches!(k, Kind::Up)).count();
        prop_assert_eq!(outcome.summary.succeeded, succeeded);
    }
}
