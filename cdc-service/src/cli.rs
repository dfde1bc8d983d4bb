//! The command line and the five subcommands:
//!
//! - `run` (the default): the collector, until SIGTERM/SIGINT;
//! - `validate` (also `--validate-only`, the seed's flag): checks the configuration, then the
//!   database (reachability, binlog settings, grants, stored position still on the server) and
//!   DataHub (credentials, topic), prints every problem found one per line, and warnings
//!   (`WARNING: …`, which do not fail it: unknown settings, and on OceanBase the captured columns
//!   its binlog service's value faults can corrupt, [`BinlogSource::value_warnings`]);
//! - `healthcheck`: `GET http://127.0.0.1:$MONITORING_PORT/health/live`, for Docker's
//!   `HEALTHCHECK` on images without curl;
//! - `tail`: change events as JSON lines on stdout, straight from the binlog (no DataHub, no
//!   checkpoint);
//! - `snapshot DB.TABLE …`: marks tables to be snapshotted again at the next start (the
//!   collector stopped; see [`crate::resnapshot`]).
//!
//! Exit codes: 0 success, 1 failure (a problem found, a fatal pipeline error, no drain within
//! the grace period), 2 invalid configuration or usage.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cdc_core::checkpoint::{FileOffsetStore, MemoryOffsetStore, OffsetStore};
use cdc_core::pipeline::{self, PipelineConfig, PipelineError};
use cdc_core::position::{Resume, StartPosition};
use cdc_core::sink::{is_closed_pipe, JsonLinesSink};
use cdc_core::snapshot::{SnapshotConfig, SnapshotThenStream};
use cdc_core::source::{BinlogSource, ChangeSource, SourceError};
use cdc_core::status::Status;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::{self, LogFormat, Purpose, ServiceConfig};
use crate::service;

/// `cdc-collector`: binlog change data capture to Alibaba Cloud DataHub.
///
/// Configuration comes from environment variables (DATABASE_*, DATAHUB_*, RETRY_*,
/// MONITORING_PORT, LOG_LEVEL, CDC_*) over an optional TOML file over defaults.
#[derive(Debug, Parser)]
#[command(name = "cdc-collector", version, about)]
pub struct Cli {
    /// TOML configuration file; keys are the variable names in lower case
    /// (`database_host = "db"`). Environment variables override it.
    #[arg(long, global = true, env = "CDC_CONFIG_FILE", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Same as the `validate` subcommand (with its default timeout): check and exit.
    #[arg(long)]
    pub validate_only: bool,
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses `args` (program name first) as [`Parser::try_parse_from`] does, and refuses
    /// `--validate-only` together with a subcommand other than `validate`.
    ///
    /// Errors: clap's usage error (exit code 2 through [`clap::Error::exit`]).
    pub fn try_parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Self::try_parse_from(args)?;
        if cli.validate_only && !matches!(cli.command, None | Some(Command::Validate { .. })) {
            let message = "`--validate-only` is the `validate` subcommand; it cannot go with another subcommand";
            return Err(
                <Self as clap::CommandFactory>::command().error(clap::error::ErrorKind::ArgumentConflict, message)
            );
        }
        Ok(cli)
    }

    /// The subcommand to run: the one given, `validate` for `--validate-only`, else `run`.
    pub fn chosen(&self) -> Command {
        match (&self.command, self.validate_only) {
            (Some(c), _) => c.clone(),
            (None, true) => Command::Validate { timeout_ms: DEFAULT_VALIDATE_TIMEOUT_MS },
            (None, false) => Command::Run,
        }
    }
}

/// `validate --timeout-ms` default: longest wait for each remote check, ms.
pub const DEFAULT_VALIDATE_TIMEOUT_MS: u64 = 15_000;

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the collector (default): binlog → DataHub, with /health and /metrics.
    Run,
    /// Check the configuration, the database and DataHub; print every problem found.
    Validate {
        /// Longest wait for each remote check, ms.
        #[arg(long, default_value_t = DEFAULT_VALIDATE_TIMEOUT_MS)]
        timeout_ms: u64,
    },
    /// Exit 0 when /health/live of the local collector answers 200, else 1.
    Healthcheck {
        /// Longest wait for the answer, ms.
        #[arg(long, default_value_t = 3_000)]
        timeout_ms: u64,
    },
    /// Print change events as JSON lines on stdout (source only: no DataHub, no checkpoint).
    Tail,
    /// Mark tables (`db.table`) to be snapshotted again at the next start, for repair after a
    /// downstream loss; the collector must be stopped. Every other table keeps its position.
    Snapshot {
        /// The tables, as `db.table`.
        #[arg(required = true)]
        tables: Vec<String>,
    },
}

/// Parses the process arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli))
}

/// Runs `cli`'s subcommand; returns the process exit code.
pub async fn dispatch(cli: Cli) -> ExitCode {
    let env: HashMap<String, String> = std::env::vars().collect();
    let file = cli.config.as_deref();
    match cli.chosen() {
        Command::Run => match load_or_report(&env, file, Purpose::Run) {
            Ok(cfg) => {
                init_logging(&cfg);
                for k in config::unknown_env_keys(&env) {
                    warn!(variable = %k, "Not a setting of cdc-collector (misspelt?); ignored.");
                }
                code(service::run(cfg).await)
            }
            Err(code) => code,
        },
        Command::Validate { timeout_ms } => validate(&env, file, Duration::from_millis(timeout_ms)).await,
        Command::Healthcheck { timeout_ms } => healthcheck(&env, file, Duration::from_millis(timeout_ms)).await,
        Command::Snapshot { tables } => match load_or_report(&env, file, Purpose::SourceOnly) {
            Ok(cfg) => crate::resnapshot::mark_for_snapshot(&cfg, &tables),
            Err(code) => code,
        },
        Command::Tail => match load_or_report(&env, file, Purpose::SourceOnly) {
            Ok(cfg) => {
                init_logging(&cfg);
                code(tail(cfg).await)
            }
            Err(code) => code,
        },
    }
}

fn code(res: anyhow::Result<()>) -> ExitCode {
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = format!("{e:#}"), "Stopped on a fatal error.");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the configuration or prints every problem (one per line) and returns exit code 2.
fn load_or_report(
    env: &HashMap<String, String>,
    file: Option<&Path>,
    purpose: Purpose,
) -> Result<ServiceConfig, ExitCode> {
    config::load_from(env, file, purpose).map_err(|errors| {
        let n = errors.0.len();
        eprintln!("invalid configuration ({n} problem{}):", if n == 1 { "" } else { "s" });
        for e in &errors.0 {
            eprintln!("  {e}");
        }
        ExitCode::from(2)
    })
}

/// Installs the global tracing subscriber: `LOG_LEVEL` as the default level (`RUST_LOG`
/// directives, when set, refine it per module), text or JSON (`CDC_LOG_FORMAT`), on stderr.
pub fn init_logging(cfg: &ServiceConfig) {
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::from_level(cfg.log_level).into())
        .parse_lossy(std::env::var("RUST_LOG").unwrap_or_default());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let res = match cfg.log_format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(e) = res {
        eprintln!("warning: logging already initialised: {e}");
    }
}

/// `healthcheck`: GET /health/live on the local monitoring port.
async fn healthcheck(env: &HashMap<String, String>, file: Option<&Path>, timeout: Duration) -> ExitCode {
    let port = match config::monitoring_port_from(env, file) {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("healthcheck: {errors}");
            return ExitCode::from(2);
        }
    };
    match probe_live(port, timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("healthcheck: {why}");
            ExitCode::FAILURE
        }
    }
}

/// GET `http://127.0.0.1:{port}/health/live` within `timeout`; Ok on HTTP 200.
///
/// Errors: a message saying what failed (no answer, or the status and body).
pub async fn probe_live(port: u16, timeout: Duration) -> Result<(), String> {
    let url = format!("http://127.0.0.1:{port}/health/live");
    let client = reqwest::Client::builder().timeout(timeout).no_proxy().build().map_err(|e| e.to_string())?;
    let res = client.get(&url).send().await.map_err(|e| format!("{url}: no answer: {e}"))?;
    let status = res.status();
    if status.is_success() {
        Ok(())
    } else {
        let body = res.text().await.unwrap_or_default();
        Err(format!("{url}: HTTP {status}: {}", body.chars().take(200).collect::<String>()))
    }
}

/// `validate`: every problem, one per line on stdout; exit 1 when any.
async fn validate(env: &HashMap<String, String>, file: Option<&Path>, timeout: Duration) -> ExitCode {
    let partial = config::load_partial_from(env, file, Purpose::Run);
    let mut problems: Vec<String> = partial.errors.0.iter().map(|e| format!("config: {e}")).collect();
    let mut checked: Vec<String> = Vec::new();
    // Printed whatever the outcome; they do not fail validation.
    let mut warnings: Vec<String> = Vec::new();
    let unknown = config::unknown_env_keys(env);

    // The captured tables' topics are checked only against a database that answered.
    let mut database_ok = false;
    match &partial.database {
        Some(db) => {
            let where_ = format!("{}:{}", db.host, db.port);
            let source = BinlogSource::new(db.source_config(), Status::new());
            // The precheck of the source `run` would use (the snapshot's checks included).
            let mode = partial.full.as_ref().map(|c| c.snapshot_mode).unwrap_or_default();
            let checked_source =
                SnapshotThenStream::new(source.clone(), mode, validate_snapshot(&partial), Status::new());
            let checked_db = tokio::time::timeout(timeout, ChangeSource::precheck(&checked_source)).await;
            // The server answered (its precheck passed or listed problems).
            let reachable = matches!(checked_db, Ok(Ok(())) | Ok(Err(SourceError::Precheck(_))));
            match checked_db {
                Err(_) => problems.push(format!("database: no answer from {where_} within {} ms", timeout.as_millis())),
                Ok(Err(SourceError::Precheck(list))) => {
                    problems.extend(list.0.iter().map(|p| format!("database: {p}")));
                }
                Ok(Err(e)) => problems.push(format!("database: {where_}: {e}")),
                Ok(Ok(())) => {
                    database_ok = true;
                    checked.push(format!("database {where_}: reachable, binlog settings and grants OK"));
                    check_positions(&source, partial.full.as_ref(), timeout, &mut problems, &mut checked).await;
                }
            }
            // OceanBase: the columns its binlog service's value faults can corrupt, also when the
            // precheck found problems (they are independent of them).
            if reachable {
                match tokio::time::timeout(timeout, source.value_warnings()).await {
                    Err(_) => warnings.push(format!(
                        "database: the columns at risk of OceanBase value faults were not listed: no answer from \
                         {where_} within {} ms",
                        timeout.as_millis()
                    )),
                    Ok(Err(e)) => warnings
                        .push(format!("database: the columns at risk of OceanBase value faults were not listed: {e}")),
                    Ok(Ok(list)) => warnings.extend(list.iter().map(|p| format!("database: {p}"))),
                }
            }
        }
        None => problems.push("database: not checked (fix the DATABASE_* settings above first)".into()),
    }

    match &partial.datahub {
        Some(dh) => {
            let retry = partial.full.as_ref().map(|c| c.retry).unwrap_or(config::RetrySettings {
                max_attempts: 1,
                backoff: Duration::from_millis(cdc_core::retry::RetryPolicy::DEFAULT.backoff_ms),
            });
            let batch = partial.full.as_ref().map(|c| c.batch).unwrap_or_default();
            let mut dcfg = dh.datahub_config(&retry, &batch);
            // One attempt: validate reports, it does not wait out outages.
            dcfg.retry.max_attempts = 1;
            let target = format!("{} project {} topic {}", dh.endpoint, dh.project, dh.routing);
            let topics = dh.topics_config();
            let check = async {
                let client = cdc_core::datahub::DataHubClient::new(&dcfg).map_err(|e| e.to_string())?;
                client.get_project(&dcfg.project).await.map_err(|e| e.to_string())?;
                // The captured tables, when the database settings are usable: each one's topic
                // is checked (exists or will be created, fits its table, no TUPLE topic shared).
                let Some(db) = partial.database.as_ref().filter(|_| database_ok) else {
                    return Ok(cdc_core::datahub::multi::inspect(&dcfg, &topics, None, &[]).await);
                };
                let scfg = db.source_config();
                let pool = cdc_core::datahub::multi::schema_pool(&scfg);
                let signal = cdc_core::snapshot::signal_table_of(&validate_snapshot(&partial), &scfg);
                let tables = crate::service::list_tables(&pool, &scfg, signal.as_ref())
                    .await
                    .map_err(|e| format!("listing tables: {e}"))?;
                let found = cdc_core::datahub::multi::inspect(&dcfg, &topics, Some(&pool), &tables).await;
                let _ = pool.disconnect().await;
                Ok::<_, String>(found)
            };
            match tokio::time::timeout(timeout, check).await {
                Err(_) => {
                    problems.push(format!("datahub: no answer from {} within {} ms", dh.endpoint, timeout.as_millis()))
                }
                Ok(Err(e)) => problems.push(format!("datahub: {e}")),
                Ok(Ok(found)) => {
                    checked.push(format!("datahub {target}: credentials accepted"));
                    checked.extend(found.ok.into_iter().map(|o| format!("datahub: {o}")));
                    problems.extend(found.problems.into_iter().map(|p| format!("datahub: {p}")));
                }
            }
        }
        None => problems.push("datahub: not checked (fix the DATAHUB_* settings above first)".into()),
    }

    let out = std::io::stdout();
    let mut out = out.lock();
    for k in &unknown {
        let _ = writeln!(out, "WARNING: {k} is not a setting of cdc-collector (misspelt?); it is ignored");
    }
    for w in &warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    if problems.is_empty() {
        let _ = writeln!(out, "OK: configuration valid");
        for c in &checked {
            let _ = writeln!(out, "OK: {c}");
        }
        ExitCode::SUCCESS
    } else {
        for c in &checked {
            let _ = writeln!(out, "OK: {c}");
        }
        for p in &problems {
            let _ = writeln!(out, "PROBLEM: {p}");
        }
        let _ = writeln!(out, "{} problem(s) found", problems.len());
        ExitCode::FAILURE
    }
}

/// The snapshot settings `validate` checks with: the configuration's, or the defaults when it
/// is incomplete.
fn validate_snapshot(partial: &config::PartialConfig) -> SnapshotConfig {
    partial.full.as_ref().map_or_else(|| SnapshotConfig::new("validate"), |c| c.snapshot_config("validate"))
}

/// The stored checkpoint (if any) or the configured start position must still be on the server.
async fn check_positions(
    source: &BinlogSource,
    cfg: Option<&ServiceConfig>,
    timeout: Duration,
    problems: &mut Vec<String>,
    checked: &mut Vec<String>,
) {
    let Some(cfg) = cfg else { return };
    let store = FileOffsetStore::new(&cfg.offset_path);
    let (start, what) = match store.load() {
        Err(e) => {
            problems.push(format!("offsets: {e}"));
            return;
        }
        Ok(Some(cp)) => (
            match &cp.resume {
                Resume::Position { position, .. } => StartPosition::At(position.clone()),
                Resume::Gtid { gtid_set } => StartPosition::Gtid(gtid_set.clone()),
            },
            format!("stored checkpoint {} ({})", cp.resume, cfg.offset_path.display()),
        ),
        Ok(_) => (cfg.start_position.clone(), format!("CDC_START_POSITION {:?}", cfg.start_position)),
    };
    match tokio::time::timeout(timeout, source.resolve_start(&start)).await {
        Err(_) => problems.push(format!("database: no answer resolving {what} within {} ms", timeout.as_millis())),
        Ok(Err(e)) => problems.push(format!("database: {what}: {e}")),
        Ok(Ok(cp)) => checked.push(format!("{what}: available, streaming would start at {}", cp.resume)),
    }
}

/// `tail`: the pipeline with the JSON-lines sink on stdout (flushed per batch, so a pipe shows
/// changes as they happen) and an in-memory checkpoint, until SIGINT/SIGTERM or a closed pipe.
async fn tail(cfg: ServiceConfig) -> anyhow::Result<()> {
    let status = Status::new();
    let source = BinlogSource::new(cfg.source_config(), status.clone());
    let pcfg = PipelineConfig {
        start: cfg.start_position.clone(),
        batch: cfg.batch,
        channel_capacity: cfg.queue_capacity,
        ..PipelineConfig::default()
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        let sig = service::shutdown_signal().await;
        info!(signal = sig, "Stopping.");
        stop.cancel();
    });
    let offsets = MemoryOffsetStore::new();
    match pipeline::run(source, JsonLinesSink::stdout(), offsets, pcfg, status, cancel).await {
        Ok(()) => Ok(()),
        // `tail | head`: the reader went away; nothing is lost (nothing is checkpointed).
        Err(PipelineError::Sink(e)) if is_closed_pipe(&e) => Ok(()),
        Err(e) => Err(e).context("tail (with CDC_START_POSITION and DATABASE_* as configured)"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Cli, Command, DEFAULT_VALIDATE_TIMEOUT_MS};

    fn command(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_args(args).map(|c| c.chosen())
    }

    #[test]
    fn validate_only_is_the_validate_subcommand() {
        let want = Command::Validate { timeout_ms: DEFAULT_VALIDATE_TIMEOUT_MS };
        assert_eq!(format!("{:?}", command(&["cdc-collector", "--validate-only"]).unwrap()), format!("{want:?}"));
        assert_eq!(format!("{:?}", command(&["cdc-collector", "validate"]).unwrap()), format!("{want:?}"));
        assert!(matches!(command(&["cdc-collector"]).unwrap(), Command::Run));
        // With a subcommand it is a usage error, not silently one or the other.
        assert!(command(&["cdc-collector", "--validate-only", "run"]).is_err());
        assert!(command(&["cdc-collector", "--validate-only", "tail"]).is_err());
        // Global options still go before a subcommand.
        assert!(matches!(command(&["cdc-collector", "--config", "c.toml", "tail"]).unwrap(), Command::Tail));
    }
}
