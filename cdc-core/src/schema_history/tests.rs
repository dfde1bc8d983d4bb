//! The DDL corpus: statements as MySQL, MariaDB and the OceanBase binlog service write them,
//! applied to a history, with the columns they must give, and the statements that must fail.

use super::history::{DdlOutcome, HistoryConfig, HistoryError, SchemaChange, SchemaHistory, SchemaState};
use super::model::{TableDef, TableId};
use crate::position::BinlogPosition;

struct H {
    h: SchemaHistory,
    pos: u64,
}

impl H {
    fn new(mariadb: bool) -> Self {
        let config =
            HistoryConfig { databases: vec!["db".into(), "db2".into()], mariadb, lower_case_table_names: false };
        let mut state = SchemaState { server_charset: Some("latin1".into()), ..Default::default() };
        state.databases.insert("db".into(), Some("utf8mb4".into()));
        state.databases.insert("db2".into(), None);
        Self { h: SchemaHistory::new(config, BinlogPosition::new("binlog.000001", 4), state), pos: 100 }
    }

    fn apply(&mut self, sql: &str) -> Result<DdlOutcome, HistoryError> {
        self.pos += 100;
        self.h.apply(&BinlogPosition::new("binlog.000001", self.pos), "db", sql)
    }

    fn ok(&mut self, sql: &str) -> DdlOutcome {
        self.apply(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn changed(&mut self, sql: &str) {
        match self.ok(sql) {
            DdlOutcome::Changed { .. } => {}
            other => panic!("{sql}: expected a change, got {other:?}"),
        }
    }

    fn ignored(&mut self, sql: &str) {
        let before = self.h.state().clone();
        match self.ok(sql) {
            DdlOutcome::Ignored(_) => {}
            other => panic!("{sql}: expected it ignored, got {other:?}"),
        }
        assert_eq!(self.h.state(), &before, "{sql}");
    }

    fn def(&self, t: &str) -> &TableDef {
        self.h.table("db", t).unwrap_or_else(|| panic!("no table {t}"))
    }

    /// `name:column_type[:charset]` of every column.
    fn cols(&self, t: &str) -> Vec<String> {
        self.def(t)
            .columns
            .iter()
            .map(|c| match &c.charset {
                Some(cs) => format!("{}:{}:{cs}", c.name, c.column_type),
                None => format!("{}:{}", c.name, c.column_type),
            })
            .collect()
    }

    fn pk(&self, t: &str) -> Vec<String> {
        self.def(t).primary_key.clone()
    }

    fn fails(&mut self, sql: &str) -> String {
        let before = self.h.state().clone();
        let e = self.apply(sql).expect_err(sql).to_string();
        assert_eq!(self.h.state(), &before, "a failed statement leaves the history unchanged: {sql}");
        assert!(e.contains("Ways on"), "{e}");
        e
    }
}

fn with_t(mariadb: bool) -> H {
    let mut h = H::new(mariadb);
    h.changed("CREATE TABLE t (id INT UNSIGNED NOT NULL, a VARCHAR(10), b INT, PRIMARY KEY (id))");
    h
}

#[test]
fn create_table_forms() {
    let mut h = H::new(false);
    h.changed(
        "CREATE TABLE IF NOT EXISTS `db`.`T1` (\n  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT COMMENT 'k, ey',\n  \
         `e` enum('x','y''z') CHARACTER SET latin1 DEFAULT 'x',\n  `d` decimal(12,2) DEFAULT NULL,\n  `ts` timestamp(6) NOT NULL \
         DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n  `v` varchar(32) COLLATE utf8mb4_bin NOT NULL,\n  \
         PRIMARY KEY (`id`),\n  UNIQUE KEY `uk` (`v`(8)),\n  KEY `k` (`d`, `ts`),\n  CONSTRAINT `c1` CHECK (`d` > 0)\n) \
         ENGINE=InnoDB AUTO_INCREMENT=10 DEFAULT CHARSET=utf8mb3 ROW_FORMAT=DYNAMIC COMMENT='x'\n/*!50100 PARTITION BY HASH (`id`) PARTITIONS 4 */",
    );
    assert_eq!(
        h.cols("T1"),
        [
            "id:bigint unsigned",
            "e:enum('x','y''z'):latin1",
            "d:decimal(12,2)",
            "ts:timestamp(6)",
            "v:varchar(32):utf8mb4"
        ]
    );
    assert_eq!(h.pk("T1"), ["id"]);
    assert_eq!(h.def("T1").charset.as_deref(), Some("utf8mb3"));
    // No table charset: the database's; a database without one: the server's.
    h.changed("create table t2 (a text, b char(2) binary, c varbinary(3), d json)");
    assert_eq!(h.cols("t2"), ["a:text:utf8mb4", "b:char(2):utf8mb4", "c:varbinary(3)", "d:json"]);
    h.changed("CREATE TABLE db2.t (a CHAR(1))");
    assert_eq!(h.h.table("db2", "t").unwrap().columns[0].charset.as_deref(), Some("latin1"));
    // IF NOT EXISTS on an existing table changes nothing.
    h.ignored("CREATE TABLE IF NOT EXISTS t2 (x INT)");
    // MariaDB CREATE OR REPLACE replaces.
    h.changed("CREATE OR REPLACE TABLE t2 (x INT PRIMARY KEY)");
    assert_eq!(h.cols("t2"), ["x:int"]);
    assert_eq!(h.pk("t2"), ["x"]);
}

#[test]
fn oceanbase_create_table_with_its_table_options() {
    let mut h = H::new(false);
    h.changed(
        "CREATE TABLE `orders` (\n  `id` bigint(20) NOT NULL,\n  `amount` decimal(10,2) DEFAULT NULL,\n  PRIMARY KEY (`id`)\n) \
         DEFAULT CHARSET = utf8mb4 ROW_FORMAT = DYNAMIC COMPRESSION = 'zstd_1.3.8' REPLICA_NUM = 1 BLOCK_SIZE = 16384 \
         USE_BLOOM_FILTER = FALSE TABLET_SIZE = 134217728 PCTFREE = 0 partition by hash(id) partitions 2",
    );
    assert_eq!(h.cols("orders"), ["id:bigint", "amount:decimal(10,2)"]);
    h.ignored("ALTER TABLE `orders` BLOCK_SIZE = 32768, REPLICA_NUM = 3, PRIMARY_ZONE = 'zone1'");
    h.ignored("ALTER TABLE orders SET_SOMETHING_NEW = 5");
}

#[test]
fn create_table_like_and_select() {
    let mut h = with_t(false);
    h.changed("CREATE TABLE /* gh-ost */ `db`.`_t_gho` LIKE `db`.`t`");
    assert_eq!(h.cols("_t_gho"), h.cols("t"));
    h.changed("CREATE TABLE t3 (LIKE t)");
    assert_eq!(h.pk("t3"), ["id"]);
    match h.ok("CREATE TABLE t4 AS SELECT id, a FROM t") {
        DdlOutcome::RefreshNeeded { tables, .. } => assert_eq!(tables, [TableId::new("db", "t4")]),
        other => panic!("{other:?}"),
    }
    assert!(h.h.refresh_pending("db", "t4"));
    match h.ok("CREATE TABLE t5 (x INT) ENGINE=InnoDB SELECT 1 AS x") {
        DdlOutcome::RefreshNeeded { .. } => {}
        other => panic!("{other:?}"),
    }
    // LIKE a table the history does not know (in another database) needs a refresh.
    match h.ok("CREATE TABLE t6 LIKE other.src") {
        DdlOutcome::RefreshNeeded { .. } => {}
        other => panic!("{other:?}"),
    }
    // An ALTER of a table awaiting its refresh cannot be applied.
    h.fails("ALTER TABLE t4 ADD COLUMN z INT");
    let rec =
        h.h.refresh(BinlogPosition::new("binlog.000001", 5000), TableId::new("db", "t4"), Some(h.def("t").clone()));
    assert!(matches!(rec.kind, super::history::RecordKind::Ddl { .. }));
    assert!(!h.h.refresh_pending("db", "t4"));
}

#[test]
fn add_drop_modify_change_rename_columns_with_positions() {
    let mut h = with_t(false);
    h.changed("ALTER TABLE t ADD COLUMN c DATETIME(3) NULL FIRST");
    h.changed("ALTER TABLE `t` ADD `d` ENUM('p','q') NOT NULL DEFAULT 'p' AFTER `id`");
    assert_eq!(
        h.cols("t"),
        ["c:datetime(3)", "id:int unsigned", "d:enum('p','q'):utf8mb4", "a:varchar(10):utf8mb4", "b:int"]
    );
    h.changed("ALTER TABLE t DROP COLUMN c, DROP d");
    assert_eq!(h.cols("t"), ["id:int unsigned", "a:varchar(10):utf8mb4", "b:int"]);
    h.changed("ALTER TABLE t MODIFY b BIGINT UNSIGNED NOT NULL FIRST");
    assert_eq!(h.cols("t"), ["b:bigint unsigned", "id:int unsigned", "a:varchar(10):utf8mb4"]);
    h.changed("ALTER TABLE t CHANGE COLUMN a a2 VARCHAR(40) CHARACTER SET latin1 COLLATE latin1_bin AFTER b");
    assert_eq!(h.cols("t"), ["b:bigint unsigned", "a2:varchar(40):latin1", "id:int unsigned"]);
    h.changed("ALTER TABLE t RENAME COLUMN a2 TO a3");
    h.changed("ALTER TABLE t CHANGE id ID INT UNSIGNED NOT NULL");
    assert_eq!(h.cols("t"), ["b:bigint unsigned", "a3:varchar(40):latin1", "ID:int unsigned"]);
    assert_eq!(h.pk("t"), ["ID"], "the primary key follows a renamed column");
    // Column names are case-insensitive.
    h.changed("ALTER TABLE t DROP COLUMN A3");
    assert_eq!(h.cols("t"), ["b:bigint unsigned", "ID:int unsigned"]);
    // MODIFY without a charset takes the table's default, not the old column's.
    h.changed("ALTER TABLE t ADD v VARCHAR(5) CHARSET latin1");
    h.changed("ALTER TABLE t MODIFY v VARCHAR(6)");
    assert_eq!(h.cols("t")[2], "v:varchar(6):utf8mb4");
    // Parenthesised ADD.
    h.changed("ALTER TABLE t ADD (x INT, y TINYINT(1) ZEROFILL)");
    assert_eq!(h.cols("t")[3..], ["x:int", "y:tinyint unsigned"]);
}

#[test]
fn enum_set_members_and_type_changes() {
    let mut h = with_t(false);
    h.changed("ALTER TABLE t ADD e ENUM('a','b'), ADD s SET('x','y')");
    h.changed("ALTER TABLE t MODIFY e ENUM('a','b','c'), MODIFY COLUMN s SET('y')");
    assert_eq!(h.def("t").columns[3].labels, ["a", "b", "c"]);
    assert_eq!(h.def("t").columns[4].labels, ["y"]);
    h.changed("ALTER TABLE t MODIFY b BIGINT, MODIFY a VARCHAR(200) CHARACTER SET utf8mb3");
    assert_eq!(h.cols("t")[1..3], ["a:varchar(200):utf8mb3", "b:bigint"]);
}

#[test]
fn primary_key_changes() {
    let mut h = with_t(false);
    h.changed("ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (b, id)");
    assert_eq!(h.pk("t"), ["b", "id"]);
    assert!(!h.def("t").columns[2].nullable, "a key column is NOT NULL");
    h.changed("ALTER TABLE t DROP COLUMN b");
    assert_eq!(h.pk("t"), ["id"]);
    h.changed("ALTER TABLE t DROP PRIMARY KEY");
    assert!(h.pk("t").is_empty());
    h.changed("ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING BTREE (`a`(4))");
    assert_eq!(h.pk("t"), ["a"]);
    h.changed("ALTER TABLE t DROP PRIMARY KEY, ADD COLUMN k INT AUTO_INCREMENT PRIMARY KEY FIRST");
    assert_eq!(h.pk("t"), ["k"]);
}

#[test]
fn charsets_and_convert() {
    let mut h = H::new(false);
    h.changed("CREATE TABLE c (a TINYTEXT, b TEXT, c VARCHAR(5), n INT, e ENUM('x')) CHARSET latin1");
    h.changed("ALTER TABLE c CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    assert_eq!(
        h.cols("c"),
        ["a:text:utf8mb4", "b:mediumtext:utf8mb4", "c:varchar(5):utf8mb4", "n:int", "e:enum('x'):utf8mb4"]
    );
    h.changed("ALTER TABLE c DEFAULT CHARACTER SET = latin1");
    h.changed("ALTER TABLE c ADD z CHAR(1)");
    // The table's default applies to every clause of the statement.
    h.changed("ALTER TABLE c ADD w CHAR(1), DEFAULT CHARSET = utf8mb4");
    assert_eq!(h.cols("c")[6], "w:char(1):utf8mb4");
    h.changed("ALTER TABLE c DROP COLUMN w, CHARSET = latin1");
    assert_eq!(h.cols("c")[5], "z:char(1):latin1");
    h.changed("ALTER TABLE c CHARSET utf8mb3, ADD y CHAR(1)");
    assert_eq!(h.cols("c")[6], "y:char(1):utf8mb3");
    // CONVERT applies to the whole resulting table; a column the statement defines keeps its
    // type (MariaDB 11: `ADD t TINYTEXT latin1, CONVERT TO utf8mb3` gives a utf8mb3 TINYTEXT).
    h.changed("ALTER TABLE c ADD COLUMN t2 TINYTEXT CHARACTER SET latin1, CONVERT TO CHARACTER SET latin1, ADD t3 CHAR(2) CHARSET utf8mb4");
    assert_eq!(h.cols("c")[7..], ["t2:tinytext:latin1", "t3:char(2):latin1"]);
}

#[test]
fn renames_and_the_gh_ost_swap() {
    let mut h = with_t(false);
    h.changed("CREATE TABLE _t_gho LIKE t");
    h.changed("ALTER TABLE _t_gho ADD COLUMN z INT");
    h.changed("RENAME /* gh-ost */ TABLE `db`.`t` TO `db`.`_t_del`, `db`.`_t_gho` TO `db`.`t`");
    assert_eq!(h.cols("t").last().unwrap(), "z:int");
    assert_eq!(h.cols("_t_del").len(), 3);
    h.changed("ALTER TABLE _t_del RENAME TO db2.moved, ADD COLUMN w INT");
    assert!(h.h.table("db", "_t_del").is_none());
    assert_eq!(h.h.table("db2", "moved").unwrap().columns.len(), 4);
    // Out of the captured databases: dropped; into them from elsewhere: refresh.
    h.changed("RENAME TABLE db2.moved TO elsewhere.x");
    assert!(h.h.table("db2", "moved").is_none());
    match h.ok("RENAME TABLE elsewhere.y TO db.y") {
        DdlOutcome::RefreshNeeded { tables, .. } => assert_eq!(tables, [TableId::new("db", "y")]),
        other => panic!("{other:?}"),
    }
    h.changed("ALTER TABLE t RENAME AS t9");
    assert!(h.h.table("db", "t9").is_some());
}

#[test]
fn drop_truncate_and_databases() {
    let mut h = with_t(true);
    h.changed("CREATE TABLE u (x INT)");
    h.changed("DROP TABLE IF EXISTS `t`, nosuch /* generated by server */");
    assert!(h.h.table("db", "t").is_none());
    match h.ok("TRUNCATE TABLE u") {
        DdlOutcome::Changed { changes, .. } => {
            assert_eq!(changes, [SchemaChange::Truncate { id: TableId::new("db", "u") }])
        }
        other => panic!("{other:?}"),
    }
    h.ignored("DROP TEMPORARY TABLE IF EXISTS `tmp` /* generated by server */");
    h.changed("ALTER DATABASE db2 CHARACTER SET utf8mb3");
    h.changed("CREATE TABLE db2.v (a VARCHAR(3))");
    assert_eq!(h.h.table("db2", "v").unwrap().columns[0].charset.as_deref(), Some("utf8mb3"));
    h.changed("DROP DATABASE db2");
    assert!(h.h.table("db2", "v").is_none());
}

#[test]
fn mariadb_forms() {
    let mut h = with_t(true);
    h.changed(
        "ALTER ONLINE TABLE IF EXISTS t WAIT 5 ADD COLUMN IF NOT EXISTS c INT AFTER id, ALGORITHM=INPLACE, LOCK=NONE",
    );
    h.ok("ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT");
    h.changed("ALTER TABLE t MODIFY COLUMN IF EXISTS c BIGINT, DROP COLUMN IF EXISTS nosuch, ADD j JSON");
    assert_eq!(h.cols("t")[1], "c:bigint");
    assert_eq!(h.cols("t")[4], "j:longtext:utf8mb4");
    h.ignored("ALTER TABLE t MODIFY COLUMN IF EXISTS nosuch INT");
    h.changed("RENAME TABLE IF EXISTS t TO t2");
    h.changed("ALTER TABLE t2 ADD COLUMN `x``y` INT /*M!100301 INVISIBLE */");
    assert_eq!(h.cols("t2").last().unwrap(), "x`y:int");
    let e = h.fails("ALTER TABLE t2 ADD SYSTEM VERSIONING");
    assert!(e.contains("versioning"), "{e}");
}

#[test]
fn statements_without_a_row_shape_change_are_ignored() {
    let mut h = with_t(false);
    for sql in [
        "CREATE INDEX i ON t (a)",
        "CREATE UNIQUE INDEX i ON t (a)",
        "DROP INDEX i ON t",
        "ALTER TABLE t ADD INDEX i (a), ADD UNIQUE KEY u (b), DROP KEY k, RENAME INDEX i TO j, ALTER INDEX j INVISIBLE",
        "ALTER TABLE t ENGINE=InnoDB, COMMENT='x', AUTO_INCREMENT=5, ROW_FORMAT=COMPACT, FORCE",
        "ALTER TABLE t ALTER COLUMN a SET DEFAULT 'x', ALTER b DROP DEFAULT",
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (b) REFERENCES u (id) ON DELETE CASCADE, DROP FOREIGN KEY fk2",
        "ALTER TABLE t ADD PARTITION (PARTITION p3 VALUES LESS THAN (100)), TRUNCATE PARTITION p1",
        "ALTER TABLE t PARTITION BY HASH(id) PARTITIONS 8",
        "ALTER TABLE t REMOVE PARTITIONING",
        "ALTER TABLE t",
        "CREATE DEFINER=`root`@`%` VIEW v AS SELECT * FROM t",
        "CREATE OR REPLACE VIEW v AS SELECT 1",
        "DROP VIEW IF EXISTS v",
        "CREATE DEFINER=`root`@`localhost` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.b = 1",
        "GRANT SELECT ON db.* TO 'u'@'%'",
        "REVOKE ALL ON *.* FROM u",
        "CREATE USER 'u'@'%' IDENTIFIED BY 'p'",
        "ANALYZE TABLE t",
        "OPTIMIZE TABLE t",
        "FLUSH TABLES",
        "CREATE TEMPORARY TABLE tmp (x INT)",
        "ALTER TABLE other.t ADD COLUMN x INT",
        "CREATE TABLE other.x (a INT)",
        "DROP TABLE other.x",
        "ALTER TABLE other.t FROBNICATE",
        "CREATE PROCEDURE p() BEGIN END",
        "ALTER TABLE t STATS_PERSISTENT=1, ORDER BY a",
    ] {
        h.ignored(sql);
    }
}

#[test]
fn what_cannot_be_understood_fails_loudly() {
    let mut h = with_t(false);
    for (sql, why) in [
        ("ALTER TABLE t FROBNICATE a", "not understood"),
        ("ALTER TABLE t ADD COLUMN x GEOGRAPHY", "not known"),
        ("ALTER TABLE t ADD COLUMN x INT, FROBNICATE", "not understood"),
        ("ALTER TABLE t ADD COLUMN (x INT", "unbalanced"),
        ("ALTER TABLE nosuch ADD COLUMN x INT", "not in the history"),
        ("ALTER TABLE t DROP COLUMN nosuch", "not in"),
        ("ALTER TABLE t ADD COLUMN a INT", "already exists"),
        ("ALTER TABLE t ADD COLUMN x INT AFTER nosuch", "no such column"),
        ("RENAME TABLE nosuch TO t7", "not in the history"),
        ("FROBNICATE TABLE t", "not known"),
        ("CREATE WIDGET w", "not known"),
        ("ALTER TABLE `t", "unterminated"),
        ("ALTER TABLE t ADD PRIMARY KEY ((a + 1))", "expression"),
        // The list is cut short by the error: it may name a captured table further on.
        ("RENAME TABLE other.a TO other.b, FROB", "TO"),
        ("DROP TABLE other.a, db.", "name was expected"),
    ] {
        let e = h.fails(sql);
        assert!(e.contains(why), "{sql}: {e}");
        assert!(e.contains("binlog.000001:"), "the error names the position: {e}");
    }
    // An unqualified name without a default database.
    let e = h.h.apply(&BinlogPosition::new("binlog.000002", 4), "", "ALTER TABLE t ADD x INT").unwrap_err();
    assert!(e.to_string().contains("no default database"), "{e}");
}

#[test]
fn a_statement_at_or_before_the_history_position_is_not_applied_twice() {
    let mut h = with_t(false);
    let at = BinlogPosition::new("binlog.000001", h.pos);
    assert!(matches!(h.h.apply(&at, "db", "ALTER TABLE t ADD z INT").unwrap(), DdlOutcome::Ignored(_)));
    assert_eq!(h.cols("t").len(), 3);
}

#[test]
fn lower_case_table_names_fold_table_names() {
    let config = HistoryConfig { databases: vec!["DB".into()], mariadb: false, lower_case_table_names: true };
    let state = SchemaState { server_charset: Some("utf8mb4".into()), ..Default::default() };
    let mut h = SchemaHistory::new(config, BinlogPosition::new("mysql-bin.000001", 4), state);
    h.apply(&BinlogPosition::new("mysql-bin.000001", 500), "Db", "CREATE TABLE Orders (ID INT)").unwrap();
    assert!(h.table("db", "orders").is_some());
    assert!(h.table("DB", "ORDERS").is_some());
}

#[test]
fn records_replay_to_the_same_state() {
    let mut h = with_t(false);
    let mut records = vec![];
    let seed = H::new(false).h.snapshot_record();
    records.push(seed);
    for sql in [
        "CREATE TABLE t (id INT UNSIGNED NOT NULL, a VARCHAR(10), b INT, PRIMARY KEY (id))",
        "ALTER TABLE t ADD c INT FIRST",
        "RENAME TABLE t TO t2",
        "CREATE TABLE t3 AS SELECT 1",
    ] {
        h.pos += 100;
        let pos = BinlogPosition::new("binlog.000001", h.pos);
        match h.h.apply(&pos, "db", sql).unwrap() {
            DdlOutcome::Changed { record, .. } | DdlOutcome::RefreshNeeded { record, .. } => records.push(record),
            DdlOutcome::Ignored(r) => panic!("{sql}: {r}"),
        }
    }
    let config = h.h.config().clone();
    let end = BinlogPosition::new("binlog.000002", 4);
    let replayed = SchemaHistory::schema_at(&config, &records, &end).unwrap().unwrap();
    assert_eq!(replayed.state(), h.h.state());
    // Cut back before the rename: t exists, t2 does not.
    let before_rename = BinlogPosition::new("binlog.000001", records[2].position.pos);
    let cut = SchemaHistory::schema_at(&config, &records, &before_rename).unwrap().unwrap();
    assert!(cut.table("db", "t").is_some() && cut.table("db", "t2").is_none());
    assert_eq!(cut.table("db", "t").unwrap().columns[0].name, "c");
    // Before the seed there is nothing.
    assert!(SchemaHistory::schema_at(&config, &records, &BinlogPosition::new("binlog.000000", 4)).unwrap().is_none());
}

#[test]
fn mysql_8_forms() {
    let mut h = H::new(false);
    h.changed(
        "CREATE TABLE `m` (\n  `id` int NOT NULL AUTO_INCREMENT,\n  `h` int NOT NULL /*!80023 INVISIBLE */,\n  \
         `g` point NOT NULL /*!80003 SRID 4326 */,\n  `j` json DEFAULT NULL,\n  `v` varchar(10) GENERATED ALWAYS AS \
         (concat(`id`,_utf8mb4'x')) VIRTUAL,\n  PRIMARY KEY (`id`) USING BTREE\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 \
         COLLATE=utf8mb4_0900_ai_ci /*!80016 DEFAULT ENCRYPTION='N' */",
    );
    assert_eq!(h.cols("m"), ["id:int", "h:int", "g:point", "j:json", "v:varchar(10):utf8mb4"]);
    h.changed("ALTER TABLE m ADD COLUMN c INT UNSIGNED DEFAULT (42), ALGORITHM=INSTANT");
    h.changed("ALTER TABLE m RENAME COLUMN c TO d, RENAME INDEX a TO b, ALTER COLUMN h SET VISIBLE");
    assert_eq!(h.cols("m")[5], "d:int unsigned");
    h.ignored("ALTER TABLE m ALTER CHECK c1 NOT ENFORCED, DROP CHECK c2, ADD CONSTRAINT c3 CHECK (d > 0)");
}

#[test]
fn oceanbase_binlog_service_forms() {
    // etransfer-converted (MySQL syntax, display widths, backticks) and pass-through OceanBase
    // text with its table options; `lower_case_table_names=1` tenants.
    let config = HistoryConfig { databases: vec!["test".into()], mariadb: false, lower_case_table_names: true };
    let state = SchemaState { server_charset: Some("utf8mb4".into()), ..Default::default() };
    let mut h = SchemaHistory::new(config, BinlogPosition::new("mysql-bin.000001", 4), state);
    let mut at = 100;
    let mut apply = |sql: &str| {
        at += 100;
        h.apply(&BinlogPosition::new("mysql-bin.000001", at), "test", sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    apply(
        "CREATE TABLE `T1` (`ID` bigint(20) NOT NULL, `NAME` varchar(64) DEFAULT NULL, PRIMARY KEY (`ID`)) \
         DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin COMPRESSION = 'lz4_1.0' REPLICA_NUM = 1 BLOCK_SIZE = 16384 \
         USE_BLOOM_FILTER = FALSE TABLET_SIZE = 134217728 PCTFREE = 0",
    );
    apply("ALTER TABLE `t1` ADD COLUMN `AGE` int(11) NULL AFTER `ID`");
    apply("alter table t1 modify column NAME varchar(128) collate utf8mb4_general_ci");
    apply("ALTER TABLE t1 RENAME COLUMN AGE TO YEARS");
    assert!(matches!(apply("ALTER TABLE t1 SET REPLICA_NUM = 3"), DdlOutcome::Ignored(_)));
    let def = h.table("TEST", "t1").unwrap();
    let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ID", "YEARS", "NAME"]);
    assert_eq!(def.columns[2].length, Some(128));
    // Tenant-level DDL arrives with an empty database.
    assert!(matches!(
        h.apply(&BinlogPosition::new("mysql-bin.000001", 9000), "", "CREATE DATABASE other"),
        Ok(DdlOutcome::Ignored(_))
    ));
}
