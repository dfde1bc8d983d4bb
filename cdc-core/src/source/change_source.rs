//! The source seam: [`ChangeSource`] is whatever produces [`SourceMessage`]s for the pipeline —
//! the binlog reader ([`super::BinlogSource`]), a snapshot reader followed by the binlog, a
//! replay of recorded files. The pipeline owns the order of operations around it (precheck,
//! resume point stored before the first read, acknowledged checkpoints); a source owns only
//! producing messages in order and reconnecting.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::error::SourceError;
use super::message::SourceMessage;
use crate::position::StartPosition;

use crate::checkpoint::Checkpoint;

/// A producer of change messages in source order, on a bounded channel.
///
/// Contract:
/// - every [`SourceMessage::Commit`] is a consistent point: resuming [`ChangeSource::run`] at
///   its checkpoint re-reads nothing that came before it and skips nothing that came after;
/// - `run` sends to `tx` and waits when it is full (backpressure); it returns `Ok(())` when
///   `cancel` fires or the receiver is gone, and retries transient failures itself.
pub trait ChangeSource: Send + Sync + 'static {
    /// Checks the server can serve this source (settings, grants).
    ///
    /// Errors: [`SourceError::Connection`] (transient: the pipeline retries with backoff and
    /// shows it on `/health/ready`), [`SourceError::Precheck`] with every problem found.
    fn precheck(&self) -> impl Future<Output = Result<(), SourceError>> + Send;

    /// Turns the configured start into a concrete checkpoint, which the pipeline stores
    /// before the first message is read.
    ///
    /// Errors: [`SourceError::Connection`] (transient), [`SourceError::PositionPurged`],
    /// [`SourceError::Precheck`].
    fn resolve_start(&self, start: &StartPosition) -> impl Future<Output = Result<Checkpoint, SourceError>> + Send;

    /// Produces messages from `from` until `cancel` fires or a definite error.
    ///
    /// Errors: definite [`SourceError`]s only (transient ones are retried inside).
    fn run(
        self,
        from: Checkpoint,
        tx: mpsc::Sender<SourceMessage>,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
}
