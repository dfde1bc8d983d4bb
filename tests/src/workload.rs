//! A seeded, reproducible write workload for the reliability tests: five tables covering the
//! event contract's types (signed/unsigned integers, DECIMAL, FLOAT/DOUBLE, DATE, DATETIME(p),
//! TIMESTAMP(p), TIME(p), YEAR, VARCHAR/TEXT utf8mb4 with emoji and CJK, CHAR utf8mb4 wider than
//! 255 bytes, CHAR/VARCHAR latin1, BINARY(n)/VARBINARY/every BLOB size with random bytes — runs of
//! 0x00 and 0xFF, invalid UTF-8, trailing zeros — a VARBINARY primary-key column, ENUM/SET with
//! quotes, commas and backslashes in their labels, BIT, JSON, NULLs), written as random
//! transactions of inserts, updates (some changing the primary key), deletes, of varying size,
//! some rolled back, optionally with a 100 k-row transaction and 1 MB rows, at a set rate.
//!
//! Reproducibility: every SQL statement a worker sends is a function of `(seed, worker)` only
//! (the interleaving of concurrent workers, deadlock retries and reconnects are not). The seed
//! comes from `CDC_WORKLOAD_SEED` when set ([`seed_from_env`]) and is printed by [`SeedGuard`]
//! when a test panics. Like an application, a transaction InnoDB rolls back on a deadlock (error
//! 1213) or a lock wait timeout (1205) is retried whole; a lost connection (server restarted,
//! connection killed) is re-opened and the workload goes on (the verifier compares the final
//! database state, so a transaction whose COMMIT outcome is unknown does not matter).

use std::fmt::Write as _;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::mariadb::TestServer;

/// A table of the workload: its name and primary-key columns.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    /// Table name (in the workload's schema).
    pub name: &'static str,
    /// Primary-key columns, in key order.
    pub key: &'static [&'static str],
    /// `CREATE TABLE` body after the name.
    ddl: &'static str,
}

/// The workload's tables.
pub const TABLES: [TableDef; 5] = [
    TableDef {
        name: "w_nums",
        key: &["id"],
        ddl: "(id BIGINT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, \
              mi MEDIUMINT UNSIGNED, i INT, bu BIGINT UNSIGNED, d DECIMAL(20,6), f FLOAT, dbl DOUBLE, \
              bt BIT(13), y YEAR) CHARSET utf8mb4",
    },
    TableDef {
        name: "w_time",
        key: &["id"],
        ddl: "(id INT UNSIGNED PRIMARY KEY, dt DATE, dtm DATETIME(3), dtm0 DATETIME, \
              ts TIMESTAMP(6) NULL DEFAULT NULL, tm TIME(2)) CHARSET utf8mb4",
    },
    TableDef {
        name: "w_text",
        key: &["a", "b"],
        ddl: "(a INT NOT NULL, b VARCHAR(8) NOT NULL, v VARCHAR(100), t TEXT, e ENUM('red','green','blue'), \
              s SET('a','b','c','d'), j JSON, bin BINARY(4), vb VARBINARY(16), bl MEDIUMBLOB, PRIMARY KEY (a, b)) \
              CHARSET utf8mb4",
    },
    TableDef {
        name: "w_bin",
        key: &["id", "k"],
        ddl: "(id INT NOT NULL, k VARBINARY(4) NOT NULL, b1 BINARY(1), b20 BINARY(20), vb VARBINARY(300), \
              tb TINYBLOB, bb BLOB, lb LONGBLOB, c70 CHAR(70), cl CHAR(10) CHARACTER SET latin1, \
              vl VARCHAR(20) CHARACTER SET latin1, tt TINYTEXT, e ENUM('x','y''z','a,b','b\\\\s'), \
              st SET('p','q''r','s t','u\\\\v'), PRIMARY KEY (id, k)) CHARSET utf8mb4",
    },
    TableDef {
        name: "w_bulk",
        key: &["id"],
        ddl: "(id BIGINT PRIMARY KEY, n INT NOT NULL, s VARCHAR(32)) CHARSET utf8mb4",
    },
];

/// Creates the workload's tables in `schema`.
pub async fn create_tables(conn: &mut mysql_async::Conn, schema: &str) {
    for t in TABLES {
        conn.query_drop(format!("CREATE TABLE `{schema}`.`{}` {}", t.name, t.ddl))
            .await
            .unwrap_or_else(|e| panic!("create {}: {e}", t.name));
    }
}

/// The seed of a run: `CDC_WORKLOAD_SEED` when set, else random. Printed either way.
pub fn seed_from_env() -> u64 {
    let seed =
        std::env::var("CDC_WORKLOAD_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or_else(rand::random::<u64>);
    eprintln!("workload seed: {seed} (CDC_WORKLOAD_SEED={seed} reproduces the statements)");
    seed
}

/// Prints the seed again when the test holding it panics (so it is next to the failure).
#[derive(Debug)]
pub struct SeedGuard(pub u64);

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("FAILED with workload seed {0}: rerun with CDC_WORKLOAD_SEED={0}", self.0);
        }
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Seed of the statement generator.
    pub seed: u64,
    /// Schema holding [`TABLES`].
    pub schema: String,
    /// Concurrent writer connections (each with its own generator, seed + worker index).
    pub workers: usize,
    /// Transactions per second per worker (0 = as fast as possible).
    pub txn_per_sec: f64,
    /// Largest number of statements in one transaction (at least 1).
    pub max_statements: usize,
    /// Fraction of transactions that end with ROLLBACK (0..1).
    pub rollback_fraction: f64,
    /// Keys per table (small = many updates and deletes of the same keys, more deadlocks).
    pub key_space: i64,
    /// Stop after this many transactions per worker (None: until cancelled).
    pub max_txns: Option<u64>,
    /// When set, worker 0 writes one transaction of this many `w_bulk` rows first.
    pub big_txn_rows: Option<usize>,
    /// Probability that a `w_text` insert carries a 1 MB BLOB (0 = never).
    pub big_row_fraction: f64,
}

impl WorkloadConfig {
    /// Defaults for a short run: 2 workers, 20 txn/s each, up to 12 statements, 10 % rollbacks,
    /// 200 keys, no large transaction, 1 % of `w_text` inserts with a 1 MB BLOB.
    pub fn new(seed: u64, schema: impl Into<String>) -> Self {
        Self {
            seed,
            schema: schema.into(),
            workers: 2,
            txn_per_sec: 20.0,
            max_statements: 12,
            rollback_fraction: 0.1,
            key_space: 200,
            max_txns: None,
            big_txn_rows: None,
            big_row_fraction: 0.01,
        }
    }

    /// [`WorkloadConfig::new`] for a burst that fills the tables: `txns` transactions per
    /// worker, as fast as they go, no 1 MB BLOBs.
    pub fn burst(seed: u64, schema: impl Into<String>, txns: u64) -> Self {
        Self { txn_per_sec: 0.0, max_txns: Some(txns), big_row_fraction: 0.0, ..Self::new(seed, schema) }
    }
}

/// What a workload did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkloadStats {
    /// Transactions committed (COMMIT answered OK).
    pub committed: u64,
    /// Transactions rolled back on purpose.
    pub rolled_back: u64,
    /// Transactions retried after a deadlock or lock wait timeout.
    pub deadlock_retries: u64,
    /// Transactions whose connection was lost (outcome unknown; re-connected).
    pub connection_losses: u64,
    /// Statements sent (including retried ones).
    pub statements: u64,
}

impl WorkloadStats {
    fn add(&mut self, o: &WorkloadStats) {
        self.committed += o.committed;
        self.rolled_back += o.rolled_back;
        self.deadlock_retries += o.deadlock_retries;
        self.connection_losses += o.connection_losses;
        self.statements += o.statements;
    }
}

/// Generates the statements of one worker.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    key_space: i64,
    big_row_fraction: f64,
}

const CHARS: &[&str] = &["a", "Z", "0", " ", "é", "ß", "李", "雷", "日本", "😀", "🚀", "'", "\\", "\"", "\n", "%", "_"];
const KEY_B: &[&str] = &["a", "b", "日本", "😀"];
/// Values of `w_bin.k` (a VARBINARY key column): empty, NUL, 0xFF, a lone UTF-8 lead byte, a
/// truncated 3-byte sequence, bytes that are valid UTF-8 by chance.
const KEY_K: &[&[u8]] = &[b"", b"\0", b"\xff", b"\xc3", b"\x00\xff\x00", b"\xe2\x9c", b"ab"];
/// Characters latin1 holds (no 0x80–0x9F: MySQL's latin1 is cp1252 there).
const LATIN1_CHARS: &[&str] = &["a", "Z", "0", " ", "é", "ß", "ÿ", "'", "\\", "\n"];

fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(3 + b.len() * 2);
    s.push_str("X'");
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s.push('\'');
    s
}

impl Generator {
    /// A generator for `(seed, worker)`.
    pub fn new(seed: u64, worker: usize, key_space: i64, big_row_fraction: f64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed.wrapping_add(worker as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            key_space: key_space.max(2),
            big_row_fraction,
        }
    }

    fn null_or(&mut self, v: String) -> String {
        if self.rng.gen_bool(0.1) {
            "NULL".into()
        } else {
            v
        }
    }

    fn text(&mut self, max_chars: usize) -> String {
        let n = self.rng.gen_range(0..=max_chars);
        let mut s = String::new();
        let mut chars = 0;
        while chars < n {
            let c = CHARS[self.rng.gen_range(0..CHARS.len())];
            chars += c.chars().count();
            if chars > max_chars {
                break;
            }
            s.push_str(c);
        }
        s
    }

    /// `n` bytes for a binary column, in one of several shapes: uniformly random, a run of 0x00,
    /// a run of 0xFF, invalid UTF-8 (lone continuation and lead bytes, surrogates, 0xF8–0xFF),
    /// or random bytes ending in 0x00s (which BINARY(n) pads with and the binlog strips).
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let r = &mut self.rng;
        match r.gen_range(0..5) {
            0 => vec![0; n],
            1 => vec![0xff; n],
            2 => {
                const BAD: &[&[u8]] = &[b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88", b"\xff\xfe", b"\xe2\x82"];
                let mut v = Vec::with_capacity(n + 3);
                while v.len() < n {
                    v.extend_from_slice(BAD[r.gen_range(0..BAD.len())]);
                }
                v.truncate(n);
                v
            }
            3 => {
                let zeros = r.gen_range(0..=n);
                (0..n).map(|i| if i + zeros >= n { 0 } else { r.gen() }).collect()
            }
            _ => (0..n).map(|_| r.gen()).collect(),
        }
    }

    fn latin1_text(&mut self, max_chars: usize) -> String {
        let n = self.rng.gen_range(0..=max_chars);
        (0..n).map(|_| LATIN1_CHARS[self.rng.gen_range(0..LATIN1_CHARS.len())]).collect()
    }

    fn key(&mut self, table: &str) -> String {
        let k = self.rng.gen_range(1..=self.key_space);
        match table {
            "w_nums" => format!("id={}", if k % 5 == 0 { -k } else { k }),
            "w_text" => {
                format!("a={} AND b={}", k % (self.key_space / 4).max(1), sql_str(KEY_B[(k as usize) % KEY_B.len()]))
            }
            "w_bin" => {
                format!("id={} AND k={}", k % (self.key_space / 4).max(1), hex(KEY_K[(k as usize) % KEY_K.len()]))
            }
            _ => format!("id={k}"),
        }
    }

    /// `(column, SQL literal)` for every column of a new row of `table`, key included.
    fn row(&mut self, table: &str) -> Vec<(&'static str, String)> {
        let r = &mut self.rng;
        let k = r.gen_range(1..=self.key_space);
        match table {
            "w_nums" => {
                let mut v = vec![("id", if k % 5 == 0 { (-k).to_string() } else { k.to_string() })];
                let int_part: i64 = r.gen_range(-99_999_999_999_999..=99_999_999_999_999);
                let frac: u32 = r.gen_range(0..1_000_000);
                let dec =
                    if int_part == 0 && frac == 0 { "0.000000".to_string() } else { format!("{int_part}.{frac:06}") };
                let f: f32 =
                    if r.gen_bool(0.2) { r.gen_range(-100i32..100) as f32 / 4.0 } else { r.gen_range(-1e6f32..1e6) };
                let dbl: f64 = match r.gen_range(0..4) {
                    0 => r.gen_range(-1e-300..1e-300),
                    1 => r.gen_range(-1e300..1e300),
                    _ => r.gen_range(-1e9..1e9),
                };
                let bu: u64 = if r.gen_bool(0.1) { u64::MAX } else { r.gen() };
                v.extend([
                    ("ti", r.gen_range(-128i32..=127).to_string()),
                    ("tiu", r.gen_range(0u32..=255).to_string()),
                    ("si", r.gen_range(-32768i32..=32767).to_string()),
                    ("mi", r.gen_range(0u32..=16_777_215).to_string()),
                    ("i", r.gen::<i32>().to_string()),
                    ("bu", bu.to_string()),
                    ("d", dec),
                    ("f", format!("{f:e}")),
                    ("dbl", format!("{dbl:e}")),
                    ("bt", r.gen_range(0u32..8192).to_string()),
                    ("y", r.gen_range(1901u32..=2155).to_string()),
                ]);
                let v: Vec<_> =
                    v.into_iter().map(|(c, s)| if c == "id" { (c, s) } else { (c, self.null_or(s)) }).collect();
                v
            }
            "w_time" => {
                let day = |r: &mut StdRng| {
                    format!("{:04}-{:02}-{:02}", r.gen_range(1000..=9999), r.gen_range(1..=12), r.gen_range(1..=28))
                };
                let clock = |r: &mut StdRng| {
                    format!("{:02}:{:02}:{:02}", r.gen_range(0..24), r.gen_range(0..60), r.gen_range(0..60))
                };
                let dt = day(r);
                let dtm = format!("{} {}.{:03}", day(r), clock(r), r.gen_range(0..1000));
                let dtm0 = format!("{} {}", day(r), clock(r));
                let ts = format!(
                    "{:04}-{:02}-{:02} {}.{:06}",
                    r.gen_range(1971..=2037),
                    r.gen_range(1..=12),
                    r.gen_range(1..=28),
                    clock(r),
                    r.gen_range(0..1_000_000)
                );
                let tm = format!(
                    "{}{}:{:02}:{:02}.{:02}",
                    if r.gen_bool(0.3) { "-" } else { "" },
                    r.gen_range(0..=838),
                    r.gen_range(0..60),
                    r.gen_range(0..60),
                    r.gen_range(0..100)
                );
                let mut v = vec![("id", k.to_string())];
                for (c, s) in [("dt", dt), ("dtm", dtm), ("dtm0", dtm0), ("ts", ts), ("tm", tm)] {
                    let s = sql_str(&s);
                    v.push((c, self.null_or(s)));
                }
                v
            }
            "w_text" => {
                let a = k % (self.key_space / 4).max(1);
                let b = KEY_B[(k as usize) % KEY_B.len()];
                let big = self.big_row_fraction > 0.0 && self.rng.gen_bool(self.big_row_fraction);
                let v = self.text(100);
                let t = self.text(300);
                let e = ["red", "green", "blue"][self.rng.gen_range(0..3)];
                let set: Vec<&str> = ["a", "b", "c", "d"].into_iter().filter(|_| self.rng.gen_bool(0.5)).collect();
                let n: i64 = self.rng.gen_range(-1000..1000);
                let js = serde_json::json!({"n": n, "s": self.text(10), "a": [1, null, true], "f": 1.5}).to_string();
                let bin_len = self.rng.gen_range(0..=4);
                let bin = self.bytes(bin_len);
                let vb_len = self.rng.gen_range(0..=16);
                let vb = self.bytes(vb_len);
                let bl_len = if big { 1 << 20 } else { self.rng.gen_range(0..64) };
                let bl = self.bytes(bl_len);
                let mut out = vec![("a", a.to_string()), ("b", sql_str(b))];
                for (c, s) in [
                    ("v", sql_str(&v)),
                    ("t", sql_str(&t)),
                    ("e", sql_str(e)),
                    ("s", sql_str(&set.join(","))),
                    ("j", sql_str(&js)),
                    ("bin", hex(&bin)),
                    ("vb", hex(&vb)),
                    ("bl", hex(&bl)),
                ] {
                    out.push((c, self.null_or(s)));
                }
                out
            }
            "w_bin" => {
                let id = k % (self.key_space / 4).max(1);
                let key = KEY_K[(k as usize) % KEY_K.len()];
                let mut out = vec![("id", id.to_string()), ("k", hex(key))];
                // Lengths up to each column's width (BINARY(1), BINARY(20), VARBINARY(300),
                // TINYBLOB), a BLOB past 255 bytes, a small LONGBLOB.
                let lens = [1, 20, 300, 255, 600, 100].map(|max| self.rng.gen_range(0..=max));
                let [b1, b20, vb, tb, bb, lb] = lens.map(|n| self.bytes(n));
                let c70 = self.text(70);
                let cl = self.latin1_text(10);
                let vl = self.latin1_text(20);
                let tt = self.text(60);
                let e = ["x", "y'z", "a,b", "b\\s"][self.rng.gen_range(0..4)];
                let set: Vec<&str> =
                    ["p", "q'r", "s t", "u\\v"].into_iter().filter(|_| self.rng.gen_bool(0.5)).collect();
                for (c, s) in [
                    ("b1", hex(&b1)),
                    ("b20", hex(&b20)),
                    ("vb", hex(&vb)),
                    ("tb", hex(&tb)),
                    ("bb", hex(&bb)),
                    ("lb", hex(&lb)),
                    ("c70", sql_str(&c70)),
                    ("cl", sql_str(&cl)),
                    ("vl", sql_str(&vl)),
                    ("tt", sql_str(&tt)),
                    ("e", sql_str(e)),
                    ("st", sql_str(&set.join(","))),
                ] {
                    out.push((c, self.null_or(s)));
                }
                out
            }
            other => panic!("no row generator for {other}"),
        }
    }

    /// One random statement.
    fn statement(&mut self, schema: &str) -> String {
        let table = ["w_nums", "w_time", "w_text", "w_bin"][self.rng.gen_range(0..4)];
        let t = format!("`{schema}`.`{table}`");
        match self.rng.gen_range(0..100) {
            // Insert 1..4 rows; an existing key turns the row into an update.
            0..=44 => {
                let n = self.rng.gen_range(1..=4);
                let rows: Vec<Vec<(&str, String)>> = (0..n).map(|_| self.row(table)).collect();
                let cols: Vec<&str> = rows[0].iter().map(|(c, _)| *c).collect();
                let values: Vec<String> = rows
                    .iter()
                    .map(|r| format!("({})", r.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(",")))
                    .collect();
                let key = TABLES.iter().find(|d| d.name == table).expect("table").key;
                let upd: Vec<String> =
                    cols.iter().filter(|c| !key.contains(c)).map(|c| format!("{c}=VALUES({c})")).collect();
                format!(
                    "INSERT INTO {t} ({}) VALUES {} ON DUPLICATE KEY UPDATE {}",
                    cols.join(","),
                    values.join(","),
                    upd.join(",")
                )
            }
            // Update the non-key columns of one key.
            45..=69 => {
                let key = TABLES.iter().find(|d| d.name == table).expect("table").key;
                let sets: Vec<String> = self
                    .row(table)
                    .into_iter()
                    .filter(|(c, _)| !key.contains(c))
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect();
                let w = self.key(table);
                format!("UPDATE {t} SET {} WHERE {w}", sets.join(","))
            }
            // Change a primary key (IGNORE: a taken key skips the row).
            70..=79 => {
                let w = self.key(table);
                let new = self.rng.gen_range(1..=self.key_space);
                match table {
                    "w_text" => format!("UPDATE IGNORE {t} SET a={} WHERE {w}", new % (self.key_space / 4).max(1)),
                    "w_bin" => format!("UPDATE IGNORE {t} SET id={} WHERE {w}", new % (self.key_space / 4).max(1)),
                    "w_nums" => format!("UPDATE IGNORE {t} SET id={} WHERE {w}", if new % 5 == 0 { -new } else { new }),
                    _ => format!("UPDATE IGNORE {t} SET id={new} WHERE {w}"),
                }
            }
            // Delete one key.
            80..=94 => format!("DELETE FROM {t} WHERE {}", self.key(table)),
            // Several rows in one rows event.
            _ => {
                let lo = self.rng.gen_range(1..=self.key_space);
                let hi = lo + self.rng.gen_range(0..20);
                match table {
                    "w_text" => {
                        format!(
                            "UPDATE {t} SET v=CONCAT(LEFT(IFNULL(v,''),99),'+') WHERE a BETWEEN {} AND {}",
                            lo / 4,
                            hi / 4
                        )
                    }
                    "w_nums" => format!("UPDATE {t} SET i=IFNULL(i,0) DIV 2 WHERE id BETWEEN {lo} AND {hi}"),
                    "w_bin" => format!(
                        "UPDATE {t} SET vb=LEFT(CONCAT(X'ff00', IFNULL(vb, X'')), 300), b20=REVERSE(b20) \
                         WHERE id BETWEEN {} AND {}",
                        lo / 4,
                        hi / 4
                    ),
                    _ => format!("DELETE FROM {t} WHERE id BETWEEN {lo} AND {}", lo + 2),
                }
            }
        }
    }

    /// One transaction: its statements and whether it ends with ROLLBACK.
    pub fn transaction(&mut self, cfg: &WorkloadConfig) -> (Vec<String>, bool) {
        let n = self.rng.gen_range(1..=cfg.max_statements.max(1));
        let stmts = (0..n).map(|_| self.statement(&cfg.schema)).collect();
        (stmts, self.rng.gen_bool(cfg.rollback_fraction.clamp(0.0, 1.0)))
    }
}

fn is_retryable(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1213 || s.code == 1205)
}

fn is_connection_loss(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => true,
        // 1927 connection killed, 1053 server shutdown in progress, 2006/2013 gone away/lost.
        mysql_async::Error::Server(s) => matches!(s.code, 1927 | 1053 | 2006 | 2013 | 1317),
        _ => false,
    }
}

async fn connect(db: &TestServer, cancel: &CancellationToken) -> Option<mysql_async::Conn> {
    for attempt in 0..600u32 {
        if cancel.is_cancelled() && attempt > 0 {
            return None;
        }
        if let Ok(mut c) =
            mysql_async::Conn::new(db.opts(crate::mariadb::ADMIN_USER, crate::mariadb::ADMIN_PASSWORD)).await
        {
            if c.query_drop("SET NAMES utf8mb4, time_zone='+00:00', innodb_lock_wait_timeout=5").await.is_ok() {
                return Some(c);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("workload: no connection to {}:{} for 60 s", db.host, db.port);
}

/// Runs one transaction with retries; returns its outcome.
async fn run_txn(
    c: &mut mysql_async::Conn,
    stmts: &[String],
    rollback: bool,
    stats: &mut WorkloadStats,
) -> Result<(), mysql_async::Error> {
    for attempt in 0.. {
        let res: Result<(), mysql_async::Error> = async {
            c.query_drop("BEGIN").await?;
            for s in stmts {
                stats.statements += 1;
                c.query_drop(s.as_str()).await?;
            }
            c.query_drop(if rollback { "ROLLBACK" } else { "COMMIT" }).await
        }
        .await;
        match res {
            Ok(()) => {
                if rollback {
                    stats.rolled_back += 1;
                } else {
                    stats.committed += 1;
                }
                return Ok(());
            }
            Err(e) if is_retryable(&e) && attempt < 50 => {
                stats.deadlock_retries += 1;
                let _ = c.query_drop("ROLLBACK").await;
                tokio::time::sleep(Duration::from_millis(5 * (attempt + 1))).await;
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!()
}

async fn worker(db: TestServer, cfg: WorkloadConfig, index: usize, cancel: CancellationToken) -> WorkloadStats {
    let mut g = Generator::new(cfg.seed, index, cfg.key_space, cfg.big_row_fraction);
    let mut stats = WorkloadStats::default();
    let Some(mut c) = connect(&db, &cancel).await else { return stats };
    if index == 0 {
        if let Some(rows) = cfg.big_txn_rows {
            big_transaction(&mut c, &cfg.schema, rows).await.unwrap_or_else(|e| panic!("large transaction: {e}"));
            stats.committed += 1;
        }
    }
    let period = (cfg.txn_per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / cfg.txn_per_sec));
    let mut n = 0u64;
    while !cancel.is_cancelled() && cfg.max_txns.is_none_or(|m| n < m) {
        let started = tokio::time::Instant::now();
        let (stmts, rollback) = g.transaction(&cfg);
        n += 1;
        match run_txn(&mut c, &stmts, rollback, &mut stats).await {
            Ok(()) => {}
            Err(e) if is_connection_loss(&e) => {
                stats.connection_losses += 1;
                match connect(&db, &cancel).await {
                    Some(nc) => c = nc,
                    None => break,
                }
            }
            Err(e) => panic!("workload seed {} worker {index}: {e}\nstatements: {stmts:#?}", cfg.seed),
        }
        if let Some(p) = period {
            tokio::select! {
                _ = tokio::time::sleep_until(started + p) => {}
                _ = cancel.cancelled() => {}
            }
        }
    }
    stats
}

/// Writes one transaction of `rows` rows to `w_bulk` (multi-row INSERTs of 1000 rows; existing
/// keys are updated), on `conn`.
pub async fn big_transaction(
    conn: &mut mysql_async::Conn,
    schema: &str,
    rows: usize,
) -> Result<(), mysql_async::Error> {
    conn.query_drop("BEGIN").await?;
    let mut id = 0usize;
    while id < rows {
        let end = (id + 1000).min(rows);
        let values: Vec<String> = (id..end).map(|i| format!("({i},{i},'bulk row {i}')")).collect();
        conn.query_drop(format!(
            "INSERT INTO `{schema}`.w_bulk VALUES {} ON DUPLICATE KEY UPDATE n=n+1",
            values.join(",")
        ))
        .await?;
        id = end;
    }
    conn.query_drop("COMMIT").await
}

/// A running workload.
#[derive(Debug)]
pub struct Running {
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<WorkloadStats>>,
}

impl Running {
    /// Stops the workers (after their current transaction) and returns the summed stats.
    pub async fn stop(self) -> WorkloadStats {
        self.cancel.cancel();
        self.join().await
    }

    /// Waits for the workers to end by themselves (`max_txns`) and returns the summed stats.
    pub async fn join(self) -> WorkloadStats {
        let mut total = WorkloadStats::default();
        for t in self.tasks {
            total.add(&t.await.expect("workload worker panicked"));
        }
        total
    }
}

/// Starts `cfg.workers` writers against `db`.
pub fn start(db: &TestServer, cfg: &WorkloadConfig) -> Running {
    let cancel = CancellationToken::new();
    let tasks =
        (0..cfg.workers.max(1)).map(|i| tokio::spawn(worker(db.clone(), cfg.clone(), i, cancel.clone()))).collect();
    Running { cancel, tasks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_statements() {
        let cfg = WorkloadConfig::new(42, "s");
        let mut a = Generator::new(42, 1, 200, 0.0);
        let mut b = Generator::new(42, 1, 200, 0.0);
        for _ in 0..50 {
            assert_eq!(a.transaction(&cfg), b.transaction(&cfg));
        }
        let mut c = Generator::new(43, 1, 200, 0.0);
        assert_ne!(a.transaction(&cfg), c.transaction(&cfg));
    }
}
