//! `${VAR}` expansion in configuration strings.

/// Replaces `${NAME}` with the variable's value and `$$` with `$`. Returns the
/// names of unset variables instead when any is unset, so that a problem can
/// name them without ever showing a value.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(ExpandError::Unterminated);
            };
            let name = &body[..end];
            if !is_variable_name(name) {
                return Err(ExpandError::BadName(name.to_owned()));
            }
            match lookup(name) {
                Some(value) => out.push_str(&value),
                None => missing.push(name.to_owned()),
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if missing.is_empty() { Ok(out) } else { Err(ExpandError::Unset(missing)) }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandError {
    Unset(Vec<String>),
    Unterminated,
    BadName(String),
}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpandError::Unset(names) => {
                let names: Vec<String> = names.iter().map(|n| format!("${{{n}}}")).collect();
                write!(f, "environment variable {} is not set", names.join(", "))
            }
            ExpandError::Unterminated => {
                f.write_str("'${' without a closing '}' (write '$$' for a literal '$')")
            }
            ExpandError::BadName(name) => write!(f, "'${{{name}}}' is not a valid variable name"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "USER" => Some("app".into()),
            "PW" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables_and_escapes() {
        assert_eq!(expand("postgres://${USER}:${PW}@db/x", &vars).unwrap(), "postgres://app:s3cret@db/x");
        assert_eq!(expand("cost: $$5 and $x", &vars).unwrap(), "cost: $5 and $x");
        assert_eq!(expand("plain", &vars).unwrap(), "plain");
    }

    #[test]
    fn reports_every_unset_variable_and_bad_syntax() {
        assert_eq!(expand("${A}${USER}${B}", &vars), Err(ExpandError::Unset(vec!["A".into(), "B".into()])));
        assert_eq!(expand("${USER", &vars), Err(ExpandError::Unterminated));
        assert_eq!(expand("${1X}", &vars), Err(ExpandError::BadName("1X".into())));
    }
}
