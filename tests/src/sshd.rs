//! OpenSSH servers on loopback ports for the tunnel tests (Debian's
//! `openssh-server`), each with its own host key, letting the user who runs
//! the tests log in with the keys a test authorizes; keys made by
//! `ssh-keygen`; an `ssh-agent` holding some of them.
//!
//! When `sshd` is not installed the tests skip loudly, and fail under `CI`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

/// `Some` when OpenSSH's server and tools are installed; otherwise a loud
/// skip message, or a panic under `CI`.
pub fn available() -> Option<()> {
    let found = Path::new(SSHD).exists() && which("ssh-keygen") && which("ssh-agent");
    if found {
        return Some(());
    }
    let message = "OpenSSH's sshd, ssh-keygen and ssh-agent are needed (Debian packages openssh-server, \
                   openssh-client)";
    if std::env::var_os("CI").is_some() {
        panic!("{message} (CI is set, so this fails instead of skipping)");
    }
    eprintln!("\n*** SKIPPED: {message} ***\n");
    None
}

fn which(program: &str) -> bool {
    Command::new(program).arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// The user the servers let in: the one running the tests.
pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un runs");
    String::from_utf8(out.stdout).expect("a user name").trim().to_owned()
}

/// A new ed25519 key pair at `dir/name` (and `name.pub`), enciphered with
/// `passphrase` when given.
pub fn keygen(dir: &Path, name: &str, passphrase: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-C", name, "-N", passphrase.unwrap_or(""), "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed for {name}");
    path
}

/// `SHA256:…`, as OpenSSH shows the fingerprint of the public key of `key`.
pub fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen").arg("-lf").arg(key.with_extension("pub")).output().unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    line.split_whitespace().nth(1).expect("a fingerprint").to_owned()
}

fn public_key(key: &Path) -> String {
    let mut public = key.as_os_str().to_owned();
    public.push(".pub");
    std::fs::read_to_string(PathBuf::from(public)).expect("the public key").trim().to_owned()
}

pub struct Sshd {
    port: u16,
    host_key: PathBuf,
    child: Child,
}

impl Sshd {
    /// Starts a server on a free loopback port, in `dir/name`, that lets
    /// [`user`] in with any of `authorized` (private key paths).
    pub fn start(dir: &Path, name: &str, authorized: &[&Path]) -> Sshd {
        let home = dir.join(name);
        std::fs::create_dir_all(&home).unwrap();
        // Privilege separation needs this directory when sshd runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let host_key = keygen(&home, "host_key", None);
        let keys: Vec<String> = authorized.iter().map(|key| public_key(key)).collect();
        std::fs::write(home.join("authorized_keys"), keys.join("\n") + "\n").unwrap();
        let port = free_port();
        let config = home.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {pid}\n\
                 AuthorizedKeysFile {authorized}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
                 AllowTcpForwarding yes\nLogLevel ERROR\n",
                host_key = host_key.display(),
                pid = home.join("sshd.pid").display(),
                authorized = home.join("authorized_keys").display(),
            ),
        )
        .unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd starts");
        let sshd = Sshd { port, host_key, child };
        sshd.wait_for_banner();
        sshd
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn host_key(&self) -> &Path {
        &self.host_key
    }

    /// The known_hosts line for this server reached at `127.0.0.1:port`.
    pub fn known_host(&self, port: u16) -> String {
        format!("[127.0.0.1]:{port} {}", public_key(&self.host_key))
    }

    fn wait_for_banner(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(self.address()) {
                let mut banner = [0u8; 7];
                stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not answer on {}", self.address());
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An `ssh-agent` on a socket of its own, holding the keys given.
pub struct Agent {
    socket: PathBuf,
    child: Child,
}

impl Agent {
    pub fn start(dir: &Path, keys: &[&Path]) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not open {}", socket.display());
            std::thread::sleep(Duration::from_millis(20));
        }
        for key in keys {
            let status = Command::new("ssh-add")
                .arg("-q")
                .arg(key)
                .env("SSH_AUTH_SOCK", &socket)
                .stderr(Stdio::null())
                .status()
                .expect("ssh-add runs");
            assert!(status.success(), "ssh-add {}", key.display());
        }
        Agent { socket, child }
    }

    /// For `SSH_AUTH_SOCK`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
