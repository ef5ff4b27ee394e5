//! `[[server.tokens]]`: named bearer tokens of the HTTP transport, each
//! limited to some environments and tools.

use secrecy::{ExposeSecret, SecretString};
use toml::Table;

use super::TokenConfig;
use super::load::{At, Checker, read_secret_file};
use super::tools::{BUILT_IN_TOOLS, ToolConfig};

const TOKEN_KEYS: &[&str] = &["name", "token_env", "token_file", "environments", "tools"];

/// Shorter secrets are refused: they can be guessed.
const MIN_SECRET_BYTES: usize = 16;

impl Checker<'_> {
    /// Every entry of `[[server.tokens]]`, checked against the environments
    /// the file declares and the tools it has.
    pub(super) fn tokens(
        &mut self,
        root: &Table,
        environments: &[(String, bool)],
        tools: &[ToolConfig],
    ) -> Vec<TokenConfig> {
        let at = At::root().child("server");
        let Some(value) = root.get("server").and_then(|server| server.get("tokens")) else {
            return Vec::new();
        };
        let Some(entries) = value.as_array() else {
            self.problem(&at, Some("tokens"), "expected [[server.tokens]] entries");
            return Vec::new();
        };
        let mut tokens: Vec<TokenConfig> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let Some(table) = entry.as_table() else {
                self.problem(&at, Some("tokens"), format!("entry {}: expected a table", index + 1));
                continue;
            };
            if let Some(token) = self.token(&at, index, table, environments, tools) {
                if let Some(twin) =
                    tokens.iter().find(|t| t.secret.expose_secret() == token.secret.expose_secret())
                {
                    self.problem(
                        &at,
                        Some("tokens"),
                        format!("token '{}' has the same secret as token '{}'", token.name, twin.name),
                    );
                    continue;
                }
                if tokens.iter().any(|t| t.name == token.name) {
                    self.problem(&at, Some("tokens"), format!("two tokens are named '{}'", token.name));
                    continue;
                }
                tokens.push(token);
            }
        }
        tokens
    }

    fn token(
        &mut self,
        at: &At<'_>,
        index: usize,
        table: &Table,
        environments: &[(String, bool)],
        tools: &[ToolConfig],
    ) -> Option<TokenConfig> {
        let before = self.problems.len();
        let name = self.string(at, table, "name");
        let label = match &name {
            Some(name) => format!("token '{name}'"),
            None => format!("token {}", index + 1),
        };
        let problem = |checker: &mut Self, message: String| {
            checker.problem(at, Some("tokens"), format!("{label}: {message}"));
        };
        for key in table.keys().filter(|key| !TOKEN_KEYS.contains(&key.as_str())) {
            problem(self, format!("unknown key '{key}'; expected one of: {}", TOKEN_KEYS.join(", ")));
        }
        match &name {
            None => problem(self, "required: name (the audit log's client)".into()),
            Some(name)
                if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                problem(self, "the name takes letters, digits, '_' and '-'".into());
            }
            Some(_) => {}
        }
        let secret = match (self.string(at, table, "token_env"), self.string(at, table, "token_file")) {
            (Some(_), Some(_)) => {
                problem(self, "give token_env or token_file, not both".into());
                None
            }
            (Some(var), None) => match self.var(&var) {
                Some(value) => Some(value),
                None => {
                    problem(self, format!("environment variable {var} is not set"));
                    None
                }
            },
            (None, Some(file)) => match read_secret_file(&self.resolve(std::path::Path::new(&file))) {
                Ok(secret) => Some(secret),
                Err(message) => {
                    problem(self, message);
                    None
                }
            },
            (None, None) => {
                problem(self, "required: token_env or token_file (where its secret is)".into());
                None
            }
        };
        if let Some(secret) = &secret
            && secret.len() < MIN_SECRET_BYTES
        {
            problem(
                self,
                format!(
                    "the secret is shorter than {MIN_SECRET_BYTES} characters (openssl rand -hex 32 makes one)"
                ),
            );
        }
        let allowed_environments = self.strings(at, table, "environments");
        for env in allowed_environments.iter().flatten() {
            if !environments.iter().any(|(name, _)| name == env) {
                let names: Vec<&str> = environments.iter().map(|(name, _)| name.as_str()).collect();
                problem(self, format!("no environment named '{env}' (configured: {})", names.join(", ")));
            }
        }
        let allowed_tools = self.strings(at, table, "tools");
        for tool in allowed_tools.iter().flatten() {
            if !BUILT_IN_TOOLS.contains(&tool.as_str()) && !tools.iter().any(|t| &t.name == tool) {
                problem(self, format!("no tool named '{tool}'"));
            }
        }
        if self.problems.len() > before {
            return None;
        }
        Some(TokenConfig {
            name: name?,
            secret: SecretString::from(secret?),
            environments: allowed_environments,
            tools: allowed_tools,
        })
    }
}
