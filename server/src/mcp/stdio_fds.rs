//! Stdin and stdout as non-blocking descriptors driven by the runtime.
//!
//! Tokio's `stdin()` and `stdout()` run every read and write on its
//! blocking thread pool, so each message costs two thread hand-offs: on
//! `SELECT 1`, more time than the query. MCP clients start the server with
//! pipes (Python, Go) or socket pairs (Node.js), which the runtime can poll
//! directly; anything else (a file, a terminal) keeps tokio's handles.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixStream;
use tokio::net::unix::pipe;

pub type Input = Box<dyn AsyncRead + Send + Unpin>;
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// Stdin for the runtime to poll. Must be called inside the runtime.
pub fn stdin() -> Input {
    match polled(io::stdin().as_fd().try_clone_to_owned()) {
        Ok(Some(Polled::Pipe(fd))) => match pipe::Receiver::from_owned_fd(fd) {
            Ok(receiver) => return Box::new(receiver),
            Err(err) => tracing::debug!(error = %err, "stdin stays on the blocking pool"),
        },
        Ok(Some(Polled::Socket(stream))) => return Box::new(stream),
        Ok(None) => {}
        Err(err) => tracing::debug!(error = %err, "stdin stays on the blocking pool"),
    }
    Box::new(tokio::io::stdin())
}

/// Stdout for the runtime to poll. Must be called inside the runtime.
pub fn stdout() -> Output {
    match polled(io::stdout().as_fd().try_clone_to_owned()) {
        Ok(Some(Polled::Pipe(fd))) => match pipe::Sender::from_owned_fd(fd) {
            Ok(sender) => return Box::new(sender),
            Err(err) => tracing::debug!(error = %err, "stdout stays on the blocking pool"),
        },
        Ok(Some(Polled::Socket(stream))) => return Box::new(stream),
        Ok(None) => {}
        Err(err) => tracing::debug!(error = %err, "stdout stays on the blocking pool"),
    }
    Box::new(tokio::io::stdout())
}

enum Polled {
    Pipe(OwnedFd),
    Socket(UnixStream),
}

/// What kind of descriptor `fd` (a duplicate of stdin or stdout) is, when
/// the runtime can poll it.
fn polled(fd: io::Result<OwnedFd>) -> io::Result<Option<Polled>> {
    let file = File::from(fd?);
    let kind = file.metadata()?.file_type();
    if kind.is_fifo() {
        Ok(Some(Polled::Pipe(OwnedFd::from(file))))
    } else if kind.is_socket() {
        let stream = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
        stream.set_nonblocking(true)?;
        Ok(Some(Polled::Socket(UnixStream::from_std(stream)?)))
    } else {
        Ok(None)
    }
}
