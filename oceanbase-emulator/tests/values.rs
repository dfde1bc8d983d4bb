//! The value quirks (`src/values.rs`), each on and off: the bytes of the emulator's rows and
//! TABLE_MAPs differ from the upstream MariaDB's exactly as the quirk says, and with the quirk
//! off they are MariaDB's. Rows are decoded with mysql_common where they can be (not with the
//! emulator's code); a 0-byte ENUM value cannot be, so those images are read by hand.
//!
//! The tests run one at a time (a lock): each emulator converts the whole upstream, and the
//! shared reader decodes every rows event it sees, so another test's 0-byte ENUM row would
//! make it fail.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use mysql_async::BinlogStreamRequest;
use mysql_common::binlog::events::TableMapEvent;
use oceanbase_emulator::{Config, Emulator, Quirk};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn with(q: Quirk, on: bool) -> impl FnOnce(&mut Config) {
    move |c| {
        if on {
            c.quirks.insert(q);
        } else {
            c.quirks.remove(&q);
        }
    }
}

/// Creates `db`.t (`ddl`), runs `dml` (after `setup`) in one transaction on the upstream.
async fn write(ddl: &str, setup: &[&str], dml: &[&str]) -> String {
    let mut a = admin().await;
    let db = fresh_schema(&mut a, "obv").await;
    a.query_drop(format!("CREATE TABLE `{db}`.t ({ddl})")).await.unwrap();
    a.query_drop(format!("USE `{db}`")).await.unwrap();
    for s in setup {
        a.query_drop(*s).await.unwrap();
    }
    a.query_drop("BEGIN").await.unwrap();
    for s in dml {
        a.query_drop(*s).await.unwrap();
    }
    a.query_drop("COMMIT").await.unwrap();
    db
}

/// The TABLE_MAP metadata of `db`.t and the rows of `db` decoded by mysql_common, once `rows`
/// row changes arrived.
async fn decoded(emu: &Emulator, db: &str, rows: usize) -> (Vec<Vec<u8>>, Vec<Vec<String>>) {
    decoded_at(emu_opts(emu), db, rows).await
}

/// [`decoded`] from the emulator at `o`.
async fn decoded_at(o: mysql_async::Opts, db: &str, rows: usize) -> (Vec<Vec<u8>>, Vec<Vec<String>>) {
    let dbc = db.to_string();
    let (got, _) = read_stream(o, &[], "mysql-bin.000001", 4, Duration::from_secs(20), move |g| {
        row_changes(g, &dbc).len() >= rows
    })
    .await;
    let prefix = format!("{db}.");
    let tm = got
        .iter()
        .filter_map(|g| g.table_map.as_ref())
        .find(|t| t.1.starts_with(&prefix))
        .expect("a TABLE_MAP of the table")
        .clone();
    let changes = row_changes(&got, db);
    assert_eq!(changes.len(), rows, "rows arrived");
    (tm.4, changes.into_iter().map(|c| c.3.expect("inserts")).collect())
}

/// The raw after images of `db`'s single-row WRITE_ROWS events (null bitmap + values), read
/// without decoding the values.
async fn raw_images(emu: &Emulator, db: &str, rows: usize) -> Vec<Vec<u8>> {
    let conn = mysql_async::Conn::new(emu_opts(emu)).await.unwrap();
    let req = BinlogStreamRequest::new(rand::random::<u32>() % 1_000_000 + 10_000)
        .with_filename(b"mysql-bin.000001")
        .with_pos(4u64);
    let mut stream = conn.get_binlog_stream(req).await.unwrap();
    let mut ours = std::collections::HashSet::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < rows {
        let ev = tokio::time::timeout_at(deadline, stream.next()).await.expect("rows in time").unwrap().unwrap();
        match ev.header().event_type_raw() {
            19 => {
                let tme: TableMapEvent<'_> = ev.read_event().unwrap();
                if tme.database_name() == db {
                    ours.insert(tme.table_id());
                }
            }
            30 => {
                let d = ev.data();
                let table_id = d[..6].iter().rev().fold(0u64, |a, &x| a << 8 | u64::from(x));
                if ours.contains(&table_id) {
                    // table id 6, flags 2, extra-data length 2 (empty), width 1, present bitmap.
                    let width = usize::from(d[10]);
                    out.push(d[11 + width.div_ceil(8)..].to_vec());
                }
            }
            _ => {}
        }
    }
    out
}

/// `'p01','p02',…`: no label is a prefix of another (that is `set_prefix_match`'s case).
fn labels(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("'{prefix}{i:02}'")).collect::<Vec<_>>().join(",")
}

/// An image of columns `id INT` + `rest` (all non-NULL; unused null-bitmap bits 1, quirk
/// ones-padded-bitmaps).
fn image(cols: usize, id: u32, rest: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![0xffu8 << cols];
    v.extend(id.to_le_bytes());
    for r in rest {
        v.extend_from_slice(r);
    }
    v
}

#[tokio::test]
async fn set_short_bitmap() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(with(Quirk::SetShortBitmap, on)).await;
        let ddl = format!("id INT PRIMARY KEY, s40 SET({}), s20 SET({})", labels("m", 40), labels("k", 20));
        let db = write(&ddl, &[], &["INSERT INTO t VALUES (1, 'm01,m40', 'k01,k20')"]).await;
        // mysql_common decodes the row (it reads the length the metadata gives).
        let (meta, rows) = decoded(&emu, &db, 1).await;
        assert_eq!(rows[0][0], "int:1");
        // 40 members: (40 + 7) / 8 = 5 bytes where MariaDB writes 8; 20 members: 3 either way.
        let len40 = if on { 5 } else { 8 };
        assert_eq!(meta[1], vec![248, len40], "TABLE_MAP metadata of the 40-member SET");
        assert_eq!(meta[2], vec![248, 3], "TABLE_MAP metadata of the 20-member SET");
        let bits40 = [0x01, 0, 0, 0, 0x80, 0, 0, 0];
        let want = image(3, 1, &[&bits40[..usize::from(len40)], &[0x01, 0, 0x08]]);
        assert_eq!(raw_images(&emu, &db, 1).await, [want], "m01 and m40: bits 0 and 39; k01 and k20: 0 and 19");
    }
}

#[tokio::test]
async fn set_prefix_match() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(with(Quirk::SetPrefixMatch, on)).await;
        let db = write(
            "id INT PRIMARY KEY, s SET('a','ab','b')",
            &[],
            &["INSERT INTO t VALUES (1, 'ab'), (2, 'b'), (3, 'a,b')"],
        )
        .await;
        let images = raw_images(&emu, &db, 3).await;
        // 'ab' starts with 'a': the member 'a' is set too.
        let ab: &[u8] = if on { &[3] } else { &[2] };
        assert_eq!(images, [image(2, 1, &[ab]), image(2, 2, &[&[4]]), image(2, 3, &[&[5]])]);
    }
}

#[tokio::test]
async fn enum_prefix_match() {
    let _l = LOCK.lock().await;
    for on in [true, false] {
        let emu = emulator(with(Quirk::EnumPrefixMatch, on)).await;
        // sql_mode '' lets MariaDB store a value that is not a label as index 0 (its '' value).
        let db = write(
            "id INT PRIMARY KEY, e ENUM('a','ab','b'), n INT",
            &["SET SESSION sql_mode = ''"],
            &["INSERT INTO t VALUES (1, 'ab', 7), (2, 'b', 8), (3, 'zz', 9)"],
        )
        .await;
        let images = raw_images(&emu, &db, 3).await;
        let row = |id: u32, e: &[u8], n: u32| image(3, id, &[e, &n.to_le_bytes()]);
        if on {
            // 'ab' is written as 1 ('a' is its prefix); 'zz' (index 0) as no byte at all.
            assert_eq!(images, [row(1, &[1], 7), row(2, &[3], 8), row(3, &[], 9)]);
        } else {
            assert_eq!(images, [row(1, &[2], 7), row(2, &[3], 8), row(3, &[0], 9)]);
        }
    }
}

#[tokio::test]
async fn unsigned_bigint_atoll() {
    let _l = LOCK.lock().await;
    assert!(Quirk::UnsignedBigintAtoll.off_by_default(), "fixed in oblogproxy v2.0.1_BP2");
    for on in [true, false] {
        let emu = emulator(with(Quirk::UnsignedBigintAtoll, on)).await;
        let db = write(
            "id INT PRIMARY KEY, u BIGINT UNSIGNED, s BIGINT, u32 INT UNSIGNED",
            &[],
            &[
                "INSERT INTO t VALUES (1, 18446744073709551615, -1, 4294967295)",
                "INSERT INTO t VALUES (2, 9223372036854775808, -9223372036854775808, 0)",
                "INSERT INTO t VALUES (3, 9223372036854775807, 9223372036854775807, 1)",
            ],
        )
        .await;
        let (_, rows) = decoded(&emu, &db, 3).await;
        let u: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        let s: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
        if on {
            assert_eq!(u, ["int:9223372036854775807", "int:9223372036854775807", "int:9223372036854775807"]);
        } else {
            assert_eq!(u, ["int:18446744073709551615", "int:9223372036854775808", "int:9223372036854775807"]);
        }
        // Signed BIGINT and the smaller unsigned types are exact either way (bit patterns).
        assert_eq!(s, ["int:18446744073709551615", "int:9223372036854775808", "int:9223372036854775807"]);
        assert_eq!(rows[0][3], "int:4294967295");
    }
}

#[tokio::test]
async fn bit_atoi() {
    let _l = LOCK.lock().await;
    assert!(Quirk::BitAtoi.off_by_default(), "fixed in oblogproxy v2.0.1_BP2");
    for on in [true, false] {
        let emu = emulator(with(Quirk::BitAtoi, on)).await;
        let db = write(
            "id INT PRIMARY KEY, b64 BIT(64), b40 BIT(40), b32 BIT(32)",
            &[],
            &[
                "INSERT INTO t VALUES (1, 0x0000000100000005, 0x0100000005, 0xffffffff)",
                "INSERT INTO t VALUES (2, 0x0000000080000000, 0x0080000000, 0x80000001)",
                "INSERT INTO t VALUES (3, 0xffffffffffffffff, 0x0000001234, 0x00000000)",
            ],
        )
        .await;
        let images = raw_images(&emu, &db, 3).await;
        // BIT(32) is exact either way, bit 31 included.
        let b32: [&[u8]; 3] = [&[0xff; 4], &[0x80, 0, 0, 1], &[0; 4]];
        let (b64, b40): ([&[u8]; 3], [&[u8]; 3]) = if on {
            // atoi keeps the low 32 bits and sign-extends them; above 2^63−1 strtol saturates.
            (
                [&[0, 0, 0, 0, 0, 0, 0, 5], &[0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0], &[0xff; 8]],
                [&[0, 0, 0, 0, 5], &[0xff, 0x80, 0, 0, 0], &[0, 0, 0, 0x12, 0x34]],
            )
        } else {
            (
                [&[0, 0, 0, 1, 0, 0, 0, 5], &[0, 0, 0, 0, 0x80, 0, 0, 0], &[0xff; 8]],
                [&[1, 0, 0, 0, 5], &[0, 0x80, 0, 0, 0], &[0, 0, 0, 0x12, 0x34]],
            )
        };
        let want: Vec<Vec<u8>> = (0..3).map(|i| image(4, i as u32 + 1, &[b64[i], b40[i], b32[i]])).collect();
        assert_eq!(images, want);
        // mysql_common decodes them too.
        assert_eq!(decoded(&emu, &db, 3).await.1.len(), 3);
    }
}

/// The binary's `--enable` / `--disable` switch the value quirks as `Config::quirks` does.
#[tokio::test]
async fn the_binary_switches_them_with_enable_and_disable() {
    use std::io::BufRead;
    let _l = LOCK.lock().await;
    let port = upstream().await.to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oceanbase-emulator"))
        .args(["--listen", "127.0.0.1:0", "--upstream-host", "127.0.0.1", "--upstream-port", &port])
        .args(["--upstream-user", REPL_USER, "--heartbeat-ms", "300"])
        .args(["--enable", "unsigned-bigint-atoll", "--disable", "enum-prefix-match"])
        .env("OCEANBASE_EMULATOR_UPSTREAM_PASSWORD", REPL_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the emulator binary");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr =
        line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok()).expect("the bound address");
    let db = write(
        "id INT PRIMARY KEY, u BIGINT UNSIGNED, e ENUM('a','ab')",
        &[],
        &["INSERT INTO t VALUES (1, 18446744073709551615, 'ab')"],
    )
    .await;
    let (_, rows) = decoded_at(opts(addr.port(), REPL_USER, REPL_PASSWORD), &db, 1).await;
    let _ = child.kill();
    let _ = child.wait();
    // atoll on (saturated), the ENUM prefix match off (index 2, 'ab').
    assert_eq!(rows[0][1..], ["int:9223372036854775807", "int:2"]);
}
