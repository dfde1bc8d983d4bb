//! `cdc-core`: read a MySQL-protocol binlog (MariaDB, MySQL, the OceanBase binlog service) as a
//! replica, turn row events into typed [`event::ChangeEvent`]s, and ship them in batches to an
//! Alibaba Cloud DataHub topic without losing a change.
//!
//! The data path reads top to bottom, one module per stage:
//!
//! | stage | module | seam |
//! |---|---|---|
//! | source: replication connection, prechecks, reconnects | [`source`] | [`source::ChangeSource`] ([`source::BinlogSource`]) |
//! | decode: TABLE_MAP + ROWS → change events | [`source::decode`] | |
//! | batch: bounded by rows, bytes and linger | [`batch`] | |
//! | sink: the signed DataHub producer, JSON lines | [`sink`] ([`sink::datahub`]) | [`sink::Sink`] |
//! | checkpoint: position stored after acknowledgement | [`checkpoint`] | [`checkpoint::OffsetStore`] |
//!
//! [`pipeline`] wires the stages together with bounded channels (backpressure) and one
//! `CancellationToken` (shutdown); [`status`] is what the service shows on `/health`.

pub mod batch;
pub mod checkpoint;
pub mod event;
pub mod metrics;
pub mod pipeline;
pub mod position;
pub mod retry;
pub mod schema_history;
pub mod secret;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod status;

/// The DataHub sink, also at its historical path `cdc_core::datahub`.
pub use sink::datahub;
