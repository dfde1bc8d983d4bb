//! The DataHub (sink) section: [`DataHubSettings`] from the `DATAHUB_*` keys, and the producer
//! configuration cdc-core's DataHub sink takes ([`DataHubConfig`]).

use cdc_core::batch::BatchLimits;
use cdc_core::datahub::config::DEFAULT_MAX_REQUEST_BYTES;
use cdc_core::datahub::tuple::Layout;
use cdc_core::datahub::{
    Credentials, DataHubConfig, FailureMode, RecordKind, RetryPolicy, TopicCreation, TopicRouting, TopicsConfig,
};
use cdc_core::secret::Secret;

use super::fields::Fields;
use super::keys::{self, KEYS};
use super::runtime::RetrySettings;

/// The DataHub (sink) settings.
#[derive(Debug, Clone)]
pub struct DataHubSettings {
    /// `DATAHUB_ENDPOINT`, e.g. `https://dh-cn-hangzhou.aliyuncs.com`.
    pub endpoint: String,
    /// `DATAHUB_ACCESS_ID`: AccessKey ID.
    pub access_id: String,
    /// `DATAHUB_ACCESS_KEY`: AccessKey secret.
    pub access_key: Secret,
    /// `DATAHUB_SECURITY_TOKEN`: optional STS token.
    pub security_token: Option<Secret>,
    /// `DATAHUB_PROJECT`.
    pub project: String,
    /// `DATAHUB_TOPIC`: a topic name or a `{db}`/`{table}` template.
    pub topic: String,
    /// `DATAHUB_TOPIC` with `DATAHUB_TOPIC_MAP`: which topic each table goes to.
    pub routing: TopicRouting,
    /// `DATAHUB_CREATE_TOPICS` with `DATAHUB_RECORD_TYPE`, `DATAHUB_SHARD_COUNT`,
    /// `DATAHUB_LIFECYCLE_DAYS`; `None` when creation is off.
    pub create: Option<TopicCreation>,
    /// `DATAHUB_RECORD_TYPE` (also when creation is off: TUPLE makes two tables on one topic a
    /// problem `validate` reports).
    pub record_type: RecordKind,
    /// `DATAHUB_TUPLE_LAYOUT`: `None` for `auto`.
    pub layout: Option<Layout>,
    /// `DATAHUB_FAILURE_HANDLING_MODE`.
    pub failure_mode: FailureMode,
    /// `DATAHUB_DEAD_LETTER_TOPIC`.
    pub dead_letter_topic: String,
}

impl DataHubSettings {
    /// The producer configuration: these settings, `retry`, and the producer's defaults
    /// (timeouts, compression, protocol). Records per request follow the batch bound; request
    /// bodies may use the producer's whole limit ([`DEFAULT_MAX_REQUEST_BYTES`]) whatever the
    /// batch's byte bound (an estimate that bounds memory), so one large row (up to 4 MB) still
    /// fits.
    pub fn datahub_config(&self, retry: &RetrySettings, batch: &BatchLimits) -> DataHubConfig {
        let mut creds = Credentials::new(&self.access_id, self.access_key.clone());
        creds.security_token = self.security_token.clone();
        // A template is no topic name: the sink names each topic (MultiTopicSink).
        let topic = if self.routing.per_table() { self.dead_letter_topic.as_str() } else { self.topic.as_str() };
        let mut c = DataHubConfig::new(&self.endpoint, &self.project, topic, creds);
        let backoff_ms = u64::try_from(retry.backoff.as_millis()).unwrap_or(u64::MAX);
        c.retry = RetryPolicy {
            max_attempts: retry.max_attempts,
            backoff_ms,
            max_backoff_ms: backoff_ms.max(RetryPolicy::DEFAULT.max_backoff_ms),
        };
        c.max_records_per_request = batch.max_records;
        c.max_request_bytes = DEFAULT_MAX_REQUEST_BYTES;
        c
    }

    /// Routing, creation and failure handling for cdc-core's `MultiTopicSink`.
    pub fn topics_config(&self) -> TopicsConfig {
        TopicsConfig {
            routing: self.routing.clone(),
            layout: self.layout,
            create: self.create,
            failure_mode: self.failure_mode,
            dead_letter_topic: self.dead_letter_topic.clone(),
            ..TopicsConfig::single("")
        }
    }

    /// Reads the section; `None` when any of its keys has a problem (recorded in `f`).
    pub(super) fn read(f: &mut Fields<'_>) -> Option<Self> {
        let before = f.problem_count();
        let endpoint = f.url(&keys::DATAHUB_ENDPOINT);
        let access_id = f.text(&keys::DATAHUB_ACCESS_ID);
        let access_key = f.secret(&keys::DATAHUB_ACCESS_KEY);
        let security_token = f.secret(&keys::DATAHUB_SECURITY_TOKEN);
        let project = f.name(&keys::DATAHUB_PROJECT);
        let topic = f.text(&keys::DATAHUB_TOPIC);
        let map_entries = f.list(&keys::DATAHUB_TOPIC_MAP).join(",");
        let map = match TopicRouting::parse_map(&map_entries) {
            Ok(m) => m,
            Err(e) => {
                f.problem(&keys::DATAHUB_TOPIC_MAP, e);
                Vec::new()
            }
        };
        let routing = topic.as_deref().and_then(|t| match TopicRouting::new(t, map) {
            Ok(r) => Some(r),
            Err(e) => {
                f.problem(&keys::DATAHUB_TOPIC, e);
                None
            }
        });
        let create = f.choice(&keys::DATAHUB_CREATE_TOPICS) == "true";
        let record_type =
            if f.choice(&keys::DATAHUB_RECORD_TYPE) == "TUPLE" { RecordKind::Tuple } else { RecordKind::Blob };
        let layout = match f.choice(&keys::DATAHUB_TUPLE_LAYOUT) {
            "dts" => Some(Layout::Dts),
            "dataworks" => Some(Layout::DataWorks),
            "plain" => Some(Layout::Plain),
            _ => None,
        };
        let shard_count: u32 = f.int(&keys::DATAHUB_SHARD_COUNT);
        let lifecycle_days: u32 = f.int(&keys::DATAHUB_LIFECYCLE_DAYS);
        let failure_mode = if f.choice(&keys::DATAHUB_FAILURE_HANDLING_MODE) == "skip" {
            FailureMode::Skip
        } else {
            FailureMode::Fail
        };
        let dead_letter_topic = f.name(&keys::DATAHUB_DEAD_LETTER_TOPIC);
        if f.problem_count() > before {
            return None;
        }
        Some(Self {
            endpoint: endpoint?,
            access_id: access_id?,
            access_key: access_key?,
            security_token,
            project: project?,
            topic: topic?,
            routing: routing?,
            create: create.then_some(TopicCreation { record_type, shard_count, lifecycle_days }),
            record_type,
            layout,
            failure_mode,
            dead_letter_topic: dead_letter_topic?,
        })
    }

    /// True when any `DATAHUB_*` key is set (then a `tail`, which needs none, still reports
    /// their problems).
    pub(super) fn any_set(f: &Fields<'_>) -> bool {
        KEYS.iter().filter(|k| k.name.starts_with("DATAHUB_")).any(|k| f.is_set(k))
    }
}
