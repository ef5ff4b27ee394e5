//! SQL Server errors in the kinds of the tool contract, keeping the server's
//! error number as the code and its message.

use dbfleet_core::driver_api::{DbError, ErrorKind};
use tiberius::error::{Error, IoErrorKind};

pub fn from_tiberius(err: Error) -> DbError {
    match err {
        Error::Server(token) => server_error(token.code(), token.class(), token.message()),
        Error::Io { kind: IoErrorKind::TimedOut, message } => DbError::new(
            ErrorKind::Timeout,
            format!(
                "the server did not answer in time (query_timeout_secs or connect_timeout_secs): {message}"
            ),
        ),
        Error::Io { message, .. } => DbError::connection(format!("cannot talk to the server: {message}")),
        Error::Tls(message) => DbError::connection(format!("TLS failed: {message}")),
        Error::Routing { host, port } => {
            DbError::connection(format!("the server redirected the connection to {host}:{port} again"))
        }
        Error::Protocol(message) => DbError::connection(format!("TDS protocol error: {message}")),
        Error::Encoding(message) => DbError::query(format!("unsupported encoding: {message}")),
        Error::Conversion(message) => DbError::query(format!("cannot convert a value: {message}")),
        Error::Utf8 => DbError::query("the server sent text that is not valid UTF-8"),
        Error::Utf16 => DbError::query("the server sent text that is not valid UTF-16"),
        Error::ParseInt(err) => DbError::query(format!("cannot parse a number: {err}")),
        Error::BulkInput(message) => DbError::invalid_argument(message.into_owned()),
    }
}

/// Whether the response to the request was read to its end when `err` came
/// back, so that the connection can serve the next request. tiberius reports
/// a server's ERROR token only once it has read the whole response; any other
/// error leaves the connection in an unknown state.
pub fn response_complete(err: &Error) -> bool {
    matches!(err, Error::Server(_))
}

/// One server error (its number, severity class and message) by kind.
pub fn server_error(code: u32, class: u8, message: &str) -> DbError {
    let kind = match code {
        // Login failed; untrusted domain; account disabled, locked, password expired or to change.
        18456 | 18452 | 18470 | 18486 | 18487 | 18488 => ErrorKind::Auth,
        // Cannot open the database requested by the login; it is not accessible.
        4060 | 4063 | 4064 | 911 | 976 | 978 => ErrorKind::Connection,
        // The database (or the session's intent) is read-only.
        3906 | 3908 => ErrorKind::ReadOnly,
        // Lock request time out.
        1222 => ErrorKind::Timeout,
        // Severity 20 and above ends the connection.
        _ if class >= 20 => ErrorKind::Connection,
        _ => ErrorKind::Query,
    };
    DbError::new(kind, message.to_owned()).with_code(code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_by_number_and_class() {
        let cases = [
            (18456, 14, ErrorKind::Auth),
            (4060, 11, ErrorKind::Connection),
            (208, 16, ErrorKind::Query),
            (207, 16, ErrorKind::Query),
            (102, 15, ErrorKind::Query),
            (2627, 14, ErrorKind::Query),
            (50000, 16, ErrorKind::Query),
            (3906, 16, ErrorKind::ReadOnly),
            (3908, 16, ErrorKind::ReadOnly),
            (1222, 16, ErrorKind::Timeout),
            (596, 21, ErrorKind::Connection),
        ];
        for (code, class, kind) in cases {
            let err = server_error(code, class, "the server's words");
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.code.as_deref(), Some(code.to_string().as_str()));
            assert_eq!(err.message, "the server's words");
        }
    }

    #[test]
    fn transport_errors_are_connection_or_timeout() {
        let refused = from_tiberius(Error::Io {
            kind: IoErrorKind::ConnectionRefused,
            message: "Connection refused (os error 111)".into(),
        });
        assert_eq!(refused.kind, ErrorKind::Connection);
        assert!(refused.message.contains("Connection refused"));
        let timed_out = from_tiberius(Error::Io { kind: IoErrorKind::TimedOut, message: "late".into() });
        assert_eq!(timed_out.kind, ErrorKind::Timeout);
        assert_eq!(from_tiberius(Error::Tls("bad certificate".into())).kind, ErrorKind::Connection);
        assert!(from_tiberius(Error::Tls("bad certificate".into())).message.contains("TLS"));
        assert_eq!(from_tiberius(Error::Protocol("junk".into())).kind, ErrorKind::Connection);
        assert_eq!(from_tiberius(Error::Utf16).kind, ErrorKind::Query);
        assert!(!response_complete(&Error::Protocol("junk".into())));
    }
}
