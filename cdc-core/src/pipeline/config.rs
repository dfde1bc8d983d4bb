//! [`PipelineConfig`]: the pipeline's own settings (source and sink have theirs).

use crate::batch::BatchLimits;
use crate::position::StartPosition;
use crate::retry::Backoff;

/// Settings of the pipeline itself (source and sink have their own).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Where to start when no checkpoint is stored.
    pub start: StartPosition,
    /// Batch bounds (rows, bytes, linger).
    pub batch: BatchLimits,
    /// Capacity of the source → batcher channel, in messages: rows of one or more rows events
    /// of one transaction (up to about 8,192 column values or 256 KiB of binlog row data, plus
    /// one rows event, which holds at most `binlog_row_event_max_size` bytes of row images,
    /// 8 KiB by default on MySQL and MariaDB, unless a single row is larger), a transaction
    /// commit, or a heartbeat. The default of 16 buffers ≈ 12,000 narrow rows (≈ 2,000 wide
    /// ones, ≈ 4,000 rows of 1 KB) — enough to keep the reader busy while the sink stage works
    /// on two batches (docs/benchmarks.md).
    pub channel_capacity: usize,
    /// Shortest interval between two checkpoint writes, ms (the final one is always written).
    /// Larger values mean fewer fsyncs and more duplicates after a crash. Default 1000.
    pub checkpoint_interval_ms: u64,
    /// First pause before re-sending a batch the sink failed transiently, ms. Default 500.
    pub sink_retry_initial_ms: u64,
    /// Longest pause between re-sends of a failing batch, ms. Default 30000.
    pub sink_retry_max_ms: u64,
    /// Queueing sinks only ([`crate::sink::Sink::acknowledgements`], e.g. the multi-topic
    /// DataHub sink): most batches taken by the sink and not yet acknowledged. When a
    /// destination keeps failing, the others go on until this many batches wait behind it,
    /// then the stage stops receiving (backpressure); it bounds what is read again after a
    /// restart. Default 256.
    pub max_unacked_batches: usize,
}

impl PipelineConfig {
    /// Default `channel_capacity`: 16 messages.
    pub const DEFAULT_CHANNEL_CAPACITY: usize = 16;
    /// Default `max_unacked_batches`: 256 batches.
    pub const DEFAULT_MAX_UNACKED_BATCHES: usize = 256;

    /// Backoff between re-sends of a batch the sink failed transiently.
    pub fn sink_backoff(&self) -> Backoff {
        Backoff::from_millis(self.sink_retry_initial_ms, self.sink_retry_max_ms)
    }

    /// [`Self::sink_backoff`] with `initial_ms` as the first pause.
    pub fn sink_backoff_from(&self, initial_ms: u64) -> Backoff {
        Backoff::from_millis(initial_ms, self.sink_retry_max_ms)
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            start: StartPosition::Latest,
            batch: BatchLimits::default(),
            channel_capacity: Self::DEFAULT_CHANNEL_CAPACITY,
            checkpoint_interval_ms: 1000,
            sink_retry_initial_ms: 500,
            sink_retry_max_ms: 30_000,
            max_unacked_batches: Self::DEFAULT_MAX_UNACKED_BATCHES,
        }
    }
}
