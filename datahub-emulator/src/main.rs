//! `datahub-emulator` binary: serves a local DataHub (see the crate README) until Ctrl-C/SIGTERM.
//!
//! ```text
//! datahub-emulator --listen 127.0.0.1:9090 --project p --topic t --shards 4 \
//!     --access-id ID --access-key KEY [--topics-file topics.json] [--jsonl out.jsonl] [--fault JSON]...
//!     [--seal PROJECT/TOPIC/SHARD]...
//! ```

/// mimalloc, as the collector: request buffers and records are allocated and freed across the
/// server's worker threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use datahub_emulator::{Emulator, EmulatorConfig, FaultRule, Faults, ProjectSpec, TopicSpec};

/// A local Alibaba Cloud DataHub for development and tests.
#[derive(Parser)]
#[command(name = "datahub-emulator", version, about)]
struct Args {
    /// Address to listen on (port 0 = any free port).
    #[arg(long, env = "DATAHUB_EMULATOR_LISTEN", default_value = "127.0.0.1:9090")]
    listen: SocketAddr,
    /// Project holding the --topic topic.
    #[arg(long, env = "DATAHUB_EMULATOR_PROJECT", default_value = "test_project")]
    project: String,
    /// A BLOB topic to create in --project (omit it to start with no topics; clients can create
    /// them with CreateTopic).
    #[arg(long, env = "DATAHUB_EMULATOR_TOPIC")]
    topic: Option<String>,
    /// Shard count of --topic.
    #[arg(long, env = "DATAHUB_EMULATOR_SHARDS", default_value_t = 1)]
    shards: u32,
    /// Accepted AccessKeyId.
    #[arg(long, env = "DATAHUB_EMULATOR_ACCESS_ID")]
    access_id: String,
    /// Accepted AccessKeySecret (prefer the environment variable).
    #[arg(long, env = "DATAHUB_EMULATOR_ACCESS_KEY", hide_env_values = true)]
    access_key: String,
    /// JSON file with more projects: `[{"name","comment","topics":[{"name","shard_count",
    /// "record_type":{"type":"BLOB"} | {"type":"TUPLE","fields":[{"name","type","notnull"}]},
    /// "lifecycle","comment"}]}]`.
    #[arg(long, env = "DATAHUB_EMULATOR_TOPICS_FILE")]
    topics_file: Option<PathBuf>,
    /// Append every stored record to this file as a JSON line.
    #[arg(long, env = "DATAHUB_EMULATOR_JSONL")]
    jsonl: Option<PathBuf>,
    /// A fault rule as JSON (repeatable), e.g.
    /// `{"op":"PutRecords","kind":"error","code":"LimitExceeded","times":{"next":3}}`.
    #[arg(long = "fault")]
    faults: Vec<String>,
    /// Start with this shard CLOSED, as `PROJECT/TOPIC/SHARD_ID` (repeatable).
    #[arg(long = "seal")]
    seal: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut projects = vec![ProjectSpec {
        name: args.project.clone(),
        comment: "datahub-emulator project".to_owned(),
        topics: args.topic.iter().map(|t| TopicSpec::blob(t, args.shards)).collect(),
    }];
    if let Some(path) = &args.topics_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let more: Vec<ProjectSpec> =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for p in more {
            match projects.iter_mut().find(|x| x.name.eq_ignore_ascii_case(&p.name)) {
                Some(existing) => existing.topics.extend(p.topics),
                None => projects.push(p),
            }
        }
    }
    let rules = args
        .faults
        .iter()
        .map(|f| serde_json::from_str::<FaultRule>(f).with_context(|| format!("parsing --fault {f}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sealed_shards = args
        .seal
        .iter()
        .map(|s| match s.split('/').collect::<Vec<_>>().as_slice() {
            [p, t, id] => Ok(((*p).to_owned(), (*t).to_owned(), (*id).to_owned())),
            _ => Err(anyhow::anyhow!("--seal {s}: expected PROJECT/TOPIC/SHARD_ID")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cfg = EmulatorConfig {
        accounts: vec![(args.access_id, args.access_key)],
        projects,
        jsonl_path: args.jsonl,
        faults: Faults { rules, sealed_shards },
    };
    let emu = Emulator::start(cfg, args.listen).await?;
    println!("{}", emu.endpoint());
    shutdown_signal().await;
    tracing::info!("shutting down");
    emu.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
