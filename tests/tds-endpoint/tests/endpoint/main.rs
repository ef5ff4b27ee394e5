//! Drives the endpoint over TCP with tiberius 0.13, the SQL Server driver's own client.

mod catalog;
mod common;
mod login;
mod queries;
mod streaming;
