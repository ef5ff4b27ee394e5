//! Faults on real servers (PostgreSQL and MariaDB): a server that goes away
//! and comes back, connections the server kills, and pool limits under load.
//! Each test works in a scratch database of its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use dbfleet_core::QueryRequest;
use dbfleet_core::fleet::Status;
use dbfleet_core::{ErrorKind, TableFilter};
use dbfleet_tests::faults::Proxy;
use dbfleet_tests::scratch::{Engine, Scratch};
use dbfleet_tests::services::host_port;
use dbfleet_tests::wait_for_status;

fn select_one() -> QueryRequest {
    QueryRequest { sql: "SELECT 1 AS one".into(), ..Default::default() }
}

async fn server_goes_away_and_comes_back(engine: Engine) {
    let Some(scratch) = Scratch::create(engine).await else { return };
    let mut proxy = Proxy::start(&host_port(&scratch.url)).await;
    let fleet = scratch.fleet(&proxy.url(&scratch.url), "connect_timeout_secs = 2").await;
    let db = fleet.environment(Some("db")).unwrap();
    let local = fleet.environment(Some("local")).unwrap();
    assert_eq!(db.status(), Status::Healthy);
    db.query(&select_one()).await.unwrap();

    proxy.cut().await;
    let err = db.query(&select_one()).await.unwrap_err();
    assert_eq!((err.kind, err.environment.as_deref()), (ErrorKind::Connection, Some("db")), "{err}");
    assert_eq!(db.status(), Status::Unhealthy);
    let statuses = fleet.statuses();
    assert!(statuses[0].last_error.is_some(), "the error is kept for health reports");
    assert_eq!(statuses[1].status, Status::Healthy, "the other environment is untouched");
    local.query(&select_one()).await.unwrap();

    // Nobody calls `db` now: its own probes notice the server is back.
    proxy.restore().await;
    assert!(
        wait_for_status(&db, Status::Healthy, Duration::from_secs(20)).await,
        "{:?}",
        fleet.statuses()[0]
    );
    assert!(fleet.statuses()[0].last_error.is_none());
    db.query(&select_one()).await.unwrap();
    fleet.shutdown().await;
    scratch.drop().await;
}

async fn killed_connections_are_replaced(engine: Engine) {
    let Some(scratch) = Scratch::create(engine).await else { return };
    let fleet = scratch.fleet(&scratch.url, "max_connections = 3").await;
    let db = fleet.environment(Some("db")).unwrap();
    let sleep = QueryRequest { sql: engine.sleep(0.2), ..Default::default() };
    for outcome in futures::future::join_all((0..3).map(|_| db.query(&sleep))).await {
        outcome.unwrap();
    }
    let sessions = scratch.sessions().await;
    assert!(!sessions.is_empty(), "the pool holds connections");
    for session in &sessions {
        scratch.admin_run(&engine.kill_sql(session)).await;
    }
    for _ in 0..5 {
        db.query(&select_one()).await.unwrap_or_else(|e| panic!("after the server killed its sessions: {e}"));
    }
    assert_eq!(db.status(), Status::Healthy);
    fleet.shutdown().await;
    scratch.drop().await;
}

async fn the_pool_limit_bounds_the_sessions_opened(engine: Engine) {
    let Some(scratch) = Scratch::create(engine).await else { return };
    let fleet = scratch.fleet(&scratch.url, "max_connections = 2\nconnect_timeout_secs = 20").await;
    let db = fleet.environment(Some("db")).unwrap();
    let most = AtomicI64::new(0);
    let done = std::sync::atomic::AtomicBool::new(false);
    let sleep = QueryRequest { sql: engine.sleep(0.3), ..Default::default() };
    let load = async {
        let outcomes = futures::future::join_all((0..8).map(|_| db.query(&sleep))).await;
        done.store(true, Ordering::Release);
        outcomes
    };
    let watch = async {
        while !done.load(Ordering::Acquire) {
            most.fetch_max(scratch.sessions().await.len() as i64, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    };
    let (outcomes, ()) = tokio::join!(load, watch);
    for outcome in outcomes {
        outcome.expect("queries beyond the limit wait for a connection");
    }
    assert_eq!(most.load(Ordering::Relaxed), 2, "at most max_connections sessions, and all of them used");
    assert_eq!(db.pool().unwrap().stats().max, 2);
    fleet.shutdown().await;
    scratch.drop().await;
}

async fn an_exhausted_pool_is_a_timeout_not_an_outage(engine: Engine) {
    let Some(scratch) = Scratch::create(engine).await else { return };
    let fleet = scratch.fleet(&scratch.url, "max_connections = 1\nconnect_timeout_secs = 1").await;
    let db = fleet.environment(Some("db")).unwrap();
    let long = QueryRequest { sql: engine.sleep(3.0), ..Default::default() };
    let (one, all) = (select_one(), TableFilter::default());
    let (long, (waiting, listing, health)) = tokio::join!(db.query(&long), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::join!(db.query(&one), db.list_tables(&all), fleet.health_check(Some("db")))
    });
    long.unwrap();
    for err in [waiting.unwrap_err(), listing.unwrap_err()] {
        assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
        assert!(err.message.contains("busy"), "{err}");
    }
    assert_eq!(health.unwrap()[0].status, Status::Healthy, "a loaded environment is not a lost one");
    assert_eq!(db.status(), Status::Healthy);
    fleet.shutdown().await;
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_exhausted_pool_is_a_timeout_not_an_outage() {
    an_exhausted_pool_is_a_timeout_not_an_outage(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_exhausted_pool_is_a_timeout_not_an_outage() {
    an_exhausted_pool_is_a_timeout_not_an_outage(Engine::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_reported_and_recovers_by_itself() {
    server_goes_away_and_comes_back(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_going_away_is_reported_and_recovers_by_itself() {
    server_goes_away_and_comes_back(Engine::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_killed_by_the_server_are_replaced() {
    killed_connections_are_replaced(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_sessions_killed_by_the_server_are_replaced() {
    killed_connections_are_replaced(Engine::Mariadb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_limit_bounds_the_sessions_opened() {
    the_pool_limit_bounds_the_sessions_opened(Engine::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_pool_limit_bounds_the_sessions_opened() {
    the_pool_limit_bounds_the_sessions_opened(Engine::Mariadb).await;
}

/// With `password_command_refresh_secs`, the pool is renewed with a fresh
/// token before the old one expires: after the credential rotates, the
/// connections the server drops are replaced without a failed call. An
/// environment without it, on the same rotation, fails one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_password_command_refresh_renews_the_pool_before_a_token_expires() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let user = format!("dbfleet_refresh_{}", dbfleet_tests::unique());
    scratch.admin_run(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'token-one'")).await;
    scratch.admin_run(&format!("GRANT SELECT ON {}.* TO '{user}'@'%'", scratch.database)).await;
    let dir = tempfile::tempdir().unwrap();
    let (token, runs) = (dir.path().join("token"), dir.path().join("runs"));
    std::fs::write(&token, "token-one\n").unwrap();
    let url = scratch.url.replacen("root@", &format!("{user}@"), 1);
    let env = |name: &str, refresh: &str| {
        format!(
            "[environments.{name}]\ndriver = \"mysql\"\nurl = \"{url}\"\n{refresh}\n\
             password_command = [\"sh\", \"-c\", \"echo {name} >> '{runs}'; cat '{token}'\"]\n",
            runs = runs.display(),
            token = token.display()
        )
    };
    let toml = env("renewed", "password_command_refresh_secs = 1") + &env("kept", "");
    let fleet = dbfleet_core::Fleet::start(
        &dbfleet_tests::config_in(dir.path(), &toml, &[]),
        dbfleet_tests::scratch::fast_retry(),
    )
    .unwrap();
    fleet.wait_ready().await;
    let (renewed, kept) =
        (fleet.environment(Some("renewed")).unwrap(), fleet.environment(Some("kept")).unwrap());
    renewed.query(&select_one()).await.unwrap();
    kept.query(&select_one()).await.unwrap();

    scratch.admin_run(&format!("ALTER USER '{user}'@'%' IDENTIFIED BY 'token-two'")).await;
    std::fs::write(&token, "token-two\n").unwrap();
    // Two more runs of the renewed environment's command: the first of them
    // began after the rotation, and ended before the second began.
    let renewals = || std::fs::read_to_string(&runs).unwrap().lines().filter(|l| *l == "renewed").count();
    let rotated_at = renewals();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while renewals() < rotated_at + 2 {
        assert!(tokio::time::Instant::now() < deadline, "the pool is renewed every second");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for session in scratch.sessions().await {
        scratch.admin_run(&Engine::Mariadb.kill_sql(&session)).await;
    }
    renewed
        .query(&select_one())
        .await
        .unwrap_or_else(|e| panic!("the renewed pool logs in with the new token: {e}"));
    assert_eq!(renewed.status(), Status::Healthy);
    let err = kept.query(&select_one()).await.expect_err("the old pool logs in with the old token");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    fleet.shutdown().await;
    scratch.admin_run(&format!("DROP USER '{user}'@'%'")).await;
    scratch.drop().await;
}

/// A password from `password_command` on MariaDB (which, unlike the local
/// PostgreSQL's trust authentication, checks passwords): the command runs
/// when the environment connects and again when it reconnects, so that a
/// rotated credential is picked up; its output never shows in errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_password_command_runs_on_every_connection_attempt() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let user = format!("dbfleet_cmd_{}", dbfleet_tests::unique());
    scratch.admin_run(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'token-one'")).await;
    scratch.admin_run(&format!("GRANT SELECT ON {}.* TO '{user}'@'%'", scratch.database)).await;
    let secrets = tempfile::tempdir().unwrap();
    let (token, runs) = (secrets.path().join("token"), secrets.path().join("runs"));
    std::fs::write(&token, "token-one\n").unwrap();
    // A stand-in for a token helper: it counts its runs and prints the token.
    let command = format!(
        "password_command = [\"sh\", \"-c\", \"echo run >> '{}'; cat '{}'\"]\n",
        runs.display(),
        token.display()
    );
    let mut proxy = Proxy::start(&host_port(&scratch.url)).await;
    let url = proxy.url(&scratch.url).replacen("root@", &format!("{user}@"), 1);
    let fleet = scratch.fleet_with(&url, &command, "connect_timeout_secs = 2").await;
    let db = fleet.environment(Some("db")).unwrap();
    assert_eq!(db.status(), Status::Healthy, "{:?}", fleet.statuses()[0]);
    db.query(&select_one()).await.unwrap();
    let count = || std::fs::read_to_string(&runs).unwrap().lines().count();
    assert_eq!(count(), 1);

    // The credential rotates while the server is away: the environment
    // reconnects with the new one, which the command prints by then.
    scratch.admin_run(&format!("ALTER USER '{user}'@'%' IDENTIFIED BY 'token-two'")).await;
    std::fs::write(&token, "token-two\n").unwrap();
    proxy.cut().await;
    assert!(db.query(&select_one()).await.is_err());
    proxy.restore().await;
    assert!(
        wait_for_status(&db, Status::Healthy, Duration::from_secs(20)).await,
        "{:?}",
        fleet.statuses()[0]
    );
    db.query(&select_one()).await.unwrap();
    assert!(count() >= 2, "the command ran again on reconnection ({} runs)", count());

    // A wrong token is an auth failure that names neither it nor the right one.
    std::fs::write(&token, "token-wrong\n").unwrap();
    let report = db.test_connection().await;
    let error = report.error.expect("a wrong password fails");
    assert_eq!(error.kind, ErrorKind::Auth, "{error}");
    assert!(!error.message.contains("token-"), "{error}");
    fleet.shutdown().await;
    scratch.admin_run(&format!("DROP USER '{user}'@'%'")).await;
    scratch.drop().await;
}

/// `[server] max_parallel` bounds how many environments one fan-out works
/// on at once: four environments on one PostgreSQL database, a fan-out of a
/// slow statement, and the server's active sessions watched meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_parallel_bounds_the_environments_a_fan_out_runs_on_at_once() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let active = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active'",
        scratch.database
    );
    for (max_parallel, expected) in [(2, 2), (32, 4)] {
        let environments: String = (0..4)
            .map(|n| format!("[environments.e{n}]\ndriver = \"postgres\"\nurl = \"{}\"\n", scratch.url))
            .collect();
        let toml = format!("[server]\nmax_parallel = {max_parallel}\n{environments}");
        let dir = tempfile::tempdir().unwrap();
        let fleet =
            dbfleet_core::Fleet::start(&dbfleet_tests::config_in(dir.path(), &toml, &[]), Default::default())
                .unwrap();
        fleet.wait_ready().await;
        let most = AtomicI64::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let sleep = QueryRequest { sql: Engine::Postgres.sleep(0.5), ..Default::default() };
        let load = async {
            let outcome = fleet.query_many(None, &sleep).await;
            done.store(true, Ordering::Release);
            outcome
        };
        let watch = async {
            while !done.load(Ordering::Acquire) {
                let rows = scratch.admin_run(&active).await;
                most.fetch_max(rows[0][0].to_text().parse::<i64>().unwrap(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        };
        let (outcome, ()) = tokio::join!(load, watch);
        assert_eq!(outcome.results.len(), 4, "{:?}", outcome.errors);
        assert_eq!(most.load(Ordering::Relaxed), expected, "max_parallel = {max_parallel}");
        fleet.shutdown().await;
    }
    scratch.drop().await;
}

/// `lazy = true`: no connection at start-up (status `idle`), the first call
/// connects; a first call that finds the server away fails like any call to
/// a lost server, and the environment then recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_environment_connects_at_its_first_call() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let mut proxy = Proxy::start(&host_port(&scratch.url)).await;
    let toml = format!(
        "[defaults]\nlazy = true\n[environments.direct]\ndriver = \"mysql\"\nurl = \"{}\"\n\
         [environments.proxied]\ndriver = \"mysql\"\nurl = \"{}\"\n[environments.proxied.pool]\nconnect_timeout_secs = 2\n\
         [environments.eager]\ndriver = \"sqlite\"\npath = \":memory:\"\nlazy = false\n",
        scratch.url,
        proxy.url(&scratch.url)
    );
    let dir = tempfile::tempdir().unwrap();
    let fleet = dbfleet_core::Fleet::start(
        &dbfleet_tests::config_in(dir.path(), &toml, &[]),
        dbfleet_tests::scratch::fast_retry(),
    )
    .unwrap();
    fleet.wait_ready().await;
    let (direct, proxied) =
        (fleet.environment(Some("direct")).unwrap(), fleet.environment(Some("proxied")).unwrap());
    assert_eq!((direct.status(), proxied.status()), (Status::Idle, Status::Idle));
    assert_eq!(fleet.environment(Some("eager")).unwrap().status(), Status::Healthy);
    assert!(scratch.sessions().await.is_empty(), "nothing connected at start-up");

    // Several first calls at once share one first connection.
    let one = select_one();
    let answers = futures::future::join_all((0..4).map(|_| direct.query(&one))).await;
    for answer in answers {
        answer.unwrap();
    }
    assert_eq!(direct.status(), Status::Healthy);
    assert!(!scratch.sessions().await.is_empty());

    proxy.cut().await;
    let err = proxied.query(&select_one()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert_eq!(proxied.status(), Status::Unhealthy);
    proxy.restore().await;
    assert!(
        wait_for_status(&proxied, Status::Healthy, Duration::from_secs(20)).await,
        "{:?}",
        fleet.statuses()
    );
    proxied.query(&select_one()).await.unwrap();
    fleet.shutdown().await;
    scratch.drop().await;
}
