//! Client-side routing of partition keys to shards, as the Go SDK's `DefaultPartitionFunc`
//! does (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)): the upper-case hex MD5 of the key, read as a
//! 128-bit number, goes to the ACTIVE shard whose `[BeginHashKey, EndHashKey)` holds it (the last
//! ACTIVE shard, sorted by BeginHashKey, whose begin is ≤ the hash).

use md5::{Digest, Md5};

use super::model::{ShardInfo, ShardState};

/// The 128-bit hash of a partition key: MD5, big-endian (its upper-case hex form is what the
/// Go SDK compares with `BeginHashKey`).
pub fn hash_key(key: &str) -> u128 {
    u128::from_be_bytes(Md5::digest(key.as_bytes()).into())
}

/// The 32-digit upper-case hex form of a hash key, as in `BeginHashKey`.
#[cfg(test)]
fn hash_hex(hash: u128) -> String {
    format!("{hash:032X}")
}

/// The ACTIVE shards of a topic, sorted by BeginHashKey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRouter {
    /// (BeginHashKey, shard id), sorted by begin.
    active: Vec<(u128, String)>,
}

impl ShardRouter {
    /// A router over the ACTIVE shards of a ListShard answer; None when no shard is ACTIVE. A
    /// shard with an unparsable BeginHashKey is treated as starting at 0.
    pub fn new(shards: &[ShardInfo]) -> Option<Self> {
        let mut active: Vec<(u128, String)> = shards
            .iter()
            .filter(|s| s.state == ShardState::Active)
            .map(|s| (u128::from_str_radix(&s.begin_hash_key, 16).unwrap_or(0), s.shard_id.clone()))
            .collect();
        if active.is_empty() {
            return None;
        }
        active.sort();
        Some(Self { active })
    }

    /// The shard id for a 128-bit hash (see [`hash_key`]).
    pub fn route_hash(&self, hash: u128) -> &str {
        // The last shard whose begin ≤ hash; the first shard when every begin is above it.
        let i = self.active.partition_point(|(begin, _)| *begin <= hash);
        &self.active[i.saturating_sub(1)].1
    }

    /// The shard id for a partition key.
    pub fn route(&self, key: &str) -> &str {
        self.route_hash(hash_key(key))
    }

    /// The ACTIVE shard ids, by BeginHashKey.
    pub fn shard_ids(&self) -> impl Iterator<Item = &str> {
        self.active.iter().map(|(_, id)| id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// An N-shard topic as created: Begin_i = floor(i·2^128/N) (§3.3).
    fn shards(n: u32) -> Vec<ShardInfo> {
        (0..n)
            .map(|i| {
                // For N = 3: 0000…, 5555…, AAAA… as in the fixtures.
                let begin = (u128::MAX / n as u128) * i as u128;
                ShardInfo {
                    shard_id: i.to_string(),
                    state: ShardState::Active,
                    begin_hash_key: hash_hex(begin),
                    end_hash_key: String::new(),
                    parent_shard_ids: vec![],
                    closed_time: 0,
                }
            })
            .collect()
    }

    #[test]
    fn md5_example_of_section_12() {
        assert_eq!(hash_hex(hash_key("user-0")), "B01A0E23DA718A08989311B8B2DFB069");
        assert_eq!(hash_hex(hash_key("TestPartitionKey")), "D35FF28CDBE14E231C8905A4AA9DE634");
        let r = ShardRouter::new(&shards(3)).unwrap();
        assert_eq!(r.route("user-0"), "2", "the shard starting at AAAA…");
    }

    #[test]
    fn a_key_stays_on_one_shard_and_keys_spread_over_all() {
        let r = ShardRouter::new(&shards(4)).unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for i in 0..10_000 {
            let key = format!("shop\u{1}orders\u{1}{i}");
            let s = r.route(&key).to_owned();
            assert_eq!(r.route(&key), s, "stable");
            *counts.entry(s).or_default() += 1;
        }
        assert_eq!(counts.len(), 4, "{counts:?}");
        // MD5 is uniform: each of 4 shards gets roughly 2,500; be generous.
        assert!(counts.values().all(|&c| c > 2000 && c < 3000), "{counts:?}");
    }

    #[test]
    fn only_active_shards_sorted_by_begin() {
        let mut s = shards(3);
        s.swap(0, 2);
        s[1].state = ShardState::Closed; // shard "1" [5555…, AAAA…) sealed
        let r = ShardRouter::new(&s).unwrap();
        assert_eq!(r.shard_ids().collect::<Vec<_>>(), ["0", "2"]);
        assert_eq!(r.route_hash(0x6000_0000_0000_0000_0000_0000_0000_0000), "0");
        assert_eq!(r.route_hash(u128::MAX), "2");
        for sh in &mut s {
            sh.state = ShardState::Opening;
        }
        assert!(ShardRouter::new(&s).is_none());
    }
}
