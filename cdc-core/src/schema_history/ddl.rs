//! DDL classification: one QUERY event's statement → what it does to table shapes (`Ddl`).
//!
//! A tolerant classifier (on `lexer`'s tokens) reads the statement's frame: the verb,
//! the target tables (qualified with the QUERY event's default database), rename pairs, the
//! clauses of an ALTER TABLE, the elements of a CREATE TABLE body. Column definitions inside
//! are parsed with `sqlparser` (module `column`). Table options, partition clauses, index
//! and constraint clauses and OceanBase's table options (`REPLICA_NUM`, `BLOCK_SIZE`,
//! `TABLET_SIZE`, `PCTFREE`, …; the OceanBase binlog service passes its DDL through unconverted
//! when its converter fails) are parsed past: they never change the row shape.
//!
//! Grammar: MySQL manual 15.1.9 "ALTER TABLE", 15.1.20 "CREATE TABLE", 15.1.32 "DROP TABLE",
//! 15.1.36 "RENAME TABLE", 15.1.37 "TRUNCATE TABLE"; MariaDB KB "ALTER TABLE" (`IF [NOT]
//! EXISTS`, `WAIT n`/`NOWAIT`, `ALTER ONLINE`), "CREATE TABLE" (`CREATE OR REPLACE`).
//!
//! Never a guess: a clause or statement this module does not know is an [`UnsupportedDdl`]
//! naming the statement and the reason.

use super::column::{parse_column, ParsedColumn};
use super::lexer::{lex, matching_paren, split_top_level, Tok, Token};
use super::model::{charset_of_collation, normalize_charset, TableId};

/// A DDL statement that could not be understood (or that changes the table shape in a way
/// the history does not model, such as MariaDB system versioning).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DDL not understood ({reason}): `{statement}`")]
pub struct UnsupportedDdl {
    /// The statement (comments included, cut to 300 characters).
    pub statement: String,
    /// What could not be read.
    pub reason: String,
    /// The tables the statement names, when the classifier read its whole target list (the
    /// table of a CREATE or ALTER TABLE); empty otherwise (a RENAME or DROP list cut short by
    /// the error may name more tables).
    pub tables: Vec<TableId>,
}

/// Where an added or redefined column goes (`FIRST`, `AFTER c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnPosition {
    First,
    After(String),
}

/// One ALTER TABLE clause that matters for the row shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AlterOp {
    AddColumn {
        column: ParsedColumn,
        position: Option<ColumnPosition>,
        if_not_exists: bool,
    },
    DropColumn {
        name: String,
        if_exists: bool,
    },
    /// MODIFY (old = the column's own name) and CHANGE.
    Redefine {
        old: String,
        column: ParsedColumn,
        position: Option<ColumnPosition>,
        if_exists: bool,
    },
    RenameColumn {
        old: String,
        new: String,
        if_exists: bool,
    },
    AddPrimaryKey(Vec<String>),
    DropPrimaryKey,
    RenameTable(TableId),
    /// CONVERT TO CHARACTER SET (None: `DEFAULT`, the database's).
    Convert(Option<String>),
    /// `[DEFAULT] CHARACTER SET` / `COLLATE` table option.
    DefaultCharset(String),
}

/// What a statement does to table shapes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ddl {
    CreateTable {
        table: TableId,
        if_not_exists: bool,
        columns: Vec<ParsedColumn>,
        primary_key: Vec<String>,
        charset: Option<String>,
    },
    CreateTableLike {
        table: TableId,
        source: TableId,
        if_not_exists: bool,
    },
    /// CREATE TABLE … [AS] SELECT: the columns come from the query's result.
    CreateTableSelect {
        table: TableId,
    },
    AlterTable {
        table: TableId,
        ops: Vec<AlterOp>,
    },
    DropTables(Vec<TableId>),
    RenameTables(Vec<(TableId, TableId)>),
    Truncate(TableId),
    CreateDatabase {
        db: String,
        charset: Option<String>,
    },
    AlterDatabase {
        db: String,
        charset: Option<String>,
    },
    DropDatabase(String),
    /// No effect on any table's row shape; the text says what it is.
    NoShapeChange(&'static str),
}

/// Objects whose CREATE/ALTER/DROP never change a table's row shape.
const OTHER_OBJECTS: &[&str] = &[
    "VIEW",
    "TRIGGER",
    "PROCEDURE",
    "FUNCTION",
    "EVENT",
    "USER",
    "ROLE",
    "SERVER",
    "INDEX",
    "UNIQUE",
    "FULLTEXT",
    "SPATIAL",
    "TABLESPACE",
    "LOGFILE",
    "AGGREGATE",
    "RESOURCE",
    "PACKAGE",
    "SYNONYM",
    "OUTLINE",
    "TABLEGROUP",
    "INSTANCE",
    "DEFINER",
    "ALGORITHM",
    "SQL",
    "MATERIALIZED",
    "SYSTEM",
    "TENANT",
    "RESTORE",
    "PROFILE",
];

/// ALTER TABLE clauses (first word) that only change options, indexes, constraints or
/// partitions.
const NO_SHAPE_CLAUSES: &[&str] = &[
    "ENGINE",
    "AUTO_INCREMENT",
    "COMMENT",
    "ROW_FORMAT",
    "KEY_BLOCK_SIZE",
    "ALGORITHM",
    "LOCK",
    "FORCE",
    "ORDER",
    "STATS_AUTO_RECALC",
    "STATS_PERSISTENT",
    "STATS_SAMPLE_PAGES",
    "PACK_KEYS",
    "CHECKSUM",
    "TABLE_CHECKSUM",
    "DELAY_KEY_WRITE",
    "MAX_ROWS",
    "MIN_ROWS",
    "AVG_ROW_LENGTH",
    "PAGE_CHECKSUM",
    "PAGE_COMPRESSED",
    "PAGE_COMPRESSION_LEVEL",
    "TRANSACTIONAL",
    "ENCRYPTED",
    "ENCRYPTION",
    "ENCRYPTION_KEY_ID",
    "IETF_QUOTES",
    "COMPRESSION",
    "CONNECTION",
    "DATA",
    "INDEX",
    "INSERT_METHOD",
    "UNION",
    "TABLESPACE",
    "STORAGE",
    "SECONDARY_ENGINE",
    "SECONDARY_ENGINE_ATTRIBUTE",
    "SECONDARY_LOAD",
    "SECONDARY_UNLOAD",
    "ENGINE_ATTRIBUTE",
    "AUTOEXTEND_SIZE",
    "ENABLE",
    "DISABLE",
    "DISCARD",
    "IMPORT",
    "WITHOUT",
    "VALIDATION",
    "PARTITION",
    "PARTITIONS",
    "REMOVE",
    "UPGRADE",
    "COALESCE",
    "REORGANIZE",
    "EXCHANGE",
    "ANALYZE",
    "CHECK",
    "OPTIMIZE",
    "REBUILD",
    "REPAIR",
    "TRUNCATE",
    // OceanBase table options and operations (OceanBase MySQL-mode "ALTER TABLE").
    "REPLICA_NUM",
    "BLOCK_SIZE",
    "TABLET_SIZE",
    "PCTFREE",
    "PRIMARY_ZONE",
    "LOCALITY",
    "TABLEGROUP",
    "USE_BLOOM_FILTER",
    "PROGRESSIVE_MERGE_NUM",
    "STORAGE_FORMAT_VERSION",
    "DUPLICATE_SCOPE",
    "TTL",
    "KV_ATTRIBUTES",
    "READ",
    "EXPIRE_INFO",
    "AUTO_INCREMENT_MODE",
    "ENABLE_EXTENDED_ROWID",
    "LOB_INLINE_THRESHOLD",
    "MAX_USED_PART_ID",
    "TABLE_MODE",
    "DEFAULT_LOB_INROW_THRESHOLD",
    "ORGANIZATION",
    "ROW_STORE",
    "COLUMN_STORE",
    "SKIP_INDEX",
];

/// Statements (first word) that never change a table's row shape.
const NO_SHAPE_STATEMENTS: &[&str] = &[
    "GRANT",
    "REVOKE",
    "ANALYZE",
    "OPTIMIZE",
    "REPAIR",
    "CHECK",
    "CHECKSUM",
    "FLUSH",
    "SET",
    "INSTALL",
    "UNINSTALL",
    "SAVEPOINT",
    "RELEASE",
    "LOCK",
    "UNLOCK",
    "USE",
    "DO",
    "PURGE",
    "RESET",
    "KILL",
    "SHOW",
    "CACHE",
    "LOAD",
    "CALL",
    "COMMENT",
    "PURGE",
];

/// Classifies `sql`, qualifying unqualified table names with `default_db` (the QUERY event's
/// database; may be empty). `mariadb` selects MariaDB's JSON type (LONGTEXT).
///
/// Errors: [`UnsupportedDdl`] for a statement or clause this module does not know, a column
/// definition whose type cannot be read, or an unqualified name without a default database.
pub(crate) fn parse_ddl(sql: &str, default_db: &str, mariadb: bool) -> Result<Ddl, UnsupportedDdl> {
    let fail = |reason: String, tables: Vec<TableId>| UnsupportedDdl {
        statement: sql.chars().take(300).collect(),
        reason,
        tables,
    };
    let lexed = lex(sql).map_err(|e| fail(e.0, vec![]))?;
    let mut toks: &[Token] = &lexed.tokens;
    while toks.last().is_some_and(|t| t.is_punct(';')) {
        toks = &toks[..toks.len() - 1];
    }
    let mut p = P {
        text: &lexed.text,
        toks,
        i: 0,
        default_db,
        mariadb,
        tables: Vec::new(),
        selects: false,
        target_known: false,
    };
    p.statement().map_err(|reason| fail(reason, if p.target_known { p.tables.clone() } else { Vec::new() }))
}

struct P<'a> {
    text: &'a str,
    toks: &'a [Token],
    i: usize,
    default_db: &'a str,
    mariadb: bool,
    /// Tables named so far (for the error).
    tables: Vec<TableId>,
    /// A `SELECT` follows the CREATE TABLE options.
    selects: bool,
    /// The statement's only target table has been read (CREATE/ALTER TABLE).
    target_known: bool,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.i)
    }

    fn peek_is(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.is(kw))
    }

    fn eat(&mut self, kw: &str) -> bool {
        if self.peek_is(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_all(&mut self, kws: &[&str]) -> bool {
        let ok = kws.iter().enumerate().all(|(k, kw)| self.toks.get(self.i + k).is_some_and(|t| t.is(kw)));
        if ok {
            self.i += kws.len();
        }
        ok
    }

    fn word(&self) -> String {
        match self.peek().map(|t| &t.tok) {
            Some(Tok::Word(w)) => w.to_ascii_uppercase(),
            _ => String::new(),
        }
    }

    fn at_end(&self) -> bool {
        self.i >= self.toks.len()
    }

    fn rest_text(&self) -> String {
        match (self.toks.get(self.i), self.toks.last()) {
            (Some(a), Some(b)) => self.text[a.span.start..b.span.end].to_string(),
            _ => String::new(),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        let t = self.peek().ok_or("a name was expected at the end of the statement")?;
        match &t.tok {
            Tok::Word(w) | Tok::Quoted(w) => {
                self.i += 1;
                Ok(w.clone())
            }
            _ => Err(format!("a name was expected at `{}`", self.rest_text())),
        }
    }

    fn table_name(&mut self) -> Result<TableId, String> {
        let first = self.ident()?;
        let id = if self.peek().is_some_and(|t| t.is_punct('.')) {
            self.i += 1;
            TableId::new(first, self.ident()?)
        } else {
            if self.default_db.is_empty() {
                return Err(format!("table `{first}` is not qualified and the statement has no default database"));
            }
            TableId::new(self.default_db, first)
        };
        self.tables.push(id.clone());
        Ok(id)
    }

    fn skip_wait(&mut self) {
        if self.eat("NOWAIT") {
            return;
        }
        if self.peek_is("WAIT") && matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::Num(_))) {
            self.i += 2;
        }
    }

    fn statement(&mut self) -> Result<Ddl, String> {
        let verb = self.word();
        self.i += 1;
        match verb.as_str() {
            "CREATE" => self.create(),
            "ALTER" => self.alter(),
            "DROP" => self.drop(),
            "RENAME" => self.rename(),
            "TRUNCATE" => {
                self.eat("TABLE");
                let t = self.table_name()?;
                self.skip_wait();
                self.expect_end()?;
                Ok(Ddl::Truncate(t))
            }
            w if NO_SHAPE_STATEMENTS.contains(&w) => Ok(Ddl::NoShapeChange("a statement that changes no table")),
            "" => Err("not a statement".into()),
            w => Err(format!("`{w}` statements are not known to the schema history")),
        }
    }

    fn expect_end(&self) -> Result<(), String> {
        if self.at_end() {
            Ok(())
        } else {
            Err(format!("unexpected `{}`", self.rest_text()))
        }
    }

    fn create(&mut self) -> Result<Ddl, String> {
        let or_replace = self.eat_all(&["OR", "REPLACE"]);
        if self.eat("TEMPORARY") {
            return Ok(Ddl::NoShapeChange("a temporary table (not in row-based binlogs)"));
        }
        if self.eat("DATABASE") || self.eat("SCHEMA") {
            self.eat_all(&["IF", "NOT", "EXISTS"]);
            let db = self.ident()?;
            let charset = self.charset_options(false)?;
            return Ok(Ddl::CreateDatabase { db, charset });
        }
        if !self.eat("TABLE") {
            let w = self.word();
            if OTHER_OBJECTS.contains(&w.as_str()) || w == "SEQUENCE" {
                return Ok(Ddl::NoShapeChange("an object other than a table"));
            }
            return Err(format!("CREATE {w} is not known to the schema history"));
        }
        let if_not_exists = self.eat_all(&["IF", "NOT", "EXISTS"]) && !or_replace;
        let table = self.table_name()?;
        self.target_known = true;
        // CREATE TABLE t LIKE s / CREATE TABLE t (LIKE s)
        let paren_like =
            self.peek().is_some_and(|t| t.is_punct('(')) && self.toks.get(self.i + 1).is_some_and(|t| t.is("LIKE"));
        if paren_like {
            self.i += 1;
        }
        if self.eat("LIKE") {
            let source = self.table_name()?;
            if paren_like && !self.peek().is_some_and(|t| t.is_punct(')')) {
                return Err("CREATE TABLE (LIKE …) without its closing parenthesis".into());
            }
            return Ok(Ddl::CreateTableLike { table, source, if_not_exists });
        }
        let mut columns = Vec::new();
        let mut primary_key = Vec::new();
        if self.peek().is_some_and(|t| t.is_punct('(')) {
            let close = matching_paren(self.toks, self.i).ok_or("CREATE TABLE body without its closing parenthesis")?;
            let body = &self.toks[self.i + 1..close];
            if body.first().is_some_and(|t| t.is("SELECT") || t.is("WITH") || t.is_punct('(')) {
                return Ok(Ddl::CreateTableSelect { table });
            }
            self.i = close + 1;
            for element in split_top_level(body) {
                self.create_element(element, &mut columns, &mut primary_key)?;
            }
        }
        let charset = self.charset_options(true)?;
        if self.selects {
            return Ok(Ddl::CreateTableSelect { table });
        }
        if columns.is_empty() {
            return Err("CREATE TABLE without columns".into());
        }
        Ok(Ddl::CreateTable { table, if_not_exists, columns, primary_key, charset })
    }

    fn create_element(
        &self,
        element: &[Token],
        columns: &mut Vec<ParsedColumn>,
        primary_key: &mut Vec<String>,
    ) -> Result<(), String> {
        let Some(first) = element.first() else { return Err("an empty element in the CREATE TABLE body".into()) };
        let kw = |k: usize, w: &str| element.get(k).is_some_and(|t| t.is(w));
        let mut k = 0;
        if kw(0, "CONSTRAINT") {
            k = if kw(1, "PRIMARY") || kw(1, "UNIQUE") || kw(1, "FOREIGN") || kw(1, "CHECK") { 1 } else { 2 };
        }
        if kw(k, "PRIMARY") && kw(k + 1, "KEY") {
            *primary_key = key_columns(&element[k + 2..])?;
            return Ok(());
        }
        if kw(0, "PERIOD") && kw(1, "FOR") {
            return Err("PERIOD FOR (system versioning or application periods) is not supported".into());
        }
        let is_key = ["KEY", "INDEX", "UNIQUE", "FULLTEXT", "SPATIAL", "FOREIGN", "CHECK", "CONSTRAINT", "VECTOR"]
            .iter()
            .any(|w| first.is(w));
        if is_key {
            return Ok(());
        }
        let col = parse_column(self.text, element, self.mariadb)?;
        if col.primary_key {
            *primary_key = vec![col.def.name.clone()];
        }
        columns.push(col);
        Ok(())
    }

    /// Reads table (or database) options up to the end, keeping the default character set.
    /// Sets `selects` when a `SELECT` follows (CREATE TABLE … SELECT).
    fn charset_options(&mut self, table: bool) -> Result<Option<String>, String> {
        let mut charset = None;
        let mut collation = None;
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            match t.tok {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth -= 1,
                _ if depth != 0 => {}
                _ if table && (t.is("SELECT") || (t.is("AS") && self.toks.get(self.i + 1).is_some())) => {
                    self.selects = true;
                    self.i = self.toks.len();
                    break;
                }
                _ if table && t.is("WITH") && self.toks.get(self.i + 1).is_some_and(|n| n.is("SYSTEM")) => {
                    return Err("WITH SYSTEM VERSIONING adds hidden columns; not supported".into());
                }
                _ if t.is("CHARSET")
                    || (t.is("CHARACTER") && self.toks.get(self.i + 1).is_some_and(|n| n.is("SET"))) =>
                {
                    self.i += if t.is("CHARSET") { 1 } else { 2 };
                    self.eat_punct('=');
                    charset = Some(normalize_charset(self.option_value()?));
                    continue;
                }
                _ if t.is("COLLATE") => {
                    self.i += 1;
                    self.eat_punct('=');
                    collation = Some(charset_of_collation(self.option_value()?));
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        Ok(charset.or(collation))
    }

    fn option_value(&mut self) -> Result<&'a str, String> {
        let t = self.peek().and_then(|t| t.text()).ok_or("a character set or collation name was expected")?;
        self.i += 1;
        Ok(t)
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek().is_some_and(|t| t.is_punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn alter(&mut self) -> Result<Ddl, String> {
        self.eat("ONLINE");
        self.eat("IGNORE");
        if self.eat("DATABASE") || self.eat("SCHEMA") {
            let db = match self.peek() {
                Some(t) if t.ident().is_some() && !is_db_option(t) => self.ident()?,
                _ => self.default_db.to_string(),
            };
            let charset = self.charset_options(false)?;
            return Ok(Ddl::AlterDatabase { db, charset });
        }
        if !self.eat("TABLE") {
            let w = self.word();
            if OTHER_OBJECTS.contains(&w.as_str()) {
                return Ok(Ddl::NoShapeChange("an object other than a table"));
            }
            return Err(format!("ALTER {w} is not known to the schema history"));
        }
        self.eat_all(&["IF", "EXISTS"]);
        let table = self.table_name()?;
        self.target_known = true;
        self.skip_wait();
        let clauses = &self.toks[self.i..];
        let mut ops = Vec::new();
        if !clauses.is_empty() {
            for clause in split_top_level(clauses) {
                self.alter_clause(clause, &mut ops)?;
            }
        }
        Ok(Ddl::AlterTable { table, ops })
    }

    fn alter_clause(&self, c: &[Token], ops: &mut Vec<AlterOp>) -> Result<(), String> {
        // Partition options may follow the last clause without a comma.
        let cut = c
            .iter()
            .enumerate()
            .skip(1)
            .find(|(k, t)| {
                (t.is("PARTITION") && c.get(k + 1).is_some_and(|n| n.is("BY")))
                    || t.is("REMOVE") && c.get(k + 1).is_some_and(|n| n.is("PARTITIONING"))
            })
            .map_or(c.len(), |(k, _)| k);
        let c = &c[..cut];
        let text = || match (c.first(), c.last()) {
            (Some(a), Some(b)) => self.text[a.span.start..b.span.end].to_string(),
            _ => String::new(),
        };
        let Some(first) = c.first() else { return Err("an empty ALTER TABLE clause".into()) };
        let kw = |k: usize, w: &str| c.get(k).is_some_and(|t| t.is(w));
        let word = match &first.tok {
            Tok::Word(w) => w.to_ascii_uppercase(),
            _ => return Err(format!("ALTER TABLE clause `{}` is not understood", text())),
        };
        let mut k = 1;
        match word.as_str() {
            "ADD" => {
                let column = kw(k, "COLUMN");
                if column {
                    k += 1;
                }
                let if_not_exists = kw(k, "IF") && kw(k + 1, "NOT") && kw(k + 2, "EXISTS");
                if if_not_exists {
                    k += 3;
                }
                if !column {
                    let mut j = k;
                    if kw(j, "CONSTRAINT") {
                        j += if kw(j + 1, "PRIMARY")
                            || kw(j + 1, "UNIQUE")
                            || kw(j + 1, "FOREIGN")
                            || kw(j + 1, "CHECK")
                        {
                            1
                        } else {
                            2
                        };
                    }
                    if kw(j, "PRIMARY") && kw(j + 1, "KEY") {
                        ops.push(AlterOp::AddPrimaryKey(key_columns(&c[j + 2..])?));
                        return Ok(());
                    }
                    if kw(k, "SYSTEM") || kw(k, "PERIOD") {
                        return Err(format!("`{}`: system versioning and periods are not supported", text()));
                    }
                    let key = [
                        "INDEX",
                        "KEY",
                        "UNIQUE",
                        "FULLTEXT",
                        "SPATIAL",
                        "FOREIGN",
                        "CHECK",
                        "CONSTRAINT",
                        "PARTITION",
                        "VECTOR",
                    ];
                    if key.iter().any(|w| kw(k, w)) {
                        return Ok(());
                    }
                }
                if c.get(k).is_some_and(|t| t.is_punct('(')) {
                    let close = matching_paren(c, k).ok_or_else(|| format!("`{}`: unbalanced parentheses", text()))?;
                    for def in split_top_level(&c[k + 1..close]) {
                        let column = parse_column(self.text, def, self.mariadb)?;
                        ops.push(AlterOp::AddColumn { column, position: None, if_not_exists });
                    }
                    return Ok(());
                }
                let (def, position) = split_position(&c[k..])?;
                ops.push(AlterOp::AddColumn {
                    column: parse_column(self.text, def, self.mariadb)?,
                    position,
                    if_not_exists,
                });
            }
            "DROP" => {
                let column = kw(k, "COLUMN");
                if column {
                    k += 1;
                }
                let if_exists = kw(k, "IF") && kw(k + 1, "EXISTS");
                if !column {
                    if kw(k, "PRIMARY") && kw(k + 1, "KEY") {
                        ops.push(AlterOp::DropPrimaryKey);
                        return Ok(());
                    }
                    if kw(k, "SYSTEM") || kw(k, "PERIOD") {
                        return Err(format!("`{}`: system versioning and periods are not supported", text()));
                    }
                    let other = ["INDEX", "KEY", "FOREIGN", "CHECK", "CONSTRAINT", "PARTITION", "DEFAULT"];
                    if other.iter().any(|w| kw(k, w)) {
                        return Ok(());
                    }
                }
                if if_exists {
                    k += 2;
                }
                let name = c.get(k).and_then(Token::ident).ok_or_else(|| format!("`{}`: no column name", text()))?;
                if c[k + 1..].iter().any(|t| !(t.is("RESTRICT") || t.is("CASCADE"))) {
                    return Err(format!("ALTER TABLE clause `{}` is not understood", text()));
                }
                ops.push(AlterOp::DropColumn { name: name.to_string(), if_exists });
            }
            "MODIFY" | "CHANGE" => {
                if kw(k, "COLUMN") {
                    k += 1;
                }
                let if_exists = kw(k, "IF") && kw(k + 1, "EXISTS");
                if if_exists {
                    k += 2;
                }
                let old = if word == "CHANGE" {
                    let o = c.get(k).and_then(Token::ident).ok_or_else(|| format!("`{}`: no column name", text()))?;
                    k += 1;
                    Some(o.to_string())
                } else {
                    None
                };
                let (def, position) = split_position(&c[k..])?;
                let column = parse_column(self.text, def, self.mariadb)?;
                let old = old.unwrap_or_else(|| column.def.name.clone());
                ops.push(AlterOp::Redefine { old, column, position, if_exists });
            }
            "RENAME" => {
                if kw(k, "INDEX") || kw(k, "KEY") {
                    return Ok(());
                }
                if kw(k, "COLUMN") {
                    k += 1;
                    let if_exists = kw(k, "IF") && kw(k + 1, "EXISTS");
                    if if_exists {
                        k += 2;
                    }
                    let (Some(old), true, Some(new), None) = (
                        c.get(k).and_then(Token::ident),
                        kw(k + 1, "TO"),
                        c.get(k + 2).and_then(Token::ident),
                        c.get(k + 3),
                    ) else {
                        return Err(format!("ALTER TABLE clause `{}` is not understood", text()));
                    };
                    ops.push(AlterOp::RenameColumn { old: old.into(), new: new.into(), if_exists });
                    return Ok(());
                }
                if kw(k, "TO") || kw(k, "AS") || c.get(k).is_some_and(|t| t.is_punct('=')) {
                    k += 1;
                }
                let mut sub = P {
                    text: self.text,
                    toks: &c[k..],
                    i: 0,
                    default_db: self.default_db,
                    mariadb: self.mariadb,
                    tables: vec![],
                    selects: false,
                    target_known: false,
                };
                let to = sub.table_name()?;
                sub.expect_end()?;
                ops.push(AlterOp::RenameTable(to));
            }
            "ALTER" => {
                if kw(k, "INDEX") || kw(k, "CHECK") || kw(k, "CONSTRAINT") {
                    return Ok(());
                }
                if kw(k, "COLUMN") {
                    k += 1;
                }
                // ALTER [COLUMN] c SET DEFAULT … | DROP DEFAULT | SET [IN]VISIBLE
                if c.get(k).and_then(Token::ident).is_some() && (kw(k + 1, "SET") || kw(k + 1, "DROP")) {
                    return Ok(());
                }
                return Err(format!("ALTER TABLE clause `{}` is not understood", text()));
            }
            "CONVERT" => {
                if !kw(1, "TO") {
                    return Err(format!("ALTER TABLE clause `{}` is not understood", text()));
                }
                let j = if kw(2, "CHARSET") {
                    3
                } else if kw(2, "CHARACTER") && kw(3, "SET") {
                    4
                } else {
                    return Err(format!("ALTER TABLE clause `{}` is not understood", text()));
                };
                let cs = c.get(j).and_then(Token::text).ok_or_else(|| format!("`{}`: no character set", text()))?;
                ops.push(AlterOp::Convert(if cs.eq_ignore_ascii_case("DEFAULT") {
                    None
                } else {
                    Some(normalize_charset(cs))
                }));
            }
            "DEFAULT" | "CHARACTER" | "CHARSET" | "COLLATE" => {
                let mut sub = P {
                    text: self.text,
                    toks: c,
                    i: 0,
                    default_db: self.default_db,
                    mariadb: self.mariadb,
                    tables: vec![],
                    selects: false,
                    target_known: false,
                };
                sub.eat("DEFAULT");
                match sub.charset_options(false)? {
                    Some(cs) => ops.push(AlterOp::DefaultCharset(cs)),
                    None => return Err(format!("ALTER TABLE clause `{}` is not understood", text())),
                }
            }
            "WITH" if kw(1, "SYSTEM") => {
                return Err(format!("`{}`: system versioning adds hidden columns; not supported", text()));
            }
            "WITH" if kw(1, "VALIDATION") => {}
            w if NO_SHAPE_CLAUSES.contains(&w) => {}
            // OceanBase: `SET table_option = value` (OceanBase MySQL mode "ALTER TABLE").
            "SET" if c.get(2).is_some_and(|t| t.is_punct('=')) => {}
            // Any other `NAME = value` is a table option (OceanBase has many).
            _ if c.get(1).is_some_and(|t| t.is_punct('=')) => {}
            _ => return Err(format!("ALTER TABLE clause `{}` is not understood", text())),
        }
        Ok(())
    }

    fn drop(&mut self) -> Result<Ddl, String> {
        if self.eat("TEMPORARY") {
            return Ok(Ddl::NoShapeChange("a temporary table (not in row-based binlogs)"));
        }
        if self.eat("DATABASE") || self.eat("SCHEMA") {
            self.eat_all(&["IF", "EXISTS"]);
            let db = self.ident()?;
            self.expect_end()?;
            return Ok(Ddl::DropDatabase(db));
        }
        if !(self.eat("TABLE") || self.eat("TABLES")) {
            let w = self.word();
            if OTHER_OBJECTS.contains(&w.as_str()) || w == "SEQUENCE" || w == "PREPARE" {
                return Ok(Ddl::NoShapeChange("an object other than a table"));
            }
            return Err(format!("DROP {w} is not known to the schema history"));
        }
        self.eat_all(&["IF", "EXISTS"]);
        let mut tables = vec![self.table_name()?];
        while self.eat_punct(',') {
            tables.push(self.table_name()?);
        }
        self.skip_wait();
        self.eat("RESTRICT");
        self.eat("CASCADE");
        self.expect_end()?;
        Ok(Ddl::DropTables(tables))
    }

    fn rename(&mut self) -> Result<Ddl, String> {
        if !(self.eat("TABLE") || self.eat("TABLES")) {
            if self.peek_is("USER") {
                return Ok(Ddl::NoShapeChange("an object other than a table"));
            }
            return Err(format!("RENAME {} is not known to the schema history", self.word()));
        }
        self.eat_all(&["IF", "EXISTS"]);
        let mut pairs = Vec::new();
        loop {
            let from = self.table_name()?;
            self.skip_wait();
            if !self.eat("TO") {
                return Err(format!("RENAME TABLE: `TO` expected at `{}`", self.rest_text()));
            }
            pairs.push((from, self.table_name()?));
            if !self.eat_punct(',') {
                break;
            }
        }
        self.expect_end()?;
        Ok(Ddl::RenameTables(pairs))
    }
}

fn is_db_option(t: &Token) -> bool {
    ["DEFAULT", "CHARACTER", "CHARSET", "COLLATE", "COMMENT", "ENCRYPTION", "READ", "UPGRADE"].iter().any(|w| t.is(w))
}

/// Splits a trailing `FIRST` or `AFTER c` off a column definition.
fn split_position(c: &[Token]) -> Result<(&[Token], Option<ColumnPosition>), String> {
    let n = c.len();
    if n >= 1 && c[n - 1].is("FIRST") {
        return Ok((&c[..n - 1], Some(ColumnPosition::First)));
    }
    if n >= 2 && c[n - 2].is("AFTER") {
        let after = c[n - 1].ident().ok_or("AFTER without a column name")?;
        return Ok((&c[..n - 2], Some(ColumnPosition::After(after.to_string()))));
    }
    Ok((c, None))
}

/// The column names of a key definition `[USING x] (a, b(10) DESC, …) [options]`.
fn key_columns(toks: &[Token]) -> Result<Vec<String>, String> {
    let open = toks.iter().position(|t| t.is_punct('(')).ok_or("PRIMARY KEY without a column list")?;
    let close = matching_paren(toks, open).ok_or("PRIMARY KEY column list without its closing parenthesis")?;
    split_top_level(&toks[open + 1..close])
        .into_iter()
        .map(|part| match part.first() {
            Some(t) if t.ident().is_some() => Ok(t.ident().expect("checked").to_string()),
            _ => Err("a PRIMARY KEY part that is not a column (an expression)".to_string()),
        })
        .collect()
}
