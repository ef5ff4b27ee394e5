//! Plans: `EXPLAIN (FORMAT JSON)`, read into common terms by walking the
//! plan tree.

use dbfleet_core::driver_api::{DbError, PlanSummary, Row, Scan, ScanMethod, Value};

pub fn statement(sql: &str) -> String {
    format!("EXPLAIN (FORMAT JSON) {sql}")
}

pub fn read(rows: &[Row]) -> Result<(serde_json::Value, PlanSummary), DbError> {
    let plan = match rows.first().and_then(|row| row.first()) {
        Some(Value::Json(json)) => json.clone(),
        Some(Value::Text(text)) => serde_json::from_str(text)
            .map_err(|err| DbError::internal(format!("PostgreSQL's plan is not JSON: {err}")))?,
        other => return Err(DbError::internal(format!("PostgreSQL answered EXPLAIN with {other:?}"))),
    };
    let root = plan.get(0).and_then(|p| p.get("Plan")).cloned().unwrap_or_default();
    let mut scans = Vec::new();
    let mut joins = Vec::new();
    walk(&root, &mut scans, &mut joins);
    let summary = PlanSummary::new(root["Total Cost"].as_f64(), root["Plan Rows"].as_f64(), scans, joins);
    Ok((plan, summary))
}

fn walk(node: &serde_json::Value, scans: &mut Vec<Scan>, joins: &mut Vec<String>) {
    let node_type = node["Node Type"].as_str().unwrap_or_default();
    let relation = node["Relation Name"].as_str();
    let index = node["Index Name"].as_str().map(str::to_owned);
    match (node_type, relation) {
        ("Nested Loop" | "Hash Join" | "Merge Join", _) => joins.push(node_type.to_owned()),
        ("Seq Scan", Some(table)) => scans.push(Scan::new(table, ScanMethod::FullScan, None, node_type)),
        ("Index Scan" | "Index Only Scan", Some(table)) => {
            let method = if node.get("Index Cond").is_some() {
                ScanMethod::IndexLookup
            } else {
                ScanMethod::IndexScan
            };
            scans.push(Scan::new(table, method, index, node_type));
        }
        ("Bitmap Heap Scan", Some(table)) => {
            // Its index is named by the Bitmap Index Scan below it.
            let index = node["Plans"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|child| child["Index Name"].as_str().map(str::to_owned));
            scans.push(Scan::new(table, ScanMethod::IndexLookup, index, node_type));
            return;
        }
        (_, Some(table)) => scans.push(Scan::new(table, ScanMethod::Other, index, node_type)),
        _ => {}
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        walk(child, scans, joins);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_join_plan_reads_as_scans_and_joins() {
        let plan = serde_json::json!([{"Plan": {
            "Node Type": "Hash Join", "Total Cost": 42.5, "Plan Rows": 7,
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "orders"},
                {"Node Type": "Hash", "Plans": [
                    {"Node Type": "Index Scan", "Relation Name": "customers", "Index Name": "customers_pkey",
                     "Index Cond": "(id = 1)"}
                ]},
                {"Node Type": "Bitmap Heap Scan", "Relation Name": "items", "Plans": [
                    {"Node Type": "Bitmap Index Scan", "Index Name": "items_order_idx"}
                ]}
            ]
        }}]);
        let (_, summary) = read(&[vec![Value::Json(plan)]]).unwrap();
        assert_eq!((summary.estimated_cost, summary.estimated_rows), (Some(42.5), Some(7.0)));
        assert_eq!(summary.joins, ["Hash Join"]);
        let scans: Vec<(&str, ScanMethod, Option<&str>)> =
            summary.scans.iter().map(|s| (s.table.as_str(), s.method, s.index.as_deref())).collect();
        assert_eq!(
            scans,
            [
                ("orders", ScanMethod::FullScan, None),
                ("customers", ScanMethod::IndexLookup, Some("customers_pkey")),
                ("items", ScanMethod::IndexLookup, Some("items_order_idx")),
            ]
        );
    }
}
