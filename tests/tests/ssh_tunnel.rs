//! SSH tunnels against real OpenSSH servers on loopback ports: PostgreSQL,
//! MariaDB and SQL Server (the TDS test endpoint) reached through a bastion;
//! a jump host named in an OpenSSH client configuration; host keys that are
//! unknown or changed; keys the server refuses, enciphered keys and their
//! passphrases; and a tunnel cut and restored under a live environment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dbfleet_core::fleet::{EnvironmentStatus, Status};
use dbfleet_core::{ErrorKind, Fleet, QueryRequest, StartOptions};
use dbfleet_tests::faults::Proxy;
use dbfleet_tests::scratch::fast_retry;
use dbfleet_tests::sshd::{self, Sshd};
use dbfleet_tests::{config_in, services, sqlserver, wait_for_status};

/// A bastion that lets the tests' user in with `key`, and a known_hosts
/// file that knows it.
struct Bastion {
    dir: tempfile::TempDir,
    key: PathBuf,
    sshd: Sshd,
    known_hosts: PathBuf,
}

impl Bastion {
    fn start() -> Option<Bastion> {
        sshd::available()?;
        let dir = tempfile::tempdir().unwrap();
        let key = sshd::keygen(dir.path(), "client", None);
        let sshd = Sshd::start(dir.path(), "bastion", &[&key]);
        let known_hosts = dir.path().join("known_hosts");
        std::fs::write(&known_hosts, sshd.known_host(sshd.port()) + "\n").unwrap();
        Some(Bastion { dir, key, sshd, known_hosts })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `[environments.ENV.ssh]` through this bastion, with `extra` keys
    /// (which may replace the defaults given here).
    fn ssh(&self, env: &str, extra: &[(&str, String)]) -> String {
        ssh_table(env, self.sshd.port(), &self.key, &self.known_hosts, extra)
    }
}

fn ssh_table(env: &str, port: u16, key: &Path, known_hosts: &Path, extra: &[(&str, String)]) -> String {
    let mut keys = vec![
        ("host", "\"127.0.0.1\"".to_owned()),
        ("port", port.to_string()),
        ("user", format!("\"{}\"", sshd::user())),
        ("key_file", format!("\"{}\"", key.display())),
        ("known_hosts_file", format!("\"{}\"", known_hosts.display())),
        ("config_file", "\"none\"".to_owned()),
        ("agent", "false".to_owned()),
    ];
    for (key, value) in extra {
        keys.retain(|(k, _)| k != key);
        if !value.is_empty() {
            keys.push((key, value.clone()));
        }
    }
    let lines: Vec<String> = keys.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("[environments.{env}.ssh]\n{}\n", lines.join("\n"))
}

fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

async fn start(dir: &Path, toml: &str, vars: &[(&str, &str)], options: StartOptions) -> Arc<Fleet> {
    let fleet = Fleet::start(&config_in(dir, toml, vars), options).unwrap();
    fleet.wait_ready().await;
    fleet
}

fn once() -> StartOptions {
    StartOptions { reconnect: false, ..Default::default() }
}

fn select_one() -> QueryRequest {
    QueryRequest { sql: "SELECT 1 AS one".into(), ..Default::default() }
}

fn status<'a>(statuses: &'a [EnvironmentStatus], name: &str) -> &'a EnvironmentStatus {
    statuses.iter().find(|s| s.name == name).unwrap()
}

/// The code and message of the environment's last error.
fn last_error(statuses: &[EnvironmentStatus], name: &str) -> (String, String) {
    let status = status(statuses, name);
    let err = status.last_error.as_ref().unwrap_or_else(|| panic!("{name} has no error: {status:?}"));
    (err.code.clone().unwrap_or_default(), err.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_mariadb_and_sql_server_answer_through_a_bastion() {
    let Some(bastion) = Bastion::start() else { return };
    let (Some(pg), Some(maria), Some(mssql)) =
        (services::postgres_url(), services::mysql_url(), sqlserver::sqlserver())
    else {
        return;
    };
    let toml = format!(
        "[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\n{}\n\
         [environments.maria]\ndriver = \"mysql\"\nurl = \"{maria}\"\n{}\n\
         [environments.mssql]\ndriver = \"sqlserver\"\n{}{}",
        bastion.ssh("pg", &[]),
        bastion.ssh("maria", &[]),
        mssql.settings("master"),
        bastion.ssh("mssql", &[]),
    );
    let fleet = start(bastion.path(), &toml, &[], once()).await;
    for env in ["pg", "maria", "mssql"] {
        let result = fleet.environment(Some(env)).unwrap().query(&select_one()).await;
        assert_eq!(result.unwrap_or_else(|e| panic!("{env}: {e}")).rows.len(), 1);
    }
    let statuses = fleet.health_check(None).await.unwrap();
    let user = sshd::user();
    for (env, server) in [("pg", services::host_port(&pg)), ("maria", services::host_port(&maria))] {
        let status = status(&statuses, env);
        assert_eq!(status.status, Status::Healthy, "{status:?}");
        assert!(status.target.starts_with(&server), "the target is the database server: {status:?}");
        let tunnel = status.tunnel.as_ref().expect("a tunnel status");
        assert_eq!(tunnel.route, format!("{user}@127.0.0.1:{} -> {server}", bastion.sshd.port()));
        assert!(tunnel.connected);
        assert_eq!(tunnel.sessions_opened, 1);
        assert!(tunnel.connections_forwarded >= 1, "the pool connected through the tunnel: {tunnel:?}");
    }
    assert!(status(&statuses, "mssql").tunnel.as_ref().unwrap().connections_forwarded >= 1);

    // test_connection opens a tunnel of its own, and fails as a tunnel
    // fails once the bastion is gone.
    let pg_env = fleet.environment(Some("pg")).unwrap();
    let report = pg_env.test_connection().await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.tunnel.as_ref().map(|t| t.sessions_opened), Some(1));
    drop(bastion.sshd);
    let report = pg_env.test_connection().await;
    assert_eq!(report.failure_class, Some("ssh"), "{report:?}");
    let err = report.error.unwrap();
    assert_eq!((err.kind, err.code.as_deref()), (ErrorKind::Connection, Some("ssh_unreachable")), "{err}");
    assert!(err.message.contains(&format!("127.0.0.1:{}", err_port(&report.tunnel))), "{err}");
    fleet.shutdown().await;
}

/// The SSH port a tunnel status's route starts with.
fn err_port(tunnel: &Option<dbfleet_core::ssh::TunnelStatus>) -> String {
    let route = &tunnel.as_ref().expect("a tunnel status").route;
    let first = route.split(" -> ").next().unwrap();
    first.rsplit_once(':').unwrap().1.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jump_host_from_the_openssh_configuration_is_crossed_on_the_way() {
    let Some(bastion) = Bastion::start() else { return };
    let Some(pg) = services::postgres_url() else { return };
    let jump = Sshd::start(bastion.path(), "jump", &[&bastion.key]);
    // The jump host is reached through a counting proxy: proof that the way
    // to the bastion goes through it.
    let proxy = Proxy::start(&jump.address()).await;
    let known_hosts = bastion.path().join("known_hosts_two");
    std::fs::write(
        &known_hosts,
        format!("{}\n{}\n", jump.known_host(proxy.port()), bastion.sshd.known_host(bastion.sshd.port())),
    )
    .unwrap();
    let user = sshd::user();
    let openssh = bastion.path().join("ssh_config");
    std::fs::write(
        &openssh,
        format!(
            "Host db-bastion\n  HostName 127.0.0.1\n  Port {bastion_port}\n  User {user}\n  IdentityFile {key}\n  \
             ProxyJump gateway\n\nHost gateway\n  HostName 127.0.0.1\n  Port {jump_port}\n  User {user}\n  \
             IdentityFile {key}\n",
            bastion_port = bastion.sshd.port(),
            jump_port = proxy.port(),
            key = bastion.key.display(),
        ),
    )
    .unwrap();
    let ssh = format!(
        "[environments.pg.ssh]\nhost = \"db-bastion\"\nconfig_file = {}\nknown_hosts_file = {}\nagent = false\n",
        quoted(&openssh),
        quoted(&known_hosts)
    );
    let toml = format!("[environments.pg]\ndriver = \"postgres\"\nurl = \"{pg}\"\n{ssh}");
    let fleet = start(bastion.path(), &toml, &[], once()).await;
    let env = fleet.environment(Some("pg")).unwrap();
    env.query(&select_one()).await.unwrap();
    let statuses = fleet.statuses();
    let tunnel = status(&statuses, "pg").tunnel.clone().unwrap();
    assert_eq!(
        tunnel.route,
        format!(
            "{user}@127.0.0.1:{} -> {user}@127.0.0.1:{} -> {}",
            proxy.port(),
            bastion.sshd.port(),
            services::host_port(&pg)
        )
    );
    assert_eq!(proxy.connections(), 1, "one SSH session to the jump host carries the bastion's");

    // The jump host does not know the bastion's key as recorded: refused at
    // the second hop, named as such.
    std::fs::write(&known_hosts, format!("{}\n", jump.known_host(proxy.port()))).unwrap();
    let report = env.test_connection().await;
    let err = report.error.expect("refused");
    assert_eq!(err.code.as_deref(), Some("ssh_host_key"), "{err}");
    assert!(err.message.contains(&format!("[127.0.0.1]:{}", bastion.sshd.port())), "{err}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_keys_are_checked_against_the_known_hosts() {
    let Some(bastion) = Bastion::start() else { return };
    let Some(pg) = services::postgres_url() else { return };
    let port = bastion.sshd.port();
    let impostor = sshd::keygen(bastion.path(), "impostor", None);
    let changed = bastion.path().join("known_hosts_changed");
    let impostor_line = std::fs::read_to_string(impostor.with_extension("pub")).unwrap();
    std::fs::write(&changed, format!("[127.0.0.1]:{port} {impostor_line}")).unwrap();
    let empty = bastion.path().join("known_hosts_empty");
    std::fs::write(&empty, "").unwrap();
    let env = |name: &str, known: &Path, strict: &str| {
        format!(
            "[environments.{name}]\ndriver = \"postgres\"\nurl = \"{pg}\"\n{}\n",
            bastion.ssh(
                name,
                &[("known_hosts_file", quoted(known)), ("strict_host_key_checking", strict.into())]
            )
        )
    };
    let toml = [
        env("changed", &changed, ""),
        env("unknown", &empty, ""),
        env("lenient", &empty, "false"),
        env("changed_lenient", &changed, "false"),
    ]
    .concat();
    let fleet = start(bastion.path(), &toml, &[], once()).await;
    let statuses = fleet.statuses();
    let fingerprint = sshd::fingerprint(bastion.sshd.host_key());
    for name in ["changed", "unknown", "changed_lenient"] {
        let (code, message) = last_error(&statuses, name);
        assert_eq!(code, "ssh_host_key", "{name}: {message}");
        assert!(message.contains(&format!("[127.0.0.1]:{port}")), "{name} names the host: {message}");
        assert!(message.contains(&fingerprint), "{name} names the offered key {fingerprint}: {message}");
    }
    assert!(last_error(&statuses, "changed").1.contains("differs from the key recorded"));
    assert!(last_error(&statuses, "unknown").1.contains("is not in"));
    assert_eq!(status(&statuses, "lenient").status, Status::Healthy, "{:?}", status(&statuses, "lenient"));
    let report = fleet.environment(Some("changed")).unwrap().test_connection().await;
    assert_eq!(report.failure_class, Some("ssh"));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_the_server_refuses_and_enciphered_keys() {
    let Some(bastion) = Bastion::start() else { return };
    let Some(pg) = services::postgres_url() else { return };
    let stranger = sshd::keygen(bastion.path(), "stranger", None);
    let locked = sshd::keygen(bastion.path(), "locked", Some("open sesame"));
    let guarded = Sshd::start(bastion.path(), "guarded", &[&bastion.key, &locked]);
    let known_hosts = bastion.path().join("known_hosts_guarded");
    std::fs::write(&known_hosts, guarded.known_host(guarded.port()) + "\n").unwrap();
    let wrong_passphrase = bastion.path().join("wrong_passphrase");
    std::fs::write(&wrong_passphrase, "close sesame\n").unwrap();
    let env = |name: &str, key: &Path, extra: &[(&str, String)]| {
        format!(
            "[environments.{name}]\ndriver = \"postgres\"\nurl = \"{pg}\"\n{}\n",
            ssh_table(name, guarded.port(), key, &known_hosts, extra)
        )
    };
    let toml = [
        env("stranger", &stranger, &[]),
        env("locked", &locked, &[]),
        env("unlocked", &locked, &[("key_passphrase_env", "\"BASTION_PASSPHRASE\"".into())]),
        env("mistyped", &locked, &[("key_passphrase_file", quoted(&wrong_passphrase))]),
    ]
    .concat();
    let fleet = start(bastion.path(), &toml, &[("BASTION_PASSPHRASE", "open sesame")], once()).await;
    let statuses = fleet.statuses();
    assert_eq!(status(&statuses, "unlocked").status, Status::Healthy, "{:?}", status(&statuses, "unlocked"));
    for (name, key, says) in [
        ("stranger", &stranger, sshd::fingerprint(&stranger)),
        ("locked", &locked, "encrypted: set key_passphrase_env".to_owned()),
        ("mistyped", &locked, "the passphrase does not decipher it".to_owned()),
    ] {
        let err = status(&statuses, name).last_error.clone().unwrap();
        assert_eq!((err.kind, err.code.as_deref()), (ErrorKind::Auth, Some("ssh_auth")), "{name}: {err}");
        assert!(err.message.contains(&key.display().to_string()), "{name} names the key file: {err}");
        assert!(err.message.contains(&says), "{name}: {err}");
        assert!(!err.message.contains("sesame"), "{name} shows no passphrase: {err}");
    }
    let report = fleet.environment(Some("stranger")).unwrap().test_connection().await;
    assert_eq!(report.failure_class, Some("ssh"));
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_environment_recovers_by_itself_when_its_tunnel_is_cut_and_restored() {
    let Some(bastion) = Bastion::start() else { return };
    let Some(maria) = services::mysql_url() else { return };
    let mut proxy = Proxy::start(&bastion.sshd.address()).await;
    let known_hosts = bastion.path().join("known_hosts_proxy");
    std::fs::write(&known_hosts, bastion.sshd.known_host(proxy.port()) + "\n").unwrap();
    let toml = format!(
        "[environments.db]\ndriver = \"mysql\"\nurl = \"{maria}\"\n[environments.db.pool]\nconnect_timeout_secs = 2\n{}",
        ssh_table("db", proxy.port(), &bastion.key, &known_hosts, &[("keepalive_secs", "1".into())])
    );
    let fleet = start(bastion.path(), &toml, &[], fast_retry()).await;
    let db = fleet.environment(Some("db")).unwrap();
    db.query(&select_one()).await.unwrap();

    proxy.cut().await;
    let err = db.query(&select_one()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    // Its own probes find out what is wrong: the SSH server is unreachable.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let statuses = fleet.statuses();
        let code = status(&statuses, "db").last_error.as_ref().and_then(|e| e.code.clone());
        if code.as_deref() == Some("ssh_unreachable") {
            assert!(!status(&statuses, "db").tunnel.as_ref().unwrap().connected);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", status(&statuses, "db"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    proxy.restore().await;
    assert!(wait_for_status(&db, Status::Healthy, Duration::from_secs(20)).await, "{:?}", fleet.statuses());
    db.query(&select_one()).await.unwrap();
    let statuses = fleet.statuses();
    let tunnel = status(&statuses, "db").tunnel.clone().unwrap();
    assert!(tunnel.connected && tunnel.sessions_opened >= 2, "re-established: {tunnel:?}");
    fleet.shutdown().await;
}
