//! `run`: the collector's lifecycle around [`cdc_core::pipeline::run`].
//!
//! Order of start: Prometheus recorder (with upkeep), the monitoring HTTP server, then the
//! DataHub sink (retried while unreachable), the binlog source and the pipeline. Order of stop
//! on SIGTERM/SIGINT: readiness turns false ([`Status::begin_shutdown`]), the pipeline's token is
//! cancelled, the pipeline drains what it read and stores its final checkpoint within
//! `CDC_SHUTDOWN_GRACE_MS`, then the HTTP server stops. A second signal aborts the drain.
//!
//! An unreachable database or DataHub never ends the process: the pipeline (and, for the first
//! DataHub connection, [`connect_sink`]) retries with backoff while `/health/ready`
//! says why it is not ready.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cdc_core::checkpoint::FileOffsetStore;
use cdc_core::datahub::multi::{self, TopicRegistry};
use cdc_core::datahub::{DataHubError, MultiTopicSink, TopicsConfig};
use cdc_core::pipeline::{self, PipelineConfig};
use cdc_core::retry::{until_ok, Backoff};
use cdc_core::schema_history::HistoryProvider;
use cdc_core::snapshot::{signal_table_of, SnapshotThenStream, TableId};
use cdc_core::source::BinlogSource;
use cdc_core::source::{SourceConfig, TableFilter};
use cdc_core::status::{StageState, Status};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::ServiceConfig;
use crate::http::{router, AppState};

/// Histogram buckets for every `*_seconds` histogram (request and batch durations), seconds.
pub const SECONDS_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// How often the Prometheus recorder's upkeep (histogram bucket maintenance) runs.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the global Prometheus recorder with [`SECONDS_BUCKETS`] for `*_seconds`.
///
/// Errors: when a global recorder is already installed.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the Prometheus recorder")
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM; returns the signal's name.
pub async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => "SIGINT",
        _ = term => "SIGTERM",
    }
}

/// Binds the monitoring server on `0.0.0.0:port` and serves `state` until `stop` fires.
///
/// Errors: when the port cannot be bound.
pub async fn serve_monitoring(
    port: u16,
    state: AppState,
    stop: CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .with_context(|| format!("binding the monitoring port {port} (MONITORING_PORT)"))?;
    let addr = listener.local_addr().context("monitoring listener address")?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(state)).with_graceful_shutdown(stop.cancelled_owned()).await {
            error!(error = %e, "Monitoring server failed.");
        }
    });
    Ok((addr, task))
}

/// Runs the collector until a signal (then drains) or a fatal error.
///
/// Errors: fatal pipeline errors (message logged), a monitoring port that cannot be bound,
/// fatal DataHub errors at connect (bad credentials, missing topic), or a drain that did not
/// finish within `CDC_SHUTDOWN_GRACE_MS`.
pub async fn run(cfg: ServiceConfig) -> anyhow::Result<()> {
    info!(config = ?cfg, version = crate::http::VERSION, "Starting cdc-collector.");
    let handle = install_metrics()?;
    let status = Status::new();
    let state = AppState::new(status.clone(), Some(handle.clone()), cfg.liveness_timeout);
    let topics = state.topics.clone();

    let http_stop = CancellationToken::new();
    // Background upkeep: histogram maintenance and the events/s sampler.
    {
        let (stop, rate, status) = (http_stop.clone(), state.rate.clone(), status.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut n = 0u64;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                rate.record(Instant::now(), status.snapshot().events_total);
                n += 1;
                if n % UPKEEP_INTERVAL.as_secs() == 0 {
                    handle.run_upkeep();
                }
            }
        });
    }
    let (addr, http_task) = serve_monitoring(cfg.monitoring_port, state, http_stop.clone()).await?;
    info!(%addr, "Serving /health, /health/live, /health/ready and /metrics.");

    let cancel = CancellationToken::new();
    let pipeline_task = {
        let (cfg, status, cancel) = (cfg.clone(), status.clone(), cancel.clone());
        tokio::spawn(async move { run_pipeline(cfg, status, cancel, topics).await })
    };
    tokio::pin!(pipeline_task);

    let result = tokio::select! {
        res = &mut pipeline_task => {
            // Ended on its own: fatal error (or a source that stopped).
            flatten(res)
        }
        sig = shutdown_signal() => {
            info!(signal = sig, grace_ms = cfg.shutdown_grace.as_millis() as u64, "Shutting down: not ready; draining and storing the final checkpoint.");
            status.begin_shutdown();
            cancel.cancel();
            tokio::select! {
                res = tokio::time::timeout(cfg.shutdown_grace, &mut pipeline_task) => match res {
                    Ok(res) => flatten(res),
                    Err(_) => {
                        let committed = status.snapshot().committed.map(|c| c.resume.to_string()).unwrap_or_else(|| "none".into());
                        Err(anyhow::anyhow!(
                            "the pipeline did not drain within CDC_SHUTDOWN_GRACE_MS ({} ms); the last stored checkpoint ({committed}) is kept, events after it will be re-sent on restart",
                            cfg.shutdown_grace.as_millis()
                        ))
                    }
                },
                sig = shutdown_signal() => {
                    warn!(signal = sig, "Second signal: stopping without waiting for the drain.");
                    Err(anyhow::anyhow!("interrupted by a second {sig} before the drain finished"))
                }
            }
        }
    };
    match &result {
        Ok(()) => info!(committed = ?status.snapshot().committed.map(|c| c.resume.to_string()), "Stopped cleanly."),
        Err(e) => error!(error = format!("{e:#}"), "Pipeline stopped on an error."),
    }
    http_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), http_task).await;
    result
}

fn flatten(res: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match res {
        Ok(r) => r,
        Err(e) => bail!("pipeline task ended abnormally: {e}"),
    }
}

/// Builds source, sink and offset store from `cfg` and runs the pipeline until `cancel`.
///
/// `topics` receives the DataHub topics the sink prepares (for `/health`).
///
/// Errors: fatal pipeline errors and fatal DataHub connect errors.
pub async fn run_pipeline(
    cfg: ServiceConfig,
    status: Status,
    cancel: CancellationToken,
    topics: TopicRegistry,
) -> anyhow::Result<()> {
    let Some(dh) = &cfg.datahub else { bail!("DataHub settings missing") };
    let dcfg = dh.datahub_config(&cfg.retry, &cfg.batch);
    let mut scfg = cfg.source_config();
    let sink_retry_initial_ms = u64::try_from(cfg.retry.backoff.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut tcfg = dh.topics_config();
    // A topic's writer re-sends a failed part with the pause the pipeline uses for a batch.
    tcfg.resend_backoff = PipelineConfig::default().sink_backoff_from(sink_retry_initial_ms);
    let snapshot = cfg.snapshot_config(scfg.name.clone());
    let signal = signal_table_of(&snapshot, &scfg);
    let Some(sink) = connect_sink(dcfg, tcfg, &scfg, signal.as_ref(), topics, &status, &cancel).await? else {
        status.set_sink(StageState::Stopped);
        return Ok(());
    };
    if cfg.schema_history {
        let provider = HistoryProvider::new(cfg.schema_history_path(), scfg.schemas.clone())
            .skip_statements(cfg.schema_history_skip.clone());
        scfg.schema_provider = Some(std::sync::Arc::new(tokio::sync::Mutex::new(Box::new(provider))));
    }
    let binlog = BinlogSource::new(scfg, status.clone());
    let source = SnapshotThenStream::new(binlog, cfg.snapshot_mode, snapshot, status.clone());
    let offsets = FileOffsetStore::new(&cfg.offset_path);
    let pcfg = PipelineConfig {
        start: cfg.start_position.clone(),
        batch: cfg.batch,
        channel_capacity: cfg.queue_capacity,
        sink_retry_initial_ms,
        ..PipelineConfig::default()
    };
    pipeline::run(source, sink, offsets, pcfg, status, cancel).await.context("pipeline")
}

/// Why connecting the sink failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Listing the captured tables on the source failed (retried: the database may be
    /// starting).
    #[error("listing the captured tables in information_schema: {0}")]
    Database(#[from] mysql_async::Error),
    /// DataHub (or a topic's preparation) failed.
    #[error(transparent)]
    DataHub(#[from] DataHubError),
}

impl ConnectError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Database(_) => true,
            Self::DataHub(e) => e.to_sink_error().is_transient(),
        }
    }
}

/// The captured tables that exist now (`information_schema.TABLES` through `pool`, filtered as
/// the source filters), without the snapshot's signal table `signal` (its rows never reach the
/// sink: no topic is prepared for it at start; should its rows reach the sink after all — no
/// watermark snapshot and no signals — its topic is prepared at its first row, like any table
/// created later).
///
/// Errors: the server's.
pub async fn list_tables(
    pool: &mysql_async::Pool,
    source: &SourceConfig,
    signal: Option<&TableId>,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    let filter = TableFilter::new(&source.schemas, &source.tables)
        .unwrap_or_else(|_| TableFilter::new(&[], &["*".to_owned()]).expect("the catch-all filter is valid"));
    let mut conn = pool.get_conn().await?;
    let tables = multi::captured_tables(&mut conn, &filter).await?;
    Ok(tables.into_iter().filter(|(d, t)| signal.is_none_or(|s| s.db != *d || s.table != *t)).collect())
}

/// Connects the DataHub sink: lists the captured tables and prepares each one's topic
/// ([`MultiTopicSink::connect`]: created when `DATAHUB_CREATE_TOPICS=true`, checked against its
/// table), retrying transient failures (database or DataHub unreachable) with backoff until it
/// succeeds, a fatal error occurs, or `cancel` fires (`Ok(None)`).
pub async fn connect_sink(
    cfg: cdc_core::datahub::DataHubConfig,
    topics: TopicsConfig,
    source: &SourceConfig,
    signal: Option<&TableId>,
    registry: TopicRegistry,
    status: &Status,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<MultiTopicSink>> {
    let backoff = Backoff::from_millis(500, 30_000);
    let pool = multi::schema_pool(source);
    let connected = until_ok(
        cancel,
        backoff,
        |e: &ConnectError| e.is_transient(),
        &mut (),
        |_| {
            status.set_sink(StageState::Connecting(None));
            let (cfg, topics, pool, registry) = (cfg.clone(), topics.clone(), pool.clone(), registry.clone());
            let source = source.clone();
            let signal = signal.cloned();
            Box::pin(async move {
                // DataHub first (GetProject): with both unreachable, DataHub's error is the one
                // reported, as before tables were listed.
                let client = cdc_core::datahub::DataHubClient::new(&cfg)?;
                client.get_project(&cfg.project).await?;
                let tables = list_tables(&pool, &source, signal.as_ref()).await?;
                Ok::<_, ConnectError>(MultiTopicSink::connect(cfg, topics, Some(pool), &tables, registry).await?)
            })
        },
        |e| {
            status.set_sink(StageState::Retrying(e.to_string()));
            warn!(error = %e, "DataHub not reachable yet; retrying.");
        },
    )
    .await;
    match connected {
        Ok(sink) => Ok(sink),
        Err(e) => {
            status.set_sink(StageState::Failed(e.to_string()));
            Err(anyhow::Error::new(e).context("connecting to DataHub"))
        }
    }
}
