//! A local Alibaba Cloud DataHub emulator for tests and for developing downstream (Flink) jobs
//! without a cloud DataHub. It serves the data-plane protocol the official SDKs speak
//! (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)): signed requests (checked with
//! `cdc_core::datahub::sign`), lz4/zlib request bodies, GetProject/ListProject/CreateProject,
//! GetTopic/ListTopic/CreateTopic/DeleteTopic, AppendField, ListShard (+ split), JSON and protobuf PutRecords, protobuf
//! PutRecordsByShard, GetCursor, JSON and protobuf GetRecords, with the real error codes, plus
//! fault injection ([`FaultControl`]). The official Python SDK pydatahub 2.29.0 is the judge
//! (`tests/python/check_emulator.py`).
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use datahub_emulator::{Emulator, EmulatorConfig};
//! let cfg = EmulatorConfig::single("test_project", "events", 4, "id", "key");
//! let emu = Emulator::start(cfg, "127.0.0.1:0".parse()?).await?;
//! println!("{}", emu.endpoint());
//! let written = emu.all_records("test_project", "events");
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

//! Layout (each module imports only those above it in this list, none imports another back):
//! `model` (data model, a leaf), `error`, `validate`, `pb`, `store` (projects, topics, shards,
//! records), `fault` (rules), `config`, `state` (what handlers share), `wire` (signature, bodies,
//! responses), `api/` (one file per API area), `admin` ([`FaultControl`], `/__emulator`),
//! `dispatch` (router, accept loop, request dispatch), and this file (start, handle).

mod admin;
mod api;
mod config;
mod dispatch;
mod error;
mod fault;
mod model;
mod pb;
mod state;
mod store;
mod validate;
mod wire;

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

pub use admin::FaultControl;
pub use config::EmulatorConfig;
pub use fault::{FaultKind, FaultRule, FaultTimes, Faults, Op};
pub use model::{
    Field, FieldType, ProjectSpec, RecordData, RecordSchema, RecordType, ShardInfo, ShardState, StoredRecord, TopicSpec,
};
pub use state::EmulatorState;

/// Entry point: start a server, or get its router to serve it yourself.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Binds `addr` (`127.0.0.1:0` picks a free port) and serves the emulator on a background
    /// task until [`EmulatorHandle::shutdown`] (or the handle is dropped).
    /// Errors: the address cannot be bound, the JSONL file cannot be opened, a sealed shard in
    /// the config does not exist.
    pub async fn start(cfg: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<EmulatorHandle> {
        let state = EmulatorState::new(cfg)?;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(dispatch::serve(listener, dispatch::router(state.clone()), shutdown.clone()));
        tracing::info!(endpoint = %format!("http://{addr}"), "DataHub emulator listening");
        Ok(EmulatorHandle { faults: state.faults(), state, addr, shutdown, task })
    }

    /// The axum router for a state, for embedding. The `drop` fault needs the connection
    /// handling of [`Emulator::start`]; under a plain `axum::serve` it answers 500
    /// `InternalServerError` instead.
    pub fn router(state: EmulatorState) -> axum::Router {
        dispatch::router(state)
    }
}

/// A running emulator. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct EmulatorHandle {
    state: EmulatorState,
    faults: FaultControl,
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give to a DataHub client.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (records, shards, counters).
    pub fn state(&self) -> &EmulatorState {
        &self.state
    }

    /// Records of one shard in sequence order. Panics on an unknown project/topic/shard.
    pub fn records(&self, project: &str, topic: &str, shard_id: &str) -> Vec<StoredRecord> {
        self.state.records(project, topic, shard_id)
    }

    /// Every record of a topic as (shard id, record): shards in id order, each in sequence
    /// order. Panics on an unknown project/topic.
    pub fn all_records(&self, project: &str, topic: &str) -> Vec<(String, StoredRecord)> {
        self.state.all_records(project, topic)
    }

    /// The shards as ListShard reports them. Panics on an unknown project/topic.
    pub fn shards(&self, project: &str, topic: &str) -> Vec<ShardInfo> {
        self.state.shards(project, topic)
    }

    /// Run-time fault injection.
    pub fn faults(&self) -> &FaultControl {
        &self.faults
    }

    /// DataHub requests received so far, refused ones included (admin endpoints excluded).
    pub fn request_count(&self) -> u64 {
        self.state.request_count()
    }

    /// Authenticated requests of one operation so far (faulted ones included).
    pub fn request_count_of(&self, op: Op) -> u64 {
        self.state.request_count_of(op)
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
