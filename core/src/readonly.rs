//! Statement classification: is a statement a read-only query, and does it
//! return rows?
//!
//! Read-only environments refuse anything this module does not positively
//! recognise as read-only (fail closed). A parser cannot see side effects
//! hidden in functions (`SELECT nextval('s')`), which is why every driver
//! also opens read-only sessions where its engine can.

use std::ops::ControlFlow;

use sqlparser::ast::{SetExpr, Statement, Visit, Visitor};
use sqlparser::dialect::{Dialect, MsSqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// What a single SQL statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Changes nothing: a query, `EXPLAIN` without `ANALYZE`, `SHOW`, `DESCRIBE`,
    /// or an introspection `PRAGMA`.
    pub read_only: bool,
    /// Produces a result set (queries, and DML with `RETURNING`).
    pub returns_rows: bool,
    /// A query whose top level has `ORDER BY`: its row order is meaningful.
    pub ordered: bool,
    /// Why it is not read-only, for the error message.
    pub write_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("the SQL text is empty")]
    Empty,
    #[error("one statement per call, found {0}")]
    MultipleStatements(usize),
    #[error("could not parse the statement: {0}")]
    Parse(String),
}

/// Classifies the single statement in `sql` with the given dialect.
pub fn classify(sql: &str, dialect: &dyn Dialect) -> Result<Classification, ClassifyError> {
    if let Some(class) = classify_pragma(sql, dialect)? {
        return Ok(class);
    }
    let sql = without_query_hints(sql, dialect)?;
    let statements = Parser::parse_sql(dialect, &sql).map_err(|e| ClassifyError::Parse(e.to_string()))?;
    let statement = match statements.as_slice() {
        [] => return Err(ClassifyError::Empty),
        [one] => one,
        many => return Err(ClassifyError::MultipleStatements(many.len())),
    };
    let mut checker = ReadOnlyChecker;
    let write_reason = match statement.visit(&mut checker) {
        ControlFlow::Break(reason) => Some(reason),
        ControlFlow::Continue(()) => None,
    };
    Ok(Classification {
        read_only: write_reason.is_none(),
        returns_rows: returns_rows(statement),
        ordered: matches!(statement, Statement::Query(query) if query.order_by.is_some()),
        write_reason,
    })
}

fn returns_rows(statement: &Statement) -> bool {
    match statement {
        Statement::Insert(insert) => insert.returning.is_some(),
        Statement::Update(update) => update.returning.is_some(),
        Statement::Delete(delete) => delete.returning.is_some(),
        // A procedure may return result sets; one that returns none reads as
        // an empty result.
        Statement::Execute { .. } => true,
        other => is_read_only_kind(other),
    }
}

/// Walks every statement and query nested in the statement (CTEs, subqueries,
/// `EXPLAIN` targets) and stops at the first that writes or locks.
struct ReadOnlyChecker;

impl Visitor for ReadOnlyChecker {
    type Break = String;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<String> {
        if is_read_only_kind(statement) {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(statement_keyword(statement))
        }
    }

    fn pre_visit_query(&mut self, query: &sqlparser::ast::Query) -> ControlFlow<String> {
        if !query.locks.is_empty() {
            return ControlFlow::Break("SELECT … FOR UPDATE/SHARE takes row locks".into());
        }
        if creates_table(&query.body) {
            return ControlFlow::Break("SELECT … INTO creates a table".into());
        }
        ControlFlow::Continue(())
    }
}

fn creates_table(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.into.is_some(),
        SetExpr::SetOperation { left, right, .. } => creates_table(left) || creates_table(right),
        _ => false,
    }
}

fn is_read_only_kind(statement: &Statement) -> bool {
    match statement {
        Statement::Query(_)
        | Statement::ExplainTable { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. } => true,
        Statement::Explain { analyze, .. } => !analyze,
        _ => false,
    }
}

/// T-SQL query hints at the end of a statement (`… OPTION (MAXRECURSION 0)`,
/// `OPTION (RECOMPILE)`) only steer the planner, and sqlparser does not read
/// them: they are cut off, and what remains must still classify on its own.
fn without_query_hints(sql: &str, dialect: &dyn Dialect) -> Result<String, ClassifyError> {
    if !dialect.is::<MsSqlDialect>() {
        return Ok(sql.to_owned());
    }
    let mut tokens =
        Tokenizer::new(dialect, sql).tokenize().map_err(|e| ClassifyError::Parse(e.to_string()))?;
    let significant = |t: &Token| !matches!(t, Token::Whitespace(_) | Token::SemiColon | Token::EOF);
    let Some(last) = tokens.iter().rposition(significant) else { return Ok(sql.to_owned()) };
    if tokens[last] != Token::RParen {
        return Ok(sql.to_owned());
    }
    let mut depth = 0usize;
    let mut open = None;
    for (i, token) in tokens[..=last].iter().enumerate().rev() {
        match token {
            Token::RParen => depth += 1,
            Token::LParen => {
                depth -= 1;
                if depth == 0 {
                    open = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    let option = open.and_then(|open| tokens[..open].iter().rposition(significant));
    match option.map(|i| (i, &tokens[i])) {
        Some((i, Token::Word(word))) if word.keyword == Keyword::OPTION => {
            tokens.truncate(i);
            Ok(tokens.iter().map(ToString::to_string).collect())
        }
        _ => Ok(sql.to_owned()),
    }
}

/// `PRAGMA` statements, classified from their tokens: sqlparser only accepts
/// literal pragma arguments, so `PRAGMA table_info(orders)` (a bare name, the
/// common form) does not parse. `None` when the statement is not a pragma.
fn classify_pragma(sql: &str, dialect: &dyn Dialect) -> Result<Option<Classification>, ClassifyError> {
    let tokens = Tokenizer::new(dialect, sql).tokenize().map_err(|e| ClassifyError::Parse(e.to_string()))?;
    let mut words = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_)));
    match words.next() {
        Some(Token::Word(w)) if w.keyword == Keyword::PRAGMA => {}
        _ => return Ok(None),
    }
    let rest: Vec<&Token> = words.collect();
    if let Some(extra) = rest.iter().position(|t| **t == Token::SemiColon)
        && rest[extra + 1..].iter().any(|t| **t != Token::SemiColon && **t != Token::EOF)
    {
        return Err(ClassifyError::MultipleStatements(2));
    }
    // The pragma's name is the last word before any `=` or `(`: `schema.name`.
    let name_end = rest.iter().position(|t| matches!(t, Token::Eq | Token::LParen)).unwrap_or(rest.len());
    let name = rest[..name_end]
        .iter()
        .rev()
        .find_map(|t| match t {
            Token::Word(w) => Some(w.value.to_ascii_lowercase()),
            _ => None,
        })
        .ok_or_else(|| ClassifyError::Parse("PRAGMA without a name".into()))?;
    let has_argument = name_end < rest.len();
    let assigns = rest.get(name_end) == Some(&&Token::Eq);
    let read_only = !assigns
        && (INTROSPECTION_PRAGMAS.contains(&name.as_str())
            || (!has_argument && READABLE_PRAGMAS.contains(&name.as_str())));
    Ok(Some(Classification {
        read_only,
        returns_rows: true,
        ordered: false,
        write_reason: (!read_only).then(|| format!("PRAGMA {name} with an argument may change the database")),
    }))
}

/// SQLite pragmas that only report, whatever argument they are given.
const INTROSPECTION_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "database_list",
    "collation_list",
    "function_list",
    "module_list",
    "pragma_list",
    "compile_options",
    "integrity_check",
    "quick_check",
];

/// SQLite pragmas that report their value when given none (and set it when given one).
const READABLE_PRAGMAS: &[&str] = &[
    "application_id",
    "auto_vacuum",
    "cache_size",
    "encoding",
    "foreign_keys",
    "freelist_count",
    "journal_mode",
    "page_count",
    "page_size",
    "query_only",
    "schema_version",
    "user_version",
];

fn statement_keyword(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    format!("{} is not a read-only statement", words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::{GenericDialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};

    fn read_only(sql: &str) -> bool {
        classify(sql, &SQLiteDialect {}).unwrap().read_only
    }

    #[test]
    fn queries_are_read_only() {
        for sql in [
            "SELECT 1",
            "select * from orders where id in (select order_id from items)",
            "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
            "SELECT a FROM t UNION SELECT b FROM u",
            "EXPLAIN QUERY PLAN SELECT * FROM t",
            "PRAGMA table_info(orders)",
            "PRAGMA user_version",
            "PRAGMA main.index_list('orders')",
            "VALUES (1), (2)",
        ] {
            assert!(read_only(sql), "{sql}");
        }
    }

    #[test]
    fn writes_are_refused() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "UPDATE t SET a = 1",
            "DELETE FROM t",
            "CREATE TABLE x (a INT)",
            "DROP TABLE t",
            "ALTER TABLE t ADD COLUMN b INT",
            "ATTACH DATABASE 'x.db' AS x",
            "PRAGMA user_version = 5",
            "PRAGMA journal_mode = WAL",
            "REPLACE INTO t VALUES (1)",
            "VACUUM",
        ] {
            assert!(!read_only(sql), "{sql}");
        }
    }

    #[test]
    fn writes_hidden_in_queries_are_refused() {
        let pg = PostgreSqlDialect {};
        for sql in [
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
            "SELECT * INTO new_table FROM t",
            "SELECT * FROM t FOR UPDATE",
            "EXPLAIN ANALYZE DELETE FROM t",
        ] {
            assert!(!classify(sql, &pg).unwrap().read_only, "{sql}");
        }
    }

    #[test]
    fn mysql_show_and_describe_are_read_only() {
        let my = MySqlDialect {};
        for sql in ["SHOW TABLES", "DESCRIBE orders", "SHOW DATABASES"] {
            assert!(classify(sql, &my).unwrap().read_only, "{sql}");
        }
    }

    #[test]
    fn t_sql_queries_are_read_only_and_writes_are_not() {
        let ms = MsSqlDialect {};
        for sql in [
            "SELECT TOP (5) id FROM dbo.orders WHERE customer_id = @P1 ORDER BY id",
            "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c \
             OPTION (MAXRECURSION 0)",
            "SELECT id FROM orders WHERE amount > (SELECT AVG(amount) FROM orders) OPTION (RECOMPILE);",
            "SELECT COUNT_BIG(*) FROM [dbo].[orders]",
            "SELECT @@VERSION",
            "SELECT N'héllo' AS t, 0x0001FF AS b",
        ] {
            let class = classify(sql, &ms).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert!(class.read_only && class.returns_rows, "{sql}");
        }
        for sql in [
            "INSERT INTO customers VALUES (9, N'x')",
            "SELECT * INTO copy FROM orders",
            "DROP TABLE orders",
            "DELETE FROM orders OPTION (MAXDOP 1)",
        ] {
            assert!(!classify(sql, &ms).unwrap().read_only, "{sql}");
        }
    }

    #[test]
    fn rows_come_from_queries_and_returning() {
        let pg = PostgreSqlDialect {};
        assert!(classify("SELECT 1", &pg).unwrap().returns_rows);
        assert!(classify("INSERT INTO t VALUES (1) RETURNING id", &pg).unwrap().returns_rows);
        assert!(!classify("INSERT INTO t VALUES (1)", &pg).unwrap().returns_rows);
        assert!(!classify("CREATE TABLE x (a INT)", &pg).unwrap().returns_rows);
        let exec = classify("EXEC sp_who", &MsSqlDialect {}).unwrap();
        assert!(exec.returns_rows && !exec.read_only, "a procedure may return rows, and may write");
    }

    #[test]
    fn ordering_is_noticed() {
        let g = GenericDialect {};
        assert!(classify("SELECT a FROM t ORDER BY a", &g).unwrap().ordered);
        assert!(!classify("SELECT a FROM (SELECT a FROM t ORDER BY a) s", &g).unwrap().ordered);
    }

    #[test]
    fn bad_input_is_reported() {
        let g = GenericDialect {};
        assert_eq!(classify("", &g), Err(ClassifyError::Empty));
        assert_eq!(classify("SELECT 1; SELECT 2", &g), Err(ClassifyError::MultipleStatements(2)));
        assert!(matches!(classify("SELEC 1", &g), Err(ClassifyError::Parse(_))));
    }
}
