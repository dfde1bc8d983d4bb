//! Checkpoints: the [`OffsetStore`] seam and its implementations.
//!
//! A checkpoint ([`Checkpoint`]) is written only after the sink acknowledged every event at or
//! before it, and only at a transaction boundary; on start the collector resumes from it. The
//! file store writes atomically (temp file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new checkpoint, never a torn one.
//!
//! File format: the JSON of [`Checkpoint`] with `"version": 2`. Files of version 1 (no
//! `version`; a flat `position` and a string `gtid_set`, an empty file name meaning "start by
//! GTID") are read and converted; the next store writes version 2.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::position::{BinlogPosition, GtidSet, Resume};
use std::collections::BTreeSet;

use crate::snapshot::{SnapshotProgress, TableId};

/// A durable resume point: always at a consistent point of the source (a transaction boundary
/// of the binlog), stored only after every event before it has been acknowledged by the sink.
///
/// Stored as JSON by [`FileOffsetStore`], which also reads the offset files
/// of earlier versions (a flat `position` + string `gtid_set`, where an empty file name meant
/// "GTID start").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Where the binlog stream resumes.
    pub resume: Resume,
    /// server_id of the source that wrote the binlog (0 when unknown).
    pub server_id: u32,
    /// When this checkpoint was taken, ms since the Unix epoch.
    pub ts_ms: i64,
    /// The initial snapshot's progress while one runs (or is to run): the tables done, the
    /// one in progress with its last acknowledged key, the pending ones, and the consistent
    /// point streaming starts at once it is done. None when no snapshot is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotProgress>,
    /// The tables whose rows an initial snapshot has delivered (done, in every checkpoint
    /// after it, the binlog source carrying it forward), so that a table added to the captured
    /// tables later is found and snapshotted at the next start. None when no snapshot ever
    /// ran (mode `never`, or an offset file of an earlier version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshotted: Option<Arc<BTreeSet<TableId>>>,
}

impl Checkpoint {
    /// A checkpoint at `position` with GTID state `gtid_set`.
    pub fn at(position: BinlogPosition, gtid_set: Option<GtidSet>, server_id: u32, ts_ms: i64) -> Self {
        Self { resume: Resume::Position { position, gtid_set }, server_id, ts_ms, snapshot: None, snapshotted: None }
    }

    /// A start after the transactions of `gtid_set` (file found by the server).
    pub fn after_gtids(gtid_set: GtidSet, ts_ms: i64) -> Self {
        Self { resume: Resume::Gtid { gtid_set }, server_id: 0, ts_ms, snapshot: None, snapshotted: None }
    }

    /// The binlog file and offset, when known (see [`Resume::position`]).
    pub fn position(&self) -> Option<&BinlogPosition> {
        self.resume.position()
    }

    /// The GTID state, when known (see [`Resume::gtid_set`]).
    pub fn gtid_set(&self) -> Option<&GtidSet> {
        self.resume.gtid_set()
    }
}

/// Version written by this release (see the module docs).
const FILE_VERSION: u32 = 2;

/// Version 2: the checkpoint with a version number.
#[derive(Serialize, Deserialize)]
struct FileV2 {
    version: u32,
    #[serde(flatten)]
    checkpoint: Checkpoint,
}

/// Version 1 (before typed resume points): `{"position":{"file","pos"},"gtid_set":"…"|null,
/// "server_id","ts_ms"}`.
#[derive(Deserialize)]
struct FileV1 {
    position: BinlogPosition,
    gtid_set: Option<String>,
    server_id: u32,
    ts_ms: i64,
}

/// Reads either version. Errors: a message for [`OffsetStoreError::Corrupt`].
fn parse_file(bytes: &[u8]) -> Result<Checkpoint, String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if value.get("version").is_some() {
        let f: FileV2 = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if f.version != FILE_VERSION {
            return Err(format!("unknown offset file version {} (this release reads 1 and 2)", f.version));
        }
        return Ok(f.checkpoint);
    }
    let v1: FileV1 = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let gtid_set = match v1.gtid_set.as_deref().map(str::trim).filter(|g| !g.is_empty()) {
        Some(text) => Some(text.parse::<GtidSet>().map_err(|e| e.to_string())?),
        None => None,
    };
    let resume = match (v1.position.file.is_empty(), gtid_set) {
        (true, Some(gtid_set)) => Resume::Gtid { gtid_set },
        (true, None) => return Err("version 1 checkpoint with neither a file nor a GTID set".into()),
        (false, gtid_set) => Resume::Position { position: v1.position, gtid_set },
    };
    Ok(Checkpoint { resume, server_id: v1.server_id, ts_ms: v1.ts_ms, snapshot: None, snapshotted: None })
}

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum OffsetStoreError {
    /// The file could not be read, written, synced or renamed (disk full, permissions...).
    #[error("offset store I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The stored checkpoint is not valid JSON of the expected shape.
    #[error("offset file {path} is corrupt: {message}; fix or remove it (removing it restarts from the configured start position)")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        message: String,
    },
}

/// Durable storage for the last acknowledged [`Checkpoint`].
pub trait OffsetStore: Send + Sync {
    /// The stored checkpoint, or None when nothing was stored yet.
    ///
    /// Errors: [`OffsetStoreError`] when storage cannot be read or holds garbage.
    fn load(&self) -> Result<Option<Checkpoint>, OffsetStoreError>;

    /// Durably replaces the stored checkpoint; returns only after it is on stable storage.
    ///
    /// Errors: [`OffsetStoreError::Io`] when it cannot be written; the caller must then stop
    /// reading rather than run without checkpoints.
    fn store(&self, checkpoint: &Checkpoint) -> Result<(), OffsetStoreError>;
}

/// A JSON file holding one [`Checkpoint`], replaced atomically.
#[derive(Debug, Clone)]
pub struct FileOffsetStore {
    path: PathBuf,
}

impl FileOffsetStore {
    /// A store at `path` (created on the first `store`; parent directories too).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, path: &Path, source: std::io::Error) -> OffsetStoreError {
        OffsetStoreError::Io { path: path.to_path_buf(), source }
    }
}

impl OffsetStore for FileOffsetStore {
    fn load(&self) -> Result<Option<Checkpoint>, OffsetStoreError> {
        match fs::read(&self.path) {
            Ok(bytes) => parse_file(&bytes)
                .map(Some)
                .map_err(|message| OffsetStoreError::Corrupt { path: self.path.clone(), message }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(&self.path, e)),
        }
    }

    fn store(&self, checkpoint: &Checkpoint) -> Result<(), OffsetStoreError> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = FileV2 { version: FILE_VERSION, checkpoint: checkpoint.clone() };
        let body = serde_json::to_vec_pretty(&file).expect("checkpoint serializes");
        {
            let mut f = fs::File::create(&tmp).map_err(|e| self.io(&tmp, e))?;
            f.write_all(&body).map_err(|e| self.io(&tmp, e))?;
            f.sync_all().map_err(|e| self.io(&tmp, e))?;
        }
        fs::rename(&tmp, &self.path).map_err(|e| self.io(&self.path, e))?;
        // Make the rename itself durable.
        fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| self.io(&dir, e))?;
        Ok(())
    }
}

/// An in-memory store, for tests and for embedding where the caller persists elsewhere.
/// Clones share the same slot.
#[derive(Debug, Clone, Default)]
pub struct MemoryOffsetStore {
    slot: Arc<Mutex<Option<Checkpoint>>>,
}

impl MemoryOffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl OffsetStore for MemoryOffsetStore {
    fn load(&self) -> Result<Option<Checkpoint>, OffsetStoreError> {
        Ok(self.slot.lock().expect("offset slot").clone())
    }

    fn store(&self, checkpoint: &Checkpoint) -> Result<(), OffsetStoreError> {
        *self.slot.lock().expect("offset slot") = Some(checkpoint.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(pos: u64) -> Checkpoint {
        Checkpoint::at(BinlogPosition::new("binlog.000002", pos), Some("0-1-9".parse().unwrap()), 1, 5)
    }

    #[test]
    fn version_1_files_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        fs::write(
            &path,
            br#"{"position":{"file":"binlog.000002","pos":100},"gtid_set":"0-1-9","server_id":1,"ts_ms":5}"#,
        )
        .unwrap();
        let store = FileOffsetStore::new(&path);
        assert_eq!(store.load().unwrap(), Some(cp(100)));
        // The GTID-start sentinel of version 1 becomes a typed GTID resume point.
        fs::write(&path, br#"{"position":{"file":"","pos":4},"gtid_set":"0-1-9","server_id":0,"ts_ms":5}"#).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.resume, Resume::Gtid { gtid_set: "0-1-9".parse().unwrap() });
        // Stored again, it is version 2 and reads back the same.
        store.store(&loaded).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        assert_eq!(store.load().unwrap(), Some(loaded));
        // A version-1 file with a bad GTID set is corrupt, not silently dropped.
        fs::write(&path, br#"{"position":{"file":"b.000001","pos":4},"gtid_set":"nonsense","server_id":0,"ts_ms":5}"#)
            .unwrap();
        assert!(matches!(store.load(), Err(OffsetStoreError::Corrupt { .. })));
    }

    #[test]
    fn file_store_round_trips_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileOffsetStore::new(dir.path().join("sub/offsets.json"));
        assert_eq!(store.load().unwrap(), None);
        store.store(&cp(100)).unwrap();
        store.store(&cp(200)).unwrap();
        assert_eq!(store.load().unwrap(), Some(cp(200)));
        assert!(!dir.path().join("sub/offsets.json.tmp").exists());
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.json");
        fs::write(&path, b"{not json").unwrap();
        let err = FileOffsetStore::new(&path).load().unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn unwritable_location_fails_to_store() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        // A path under a regular file cannot be created.
        let store = FileOffsetStore::new(blocker.join("offsets.json"));
        assert!(matches!(store.store(&cp(1)), Err(OffsetStoreError::Io { .. })));
    }
}
