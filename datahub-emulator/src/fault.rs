//! Fault rules and their evaluation: whole-request errors, delays, dropped connections and
//! per-record failures in PutRecords, plus [`Op`], the operations a rule (and the request
//! counters) tell apart. Rules are set in [`crate::EmulatorConfig::faults`], at run time through
//! [`crate::FaultControl`], or over HTTP (`/__emulator/faults`, see the README); this module only
//! holds and evaluates them (a leaf: it knows nothing of the server state).
//!
//! Rules are deterministic: `{"next":N}` fires on the next N matching requests, `{"fraction":f}`
//! fires whenever the running sum of `f` over matching requests crosses an integer (0.5 = every
//! second request), `"always"` fires until cleared.

use serde::{Deserialize, Serialize};

use crate::error::status_for;

/// The DataHub operations the emulator tells apart (for fault matching and request counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// `GET /projects`.
    ListProject,
    /// `GET /projects/{p}`.
    GetProject,
    /// `POST /projects/{p}`.
    CreateProject,
    /// `GET /projects/{p}/topics`.
    ListTopic,
    /// `GET /projects/{p}/topics/{t}`.
    GetTopic,
    /// `POST /projects/{p}/topics/{t}` (no `Action`, or Go's `create`).
    CreateTopic,
    /// `POST /projects/{p}/topics/{t}` with `Action:"appendfield"`.
    AppendField,
    /// `DELETE /projects/{p}/topics/{t}`.
    DeleteTopic,
    /// `GET …/shards`.
    ListShard,
    /// `POST …/shards` with `Action:"split"`.
    SplitShard,
    /// `POST …/shards`, JSON `pub` or PB `pub`.
    PutRecords,
    /// `POST …/shards/{id}`, PB `pub`.
    PutRecordsByShard,
    /// `POST …/shards/{id}`, JSON `cursor`.
    GetCursor,
    /// `POST …/shards/{id}`, JSON or PB `sub`.
    GetRecords,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this DataHub `ErrorCode` (e.g. `LimitExceeded`, `InternalServerError`,
    /// `ServiceUnavailable`, `Unauthorized`) and HTTP status (default: the §9.1 mapping,
    /// LimitExceeded 429, InternalServerError 500, ServiceUnavailable 503, Unauthorized 401).
    Error {
        /// DataHub ErrorCode.
        code: String,
        /// HTTP status; None = mapping by code.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// ErrorMessage; None = "Injected fault".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Wait this many milliseconds before handling the request normally (combines with others).
    Delay {
        /// Delay in ms.
        ms: u64,
    },
    /// Close the connection without any response (the client sees a connection error).
    Drop,
    /// PutRecords (JSON or PB) only: every `every`-th record of the request (1-based: indexes
    /// every-1, 2·every-1, …) is not written and is reported in `FailedRecords` with `code`.
    PartialFailure {
        /// k: every k-th record fails (k ≥ 1).
        every: u32,
        /// The per-record ErrorCode (default `LimitExceeded`).
        #[serde(default = "default_partial_code")]
        code: String,
    },
}

fn default_partial_code() -> String {
    "LimitExceeded".to_owned()
}

/// How often a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTimes {
    /// The next N matching requests, then the rule is removed.
    Next(u32),
    /// A deterministic share of matching requests, 0.0–1.0.
    Fraction(f64),
    /// Every matching request until cleared.
    Always,
}

impl Default for FaultTimes {
    fn default() -> Self {
        FaultTimes::Next(1)
    }
}

/// One fault rule. JSON form (admin endpoint and `--fault`):
/// `{"op":"PutRecords","kind":"error","code":"LimitExceeded","status":429,"times":{"next":3}}`;
/// `op` absent = every DataHub operation; `times` absent = `{"next":1}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// The operation it applies to; None = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How often.
    #[serde(default)]
    pub times: FaultTimes,
}

/// Faults active from the start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Rules, evaluated in order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Shards CLOSED at start: (project, topic, shard id).
    #[serde(default)]
    pub sealed_shards: Vec<(String, String, String)>,
}

/// A rule plus its firing state.
#[derive(Debug, Clone)]
pub(crate) struct ActiveRule {
    pub(crate) rule: FaultRule,
    acc: f64,
    /// Only requests on this topic (case-insensitive); None = every topic.
    topic: Option<String>,
}

/// The decision for one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub(crate) delay_ms: u64,
    pub(crate) error: Option<(u16, String, String)>,
    pub(crate) drop: bool,
    pub(crate) partial: Option<(u32, String)>,
}

/// The mutable rule list.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    rules: Vec<ActiveRule>,
}

impl FaultState {
    pub(crate) fn add(&mut self, rule: FaultRule) {
        self.rules.push(ActiveRule { rule, acc: 0.0, topic: None });
    }

    /// Adds a rule that applies only to requests on `topic`.
    pub(crate) fn add_for_topic(&mut self, rule: FaultRule, topic: &str) {
        self.rules.push(ActiveRule { rule, acc: 0.0, topic: Some(topic.to_owned()) });
    }

    /// Evaluates every rule for one request of `op` on `topic` ("" for requests on no
    /// topic), consuming counts.
    pub(crate) fn decide(&mut self, op: Op, topic: &str) -> Decision {
        let mut d = Decision::default();
        for ar in &mut self.rules {
            if ar.rule.op.is_some_and(|o| o != op) {
                continue;
            }
            if ar.topic.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(topic)) {
                continue;
            }
            if matches!(ar.rule.kind, FaultKind::PartialFailure { .. }) && op != Op::PutRecords {
                continue;
            }
            let fire = match &mut ar.rule.times {
                FaultTimes::Always => true,
                FaultTimes::Next(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                FaultTimes::Next(_) => false,
                FaultTimes::Fraction(f) => {
                    ar.acc += f.clamp(0.0, 1.0);
                    if ar.acc >= 1.0 - 1e-9 {
                        ar.acc -= 1.0;
                        true
                    } else {
                        false
                    }
                }
            };
            if !fire {
                continue;
            }
            match &ar.rule.kind {
                FaultKind::Delay { ms } => d.delay_ms += ms,
                FaultKind::Drop => d.drop = d.drop || d.error.is_none(),
                FaultKind::Error { code, status, message } => {
                    if d.error.is_none() && !d.drop {
                        d.error = Some((
                            status.unwrap_or_else(|| status_for(code).as_u16()),
                            code.clone(),
                            message.clone().unwrap_or_else(|| "Injected fault".to_owned()),
                        ));
                    }
                }
                FaultKind::PartialFailure { every, code } => {
                    d.partial.get_or_insert(((*every).max(1), code.clone()));
                }
            }
        }
        self.rules.retain(|r| r.rule.times != FaultTimes::Next(0));
        d
    }

    pub(crate) fn rules(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|r| r.rule.clone()).collect()
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_json_forms() {
        let r: FaultRule = serde_json::from_str(
            r#"{"op":"PutRecords","kind":"error","code":"LimitExceeded","status":429,"times":{"next":3}}"#,
        )
        .unwrap();
        assert_eq!(r.op, Some(Op::PutRecords));
        assert_eq!(r.times, FaultTimes::Next(3));
        let r: FaultRule = serde_json::from_str(r#"{"kind":"drop","times":"always"}"#).unwrap();
        assert_eq!(r.kind, FaultKind::Drop);
        assert_eq!(r.times, FaultTimes::Always);
        let r: FaultRule = serde_json::from_str(r#"{"kind":"partial_failure","every":2}"#).unwrap();
        assert_eq!(r.kind, FaultKind::PartialFailure { every: 2, code: "LimitExceeded".into() });
        assert_eq!(r.times, FaultTimes::Next(1));
    }

    #[test]
    fn next_and_fraction_counting() {
        let mut s = FaultState::default();
        s.add(FaultRule {
            op: Some(Op::GetTopic),
            kind: FaultKind::Error { code: "LimitExceeded".into(), status: None, message: None },
            times: FaultTimes::Next(2),
        });
        assert!(s.decide(Op::ListShard, "").error.is_none());
        assert_eq!(s.decide(Op::GetTopic, "").error.unwrap().0, 429);
        assert!(s.decide(Op::GetTopic, "").error.is_some());
        assert!(s.decide(Op::GetTopic, "").error.is_none());
        assert!(s.rules().is_empty());
        s.add(FaultRule { op: None, kind: FaultKind::Drop, times: FaultTimes::Fraction(0.5) });
        let fired: Vec<bool> = (0..6).map(|_| s.decide(Op::GetRecords, "").drop).collect();
        assert_eq!(fired, [false, true, false, true, false, true]);
    }
}
