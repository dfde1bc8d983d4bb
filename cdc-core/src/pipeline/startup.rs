//! Start-up: the sink is reachable and the resume point is known and stored, each retried
//! with backoff while the failure is transient (shown on `/health/ready` through [`Status`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::config::PipelineConfig;
use super::error::PipelineError;
use crate::checkpoint::Checkpoint;
use crate::checkpoint::OffsetStore;
use crate::retry::{until_ok, Backoff};
use crate::sink::{Sink, SinkError};
use crate::source::{ChangeSource, SourceError};
use crate::status::{StageState, Status};

/// Checks the sink (reachable, destination writable) until it passes: `Ok(true)`; `Ok(false)`
/// when cancelled first.
///
/// Errors: [`PipelineError::Sink`] for a fatal [`SinkError`].
pub(super) async fn check_sink<S: Sink>(
    sink: &mut S,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
) -> Result<bool, PipelineError> {
    let checked = until_ok(
        cancel,
        cfg.sink_backoff(),
        SinkError::is_transient,
        sink,
        |s| Box::pin(s.check()),
        |e| {
            warn!(error = %e, "Sink not reachable yet; retrying.");
            status.set_sink(StageState::Retrying(e.to_string()));
        },
    )
    .await;
    match checked {
        Ok(Some(())) => {
            status.set_sink(StageState::Running);
            Ok(true)
        }
        Ok(None) => {
            status.set_sink(StageState::Stopped);
            Ok(false)
        }
        Err(e) => {
            status.set_sink(StageState::Failed(e.to_string()));
            Err(e.into())
        }
    }
}

/// The stored checkpoint, or the resolved start position stored now. None when cancelled.
pub(super) async fn resume_point<C: ChangeSource, O: OffsetStore>(
    mut source: &C,
    offsets: &O,
    cfg: &PipelineConfig,
    status: &Status,
    cancel: &CancellationToken,
) -> Result<Option<Checkpoint>, PipelineError> {
    let on_retry = |e: &SourceError| {
        warn!(error = %e, "Database not reachable yet; retrying.");
        status.set_source(StageState::Connecting(Some(e.to_string())));
    };
    let fatal = |e: SourceError| {
        status.set_source(StageState::Failed(e.to_string()));
        PipelineError::from(e)
    };
    // Server reachable and configured for CDC?
    status.set_source(StageState::Connecting(None));
    let checked =
        until_ok(cancel, SOURCE_RETRY, SourceError::is_transient, &mut source, |s| Box::pin(s.precheck()), on_retry);
    if checked.await.map_err(fatal)?.is_none() {
        return Ok(None);
    }
    if let Some(cp) = offsets.load()? {
        info!(resume = %cp.resume, "Resuming from the stored checkpoint.");
        status.on_checkpoint(&cp);
        return Ok(Some(cp));
    }
    let mut with_start = (source, &cfg.start);
    let resolved = until_ok(
        cancel,
        SOURCE_RETRY,
        SourceError::is_transient,
        &mut with_start,
        |(s, start)| Box::pin(s.resolve_start(start)),
        on_retry,
    );
    let Some(cp) = resolved.await.map_err(fatal)? else { return Ok(None) };
    // Stored before the first event is read: a crash before the first ack resumes here, not at a
    // newer end of the binlog.
    offsets.store(&cp)?;
    status.on_checkpoint(&cp);
    info!(start = ?cfg.start, resume = %cp.resume, "No checkpoint stored; starting position resolved and stored.");
    Ok(Some(cp))
}

/// Backoff while the database cannot be reached at start: 500 ms, doubling to 30 s.
const SOURCE_RETRY: Backoff = Backoff { initial: Duration::from_millis(500), max: Duration::from_secs(30) };
