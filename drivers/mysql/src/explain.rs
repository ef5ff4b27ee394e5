//! Plans: `EXPLAIN FORMAT=JSON`, read into common terms from every `table`
//! object of the plan, whatever the nesting (MySQL and MariaDB nest them
//! differently).

use dbfleet_core::driver_api::{DbError, PlanSummary, Row, Scan, ScanMethod, Value};

pub fn statement(sql: &str) -> String {
    format!("EXPLAIN FORMAT=JSON {sql}")
}

pub fn read(rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
    let plan = match rows.first().and_then(|row| row.first()) {
        Some(Value::Text(text) | Value::Other(text)) => serde_json::from_str(text)
            .map_err(|err| DbError::internal(format!("the plan is not JSON: {err}")))?,
        Some(Value::Json(json)) => json.clone(),
        other => return Err(DbError::internal(format!("EXPLAIN FORMAT=JSON answered {other:?}"))),
    };
    let mut scans = Vec::new();
    let mut joins = Vec::new();
    walk(&plan, &mut scans, &mut joins);
    let block = &plan["query_block"];
    let cost = number(&block["cost_info"]["query_cost"]).or_else(|| number(&block["cost"]));
    let rows = match scans.len() {
        1 => find_rows(&plan),
        _ => None,
    };
    Ok((plan, PlanSummary::new(cost, rows, scans, joins)))
}

/// MySQL writes costs as strings (`"1.20"`), MariaDB as numbers.
fn number(value: &serde_json::Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.parse().ok())
}

fn find_rows(plan: &serde_json::Value) -> Option<f64> {
    match plan {
        serde_json::Value::Object(map) => match map.get("table") {
            Some(table) if table.get("table_name").is_some() => {
                number(&table["rows_examined_per_scan"]).or_else(|| number(&table["rows"]))
            }
            _ => map.values().find_map(find_rows),
        },
        serde_json::Value::Array(items) => items.iter().find_map(find_rows),
        _ => None,
    }
}

fn walk(node: &serde_json::Value, scans: &mut Vec<Scan>, joins: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match key.as_str() {
                    "table" if value.get("table_name").is_some() => scans.push(scan(value)),
                    "nested_loop" if value.as_array().is_some_and(|tables| tables.len() > 1) => {
                        joins.push("Nested Loop".to_owned())
                    }
                    "block-nl-join" => joins.push("Block Nested Loop".to_owned()),
                    _ => {}
                }
                walk(value, scans, joins);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| walk(item, scans, joins)),
        _ => {}
    }
}

fn scan(table: &serde_json::Value) -> Scan {
    let access = table["access_type"].as_str().unwrap_or("unknown");
    let method = match access {
        "ALL" => ScanMethod::FullScan,
        "index" => ScanMethod::IndexScan,
        "const" | "system" | "eq_ref" | "ref" | "ref_or_null" | "range" | "index_merge" | "fulltext"
        | "unique_subquery" | "index_subquery" => ScanMethod::IndexLookup,
        _ => ScanMethod::Other,
    };
    let index = table["key"].as_str().map(str::to_owned);
    Scan::new(table["table_name"].as_str().unwrap_or_default(), method, index, access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_and_mysql_plans_read_alike() {
        let mariadb = r#"{"query_block": {"select_id": 1, "nested_loop": [
            {"table": {"table_name": "c", "access_type": "ALL", "rows": 2}},
            {"table": {"table_name": "o", "access_type": "eq_ref", "key": "PRIMARY", "rows": 1}}]}}"#;
        let (_, summary) = read(&[vec![Value::Text(mariadb.into())]]).unwrap();
        assert_eq!(summary.joins, ["Nested Loop"]);
        assert_eq!(summary.scans[0], Scan::new("c", ScanMethod::FullScan, None, "ALL"));
        assert_eq!(
            summary.scans[1],
            Scan::new("o", ScanMethod::IndexLookup, Some("PRIMARY".into()), "eq_ref")
        );
        let mysql = r#"{"query_block": {"cost_info": {"query_cost": "1.20"},
            "table": {"table_name": "orders", "access_type": "index", "key": "idx", "rows_examined_per_scan": 3}}}"#;
        let (_, summary) = read(&[vec![Value::Text(mysql.into())]]).unwrap();
        assert_eq!((summary.estimated_cost, summary.estimated_rows), (Some(1.2), Some(3.0)));
        assert_eq!(summary.scans[0].method, ScanMethod::IndexScan);
    }
}
