//! The dbfleet conformance suite on the CSV driver, as any driver crate
//! outside the workspace would run it.
//!
//! A CSV environment is read-only and keeps no keys, indexes, views or types
//! beyond integer, real and text: the cases that need writes or the full
//! fixture are skipped (each says so), the others run.

use std::path::Path;

use dbfleet_example_csv as _;
use dbfleet_testkit::{Capabilities, Fixture, Scratch, Target};

struct Csv;

impl Target for Csv {
    fn driver(&self) -> &'static str {
        "csv"
    }

    fn engine(&self) -> &'static str {
        "CSV files"
    }

    async fn create(&self, dir: &Path, name: &str) -> Option<String> {
        std::fs::create_dir(dir.join(name)).unwrap();
        Some(format!("directory = \"{name}\"\n"))
    }

    // The files go with the scratch directory.
    async fn destroy(&self, _name: &str) {}

    // Not run: `load_fixture` writes the files instead.
    fn fixture(&self) -> Fixture {
        Fixture {
            all_types: String::new(),
            all_types_row: String::new(),
            customers: String::new(),
            orders: String::new(),
        }
    }

    /// The fixture's customers and orders, as files.
    async fn load_fixture(&self, scratch: &Scratch) {
        let directory = scratch.dir().join(scratch.name());
        std::fs::write(directory.join("customers.csv"), "id,name\n1,Ada\n2,Grace\n").unwrap();
        std::fs::write(
            directory.join("orders.csv"),
            "id,customer_id,amount\n10,1,5.00\n11,1,7.25\n12,2,3.10\n",
        )
        .unwrap();
    }

    fn million_rows(&self) -> String {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT x FROM c"
            .into()
    }

    fn slow_query(&self) -> String {
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c".into()
    }

    fn unreachable(&self) -> String {
        "directory = \"no_such_directory\"\n".into()
    }

    fn refused_login(&self) -> Option<String> {
        None
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default().without_writes().without_full_fixture()
    }
}

dbfleet_testkit::conformance_suite!(Csv);
