//! The stream cross-check: a TABLE_MAP's column count and wire types (and the lengths their
//! metadata carries) against the history's [`TableDef`] of that table. A mismatch means the
//! history is not the schema the server wrote these rows with; decoding them would shift or
//! misread values, so it is an error, never a warning.
//!
//! Wire facts: MySQL source `libbinlogevents/include/rows_event.h` (Table_map_event: column
//! types and per-type metadata: VARCHAR max byte length (2 bytes), BLOB pack length (1 byte),
//! NEWDECIMAL precision and scale, TIME2/DATETIME2/TIMESTAMP2 fsp, BIT bits and bytes, STRING
//! real type and byte length); MariaDB's JSON is LONGTEXT (a BLOB with pack length 4).
//! Types the history cannot map to one wire type (MariaDB INET4/INET6/UUID/VECTOR) are not
//! checked beyond the column count.

use mysql_common::binlog::events::TableMapEvent;
use mysql_common::constants::ColumnType;

use super::model::{max_bytes_per_char, ColumnDef, TableDef, TableId};
use crate::source::column::string_byte_length;

/// A TABLE_MAP that does not match the history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "TABLE_MAP of {table} does not match the schema history ({reason}): decoding its rows with the \
     history's schema would misread them. The history is behind or ahead of the binlog (a DDL it \
     missed, or a seed taken at another position). Ways on: refresh the table's schema from the \
     server at this position (only if no later DDL on it has run), or re-seed the history"
)]
pub struct TableMapMismatch {
    /// The table.
    pub table: TableId,
    /// What differs (column index, expected and actual).
    pub reason: String,
}

/// Checks `tme` against `def` (see [`check_columns`]).
///
/// Errors: [`TableMapMismatch`] as [`check_columns`]; an unreadable column type is a mismatch.
pub fn check_table_map(table: &TableId, def: &TableDef, tme: &TableMapEvent<'_>) -> Result<(), TableMapMismatch> {
    let n = tme.columns_count() as usize;
    let mut cols = Vec::with_capacity(n);
    for i in 0..n {
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            _ => return Err(TableMapMismatch { table: table.clone(), reason: format!("column {i}: unreadable type") }),
        };
        cols.push((ty, tme.get_column_metadata(i).unwrap_or(&[])));
    }
    check_columns(table, def, &cols)
}

/// Checks a TABLE_MAP's `(type, metadata)` per column (STRING already resolved to ENUM/SET, as
/// `mysql_common`'s `get_column_type` does) against `def`: the count, each wire type, and the
/// lengths the metadata carries (VARCHAR/CHAR bytes when the charset's width is known, BLOB
/// pack length, DECIMAL precision/scale, fsp, BIT width).
///
/// Errors: [`TableMapMismatch`] naming the first column that differs.
pub fn check_columns(table: &TableId, def: &TableDef, cols: &[(ColumnType, &[u8])]) -> Result<(), TableMapMismatch> {
    let fail = |reason: String| TableMapMismatch { table: table.clone(), reason };
    if cols.len() != def.columns.len() {
        return Err(fail(format!("{} columns in the TABLE_MAP, {} in the history", cols.len(), def.columns.len())));
    }
    for (i, ((ty, meta), c)) in cols.iter().zip(&def.columns).enumerate() {
        check_one(*ty, meta, c).map_err(|why| fail(format!("column {i} `{}` ({}): {why}", c.name, c.column_type)))?;
    }
    Ok(())
}

fn check_one(ty: ColumnType, meta: &[u8], c: &ColumnDef) -> Result<(), String> {
    use ColumnType::*;
    let wrong = || Err(format!("the TABLE_MAP has type {ty:?}"));
    let expect = |ok: bool| if ok { Ok(()) } else { wrong() };
    let bytes_per_char = || c.charset.as_deref().and_then(max_bytes_per_char);
    let u16_meta = || meta.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64);
    match c.data_type.as_str() {
        "tinyint" => expect(ty == MYSQL_TYPE_TINY),
        "smallint" => expect(ty == MYSQL_TYPE_SHORT),
        "mediumint" => expect(ty == MYSQL_TYPE_INT24),
        "int" | "integer" => expect(ty == MYSQL_TYPE_LONG),
        "bigint" => expect(ty == MYSQL_TYPE_LONGLONG),
        "float" => expect(ty == MYSQL_TYPE_FLOAT),
        "double" => expect(ty == MYSQL_TYPE_DOUBLE),
        "year" => expect(ty == MYSQL_TYPE_YEAR),
        "date" => expect(matches!(ty, MYSQL_TYPE_NEWDATE | MYSQL_TYPE_DATE)),
        "decimal" => {
            expect(ty == MYSQL_TYPE_NEWDECIMAL)?;
            match (meta.first(), meta.get(1), c.precision, c.scale) {
                (Some(&p), Some(&s), Some(hp), Some(hs)) if (p as u32, s as u32) != (hp, hs) => {
                    Err(format!("the TABLE_MAP has DECIMAL({p},{s})"))
                }
                _ => Ok(()),
            }
        }
        "time" | "datetime" | "timestamp" => {
            let (old, new) = match c.data_type.as_str() {
                "time" => (MYSQL_TYPE_TIME, MYSQL_TYPE_TIME2),
                "datetime" => (MYSQL_TYPE_DATETIME, MYSQL_TYPE_DATETIME2),
                _ => (MYSQL_TYPE_TIMESTAMP, MYSQL_TYPE_TIMESTAMP2),
            };
            if ty == old {
                return Ok(());
            }
            expect(ty == new)?;
            match (meta.first(), c.fsp) {
                (Some(&f), Some(h)) if f != h => Err(format!("the TABLE_MAP has fractional seconds precision {f}")),
                _ => Ok(()),
            }
        }
        "bit" => {
            expect(ty == MYSQL_TYPE_BIT)?;
            let bits = match meta {
                [bits, bytes, ..] => *bytes as u32 * 8 + *bits as u32,
                _ => return Ok(()),
            };
            match c.precision {
                Some(n) if n != bits => Err(format!("the TABLE_MAP has BIT({bits})")),
                _ => Ok(()),
            }
        }
        "enum" => expect(ty == MYSQL_TYPE_ENUM),
        "set" => expect(ty == MYSQL_TYPE_SET),
        "char" | "binary" => {
            expect(ty == MYSQL_TYPE_STRING)?;
            let per = if c.data_type == "binary" { Some(1) } else { bytes_per_char() };
            let got = (meta.len() >= 2).then(|| string_byte_length(meta));
            match (got, c.length, per) {
                (Some(got), Some(len), Some(per)) if got as u64 != len * per => {
                    Err(format!("the TABLE_MAP has a {got}-byte {}", c.data_type.to_uppercase()))
                }
                _ => Ok(()),
            }
        }
        "varchar" | "varbinary" => {
            expect(matches!(ty, MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING))?;
            let per = if c.data_type == "varbinary" { Some(1) } else { bytes_per_char() };
            match (u16_meta(), c.length, per) {
                (Some(got), Some(len), Some(per)) if got != len * per => {
                    Err(format!("the TABLE_MAP has at most {got} bytes"))
                }
                _ => Ok(()),
            }
        }
        "tinytext" | "tinyblob" | "text" | "blob" | "mediumtext" | "mediumblob" | "longtext" | "longblob" => {
            expect(matches!(
                ty,
                MYSQL_TYPE_BLOB | MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB
            ))?;
            let want = match &c.data_type[..c.data_type.len() - 4] {
                "tiny" => 1,
                "" => 2,
                "medium" => 3,
                _ => 4,
            };
            match meta.first() {
                Some(&got) if ty == MYSQL_TYPE_BLOB && got != want => {
                    Err(format!("the TABLE_MAP has a BLOB with pack length {got}"))
                }
                _ => Ok(()),
            }
        }
        "json" => expect(ty == MYSQL_TYPE_JSON),
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" => expect(ty == MYSQL_TYPE_GEOMETRY),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_history::capture::column_from_information_schema;

    fn def() -> TableDef {
        let c =
            |n: &str,
             dt: &str,
             ct: &str,
             cs: Option<&str>,
             len: Option<u64>,
             p: Option<u64>,
             s: Option<u64>,
             f: Option<u64>| { column_from_information_schema(n.into(), dt, ct, cs, len, p, s, f, true) };
        TableDef {
            columns: vec![
                c("id", "int", "int(11)", None, None, Some(10), Some(0), None),
                c("v", "varchar", "varchar(10)", Some("utf8mb4"), Some(10), None, None, None),
                c("d", "decimal", "decimal(10,2)", None, None, Some(10), Some(2), None),
                c("t", "datetime", "datetime(3)", None, None, None, None, Some(3)),
                c("x", "text", "text", Some("utf8mb4"), Some(65535), None, None, None),
                c("e", "enum", "enum('a')", Some("utf8mb4"), Some(1), None, None, None),
            ],
            primary_key: vec!["id".into()],
            charset: Some("utf8mb4".into()),
        }
    }

    fn cols(v: &[(ColumnType, Vec<u8>)]) -> Vec<(ColumnType, &[u8])> {
        v.iter().map(|(t, m)| (*t, m.as_slice())).collect()
    }

    #[test]
    fn matching_and_mismatching_table_maps() {
        use ColumnType::*;
        let id = TableId::new("db", "t");
        let good = vec![
            (MYSQL_TYPE_LONG, vec![]),
            (MYSQL_TYPE_VARCHAR, 40u16.to_le_bytes().to_vec()),
            (MYSQL_TYPE_NEWDECIMAL, vec![10, 2]),
            (MYSQL_TYPE_DATETIME2, vec![3]),
            (MYSQL_TYPE_BLOB, vec![2]),
            (MYSQL_TYPE_ENUM, vec![247, 1]),
        ];
        check_columns(&id, &def(), &cols(&good)).unwrap();
        let mut widened = good.clone();
        widened[0] = (MYSQL_TYPE_LONGLONG, vec![]);
        let e = check_columns(&id, &def(), &cols(&widened)).unwrap_err();
        assert!(e.to_string().contains("column 0 `id`") && e.to_string().contains("Ways on"), "{e}");
        let mut longer = good.clone();
        longer[1].1 = 80u16.to_le_bytes().to_vec();
        assert!(check_columns(&id, &def(), &cols(&longer)).unwrap_err().reason.contains("80 bytes"));
        let mut medium = good.clone();
        medium[4].1 = vec![3];
        assert!(check_columns(&id, &def(), &cols(&medium)).is_err());
        let mut fsp = good.clone();
        fsp[3].1 = vec![6];
        assert!(check_columns(&id, &def(), &cols(&fsp)).is_err());
        let mut scale = good.clone();
        scale[2].1 = vec![10, 3];
        assert!(check_columns(&id, &def(), &cols(&scale)).is_err());
        let e = check_columns(&id, &def(), &cols(&good[..5])).unwrap_err();
        assert!(e.reason.contains("5 columns in the TABLE_MAP, 6 in the history"), "{e}");
    }
}
