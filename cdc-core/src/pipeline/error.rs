//! [`PipelineError`]: why the pipeline stopped. Each variant keeps its cause.

use crate::checkpoint::OffsetStoreError;
use crate::sink::SinkError;
use crate::source::SourceError;

/// Why the pipeline stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed for good (precheck, purged position, undecodable event).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The sink failed for good (bad credentials, missing topic, malformed records).
    #[error("sink failed: {0}")]
    Sink(#[from] SinkError),
    /// A checkpoint could not be read or written: the pipeline stops reading rather than run
    /// without checkpoints.
    #[error("checkpoint store failed, stopped reading: {0}")]
    Offsets(#[from] OffsetStoreError),
    /// The source task ended abnormally (panicked).
    #[error("source task ended abnormally")]
    SourceTask(#[source] tokio::task::JoinError),
}
