//! What SQL Server's read-only check must know beyond its grammar.

use dbfleet_core::EngineRules;

pub const RULES: EngineRules =
    EngineRules { side_effect_functions: SIDE_EFFECT_FUNCTIONS, executable_comments: false };

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
