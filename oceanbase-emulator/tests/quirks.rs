//! Each quirk switch, on (the default) and off: the stream or answer differs exactly where the
//! quirk says. Plus converter restarts (truncation, new file, counters, dumps closed) and a
//! recovery of a data directory by a new emulator process.
//!
//! The tests of this file run one at a time (a lock): the converter sees the whole upstream,
//! and table ids / XIDs depend on what else is converted.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::*;
use mysql_common::binlog::events::EventData;
use oceanbase_emulator::convert::RestartAt;
use oceanbase_emulator::{Config, Emulator, Quirk};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn off(q: Quirk) -> impl FnOnce(&mut Config) {
    move |c| {
        c.quirks.remove(&q);
    }
}

/// Creates `db`.t (`ddl` columns) and runs `dml` in one transaction on the upstream, then reads
/// the emulator's stream from the start until `rows` row changes of `db` and the XID after them.
async fn run(emu: &Emulator, ddl: &str, dml: &[&str], rows: usize, setup: &[&str]) -> (String, Vec<Got>) {
    let mut a = admin().await;
    let db = fresh_schema(&mut a, "obq").await;
    a.query_drop(format!("CREATE TABLE `{db}`.t ({ddl})")).await.unwrap();
    a.query_drop(format!("USE `{db}`")).await.unwrap();
    a.query_drop("BEGIN").await.unwrap();
    for s in dml {
        a.query_drop(*s).await.unwrap();
    }
    a.query_drop("COMMIT").await.unwrap();
    let dbc = db.clone();
    let (got, _) = read_stream(emu_opts(emu), setup, "mysql-bin.000001", 4, Duration::from_secs(20), move |g| {
        row_changes(g, &dbc).len() >= rows && g.last().is_some_and(|e| e.ty == 16)
    })
    .await;
    assert!(row_changes(&got, &db).len() >= rows, "rows arrived");
    (db, got)
}

fn rows_events<'a>(got: &'a [Got], db: &'a str) -> impl Iterator<Item = &'a Got> + 'a {
    got.iter().filter(move |g| g.rows.as_ref().is_some_and(|r| r.db == db))
}

fn table_maps<'a>(got: &'a [Got], db: &'a str) -> impl Iterator<Item = &'a Got> + 'a {
    let prefix = format!("{db}.");
    got.iter().filter(move |g| g.table_map.as_ref().is_some_and(|t| t.1.starts_with(&prefix)))
}

#[tokio::test]
async fn single_row_events() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::SingleRowEvents)(c)
            }
        })
        .await;
        let (db, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1),(2),(3)"], 3, &[]).await;
        let evs: Vec<_> = rows_events(&got, &db).map(|g| g.rows.clone().unwrap()).collect();
        if on {
            assert_eq!(evs.len(), 3);
            assert!(evs.iter().all(|r| r.rows.len() == 1 && r.stmt_end));
            assert_eq!(table_maps(&got, &db).count(), 3, "one TABLE_MAP per row");
        } else {
            assert_eq!(evs.len(), 1);
            assert_eq!(evs[0].rows.len(), 3);
            assert_eq!(table_maps(&got, &db).count(), 1);
        }
    }
}

#[tokio::test]
async fn no_optional_metadata() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::NoOptionalMetadata)(c)
            }
        })
        .await;
        let (db, got) =
            run(&emu, "id INT UNSIGNED PRIMARY KEY, v VARCHAR(3)", &["INSERT INTO t VALUES (1,'a')"], 1, &[]).await;
        let tm = table_maps(&got, &db).next().unwrap().table_map.clone().unwrap();
        assert_eq!(tm.5, !on, "optional metadata present = quirk off");
    }
}

#[tokio::test]
async fn enum_set_as_string() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::EnumSetAsString)(c)
            }
        })
        .await;
        let (db, got) = run(
            &emu,
            "id INT PRIMARY KEY, e ENUM('x','y'), s SET('p','q')",
            &["INSERT INTO t VALUES (1,'y','p,q')"],
            1,
            &[],
        )
        .await;
        let tm = table_maps(&got, &db).next().unwrap().table_map.clone().unwrap();
        if on {
            assert_eq!(tm.3, vec![3, 254, 254]);
            assert_eq!((tm.4[1][0], tm.4[2][0]), (247, 248), "real type in metadata byte 0");
        } else {
            assert_eq!(tm.3, vec![3, 247, 248]);
        }
        // Either way the values decode the same.
        let r = &rows_events(&got, &db).next().unwrap().rows.as_ref().unwrap().rows[0];
        assert_eq!(r.1.as_ref().unwrap()[1], "int:2");
    }
}

#[tokio::test]
async fn constant_server_id() {
    let _l = LOCK.lock().await;
    let mut a = admin().await;
    let up_id: u32 = a.query_first("SELECT @@server_id").await.unwrap().unwrap();
    assert_ne!(up_id, 1_147_473_732);
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::ConstantServerId)(c)
            }
        })
        .await;
        let (db, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
        let r = rows_events(&got, &db).next().unwrap();
        assert_eq!(r.server_id, if on { 1_147_473_732 } else { up_id });
    }
}

#[tokio::test]
async fn gtid_clock_fields() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::GtidClockFields)(c)
            }
        })
        .await;
        let (_, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut n = 0;
        for g in got.iter().filter(|g| g.ty == 33) {
            let Some(EventData::GtidEvent(e)) = g.event.read_data().unwrap() else { panic!("GTID") };
            if on {
                assert!(e.last_committed().abs_diff(now) < 300, "last_committed = commit seconds");
                assert!(e.sequence_number() < 1_000_000, "sequence_number = microseconds");
            } else {
                assert_eq!((e.last_committed(), e.sequence_number()), (e.gno() - 1, e.gno()));
            }
            n += 1;
        }
        assert!(n >= 2, "CREATE TABLE and the transaction have GTIDs");
    }
}

async fn first_heartbeat(emu: &Emulator, setup: &[&str], wait: Duration) -> Option<Got> {
    let (got, _) =
        read_stream(emu_opts(emu), setup, "mysql-bin.000001", 4, wait, |g| g.last().is_some_and(|e| e.ty == 27)).await;
    got.into_iter().find(|g| g.ty == 27)
}

#[tokio::test]
async fn heartbeat_full_path() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::HeartbeatFullPath)(c)
            }
        })
        .await;
        let hb = first_heartbeat(&emu, &[], Duration::from_secs(10)).await.expect("a heartbeat");
        let body = String::from_utf8(hb.data.clone()).unwrap();
        if on {
            assert_eq!(body, emu.data_dir().join("mysql-bin.000001").display().to_string());
            assert!(body.starts_with('/'));
        } else {
            assert_eq!(body, "mysql-bin.000001");
        }
        assert_eq!(hb.crc_ok, Some(true));
    }
}

#[tokio::test]
async fn heartbeat_per_batch() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            c.dump_batch_events = 1;
            c.heartbeat = Duration::from_secs(600);
            if !on {
                off(Quirk::HeartbeatPerBatch)(c)
            }
        })
        .await;
        let (db, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1),(2)"], 2, &[]).await;
        // Between the first rows event of db and the XID after it.
        let first = got.iter().position(|g| g.rows.as_ref().is_some_and(|r| r.db == db)).unwrap();
        let xid = first + got[first..].iter().position(|g| g.ty == 16).unwrap();
        let inside = got[first..xid].iter().filter(|g| g.ty == 27).count();
        if on {
            assert!(inside >= 2, "heartbeats inside the transaction: {inside}");
        } else {
            assert_eq!(inside, 0);
        }
    }
}

#[tokio::test]
async fn heartbeat_without_period() {
    let _l = LOCK.lock().await;
    let on = emulator(|c| c.heartbeat = Duration::from_millis(200)).await;
    assert!(first_heartbeat(&on, &[], Duration::from_secs(5)).await.is_some(), "heartbeats with no period set");
    // (Per-batch heartbeats are switched off too: they follow every batch whatever the period.)
    let offe = emulator(|c| {
        c.heartbeat = Duration::from_millis(200);
        off(Quirk::HeartbeatWithoutPeriod)(c);
        off(Quirk::HeartbeatPerBatch)(c)
    })
    .await;
    assert!(first_heartbeat(&offe, &[], Duration::from_millis(1500)).await.is_none(), "none in 7 periods");
    let asked = first_heartbeat(&offe, &["SET @master_heartbeat_period = 200000000"], Duration::from_secs(5)).await;
    assert!(asked.is_some(), "the client's own period still works");
}

#[tokio::test]
async fn master_status_lag() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            c.status_batch_events = 1000;
            if !on {
                off(Quirk::MasterStatusLag)(c)
            }
        })
        .await;
        let base = emu.stats().transactions;
        let mut a = admin().await;
        let db = fresh_schema(&mut a, "oblag").await;
        a.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY)")).await.unwrap();
        a.query_drop(format!("INSERT INTO `{db}`.t VALUES (1),(2)")).await.unwrap();
        wait_converted(&emu, base, 2).await;
        let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
        let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
        let (f, pos): (String, u64) = (row.get(0).unwrap(), row.get(1).unwrap());
        let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
        let size = logs.iter().find(|l| l.0 == f).unwrap().1;
        if on {
            assert!(pos < size, "status {pos} lags the file end {size}");
        } else {
            assert_eq!(pos, size);
        }
    }
}

#[tokio::test]
async fn fake_rotate_checksum_rule() {
    let _l = LOCK.lock().await;
    // mysql_async sends SET @master_binlog_checksum='ALL' and reads the fake ROTATE without a
    // checksum (it only learns the algorithm from the FDE after it).
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::FakeRotateChecksumRule)(c)
            }
        })
        .await;
        let (got, _) =
            read_stream(emu_opts(&emu), &[], "mysql-bin.000001", 4, Duration::from_secs(5), |g| !g.is_empty()).await;
        assert_eq!(got[0].ty, 4);
        let name = &got[0].data[8..];
        if on {
            assert_eq!(name, b"mysql-bin.000001", "no CRC on the fake ROTATE for 'ALL'");
        } else {
            assert_eq!(name.len(), 16 + 4, "MySQL's rule: the CRC bytes trail the name (mysql_async#189)");
        }
    }
}

#[tokio::test]
async fn ones_padded_bitmaps() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::OnesPaddedBitmaps)(c)
            }
        })
        .await;
        let (db, got) =
            run(&emu, "a INT PRIMARY KEY, b INT NULL, c INT, d INT", &["INSERT INTO t VALUES (1,NULL,3,4)"], 1, &[])
                .await;
        let r = rows_events(&got, &db).next().unwrap();
        // V2 body: table_id(6) flags(2) extra_len(2) width(1) present bitmap(1) null bitmap(1).
        assert_eq!(r.data[10], 4);
        let (present, nulls) = (r.data[11], r.data[12]);
        if on {
            assert_eq!((present, nulls), (0xff, 0xf2));
        } else {
            assert_eq!((present, nulls), (0x0f, 0x02));
        }
        assert_eq!(r.rows.as_ref().unwrap().rows[0].1.as_ref().unwrap()[1], "Value(Null)");
    }
}

#[tokio::test]
async fn ob_variables() {
    let _l = LOCK.lock().await;
    let q = "SELECT @@lower_case_table_names, @@binlog_row_image, VERSION(), @@global.time_zone, @@time_zone, @@max_allowed_packet";
    let emu = emulator(|_| {}).await;
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    let row: (String, String, String, String, String, u64) = c.query_first(q).await.unwrap().unwrap();
    assert_eq!(
        row,
        ("1".into(), "FULL".into(), "5.7.25-OceanBase_CE-v4.2.1.2".into(), "+08:00".into(), "+08:00".into(), 16777216)
    );
    let v: (String, String) = c.query_first("SHOW GLOBAL VARIABLES LIKE 'binlog_row_image'").await.unwrap().unwrap();
    assert_eq!(v.1, "FULL");
    // The session time zone is real: NOW() is 8 hours ahead of UTC_TIMESTAMP().
    let diff: i64 = c.query_first("SELECT TIMESTAMPDIFF(HOUR, UTC_TIMESTAMP(), NOW())").await.unwrap().unwrap();
    assert_eq!(diff, 8);
    let emu = emulator(off(Quirk::ObVariables)).await;
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    let row: (String, String, String, String, String, u64) = c.query_first(q).await.unwrap().unwrap();
    assert_eq!(row.0, "0", "MariaDB's lower_case_table_names on Linux");
    assert!(row.2.contains("MariaDB"), "{}", row.2);
    assert_eq!(row.4, "SYSTEM");
}

#[tokio::test]
async fn binlog_service_variables() {
    let _l = LOCK.lock().await;
    let emu = emulator(|_| {}).await;
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    let rows: Vec<mysql_async::Row> = c.query("SELECT @@server_id, @@version").await.unwrap();
    assert_eq!(rows[0].columns_ref().len(), 1, "only the first select item");
    assert_eq!(rows[0].get::<String, _>(0).unwrap(), "0");
    let uuid: String = c.query_first("SELECT @@server_uuid").await.unwrap().unwrap();
    assert_eq!(uuid, "");
    let emu = emulator(off(Quirk::BinlogServiceVariables)).await;
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    let (id, _v): (u32, String) = c.query_first("SELECT @@server_id, @@version").await.unwrap().unwrap();
    assert_ne!(id, 0);
}

fn xids(got: &[Got]) -> Vec<u64> {
    got.iter()
        .filter(|g| g.ty == 16)
        .map(|g| match g.event.read_data().unwrap() {
            Some(EventData::XidEvent(x)) => x.xid,
            other => panic!("XID expected: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn restart_resets_counters() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(|c| {
            if !on {
                off(Quirk::RestartResetsCounters)(c)
            }
        })
        .await;
        let (db, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
        let id1 = table_maps(&got, &db).next().unwrap().table_map.as_ref().unwrap().0;
        let x1 = *xids(&got).last().unwrap();
        emu.restart_converter(RestartAt::Auto).await;
        let base = emu.stats().transactions;
        let mut a = admin().await;
        a.query_drop(format!("INSERT INTO `{db}`.t VALUES (2)")).await.unwrap();
        wait_converted(&emu, base, 1).await;
        let dbc = db.clone();
        let (got2, _) = read_stream(emu_opts(&emu), &[], "mysql-bin.000002", 4, Duration::from_secs(10), move |g| {
            !row_changes(g, &dbc).is_empty() && g.last().is_some_and(|e| e.ty == 16)
        })
        .await;
        let id2 = table_maps(&got2, &db).next().unwrap().table_map.as_ref().unwrap().0;
        let x2 = *xids(&got2).last().unwrap();
        if on {
            assert_eq!((id2, x2), (1, 1), "table ids and XIDs from 1 after a restart");
        } else {
            assert_eq!(id2, id1, "same table id");
            assert_eq!(x2, x1 + 1, "XID continues");
        }
    }
}

#[tokio::test]
async fn restart_inside_a_transaction_truncates_and_closes_dumps() {
    let _l = LOCK.lock().await;
    let emu = emulator(|_| {}).await;
    let mut a = admin().await;
    let db = fresh_schema(&mut a, "obrst").await;
    a.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v VARCHAR(10))")).await.unwrap();
    wait_converted(&emu, 0, 1).await;
    // A dump connection open across the restart.
    let opts = emu_opts(&emu);
    let streaming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = streaming.clone();
    let open = tokio::spawn(async move {
        read_stream(opts, &[], "mysql-bin.000001", 4, Duration::from_secs(30), move |g| {
            if g.len() >= 2 {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            false
        })
        .await
    });
    while !streaming.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The restart lands right after the transaction's first ROWS event is written.
    let restart = {
        let svc_emu = &emu;
        async move { svc_emu.restart_converter(RestartAt::InTransaction).await }
    };
    let work = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.query_drop("BEGIN").await.unwrap();
        a.query_drop(format!("INSERT INTO `{db}`.t VALUES (1,'a'),(2,'b'),(3,'c')")).await.unwrap();
        a.query_drop(format!("INSERT INTO `{db}`.t VALUES (4,'d'),(5,'e'),(6,'f')")).await.unwrap();
        a.query_drop("COMMIT").await.unwrap();
    };
    tokio::join!(restart, work);
    let st = emu.stats();
    assert_eq!(st.restarts, 1);
    assert!(st.truncated_bytes > 0, "half a transaction was cut off");
    let (_, end) = open.await.unwrap();
    assert!(end.is_some(), "the open dump was closed by the restart");

    // A new reader from the start: file 1 ends (after its last whole transaction) with a
    // ROTATE to file 2, which holds the whole transaction once, with table id 1.
    let dbc = db.clone();
    let (got, _) = read_stream(emu_opts(&emu), &[], "mysql-bin.000001", 4, Duration::from_secs(20), move |g| {
        row_changes(g, &dbc).len() >= 6 && g.last().is_some_and(|e| e.ty == 16)
    })
    .await;
    let changes = row_changes(&got, &db);
    let ids: Vec<String> = changes.iter().map(|c| c.3.as_ref().unwrap()[0].clone()).collect();
    assert_eq!(ids, (1..=6).map(|i| format!("int:{i}")).collect::<Vec<_>>(), "every row once");
    let rot = got.iter().position(|g| g.ty == 4 && g.log_pos != 0).expect("real ROTATE");
    assert_eq!(&got[rot].data[8..], b"mysql-bin.000002");
    let before = got[..rot].iter().rev().find(|g| g.ty != 27).unwrap();
    assert!(
        before.ty == 16 || before.ty == 2 || before.ty == 35,
        "file 1 ends with a whole transaction, got {}",
        before.ty
    );
    let tm = table_maps(&got[rot..], &db).next().unwrap().table_map.as_ref().unwrap().0;
    assert_eq!(tm, 1);
    let mut c = mysql_async::Conn::new(emu_opts(&emu)).await.unwrap();
    let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.unwrap();
    assert_eq!(logs.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["mysql-bin.000001", "mysql-bin.000002"]);
}

#[tokio::test]
async fn a_new_process_recovers_the_data_directory() {
    let _l = LOCK.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let emu = emulator(|c| c.data_dir = Some(d.clone())).await;
    let (db, _) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
    drop(emu);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut a = admin().await;
    a.query_drop(format!("INSERT INTO `{db}`.t VALUES (2)")).await.unwrap();
    let d2 = d.clone();
    let emu = emulator(|c| c.data_dir = Some(d2)).await;
    let dbc = db.clone();
    let (got, _) = read_stream(emu_opts(&emu), &[], "mysql-bin.000001", 4, Duration::from_secs(20), move |g| {
        row_changes(g, &dbc).len() >= 2 && g.last().is_some_and(|e| e.ty == 16)
    })
    .await;
    let changes = row_changes(&got, &db);
    let ids: Vec<String> = changes.iter().map(|c| c.3.as_ref().unwrap()[0].clone()).collect();
    assert_eq!(ids, ["int:1", "int:2"], "the row written while the emulator was down arrives once");
    assert!(got.iter().any(|g| g.ty == 4 && g.log_pos != 0), "the restart rotated to a new file");
}

fn gnos(got: &[Got]) -> Vec<u64> {
    got.iter()
        .filter(|g| g.ty == 33)
        .map(|g| match g.event.read_data().unwrap() {
            Some(EventData::GtidEvent(e)) => e.gno(),
            other => panic!("GTID expected: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn gtid_dump_skips_the_clients_transactions() {
    let _l = LOCK.lock().await;
    let emu = emulator(|_| {}).await;
    let (db, all) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
    let mut a = admin().await;
    let base = emu.stats().transactions;
    a.query_drop(format!("INSERT INTO `{db}`.t VALUES (2)")).await.unwrap();
    wait_converted(&emu, base, 1).await;
    let have = gnos(&all);
    let k = *have.last().unwrap();
    let uuid = emu_uuid();
    // The client has 1..=k: the stream starts at file 1 (its PREVIOUS_GTIDS is empty) and
    // skips those transactions.
    let sid = mysql_common::packets::Sid::new(uuid).with_interval(mysql_common::packets::GnoInterval::new(1, k + 1));
    let req = mysql_async::BinlogStreamRequest::new(4242).with_gtid().with_gtid_set(vec![sid]).with_pos(4);
    let dbc = db.clone();
    let (got, _) = read_request(emu_opts(&emu), &[], req, Duration::from_secs(10), move |g| {
        !row_changes(g, &dbc).is_empty() && g.last().is_some_and(|e| e.ty == 16)
    })
    .await;
    assert!(gnos(&got).iter().all(|&g| g > k), "only gnos after {k}: {:?}", gnos(&got));
    let ids: Vec<String> = row_changes(&got, &db).iter().map(|c| c.3.as_ref().unwrap()[0].clone()).collect();
    assert_eq!(ids, ["int:2"]);
    // A set without the server's uuid is refused.
    let other = mysql_common::packets::Sid::new([7; 16]).with_interval(mysql_common::packets::GnoInterval::new(1, 2));
    let req = mysql_async::BinlogStreamRequest::new(4243).with_gtid().with_gtid_set(vec![other]).with_pos(4);
    let (got, end) = read_request(emu_opts(&emu), &[], req, Duration::from_secs(5), |_| false).await;
    assert!(got.is_empty());
    let end = end.unwrap_or_default();
    assert!(end.contains("1236") && end.contains("no longer exists"), "{end}");
}

fn emu_uuid() -> [u8; 16] {
    Config::new("h", 1, "u", "p").server_uuid
}

#[tokio::test]
async fn next_file_fake_rotate() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        // Files rotate after every transaction.
        let emu = emulator(|c| {
            c.max_binlog_size = 1;
            if !on {
                off(Quirk::NextFileFakeRotate)(c)
            }
        })
        .await;
        let (_, got) = run(&emu, "id INT PRIMARY KEY", &["INSERT INTO t VALUES (1)"], 1, &[]).await;
        let rot = got.iter().position(|g| g.ty == 4 && g.log_pos != 0).expect("a real ROTATE");
        let next: Vec<_> = got[rot + 1..].iter().filter(|g| g.ty != 27).take(2).collect();
        if on {
            assert_eq!((next[0].ty, next[0].log_pos, next[0].flags), (4, 0, 0x20), "a fake ROTATE first");
            // Read with the previous FDE's CRC32 setting, it lost 4 name bytes to the "checksum".
            assert_eq!(&next[0].data[8..], b"mysql-bin.00");
            assert_eq!(next[1].ty, 15);
        } else {
            assert_eq!(next[0].ty, 15, "the FDE follows the real ROTATE");
        }
    }
}
