//! MCP resources: every table and view of every environment, as
//! `dbfleet://ENVIRONMENT/SCHEMA/TABLE`, read as the `describe_table`
//! answer. Names are percent-encoded in the URI; a table without a schema
//! (SQLite's main database) has `-` in its place.

use dbfleet_core::fleet::Fleet;
use dbfleet_core::{DbError, TableFilter, TableInfo, TableRef};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rmcp::ErrorData;
use rmcp::model::{ListResourcesResult, ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

use crate::responses::TableDescription;

pub const SCHEME: &str = "dbfleet://";
pub const TABLE_TEMPLATE: &str = "dbfleet://{environment}/{schema}/{table}";
/// The schema segment of a table that has none.
const NO_SCHEMA: &str = "-";
/// Resources per page of `resources/list`.
pub const PAGE_SIZE: usize = 100;

/// What stays as it is in a URI segment: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn table_uri(environment: &str, table: &TableInfo) -> String {
    let schema = table.schema.as_deref().unwrap_or(NO_SCHEMA);
    format!(
        "{SCHEME}{}/{}/{}",
        utf8_percent_encode(environment, SEGMENT),
        utf8_percent_encode(schema, SEGMENT),
        utf8_percent_encode(&table.name, SEGMENT)
    )
}

/// The environment and table a `dbfleet://` URI names.
pub fn parse_table_uri(uri: &str) -> Option<(String, TableRef)> {
    let rest = uri.strip_prefix(SCHEME)?;
    let mut segments =
        rest.split('/').map(|s| percent_decode_str(s).decode_utf8().ok().map(|s| s.into_owned()));
    let (Some(Some(environment)), Some(Some(schema)), Some(Some(table)), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return None;
    };
    if environment.is_empty() || table.is_empty() {
        return None;
    }
    let schema = (schema != NO_SCHEMA && !schema.is_empty()).then_some(schema);
    Some((environment, TableRef::new(schema, table)))
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TABLE_TEMPLATE, "table")
            .with_title("A table or view of an environment")
            .with_description(
                "The definition of a table or view: columns (name, engine type, logical type, nullable, \
                 default), primary key, indexes and foreign keys. `schema` is `-` for a table without one.",
            )
            .with_mime_type("application/json"),
    ]
}

/// A cursor of `resources/list`: the index of the environment to go on
/// from, and how many of its tables the earlier pages gave.
fn parse_cursor(cursor: &str) -> Option<(usize, usize)> {
    let (environment, offset) = cursor.split_once(':')?;
    Some((environment.parse().ok()?, offset.parse().ok()?))
}

/// One page of the tables of every enabled environment, in configuration
/// order. An environment that cannot list its tables is left out (and
/// logged): the others are still listed.
pub async fn list(fleet: &Fleet, cursor: Option<&str>) -> Result<ListResourcesResult, ErrorData> {
    let (mut index, mut offset) = match cursor {
        None => (0, 0),
        Some(cursor) => parse_cursor(cursor)
            .ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor '{cursor}'"), None))?,
    };
    let environments = fleet.environments();
    let mut resources = Vec::with_capacity(PAGE_SIZE);
    while let Some(env) = environments.get(index) {
        if env.config().enabled {
            match env.list_tables(&TableFilter::default()).await {
                Ok(tables) => {
                    let room = PAGE_SIZE - resources.len();
                    for table in tables.iter().skip(offset).take(room) {
                        let title = match &table.schema {
                            Some(schema) => format!("{}: {schema}.{}", env.name(), table.name),
                            None => format!("{}: {}", env.name(), table.name),
                        };
                        resources.push(
                            Resource::new(table_uri(env.name(), table), table.name.clone())
                                .with_title(title)
                                .with_description(format!(
                                    "{:?} of environment {} ({})",
                                    table.kind,
                                    env.name(),
                                    env.config().driver
                                ))
                                .with_mime_type("application/json"),
                        );
                    }
                    if tables.len() > offset + room {
                        let mut page = ListResourcesResult::with_all_items(resources);
                        page.next_cursor = Some(format!("{index}:{}", offset + room));
                        return Ok(page);
                    }
                }
                Err(err) => {
                    tracing::info!(environment = %env.name(), error = %err, "tables not listed as resources")
                }
            }
        }
        index += 1;
        offset = 0;
    }
    Ok(ListResourcesResult::with_all_items(resources))
}

/// The definition of the table a URI names.
pub async fn read(fleet: &Fleet, uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let not_found = || {
        ErrorData::resource_not_found(
            format!("no such resource: {uri} (expected {TABLE_TEMPLATE})"),
            Some(serde_json::json!({"uri": uri})),
        )
    };
    let (environment, table) = parse_table_uri(uri).ok_or_else(not_found)?;
    let described = async {
        let env = fleet.environment(Some(&environment))?;
        let table = env.describe_table(&table).await?;
        Ok::<_, DbError>(TableDescription { environment: env.name().to_owned(), table })
    };
    let description = described.await.map_err(|err| match err.kind {
        dbfleet_core::ErrorKind::UnknownEnvironment | dbfleet_core::ErrorKind::Query => not_found(),
        dbfleet_core::ErrorKind::Forbidden => ErrorData::invalid_params(err.message, None),
        _ => ErrorData::internal_error(err.to_string(), None),
    })?;
    let text = serde_json::to_string(&description)
        .map_err(|err| ErrorData::internal_error(format!("cannot encode the table: {err}"), None))?;
    let contents = ResourceContents::TextResourceContents {
        uri: uri.to_owned(),
        mime_type: Some("application/json".into()),
        text,
        meta: None,
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

#[cfg(test)]
mod tests {
    use dbfleet_core::TableKind;

    use super::*;

    #[test]
    fn uris_round_trip_whatever_the_names() {
        for (env, schema, name) in [
            ("prod", Some("public"), "orders"),
            ("dev", None, "order items/2026"),
            ("x-y", Some("Sales Data"), "naïve%table"),
        ] {
            let table = TableInfo::new(schema.map(str::to_owned), name, TableKind::Table);
            let uri = table_uri(env, &table);
            assert!(!uri[SCHEME.len()..].contains(' '), "{uri}");
            let (parsed_env, parsed) = parse_table_uri(&uri).unwrap();
            assert_eq!(parsed_env, env);
            assert_eq!(parsed, TableRef::new(schema.map(str::to_owned), name.to_owned()), "{uri}");
        }
        assert_eq!(table_uri("dev", &TableInfo::new(None, "a b", TableKind::View)), "dbfleet://dev/-/a%20b");
    }

    #[test]
    fn other_uris_name_nothing() {
        for uri in [
            "file:///etc/passwd",
            "dbfleet://dev",
            "dbfleet://dev/-",
            "dbfleet://dev/-/t/x",
            "dbfleet:///-/t",
        ] {
            assert!(parse_table_uri(uri).is_none(), "{uri}");
        }
    }

    #[test]
    fn cursors_are_checked() {
        assert_eq!(parse_cursor("2:100"), Some((2, 100)));
        assert_eq!(parse_cursor("two"), None);
    }
}
