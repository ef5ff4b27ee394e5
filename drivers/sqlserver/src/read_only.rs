//! What SQL Server's read-only check must know beyond its grammar.

use dbfleet_core::driver_api::EngineRules;

pub const RULES: EngineRules =
    EngineRules::new().side_effect_functions(SIDE_EFFECT_FUNCTIONS).trailing_query_hints();

/// Functions refused on read-only environments (README, "Read-only"):
/// what they change is in the comment before each group.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // other servers and files, which a rollback cannot undo
    "openrowset",
    "openquery",
    "opendatasource",
    // extended procedures (commands, registry, files)
    "xp_*",
];

#[cfg(test)]
mod tests {
    use dbfleet_core::driver_api::dialect::MsSqlDialect;
    use dbfleet_core::readonly::Classifier;

    #[test]
    fn query_hints_are_cut_off_and_what_remains_is_classified() {
        let classifier = Classifier::new(Box::new(MsSqlDialect {}), super::RULES, &[]);
        for sql in [
            "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c \
             OPTION (MAXRECURSION 0)",
            "SELECT id FROM orders WHERE amount > (SELECT AVG(amount) FROM orders) OPTION (RECOMPILE);",
        ] {
            let class = classifier.classify(sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
            assert!(class.read_only && class.returns_rows, "{sql}");
        }
        let class = classifier.classify("DELETE FROM orders OPTION (MAXDOP 1)").unwrap();
        assert!(!class.read_only);
    }
}
