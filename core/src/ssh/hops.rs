//! The SSH servers a tunnel crosses, first to last, with what each needs:
//! `[environments.X.ssh]` first, then the OpenSSH client configuration's
//! entry for the host (`HostName`, `Port`, `User`, `IdentityFile`,
//! `ProxyJump`, `UserKnownHostsFile`, `StrictHostKeyChecking`), then
//! OpenSSH's defaults. The file is read at each connection, as `ssh` does.

use std::fmt;
use std::path::PathBuf;

use super::SshFailure;
use crate::config::{JumpHost, SshConfig};
use crate::error::DbError;

/// One SSH server to log in to.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    /// Keys to offer, in order, before the agent's.
    pub(crate) identity_files: Vec<PathBuf>,
    /// `false` when no key file was named anywhere: OpenSSH's default key
    /// files are tried then, and a missing one is no error.
    pub(crate) explicit_identities: bool,
    pub(crate) known_hosts: Option<PathBuf>,
    pub(crate) strict: bool,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// The hops to cross, the jump hosts first and the configured host last.
pub(crate) fn resolve(ssh: &SshConfig) -> Result<Vec<Hop>, DbError> {
    let file = OpenSshConfig::read(ssh)?;
    let entry = file.entry(&ssh.host)?;
    let jumps: Vec<JumpHost> = match (&ssh.jump_hosts, &entry.host_config.proxy_jump) {
        (Some(configured), _) => configured.iter().map(|hop| parse_jump(hop)).collect::<Result<_, _>>()?,
        (None, Some(line)) if line.trim() == "none" => Vec::new(),
        (None, Some(line)) => line.split(',').map(parse_jump).collect::<Result<_, _>>()?,
        (None, None) => Vec::new(),
    };
    let mut hops = Vec::with_capacity(jumps.len() + 1);
    for jump in jumps {
        let entry = file.entry(&jump.host)?;
        hops.push(hop(ssh, &entry, jump.user, jump.port));
    }
    hops.push(hop(ssh, &entry, ssh.user.clone(), ssh.port));
    Ok(hops)
}

fn parse_jump(text: &str) -> Result<JumpHost, DbError> {
    JumpHost::parse(text).map_err(|message| SshFailure::Config.error(message))
}

/// `[environments.X.ssh]` over the file's entry over OpenSSH's defaults. The
/// configured key file is offered to every hop, after the hop's own.
fn hop(ssh: &SshConfig, entry: &russh_config::Config, user: Option<String>, port: Option<u16>) -> Hop {
    let from_file = &entry.host_config;
    let mut identity_files = from_file.identity_file.clone().unwrap_or_default();
    if let Some(key) = &ssh.key_file {
        identity_files.insert(0, key.clone());
    }
    let explicit_identities = !identity_files.is_empty();
    if !explicit_identities && let Some(home) = std::env::home_dir() {
        identity_files =
            ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|name| home.join(".ssh").join(name)).collect();
    }
    let known_hosts = ssh
        .known_hosts_file
        .clone()
        .or_else(|| from_file.user_known_hosts_file.clone())
        .or_else(|| std::env::home_dir().map(|home| home.join(".ssh").join("known_hosts")));
    Hop {
        host: entry.host().to_owned(),
        port: port.or(from_file.port).unwrap_or(22),
        user: user.unwrap_or_else(|| entry.user()),
        identity_files,
        explicit_identities,
        known_hosts,
        strict: ssh.strict_host_key_checking.or(from_file.strict_host_key_checking).unwrap_or(true),
    }
}

/// The OpenSSH client configuration, or none.
struct OpenSshConfig {
    text: String,
    path: Option<PathBuf>,
}

impl OpenSshConfig {
    fn read(ssh: &SshConfig) -> Result<Self, DbError> {
        let Some(path) = &ssh.config_file else {
            return Ok(OpenSshConfig { text: String::new(), path: None });
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(OpenSshConfig { text, path: Some(path.clone()) }),
            Err(err) if ssh.config_file_is_default && err.kind() == std::io::ErrorKind::NotFound => {
                Ok(OpenSshConfig { text: String::new(), path: None })
            }
            Err(err) => {
                Err(SshFailure::Config.error(format!("cannot read {}: {}", path.display(), err.kind())))
            }
        }
    }

    /// The merged entries that match `host`.
    fn entry(&self, host: &str) -> Result<russh_config::Config, DbError> {
        let entry = russh_config::parse(&self.text, host).map_err(|err| {
            let file =
                self.path.as_deref().map_or("the SSH configuration".into(), |p| p.display().to_string());
            SshFailure::Config.error(format!("cannot read {file}: {err}"))
        })?;
        if entry.host_config.proxy_command.is_some() {
            return Err(SshFailure::Config.error(format!(
                "the SSH configuration gives {host} a ProxyCommand, which dbfleet does not run: \
                 use ProxyJump or jump_hosts"
            )));
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ssh(host: &str, config: &str) -> (SshConfig, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, config).unwrap();
        let ssh = SshConfig {
            host: host.into(),
            port: None,
            user: None,
            key_file: None,
            key_passphrase: None,
            agent: false,
            known_hosts_file: None,
            strict_host_key_checking: None,
            jump_hosts: None,
            config_file: Some(path),
            config_file_is_default: false,
            keepalive_interval: Duration::from_secs(15),
        };
        (ssh, dir)
    }

    const FILE: &str = "\
Host prod-bastion
  HostName 10.0.0.7
  Port 2222
  User deploy
  IdentityFile /keys/deploy
  ProxyJump ops@gateway:22,edge
  StrictHostKeyChecking no

Host gateway
  HostName gw.example.com
  IdentityFile /keys/ops

Host sneaky
  ProxyCommand nc %h %p
";

    #[test]
    fn a_host_entry_fills_what_the_environment_leaves_unset() {
        let (ssh, _dir) = ssh("prod-bastion", FILE);
        let hops = resolve(&ssh).unwrap();
        let shown: Vec<String> = hops.iter().map(|h| h.to_string()).collect();
        let local_user = russh_config::Config::default("x").user();
        assert_eq!(
            shown,
            [
                "ops@gw.example.com:22".to_owned(),
                format!("{local_user}@edge:22"),
                "deploy@10.0.0.7:2222".into()
            ]
        );
        assert_eq!(hops[0].identity_files, [PathBuf::from("/keys/ops")]);
        assert!(hops[0].strict);
        assert_eq!(hops[2].identity_files, [PathBuf::from("/keys/deploy")]);
        assert!(!hops[2].strict);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let (mut ssh, _dir) = ssh("prod-bastion", FILE);
        ssh.port = Some(22);
        ssh.user = Some("app".into());
        ssh.key_file = Some("/keys/app".into());
        ssh.jump_hosts = Some(Vec::new());
        ssh.strict_host_key_checking = Some(true);
        let hops = resolve(&ssh).unwrap();
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].to_string(), "app@10.0.0.7:22");
        assert_eq!(hops[0].identity_files, [PathBuf::from("/keys/app"), PathBuf::from("/keys/deploy")]);
        assert!(hops[0].strict);
    }

    #[test]
    fn a_proxy_command_is_refused_rather_than_bypassed() {
        let (ssh, _dir) = ssh("sneaky", FILE);
        let err = resolve(&ssh).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("ssh_config"));
        assert!(err.message.contains("ProxyCommand"), "{err}");
    }

    #[test]
    fn a_missing_named_file_is_an_error_and_a_missing_default_is_not() {
        let (mut ssh, dir) = ssh("db", "");
        ssh.config_file = Some(dir.path().join("absent"));
        assert_eq!(resolve(&ssh).unwrap_err().code.as_deref(), Some("ssh_config"));
        ssh.config_file_is_default = true;
        assert_eq!(resolve(&ssh).unwrap()[0].host, "db");
    }
}
