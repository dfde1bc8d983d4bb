//! Batching: collects change events into batches bounded by rows, bytes and a linger time.
//!
//! [`BatchLimits`] are checked by the pipeline's sink stage; the defaults follow DataHub's
//! published limits (≤ 10,000 records and ≤ 4 MB per request, the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)
//! §11) and the SDK producers' linger times (pydatahub ≤ 1 s, C++ 100 ms).

use std::time::Duration;

use crate::event::ChangeEvent;

/// Bounds of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most events in one batch (rows). Default 10,000.
    pub max_records: usize,
    /// Most estimated encoded bytes ([`estimate_size`] summed) in one batch. Default 1,000,000:
    /// with one batch in flight and the next filling, this keeps the collector's steady RSS
    /// under 64 MiB at full speed with no loss of throughput (docs/benchmarks.md); DataHub's own
    /// limit (4 MB per request) is enforced by the sink whatever this is.
    pub max_bytes: usize,
    /// Longest time the first event of a batch waits for more. Default 100 ms.
    pub linger: Duration,
}

impl BatchLimits {
    /// The defaults (10,000 records, 1,000,000 estimated bytes, 100 ms linger), as a constant
    /// so that configuration tables can quote them.
    pub const DEFAULT: Self = Self { max_records: 10_000, max_bytes: 1_000_000, linger: Duration::from_millis(100) };
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A batch being filled: the events in binlog order and their estimated encoded size.
#[derive(Debug, Default)]
pub struct Batch {
    /// The events, in binlog order.
    pub events: Vec<ChangeEvent>,
    /// Estimated encoded size of `events`, bytes.
    pub bytes: usize,
}

impl Batch {
    /// Adds an event whose encoded size is about `size` bytes.
    pub fn push(&mut self, event: ChangeEvent, size: usize) {
        self.events.push(event);
        self.bytes += size;
    }

    /// True when no event is buffered.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Number of buffered events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when the batch reached a record or byte bound and must be flushed.
    pub fn is_full(&self, limits: &BatchLimits) -> bool {
        self.events.len() >= limits.max_records || self.bytes >= limits.max_bytes
    }

    /// Takes the events out, leaving an empty batch.
    pub fn take(&mut self) -> Vec<ChangeEvent> {
        self.bytes = 0;
        std::mem::take(&mut self.events)
    }
}

/// Estimated encoded size of an event (bytes): a cheap bound used for batching, not the exact
/// JSON length (the sink enforces the exact request limit).
pub fn estimate_size(event: &ChangeEvent) -> usize {
    use crate::event::Value;
    fn row_size(row: &Option<crate::event::Row>) -> usize {
        row.as_ref().map_or(4, |r| {
            r.columns.iter().map(|c| c.len() + 4).sum::<usize>()
                + r.values
                    .iter()
                    .map(|v| match v {
                        Value::String(s) | Value::Decimal(s) => s.len() + 2,
                        Value::Bytes(b) => b.len() * 4 / 3 + 4,
                        Value::Json(j) => j.to_string().len(),
                        _ => 24,
                    })
                    .sum::<usize>()
        })
    }
    200 + event.source.db.len() + event.source.table.len() + row_size(&event.before) + row_size(&event.after)
}
