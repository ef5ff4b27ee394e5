//! ADO.NET connection strings (`Server=tcp:host,1433;Database=erp;User Id=app;…`)
//! read into an [`Address`].
//!
//! Parsed here rather than with `tiberius::Config::from_ado_string`: the
//! driver must see which keywords are present (a password is refused, the
//! target is shown without secrets, `Encrypt=strict` works without tiberius'
//! `tds80` feature), and tiberius keeps what it parsed private.
//!
//! Problems name keywords, never values: a value may be a secret.

use crate::address::{Address, Encrypt};

/// Keywords SqlClient understands that change nothing here: pooling and
/// timeouts are the environment's `[pool]` and `query_timeout_secs`.
const IGNORED: &[&str] = &[
    "persistsecurityinfo",
    "multipleactiveresultsets",
    "connecttimeout",
    "connectiontimeout",
    "timeout",
    "commandtimeout",
    "pooling",
    "minpoolsize",
    "maxpoolsize",
    "connectretrycount",
    "connectretryinterval",
    "loadbalancetimeout",
    "packetsize",
    "workstationid",
    "wsid",
    "multisubnetfailover",
    "transactionbinding",
    "language",
    "currentlanguage",
];

pub fn parse(text: &str) -> Result<Address, String> {
    let mut address = Address::default();
    let mut server = None;
    for (key, value) in pairs(text)? {
        // SqlClient accepts `User ID`, `UserID` and `user_id` alike.
        let normalized: String =
            key.chars().filter(|c| !matches!(c, ' ' | '_')).collect::<String>().to_ascii_lowercase();
        match normalized.as_str() {
            "server" | "datasource" | "address" | "addr" | "networkaddress" => server = Some(value),
            "database" | "initialcatalog" => address.database = Some(value),
            "userid" | "uid" | "user" | "username" => address.username = Some(value),
            "password" | "pwd" => {
                return Err(format!(
                    "contains a password ('{key}'): remove it and set password_env or password_file"
                ));
            }
            "encrypt" => address.encrypt = Some(encrypt(&key, &value)?),
            "trustservercertificate" => address.trust_server_certificate = Some(boolean(&key, &value)?),
            "trustservercertificateca" => address.trust_server_certificate_ca = Some(value),
            "applicationname" | "app" => address.application_name = Some(value),
            "applicationintent" => {
                address.read_only_intent = match value.to_ascii_lowercase().as_str() {
                    "readonly" => true,
                    "readwrite" => false,
                    _ => return Err(format!("'{key}' must be ReadOnly or ReadWrite")),
                }
            }
            "hostnameincertificate" => address.hostname_in_certificate = Some(value),
            "integratedsecurity" | "trustedconnection" => {
                if boolean(&key, &value)? {
                    return Err(format!(
                        "'{key}': integrated (Windows) authentication is not supported; \
                         use User Id with password_env or password_file"
                    ));
                }
            }
            "authentication" if value.eq_ignore_ascii_case("sqlpassword") => {}
            "authentication" => {
                return Err(format!("'{key}': only SqlPassword authentication is supported"));
            }
            other if IGNORED.contains(&other) => {}
            _ => return Err(format!("unknown keyword '{key}'")),
        }
    }
    let server = server.ok_or("has no Server (or Data Source)")?;
    parse_server(&server, &mut address)?;
    Ok(address)
}

/// `tcp:host,port`, `host\instance`, `host\instance,port`, `(local)`.
fn parse_server(server: &str, address: &mut Address) -> Result<(), String> {
    let server = server.trim();
    let server = match server.split_once(':') {
        Some((protocol, rest)) if protocol.eq_ignore_ascii_case("tcp") => rest,
        Some((protocol, _)) if ["np", "lpc", "admin"].iter().any(|p| protocol.eq_ignore_ascii_case(p)) => {
            return Err(format!("Server: only TCP is supported, not '{protocol}:'"));
        }
        _ => server,
    };
    let (host, port) = match server.rsplit_once(',') {
        Some((host, port)) => (
            host,
            Some(port.trim().parse::<u16>().map_err(|_| "Server: the port after ',' is not a number")?),
        ),
        None => (server, None),
    };
    let (host, instance) = match host.split_once('\\') {
        Some((host, instance)) => (host, Some(instance.trim().to_owned())),
        None => (host, None),
    };
    let host = host.trim();
    address.host = match host {
        "" => return Err("Server has no host name".into()),
        "." | "(local)" => "localhost".into(),
        _ => host.to_owned(),
    };
    address.port = port;
    address.instance = instance.filter(|i| !i.is_empty());
    Ok(())
}

fn encrypt(key: &str, value: &str) -> Result<Encrypt, String> {
    match value.to_ascii_lowercase().as_str() {
        "strict" => Ok(Encrypt::Strict),
        "true" | "yes" | "mandatory" => Ok(Encrypt::Required),
        "false" | "no" | "optional" => Ok(Encrypt::Off),
        "danger_plaintext" => Ok(Encrypt::NotSupported),
        _ => Err(format!("'{key}' must be Strict, True, False or DANGER_PLAINTEXT")),
    }
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "sspi" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(format!("'{key}' must be true or false")),
    }
}

/// `key=value` pairs separated by `;`. A value may be quoted with `'…'` or
/// `"…"` (the quote doubled inside) or braces `{…}` (tiberius' extension),
/// which is how it holds a `;`.
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c == ';' || c.is_whitespace());
        if rest.is_empty() {
            return Ok(pairs);
        }
        let (key, after_key) = rest.split_once('=').ok_or("expected keyword=value pairs separated by ';'")?;
        let key = key.trim().to_owned();
        let after_key = after_key.trim_start();
        let (value, after_value) = match after_key.chars().next() {
            Some(quote @ ('\'' | '"')) => quoted(&after_key[1..], quote)
                .ok_or_else(|| format!("the value of '{key}' has no closing {quote}"))?,
            Some('{') => {
                let end =
                    after_key.find('}').ok_or_else(|| format!("the value of '{key}' has no closing }}"))?;
                (after_key[1..end].to_owned(), &after_key[end + 1..])
            }
            _ => {
                let end = after_key.find(';').unwrap_or(after_key.len());
                (after_key[..end].trim_end().to_owned(), &after_key[end..])
            }
        };
        let after_value = after_value.trim_start();
        if !(after_value.is_empty() || after_value.starts_with(';')) {
            return Err(format!("unexpected text after the quoted value of '{key}'"));
        }
        pairs.push((key, value));
        rest = after_value;
    }
}

/// The text up to the closing `quote` (a doubled quote stands for one), and
/// what follows it.
fn quoted(text: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != quote {
            value.push(c);
        } else if chars.peek().is_some_and(|(_, next)| *next == quote) {
            value.push(quote);
            chars.next();
        } else {
            return Some((value, &text[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_typical_azure_string() {
        let address = parse(
            "Server=tcp:erp.database.windows.net,1433;Initial Catalog=erp;Persist Security Info=False;\
             User ID=reader;MultipleActiveResultSets=False;Encrypt=True;TrustServerCertificate=False;\
             Connection Timeout=30;",
        )
        .unwrap();
        assert_eq!(address.host, "erp.database.windows.net");
        assert_eq!(address.port, Some(1433));
        assert_eq!(address.database.as_deref(), Some("erp"));
        assert_eq!(address.username.as_deref(), Some("reader"));
        assert_eq!(address.encrypt, Some(Encrypt::Required));
        assert_eq!(address.trust_server_certificate, Some(false));
    }

    #[test]
    fn reads_instances_quotes_and_intent() {
        let address = parse(
            "Data Source=db01\\SALES,14330;Database='my;db';uid=\"a\"\"b\";App={tool};\
             ApplicationIntent=ReadOnly;Encrypt=strict",
        )
        .unwrap();
        assert_eq!(address.host, "db01");
        assert_eq!(address.instance.as_deref(), Some("SALES"));
        assert_eq!(address.port, Some(14330));
        assert_eq!(address.database.as_deref(), Some("my;db"));
        assert_eq!(address.username.as_deref(), Some("a\"b"));
        assert_eq!(address.application_name.as_deref(), Some("tool"));
        assert!(address.read_only_intent);
        assert_eq!(address.encrypt, Some(Encrypt::Strict));
        assert_eq!(parse("Server=(local)").unwrap().host, "localhost");
        assert_eq!(parse("server=h;encrypt=DANGER_PLAINTEXT").unwrap().encrypt, Some(Encrypt::NotSupported));
    }

    #[test]
    fn refuses_passwords_without_echoing_them() {
        for text in ["Server=h;Password=hunter2", "Server=h;PWD='hunter2;x'"] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("password_env"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn reports_malformed_strings() {
        assert!(parse("Database=x").unwrap_err().contains("Server"));
        assert!(parse("Server=h;Bogus=1").unwrap_err().contains("unknown keyword 'Bogus'"));
        assert!(parse("Server=h,abc").unwrap_err().contains("port"));
        assert!(parse("Server=np:\\\\h\\pipe").unwrap_err().contains("TCP"));
        assert!(parse("Server=h;Database='x").unwrap_err().contains("closing"));
        assert!(parse("Server=h;Integrated Security=SSPI").unwrap_err().contains("Windows"));
        assert!(parse("just text").is_err());
    }
}
