//! Keeping secrets out of logs and error messages.

/// Replaces the password of a URL (`scheme://user:password@host/...`) with
/// `***`. Text that is not such a URL comes back unchanged.
///
/// Hand-rolled rather than parsed with a URL crate: it must also work on
/// malformed URLs and on URLs embedded in an engine's error message, which a
/// strict parser rejects.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest.find(['/', '?', '#', ' ', '\n', '"', '\'']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Replaces every occurrence of each secret in `text` with `***`, then
/// redacts URL passwords. Secrets shorter than 3 characters are still
/// replaced: a leaked short password is still a leaked password.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(secret) {
            out = out.replace(secret, "***");
        }
    }
    url(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_hidden() {
        assert_eq!(url("postgres://app:s3cr%40t@db:5432/shop"), "postgres://app:***@db:5432/shop");
        assert_eq!(url("mysql://root@localhost/x"), "mysql://root@localhost/x");
        assert_eq!(url("no url here"), "no url here");
        assert_eq!(
            url("failed: postgres://a:b@h/d and mysql://c:d@e"),
            "failed: postgres://a:***@h/d and mysql://c:***@e"
        );
    }

    #[test]
    fn scrub_removes_known_secrets() {
        assert_eq!(scrub("auth failed for hunter2!", &["hunter2"]), "auth failed for ***!");
    }
}
