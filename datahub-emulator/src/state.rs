//! The state every request handler, the handle and the fault control share: the store of
//! projects, topics and records, the fault rules, the accepted accounts, the JSONL log and the
//! request counters. [`EmulatorState`] is its cheap-to-clone public face.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cdc_core::secret::Secret;

use crate::config::EmulatorConfig;
use crate::fault::{FaultState, Op};
use crate::model::{ShardInfo, StoredRecord};
use crate::store::{Store, Topic};

/// State shared by the handlers, the handle and the fault control.
pub(crate) struct Shared {
    /// Projects, topics, shards and records.
    pub(crate) store: Mutex<Store>,
    /// The fault rules with their firing state.
    pub(crate) faults: Mutex<FaultState>,
    /// Accepted (AccessKeyId, AccessKeySecret) pairs.
    pub(crate) accounts: Vec<(String, Secret)>,
    /// The JSONL log of stored records, when configured.
    pub(crate) jsonl: Option<Mutex<std::fs::File>>,
    /// Authenticated requests per operation.
    counts: Mutex<BTreeMap<Op, u64>>,
    /// Every DataHub request received, refused ones included.
    total: AtomicU64,
    request_seq: AtomicU64,
    boot_ms: i64,
}

/// The emulator's state: give it to [`crate::Emulator::router`] to serve it yourself.
#[derive(Clone)]
pub struct EmulatorState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for EmulatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorState").field("requests", &self.request_count()).finish()
    }
}

impl EmulatorState {
    /// Builds the state from a config. Errors: the JSONL file cannot be opened for appending,
    /// or a sealed shard of `faults.sealed_shards` does not exist.
    pub fn new(cfg: EmulatorConfig) -> anyhow::Result<Self> {
        let now = chrono::Utc::now();
        let jsonl = match &cfg.jsonl_path {
            Some(p) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| anyhow::anyhow!("cannot open JSONL file {}: {e}", p.display()))?,
            )),
            None => None,
        };
        let mut faults = FaultState::default();
        for r in cfg.faults.rules.iter().cloned() {
            faults.add(r);
        }
        let mut store = Store::new(&cfg.projects, now.timestamp());
        for (p, t, s) in &cfg.faults.sealed_shards {
            store
                .seal(p, t, s, now.timestamp())
                .map_err(|e| anyhow::anyhow!("cannot seal {p}/{t}/{s}: {}: {}", e.code, e.message))?;
        }
        Ok(EmulatorState {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                faults: Mutex::new(faults),
                accounts: cfg.accounts.iter().map(|(i, k)| (i.clone(), Secret::new(k.clone()))).collect(),
                jsonl,
                counts: Mutex::new(BTreeMap::new()),
                total: AtomicU64::new(0),
                request_seq: AtomicU64::new(0),
                boot_ms: now.timestamp_millis(),
            }),
        })
    }

    /// DataHub requests received (including refused ones; admin requests not counted).
    pub fn request_count(&self) -> u64 {
        self.shared.total.load(Ordering::Relaxed)
    }

    /// Authenticated requests of one operation.
    pub fn request_count_of(&self, op: Op) -> u64 {
        self.shared.counts.lock().expect("count lock").get(&op).copied().unwrap_or(0)
    }

    /// Counts one DataHub request (before anything is checked).
    pub(crate) fn count_request(&self) {
        self.shared.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one authenticated request of `op`.
    pub(crate) fn count_op(&self, op: Op) {
        *self.shared.counts.lock().expect("count lock").entry(op).or_default() += 1;
    }

    /// Authenticated requests per operation, for `/__emulator/stats`.
    pub(crate) fn request_counts(&self) -> BTreeMap<Op, u64> {
        self.shared.counts.lock().expect("count lock").clone()
    }

    fn topic<R>(&self, project: &str, topic: &str, f: impl FnOnce(&Topic) -> R) -> R {
        let store = self.shared.store.lock().expect("store lock");
        match store.topic(project, topic) {
            Ok(t) => f(t),
            Err(e) => panic!("datahub-emulator: {}: {}", e.code, e.message),
        }
    }

    /// Records of one shard in sequence order. Panics on an unknown project/topic/shard.
    pub fn records(&self, project: &str, topic: &str, shard_id: &str) -> Vec<StoredRecord> {
        self.topic(project, topic, |t| match t.shard_index(shard_id) {
            Ok(i) => t.shards[i].records.clone(),
            Err(e) => panic!("datahub-emulator: {}: {}", e.code, e.message),
        })
    }

    /// Every record of a topic as (shard id, record), shard by shard in id order, each in
    /// sequence order. Panics on an unknown project/topic.
    pub fn all_records(&self, project: &str, topic: &str) -> Vec<(String, StoredRecord)> {
        self.topic(project, topic, |t| {
            t.shards.iter().flat_map(|s| s.records.iter().map(move |r| (s.id.to_string(), r.clone()))).collect()
        })
    }

    /// The shards as ListShard reports them. Panics on an unknown project/topic.
    pub fn shards(&self, project: &str, topic: &str) -> Vec<ShardInfo> {
        self.topic(project, topic, |t| t.shards.iter().map(|s| s.info()).collect())
    }

    /// A fresh `x-datahub-request-id`: boot time, request number and process id in hex.
    pub(crate) fn next_request_id(&self) -> String {
        let n = self.shared.request_seq.fetch_add(1, Ordering::Relaxed);
        format!("{:013x}{:011x}emu{:05x}", self.shared.boot_ms, n, std::process::id() & 0xfffff)
    }
}
