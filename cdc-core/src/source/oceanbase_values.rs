//! The OceanBase binlog service's value faults that no reader of its stream can undo, as
//! warnings about the captured columns they can hit. oblogproxy re-encodes every value from
//! obcdc's text (oblogproxy `src/binlog/data_type.cpp`, v2.0.1 at
//! <https://github.com/oceanbase/oblogproxy/blob/2d1e5030b8ddf8288f97c116d3993b51c4e51c0b/src/binlog/data_type.cpp>):
//!
//! | Column | Fault | Fixed in |
//! |---|---|---|
//! | BIGINT UNSIGNED | `atoll`: values above 9223372036854775807 arrive as 9223372036854775807 | oblogproxy v2.0.1_BP2 |
//! | BIT(n), n > 32 | `atoi`: only the low 32 bits arrive, sign-extended | oblogproxy v2.0.1_BP2 |
//! | ENUM where a label is a prefix of a later one | the first label that is a prefix of the value is stored (ENUM('a','ab'): 'ab' arrives as 'a') | no release note |
//! | SET where a label is a prefix of another | every member that is a prefix of an item is set (SET('a','ab'): 'ab' arrives as 'a,ab') | no release note |
//!
//! (v2.0.1_BP2 release notes, <https://github.com/oceanbase/oblogproxy/releases/tag/v2.0.1_BP2>:
//! "fixes the issue of unsigned data synchronization errors", "fixes … bit type writes exceed a
//! length of 32".) A wrong value is a valid value in the stream: nothing tells it apart. The
//! collector cannot see which binlog service version it reads (ODP answers `VERSION()` with the
//! OBServer's), so these are **warnings** (logged by the precheck, listed by
//! `cdc-collector validate`), not precheck problems: on a fixed service the first two are
//! harmless. An ENUM value that is none of the labels is written as 0 bytes, which makes the row
//! unreadable: that one is detected in the stream (the decoder stops naming the column), not
//! warned about here.

use mysql_async::prelude::*;
use mysql_async::Conn;

use super::config::SourceConfig;
use super::error::{PrecheckProblem, SourceError};
use super::filter::TableFilter;
use super::schema::parse_labels;

/// One column of `information_schema.COLUMNS` of a type the faults concern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RiskColumn {
    /// `TABLE_SCHEMA`.
    pub(crate) db: String,
    /// `TABLE_NAME`.
    pub(crate) table: String,
    /// `COLUMN_NAME`.
    pub(crate) column: String,
    /// `COLUMN_TYPE`, e.g. `bigint(20) unsigned`, `bit(40)`, `enum('a','ab')`.
    pub(crate) column_type: String,
}

/// The upgrade the BP2-fixed faults name.
const UPGRADE: &str = "upgrade the OceanBase binlog service to oblogproxy v2.0.1_BP2 or later";

/// `(i, j)` with label `i` a prefix of label `j` (i ≠ j; for ENUM only i < j, the first match
/// wins), if any.
fn prefix_pair(labels: &[String], enum_order: bool) -> Option<(usize, usize)> {
    for (j, lj) in labels.iter().enumerate() {
        for (i, li) in labels.iter().enumerate() {
            let order = if enum_order { i < j } else { i != j };
            if order && lj.as_bytes().starts_with(li.as_bytes()) {
                return Some((i, j));
            }
        }
    }
    None
}

/// The warnings for `columns` (see the module documentation), one per column at risk, in the
/// given order. Each names `db.table.column` as `setting`, the fault as `actual`, what would be
/// safe as `expected` and the way out as `fix`.
pub(crate) fn risks(columns: &[RiskColumn]) -> Vec<PrecheckProblem> {
    let mut out = Vec::new();
    for c in columns {
        let ty = c.column_type.to_ascii_lowercase();
        let name = format!("{}.{}.{}", c.db, c.table, c.column);
        if ty.starts_with("bigint") && ty.contains("unsigned") {
            out.push(PrecheckProblem::new(
                format!("column {name} ({})", c.column_type),
                "at risk on an OceanBase binlog service before oblogproxy v2.0.1_BP2: it parses integers with \
                 atoll, so a value above 9223372036854775807 arrives as 9223372036854775807, and nothing in the \
                 stream tells it from a real one",
                "a binlog service with the fix, or values up to 9223372036854775807",
                format!("{UPGRADE}; otherwise keep the values of {name} at or below 9223372036854775807"),
            ));
        } else if let Some(bits) = ty.strip_prefix("bit(").and_then(|r| r.trim_end_matches(')').parse::<u32>().ok()) {
            if bits > 32 {
                out.push(PrecheckProblem::new(
                    format!("column {name} ({})", c.column_type),
                    "at risk on an OceanBase binlog service before oblogproxy v2.0.1_BP2: it parses BIT values \
                     with atoi, so only their low 32 bits arrive (sign-extended: bit 31 set gives all high bits \
                     set), and nothing in the stream tells a wrong value from a real one",
                    "a binlog service with the fix, or BIT(32) or narrower",
                    format!("{UPGRADE}; otherwise change {name} to BIT(32) or narrower if its values fit"),
                ));
            }
        } else if ty.starts_with("enum(") || ty.starts_with("set(") {
            let is_enum = ty.starts_with("enum(");
            let labels = parse_labels(&c.column_type);
            if let Some((i, j)) = prefix_pair(&labels, is_enum) {
                let (kind, (li, lj)) = (if is_enum { "ENUM" } else { "SET" }, (&labels[i], &labels[j]));
                let what = if is_enum {
                    format!("'{lj}' arrives as '{li}'")
                } else {
                    // Members are listed in definition order.
                    let (a, b) = (&labels[i.min(j)], &labels[i.max(j)]);
                    format!("'{lj}' arrives as '{a},{b}'")
                };
                out.push(PrecheckProblem::new(
                    format!("column {name} ({})", c.column_type),
                    format!(
                        "at risk on the OceanBase binlog service: label '{li}' is a prefix of '{lj}', and the service \
                         matches {kind} labels by prefix (oblogproxy v2.0.1 data_type.cpp; no release note of a \
                         fix), so {what}, and nothing in the stream tells it from a real value"
                    ),
                    format!("{kind} labels none of which is a prefix of another"),
                    format!(
                        "change {name} to VARCHAR (ALTER TABLE `{}`.`{}` MODIFY `{}` VARCHAR(…)), or rename its \
                         labels so that none is a prefix of another",
                        c.db, c.table, c.column
                    ),
                ));
            }
        }
    }
    out
}

/// The warnings for the columns `config` captures on the server behind `conn` (read from
/// `information_schema.COLUMNS`; see [`risks`]). Call it only for an OceanBase server.
///
/// Errors: [`SourceError::Config`] for table selectors that do not compile,
/// [`SourceError::Connection`] when `information_schema` cannot be read.
pub(crate) async fn value_risks(config: &SourceConfig, conn: &mut Conn) -> Result<Vec<PrecheckProblem>, SourceError> {
    let filter = TableFilter::new(&config.schemas, &config.tables).map_err(SourceError::Config)?;
    let rows: Vec<(String, String, String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE DATA_TYPE IN ('bigint', 'bit', 'enum', 'set') \
             AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys', 'oceanbase') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
        )
        .await
        .map_err(|e| SourceError::connection("reading information_schema.COLUMNS", e))?;
    let columns: Vec<RiskColumn> = rows
        .into_iter()
        .filter(|(db, table, ..)| filter.matches(db, table))
        .map(|(db, table, column, column_type)| RiskColumn { db, table, column, column_type })
        .collect();
    Ok(risks(&columns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(column: &str, column_type: &str) -> RiskColumn {
        RiskColumn { db: "d".into(), table: "t".into(), column: column.into(), column_type: column_type.into() }
    }

    #[test]
    fn the_columns_at_risk_and_only_those() {
        let cols = [
            col("u", "bigint(20) unsigned"),
            col("s", "bigint(20)"),
            col("i", "int(10) unsigned"),
            col("b64", "bit(64)"),
            col("b32", "bit(32)"),
            col("e", "enum('a','ab')"),
            col("e_ok", "enum('ab','a')"),
            col("e_empty", "enum('','x')"),
            col("set_rev", "set('ab','a')"),
            col("set_ok", "set('a','b')"),
        ];
        let got = risks(&cols);
        let names: Vec<&str> = got.iter().map(|p| p.setting.as_str()).collect();
        assert_eq!(
            names,
            [
                "column d.t.u (bigint(20) unsigned)",
                "column d.t.b64 (bit(64))",
                "column d.t.e (enum('a','ab'))",
                "column d.t.e_empty (enum('','x'))",
                "column d.t.set_rev (set('ab','a'))",
            ]
        );
        assert!(got[0].fix.contains("v2.0.1_BP2"), "{}", got[0].fix);
        assert!(got[1].fix.contains("v2.0.1_BP2"), "{}", got[1].fix);
        assert!(got[2].actual.contains("'ab' arrives as 'a'"), "{}", got[2].actual);
        assert!(got[2].fix.contains("VARCHAR") && !got[2].fix.contains("BP2"), "{}", got[2].fix);
        assert!(got[4].actual.contains("'ab' arrives as 'ab,a'"), "{}", got[4].actual);
    }
}
