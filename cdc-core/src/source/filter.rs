//! Which tables the source captures: `SourceConfig.schemas` and `SourceConfig.tables`,
//! compiled once. Rows of other tables are not decoded (they are counted as skipped with
//! `reason="filtered"`).

use regex::Regex;

/// A compiled table selector list.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    schemas: Vec<String>,
    tables: Vec<Selector>,
    /// `(db, table)` matched whatever `schemas` and `tables` say ([`TableFilter::also`]).
    also: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Selector {
    All,
    Name { db: Option<String>, table: String },
    Pattern(Regex),
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

impl TableFilter {
    /// Compiles `schemas` (exact schema names; empty = all) and `tables` (each `*`, a table
    /// name `t`, a qualified name `db.t`, or a regular expression matched in full against both
    /// `t` and `db.t`, e.g. `orders_\d+`; empty = all).
    ///
    /// Errors: the selector that is not a valid regular expression, with the regex error.
    pub fn new(schemas: &[String], tables: &[String]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(tables.len());
        for t in tables {
            let t = t.trim();
            if t == "*" {
                out.push(Selector::All);
            } else if is_plain_name(t) {
                out.push(Selector::Name { db: None, table: t.to_string() });
            } else if let Some((db, table)) = t.split_once('.').filter(|(d, t)| is_plain_name(d) && is_plain_name(t)) {
                out.push(Selector::Name { db: Some(db.to_string()), table: table.to_string() });
            } else {
                let re = Regex::new(&format!("^(?:{t})$")).map_err(|e| format!("invalid table selector `{t}`: {e}"))?;
                out.push(Selector::Pattern(re));
            }
        }
        Ok(Self { schemas: schemas.iter().map(|s| s.trim().to_string()).collect(), tables: out, also: Vec::new() })
    }

    /// This filter, also matching the exact tables `also` (`(db, table)`) whatever the schema
    /// and table selectors say: the watermark snapshot's signal table, whose rows the source
    /// must decode even when it is not captured (its consumer drops them).
    pub fn also(mut self, also: &[(String, String)]) -> Self {
        self.also.extend(also.iter().cloned());
        self
    }

    /// True when a statement run with default schema `db` may change a captured table: its
    /// default schema is captured, or it names a captured schema (`s.` or `` `s`. ``).
    /// Conservative by design (no SQL parsing): a statement on an uncaptured table of a
    /// captured schema also answers true.
    pub fn may_capture(&self, db: &str, sql: &str) -> bool {
        if self.schemas.is_empty() || self.schemas.iter().any(|s| s == db) {
            return true;
        }
        self.schemas.iter().any(|s| sql.contains(&format!("{s}.")) || sql.contains(&format!("`{s}`.")))
    }

    /// True when rows of `db`.`table` are captured.
    pub fn matches(&self, db: &str, table: &str) -> bool {
        if self.also.iter().any(|(d, t)| d == db && t == table) {
            return true;
        }
        if !self.schemas.is_empty() && !self.schemas.iter().any(|s| s == db) {
            return false;
        }
        if self.tables.is_empty() {
            return true;
        }
        self.tables.iter().any(|s| match s {
            Selector::All => true,
            Selector::Name { db: None, table: t } => t == table,
            Selector::Name { db: Some(d), table: t } => d == db && t == table,
            Selector::Pattern(re) => re.is_match(table) || re.is_match(&format!("{db}.{table}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let f = TableFilter::new(&["shop".into()], &["orders_\\d+".into(), "other.t".into(), "users".into()]).unwrap();
        assert!(f.matches("shop", "orders_12"));
        assert!(!f.matches("shop", "orders_x"));
        assert!(f.matches("shop", "users"));
        assert!(!f.matches("other", "t"), "schema list excludes `other`");
        let f = TableFilter::new(&[], &["other.t".into()]).unwrap();
        assert!(f.matches("other", "t"));
        assert!(!f.matches("shop", "t"));
        assert!(TableFilter::new(&[], &[]).unwrap().matches("a", "b"));
        let f =
            TableFilter::new(&["shop".into()], &["users".into()]).unwrap().also(&[("ops".into(), "cdc_signal".into())]);
        assert!(f.matches("ops", "cdc_signal"), "an extra table matches outside the selectors");
        assert!(!f.matches("ops", "other") && !f.matches("shop", "cdc_signal"));
        assert!(f.matches("shop", "users"));
        let err = TableFilter::new(&[], &["orders_(".into()]).unwrap_err();
        assert!(err.contains("orders_("), "{err}");
    }
}
