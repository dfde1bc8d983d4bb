//! Many tables, many topics: which DataHub topic a table's events go to ([`TopicRouting`]), the
//! TUPLE `RecordSchema` a created topic gets ([`created_schema`], the column type mapping
//! [`field_type_for`]) and the check of an existing TUPLE topic's schema against its table
//! ([`schema_mismatches`]).
//!
//! # Topic names
//!
//! A topic name is the configured name, or a template holding `{db}` and/or `{table}` (e.g.
//! `ods_{db}_{table}`), unless a per-table map entry (`db.table=topic`) names it. The result is
//! made a valid DataHub topic name ([`valid_topic_name`]): DataHub's rule is
//! `^[a-zA-Z][a-zA-Z0-9_]*$`, 1–128 characters, compared case-insensitively by the service
//! (DataHub "Limits", <https://www.alibabacloud.com/help/en/datahub/limits>; the SDKs check the
//! same pattern). [`sanitize_topic_name`] replaces every other character with `_`, prefixes `t_`
//! when the name does not start with a letter and cuts a longer name to 119 characters plus `_`
//! and 8 hex digits of a hash of the whole name, so two long names stay apart.
//!
//! Two tables whose names become one topic are fine for a BLOB topic (each record carries `db`
//! and `table` attributes, and the event names its table) and an error for a TUPLE topic (two
//! schemas in one topic): [`TopicRouting::collisions`] finds them.
//!
//! # MySQL column types → DataHub field types (created TUPLE topics)
//!
//! Lossless wherever a DataHub type holds every value of the MySQL type; the two exceptions have
//! a range limit, and a value outside it goes to the failure-handling mode (never changed):
//!
//! | MySQL (`information_schema.COLUMNS.DATA_TYPE`) | DataHub | why |
//! |---|---|---|
//! | TINYINT | TINYINT (UNSIGNED: SMALLINT) | ranges |
//! | SMALLINT | SMALLINT (UNSIGNED: INTEGER) | |
//! | MEDIUMINT, INT | INTEGER (INT UNSIGNED: BIGINT) | |
//! | BIGINT | BIGINT | **limit**: DataHub's BIGINT excludes -2^63 |
//! | BIGINT UNSIGNED | DECIMAL | up to 18446744073709551615 |
//! | DECIMAL / NUMERIC | DECIMAL | exact digits |
//! | FLOAT / DOUBLE | FLOAT / DOUBLE | |
//! | BIT(n) | BIGINT for n ≤ 63, DECIMAL for BIT(64) | |
//! | YEAR | SMALLINT | |
//! | DATE, DATETIME, TIME | STRING (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS[.f]`, `[-]HH:MM:SS[.f]`) | DataHub's TIMESTAMP ends at 9999-12-31T23:59:59 (no fraction there) and is an instant; TIME is no instant |
//! | TIMESTAMP | TIMESTAMP (µs) | MySQL's range (1970–2038) fits; **limit** none in practice |
//! | CHAR, VARCHAR, TEXT family, ENUM, SET, JSON | STRING | **limit**: 2 MB per STRING value |
//! | BINARY, VARBINARY, BLOB family, GEOMETRY | STRING (standard base64) | |
//! | anything else | STRING | its text |

use std::collections::BTreeMap;
use std::fmt;

use crate::source::TableSchema;

use super::tuple::{FieldType, Layout, TupleField, TupleSchema};

/// Longest DataHub topic name (DataHub "Limits": topic names 1–128 characters).
pub const MAX_TOPIC_NAME: usize = 128;

/// True when `name` is a valid DataHub topic name: `^[a-zA-Z][a-zA-Z0-9_]*$`, 1–128
/// characters (DataHub "Limits").
pub fn valid_topic_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=MAX_TOPIC_NAME).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `raw` made a valid topic name (see the module docs): other characters → `_`, `t_` in front
/// when it does not start with a letter, and names over 128 characters cut to 119 plus `_` and
/// 8 hex digits of the FNV-1a hash of `raw`. A valid name is returned unchanged.
pub fn sanitize_topic_name(raw: &str) -> String {
    if valid_topic_name(raw) {
        return raw.to_owned();
    }
    let mut s: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "t_");
    }
    if s.len() > MAX_TOPIC_NAME {
        let hash = raw.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        s.truncate(MAX_TOPIC_NAME - 9);
        s.push_str(&format!("_{hash:08x}"));
    }
    s
}

/// Where each table's events go: a name or template, overridden per table by a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRouting {
    template: String,
    /// `(db, table)` → topic, as configured (names compared exactly, then case-insensitively).
    map: BTreeMap<(String, String), String>,
}

/// A bad routing setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RoutingError(pub String);

impl TopicRouting {
    /// A routing from the topic name or template (`{db}`, `{table}`; no other `{…}`) and the
    /// per-table map (`(db, table, topic)`).
    ///
    /// Errors: every problem at once, joined by `; `: an unknown placeholder, a template that
    /// is not a valid topic name with its placeholders filled by `a`, a map topic that is not a
    /// valid topic name (map entries are taken as written, not sanitized), an empty db or table.
    pub fn new(template: &str, map: Vec<(String, String, String)>) -> Result<Self, RoutingError> {
        let mut problems = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').map(|c| open + c);
            match close.map(|c| &rest[open + 1..c]) {
                Some("db" | "table") => rest = &rest[close.unwrap_or(open) + 1..],
                Some(other) => {
                    problems
                        .push(format!("`{{{other}}}` in `{template}` is not a placeholder (`{{db}}`, `{{table}}`)"));
                    rest = &rest[close.unwrap_or(open) + 1..];
                }
                None => {
                    problems.push(format!("`{template}` has a `{{` without `}}`"));
                    break;
                }
            }
        }
        let filled = template.replace("{db}", "a").replace("{table}", "a");
        if problems.is_empty() && !valid_topic_name(&filled) {
            problems.push(format!(
                "`{template}` must start with a letter, hold only letters, digits and `_` (and the \
                 placeholders `{{db}}`, `{{table}}`), and be 1-{MAX_TOPIC_NAME} characters"
            ));
        }
        let mut m = BTreeMap::new();
        for (db, table, topic) in map {
            if db.is_empty() || table.is_empty() {
                problems.push(format!("map entry `{db}.{table}={topic}` needs a db and a table"));
            } else if !valid_topic_name(&topic) {
                problems.push(format!(
                    "map entry `{db}.{table}={topic}`: `{topic}` is not a valid DataHub topic name \
                     (^[a-zA-Z][a-zA-Z0-9_]*$, 1-{MAX_TOPIC_NAME} characters)"
                ));
            } else {
                m.insert((db, table), topic);
            }
        }
        if problems.is_empty() {
            Ok(Self { template: template.to_owned(), map: m })
        } else {
            Err(RoutingError(problems.join("; ")))
        }
    }

    /// One topic for every table (`name` must be valid; not checked here).
    pub fn single(name: &str) -> Self {
        Self { template: name.to_owned(), map: BTreeMap::new() }
    }

    /// Parses a map setting: `db.table=topic` entries separated by `,` (spaces around parts
    /// ignored). The db is everything before the first `.`.
    ///
    /// Errors: the entries without `=` or without a `.` in their left side.
    pub fn parse_map(s: &str) -> Result<Vec<(String, String, String)>, RoutingError> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match entry.split_once('=').and_then(|(l, t)| l.trim().split_once('.').map(|(d, tb)| (d, tb, t))) {
                Some((d, tb, t)) => out.push((d.trim().to_owned(), tb.trim().to_owned(), t.trim().to_owned())),
                None => bad.push(format!("`{entry}` is not `db.table=topic`")),
            }
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            Err(RoutingError(bad.join("; ")))
        }
    }

    /// True when the topic depends on the table (a template or a map).
    pub fn per_table(&self) -> bool {
        self.template.contains("{db}") || self.template.contains("{table}") || !self.map.is_empty()
    }

    /// The topic of `db`.`table`: the map's entry (exact names, else case-insensitive), else
    /// the template filled and sanitized ([`sanitize_topic_name`]).
    pub fn topic_for(&self, db: &str, table: &str) -> String {
        if let Some(t) = self.map.get(&(db.to_owned(), table.to_owned())) {
            return t.clone();
        }
        if let Some((_, t)) =
            self.map.iter().find(|((d, tb), _)| d.eq_ignore_ascii_case(db) && tb.eq_ignore_ascii_case(table))
        {
            return t.clone();
        }
        sanitize_topic_name(&self.template.replace("{db}", db).replace("{table}", table))
    }

    /// The topics that more than one of `tables` map to (compared case-insensitively, as
    /// DataHub does), each with its tables as `db.table`, sorted.
    pub fn collisions<'a>(&self, tables: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<(String, Vec<String>)> {
        let mut by_topic: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        for (db, table) in tables {
            let topic = self.topic_for(db, table);
            let e = by_topic.entry(topic.to_ascii_lowercase()).or_insert_with(|| (topic, Vec::new()));
            let name = format!("{db}.{table}");
            if !e.1.contains(&name) {
                e.1.push(name);
            }
        }
        by_topic
            .into_values()
            .filter(|(_, t)| t.len() > 1)
            .map(|(topic, mut t)| {
                (topic, {
                    t.sort();
                    t
                })
            })
            .collect()
    }
}

impl fmt::Display for TopicRouting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)?;
        for ((d, t), topic) in &self.map {
            write!(f, ", {d}.{t}={topic}")?;
        }
        Ok(())
    }
}

/// The DataHub field type a column of this `information_schema` description maps to (module
/// docs' table).
pub fn field_type_for(data_type: &str, unsigned: bool, precision: Option<u64>) -> FieldType {
    match data_type.to_ascii_lowercase().as_str() {
        "tinyint" if unsigned => FieldType::Smallint,
        "tinyint" => FieldType::Tinyint,
        "smallint" if unsigned => FieldType::Integer,
        "smallint" => FieldType::Smallint,
        "mediumint" => FieldType::Integer,
        "int" | "integer" if unsigned => FieldType::Bigint,
        "int" | "integer" => FieldType::Integer,
        "bigint" if unsigned => FieldType::Decimal,
        "bigint" => FieldType::Bigint,
        "decimal" | "numeric" => FieldType::Decimal,
        "float" => FieldType::Float,
        "double" | "real" => FieldType::Double,
        "bit" if precision.unwrap_or(64) >= 64 => FieldType::Decimal,
        "bit" => FieldType::Bigint,
        "year" => FieldType::Smallint,
        "timestamp" => FieldType::Timestamp,
        _ => FieldType::String,
    }
}

/// The `RecordSchema` a created TUPLE topic gets: the layout's metadata fields
/// ([`Layout::meta_schema`]), then each column of `table`, nullable, with [`field_type_for`]'s
/// type (a column named like a metadata field or `system_time`, DataHub's reserved name, is an
/// error).
///
/// Errors: a table without columns, or a column name DataHub refuses.
pub fn created_schema(layout: Layout, table: &TableSchema) -> Result<TupleSchema, String> {
    if table.columns.is_empty() {
        return Err("the table has no columns in information_schema (does it exist?)".into());
    }
    let mut fields = layout.meta_schema();
    for c in &table.columns {
        if c.name.eq_ignore_ascii_case("system_time") || c.name.len() > 128 {
            return Err(format!("column `{}`: DataHub field names are 1-128 characters, not `system_time`", c.name));
        }
        if fields.iter().any(|f| f.name.eq_ignore_ascii_case(&c.name)) {
            return Err(format!("column `{}` has the name of a {layout} metadata field", c.name));
        }
        fields.push(TupleField {
            name: c.name.clone(),
            field_type: field_type_for(&c.data_type, c.unsigned, c.precision),
            not_null: false,
        });
    }
    Ok(TupleSchema { fields })
}

/// True when a field of type `ty` can hold values of the column's MySQL type (possibly with a
/// range limit, which the failure-handling mode decides value by value): STRING and JSON hold
/// everything; the rest as [`super::tuple::convert`] accepts the column's values.
pub fn field_holds(ty: FieldType, data_type: &str) -> bool {
    let dt = data_type.to_ascii_lowercase();
    let integer =
        matches!(dt.as_str(), "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "bit" | "year");
    match ty {
        FieldType::String | FieldType::Json => true,
        FieldType::Bigint | FieldType::Integer | FieldType::Smallint | FieldType::Tinyint | FieldType::Boolean => {
            integer
        }
        FieldType::Decimal => integer || matches!(dt.as_str(), "decimal" | "numeric"),
        FieldType::Double | FieldType::Float => matches!(dt.as_str(), "float" | "double" | "real"),
        FieldType::Timestamp => matches!(dt.as_str(), "timestamp" | "datetime" | "date"),
    }
}

/// Every way `schema` (an existing TUPLE topic) does not fit `table` when written in `layout`,
/// one sentence each; empty when it fits:
///
/// * the topic is not in `layout` ([`super::tuple::TupleEncoder::with_layout`]);
/// * a column of the table has no field (its values would be dropped); skipped when
///   `missing_ok` (topics the collector may extend with AppendField);
/// * a field cannot hold the column's type ([`field_holds`]);
/// * a NOT NULL field that is no column of the table (every record would be refused).
pub fn schema_mismatches(schema: &TupleSchema, layout: Layout, table: &TableSchema, missing_ok: bool) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(e) = super::tuple::TupleEncoder::with_layout(schema.clone(), layout) {
        out.push(e.to_string());
        return out;
    }
    let columns = &schema.fields[layout.meta_fields()..];
    for c in &table.columns {
        match columns.iter().find(|f| f.name.eq_ignore_ascii_case(&c.name)) {
            None if !missing_ok => out.push(format!("column `{}` ({}) has no field in the topic", c.name, c.data_type)),
            None => {}
            Some(f) if !field_holds(f.field_type, &c.data_type) => out.push(format!(
                "column `{}` is {}{} but its field is {} (would hold {})",
                c.name,
                c.data_type,
                if c.unsigned { " unsigned" } else { "" },
                f.field_type,
                field_type_for(&c.data_type, c.unsigned, c.precision)
            )),
            Some(_) => {}
        }
    }
    for f in columns {
        if f.not_null && !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(&f.name)) {
            out.push(format!("field `{}` is NOT NULL but the table has no such column", f.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::table::SchemaColumn;

    fn col(name: &str, data_type: &str, unsigned: bool) -> SchemaColumn {
        SchemaColumn { name: name.into(), data_type: data_type.into(), unsigned, ..Default::default() }
    }

    #[test]
    fn names_are_made_valid() {
        assert_eq!(sanitize_topic_name("ods_shop_orders"), "ods_shop_orders");
        assert_eq!(sanitize_topic_name("ods_my-db_order items"), "ods_my_db_order_items");
        assert_eq!(sanitize_topic_name("1st"), "t_1st");
        assert_eq!(sanitize_topic_name("_x"), "t__x");
        let long_a = sanitize_topic_name(&format!("{}a", "x".repeat(200)));
        let long_b = sanitize_topic_name(&format!("{}b", "x".repeat(200)));
        assert_eq!(long_a.len(), 128);
        assert!(valid_topic_name(&long_a) && valid_topic_name(&long_b));
        assert_ne!(long_a, long_b, "long names stay apart");
        assert!(valid_topic_name(&sanitize_topic_name("订单")));
    }

    #[test]
    fn template_map_and_collisions() {
        let map = TopicRouting::parse_map("shop.orders = orders_v2, shop.Items=items").unwrap();
        let r = TopicRouting::new("ods_{db}_{table}", map).unwrap();
        assert!(r.per_table());
        assert_eq!(r.topic_for("shop", "orders"), "orders_v2");
        assert_eq!(r.topic_for("shop", "items"), "items", "case-insensitive map match");
        assert_eq!(r.topic_for("shop", "customers"), "ods_shop_customers");
        assert_eq!(r.topic_for("shop", "a-b"), "ods_shop_a_b");
        let c = r.collisions([("shop", "a-b"), ("shop", "a_b"), ("shop", "orders"), ("x", "y")]);
        assert_eq!(c, vec![("ods_shop_a_b".to_owned(), vec!["shop.a-b".to_owned(), "shop.a_b".to_owned()])]);
        let single = TopicRouting::new("events", vec![]).unwrap();
        assert!(!single.per_table());
        assert_eq!(single.collisions([("a", "b"), ("c", "d")]).len(), 1, "one topic for all tables");
    }

    #[test]
    fn bad_routing_is_reported_at_once() {
        let e = TopicRouting::new("ods_{schema}_{table}", vec![("a".into(), "b".into(), "9x".into())]).unwrap_err();
        assert!(e.0.contains("{schema}") && e.0.contains("9x"), "{e}");
        assert!(TopicRouting::new("bad-name", vec![]).is_err());
        assert!(TopicRouting::new("{db}", vec![]).is_ok());
        assert!(TopicRouting::parse_map("shop.orders").is_err());
        assert!(TopicRouting::parse_map("orders=x").is_err());
    }

    #[test]
    fn column_types_map_losslessly() {
        assert_eq!(field_type_for("tinyint", true, None), FieldType::Smallint);
        assert_eq!(field_type_for("int", true, None), FieldType::Bigint);
        assert_eq!(field_type_for("bigint", true, None), FieldType::Decimal);
        assert_eq!(field_type_for("bigint", false, None), FieldType::Bigint);
        assert_eq!(field_type_for("bit", false, Some(64)), FieldType::Decimal);
        assert_eq!(field_type_for("bit", false, Some(1)), FieldType::Bigint);
        assert_eq!(field_type_for("datetime", false, None), FieldType::String);
        assert_eq!(field_type_for("timestamp", false, None), FieldType::Timestamp);
        assert_eq!(field_type_for("longblob", false, None), FieldType::String);
    }

    #[test]
    fn created_schemas_and_mismatches() {
        let table = TableSchema {
            columns: vec![col("id", "bigint", true), col("name", "varchar", false), col("at", "datetime", false)],
            primary_key: vec![0],
        };
        let s = created_schema(Layout::Dts, &table).unwrap();
        assert_eq!(s.fields.len(), 8 + 3);
        assert_eq!(s.fields[8].field_type, FieldType::Decimal);
        assert!(schema_mismatches(&s, Layout::Dts, &table, false).is_empty());
        let m = schema_mismatches(&s, Layout::DataWorks, &table, false);
        assert_eq!(m.len(), 1, "{m:?}");
        // A topic whose `name` is BIGINT, without `at`, with a NOT NULL `extra`.
        let mut bad = created_schema(Layout::Plain, &table).unwrap();
        bad.fields[1].field_type = FieldType::Bigint;
        bad.fields.pop();
        bad.fields.push(TupleField { name: "extra".into(), field_type: FieldType::String, not_null: true });
        let m = schema_mismatches(&bad, Layout::Plain, &table, false);
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(m[0].contains("`name` is varchar") && m[1].contains("`at`") && m[2].contains("`extra`"), "{m:?}");
        assert_eq!(schema_mismatches(&bad, Layout::Plain, &table, true).len(), 2, "missing columns may be appended");
        let sys = TableSchema { columns: vec![col("system_time", "int", false)], primary_key: vec![] };
        assert!(created_schema(Layout::Plain, &sys).is_err());
    }
}
