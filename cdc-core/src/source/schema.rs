//! Column facts from `information_schema` (COLUMNS, STATISTICS) for servers that send TABLE_MAP
//! events without column names (MariaDB's default `binlog_row_metadata=MINIMAL`, MySQL
//! MINIMAL, OceanBase). Read on a separate, ordinary connection — never the replication one.
//!
//! Approximation (documented in the crate README): the facts are those of the table *now*,
//! not at the binlog position being decoded. A DDL QUERY event clears the cache so the next
//! TABLE_MAP re-reads them; rows decoded long after several ALTERs (e.g. a backlog replayed
//! from an old position) may be named with the newest schema. There is no DDL-replaying
//! schema history.

use mysql_async::prelude::*;

use super::table::TableSchema;

/// Reads the columns (ordinal order), unsigned flags, ENUM/SET labels and primary key of
/// `db`.`table`. An unknown table yields an empty schema (columns are then named `@0`, `@1`…).
pub async fn load_schema(
    conn: &mut mysql_async::Conn,
    db: &str,
    table: &str,
) -> Result<TableSchema, mysql_async::Error> {
    let rows: Vec<(String, String, String, Option<String>)> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, CHARACTER_SET_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    let mut s = TableSchema::default();
    for (name, column_type, data_type, charset) in rows {
        s.charsets.push(charset);
        let ct = column_type.to_ascii_lowercase();
        s.unsigned.push(ct.contains("unsigned"));
        let dt = data_type.to_ascii_lowercase();
        s.labels.push(if dt == "enum" || dt == "set" { parse_labels(&column_type) } else { Vec::new() });
        s.names.push(name);
    }
    let pk: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (db, table),
        )
        .await?;
    s.primary_key = pk.iter().filter_map(|c| s.names.iter().position(|n| n == c)).collect();
    Ok(s)
}

/// `enum('a','b''c')` → `["a", "b'c"]`.
pub(crate) fn parse_labels(column_type: &str) -> Vec<String> {
    let Some(open) = column_type.find('(') else { return Vec::new() };
    let body = &column_type[open + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut out = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                Some('\'') | None => break,
                Some('\\') => {
                    if let Some(n) = chars.next() {
                        label.push(n);
                    }
                }
                Some(other) => label.push(other),
            }
        }
        out.push(label);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels() {
        assert_eq!(super::parse_labels("enum('a','b''c','d,e')"), vec!["a", "b'c", "d,e"]);
        assert_eq!(super::parse_labels("set('x')"), vec!["x"]);
    }
}
