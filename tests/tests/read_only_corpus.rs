//! Read-only environments against an attacker: statements that tried to
//! write, lock, read files, switch read-only or timeouts off, or leave state
//! behind through dbfleet or through other MCP database servers, run on real
//! PostgreSQL and MariaDB servers. Each case is refused, or runs and changes
//! nothing; what it aimed at is checked on the server afterwards, from a
//! connection of the test's own.
//!
//! The environments under attack have a pool of one connection, so every
//! call reuses the session the previous call may have tampered with, and
//! they log in as the server's administrator: the guard must hold without
//! help from the login's rights.

use std::sync::Arc;
use std::time::Duration;

use dbfleet_core::fleet::{Environment, Fleet};
use dbfleet_core::{DbError, ErrorKind, Query, collect_limited};
use dbfleet_core::{QueryRequest, QueryResult};
use dbfleet_tests::pgbouncer::PgBouncer;
use dbfleet_tests::scratch::{Engine, Scratch};
use dbfleet_tests::services::host_port;
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

async fn call(env: &Environment, sql: &str) -> Result<QueryResult, DbError> {
    env.query(&QueryRequest { sql: sql.into(), ..Default::default() }).await
}

async fn refused(env: &Environment, sql: &str) {
    match call(env, sql).await {
        Err(err) if err.kind == ErrorKind::ReadOnly || err.kind == ErrorKind::InvalidArgument => {}
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

/// Runs on the engine and must fail there, not in dbfleet's classifier.
async fn stopped_by_the_engine(env: &Environment, sql: &str, kind: ErrorKind) {
    match call(env, sql).await {
        Err(err) if err.kind == kind && !err.message.starts_with("environment is read-only") => {}
        other => panic!("{sql}: expected the engine to stop it with {kind:?}, got {other:?}"),
    }
}

async fn answers(env: &Environment, sql: &str) -> QueryResult {
    call(env, sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// The read-only environment under attack, with one connection.
async fn target(scratch: &Scratch, query_timeout_secs: u64) -> (Arc<Fleet>, Arc<Environment>) {
    let timeout = format!("query_timeout_secs = {query_timeout_secs}");
    let fleet = scratch.fleet_with(&scratch.url, &timeout, "max_connections = 1").await;
    let env = fleet.environment(Some("db")).unwrap();
    (fleet, env)
}

/// Gives up on `sql` on `env` after half a second, then checks, from the
/// admin connection, that the server stops running it (text starting with
/// `started`) within 5 s.
async fn abandoned_statement_stops(scratch: &Scratch, env: &Environment, sql: &str, started: &str) {
    let abandoned = tokio::time::timeout(Duration::from_millis(500), call(env, sql)).await;
    assert!(abandoned.is_err(), "{sql} was still running");
    let watch = match scratch.engine {
        Engine::Postgres => format!(
            "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' AND query LIKE '{started}%'",
            scratch.database
        ),
        Engine::Mariadb => format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{}' AND INFO LIKE '{started}%'",
            scratch.database
        ),
    };
    let mut running = Vec::new();
    for _ in 0..50 {
        running = scratch.admin_run(&watch).await;
        if running.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql} still runs on the server after it was abandoned: {running:?}");
}

const POSTGRES_SETUP: &[&str] = &[
    "CREATE TABLE t (id int PRIMARY KEY, v text)",
    "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    "CREATE SEQUENCE s",
    "CREATE FUNCTION purge() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; RETURN 1; END $$",
    "CREATE FUNCTION rw() RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
     PERFORM set_config('default_transaction_read_only', 'off', false); RETURN 'rw'; END $$",
    "CREATE FUNCTION lift() RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
     PERFORM set_config('statement_timeout', '0', false); RETURN 'lifted'; END $$",
    "CREATE FUNCTION take_lock() RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
     PERFORM pg_advisory_lock(42); RETURN 'locked'; END $$",
    "CREATE FUNCTION slow(secs float) RETURNS text LANGUAGE plpgsql AS $$ BEGIN \
     PERFORM set_config('client_connection_check_interval', '0', false); PERFORM pg_sleep(secs); \
     RETURN 'slept'; END $$",
];

/// Refused before they reach PostgreSQL: writes in every disguise, and
/// functions with side effects however they are spelled or called.
const POSTGRES_REFUSED: &[&str] = &[
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT pg_catalog.set_config('statement_timeout', '0', false)",
    "SELECT \"set_config\"('transaction_read_only', 'off', true)",
    "SELECT SET_CONFIG('work_mem', '1GB', false)",
    r#"SELECT U&"pg_terminate\005fbackend"(pg_backend_pid())"#,
    r#"SELECT U&"set\005fconfig"('default_transaction_read_only', 'off', false)"#,
    "SELECT lo_from_bytea(0, 'x'::bytea)",
    "SELECT lo_create(0)",
    "SELECT lo_import('/etc/hostname')",
    "SELECT pg_advisory_lock(42)",
    "SELECT * FROM pg_advisory_lock(42)",
    "SELECT pg_try_advisory_xact_lock(42)",
    "SELECT nextval('s')",
    "SELECT setval('s', 100)",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "SELECT pg_cancel_backend(1)",
    "SELECT pg_reload_conf()",
    "SELECT pg_switch_wal()",
    "SELECT pg_read_file('/etc/hostname')",
    "SELECT * FROM pg_read_file('/etc/hostname')",
    "SELECT pg_ls_dir('.')",
    "SELECT pg_notify('channel', 'x')",
    "SELECT query_to_xml('DELETE FROM t', true, true, '')",
    "SELECT dblink_exec('dbname=postgres', 'DROP TABLE t')",
    "SELECT * FROM (SELECT pg_advisory_lock(1)) AS x",
    "SELECT id FROM t WHERE id = (SELECT nextval('s'))",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "EXPLAIN ANALYZE DELETE FROM t",
    "SELECT * INTO t2 FROM t",
    "SELECT * FROM t FOR UPDATE",
    "COPY t TO PROGRAM 'touch /tmp/dbfleet-pwned'",
    "COPY t TO '/tmp/dbfleet-pwned'",
    "SELECT 1; COMMIT; DROP TABLE t",
    "COMMIT; DROP TABLE t",
    "END",
    "ROLLBACK",
    "SET default_transaction_read_only = off",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET TRANSACTION READ WRITE",
    "RESET ALL",
    "LISTEN channel",
    "CREATE TEMP TABLE probe (id int)",
    "/* x */ UPDATE t SET v = 'x'",
    "-- x\nDELETE FROM t",
    "PREPARE p AS DELETE FROM t",
    "DO $$ BEGIN DELETE FROM t; END $$",
    "CALL purge()",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_cannot_be_written_unlocked_or_outlived() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    for sql in POSTGRES_SETUP {
        owner.execute(*sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let (fleet, db) = target(&scratch, 2).await;
    for sql in POSTGRES_REFUSED {
        refused(&db, sql).await;
    }

    // What the classifier cannot see, the engine stops: a function that
    // writes, even after another one switched the session to read-write.
    stopped_by_the_engine(&db, "SELECT purge()", ErrorKind::ReadOnly).await;
    assert_eq!(answers(&db, "SELECT rw()").await.rows[0][0].to_text(), "rw");
    stopped_by_the_engine(&db, "SELECT purge()", ErrorKind::ReadOnly).await;
    let setting = answers(&db, "SELECT current_setting('default_transaction_read_only')").await;
    assert_eq!(setting.rows[0][0].to_text(), "on", "the session is read-only again");

    // A timeout switched off by one call holds for the next.
    answers(&db, "SELECT lift()").await;
    stopped_by_the_engine(&db, "SELECT pg_sleep(5)", ErrorKind::Timeout).await;
    assert_eq!(answers(&db, "SELECT current_setting('statement_timeout')").await.rows[0][0].to_text(), "2s");

    // A lock a call took is gone once the call is over.
    answers(&db, "SELECT take_lock()").await;
    answers(&db, "SELECT 1").await;
    let locks: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(locks, 0, "no advisory lock outlives its call");

    // A call given up on stops on the server, long before its timeout,
    // although the statement turned off the server's own check for vanished
    // clients.
    let (fleet_long, db_long) = target(&scratch, 60).await;
    abandoned_statement_stops(&scratch, &db_long, "SELECT slow(30)", "SELECT slow").await;
    answers(&db_long, "SELECT 1").await;
    fleet_long.shutdown().await;
    answers(&db, "SELECT 1").await;

    // And nothing changed.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut owner).await.unwrap();
    assert_eq!(rows, 3);
    let called: bool = sqlx::query_scalar("SELECT is_called FROM s").fetch_one(&mut owner).await.unwrap();
    assert!(!called, "the sequence never advanced");
    let objects: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_largeobject_metadata")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(objects, 0, "no large object was created");
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname IN ('t2', 'probe')")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    assert_eq!(tables, 0);
    assert!(!std::path::Path::new("/tmp/dbfleet-pwned").exists());

    owner.close().await.unwrap();
    fleet.shutdown().await;
    scratch.drop().await;
}

const MARIADB_SETUP: &[&str] = &[
    "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
    "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    "CREATE SEQUENCE s",
    "CREATE FUNCTION purge_all() RETURNS INT MODIFIES SQL DATA BEGIN DELETE FROM t; RETURN 1; END",
    "CREATE FUNCTION rw() RETURNS INT BEGIN SET SESSION TRANSACTION READ WRITE; RETURN 1; END",
    "CREATE FUNCTION lift() RETURNS INT BEGIN SET SESSION max_statement_time = 0; RETURN 1; END",
    "CREATE FUNCTION take_lock() RETURNS INT BEGIN RETURN GET_LOCK('dbfleet_corpus', 0); END",
];

/// Refused before they reach MariaDB, executable comments included.
const MARIADB_REFUSED: &[&str] = &[
    "/*M! SET STATEMENT tx_read_only=0 FOR DELETE FROM t WHERE id IN */ (SELECT 2)",
    "/*M! SET @@session.tx_read_only = */ (SELECT 0)",
    "/*M!100000 DELETE FROM t WHERE id = */ (SELECT 1)",
    "SELECT 1 /*M! INTO OUTFILE '/tmp/dbfleet-pwned' */",
    "SELECT 1 /*!50000 INTO OUTFILE '/tmp/dbfleet-pwned' */",
    "/*!DELETE FROM t WHERE id = */ (SELECT 1)",
    "SELECT * FROM t INTO OUTFILE '/tmp/dbfleet-pwned'",
    "SELECT * FROM t INTO DUMPFILE '/tmp/dbfleet-pwned'",
    "SELECT v FROM t INTO @x",
    "SELECT GET_LOCK('dbfleet_corpus', 0)",
    "SELECT get_lock('dbfleet_corpus', 0)",
    "SELECT `GET_LOCK`('dbfleet_corpus', 0)",
    "SELECT 1 --0 + GET_LOCK('dbfleet_corpus', 0)",
    "SELECT RELEASE_ALL_LOCKS()",
    "SELECT LOAD_FILE('/etc/hostname')",
    "SELECT NEXTVAL(s)",
    "SELECT SETVAL(s, 100)",
    "SELECT * FROM t FOR UPDATE",
    "SELECT * FROM t LOCK IN SHARE MODE",
    "SET SESSION TRANSACTION READ WRITE",
    "SET STATEMENT tx_read_only = 0 FOR DELETE FROM t",
    "SET @@session.tx_read_only = 0",
    "SET SESSION max_statement_time = 0",
    "START TRANSACTION READ WRITE",
    "COMMIT",
    "SELECT 1; DELETE FROM t",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "LOAD DATA INFILE '/etc/hostname' INTO TABLE t",
    "CREATE TEMPORARY TABLE probe (id INT)",
    "DO GET_LOCK('dbfleet_corpus', 0)",
    "LOCK TABLES t WRITE",
    "HANDLER t OPEN",
    "CALL purge_all()",
    "KILL 1",
    "FLUSH TABLES",
];

/// A read-only call on PostgreSQL sends its transaction in the statement's
/// own pipeline. Straight to the pool, past the classifier: the transaction
/// has taken its first snapshot before the statement runs, so the statement
/// cannot turn it read-write, and a write fails there; a statement whose
/// transaction could not open does not run; sessions the server ended while
/// they sat in the pool are replaced without the caller seeing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pipelined_read_only_transaction_holds() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    owner.execute("CREATE TABLE IF NOT EXISTS kept (id int)").await.unwrap();
    let fleet = scratch.fleet(&scratch.url, "max_connections = 2").await;
    let pool = fleet.environment(Some("db")).unwrap().pool().unwrap();
    let run = async |sql: &str| pool.execute(&Query::new(sql)).await;

    // Only a transaction with a snapshot refuses this with this message.
    let err = run("SET TRANSACTION READ WRITE").await.unwrap_err();
    assert!(err.message.contains("must be set before any query"), "{err}");
    let err = run("INSERT INTO kept VALUES (1)").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{err}");
    // Sessions go back to the pool reset, and still check for a vanished
    // client (PostgreSQL 14 and later).
    for _ in 0..3 {
        let rows = collect_limited(pool.query(&Query::new("SELECT current_setting('server_version_num')::int >= 140000, current_setting('client_connection_check_interval')")).await.unwrap(), 10).await.unwrap();
        if rows.rows[0][0] == dbfleet_core::Value::Bool(true) {
            assert_eq!(rows.rows[0][1].to_text(), "1s");
        }
    }
    // A statement that ends the transaction ends the call with it: the next
    // one opens its own.
    run("COMMIT").await.unwrap();
    let err = run("INSERT INTO kept VALUES (1)").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{err}");
    // `SET TRANSACTION READ WRITE` ahead of a write, as one prepared
    // statement cannot hold two; the session then answers as before.
    let err = run("SET TRANSACTION READ WRITE; INSERT INTO kept VALUES (2)").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Query, "{err}");
    let rows = collect_limited(pool.query(&Query::new("SELECT count(*) FROM kept")).await.unwrap(), 10)
        .await
        .unwrap();
    assert_eq!(rows.rows[0][0].to_text(), "0");
    for session in scratch.sessions().await {
        scratch.admin_run(&Engine::Postgres.kill_sql(&session)).await;
    }
    for _ in 0..4 {
        let one = collect_limited(pool.query(&Query::new("SELECT 1")).await.unwrap(), 10).await.unwrap();
        assert_eq!(one.rows[0][0].to_text(), "1");
    }
    // The test's own session was ended too.
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM kept").fetch_one(&mut owner).await.unwrap();
    assert_eq!(written, 0);
    fleet.shutdown().await;
    scratch.drop().await;
}

/// A read-only call on MariaDB sends its transaction in the statement's own
/// write. Straight to the pool, past the classifier: the statement runs
/// inside the read-only transaction, a write fails there, a statement that
/// ends the transaction ends only its own call, and sessions the server
/// ended while they sat in the pool are replaced without the caller seeing
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_pipelined_read_only_transaction_holds() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let mut owner = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    owner.execute("CREATE TABLE kept (id INT)").await.unwrap();
    let fleet = scratch.fleet(&scratch.url, "max_connections = 2").await;
    let pool = fleet.environment(Some("db")).unwrap().pool().unwrap();
    let run = async |sql: &str| pool.execute(&Query::new(sql)).await;
    let value = async |sql: &str| {
        let rows = collect_limited(pool.query(&Query::new(sql)).await.unwrap(), 10).await.unwrap();
        rows.rows[0][0].to_text()
    };

    for _ in 0..3 {
        assert_eq!(value("SELECT @@in_transaction").await, "1", "inside the call's transaction");
        let err = run("INSERT INTO kept VALUES (1)").await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ReadOnly, "{err}");
    }
    run("COMMIT").await.unwrap();
    let err = run("INSERT INTO kept VALUES (1)").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{err}");
    for session in scratch.sessions().await {
        scratch.admin_run(&Engine::Mariadb.kill_sql(&session)).await;
    }
    for _ in 0..4 {
        assert_eq!(value("SELECT @@in_transaction").await, "1");
    }
    // The test's own session was ended too.
    let mut owner = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    let written: i64 = sqlx::query_scalar("SELECT count(*) FROM kept").fetch_one(&mut owner).await.unwrap();
    assert_eq!(written, 0);
    fleet.shutdown().await;
    scratch.drop().await;
}

/// A read-only environment's session goes back to the pool with a lighter
/// reset than a writable one's: a rollback and the release of advisory
/// locks. Straight to the pool, past the classifier, on a pool of one
/// session: whatever a statement did to that session is gone by its next
/// call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_sessions_come_back_as_they_were() {
    postgres_sessions_come_back_as_they_were("read_only = true").await;
}

/// The full reset of a writable environment's session, on the same
/// statements and on what only a writable session can leave: temporary
/// tables, sequence state, an open transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writable_sessions_come_back_as_they_were() {
    postgres_sessions_come_back_as_they_were("read_only = false").await;
}

/// The reset is prepared on the session at its first use, and taken as
/// simple queries when a failed statement left the session's transaction
/// aborted (which refuses to prepare): both are checked, the failing
/// statements coming after statements that left state behind.
async fn postgres_sessions_come_back_as_they_were(settings: &str) {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let fleet = scratch.fleet_with(&scratch.url, settings, "max_connections = 1").await;
    let pool = fleet.environment(Some("db")).unwrap().pool().unwrap();
    let value = async |sql: &str| {
        let rows = collect_limited(pool.query(&Query::new(sql)).await.unwrap(), 10).await.unwrap();
        rows.rows[0][0].to_text()
    };
    let session = value("SELECT pg_backend_pid()").await;
    let checks = [
        "current_user",
        "current_setting('search_path')",
        "current_setting('statement_timeout')",
        "current_setting('work_mem')",
        "current_setting('default_transaction_read_only')",
        "current_setting('client_connection_check_interval', true)",
        "(SELECT count(*) FROM pg_listening_channels())",
        "(SELECT count(*) FROM pg_cursors)",
        "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())",
        "(SELECT count(*) FROM pg_class WHERE relpersistence = 't')",
        "pg_current_xact_id_if_assigned() IS NULL",
    ];
    let state = async || {
        let mut state = Vec::new();
        for check in checks {
            state.push(value(&format!("SELECT {check}")).await);
        }
        state
    };
    let before = state().await;
    for sql in [
        "SET ROLE pg_read_all_settings",
        "SET search_path = nowhere",
        "SET statement_timeout = 0",
        "SELECT set_config('work_mem', '77MB', false)",
        "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        "SET client_connection_check_interval = 0",
        "LISTEN dbfleet_probe",
        "DECLARE held CURSOR WITH HOLD FOR SELECT 1",
        "SELECT pg_advisory_lock(7)",
        "SELECT pg_advisory_lock(8), 1 / 0",
        "CREATE TEMP TABLE probe (id int)",
        "CREATE TEMP SEQUENCE probe_ids",
        "BEGIN",
        "SELECT set_config('work_mem', '78MB', false), 1 / 0",
    ] {
        // Whether PostgreSQL takes each (in a read-only transaction or not)
        // or refuses it, nothing of it may be left.
        let _ = pool.execute(&Query::new(sql)).await;
        assert_eq!(state().await, before, "after {sql}");
    }
    assert_eq!(value("SELECT pg_backend_pid()").await, session, "one session all along");

    // A new session whose first statement fails: its error names it.
    scratch.admin_run(&Engine::Postgres.kill_sql(&session)).await;
    let err = pool.execute(&Query::new("SELECT (pg_backend_pid() || ' is the session')::int")).await;
    let err = err.expect_err("not a number").to_string();
    let failed =
        err.split('"').nth(1).and_then(|quoted| quoted.split(' ').next()).unwrap_or_else(|| panic!("{err}"));
    assert_ne!(failed, session, "a new session after the kill");
    assert_eq!(value("SELECT pg_backend_pid()").await, failed, "the new session kept after its failure");
    fleet.shutdown().await;
    scratch.drop().await;
}

/// The statements a session prepared are gone (straight to the pool, past
/// the classifier, which refuses `DEALLOCATE`): the next call, whose
/// prepared statement the server no longer has, runs read-only on another
/// session instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_call_outlives_its_statement_deallocated() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let fleet = scratch.fleet(&scratch.url, "max_connections = 1").await;
    let pool = fleet.environment(Some("db")).unwrap().pool().unwrap();
    let read_only = async || {
        let rows = collect_limited(
            pool.query(&Query::new("SELECT current_setting('transaction_read_only')")).await?,
            1,
        )
        .await?;
        Ok::<_, DbError>(rows.rows[0][0].to_text())
    };
    assert_eq!(read_only().await.unwrap(), "on");
    pool.execute(&Query::new("DEALLOCATE ALL")).await.unwrap();
    assert_eq!(read_only().await.unwrap(), "on");
    assert_eq!(read_only().await.unwrap(), "on");
    fleet.shutdown().await;
    scratch.drop().await;
}

/// Prepared statements outlive the transaction that prepared them, and a
/// function may prepare one under any name: under the names sqlx gives its
/// own, in place of every statement the session had prepared. The read-only
/// transaction and the reset are not among them (each call parses them
/// anew), so a function that then switches the session to read-write, and
/// one that writes, are still stopped. Straight to the pool, past the
/// classifier, on one session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_transaction_cannot_be_swapped_for_a_prepared_statement() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    for sql in POSTGRES_SETUP {
        owner.execute(*sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    owner
        .execute(
            "CREATE FUNCTION swap() RETURNS int LANGUAGE plpgsql AS $$ DECLARE n text; BEGIN \
             FOR n IN SELECT name FROM pg_prepared_statements LOOP \
             EXECUTE format('DEALLOCATE %I', n); EXECUTE format('PREPARE %I AS SELECT 1', n); \
             END LOOP; RETURN 1; END $$",
        )
        .await
        .unwrap();
    let fleet = scratch.fleet(&scratch.url, "max_connections = 1").await;
    let pool = fleet.environment(Some("db")).unwrap().pool().unwrap();
    let run = async |sql: &str| pool.execute(&Query::new(sql)).await;
    for sql in ["SELECT swap()", "COMMIT", "SELECT swap()", "SELECT rw()", "SELECT swap()"] {
        let _ = run(sql).await;
    }
    let err = run("SELECT purge()").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::ReadOnly, "{err}");
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut owner).await.unwrap();
    assert_eq!(kept, 3);
    fleet.shutdown().await;
    scratch.drop().await;
}

/// A function that runs SQL it builds may deallocate a statement sqlx
/// prepared and prepare its own under the same name: a later call with the
/// same SQL, another caller's, would get the function's answer. Through the
/// classifier, which lets a function call through, on one session: the
/// session is closed when its call ends, and the next call is answered from
/// the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statements_swapped_by_a_function_do_not_answer_later_calls() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    owner
        .execute("CREATE TABLE acct (id int, owner text); INSERT INTO acct VALUES (1, 'alice')")
        .await
        .unwrap();
    owner
        .execute(
            "CREATE FUNCTION swap() RETURNS int LANGUAGE plpgsql AS $$ DECLARE n text; BEGIN \
             FOR n IN SELECT name FROM pg_prepared_statements WHERE statement LIKE '%FROM acct%' LOOP \
             EXECUTE format('DEALLOCATE %I', n); \
             EXECUTE format('PREPARE %I AS SELECT 1 AS id, %L::text AS owner', n, 'mallory'); \
             END LOOP; RETURN 1; END $$",
        )
        .await
        .unwrap();
    for read_only in [true, false] {
        let fleet = scratch
            .fleet_with(&scratch.url, &format!("read_only = {read_only}"), "max_connections = 1")
            .await;
        let db = fleet.environment(Some("db")).unwrap();
        assert_eq!(answers(&db, "SELECT owner FROM acct").await.rows[0][0].to_text(), "alice");
        assert_eq!(answers(&db, "SELECT swap()").await.rows[0][0].to_text(), "1");
        assert_eq!(
            answers(&db, "SELECT owner FROM acct").await.rows[0][0].to_text(),
            "alice",
            "read_only = {read_only}"
        );
        fleet.shutdown().await;
    }
    scratch.drop().await;
}

/// A statement the session prepared reads a table that is altered before it
/// runs again: the server refuses the prepared statement, whose result
/// columns changed, before it runs, and the call is answered from another
/// session with the new columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_call_reads_a_table_altered_since_it_was_prepared() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    owner.execute("CREATE TABLE altered (id int); INSERT INTO altered VALUES (1)").await.unwrap();
    let fleet = scratch.fleet(&scratch.url, "max_connections = 1").await;
    let db = fleet.environment(Some("db")).unwrap();
    assert_eq!(answers(&db, "SELECT * FROM altered").await.columns.len(), 1);
    owner.execute("ALTER TABLE altered ADD COLUMN label text DEFAULT 'new'").await.unwrap();
    let after = answers(&db, "SELECT * FROM altered").await;
    assert_eq!(after.columns.len(), 2);
    assert_eq!(after.rows[0][1].to_text(), "new");
    fleet.shutdown().await;
    scratch.drop().await;
}

/// Behind a connection pooler (PgBouncer, session mode), which announces
/// process ids of its own, the guard holds as well, and a statement given up
/// on is cancelled on the session that runs it: the pooler is found when a
/// connection opens, and calls then ask the server for the session's id.
/// `slow` switches off the server's check for a vanished client, so only
/// the cancel can stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_behind_a_pooler_cancels_the_right_session() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let server = host_port(&scratch.url);
    let (host, port) = server.rsplit_once(':').unwrap();
    let user = scratch.url.split_once("://").and_then(|(_, rest)| rest.split_once(['@', ':'])).unwrap().0;
    let Some(pooler) = PgBouncer::start(host, port.parse().unwrap(), user) else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    for sql in POSTGRES_SETUP {
        owner.execute(*sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let url = scratch.url.replace(&server, &format!("127.0.0.1:{}", pooler.port()));
    let fleet = scratch.fleet_with(&url, "query_timeout_secs = 30", "max_connections = 2").await;
    let db = fleet.environment(Some("db")).unwrap();

    assert_eq!(answers(&db, "SELECT count(*) FROM t").await.rows[0][0].to_text(), "3");
    stopped_by_the_engine(&db, "SELECT purge()", ErrorKind::ReadOnly).await;
    let err = db.pool().unwrap().execute(&Query::new("SET TRANSACTION READ WRITE")).await.unwrap_err();
    assert!(err.message.contains("must be set before any query"), "{err}");
    abandoned_statement_stops(&scratch, &db, "SELECT slow(20) AS bounced", "SELECT slow(20) AS bounced")
        .await;
    assert_eq!(answers(&db, "SELECT count(*) FROM t").await.rows[0][0].to_text(), "3");
    fleet.shutdown().await;
    drop(pooler);
    scratch.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_read_only_cannot_be_written_unlocked_or_outlived() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let mut owner = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    for sql in MARIADB_SETUP {
        owner.execute(*sql).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let (fleet, db) = target(&scratch, 2).await;
    for sql in MARIADB_REFUSED {
        refused(&db, sql).await;
    }

    stopped_by_the_engine(&db, "SELECT purge_all()", ErrorKind::ReadOnly).await;
    answers(&db, "SELECT rw()").await;
    stopped_by_the_engine(&db, "SELECT purge_all()", ErrorKind::ReadOnly).await;

    answers(&db, "SELECT lift()").await;
    stopped_by_the_engine(&db, "SELECT SLEEP(5)", ErrorKind::Timeout).await;

    assert_eq!(answers(&db, "SELECT take_lock()").await.rows[0][0].to_text(), "1");
    answers(&db, "SELECT 1").await;
    let free: i64 =
        sqlx::query_scalar("SELECT IS_FREE_LOCK('dbfleet_corpus')").fetch_one(&mut owner).await.unwrap();
    assert_eq!(free, 1, "no named lock outlives its call");

    // BENCHMARK does not notice a vanished client: only the KILL QUERY
    // dbfleet sends stops it before its timeout.
    let (fleet_long, db_long) = target(&scratch, 60).await;
    abandoned_statement_stops(
        &scratch,
        &db_long,
        "SELECT BENCHMARK(5000000000, MD5('x'))",
        "SELECT BENCHMARK",
    )
    .await;
    answers(&db_long, "SELECT 1").await;
    fleet_long.shutdown().await;

    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut owner).await.unwrap();
    assert_eq!(rows, 3);
    let next: i64 =
        sqlx::query_scalar("SELECT next_not_cached_value FROM s").fetch_one(&mut owner).await.unwrap();
    assert_eq!(next, 1, "the sequence never advanced");
    assert!(!std::path::Path::new("/tmp/dbfleet-pwned").exists());
    let row = sqlx::query("SELECT @@session.max_statement_time").fetch_one(&mut owner).await.unwrap();
    let _: f64 = row.try_get(0).unwrap();

    owner.close().await.unwrap();
    fleet.shutdown().await;
    scratch.drop().await;
}

/// The warnings of the read-only environment `db` of `fleet`.
fn warnings(fleet: &Fleet) -> Vec<String> {
    fleet.statuses().into_iter().find(|s| s.name == "db").unwrap().warnings
}

/// A read-only environment says when its login could write: the guard
/// holds either way, but the login's rights are the last line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logins_that_could_write_are_reported() {
    let Some(scratch) = Scratch::create(Engine::Postgres).await else { return };
    let mut owner = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    let reader = format!("{}_reader", scratch.database);
    for sql in [
        "CREATE TABLE t (id int PRIMARY KEY)".to_owned(),
        format!("CREATE ROLE {reader} LOGIN"),
        format!("GRANT SELECT ON t TO {reader}"),
    ] {
        owner.execute(AssertSqlSafe(sql.clone())).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let as_admin = scratch.fleet(&scratch.url, "").await;
    let found = warnings(&as_admin);
    assert!(found.len() == 1 && found[0].contains("superuser"), "{found:?}");
    as_admin.shutdown().await;

    let reader_url = scratch.url.replacen("postgres@", &format!("{reader}@"), 1);
    let as_reader = scratch.fleet(&reader_url, "").await;
    assert_eq!(warnings(&as_reader), Vec::<String>::new(), "SELECT only");
    as_reader.shutdown().await;

    owner.execute(AssertSqlSafe(format!("GRANT INSERT ON t TO {reader}"))).await.unwrap();
    let as_writer = scratch.fleet(&reader_url, "").await;
    assert_eq!(
        warnings(&as_writer),
        ["its login may change 1 table(s) (INSERT, UPDATE, DELETE or TRUNCATE)"]
    );
    as_writer.shutdown().await;

    owner.close().await.unwrap();
    scratch.drop().await;
    let mut admin = sqlx::PgConnection::connect(&scratch_admin_url(Engine::Postgres)).await.unwrap();
    admin.execute(AssertSqlSafe(format!("DROP ROLE IF EXISTS {reader}"))).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_logins_that_could_write_are_reported() {
    let Some(scratch) = Scratch::create(Engine::Mariadb).await else { return };
    let mut owner = sqlx::MySqlConnection::connect(&scratch.url).await.unwrap();
    let reader = format!("{}_r", scratch.database);
    for sql in [
        "CREATE TABLE t (id INT PRIMARY KEY)".to_owned(),
        format!("CREATE USER '{reader}'@'%'"),
        format!("CREATE USER '{reader}'@'localhost'"),
        format!("GRANT SELECT ON {}.* TO '{reader}'@'%'", scratch.database),
        format!("GRANT SELECT ON {}.* TO '{reader}'@'localhost'", scratch.database),
    ] {
        owner.execute(AssertSqlSafe(sql.clone())).await.unwrap_or_else(|err| panic!("{sql}: {err}"));
    }
    let as_admin = scratch.fleet(&scratch.url, "").await;
    let found = warnings(&as_admin);
    assert!(found.iter().any(|w| w.contains("ALL PRIVILEGES")), "{found:?}");
    as_admin.shutdown().await;

    let reader_url = scratch.url.replacen("root@", &format!("{reader}@"), 1);
    let as_reader = scratch.fleet(&reader_url, "").await;
    assert_eq!(warnings(&as_reader), Vec::<String>::new(), "SELECT only");
    as_reader.shutdown().await;

    for host in ["%", "localhost"] {
        owner.execute(AssertSqlSafe(format!("DROP USER '{reader}'@'{host}'"))).await.unwrap();
    }
    owner.close().await.unwrap();
    scratch.drop().await;
}

fn scratch_admin_url(engine: Engine) -> String {
    engine.admin_url().expect("the server was reachable a moment ago")
}

/// Refused before they reach SQLite; SQLite also opens the file read-only.
const SQLITE_REFUSED: &[&str] = &[
    "ATTACH DATABASE '/tmp/dbfleet-pwned.db' AS pwned",
    "VACUUM INTO '/tmp/dbfleet-pwned.db'",
    "PRAGMA query_only = 0",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA wal_checkpoint(TRUNCATE)",
    "SELECT load_extension('/tmp/dbfleet-pwned.so')",
    "SELECT writefile('/tmp/dbfleet-pwned', 'x')",
    "WITH x AS (SELECT 1) DELETE FROM t",
    "SELECT 1; DELETE FROM t",
    "INSERT INTO t SELECT * FROM t",
    "REPLACE INTO t VALUES (1, 'z')",
    "CREATE TEMP TABLE probe (id INTEGER)",
];

#[tokio::test]
async fn sqlite_read_only_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("seed.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); \
        INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    )
    .unwrap();
    let writable = "[environments.w]\ndriver = \"sqlite\"\npath = \"db.sqlite\"\nmode = \"create\"\n\
                    init_script = \"seed.sql\"\nread_only = false\n";
    let setup = Fleet::start(
        &dbfleet_tests::config_in(dir.path(), writable, &[]),
        dbfleet_core::fleet::StartOptions { reconnect: false, ..Default::default() },
    )
    .unwrap();
    setup.wait_ready().await;
    setup.shutdown().await;
    let read_only = "[environments.db]\ndriver = \"sqlite\"\npath = \"db.sqlite\"\n\
                     [environments.db.pool]\nmax_connections = 1\n";
    let fleet = Fleet::start(
        &dbfleet_tests::config_in(dir.path(), read_only, &[]),
        dbfleet_core::fleet::StartOptions { reconnect: false, ..Default::default() },
    )
    .unwrap();
    fleet.wait_ready().await;
    let db = fleet.environment(Some("db")).unwrap();
    for sql in SQLITE_REFUSED {
        refused(&db, sql).await;
    }
    assert_eq!(answers(&db, "SELECT count(*) FROM t").await.rows[0][0].to_text(), "2");
    assert_eq!(answers(&db, "PRAGMA query_only").await.rows[0][0].to_text(), "1");
    assert!(!std::path::Path::new("/tmp/dbfleet-pwned.db").exists());
    fleet.shutdown().await;
}

/// SQL Server's refusals are the classifier's, tested here on the TDS
/// endpoint (or a real server): T-SQL needs no `;` between statements, and
/// reaches other servers and the host through functions and procedures.
const SQLSERVER_REFUSED: &[&str] = &[
    "SELECT 1 DELETE FROM t",
    "SELECT 1; DELETE FROM t",
    "SELECT * FROM OPENROWSET(BULK N'C:\\secrets.ini', SINGLE_CLOB) AS x",
    "SELECT * FROM OPENQUERY(linked, 'DELETE FROM customers')",
    "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=x').db.dbo.t",
    "EXEC xp_cmdshell 'dir'",
    "EXEC('DELETE FROM t')",
    "EXEC sp_executesql N'DELETE FROM t'",
    "WITH c AS (SELECT 1 AS x) DELETE FROM t",
    "SELECT * INTO t2 FROM t",
    "BEGIN TRANSACTION",
    "COMMIT",
    "BULK INSERT t FROM 'C:\\data.csv'",
    "WAITFOR DELAY '00:01:00'",
    "SHUTDOWN",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlserver_read_only_refuses_what_reaches_beyond_reading() {
    let Some(server) = dbfleet_tests::sqlserver::sqlserver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let toml = format!("[environments.db]\ndriver = \"sqlserver\"\n{}", server.settings("master"));
    let fleet = Fleet::start(
        &dbfleet_tests::config_in(dir.path(), &toml, &[]),
        dbfleet_core::fleet::StartOptions { reconnect: false, ..Default::default() },
    )
    .unwrap();
    fleet.wait_ready().await;
    let db = fleet.environment(Some("db")).unwrap();
    for sql in SQLSERVER_REFUSED {
        refused(&db, sql).await;
    }
    assert_eq!(answers(&db, "SELECT 7 AS seven").await.rows[0][0].to_text(), "7", "reading still works");
    fleet.shutdown().await;
}
