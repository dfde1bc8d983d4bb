//! [`SourceConfig`]: connection and behaviour settings of the binlog source, with its defaults.

use mysql_async::OptsBuilder;

use super::schema_provider::SchemaProvider;
use super::server::ServerKind;
use crate::secret::Secret;

/// Connection and behaviour settings of the binlog source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Server host name or IP.
    pub host: String,
    /// Server port (OceanBase binlog service default 2881; MySQL 3306).
    pub port: u16,
    /// Replication user (needs REPLICATION SLAVE, REPLICATION CLIENT, SELECT).
    pub user: String,
    /// Its password.
    pub password: Secret,
    /// server_id this replica registers with; must be unique among the source's replicas.
    pub server_id: u32,
    /// Logical server name written to `source.name` of every event.
    pub name: String,
    /// Schemas to capture; empty = all.
    pub schemas: Vec<String>,
    /// Table selectors: `*`, names (`t` or `db.t`), or regular expressions; empty = all.
    pub tables: Vec<String>,
    /// Heartbeat period asked of the server, ms (0 = none).
    pub heartbeat_ms: u64,
    /// First reconnect delay after a connection failure, ms (doubles up to `reconnect_max_ms`).
    pub reconnect_min_ms: u64,
    /// Reconnect delay cap, ms.
    pub reconnect_max_ms: u64,
    /// Verify each event's CRC32 (when the server writes checksums); a mismatch is a
    /// [`super::SourceError::Decode`].
    pub verify_checksums: bool,
    /// Where column facts come from when a TABLE_MAP needs them; None: `information_schema`
    /// (the table as it is now). Shared by the clones of a source; one run uses it at a time.
    pub schema_provider: Option<SharedSchemaProvider>,
    /// The kind of server the configuration says this is; anything but `Auto` is checked by
    /// the precheck against what the server says it is.
    pub server_kind: ServerKind,
    /// Tables (`(db, table)`) decoded even when `schemas` and `tables` do not capture them:
    /// the watermark snapshot's signal table. Their events reach the consumer of the source
    /// like any other (the snapshot's forwarder recognises and drops them). Empty by default.
    pub also_decode: Vec<(String, String)>,
}

/// A [`SchemaProvider`] shared by clones of a source configuration.
pub type SharedSchemaProvider = std::sync::Arc<tokio::sync::Mutex<Box<dyn SchemaProvider>>>;

impl SourceConfig {
    /// Default `heartbeat_ms`: 1000 ms.
    pub const DEFAULT_HEARTBEAT_MS: u64 = 1000;

    /// A configuration with defaults: server_id 5701 (set a unique one per replica), name
    /// `"mysql"`, all schemas and tables, heartbeat 1000 ms, reconnect 200 ms → 10 s,
    /// checksums verified.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            user: user.into(),
            password: Secret::new(password),
            server_id: 5701,
            name: "mysql".into(),
            schemas: Vec::new(),
            tables: Vec::new(),
            heartbeat_ms: Self::DEFAULT_HEARTBEAT_MS,
            reconnect_min_ms: 200,
            reconnect_max_ms: 10_000,
            verify_checksums: true,
            schema_provider: None,
            server_kind: ServerKind::Auto,
            also_decode: Vec::new(),
        }
    }

    pub(crate) fn opts(&self) -> mysql_async::Opts {
        OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password.expose().to_string()))
            .prefer_socket(false)
            // The client's packet limit, not the server's: ODP reports 16 MiB while the
            // OceanBase binlog service sends rows of up to 48 MB; 1 GiB is the protocol's largest
            // (MySQL manual, "max_allowed_packet").
            .max_allowed_packet(Some(1 << 30))
            .into()
    }
}
