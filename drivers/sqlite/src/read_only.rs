//! What SQLite's read-only check must know beyond its grammar.

use dbfleet_core::driver_api::{EngineRules, PragmaRules};

pub const RULES: EngineRules =
    EngineRules::new().side_effect_functions(SIDE_EFFECT_FUNCTIONS).pragmas(&PRAGMAS);

/// sqlparser reads only literal pragma arguments, so `PRAGMA
/// table_info(orders)` (a bare name, the common form) does not parse:
/// pragmas are classified from their tokens by these lists.
const PRAGMAS: PragmaRules = PragmaRules::new(INTROSPECTION_PRAGMAS, READABLE_PRAGMAS);

/// Functions refused on read-only environments (README, "Read-only"):
/// what they change is in the comment before each group.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // code and files outside the database
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
];

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

#[cfg(test)]
mod tests {
    use dbfleet_core::driver_api::dialect::SQLiteDialect;
    use dbfleet_core::readonly::Classifier;

    fn read_only(sql: &str) -> bool {
        let classifier = Classifier::new(Box::new(SQLiteDialect {}), super::RULES, &[]);
        classifier.classify(sql).unwrap_or_else(|err| panic!("{sql}: {err}")).read_only
    }

    #[test]
    fn introspection_pragmas_are_read_only_and_settings_are_not() {
        for sql in ["PRAGMA table_info(orders)", "PRAGMA user_version", "PRAGMA main.index_list('orders')"] {
            assert!(read_only(sql), "{sql}");
        }
        for sql in [
            "PRAGMA user_version = 5",
            "PRAGMA journal_mode = WAL",
            "PRAGMA query_only(0)",
            "PRAGMA optimize",
        ] {
            assert!(!read_only(sql), "{sql}");
        }
    }
}
