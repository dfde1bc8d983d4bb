//! DataHub errors and their classification.
//!
//! Like every official SDK, the class of a service error comes from its `ErrorCode` only, never
//! from the HTTP status (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)): retryable
//! (throttling, server errors, unknown codes, network), fatal (auth, missing resources, bad
//! records), or "the shard changed: refresh ListShard and re-route". Messages never include the
//! AccessKey secret or the STS token.

use std::fmt;

use crate::sink::SinkError;

use super::config::ConfigError;

/// A DataHub `ErrorCode` (datahub-protocol §9.2). Unknown codes are kept in [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Bad argument.
    InvalidParameter,
    /// Expired or invalid cursor.
    InvalidCursor,
    /// Invalid URI.
    InvalidUriSpec,
    /// Invalid schema.
    InvalidSchema,
    /// Resource not found (generic).
    ResourceNotFound,
    /// The project does not exist.
    NoSuchProject,
    /// The topic does not exist.
    NoSuchTopic,
    /// The shard does not exist (split/merge can cause it transiently).
    NoSuchShard,
    /// Bad signature or AccessKey.
    Unauthorized,
    /// RAM denies the call.
    NoPermission,
    /// The operation is denied.
    OperationDenied,
    /// The shard is not ACTIVE (sealed or closed by a split/merge).
    InvalidShardOperation,
    /// GetCursor out of range.
    SeekOutOfRange,
    /// Throttled: "The query rate or throughput rate is exceeded."
    LimitExceeded,
    /// The record is not well-formed.
    MalformedRecord,
    /// Server-side failure.
    InternalServerError,
    /// Service unavailable (listed by no SDK; treated as retryable).
    ServiceUnavailable,
    /// The STS token expired: new credentials are needed.
    ExpiredAccessToken,
    /// Any other code.
    Other(String),
}

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Back off and re-send the same request.
    Retryable,
    /// Refresh ListShard and re-route the not-yet-acknowledged records.
    ShardChanged,
    /// Give up: retrying cannot help.
    Fatal,
}

impl ErrorCode {
    /// Parses a code as sent in `ErrorCode`.
    pub fn parse(s: &str) -> Self {
        match s {
            "InvalidParameter" => Self::InvalidParameter,
            "InvalidCursor" => Self::InvalidCursor,
            "InvalidUriSpec" => Self::InvalidUriSpec,
            "InvalidSchema" => Self::InvalidSchema,
            "ResourceNotFound" => Self::ResourceNotFound,
            "NoSuchProject" => Self::NoSuchProject,
            "NoSuchTopic" => Self::NoSuchTopic,
            "NoSuchShard" => Self::NoSuchShard,
            "Unauthorized" => Self::Unauthorized,
            "NoPermission" => Self::NoPermission,
            "OperationDenied" => Self::OperationDenied,
            "InvalidShardOperation" => Self::InvalidShardOperation,
            "SeekOutOfRange" => Self::SeekOutOfRange,
            "LimitExceeded" => Self::LimitExceeded,
            "MalformedRecord" => Self::MalformedRecord,
            "InternalServerError" => Self::InternalServerError,
            "ServiceUnavailable" => Self::ServiceUnavailable,
            "ExpiredAccessToken" => Self::ExpiredAccessToken,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as DataHub spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidParameter => "InvalidParameter",
            Self::InvalidCursor => "InvalidCursor",
            Self::InvalidUriSpec => "InvalidUriSpec",
            Self::InvalidSchema => "InvalidSchema",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::NoSuchProject => "NoSuchProject",
            Self::NoSuchTopic => "NoSuchTopic",
            Self::NoSuchShard => "NoSuchShard",
            Self::Unauthorized => "Unauthorized",
            Self::NoPermission => "NoPermission",
            Self::OperationDenied => "OperationDenied",
            Self::InvalidShardOperation => "InvalidShardOperation",
            Self::SeekOutOfRange => "SeekOutOfRange",
            Self::LimitExceeded => "LimitExceeded",
            Self::MalformedRecord => "MalformedRecord",
            Self::InternalServerError => "InternalServerError",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::ExpiredAccessToken => "ExpiredAccessToken",
            Self::Other(s) => s,
        }
    }

    /// The class of this code for a producer (datahub-protocol §10 "Recommendation"):
    /// LimitExceeded, InternalServerError, ServiceUnavailable and unknown codes are retryable;
    /// InvalidShardOperation and NoSuchShard mean "refresh shards and re-route"; the rest,
    /// and every `*AlreadyExist` / `NoSuch*` / `Invalid*` code, are fatal.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::LimitExceeded | Self::InternalServerError | Self::ServiceUnavailable => ErrorClass::Retryable,
            Self::InvalidShardOperation | Self::NoSuchShard => ErrorClass::ShardChanged,
            Self::Other(s) if s.starts_with("NoSuch") || s.ends_with("AlreadyExist") || s.starts_with("Invalid") => {
                ErrorClass::Fatal
            }
            Self::Other(_) => ErrorClass::Retryable,
            _ => ErrorClass::Fatal,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of a DataHub call. `operation` is the DataHub API name (GetTopic, ListShard,
/// PutRecords, PutRecordsByShard, GetCursor, GetRecords, GetProject).
#[derive(Debug, thiserror::Error)]
pub enum DataHubError {
    /// The service answered with an error body `{"ErrorCode","ErrorMessage"}` (HTTP ≥ 400).
    #[error("DataHub {operation} failed: {code}: {message} (HTTP {status}, request id {request_id})")]
    Service {
        /// API name.
        operation: &'static str,
        /// HTTP status (informational only).
        status: u16,
        /// The `ErrorCode`.
        code: ErrorCode,
        /// The `ErrorMessage`.
        message: String,
        /// `x-datahub-request-id`, or `-`.
        request_id: String,
    },
    /// An HTTP error status whose body is not a DataHub error document (e.g. a proxy page).
    #[error("DataHub {operation} failed: HTTP {status} without a DataHub error body: {body}")]
    BadStatus {
        /// API name.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// The start of the body (at most 200 bytes, lossy UTF-8).
        body: String,
    },
    /// Connection refused/reset, TLS, timeout: no answer was read.
    #[error("DataHub {operation} to {endpoint}: {message}")]
    Transport {
        /// API name.
        operation: &'static str,
        /// The base URL.
        endpoint: String,
        /// The error and its causes.
        message: String,
        /// True when the request timed out.
        timeout: bool,
        /// False only for errors building the request (retrying cannot help).
        retryable: bool,
    },
    /// A 2xx answer that could not be understood (bad JSON, bad frame or CRC).
    #[error("DataHub {operation}: unexpected response: {message}")]
    Protocol {
        /// API name.
        operation: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The topic cannot be written: neither BLOB nor a TUPLE topic whose `RecordSchema` follows
    /// the DTS or DataWorks layout ([`super::tuple::Layout`]).
    #[error("topic {project}.{topic} has RecordType {record_type}; the DataHub sink writes BLOB topics only, besides TUPLE topics in the DTS or DataWorks layout ({reason})")]
    UnsupportedTopic {
        /// Project.
        project: String,
        /// Topic.
        topic: String,
        /// RecordType from GetTopic.
        record_type: String,
        /// Why the topic is refused (e.g. the schema's layout is unknown).
        reason: String,
    },
    /// An event cannot be written to the TUPLE topic (a value does not fit its field, NULL in a
    /// NOT NULL field): fatal, as DataHub's `MalformedRecord`. Nothing of the batch was sent.
    #[error(transparent)]
    Tuple(#[from] super::tuple::TupleError),
    /// An event does not fit its TUPLE topic and the failure-handling mode is `fail`
    /// ([`super::multi::FailureMode::Fail`]): fatal, nothing of the batch was sent to that
    /// topic. Names `db.table.column`, the value (numbers, dates and times), the binlog
    /// position and the topic.
    #[error("{error}; event at binlog {file}:{pos} row {row}, topic {topic} (failure handling mode `fail` stops here; mode `skip` sends such events to the dead-letter topic)")]
    Unfit {
        /// The topic the event was routed to.
        topic: String,
        /// Binlog file of the rows event.
        file: String,
        /// Start offset of the rows event.
        pos: u64,
        /// Row index in the rows event.
        row: u32,
        /// What does not fit (boxed: keeps every `DataHubError` small).
        error: Box<super::tuple::TupleError>,
    },
    /// Two captured tables route to one TUPLE topic, or a topic could not be prepared (created,
    /// checked against its table, extended with AppendField): fatal.
    #[error("topic {topic}: {message}")]
    Topic {
        /// The topic.
        topic: String,
        /// What is wrong, every problem joined by `; `.
        message: String,
    },
    /// The topic has no ACTIVE shard to write to (e.g. all OPENING after a split).
    #[error("topic {project}.{topic} has no ACTIVE shard")]
    NoActiveShard {
        /// Project.
        project: String,
        /// Topic.
        topic: String,
    },
    /// One record cannot fit in a request of `max_request_bytes`.
    #[error("a record needs {bytes} bytes in a request, more than max_request_bytes = {limit}")]
    RecordTooLarge {
        /// Bytes the record needs.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl DataHubError {
    /// The class of this error: see [`ErrorCode::class`]; non-DataHub HTTP statuses ≥ 500,
    /// 408 and 429 and transport errors are retryable; everything else is fatal.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Service { code, .. } => code.class(),
            Self::BadStatus { status, .. } if *status >= 500 || *status == 429 || *status == 408 => {
                ErrorClass::Retryable
            }
            Self::Transport { retryable: true, .. } => ErrorClass::Retryable,
            Self::NoActiveShard { .. } => ErrorClass::ShardChanged,
            _ => ErrorClass::Fatal,
        }
    }

    /// True when re-sending the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Retryable
    }

    /// True when the shard list must be refreshed and records re-routed.
    pub fn is_shard_changed(&self) -> bool {
        self.class() == ErrorClass::ShardChanged
    }

    /// A short code for metrics and [`SinkError::code`]: the `ErrorCode`, `HTTP<status>`,
    /// `Timeout`, `Transport`, or the variant name.
    pub fn code(&self) -> String {
        match self {
            Self::Service { code, .. } => code.as_str().to_owned(),
            Self::BadStatus { status, .. } => format!("HTTP{status}"),
            Self::Transport { timeout: true, .. } => "Timeout".into(),
            Self::Transport { .. } => "Transport".into(),
            Self::Protocol { .. } => "Protocol".into(),
            Self::Config(_) => "Config".into(),
            Self::UnsupportedTopic { .. } => "UnsupportedTopic".into(),
            Self::Tuple(_) | Self::Unfit { .. } => "MalformedRecord".into(),
            Self::Topic { .. } => "Topic".into(),
            Self::NoActiveShard { .. } => "NoActiveShard".into(),
            Self::RecordTooLarge { .. } => "RecordTooLarge".into(),
        }
    }

    /// The sink error for this error when no more retries will be made: transient for
    /// retryable and shard-changed errors, fatal otherwise.
    pub fn to_sink_error(&self) -> SinkError {
        match self.class() {
            ErrorClass::Fatal => SinkError::fatal(Some(self.code()), self.to_string()),
            _ => SinkError::transient(Some(self.code()), self.to_string()),
        }
    }

    pub(crate) fn from_reqwest(operation: &'static str, endpoint: &str, e: reqwest::Error) -> Self {
        let mut message = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            message.push_str(": ");
            message.push_str(&s.to_string());
            src = s.source();
        }
        Self::Transport {
            operation,
            endpoint: endpoint.to_owned(),
            message,
            timeout: e.is_timeout(),
            retryable: !e.is_builder(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(code: &str) -> DataHubError {
        DataHubError::Service {
            operation: "PutRecordsByShard",
            status: 400,
            code: ErrorCode::parse(code),
            message: "m".into(),
            request_id: "-".into(),
        }
    }

    #[test]
    fn classification_table() {
        use ErrorClass::*;
        let table = [
            ("LimitExceeded", Retryable),
            ("InternalServerError", Retryable),
            ("ServiceUnavailable", Retryable),
            ("SomethingNew", Retryable),
            ("OdpsServiceError", Retryable),
            ("InvalidShardOperation", ShardChanged),
            ("NoSuchShard", ShardChanged),
            ("Unauthorized", Fatal),
            ("NoPermission", Fatal),
            ("NoSuchProject", Fatal),
            ("NoSuchTopic", Fatal),
            ("MalformedRecord", Fatal),
            ("InvalidParameter", Fatal),
            ("OperationDenied", Fatal),
            ("ExpiredAccessToken", Fatal),
            ("NoSuchSubscription", Fatal),
            ("TopicAlreadyExist", Fatal),
        ];
        for (code, class) in table {
            assert_eq!(service(code).class(), class, "{code}");
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
    }

    #[test]
    fn http_and_transport_errors() {
        let bad = |status| DataHubError::BadStatus { operation: "GetTopic", status, body: "<html>".into() };
        assert!(bad(502).is_retryable());
        assert!(bad(503).is_retryable());
        assert!(bad(429).is_retryable());
        assert!(!bad(404).is_retryable());
        let t = DataHubError::Transport {
            operation: "ListShard",
            endpoint: "http://x".into(),
            message: "connection reset".into(),
            timeout: false,
            retryable: true,
        };
        assert!(t.is_retryable());
        assert_eq!(t.code(), "Transport");
        assert!(!DataHubError::Protocol { operation: "PutRecords", message: "bad json".into() }.is_retryable());
    }

    #[test]
    fn sink_error_kinds() {
        assert!(service("LimitExceeded").to_sink_error().is_transient());
        assert!(service("InvalidShardOperation").to_sink_error().is_transient());
        let f = service("Unauthorized").to_sink_error();
        assert!(!f.is_transient());
        assert_eq!(f.code.as_deref(), Some("Unauthorized"));
    }
}
