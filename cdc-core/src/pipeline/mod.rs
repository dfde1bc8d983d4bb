//! The pipeline: source → bounded channel → batcher → sink → checkpoint.
//!
//! [`run`] owns the order of operations that makes delivery at-least-once:
//!
//! 1. **Resume point.** The stored checkpoint if there is one; otherwise the configured
//!    [`StartPosition`] is resolved to a concrete position and *stored before the first event is
//!    read*, so a crash before the first acknowledgement resumes there instead of skipping to a
//!    newer end of the binlog.
//! 2. **Source task.** [`ChangeSource::run`] streams into a bounded channel; when the channel is
//!    full the reader waits (backpressure: a slow DataHub slows the binlog reader, memory stays
//!    bounded by `channel_capacity` messages — the rows of one or more rows events each — plus
//!    two batches: one in flight, one filling; a queueing sink adds what it queues, within its
//!    own byte bound).
//! 3. **Sink stage** ([`sink_stage()`]). Events are batched (rows, bytes, linger); a batch is sent
//!    and re-sent on transient errors until the sink acknowledges all of it. A checkpoint is taken
//!    only from a `Commit` message (a transaction boundary) whose preceding events have all been
//!    acknowledged. Nothing else advances it. A queueing sink (one writer per DataHub topic, so a
//!    failing topic does not stop the others) takes batch after batch and acknowledges them
//!    later in order ([`crate::sink::AckProgress`]); the rule is the same: a commit is
//!    checkpointed only once every batch before it is acknowledged, by every topic.
//! 4. **Shutdown.** Cancelling the token stops the reader; the sink stage drains what was read,
//!    flushes, stores the final checkpoint and returns.

//!
//! Files: `config` ([`PipelineConfig`]), `error` ([`PipelineError`]), `run` (the order of
//! operations above), `startup` (sink check and resume point, retried while transient),
//! `sink_stage` (batching, in-flight batch, acknowledged checkpoints), `tests`.
//!
//! [`ChangeSource::run`]: crate::source::ChangeSource::run
//! [`StartPosition`]: crate::position::StartPosition

mod config;
mod error;
mod run;
mod sink_stage;
mod startup;
#[cfg(test)]
mod tests;

pub use config::PipelineConfig;
pub use error::PipelineError;
pub use run::run;
pub use sink_stage::sink_stage;
