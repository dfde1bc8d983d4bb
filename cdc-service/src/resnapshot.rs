//! `cdc-collector snapshot DB.TABLE …`: marks tables for a new snapshot at the next start, for
//! repair after a downstream loss (a topic emptied or a consumer that lost its state).
//!
//! It edits the stored checkpoint while the collector is stopped: the named tables are taken
//! out of the checkpoint's record of snapshotted tables (`Checkpoint::snapshotted`), so the
//! next `run` (snapshot mode `initial`, `when_needed` or `initial_only`) snapshots them again as it does a
//! table added to the captured tables — the binlog caught up to a new consistent point, then
//! their rows at that point, then the stream (MariaDB); watermark windows on servers without a
//! consistent point — while every other table keeps its position. Nothing else in the
//! checkpoint changes, so nothing is lost or skipped.
//!
//! Refused (exit 1, with what to do): while something answers on `MONITORING_PORT` (a running
//! collector would overwrite the checkpoint with its own record), without a checkpoint (the
//! next start snapshots every table anyway), with a snapshot under way, or with a checkpoint
//! that records no snapshotted tables (written by mode `never` or an earlier version). A name
//! not of the form `db.table` is a usage error (exit 2).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cdc_core::checkpoint::{FileOffsetStore, OffsetStore};
use cdc_core::snapshot::TableId;

use crate::config::ServiceConfig;

/// Runs `snapshot` for `tables` (`db.table` each) with the offset file and monitoring port of
/// `cfg`; prints what it did or why not. Returns the exit code (0 done, 1 refused, 2 usage).
pub fn mark_for_snapshot(cfg: &ServiceConfig, tables: &[String]) -> ExitCode {
    let mut named = BTreeSet::new();
    for t in tables {
        match t.split_once('.') {
            Some((db, table)) if !db.is_empty() && !table.is_empty() && !table.contains('.') => {
                named.insert(TableId::new(db, table));
            }
            _ => {
                eprintln!("snapshot: `{t}` is not `db.table`");
                return ExitCode::from(2);
            }
        }
    }
    if named.is_empty() {
        eprintln!("snapshot: name the tables to snapshot again, as `db.table`");
        return ExitCode::from(2);
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], cfg.monitoring_port));
    if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
        eprintln!(
            "snapshot: something answers on MONITORING_PORT {} (a running collector?): stop the collector first; \
             it would overwrite the checkpoint with its own record of snapshotted tables",
            cfg.monitoring_port
        );
        return ExitCode::FAILURE;
    }
    let store = FileOffsetStore::new(&cfg.offset_path);
    let mut cp = match store.load() {
        Ok(Some(cp)) => cp,
        Ok(None) => {
            eprintln!(
                "snapshot: no checkpoint at {}: the next start snapshots every captured table anyway",
                cfg.offset_path.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("snapshot: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cp.snapshot.as_ref().is_some_and(|p| !p.is_done()) {
        eprintln!("snapshot: a snapshot is under way in {}: let it finish, then ask again", cfg.offset_path.display());
        return ExitCode::FAILURE;
    }
    let Some(done) = cp.snapshotted.clone() else {
        eprintln!(
            "snapshot: the checkpoint records no snapshotted tables (written by snapshot mode never or an earlier \
             version): start the collector once with CDC_SNAPSHOT_MODE=initial so that it records them, then ask again"
        );
        return ExitCode::FAILURE;
    };
    let mut left = (*done).clone();
    for t in &named {
        if !left.remove(t) {
            println!("{t}: not snapshotted before; it is snapshotted at the next start if it is captured");
        }
    }
    cp.snapshotted = Some(Arc::new(left));
    if let Err(e) = store.store(&cp) {
        eprintln!("snapshot: {e}");
        return ExitCode::FAILURE;
    }
    let list: Vec<String> = named.iter().map(ToString::to_string).collect();
    println!(
        "{} marked: the next start snapshots {} again; every other table resumes at {}",
        cfg.offset_path.display(),
        list.join(", "),
        cp.resume
    );
    if !cfg.snapshot_mode.snapshots() {
        println!(
            "note: CDC_SNAPSHOT_MODE is {}; start with initial, when_needed or initial_only for the snapshot to run",
            cfg.snapshot_mode
        );
    }
    ExitCode::SUCCESS
}
