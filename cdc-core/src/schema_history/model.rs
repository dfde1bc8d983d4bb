//! The schema model the history keeps per table: the facts the decoder needs from one
//! `information_schema.COLUMNS` row per column (MySQL manual 28.3.8 "The INFORMATION_SCHEMA
//! COLUMNS Table"), the primary key (STATISTICS, `INDEX_NAME = 'PRIMARY'`) and the table's
//! default character set, with a conversion to the decoder's [`TableSchema`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::source::{SchemaColumn, TableSchema};

/// A table's identity: database (schema) and table name, as the server stores them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TableId {
    /// Database (schema) name.
    pub db: String,
    /// Table name.
    pub table: String,
}

impl TableId {
    /// `db`.`table`.
    pub fn new(db: impl Into<String>, table: impl Into<String>) -> Self {
        Self { db: db.into(), table: table.into() }
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`.`{}`", self.db.replace('`', "``"), self.table.replace('`', "``"))
    }
}

/// One column: the fields of its `information_schema.COLUMNS` row the decoder uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// COLUMN_NAME.
    pub name: String,
    /// DATA_TYPE, lower case (`int`, `varchar`, `enum`, `datetime`, …).
    pub data_type: String,
    /// COLUMN_TYPE, lower case and normalized: integer display widths are dropped (as MySQL
    /// 8.0.19+ shows them), `unsigned` follows the type, ENUM/SET labels are quoted with `'`
    /// (`int unsigned`, `varchar(20)`, `decimal(10,2)`, `enum('a','b')`).
    pub column_type: String,
    /// True for UNSIGNED (and ZEROFILL, which implies it) numeric columns.
    pub unsigned: bool,
    /// CHARACTER_SET_NAME, normalized (`utf8` → `utf8mb3`); None for columns that hold no
    /// character data (numbers, dates, BINARY/VARBINARY/BLOB, BIT, JSON on MySQL, spatial).
    pub charset: Option<String>,
    /// ENUM or SET labels in definition order (empty for other types).
    pub labels: Vec<String>,
    /// CHARACTER_MAXIMUM_LENGTH: characters for CHAR/VARCHAR/TEXT, bytes for
    /// BINARY/VARBINARY/BLOB; None for other types.
    pub length: Option<u64>,
    /// NUMERIC_PRECISION of DECIMAL, and the width of BIT(n); None for other types.
    pub precision: Option<u32>,
    /// NUMERIC_SCALE of DECIMAL; None for other types.
    pub scale: Option<u32>,
    /// DATETIME_PRECISION (fractional seconds) of TIME, DATETIME and TIMESTAMP.
    pub fsp: Option<u8>,
    /// IS_NULLABLE.
    pub nullable: bool,
}

/// A table as the history knows it at one binlog position.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TableDef {
    /// Columns in ordinal (binlog row) order.
    pub columns: Vec<ColumnDef>,
    /// PRIMARY KEY column names in key order (empty: no primary key).
    pub primary_key: Vec<String>,
    /// The table's default character set (for columns added without one), normalized.
    pub charset: Option<String>,
}

impl TableDef {
    /// Index of the column named `name` (column names are case-insensitive in MySQL, manual
    /// 11.2.3 "Identifier Case Sensitivity").
    pub fn position(&self, name: &str) -> Option<usize> {
        let name = name.to_lowercase();
        self.columns.iter().position(|c| c.name.to_lowercase() == name)
    }

    /// The decoder's [`TableSchema`] for this table (names, unsigned flags, ENUM/SET labels,
    /// primary key indexes, character sets; a binary column's charset is None).
    pub fn to_table_schema(&self) -> TableSchema {
        TableSchema {
            columns: self
                .columns
                .iter()
                .map(|c| SchemaColumn {
                    name: c.name.clone(),
                    data_type: c.data_type.clone(),
                    unsigned: c.unsigned,
                    charset: c.charset.clone(),
                    labels: c.labels.clone(),
                    precision: c.precision.map(u64::from),
                    scale: c.scale.map(u64::from),
                    datetime_precision: c.fsp.map(u64::from),
                })
                .collect(),
            primary_key: self.primary_key.iter().filter_map(|k| self.position(k)).collect(),
        }
    }
}

/// Normalizes a character set name: lower case, `utf8` → `utf8mb3` (its name since MariaDB
/// 10.6 and MySQL 8.0.30).
pub fn normalize_charset(name: &str) -> String {
    let l = name.to_ascii_lowercase();
    if l == "utf8" {
        "utf8mb3".into()
    } else {
        l
    }
}

/// The character set of a collation name: the part before the first `_` (`utf8mb4_bin` →
/// `utf8mb4`), `binary` for `binary` (MySQL manual 12.3.1 "Collation Naming Conventions").
pub fn charset_of_collation(collation: &str) -> String {
    let l = collation.to_ascii_lowercase();
    normalize_charset(l.split('_').next().unwrap_or(&l))
}

/// Maximum bytes per character of a character set (MySQL manual 12.10 "Supported Character
/// Sets and Collations", column Maxlen); None for a set this crate does not know.
pub fn max_bytes_per_char(charset: &str) -> Option<u64> {
    Some(match charset {
        "utf8mb4" | "utf16" | "utf16le" | "utf32" | "gb18030" => 4,
        "utf8mb3" | "utf8" | "eucjpms" | "ujis" => 3,
        "ucs2" | "big5" | "gbk" | "gb2312" | "sjis" | "cp932" | "euckr" => 2,
        "latin1" | "latin2" | "latin5" | "latin7" | "ascii" | "binary" | "cp1250" | "cp1251" | "cp1256" | "cp1257"
        | "cp850" | "cp852" | "cp866" | "koi8r" | "koi8u" | "greek" | "hebrew" | "tis620" | "armscii8" | "dec8"
        | "hp8" | "keybcs2" | "macce" | "macroman" | "swe7" | "geostd8" => 1,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, data_type: &str) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            data_type: data_type.into(),
            column_type: data_type.into(),
            unsigned: false,
            charset: None,
            labels: vec![],
            length: None,
            precision: None,
            scale: None,
            fsp: None,
            nullable: true,
        }
    }

    #[test]
    fn converts_to_the_decoder_schema() {
        let mut e = col("E", "enum");
        e.labels = vec!["a".into(), "b".into()];
        e.charset = Some("utf8mb4".into());
        let mut id = col("id", "int");
        id.unsigned = true;
        let t = TableDef { columns: vec![id, e], primary_key: vec!["ID".into(), "e".into()], charset: None };
        let s = t.to_table_schema();
        let names: Vec<&str> = s.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "E"]);
        assert_eq!(s.columns.iter().map(|c| c.unsigned).collect::<Vec<_>>(), [true, false]);
        assert_eq!(s.columns[1].labels, ["a".to_string(), "b".to_string()]);
        assert_eq!(s.primary_key, [0, 1]);
        assert_eq!(
            s.columns.iter().map(|c| c.charset.clone()).collect::<Vec<_>>(),
            [None, Some("utf8mb4".to_string())]
        );
    }

    #[test]
    fn collation_names_give_their_charset() {
        assert_eq!(charset_of_collation("utf8mb4_0900_ai_ci"), "utf8mb4");
        assert_eq!(charset_of_collation("UTF8_general_ci"), "utf8mb3");
        assert_eq!(charset_of_collation("binary"), "binary");
    }
}
