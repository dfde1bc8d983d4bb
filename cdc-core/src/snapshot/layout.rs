//! The shape of one table for the snapshot reader ([`TableLayout`]): column names, the
//! decoding rule ([`Kind`]) of every column — the same rules the binlog decoder derives from a
//! TABLE_MAP, here derived from `information_schema.COLUMNS` — and the primary key
//! (`information_schema.STATISTICS`, index `PRIMARY`).
//!
//! Type facts: MySQL manual 28.3.8 "The INFORMATION_SCHEMA COLUMNS Table" (`DATA_TYPE`,
//! `COLUMN_TYPE`, `CHARACTER_SET_NAME`, `COLLATION_NAME`, `DATETIME_PRECISION`,
//! `CHARACTER_OCTET_LENGTH`). MariaDB reports its JSON type as `longtext` (JSON is an alias of
//! LONGTEXT there, MariaDB KB "JSON Data Type"), which is also how its binlog carries it.

use std::sync::Arc;

use mysql_async::prelude::*;

use super::error::SnapshotError;
use super::progress::TableId;
use crate::source::column::{Charset, Kind};
use crate::source::schema::parse_labels;

/// One column as the snapshot reads it.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotColumn {
    /// Column name.
    pub(crate) name: String,
    /// The decoding rule, as the binlog decoder would choose it.
    pub(crate) kind: Kind,
    /// Character set of character, ENUM and SET columns.
    pub(crate) charset: Option<Charset>,
    /// `CHARACTER_SET_NAME` of character columns (for key parameters).
    pub(crate) charset_name: Option<String>,
    /// `COLLATION_NAME` of character columns (for key parameters).
    pub(crate) collation: Option<String>,
}

/// What the reader knows of one table: columns in ordinal order with their decoding rules,
/// and the primary key.
#[derive(Debug, Clone)]
pub struct TableLayout {
    /// Which table.
    pub id: TableId,
    /// Column names in ordinal order, shared by every row event of the table (as the binlog
    /// decoder shares them per TABLE_MAP).
    pub columns: Arc<[Arc<str>]>,
    /// Indexes (into `columns`) of the PRIMARY KEY columns, in key order; empty when the table
    /// has no primary key.
    pub key_columns: Arc<[usize]>,
    pub(crate) cols: Vec<SnapshotColumn>,
}

impl TableLayout {
    /// Reads the layout of `table` on `conn`.
    ///
    /// Errors: [`SnapshotError::Sql`] when the queries fail; [`SnapshotError::NoSuchTable`]
    /// when the table has no columns (it does not exist); [`SnapshotError::UnsupportedType`]
    /// for a column type the binlog decoder has no rule for either.
    pub async fn load(conn: &mut mysql_async::Conn, table: &TableId) -> Result<Self, SnapshotError> {
        #[allow(clippy::type_complexity)]
        let rows: Vec<(String, String, String, Option<String>, Option<String>, Option<u64>, Option<u64>)> = conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, \
                 DATETIME_PRECISION, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                (&table.db, &table.table),
            )
            .await?;
        if rows.is_empty() {
            return Err(SnapshotError::NoSuchTable(table.clone()));
        }
        let mut cols = Vec::with_capacity(rows.len());
        for (name, data_type, column_type, charset_name, collation, precision, octets) in rows {
            let charset = charset_name.as_deref().map(Charset::from_name);
            let kind = kind_of(&data_type, &column_type, charset, precision, octets).ok_or_else(|| {
                SnapshotError::UnsupportedType {
                    table: table.clone(),
                    column: name.clone(),
                    column_type: column_type.clone(),
                }
            })?;
            cols.push(SnapshotColumn { name, kind, charset, charset_name, collation });
        }
        let pk: Vec<String> = conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
                (&table.db, &table.table),
            )
            .await?;
        let key_columns: Vec<usize> = pk.iter().filter_map(|k| cols.iter().position(|c| &c.name == k)).collect();
        Ok(Self {
            id: table.clone(),
            columns: cols.iter().map(|c| Arc::<str>::from(c.name.as_str())).collect(),
            key_columns: key_columns.into(),
            cols,
        })
    }

    /// True when the table has a primary key (it is then read in key order, in chunks).
    pub fn has_key(&self) -> bool {
        !self.key_columns.is_empty()
    }
}

/// The binlog decoder's [`Kind`] for a column described by `information_schema`; None for a
/// type it has no rule for.
fn kind_of(
    data_type: &str,
    column_type: &str,
    charset: Option<Charset>,
    precision: Option<u64>,
    octets: Option<u64>,
) -> Option<Kind> {
    let ct = column_type.to_ascii_lowercase();
    let precision = precision.unwrap_or(0).min(6) as u8;
    Some(match data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => {
            Kind::Int { unsigned: ct.contains("unsigned") }
        }
        "year" => Kind::Year,
        "float" => Kind::Float,
        "double" | "real" | "double precision" => Kind::Double,
        "decimal" | "numeric" => Kind::Decimal,
        "date" => Kind::Date,
        "datetime" => Kind::DateTime { precision },
        "timestamp" => Kind::Timestamp { precision },
        "time" => Kind::Time { precision },
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => match charset {
            Some(Charset::Binary) => Kind::Bytes,
            Some(cs) => Kind::Text(cs),
            None => Kind::Text(Charset::Utf8),
        },
        "binary" => Kind::FixedBinary(octets.unwrap_or(0) as usize),
        "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => Kind::Bytes,
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" | "geomcollection" => Kind::Bytes,
        "enum" => Kind::Enum(parse_labels(column_type).into()),
        "set" => Kind::Set(parse_labels(column_type).into()),
        "bit" => Kind::Bit,
        "json" => Kind::Json,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_binlog_rules() {
        let utf8 = Some(Charset::Utf8);
        assert_eq!(kind_of("bigint", "bigint(20) unsigned", None, None, None), Some(Kind::Int { unsigned: true }));
        assert_eq!(kind_of("int", "int(11)", None, None, None), Some(Kind::Int { unsigned: false }));
        assert_eq!(kind_of("datetime", "datetime(3)", None, Some(3), None), Some(Kind::DateTime { precision: 3 }));
        assert_eq!(kind_of("binary", "binary(4)", None, None, Some(4)), Some(Kind::FixedBinary(4)));
        assert_eq!(kind_of("longtext", "longtext", utf8, None, None), Some(Kind::Text(Charset::Utf8)));
        assert_eq!(kind_of("char", "char(5)", Some(Charset::Latin1), None, Some(5)), Some(Kind::Text(Charset::Latin1)));
        assert_eq!(
            kind_of("enum", "enum('a','b')", utf8, None, None),
            Some(Kind::Enum(vec!["a".to_string(), "b".to_string()].into()))
        );
        assert_eq!(kind_of("point", "point", None, None, None), Some(Kind::Bytes));
        assert_eq!(kind_of("inet6", "inet6", None, None, None), None);
    }
}
