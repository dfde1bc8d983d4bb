//! In-memory projects, topics, shards and records; shard hash-key ranges, PartitionKey/HashKey
//! routing (datahub-protocol §3.3, §12) and cursor encoding (§3.6: opaque, 32 hex digits).

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use crate::error::ApiError;
use crate::model::{ProjectSpec, RecordData, RecordType, ShardInfo, ShardState, StoredRecord, TopicSpec};

/// "No neighbour" in ListShard `LeftShardId`/`RightShardId` (0xFFFFFFFF).
pub(crate) const NO_SHARD: &str = "4294967295";

#[derive(Debug)]
pub(crate) struct Project {
    pub(crate) name: String,
    pub(crate) comment: String,
    pub(crate) create_time: i64,
    pub(crate) topics: BTreeMap<String, Topic>,
}

#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) record_type: RecordType,
    pub(crate) lifecycle: u32,
    pub(crate) comment: String,
    /// GetTopic `ExpandMode`: `split` unless CreateTopic asked for `""` or `extend` (reported
    /// only; the emulator splits and never extends).
    pub(crate) expand_mode: String,
    pub(crate) create_time: i64,
    pub(crate) shards: Vec<Shard>,
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) id: u32,
    pub(crate) state: ShardState,
    /// Inclusive begin of the hash range.
    pub(crate) begin: u128,
    /// Exclusive end; `u128::MAX` for the last range (which then also holds `FFFF…F`).
    pub(crate) end: u128,
    pub(crate) parents: Vec<String>,
    pub(crate) closed_time: i64,
    pub(crate) records: Vec<StoredRecord>,
}

impl Shard {
    pub(crate) fn info(&self) -> ShardInfo {
        ShardInfo {
            shard_id: self.id.to_string(),
            state: self.state,
            begin_hash_key: hex(self.begin),
            end_hash_key: hex(self.end),
            parent_shard_ids: self.parents.clone(),
            closed_time: self.closed_time,
        }
    }

    fn holds(&self, key: u128) -> bool {
        self.begin <= key && (key < self.end || (self.end == u128::MAX && key == u128::MAX))
    }
}

/// 32 upper-case hex digits.
pub(crate) fn hex(v: u128) -> String {
    format!("{v:032X}")
}

/// `Begin_i = floor(i·2^128/N)` for i in 0..N, plus the ends (`Begin_{i+1}`, the last `FFFF…F`)
/// (datahub-protocol §3.3).
pub(crate) fn hash_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    if n == 1 {
        return vec![(0, u128::MAX)];
    }
    // 2^128 = q·n + r, computed without overflowing u128.
    let (mut q, mut r) = (u128::MAX / n, u128::MAX % n + 1);
    if r == n {
        q += 1;
        r = 0;
    }
    let begins: Vec<u128> = (0..n).map(|i| i * q + (i * r) / n).collect();
    (0..begins.len()).map(|i| (begins[i], begins.get(i + 1).copied().unwrap_or(u128::MAX))).collect()
}

/// MD5 of a PartitionKey as a 128-bit key (the inferred server hash, §12.1).
pub(crate) fn partition_key_hash(key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(key.as_bytes()).into())
}

/// Parses a HashKey: exactly 32 hex digits.
pub(crate) fn parse_hash_key(key: &str) -> Option<u128> {
    (key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| u128::from_str_radix(key, 16).ok())
        .flatten()
}

/// Cursor text: 16 hex digits of the shard id, 16 of the sequence.
pub(crate) fn encode_cursor(shard: u32, sequence: i64) -> String {
    format!("{:016x}{:016x}", shard, sequence as u64)
}

/// Inverse of [`encode_cursor`]; None for anything else.
pub(crate) fn decode_cursor(c: &str) -> Option<(u32, i64)> {
    if c.len() != 32 || !c.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let shard = u32::try_from(u64::from_str_radix(&c[..16], 16).ok()?).ok()?;
    let seq = i64::try_from(u64::from_str_radix(&c[16..], 16).ok()?).ok()?;
    Some((shard, seq))
}

/// Where a record asked to go (JSON/PB PutRecords).
#[derive(Debug, Default, Clone)]
pub(crate) struct Route {
    pub(crate) shard_id: Option<String>,
    pub(crate) partition_key: Option<String>,
    pub(crate) hash_key: Option<String>,
}

impl Topic {
    pub(crate) fn new(spec: &TopicSpec, now_s: i64) -> Self {
        let shards = hash_ranges(spec.shard_count)
            .into_iter()
            .enumerate()
            .map(|(i, (begin, end))| Shard {
                id: i as u32,
                state: ShardState::Active,
                begin,
                end,
                parents: Vec::new(),
                closed_time: 0,
                records: Vec::new(),
            })
            .collect();
        Self {
            name: spec.name.clone(),
            record_type: spec.record_type.clone(),
            lifecycle: spec.lifecycle,
            comment: spec.comment.clone(),
            expand_mode: "split".to_owned(),
            create_time: now_s,
            shards,
        }
    }

    /// Index of a shard by its id text. Errors: `NoSuchShard`.
    pub(crate) fn shard_index(&self, id: &str) -> Result<usize, ApiError> {
        id.parse::<u32>()
            .ok()
            .filter(|_| id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| self.shards.iter().position(|s| s.id == n))
            .ok_or_else(|| ApiError::new("NoSuchShard", format!("ShardId Not Exist. Invalid shard id: {id}")))
    }

    /// Chooses the shard for a record: ShardId > PartitionKey (MD5 → range) > HashKey (§12).
    /// Errors are per-record (code, message): `NoSuchShard`, `InvalidShardOperation` for a shard
    /// that is not ACTIVE, `InvalidParameter` for a bad HashKey or no routing field at all.
    pub(crate) fn route(&self, r: &Route) -> Result<usize, (String, String)> {
        let idx = if let Some(id) = &r.shard_id {
            self.shard_index(id).map_err(|e| (e.code, e.message))?
        } else {
            let key = if let Some(pk) = &r.partition_key {
                partition_key_hash(pk)
            } else if let Some(hk) = &r.hash_key {
                parse_hash_key(hk).ok_or_else(|| {
                    ("InvalidParameter".to_owned(), format!("Invalid HashKey {hk:?}: expected 32 hex digits"))
                })?
            } else {
                return Err((
                    "InvalidParameter".to_owned(),
                    "The record has none of ShardId, PartitionKey, HashKey".to_owned(),
                ));
            };
            self.shards
                .iter()
                .position(|s| s.state == ShardState::Active && s.holds(key))
                .ok_or_else(|| ("InvalidShardOperation".to_owned(), "No active shard holds the key.".to_owned()))?
        };
        if self.shards[idx].state != ShardState::Active {
            return Err(("InvalidShardOperation".to_owned(), "The specified shard is not active.".to_owned()));
        }
        Ok(idx)
    }

    /// Appends a record to a shard, assigning the next sequence; returns a copy of the stored
    /// record when `copy` (for the JSONL log; a copy per record otherwise doubles the
    /// emulator's allocations).
    pub(crate) fn append(
        &mut self,
        idx: usize,
        data: RecordData,
        attributes: BTreeMap<String, String>,
        route: &Route,
        now_ms: i64,
        copy: bool,
    ) -> Option<StoredRecord> {
        let shard = &mut self.shards[idx];
        let rec = StoredRecord {
            sequence: shard.records.len() as i64,
            system_time_ms: now_ms,
            data,
            attributes,
            partition_key: route.partition_key.clone(),
            hash_key: route.hash_key.clone(),
        };
        let out = copy.then(|| rec.clone());
        shard.records.push(rec);
        out
    }

    /// Splits an ACTIVE shard at `split_key` (default: the middle of its range): the parent is
    /// CLOSED, two new ACTIVE children take `[begin, key)` and `[key, end)`. Returns the child ids.
    pub(crate) fn split(
        &mut self,
        id: &str,
        split_key: Option<u128>,
        now_s: i64,
    ) -> Result<(String, String), ApiError> {
        let idx = self.shard_index(id)?;
        let (begin, end, state) = (self.shards[idx].begin, self.shards[idx].end, self.shards[idx].state);
        if state != ShardState::Active {
            return Err(ApiError::new("InvalidShardOperation", "The specified shard is not active."));
        }
        let key = split_key.unwrap_or(begin / 2 + end / 2 + (begin % 2 + end % 2) / 2);
        if key <= begin || key >= end {
            return Err(ApiError::invalid("The key range is invalid."));
        }
        let next = self.shards.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let parent = self.shards[idx].id.to_string();
        self.shards[idx].state = ShardState::Closed;
        self.shards[idx].closed_time = now_s;
        for (n, (b, e)) in [(next, (begin, key)), (next + 1, (key, end))] {
            self.shards.push(Shard {
                id: n,
                state: ShardState::Active,
                begin: b,
                end: e,
                parents: vec![parent.clone()],
                closed_time: 0,
                records: Vec::new(),
            });
        }
        Ok((next.to_string(), (next + 1).to_string()))
    }

    /// ListShard neighbours: the previous/next ACTIVE shard by range, for ACTIVE shards.
    pub(crate) fn neighbours(&self, idx: usize) -> (String, String) {
        let me = &self.shards[idx];
        if me.state != ShardState::Active {
            return (NO_SHARD.to_owned(), NO_SHARD.to_owned());
        }
        let active = || self.shards.iter().filter(|s| s.state == ShardState::Active);
        let left = active().find(|s| s.end == me.begin).map(|s| s.id.to_string());
        let right = active().find(|s| s.begin == me.end).map(|s| s.id.to_string());
        (left.unwrap_or_else(|| NO_SHARD.to_owned()), right.unwrap_or_else(|| NO_SHARD.to_owned()))
    }
}

/// All projects, keyed by lower-cased name (names are case-insensitive on the service).
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) projects: BTreeMap<String, Project>,
}

impl Store {
    pub(crate) fn new(specs: &[ProjectSpec], now_s: i64) -> Self {
        let mut s = Store::default();
        for p in specs {
            let project = s.projects.entry(p.name.to_ascii_lowercase()).or_insert_with(|| Project {
                name: p.name.clone(),
                comment: p.comment.clone(),
                create_time: now_s,
                topics: BTreeMap::new(),
            });
            for t in &p.topics {
                project.topics.insert(t.name.to_ascii_lowercase(), Topic::new(t, now_s));
            }
        }
        s
    }

    /// Errors: `NoSuchProject`.
    pub(crate) fn project(&self, p: &str) -> Result<&Project, ApiError> {
        self.projects
            .get(&p.to_ascii_lowercase())
            .ok_or_else(|| ApiError::new("NoSuchProject", format!("The specified project {p} does not exist.")))
    }

    /// Errors: `NoSuchProject`.
    pub(crate) fn project_mut(&mut self, p: &str) -> Result<&mut Project, ApiError> {
        self.projects
            .get_mut(&p.to_ascii_lowercase())
            .ok_or_else(|| ApiError::new("NoSuchProject", format!("The specified project {p} does not exist.")))
    }

    /// Errors: `NoSuchProject`, `NoSuchTopic`.
    pub(crate) fn topic(&self, p: &str, t: &str) -> Result<&Topic, ApiError> {
        self.project(p)?
            .topics
            .get(&t.to_ascii_lowercase())
            .ok_or_else(|| ApiError::new("NoSuchTopic", format!("The specified topic {t} does not exist.")))
    }

    /// Seals a shard: state CLOSED, `ClosedTime` = `now_s`. Errors: `NoSuchProject`,
    /// `NoSuchTopic`, `NoSuchShard`.
    pub(crate) fn seal(&mut self, p: &str, t: &str, shard_id: &str, now_s: i64) -> Result<(), ApiError> {
        let topic = self.topic_mut(p, t)?;
        let idx = topic.shard_index(shard_id)?;
        topic.shards[idx].state = ShardState::Closed;
        topic.shards[idx].closed_time = now_s;
        Ok(())
    }

    /// Errors: `NoSuchProject`, `NoSuchTopic`.
    pub(crate) fn topic_mut(&mut self, p: &str, t: &str) -> Result<&mut Topic, ApiError> {
        self.topic(p, t)?;
        Ok(self
            .projects
            .get_mut(&p.to_ascii_lowercase())
            .and_then(|pr| pr.topics.get_mut(&t.to_ascii_lowercase()))
            .expect("checked above"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_shard_ranges_match_fixture() {
        let r = hash_ranges(3);
        assert_eq!(hex(r[0].0), "00000000000000000000000000000000");
        assert_eq!(hex(r[1].0), "55555555555555555555555555555555");
        assert_eq!(hex(r[2].0), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(hex(r[0].1), "55555555555555555555555555555555");
        assert_eq!(hex(r[2].1), "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
        let r4 = hash_ranges(4);
        assert_eq!(hex(r4[1].0), "40000000000000000000000000000000");
        assert_eq!(hex(r4[3].0), "C0000000000000000000000000000000");
        assert_eq!(hash_ranges(1), vec![(0, u128::MAX)]);
    }

    #[test]
    fn md5_of_partition_key_matches_protocol_examples() {
        assert_eq!(hex(partition_key_hash("user-0")), "B01A0E23DA718A08989311B8B2DFB069");
        assert_eq!(hex(partition_key_hash("TestPartitionKey")), "D35FF28CDBE14E231C8905A4AA9DE634");
    }

    #[test]
    fn cursor_round_trip() {
        let c = encode_cursor(3, 17);
        assert_eq!(c.len(), 32);
        assert_eq!(decode_cursor(&c), Some((3, 17)));
        assert_eq!(decode_cursor("zz"), None);
    }
}
