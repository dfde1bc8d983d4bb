//! `tail`: prints every row change of a MySQL/MariaDB binlog as one JSON line (the event
//! contract, `ChangeEvent::to_json_bytes`), starting at the current end of the binlog.
//!
//! ```text
//! cargo run -p cdc-examples --example tail -- --host 127.0.0.1 --port 33061 --user cdc_repl --password cdc_repl_pw
//! ```
//!
//! Every option can also come from the environment (`CDC_MYSQL_HOST`, `CDC_MYSQL_PORT`,
//! `CDC_MYSQL_USER`, `CDC_MYSQL_PASSWORD`, `CDC_SERVER_ID`, `CDC_SCHEMAS`, `CDC_TABLES`).
//! Stops on Ctrl-C. The password is never printed.

use anyhow::Context as _;
use cdc_core::checkpoint::MemoryOffsetStore;
use cdc_core::pipeline::{self, PipelineConfig, PipelineError};
use cdc_core::position::StartPosition;
use cdc_core::sink::{is_closed_pipe, JsonLinesSink};
use cdc_core::source::{BinlogSource, SourceConfig};
use cdc_core::status::Status;
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "Print binlog row changes as JSON lines")]
struct Args {
    /// Server host.
    #[arg(long, env = "CDC_MYSQL_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, env = "CDC_MYSQL_PORT", default_value_t = 3306)]
    port: u16,
    /// Replication user.
    #[arg(long, env = "CDC_MYSQL_USER")]
    user: String,
    /// Its password.
    #[arg(long, env = "CDC_MYSQL_PASSWORD", hide_env_values = true)]
    password: String,
    /// server_id to register with (unique among the server's replicas).
    #[arg(long, env = "CDC_SERVER_ID", default_value_t = 5799)]
    server_id: u32,
    /// Schemas to capture (comma-separated; default all).
    #[arg(long, env = "CDC_SCHEMAS", value_delimiter = ',')]
    schemas: Vec<String>,
    /// Table selectors: `t`, `db.t` or regexes (comma-separated; default all).
    #[arg(long, env = "CDC_TABLES", value_delimiter = ',')]
    tables: Vec<String>,
    /// Where to start: `latest`, `earliest`, `file:pos` or a GTID set.
    #[arg(long, default_value = "latest")]
    start: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = SourceConfig::new(args.host, args.port, args.user, args.password);
    cfg.server_id = args.server_id;
    cfg.name = "tail".into();
    cfg.schemas = args.schemas;
    cfg.tables = args.tables;
    let start: StartPosition = args.start.parse().map_err(anyhow::Error::msg)?;
    let status = Status::new();
    let source = BinlogSource::new(cfg, status.clone());
    let pcfg = PipelineConfig { start, ..PipelineConfig::default() };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    // The library's JSON-lines sink flushes every batch; the checkpoint lives in memory.
    match pipeline::run(source, JsonLinesSink::stdout(), MemoryOffsetStore::new(), pcfg, status, cancel).await {
        Err(PipelineError::Sink(e)) if is_closed_pipe(&e) => Ok(()),
        other => other.context("tail"),
    }
}
