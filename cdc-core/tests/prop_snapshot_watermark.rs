//! Property test of the watermark (DBLog) snapshot state machine,
//! `cdc_core::snapshot::IncrementalSnapshot`: random interleavings of chunk reads, concurrent
//! changes (inserts, updates, deletes, primary-key moves) and a lagging stream consumer. The
//! output (streamed changes plus the chunk rows emitted at high watermarks) must rebuild the
//! table exactly, and per key the states must come in order (never an older state after a
//! newer one).
//!
//! The model: a table `id → version`; every change gets the next sequence number, which is both
//! the new version of the row and the event's `source.pos`; a chunk row's `source.pos` is the
//! sequence number at the moment of its SELECT (the state it shows). Per key, the `pos` of the
//! output events must not decrease.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cdc_core::event::{ChangeEvent, Op, Row, RowsEventInfo, SourceInfo, Value};
use cdc_core::snapshot::{ChunkRows, IncrementalSnapshot, KeyValue, SnapshotProgress, TableId};
use proptest::prelude::*;

fn event(op: Op, key: i64, before: Option<i64>, after: Option<i64>, pos: u64) -> ChangeEvent {
    let columns: Arc<[Arc<str>]> = vec![Arc::from("id"), Arc::from("v")].into();
    let row = |v: i64| Row { columns: columns.clone(), values: vec![Value::Int(key), Value::Int(v)] };
    ChangeEvent {
        op,
        before: before.map(row),
        after: after.map(row),
        source: SourceInfo::new(
            RowsEventInfo {
                name: "m".into(),
                server_id: 1,
                db: "d".into(),
                table: "t".into(),
                file: "binlog.000001".into(),
                pos,
                gtid: None,
                ts_ms: 0,
                origin: cdc_core::event::Origin::Binlog,
            },
            0,
        ),
        ts_ms: 0,
        transaction: None,
        key_columns: Arc::from(vec![0usize]),
    }
}

/// An event on another table (must never affect the window).
fn other_table(key: i64, pos: u64) -> ChangeEvent {
    let mut e = event(Op::Create, key, None, Some(-1), pos);
    let mut info = (*e.source.event).clone();
    info.table = "other".into();
    e.source = SourceInfo::new(info, 0);
    e
}

#[derive(Debug, Clone)]
enum Step {
    /// A change to the key `k % key_space` (insert if absent, else update or delete).
    Change { k: i64, delete: bool },
    /// A primary-key move: the row of `from` gets key `to` (delete + create in one transaction).
    Move { from: i64, to: i64 },
    /// A change to another table.
    Other { k: i64 },
    /// The snapshot driver does its next action (open a window and write the low watermark,
    /// SELECT the chunk, write the high watermark).
    Snapshot,
    /// The stream consumer reads up to `n` log entries.
    Consume { n: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0i64..40, prop::bool::weighted(0.3)).prop_map(|(k, delete)| Step::Change { k, delete }),
        1 => (0i64..40, 0i64..40).prop_map(|(from, to)| Step::Move { from, to }),
        1 => (0i64..40).prop_map(|k| Step::Other { k }),
        3 => Just(Step::Snapshot),
        3 => (1usize..6).prop_map(|n| Step::Consume { n }),
    ]
}

#[derive(Debug)]
enum Log {
    Change(ChangeEvent),
    Low(u64),
    High(u64),
}

#[derive(Debug, PartialEq)]
enum Driver {
    /// Ready to open the next window.
    Idle,
    /// Low watermark written; the SELECT comes next.
    Selecting(u64, Option<Vec<KeyValue>>, usize),
    /// SELECT done; the high watermark comes next.
    Closing(u64),
    /// High watermark written; waiting for the stream to reach it.
    Waiting,
}

struct Sim {
    table: BTreeMap<i64, i64>,
    seq: u64,
    log: Vec<Log>,
    consumed: usize,
    snap: IncrementalSnapshot,
    driver: Driver,
    out: Vec<ChangeEvent>,
}

impl Sim {
    fn change(&mut self, events: Vec<ChangeEvent>) {
        self.log.extend(events.into_iter().map(Log::Change));
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn apply(&mut self, s: &Step, key_space: i64) {
        match *s {
            Step::Change { k, delete } => {
                let k = k % key_space;
                let p = self.next_seq();
                let ev = match self.table.get(&k).copied() {
                    None => {
                        self.table.insert(k, p as i64);
                        event(Op::Create, k, None, Some(p as i64), p)
                    }
                    Some(old) if delete => {
                        self.table.remove(&k);
                        event(Op::Delete, k, Some(old), None, p)
                    }
                    Some(old) => {
                        self.table.insert(k, p as i64);
                        event(Op::Update, k, Some(old), Some(p as i64), p)
                    }
                };
                self.change(vec![ev]);
            }
            Step::Move { from, to } => {
                let (from, to) = (from % key_space, to % key_space);
                if from == to || !self.table.contains_key(&from) || self.table.contains_key(&to) {
                    return;
                }
                let p = self.next_seq();
                let old = self.table.remove(&from).unwrap();
                self.table.insert(to, p as i64);
                self.change(vec![
                    event(Op::Delete, from, Some(old), None, p),
                    event(Op::Create, to, None, Some(p as i64), p),
                ]);
            }
            Step::Other { k } => {
                let p = self.next_seq();
                self.change(vec![other_table(k, p)]);
            }
            Step::Snapshot => self.snapshot_step(),
            Step::Consume { n } => self.consume(n),
        }
    }

    fn snapshot_step(&mut self) {
        match std::mem::replace(&mut self.driver, Driver::Idle) {
            Driver::Idle => {
                if let Some(r) = self.snap.next_chunk().unwrap() {
                    self.log.push(Log::Low(r.id));
                    self.driver = Driver::Selecting(r.id, r.after, r.limit);
                }
            }
            Driver::Selecting(id, after, limit) => {
                // SELECT … WHERE id > after ORDER BY id LIMIT limit, as of now.
                let lo = match after.as_deref() {
                    Some([KeyValue::Int(k)]) => std::ops::Bound::Excluded(*k),
                    None => std::ops::Bound::Unbounded,
                    other => panic!("unexpected key {other:?}"),
                };
                let rows: Vec<(i64, i64)> =
                    self.table.range((lo, std::ops::Bound::Unbounded)).take(limit).map(|(k, v)| (*k, *v)).collect();
                let seq = self.seq;
                let events: Vec<ChangeEvent> =
                    rows.iter().map(|&(k, v)| event(Op::Read, k, None, Some(v), seq)).collect();
                let chunk = ChunkRows {
                    exhausted: rows.len() < limit,
                    last_key: rows.last().map(|&(k, _)| vec![KeyValue::Int(k)]),
                    events,
                };
                self.snap.on_chunk_read(id, chunk).unwrap();
                self.driver = Driver::Closing(id);
            }
            Driver::Closing(id) => {
                self.log.push(Log::High(id));
                self.driver = Driver::Waiting;
            }
            Driver::Waiting => self.driver = Driver::Waiting,
        }
    }

    fn consume(&mut self, n: usize) {
        for _ in 0..n {
            let Some(entry) = self.log.get(self.consumed) else { return };
            self.consumed += 1;
            match entry {
                Log::Change(ev) => {
                    self.snap.on_stream_event(ev);
                    self.out.push(ev.clone());
                }
                Log::Low(id) => self.snap.on_low_watermark(*id).unwrap(),
                Log::High(id) => {
                    let rows = self.snap.on_high_watermark(*id).unwrap();
                    self.out.extend(rows);
                    assert_eq!(self.driver, Driver::Waiting);
                    self.driver = Driver::Idle;
                }
            }
        }
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn watermark_chunks_rebuild_the_table_in_per_key_order(
        initial in prop::collection::btree_set(0i64..40, 0..30),
        steps in prop::collection::vec(step(), 0..120),
        chunk_rows in 1usize..8,
        key_space in 5i64..40,
    ) {
        let table: BTreeMap<i64, i64> = initial.iter().filter(|&&k| k < key_space).map(|&k| (k, 0)).collect();
        let mut sim = Sim {
            table,
            seq: 0,
            log: Vec::new(),
            consumed: 0,
            snap: IncrementalSnapshot::new(SnapshotProgress::new([TableId::new("d", "t")]), chunk_rows, 1),
            driver: Driver::Idle,
            out: Vec::new(),
        };
        for s in &steps {
            sim.apply(s, key_space);
        }
        // Let the snapshot finish (no more changes), then drain the stream.
        let mut guard = 0;
        while !sim.snap.is_done() || sim.consumed < sim.log.len() {
            sim.snapshot_step();
            sim.consume(usize::MAX);
            guard += 1;
            prop_assert!(guard < 10_000, "the snapshot never finishes");
        }

        // Rebuild: reads, creates and updates upsert the after image; deletes remove the key.
        let mut rebuilt: BTreeMap<i64, i64> = BTreeMap::new();
        let mut last_pos: HashMap<i64, u64> = HashMap::new();
        for ev in sim.out.iter().filter(|e| &*e.source.table == "t") {
            let row = ev.after.as_ref().or(ev.before.as_ref()).unwrap();
            let key = int(&row.values[0]);
            let prev = last_pos.insert(key, ev.source.pos).unwrap_or(0);
            prop_assert!(
                ev.source.pos >= prev,
                "key {key}: an event of state {} after one of state {prev}: {:?}", ev.source.pos, ev.op
            );
            match ev.op {
                Op::Delete => { rebuilt.remove(&key); }
                _ => { rebuilt.insert(key, int(&row.values[1])); }
            }
        }
        prop_assert_eq!(&rebuilt, &sim.table);
        // Every table row came from somewhere; reads show at most one state per key and chunk.
        let total = sim.snap.progress().rows();
        prop_assert!(total >= sim.snap.dropped_rows());
    }
}

/// The algorithm is needed: without dropping the chunk rows changed in the window, the same
/// interleaving loses an update (checked here by hand, so the property above can fail).
#[test]
fn a_change_between_select_and_high_watermark_wins_over_the_chunk_row() {
    let mut snap = IncrementalSnapshot::new(SnapshotProgress::new([TableId::new("d", "t")]), 10, 1);
    let r = snap.next_chunk().unwrap().unwrap();
    snap.on_low_watermark(r.id).unwrap();
    // SELECT sees id 1 at version 0 and id 2 at version 0.
    let rows = vec![event(Op::Read, 1, None, Some(0), 0), event(Op::Read, 2, None, Some(0), 0)];
    snap.on_chunk_read(r.id, ChunkRows { events: rows, last_key: Some(vec![KeyValue::Int(2)]), exhausted: true })
        .unwrap();
    // Then id 1 is updated before the high watermark; an event of another table with key 2
    // changes nothing.
    snap.on_stream_event(&event(Op::Update, 1, Some(0), Some(5), 5));
    snap.on_stream_event(&other_table(2, 6));
    let emitted = snap.on_high_watermark(r.id).unwrap();
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(emitted[0].after.as_ref().unwrap().values[0], Value::Int(2));
    assert_eq!(snap.dropped_rows(), 1);
    assert!(snap.is_done());
}
