//! What MySQL's and MariaDB's read-only check must know beyond their grammar.

use dbfleet_core::driver_api::EngineRules;

pub const RULES: EngineRules =
    EngineRules::new().side_effect_functions(SIDE_EFFECT_FUNCTIONS).executable_comments();

/// Functions refused on read-only environments (README, "Read-only"):
/// what they change is in the comment before each group.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // named locks that outlive the statement
    "get_lock",
    "release_lock",
    "release_all_locks",
    // files on the database host
    "load_file",
    // sequences (MariaDB)
    "nextval",
    "setval",
    // waits on replication
    "master_pos_wait",
    "source_pos_wait",
    "master_gtid_wait",
    "wait_for_executed_gtid_set",
    "wait_until_sql_thread_after_gtids",
    // commands run on the database host by well-known user-defined functions
    "sys_exec",
    "sys_eval",
    "sys_set",
];
