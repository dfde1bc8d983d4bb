//! Sinks: where acknowledged delivery of a batch of change events happens.
//!
//! | file | job |
//! |---|---|
//! | `seam` | the [`Sink`] trait, [`SinkAck`], [`AckProgress`] (queueing sinks), [`SinkError`] |
//! | `boxed` | [`BoxSink`]: a sink chosen at run time ([`DynSink`], object-safe) |
//! | `stdout` | [`JsonLinesSink`]: JSON lines on stdout (`cdc-collector tail`) or any writer |
//! | [`datahub`] | the signed DataHub producer ([`datahub::DataHubSink`]) |
//!
//! A second destination (Kafka, say) is a folder beside `datahub/` with one `impl Sink`.

mod boxed;
pub mod datahub;
mod seam;
mod stdout;

pub use boxed::{BoxSink, DynSink};
pub use seam::{AckProgress, Sink, SinkAck, SinkError, SinkErrorKind};
pub use stdout::{is_closed_pipe, JsonLinesSink};
