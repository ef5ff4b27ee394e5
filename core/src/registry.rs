//! The driver registry. Driver crates announce themselves with
//! `inventory::submit!(DriverRegistration(&MyDriver))`; nothing in core names
//! a driver.

use crate::driver::DatabaseDriver;

pub struct DriverRegistration(pub &'static dyn DatabaseDriver);

inventory::collect!(DriverRegistration);

/// Every driver linked into this binary, sorted by name.
pub fn drivers() -> Vec<&'static dyn DatabaseDriver> {
    let mut all: Vec<_> = inventory::iter::<DriverRegistration>.into_iter().map(|r| r.0).collect();
    all.sort_by_key(|d| d.name());
    all
}

/// Finds a driver by its name or one of its aliases, ignoring case.
pub fn find_driver(name: &str) -> Option<&'static dyn DatabaseDriver> {
    drivers().into_iter().find(|d| {
        d.name().eq_ignore_ascii_case(name) || d.aliases().iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The driver that reads a legacy `[database]` section, if one is linked.
pub fn legacy_database_driver() -> Option<&'static dyn DatabaseDriver> {
    drivers().into_iter().find(|d| d.reads_legacy_database_section())
}

/// The names of every registered driver, for error messages.
pub fn driver_names() -> Vec<&'static str> {
    drivers().into_iter().map(|d| d.name()).collect()
}
