//! Every configuration key as data: one [`Key`] per setting with its default, the values it
//! accepts (a range and unit, or the allowed words) and a line of help. This table is the one
//! place a setting is described; it drives
//!
//! - parsing and checking: the sections (`database.rs`, `datahub.rs`, and `runtime.rs` for
//!   the service-wide keys) read each key through its entry (`fields.rs`), which supplies the
//!   default, the range and the wording of the problem;
//! - [`KEYS`]: the order problems are reported in, and what `unknown_env_keys` and the file's
//!   unknown-key check compare against;
//! - the README's configuration table, [`markdown_table`] (a unit test fails when README.md
//!   differs from it; `CDC_UPDATE_README=1 cargo test -p cdc-service readme` rewrites it).
//!
//! Limits and defaults the library owns are quoted from cdc-core (batch bounds, DataHub request
//! limits and name rules, retry, heartbeat and queue defaults), not copied.
//!
//! Adding a setting is one entry in `keys!` below plus one field in its section's struct
//! (`DatabaseSettings`, `DataHubSettings` or `ServiceConfig`), whose initialiser reads it with
//! the `Fields` method of its [`Kind`]; the unit tests then check that the entry is read, that
//! its bounds are enforced, and that the README lists it.

use std::fmt::Write as _;
use std::ops::RangeInclusive;

use cdc_core::batch::BatchLimits;
use cdc_core::datahub::config::{DEFAULT_MAX_REQUEST_BYTES, MAX_RECORDS_PER_REQUEST, PROJECT_NAME_LEN, TOPIC_NAME_LEN};
use cdc_core::pipeline::PipelineConfig;
use cdc_core::retry::RetryPolicy;
use cdc_core::source::SourceConfig;

/// OceanBase's MySQL-protocol port (the OceanBase binlog service listens there too); MySQL and
/// MariaDB use 3306.
pub const DEFAULT_DATABASE_PORT: u16 = 2881;

/// One configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The environment variable; the file key is the same in lower case.
    pub name: &'static str,
    /// What applies when the key is unset or empty.
    pub default: DefaultValue,
    /// The values accepted, and how they are parsed.
    pub kind: Kind,
    /// One line for the README's "meaning" column.
    pub help: &'static str,
}

/// What applies when a key is unset (or set to an empty string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultValue {
    /// The key must be given (reported as "missing").
    Required,
    /// This number.
    Int(u64),
    /// This text.
    Text(&'static str),
    /// Nothing, or a value computed from other settings; the text says which (for the README).
    Derived(&'static str),
}

/// The values a key accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Any text (surrounding white space removed).
    Text,
    /// A secret: never shown, not even in problems. `verbatim` keeps surrounding white space
    /// (a password is taken as given).
    Secret {
        /// Keep the value exactly as given.
        verbatim: bool,
    },
    /// A comma-separated list (a TOML list in the file); empty items are dropped.
    List,
    /// A file path.
    Path,
    /// A TCP port, 1-65535.
    Port,
    /// A whole number in `min..=max` (`_` separators allowed).
    Int {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
        /// What is counted.
        unit: Unit,
        /// Where `max` comes from, when it is not the service's own choice.
        max_is: Option<&'static str>,
    },
    /// One of these words, case-insensitive; `aliases` map other spellings to one of them.
    Choice {
        /// The accepted words, as written in the README and in problems.
        values: &'static [&'static str],
        /// `(alias, value)` pairs, also case-insensitive.
        aliases: &'static [(&'static str, &'static str)],
    },
    /// An `http://` or `https://` URL with a host; a trailing `/` is dropped.
    Url,
    /// A DataHub project or topic name: `^[a-zA-Z][a-zA-Z0-9_]*$` with a length in `len`
    /// (cdc-core's [`cdc_core::datahub::config::valid_name`]).
    Name {
        /// Allowed length, characters.
        len: RangeInclusive<usize>,
    },
    /// A start position: `latest`, `earliest`, `file:pos` or a GTID set
    /// ([`cdc_core::position::StartPosition`]'s syntax).
    Position,
}

/// What an [`Kind::Int`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Attempts of one request.
    Attempts,
    /// Milliseconds.
    Milliseconds,
    /// Records (rows).
    Records,
    /// Bytes.
    Bytes,
    /// Queue messages.
    Messages,
    /// Replica server ids.
    ServerIds,
    /// DataHub shards.
    Shards,
    /// Days.
    Days,
}

impl Unit {
    /// The plural noun used in problems: "is not a whole number of milliseconds".
    pub fn noun(self) -> &'static str {
        match self {
            Unit::Attempts => "attempts",
            Unit::Milliseconds => "milliseconds",
            Unit::Records => "records",
            Unit::Bytes => "bytes",
            Unit::Messages => "messages",
            Unit::ServerIds => "server ids",
            Unit::Shards => "shards",
            Unit::Days => "days",
        }
    }

    /// The short form in the README: `ms` for milliseconds, nothing for server ids, else the
    /// noun.
    pub fn short(self) -> &'static str {
        match self {
            Unit::Milliseconds => "ms",
            Unit::ServerIds => "",
            other => other.noun(),
        }
    }
}

macro_rules! keys {
    ($($name:ident: $help:literal { $($field:ident: $value:expr),* $(,)? })*) => {
        $(
            #[doc = concat!("`", stringify!($name), "`: ", $help)]
            pub const $name: Key = Key { name: stringify!($name), help: $help, $($field: $value),* };
        )*
        /// Every key, in the order problems are reported and the README lists them.
        pub const KEYS: &[Key] = &[$($name),*];
    };
}

keys! {
    DATABASE_HOST: "source host" {
        default: DefaultValue::Required,
        kind: Kind::Text,
    }
    DATABASE_PORT: "source port (2881 is OceanBase's; MySQL/MariaDB use 3306)" {
        default: DefaultValue::Int(DEFAULT_DATABASE_PORT as u64),
        kind: Kind::Port,
    }
    DATABASE_USERNAME: "replication user: needs REPLICATION SLAVE, REPLICATION CLIENT, SELECT" {
        default: DefaultValue::Required,
        kind: Kind::Text,
    }
    DATABASE_PASSWORD: "its password" {
        default: DefaultValue::Derived("empty"),
        kind: Kind::Secret { verbatim: true },
    }
    DATABASE_SCHEMA: "schema(s) to capture" {
        default: DefaultValue::Derived("all"),
        kind: Kind::List,
    }
    DATABASE_TABLES: "tables: `*`, names (`t` or `db.t`) or regular expressions" {
        default: DefaultValue::Text("*"),
        kind: Kind::List,
    }
    DATABASE_FLAVOR: "the kind of server: `auto` (detected from `VERSION()`), `mariadb`, `mysql` or `oceanbase` (the OceanBase binlog service behind ODP); a declared kind the server contradicts is a precheck problem" {
        default: DefaultValue::Text("auto"),
        kind: Kind::Choice { values: &["auto", "mariadb", "mysql", "oceanbase"], aliases: &[] },
    }
    DATAHUB_ENDPOINT: "e.g. `https://dh-cn-hangzhou.aliyuncs.com`" {
        default: DefaultValue::Required,
        kind: Kind::Url,
    }
    DATAHUB_ACCESS_ID: "AccessKey ID" {
        default: DefaultValue::Required,
        kind: Kind::Text,
    }
    DATAHUB_ACCESS_KEY: "AccessKey secret" {
        default: DefaultValue::Required,
        kind: Kind::Secret { verbatim: false },
    }
    DATAHUB_SECURITY_TOKEN: "STS token, for temporary credentials" {
        default: DefaultValue::Derived("none"),
        kind: Kind::Secret { verbatim: false },
    }
    DATAHUB_PROJECT: "DataHub project" {
        default: DefaultValue::Required,
        kind: Kind::Name { len: PROJECT_NAME_LEN },
    }
    DATAHUB_TOPIC: "DataHub topic for every table, or a template with `{db}` and `{table}` (e.g. `ods_{db}_{table}`) giving each table its own; the result is made a valid topic name (other characters → `_`, `t_` before a leading non-letter, over 128 characters cut with a hash)" {
        default: DefaultValue::Required,
        kind: Kind::Text,
    }
    DATAHUB_TOPIC_MAP: "per-table topics overriding `DATAHUB_TOPIC`: `db.table=topic` entries (names as written, each a valid topic name)" {
        default: DefaultValue::Derived("none"),
        kind: Kind::List,
    }
    DATAHUB_CREATE_TOPICS: "create missing topics (CreateTopic) and append new columns to TUPLE topics (AppendField)" {
        default: DefaultValue::Text("false"),
        kind: Kind::Choice { values: &["false", "true"], aliases: &[] },
    }
    DATAHUB_RECORD_TYPE: "record type of created topics" {
        default: DefaultValue::Text("BLOB"),
        kind: Kind::Choice { values: &["BLOB", "TUPLE"], aliases: &[] },
    }
    DATAHUB_TUPLE_LAYOUT: "TUPLE layout: `auto` detects DTS/DataWorks from an existing topic (created ones are DTS); `plain` is the columns only" {
        default: DefaultValue::Text("auto"),
        kind: Kind::Choice { values: &["auto", "dts", "dataworks", "plain"], aliases: &[] },
    }
    DATAHUB_SHARD_COUNT: "shards of created topics" {
        default: DefaultValue::Int(1),
        kind: Kind::Int { min: 1, max: 256, unit: Unit::Shards, max_is: Some("DataHub's limit of active shards") },
    }
    DATAHUB_LIFECYCLE_DAYS: "retention of created topics" {
        default: DefaultValue::Int(7),
        kind: Kind::Int { min: 1, max: 7, unit: Unit::Days, max_is: Some("DataHub's limit") },
    }
    DATAHUB_FAILURE_HANDLING_MODE: "a value its TUPLE field cannot hold (e.g. DATETIME past 9999-12-31 23:59:59 in a TIMESTAMP field): `fail` stops naming db.table.column, the value and the binlog position; `skip` writes the event and the reason to `DATAHUB_DEAD_LETTER_TOPIC` (as Debezium's `event.processing.failure.handling.mode`)" {
        default: DefaultValue::Text("fail"),
        kind: Kind::Choice { values: &["fail", "skip"], aliases: &[] },
    }
    DATAHUB_DEAD_LETTER_TOPIC: "BLOB topic of skipped events (created with `DATAHUB_CREATE_TOPICS=true`)" {
        default: DefaultValue::Text("cdc_dead_letter"),
        kind: Kind::Name { len: TOPIC_NAME_LEN },
    }
    RETRY_MAX_ATTEMPTS: "attempts per DataHub request before the batch is paused and re-sent" {
        default: DefaultValue::Int(RetryPolicy::DEFAULT.max_attempts as u64),
        kind: Kind::Int { min: 1, max: 1000, unit: Unit::Attempts, max_is: None },
    }
    RETRY_BACKOFF_MS: "base of the exponential backoff (full jitter) between attempts" {
        default: DefaultValue::Int(RetryPolicy::DEFAULT.backoff_ms),
        kind: Kind::Int { min: 0, max: 3_600_000, unit: Unit::Milliseconds, max_is: None },
    }
    MONITORING_PORT: "port of `/health`, `/health/live`, `/health/ready`, `/metrics`" {
        default: DefaultValue::Int(8080),
        kind: Kind::Port,
    }
    LOG_LEVEL: "log level (`RUST_LOG` directives, when set, refine it per module)" {
        default: DefaultValue::Text("INFO"),
        kind: Kind::Choice {
            values: &["TRACE", "DEBUG", "INFO", "WARN", "ERROR"],
            aliases: &[("WARNING", "WARN")],
        },
    }
    CDC_LOG_FORMAT: "log line format on stderr" {
        default: DefaultValue::Text("text"),
        kind: Kind::Choice { values: &["text", "json"], aliases: &[] },
    }
    CDC_SERVER_ID: "server_id this replica registers with (must be unique among the source's replicas)" {
        default: DefaultValue::Derived("5400 + FNV-1a(`CDC_SERVER_NAME`) mod 1000"),
        kind: Kind::Int { min: 1, max: u32::MAX as u64, unit: Unit::ServerIds, max_is: None },
    }
    CDC_SERVER_NAME: "logical server name in `source.name`" {
        default: DefaultValue::Derived("the host name (`HOSTNAME`)"),
        kind: Kind::Text,
    }
    CDC_OFFSET_PATH: "checkpoint file" {
        default: DefaultValue::Text("./data/offsets.json"),
        kind: Kind::Path,
    }
    CDC_START_POSITION: "where to start when no checkpoint is stored" {
        default: DefaultValue::Text("latest"),
        kind: Kind::Position,
    }
    CDC_SCHEMA_HISTORY: "keep a schema history (`on`): every row decoded with the columns its table had at that binlog position, kept in `<CDC_OFFSET_PATH>.schema_history.jsonl`; `off`: table schemas from information_schema (the tables as they are now)" {
        default: DefaultValue::Text("on"),
        kind: Kind::Choice { values: &["on", "off"], aliases: &[] },
    }
    CDC_SCHEMA_HISTORY_SKIP: "binlog positions (`file:pos`, comma-separated) of DDL statements the schema history must skip: the way on after one it cannot understand stopped the collector (the error names the position), when the statement changes no captured table's columns" {
        default: DefaultValue::Derived("none"),
        kind: Kind::List,
    }
    CDC_SNAPSHOT_MODE: "when to snapshot the captured tables (`initial`: when no checkpoint is stored, then stream; `never`; `when_needed`: also when the checkpoint's position was purged; `initial_only`: snapshot, then exit 0). Unset, it is `initial`, or `never` when `CDC_START_POSITION` is set to other than `latest`" {
        default: DefaultValue::Text("initial"),
        kind: Kind::Choice { values: &["initial", "never", "when_needed", "initial_only"], aliases: &[] },
    }
    CDC_SNAPSHOT_METHOD: "how the snapshot reads its rows: `auto` (one consistent snapshot where the server gives its binlog point — MariaDB —, watermark windows inside the stream elsewhere — the OceanBase binlog service, MySQL), or `watermark` (watermark windows everywhere: every table keeps streaming during a long snapshot; needs the signal table)" {
        default: DefaultValue::Text("auto"),
        kind: Kind::Choice { values: &["auto", "watermark"], aliases: &[] },
    }
    CDC_SNAPSHOT_CHUNK_ROWS: "rows per snapshot chunk (one keyset query, one checkpoint)" {
        default: DefaultValue::Int(8192),
        kind: Kind::Int { min: 1, max: 1_000_000, unit: Unit::Records, max_is: None },
    }
    CDC_SNAPSHOT_SIGNAL_TABLE: "signal table (`db.table`) of the watermark snapshot, used on servers without a consistent snapshot point (the OceanBase binlog service, MySQL): its low/high watermark rows (never shipped) bracket each chunk read; created when missing (`id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(8), win BIGINT DEFAULT 0, data VARCHAR(4096)`), the user needs INSERT on it (and CREATE to create it). Set explicitly, it also turns on ad-hoc snapshots by signal on every server: a row `(kind, data) = ('snapshot', 'db.t1,db.t2')` snapshots those tables while streaming" {
        default: DefaultValue::Derived("`cdc_signal` in the first schema of `DATABASE_SCHEMA`"),
        kind: Kind::Text,
    }
    CDC_BATCH_MAX_RECORDS: "rows per batch" {
        default: DefaultValue::Int(BatchLimits::DEFAULT.max_records as u64),
        kind: Kind::Int {
            min: 1,
            max: MAX_RECORDS_PER_REQUEST as u64,
            unit: Unit::Records,
            max_is: Some("DataHub's limit per request"),
        },
    }
    CDC_BATCH_MAX_BYTES: "estimated encoded bytes per batch (the request body limit is enforced regardless)" {
        default: DefaultValue::Int(BatchLimits::DEFAULT.max_bytes as u64),
        kind: Kind::Int {
            min: 1024,
            max: DEFAULT_MAX_REQUEST_BYTES as u64,
            unit: Unit::Bytes,
            max_is: Some("the DataHub producer's request body limit"),
        },
    }
    CDC_BATCH_LINGER_MS: "longest wait for a batch to fill" {
        default: DefaultValue::Int(BatchLimits::DEFAULT.linger.as_millis() as u64),
        kind: Kind::Int { min: 0, max: 60_000, unit: Unit::Milliseconds, max_is: None },
    }
    CDC_QUEUE_CAPACITY: "messages buffered between the binlog reader and the batcher; one carries the rows of up to ≈ 8,192 column values or 256 KiB of binlog row data (plus one rows event) of a transaction, a commit or a heartbeat" {
        default: DefaultValue::Int(PipelineConfig::DEFAULT_CHANNEL_CAPACITY as u64),
        kind: Kind::Int { min: 1, max: 1_000_000, unit: Unit::Messages, max_is: None },
    }
    CDC_HEARTBEAT_MS: "replication heartbeat period asked of the server (0 = none)" {
        default: DefaultValue::Int(SourceConfig::DEFAULT_HEARTBEAT_MS),
        kind: Kind::Int { min: 0, max: 4_294_967, unit: Unit::Milliseconds, max_is: None },
    }
    CDC_SHUTDOWN_GRACE_MS: "longest drain on SIGTERM before exiting" {
        default: DefaultValue::Int(30_000),
        kind: Kind::Int { min: 0, max: 3_600_000, unit: Unit::Milliseconds, max_is: None },
    }
    CDC_LIVENESS_TIMEOUT_MS: "`/health/live` fails when the pipeline loop was silent this long" {
        default: DefaultValue::Int(60_000),
        kind: Kind::Int { min: 1000, max: 3_600_000, unit: Unit::Milliseconds, max_is: None },
    }
}

/// The key named `name` (exact, upper case), if it is one.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

impl Key {
    /// True for secrets, whose values are never shown.
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret { .. })
    }

    /// The README's "default" cell.
    pub fn default_cell(&self) -> String {
        match &self.default {
            DefaultValue::Required => "(required)".into(),
            DefaultValue::Int(n) => format!("`{n}`"),
            DefaultValue::Text(s) => format!("`{s}`"),
            DefaultValue::Derived(s) => (*s).into(),
        }
    }

    /// The README's "values" cell: what the key accepts.
    pub fn values_cell(&self) -> String {
        match &self.kind {
            Kind::Text => "text".into(),
            Kind::Secret { verbatim: true } => "secret (never logged or shown), taken verbatim".into(),
            Kind::Secret { verbatim: false } => "secret (never logged or shown)".into(),
            Kind::List => "comma-separated (a list in the file)".into(),
            Kind::Path => "file path".into(),
            Kind::Port => "1-65535".into(),
            Kind::Int { min, max, unit, max_is } => {
                let why = max_is.map(|w| format!("; {max} is {w}")).unwrap_or_default();
                format!("{min}-{max} {}{why}", unit.short()).trim_end().replace(" ;", ";")
            }
            Kind::Choice { values, .. } => {
                values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ") + " (any case)"
            }
            Kind::Url => "`http://` or `https://` URL".into(),
            Kind::Name { len } => {
                format!("a letter, then letters, digits, `_`; {}-{} characters", len.start(), len.end())
            }
            Kind::Position => "`latest`, `earliest`, `file:pos` or a GTID set".into(),
        }
    }
}

/// The README's configuration table (Markdown, one row per key in [`KEYS`] order, ending in a
/// newline): variable, default, accepted values, meaning.
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | default | values | meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        let _ = writeln!(out, "| `{}` | {} | {} | {} |", k.name, k.default_cell(), k.values_cell(), k.help);
    }
    out
}
