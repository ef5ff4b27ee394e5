//! `password_command`: a program whose standard output is the password,
//! run without a shell when the environment connects (and again whenever it
//! reconnects), so that short-lived credentials such as cloud IAM tokens
//! work. The password never is an argument of a process, a log line or an
//! error message.

use std::process::Stdio;
use std::time::Duration;

use secrecy::SecretString;
use tokio::io::AsyncReadExt;

use crate::error::{DbError, ErrorKind};

pub const DEFAULT_PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Standard output beyond this is not a password.
const MAX_OUTPUT: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCommand {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
    /// With `password_command_refresh_secs`: how often the environment runs
    /// the command and replaces its pool, so that no connection is ever
    /// opened with a token past its lifetime.
    pub refresh: Option<Duration>,
}

impl PasswordCommand {
    /// Runs the program and returns its standard output without the
    /// trailing line break. A failure is an `auth` error naming the program
    /// (never its output); a program that outlives `timeout` is killed.
    pub async fn run(&self) -> Result<SecretString, DbError> {
        let fail =
            |why: String| DbError::new(ErrorKind::Auth, format!("password_command {}: {why}", self.program));
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| fail(format!("cannot start it: {err}")))?;
        let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
        let finished = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            if let Some(stdout) = stdout.as_mut() {
                stdout.take(MAX_OUTPUT).read_to_end(&mut out).await?;
            }
            if let Some(stderr) = stderr.as_mut() {
                stderr.take(MAX_OUTPUT).read_to_end(&mut err).await?;
            }
            Ok::<_, std::io::Error>((child.wait().await?, out, err))
        };
        let (status, out, err) = tokio::time::timeout(self.timeout, finished)
            .await
            .map_err(|_| {
                fail(format!(
                    "did not finish within {} s (password_command_timeout_secs)",
                    self.timeout.as_secs_f64()
                ))
            })?
            .map_err(|err| fail(format!("could not be read: {err}")))?;
        if !status.success() {
            // Its own words on standard error say why (not logged in, no
            // such profile); its standard output may hold a secret and is
            // never shown.
            let reason = String::from_utf8_lossy(&err);
            let reason = reason.lines().find(|line| !line.trim().is_empty()).unwrap_or("").trim();
            let reason =
                if reason.is_empty() { String::new() } else { format!(": {}", truncate(reason, 200)) };
            return Err(fail(format!("failed ({status}){reason}")));
        }
        let password = String::from_utf8(out).map_err(|_| fail("its output is not UTF-8".into()))?;
        let password = password.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(fail("printed nothing".into()));
        }
        Ok(SecretString::from(password.to_owned()))
    }
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn command(program: &str, args: &[&str]) -> PasswordCommand {
        PasswordCommand {
            refresh: None,
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn the_output_without_its_line_break_is_the_password() {
        let password = command("printf", &["s3cret-token\\n"]).run().await.unwrap();
        assert_eq!(password.expose_secret(), "s3cret-token");
        // No shell: a shell's syntax is passed on as it is.
        let literal = command("printf", &["$HOME;|"]).run().await.unwrap();
        assert_eq!(literal.expose_secret(), "$HOME;|");
    }

    #[tokio::test]
    async fn failures_name_the_program_never_the_output() {
        let failed =
            command("sh", &["-c", "echo leaked-secret; echo 'not logged in' >&2; exit 3"]).run().await;
        let message = failed.unwrap_err().message;
        assert!(
            message.starts_with("password_command sh: failed (exit status: 3): not logged in"),
            "{message}"
        );
        assert!(!message.contains("leaked-secret"));
        let missing = command("/nonexistent/token-helper", &[]).run().await.unwrap_err();
        assert!(missing.message.contains("cannot start it"), "{}", missing.message);
        assert_eq!(
            command("true", &[]).run().await.unwrap_err().message,
            "password_command true: printed nothing"
        );
        let mut slow = command("sleep", &["5"]);
        slow.timeout = Duration::from_millis(200);
        let late = slow.run().await.unwrap_err();
        assert!(late.message.contains("did not finish within 0.2 s"), "{}", late.message);
    }
}
