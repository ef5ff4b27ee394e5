//! What PostgreSQL's read-only check must know beyond its grammar.

use dbfleet_core::driver_api::EngineRules;

pub const RULES: EngineRules = EngineRules::new().side_effect_functions(SIDE_EFFECT_FUNCTIONS);

/// Functions refused on read-only environments (README, "Read-only"):
/// what they change is in the comment before each group.
const SIDE_EFFECT_FUNCTIONS: &[&str] = &[
    // session settings, and with them read-only mode and timeouts
    "set_config",
    // large objects (written outside the statement's tables) and their files
    "lo_*",
    "lowrite",
    // locks that outlive the statement
    "pg_advisory_*",
    "pg_try_advisory_*",
    // other sessions and the server itself
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_signal_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_promote",
    "pg_log_backend_memory_contexts",
    "pg_stat_reset*",
    "pg_stat_statements_reset",
    "pg_import_system_collations",
    "binary_upgrade_*",
    // write-ahead log, backups and replication
    "pg_switch_wal",
    "pg_switch_xlog",
    "pg_create_*",
    "pg_copy_*_replication_slot",
    "pg_drop_*",
    "pg_replication_slot_advance",
    "pg_logical_slot_get_*",
    "pg_logical_emit_message",
    "pg_replication_origin_*",
    "pg_wal_replay_*",
    "pg_backup_*",
    "pg_start_backup",
    "pg_stop_backup",
    // sequences and transaction ids
    "nextval",
    "setval",
    "txid_current",
    "pg_current_xact_id",
    // notifications to other sessions
    "pg_notify",
    // files on the database host
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_*",
    "pg_stat_file",
    "pg_file_*",
    // SQL given as text, which the check cannot see, or run on another server
    "dblink*",
    "query_to_xml*",
    "cursor_to_xml*",
    "ts_stat",
    "ts_rewrite",
    "crosstab*",
    "connectby",
];
