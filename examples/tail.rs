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

use std::io::Write as _;

use anyhow::Context as _;
use cdc_core::position::StartPosition;
use cdc_core::source::{BinlogSource, SourceConfig, SourceMessage};
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
    let source = BinlogSource::new(cfg, Status::new());
    source.precheck().await.context("precheck")?;
    let from = source.resolve_start(&start).await.context("resolving the start position")?;
    eprintln!("tail: streaming from {}", from.resume);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let run = tokio::spawn(source.run(from, tx, cancel.clone()));
    let stop = cancel.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    let stdout = std::io::stdout();
    while let Some(msg) = rx.recv().await {
        if let SourceMessage::Events(events) = msg {
            let mut out = stdout.lock();
            for ev in events {
                let mut line = ev.to_json_bytes();
                line.push(b'\n');
                out.write_all(&line)?;
            }
            out.flush()?;
        }
    }
    run.await?.context("binlog source")?;
    Ok(())
}
