//! Three `dbfleet serve --transport http` replicas behind a real HAProxy
//! (Debian's `haproxy`) on loopback, with the settings README.md gives:
//! round robin over stateless replicas, and sessions kept on their replica
//! by their `Mcp-Session-Id`. Several clients make a few hundred calls
//! through the proxy while one replica is stopped half-way.
//!
//! When HAProxy is not installed the tests skip loudly, and fail under `CI`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

const TOKEN: &str = "replica-t0ken";
const HAPROXY: &str = "/usr/sbin/haproxy";
const CLIENTS: usize = 6;
const CALLS_PER_CLIENT: usize = 50;
const ITEMS: i64 = 37;

fn haproxy_available() -> bool {
    if Path::new(HAPROXY).exists() {
        return true;
    }
    let message = "HAProxy is needed to test replicas behind a load balancer (Debian package haproxy)";
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Replica {
    process: Process,
    port: u16,
}

impl Replica {
    fn start(config: &Path) -> Replica {
        let port = free_port();
        Replica { process: Process(common::spawn_http(config, port, TOKEN)), port }
    }

    /// SIGTERM, as an orchestrator stops a replica, and waits for it to end
    /// (it drains first: the proxy's checks of `/ready` fail, and the proxy
    /// sends it no new request before it closes).
    async fn stop(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.process.0.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.process.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the replica did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "the replica ended with {status}");
    }

    /// Its Prometheus page.
    async fn metrics(&self) -> String {
        let page = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/metrics", self.port))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        page.text().await.unwrap()
    }

    /// Tool calls this replica answered.
    async fn calls(&self) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|line| {
                line.starts_with("dbfleet_tool_calls_total{") && line.contains("tool=\"execute_query\"")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// MCP sessions open on this replica.
    async fn sessions(&self) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix("dbfleet_mcp_sessions ")?.parse::<f64>().ok())
            .unwrap_or(0.0)
    }
}

/// The replicas and the proxy in front of them.
struct Estate {
    replicas: Vec<Replica>,
    proxy_port: u16,
    _proxy: Process,
    _dir: tempfile::TempDir,
}

/// A SQLite file of `ITEMS` items, shared by the replicas.
fn seed(dir: &Path) -> PathBuf {
    let path = dir.join("shop.db");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").unwrap();
    for id in 0..ITEMS {
        db.execute("INSERT INTO items (id, name) VALUES (?1, ?2)", (id, format!("item {id}"))).unwrap();
    }
    path
}

/// Starts three replicas with `server` in their `[server]` table and HAProxy
/// before them with `stickiness` in its backend, and waits until the proxy
/// sees every replica up.
async fn start(server: &str, stickiness: &str) -> Estate {
    let dir = tempfile::tempdir().unwrap();
    let db = seed(dir.path());
    let config = dir.path().join("dbfleet.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nauth_token_env = \"DBFLEET_TEST_TOKEN\"\n{server}\n\
             [environments.shop]\ndriver = \"sqlite\"\npath = {:?}\n",
            db.display().to_string()
        ),
    )
    .unwrap();
    let replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&config)).collect();

    let proxy_port = free_port();
    let stats_port = free_port();
    let servers: String = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| format!("    server r{i} 127.0.0.1:{} check\n", r.port))
        .collect();
    let haproxy_cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &haproxy_cfg,
        format!(
            "global\n    maxconn 512\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n\
             \x20   timeout tunnel 1h\n    retries 3\n    option redispatch 1\n    retry-on conn-failure\n\
             frontend mcp\n    bind 127.0.0.1:{proxy_port}\n    default_backend dbfleet\n\
             frontend stats\n    bind 127.0.0.1:{stats_port}\n    http-request return status 200 content-type text/plain lf-string \"%[nbsrv(dbfleet)]\"\n\
             backend dbfleet\n    balance roundrobin\n    option httpchk\n\
             \x20   http-check send meth GET uri /ready ver HTTP/1.1 hdr Host 127.0.0.1\n\
             \x20   http-check expect status 200\n    default-server inter 300ms fall 2 rise 1\n\
             {stickiness}{servers}"
        ),
    )
    .unwrap();
    let check = Command::new(HAPROXY).arg("-c").arg("-f").arg(&haproxy_cfg).output().unwrap();
    assert!(check.status.success(), "haproxy -c: {}", String::from_utf8_lossy(&check.stderr));
    let proxy = Process(
        Command::new(HAPROXY)
            .arg("-db")
            .arg("-f")
            .arg(&haproxy_cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = reqwest::get(format!("http://127.0.0.1:{stats_port}/")).await.ok();
        let up = match up {
            Some(response) => response.text().await.unwrap_or_default(),
            None => String::new(),
        };
        if up.trim() == "3" {
            break;
        }
        assert!(Instant::now() < deadline, "HAProxy did not see the three replicas up (it sees {up:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Estate { replicas, proxy_port, _proxy: proxy, _dir: dir }
}

async fn connect(port: u16) -> RunningService<rmcp::RoleClient, ClientConfig> {
    let config = StreamableHttpClientTransportConfig::with_uri(format!("http://127.0.0.1:{port}/mcp"))
        .auth_header(TOKEN);
    ClientConfig::default().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap()
}

/// Each client calls `execute_query` `CALLS_PER_CLIENT` times through the
/// proxy; once half of all the calls are answered, replica 1 is stopped.
/// Every call must succeed with the right answer. Returns how many calls
/// were answered before the stop.
async fn drive(
    estate: &mut Estate,
    clients: &[RunningService<rmcp::RoleClient, ClientConfig>],
) -> (usize, f64) {
    let answered = Arc::new(AtomicUsize::new(0));
    let total = clients.len() * CALLS_PER_CLIENT;
    let calls = clients.iter().enumerate().map(|(c, client)| {
        let answered = answered.clone();
        async move {
            for i in 0..CALLS_PER_CLIENT {
                let request = CallToolRequestParams::new("execute_query").with_arguments(
                    json!({"sql": "SELECT COUNT(*) AS n, ? AS tag FROM items", "parameters": [format!("{c}/{i}")]})
                        .as_object()
                        .unwrap()
                        .clone(),
                );
                let result = client
                    .call_tool(request)
                    .await
                    .unwrap_or_else(|e| panic!("client {c}, call {i}: {e}"));
                let structured: Value = result.structured_content.unwrap_or_default();
                assert_eq!(result.is_error, Some(false), "client {c}, call {i}: {structured}");
                assert_eq!(structured["rows"], json!([[ITEMS, format!("{c}/{i}")]]), "client {c}, call {i}");
                answered.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let all_calls = async {
        futures::future::join_all(calls).await;
    };
    let stopper = async {
        while answered.load(Ordering::SeqCst) < total / 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let served_before = estate.replicas[1].calls().await;
        let at_stop = answered.load(Ordering::SeqCst);
        estate.replicas[1].stop().await;
        (at_stop, served_before)
    };
    let ((), stopped) = tokio::join!(all_calls, stopper);
    assert_eq!(answered.load(Ordering::SeqCst), total);
    stopped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_replicas_share_clients_round_robin_and_survive_one_stopping() {
    if !haproxy_available() {
        return;
    }
    let mut estate = start("stateless = true\ndrain_secs = 2", "").await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(connect(estate.proxy_port).await);
    }
    let (at_stop, served_by_stopped) = drive(&mut estate, &clients).await;
    let total = CLIENTS * CALLS_PER_CLIENT;

    // Round robin spread the first half over all three; the rest went to
    // the two left.
    assert!(served_by_stopped > 0.0, "the stopped replica answered nothing before it stopped");
    let (first, third) = (estate.replicas[0].calls().await, estate.replicas[2].calls().await);
    assert!(first > 0.0 && third > 0.0, "{first} and {third} calls on the replicas left");
    assert!(
        first + third >= (total - at_stop) as f64,
        "{first} + {third} calls on the replicas left, {} answered after the stop",
        total - at_stop
    );
    // The stopped replica may answer a few calls between its count and its stop.
    assert!(first + third + served_by_stopped <= total as f64, "no call was answered twice");
    for client in clients {
        client.cancel().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_stick_to_their_replica_and_move_when_it_stops() {
    if !haproxy_available() {
        return;
    }
    let stick = "    stick-table type string len 64 size 100k expire 30m\n\
                 \x20   stick on req.hdr(mcp-session-id)\n\
                 \x20   stick store-response res.hdr(mcp-session-id)\n";
    let mut estate = start("drain_secs = 2", stick).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(connect(estate.proxy_port).await);
    }
    let mut sessions = Vec::new();
    for replica in &estate.replicas {
        sessions.push(replica.sessions().await);
    }
    assert_eq!(sessions.iter().sum::<f64>(), CLIENTS as f64, "sessions per replica: {sessions:?}");
    assert!(sessions.iter().all(|n| *n > 0.0), "round robin placed every replica's sessions: {sessions:?}");
    let moved = sessions[1];

    drive(&mut estate, &clients).await;

    // The stopped replica's clients opened new sessions on the others
    // (rmcp's client does so on the 404 of an unknown session), at the
    // latest on this call.
    for client in &clients {
        let request = CallToolRequestParams::new("list_environments");
        assert_eq!(client.call_tool(request).await.unwrap().is_error, Some(false));
    }
    let left = estate.replicas[0].sessions().await + estate.replicas[2].sessions().await;
    assert_eq!(left, CLIENTS as f64, "{moved} sessions were on the stopped replica");
    for client in clients {
        client.cancel().await.unwrap();
    }
}
