//! Producer configuration: where to write (endpoint, project, topic), with which credentials,
//! how to retry, time out, compress and size requests. [`DataHubConfig::validate`] reports
//! every problem at once.
//!
//! Defaults follow the SDKs and the published limits (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)
//! timeouts, §6 compression, §11 limits, §13 producers).

use std::fmt;

use super::sign::Credentials;

/// Largest `max_records_per_request`: records per PutRecords/PutRecordsByShard request
/// (DataHub "Limits": 10,000).
pub const MAX_RECORDS_PER_REQUEST: usize = 10_000;

/// Largest `max_request_bytes`: HTTP request body, bytes (DataHub "Limits": 4 MB, read as
/// 4 MiB = 4,194,304 bytes).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Default `max_request_bytes`: 4,000,000 bytes, as pydatahub's producer (a little under
/// [`MAX_REQUEST_BYTES`]).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4_000_000;

/// Length of a project name, characters; the name matches `^[a-zA-Z][a-zA-Z0-9_]*$`
/// ([`valid_name`]; DataHub "Limits",
/// <https://www.alibabacloud.com/help/en/datahub/product-overview/limits>).
pub const PROJECT_NAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;

/// Length of a topic name, characters; same pattern as a project name ([`valid_name`]).
pub const TOPIC_NAME_LEN: std::ops::RangeInclusive<usize> = 1..=128;

/// HTTP request body compression (datahub-protocol §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Bodies are sent as is.
    None,
    /// Raw LZ4 block (no size prefix), `Content-Encoding: lz4` plus the signed
    /// `x-datahub-content-raw-size`; used only when the block is smaller than the body, as
    /// pydatahub does. The SDKs' default.
    #[default]
    Lz4,
}

/// Which write call the sink uses (datahub-protocol §3.4, §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteProtocol {
    /// Protobuf PutRecordsByShard, one shard per request, all or nothing (server ≥ 2.12;
    /// what every SDK producer uses). A failed request leaves nothing written, so re-sending it
    /// never reorders a key. Default.
    #[default]
    PbByShard,
    /// JSON PutRecords with an explicit `ShardId` on every record, one shard per request.
    /// Partial failures (`FailedRecords`) are re-sent from the first failed index on, which
    /// keeps the acknowledged prefix in order but may store records after that index twice.
    JsonPutRecords,
}

pub use crate::retry::RetryPolicy;

/// Everything the producer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHubConfig {
    /// Base URL, e.g. `https://dh-cn-hangzhou.aliyuncs.com` or `http://127.0.0.1:PORT`; a
    /// trailing `/` is ignored.
    pub endpoint: String,
    /// Project name: `^[a-zA-Z][a-zA-Z0-9_]*$`, 3–32 characters (datahub-protocol §1).
    pub project: String,
    /// Topic name: same pattern, 1–128 characters.
    pub topic: String,
    /// AccessKey pair and optional STS token.
    pub credentials: Credentials,
    /// Retries of retryable errors.
    pub retry: RetryPolicy,
    /// Whole-request timeout, ms (default 30,000).
    pub request_timeout_ms: u64,
    /// TCP/TLS connect timeout, ms (default 5,000, as pydatahub).
    pub connect_timeout_ms: u64,
    /// Request body compression (default LZ4).
    pub compression: Compression,
    /// Write call (default protobuf PutRecordsByShard).
    pub protocol: WriteProtocol,
    /// ListShard refresh period while writing, ms (default 60,000, as the Go producer).
    pub shard_refresh_interval_ms: u64,
    /// Most records in one request, 1..=10,000 (default 10,000).
    pub max_records_per_request: usize,
    /// Most body bytes (before compression) in one request, 1..=4 MiB (default 4,000,000 as
    /// pydatahub's producer).
    pub max_request_bytes: usize,
}

impl DataHubConfig {
    /// A configuration with the defaults above.
    pub fn new(
        endpoint: impl Into<String>,
        project: impl Into<String>,
        topic: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            project: project.into(),
            topic: topic.into(),
            credentials,
            retry: RetryPolicy::default(),
            request_timeout_ms: 30_000,
            connect_timeout_ms: 5_000,
            compression: Compression::default(),
            protocol: WriteProtocol::default(),
            shard_refresh_interval_ms: 60_000,
            max_records_per_request: MAX_RECORDS_PER_REQUEST,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// The endpoint without trailing `/`.
    pub fn base_url(&self) -> &str {
        self.endpoint.trim_end_matches('/')
    }

    /// Checks every field; `Err` lists all problems found (never the secret).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut p = Vec::new();
        let ep = self.base_url();
        if !(ep.starts_with("http://") || ep.starts_with("https://")) || ep.len() <= "https://".len() {
            p.push(format!("endpoint `{}` must be an http:// or https:// URL", self.endpoint));
        }
        if !valid_name(&self.project, PROJECT_NAME_LEN) {
            p.push(format!("project `{}` must match ^[a-zA-Z][a-zA-Z0-9_]*$ and be 3-32 characters", self.project));
        }
        if !valid_name(&self.topic, TOPIC_NAME_LEN) {
            p.push(format!("topic `{}` must match ^[a-zA-Z][a-zA-Z0-9_]*$ and be 1-128 characters", self.topic));
        }
        if self.credentials.access_id.is_empty() {
            p.push("access id is empty".into());
        }
        if self.credentials.access_key.is_empty() {
            p.push("access key secret is empty".into());
        }
        if self.retry.max_attempts == 0 {
            p.push("retry.max_attempts (RETRY_MAX_ATTEMPTS) must be at least 1".into());
        }
        if self.retry.max_backoff_ms < self.retry.backoff_ms {
            p.push(format!(
                "retry.max_backoff_ms ({}) must be >= retry.backoff_ms ({})",
                self.retry.max_backoff_ms, self.retry.backoff_ms
            ));
        }
        if self.request_timeout_ms == 0 {
            p.push("request_timeout_ms must be > 0".into());
        }
        if self.connect_timeout_ms == 0 {
            p.push("connect_timeout_ms must be > 0".into());
        }
        if self.shard_refresh_interval_ms == 0 {
            p.push("shard_refresh_interval_ms must be > 0".into());
        }
        if !(1..=MAX_RECORDS_PER_REQUEST).contains(&self.max_records_per_request) {
            p.push(format!(
                "max_records_per_request ({}) must be in 1..={MAX_RECORDS_PER_REQUEST}",
                self.max_records_per_request
            ));
        }
        if !(1024..=MAX_REQUEST_BYTES).contains(&self.max_request_bytes) {
            p.push(format!("max_request_bytes ({}) must be in 1024..={MAX_REQUEST_BYTES}", self.max_request_bytes));
        }
        if p.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: p })
        }
    }
}

/// True when `s` is a valid project or topic name: `^[a-zA-Z][a-zA-Z0-9_]*$` with a length
/// in `len` ([`PROJECT_NAME_LEN`] or [`TOPIC_NAME_LEN`]).
pub fn valid_name(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    let mut chars = s.chars();
    len.contains(&s.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Every problem [`DataHubConfig::validate`] found, one message each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The problems, in field order.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid DataHub configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> DataHubConfig {
        DataHubConfig::new("http://127.0.0.1:8080/", "cdc_project", "orders", Credentials::new("id", "secret"))
    }

    #[test]
    fn defaults_are_valid() {
        let c = good();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.retry.backoff_ms, 2000);
        assert_eq!(c.compression, Compression::Lz4);
    }

    #[test]
    fn reports_every_problem_at_once_without_the_secret() {
        let mut c = good();
        c.endpoint = "ftp://x".into();
        c.project = "9ab".into();
        c.topic = "bad-name".into();
        c.credentials = Credentials::new("", "topsecret");
        c.retry.max_attempts = 0;
        c.retry.max_backoff_ms = 1;
        c.max_records_per_request = 10_001;
        c.max_request_bytes = 5 * 1024 * 1024;
        c.request_timeout_ms = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.problems.len(), 9, "{e}");
        let text = e.to_string();
        assert!(!text.contains("topsecret"));
        c.credentials.security_token = Some("tokensecret".into());
        let debug = format!("{c:?}");
        assert!(!debug.contains("topsecret") && !debug.contains("tokensecret"), "{debug}");
        for word in [
            "endpoint",
            "project",
            "topic",
            "access id",
            "max_attempts",
            "max_backoff_ms",
            "max_records",
            "max_request_bytes",
            "request_timeout",
        ] {
            assert!(text.contains(word), "{word} missing in {text}");
        }
    }

    #[test]
    fn name_rules() {
        assert!(valid_name("abc", PROJECT_NAME_LEN));
        assert!(!valid_name("ab", PROJECT_NAME_LEN));
        assert!(!valid_name("_ab", PROJECT_NAME_LEN));
        assert!(valid_name("t", TOPIC_NAME_LEN));
        assert!(!valid_name(&"a".repeat(129), TOPIC_NAME_LEN));
    }
}
