//! Column facts from `information_schema` (COLUMNS, STATISTICS), read for every captured table
//! on a separate, ordinary connection — never the replication one. They are what a TABLE_MAP
//! event without optional metadata lacks (MariaDB's default `binlog_row_metadata=NO_LOG`, MySQL
//! 5.7, the OceanBase binlog service: no names, signedness, charsets, ENUM/SET labels or primary
//! key; MINIMAL: no names, labels or key), and what the decoder's `table::build_plan` cross-checks the
//! metadata against when the TABLE_MAP does carry it.
//!
//! `CHARACTER_SET_NAME` is NULL for the binary string types (BINARY, VARBINARY, the BLOB family):
//! that is what tells VARBINARY from VARCHAR and BINARY from CHAR, which share one wire type (MySQL
//! manual, "The INFORMATION_SCHEMA COLUMNS Table"; "The BINARY and VARBINARY Types").
//!
//! Approximation (documented in the crate README): the facts are those of the table *now*,
//! not at the binlog position being decoded. A DDL QUERY event clears the cache so the next
//! TABLE_MAP re-reads them; the column plan refuses facts that cannot describe the TABLE_MAP's
//! table version (another column count, another type family, DECIMAL or fraction digits), but
//! rows decoded long after an ALTER that kept every column's type family (a rename, a charset
//! change) get the newest names and charsets. There is no DDL-replaying schema history.

use mysql_async::prelude::*;

use super::table::{SchemaColumn, TableSchema};

/// Reads the columns (ordinal order, with their DATA_TYPE, signedness, character set, ENUM/SET
/// labels, DECIMAL precision and scale, fraction digits) and the primary key of `db`.`table`.
/// An unknown table yields an empty schema (the plan then names columns `@0`, `@1`…).
///
/// Errors: the server's, for a failed query.
pub async fn load_schema(
    conn: &mut mysql_async::Conn,
    db: &str,
    table: &str,
) -> Result<TableSchema, mysql_async::Error> {
    type ColumnRow = (String, String, String, Option<String>, Option<u64>, Option<u64>, Option<u64>);
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, COLUMN_TYPE, DATA_TYPE, CHARACTER_SET_NAME, NUMERIC_PRECISION, NUMERIC_SCALE, \
             DATETIME_PRECISION FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    let mut s = TableSchema::default();
    for (name, column_type, data_type, charset, precision, scale, datetime_precision) in rows {
        s.columns.push(column(name, &column_type, &data_type, charset, precision, scale, datetime_precision));
    }
    let pk: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (db, table),
        )
        .await?;
    s.primary_key = pk.iter().filter_map(|c| s.columns.iter().position(|col| col.name == *c)).collect();
    Ok(s)
}

/// One `information_schema.COLUMNS` row as a [`SchemaColumn`]: `unsigned` only for numeric
/// types (an ENUM label may contain the word), labels only for ENUM and SET.
fn column(
    name: String,
    column_type: &str,
    data_type: &str,
    charset: Option<String>,
    precision: Option<u64>,
    scale: Option<u64>,
    datetime_precision: Option<u64>,
) -> SchemaColumn {
    let data_type = data_type.to_ascii_lowercase();
    let numeric = matches!(
        data_type.as_str(),
        "tinyint"
            | "smallint"
            | "mediumint"
            | "int"
            | "integer"
            | "bigint"
            | "decimal"
            | "numeric"
            | "float"
            | "double"
    );
    let labels = if data_type == "enum" || data_type == "set" { parse_labels(column_type) } else { Vec::new() };
    SchemaColumn {
        name,
        unsigned: numeric && column_type.to_ascii_lowercase().contains("unsigned"),
        charset: charset.map(|c| c.to_ascii_lowercase()),
        labels,
        precision,
        scale,
        datetime_precision,
        data_type,
    }
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
    fn unsigned_only_for_numbers_and_labels_only_for_enum_and_set() {
        let c = super::column("e".into(), "enum('unsigned','b')", "ENUM", Some("utf8mb4".into()), None, None, None);
        assert!(!c.unsigned);
        assert_eq!(c.labels, ["unsigned", "b"]);
        assert_eq!(c.data_type, "enum");
        let c = super::column("u".into(), "bigint(20) unsigned", "bigint", None, Some(20), Some(0), None);
        assert!(c.unsigned);
        assert!(c.labels.is_empty());
        let c = super::column("v".into(), "varbinary(4)", "varbinary", None, None, None, None);
        assert_eq!(c.charset, None, "binary strings have no character set");
    }

    #[test]
    fn labels() {
        assert_eq!(super::parse_labels("enum('a','b''c','d,e')"), vec!["a", "b'c", "d,e"]);
        assert_eq!(super::parse_labels("set('x')"), vec!["x"]);
        // COLUMN_TYPE doubles a backslash of a label.
        assert_eq!(super::parse_labels(r"enum('b\\s','')"), vec![r"b\s", ""]);
    }
}
