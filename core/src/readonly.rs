//! Statement classification: is a statement a read-only query, and does it
//! return rows?
//!
//! Read-only environments refuse anything this module does not positively
//! recognise as read-only (fail closed). A parser cannot see side effects
//! hidden in functions, so the check has two layers: statement kinds, then
//! calls to functions the engine's driver lists as having side effects
//! ([`EngineRules`], extended per environment). What neither layer sees (a
//! user's own function that writes) is stopped by the engine itself: every
//! driver runs read-only environments' statements inside read-only
//! transactions that it always rolls back.
//!
//! Classification must survive any input: a statement nested thousands of
//! levels deep (`1+1+…+1`) builds an equally deep syntax tree, and walking or
//! dropping it recurses once per level. Large statements are therefore
//! classified on a stack sized for them (see [`stack_for`]).

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, SetExpr, Statement, TableFactor, Visit, Visitor};
use sqlparser::dialect::Dialect;
use sqlparser::keywords::Keyword;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

/// What a single SQL statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Changes nothing: a query, `EXPLAIN` without `ANALYZE`, `SHOW`, `DESCRIBE`,
    /// or an introspection `PRAGMA`, calling no function with side effects.
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

/// What the read-only check must know about an engine beyond its grammar.
/// Each driver states its own (see `DatabaseDriver::engine_rules`).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct EngineRules {
    /// Functions whose call changes something (data, sequences, session
    /// settings, locks, files, other sessions) or runs SQL text the
    /// classifier cannot see. Matched on the function's own name, ignoring
    /// case, quotes and schema; a trailing `*` matches any ending (`lo_*`).
    pub side_effect_functions: &'static [&'static str],
    /// The engine runs code written inside comments (MySQL `/*! … */`,
    /// MariaDB `/*M! … */`). Such comments that the tokenizer leaves as
    /// comments are refused on read-only environments, never skipped.
    pub executable_comments: bool,
    /// `PRAGMA` statements, which the grammar reads only in part (SQLite):
    /// classified from their tokens by these lists.
    pub pragmas: Option<&'static PragmaRules>,
    /// Query hints at the end of a statement (T-SQL `… OPTION (RECOMPILE)`)
    /// only steer the planner and the grammar does not read them: they are
    /// cut off, and what remains must still classify on its own.
    pub trailing_query_hints: bool,
}

/// Built in `const` context by each driver:
/// `EngineRules::new().side_effect_functions(FUNCTIONS).executable_comments()`.
impl EngineRules {
    /// No side-effect functions, no executable comments, no pragmas, no hints.
    pub const fn new() -> Self {
        EngineRules {
            side_effect_functions: &[],
            executable_comments: false,
            pragmas: None,
            trailing_query_hints: false,
        }
    }

    pub const fn side_effect_functions(mut self, functions: &'static [&'static str]) -> Self {
        self.side_effect_functions = functions;
        self
    }

    pub const fn executable_comments(mut self) -> Self {
        self.executable_comments = true;
        self
    }

    pub const fn pragmas(mut self, pragmas: &'static PragmaRules) -> Self {
        self.pragmas = Some(pragmas);
        self
    }

    pub const fn trailing_query_hints(mut self) -> Self {
        self.trailing_query_hints = true;
        self
    }
}

impl Default for EngineRules {
    fn default() -> Self {
        EngineRules::new()
    }
}

/// Which `PRAGMA`s only report (see [`EngineRules::pragmas`]); any other is
/// taken as one that may change the database.
#[derive(Debug)]
#[non_exhaustive]
pub struct PragmaRules {
    /// Pragmas that only report, whatever argument they are given.
    pub introspection: &'static [&'static str],
    /// Pragmas that report their value when given none (and set it when
    /// given one).
    pub readable: &'static [&'static str],
}

impl PragmaRules {
    pub const fn new(introspection: &'static [&'static str], readable: &'static [&'static str]) -> Self {
        PragmaRules { introspection, readable }
    }
}

/// Classifies statements for one environment: its engine's grammar and
/// rules, and the functions its configuration adds.
pub struct Classifier {
    dialect: Box<dyn Dialect + Send + Sync>,
    rules: EngineRules,
    /// From the environment's `side_effect_functions`, lowercased.
    extra_functions: Vec<String>,
}

impl Classifier {
    pub fn new(
        dialect: Box<dyn Dialect + Send + Sync>,
        rules: EngineRules,
        extra_functions: &[String],
    ) -> Self {
        let extra_functions = extra_functions.iter().map(|f| f.to_lowercase()).collect();
        Classifier { dialect, rules, extra_functions }
    }

    /// Classifies the single statement in `sql`.
    pub fn classify(&self, sql: &str) -> Result<Classification, ClassifyError> {
        let check = Check {
            dialect: self.dialect.as_ref(),
            rules: &self.rules,
            extra_functions: &self.extra_functions,
        };
        check.classify(sql)
    }
}

/// One classification's grammar and rules.
struct Check<'a> {
    dialect: &'a dyn Dialect,
    rules: &'a EngineRules,
    extra_functions: &'a [String],
}

impl Check<'_> {
    fn classify(&self, sql: &str) -> Result<Classification, ClassifyError> {
        if sql.len() <= INLINE_BYTES {
            return self.classify_here(sql);
        }
        stacker::grow(stack_for(sql.len()), || self.classify_here(sql))
    }

    fn classify_here(&self, sql: &str) -> Result<Classification, ClassifyError> {
        let dialect = self.dialect;
        let tokens = Tokenizer::new(dialect, sql)
            .tokenize_with_location()
            .map_err(|e| ClassifyError::Parse(e.to_string()))?;
        let executable_comment = self.rules.executable_comments
            && tokens.iter().any(|t| match &t.token {
                Token::Whitespace(Whitespace::MultiLineComment(text)) => {
                    text.starts_with('!') || text.starts_with("M!")
                }
                _ => false,
            });
        let unicode_escapes = has_unicode_escaped_identifier(&tokens);
        if let Some(pragmas) = self.rules.pragmas
            && let Some(class) = classify_pragma(&tokens, pragmas)?
        {
            return Ok(class);
        }
        let tokens = if self.rules.trailing_query_hints { without_query_hints(tokens) } else { tokens };
        let statements = Parser::new(dialect)
            .with_tokens_with_locations(tokens)
            .parse_statements()
            .map_err(|e| ClassifyError::Parse(e.to_string()))?;
        let statement = match statements.as_slice() {
            [] => return Err(ClassifyError::Empty),
            [one] => one,
            many => return Err(ClassifyError::MultipleStatements(many.len())),
        };
        let mut checker = ReadOnlyChecker { check: self };
        let write_reason = if executable_comment {
            Some("the statement holds a comment that the engine executes (/*! … */ or /*M! … */)".to_owned())
        } else if unicode_escapes {
            Some(
                "the statement names something with Unicode escapes (U&\"…\"), which the check cannot read"
                    .to_owned(),
            )
        } else {
            match statement.visit(&mut checker) {
                ControlFlow::Break(reason) => Some(reason),
                ControlFlow::Continue(()) => None,
            }
        };
        Ok(Classification {
            read_only: write_reason.is_none(),
            returns_rows: returns_rows(statement),
            ordered: matches!(statement, Statement::Query(query) if query.order_by.is_some()),
            write_reason,
        })
    }

    /// The listed function `name` matches, if any.
    fn side_effect(&self, name: &ObjectName) -> Option<String> {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|part| part.as_ident())
            .map(|ident| ident.value.to_lowercase())
            .collect();
        let own = parts.last()?;
        let dotted = parts.join(".");
        let listed = |entry: &str| match entry.strip_suffix('*') {
            Some(prefix) => own.starts_with(prefix),
            None if entry.contains('.') => dotted == entry || dotted.ends_with(&format!(".{entry}")),
            None => own == entry,
        };
        let found = self.rules.side_effect_functions.iter().any(|entry| listed(entry))
            || self.extra_functions.iter().any(|entry| listed(entry));
        found.then_some(dotted)
    }
}

/// Statements up to this size are classified on the caller's stack: at one
/// syntax-tree level per byte at most, they stay far from a 2 MiB thread
/// stack's end.
const INLINE_BYTES: usize = 4 * 1024;

/// The stack a statement of `len` bytes is classified on. sqlparser guards
/// its parser and visitor against deep recursion itself, but dropping the
/// tree recurses once per level, up to one level per byte of text. An
/// unoptimised build was measured to need 64 bytes of stack per byte of
/// `1+1+…+1` (32 overflowed); this allows twice that. The stack is mapped,
/// not committed: only the pages a deep tree touches take memory.
fn stack_for(len: usize) -> usize {
    len.saturating_mul(128).max(1 << 20)
}

/// Classifies the single statement in `sql` with the given dialect and no
/// engine rules: statement kinds only.
pub fn classify(sql: &str, dialect: &dyn Dialect) -> Result<Classification, ClassifyError> {
    Check { dialect, rules: &EngineRules::default(), extra_functions: &[] }.classify(sql)
}

fn returns_rows(statement: &Statement) -> bool {
    match statement {
        Statement::Insert(insert) => insert.returning.is_some(),
        Statement::Update(update) => update.returning.is_some(),
        Statement::Delete(delete) => delete.returning.is_some(),
        // A procedure may return result sets; one that returns none reads as
        // an empty result.
        Statement::Execute { .. } | Statement::Call(_) => true,
        other => is_read_only_kind(other),
    }
}

/// Walks every statement and query nested in the statement (CTEs, subqueries,
/// `EXPLAIN` targets) and stops at the first that writes or locks.
struct ReadOnlyChecker<'c, 'a> {
    check: &'c Check<'a>,
}

impl ReadOnlyChecker<'_, '_> {
    fn refuse_call(&self, name: &ObjectName) -> ControlFlow<String> {
        match self.check.side_effect(name) {
            Some(name) => ControlFlow::Break(format!("{name}() has side effects")),
            None => ControlFlow::Continue(()),
        }
    }
}

impl Visitor for ReadOnlyChecker<'_, '_> {
    type Break = String;

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<String> {
        match expr {
            Expr::Function(function) => self.refuse_call(&function.name),
            _ => ControlFlow::Continue(()),
        }
    }

    /// Functions called in `FROM` (`SELECT * FROM pg_advisory_lock(1)`).
    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<String> {
        match factor {
            TableFactor::Table { name, args: Some(_), .. } | TableFactor::Function { name, .. } => {
                self.refuse_call(name)
            }
            _ => ControlFlow::Continue(()),
        }
    }

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

/// `U&"…"`: an identifier written with Unicode escapes (standard SQL,
/// PostgreSQL), which the tokenizer reads as `U & "…"`, so that
/// `U&"set\005fconfig"` would not be recognised as `set_config`.
fn has_unicode_escaped_identifier(tokens: &[TokenWithSpan]) -> bool {
    tokens.windows(3).any(|w| {
        matches!(&w[0].token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case("u"))
            && w[1].token == Token::Ampersand
            && matches!(&w[2].token, Token::Word(word) if word.quote_style == Some('"'))
    })
}

/// The statement without a trailing `OPTION (…)` clause of query hints.
fn without_query_hints(mut tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant =
        |t: &TokenWithSpan| !matches!(t.token, Token::Whitespace(_) | Token::SemiColon | Token::EOF);
    let Some(last) = tokens.iter().rposition(significant) else { return tokens };
    if tokens[last].token != Token::RParen {
        return tokens;
    }
    let mut depth = 0usize;
    let mut open = None;
    for (i, token) in tokens[..=last].iter().enumerate().rev() {
        match token.token {
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
    if let Some(i) = option
        && matches!(&tokens[i].token, Token::Word(word) if word.keyword == Keyword::OPTION)
    {
        tokens.truncate(i);
    }
    tokens
}

/// `PRAGMA` statements, classified from their tokens: sqlparser only accepts
/// literal pragma arguments, so `PRAGMA table_info(orders)` (a bare name, the
/// common form) does not parse. `None` when the statement is not a pragma.
fn classify_pragma(
    tokens: &[TokenWithSpan],
    rules: &PragmaRules,
) -> Result<Option<Classification>, ClassifyError> {
    let mut words = tokens.iter().map(|t| &t.token).filter(|t| !matches!(t, Token::Whitespace(_)));
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
        && (rules.introspection.contains(&name.as_str())
            || (!has_argument && rules.readable.contains(&name.as_str())));
    Ok(Some(Classification {
        read_only,
        returns_rows: true,
        ordered: false,
        write_reason: (!read_only).then(|| format!("PRAGMA {name} with an argument may change the database")),
    }))
}

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
            "SELECT COUNT_BIG(*) FROM [dbo].[orders]",
            "SELECT @@VERSION",
            "SELECT N'héllo' AS t, 0x0001FF AS b",
        ] {
            let class = classify(sql, &ms).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert!(class.read_only && class.returns_rows, "{sql}");
        }
        for sql in
            ["INSERT INTO customers VALUES (9, N'x')", "SELECT * INTO copy FROM orders", "DROP TABLE orders"]
        {
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
        let call = classify("CALL report(1)", &MySqlDialect {}).unwrap();
        assert!(call.returns_rows && !call.read_only, "a procedure may return rows, and may write");
    }

    #[test]
    fn ordering_is_noticed() {
        let g = GenericDialect {};
        assert!(classify("SELECT a FROM t ORDER BY a", &g).unwrap().ordered);
        assert!(!classify("SELECT a FROM (SELECT a FROM t ORDER BY a) s", &g).unwrap().ordered);
    }

    #[test]
    fn unicode_escaped_names_are_refused() {
        let pg = PostgreSqlDialect {};
        for sql in
            [r#"SELECT U&"pg_terminate\005fbackend"(0)"#, r#"SELECT u&"set\+00005fconfig"('a', 'b', false)"#]
        {
            assert!(!classify(sql, &pg).unwrap().read_only, "{sql}");
        }
        assert!(classify("SELECT u & 1 FROM t", &pg).unwrap().read_only, "a bitwise AND is not an escape");
    }

    #[test]
    fn pragmas_and_hints_are_refused_without_their_rules() {
        let sqlite = Classifier::new(Box::new(SQLiteDialect {}), EngineRules::default(), &[]);
        assert!(!matches!(
            sqlite.classify("PRAGMA user_version"),
            Ok(Classification { read_only: true, .. })
        ));
        let ms = classify("SELECT 1 OPTION (RECOMPILE)", &MsSqlDialect {});
        assert!(!matches!(ms, Ok(Classification { read_only: true, .. })), "{ms:?}");
    }

    #[test]
    fn bad_input_is_reported() {
        let g = GenericDialect {};
        assert_eq!(classify("", &g), Err(ClassifyError::Empty));
        assert_eq!(classify("SELECT 1; SELECT 2", &g), Err(ClassifyError::MultipleStatements(2)));
        assert!(matches!(classify("SELEC 1", &g), Err(ClassifyError::Parse(_))));
    }
}

#[cfg(test)]
mod deep_input {
    use proptest::prelude::*;
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};

    use super::*;

    /// A tokio worker's stack is 2 MiB: classification must not depend on more.
    fn on_worker_sized_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(2 << 20).spawn(work).unwrap().join().unwrap()
    }

    #[test]
    fn a_statement_nested_a_hundred_thousand_levels_deep_is_classified() {
        let sql = format!("SELECT 1{}", "+1".repeat(100_000));
        let class = on_worker_sized_stack(move || classify(&sql, &PostgreSqlDialect {})).unwrap();
        assert!(class.read_only && class.returns_rows);
    }

    #[test]
    fn deep_boolean_chains_and_parentheses_are_classified_or_refused() {
        let chain = format!("SELECT * FROM t WHERE {}", vec!["a = 1"; 30_000].join(" OR "));
        let class = on_worker_sized_stack(move || classify(&chain, &MySqlDialect {})).unwrap();
        assert!(class.read_only);
        let parens = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
        let outcome = on_worker_sized_stack(move || classify(&parens, &PostgreSqlDialect {}));
        assert!(matches!(outcome, Err(ClassifyError::Parse(reason)) if reason.contains("recursion")));
    }

    fn nested() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![Just("1".to_owned()), Just("a".to_owned()), Just("'x'".to_owned())];
        leaf.prop_recursive(64, 4096, 4, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} + {b}")),
                inner.clone().prop_map(|a| format!("({a})")),
                inner.clone().prop_map(|a| format!("(SELECT {a})")),
                inner.clone().prop_map(|a| format!("f({a})")),
                (inner.clone(), inner).prop_map(|(a, b)| format!("CASE WHEN {a} THEN {b} END")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the nesting, classification answers (a class or an
        /// error) and never takes the thread down.
        #[test]
        fn nested_input_never_crashes(expr in nested(), repeat in 1usize..2_000) {
            let sql = format!("SELECT {}", vec![expr; repeat].join(" - "));
            let outcome = on_worker_sized_stack(move || classify(&sql, &PostgreSqlDialect {}).map(|c| c.read_only));
            prop_assert!(!matches!(outcome, Ok(false)));
        }

        #[test]
        fn arbitrary_text_never_crashes(sql in "\\PC{0,2000}") {
            let _ = on_worker_sized_stack(move || classify(&sql, &MySqlDialect {}).is_ok());
        }
    }
}
