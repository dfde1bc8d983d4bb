//! The sink seam: [`Sink`], what it acknowledges ([`SinkAck`]) and how it fails ([`SinkError`]).
//!
//! A sink either acknowledges a whole batch (every record durably accepted by the destination)
//! or fails; it never reports records as sent that were not acknowledged. The pipeline
//! advances checkpoints only on `Ok` — or, for a sink that queues batches
//! ([`Sink::acknowledgements`]), only past the batches its [`AckProgress`] counts as
//! acknowledged.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use crate::event::ChangeEvent;

/// What a sink acknowledged for one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkAck {
    /// Records acknowledged (rows); equals the batch length.
    pub records: usize,
    /// Payload bytes acknowledged (the encoded records, before transport compression).
    pub bytes: usize,
    /// Requests (or other round trips) it took, retries included.
    pub requests: usize,
}

/// Whether retrying the same batch later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// Throttling, 5xx, timeouts, connection errors, exhausted retries of those: the pipeline
    /// pauses and re-sends the batch.
    Transient,
    /// Bad credentials, missing destination, malformed records: the pipeline stops.
    Fatal,
}

/// A batch that was not (entirely) acknowledged. Nothing of it may be checkpointed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind:?} sink error{}: {message}", code.as_ref().map(|c| format!(" {c}")).unwrap_or_default())]
pub struct SinkError {
    /// Transient or fatal.
    pub kind: SinkErrorKind,
    /// The destination's error code when it gave one (DataHub `ErrorCode`, `HTTP503`, …).
    pub code: Option<Cow<'static, str>>,
    /// Human-readable reason; never contains secrets.
    pub message: String,
    /// The underlying error, when there is one.
    #[source]
    pub source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl PartialEq for SinkError {
    /// Kind, code and message (the cause is not compared).
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.code == other.code && self.message == other.message
    }
}

impl SinkError {
    /// A transient error with a message.
    pub fn transient(code: Option<String>, message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Transient, code: code.map(Cow::Owned), message: message.into(), source: None }
    }

    /// A fatal error with a message.
    pub fn fatal(code: Option<String>, message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Fatal, code: code.map(Cow::Owned), message: message.into(), source: None }
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// True when re-sending the batch later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == SinkErrorKind::Transient
    }
}

/// How far a queueing sink ([`Sink::acknowledgements`]) has got, published after every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckProgress {
    /// Batches acknowledged, counted from the sink's first `send` that returned `Ok`: batches
    /// `1..=batches` (in the order `send` took them) are durably accepted, every record of
    /// them; the batch after them is not yet (entirely).
    pub batches: u64,
    /// Events (rows) of those batches.
    pub records: u64,
    /// Destinations (DataHub topics) re-sending after a transient error, with the error; empty
    /// while every destination takes what it is sent.
    pub retrying: Vec<String>,
    /// Set when a destination failed for good: nothing after `batches` will be acknowledged.
    pub fatal: Option<SinkError>,
}

/// Delivers batches of change events with acknowledgement.
///
/// Contract: `send` returns `Ok` only when every event of `batch` is durably accepted — unless
/// the sink says otherwise by returning `Some` from [`Sink::acknowledgements`], in which case
/// `Ok` means *queued* and the batch counts as acknowledged only once the [`AckProgress`]
/// covers it. Events of one partition key are written in the order they appear in `batch` and,
/// for a queueing sink, after those of every earlier batch. A retried batch may be partly
/// duplicated at the destination (at-least-once), never reordered per key.
pub trait Sink: Send {
    /// Sends `batch` (in source order) and waits for its acknowledgement (a queueing sink:
    /// until it is queued; it may wait for room, which is backpressure).
    ///
    /// Errors: [`SinkError`] with [`SinkErrorKind::Transient`] when a later retry may succeed,
    /// [`SinkErrorKind::Fatal`] otherwise.
    fn send(&mut self, batch: &[ChangeEvent]) -> impl Future<Output = Result<SinkAck, SinkError>> + Send;

    /// A cheap check that the destination is reachable and writable (used by `validate` and
    /// at start). Required: a sink that cannot check says so by returning `Ok(())` itself.
    ///
    /// Errors: as [`Sink::send`].
    fn check(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;

    /// `None` (the default): `send` returning `Ok` means acknowledged. `Some`: the sink queues
    /// batches and acknowledges them later, in order, through this receiver; the pipeline then
    /// sends the next batch without waiting and checkpoints only what it reports
    /// ([`crate::pipeline`]). Asked once, before the first `send`.
    fn acknowledgements(&self) -> Option<tokio::sync::watch::Receiver<AckProgress>> {
        None
    }
}
