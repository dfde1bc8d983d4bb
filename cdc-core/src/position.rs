//! Replication positions as typed values: a binlog file/position, a GTID set, where a stream
//! resumes ([`Resume`]) and where to start when nothing is stored ([`StartPosition`]). The
//! stored checkpoint built on them is [`crate::checkpoint::Checkpoint`].
//!
//! Protocol facts: a binlog event header's `log_pos` is the *end* offset of the event, i.e. the
//! position to resume from (MySQL manual, "Binary Log Event Structure"; MariaDB's
//! `sql/log_event.h`, <https://github.com/MariaDB/server/blob/11.4/sql/log_event.h>). The first
//! event of every binlog file is at offset 4 (after the magic `\xfebin`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A binlog coordinate: file name and byte offset in that file.
///
/// `Display`/`FromStr` use `file:pos`, e.g. `binlog.000003:1234`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BinlogPosition {
    /// Binlog file name as the server reports it (`SHOW BINARY LOGS`), without directory.
    pub file: String,
    /// Byte offset in `file`; 4 is the first event of a file.
    pub pos: u64,
}

impl BinlogPosition {
    /// A position at `file`:`pos`.
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        Self { file: file.into(), pos }
    }

    /// The numeric suffix of the file name (`binlog.000012` → 12), used to order files.
    pub fn file_index(&self) -> Option<u64> {
        self.file.rsplit('.').next().and_then(|s| s.parse().ok())
    }

    /// True when `self` is strictly before `other` in the binlog: files ordered by
    /// [`Self::file_index`], then offsets.
    pub fn is_before(&self, other: &BinlogPosition) -> bool {
        (self.file_index(), self.pos) < (other.file_index(), other.pos)
    }
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

/// A position string that is not `file:pos` with a non-empty file and a numeric pos ≥ 4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid binlog position `{0}`: expected `file:pos`, e.g. `binlog.000001:4`")]
pub struct ParsePositionError(pub String);

impl FromStr for BinlogPosition {
    type Err = ParsePositionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (file, pos) = s.rsplit_once(':').ok_or_else(|| ParsePositionError(s.into()))?;
        let pos: u64 = pos.trim().parse().map_err(|_| ParsePositionError(s.into()))?;
        let file = file.trim();
        if file.is_empty() || pos < 4 || file.contains(char::is_whitespace) {
            return Err(ParsePositionError(s.into()));
        }
        Ok(Self::new(file, pos))
    }
}

/// The GTID flavour of a GTID set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GtidFlavor {
    /// MySQL `source_uuid:interval[:interval]` entries, comma separated (MySQL manual 19.1.3.1).
    Mysql,
    /// MariaDB `domain-server-seq` entries, comma separated, one per domain (MariaDB KB "GTID").
    Mariadb,
}

/// A GTID set in its server's textual form, validated on parse.
///
/// MySQL: `3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7,…`; MariaDB: `0-1-100,1-2-7`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GtidSet {
    /// Which server family wrote it.
    pub flavor: GtidFlavor,
    /// The canonical text (whitespace removed).
    pub text: String,
}

/// A GTID set that is neither a MySQL nor a MariaDB GTID set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GTID set `{0}`: expected MariaDB `domain-server-seq[,…]` or MySQL `uuid:1-n[,…]`")]
pub struct ParseGtidError(pub String);

fn is_mariadb_gtid(e: &str) -> bool {
    let parts: Vec<&str> = e.split('-').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.parse::<u64>().is_ok())
}

fn is_mysql_gtid(e: &str) -> bool {
    let mut it = e.split(':');
    let Some(uuid) = it.next() else { return false };
    let hex: String = uuid.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    let mut any = false;
    for part in it {
        // MySQL 8.4 tags (`uuid:tag:1-5`) are accepted: a tag is [a-z_][a-z0-9_]{0,31}.
        let interval_ok = match part.split_once('-') {
            Some((a, b)) => matches!((a.parse::<u64>(), b.parse::<u64>()), (Ok(a), Ok(b)) if a >= 1 && a <= b),
            None => part.parse::<u64>().is_ok_and(|n| n >= 1),
        };
        let tag_ok = !part.is_empty()
            && part.len() <= 32
            && part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !interval_ok && !tag_ok {
            return false;
        }
        any |= interval_ok;
    }
    any
}

impl FromStr for GtidSet {
    type Err = ParseGtidError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let entries: Vec<&str> = text.split(',').collect();
        if text.is_empty() || entries.iter().any(|e| e.is_empty()) {
            return Err(ParseGtidError(s.into()));
        }
        let flavor = if entries.iter().all(|e| is_mariadb_gtid(e)) {
            GtidFlavor::Mariadb
        } else if entries.iter().all(|e| is_mysql_gtid(e)) {
            GtidFlavor::Mysql
        } else {
            return Err(ParseGtidError(s.into()));
        };
        Ok(Self { flavor, text })
    }
}

impl fmt::Display for GtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where to start streaming when no checkpoint is stored (`CDC_START_POSITION`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartPosition {
    /// The current end of the binlog (`SHOW MASTER STATUS`); the default.
    Latest,
    /// The oldest binlog file still on the server, offset 4 (`SHOW BINARY LOGS`).
    Earliest,
    /// An explicit file and offset.
    At(BinlogPosition),
    /// After the given GTID set (MariaDB via `@slave_connect_state`).
    Gtid(GtidSet),
}

/// A start position that is none of `latest`, `earliest`, `file:pos` or a GTID set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid start position `{0}`: expected `latest`, `earliest`, `file:pos` or a GTID set")]
pub struct ParseStartError(pub String);

impl FromStr for StartPosition {
    type Err = ParseStartError;
    /// Accepts `latest`, `earliest`, `file:pos`, or a GTID set.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latest" | "" => return Ok(Self::Latest),
            "earliest" => return Ok(Self::Earliest),
            _ => {}
        }
        if let Ok(g) = s.parse::<GtidSet>() {
            return Ok(Self::Gtid(g));
        }
        if let Ok(p) = s.parse::<BinlogPosition>() {
            return Ok(Self::At(p));
        }
        Err(ParseStartError(s.into()))
    }
}

/// Where the binlog stream of a [`Checkpoint`](crate::checkpoint::Checkpoint) resumes.
///
/// Serialized with a `kind` tag: `{"kind":"position","position":{"file":"binlog.000003","pos":1234},
/// "gtid_set":{"flavor":"mariadb","text":"0-1-42"}}` or `{"kind":"gtid","gtid_set":{…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resume {
    /// At a binlog file and offset: the end of the last committed transaction's XID/COMMIT
    /// event, with the GTID state after that transaction when the server sends GTIDs.
    Position {
        /// File and offset to resume at.
        position: BinlogPosition,
        /// The GTID state at `position` (MariaDB `gtid_binlog_pos` form or the MySQL executed
        /// set); None when unknown (no GTIDs, or a MySQL start mid-file without a set).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gtid_set: Option<GtidSet>,
    },
    /// After every transaction of `gtid_set`, file unknown: the server finds the file
    /// (MariaDB `@slave_connect_state`, MySQL `COM_BINLOG_DUMP_GTID`). Only a start position is
    /// of this kind; the first commit read gives a [`Resume::Position`].
    Gtid {
        /// The transactions already delivered.
        gtid_set: GtidSet,
    },
}

impl Resume {
    /// The binlog file and offset, when known (None for [`Resume::Gtid`]).
    pub fn position(&self) -> Option<&BinlogPosition> {
        match self {
            Resume::Position { position, .. } => Some(position),
            Resume::Gtid { .. } => None,
        }
    }

    /// The GTID state, when known.
    pub fn gtid_set(&self) -> Option<&GtidSet> {
        match self {
            Resume::Position { gtid_set, .. } => gtid_set.as_ref(),
            Resume::Gtid { gtid_set } => Some(gtid_set),
        }
    }
}

impl fmt::Display for Resume {
    /// `binlog.000003:1234`, or `gtid 0-1-42` for a GTID start.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resume::Position { position, .. } => position.fmt(f),
            Resume::Gtid { gtid_set } => write!(f, "gtid {gtid_set}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_round_trips() {
        let p: BinlogPosition = "binlog.000012:1234".parse().unwrap();
        assert_eq!(p, BinlogPosition::new("binlog.000012", 1234));
        assert_eq!(p.to_string(), "binlog.000012:1234");
        assert_eq!(p.file_index(), Some(12));
        for bad in ["", "binlog.000001", ":4", "binlog.000001:x", "binlog.000001:3"] {
            assert!(bad.parse::<BinlogPosition>().is_err(), "{bad}");
        }
    }

    #[test]
    fn gtid_sets_parse_both_flavours() {
        let m: GtidSet = "0-1-100, 1-2-7".parse().unwrap();
        assert_eq!(m.flavor, GtidFlavor::Mariadb);
        assert_eq!(m.to_string(), "0-1-100,1-2-7");
        let y: GtidSet = "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5:7".parse().unwrap();
        assert_eq!(y.flavor, GtidFlavor::Mysql);
        for bad in ["", "0-1", "abc", "3E11FA47:1-5", "0-1-2,", "3E11FA47-71CA-11E1-9E33-C80AA9429562:5-1"] {
            assert!(bad.parse::<GtidSet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn start_positions_parse() {
        assert_eq!("LATEST".parse::<StartPosition>().unwrap(), StartPosition::Latest);
        assert_eq!("earliest".parse::<StartPosition>().unwrap(), StartPosition::Earliest);
        assert!(matches!("b.000001:4".parse::<StartPosition>().unwrap(), StartPosition::At(_)));
        assert!(matches!("0-1-5".parse::<StartPosition>().unwrap(), StartPosition::Gtid(_)));
        assert!("somewhere".parse::<StartPosition>().is_err());
    }
}
