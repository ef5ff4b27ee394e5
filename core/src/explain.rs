//! Query plans: each engine's own form, a short summary in common terms
//! (estimated cost and rows, how each table is read, the joins), and what
//! differs between environments. Drivers say how to ask for a plan and how
//! to read it ([`crate::DatabaseDriver::explain_statement`],
//! [`crate::DatabaseDriver::read_plan`]).

use std::collections::BTreeMap;

use serde::Serialize;

/// How a table is read, in common terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScanMethod {
    /// Every row of the table (a sequential or full scan).
    FullScan,
    /// Every entry of an index, in its order.
    IndexScan,
    /// The entries of an index for a value or a range.
    IndexLookup,
    /// Other access (a bitmap, a function, a temporary result), named in `detail`.
    Other,
}

impl ScanMethod {
    fn as_str(self) -> &'static str {
        match self {
            ScanMethod::FullScan => "full scan",
            ScanMethod::IndexScan => "index scan",
            ScanMethod::IndexLookup => "index lookup",
            ScanMethod::Other => "other access",
        }
    }
}

/// One table read by the plan.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Scan {
    pub table: String,
    pub method: ScanMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// The engine's own name for it (`Seq Scan`, `ref`, `SEARCH … USING INDEX`).
    pub detail: String,
}

impl Scan {
    pub fn new(
        table: impl Into<String>,
        method: ScanMethod,
        index: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        Scan { table: table.into(), method, index, detail: detail.into() }
    }

    fn describe(&self) -> String {
        match &self.index {
            Some(index) => format!("{} ({index})", self.method.as_str()),
            None => self.method.as_str().to_owned(),
        }
    }
}

/// A plan in common terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct PlanSummary {
    /// The engine's cost estimate, in its own units (comparable between
    /// environments of one engine only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<f64>,
    /// Tables in the order the plan reads them.
    pub scans: Vec<Scan>,
    /// Join methods, outermost first (`Hash Join`, `Nested Loop`, …).
    pub joins: Vec<String>,
}

impl PlanSummary {
    pub fn new(
        estimated_cost: Option<f64>,
        estimated_rows: Option<f64>,
        scans: Vec<Scan>,
        joins: Vec<String>,
    ) -> Self {
        PlanSummary { estimated_cost, estimated_rows, scans, joins }
    }
}

/// A table read differently by the environments that read it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PlanDifference {
    pub table: String,
    /// How each environment reads it (`index lookup (orders_pkey)`, `full
    /// scan`), or `not read`.
    pub access: BTreeMap<String, String>,
    /// One line: `index lookup (orders_pkey) on staging, full scan on prod`.
    pub summary: String,
}

/// The tables that the environments read differently, in table order.
pub fn compare_plans(plans: &[(&str, &PlanSummary)]) -> Vec<PlanDifference> {
    let mut tables: Vec<&str> =
        plans.iter().flat_map(|(_, p)| p.scans.iter().map(|s| s.table.as_str())).collect();
    tables.sort_unstable();
    tables.dedup();
    let mut differences = Vec::new();
    for table in tables {
        let access: BTreeMap<String, String> = plans
            .iter()
            .map(|(env, plan)| {
                let ways: Vec<String> =
                    plan.scans.iter().filter(|s| s.table == table).map(Scan::describe).collect();
                let way = if ways.is_empty() { "not read".to_owned() } else { ways.join(" + ") };
                ((*env).to_owned(), way)
            })
            .collect();
        let mut ways: Vec<&String> = access.values().collect();
        ways.sort_unstable();
        ways.dedup();
        if ways.len() > 1 {
            let summary = plans
                .iter()
                .map(|(env, _)| format!("{} on {env}", access[*env]))
                .collect::<Vec<_>>()
                .join(", ");
            differences.push(PlanDifference {
                table: table.to_owned(),
                access,
                summary: format!("{table}: {summary}"),
            });
        }
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(scans: &[(&str, ScanMethod, Option<&str>)]) -> PlanSummary {
        PlanSummary::new(
            None,
            None,
            scans.iter().map(|(t, m, i)| Scan::new(*t, *m, i.map(str::to_owned), "x")).collect(),
            Vec::new(),
        )
    }

    #[test]
    fn only_tables_read_differently_are_reported() {
        let staging = plan(&[
            ("orders", ScanMethod::IndexLookup, Some("orders_pkey")),
            ("customers", ScanMethod::FullScan, None),
        ]);
        let prod = plan(&[("orders", ScanMethod::FullScan, None), ("customers", ScanMethod::FullScan, None)]);
        let dev = plan(&[("customers", ScanMethod::FullScan, None)]);
        let differences = compare_plans(&[("staging", &staging), ("prod", &prod)]);
        assert_eq!(differences.len(), 1);
        assert_eq!(
            differences[0].summary,
            "orders: index lookup (orders_pkey) on staging, full scan on prod"
        );
        let differences = compare_plans(&[("dev", &dev), ("prod", &prod)]);
        assert_eq!(differences[0].access["dev"], "not read");
        assert!(compare_plans(&[("prod", &prod), ("again", &prod)]).is_empty());
    }
}
