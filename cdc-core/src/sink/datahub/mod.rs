//! The DataHub side: request signing ([`sign`]) and, built on it, the signed HTTP producer
//! ([`DataHubSink`]) that writes change events to a BLOB topic (or a TUPLE topic in the DTS or
//! DataWorks layout) with per-key shard routing, and [`MultiTopicSink`], which routes each table
//! to its own topic (creating topics, appending fields, dead-lettering values that do not fit),
//! bounded requests, retries with backoff and shard split/merge handling.
//!
//! The modules without a link are internal (their public types are re-exported here).
//!
//! | module | job |
//! |---|---|
//! | [`config`] | [`DataHubConfig`] and its validation ([`RetryPolicy`] is [`crate::retry`]'s) |
//! | [`error`] | [`DataHubError`], [`ErrorCode`] classification |
//! | [`model`] | JSON documents of the calls |
//! | [`pb`] | protobuf messages and the DHUB frame |
//! | `compress` | LZ4 request bodies |
//! | `client` | [`DataHubClient`]: signed calls |
//! | `routing` | [`ShardRouter`]: partition key → shard |
//! | `record` | `EncodedRecord`: one event encoded for a request (a leaf) |
//! | `encode` | events → records → request bodies, request bounds |
//! | `producer` | [`DataHubSink`] |
//! | [`multi`] | [`MultiTopicSink`]: many tables → many topics, creation, failure handling |
//! | `lanes` | one writer task per topic, so a failing topic does not hold the others |
//! | [`topics`] | [`TopicRouting`], topic names, MySQL → DataHub type mapping, schema checks |
//! | [`tuple`](mod@tuple) | TUPLE topics: DTS / DataWorks layouts, field-type conversions |

mod client;
mod compress;
pub mod config;
mod encode;
pub mod error;
mod lanes;
pub mod model;
pub mod multi;
pub mod pb;
mod producer;
mod record;
mod routing;
pub mod sign;
pub mod topics;
pub mod tuple;

pub use client::DataHubClient;
pub use config::{Compression, ConfigError, DataHubConfig, RetryPolicy, WriteProtocol};
pub use error::{DataHubError, ErrorClass, ErrorCode};
pub use lanes::{DEFAULT_MAX_QUEUED_BYTES, TOPIC_QUEUED_BYTES};
pub use model::{BlobRecord, CursorType, ShardInfo, ShardState};
pub use multi::{FailureMode, MultiTopicSink, RecordKind, TopicCreation, TopicsConfig};
pub use producer::{DataHubSink, MAX_REROUTE_ROUNDS, TOPIC_BYTES_TOTAL, TOPIC_RECORDS_TOTAL, TOPIC_REQUESTS_TOTAL};
pub use routing::{hash_key, ShardRouter};
pub use sign::Credentials;
pub use topics::TopicRouting;
