//! Loader tests over a test driver registered only in this test binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use proptest::prelude::*;
use secrecy::ExposeSecret;

use super::*;
use crate::driver::{DatabaseDriver, Pool};
use crate::error::DbError;
use crate::value::Value;

/// Accepts `url` or `host` (one is required) plus a few connection keys.
struct TestDriver;

#[async_trait]
impl DatabaseDriver for TestDriver {
    fn name(&self) -> &'static str {
        "testdb"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["tdb"]
    }
    fn description(&self) -> &'static str {
        "configuration tests"
    }
    fn settings_keys(&self) -> &'static [&'static str] {
        &["url", "host", "port", "username", "database"]
    }
    fn validate(&self, settings: &DriverSettings) -> Result<(), Vec<ConfigProblem>> {
        if settings.contains("url") || settings.contains("host") {
            Ok(())
        } else {
            Err(vec![ConfigProblem::key("url", "required: url or host")])
        }
    }
    fn target(&self, _: &EnvironmentConfig) -> String {
        "test".into()
    }
    fn server_address(&self, env: &EnvironmentConfig) -> Option<(String, u16)> {
        env.settings.get("host").and_then(|host| host.as_str()).map(|host| (host.to_owned(), 5432))
    }
    async fn connect(&self, _: &EnvironmentConfig) -> Result<Arc<dyn Pool>, DbError> {
        Err(DbError::connection("the test driver does not connect"))
    }
}

inventory::submit!(crate::registry::DriverRegistration(&TestDriver));

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

fn load(text: &str) -> Result<Config, ConfigError> {
    load_config_str(
        text,
        std::path::Path::new("/etc/dbfleet"),
        &vars(&[("PW", "from-env"), ("HOST", "db1"), ("HOME", "/home/ops")]),
    )
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    match load(text) {
        Err(ConfigError::Invalid { problems }) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

/// (environment, key) of each problem.
fn places(text: &str) -> Vec<(Option<String>, Option<String>)> {
    problems(text).into_iter().map(|p| (p.environment, p.key)).collect()
}

fn place(env: &str, key: &str) -> (Option<String>, Option<String>) {
    (Some(env.into()), Some(key.into()))
}

#[test]
fn defaults_are_inherited_and_overridden() {
    let config = load(
        r#"
        [defaults]
        max_rows = 50
        read_only = false
        [defaults.pool]
        max_connections = 3
        [environments.a]
        driver = "tdb"
        url = "x://a"
        [environments.b]
        driver = "testdb"
        host = "${HOST}"
        max_rows = 7
        read_only = true
        query_timeout_secs = 9
        [environments.b.pool]
        connect_timeout_secs = 2
        idle_timeout_secs = 0
        "#,
    )
    .unwrap();
    let a = config.environment("a").unwrap();
    let b = config.environment("b").unwrap();
    assert_eq!(
        (a.driver.as_str(), a.max_rows, a.read_only, a.pool.max_connections),
        ("testdb", 50, false, 3)
    );
    assert_eq!(a.query_timeout, DEFAULT_QUERY_TIMEOUT);
    assert_eq!((b.max_rows, b.read_only, b.query_timeout.as_secs()), (7, true, 9));
    assert_eq!(b.pool.max_connections, 3);
    assert_eq!(b.pool.connect_timeout.as_secs(), 2);
    assert_eq!(b.pool.idle_timeout, None);
    assert_eq!(b.settings.str("host").unwrap(), Some("db1"));
    assert_eq!(b.base_dir, std::path::Path::new("/etc/dbfleet"));
    assert_eq!(config.default_environment, None, "two environments and no default_environment");
    let names: Vec<&str> = config.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn environments_keep_file_order_and_a_single_one_is_the_default() {
    let config = load("[environments.zeta]\ndriver = \"tdb\"\nurl = \"x\"\n").unwrap();
    assert_eq!(config.default_environment.as_deref(), Some("zeta"));
    let config = load(
        "[environments.zeta]\ndriver = \"tdb\"\nurl = \"x\"\n[environments.alpha]\ndriver = \"tdb\"\nurl = \"y\"\n",
    )
    .unwrap();
    let names: Vec<&str> = config.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let found = places(
        r#"
        default_environment = "nope"
        color = "blue"
        [environments.a]
        driver = "tdb"
        pasword_env = "PW"
        [environments.b]
        driver = "mongodb"
        [environments.c]
        url = "x://c"
        [environments."d e"]
        driver = "tdb"
        url = "x"
        [environments.f]
        driver = "tdb"
        url = "x"
        max_rows = 0
        query_timeout_secs = "ten"
        enabled = "yes"
        [environments.f.pool]
        max_connections = 2
        min_connections = 3
        connect_timeout_secs = 601
        "#,
    );
    let expected = vec![
        (None, Some("default_environment".into())),
        (None, Some("color".into())),
        place("a", "url"),
        place("a", "pasword_env"),
        place("b", "driver"),
        place("c", "driver"),
        (Some("d e".into()), None),
        place("f", "max_rows"),
        place("f", "query_timeout_secs"),
        place("f", "enabled"),
        place("f", "pool.min_connections"),
        place("f", "pool.connect_timeout_secs"),
    ];
    let mut found_sorted = found.clone();
    found_sorted.sort();
    let mut expected_sorted = expected;
    expected_sorted.sort();
    assert_eq!(found_sorted, expected_sorted, "{found:#?}");
}

#[test]
fn messages_explain_the_problem() {
    let all = problems(
        r#"
        [environments.a]
        driver = "mongodb"
        [environments.b]
        driver = "tdb"
        url = "x"
        pasword_env = "PW"
        password_env = "UNSET_VARIABLE_NAME"
        "#,
    );
    let text: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains("unknown driver 'mongodb'") && t.contains("testdb")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("did you mean 'password_env'")), "{text:?}");
    assert!(text.iter().any(|t| t.contains("UNSET_VARIABLE_NAME is not set")), "{text:?}");
    assert!(all.iter().all(|p| p.location.is_some()), "every problem here has a position: {all:?}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let all = problems("[environments.a]\ndriver = \"tdb\"\nurl = \n");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].location, Some((3, 7)));
    assert!(all[0].message.contains("syntax"), "{}", all[0].message);
}

#[test]
fn the_default_must_exist_and_be_enabled() {
    let text = |default: &str| {
        format!(
            "default_environment = \"{default}\"\n[environments.on]\ndriver = \"tdb\"\nurl = \"x\"\n\
             [environments.off]\ndriver = \"tdb\"\nurl = \"y\"\nenabled = false\n"
        )
    };
    assert_eq!(load(&text("on")).unwrap().default_environment.as_deref(), Some("on"));
    assert!(problems(&text("off"))[0].message.contains("disabled"));
    assert!(problems(&text("gone"))[0].message.contains("configured: on, off"));
}

#[test]
fn passwords_come_from_one_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw.txt"), "from-file\n").unwrap();
    let text = r#"
        [environments.env]
        driver = "tdb"
        url = "x"
        password_env = "PW"
        [environments.lit]
        driver = "tdb"
        url = "x"
        password = "${PW}-suffix"
        [environments.file]
        driver = "tdb"
        url = "x"
        password_file = "pw.txt"
    "#;
    let config = load_config_str(text, dir.path(), &vars(&[("PW", "from-env")])).unwrap();
    let password =
        |name: &str| config.environment(name).unwrap().password.as_ref().unwrap().expose_secret().to_owned();
    assert_eq!(password("env"), "from-env");
    assert_eq!(password("lit"), "from-env-suffix");
    assert_eq!(password("file"), "from-file");

    let twice =
        places("[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\npassword = \"p\"\npassword_env = \"PW\"\n");
    assert_eq!(twice, [place("a", "password_env")]);
    let unreadable =
        problems("[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\npassword_file = \"/no/such/file\"\n");
    assert!(unreadable[0].message.contains("/no/such/file"), "{}", unreadable[0]);
}

#[test]
fn variables_expand_and_unset_ones_are_named() {
    let config = load("[environments.a]\ndriver = \"tdb\"\nurl = \"x://${HOST}/$$db\"\n").unwrap();
    assert_eq!(config.environments[0].settings.str("url").unwrap(), Some("x://db1/$db"));
    let all = problems("[environments.a]\ndriver = \"tdb\"\nurl = \"x://${NOT_SET_ANYWHERE}\"\n");
    assert_eq!((all[0].environment.as_deref(), all[0].key.as_deref()), (Some("a"), Some("url")));
    assert!(all[0].message.contains("NOT_SET_ANYWHERE"));
}

#[test]
fn a_legacy_database_section_needs_a_driver_that_reads_it() {
    // No driver linked into core's tests reads the legacy file (the MySQL
    // driver does; `server/tests/cli.rs` loads one through it).
    let all = problems("[database]\nhost = \"db\"\nport = 3306\nusername = \"app\"\ndatabase = \"shop\"\n");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!((all[0].environment.as_deref(), all[0].key.as_deref()), (None, Some("database")));
    assert!(all[0].message.contains("no driver linked into this binary reads"), "{}", all[0].message);
    let mixed = places("[database]\nhost = \"db\"\n[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n");
    assert_eq!(mixed, [(None, Some("database".into()))]);
}

#[test]
fn no_environments_is_a_problem() {
    assert_eq!(problems("[defaults]\nmax_rows = 5\n").len(), 1);
}

#[test]
fn server_settings_are_checked() {
    let config = load(
        "[server]\ntransport = \"http\"\nlisten = \"127.0.0.1:9000\"\nauth_token_env = \"T\"\n\
         [environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n",
    )
    .unwrap();
    assert_eq!(config.server.transport, Transport::Http);
    assert_eq!(config.server.listen, "127.0.0.1:9000");
    let found = places(
        "[server]\ntransport = \"carrier-pigeon\"\nlisten = \"nowhere\"\n[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n",
    );
    assert_eq!(found, [(None, Some("server.transport".into())), (None, Some("server.listen".into()))]);
}

#[test]
fn replicas_and_console_settings_are_read_and_checked() {
    let config = load("[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n").unwrap();
    assert!(!config.server.stateless);
    assert_eq!(config.server.drain, Duration::ZERO);
    assert_eq!(config.server.ui, None);
    let config = load(
        "[server]\nstateless = true\ndrain_secs = 15\nui = false\n[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n",
    )
    .unwrap();
    assert!(config.server.stateless);
    assert_eq!(config.server.drain, Duration::from_secs(15));
    assert_eq!(config.server.ui, Some(false));
    let found = places(
        "[server]\nstateless = \"yes\"\ndrain_secs = -1\n[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n",
    );
    assert_eq!(found, [(None, Some("server.stateless".into())), (None, Some("server.drain_secs".into()))]);
}

const TWO_ENVIRONMENTS: &str = "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n\
                                [environments.b]\ndriver = \"tdb\"\nurl = \"y\"\nread_only = false\n";

#[test]
fn tools_bind_named_parameters_by_position() {
    let config = load(&format!(
        "{TWO_ENVIRONMENTS}[tools.orders]\ndescription = \"Orders of a customer\"\n\
         sql = \"SELECT * FROM orders WHERE customer = :customer AND placed >= :since OR referrer = :customer\"\n\
         [tools.orders.parameters.customer]\ntype = \"integer\"\ndescription = \"Customer id\"\n\
         [tools.orders.parameters.since]\ntype = \"date\"\ndefault = \"2026-01-01\"\n\
         [tools.orders.parameters.since_unused_kind]\ntype = \"enum\"\nvalues = [\"x\"]\ndefault = \"x\"\n"
    ));
    // The third parameter is not in the statement.
    let Err(ConfigError::Invalid { problems }) = config else { panic!("{config:?}") };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key.as_deref(), Some("tools.orders.parameters.since_unused_kind"));
    assert!(problems[0].message.contains("does not use :since_unused_kind"), "{}", problems[0]);

    let config = load(&format!(
        "{TWO_ENVIRONMENTS}[tools.orders]\ndescription = \"Orders of a customer\"\n\
         sql = \"SELECT * FROM orders WHERE customer = :customer AND placed >= :since OR referrer = :customer\"\n\
         [tools.orders.parameters.customer]\ntype = \"integer\"\n\
         [tools.orders.parameters.since]\ntype = \"date\"\ndefault = \"2026-01-01\"\n"
    ))
    .unwrap();
    let tool = &config.tools[0];
    assert!(!tool.writes);
    assert_eq!(tool.environments().collect::<Vec<_>>(), ["a", "b"]);
    let args = serde_json::json!({"customer": "42", "environment": "a"});
    let values = tool.values(args.as_object().unwrap()).unwrap();
    let request = tool.request("b", &values, Some(5)).unwrap();
    assert_eq!(request.sql, "SELECT * FROM orders WHERE customer = ? AND placed >= ? OR referrer = ?");
    let since = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(request.params, [Value::Int(42), Value::Date(since), Value::Int(42)]);
    assert_eq!(request.max_rows, Some(5));
}

#[test]
fn tool_arguments_are_checked_against_their_types() {
    let config = load(&format!(
        "{TWO_ENVIRONMENTS}[tools.t]\ndescription = \"d\"\nsql = \"SELECT :n, :f, :b, :d, :e, :s\"\n\
         [tools.t.parameters]\nn = {{ type = \"integer\" }}\nf = {{ type = \"number\", default = 1.5 }}\n\
         b = {{ type = \"boolean\", default = false }}\nd = {{ type = \"date\", default = \"2026-12-31\" }}\n\
         e = {{ type = \"enum\", values = [\"low\", \"high\"], default = \"low\" }}\n\
         s = {{ type = \"string\", default = \"\" }}\n"
    ))
    .unwrap();
    let tool = &config.tools[0];
    let values = |json: serde_json::Value| tool.values(json.as_object().unwrap()).map_err(|e| e.message);
    let ok = values(serde_json::json!({"n": 3, "f": "2.5", "b": "true", "e": "high"})).unwrap();
    assert_eq!(ok["n"], Value::Int(3));
    assert_eq!(ok["f"], Value::Float(2.5));
    assert_eq!(ok["b"], Value::Bool(true));
    assert_eq!(ok["e"], Value::Text("high".into()));
    assert_eq!(ok["s"], Value::Text(String::new()));
    for (args, expected) in [
        (serde_json::json!({}), "parameter 'n' is required (an integer)"),
        (serde_json::json!({"n": null}), "parameter 'n' is required"),
        (serde_json::json!({"n": 1.5}), "parameter 'n': expected an integer, found a number"),
        (serde_json::json!({"n": 1, "d": "31/12/2026"}), "parameter 'd': '31/12/2026' is not a date"),
        (serde_json::json!({"n": 1, "e": "medium"}), "parameter 'e': expected one of low, high"),
        (serde_json::json!({"n": 1, "b": 1}), "parameter 'b': expected true or false, found a number"),
        (
            serde_json::json!({"n": 1, "nn": 2}),
            "unknown argument nn (the tool takes n, f, b, d, e, s, environment",
        ),
    ] {
        let err = values(args.clone()).unwrap_err();
        assert!(err.starts_with(expected), "{args}: {err}");
    }
}

#[test]
fn tool_problems_name_the_tool_and_the_key() {
    let found = problems(&format!(
        "{TWO_ENVIRONMENTS}[server]\ntools = [\"execute_query\", \"nope\"]\n\
         [tools.execute_query]\ndescription = \"d\"\nsql = \"SELECT 1\"\n\
         [tools.no_sql]\ndescription = \"d\"\n\
         [tools.bad_param]\ndescription = \"d\"\nsql = \"SELECT :x, :missing\"\n\
         [tools.bad_param.parameters.x]\ntype = \"timestamp\"\n\
         [tools.writer]\ndescription = \"d\"\nsql = \"DELETE FROM t WHERE id = :id\"\n\
         [tools.writer.parameters.id]\ntype = \"integer\"\n\
         [tools.ro_writer]\ndescription = \"d\"\nsql = \"DELETE FROM t\"\nwrites = true\nenvironments = [\"a\", \"zz\"]\n\
         [tools.default_mismatch]\ndescription = \"d\"\nsql = \"SELECT :n\"\n\
         [tools.default_mismatch.parameters.n]\ntype = \"integer\"\ndefault = \"many\"\n\
         [tools.reserved]\ndescription = \"d\"\nsql = \"SELECT :environment\"\n\
         [tools.reserved.parameters.environment]\ntype = \"string\"\n"
    ));
    let rendered: Vec<String> = found.iter().map(ToString::to_string).collect();
    let expect = |key: &str, message: &str| {
        assert!(
            found.iter().any(|p| p.key.as_deref() == Some(key) && p.message.contains(message)),
            "no problem at {key} saying {message:?}: {rendered:#?}"
        );
    };
    expect("server.tools", "no tool named 'nope'");
    expect("tools.no_sql.sql", "required");
    expect("tools.bad_param.parameters.x.type", "'timestamp' is not one of");
    expect("tools.writer.sql", "the statement may write");
    expect("tools.ro_writer.environments", "no environment named 'zz'");
    expect("tools.default_mismatch.parameters.n.default", "expected an integer, found a string");
    expect("tools.reserved.parameters.environment", "argument of every tool");
    assert!(rendered.iter().any(|p| p.contains("'execute_query' is a built-in tool")), "{rendered:#?}");
    // Every problem carries its line.
    assert!(found.iter().all(|p| p.location.is_some()), "{rendered:#?}");
}

#[test]
fn a_writing_tool_may_not_name_a_read_only_environment() {
    let found = problems(&format!(
        "{TWO_ENVIRONMENTS}[tools.purge]\ndescription = \"d\"\nsql = \"DELETE FROM t\"\nwrites = true\n\
         environments = [\"a\", \"b\"]\n"
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("environment 'a' is read-only"), "{}", found[0]);
    // Without a list it runs where it may: read-only environments refuse it when called.
    let config = load(&format!(
        "{TWO_ENVIRONMENTS}[tools.purge]\ndescription = \"d\"\nsql = \"DELETE FROM t\"\nwrites = true\n"
    ))
    .unwrap();
    assert!(config.tools[0].writes);
}

#[test]
fn tool_statements_may_differ_by_driver() {
    let found = problems(&format!(
        "{TWO_ENVIRONMENTS}[tools.t]\ndescription = \"d\"\nenvironments = [\"a\"]\n\
         [tools.t.sql]\npostgres = \"SELECT now()\"\nbogus = \"SELECT 1\"\n"
    ));
    let rendered: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        rendered.iter().any(|p| p.contains("tools.t.sql.bogus") && p.contains("unknown driver")),
        "{rendered:#?}"
    );
    assert!(
        rendered.iter().any(|p| p.contains("no statement for environment 'a' (driver testdb)")),
        "{rendered:#?}"
    );
    let config = load(&format!(
        "{TWO_ENVIRONMENTS}[tools.t]\ndescription = \"d\"\n[tools.t.sql]\ntdb = \"SELECT 2\"\ndefault = \"SELECT 1\"\n"
    ))
    .unwrap();
    assert_eq!(config.tools[0].statement("a").unwrap().sql, "SELECT 2");
}

#[test]
fn a_password_command_is_a_program_and_its_arguments() {
    let config = load(
        "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n\
         password_command = [\"aws\", \"rds\", \"generate-db-auth-token\", \"--hostname\", \"${HOST}\"]\n\
         password_command_timeout_secs = 30\npassword_command_refresh_secs = 600\n",
    )
    .unwrap();
    let env = &config.environments[0];
    let command = env.password_command.as_ref().unwrap();
    assert_eq!(command.program, "aws");
    assert_eq!(command.args, ["rds", "generate-db-auth-token", "--hostname", "db1"]);
    assert_eq!(command.timeout, std::time::Duration::from_secs(30));
    assert_eq!(command.refresh, Some(std::time::Duration::from_secs(600)));
    assert!(env.password.is_none(), "the command runs when connecting, not when loading");
    let found = places(
        "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\npassword_command = \"aws rds\"\n\
         [environments.b]\ndriver = \"tdb\"\nurl = \"x\"\npassword_command = []\n\
         [environments.c]\ndriver = \"tdb\"\nurl = \"x\"\npassword = \"p\"\npassword_command = [\"x\"]\n\
         [environments.d]\ndriver = \"tdb\"\nurl = \"x\"\npassword_command_timeout_secs = 5\n\
         [environments.e]\ndriver = \"tdb\"\nurl = \"x\"\npassword_command_refresh_secs = 5\n",
    );
    assert_eq!(
        found,
        [
            place("a", "password_command"),
            place("b", "password_command"),
            place("c", "password_command"),
            place("d", "password_command_timeout_secs"),
            place("e", "password_command_refresh_secs"),
        ]
    );
}

#[test]
fn an_ssh_tunnel_leaves_openssh_defaults_to_connection_time() {
    let config = load(
        "[environments.a]\ndriver = \"tdb\"\nhost = \"db.internal\"\n[environments.a.ssh]\nhost = \"bastion\"\n\
         user = \"${HOST}\"\nkey_file = \"/\"\njump_hosts = [\"ops@gw:2222\"]\nkeepalive_secs = 30\n",
    )
    .unwrap();
    let ssh = config.environments[0].ssh.as_ref().unwrap();
    assert_eq!((ssh.host.as_str(), ssh.user.as_deref(), ssh.port), ("bastion", Some("db1"), None));
    assert_eq!(ssh.key_file.as_deref(), Some(std::path::Path::new("/")));
    assert!(ssh.agent && ssh.strict_host_key_checking.is_none() && ssh.key_passphrase.is_none());
    assert_eq!(ssh.jump_hosts.as_deref(), Some(&["ops@gw:2222".to_owned()][..]));
    assert_eq!(ssh.config_file.as_deref(), Some(std::path::Path::new("/home/ops/.ssh/config")));
    assert!(ssh.config_file_is_default);
    assert_eq!(ssh.keepalive_interval, std::time::Duration::from_secs(30));

    let found = places(
        "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n[environments.a.ssh]\nhost = \"b\"\n\
         [environments.b]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.b.ssh]\nport = 0\n\
         [environments.c]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.c.ssh]\nhost = \"b\"\n\
         key_file = \"/nonexistent/key\"\njump_hosts = [\"@gw\"]\ncolour = 1\n\
         [environments.d]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.d.ssh]\nhost = \"b\"\n\
         key_passphrase_env = \"UNSET\"\n\
         [environments.e]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.e.ssh]\nhost = \"b\"\n\
         key_passphrase_env = \"PW\"\nkey_passphrase_file = \"f\"\n\
         [environments.f]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.f.ssh]\nhost = \"b\"\n\
         config_file = \"/nonexistent/config\"\n",
    );
    assert_eq!(
        found,
        [
            place("a", "ssh"),
            place("b", "ssh.host"),
            place("b", "ssh.port"),
            place("c", "ssh.key_file"),
            place("c", "ssh.jump_hosts"),
            place("c", "ssh.colour"),
            place("d", "ssh.key_passphrase_env"),
            place("e", "ssh.key_passphrase_file"),
            place("f", "ssh.config_file"),
        ]
    );
    let none = load(
        "[environments.a]\ndriver = \"tdb\"\nhost = \"x\"\n[environments.a.ssh]\nhost = \"b\"\nconfig_file = \"none\"\n",
    )
    .unwrap();
    assert_eq!(none.environments[0].ssh.as_ref().unwrap().config_file, None);
}

#[test]
fn named_tokens_reach_named_environments_and_tools() {
    let env = "[environments.dev]\ndriver = \"tdb\"\nurl = \"x\"\n[environments.prod]\ndriver = \"tdb\"\nurl = \"x\"\n";
    let lookup = vars(&[
        ("BOT_TOKEN", "bot-secret-0123456789"),
        ("OPS_TOKEN", "ops-secret-0123456789"),
        ("SHORT", "abc"),
    ]);
    let load = |tokens: &str| {
        load_config_str(&format!("{env}{tokens}"), std::path::Path::new("/etc/dbfleet"), &lookup)
    };
    let config = load(
        "[[server.tokens]]\nname = \"bot\"\ntoken_env = \"BOT_TOKEN\"\nenvironments = [\"dev\"]\ntools = [\"execute_query\"]\n\
         [[server.tokens]]\nname = \"ops\"\ntoken_env = \"OPS_TOKEN\"\n",
    )
    .unwrap();
    let tokens = &config.server.tokens;
    assert_eq!(tokens.len(), 2);
    assert_eq!((tokens[0].name.as_str(), tokens[0].secret.expose_secret()), ("bot", "bot-secret-0123456789"));
    assert_eq!(tokens[0].environments.as_deref(), Some(&["dev".to_owned()][..]));
    assert_eq!(tokens[0].tools.as_deref(), Some(&["execute_query".to_owned()][..]));
    assert!(tokens[1].environments.is_none() && tokens[1].tools.is_none());

    let messages = |tokens: &str| match load(tokens) {
        Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|p| p.message).collect::<Vec<_>>(),
        other => panic!("expected problems, got {other:?}"),
    };
    for (tokens, expected) in [
        ("[[server.tokens]]\ntoken_env = \"BOT_TOKEN\"\n", "token 1: required: name"),
        ("[[server.tokens]]\nname = \"a b\"\ntoken_env = \"BOT_TOKEN\"\n", "token 'a b': the name takes"),
        ("[[server.tokens]]\nname = \"a\"\n", "token 'a': required: token_env or token_file"),
        ("[[server.tokens]]\nname = \"a\"\ntoken_env = \"UNSET\"\n", "environment variable UNSET is not set"),
        ("[[server.tokens]]\nname = \"a\"\ntoken_env = \"SHORT\"\n", "shorter than 16 characters"),
        ("[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\ntoken_file = \"f\"\n", "not both"),
        ("[[server.tokens]]\nname = \"a\"\ntoken_file = \"/nonexistent\"\n", "cannot read /nonexistent"),
        (
            "[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\nenvironments = [\"qa\"]\n",
            "no environment named 'qa'",
        ),
        (
            "[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\ntools = [\"drop_all\"]\n",
            "no tool named 'drop_all'",
        ),
        ("[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\nscope = 1\n", "unknown key 'scope'"),
        (
            "[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\n[[server.tokens]]\nname = \"a\"\ntoken_env = \"OPS_TOKEN\"\n",
            "two tokens are named 'a'",
        ),
        (
            "[[server.tokens]]\nname = \"a\"\ntoken_env = \"BOT_TOKEN\"\n[[server.tokens]]\nname = \"b\"\ntoken_env = \"BOT_TOKEN\"\n",
            "token 'b' has the same secret as token 'a'",
        ),
    ] {
        let found = messages(tokens);
        assert!(found.iter().any(|m| m.contains(expected)), "{tokens}: {found:?}");
        assert!(found.iter().all(|m| !m.contains("secret-0123")), "no secret in a message: {found:?}");
    }
}

#[test]
fn alerts_post_to_a_webhook_url_that_is_never_shown() {
    let env = "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n";
    let config = load(&format!(
        "{env}[alerts]\nwebhook_url = \"https://hooks.example.com/${{HOST}}\"\nmax_attempts = 2\n"
    ))
    .unwrap();
    let alerts = config.alerts.unwrap();
    assert_eq!(alerts.webhook_url.expose_secret(), "https://hooks.example.com/db1");
    assert_eq!((alerts.max_attempts, alerts.timeout), (2, std::time::Duration::from_secs(10)));
    let found = problems(&format!(
        "{env}[alerts]\nwebhook_url = \"ftp://hooks.example.com/s3cret\"\ntimeout_secs = 0\nretries = 3\n"
    ));
    let keys: Vec<_> = found.iter().map(|p| p.key.as_deref().unwrap_or_default()).collect();
    assert_eq!(keys, ["alerts.webhook_url", "alerts.timeout_secs", "alerts.retries"]);
    assert!(found.iter().all(|p| !p.message.contains("s3cret")), "{found:?}");
    assert_eq!(problems(&format!("{env}[alerts]\n"))[0].key.as_deref(), Some("alerts.webhook_url"));
}

#[test]
fn an_environment_is_the_same_only_when_every_setting_and_secret_is() {
    let env = |extra: &str| {
        let text = format!("[environments.a]\ndriver = \"tdb\"\nhost = \"x\"\n{extra}");
        load(&text).unwrap_or_else(|err| panic!("{text}: {err}")).environments.remove(0)
    };
    assert!(env("password = \"p1\"\n").same_as(&env("password = \"p1\"\n")));
    for (one, other) in [
        ("password = \"p1\"\n", "password = \"p2\"\n"),
        ("max_rows = 5\n", "max_rows = 6\n"),
        ("", "description = \"d\"\n"),
        ("port = 1\n", "port = 2\n"),
        (
            "[environments.a.ssh]\nhost = \"b\"\nconfig_file = \"none\"\n",
            "[environments.a.ssh]\nhost = \"c\"\nconfig_file = \"none\"\n",
        ),
    ] {
        assert!(!env(one).same_as(&env(other)), "{one} / {other}");
    }
}

#[test]
fn the_audit_log_goes_to_a_file_or_stderr() {
    let env = "[environments.a]\ndriver = \"tdb\"\nurl = \"x\"\n";
    let config = load(&format!("{env}[audit]\npath = \"logs/audit.jsonl\"\nmax_files = 3\n")).unwrap();
    let audit = config.audit.unwrap();
    assert!(!audit.include_literals);
    assert_eq!(
        audit.destination,
        AuditDestination::File {
            path: "/etc/dbfleet/logs/audit.jsonl".into(),
            max_bytes: DEFAULT_AUDIT_MAX_BYTES,
            max_files: 3
        }
    );
    let config = load(&format!("{env}[audit]\nstderr = true\ninclude_literals = true\n")).unwrap();
    assert_eq!(
        config.audit.unwrap(),
        AuditConfig { destination: AuditDestination::Stderr, include_literals: true }
    );
    let found = places(&format!("{env}[audit]\ninclude_literals = true\nrotate = 1\n"));
    assert_eq!(found, [(None, Some("audit.path".into())), (None, Some("audit.rotate".into()))]);
    let found = places(&format!("{env}[audit]\npath = \"a\"\nstderr = true\n"));
    assert_eq!(found, [(None, Some("audit.stderr".into()))]);
}

/// Generated environments: a name, its settings and its password.
fn environments() -> impl Strategy<Value = Vec<(String, String, u16, String)>> {
    proptest::collection::btree_map(
        "[a-z][a-z0-9_-]{0,8}",
        ("[a-z]{1,10}", 1u16..=65535, "Q[0-9QXZ]{9,20}"),
        1..6,
    )
    .prop_map(|map| map.into_iter().map(|(name, (host, port, pw))| (name, host, port, pw)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn each_environment_keeps_its_own_settings(envs in environments()) {
        let mut text = String::new();
        let mut variables = Vec::new();
        for (i, (name, host, port, password)) in envs.iter().enumerate() {
            let var = format!("PW_{i}");
            text.push_str(&format!(
                "[environments.{name}]\ndriver = \"tdb\"\nhost = \"{host}\"\nport = {port}\ndatabase = \"db_{name}\"\npassword_env = \"{var}\"\n"
            ));
            variables.push((var, password.clone()));
        }
        let lookup = |n: &str| variables.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let config = load_config_str(&text, std::path::Path::new("."), &lookup).unwrap();
        prop_assert_eq!(config.environments.len(), envs.len());
        for (name, host, port, password) in &envs {
            let env = config.environment(name).unwrap();
            let keys: Vec<&str> = env.settings.keys().collect();
            prop_assert_eq!(keys, vec!["database", "host", "port"]);
            prop_assert_eq!(env.settings.str("host").unwrap(), Some(host.as_str()));
            prop_assert_eq!(env.settings.integer("port", 0..=65535).unwrap(), Some(i64::from(*port)));
            let database = format!("db_{name}");
            prop_assert_eq!(env.settings.str("database").unwrap(), Some(database.as_str()));
            prop_assert_eq!(env.password.as_ref().unwrap().expose_secret(), password.as_str());
            for (other, _, _, other_password) in &envs {
                if other != name {
                    let dump = format!("{:?}", env.settings);
                    prop_assert!(!dump.contains(&format!("db_{other}\"")), "{} leaks into {}", other, name);
                    prop_assert_ne!(env.password.as_ref().unwrap().expose_secret(), other_password.as_str());
                }
            }
        }
    }

    #[test]
    fn validation_reports_exactly_the_injected_faults(
        faults in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>()), 1..6)
    ) {
        // Per environment: drop `driver`, drop the driver's required `url`, add a misspelt key.
        let mut text = String::new();
        let mut expected = Vec::new();
        for (i, (no_driver, no_url, typo)) in faults.iter().enumerate() {
            let name = format!("env{i}");
            text.push_str(&format!("[environments.{name}]\n"));
            if *no_driver { expected.push(place(&name, "driver")); } else { text.push_str("driver = \"tdb\"\n"); }
            // Without a driver, its settings cannot be checked.
            if *no_url { if !*no_driver { expected.push(place(&name, "url")); } } else { text.push_str("url = \"x://h\"\n"); }
            if *typo {
                text.push_str("descripton = \"d\"\n");
                if !*no_driver { expected.push(place(&name, "descripton")); }
            }
        }
        let mut found = match load(&text) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid { problems }) => problems.into_iter().map(|p| (p.environment, p.key)).collect(),
            Err(other) => panic!("{other}"),
        };
        found.sort();
        expected.sort();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn passwords_never_appear_in_messages_or_debug_output(
        password in "Q[0-9QXZ]{9,20}",
        broken in any::<bool>(),
        source in 0..3usize,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), format!("{password}\n")).unwrap();
        let password_line = match source {
            0 => "password_env = \"SECRET\"".to_owned(),
            1 => "password_file = \"secret\"".to_owned(),
            _ => "password = \"${SECRET}\"".to_owned(),
        };
        // The secret also sits in a URL, and a broken config adds problems around it.
        let extra = if broken { "max_rows = -1\nbogus = \"${SECRET}\"\n" } else { "" };
        let text = format!(
            "[environments.a]\ndriver = \"tdb\"\nurl = \"x://user:${{SECRET}}@host/db\"\n{password_line}\n{extra}"
        );
        let lookup = |name: &str| (name == "SECRET").then(|| password.clone());
        let outputs = match load_config_str(&text, dir.path(), &lookup) {
            Ok(config) => vec![format!("{config:?}"), format!("{:?}", config.environments[0])],
            Err(err) => {
                let mut out = vec![err.to_string(), format!("{err:?}")];
                if let ConfigError::Invalid { problems } = &err {
                    out.extend(problems.iter().map(ToString::to_string));
                }
                out
            }
        };
        for output in outputs {
            prop_assert!(!output.contains(&password), "password leaked: {}", output);
        }
    }
}
