//! Property: the environment listing includes every configured environment,
//! enabled or not, in configuration order, each with the status it should have.

use dbfleet_core::fleet::{Fleet, StartOptions, Status};
use dbfleet_tests::config_in;
use proptest::prelude::*;

fn environments() -> impl Strategy<Value = Vec<(String, bool, bool)>> {
    // (name, enabled, reachable)
    proptest::collection::btree_map("[a-z][a-z0-9_-]{0,10}", (any::<bool>(), any::<bool>()), 1..6)
        .prop_map(|map| map.into_iter().map(|(name, (enabled, up))| (name, enabled, up)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn listing_includes_every_environment_with_its_status(envs in environments()) {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = String::new();
        for (name, enabled, reachable) in &envs {
            let path = if *reachable { ":memory:" } else { "absent.db" };
            toml.push_str(&format!(
                "[environments.{name}]\ndriver = \"sqlite\"\npath = \"{path}\"\nenabled = {enabled}\n"
            ));
        }
        let config = config_in(dir.path(), &toml, &[]);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let statuses = runtime.block_on(async {
            let fleet = Fleet::start(&config, StartOptions { reconnect: false, ..StartOptions::default() }).unwrap();
            fleet.wait_ready().await;
            let statuses = fleet.statuses();
            fleet.shutdown().await;
            statuses
        });
        let listed: Vec<&str> = statuses.iter().map(|s| s.name.as_str()).collect();
        let configured: Vec<&str> = config.environments.iter().map(|e| e.name.as_str()).collect();
        prop_assert_eq!(listed, configured);
        for (name, enabled, reachable) in &envs {
            let status = statuses.iter().find(|s| &s.name == name).unwrap();
            let expected = match (enabled, reachable) {
                (false, _) => Status::Disabled,
                (true, true) => Status::Healthy,
                (true, false) => Status::Unhealthy,
            };
            prop_assert_eq!(status.status, expected, "{}", name);
            prop_assert_eq!(status.enabled, *enabled);
            prop_assert_eq!(status.last_error.is_some(), expected == Status::Unhealthy);
        }
    }
}
