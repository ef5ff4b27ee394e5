//! dbfleet driver for PostgreSQL (sqlx).
