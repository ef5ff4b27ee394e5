//! Statements written with named parameters (`:customer_id`), as the tools
//! of the configuration file are, turned into one engine's positional form
//! (`$1`, `?`, `@P1`), so that one statement serves every engine whose
//! grammar it fits and its values are always bound, never spliced.

use sqlparser::dialect::Dialect;
use sqlparser::tokenizer::{Location, Token, Tokenizer};

/// A statement in an engine's positional form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positional {
    pub sql: String,
    /// The parameter bound at each position, in order: a name used twice
    /// takes two positions, as engines with `?` placeholders require.
    pub names: Vec<String>,
}

/// Rewrites every `:name` of `sql` into `placeholder(position)` (1-based).
///
/// The engine's own tokenizer finds them, so that text in strings, quoted
/// names and comments stays as written, and `::` casts are not parameters.
/// A colon right after a name, a number or a bracket (`a[1:n]`) is not a
/// parameter either.
pub fn to_positional(
    sql: &str,
    dialect: &dyn Dialect,
    placeholder: &dyn Fn(usize) -> String,
) -> Result<Positional, String> {
    let tokens = Tokenizer::new(dialect, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|err| err.to_string())?;
    let lines = LineStarts::new(sql);
    let mut rewritten = String::with_capacity(sql.len() + 16);
    let mut names = Vec::new();
    let mut copied = 0;
    for pair in tokens.windows(2) {
        let (Token::Colon, Token::Word(word)) = (&pair[0].token, &pair[1].token) else { continue };
        if word.quote_style.is_some() {
            continue;
        }
        let colon = lines.offset(sql, pair[0].span.start);
        let start = lines.offset(sql, pair[1].span.start);
        let end = lines.offset(sql, pair[1].span.end);
        let follows_operand = sql[..colon]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | ']' | ')' | '$' | '"' | '`'));
        if start != colon + 1 || follows_operand {
            continue;
        }
        rewritten.push_str(&sql[copied..colon]);
        names.push(word.value.clone());
        rewritten.push_str(&placeholder(names.len()));
        copied = end;
    }
    rewritten.push_str(&sql[copied..]);
    Ok(Positional { sql: rewritten, names })
}

/// Byte offsets of line starts: the tokenizer reports lines and columns
/// (1-based, columns in characters).
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineStarts(starts)
    }

    fn offset(&self, text: &str, location: Location) -> usize {
        let line_start = self.0.get(location.line.saturating_sub(1) as usize).copied().unwrap_or(text.len());
        let column = location.column.saturating_sub(1) as usize;
        text[line_start..].char_indices().nth(column).map_or(text.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};

    use super::*;

    fn dollar(n: usize) -> String {
        format!("${n}")
    }

    fn question(_: usize) -> String {
        "?".to_owned()
    }

    #[test]
    fn names_become_positions_in_order() {
        let p = to_positional(
            "SELECT * FROM orders WHERE customer_id = :customer AND placed >= :since OR customer_id = :customer",
            &PostgreSqlDialect {},
            &dollar,
        )
        .unwrap();
        assert_eq!(p.sql, "SELECT * FROM orders WHERE customer_id = $1 AND placed >= $2 OR customer_id = $3");
        assert_eq!(p.names, ["customer", "since", "customer"]);
    }

    #[test]
    fn strings_comments_quoted_names_and_casts_are_left_alone() {
        let sql = "SELECT ':not', \"a:b\", x::int, $$ :dollar $$, E'\\' :esc' -- :comment\n\
                   /* :block */ FROM t WHERE a = :real AND arr[1:n] = 1 AND é = :é";
        let p = to_positional(sql, &PostgreSqlDialect {}, &dollar).unwrap();
        assert_eq!(p.names, ["real", "é"]);
        assert!(p.sql.contains("WHERE a = $1 AND arr[1:n] = 1 AND é = $2"), "{}", p.sql);
        assert!(
            p.sql.starts_with("SELECT ':not', \"a:b\", x::int, $$ :dollar $$, E'\\' :esc' -- :comment\n")
        );
    }

    #[test]
    fn each_engine_gets_its_own_placeholder() {
        let sql = "SELECT `k:v`, 'it''s :x' FROM t WHERE a = :a\n  AND b IN (:b,:a)";
        let p = to_positional(sql, &MySqlDialect {}, &question).unwrap();
        assert_eq!(p.sql, "SELECT `k:v`, 'it''s :x' FROM t WHERE a = ?\n  AND b IN (?,?)");
        assert_eq!(p.names, ["a", "b", "a"]);
        let p =
            to_positional("SELECT [a:b] FROM t WHERE a=:a", &MsSqlDialect {}, &|n| format!("@P{n}")).unwrap();
        assert_eq!(p.sql, "SELECT [a:b] FROM t WHERE a=@P1");
        let p = to_positional("SELECT :a, :b", &SQLiteDialect {}, &|n| format!("?{n}")).unwrap();
        assert_eq!(p.sql, "SELECT ?1, ?2");
    }

    #[test]
    fn a_statement_without_names_is_unchanged() {
        let p = to_positional("SELECT 1", &PostgreSqlDialect {}, &dollar).unwrap();
        assert_eq!(p, Positional { sql: "SELECT 1".into(), names: Vec::new() });
    }

    #[test]
    fn an_unterminated_string_is_an_error() {
        assert!(to_positional("SELECT 'open", &PostgreSqlDialect {}, &dollar).is_err());
    }
}
