//! SSH sessions: one per hop, each after the first running inside a
//! connection the previous one forwards. The server's key is checked against
//! the known hosts before anything is sent to it; then the hop's key files
//! are offered, then the agent's keys.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{self, HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{ChannelStream, Disconnect};
use secrecy::{ExposeSecret, SecretString};

use super::SshFailure;
use super::hops::Hop;
use crate::error::DbError;

/// What every hop logs in with besides its key files.
pub(crate) struct Credentials {
    pub(crate) passphrase: Option<SecretString>,
    pub(crate) agent: bool,
    pub(crate) keepalive_interval: Duration,
}

/// The sessions of every hop, the last one forwarding to the database.
pub(crate) struct Chain {
    sessions: Vec<Handle<HostKeyCheck>>,
    last_hop: String,
}

impl Chain {
    pub(crate) async fn connect(hops: &[Hop], credentials: &Credentials) -> Result<Chain, DbError> {
        let config = Arc::new(client::Config {
            keepalive_interval: Some(credentials.keepalive_interval),
            keepalive_max: 3,
            nodelay: true,
            ..client::Config::default()
        });
        let mut sessions: Vec<Handle<HostKeyCheck>> = Vec::with_capacity(hops.len());
        for hop in hops {
            let (check, refusal) = HostKeyCheck::new(hop);
            let handshake = match sessions.last() {
                None => {
                    let tcp = tokio::net::TcpStream::connect((hop.host.as_str(), hop.port))
                        .await
                        .map_err(|err| SshFailure::Unreachable.error(format!("cannot reach {hop}: {err}")))?;
                    client::connect_stream(config.clone(), tcp, check).await
                }
                Some(previous) => {
                    let channel = previous
                        .channel_open_direct_tcpip(hop.host.as_str(), u32::from(hop.port), "127.0.0.1", 0)
                        .await
                        .map_err(|err| {
                            SshFailure::Unreachable
                                .error(format!("the jump host could not connect to {hop}: {err}"))
                        })?;
                    client::connect_stream(config.clone(), channel.into_stream(), check).await
                }
            };
            let mut session = handshake.map_err(|err| {
                match refusal.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    Some(reason) => SshFailure::HostKey.error(reason),
                    None => SshFailure::Unreachable.error(format!("no SSH session with {hop}: {err}")),
                }
            })?;
            authenticate(&mut session, hop, credentials).await?;
            sessions.push(session);
        }
        let last_hop = hops.last().map(ToString::to_string).unwrap_or_default();
        Ok(Chain { sessions, last_hop })
    }

    /// Whether any session of the chain has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.sessions.iter().any(Handle::is_closed)
    }

    /// A connection from the last SSH server to `host:port`.
    pub(crate) async fn forward(&self, host: &str, port: u16) -> Result<ChannelStream<Msg>, DbError> {
        let Some(last) = self.sessions.last() else {
            return Err(DbError::internal("an SSH chain without a session"));
        };
        let channel =
            last.channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0).await.map_err(|err| {
                let failure = if self.is_closed() { SshFailure::Unreachable } else { SshFailure::Forward };
                failure.error(format!("{} could not connect to {host}:{port}: {err}", self.last_hop))
            })?;
        Ok(channel.into_stream())
    }

    pub(crate) async fn close(&self) {
        for session in self.sessions.iter().rev() {
            // The server may already be gone; nothing is waiting for an answer.
            let _ = session.disconnect(Disconnect::ByApplication, "", "en").await;
        }
    }
}

/// Checks the server's key against the hop's known hosts. A refusal's
/// reason is kept for the error, as the handshake itself only fails with
/// "unknown server key".
struct HostKeyCheck {
    hop: String,
    host: String,
    port: u16,
    known_hosts: Option<std::path::PathBuf>,
    strict: bool,
    refusal: Arc<Mutex<Option<String>>>,
}

impl HostKeyCheck {
    fn new(hop: &Hop) -> (Self, Arc<Mutex<Option<String>>>) {
        let refusal = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            hop: hop.to_string(),
            host: hop.host.clone(),
            port: hop.port,
            known_hosts: hop.known_hosts.clone(),
            strict: hop.strict,
            refusal: refusal.clone(),
        };
        (check, refusal)
    }

    /// The host as known_hosts lines name it.
    fn known_as(&self) -> String {
        if self.port == 22 { self.host.clone() } else { format!("[{}]:{}", self.host, self.port) }
    }

    fn verdict(&self, key: &PublicKey) -> Result<(), String> {
        let offered = format!("{} key {}", key.algorithm(), key.fingerprint(HashAlg::Sha256));
        let name = self.known_as();
        let Some(file) = &self.known_hosts else {
            return Err(format!(
                "{name} offered the {offered}, and there is no known hosts file to check it against \
                 (set known_hosts_file)"
            ));
        };
        let shown = file.display();
        match keys::check_known_hosts_path(&self.host, self.port, key, file) {
            Ok(true) => Ok(()),
            Ok(false) if self.strict => Err(format!(
                "{name} offered the {offered}, which is not in {shown}: check the fingerprint with the \
                 server's administrators, then add it (ssh-keyscan -p {port} {host} >> {shown}) or set \
                 strict_host_key_checking = false",
                port = self.port,
                host = self.host,
            )),
            Ok(false) => {
                tracing::warn!(
                    hop = %self.hop,
                    "accepting the {offered} of {name}, which is not in {shown} (strict_host_key_checking = false)"
                );
                Ok(())
            }
            Err(keys::Error::KeyChanged { line }) => Err(format!(
                "{name} offered the {offered}, which differs from the key recorded at {shown}:{line}: the \
                 server was reinstalled, or something is between dbfleet and it; refused whatever \
                 strict_host_key_checking says"
            )),
            Err(err) => Err(format!("cannot check the key of {name} against {shown}: {err}")),
        }
    }
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(cert) => PublicKey::from(cert.public_key().clone()),
        };
        match self.verdict(&key) {
            Ok(()) => Ok(true),
            Err(reason) => {
                *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                Ok(false)
            }
        }
    }
}

/// Offers the hop's key files, then the agent's keys, until one is accepted.
async fn authenticate(
    session: &mut Handle<HostKeyCheck>,
    hop: &Hop,
    credentials: &Credentials,
) -> Result<(), DbError> {
    let unreachable = |err: russh::Error| SshFailure::Unreachable.error(format!("{hop} hung up: {err}"));
    let rsa_hash = session.best_supported_rsa_hash().await.map_err(unreachable)?.flatten();
    let mut offered = Vec::new();
    let passphrase = credentials.passphrase.as_ref().map(|p| p.expose_secret());
    for file in &hop.identity_files {
        let key = match keys::load_secret_key(file, passphrase) {
            Ok(key) => key,
            Err(keys::Error::IO(err))
                if !hop.explicit_identities && err.kind() == std::io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(err) => {
                offered.push(unusable_key(file, &err, passphrase.is_some()));
                continue;
            }
        };
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256);
        let attempt = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
        if session.authenticate_publickey(hop.user.as_str(), attempt).await.map_err(unreachable)?.success() {
            return Ok(());
        }
        offered.push(format!("{} ({fingerprint})", file.display()));
    }
    if credentials.agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match AgentClient::connect_env().await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                let mut tried = 0;
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else { continue };
                    tried += 1;
                    let accepted = session
                        .authenticate_publickey_with(hop.user.as_str(), key, rsa_hash, &mut agent)
                        .await
                        .map_err(|err| {
                            SshFailure::Auth.error(format!("the SSH agent could not sign: {err}"))
                        })?;
                    if accepted.success() {
                        return Ok(());
                    }
                }
                offered.push(format!("{tried} key(s) of the SSH agent"));
            }
            Err(err) => offered.push(format!("no SSH agent ({err})")),
        }
    }
    let offered = if offered.is_empty() {
        "no key to offer: set key_file, or run an SSH agent".to_owned()
    } else {
        format!("offered {}", offered.join(", "))
    };
    Err(SshFailure::Auth.error(format!("{hop} accepted none of the keys ({offered})")))
}

fn unusable_key(file: &Path, err: &keys::Error, had_passphrase: bool) -> String {
    match err {
        keys::Error::KeyIsEncrypted if !had_passphrase => {
            format!("{} (encrypted: set key_passphrase_env or key_passphrase_file)", file.display())
        }
        keys::Error::KeyIsEncrypted | keys::Error::SshKey(keys::ssh_key::Error::Crypto) if had_passphrase => {
            format!("{} (the passphrase does not decipher it)", file.display())
        }
        keys::Error::IO(io) => format!("{} (cannot read: {})", file.display(), io.kind()),
        other => format!("{} (unusable: {other})", file.display()),
    }
}
