//! PgBouncer (Debian's `pgbouncer`) on a loopback port in front of the local
//! PostgreSQL, in session mode, for the tests of a connection pooler in
//! between: it announces process ids of its own to its clients.
//!
//! When `pgbouncer` is not installed the tests skip loudly, and fail under
//! `CI`.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A running PgBouncer, stopped when dropped.
pub struct PgBouncer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PgBouncer {
    /// PgBouncer in front of the server at `host:port`, letting `user` in
    /// without a password (the server's own authentication still applies);
    /// `None` after a loud skip message when it is not installed (a panic
    /// under `CI`).
    pub fn start(host: &str, server_port: u16, user: &str) -> Option<PgBouncer> {
        if !Path::new(PGBOUNCER).exists() {
            let message = "PgBouncer is needed (Debian package pgbouncer)";
            if std::env::var_os("CI").is_some() {
                panic!("{message} (CI is set, so this fails instead of skipping)");
            }
            eprintln!("\n*** SKIPPED: {message} ***\n");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let users = dir.path().join("users.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).unwrap();
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host={host} port={server_port}\n\
                 [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {}\npool_mode = session\n\
                 ignore_startup_parameters = extra_float_digits,options\n",
                users.display()
            ),
        )
        .unwrap();
        let mut command = Command::new(PGBOUNCER);
        // PgBouncer refuses to run as root; it reads its files first.
        if running_as_root() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            command.args(["-u", "postgres"]);
        }
        let child = command.arg(&config).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "PgBouncer did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(PgBouncer { child, port, _dir: dir })
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.starts_with(b"0\n"))
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
