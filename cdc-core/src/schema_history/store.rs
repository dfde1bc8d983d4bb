//! The durable history: a JSON-lines file of [`HistoryRecord`]s (a snapshot, then one record
//! per DDL that changed something), in binlog order, each line written and `fsync`'d
//! ([`std::fs::File::sync_data`]) before [`HistoryFile::append`] returns.
//!
//! # Never behind nor ahead of the checkpoint
//!
//! - **Not behind**: the caller appends a DDL's record before the decoder emits the commit
//!   that moves past that DDL, so no checkpoint (stored only after the sink acknowledged
//!   everything before it) can name a position whose DDL is not on disk. The seed snapshot is
//!   appended before streaming starts.
//! - **Not ahead**: records may be on disk for DDLs after the stored checkpoint (written, not
//!   yet acknowledged when the collector stopped). On resume, [`HistoryFile::resume`] rebuilds
//!   the history at the checkpoint's position ([`SchemaHistory::schema_at`]) and rewrites the
//!   file without the later records (atomically: a temporary file, `fsync`, rename, `fsync` of
//!   the directory). The stream re-reads those DDLs from the checkpoint and appends them again.
//!
//! A torn last line (a crash in the middle of a write; it has no trailing newline) is dropped
//! on open: its DDL was never followed by a checkpoint. Any other unreadable line is an error,
//! never skipped (Debezium dbz#2221: a history that silently drops a record decodes later rows
//! with the wrong schema).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use super::history::{compare_positions, HistoryConfig, HistoryRecord, SchemaHistory};
use crate::position::BinlogPosition;

/// Why the history file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O error on the file.
    #[error("schema history file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A line that is not a record (and is not a torn last line).
    #[error("schema history file {path}, line {line}: not a history record ({message}); the file is damaged: restore it from a backup or re-seed the history with a new snapshot")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The file holds no snapshot at or before the checkpoint's position.
    #[error("schema history file {path} has no snapshot at or before {position}: the history cannot be rebuilt there; re-seed it with a new snapshot (and a new start position)")]
    NoSnapshot {
        /// The file.
        path: PathBuf,
        /// The checkpoint's position.
        position: BinlogPosition,
    },
    /// A record's position cannot be ordered against the checkpoint's.
    #[error("schema history file {path}: {message}")]
    Order {
        /// The file.
        path: PathBuf,
        /// Which positions.
        message: String,
    },
}

/// An open history file, appended to in binlog order.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    file: File,
}

impl HistoryFile {
    /// Opens (creating if absent) the history file at `path` and reads its records; a torn last
    /// line is cut off the file.
    ///
    /// Errors: [`StoreError::Io`], [`StoreError::Corrupt`].
    pub fn open(path: impl AsRef<Path>) -> Result<(Self, Vec<HistoryRecord>), StoreError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| StoreError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io_err)?;
        let mut records = Vec::new();
        let mut good_len = 0u64;
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut n = 0;
        loop {
            line.clear();
            let read = reader.read_line(&mut line).map_err(io_err)?;
            if read == 0 {
                break;
            }
            n += 1;
            if !line.ends_with('\n') {
                // Torn last line: never acknowledged; drop it.
                break;
            }
            if !line.trim().is_empty() {
                let r: HistoryRecord = serde_json::from_str(&line).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    line: n,
                    message: e.to_string(),
                })?;
                records.push(r);
            }
            good_len += read as u64;
        }
        drop(reader);
        if file.metadata().map_err(io_err)?.len() != good_len {
            file.set_len(good_len).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
        }
        Ok((Self { path, file }, records))
    }

    /// Opens the file and rebuilds the history at `checkpoint` (None: no checkpoint yet, the
    /// newest state), cutting the file back to it. Returns None when the file is empty (seed
    /// it: [`SchemaHistory::snapshot_record`] then [`Self::append`]).
    ///
    /// Errors: those of [`Self::open`]; [`StoreError::NoSnapshot`] when records exist but none
    /// is a snapshot at or before `checkpoint`; [`StoreError::Order`].
    pub fn resume(
        path: impl AsRef<Path>,
        config: &HistoryConfig,
        checkpoint: Option<&BinlogPosition>,
    ) -> Result<Option<(SchemaHistory, Self)>, StoreError> {
        let (mut file, records) = Self::open(path)?;
        let Some(last) = records.last() else { return Ok(None) };
        let at = checkpoint.cloned().unwrap_or_else(|| last.position.clone());
        let order = |message| StoreError::Order { path: file.path.clone(), message };
        let history = SchemaHistory::schema_at(config, &records, &at)
            .map_err(order)?
            .ok_or_else(|| StoreError::NoSnapshot { path: file.path.clone(), position: at.clone() })?;
        let mut keep = Vec::with_capacity(records.len());
        for r in &records {
            match compare_positions(&r.position, &at) {
                Some(std::cmp::Ordering::Greater) => {}
                Some(_) => keep.push(r.clone()),
                None => return Err(order(format!("record at {} cannot be ordered against {at}", r.position))),
            }
        }
        if keep.len() != records.len() {
            file.rewrite(&keep)?;
        }
        Ok(Some((history, file)))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `record` as one line and syncs it to disk.
    ///
    /// Errors: [`StoreError::Io`].
    pub fn append(&mut self, record: &HistoryRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_string(record).expect("history records serialize");
        line.push('\n');
        let io_err = |source| StoreError::Io { path: self.path.clone(), source };
        self.file.write_all(line.as_bytes()).map_err(io_err)?;
        self.file.sync_data().map_err(io_err)
    }

    /// Replaces the file's content with `records`, atomically (temporary file, sync, rename,
    /// sync of the directory). With a single snapshot record this compacts the history.
    ///
    /// Errors: [`StoreError::Io`].
    pub fn rewrite(&mut self, records: &[HistoryRecord]) -> Result<(), StoreError> {
        let io_err = |source| StoreError::Io { path: self.path.clone(), source };
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = File::create(&tmp).map_err(io_err)?;
            for r in records {
                let mut line = serde_json::to_string(r).expect("history records serialize");
                line.push('\n');
                f.write_all(line.as_bytes()).map_err(io_err)?;
            }
            f.sync_all().map_err(io_err)?;
        }
        fs::rename(&tmp, &self.path).map_err(io_err)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        self.file = OpenOptions::new().read(true).append(true).open(&self.path).map_err(io_err)?;
        Ok(())
    }
}
