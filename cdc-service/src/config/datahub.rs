//! The DataHub (sink) section: [`DataHubSettings`] from the `DATAHUB_*` keys, and the producer
//! configuration cdc-core's DataHub sink takes ([`DataHubConfig`]).

use cdc_core::batch::BatchLimits;
use cdc_core::datahub::config::DEFAULT_MAX_REQUEST_BYTES;
use cdc_core::datahub::{Credentials, DataHubConfig, RetryPolicy};
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
    /// `DATAHUB_TOPIC`.
    pub topic: String,
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
        let mut c = DataHubConfig::new(&self.endpoint, &self.project, &self.topic, creds);
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

    /// Reads the section; `None` when any of its keys has a problem (recorded in `f`).
    pub(super) fn read(f: &mut Fields<'_>) -> Option<Self> {
        let before = f.problem_count();
        let endpoint = f.url(&keys::DATAHUB_ENDPOINT);
        let access_id = f.text(&keys::DATAHUB_ACCESS_ID);
        let access_key = f.secret(&keys::DATAHUB_ACCESS_KEY);
        let security_token = f.secret(&keys::DATAHUB_SECURITY_TOKEN);
        let project = f.name(&keys::DATAHUB_PROJECT);
        let topic = f.name(&keys::DATAHUB_TOPIC);
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
        })
    }

    /// True when any `DATAHUB_*` key is set (then a `tail`, which needs none, still reports
    /// their problems).
    pub(super) fn any_set(f: &Fields<'_>) -> bool {
        KEYS.iter().filter(|k| k.name.starts_with("DATAHUB_")).any(|k| f.is_set(k))
    }
}
