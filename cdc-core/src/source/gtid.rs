//! MySQL GTID sets as the source tracks them: parsed from their text form, advanced one
//! transaction at a time, printed back in MySQL's canonical form, and turned into the SID
//! blocks of `COM_BINLOG_DUMP_GTID` for a GTID start.
//!
//! Facts used: the GTID set text format `uuid[:tag]:interval[:interval]...` with inclusive
//! intervals, comma-separated per source UUID, lower-case UUIDs, intervals sorted and merged
//! (MySQL manual 19.1.3.1 "GTID Format and Storage", 8.4 "GTID tags"); the wire form of
//! `COM_BINLOG_DUMP_GTID`, where an interval's end is *exclusive* (MySQL source
//! `Gtid_set::encode`), built here as `mysql_common` `Sid`s. MariaDB GTIDs
//! (`domain-server-seq`) are handled by the decoder itself, not here.

use std::collections::BTreeMap;
use std::fmt;

use mysql_common::binlog::events::PreviousGtidsEvent;
use mysql_common::packets::{GnoInterval, Sid, Tag};

/// A MySQL GTID set: for each (source UUID, tag) the sorted, merged, inclusive intervals of
/// transaction numbers (GNOs ≥ 1). The untagged entries of a UUID sort before its tagged ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet {
    sets: BTreeMap<SidKey, Vec<(u64, u64)>>,
}

/// (source UUID, tag or `""`).
type SidKey = ([u8; 16], String);

/// Why a text is not a MySQL GTID set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MySQL GTID set `{text}`: {reason}")]
pub struct ParseMysqlGtidError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl MysqlGtidSet {
    /// Parses MySQL's text form, e.g. `3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,…` or, with
    /// MySQL 8.4 tags, `uuid:1-5:mytag:1-3`. Whitespace (MySQL prints newlines after commas) is
    /// ignored; the empty string is the empty set. UUIDs may be upper case.
    ///
    /// Errors: [`ParseMysqlGtidError`] naming the first bad part (UUID, tag, interval with
    /// start 0 or start > end).
    pub fn parse(text: &str) -> Result<Self, ParseMysqlGtidError> {
        let err = |reason: String| ParseMysqlGtidError { text: text.to_string(), reason };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let mut set = Self::default();
        if compact.is_empty() {
            return Ok(set);
        }
        for entry in compact.split(',') {
            let mut parts = entry.split(':');
            let uuid_text = parts.next().unwrap_or_default();
            let uuid = parse_uuid(uuid_text).ok_or_else(|| err(format!("`{uuid_text}` is not a UUID")))?;
            let mut tag = String::new();
            let mut any = false;
            for part in parts {
                if part.starts_with(|c: char| c.is_ascii_digit()) {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let (a, b) = match (a.parse::<u64>(), b.parse::<u64>()) {
                        (Ok(a), Ok(b)) if a >= 1 && a <= b && b < u64::MAX => (a, b),
                        _ => return Err(err(format!("`{part}` is not an interval n or n-m with 1 ≤ n ≤ m"))),
                    };
                    set.add_interval(uuid, &tag, a, b);
                    any = true;
                } else if is_tag(part) {
                    tag = part.to_string();
                } else {
                    return Err(err(format!("`{part}` is neither an interval nor a tag")));
                }
            }
            if !any {
                return Err(err(format!("`{entry}` has no interval")));
            }
        }
        Ok(set)
    }

    /// True when the set holds no transaction.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// True when transaction `uuid[:tag]:gno` is in the set.
    pub fn contains(&self, uuid: [u8; 16], tag: &str, gno: u64) -> bool {
        self.sets.get(&(uuid, tag.to_string())).is_some_and(|iv| iv.iter().any(|&(a, b)| a <= gno && gno <= b))
    }

    /// Adds one transaction (the GTID of a committed transaction). `tag` is `""` for untagged.
    pub fn add(&mut self, uuid: [u8; 16], tag: &str, gno: u64) {
        self.add_range(uuid, tag, gno, gno);
    }

    /// Adds the transactions `a..=b` (inclusive; ignored unless 1 ≤ a ≤ b < u64::MAX).
    pub fn add_range(&mut self, uuid: [u8; 16], tag: &str, a: u64, b: u64) {
        if a >= 1 && a <= b && b < u64::MAX {
            self.add_interval(uuid, tag, a, b);
        }
    }

    /// Adds the inclusive interval `a..=b`, keeping the intervals sorted and merged.
    fn add_interval(&mut self, uuid: [u8; 16], tag: &str, a: u64, b: u64) {
        let iv = self.sets.entry((uuid, tag.to_string())).or_default();
        // Common case: the next transaction of the last interval.
        if let Some(last) = iv.last_mut() {
            if a >= last.0 && a <= last.1.saturating_add(1) {
                last.1 = last.1.max(b);
                return;
            }
        }
        iv.push((a, b));
        iv.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(iv.len());
        for &(a, b) in iv.iter() {
            match merged.last_mut() {
                Some(m) if a <= m.1.saturating_add(1) => m.1 = m.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *iv = merged;
    }

    /// The set a PREVIOUS_GTIDS event carries (the GTIDs executed before its binlog file; its
    /// intervals' ends are exclusive, as in `COM_BINLOG_DUMP_GTID`).
    pub fn from_previous_gtids(ev: &PreviousGtidsEvent<'_>) -> Self {
        let mut set = Self::default();
        for sid in ev.sids() {
            let tag = sid.tag().map(|t| t.as_str()).unwrap_or_default();
            for iv in sid.intervals() {
                set.add_range(sid.uuid(), tag, iv.start(), iv.end().saturating_sub(1));
            }
        }
        set
    }

    /// Adds every transaction of `other`.
    pub fn union(&mut self, other: &MysqlGtidSet) {
        for ((uuid, tag), ivs) in &other.sets {
            for &(a, b) in ivs {
                self.add_interval(*uuid, tag, a, b);
            }
        }
    }

    /// The SID blocks of `COM_BINLOG_DUMP_GTID` for this set: one per (UUID, tag), intervals
    /// with exclusive ends as the protocol wants them.
    pub fn to_sids(&self) -> Vec<Sid<'static>> {
        self.sets
            .iter()
            .map(|((uuid, tag), ivs)| {
                let mut sid =
                    Sid::new(*uuid).with_intervals(ivs.iter().map(|&(a, b)| GnoInterval::new(a, b + 1)).collect());
                if !tag.is_empty() {
                    if let Ok(t) = Tag::new(tag.clone()) {
                        sid = sid.with_tag(t);
                    }
                }
                sid
            })
            .collect()
    }
}

/// A source UUID in MySQL's text form: lower-case hex, dashes after bytes 4, 6, 8 and 10.
pub(crate) struct UuidText<'a>(pub(crate) &'a [u8; 16]);

impl fmt::Display for UuidText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for MysqlGtidSet {
    /// MySQL's canonical text: `uuid:1-5:7,uuid2[:tag]:1-3` (lower-case UUIDs, no spaces; the
    /// tagged intervals of a UUID follow its untagged ones in the same entry).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last_uuid: Option<[u8; 16]> = None;
        for ((uuid, tag), ivs) in &self.sets {
            if last_uuid != Some(*uuid) {
                if last_uuid.is_some() {
                    f.write_str(",")?;
                }
                write!(f, "{}", UuidText(uuid))?;
                last_uuid = Some(*uuid);
            }
            if !tag.is_empty() {
                write!(f, ":{tag}")?;
            }
            for &(a, b) in ivs {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mysql_common::proto::MySerialize;

    use super::*;

    const U1: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const U2: &str = "a0000000-0000-0000-0000-000000000001";

    #[test]
    fn parses_merges_and_prints_mysql_canonical_text() {
        let s = MysqlGtidSet::parse(&format!("{}:7:1-3:4-5, \n{U2}:10-20", U1.to_uppercase())).unwrap();
        assert_eq!(s.to_string(), format!("{U1}:1-5:7,{U2}:10-20"));
        assert!(s.contains(parse_uuid(U1).unwrap(), "", 4));
        assert!(!s.contains(parse_uuid(U1).unwrap(), "", 6));
        assert_eq!(MysqlGtidSet::parse("").unwrap().to_string(), "");
        let tagged = MysqlGtidSet::parse(&format!("{U1}:1-5:blue:1-3:9")).unwrap();
        assert_eq!(tagged.to_string(), format!("{U1}:1-5:blue:1-3:9"));
    }

    #[test]
    fn bad_sets_name_the_bad_part() {
        for (text, part) in [
            ("nope:1-5", "`nope` is not a UUID"),
            (&format!("{U1}:0-5") as &str, "`0-5`"),
            (&format!("{U1}:5-3"), "`5-3`"),
            (&format!("{U1}:Blue:1"), "`Blue`"),
            (U1, "has no interval"),
        ] {
            let e = MysqlGtidSet::parse(text).unwrap_err().to_string();
            assert!(e.contains(part), "{text}: {e}");
        }
    }

    #[test]
    fn adding_transactions_extends_fills_gaps_and_merges() {
        let u = parse_uuid(U1).unwrap();
        let mut s = MysqlGtidSet::parse(&format!("{U1}:1-3:7-9")).unwrap();
        s.add(u, "", 4);
        assert_eq!(s.to_string(), format!("{U1}:1-4:7-9"));
        s.add(u, "", 6);
        assert_eq!(s.to_string(), format!("{U1}:1-4:6-9"));
        s.add(u, "", 5);
        assert_eq!(s.to_string(), format!("{U1}:1-9"));
        s.add(u, "", 2);
        assert_eq!(s.to_string(), format!("{U1}:1-9"), "a GTID already in the set changes nothing");
        s.add(parse_uuid(U2).unwrap(), "", 1);
        assert_eq!(s.to_string(), format!("{U1}:1-9,{U2}:1"));
        let mut t = MysqlGtidSet::default();
        t.union(&s);
        assert_eq!(t, s);
    }

    #[test]
    fn dump_gtid_sid_blocks_have_exclusive_interval_ends() {
        // COM_BINLOG_DUMP_GTID data: n_sids (8), then per SID: uuid (16), n_intervals (8), and
        // per interval start (8), end (8, exclusive). Built here as mysql_common sends it.
        let s = MysqlGtidSet::parse(&format!("{U1}:1-5:7")).unwrap();
        let sids = s.to_sids();
        assert_eq!(sids.len(), 1);
        let mut bytes = Vec::new();
        sids[0].serialize(&mut bytes);
        let mut want = parse_uuid(U1).unwrap().to_vec();
        want.extend(2u64.to_le_bytes());
        for v in [1u64, 6, 7, 8] {
            want.extend(v.to_le_bytes());
        }
        assert_eq!(bytes, want);
    }
}
