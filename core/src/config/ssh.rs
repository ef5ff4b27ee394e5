//! `[environments.NAME.ssh]`: the SSH server (and jump hosts) an environment
//! is reached through. The tunnel itself is in [`crate::ssh`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use toml::Table;

use super::load::{At, Checker, read_secret_file};

/// How an environment's SSH tunnel is built. Values left unset here are
/// taken from the OpenSSH client configuration (`config_file`) when it has
/// an entry for the host, then from OpenSSH's defaults.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// The SSH server: a name, an address, or a `Host` of `config_file`.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// The private key to log in with, tried before the agent's keys.
    pub key_file: Option<PathBuf>,
    /// Deciphers an encrypted key file (`key_passphrase_env` or `key_passphrase_file`).
    pub key_passphrase: Option<SecretString>,
    /// Also try the keys of the agent at `SSH_AUTH_SOCK`.
    pub agent: bool,
    pub known_hosts_file: Option<PathBuf>,
    /// A host missing from the known hosts is refused (the default) or
    /// accepted with a warning; a host whose key differs from the recorded
    /// one is always refused.
    pub strict_host_key_checking: Option<bool>,
    /// `[user@]host[:port]` hops crossed in order before `host`; `None`
    /// leaves it to `ProxyJump` of `config_file`.
    pub jump_hosts: Option<Vec<String>>,
    /// The OpenSSH client configuration to read host entries from, if any.
    pub config_file: Option<PathBuf>,
    /// `config_file` is the default `~/.ssh/config`, which need not exist.
    pub config_file_is_default: bool,
    /// A session that has not heard from its server for this long is probed;
    /// three unanswered probes close it.
    pub keepalive_interval: Duration,
}

impl SshConfig {
    pub fn same_as(&self, other: &SshConfig) -> bool {
        let SshConfig {
            host,
            port,
            user,
            key_file,
            key_passphrase,
            agent,
            known_hosts_file,
            strict_host_key_checking,
            jump_hosts,
            config_file,
            config_file_is_default,
            keepalive_interval,
        } = self;
        *host == other.host
            && *port == other.port
            && *user == other.user
            && *key_file == other.key_file
            && super::same_secret(key_passphrase, &other.key_passphrase)
            && *agent == other.agent
            && *known_hosts_file == other.known_hosts_file
            && *strict_host_key_checking == other.strict_host_key_checking
            && *jump_hosts == other.jump_hosts
            && *config_file == other.config_file
            && *config_file_is_default == other.config_file_is_default
            && *keepalive_interval == other.keepalive_interval
    }
}

pub const DEFAULT_SSH_KEEPALIVE: Duration = Duration::from_secs(15);

const SSH_KEYS: &[&str] = &[
    "host",
    "port",
    "user",
    "key_file",
    "key_passphrase_env",
    "key_passphrase_file",
    "agent",
    "known_hosts_file",
    "strict_host_key_checking",
    "jump_hosts",
    "config_file",
    "keepalive_secs",
];

impl Checker<'_> {
    /// `ssh = { … }` of an environment, when present.
    pub(super) fn ssh(&mut self, at: &At<'_>, value: Option<&toml::Value>) -> Option<SshConfig> {
        let table = self.table(at, "ssh", value)?;
        let at = at.child("ssh");
        self.unknown_keys(&at, table, SSH_KEYS);
        let host = self.ssh_string(&at, table, "host");
        if host.as_deref().is_none_or(str::is_empty) {
            self.problem(
                &at,
                Some("host"),
                "required: the SSH server (a name, an address or a Host of ~/.ssh/config)",
            );
        }
        let port = self.ssh_port(&at, table);
        let user = self.ssh_string(&at, table, "user");
        let key_file = self.ssh_path(&at, table, "key_file");
        if let Some(path) = &key_file
            && let Err(err) = std::fs::metadata(path)
        {
            self.problem(&at, Some("key_file"), format!("cannot read {}: {}", path.display(), err.kind()));
        }
        let key_passphrase = self.key_passphrase(&at, table);
        let agent = self.boolean(&at, table, "agent").unwrap_or(true);
        let known_hosts_file = self.ssh_path(&at, table, "known_hosts_file");
        let strict_host_key_checking = self.boolean(&at, table, "strict_host_key_checking");
        let jump_hosts = self.strings(&at, table, "jump_hosts");
        for hop in jump_hosts.iter().flatten() {
            if let Err(message) = JumpHost::parse(hop) {
                self.problem(&at, Some("jump_hosts"), message);
            }
        }
        let (config_file, config_file_is_default) = match self.ssh_string(&at, table, "config_file") {
            Some(none) if none == "none" => (None, false),
            Some(_) => {
                let path = self.ssh_path(&at, table, "config_file");
                if let Some(path) = &path
                    && let Err(err) = std::fs::metadata(path)
                {
                    self.problem(
                        &at,
                        Some("config_file"),
                        format!("cannot read {}: {} (\"none\" reads no file)", path.display(), err.kind()),
                    );
                }
                (path, false)
            }
            None => (self.home().map(|home| home.join(".ssh").join("config")), true),
        };
        let keepalive_interval = self
            .integer(&at, table, "keepalive_secs", 1..=3600)
            .map_or(DEFAULT_SSH_KEEPALIVE, |n| Duration::from_secs(n as u64));
        Some(SshConfig {
            host: host?,
            port,
            user,
            key_file,
            key_passphrase,
            agent,
            known_hosts_file,
            strict_host_key_checking,
            jump_hosts,
            config_file,
            config_file_is_default,
            keepalive_interval,
        })
    }

    fn ssh_string(&mut self, at: &At<'_>, table: &Table, key: &str) -> Option<String> {
        let raw = self.string(at, table, key)?;
        self.expanded(at, key, &raw)
    }

    fn ssh_port(&mut self, at: &At<'_>, table: &Table) -> Option<u16> {
        self.integer(at, table, "port", 1..=65_535).map(|n| n as u16)
    }

    /// A path: `~/` is the home directory, a relative path is relative to
    /// the configuration file's directory.
    fn ssh_path(&mut self, at: &At<'_>, table: &Table, key: &str) -> Option<PathBuf> {
        let raw = self.ssh_string(at, table, key)?;
        if let Some(rest) = raw.strip_prefix("~/") {
            let Some(home) = self.home() else {
                self.problem(at, Some(key), "HOME is not set, so '~/' cannot be expanded");
                return None;
            };
            return Some(home.join(rest));
        }
        Some(self.resolve(Path::new(&raw)))
    }

    fn key_passphrase(&mut self, at: &At<'_>, table: &Table) -> Option<SecretString> {
        match (table.contains_key("key_passphrase_env"), table.contains_key("key_passphrase_file")) {
            (true, true) => {
                self.problem(at, Some("key_passphrase_file"), "give the passphrase one way only");
                None
            }
            (true, false) => {
                let var = self.string(at, table, "key_passphrase_env")?;
                let value = self.var(&var);
                if value.is_none() {
                    self.problem(
                        at,
                        Some("key_passphrase_env"),
                        format!("environment variable {var} is not set"),
                    );
                }
                value.map(SecretString::from)
            }
            (false, true) => {
                let path = self.ssh_path(at, table, "key_passphrase_file")?;
                match read_secret_file(&path) {
                    Ok(secret) => Some(SecretString::from(secret)),
                    Err(message) => {
                        self.problem(at, Some("key_passphrase_file"), message);
                        None
                    }
                }
            }
            (false, false) => None,
        }
    }
}

/// One `[user@]host[:port]` of `jump_hosts` or of a `ProxyJump` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl JumpHost {
    pub fn parse(text: &str) -> Result<JumpHost, String> {
        let invalid = || format!("'{text}' is not a jump host such as ops@bastion.example.com:2222");
        let rest = text.trim().strip_prefix("ssh://").unwrap_or(text.trim());
        let (user, rest) = match rest.rsplit_once('@') {
            Some((user, rest)) if !user.is_empty() => (Some(user.to_owned()), rest),
            Some(_) => return Err(invalid()),
            None => (None, rest),
        };
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(invalid)?;
            match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None if after.is_empty() => (host, None),
                None => return Err(invalid()),
            }
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        let port = match port {
            Some(port) => Some(port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(invalid)?),
            None => None,
        };
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(invalid());
        }
        Ok(JumpHost { user, host: host.to_owned(), port })
    }
}

#[cfg(test)]
mod tests {
    use super::JumpHost;

    #[test]
    fn jump_hosts_are_read_as_openssh_writes_them() {
        let parse = |text| JumpHost::parse(text).unwrap();
        assert_eq!(parse("bastion"), JumpHost { user: None, host: "bastion".into(), port: None });
        assert_eq!(
            parse("ops@bastion.example.com:2222"),
            JumpHost { user: Some("ops".into()), host: "bastion.example.com".into(), port: Some(2222) }
        );
        assert_eq!(
            parse("ssh://ops@[::1]:22"),
            JumpHost { user: Some("ops".into()), host: "::1".into(), port: Some(22) }
        );
        for bad in ["", "@host", "host:", "host:0", "host:http", "[::1", "two words"] {
            assert!(JumpHost::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
