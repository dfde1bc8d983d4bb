//! [`DataHubSink`]: the [`Sink`] that writes change events to a DataHub BLOB topic (or a TUPLE
//! topic in the DTS or DataWorks layout, [`super::tuple`]), ordered per partition key, batched,
//! retried, following shard splits and merges.
//!
//! How a batch is written:
//!
//! 1. Each event becomes a BLOB record (data = contract JSON, attributes `op`, `db`, `table`),
//!    routed by the MD5 of [`ChangeEvent::partition_key`] to an ACTIVE shard ([`ShardRouter`]).
//!    On a TUPLE topic each event becomes one TUPLE record (two for an update: before image,
//!    then after image, same key so same shard, in that order) with the same attributes; the
//!    whole batch is converted before anything is sent, so a value that does not fit its field
//!    fails the batch with nothing written. Everything below is the same for both kinds.
//! 2. Each shard's records, in batch order, are cut into requests of at most
//!    `max_records_per_request` records and `max_request_bytes` body bytes. Shards are written
//!    concurrently, but each shard has **at most one request in flight** and sends its requests in
//!    order, so a key's records reach DataHub in batch order.
//! 3. The write call is protobuf **PutRecordsByShard** by default: all or nothing per request,
//!    so re-sending a failed request never writes a later record of a key before an earlier one
//!    (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>); what every SDK producer uses, §13). JSON PutRecords
//!    with an explicit `ShardId` is the alternative ([`WriteProtocol::JsonPutRecords`]); its
//!    partial failures (`FailedRecords`, §9.3) are handled by re-sending from the first failed
//!    index of the request onward, never only the failed records.
//! 4. Retryable errors (§10: LimitExceeded, 5xx, unknown codes, network, timeouts) are retried
//!    for the same request with exponential backoff and full jitter ([`super::retry`]), at most
//!    `retry.max_attempts` attempts per request (progress through a partial failure starts a
//!    fresh count).
//! 5. `InvalidShardOperation` / `NoSuchShard` (a sealed or split shard): the shard's
//!    not-yet-acknowledged records are kept, ListShard is refreshed and they are re-routed (a key
//!    may now map to a child shard; its earlier records were acknowledged on the parent first,
//!    so order still holds).
//! 6. `send` returns [`SinkAck`] only when every record was acknowledged; otherwise a
//!    [`SinkError`] (transient when retries ran out on retryable or shard-change errors, fatal
//!    otherwise). Records acknowledged before a failure stay written: a re-sent batch may
//!    duplicate them (at-least-once), never reorder them.
//!
//! The shard list is also refreshed when `shard_refresh_interval_ms` has passed since the last
//! refresh, checked at the start of each `send`; a failed timed refresh keeps the old list.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tracing::Instrument as _;

use crate::event::ChangeEvent;
use crate::metrics as m;
use crate::sink::{Sink, SinkAck, SinkError};

use super::client::DataHubClient;
use super::config::{DataHubConfig, WriteProtocol};
use super::encode;
use super::error::{DataHubError, ErrorClass, ErrorCode};
use super::model::TopicInfo;
use super::record::EncodedRecord;
use super::routing::ShardRouter;
use super::tuple::{Layout, TupleEncoder, TupleError};

/// Most shard-list refreshes (re-routing rounds) within one `send` before it gives up with a
/// transient error.
pub const MAX_REROUTE_ROUNDS: u32 = 8;

/// Records acknowledged, by topic (`{topic}`): TUPLE records, so an update counts two.
pub const TOPIC_RECORDS_TOTAL: &str = "cdc_sink_topic_records_total";
/// Payload bytes acknowledged, by topic (`{topic}`), as `cdc_sink_bytes_total` counts them.
pub const TOPIC_BYTES_TOTAL: &str = "cdc_sink_topic_bytes_total";
/// Write requests by topic and outcome (`{topic, outcome="ok"|"retry"|"error", code}`).
pub const TOPIC_REQUESTS_TOTAL: &str = "cdc_sink_topic_requests_total";

/// The DataHub producer as a [`Sink`].
#[derive(Debug, Clone)]
pub struct DataHubSink {
    client: DataHubClient,
    cfg: DataHubConfig,
    topic: TopicInfo,
    router: ShardRouter,
    refreshed_at: Instant,
    /// The TUPLE encoder; None for a BLOB topic.
    tuple: Option<TupleEncoder>,
    /// The TUPLE layout asked for; None = detected from the schema.
    layout: Option<Layout>,
}

/// How one shard's job ended.
enum ShardEnd {
    /// Every record acknowledged.
    Done,
    /// The shard is gone or sealed: these records (from the first unacknowledged one, in
    /// order) must be re-routed.
    Reroute(DataHubError, Vec<EncodedRecord>),
    /// Gave up (fatal, or retries exhausted).
    Failed(DataHubError),
}

/// What one shard's job did.
struct ShardOutcome {
    acked_records: usize,
    acked_bytes: usize,
    requests: usize,
    end: ShardEnd,
}

impl DataHubSink {
    /// Validates `cfg`, then GetTopic (the topic must be BLOB, or TUPLE in the DTS or DataWorks
    /// layout) and ListShard.
    ///
    /// Errors: [`DataHubError::Config`], [`DataHubError::UnsupportedTopic`] for another record
    /// type or a TUPLE schema in no known layout, [`DataHubError::NoActiveShard`], or the
    /// GetTopic/ListShard error (e.g. `Unauthorized`, `NoSuchTopic`).
    pub async fn connect(cfg: DataHubConfig) -> Result<Self, DataHubError> {
        Self::connect_with_layout(cfg, None).await
    }

    /// [`Self::connect`], with the TUPLE layout given instead of detected (`Some`): the topic,
    /// when TUPLE, must be in that layout ([`TupleEncoder::with_layout`]); [`Layout::Plain`]
    /// writes the columns only. Errors as [`Self::connect`].
    pub async fn connect_with_layout(cfg: DataHubConfig, layout: Option<Layout>) -> Result<Self, DataHubError> {
        let client = DataHubClient::new(&cfg)?;
        let topic = client.get_topic(&cfg.project, &cfg.topic).await?;
        let tuple = Self::encoder_for(&cfg, &topic, layout)?;
        let router = Self::fetch_router(&client, &cfg).await?;
        tracing::info!(
            endpoint = client.endpoint(),
            project = %cfg.project,
            topic = %cfg.topic,
            shards = ?router.shard_ids().collect::<Vec<_>>(),
            "connected to DataHub"
        );
        Ok(Self { client, cfg, topic, router, refreshed_at: Instant::now(), tuple, layout })
    }

    /// None for a BLOB topic; the TUPLE encoder of a TUPLE topic; else UnsupportedTopic.
    fn encoder_for(
        cfg: &DataHubConfig,
        topic: &TopicInfo,
        layout: Option<Layout>,
    ) -> Result<Option<TupleEncoder>, DataHubError> {
        if topic.is_blob() {
            return Ok(None);
        }
        let unsupported = |reason: String| DataHubError::UnsupportedTopic {
            project: cfg.project.clone(),
            topic: cfg.topic.clone(),
            record_type: topic.record_type.clone(),
            reason,
        };
        if !topic.record_type.eq_ignore_ascii_case("TUPLE") {
            return Err(unsupported("unknown record type".into()));
        }
        let schema =
            topic.record_schema.as_deref().ok_or_else(|| unsupported("GetTopic gave no RecordSchema".into()))?;
        let parsed = super::tuple::TupleSchema::parse(schema).map_err(|e| unsupported(e.to_string()))?;
        match layout {
            None => TupleEncoder::new(parsed),
            Some(l) => TupleEncoder::with_layout(parsed, l),
        }
        .map(Some)
        .map_err(|e| unsupported(e.to_string()))
    }

    /// The TUPLE encoder (schema and layout) when the topic is TUPLE.
    pub fn tuple_encoder(&self) -> Option<&TupleEncoder> {
        self.tuple.as_ref()
    }

    /// The signed client (for readers and tests).
    pub fn client(&self) -> &DataHubClient {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &DataHubConfig {
        &self.cfg
    }

    /// The topic as GetTopic described it at connect time.
    pub fn topic(&self) -> &TopicInfo {
        &self.topic
    }

    /// The current routing table.
    pub fn router(&self) -> &ShardRouter {
        &self.router
    }

    /// ListShard now and route by its ACTIVE shards. On error the old table is kept.
    pub async fn refresh_shards(&mut self) -> Result<(), DataHubError> {
        let router = Self::fetch_router(&self.client, &self.cfg).await?;
        if router != self.router {
            tracing::info!(shards = ?router.shard_ids().collect::<Vec<_>>(), "DataHub shard list changed");
        }
        self.router = router;
        self.refreshed_at = Instant::now();
        Ok(())
    }

    async fn fetch_router(client: &DataHubClient, cfg: &DataHubConfig) -> Result<ShardRouter, DataHubError> {
        let list = client.list_shard(&cfg.project, &cfg.topic).await?;
        ShardRouter::new(&list.shards)
            .ok_or_else(|| DataHubError::NoActiveShard { project: cfg.project.clone(), topic: cfg.topic.clone() })
    }

    /// Refreshes the shard list, retrying retryable errors and "no ACTIVE shard yet" with
    /// backoff, at most `retry.max_attempts` attempts.
    async fn refresh_with_retry(&mut self) -> Result<(), DataHubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.refresh_shards().await {
                Ok(()) => return Ok(()),
                Err(e) if e.class() != ErrorClass::Fatal && self.cfg.retry.may_retry(attempt) => {
                    let delay = self.cfg.retry.delay(attempt, &mut rand::thread_rng());
                    tracing::warn!(error = %e, ?delay, "ListShard failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `batch` and waits until every record is acknowledged; see the module docs.
    ///
    /// The [`SinkAck`] counts `records` (= `batch.len()`: events, not TUPLE records), `bytes`
    /// (the events' contract JSON before HTTP compression; for TUPLE the fields' text) and
    /// `requests` (PutRecords/PutRecordsByShard requests, retries and re-routed ones included;
    /// ListShard refreshes not counted).
    ///
    /// Errors: the [`DataHubError`] that ended the write; [`DataHubError::RecordTooLarge`] when
    /// one event does not fit in `max_request_bytes`; [`DataHubError::Tuple`] (before anything
    /// is sent) when an event does not fit the TUPLE schema.
    pub async fn write(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, DataHubError> {
        let refs: Vec<&ChangeEvent> = batch.iter().collect();
        let (pending, mut unfit) = self.encode(&refs, false);
        if !unfit.is_empty() {
            return Err(DataHubError::Tuple(unfit.swap_remove(0).1));
        }
        self.write_encoded(pending).await
    }

    /// Encodes `batch` for this topic (BLOB records, or TUPLE records by the topic's schema),
    /// [`EncodedRecord::index`] = the event's position in `batch`. The events that do not fit
    /// the TUPLE schema are left out and returned with their position and error; with
    /// `keep_going` false encoding stops at the first one. A BLOB topic takes every event.
    pub(crate) fn encode(
        &self,
        batch: &[&ChangeEvent],
        keep_going: bool,
    ) -> (Vec<EncodedRecord>, Vec<(usize, TupleError)>) {
        let protocol = self.cfg.protocol;
        match &self.tuple {
            None => (batch.iter().enumerate().map(|(i, e)| encode::encode_event(i, e, protocol)).collect(), Vec::new()),
            Some(enc) => {
                let mut out = Vec::with_capacity(batch.len());
                let mut unfit = Vec::new();
                for (i, e) in batch.iter().enumerate() {
                    match enc.encode_event(i, e, protocol) {
                        Ok(r) => out.extend(r),
                        Err(err) => {
                            unfit.push((i, err));
                            if !keep_going {
                                break;
                            }
                        }
                    }
                }
                (out, unfit)
            }
        }
    }

    /// Writes records made by [`Self::encode`] (or [`encode::encode_record`], keeping
    /// `index` in batch order) as [`Self::write`] does; see the module docs.
    pub(crate) async fn write_encoded(&mut self, mut pending: Vec<EncodedRecord>) -> Result<SinkAck, DataHubError> {
        if pending.is_empty() {
            return Ok(SinkAck::default());
        }
        if self.refreshed_at.elapsed() >= Duration::from_millis(self.cfg.shard_refresh_interval_ms) {
            if let Err(e) = self.refresh_shards().await {
                tracing::warn!(error = %e, "periodic ListShard failed; keeping the previous shard list");
            }
        }
        let expected: usize = pending.iter().map(|r| r.events).sum();
        let mut ack = SinkAck::default();
        let mut round = 0;
        loop {
            // Group by shard, keeping batch order inside each group.
            let mut groups: BTreeMap<String, Vec<EncodedRecord>> = BTreeMap::new();
            for r in pending {
                groups.entry(self.router.route_hash(r.hash).to_owned()).or_default().push(r);
            }
            let this = &*self;
            let outcomes = join_all(groups.into_iter().map(|(shard, recs)| this.write_shard(shard, recs))).await;
            let mut reroute: Vec<EncodedRecord> = Vec::new();
            let mut failure: Option<DataHubError> = None;
            let mut last_reroute_error = None;
            for o in outcomes {
                ack.records += o.acked_records;
                ack.bytes += o.acked_bytes;
                ack.requests += o.requests;
                match o.end {
                    ShardEnd::Done => {}
                    ShardEnd::Reroute(e, rest) => {
                        reroute.extend(rest);
                        last_reroute_error = Some(e);
                    }
                    // Prefer reporting a fatal error over a transient one.
                    ShardEnd::Failed(e) => {
                        if failure.as_ref().is_none_or(|f| f.class() != ErrorClass::Fatal) {
                            failure = Some(e);
                        }
                    }
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
            let Some(reroute_error) = last_reroute_error else {
                debug_assert_eq!(ack.records, expected);
                return Ok(ack);
            };
            round += 1;
            if round > MAX_REROUTE_ROUNDS {
                return Err(reroute_error);
            }
            if round > 1 {
                let delay = self.cfg.retry.delay(round - 1, &mut rand::thread_rng());
                tokio::time::sleep(delay).await;
            }
            tracing::info!(error = %reroute_error, records = reroute.len(), round, "shard changed; refreshing ListShard and re-routing");
            self.refresh_with_retry().await?;
            // Re-routed records keep batch order (each shard's rest is in order; merge by index).
            reroute.sort_by_key(|r| r.index);
            pending = reroute;
        }
    }

    /// Writes one shard's records (in order), one request at a time.
    async fn write_shard(&self, shard: String, recs: Vec<EncodedRecord>) -> ShardOutcome {
        let protocol = self.cfg.protocol;
        let costs: Vec<usize> = recs.iter().map(|r| encode::record_cost(protocol, r.wire.len(), &shard)).collect();
        let overhead = encode::request_overhead(protocol);
        let mut out = ShardOutcome { acked_records: 0, acked_bytes: 0, requests: 0, end: ShardEnd::Done };
        let mut pos = 0;
        let mut attempt = 0u32;
        while pos < recs.len() {
            let end = match encode::next_request_end(
                &costs,
                pos,
                overhead,
                self.cfg.max_records_per_request,
                self.cfg.max_request_bytes,
            ) {
                Ok(end) => end,
                Err(e) => {
                    out.end = ShardEnd::Failed(e);
                    return out;
                }
            };
            attempt += 1;
            let chunk = &recs[pos..end];
            let span = tracing::debug_span!("datahub_put", shard = %shard, records = chunk.len(), attempt, first_index = chunk[0].index);
            out.requests += 1;
            let started = Instant::now();
            let result = self.put(&shard, chunk).instrument(span).await;
            metrics::histogram!(m::SINK_REQUEST_DURATION_SECONDS).record(started.elapsed().as_secs_f64());
            // `written`: how many records of the chunk, from its start, are acknowledged.
            let (written, error) = match result {
                Ok(None) => (chunk.len(), None),
                Ok(Some((k, e))) => (k, Some(e)),
                Err(e) => (0, Some(e)),
            };
            if written > 0 {
                let bytes: usize = chunk[..written].iter().map(|r| r.payload_bytes).sum();
                out.acked_records += chunk[..written].iter().map(|r| r.events).sum::<usize>();
                out.acked_bytes += bytes;
                metrics::counter!(m::SINK_RECORDS_TOTAL).increment(written as u64);
                metrics::counter!(m::SINK_BYTES_TOTAL).increment(bytes as u64);
                metrics::counter!(TOPIC_RECORDS_TOTAL, "topic" => self.cfg.topic.clone()).increment(written as u64);
                metrics::counter!(TOPIC_BYTES_TOTAL, "topic" => self.cfg.topic.clone()).increment(bytes as u64);
                pos += written;
                attempt = 0;
            }
            let topic_outcome = |outcome: &'static str, code: String| {
                metrics::counter!(TOPIC_REQUESTS_TOTAL, "topic" => self.cfg.topic.clone(), "outcome" => outcome, "code" => code)
                    .increment(1);
            };
            let Some(e) = error else {
                metrics::counter!(m::SINK_REQUESTS_TOTAL, "outcome" => "ok", "code" => "").increment(1);
                topic_outcome("ok", String::new());
                continue;
            };
            let code = e.code();
            topic_outcome(
                match e.class() {
                    ErrorClass::Retryable if self.cfg.retry.may_retry(attempt.max(1)) => "retry",
                    ErrorClass::ShardChanged => "retry",
                    _ => "error",
                },
                code.clone(),
            );
            match e.class() {
                ErrorClass::Retryable if self.cfg.retry.may_retry(attempt.max(1)) => {
                    metrics::counter!(m::SINK_REQUESTS_TOTAL, "outcome" => "retry", "code" => code.clone())
                        .increment(1);
                    metrics::counter!(m::SINK_RETRIES_TOTAL, "code" => code).increment(1);
                    let delay = self.cfg.retry.delay(attempt.max(1), &mut rand::thread_rng());
                    tracing::warn!(shard = %shard, error = %e, attempt, ?delay, "DataHub write failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                ErrorClass::ShardChanged => {
                    metrics::counter!(m::SINK_REQUESTS_TOTAL, "outcome" => "retry", "code" => code).increment(1);
                    out.end = ShardEnd::Reroute(e, recs.into_iter().skip(pos).collect());
                    return out;
                }
                _ => {
                    metrics::counter!(m::SINK_REQUESTS_TOTAL, "outcome" => "error", "code" => code).increment(1);
                    tracing::error!(shard = %shard, error = %e, attempt, "DataHub write failed; giving up");
                    out.end = ShardEnd::Failed(e);
                    return out;
                }
            }
        }
        out
    }

    /// One request. `Ok(None)`: all acknowledged; `Ok(Some((k, e)))`: the first `k` records are
    /// acknowledged and record `k` failed with `e` (JSON partial failure).
    async fn put(&self, shard: &str, chunk: &[EncodedRecord]) -> Result<Option<(usize, DataHubError)>, DataHubError> {
        let (p, t) = (&self.cfg.project, &self.cfg.topic);
        match self.cfg.protocol {
            WriteProtocol::PbByShard => {
                let body = encode::pb_body(chunk.iter().map(|r| r.wire.as_slice()));
                self.client.put_records_by_shard_body(p, t, shard, body).await.map(|()| None)
            }
            WriteProtocol::JsonPutRecords => {
                let body = encode::json_body(chunk.iter().map(|r| (shard, r.wire.as_slice())));
                let result = self.client.put_records_body(p, t, body).await?;
                if result.failed_record_count == 0 && result.failed_records.is_empty() {
                    return Ok(None);
                }
                let (index, code, message) = match result.first_failure() {
                    Some(f) => (f.index.min(chunk.len()), f.error_code.clone(), f.error_message.clone()),
                    None => {
                        (0, "FailedRecordsMissing".to_owned(), "FailedRecordCount > 0 without FailedRecords".into())
                    }
                };
                Ok(Some((
                    index,
                    DataHubError::Service {
                        operation: "PutRecords",
                        status: 200,
                        code: ErrorCode::parse(&code),
                        message: format!("record {index} of the request failed: {message}"),
                        request_id: "-".into(),
                    },
                )))
            }
        }
    }

    /// GetTopic + ListShard (updates the routing table, and the TUPLE schema, e.g. after an
    /// appended field).
    pub async fn check_topic(&mut self) -> Result<(), DataHubError> {
        let topic = self.client.get_topic(&self.cfg.project, &self.cfg.topic).await?;
        self.tuple = Self::encoder_for(&self.cfg, &topic, self.layout)?;
        self.topic = topic;
        self.refresh_shards().await
    }
}

impl Sink for DataHubSink {
    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        self.write(batch).await.map_err(|e| e.to_sink_error())
    }

    async fn check(&mut self) -> Result<(), SinkError> {
        self.check_topic().await.map_err(|e| e.to_sink_error())
    }
}
