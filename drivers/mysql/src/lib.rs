//! dbfleet driver for MySQL and MariaDB (sqlx).
