//! SSH tunnels: an environment behind a bastion is reached through a local
//! port whose connections are forwarded over SSH (`direct-tcpip`, as
//! `ssh -L` does) to the engine's host and port. Drivers connect to the
//! local port like to any server, so every TCP engine gets tunnels without
//! knowing of them.
//!
//! - `hops`: the servers to cross, from `[environments.X.ssh]` and the
//!   OpenSSH client configuration (`Host` entries, `ProxyJump`).
//! - `session`: one SSH session per hop, each inside the previous one's
//!   forwarded connection; host keys checked against known hosts; keys from
//!   files or the agent.
//! - `tunnel`: the local listener, the forwarding, and re-opening the
//!   sessions when they drop.
//!
//! Failures are [`DbError`]s whose code names the cause (`ssh_unreachable`,
//! `ssh_host_key`, `ssh_auth`, `ssh_forward`, `ssh_config`), so that health
//! reports can class them.

mod hops;
mod session;
mod tunnel;

pub use tunnel::{Tunnel, TunnelStatus};

use crate::error::{DbError, ErrorKind};

/// Why a tunnel could not be opened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SshFailure {
    /// The SSH server (or a jump host) did not answer, or the session broke.
    Unreachable,
    /// The server's key is unknown or differs from the recorded one.
    HostKey,
    /// The server accepted none of the keys.
    Auth,
    /// The SSH server could not connect to the database server.
    Forward,
    /// The OpenSSH configuration could not be read or asks for what is not supported.
    Config,
}

impl SshFailure {
    pub(crate) fn error(self, message: impl Into<String>) -> DbError {
        let (kind, code) = match self {
            SshFailure::Unreachable => (ErrorKind::Connection, "ssh_unreachable"),
            SshFailure::HostKey => (ErrorKind::Connection, "ssh_host_key"),
            SshFailure::Auth => (ErrorKind::Auth, "ssh_auth"),
            SshFailure::Forward => (ErrorKind::Connection, "ssh_forward"),
            SshFailure::Config => (ErrorKind::InvalidArgument, "ssh_config"),
        };
        DbError::new(kind, format!("ssh: {}", message.into())).with_code(code)
    }
}

/// Whether an error is one of a tunnel's.
pub fn is_ssh_error(err: &DbError) -> bool {
    err.code.as_deref().is_some_and(|code| code.starts_with("ssh_"))
}
