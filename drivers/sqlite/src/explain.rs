//! Plans: `EXPLAIN QUERY PLAN`, one row per step (`SCAN orders`, `SEARCH
//! orders USING INDEX idx (customer_id=?)`), read into common terms. SQLite
//! gives no costs and joins only by nested loops.

use dbfleet_core::driver_api::{DbError, PlanSummary, Row, Scan, ScanMethod, Value};

pub fn statement(sql: &str) -> String {
    format!("EXPLAIN QUERY PLAN {sql}")
}

pub fn read(rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
    let mut steps = Vec::with_capacity(rows.len());
    let mut scans = Vec::new();
    for row in rows {
        let (Some(Value::Int(id)), Some(Value::Int(parent)), Some(Value::Text(detail))) =
            (row.first(), row.get(1), row.get(3))
        else {
            return Err(DbError::internal(format!("EXPLAIN QUERY PLAN answered {row:?}")));
        };
        steps.push(serde_json::json!({"id": id, "parent": parent, "detail": detail}));
        scans.extend(scan(detail));
    }
    let joins = vec!["Nested Loop".to_owned(); scans.len().saturating_sub(1)];
    Ok((serde_json::Value::Array(steps), PlanSummary::new(None, None, scans, joins)))
}

/// A step that reads a table; other steps (temporary b-trees, constant
/// rows, subquery headers) read none.
fn scan(detail: &str) -> Option<Scan> {
    let (verb, rest) = detail.split_once(' ')?;
    let searching = match verb {
        "SCAN" => false,
        "SEARCH" => true,
        _ => return None,
    };
    let rest = rest.strip_prefix("TABLE ").unwrap_or(rest);
    let (table, how) = rest.split_once(" USING ").map_or((rest, None), |(t, h)| (t, Some(h)));
    let table = table.split(" AS ").next().unwrap_or(table).trim();
    if table == "CONSTANT ROW" || table.starts_with("SUBQUERY") {
        return None;
    }
    let index = how.map(|how| {
        let named = how.strip_prefix("COVERING INDEX ").or_else(|| how.strip_prefix("INDEX "));
        match named {
            Some(rest) => rest.split(' ').next().unwrap_or(rest).to_owned(),
            None => how.split(" (").next().unwrap_or(how).to_owned(),
        }
    });
    let method = match (searching, &index) {
        (true, _) => ScanMethod::IndexLookup,
        (false, Some(_)) => ScanMethod::IndexScan,
        (false, None) => ScanMethod::FullScan,
    };
    Some(Scan::new(table, method, index, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_as_scans() {
        let step = |detail: &str| scan(detail).map(|s| (s.table, s.method, s.index));
        assert_eq!(step("SCAN orders"), Some(("orders".into(), ScanMethod::FullScan, None)));
        assert_eq!(step("SCAN TABLE orders AS o"), Some(("orders".into(), ScanMethod::FullScan, None)));
        assert_eq!(
            step("SEARCH o USING INDEX orders_customer (customer_id=?)"),
            Some(("o".into(), ScanMethod::IndexLookup, Some("orders_customer".into())))
        );
        assert_eq!(
            step("SEARCH c USING INTEGER PRIMARY KEY (rowid=?)"),
            Some(("c".into(), ScanMethod::IndexLookup, Some("INTEGER PRIMARY KEY".into())))
        );
        assert_eq!(
            step("SCAN orders USING COVERING INDEX orders_customer"),
            Some(("orders".into(), ScanMethod::IndexScan, Some("orders_customer".into())))
        );
        assert_eq!(step("USE TEMP B-TREE FOR ORDER BY"), None);
        assert_eq!(step("SCAN CONSTANT ROW"), None);
    }
}
