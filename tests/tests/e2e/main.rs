//! End-to-end tests: MariaDB → collector pipeline → DataHub emulator, read back as a real Flink
//! reads it, and through the OceanBase emulator.
//!
//! One test binary for these modules (one link instead of one per file); each module's own
//! header says what it covers.

mod flink_debezium;
mod oceanbase;
mod odp_sessions;
mod pipeline;
