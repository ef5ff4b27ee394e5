//! Bearer tokens of the HTTP transport: `[server] auth_token_env` (one token
//! that reaches everything) and `[[server.tokens]]` (named, each limited to
//! some environments and tools). A request's token decides who the
//! [`Caller`] of its calls is.

use std::sync::Arc;

use dbfleet_core::config::TokenConfig;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Who sent a request, when it came with a named token: carried in the
/// request's extensions to the tool calls it makes.
#[derive(Debug)]
pub struct Caller {
    pub name: String,
    /// Every environment when `None`.
    pub environments: Option<Vec<String>>,
    /// Every tool when `None`.
    pub tools: Option<Vec<String>>,
}

impl Caller {
    pub fn may_use_tool(&self, tool: &str) -> bool {
        self.tools.as_ref().is_none_or(|tools| tools.iter().any(|t| t == tool))
    }
}

#[derive(Default)]
pub struct Tokens {
    unnamed: Option<SecretString>,
    named: Vec<(SecretString, Arc<Caller>)>,
}

/// What a request's `Authorization` header is worth.
pub enum Admission {
    /// No token is configured, or the unnamed one was given.
    Anyone,
    Named(Arc<Caller>),
    Refused,
}

impl Tokens {
    pub fn new(unnamed: Option<String>, named: &[TokenConfig]) -> Tokens {
        Tokens {
            unnamed: unnamed.map(SecretString::from),
            named: named
                .iter()
                .map(|token| {
                    let caller = Caller {
                        name: token.name.clone(),
                        environments: token.environments.clone(),
                        tools: token.tools.clone(),
                    };
                    (token.secret.clone(), Arc::new(caller))
                })
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.unnamed.is_none() && self.named.is_empty()
    }

    /// Compares the given token with every configured one in constant time,
    /// so that a wrong token's timing tells nothing of the right ones.
    pub fn admit(&self, bearer: Option<&str>) -> Admission {
        if self.is_empty() {
            return Admission::Anyone;
        }
        let Some(given) = bearer else { return Admission::Refused };
        let matches =
            |secret: &SecretString| bool::from(given.as_bytes().ct_eq(secret.expose_secret().as_bytes()));
        let unnamed = self.unnamed.as_ref().is_some_and(matches);
        let mut named = None;
        for (secret, caller) in &self.named {
            if matches(secret) {
                named = Some(caller.clone());
            }
        }
        match (unnamed, named) {
            (_, Some(caller)) => Admission::Named(caller),
            (true, None) => Admission::Anyone,
            (false, None) => Admission::Refused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, secret: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            secret: SecretString::from(secret.to_owned()),
            environments: Some(vec!["dev".into()]),
            tools: None,
        }
    }

    #[test]
    fn a_token_admits_its_caller_and_nothing_else_does() {
        let tokens = Tokens::new(Some("unnamed-secret-0001".into()), &[token("bot", "bot-secret-000000001")]);
        assert!(matches!(tokens.admit(Some("unnamed-secret-0001")), Admission::Anyone));
        match tokens.admit(Some("bot-secret-000000001")) {
            Admission::Named(caller) => assert_eq!(caller.name, "bot"),
            _ => panic!("the bot's token names the bot"),
        }
        for wrong in [None, Some(""), Some("bot-secret-00000000"), Some("bot-secret-0000000012")] {
            assert!(matches!(tokens.admit(wrong), Admission::Refused), "{wrong:?}");
        }
        assert!(matches!(Tokens::default().admit(None), Admission::Anyone));
    }
}
