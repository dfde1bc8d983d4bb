//! Source tests: the binlog reader against the project's MariaDB servers (FULL, MINIMAL and NO_LOG
//! row metadata) and the OceanBase emulator — DML and DDL decoding, filters, positions, prechecks,
//! reconnects, restarts, heartbeats, types, recorded binlog files, the OceanBase binlog service's value
//! faults.
//!
//! One test binary for these modules (one link instead of one per file); each module's own
//! header says what it covers.

mod ddl;
mod dml;
mod filters;
mod fixtures;
mod heartbeat;
mod oceanbase;
mod oceanbase_large_rows;
mod oceanbase_values;
mod positions;
mod precheck;
mod reconnect;
mod restart;
mod session_overrides;
mod throughput;
mod types;
