//! Column plans: what the decoder needs to know about every column of one TABLE_MAP event
//! (type, type metadata, signedness, character set, name, ENUM/SET labels, primary key), built
//! once per TABLE_MAP and then used for every row of that table version.
//!
//! Sources of facts: the TABLE_MAP event and its optional metadata (MySQL manual,
//! "binlog_row_metadata"; MySQL source `libbinlogevents/include/rows_event.h`,
//! `Table_map_event::Optional_metadata_field_type`), and a [`TableSchema`] read from
//! `information_schema` (see [`super::schema`]). With `binlog_row_metadata=FULL` the metadata
//! holds every fact; MINIMAL holds signedness and charsets only; NO_LOG (MariaDB's default, MySQL
//! 5.7, the OceanBase binlog service) holds none. Each fact comes from the metadata when it is
//! there, else from the schema — a NULL `CHARACTER_SET_NAME` making a string column binary
//! (VARCHAR and VARBINARY, CHAR and BINARY share one wire type) — and never from a guess:
//!
//! * the schema is used only when it can describe the TABLE_MAP's table version: the same number
//!   of columns, each of a DATA_TYPE written as that wire type, with the same DECIMAL precision and
//!   scale, fraction digits, BIT width and ENUM width. A plan that needs a fact the metadata lacks
//!   and such a schema cannot give is an error (the schema changed since: rows would be named or
//!   typed after another version of the table);
//! * when both give a fact and disagree, the metadata (which describes the row exactly) is used
//!   and the disagreement logged;
//! * without any schema (offline decoding of files, or a table that no longer exists) the facts
//!   the metadata lacks are what loses nothing: names `@0`, `@1`…, character data as bytes,
//!   integers signed, ENUM/SET values as numbers, no primary key.

use std::sync::Arc;

use mysql_common::binlog::events::{OptionalMetadataField, TableMapEvent};
use mysql_common::constants::ColumnType;

pub(crate) use super::column::string_byte_length;
use super::column::{Charset, ColumnPlan, Kind};

/// Column facts read from `information_schema` (see [`super::schema::load_schema`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSchema {
    /// The columns, in ordinal order (`ORDINAL_POSITION`, which is the TABLE_MAP's order).
    pub columns: Vec<SchemaColumn>,
    /// Indexes of the PRIMARY KEY columns, in key order.
    pub primary_key: Vec<usize>,
}

/// One column of `information_schema.COLUMNS` (MySQL manual, "The INFORMATION_SCHEMA COLUMNS
/// Table").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaColumn {
    /// `COLUMN_NAME`.
    pub name: String,
    /// `DATA_TYPE` in lower case: `varchar`, `varbinary`, `int`, `enum`… (MariaDB's JSON is
    /// `longtext`).
    pub data_type: String,
    /// `COLUMN_TYPE` says `unsigned` (numeric types only).
    pub unsigned: bool,
    /// `CHARACTER_SET_NAME` in lower case; None for the binary string types (BINARY, VARBINARY,
    /// the BLOB family) and for non-character types.
    pub charset: Option<String>,
    /// ENUM or SET labels, from `COLUMN_TYPE` (empty for other types).
    pub labels: Vec<String>,
    /// `NUMERIC_PRECISION`: DECIMAL digits, BIT width in bits.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE`: DECIMAL digits after the point.
    pub scale: Option<u64>,
    /// `DATETIME_PRECISION`: fraction digits of TIME, DATETIME and TIMESTAMP.
    pub datetime_precision: Option<u64>,
}

/// Everything needed to decode the rows of one table version (one TABLE_MAP).
#[derive(Debug)]
pub(crate) struct TablePlan {
    pub(crate) db: Arc<str>,
    pub(crate) table: Arc<str>,
    pub(crate) columns: Arc<[Arc<str>]>,
    pub(crate) key_columns: Arc<[usize]>,
    pub(crate) cols: Vec<ColumnPlan>,
    /// Number of JSON columns (for PARTIAL_UPDATE_ROWS_EVENT's partial-column bitmap).
    pub(crate) json_columns: usize,
}

/// The TABLE_MAP column types a `DATA_TYPE` is written as (MySQL source `Field::binlog_type`;
/// mysql_common resolves STRING to ENUM/SET from the metadata). MariaDB's JSON is `longtext`.
/// None for a DATA_TYPE this list does not know (MariaDB INET6, UUID…): any wire type fits it.
fn wire_types(data_type: &str) -> Option<&'static [ColumnType]> {
    use ColumnType::*;
    Some(match data_type {
        "tinyint" => &[MYSQL_TYPE_TINY],
        "smallint" => &[MYSQL_TYPE_SHORT],
        "mediumint" => &[MYSQL_TYPE_INT24],
        "int" | "integer" => &[MYSQL_TYPE_LONG],
        "bigint" => &[MYSQL_TYPE_LONGLONG],
        // OceanBase writes a FLOAT of precision above 24 as DOUBLE.
        "float" => &[MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE],
        "double" | "real" => &[MYSQL_TYPE_DOUBLE],
        "decimal" | "numeric" => &[MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_DECIMAL],
        "date" => &[MYSQL_TYPE_NEWDATE, MYSQL_TYPE_DATE],
        "datetime" => &[MYSQL_TYPE_DATETIME2, MYSQL_TYPE_DATETIME],
        "timestamp" => &[MYSQL_TYPE_TIMESTAMP2, MYSQL_TYPE_TIMESTAMP],
        "time" => &[MYSQL_TYPE_TIME2, MYSQL_TYPE_TIME],
        "year" => &[MYSQL_TYPE_YEAR],
        "bit" => &[MYSQL_TYPE_BIT],
        "char" | "binary" => &[MYSQL_TYPE_STRING],
        "varchar" | "varbinary" => &[MYSQL_TYPE_VARCHAR, MYSQL_TYPE_VAR_STRING],
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob" | "longblob" => {
            &[MYSQL_TYPE_BLOB, MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB]
        }
        "json" => &[MYSQL_TYPE_JSON, MYSQL_TYPE_BLOB],
        "enum" => &[MYSQL_TYPE_ENUM],
        "set" => &[MYSQL_TYPE_SET],
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring" | "multipolygon"
        | "geometrycollection" | "geomcollection" => &[MYSQL_TYPE_GEOMETRY],
        "vector" => &[MYSQL_TYPE_VECTOR],
        _ => return None,
    })
}

/// Whether `col` can be the TABLE_MAP column of type `ty` and metadata `meta`: its DATA_TYPE is
/// written as `ty`, and the DECIMAL precision and scale, TIME/DATETIME/TIMESTAMP fraction digits,
/// BIT width and ENUM index width agree with the metadata (MySQL source
/// `Table_map_log_event::save_field_metadata`). String lengths are not compared: OceanBase
/// counts them its own way, and the reader takes them from the metadata. Errors: what differs.
fn fits(ty: ColumnType, meta: &[u8], col: &SchemaColumn) -> Result<(), String> {
    use ColumnType::*;
    if let Some(types) = wire_types(&col.data_type) {
        if !types.contains(&ty) {
            return Err(format!("information_schema says {}, the TABLE_MAP {ty:?}", col.data_type));
        }
    }
    let differs = |what: &str, schema: Option<u64>, binlog: u64| match schema {
        Some(s) if s != binlog => Err(format!("{what} {s} in information_schema, {binlog} in the TABLE_MAP")),
        _ => Ok(()),
    };
    match (ty, meta) {
        (MYSQL_TYPE_NEWDECIMAL, [p, s, ..]) => {
            differs("DECIMAL precision", col.precision, *p as u64)?;
            differs("DECIMAL scale", col.scale, *s as u64)
        }
        (MYSQL_TYPE_TIME2 | MYSQL_TYPE_DATETIME2 | MYSQL_TYPE_TIMESTAMP2, [fsp, ..]) => {
            differs("fraction digits", col.datetime_precision, *fsp as u64)
        }
        (MYSQL_TYPE_BIT, [bits, bytes, ..]) => differs("BIT width", col.precision, *bytes as u64 * 8 + *bits as u64),
        (MYSQL_TYPE_ENUM, [_, width, ..]) if !col.labels.is_empty() => {
            let want = if col.labels.len() > 255 { 2 } else { 1 };
            differs("ENUM index bytes", Some(want), *width as u64)
        }
        _ => Ok(()),
    }
}

/// Builds the plan of `tme`. `mariadb` enables MariaDB's counting of GEOMETRY columns among
/// character columns in the charset metadata (binlog-probe §4.6). `schema`: the table's
/// `information_schema` facts (None when there is no server to ask), used for what the metadata
/// lacks and cross-checked against what it holds (see the module documentation).
///
/// Errors: unreadable optional metadata, an unsupported column type, or a fact the metadata
/// lacks that `schema` cannot give because it describes another version of the table (the
/// message names the difference and the way out).
pub(crate) fn build_plan(
    tme: &TableMapEvent<'_>,
    mariadb: bool,
    schema: Option<&TableSchema>,
) -> Result<TablePlan, String> {
    let n = tme.columns_count() as usize;
    // Optional metadata, collected once.
    let mut signedness: Option<Vec<bool>> = None;
    let mut names: Option<Vec<String>> = None;
    let mut enum_labels: Vec<Vec<String>> = Vec::new();
    let mut set_labels: Vec<Vec<String>> = Vec::new();
    let mut pk: Option<Vec<usize>> = None;
    for field in tme.iter_optional_meta() {
        let field = field.map_err(|e| format!("optional metadata: {e}"))?;
        match field {
            OptionalMetadataField::Signedness(bits) => {
                signedness = Some(bits.iter().by_vals().collect());
            }
            OptionalMetadataField::ColumnName(cn) => {
                let mut v = Vec::with_capacity(n);
                for name in cn.iter_names() {
                    v.push(name.map_err(|e| format!("column names: {e}"))?.name().into_owned());
                }
                names = Some(v);
            }
            OptionalMetadataField::EnumStrValue(vals) => {
                for e in vals.iter_values() {
                    let e = e.map_err(|e| format!("enum labels: {e}"))?;
                    enum_labels.push(e.values().iter().map(|v| v.value().into_owned()).collect());
                }
            }
            OptionalMetadataField::SetStrValue(vals) => {
                for s in vals.iter_values() {
                    let s = s.map_err(|e| format!("set labels: {e}"))?;
                    set_labels.push(s.values().iter().map(|v| v.value().into_owned()).collect());
                }
            }
            OptionalMetadataField::SimplePrimaryKey(k) => {
                let pk = pk.get_or_insert_with(Vec::new);
                for i in k.iter_indexes() {
                    pk.push(i.map_err(|e| format!("primary key: {e}"))? as usize);
                }
            }
            OptionalMetadataField::PrimaryKeyWithPrefix(k) => {
                let pk = pk.get_or_insert_with(Vec::new);
                for i in k.iter_keys() {
                    pk.push(i.map_err(|e| format!("primary key: {e}"))?.column_index() as usize);
                }
            }
            _ => {}
        }
    }
    // FULL metadata writes PRIMARY_KEY only for a table that has one: with column names and no
    // key field, the table has no primary key.
    if pk.is_none() && names.is_some() {
        pk = Some(Vec::new());
    }
    let names = names.filter(|v| v.len() == n);
    let extractor = mysql_common::binlog::events::OptionalMetaExtractor::new(tme.iter_optional_meta())
        .map_err(|e| format!("optional metadata: {e}"))?;
    let mut charsets = extractor.iter_charset();
    let mut enum_set_charsets = extractor.iter_enum_and_set_charset();

    let mut types = Vec::with_capacity(n);
    for i in 0..n {
        let ty = match tme.get_column_type(i) {
            Ok(Some(t)) => t,
            Ok(None) => return Err(format!("no type for column {i}")),
            Err(e) => return Err(format!("column {i}: {e}")),
        };
        // O(n) per lookup in mysql_common: paid once per TABLE_MAP, never per row.
        let meta: Box<[u8]> = tme.get_column_metadata(i).unwrap_or(&[]).into();
        types.push((ty, meta));
    }

    // The schema's columns when they can be this table version's; else why not.
    let usable: Result<&[SchemaColumn], String> = match schema {
        None => Err("no information_schema facts (offline decoding)".into()),
        Some(s) if s.columns.is_empty() => Err("the table is not in information_schema now".into()),
        Some(s) if s.columns.len() != n => {
            Err(format!("information_schema lists {} columns, the TABLE_MAP {n}", s.columns.len()))
        }
        Some(s) => types
            .iter()
            .zip(&s.columns)
            .enumerate()
            .try_for_each(|(i, ((ty, meta), c))| {
                fits(*ty, meta, c).map_err(|e| format!("column {i} `{}`: {e}", c.name))
            })
            .map(|()| &s.columns[..]),
    };
    let sc = usable.as_ref().ok().copied();
    // Facts neither source gave (defaulted as described in the module documentation), and
    // facts on which the two disagree (the metadata's is used).
    let mut missing: Vec<&'static str> = Vec::new();
    let mut disagree: Vec<String> = Vec::new();
    let mut lack = |what: &'static str| {
        if !missing.contains(&what) {
            missing.push(what);
        }
    };

    let mut signed_iter = signedness.as_ref().map(|v| v.iter().copied());
    let mut enum_iter = enum_labels.into_iter();
    let mut set_iter = set_labels.into_iter();
    let mut cols = Vec::with_capacity(n);
    let mut json_columns = 0;
    for (i, (ty, meta)) in types.into_iter().enumerate() {
        let s = sc.map(|c| &c[i]);
        let label = || s.map_or_else(|| format!("column {i}"), |s| format!("column {i} `{}`", s.name));
        use ColumnType::*;

        // Signedness bits: one per numeric column (mysql_common's is_numeric_type, YEAR included).
        let meta_unsigned = if ty.is_numeric_type() { signed_iter.as_mut().and_then(|it| it.next()) } else { None };
        let integer =
            matches!(ty, MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG);
        let unsigned = match (meta_unsigned, s) {
            (Some(m), Some(s)) if integer => {
                if m != s.unsigned {
                    disagree.push(format!(
                        "{}: unsigned {m} in the TABLE_MAP, {} in information_schema",
                        label(),
                        s.unsigned
                    ));
                }
                m
            }
            (Some(m), _) => m,
            (None, Some(s)) if integer => s.unsigned,
            (None, None) if integer => {
                lack("signedness");
                false
            }
            (None, _) => false,
        };

        // Charset metadata: one entry per character column (MariaDB counts GEOMETRY too), and
        // one per ENUM/SET column in its own list.
        let is_char = ty.is_character_type() || (mariadb && ty == MYSQL_TYPE_GEOMETRY);
        let meta_charset = if is_char {
            charsets.next().transpose().map_err(|e| format!("charset: {e}"))?
        } else if ty.is_enum_or_set_type() {
            enum_set_charsets.next().transpose().map_err(|e| format!("charset: {e}"))?
        } else {
            None
        };
        let string = matches!(
            ty,
            MYSQL_TYPE_STRING
                | MYSQL_TYPE_VARCHAR
                | MYSQL_TYPE_VAR_STRING
                | MYSQL_TYPE_TINY_BLOB
                | MYSQL_TYPE_MEDIUM_BLOB
                | MYSQL_TYPE_LONG_BLOB
                | MYSQL_TYPE_BLOB
        );
        let charset = if string {
            // information_schema: a NULL CHARACTER_SET_NAME is a binary string.
            let schema_charset = s.map(|s| s.charset.as_deref().map_or(Charset::Binary, Charset::from_name));
            match (meta_charset, meta_charset.and_then(Charset::from_collation), schema_charset) {
                (_, Some(m), Some(c)) => {
                    if m != c {
                        disagree
                            .push(format!("{}: charset {m:?} in the TABLE_MAP, {c:?} in information_schema", label()));
                    }
                    m
                }
                (_, Some(m), None) => m,
                (_, None, Some(c)) => c,
                // A collation id too new for mysql_common's table: a character set all the same.
                (Some(_), None, None) => Charset::Utf8,
                (None, None, None) => {
                    lack("charsets");
                    Charset::Binary
                }
            }
        } else {
            Charset::Binary
        };

        let mut labels = |from_meta: Option<Vec<String>>| -> Arc<[String]> {
            let schema_labels = s.map(|s| &s.labels).filter(|l| !l.is_empty());
            match (from_meta, schema_labels) {
                (Some(m), Some(l)) => {
                    if m != *l {
                        disagree
                            .push(format!("{}: labels {m:?} in the TABLE_MAP, {l:?} in information_schema", label()));
                    }
                    m.into()
                }
                (Some(m), None) => m.into(),
                (None, Some(l)) => l.clone().into(),
                (None, None) => {
                    lack("ENUM/SET labels");
                    Arc::from([])
                }
            }
        };
        let kind = match ty {
            MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG => {
                Kind::Int { unsigned }
            }
            MYSQL_TYPE_YEAR => Kind::Year,
            MYSQL_TYPE_FLOAT => Kind::Float,
            MYSQL_TYPE_DOUBLE => Kind::Double,
            MYSQL_TYPE_NEWDECIMAL | MYSQL_TYPE_DECIMAL => Kind::Decimal,
            MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => Kind::Date,
            MYSQL_TYPE_DATETIME => Kind::DateTime { precision: 0 },
            MYSQL_TYPE_DATETIME2 => Kind::DateTime { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_TIMESTAMP => Kind::Timestamp { precision: 0 },
            MYSQL_TYPE_TIMESTAMP2 => Kind::Timestamp { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_TIME => Kind::Time { precision: 0 },
            MYSQL_TYPE_TIME2 => Kind::Time { precision: meta.first().copied().unwrap_or(0) },
            MYSQL_TYPE_BIT => Kind::Bit,
            MYSQL_TYPE_JSON => {
                json_columns += 1;
                Kind::Json
            }
            MYSQL_TYPE_ENUM => Kind::Enum(labels(enum_iter.next())),
            MYSQL_TYPE_SET => Kind::Set(labels(set_iter.next())),
            MYSQL_TYPE_GEOMETRY | MYSQL_TYPE_VECTOR => Kind::Bytes,
            // BINARY(n) values are right-padded with 0x00 to n bytes, which the binlog strips
            // (MySQL manual, "The BINARY and VARBINARY Types"; `Field_string::pack`).
            MYSQL_TYPE_STRING if charset == Charset::Binary => Kind::FixedBinary(string_byte_length(&meta)),
            _ if string && charset == Charset::Binary => Kind::Bytes,
            _ if string => Kind::Text(charset),
            other => return Err(format!("column {i}: unsupported column type {other:?}")),
        };
        cols.push(ColumnPlan::new(ty, meta, unsigned, kind));
    }

    let names: Vec<String> = match (names, sc) {
        (Some(m), Some(sc)) => {
            let schema_names: Vec<&str> = sc.iter().map(|c| c.name.as_str()).collect();
            if m != schema_names {
                disagree.push(format!("column names {m:?} in the TABLE_MAP, {schema_names:?} in information_schema"));
            }
            m
        }
        (Some(m), None) => m,
        (None, Some(sc)) => sc.iter().map(|c| c.name.clone()).collect(),
        (None, None) => {
            lack("column names");
            (0..n).map(|i| format!("@{i}")).collect()
        }
    };
    let schema_pk = sc.and(schema).map(|s| &s.primary_key);
    let key_columns: Vec<usize> = match (pk, schema_pk) {
        (Some(m), Some(k)) => {
            if m != *k {
                disagree.push(format!("primary key columns {m:?} in the TABLE_MAP, {k:?} in information_schema"));
            }
            m
        }
        (Some(m), None) => m,
        (None, Some(k)) => k.clone(),
        (None, None) => {
            lack("primary key");
            Vec::new()
        }
    }
    .into_iter()
    .filter(|&i| i < n)
    .collect();

    let (db, table) = (tme.database_name(), tme.table_name());
    let name = format!("{db}.{table}");
    let missing = missing.join(", ");
    match (&usable, schema) {
        (Err(why), Some(s)) if !s.columns.is_empty() && !missing.is_empty() => {
            return Err(format!(
                "the TABLE_MAP carries no {missing} and information_schema describes another version of the \
                 table ({why}): it changed after these rows were written, and decoding them with today's columns \
                 would mislabel them. Set binlog_row_metadata=FULL on the server (every later TABLE_MAP then \
                 carries its facts), restart from a position after the change (CDC_START_POSITION, after removing \
                 the offset file) and re-snapshot {name}"
            ));
        }
        (Err(why), Some(s)) if !s.columns.is_empty() => tracing::warn!(
            table = %name,
            "information_schema does not match the TABLE_MAP ({why}); the TABLE_MAP's metadata is used"
        ),
        (Err(why), _) if !missing.is_empty() => tracing::warn!(
            table = %name,
            "the TABLE_MAP carries no {missing} and {why}: columns named @0, @1…, character data as bytes, \
             integers signed, ENUM/SET as numbers, no primary key, as far as the TABLE_MAP lacks them"
        ),
        _ => {}
    }
    if !disagree.is_empty() {
        tracing::warn!(
            table = %name,
            "the TABLE_MAP and information_schema disagree (the TABLE_MAP is used; the table may have changed \
             since): {}",
            disagree.join("; ")
        );
    }
    Ok(TablePlan {
        db: db.as_ref().into(),
        table: table.as_ref().into(),
        columns: names.into_iter().map(|s| Arc::<str>::from(s.as_str())).collect(),
        key_columns: key_columns.into(),
        cols,
        json_columns,
    })
}

#[cfg(test)]
mod tests {
    use mysql_common::binlog::consts::BinlogVersion;
    use mysql_common::binlog::events::{FormatDescriptionEvent, TableMapEvent};
    use mysql_common::binlog::BinlogCtx;
    use mysql_common::io::ParseBuf;
    use mysql_common::proto::MyDeserialize;

    use super::*;

    /// A TABLE_MAP body for `d`.`t` with `columns` (type byte, metadata) and no optional
    /// metadata (binlog_row_metadata=NO_LOG; MySQL source `Table_map_log_event::write_data_body`).
    fn table_map(columns: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![7, 0, 0, 0, 0, 0, 1, 0, 1, b'd', 0, 1, b't', 0, columns.len() as u8];
        b.extend(columns.iter().map(|c| c.0));
        let meta: Vec<u8> = columns.iter().flat_map(|c| c.1.iter().copied()).collect();
        b.push(meta.len() as u8);
        b.extend(meta);
        b.extend(vec![0xff; columns.len().div_ceil(8)]);
        b
    }

    fn plan(body: &[u8], schema: Option<&TableSchema>) -> Result<TablePlan, String> {
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
        let ctx = BinlogCtx { event_size: body.len() + 19, fde: &fde, event_type_raw: 19 };
        let tme = TableMapEvent::deserialize(ctx, &mut ParseBuf(body)).expect("a TABLE_MAP");
        build_plan(&tme, true, schema)
    }

    fn column(name: &str, data_type: &str, charset: Option<&str>) -> SchemaColumn {
        SchemaColumn {
            name: name.into(),
            data_type: data_type.into(),
            charset: charset.map(Into::into),
            ..SchemaColumn::default()
        }
    }

    /// VARBINARY(10), BINARY(4), TEXT, VARCHAR(10) latin1, INT UNSIGNED, ENUM('a','b').
    const COLUMNS: &[(u8, &[u8])] =
        &[(15, &[10, 0]), (254, &[0xfe, 4]), (252, &[2]), (15, &[10, 0]), (3, &[]), (254, &[0xf7, 1])];

    fn schema() -> TableSchema {
        TableSchema {
            columns: vec![
                column("vb", "varbinary", None),
                column("bn", "binary", None),
                column("tx", "text", Some("utf8mb4")),
                column("vl", "varchar", Some("latin1")),
                SchemaColumn { unsigned: true, ..column("u", "int", None) },
                SchemaColumn { labels: vec!["a".into(), "b".into()], ..column("e", "enum", Some("utf8mb4")) },
            ],
            primary_key: vec![4],
        }
    }

    #[test]
    fn without_metadata_every_fact_comes_from_the_schema() {
        let p = plan(&table_map(COLUMNS), Some(&schema())).unwrap();
        let kinds: Vec<&Kind> = p.cols.iter().map(|c| &c.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Bytes,
                &Kind::FixedBinary(4),
                &Kind::Text(Charset::Utf8),
                &Kind::Text(Charset::Latin1),
                &Kind::Int { unsigned: true },
                &Kind::Enum(vec!["a".to_string(), "b".to_string()].into()),
            ]
        );
        assert!(p.cols[4].unsigned, "the value reader reads it unsigned too");
        assert_eq!(p.columns.iter().map(|c| &**c).collect::<Vec<_>>(), ["vb", "bn", "tx", "vl", "u", "e"]);
        assert_eq!(&*p.key_columns, &[4]);
    }

    #[test]
    fn without_metadata_or_schema_nothing_is_lost() {
        let p = plan(&table_map(COLUMNS), None).unwrap();
        let kinds: Vec<&Kind> = p.cols.iter().map(|c| &c.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Bytes,
                &Kind::FixedBinary(4),
                &Kind::Bytes,
                &Kind::Bytes,
                &Kind::Int { unsigned: false },
                &Kind::Enum(Arc::from([])),
            ]
        );
        assert_eq!(p.columns.iter().map(|c| &**c).collect::<Vec<_>>(), ["@0", "@1", "@2", "@3", "@4", "@5"]);
        assert!(p.key_columns.is_empty());
        // A table that no longer exists: the same.
        let p = plan(&table_map(COLUMNS), Some(&TableSchema::default())).unwrap();
        assert_eq!(p.cols[0].kind, Kind::Bytes);
    }

    #[test]
    fn a_schema_of_another_table_version_is_refused() {
        let mut fewer = schema();
        fewer.columns.pop();
        let err = plan(&table_map(COLUMNS), Some(&fewer)).unwrap_err();
        assert!(err.contains("information_schema lists 5 columns, the TABLE_MAP 6"), "{err}");
        assert!(err.contains("column names") && err.contains("binlog_row_metadata=FULL"), "{err}");

        let mut retyped = schema();
        retyped.columns[0].data_type = "int".into();
        let err = plan(&table_map(COLUMNS), Some(&retyped)).unwrap_err();
        assert!(err.contains("column 0 `vb`: information_schema says int, the TABLE_MAP MYSQL_TYPE_VARCHAR"), "{err}");

        let mut decimal = TableSchema {
            columns: vec![SchemaColumn { precision: Some(10), scale: Some(2), ..column("d", "decimal", None) }],
            primary_key: vec![],
        };
        assert!(plan(&table_map(&[(246, &[10, 2])]), Some(&decimal)).is_ok());
        decimal.columns[0].scale = Some(3);
        let err = plan(&table_map(&[(246, &[10, 2])]), Some(&decimal)).unwrap_err();
        assert!(err.contains("DECIMAL scale 3 in information_schema, 2 in the TABLE_MAP"), "{err}");
    }

    #[test]
    fn string_byte_length_reads_both_layouts() {
        // CHAR(70) utf8mb4: 280 bytes, packed as (0xfe ^ ((280 & 0x300) >> 4), 280 & 0xff).
        assert_eq!(string_byte_length(&[0xfe ^ ((280 & 0x300) >> 4) as u8, (280 & 0xff) as u8]), 280);
        assert_eq!(string_byte_length(&[0xfe, 20]), 20);
        assert_eq!(string_byte_length(&[0, 1]), 256);
        assert_eq!(string_byte_length(&[0xfe]), 0);
    }
}
