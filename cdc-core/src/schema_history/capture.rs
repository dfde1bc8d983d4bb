//! Seeding: the schema of every table of the captured databases read from `information_schema`
//! (SCHEMATA, TABLES, COLUMNS, STATISTICS; MySQL manual 28.3) on an ordinary connection, in the
//! same normalized form the DDL path produces ([`ColumnDef`]).
//!
//! Consistency with the start position is the caller's duty: read it inside the snapshot's
//! consistent window, or with no DDL running between this capture and the position read
//! (`SHOW MASTER STATUS`) the history is seeded at.

use std::collections::BTreeMap;

use mysql_async::prelude::*;

use super::history::{HistoryConfig, SchemaState};
use super::lexer::{lex, Tok};
use super::model::{charset_of_collation, normalize_charset, ColumnDef, TableDef, TableId};

/// `(schema, table, name, data_type, column_type, charset, char max length, numeric
/// precision, numeric scale, datetime precision, is_nullable)`.
type ColumnRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    String,
);

const NOT_SYSTEM: &str = "NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')";

/// Reads the server's default character set, every database's default character set and every
/// base table of the databases `config` captures.
///
/// Errors: the server's, when a query fails.
pub async fn capture(conn: &mut mysql_async::Conn, config: &HistoryConfig) -> Result<SchemaState, mysql_async::Error> {
    let server_charset: Option<String> = conn.query_first("SELECT @@character_set_server").await?;
    let mut state = SchemaState { server_charset: server_charset.map(|c| normalize_charset(&c)), ..Default::default() };
    let fold = |s: String| if config.lower_case_table_names { s.to_lowercase() } else { s };
    let schemata: Vec<(String, Option<String>)> = conn
        .query(format!(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME {NOT_SYSTEM}"
        ))
        .await?;
    for (db, cs) in schemata {
        if config.captures(&db) {
            state.databases.insert(fold(db), cs.map(|c| normalize_charset(&c)));
        }
    }
    let tables: Vec<(String, String, Option<String>)> = conn
        .query(format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_COLLATION FROM information_schema.TABLES \
             WHERE TABLE_TYPE <> 'VIEW' AND TABLE_SCHEMA {NOT_SYSTEM}"
        ))
        .await?;
    let mut defs: BTreeMap<TableId, TableDef> = BTreeMap::new();
    for (db, table, collation) in tables {
        if config.captures(&db) {
            let def = TableDef { charset: collation.map(|c| charset_of_collation(&c)), ..Default::default() };
            defs.insert(TableId::new(fold(db), fold(table)), def);
        }
    }
    let columns: Vec<ColumnRow> = conn
        .query(format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, \
             CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA {NOT_SYSTEM} \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
        ))
        .await?;
    for (db, table, name, data_type, column_type, charset, max_len, precision, scale, fsp, nullable) in columns {
        if let Some(def) = defs.get_mut(&TableId::new(fold(db), fold(table))) {
            def.columns.push(column_from_information_schema(
                name,
                &data_type,
                &column_type,
                charset.as_deref(),
                max_len,
                precision,
                scale,
                fsp,
                nullable == "YES",
            ));
        }
    }
    let keys: Vec<(String, String, String)> = conn
        .query(format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE INDEX_NAME = 'PRIMARY' AND TABLE_SCHEMA {NOT_SYSTEM} ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX"
        ))
        .await?;
    for (db, table, column) in keys {
        if let Some(def) = defs.get_mut(&TableId::new(fold(db), fold(table))) {
            def.primary_key.push(column);
        }
    }
    state.tables = defs;
    Ok(state)
}

/// Whether CHARACTER_MAXIMUM_LENGTH is kept for `data_type` (character and binary strings).
pub(crate) fn has_length(data_type: &str) -> bool {
    matches!(
        data_type,
        "char"
            | "varchar"
            | "binary"
            | "varbinary"
            | "tinytext"
            | "text"
            | "mediumtext"
            | "longtext"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
    )
}

/// One COLUMNS row in the history's normalized form (see [`ColumnDef::column_type`]).
#[allow(clippy::too_many_arguments)]
pub fn column_from_information_schema(
    name: String,
    data_type: &str,
    column_type: &str,
    charset: Option<&str>,
    max_len: Option<u64>,
    precision: Option<u64>,
    scale: Option<u64>,
    fsp: Option<u64>,
    nullable: bool,
) -> ColumnDef {
    let data_type = data_type.to_ascii_lowercase();
    let lower = column_type.to_ascii_lowercase();
    let unsigned = lower.contains("unsigned") || lower.contains("zerofill");
    let mut labels = Vec::new();
    let mut ty = lower.replace(" zerofill", "");
    if matches!(data_type.as_str(), "tinyint" | "smallint" | "mediumint" | "int" | "bigint" | "year") {
        // Drop the display width: `int(11) unsigned` → `int unsigned`, `year(4)` → `year`.
        if let (Some(open), Some(close)) = (ty.find('('), ty.find(')')) {
            ty.replace_range(open..=close, "");
        }
    }
    if data_type == "enum" || data_type == "set" {
        if let Ok(l) = lex(column_type) {
            labels =
                l.tokens.into_iter().filter_map(|t| if let Tok::Str(s) = t.tok { Some(s) } else { None }).collect();
        }
        let quoted: Vec<String> = labels.iter().map(|l| format!("'{}'", l.replace('\'', "''"))).collect();
        ty = format!("{data_type}({})", quoted.join(","));
    }
    let (precision, scale) = match data_type.as_str() {
        "decimal" => (precision.map(|p| p as u32), scale.map(|s| s as u32)),
        "bit" => (precision.map(|p| p as u32), None),
        "float" | "double" if ty.contains(',') => {
            let inner = ty.split(['(', ')']).nth(1).unwrap_or("");
            let mut it = inner.split(',').map(|v| v.trim().parse::<u32>().ok());
            (it.next().flatten(), it.next().flatten())
        }
        _ => (None, None),
    };
    let fsp = if matches!(data_type.as_str(), "time" | "datetime" | "timestamp") {
        Some(fsp.unwrap_or(0) as u8)
    } else {
        None
    };
    ColumnDef {
        name,
        length: if has_length(&data_type) { max_len } else { None },
        data_type,
        column_type: ty.trim().to_string(),
        unsigned,
        charset: charset.map(normalize_charset),
        labels,
        precision,
        scale,
        fsp,
        nullable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_the_ddl_path() {
        let c = column_from_information_schema(
            "a".into(),
            "int",
            "int(10) unsigned zerofill",
            None,
            None,
            Some(10),
            Some(0),
            None,
            false,
        );
        assert_eq!((c.column_type.as_str(), c.unsigned, c.precision), ("int unsigned", true, None));
        let e = column_from_information_schema(
            "e".into(),
            "enum",
            "enum('a','b''c')",
            Some("utf8"),
            Some(3),
            None,
            None,
            None,
            true,
        );
        assert_eq!(
            (e.labels.clone(), e.column_type.as_str(), e.charset.as_deref(), e.length),
            (vec!["a".into(), "b'c".into()], "enum('a','b''c')", Some("utf8mb3"), None)
        );
        let d = column_from_information_schema(
            "d".into(),
            "datetime",
            "datetime(3)",
            None,
            None,
            None,
            None,
            Some(3),
            true,
        );
        assert_eq!(d.fsp, Some(3));
        let f =
            column_from_information_schema("f".into(), "float", "float(7,2)", None, None, Some(7), Some(2), None, true);
        assert_eq!((f.precision, f.scale), (Some(7), Some(2)));
    }
}
