//! Where a SQL Server is and how to reach it, as the settings, a URL or a
//! connection string describe it.

use tiberius::EncryptionLevel;

/// How much of the connection TLS protects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encrypt {
    /// TDS 8.0: TLS before anything else is sent.
    Strict,
    /// Everything after the pre-login is encrypted (the default).
    Required,
    /// Only the login packet is encrypted (SqlClient's `Encrypt=false`).
    Off,
    /// No TLS at all, for servers (and test endpoints) without it.
    NotSupported,
}

impl Encrypt {
    pub const NAMES: &[&str] = &["strict", "required", "off", "not_supported"];

    pub fn parse(name: &str) -> Option<Encrypt> {
        match name {
            "strict" => Some(Encrypt::Strict),
            "required" => Some(Encrypt::Required),
            "off" => Some(Encrypt::Off),
            "not_supported" => Some(Encrypt::NotSupported),
            _ => None,
        }
    }

    pub fn level(self) -> EncryptionLevel {
        match self {
            Encrypt::Strict => EncryptionLevel::Strict,
            Encrypt::Required => EncryptionLevel::Required,
            Encrypt::Off => EncryptionLevel::Off,
            Encrypt::NotSupported => EncryptionLevel::NotSupported,
        }
    }
}

/// Where and how to connect, whichever form the settings use. Holds no secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: Option<u16>,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub encrypt: Option<Encrypt>,
    pub trust_server_certificate: Option<bool>,
    pub trust_server_certificate_ca: Option<String>,
    pub application_name: Option<String>,
    /// `ApplicationIntent=ReadOnly` in a connection string.
    pub read_only_intent: bool,
    pub hostname_in_certificate: Option<String>,
}

impl Address {
    /// The port to dial: the given one, else SQL Browser's answer for a named
    /// instance, else 1433.
    pub fn uses_sql_browser(&self) -> bool {
        self.instance.is_some() && self.port.is_none()
    }
}
