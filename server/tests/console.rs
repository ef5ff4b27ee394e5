//! The web console at `/ui/` in a real browser: Debian's `chromium` driven
//! by Playwright (PyPI `playwright`) through `tests/browser/console.py`, on
//! the shop estate (SQLite, PostgreSQL, MariaDB) and one environment down.
//! Set `DBFLEET_CONSOLE_SCREENSHOTS=DIR` to keep a screenshot of each page.
//!
//! Without Chromium or Playwright the test skips loudly, and fails under `CI`.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dbfleet_tests::estate::ShopEstate;

#[expect(dead_code, reason = "the shared helpers this file does not call")]
mod common;

const TOKEN: &str = "console-t0ken";
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_available() -> bool {
    let playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if playwright && Path::new(CHROMIUM).exists() {
        return true;
    }
    let message = "the console's browser test needs Chromium (Debian package chromium) and Playwright \
                   (pip install playwright)";
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    false
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_estate_differences_and_refusals_in_a_browser() {
    if !browser_available() {
        return;
    }
    let Some(estate) = ShopEstate::create().await else { return };
    let config = estate.dir().join("console.toml");
    std::fs::write(
        &config,
        format!(
            "default_environment = \"staging\"\n[server]\nauth_token_env = \"DBFLEET_TEST_TOKEN\"\n{}\
             [environments.down]\ndriver = \"postgres\"\nurl = \"postgres://postgres@127.0.0.1:1/postgres\"\n",
            estate.environments(true)
        ),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = Server(common::spawn_http(&config, port, TOKEN));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reqwest::get(format!("{url}/ready")).await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.py");
    let mut browser = Command::new("python3");
    browser.arg(&script).args(["--url", &url, "--token", TOKEN, "--chromium", CHROMIUM]);
    if let Some(dir) = std::env::var_os("DBFLEET_CONSOLE_SCREENSHOTS") {
        browser.arg("--screenshots").arg(dir);
    }
    let output = tokio::task::spawn_blocking(move || browser.output().unwrap()).await.unwrap();
    estate.drop().await;
    assert!(
        output.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
