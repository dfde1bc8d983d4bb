//! JSON partial updates (MySQL PARTIAL_UPDATE_ROWS_EVENT): the diffs applied to the before
//! image's document ([`apply_json_diffs`]) and MySQL's JSON path syntax ([`parse_path`]).

use std::io;

use mysql_common::binlog::jsondiff::{JsonDiff, JsonDiffOperation};

use super::helpers::bad;
use crate::event::Value;

/// Applies MySQL JSON diffs (`binlog_row_value_options=PARTIAL_JSON`) to the before-image
/// document. Paths use MySQL's JSON path syntax (`$`, `.key`, `."key"`, `[n]`).
///
/// When the before image does not carry the document (`binlog_row_image=MINIMAL` together with
/// PARTIAL_JSON — the precheck rejects both; seen in old files), the new document cannot be
/// rebuilt and the value is the diff itself:
/// `{"$json_diff":[{"op":"replace"|"insert"|"remove","path":"$.a","value":...}]}`.
pub(crate) fn apply_json_diffs(before: &Value, diffs: &[JsonDiff<'static>]) -> io::Result<Value> {
    let mut doc = match before {
        Value::Json(j) => (**j).clone(),
        Value::Null => {
            let mut list = Vec::with_capacity(diffs.len());
            for d in diffs {
                let op = match d.operation() {
                    JsonDiffOperation::REPLACE => "replace",
                    JsonDiffOperation::INSERT => "insert",
                    JsonDiffOperation::REMOVE => "remove",
                };
                let value = match d.value() {
                    Some(v) => serde_json::Value::from(v.clone().parse().map_err(|e| bad(format!("JSON: {e}")))?),
                    None => serde_json::Value::Null,
                };
                list.push(serde_json::json!({"op": op, "path": d.path_str(), "value": value}));
            }
            return Ok(Value::Json(Box::new(serde_json::json!({ "$json_diff": list }))));
        }
        other => return Err(bad(format!("JSON diff on a non-JSON before value {other:?}"))),
    };
    for d in diffs {
        let path = parse_path(&d.path_str())?;
        let value = match d.value() {
            Some(v) => Some(serde_json::Value::from(v.clone().parse().map_err(|e| bad(format!("JSON: {e}")))?)),
            None => None,
        };
        let (last, parents) = path.split_last().ok_or_else(|| bad("JSON diff on the root"))?;
        let mut cur = &mut doc;
        for step in parents {
            cur = match (step, cur) {
                (Step::Key(k), serde_json::Value::Object(m)) => {
                    m.get_mut(k).ok_or_else(|| bad("JSON diff path not found"))?
                }
                (Step::Index(i), serde_json::Value::Array(a)) => {
                    a.get_mut(*i).ok_or_else(|| bad("JSON diff path not found"))?
                }
                _ => return Err(bad("JSON diff path does not match the document")),
            };
        }
        match (d.operation(), last, cur) {
            (JsonDiffOperation::REMOVE, Step::Key(k), serde_json::Value::Object(m)) => {
                m.shift_remove(k);
            }
            (JsonDiffOperation::REMOVE, Step::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
            }
            (_, Step::Key(k), serde_json::Value::Object(m)) => {
                m.insert(k.clone(), value.ok_or_else(|| bad("JSON diff without value"))?);
            }
            (JsonDiffOperation::INSERT, Step::Index(i), serde_json::Value::Array(a)) => {
                let v = value.ok_or_else(|| bad("JSON diff without value"))?;
                let at = (*i).min(a.len());
                a.insert(at, v);
            }
            (JsonDiffOperation::REPLACE, Step::Index(i), serde_json::Value::Array(a)) if *i < a.len() => {
                a[*i] = value.ok_or_else(|| bad("JSON diff without value"))?;
            }
            _ => return Err(bad("JSON diff does not apply to the document")),
        }
    }
    Ok(Value::Json(Box::new(doc)))
}

pub(super) enum Step {
    Key(String),
    Index(usize),
}

pub(super) fn parse_path(p: &str) -> io::Result<Vec<Step>> {
    let b = p.as_bytes();
    if b.first() != Some(&b'$') {
        return Err(bad(format!("JSON path `{p}`")));
    }
    let mut i = 1;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'"') => {
                let mut j = i + 2;
                let mut key = String::new();
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' && j + 1 < b.len() {
                        j += 1;
                    }
                    key.push(b[j] as char);
                    j += 1;
                }
                out.push(Step::Key(key));
                i = j + 1;
            }
            b'.' => {
                let j = p[i + 1..].find(['.', '[']).map(|x| x + i + 1).unwrap_or(b.len());
                out.push(Step::Key(p[i + 1..j].to_string()));
                i = j;
            }
            b'[' => {
                let j = p[i..].find(']').map(|x| x + i).ok_or_else(|| bad(format!("JSON path `{p}`")))?;
                let n = p[i + 1..j].trim().parse().map_err(|_| bad(format!("JSON path `{p}`")))?;
                out.push(Step::Index(n));
                i = j + 1;
            }
            _ => return Err(bad(format!("JSON path `{p}`"))),
        }
    }
    Ok(out)
}
