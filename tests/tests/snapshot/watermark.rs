//! The lock-free watermark snapshot (`cdc_core::snapshot::IncrementalSnapshot`) driven the way
//! the streaming loop will drive it, against the real MariaDB and the real binlog: a signal
//! table carries the low/high watermarks, chunks are read with `read_chunk` outside any
//! transaction, and a concurrent writer updates, deletes, inserts and moves the keys of the rows
//! being snapshotted. The output (streamed changes, chunk rows at each high watermark) must
//! rebuild the table exactly, with identical values, and per key the row versions must never go
//! back.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cdc_core::event::{ChangeEvent, Op, Value};
use cdc_core::snapshot::{
    prepare_session, read_chunk, IncrementalSnapshot, ReadEvents, SnapshotProgress, TableId, TableLayout,
};
use cdc_core::source::SourceMessage;
use cdc_tests::mariadb::{exec, server, REPL_PASSWORD, REPL_USER};
use mysql_async::prelude::Queryable;
use rand::{Rng, SeedableRng};

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watermark_chunks_with_concurrent_writes_rebuild_the_table() {
    let srv = server().await;
    let (db, mut src, mut c) = srv.capture_fresh_schema("snap_wm").await;
    exec(
        &mut c,
        &[
            &format!("USE `{db}`"),
            "CREATE TABLE cdc_signal (id BIGINT AUTO_INCREMENT PRIMARY KEY, kind VARCHAR(8) NOT NULL, win BIGINT NOT NULL)",
            "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, s VARCHAR(20))",
            "INSERT INTO t SELECT seq, 0, CONCAT('row ', seq) FROM seq_1_to_400",
        ],
    )
    .await;
    // Versions: every write sets v to the next number, so per key v only grows.
    let writer = {
        let srv = srv.clone();
        let db = db.clone();
        tokio::spawn(async move {
            let mut w = srv.admin_conn().await;
            w.query_drop(format!("USE `{db}`")).await.unwrap();
            let seed: u64 = rand::random();
            eprintln!("writer seed {seed}");
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            for ver in 1..=1500i64 {
                let k = rng.gen_range(1..=450);
                let sql = match rng.gen_range(0..10) {
                    0..=4 => format!("UPDATE t SET v = {ver} WHERE id = {k}"),
                    5 | 6 => format!("DELETE FROM t WHERE id = {k}"),
                    7 | 8 => format!("INSERT IGNORE INTO t VALUES ({k}, {ver}, 'new')"),
                    _ => format!("UPDATE IGNORE t SET id = {}, v = {ver} WHERE id = {k}", rng.gen_range(1..=450)),
                };
                w.query_drop(sql).await.unwrap();
                if ver % 100 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    };

    let mut snap_conn = mysql_async::Conn::new(srv.opts(REPL_USER, REPL_PASSWORD)).await.unwrap();
    prepare_session(&mut snap_conn).await.unwrap();
    let id = TableId::new(&db, "t");
    let layout = TableLayout::load(&mut snap_conn, &id).await.unwrap();
    let mut snap = IncrementalSnapshot::new(SnapshotProgress::new([id.clone()]), 20, 1);
    let start = src.start.clone();
    let point = cdc_core::snapshot::SnapshotPoint {
        position: start.position().cloned().expect("a file position"),
        gtid_set: start.gtid_set().cloned(),
        server_id: start.server_id,
        ts_ms: start.ts_ms,
    };
    let events = ReadEvents::new("wm", &point, &layout);
    let mut out: Vec<ChangeEvent> = Vec::new();

    // Feeds stream messages to the machine until `until` returns true for a signal row.
    async fn pump(
        src: &mut cdc_tests::mariadb::RunningSource,
        snap: &mut IncrementalSnapshot,
        out: &mut Vec<ChangeEvent>,
        mut until: impl FnMut(&str, i64) -> bool,
    ) {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(30), src.rx.recv())
                .await
                .expect("the stream goes on")
                .expect("source running");
            let SourceMessage::Events(evs) = msg else { continue };
            for ev in evs {
                if &*ev.source.table == "cdc_signal" {
                    let row = ev.after.as_ref().unwrap();
                    let kind = match row.get("kind").unwrap() {
                        Value::String(s) => s.to_string(),
                        v => panic!("{v:?}"),
                    };
                    let win = int(row.get("win").unwrap());
                    match kind.as_str() {
                        "low" => snap.on_low_watermark(win as u64).unwrap(),
                        "high" => out.extend(snap.on_high_watermark(win as u64).unwrap()),
                        _ => {}
                    }
                    if until(&kind, win) {
                        return;
                    }
                } else {
                    snap.on_stream_event(&ev);
                    out.push(ev);
                }
            }
        }
    }

    let mut chunks = 0;
    while let Some(req) = snap.next_chunk().unwrap() {
        exec(&mut c, &[&format!("INSERT INTO cdc_signal (kind, win) VALUES ('low', {})", req.id)]).await;
        // Pauses widen the window (a real chunk of thousands of rows takes longer), so that the
        // writer changes rows of the chunk between the watermarks, before and after the SELECT.
        tokio::time::sleep(Duration::from_millis(15)).await;
        let rows = read_chunk(&mut snap_conn, &layout, req.after.as_deref(), req.limit, &events, 0).await.unwrap();
        snap.on_chunk_read(req.id, rows).unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
        exec(&mut c, &[&format!("INSERT INTO cdc_signal (kind, win) VALUES ('high', {})", req.id)]).await;
        let want = req.id as i64;
        pump(&mut src, &mut snap, &mut out, |k, w| k == "high" && w == want).await;
        chunks += 1;
    }
    assert!(chunks >= 10, "{chunks} chunks");
    writer.await.unwrap();
    exec(&mut c, &["INSERT INTO cdc_signal (kind, win) VALUES ('end', 0)"]).await;
    pump(&mut src, &mut snap, &mut out, |k, _| k == "end").await;
    src.stop().await.unwrap();
    eprintln!("{chunks} chunks, {} chunk rows dropped for changes in their window", snap.dropped_rows());
    assert!(snap.dropped_rows() > 0, "no change fell into a window: the test did not exercise the rule");

    // Rebuild, checking per-key order of versions.
    let mut rebuilt: BTreeMap<i64, ChangeEvent> = BTreeMap::new();
    let mut last_v: HashMap<i64, i64> = HashMap::new();
    for ev in &out {
        let row = ev.after.as_ref().or(ev.before.as_ref()).unwrap();
        let (k, v) = (int(&row.values[0]), int(&row.values[1]));
        let prev = last_v.insert(k, v).unwrap_or(0);
        assert!(v >= prev, "key {k}: version {v} ({:?}) after version {prev}", ev.op);
        match ev.op {
            Op::Delete => {
                rebuilt.remove(&k);
            }
            _ => {
                rebuilt.insert(k, ev.clone());
            }
        }
    }
    let fin = read_chunk(&mut snap_conn, &layout, None, 1_000_000, &events, 0).await.unwrap();
    let want: BTreeMap<i64, Vec<Value>> = fin
        .events
        .iter()
        .map(|e| (int(&e.after.as_ref().unwrap().values[0]), e.after.as_ref().unwrap().values.clone()))
        .collect();
    let got: BTreeMap<i64, Vec<Value>> =
        rebuilt.iter().map(|(k, e)| (*k, e.after.as_ref().unwrap().values.clone())).collect();
    assert_eq!(got, want, "the output rebuilds the table");
    assert!(snap.is_done());
}
