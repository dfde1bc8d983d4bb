//! Property test of the schema history against a real MariaDB: random sequences of supported
//! ALTER TABLE statements run on the server and are applied to a history seeded from the
//! server's `information_schema`; after every statement the history's table equals a fresh
//! capture of it (column names and order, data and column types, unsigned, character sets,
//! ENUM/SET labels, lengths, precision/scale/fsp, nullability, primary key). Statements the
//! server refuses are not applied (they never reach the binlog). After every statement a row
//! is inserted and deleted, and the TABLE_MAPs the server writes for them (read from a real
//! binlog stream) must pass [`check_table_map`] against the history. Each sequence comes from a
//! seeded RNG; a failure prints the seed and the statements so far.

use std::time::Duration;

use cdc_core::position::BinlogPosition;
use cdc_core::schema_history::capture::capture;
use cdc_core::schema_history::history::{DdlOutcome, HistoryConfig, SchemaHistory};
use cdc_core::schema_history::{check_table_map, TableId};
use cdc_tests::mariadb::{server, unique_server_id, REPL_PASSWORD, REPL_USER};
use futures_util::StreamExt;
use mysql_async::binlog::events::TableMapEvent;
use mysql_async::prelude::*;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TYPES: &[&str] = &[
    "INT",
    "INT UNSIGNED",
    "INT(5) ZEROFILL",
    "BIGINT",
    "TINYINT UNSIGNED",
    "SMALLINT",
    "MEDIUMINT UNSIGNED",
    "DECIMAL(10,2)",
    "DECIMAL(5)",
    "NUMERIC(12,4) UNSIGNED",
    "DOUBLE",
    "FLOAT",
    "FLOAT(7,3)",
    "VARCHAR(10)",
    "VARCHAR(40) CHARACTER SET latin1",
    "VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    "VARCHAR(12) COLLATE utf8mb3_general_ci",
    "CHAR(3)",
    "CHAR(5) BINARY",
    "TEXT",
    "TINYTEXT CHARACTER SET latin1",
    "MEDIUMTEXT",
    "BLOB",
    "VARBINARY(16)",
    "BINARY(4)",
    "DATETIME(3)",
    "DATETIME",
    "TIMESTAMP(6) NULL",
    "TIME(2)",
    "DATE",
    "YEAR",
    "BIT(5)",
    "ENUM('a','b')",
    "ENUM('a','b','c')",
    "ENUM('b','it''s')",
    "SET('x','y','z')",
    "SET('y')",
    "JSON",
];

/// Types a primary key column may have (no BLOB/TEXT, which need a prefix length).
fn keyable(column_type: &str) -> bool {
    !column_type.contains("text") && !column_type.contains("blob") && !column_type.starts_with("json")
}

struct Gen {
    rng: StdRng,
    next_name: u32,
}

impl Gen {
    fn name(&mut self) -> String {
        self.next_name += 1;
        if self.rng.gen_bool(0.2) {
            format!("`Col {}`", self.next_name)
        } else {
            format!("c{}", self.next_name)
        }
    }

    fn ty(&mut self) -> String {
        let t = TYPES[self.rng.gen_range(0..TYPES.len())].to_string();
        match self.rng.gen_range(0..4) {
            0 if !t.ends_with("NULL") => format!("{t} NOT NULL"),
            1 if !t.ends_with("NULL") => format!("{t} NULL"),
            _ => t,
        }
    }

    fn position(&mut self, cols: &[String]) -> String {
        match self.rng.gen_range(0..4) {
            0 => " FIRST".into(),
            1 => format!(" AFTER `{}`", cols[self.rng.gen_range(0..cols.len())]),
            _ => String::new(),
        }
    }

    /// One clause valid (most of the time) for a table with columns `cols`.
    fn clause(&mut self, cols: &[String], types: &[String], has_pk: bool) -> String {
        let pick = |g: &mut Gen| format!("`{}`", cols[g.rng.gen_range(0..cols.len())]);
        match self.rng.gen_range(0..11) {
            0 | 1 => {
                let (n, t, p) = (self.name(), self.ty(), self.position(cols));
                format!("ADD COLUMN {n} {t}{p}")
            }
            2 if cols.len() > 2 => format!("DROP COLUMN {}", pick(self)),
            3 => {
                let (c, t, p) = (pick(self), self.ty(), self.position(cols));
                format!("MODIFY {c} {t}{p}")
            }
            4 => {
                let (c, n, t, p) = (pick(self), self.name(), self.ty(), self.position(cols));
                format!("CHANGE COLUMN {c} {n} {t}{p}")
            }
            5 => {
                let (c, n) = (pick(self), self.name());
                format!("RENAME COLUMN {c} TO {n}")
            }
            6 if has_pk => "DROP PRIMARY KEY".into(),
            6 | 7 => {
                let keyed: Vec<&String> = cols.iter().zip(types).filter(|(_, t)| keyable(t)).map(|(c, _)| c).collect();
                if keyed.is_empty() {
                    return "COMMENT = 'no key column'".into();
                }
                let a = keyed[self.rng.gen_range(0..keyed.len())];
                let drop = if has_pk { "DROP PRIMARY KEY, " } else { "" };
                format!("{drop}ADD PRIMARY KEY (`{a}`)")
            }
            8 => {
                let cs = ["latin1", "utf8mb4", "utf8mb3"][self.rng.gen_range(0..3)];
                format!("CONVERT TO CHARACTER SET {cs}")
            }
            9 => {
                let cs = ["latin1", "utf8mb4"][self.rng.gen_range(0..2)];
                format!("DEFAULT CHARSET = {cs}")
            }
            _ => "ADD INDEX (`id`), ALGORITHM = COPY".into(),
        }
    }
}

/// Reads the binlog until `n` TABLE_MAPs of `db`.t have arrived, checking each against the
/// history's schema of the table. Returns how many of them the table's schema before the last
/// ALTER (`before`) would have failed (the check must tell schemas apart).
async fn check_table_maps(
    stream: &mut BinlogStream,
    h: &SchemaHistory,
    before: &cdc_core::schema_history::TableDef,
    db: &str,
    n: usize,
    log: &str,
) -> usize {
    let mut stale_rejected = 0;
    let id = TableId::new(db, "t");
    let def = h.table(db, "t").expect("table t");
    let mut seen = 0;
    while seen < n {
        let ev = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("a binlog event within 20 s")
            .expect("the stream goes on")
            .expect("a binlog event");
        if ev.header().event_type_raw() != 19 {
            continue;
        }
        let tme: TableMapEvent<'_> = ev.read_event().expect("TABLE_MAP");
        if tme.database_name() != db || tme.table_name() != "t" {
            continue;
        }
        check_table_map(&id, def, &tme).unwrap_or_else(|e| panic!("{e}\nafter:\n{log}"));
        stale_rejected += usize::from(check_table_map(&id, before, &tme).is_err());
        seen += 1;
    }
    stale_rejected
}

async fn check_equal(c: &mut mysql_async::Conn, config: &HistoryConfig, h: &SchemaHistory, db: &str, log: &str) {
    let state = capture(c, config).await.expect("capture");
    let server = state.tables.get(&cdc_core::schema_history::model::TableId::new(db, "t"));
    assert_eq!(server, h.table(db, "t"), "history differs from information_schema after:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_alters_match_information_schema() {
    let srv = server().await;
    let db = srv.fresh_schema("schist").await;
    let mut c = srv.admin_conn().await;
    let (file, start): (String, u64) = c
        .query_first("SHOW MASTER STATUS")
        .await
        .unwrap()
        .map(|r: mysql_async::Row| (r.get(0).unwrap(), r.get(1).unwrap()))
        .unwrap();
    let repl = mysql_async::Conn::new(srv.opts(REPL_USER, REPL_PASSWORD)).await.expect("replication connection");
    let request = BinlogStreamRequest::new(unique_server_id()).with_filename(file.as_bytes()).with_pos(start);
    let mut stream = repl.get_binlog_stream(request).await.expect("binlog stream");
    let mut checked_maps = 0;
    let mut stale_rejected = 0;
    let config = HistoryConfig { databases: vec![db.clone()], mariadb: true, lower_case_table_names: false };
    let mut pos = 4u64;
    let mut applied = 0;
    let mut refused = 0;
    for seed in 0..12u64 {
        c.query_drop(format!("DROP TABLE IF EXISTS `{db}`.t")).await.unwrap();
        let state = capture(&mut c, &config).await.expect("capture");
        let mut h = SchemaHistory::new(config.clone(), BinlogPosition::new("binlog.000001", pos), state);
        let create = "CREATE TABLE t (id INT NOT NULL, a VARCHAR(10), b INT, PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4";
        let mut log = format!("seed {seed}:\n{create}\n");
        c.query_drop(format!("USE `{db}`")).await.unwrap();
        c.query_drop(create).await.unwrap();
        pos += 100;
        h.apply(&BinlogPosition::new("binlog.000001", pos), &db, create).unwrap();
        check_equal(&mut c, &config, &h, &db, &log).await;
        let mut g = Gen { rng: StdRng::seed_from_u64(seed), next_name: 0 };
        for _ in 0..14 {
            let def = h.table(&db, "t").expect("table t").clone();
            let cols: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
            let types: Vec<String> = def.columns.iter().map(|c| c.column_type.clone()).collect();
            let n = g.rng.gen_range(1..=3);
            let clauses: Vec<String> = (0..n).map(|_| g.clause(&cols, &types, !def.primary_key.is_empty())).collect();
            let sql = format!("ALTER TABLE t {}", clauses.join(", "));
            if let Err(e) = c.query_drop(&sql).await {
                refused += 1;
                log.push_str(&format!("-- refused by the server ({e}): {sql}\n"));
                continue;
            }
            log.push_str(&sql);
            log.push('\n');
            pos += 100;
            let out = h
                .apply(&BinlogPosition::new("binlog.000001", pos), &db, &sql)
                .unwrap_or_else(|e| panic!("history refused what the server accepted: {e}\n{log}"));
            assert!(!matches!(out, DdlOutcome::RefreshNeeded { .. }), "{log}");
            applied += 1;
            check_equal(&mut c, &config, &h, &db, &log).await;
            // A row in and out: its TABLE_MAPs must match the history.
            c.query_drop("INSERT IGNORE INTO t () VALUES ()").await.unwrap();
            if c.affected_rows() == 1 {
                c.query_drop("DELETE FROM t").await.unwrap();
                stale_rejected += check_table_maps(&mut stream, &h, &def, &db, 2, &log).await;
                checked_maps += 2;
            }
        }
    }
    eprintln!("{applied} ALTER statements applied, {refused} refused by the server, {checked_maps} TABLE_MAPs checked");
    eprintln!("{stale_rejected} of them were rejected against the schema before their ALTER");
    assert!(stale_rejected > checked_maps / 4, "the check tells schemas apart ({stale_rejected} of {checked_maps})");
    assert!(checked_maps > applied, "most statements are followed by checked TABLE_MAPs ({checked_maps})");
    assert!(applied > refused, "most generated statements must be valid ({applied} applied, {refused} refused)");
}

/// CREATE TABLE forms (as dumps, ORMs and online schema-change tools write them), CREATE TABLE
/// … LIKE and renames, run on the server and applied to the history: every table equals its
/// `information_schema` capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_like_and_rename_match_information_schema() {
    let srv = server().await;
    let db = srv.fresh_schema("schcreate").await;
    let mut c = srv.admin_conn().await;
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    let config = HistoryConfig { databases: vec![db.clone()], mariadb: true, lower_case_table_names: false };
    let state = capture(&mut c, &config).await.expect("capture");
    let mut h = SchemaHistory::new(config.clone(), BinlogPosition::new("binlog.000001", 4), state);
    let statements = [
        "CREATE TABLE a (\n  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT COMMENT 'k, ey',\n  `e` enum('x','y''z') \
         CHARACTER SET latin1 DEFAULT 'x',\n  `d` decimal(12,2) DEFAULT NULL,\n  `ts` timestamp(6) NOT NULL DEFAULT \
         CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),\n  `v` varchar(32) COLLATE utf8mb4_bin NOT NULL,\n  \
         PRIMARY KEY (`id`),\n  KEY `uk` (`v`(8)),\n  KEY `k` (`d`,`ts`),\n  CONSTRAINT `c1` CHECK (`d` > 0)\n) \
         ENGINE=InnoDB AUTO_INCREMENT=10 DEFAULT CHARSET=utf8mb3 ROW_FORMAT=DYNAMIC COMMENT='x'\n/*!50100 PARTITION BY \
         HASH (`id`) PARTITIONS 4 */",
        "CREATE TABLE b (a TEXT, b CHAR(2) BINARY, c VARBINARY(3), d JSON, e SET('p','q') NOT NULL, f BIT(3), \
         g YEAR, h TIME(4), i FLOAT(6,2) UNSIGNED, j DOUBLE PRECISION, k NUMERIC, l BOOL, m SERIAL, n TINYBLOB, \
         o MEDIUMINT(8) ZEROFILL, p NATIONAL VARCHAR(4), q LONGTEXT CHARSET latin1, r INT KEY)",
        "CREATE TABLE IF NOT EXISTS c (x INT, y INT, PRIMARY KEY (y, x)) CHARACTER SET = latin1",
        "CREATE TABLE /* gh-ost */ `_c_gho` LIKE `c`",
        "ALTER TABLE /* gh-ost */ `_c_gho` ADD COLUMN z VARCHAR(5) AFTER x, ALGORITHM=INPLACE",
        "RENAME /* gh-ost */ TABLE `c` TO `_c_del`, `_c_gho` TO `c`",
        "CREATE OR REPLACE TABLE b (only_one INT UNSIGNED NOT NULL PRIMARY KEY)",
        "ALTER TABLE a RENAME TO a2, ADD COLUMN w TINYTEXT FIRST",
        "DROP TABLE IF EXISTS `_c_del`",
        "TRUNCATE TABLE a2",
        "CREATE INDEX ix ON a2 (d)",
    ];
    let mut log = String::new();
    for (i, sql) in statements.iter().enumerate() {
        c.query_drop(*sql).await.unwrap_or_else(|e| panic!("the server refused {sql}: {e}"));
        log.push_str(sql);
        log.push('\n');
        h.apply(&BinlogPosition::new("binlog.000001", 100 + i as u64 * 100), &db, sql)
            .unwrap_or_else(|e| panic!("{e}\n{log}"));
        let server = capture(&mut c, &config).await.expect("capture");
        assert_eq!(&server.tables, &h.state().tables, "after:\n{log}");
    }
    let names: Vec<String> = h.state().tables.keys().map(|t| t.table.clone()).collect();
    assert_eq!(names, ["a2", "b", "c"]);
}
