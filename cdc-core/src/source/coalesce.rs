//! The message coalescing rule of the binlog source: rows of consecutive rows events of one
//! transaction travel in one [`SourceMessage::Events`] until the transaction ends or about
//! [`COALESCE_VALUES`] column values or [`COALESCE_BYTES`] binlog bytes are waiting. The server
//! writes a transaction's events together at commit, so nothing waits for long, and the consumer
//! is woken less often than once per rows event; counting values (not rows) and bytes keeps a
//! message's memory similar for narrow, wide and large rows, so the channel bound stays a memory
//! bound.

use super::message::SourceMessage;
use crate::batch::estimate_size;
use crate::event::ChangeEvent;

/// Column values (rows × columns) the source gathers into one message before sending it
/// before the transaction's end (see [`keep_gathering`]): ≈ 745 rows of 11 columns, 137 of 60.
/// Larger messages wake the consumer less often (docs/benchmarks.md); large values are
/// bounded by [`COALESCE_BYTES`] instead.
pub(crate) const COALESCE_VALUES: usize = 8192;

/// Binlog bytes of rows events the source gathers into one message at most (the message is
/// sent once this is reached): rows of 1 KB values make messages of ≈ 250 rows, not 4,096.
pub(crate) const COALESCE_BYTES: usize = 256 * 1024;

/// True when the decoder's output `out` should wait for more rows before it is sent: it is
/// exactly one `Events` message (no commit, heartbeat or schema change behind it) holding fewer
/// than [`COALESCE_VALUES`] values, from fewer than [`COALESCE_BYTES`] bytes of binlog row data
/// (`bytes`).
pub(crate) fn keep_gathering(out: &[SourceMessage], bytes: usize) -> bool {
    let [SourceMessage::Events(v)] = out else { return false };
    let values = v.first().map_or(0, |e| e.after.as_ref().or(e.before.as_ref()).map_or(0, |r| r.values.len()));
    v.len() * values.max(1) < COALESCE_VALUES && bytes < COALESCE_BYTES
}

/// Cuts `events` (rows read in one go, e.g. a snapshot chunk) into messages of the same bounds
/// as the binlog source's: at most [`COALESCE_VALUES`] column values or [`COALESCE_BYTES`]
/// estimated bytes ([`estimate_size`]) each (at least one event), in order. So the
/// source → sink channel, which holds a number of messages, stays a memory bound whatever
/// produced them.
pub(crate) fn split_events(events: Vec<ChangeEvent>) -> Vec<Vec<ChangeEvent>> {
    let mut out = Vec::new();
    let mut part: Vec<ChangeEvent> = Vec::new();
    let (mut values, mut bytes) = (0usize, 0usize);
    for ev in events {
        let v = ev.after.as_ref().or(ev.before.as_ref()).map_or(1, |r| r.values.len().max(1));
        let b = estimate_size(&ev);
        if !part.is_empty() && (values + v > COALESCE_VALUES || bytes + b > COALESCE_BYTES) {
            out.push(std::mem::take(&mut part));
            values = 0;
            bytes = 0;
        }
        values += v;
        bytes += b;
        part.push(ev);
    }
    if !part.is_empty() {
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::event::{ChangeEvent, Op, Origin, Row, RowsEventInfo, SourceInfo, Value};
    use crate::position::BinlogPosition;

    fn events(rows: usize, columns: usize) -> SourceMessage {
        let info = Arc::new(RowsEventInfo {
            name: "n".into(),
            server_id: 1,
            db: "d".into(),
            table: "t".into(),
            file: "binlog.000001".into(),
            pos: 4,
            gtid: None,
            ts_ms: 0,
            origin: Origin::Binlog,
        });
        let names: Arc<[Arc<str>]> = (0..columns).map(|i| Arc::from(format!("c{i}"))).collect::<Vec<_>>().into();
        SourceMessage::Events(
            (0..rows)
                .map(|r| ChangeEvent {
                    op: Op::Create,
                    before: None,
                    after: Some(Row { columns: names.clone(), values: vec![Value::Int(r as i64); columns] }),
                    source: SourceInfo { event: info.clone(), row: r as u32 },
                    ts_ms: 0,
                    transaction: None,
                    key_columns: Arc::from(vec![0usize]),
                })
                .collect(),
        )
    }

    #[test]
    fn rows_wait_for_more_until_a_bound_or_the_transaction_end() {
        assert!(keep_gathering(&[events(10, 11)], 1_000), "a small message waits");
        assert!(!keep_gathering(&[], 0), "nothing to hold");
        let commit = SourceMessage::Commit(Checkpoint::at(BinlogPosition::new("binlog.000001", 99), None, 1, 0));
        assert!(!keep_gathering(&[events(10, 11), commit], 1_000), "the transaction ended: send");
        let values_bound = COALESCE_VALUES / 11 + 1;
        assert!(keep_gathering(&[events(values_bound - 1, 11)], 1_000));
        assert!(!keep_gathering(&[events(values_bound, 11)], 1_000), "at the value bound: send");
        assert!(!keep_gathering(&[events(2, 11)], COALESCE_BYTES), "at the byte bound: send");
        assert!(keep_gathering(&[events(2, 11)], COALESCE_BYTES - 1));
        // Wide rows reach the bound with fewer rows than narrow ones.
        assert!(!keep_gathering(&[events(COALESCE_VALUES / 60 + 1, 60)], 1_000));
    }

    fn rows(msg: SourceMessage) -> Vec<ChangeEvent> {
        match msg {
            SourceMessage::Events(v) => v,
            _ => unreachable!(),
        }
    }

    #[test]
    fn rows_read_in_one_go_are_cut_into_messages_of_the_same_bounds_in_order() {
        // 20,000 narrow rows: each message within both bounds, and full (one more row would
        // pass one of them).
        let parts = split_events(rows(events(20_000, 11)));
        let bytes = |p: &[ChangeEvent]| p.iter().map(crate::batch::estimate_size).sum::<usize>();
        for (i, p) in parts.iter().enumerate() {
            assert!(!p.is_empty() && p.len() * 11 <= COALESCE_VALUES && bytes(p) <= COALESCE_BYTES);
            if let Some(next) = parts.get(i + 1) {
                let full = (p.len() + 1) * 11 > COALESCE_VALUES
                    || bytes(p) + crate::batch::estimate_size(&next[0]) > COALESCE_BYTES;
                assert!(full, "message {i} of {} rows could have taken one more", p.len());
            }
        }
        let order: Vec<u32> = parts.iter().flatten().map(|e| e.source.row).collect();
        assert_eq!(order, (0..20_000).collect::<Vec<u32>>(), "every row once, in order");
        // Rows of ≈ 1 KB: cut by estimated bytes.
        let mut big = rows(events(1000, 2));
        for e in &mut big {
            e.after.as_mut().unwrap().values[1] = Value::String("x".repeat(1000).into());
        }
        let parts = split_events(big);
        assert!(parts.len() > 3, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.iter().map(crate::batch::estimate_size).sum::<usize>() <= COALESCE_BYTES));
        // A single row over the bound still travels (alone).
        let mut huge = rows(events(2, 2));
        huge[0].after.as_mut().unwrap().values[1] = Value::String("y".repeat(COALESCE_BYTES * 2).into());
        assert_eq!(split_events(huge).iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1]);
        assert!(split_events(Vec::new()).is_empty());
    }
}
