//! The SQL of a chunk: `SELECT <every column> FROM db.t [WHERE <after the last key>] ORDER BY
//! <key> LIMIT n` (keyset pagination), and its parameters.
//!
//! The "after" condition is the expanded lexicographic form Debezium's chunk query builder
//! uses, `(k1 > ?) OR (k1 = ? AND k2 > ?) OR …`, rather than a row constructor `(k1,k2) > (?,?)`,
//! which older MariaDB versions do not turn into an index range. Every comparison is made by
//! the server under the key column's own collation: a character key parameter is sent as the
//! hex of the column's bytes and written `CONVERT(UNHEX(?) USING <charset>) COLLATE
//! <collation>`, so a case-insensitive key (`'a'` = `'A'`) or a latin1 key compares exactly as
//! `ORDER BY` sorted it (never in Rust, where byte order differs from the collation's). Hex,
//! because the server converts a string parameter from `character_set_client`: latin1 bytes
//! sent as they are came back as `?` (found by `snapshot/values`).

use mysql_common::value::Value as MyValue;

use super::layout::TableLayout;
use super::progress::KeyValue;
use crate::source::column::Kind;

/// An identifier in backticks, inner backticks doubled (MySQL manual 11.2 "Schema Object
/// Names").
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `SELECT <columns> FROM db.t`.
fn select_all(layout: &TableLayout) -> String {
    let cols: Vec<String> = layout.cols.iter().map(|c| ident(&c.name)).collect();
    format!("SELECT {} FROM {}.{}", cols.join(", "), ident(&layout.id.db), ident(&layout.id.table))
}

/// The placeholder for a value of key column `i` (an index into the layout's columns), and
/// whether its parameter is sent as hex.
fn placeholder(layout: &TableLayout, i: usize) -> (String, bool) {
    let c = &layout.cols[i];
    match (&c.kind, &c.charset_name, &c.collation) {
        (Kind::Text(_), Some(cs), Some(coll)) if is_word(cs) && is_word(coll) => {
            (format!("CONVERT(UNHEX(?) USING {cs}) COLLATE {coll}"), true)
        }
        _ => ("?".into(), false),
    }
}

/// `v` as the hex text of its bytes (a text key parameter).
fn hex_param(v: &MyValue) -> MyValue {
    match v {
        MyValue::Bytes(b) => MyValue::Bytes(b.iter().flat_map(|x| format!("{x:02X}").into_bytes()).collect()),
        other => other.clone(),
    }
}

/// A charset or collation name safe to write into SQL as is.
fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The statement of the whole table in one pass (no ORDER BY): tables without a primary key.
pub(crate) fn whole_table(layout: &TableLayout) -> String {
    select_all(layout)
}

/// The statement of the chunk after `after` (None: the first chunk) of at most `limit` rows, in
/// primary-key order, and its parameters. The layout must have a key.
///
/// Errors: `after` does not have one value per key column, or a stored value cannot be bound.
pub(crate) fn chunk(
    layout: &TableLayout,
    after: Option<&[KeyValue]>,
    limit: usize,
) -> Result<(String, Vec<MyValue>), String> {
    let key = &layout.key_columns;
    let order: Vec<String> = key.iter().map(|&i| ident(&layout.cols[i].name)).collect();
    let mut sql = select_all(layout);
    let mut params = Vec::new();
    if let Some(after) = after {
        if after.len() != key.len() {
            return Err(format!("a resume key of {} values for a primary key of {} columns", after.len(), key.len()));
        }
        let values: Vec<MyValue> = after.iter().map(KeyValue::to_param).collect::<Result<_, _>>()?;
        let mut terms = Vec::with_capacity(key.len());
        for t in 0..key.len() {
            let mut parts = Vec::with_capacity(t + 1);
            for (j, &col) in key.iter().enumerate().take(t + 1) {
                let op = if j == t { ">" } else { "=" };
                let (ph, hex) = placeholder(layout, col);
                parts.push(format!("{} {op} {ph}", order[j]));
                params.push(if hex { hex_param(&values[j]) } else { values[j].clone() });
            }
            terms.push(format!("({})", parts.join(" AND ")));
        }
        sql.push_str(" WHERE ");
        sql.push_str(&terms.join(" OR "));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", order.join(", ")));
    Ok((sql, params))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::snapshot::layout::SnapshotColumn;
    use crate::snapshot::progress::TableId;
    use crate::source::column::Charset;

    fn layout() -> TableLayout {
        let col = |name: &str, kind: Kind, cs: Option<&str>, coll: Option<&str>| SnapshotColumn {
            name: name.into(),
            kind,
            charset: cs.map(Charset::from_name),
            charset_name: cs.map(Into::into),
            collation: coll.map(Into::into),
        };
        let cols = vec![
            col("v", Kind::Text(Charset::Utf8), Some("utf8mb4"), Some("utf8mb4_general_ci")),
            col("a", Kind::Int { unsigned: true }, None, None),
            col("b`x", Kind::Text(Charset::Latin1), Some("latin1"), Some("latin1_swedish_ci")),
        ];
        TableLayout {
            id: TableId::new("d", "t"),
            columns: cols.iter().map(|c| Arc::<str>::from(c.name.as_str())).collect(),
            key_columns: Arc::from(vec![1, 2]),
            cols,
        }
    }

    #[test]
    fn first_chunk_has_no_condition() {
        let (sql, params) = chunk(&layout(), None, 100).unwrap();
        assert_eq!(sql, "SELECT `v`, `a`, `b``x` FROM `d`.`t` ORDER BY `a`, `b``x` LIMIT 100");
        assert!(params.is_empty());
    }

    #[test]
    fn composite_keys_expand_lexicographically_with_collated_parameters() {
        let after = [KeyValue::UInt(u64::MAX), KeyValue::Hex("e9".into())];
        let (sql, params) = chunk(&layout(), Some(&after), 10).unwrap();
        let coll = "CONVERT(UNHEX(?) USING latin1) COLLATE latin1_swedish_ci";
        assert_eq!(
            sql,
            format!(
                "SELECT `v`, `a`, `b``x` FROM `d`.`t` WHERE (`a` > ?) OR (`a` = ? AND `b``x` > {coll}) \
                 ORDER BY `a`, `b``x` LIMIT 10"
            )
        );
        assert_eq!(params, vec![MyValue::UInt(u64::MAX), MyValue::UInt(u64::MAX), MyValue::Bytes(b"E9".to_vec())]);
        assert!(chunk(&layout(), Some(&after[..1]), 10).is_err(), "one value for a two-column key");
    }

    #[test]
    fn whole_table_reads_every_column() {
        assert_eq!(whole_table(&layout()), "SELECT `v`, `a`, `b``x` FROM `d`.`t`");
    }
}
