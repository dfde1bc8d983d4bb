//! `oceanbase-emulator` binary: serves an emulated OceanBase binlog service behind ODP, in
//! front of a real MariaDB (see the crate README), until Ctrl-C/SIGTERM.
//!
//! ```text
//! oceanbase-emulator --listen 127.0.0.1:2883 --upstream-host 127.0.0.1 --upstream-port 3306 \
//!     --upstream-user cdc_repl --upstream-password PW [--heartbeat-ms 1000] [--restart-every-s N] \
//!     [--data-dir DIR] [--max-binlog-size BYTES] [--disable QUIRK]... [--enable QUIRK]...
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use oceanbase_emulator::{Config, Emulator, Quirk};

/// An OceanBase (MySQL mode) binlog service + ODP stand-in in front of a MariaDB.
#[derive(Parser)]
#[command(name = "oceanbase-emulator", version, about)]
struct Args {
    /// Address to listen on, as ODP's port 2883 (port 0 = any free port; the bound address is
    /// printed on stdout).
    #[arg(long, env = "OCEANBASE_EMULATOR_LISTEN", default_value = "127.0.0.1:2883")]
    listen: SocketAddr,
    /// Upstream MariaDB host (the OBServer stand-in).
    #[arg(long, env = "OCEANBASE_EMULATOR_UPSTREAM_HOST", default_value = "127.0.0.1")]
    upstream_host: String,
    /// Upstream MariaDB port.
    #[arg(long, env = "OCEANBASE_EMULATOR_UPSTREAM_PORT", default_value_t = 3306)]
    upstream_port: u16,
    /// Upstream user (REPLICATION SLAVE, REPLICATION CLIENT, SELECT); clients log in as it.
    #[arg(long, env = "OCEANBASE_EMULATOR_UPSTREAM_USER")]
    upstream_user: String,
    /// Its password (prefer the environment variable).
    #[arg(long, env = "OCEANBASE_EMULATOR_UPSTREAM_PASSWORD", hide_env_values = true)]
    upstream_password: String,
    /// Idle heartbeat period in ms when the client set no `@master_heartbeat_period`.
    #[arg(long, env = "OCEANBASE_EMULATOR_HEARTBEAT_MS", default_value_t = 1000)]
    heartbeat_ms: u64,
    /// Restart the converter every N seconds (inside a transaction when one is being
    /// converted): truncation, new file, table ids and XIDs from 1, dump connections closed.
    #[arg(long, env = "OCEANBASE_EMULATOR_RESTART_EVERY_S")]
    restart_every_s: Option<u64>,
    /// Directory for the converted binlog files (default: a temporary directory). A directory
    /// written before is recovered as after a converter restart.
    #[arg(long, env = "OCEANBASE_EMULATOR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Rotate after the transaction that takes a file past this many bytes.
    #[arg(long, env = "OCEANBASE_EMULATOR_MAX_BINLOG_SIZE", default_value_t = 500 << 20)]
    max_binlog_size: u64,
    /// Events appended between two updates of SHOW MASTER STATUS (quirk master-status-lag).
    #[arg(long, default_value_t = 3)]
    status_batch_events: usize,
    /// Events per dump batch (a heartbeat follows each with quirk heartbeat-per-batch).
    #[arg(long, default_value_t = 8)]
    dump_batch_events: usize,
    /// Switch a quirk off (repeatable); all are on by default except `unsigned-bigint-atoll`
    /// and `bit-atoi` (value faults fixed in oblogproxy v2.0.1_BP2).
    #[arg(long = "disable", value_enum)]
    disable: Vec<Quirk>,
    /// Switch a quirk on (repeatable): `unsigned-bigint-atoll` and `bit-atoi` reproduce
    /// oblogproxy v2.0.1_BP1 and older. Applied after `--disable`.
    #[arg(long = "enable", value_enum)]
    enable: Vec<Quirk>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "oceanbase_emulator=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    let mut cfg = Config::new(a.upstream_host, a.upstream_port, a.upstream_user, a.upstream_password);
    cfg.listen = a.listen;
    cfg.heartbeat = Duration::from_millis(a.heartbeat_ms.max(1));
    cfg.restart_every = a.restart_every_s.map(Duration::from_secs);
    cfg.data_dir = a.data_dir;
    cfg.max_binlog_size = a.max_binlog_size;
    cfg.status_batch_events = a.status_batch_events;
    cfg.dump_batch_events = a.dump_batch_events;
    for q in a.disable {
        cfg.quirks.remove(&q);
    }
    cfg.quirks.extend(a.enable);
    let emu = Emulator::start(cfg).await.context("start the emulator")?;
    println!("listening on {}", emu.local_addr());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    emu.shutdown();
    Ok(())
}
