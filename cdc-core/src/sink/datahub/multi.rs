//! [`MultiTopicSink`]: one collector, many tables, many topics. Each table's events go to the
//! topic [`TopicRouting`] names; every topic is written by its own [`DataHubSink`] in the same
//! ordered, per-shard, acknowledged way, each topic by its own writer task (a *lane*,
//! `super::lanes`), so that a topic that fails does not stop the others.
//!
//! Guarantees:
//!
//! * **A queueing sink; acknowledged only when every topic is.** `send` encodes the batch,
//!   splits it by topic and queues each part on its topic's lane, then returns (waiting only
//!   for room: at most [`TopicsConfig::max_queued_bytes`] of encoded records are queued). The
//!   batch counts as acknowledged ([`Sink::acknowledgements`]) only when every topic it touched
//!   (and the dead-letter topic) acknowledged its part and every earlier batch is acknowledged,
//!   so the pipeline's checkpoint advances only past what every topic holds. A lane re-sends its
//!   failed part (transient errors, with backoff, without end) while the other lanes go on with
//!   later batches; after a restart the batches past the checkpoint are read again and the
//!   topics that had them get them twice (at-least-once). Nothing is reordered.
//! * **Per-key order.** One key → one table → one topic → one lane → one shard: the lane writes
//!   a topic's parts in batch order, and the topic's sink keeps the key's records in order within
//!   a part (see [`DataHubSink`]).
//! * **No mixed schemas.** Two tables routed to one TUPLE topic are refused
//!   ([`DataHubError::Topic`]); a shared BLOB topic is fine (records carry `db`/`table`).
//!
//! Topics are prepared at [`MultiTopicSink::connect`] for the tables given (the captured
//! tables that exist at start, [`captured_tables`]) and at the first row of any other table
//! (one created later): GetTopic; when missing and creation is on ([`TopicCreation`]),
//! CreateTopic with [`super::topics::created_schema`]'s schema from `information_schema`
//! ([`crate::source::schema::load_schema`]); an existing TUPLE topic is checked against its
//! table ([`super::topics::schema_mismatches`]) and each mismatch named. With creation on, a
//! column the TUPLE topic lacks is appended (AppendField, nullable, its mapped type) at start
//! and before the first record that carries it (a column added by `ALTER TABLE`).
//!
//! Values a field cannot hold ([`FailureMode`], after Debezium's
//! `event.processing.failure.handling.mode`): `fail` stops the collector naming
//! `db.table.column`, the value, the binlog position and the topic
//! ([`DataHubError::Unfit`]); `skip` writes the whole event with the reason to a BLOB
//! dead-letter topic instead ([`dead_letter_data`]) and counts it in
//! [`DEAD_LETTER_EVENTS_TOTAL`]. A value is never changed to make it fit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::event::ChangeEvent;
use crate::retry::Backoff;
use crate::sink::{AckProgress, Sink, SinkAck, SinkError};
use crate::source::TableFilter;

use super::client::DataHubClient;
use super::config::DataHubConfig;
use super::encode;
use super::error::{DataHubError, ErrorCode};
use super::lanes::{Lanes, DEFAULT_MAX_QUEUED_BYTES};
use super::model::{BlobRecord, NewField, NewRecordType, NewTopic};
use super::producer::DataHubSink;
use super::record::EncodedRecord;
use super::topics::{self, TopicRouting};
use super::tuple::{Layout, TupleError};

/// Events written to the dead-letter topic, by the topic they were routed to (`{topic}`).
pub const DEAD_LETTER_EVENTS_TOTAL: &str = "cdc_dead_letter_events_total";

/// What happens to an event with a value its TUPLE field cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Stop with [`DataHubError::Unfit`] (default).
    #[default]
    Fail,
    /// Write the event and the reason to the dead-letter topic and go on.
    Skip,
}

impl std::str::FromStr for FailureMode {
    type Err = String;

    /// `fail` or `skip`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            _ => Err(format!("`{s}` is not `fail` or `skip`")),
        }
    }
}

/// The record type of created topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordKind {
    /// One contract JSON event per record (default).
    #[default]
    Blob,
    /// Typed columns in [`TopicsConfig::layout`].
    Tuple,
}

impl std::str::FromStr for RecordKind {
    type Err = String;

    /// `BLOB` or `TUPLE`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "BLOB" => Ok(Self::Blob),
            "TUPLE" => Ok(Self::Tuple),
            _ => Err(format!("`{s}` is not BLOB or TUPLE")),
        }
    }
}

/// How missing topics are created (CreateTopic, datahub-protocol §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicCreation {
    /// BLOB or TUPLE.
    pub record_type: RecordKind,
    /// Shards, 1–256 (DataHub "Limits").
    pub shard_count: u32,
    /// Retention, days, 1–7 (DataHub "Limits").
    pub lifecycle_days: u32,
}

/// Routing, creation and failure handling of a [`MultiTopicSink`].
#[derive(Debug, Clone)]
pub struct TopicsConfig {
    /// Which topic each table goes to.
    pub routing: TopicRouting,
    /// TUPLE layout: `None` detects DTS/DataWorks from each topic's schema; `Some` requires it
    /// (and is the layout of created TUPLE topics; [`Layout::Dts`] when creating without one).
    pub layout: Option<Layout>,
    /// Create missing topics; `None`: a missing topic is an error (`NoSuchTopic`).
    pub create: Option<TopicCreation>,
    /// Values a field cannot hold.
    pub failure_mode: FailureMode,
    /// BLOB topic for [`FailureMode::Skip`] (created when creation is on).
    pub dead_letter_topic: String,
    /// Most encoded record bytes queued on the topics' writers at once (parts being written
    /// included); `send` waits for room. Default [`DEFAULT_MAX_QUEUED_BYTES`] (32 MiB).
    pub max_queued_bytes: usize,
    /// Pauses between re-sends of a part a topic did not acknowledge (transient errors; the
    /// producer's own per-request retries come first). Default 500 ms doubling to 30 s.
    pub resend_backoff: Backoff,
}

impl TopicsConfig {
    /// One topic for everything, detected layout, no creation, mode `fail`: what a
    /// single-topic [`DataHubSink`] does.
    pub fn single(topic: &str) -> Self {
        Self {
            routing: TopicRouting::single(topic),
            layout: None,
            create: None,
            failure_mode: FailureMode::Fail,
            dead_letter_topic: "cdc_dead_letter".into(),
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            resend_backoff: Backoff::from_millis(500, 30_000),
        }
    }
}

/// A topic as `/health` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicState {
    /// `BLOB` or `TUPLE`.
    pub record_type: String,
    /// TUPLE layout (`DTS`, `DataWorks`, `plain`); None for BLOB.
    pub layout: Option<String>,
    /// ACTIVE shards.
    pub shards: usize,
    /// The tables routed here, `db.table`.
    pub tables: Vec<String>,
    /// True for the dead-letter topic.
    pub dead_letter: bool,
    /// The last error while the topic's writer re-sends a part it did not acknowledge; `None`
    /// while the topic takes what it is sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrying: Option<String>,
}

/// The topics a [`MultiTopicSink`] writes, by name; shared with `/health`.
pub type TopicRegistry = Arc<RwLock<BTreeMap<String, TopicState>>>;

/// The captured base tables that exist now: `information_schema.TABLES` filtered by `filter`,
/// system schemas left out, sorted.
///
/// Errors: the server's, for a failed query.
pub async fn captured_tables(
    conn: &mut mysql_async::Conn,
    filter: &TableFilter,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    use mysql_async::prelude::Queryable as _;
    let rows: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' \
             AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await?;
    Ok(rows.into_iter().filter(|(d, t)| filter.matches(d, t)).collect())
}

/// A pool for `information_schema` reads on the source server (an ordinary connection, never
/// the replication one), for [`MultiTopicSink::connect`].
pub fn schema_pool(source: &crate::source::SourceConfig) -> mysql_async::Pool {
    mysql_async::Pool::new(source.opts())
}

/// What [`inspect`] found: problems (each a sentence naming the topic) and what is fine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Problems: two tables on one TUPLE topic, a missing topic (creation off), a schema
    /// mismatch, a failed call.
    pub problems: Vec<String>,
    /// Topics found fine, or to be created.
    pub ok: Vec<String>,
}

/// Checks, without creating or writing anything, what [`MultiTopicSink::connect`] would do for
/// `tables`: each table's topic exists (or will be created), fits its table (TUPLE), and no
/// TUPLE topic (existing, or to be created TUPLE) takes two tables. For `validate`.
pub async fn inspect(
    base: &DataHubConfig,
    cfg: &TopicsConfig,
    schemas: Option<&mysql_async::Pool>,
    tables: &[(String, String)],
) -> Inspection {
    let mut out = Inspection::default();
    let client = match DataHubClient::new(base) {
        Ok(c) => c,
        Err(e) => {
            out.problems.push(e.to_string());
            return out;
        }
    };
    if tables.is_empty() && !cfg.routing.per_table() {
        let name = cfg.routing.topic_for("", "");
        match client.get_topic(&base.project, &name).await {
            Ok(info) => out.ok.push(format!("topic {name}: {} (no captured table yet)", info.record_type)),
            Err(DataHubError::Service { code: ErrorCode::NoSuchTopic, .. }) if cfg.create.is_some() => {
                out.ok.push(format!("topic {name} will be created"))
            }
            Err(e) => out.problems.push(format!("topic {name}: {e}")),
        }
        return out;
    }
    // Topic key (lower case) → (the topic's name, its tables).
    type ByTopic<'a> = BTreeMap<String, (String, Vec<&'a (String, String)>)>;
    let mut by_topic: ByTopic<'_> = BTreeMap::new();
    for t in tables {
        let name = cfg.routing.topic_for(&t.0, &t.1);
        by_topic.entry(name.to_ascii_lowercase()).or_insert_with(|| (name, Vec::new())).1.push(t);
    }
    for (name, ts) in by_topic.values() {
        let qualified: Vec<String> = ts.iter().map(|(d, t)| format!("{d}.{t}")).collect();
        let info = match client.get_topic(&base.project, name).await {
            Ok(info) => Some(info),
            Err(DataHubError::Service { code: ErrorCode::NoSuchTopic, .. }) => None,
            Err(e) => {
                out.problems.push(format!("topic {name}: {e}"));
                continue;
            }
        };
        let tuple = match &info {
            Some(i) => !i.is_blob(),
            None => cfg.create.is_some_and(|c| c.record_type == RecordKind::Tuple),
        };
        if tuple && ts.len() > 1 {
            out.problems.push(format!(
                "topic {name}: TUPLE topic for {} tables ({}); a TUPLE topic holds one table",
                ts.len(),
                qualified.join(", ")
            ));
            continue;
        }
        let Some(info) = info else {
            if cfg.create.is_some() {
                out.ok.push(format!("topic {name} ({}) will be created", qualified.join(", ")));
            } else {
                out.problems.push(format!(
                    "topic {name} ({}) does not exist (create it, or turn topic creation on)",
                    qualified.join(", ")
                ));
            }
            continue;
        };
        let (Some(schema), Some(pool)) = (info.record_schema.as_deref().filter(|_| tuple), schemas) else {
            out.ok.push(format!("topic {name} ({}): {}", qualified.join(", "), info.record_type));
            continue;
        };
        let parsed = match super::tuple::TupleSchema::parse(schema) {
            Ok(p) => p,
            Err(e) => {
                out.problems.push(format!("topic {name}: {e}"));
                continue;
            }
        };
        let layout = match cfg.layout {
            Some(l) => l,
            None => match Layout::detect(&parsed) {
                Ok(l) => l,
                Err(e) => {
                    out.problems.push(format!("topic {name}: {e}"));
                    continue;
                }
            },
        };
        let (db, table) = ts[0];
        let ts = match pool.get_conn().await {
            Ok(mut conn) => crate::source::schema::load_schema(&mut conn, db, table).await,
            Err(e) => Err(e),
        };
        match ts {
            Err(e) => out.problems.push(format!("topic {name}: reading {db}.{table} from information_schema: {e}")),
            Ok(ts) => {
                let m = topics::schema_mismatches(&parsed, layout, &ts, cfg.create.is_some());
                if m.is_empty() {
                    out.ok.push(format!("topic {name} ({db}.{table}): TUPLE, {layout} layout, schema fits the table"));
                } else {
                    out.problems.extend(m.into_iter().map(|p| format!("topic {name} ({db}.{table}): {p}")));
                }
            }
        }
    }
    out
}

/// The dead-letter record data: a JSON object `{"reason", "topic", "db", "table", "file",
/// "pos", "row", "event"}` where `event` is the whole contract event
/// ([`ChangeEvent::to_json_bytes`]) and `reason` the error text.
pub fn dead_letter_data(event: &ChangeEvent, topic: &str, reason: &str) -> Vec<u8> {
    let ev: serde_json::Value = serde_json::from_slice(&event.to_json_bytes()).expect("the contract JSON parses");
    serde_json::to_vec(&serde_json::json!({
        "reason": reason,
        "topic": topic,
        "db": &*event.source.db,
        "table": &*event.source.table,
        "file": &*event.source.file,
        "pos": event.source.pos,
        "row": event.source.row,
        "event": ev,
    }))
    .expect("JSON serializes")
}

/// The DataHub sink over many topics; see the module docs.
#[derive(Debug)]
pub struct MultiTopicSink {
    base: DataHubConfig,
    client: DataHubClient,
    cfg: TopicsConfig,
    schemas: Option<mysql_async::Pool>,
    /// By topic name in lower case (DataHub compares names case-insensitively).
    sinks: BTreeMap<String, DataHubSink>,
    /// `(db, table)` → the key of `sinks`.
    routes: HashMap<(Arc<str>, Arc<str>), String>,
    /// Tables routed to each topic key, `db.table`.
    tables: HashMap<String, Vec<String>>,
    dead_letter: Option<DataHubSink>,
    registry: TopicRegistry,
    /// One writer per topic (keys as `sinks`, [`DEAD_LETTER_KEY`] for the dead-letter topic).
    lanes: Lanes,
}

/// The lane key of the dead-letter topic (no topic name can start with a NUL).
const DEAD_LETTER_KEY: &str = "\0dead-letter";

impl MultiTopicSink {
    /// Validates `base` (its `topic` is only a placeholder), connects the dead-letter topic
    /// (mode `skip`) and prepares the topic of each of `tables` (see the module docs).
    /// `schemas` reads `information_schema`; without it topics cannot be created TUPLE nor
    /// checked against their tables.
    ///
    /// Errors: [`DataHubError::Config`]; [`DataHubError::Topic`] for two tables on one TUPLE
    /// topic, a schema mismatch, a TUPLE topic to create without `schemas`, a failed
    /// `information_schema` read; the GetTopic/CreateTopic/ListShard error otherwise (e.g.
    /// `NoSuchTopic` without creation).
    pub async fn connect(
        base: DataHubConfig,
        cfg: TopicsConfig,
        schemas: Option<mysql_async::Pool>,
        tables: &[(String, String)],
        registry: TopicRegistry,
    ) -> Result<Self, DataHubError> {
        let mut checked = base.clone();
        checked.topic = "t".into(); // the topics are the routing's, checked there
        checked.validate()?;
        let client = DataHubClient::new(&base)?;
        let cfg_max_queued = cfg.max_queued_bytes;
        let mut sink = Self {
            base,
            client,
            cfg,
            schemas,
            sinks: BTreeMap::new(),
            routes: HashMap::new(),
            tables: HashMap::new(),
            dead_letter: None,
            registry,
            lanes: Lanes::new(cfg_max_queued),
        };
        sink.registry.write().expect("registry lock").clear();
        if sink.cfg.failure_mode == FailureMode::Skip {
            let name = sink.cfg.dead_letter_topic.clone();
            if let Some(c) = sink.cfg.create {
                let spec = NewTopic {
                    shard_count: c.shard_count,
                    lifecycle_days: c.lifecycle_days,
                    record_type: NewRecordType::Blob,
                    comment: "cdc-collector dead letters".into(),
                };
                sink.create_if_missing(&name, &spec).await?;
            }
            let dl = sink.connect_topic(&name, None).await?;
            if !dl.topic().is_blob() {
                return Err(DataHubError::Topic { topic: name, message: "the dead-letter topic must be BLOB".into() });
            }
            sink.register(&name, &dl, true);
            sink.open_lane(DEAD_LETTER_KEY, &dl);
            sink.dead_letter = Some(dl);
        }
        for (db, table) in tables {
            sink.prepare(&Arc::from(db.as_str()), &Arc::from(table.as_str())).await?;
        }
        // One topic for every table: it must be there from the start, even before any table
        // exists (a missing topic stops the collector at once, not at the first row).
        if !sink.cfg.routing.per_table() && sink.sinks.is_empty() {
            let name = sink.cfg.routing.topic_for("", "");
            if let Some(c) = sink.cfg.create.filter(|c| c.record_type == RecordKind::Blob) {
                let spec = NewTopic {
                    shard_count: c.shard_count,
                    lifecycle_days: c.lifecycle_days,
                    record_type: NewRecordType::Blob,
                    comment: "cdc-collector".into(),
                };
                sink.create_if_missing(&name, &spec).await?;
            }
            let s = sink.connect_topic(&name, sink.cfg.layout).await?;
            sink.register(&name, &s, false);
            sink.open_lane(&name.to_ascii_lowercase(), &s);
            sink.sinks.insert(name.to_ascii_lowercase(), s);
        }
        Ok(sink)
    }

    /// The topics, shared for `/health` (updated as topics are prepared and shard lists change).
    pub fn registry(&self) -> TopicRegistry {
        self.registry.clone()
    }

    /// The sink of a topic, by name (case-insensitive), once prepared.
    pub fn topic_sink(&self, topic: &str) -> Option<&DataHubSink> {
        self.sinks.get(&topic.to_ascii_lowercase())
    }

    /// Starts the writer of `key` with a copy of `s` (kept here for encoding).
    fn open_lane(&mut self, key: &str, s: &DataHubSink) {
        self.lanes.open(key, s.clone(), self.cfg.resend_backoff, self.registry.clone());
    }

    fn register(&self, name: &str, s: &DataHubSink, dead_letter: bool) {
        let retrying = self.registry.read().expect("registry lock").get(name).and_then(|t| t.retrying.clone());
        let state = TopicState {
            record_type: if s.topic().is_blob() { "BLOB".into() } else { "TUPLE".into() },
            layout: s.tuple_encoder().map(|e| e.layout().to_string()),
            shards: s.router().shard_ids().count(),
            tables: self.tables.get(&name.to_ascii_lowercase()).cloned().unwrap_or_default(),
            dead_letter,
            retrying,
        };
        self.registry.write().expect("registry lock").insert(name.to_owned(), state);
    }

    /// GetTopic + ListShard of `name`, retrying a topic that has no ACTIVE shard yet (just
    /// created) a few times.
    async fn connect_topic(&self, name: &str, layout: Option<Layout>) -> Result<DataHubSink, DataHubError> {
        let mut c = self.base.clone();
        c.topic = name.to_owned();
        let mut attempt = 0;
        loop {
            match DataHubSink::connect_with_layout(c.clone(), layout).await {
                Err(DataHubError::NoActiveShard { .. }) if attempt < 10 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other,
            }
        }
    }

    /// CreateTopic unless it exists (`TopicAlreadyExist` is success).
    async fn create_if_missing(&self, name: &str, spec: &NewTopic) -> Result<(), DataHubError> {
        match self.client.get_topic(&self.base.project, name).await {
            Ok(_) => return Ok(()),
            Err(DataHubError::Service { code: ErrorCode::NoSuchTopic, .. }) => {}
            Err(e) => return Err(e),
        }
        match self.client.create_topic(&self.base.project, name, spec).await {
            Ok(()) => {
                tracing::info!(project = %self.base.project, topic = name, "created DataHub topic");
                Ok(())
            }
            Err(DataHubError::Service { code: ErrorCode::Other(ref c), .. }) if c == "TopicAlreadyExist" => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn table_schema(
        &self,
        topic: &str,
        db: &str,
        table: &str,
    ) -> Result<Option<crate::source::TableSchema>, DataHubError> {
        let Some(pool) = &self.schemas else { return Ok(None) };
        let err = |e: mysql_async::Error| DataHubError::Topic {
            topic: topic.to_owned(),
            message: format!("reading the columns of {db}.{table} from information_schema: {e}"),
        };
        let mut conn = pool.get_conn().await.map_err(err)?;
        crate::source::schema::load_schema(&mut conn, db, table).await.map(Some).map_err(err)
    }

    /// The key of `db`.`table`'s topic, preparing the topic when it is new.
    async fn prepare(&mut self, db: &Arc<str>, table: &Arc<str>) -> Result<String, DataHubError> {
        if let Some(k) = self.routes.get(&(db.clone(), table.clone())) {
            return Ok(k.clone());
        }
        let name = self.cfg.routing.topic_for(db, table);
        let key = name.to_ascii_lowercase();
        let qualified = format!("{db}.{table}");
        if let Some(s) = self.sinks.get(&key) {
            let other = self.tables.get(&key).and_then(|t| t.first()).cloned();
            if let (Some(other), Some(_)) = (other, s.tuple_encoder()) {
                return Err(DataHubError::Topic {
                    topic: name,
                    message: format!(
                        "{qualified} and {other} both route to this TUPLE topic; a TUPLE topic holds one table \
                         (give one of them its own topic in the topic map, or use BLOB topics)"
                    ),
                });
            }
        } else {
            let sink = self.open_table_topic(&name, db, table).await?;
            self.open_lane(&key, &sink);
            self.sinks.insert(key.clone(), sink);
        }
        self.tables.entry(key.clone()).or_default().push(qualified);
        self.routes.insert((db.clone(), table.clone()), key.clone());
        let s = &self.sinks[&key];
        self.register(&name, s, false);
        tracing::info!(db = %db, table = %table, topic = %name, "table routed to DataHub topic");
        Ok(key)
    }

    /// Creates (when on and missing), connects and checks the topic of one table.
    async fn open_table_topic(&self, name: &str, db: &str, table: &str) -> Result<DataHubSink, DataHubError> {
        let layout = match (self.cfg.create, self.cfg.layout) {
            (Some(TopicCreation { record_type: RecordKind::Tuple, .. }), None) => Some(Layout::Dts),
            (_, l) => l,
        };
        let schema = self.table_schema(name, db, table).await?;
        if let Some(c) = self.cfg.create {
            let record_type = match c.record_type {
                RecordKind::Blob => NewRecordType::Blob,
                RecordKind::Tuple => {
                    let ts = schema.as_ref().ok_or_else(|| DataHubError::Topic {
                        topic: name.to_owned(),
                        message: "creating a TUPLE topic needs the table's columns from information_schema".into(),
                    })?;
                    let s = topics::created_schema(layout.unwrap_or(Layout::Dts), ts).map_err(|m| {
                        DataHubError::Topic { topic: name.to_owned(), message: format!("{db}.{table}: {m}") }
                    })?;
                    NewRecordType::Tuple(
                        s.fields.iter().map(|f| NewField::new(&f.name, f.field_type.as_str())).collect(),
                    )
                }
            };
            let spec = NewTopic {
                shard_count: c.shard_count,
                lifecycle_days: c.lifecycle_days,
                record_type,
                comment: format!("cdc-collector: {db}.{table}"),
            };
            self.create_if_missing(name, &spec).await?;
        }
        let mut sink = self.connect_topic(name, layout).await?;
        if let (Some(enc), Some(ts)) = (sink.tuple_encoder(), schema.as_ref()) {
            let creating = self.cfg.create.is_some();
            let problems = topics::schema_mismatches(enc.schema(), enc.layout(), ts, creating);
            if !problems.is_empty() {
                return Err(DataHubError::Topic {
                    topic: name.to_owned(),
                    message: format!("its schema does not fit {db}.{table}: {}", problems.join("; ")),
                });
            }
            if creating {
                let names: Vec<&str> = ts.columns.iter().map(|c| c.name.as_str()).collect();
                self.append_missing(&mut sink, db, table, &names).await?;
            }
        }
        Ok(sink)
    }

    /// AppendField for each of `columns` the TUPLE topic lacks (case-insensitive), with the
    /// type its `information_schema` description maps to (STRING when the table no longer has
    /// it), then GetTopic to use the new schema. Returns whether anything was appended.
    async fn append_missing(
        &self,
        sink: &mut DataHubSink,
        db: &str,
        table: &str,
        columns: &[&str],
    ) -> Result<bool, DataHubError> {
        let Some(enc) = sink.tuple_encoder() else { return Ok(false) };
        let missing: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !enc.schema().fields.iter().any(|f| f.name.eq_ignore_ascii_case(c)))
            .collect();
        if missing.is_empty() {
            return Ok(false);
        }
        let topic = sink.config().topic.clone();
        let ts = self.table_schema(&topic, db, table).await?.unwrap_or_default();
        for c in missing {
            let ty = ts
                .columns
                .iter()
                .find(|sc| sc.name.eq_ignore_ascii_case(c))
                .map(|sc| topics::field_type_for(&sc.data_type, sc.unsigned, sc.precision))
                .unwrap_or(super::tuple::FieldType::String);
            match self.client.append_field(&self.base.project, &topic, c, ty.as_str()).await {
                Ok(()) => tracing::info!(topic = %topic, field = c, field_type = %ty, "appended field to TUPLE topic"),
                // Appended meanwhile (another collector, an earlier attempt): GetTopic below tells.
                Err(DataHubError::Service { code: ErrorCode::InvalidParameter, ref message, .. })
                    if message.to_ascii_lowercase().contains("exist") => {}
                Err(e) => return Err(e),
            }
        }
        sink.check_topic().await?;
        Ok(true)
    }

    /// Queues `batch` on its topics' writers; see the module docs. Returns once every part is
    /// queued (waiting for room in the byte budget); the batch is acknowledged later, through
    /// [`Sink::acknowledgements`]. The returned [`SinkAck`] counts
    /// the batch's events and payload bytes as queued (`requests` 0).
    ///
    /// Errors: a preparation error (new table), [`DataHubError::Unfit`] (mode `fail`, before
    /// anything is queued), or [`DataHubError::Topic`] when a topic's writer had stopped after
    /// a fatal error (that error is also in [`AckProgress::fatal`]).
    pub async fn write(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, DataHubError> {
        let mut groups: BTreeMap<String, Vec<&ChangeEvent>> = BTreeMap::new();
        let mut last: Option<(&Arc<str>, &Arc<str>, String)> = None;
        for ev in batch {
            let key = match &last {
                Some((d, t, k)) if Arc::ptr_eq(d, &ev.source.db) && Arc::ptr_eq(t, &ev.source.table) => k.clone(),
                _ => self.prepare(&ev.source.db, &ev.source.table).await?,
            };
            last = Some((&ev.source.db, &ev.source.table, key.clone()));
            groups.entry(key).or_default().push(ev);
        }
        if self.cfg.create.is_some() {
            self.append_new_columns(&groups).await?;
        }
        let skip = self.cfg.failure_mode == FailureMode::Skip;
        let mut parts: Vec<(String, Vec<EncodedRecord>)> = Vec::with_capacity(groups.len() + 1);
        let mut dead: Vec<(&ChangeEvent, String, String)> = Vec::new();
        for (key, evs) in &groups {
            let sink = &self.sinks[key];
            let (records, unfit) = sink.encode(evs, skip);
            if let Some((i, error)) = unfit.first().filter(|_| !skip) {
                let ev = evs[*i];
                return Err(DataHubError::Unfit {
                    topic: sink.config().topic.clone(),
                    file: ev.source.file.to_string(),
                    pos: ev.source.pos,
                    row: ev.source.row,
                    error: Box::new(error.clone()),
                });
            }
            for (i, error) in unfit {
                let ev = evs[i];
                tracing::warn!(topic = %sink.config().topic, error = %error, file = %ev.source.file, pos = ev.source.pos, row = ev.source.row, "event does not fit its topic; sent to the dead-letter topic");
                dead.push((ev, sink.config().topic.clone(), unfit_reason(&error)));
            }
            parts.push((key.clone(), records));
        }
        let protocol = self.base.protocol;
        let dead_records: Vec<EncodedRecord> = dead
            .iter()
            .enumerate()
            .map(|(i, (ev, topic, reason))| {
                let mut r = BlobRecord { data: dead_letter_data(ev, topic, reason), ..Default::default() };
                r.attributes.insert("db".into(), ev.source.db.to_string());
                r.attributes.insert("table".into(), ev.source.table.to_string());
                r.attributes.insert("op".into(), ev.op.code().into());
                r.attributes.insert("topic".into(), topic.clone());
                EncodedRecord {
                    index: i,
                    hash: super::routing::hash_key(&ev.partition_key()),
                    payload_bytes: r.data.len(),
                    wire: encode::encode_record(&r, protocol),
                    events: 1,
                }
            })
            .collect();
        // Counted when queued: the dead-letter topic's writer does not know the source topics.
        for (_, t, _) in &dead {
            metrics::counter!(DEAD_LETTER_EVENTS_TOTAL, "topic" => t.clone()).increment(1);
        }
        parts.push((DEAD_LETTER_KEY.to_owned(), dead_records));
        let bytes = parts.iter().flat_map(|(_, r)| r.iter()).map(|r| r.payload_bytes).sum();
        self.lanes.submit(parts, batch.len() as u64).await?;
        Ok(SinkAck { records: batch.len(), bytes, requests: 0 })
    }

    /// AppendField for columns of this batch's rows that their TUPLE topic lacks (checked once
    /// per distinct column list of the batch).
    async fn append_new_columns(&mut self, groups: &BTreeMap<String, Vec<&ChangeEvent>>) -> Result<(), DataHubError> {
        for (key, evs) in groups {
            // Column lists by address (usize: a raw pointer would make the future !Send).
            let mut seen: HashSet<usize> = HashSet::new();
            for ev in evs {
                for row in ev.before.iter().chain(ev.after.iter()) {
                    if !seen.insert(Arc::as_ptr(&row.columns) as *const Arc<str> as usize) {
                        continue;
                    }
                    let Some(enc) = self.sinks[key].tuple_encoder() else { break };
                    let lacks =
                        row.columns.iter().any(|c| !enc.schema().fields.iter().any(|f| f.name.eq_ignore_ascii_case(c)));
                    if lacks {
                        // Records queued before the new field must reach the topic first.
                        self.lanes.drain(key).await?;
                        let names: Vec<&str> = row.columns.iter().map(|c| &**c).collect();
                        let mut sink = self.sinks.remove(key).expect("prepared");
                        let r = self.append_missing(&mut sink, &ev.source.db, &ev.source.table, &names).await;
                        self.sinks.insert(key.clone(), sink);
                        r?;
                        let name = self.sinks[key].config().topic.clone();
                        self.register(&name, &self.sinks[key], false);
                    }
                }
            }
        }
        Ok(())
    }

    /// GetTopic + ListShard of every topic (schemas, shard lists and `/health` refreshed).
    pub async fn check_topics(&mut self) -> Result<(), DataHubError> {
        for s in self.sinks.values_mut() {
            s.check_topic().await?;
        }
        if let Some(dl) = self.dead_letter.as_mut() {
            dl.check_topic().await?;
        }
        for s in self.sinks.values() {
            self.register(&s.config().topic, s, false);
        }
        if let Some(dl) = &self.dead_letter {
            self.register(&dl.config().topic, dl, true);
        }
        Ok(())
    }
}

/// The reason text of an unfit event.
fn unfit_reason(e: &TupleError) -> String {
    e.to_string()
}

impl Sink for MultiTopicSink {
    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        self.write(batch).await.map_err(|e| e.to_sink_error())
    }

    async fn check(&mut self) -> Result<(), SinkError> {
        self.check_topics().await.map_err(|e| e.to_sink_error())
    }

    fn acknowledgements(&self) -> Option<tokio::sync::watch::Receiver<AckProgress>> {
        Some(self.lanes.progress())
    }
}
