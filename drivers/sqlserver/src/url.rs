//! `sqlserver://user@host:port/database?option=value&…` URLs read into an
//! [`Address`]. `mssql://` is accepted as a synonym.
//!
//! Query options: `encrypt` (strict, required, off, not_supported),
//! `trust_server_certificate` (true/false), `instance` (a named instance) and
//! `application_name`. The user name, database and option values are
//! percent-decoded. A password in the URL is refused.
//!
//! Hand-parsed like `dbfleet_core::redact::url`: only this small shape is
//! accepted, and problems must never quote the URL (it may hold a secret).

use crate::address::{Address, Encrypt};

pub fn parse(text: &str) -> Result<Address, String> {
    let rest = ["sqlserver://", "mssql://"]
        .iter()
        .find_map(|scheme| text.strip_prefix(scheme))
        .ok_or("expected a sqlserver:// URL")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (before_query, None),
    };
    let mut address = Address::default();
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            if userinfo.contains(':') {
                return Err("contains a password: remove it and set password_env or password_file".into());
            }
            address.username = Some(decode(userinfo, "the user name")?);
            host_port
        }
        None => authority,
    };
    let (host, port) = split_host_port(host_port)?;
    if host.is_empty() {
        return Err("has no host".into());
    }
    address.host = host.to_owned();
    address.port = port;
    if let Some(path) = path.filter(|p| !p.is_empty()) {
        address.database = Some(decode(path, "the database name")?);
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value, name)?;
        match name {
            "encrypt" => {
                address.encrypt =
                    Some(Encrypt::parse(&value).ok_or_else(|| {
                        format!("option encrypt must be one of {}", Encrypt::NAMES.join(", "))
                    })?)
            }
            "trust_server_certificate" => {
                address.trust_server_certificate = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err("option trust_server_certificate must be true or false".into()),
                })
            }
            "instance" => address.instance = Some(value),
            "application_name" => address.application_name = Some(value),
            _ => {
                return Err(format!(
                    "unknown option '{name}' (known: encrypt, trust_server_certificate, instance, application_name)"
                ));
            }
        }
    }
    Ok(address)
}

/// `host`, `host:1433`, `[::1]:1433`.
fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has an unclosed '[' in its host")?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = port.map(|p| p.parse::<u16>().map_err(|_| "has a port that is not a number")).transpose()?;
    Ok((host, port))
}

/// Percent-decoding; `what` names the part in a problem.
fn decode(text: &str, what: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.ok_or_else(|| format!("{what} has a bad percent-escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{what} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_part() {
        let address = parse(
            "sqlserver://app%40corp@db.example.com:14330/erp%20db?encrypt=strict&trust_server_certificate=true\
             &instance=SALES&application_name=nightly%20report",
        )
        .unwrap();
        assert_eq!(address.username.as_deref(), Some("app@corp"));
        assert_eq!(address.host, "db.example.com");
        assert_eq!(address.port, Some(14330));
        assert_eq!(address.database.as_deref(), Some("erp db"));
        assert_eq!(address.encrypt, Some(Encrypt::Strict));
        assert_eq!(address.trust_server_certificate, Some(true));
        assert_eq!(address.instance.as_deref(), Some("SALES"));
        assert_eq!(address.application_name.as_deref(), Some("nightly report"));
    }

    #[test]
    fn minimal_and_ipv6_forms() {
        let address = parse("mssql://db").unwrap();
        assert_eq!((address.host.as_str(), address.port, address.database), ("db", None, None));
        let address = parse("sqlserver://sa@[::1]:1433/master?encrypt=not_supported").unwrap();
        assert_eq!((address.host.as_str(), address.port), ("::1", Some(1433)));
        assert_eq!(address.encrypt, Some(Encrypt::NotSupported));
    }

    #[test]
    fn refuses_passwords_without_echoing_them() {
        let err = parse("sqlserver://sa:hunter2@db/erp").unwrap_err();
        assert!(err.contains("password_env"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn reports_malformed_urls() {
        assert!(parse("postgres://db").unwrap_err().contains("sqlserver://"));
        assert!(parse("sqlserver://db:x").unwrap_err().contains("port"));
        assert!(parse("sqlserver://:1433").unwrap_err().contains("host"));
        assert!(parse("sqlserver://db?encrypt=maybe").unwrap_err().contains("encrypt"));
        assert!(parse("sqlserver://db?trust_server_certificate=1").unwrap_err().contains("true or false"));
        assert!(parse("sqlserver://db?timeout=3").unwrap_err().contains("unknown option 'timeout'"));
        assert!(parse("sqlserver://db/%zz").unwrap_err().contains("percent"));
    }
}
