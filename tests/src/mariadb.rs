//! The real MariaDB used by the tests: `scripts/test-mariadb` instances (`full`: port 33061,
//! `binlog_row_metadata=FULL`; `minimal`: port 33062, MINIMAL; `nolog`: port 33063, NO_LOG —
//! TABLE_MAP events without optional metadata, like the OceanBase binlog service's), or the
//! servers named by `CDC_TEST_MARIADB` / `CDC_TEST_MARIADB_MINIMAL` / `CDC_TEST_MARIADB_NOLOG`
//! (`host:port`, users `cdc_repl` and `cdc_admin` as the script creates them).
//!
//! Tests share one server and run in parallel: each creates its own schema with
//! [`TestServer::fresh_schema`] and filters its source by it.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use cdc_core::source::{SourceConfig, SourceMessage};
use mysql_async::prelude::*;
use tokio::sync::mpsc;

use crate::pydatahub::repo_root;

/// Replication user created by `scripts/test-mariadb`.
pub const REPL_USER: &str = "cdc_repl";
/// Its password.
pub const REPL_PASSWORD: &str = "cdc_repl_pw";
/// Admin user created by `scripts/test-mariadb`.
pub const ADMIN_USER: &str = "cdc_admin";
/// Its password.
pub const ADMIN_PASSWORD: &str = "cdc_admin_pw";

/// A running MariaDB reachable over TCP.
#[derive(Debug, Clone)]
pub struct TestServer {
    /// Host (IP).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Runs `scripts/test-mariadb` with `args` (blocking), panicking with its output when it
/// fails.
pub fn test_mariadb(args: &[&str]) {
    let out =
        Command::new(repo_root().join("scripts/test-mariadb")).args(args).output().expect("run scripts/test-mariadb");
    assert!(
        out.status.success(),
        "scripts/test-mariadb {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the shared instance `name` on `port` shifted by `CDC_TEST_PORT_BASE` (as
/// `scripts/test` does: full at the base, minimal at base+1, nolog at base+2).
fn start_script(name: &str, port: u16) -> (String, u16) {
    let port = dedicated_port(port);
    test_mariadb(&["start", "--name", name, "--port", &port.to_string()]);
    ("127.0.0.1".to_string(), port)
}

fn split_addr(addr: &str) -> (String, u16) {
    let (h, p) = addr.rsplit_once(':').unwrap_or_else(|| panic!("expected host:port, got {addr}"));
    (h.to_string(), p.parse().unwrap_or_else(|_| panic!("bad port in {addr}")))
}

fn resolve(var: &str, name: &str, port: u16, cell: &'static OnceLock<(String, u16)>) -> TestServer {
    let (host, port) = cell
        .get_or_init(|| match std::env::var(var) {
            Ok(a) if !a.trim().is_empty() => split_addr(a.trim()),
            _ => start_script(name, port),
        })
        .clone();
    TestServer { host, port }
}

/// The FULL-metadata server (`CDC_TEST_MARIADB`, else `scripts/test-mariadb start` on port
/// 33061 shifted by `CDC_TEST_PORT_BASE`).
pub async fn server() -> TestServer {
    static CELL: OnceLock<(String, u16)> = OnceLock::new();
    tokio::task::spawn_blocking(|| resolve("CDC_TEST_MARIADB", "full", 33061, &CELL)).await.expect("start server")
}

/// The MINIMAL-metadata server (`CDC_TEST_MARIADB_MINIMAL`, else
/// `scripts/test-mariadb start --name minimal` on port 33062 shifted by `CDC_TEST_PORT_BASE`).
pub async fn server_minimal() -> TestServer {
    static CELL: OnceLock<(String, u16)> = OnceLock::new();
    tokio::task::spawn_blocking(|| resolve("CDC_TEST_MARIADB_MINIMAL", "minimal", 33062, &CELL))
        .await
        .expect("start server")
}

/// The NO_LOG-metadata server (`CDC_TEST_MARIADB_NOLOG`, else
/// `scripts/test-mariadb start --name nolog` on port 33063 shifted by `CDC_TEST_PORT_BASE`): its
/// TABLE_MAP events carry no column names, signedness, charsets, ENUM/SET labels or primary
/// key, so all of them come from `information_schema`.
pub async fn server_nolog() -> TestServer {
    static CELL: OnceLock<(String, u16)> = OnceLock::new();
    tokio::task::spawn_blocking(|| resolve("CDC_TEST_MARIADB_NOLOG", "nolog", 33063, &CELL))
        .await
        .expect("start server")
}

static SERVER_IDS: OnceLock<AtomicU32> = OnceLock::new();

/// A replica server_id unique within this process and very likely across processes.
pub fn unique_server_id() -> u32 {
    SERVER_IDS
        .get_or_init(|| AtomicU32::new(100_000 + rand::random::<u32>() % 1_000_000_000))
        .fetch_add(1, Ordering::Relaxed)
}

/// `port` shifted by `CDC_TEST_PORT_BASE - 33061` (0 when unset): the port a dedicated
/// instance really listens on.
pub fn dedicated_port(port: u16) -> u16 {
    let base: i32 = std::env::var("CDC_TEST_PORT_BASE").ok().and_then(|v| v.parse().ok()).unwrap_or(33061);
    u16::try_from(i32::from(port) + base - 33061).expect("CDC_TEST_PORT_BASE moves dedicated ports out of range")
}

impl TestServer {
    /// Starts (idempotently) a MariaDB instance of the calling test's own,
    /// `scripts/test-mariadb start --name <name> --port <port>`, for tests that stop the server
    /// or need it idle or differently configured. Blocking: call it through `spawn_blocking`
    /// from async tests.
    ///
    /// `port` is shifted by `CDC_TEST_PORT_BASE - 33061` when that variable is set, so two
    /// checkouts' suites can run side by side (see [`dedicated_port`]).
    pub fn dedicated(name: &str, port: u16) -> TestServer {
        let port = dedicated_port(port);
        test_mariadb(&["start", "--name", name, "--port", &port.to_string()]);
        TestServer { host: "127.0.0.1".into(), port }
    }

    /// mysql_async options for `user`.
    pub fn opts(&self, user: &str, password: &str) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(password))
            .prefer_socket(false)
            .into()
    }

    /// A pool of connections as `cdc_admin`.
    pub fn admin_pool(&self) -> mysql_async::Pool {
        mysql_async::Pool::new(self.opts(ADMIN_USER, ADMIN_PASSWORD))
    }

    /// One connection as `cdc_admin`, client charset utf8mb4.
    pub async fn admin_conn(&self) -> mysql_async::Conn {
        let mut c = mysql_async::Conn::new(self.opts(ADMIN_USER, ADMIN_PASSWORD)).await.expect("admin connection");
        c.query_drop("SET NAMES utf8mb4").await.expect("SET NAMES");
        c
    }

    /// A source configuration for `cdc_repl` with a fresh server_id, logical name `name`,
    /// heartbeat 500 ms and fast reconnects (50 ms → 1 s).
    pub fn source_config(&self, name: &str) -> SourceConfig {
        let mut c = SourceConfig::new(self.host.clone(), self.port, REPL_USER, REPL_PASSWORD);
        c.server_id = unique_server_id();
        c.name = name.to_string();
        c.heartbeat_ms = 500;
        c.reconnect_min_ms = 50;
        c.reconnect_max_ms = 1000;
        c
    }

    /// [`Self::source_config`] capturing only `schema`, with the schema history at `history`
    /// as the schema provider (what the collector uses where the binlog carries no column
    /// metadata).
    pub fn source_config_with_history(&self, name: &str, schema: &str, history: &std::path::Path) -> SourceConfig {
        let mut c = self.source_config(name);
        c.schemas = vec![schema.to_owned()];
        let provider = cdc_core::schema_history::HistoryProvider::new(history, vec![schema.to_owned()]);
        c.schema_provider = Some(std::sync::Arc::new(tokio::sync::Mutex::new(Box::new(provider))));
        c
    }

    /// What most source tests begin with: a fresh schema `<prefix>_<random>`, a source
    /// (logical name `prefix`, [`Self::source_config`]) capturing only that schema, started at
    /// the end of the binlog, and an admin connection. Returns (schema, source, connection).
    pub async fn capture_fresh_schema(&self, prefix: &str) -> (String, RunningSource, mysql_async::Conn) {
        let db = self.fresh_schema(prefix).await;
        let mut cfg = self.source_config(prefix);
        cfg.schemas = vec![db.clone()];
        let src = start_source(cfg, cdc_core::position::StartPosition::Latest).await;
        (db, src, self.admin_conn().await)
    }

    /// Creates a database named `<prefix>_<random>` and returns its name.
    pub async fn fresh_schema(&self, prefix: &str) -> String {
        let name = format!("{prefix}_{:08x}", rand::random::<u32>());
        let mut c = self.admin_conn().await;
        c.query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4")).await.expect("create schema");
        name
    }
}

/// Receives messages until `n` row events arrived or `timeout` passed; returns every message
/// received (events, commits, heartbeats), in order.
pub async fn collect_messages(
    rx: &mut mpsc::Receiver<SourceMessage>,
    n: usize,
    timeout: Duration,
) -> Vec<SourceMessage> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    let mut events = 0;
    while events < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                if let SourceMessage::Events(v) = &m {
                    events += v.len();
                }
                out.push(m);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Receives until `n` row events arrived or `timeout` passed; returns the events only.
pub async fn collect_events(
    rx: &mut mpsc::Receiver<SourceMessage>,
    n: usize,
    timeout: Duration,
) -> Vec<cdc_core::event::ChangeEvent> {
    collect_messages(rx, n, timeout)
        .await
        .into_iter()
        .flat_map(|m| match m {
            SourceMessage::Events(v) => v,
            _ => Vec::new(),
        })
        .collect()
}

/// Receives until a Commit arrives after at least `n` events (or `timeout`), returning all
/// messages.
pub async fn collect_until_commit(
    rx: &mut mpsc::Receiver<SourceMessage>,
    n: usize,
    timeout: Duration,
) -> Vec<SourceMessage> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut out = Vec::new();
    let mut events = 0;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(m)) => {
                let commit = matches!(m, SourceMessage::Commit(_));
                if let SourceMessage::Events(v) = &m {
                    events += v.len();
                }
                out.push(m);
                if commit && events >= n {
                    return out;
                }
            }
            Ok(None) | Err(_) => return out,
        }
    }
}

/// A source running in a task.
#[derive(Debug)]
pub struct RunningSource {
    /// Its output.
    pub rx: mpsc::Receiver<SourceMessage>,
    /// Stops it.
    pub cancel: tokio_util::sync::CancellationToken,
    /// Its task; yields what `run` returned.
    pub handle: tokio::task::JoinHandle<Result<(), cdc_core::source::SourceError>>,
    /// The status it reports to.
    pub status: cdc_core::status::Status,
    /// Where it started.
    pub start: cdc_core::checkpoint::Checkpoint,
}

impl RunningSource {
    /// Cancels the source and returns what `run` returned.
    pub async fn stop(self) -> Result<(), cdc_core::source::SourceError> {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("source stops within 10 s")
            .expect("source task")
    }
}

/// Resolves `start` and runs a source with `config` from there (channel capacity 1024).
pub async fn start_source(config: SourceConfig, start: cdc_core::position::StartPosition) -> RunningSource {
    let status = cdc_core::status::Status::new();
    let source = cdc_core::source::BinlogSource::new(config, status.clone());
    let cp = source.resolve_start(&start).await.expect("resolve start");
    start_source_at(source, cp, status).await
}

/// Runs `source` from checkpoint `cp` (channel capacity 1024).
pub async fn start_source_at(
    source: cdc_core::source::BinlogSource,
    cp: cdc_core::checkpoint::Checkpoint,
    status: cdc_core::status::Status,
) -> RunningSource {
    start_source_with_capacity(source, cp, status, 1024).await
}

/// Runs `source` from checkpoint `cp` with a channel of `capacity` messages.
pub async fn start_source_with_capacity(
    source: cdc_core::source::BinlogSource,
    cp: cdc_core::checkpoint::Checkpoint,
    status: cdc_core::status::Status,
    capacity: usize,
) -> RunningSource {
    let (tx, rx) = mpsc::channel(capacity);
    let cancel = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(source.run(cp.clone(), tx, cancel.clone()));
    // Wait until the dump is registered so statements issued next are streamed.
    for _ in 0..200 {
        if status.snapshot().source == cdc_core::status::StageState::Running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    RunningSource { rx, cancel, handle, status, start: cp }
}

/// Runs SQL statements on `conn`, panicking with the statement on error.
pub async fn exec(conn: &mut mysql_async::Conn, statements: &[&str]) {
    for s in statements {
        conn.query_drop(*s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}
