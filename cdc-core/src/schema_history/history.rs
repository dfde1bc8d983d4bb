//! The in-memory schema history: the [`TableDef`] of every table of the captured databases at
//! one binlog position, changed by each DDL in binlog order ([`SchemaHistory::apply`]) and by
//! schema refreshes read from the server ([`SchemaHistory::refresh`]).
//!
//! Every table of the captured databases is kept, not only the captured tables: online
//! schema-change tools (gh-ost, pt-online-schema-change) build a helper table with
//! `CREATE TABLE _t_gho LIKE t` + `ALTER TABLE _t_gho …` and swap it in with `RENAME TABLE t TO
//! _t_del, _t_gho TO t`, so the helper's schema becomes the table's.
//!
//! Each change that alters what the history knows yields a [`HistoryRecord`] (with the tables'
//! states after the DDL, as Debezium's `tableChanges`), which the caller makes durable
//! ([`super::store`]) before the checkpoint passes the DDL; replaying records never re-parses
//! SQL.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::column::ParsedColumn;
use super::ddl::{parse_ddl, AlterOp, ColumnPosition, Ddl, UnsupportedDdl};
use super::model::{max_bytes_per_char, TableDef, TableId};
use crate::position::BinlogPosition;

/// Databases that are never captured.
const SYSTEM_DATABASES: &[&str] = &["mysql", "information_schema", "performance_schema", "sys"];

/// What the history covers and how the server names things.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HistoryConfig {
    /// The captured databases (every table of each is kept); empty = every database but the
    /// system ones (`mysql`, `information_schema`, `performance_schema`, `sys`).
    pub databases: Vec<String>,
    /// MariaDB (its JSON type is LONGTEXT utf8mb4; MariaDB KB "JSON Data Type").
    pub mariadb: bool,
    /// The server folds database and table names to lower case (`lower_case_table_names=1`,
    /// as on OceanBase MySQL tenants; MySQL manual 11.2.3).
    pub lower_case_table_names: bool,
}

impl HistoryConfig {
    /// True when `db` is one of the captured databases (compared after folding when
    /// [`Self::lower_case_table_names`]).
    pub fn captures(&self, db: &str) -> bool {
        let fold = |s: &str| if self.lower_case_table_names { s.to_lowercase() } else { s.to_string() };
        let db = fold(db);
        if self.databases.is_empty() {
            !SYSTEM_DATABASES.contains(&db.to_ascii_lowercase().as_str())
        } else {
            self.databases.iter().any(|d| fold(d) == db)
        }
    }
}

/// The state of the history at one position: what a snapshot record holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchemaState {
    /// The server's default character set (`@@character_set_server`), for databases created
    /// without one.
    pub server_charset: Option<String>,
    /// Default character set of each known database (None: not known).
    pub databases: BTreeMap<String, Option<String>>,
    /// Every table of the captured databases.
    #[serde(with = "table_list")]
    pub tables: BTreeMap<TableId, TableDef>,
    /// Tables whose schema must be read from the server (after CREATE TABLE … SELECT, a
    /// rename from a database that is not captured, or [`SchemaHistory::refresh`] being due).
    pub refresh_pending: BTreeSet<TableId>,
}

/// Tables as a JSON list of `{db, table, def}` (JSON object keys must be strings).
mod table_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Entry {
        #[serde(flatten)]
        id: TableId,
        def: TableDef,
    }

    pub(super) fn serialize<S: Serializer>(m: &BTreeMap<TableId, TableDef>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter().map(|(id, def)| Entry { id: id.clone(), def: def.clone() }))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<TableId, TableDef>, D::Error> {
        Ok(Vec::<Entry>::deserialize(d)?.into_iter().map(|e| (e.id, e.def)).collect())
    }
}

/// One change a DDL made, with the table's state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SchemaChange {
    /// CREATE TABLE (also … LIKE, and a schema refresh).
    Create {
        /// The table.
        id: TableId,
        /// Its definition.
        def: TableDef,
    },
    /// ALTER TABLE without a rename.
    Alter {
        /// The table.
        id: TableId,
        /// Its definition after the ALTER.
        def: TableDef,
    },
    /// RENAME TABLE, or ALTER TABLE … RENAME (possibly with other clauses).
    Rename {
        /// The old name.
        from: TableId,
        /// The new name.
        to: TableId,
        /// The definition under the new name.
        def: TableDef,
    },
    /// DROP TABLE, DROP DATABASE, or a rename out of the captured databases.
    Drop {
        /// The table.
        id: TableId,
    },
    /// TRUNCATE TABLE: no shape change; reported for downstream (Debezium's `op=t`).
    Truncate {
        /// The table.
        id: TableId,
    },
    /// CREATE/ALTER DATABASE: its default character set.
    Database {
        /// The database.
        db: String,
        /// Its default character set, normalized (None: not known).
        charset: Option<String>,
    },
    /// DROP DATABASE (its tables are dropped by [`SchemaChange::Drop`]s before this).
    DropDatabase {
        /// The database.
        db: String,
    },
    /// The table's schema must now be read from the server ([`SchemaHistory::refresh`]).
    RefreshNeeded {
        /// The table.
        id: TableId,
    },
}

/// What [`SchemaHistory::apply`] did with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DdlOutcome {
    /// Nothing the history keeps changed (index, view, grant, option-only ALTER, a table
    /// outside the captured databases, a statement already applied); the reason says which.
    Ignored(String),
    /// Tables changed (and the record to make durable).
    Changed {
        /// The changes, in statement order.
        changes: Vec<SchemaChange>,
        /// The record to store before the checkpoint passes this statement.
        record: HistoryRecord,
    },
    /// Some tables' columns cannot be known from the statement (CREATE TABLE … SELECT,
    /// CREATE TABLE … LIKE an unknown table, a rename from a database that is not captured):
    /// read them from the server ([`SchemaHistory::refresh`]) before their next rows event.
    RefreshNeeded {
        /// The tables to read.
        tables: Vec<TableId>,
        /// Other changes of the same statement.
        changes: Vec<SchemaChange>,
        /// The record to store before the checkpoint passes this statement.
        record: HistoryRecord,
    },
}

/// A durable history entry: a full snapshot or one DDL's changes, at a binlog position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// The position after the event (the QUERY event's end; for a snapshot, the position the
    /// capture is consistent with).
    pub position: BinlogPosition,
    /// What happened there.
    #[serde(flatten)]
    pub kind: RecordKind,
}

/// The body of a [`HistoryRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordKind {
    /// The whole state (the seed captured from `information_schema`, or a compaction).
    Snapshot {
        /// The state.
        state: SchemaState,
    },
    /// One DDL statement and its changes.
    Ddl {
        /// The QUERY event's default database.
        default_db: String,
        /// The statement as logged.
        sql: String,
        /// Its changes.
        changes: Vec<SchemaChange>,
    },
}

/// Why a statement could not be applied. Every variant names the statement and its position;
/// its message says the ways on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The statement (on a table of the captured databases, or on one the classifier could
    /// not name) is not understood.
    #[error(
        "schema history: DDL at {position} not understood: {ddl}. The collector cannot know the \
         columns of the tables it touches. Ways on: (1) if the statement does not change the \
         columns of a captured table, skip the statement at this position \
         (`HistoryProvider::skip_statements`; module `cdc_core::schema_history`, \"Ways on\"); \
         (2) otherwise refresh those tables' schemas from the server at a safe point (no later DDL \
         on them executed yet), then resume"
    )]
    Unsupported {
        /// The QUERY event's end position.
        position: BinlogPosition,
        /// The statement and the reason.
        #[source]
        ddl: UnsupportedDdl,
    },
    /// The statement contradicts the history (an ALTER of a table it does not know, a column
    /// that is not there): the history is incomplete or was seeded at a wrong position.
    #[error(
        "schema history: DDL at {position} contradicts the history ({reason}): `{statement}`. The \
         history was seeded at a different position or missed a DDL. Ways on: refresh the named \
         table's schema from the server at a safe point, or re-seed the history with a new snapshot"
    )]
    Inconsistent {
        /// The QUERY event's end position.
        position: BinlogPosition,
        /// What disagrees.
        reason: String,
        /// The statement (cut to 300 characters).
        statement: String,
    },
}

/// The schema of every table of the captured databases at [`SchemaHistory::position`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaHistory {
    config: HistoryConfig,
    state: SchemaState,
    position: BinlogPosition,
}

/// Orders two positions by binlog file index, then offset; None when they are not comparable
/// (different base names or no numeric suffix).
pub fn compare_positions(a: &BinlogPosition, b: &BinlogPosition) -> Option<Ordering> {
    if a.file == b.file {
        return Some(a.pos.cmp(&b.pos));
    }
    let base = |p: &BinlogPosition| p.file.rsplit_once('.').map(|(b, _)| b.to_string());
    if base(a) != base(b) {
        return None;
    }
    Some(a.file_index()?.cmp(&b.file_index()?).then(a.pos.cmp(&b.pos)))
}

impl SchemaHistory {
    /// A history seeded with `state` (a capture consistent with `position`).
    pub fn new(config: HistoryConfig, position: BinlogPosition, state: SchemaState) -> Self {
        let mut h = Self { config, state: SchemaState::default(), position };
        h.state.server_charset = state.server_charset;
        for (db, cs) in state.databases {
            h.state.databases.insert(h.fold(&db), cs);
        }
        for (id, def) in state.tables {
            let id = h.fold_id(&id);
            if h.captured(&id.db) {
                h.state.tables.insert(id, def);
            }
        }
        h.state.refresh_pending = state.refresh_pending;
        h
    }

    /// Rebuilds the history at `at` from stored records: the last snapshot at or before `at`,
    /// then every DDL record after it and at or before `at` (Debezium's recovery rule). None
    /// when no snapshot is at or before `at`.
    ///
    /// Errors: a record whose position cannot be ordered against `at` (another binlog base
    /// name), as text.
    pub fn schema_at(
        config: &HistoryConfig,
        records: &[HistoryRecord],
        at: &BinlogPosition,
    ) -> Result<Option<Self>, String> {
        let mut at_or_before = Vec::with_capacity(records.len());
        for r in records {
            let ord = compare_positions(&r.position, at)
                .ok_or_else(|| format!("history record at {} cannot be ordered against {at}", r.position))?;
            at_or_before.push(ord != Ordering::Greater);
        }
        let Some(seed) =
            records.iter().zip(&at_or_before).rposition(|(r, ok)| *ok && matches!(r.kind, RecordKind::Snapshot { .. }))
        else {
            return Ok(None);
        };
        let RecordKind::Snapshot { state } = &records[seed].kind else { unreachable!("found above") };
        let mut h = Self::new(config.clone(), records[seed].position.clone(), state.clone());
        for (r, ok) in records.iter().zip(&at_or_before).skip(seed + 1) {
            if *ok {
                if let RecordKind::Ddl { changes, .. } = &r.kind {
                    for c in changes {
                        h.replay(c);
                    }
                    h.position = r.position.clone();
                }
            }
        }
        Ok(Some(h))
    }

    /// The configuration.
    pub fn config(&self) -> &HistoryConfig {
        &self.config
    }

    /// The position of the last DDL applied (or of the seed).
    pub fn position(&self) -> &BinlogPosition {
        &self.position
    }

    /// The full state (for a snapshot record).
    pub fn state(&self) -> &SchemaState {
        &self.state
    }

    /// A snapshot record of the current state at [`Self::position`] (a compaction point).
    pub fn snapshot_record(&self) -> HistoryRecord {
        HistoryRecord { position: self.position.clone(), kind: RecordKind::Snapshot { state: self.state.clone() } }
    }

    /// The definition of `db`.`table` now, if known.
    pub fn table(&self, db: &str, table: &str) -> Option<&TableDef> {
        self.state.tables.get(&self.fold_id(&TableId::new(db, table)))
    }

    /// True when `db`.`table`'s schema must be read from the server first.
    pub fn refresh_pending(&self, db: &str, table: &str) -> bool {
        self.state.refresh_pending.contains(&self.fold_id(&TableId::new(db, table)))
    }

    /// True when `db` is one of the captured databases.
    pub fn captured(&self, db: &str) -> bool {
        self.config.captures(db)
    }

    /// Records `def` (read from the server, e.g. with [`super::capture`]) as `table`'s schema at
    /// `position`, or its absence (None). Call it only at a safe point: no DDL on the table
    /// after `position` may have executed yet (else the read is of a later schema; the next
    /// TABLE_MAP check catches most such cases). Returns the record to store.
    pub fn refresh(&mut self, position: BinlogPosition, table: TableId, def: Option<TableDef>) -> HistoryRecord {
        let id = self.fold_id(&table);
        self.state.refresh_pending.remove(&id);
        let change = match def {
            Some(def) => SchemaChange::Create { id: id.clone(), def },
            None => SchemaChange::Drop { id: id.clone() },
        };
        self.replay(&change);
        self.position = position.clone();
        HistoryRecord {
            position,
            kind: RecordKind::Ddl {
                default_db: String::new(),
                sql: format!("/* refresh */ {id}"),
                changes: vec![change],
            },
        }
    }

    /// Applies the DDL `sql` of a QUERY event ending at `position` whose default database is
    /// `default_db`. On success with changes the history moves to `position`; on error it is
    /// unchanged. A statement at or before [`Self::position`] is ignored (already applied).
    ///
    /// Errors: [`HistoryError::Unsupported`] for a statement that cannot be understood and
    /// names a table of the captured databases (or no table at all);
    /// [`HistoryError::Inconsistent`] when it contradicts the history.
    pub fn apply(
        &mut self,
        position: &BinlogPosition,
        default_db: &str,
        sql: &str,
    ) -> Result<DdlOutcome, HistoryError> {
        if compare_positions(position, &self.position).is_some_and(|o| o != Ordering::Greater) {
            return Ok(DdlOutcome::Ignored(format!("already applied (the history is at {})", self.position)));
        }
        let ddl = match parse_ddl(sql, default_db, self.config.mariadb) {
            Ok(d) => d,
            Err(e) => {
                if !e.tables.is_empty() && e.tables.iter().all(|t| !self.captured(&t.db)) {
                    return Ok(DdlOutcome::Ignored(
                        "not understood, but names no table of the captured databases".into(),
                    ));
                }
                return Err(HistoryError::Unsupported { position: position.clone(), ddl: e });
            }
        };
        let inconsistent = |reason: String| HistoryError::Inconsistent {
            position: position.clone(),
            reason,
            statement: sql.chars().take(300).collect(),
        };
        let mut next = self.state.clone();
        let mut changes = Vec::new();
        let mut refresh = Vec::new();
        self.plan(ddl, &mut next, &mut changes, &mut refresh).map_err(inconsistent)?;
        if changes.is_empty() && refresh.is_empty() {
            return Ok(DdlOutcome::Ignored("no table of the captured databases changes shape".into()));
        }
        for t in &refresh {
            changes.push(SchemaChange::RefreshNeeded { id: t.clone() });
        }
        self.state = next;
        self.position = position.clone();
        let record = HistoryRecord {
            position: position.clone(),
            kind: RecordKind::Ddl { default_db: default_db.into(), sql: sql.into(), changes: changes.clone() },
        };
        Ok(if refresh.is_empty() {
            DdlOutcome::Changed { changes, record }
        } else {
            DdlOutcome::RefreshNeeded { tables: refresh, changes, record }
        })
    }

    fn fold(&self, name: &str) -> String {
        if self.config.lower_case_table_names {
            name.to_lowercase()
        } else {
            name.to_string()
        }
    }

    fn fold_id(&self, id: &TableId) -> TableId {
        TableId::new(self.fold(&id.db), self.fold(&id.table))
    }

    /// Applies a recorded change (no SQL is parsed).
    fn replay(&mut self, c: &SchemaChange) {
        let s = &mut self.state;
        match c {
            SchemaChange::Create { id, def } | SchemaChange::Alter { id, def } => {
                s.refresh_pending.remove(id);
                s.tables.insert(id.clone(), def.clone());
            }
            SchemaChange::Rename { from, to, def } => {
                s.tables.remove(from);
                s.refresh_pending.remove(from);
                s.tables.insert(to.clone(), def.clone());
            }
            SchemaChange::Drop { id } => {
                s.tables.remove(id);
                s.refresh_pending.remove(id);
            }
            SchemaChange::Truncate { .. } => {}
            SchemaChange::Database { db, charset } => {
                s.databases.insert(db.clone(), charset.clone());
            }
            SchemaChange::DropDatabase { db } => {
                s.databases.remove(db);
            }
            SchemaChange::RefreshNeeded { id } => {
                s.tables.remove(id);
                s.refresh_pending.insert(id.clone());
            }
        }
    }

    fn db_charset(&self, next: &SchemaState, db: &str) -> Option<String> {
        next.databases.get(db).cloned().flatten().or_else(|| next.server_charset.clone())
    }

    /// Computes the changes of `ddl` on `next` (a copy of the state).
    fn plan(
        &self,
        ddl: Ddl,
        next: &mut SchemaState,
        changes: &mut Vec<SchemaChange>,
        refresh: &mut Vec<TableId>,
    ) -> Result<(), String> {
        match ddl {
            Ddl::NoShapeChange(_) => {}
            Ddl::CreateTable { table, if_not_exists, columns, primary_key, charset } => {
                let id = self.fold_id(&table);
                if !self.captured(&id.db) || (if_not_exists && next.tables.contains_key(&id)) {
                    return Ok(());
                }
                let charset = charset.or_else(|| self.db_charset(next, &id.db));
                let mut def = TableDef { columns: Vec::new(), primary_key: Vec::new(), charset };
                for c in &columns {
                    let col = c.resolve(def.charset.as_deref())?;
                    if def.position(&col.name).is_some() {
                        return Err(format!("duplicate column `{}`", col.name));
                    }
                    def.columns.push(col);
                }
                set_primary_key(&mut def, &primary_key)?;
                next.refresh_pending.remove(&id);
                next.tables.insert(id.clone(), def.clone());
                changes.push(SchemaChange::Create { id, def });
            }
            Ddl::CreateTableLike { table, source, if_not_exists } => {
                let id = self.fold_id(&table);
                if !self.captured(&id.db) || (if_not_exists && next.tables.contains_key(&id)) {
                    return Ok(());
                }
                match next.tables.get(&self.fold_id(&source)).cloned() {
                    Some(def) => {
                        next.refresh_pending.remove(&id);
                        next.tables.insert(id.clone(), def.clone());
                        changes.push(SchemaChange::Create { id, def });
                    }
                    None => refresh_table(next, id, refresh),
                }
            }
            Ddl::CreateTableSelect { table } => {
                let id = self.fold_id(&table);
                if self.captured(&id.db) {
                    refresh_table(next, id, refresh);
                }
            }
            Ddl::AlterTable { table, ops } => {
                let id = self.fold_id(&table);
                let rename_to = ops.iter().rev().find_map(|o| match o {
                    AlterOp::RenameTable(t) => Some(self.fold_id(t)),
                    _ => None,
                });
                if !self.captured(&id.db) {
                    if let Some(to) = rename_to.filter(|t| self.captured(&t.db)) {
                        refresh_table(next, to, refresh);
                    }
                    return Ok(());
                }
                if ops.is_empty() {
                    return Ok(());
                }
                if next.refresh_pending.contains(&id) {
                    return Err(format!("table {id} awaits a schema refresh from the server"));
                }
                let mut def =
                    next.tables.get(&id).cloned().ok_or_else(|| format!("table {id} is not in the history"))?;
                // CONVERT TO CHARACTER SET applies to the resulting table whatever the clause
                // order; only the columns the statement does not (re)define keep their length
                // in characters (MySQL `mysql_prepare_alter_table`; checked against MariaDB).
                if ops.contains(&AlterOp::DropPrimaryKey) && def.primary_key.is_empty() {
                    return Err(format!("{id} has no primary key to drop"));
                }
                // Table options (the default character set) are statement-wide: columns added
                // by any clause take the new default.
                for op in &ops {
                    if let AlterOp::DefaultCharset(cs) = op {
                        def.charset = Some(cs.clone());
                    }
                }
                let mut redefined = BTreeSet::new();
                let mut convert_to = None;
                for op in &ops {
                    match op {
                        AlterOp::Convert(cs) => convert_to = Some(cs.clone()),
                        AlterOp::DefaultCharset(_) => {}
                        AlterOp::AddColumn { column, .. } | AlterOp::Redefine { column, .. } => {
                            redefined.insert(column.def.name.to_lowercase());
                            self.alter(&id, &mut def, op)?;
                        }
                        _ => self.alter(&id, &mut def, op)?,
                    }
                }
                if let Some(cs) = convert_to {
                    let cs = match cs {
                        Some(c) => c,
                        None => self
                            .db_charset(next, &id.db)
                            .ok_or("CONVERT TO CHARACTER SET DEFAULT: the database's character set is not known")?,
                    };
                    convert(&mut def, &cs, &redefined)?;
                }
                match rename_to {
                    Some(to) if to != id => {
                        next.tables.remove(&id);
                        if self.captured(&to.db) {
                            next.tables.insert(to.clone(), def.clone());
                            changes.push(SchemaChange::Rename { from: id, to, def });
                        } else {
                            changes.push(SchemaChange::Drop { id });
                        }
                    }
                    _ => {
                        if next.tables.get(&id) != Some(&def) {
                            next.tables.insert(id.clone(), def.clone());
                            changes.push(SchemaChange::Alter { id, def });
                        }
                    }
                }
            }
            Ddl::DropTables(tables) => {
                for t in tables {
                    let id = self.fold_id(&t);
                    let pending = next.refresh_pending.remove(&id);
                    if next.tables.remove(&id).is_some() || pending {
                        changes.push(SchemaChange::Drop { id });
                    }
                }
            }
            Ddl::RenameTables(pairs) => {
                for (from, to) in pairs {
                    let (from, to) = (self.fold_id(&from), self.fold_id(&to));
                    if !self.captured(&from.db) {
                        if self.captured(&to.db) {
                            refresh_table(next, to, refresh);
                        }
                        continue;
                    }
                    if next.refresh_pending.remove(&from) {
                        refresh_table(next, to, refresh);
                        continue;
                    }
                    let def = next.tables.remove(&from).ok_or_else(|| format!("table {from} is not in the history"))?;
                    if self.captured(&to.db) {
                        next.tables.insert(to.clone(), def.clone());
                        changes.push(SchemaChange::Rename { from, to, def });
                    } else {
                        changes.push(SchemaChange::Drop { id: from });
                    }
                }
            }
            Ddl::Truncate(t) => {
                let id = self.fold_id(&t);
                if self.captured(&id.db) {
                    changes.push(SchemaChange::Truncate { id });
                }
            }
            Ddl::CreateDatabase { db, charset } | Ddl::AlterDatabase { db, charset } => {
                let db = self.fold(&db);
                if self.captured(&db) {
                    let charset = charset
                        .or_else(|| next.databases.get(&db).cloned().flatten())
                        .or_else(|| next.server_charset.clone());
                    next.databases.insert(db.clone(), charset.clone());
                    changes.push(SchemaChange::Database { db, charset });
                }
            }
            Ddl::DropDatabase(db) => {
                let db = self.fold(&db);
                if self.captured(&db) {
                    let ids: Vec<TableId> =
                        next.tables.keys().chain(next.refresh_pending.iter()).filter(|t| t.db == db).cloned().collect();
                    for id in ids {
                        next.tables.remove(&id);
                        next.refresh_pending.remove(&id);
                        changes.push(SchemaChange::Drop { id });
                    }
                    next.databases.remove(&db);
                    changes.push(SchemaChange::DropDatabase { db });
                }
            }
        }
        Ok(())
    }

    fn alter(&self, id: &TableId, def: &mut TableDef, op: &AlterOp) -> Result<(), String> {
        match op {
            AlterOp::AddColumn { column, position, if_not_exists } => {
                let col = column.resolve(def.charset.as_deref())?;
                if def.position(&col.name).is_some() {
                    if *if_not_exists {
                        return Ok(());
                    }
                    return Err(format!("column `{}` already exists in {id}", col.name));
                }
                let at = insert_index(def, position.as_ref(), def.columns.len())?;
                let name = col.name.clone();
                def.columns.insert(at, col);
                inline_key(def, column, &name);
            }
            AlterOp::DropColumn { name, if_exists } => {
                let Some(i) = def.position(name) else {
                    if *if_exists {
                        return Ok(());
                    }
                    return Err(format!("column `{name}` is not in {id}"));
                };
                let removed = def.columns.remove(i);
                def.primary_key.retain(|k| !k.eq_ignore_ascii_case(&removed.name));
            }
            AlterOp::Redefine { old, column, position, if_exists } => {
                let Some(i) = def.position(old) else {
                    if *if_exists {
                        return Ok(());
                    }
                    return Err(format!("column `{old}` is not in {id}"));
                };
                let mut col = column.resolve(def.charset.as_deref())?;
                if def.position(&col.name).is_some_and(|j| j != i) {
                    return Err(format!("column `{}` already exists in {id}", col.name));
                }
                let old_name = def.columns[i].name.clone();
                for k in def.primary_key.iter_mut() {
                    if k.eq_ignore_ascii_case(&old_name) {
                        *k = col.name.clone();
                        col.nullable = false;
                    }
                }
                let name = col.name.clone();
                match position {
                    None => def.columns[i] = col,
                    Some(p) => {
                        def.columns.remove(i);
                        let at = insert_index(def, Some(p), i)?;
                        def.columns.insert(at, col);
                    }
                }
                inline_key(def, column, &name);
            }
            AlterOp::RenameColumn { old, new, if_exists } => {
                let Some(i) = def.position(old) else {
                    if *if_exists {
                        return Ok(());
                    }
                    return Err(format!("column `{old}` is not in {id}"));
                };
                if def.position(new).is_some_and(|j| j != i) {
                    return Err(format!("column `{new}` already exists in {id}"));
                }
                let old_name = std::mem::replace(&mut def.columns[i].name, new.clone());
                for k in def.primary_key.iter_mut() {
                    if k.eq_ignore_ascii_case(&old_name) {
                        *k = new.clone();
                    }
                }
            }
            AlterOp::AddPrimaryKey(cols) => set_primary_key(def, cols)?,
            // Checked against the table before the statement (see `plan`): DROP clauses name
            // the original table's keys, so `DROP COLUMN id, DROP PRIMARY KEY` is valid.
            AlterOp::DropPrimaryKey => def.primary_key.clear(),
            AlterOp::RenameTable(_) => {}
            AlterOp::DefaultCharset(cs) => def.charset = Some(cs.clone()),
            // Applied after the other clauses (see `plan`).
            AlterOp::Convert(_) => {}
        }
        Ok(())
    }
}

fn refresh_table(next: &mut SchemaState, id: TableId, refresh: &mut Vec<TableId>) {
    next.tables.remove(&id);
    next.refresh_pending.insert(id.clone());
    refresh.push(id);
}

/// The index a column goes to: `FIRST`, after the named column, or `default`.
fn insert_index(def: &TableDef, position: Option<&ColumnPosition>, default: usize) -> Result<usize, String> {
    Ok(match position {
        None => default,
        Some(ColumnPosition::First) => 0,
        Some(ColumnPosition::After(c)) => def.position(c).ok_or_else(|| format!("AFTER `{c}`: no such column"))? + 1,
    })
}

fn inline_key(def: &mut TableDef, column: &ParsedColumn, name: &str) {
    if column.primary_key {
        def.primary_key = vec![name.to_string()];
    }
}

/// Sets the primary key to `cols` (spelled as the columns are); key columns become NOT NULL
/// (MySQL manual 15.1.20.5: "a PRIMARY KEY … all key columns must be defined as NOT NULL").
fn set_primary_key(def: &mut TableDef, cols: &[String]) -> Result<(), String> {
    let mut key = Vec::with_capacity(cols.len());
    for c in cols {
        let i = def.position(c).ok_or_else(|| format!("PRIMARY KEY column `{c}` is not in the table"))?;
        def.columns[i].nullable = false;
        key.push(def.columns[i].name.clone());
    }
    if !cols.is_empty() {
        def.primary_key = key;
    }
    Ok(())
}

/// CONVERT TO CHARACTER SET `cs`: every character column takes `cs`; a TEXT column keeps its
/// length in characters, so it may become a larger TEXT type (MySQL manual 15.1.9, "Changing the
/// Character Set": "a TEXT column … converted to MEDIUMTEXT").
/// `redefined`: the (lower-cased) names of the columns the statement itself defines, which
/// take the character set but keep their type.
fn convert(def: &mut TableDef, cs: &str, redefined: &BTreeSet<String>) -> Result<(), String> {
    let new_max =
        max_bytes_per_char(cs).ok_or_else(|| format!("character set `{cs}` is not known to the schema history"))?;
    for c in def.columns.iter_mut() {
        let Some(old) = c.charset.clone() else { continue };
        if cs == "binary" {
            return Err("CONVERT TO CHARACTER SET binary is not supported".into());
        }
        let text = ["tinytext", "text", "mediumtext", "longtext"];
        let rank = text.iter().position(|t| *t == c.data_type).filter(|_| !redefined.contains(&c.name.to_lowercase()));
        if let Some(rank) = rank {
            let old_max = max_bytes_per_char(&old)
                .ok_or_else(|| format!("character set `{old}` is not known to the schema history"))?;
            let caps = [255u64, 65535, 16_777_215, 4_294_967_295];
            let needed = caps[rank] / old_max * new_max;
            let new_rank = caps.iter().position(|&cap| cap >= needed).unwrap_or(3).max(rank);
            c.data_type = text[new_rank].to_string();
            c.column_type = text[new_rank].to_string();
            c.length = Some(caps[new_rank]);
        }
        c.charset = Some(cs.to_string());
    }
    def.charset = Some(cs.to_string());
    Ok(())
}
