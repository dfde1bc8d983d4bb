//! The database (binlog source) section: [`DatabaseSettings`] from the `DATABASE_*` keys and
//! `CDC_SERVER_ID`, `CDC_SERVER_NAME`, `CDC_HEARTBEAT_MS`, and its shape for cdc-core
//! ([`SourceConfig`]). Table selectors are compiled here already, so a bad regular expression is
//! a configuration problem rather than a failure once streaming starts.

use std::collections::HashMap;

use cdc_core::secret::Secret;
use cdc_core::source::{ServerKind, SourceConfig, TableFilter};

use super::fields::Fields;
use super::keys;

/// Base of the default replica `server_id`: the default is `5400 + FNV-1a(server name) % 1000`,
/// i.e. in 5400..=6399, stable for a given host name so a restarted collector keeps its id.
pub const DEFAULT_SERVER_ID_BASE: u32 = 5400;

/// The database (binlog source) settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_HOST` (required).
    pub host: String,
    /// `DATABASE_PORT`, default 2881 (OceanBase).
    pub port: u16,
    /// `DATABASE_USERNAME` (required); needs REPLICATION SLAVE, REPLICATION CLIENT, SELECT.
    pub username: String,
    /// `DATABASE_PASSWORD`, default empty.
    pub password: Secret,
    /// `DATABASE_SCHEMA`: comma-separated schemas; empty (unset) = all schemas.
    pub schemas: Vec<String>,
    /// `DATABASE_TABLES`: comma-separated table selectors (`*`, `t`, `db.t` or regular
    /// expressions); default `*`.
    pub tables: Vec<String>,
    /// `CDC_SERVER_ID`: the replica server_id; default `5400 + FNV-1a(server name) % 1000`.
    pub server_id: u32,
    /// `CDC_SERVER_NAME`: logical name written to `source.name`; default the host name.
    pub server_name: String,
    /// `CDC_HEARTBEAT_MS`: heartbeat period asked of the server, ms (0 = none); default 1000.
    pub heartbeat_ms: u64,
    /// `DATABASE_FLAVOR`: the declared kind of server; default `auto` (detected).
    pub flavor: ServerKind,
}

impl DatabaseSettings {
    /// These settings in `cdc-core`'s shape; the source's own defaults (reconnect backoff,
    /// checksum verification) are kept.
    pub fn source_config(&self) -> SourceConfig {
        let mut c = SourceConfig::new(&self.host, self.port, &self.username, self.password.expose());
        c.server_id = self.server_id;
        c.name = self.server_name.clone();
        c.schemas = self.schemas.clone();
        c.tables = self.tables.clone();
        c.heartbeat_ms = self.heartbeat_ms;
        c.server_kind = self.flavor;
        c
    }

    /// Reads the section; `None` when any of its keys has a problem (recorded in `f`).
    pub(super) fn read(f: &mut Fields<'_>, env: &HashMap<String, String>) -> Option<Self> {
        let before = f.problem_count();
        let host = f.text(&keys::DATABASE_HOST);
        let port = f.port(&keys::DATABASE_PORT);
        let username = f.text(&keys::DATABASE_USERNAME);
        let password = f.secret(&keys::DATABASE_PASSWORD).unwrap_or_else(|| Secret::new(""));
        let schemas = f.list(&keys::DATABASE_SCHEMA);
        let tables = f.list(&keys::DATABASE_TABLES);
        if let Err(why) = TableFilter::new(&schemas, &tables) {
            f.problem(&keys::DATABASE_TABLES, why.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        let server_name = f.text(&keys::CDC_SERVER_NAME).unwrap_or_else(|| host_name(env));
        let server_id = f.int_or(&keys::CDC_SERVER_ID, default_server_id(&server_name));
        let heartbeat_ms = f.int(&keys::CDC_HEARTBEAT_MS);
        let flavor = match f.choice(&keys::DATABASE_FLAVOR) {
            "mariadb" => ServerKind::MariaDb,
            "mysql" => ServerKind::MySql,
            "oceanbase" => ServerKind::OceanBase,
            _ => ServerKind::Auto,
        };
        if f.problem_count() > before {
            return None;
        }
        Some(Self {
            host: host?,
            port,
            username: username?,
            password,
            schemas,
            tables,
            server_id,
            server_name,
            heartbeat_ms,
            flavor,
        })
    }
}

/// 32-bit FNV-1a: a stable hash (std's hasher may change between releases).
pub(super) fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// The default `CDC_SERVER_ID` for a server name: `5400 + FNV-1a(name) % 1000`.
pub fn default_server_id(server_name: &str) -> u32 {
    DEFAULT_SERVER_ID_BASE + fnv1a(server_name) % 1000
}

/// The host name (`HOSTNAME`, else `/proc/sys/kernel/hostname`, else `cdc-collector`).
fn host_name(env: &HashMap<String, String>) -> String {
    env.get("HOSTNAME")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cdc-collector".into())
}
