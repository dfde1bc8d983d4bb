//! `oceanbase-emulator`: a local stand-in for OceanBase (MySQL mode) as a replication client
//! sees it through ODP (OBProxy), with a real MariaDB as the OBServer stand-in.
//!
//! What it owns:
//! - the MySQL server protocol side of ODP ([`protocol`], [`session`]): handshake v10 with
//!   `mysql_native_password`, COM_QUERY/COM_STMT_* forwarded to the upstream MariaDB with
//!   OceanBase's variable values substituted, binlog statements answered by the emulated
//!   binlog service;
//! - the binlog converter ([`convert`]): reads the upstream's binlog and writes MySQL 5.7
//!   binlog files the way oblogproxy's converter does (one row per ROWS v2 event, MySQL GTIDs
//!   with clock fields, constant header server_id, …), restarts that truncate the last file;
//! - the dumper ([`dump`]): serves COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID from those files
//!   (fake ROTATE, raw FDE, heartbeats when idle and after every batch).
//!
//! Every deviation from MySQL is a [`Quirk`], a switch (`--disable QUIRK`, `--enable QUIRK`),
//! so tests name which one they exercise. Each is on by default except the value faults a later
//! binlog service release fixed ([`Quirk::defaults`]). The facts and their sources
//! (oblogproxy v2.0.1 code, ODP code, OceanBase docs) are listed on each quirk and in the
//! crate README.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod binlog;
pub mod convert;
pub mod dump;
pub mod protocol;
pub mod session;
pub mod values;

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// File system or socket failure.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The upstream MariaDB failed or refused.
    #[error("upstream: {0}")]
    Upstream(#[from] mysql_async::Error),
    /// Bytes that do not parse (from the upstream, a client or a binlog file).
    #[error("format: {0}")]
    Format(#[from] binlog::FormatError),
    /// A client broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A behaviour of the real OceanBase binlog service / ODP that differs from MySQL. Each is on
/// by default except those [`Quirk::defaults`] leaves off (value faults fixed in oblogproxy
/// v2.0.1_BP2); `--disable <name>` / `--enable <name>` (kebab-case) switch one off / on. Off,
/// the emulator behaves as MySQL 5.7 would at that point (for the value quirks: the upstream
/// MariaDB's bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Quirk {
    /// One TABLE_MAP + one ROWS v2 event per changed row, every ROWS event with STMT_END_F
    /// (oblogproxy `src/binlog/binlog_convert.cpp` `do_convert`). Off: the upstream's
    /// multi-row events kept (rows packed, STMT_END_F on the statement's last event).
    SingleRowEvents,
    /// TABLE_MAP without any optional metadata: no names, signedness, charsets, PK or labels
    /// (`binlog_convert.cpp` `convert_table_map_event`). Off: the upstream's optional metadata
    /// is copied.
    NoOptionalMetadata,
    /// ENUM/SET columns typed STRING (254) in TABLE_MAP with the real type (247/248) in
    /// metadata byte 0 (`convert_table_map_event`, MySQL does the same). Off: typed ENUM/SET.
    EnumSetAsString,
    /// Every event header carries server_id 1147473732 (`SERVER_ID`, `ob_log_event.h`; the
    /// blog's `SHOW BINLOG EVENTS` shows it). Off: the upstream's server_id.
    ConstantServerId,
    /// GTID events' last_committed = commit unix seconds and sequence_number = its microsecond
    /// part (`binlog_convert.cpp` `set_last_committed(getTimestamp())`). Off: logical clocks
    /// (gno−1, gno).
    GtidClockFields,
    /// HEARTBEAT bodies carry the binlog file's full filesystem path (`binlog_dumper.cpp`,
    /// `_checkpoint.first`). Off: the bare file name, as MySQL.
    HeartbeatFullPath,
    /// One extra HEARTBEAT after every batch of events sent, also inside a transaction
    /// (`binlog_dumper.cpp` `conn_liveness()`; Flink CDC patched Debezium for it). Off: only
    /// idle heartbeats.
    HeartbeatPerBatch,
    /// Heartbeats every `--heartbeat-ms` even if the client never set
    /// `@master_heartbeat_period` (`get_heartbeat_period`, `binlog_heartbeat_interval_us`).
    /// Off: heartbeats only at the client's period.
    HeartbeatWithoutPeriod,
    /// SHOW MASTER STATUS lags the stream: its position is updated only after every
    /// `--status-batch-events` events appended, so it can lie inside a transaction (goInception
    /// PR #619, "exists a certain delay"). Off: the exact end of the file.
    MasterStatusLag,
    /// The fake ROTATE carries a CRC only when `@master_binlog_checksum` is exactly `CRC32`
    /// (upper-cased); mysql_async's `'ALL'` gets none (`binlog_dumper.cpp`
    /// `init_binlog_checksum`). Off: a CRC whenever the client announced any checksum value
    /// other than NONE (MySQL's rule).
    FakeRotateChecksumRule,
    /// At each following file of a dump, a fake ROTATE (with the same checksum rule as the
    /// first, so none for `'ALL'`) precedes the new file's FDE ("A fake ROTATE is sent again at
    /// the start of each following file", `binlog_dumper.cpp`). A reader that keeps the CRC32
    /// setting of the previous FDE takes that event's last 4 name bytes for a checksum. Off: the
    /// new file's FDE follows the real ROTATE directly, as MySQL does.
    NextFileFakeRotate,
    /// A converter restart restarts table ids and XIDs at 1 (`table_cache.cpp`,
    /// `binlog_convert.h` `_xid=0`), so one table id can name different tables in two files.
    /// Off: the counters continue.
    RestartResetsCounters,
    /// Present bitmaps and image null bitmaps have their unused high bits set to 1
    /// (`fill_bitmap` in `binlog_convert.cpp`). Off: zero padding.
    OnesPaddedBitmaps,
    /// SQL answers carry OceanBase's variable values where OBServer's differ from MariaDB's:
    /// `binlog_row_image=FULL`, `binlog_format=ROW`, `binlog_checksum=CRC32`, `log_bin=ON`,
    /// `lower_case_table_names=1`, `max_allowed_packet=16777216`, `wait_timeout=28800`,
    /// global `time_zone=+08:00` (sessions start at +08:00 for real), `version`
    /// `5.7.25-OceanBase_CE-v4.2.1.2` (OceanBase `ObSysVars[]` defaults; oblogproxy docs'
    /// observer requirements; obproxy#53). Off: the upstream's values.
    ObVariables,
    /// `SELECT @@server_id|@@server_uuid|@@gtid_mode|@@gtid_executed|@@gtid_purged` and
    /// `SHOW VARIABLES LIKE` of those exact names are answered by the binlog service's own
    /// variable table (ODP routes them there, `ob_proxy_parser.l`): `0`, `''`, `ON`, `''`,
    /// `''` (oblogproxy `src/binlog/sys_var.h`); only the first select item is evaluated.
    /// Off: forwarded to the upstream.
    BinlogServiceVariables,
    /// A SET column's bitmap is `(n + 7) / 8` bytes for `n` members, in the rows and in the
    /// TABLE_MAP (STRING 254, metadata byte 0 = 248, byte 1 = that length): 5, 6 or 7 bytes for
    /// 33–56 members, where MySQL and MariaDB round to 8 (`get_set_pack_length`: 1, 2, 3, 4 or
    /// 8). Source: oblogproxy `src/binlog/data_type.cpp` `set_column_metadata` (`OB_TYPE_SET`:
    /// `fixed_len(size)`) and `convert_binlog_set` (`bitmap_len = fixed_len(array->size())`),
    /// <https://github.com/oceanbase/oblogproxy/blob/2d1e5030b8ddf8288f97c116d3993b51c4e51c0b/src/binlog/data_type.cpp>;
    /// binlog-service reference §8. The bytes are consistent (a reader that takes the length
    /// from the metadata decodes them), unlike the value faults below. On by default (no release
    /// says it changed). Off: MariaDB's 8-byte bitmap and metadata. Needs the member count: from
    /// the upstream TABLE_MAP's optional metadata (`binlog_row_metadata=FULL`); without it the
    /// column is left as the upstream wrote it (logged once per table).
    SetShortBitmap,
    /// An ENUM value is stored as the 1-based index of the **first label that is a prefix of
    /// the value's text** (`memcmp(label, value, strlen(label)) == 0`), so in ENUM('a','ab') the
    /// value 'ab' is written as 1 ('a'); a value matching no label (OceanBase accepts '' in an
    /// ENUM, MariaDB's index 0 here) is written as **0 bytes**, which shifts the rest of the row.
    /// Source: oblogproxy `src/binlog/data_type.cpp` `convert_binlog_enum` (same URL as
    /// [`Quirk::SetShortBitmap`]; `ret = 0`, `buff = nullptr` when no label matched); the
    /// binlog-service reference (§8) marks the prefix match an inferred bug (read in code, not
    /// seen running). On by default: no release note says it was fixed. Off: MariaDB's index.
    /// Needs the labels (upstream `binlog_row_metadata=FULL`), else the column is left as the
    /// upstream wrote it.
    EnumPrefixMatch,
    /// A SET member is set when **any** of the value's comma-separated items starts with it
    /// (`memcmp(member, item, strlen(member)) == 0`), so in SET('a','ab') the value 'ab' is
    /// written as 'a,ab'. Source: oblogproxy `src/binlog/data_type.cpp` `convert_binlog_set`
    /// (the same prefix test as [`Quirk::EnumPrefixMatch`]); read in code, not seen running. On
    /// by default (no release note says it was fixed). Off: MariaDB's bitmap. Needs the labels.
    SetPrefixMatch,
    /// A BIGINT UNSIGNED value above 2^63−1 is written as 9223372036854775807: obcdc gives the
    /// value as decimal text and oblogproxy parses it with `atoll` (`int_two_complement` in
    /// `src/binlog/data_type.cpp`), which in glibc is `strtoll(s, NULL, 10)` and saturates at
    /// `LLONG_MAX` on overflow (C11 7.22.1.4; glibc `stdlib/atoll.c`). Values up to 2^63−1, and
    /// every smaller integer type, are exact. Fixed in oblogproxy v2.0.1_BP2 ("fixes the issue
    /// of unsigned data synchronization errors",
    /// <https://github.com/oceanbase/oblogproxy/releases/tag/v2.0.1_BP2>), so **off by default**
    /// (the emulator stands for a current binlog service); `--enable unsigned-bigint-atoll`
    /// reproduces v2.0.1_BP1 and older. Needs the signedness (upstream `binlog_row_metadata`
    /// MINIMAL or FULL), else the column is left as the upstream wrote it.
    UnsignedBigintAtoll,
    /// A BIT value is written as `(bits + 7) / 8` big-endian bytes of
    /// `(unsigned long long)(int) strtol(text, NULL, 10)`: obcdc gives BIT as its unsigned
    /// decimal text (`ObObj2strHelper::convert_bit_obj_to_decimal_str_`, `"%lu"`, oceanbase
    /// `src/logservice/libobcdc/src/ob_obj2str_helper.cpp`) and oblogproxy's `binary_to_hex`
    /// (`src/binlog/data_type.cpp`) builds a `std::bitset<64>` from `atoi` of it. glibc's `atoi`
    /// is `(int) strtol(...)`: saturated at `LONG_MAX` (2^63−1), then cut to its low 32 bits and
    /// sign-extended back to 64. So BIT(n ≤ 32) is exact and wider values lose their high bits
    /// (bit 31 set: the high bits all 1; above 2^63−1: all ones). Fixed in oblogproxy
    /// v2.0.1_BP2 ("fixes … bit type writes exceed a length of 32", release notes as for
    /// [`Quirk::UnsignedBigintAtoll`]), so **off by default**; `--enable bit-atoi` turns it on.
    BitAtoi,
}

impl Quirk {
    /// Every quirk.
    pub fn all() -> BTreeSet<Quirk> {
        use clap::ValueEnum;
        Quirk::value_variants().iter().copied().collect()
    }

    /// The quirks on by default: every one except those of behaviour a later binlog service
    /// release fixed ([`Quirk::UnsignedBigintAtoll`], [`Quirk::BitAtoi`], fixed in oblogproxy
    /// v2.0.1_BP2), which [`Config::new`] leaves off.
    pub fn defaults() -> BTreeSet<Quirk> {
        let mut q = Quirk::all();
        q.remove(&Quirk::UnsignedBigintAtoll);
        q.remove(&Quirk::BitAtoi);
        q
    }

    /// True for a quirk [`Quirk::defaults`] leaves off.
    pub fn off_by_default(self) -> bool {
        !Quirk::defaults().contains(&self)
    }
}

/// Emulator settings (the binary's flags map one to one).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Upstream MariaDB host.
    pub upstream_host: String,
    /// Upstream MariaDB port.
    pub upstream_port: u16,
    /// Upstream user: needs REPLICATION SLAVE, REPLICATION CLIENT and SELECT (and whatever the
    /// forwarded SQL needs). Clients log in with this user's password.
    pub upstream_user: String,
    /// Its password.
    pub upstream_password: String,
    /// server_id the converter registers with upstream.
    pub upstream_server_id: u32,
    /// Where the converted binlog files live; a fresh temporary directory when `None`.
    pub data_dir: Option<PathBuf>,
    /// Idle heartbeat period when the client set none (oblogproxy
    /// `binlog_heartbeat_interval_us` default 1 s).
    pub heartbeat: Duration,
    /// Restart the converter this often (`None` = never): see [`convert`].
    pub restart_every: Option<Duration>,
    /// Rotate after the XID that takes a file past this size (oblogproxy `max_binlog_size`,
    /// 500 MiB).
    pub max_binlog_size: u64,
    /// With [`Quirk::MasterStatusLag`]: events appended between two updates of SHOW MASTER
    /// STATUS.
    pub status_batch_events: usize,
    /// Events the dumper sends per batch (a HEARTBEAT follows each batch with
    /// [`Quirk::HeartbeatPerBatch`]).
    pub dump_batch_events: usize,
    /// The GTID source id (OceanBase tenant `server_uuid`).
    pub server_uuid: [u8; 16],
    /// The quirks switched on ([`Quirk::defaults`] unless changed).
    pub quirks: BTreeSet<Quirk>,
}

impl Config {
    /// Defaults for an upstream at `host:port` with `user`/`password`: listen on
    /// 127.0.0.1:0, the [`Quirk::defaults`] on, 1 s heartbeats, no restarts, 500 MiB files.
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>, password: impl Into<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream_host: host.into(),
            upstream_port: port,
            upstream_user: user.into(),
            upstream_password: password.into(),
            upstream_server_id: 1_000_000 + rand::random::<u32>() % 1_000_000_000,
            data_dir: None,
            heartbeat: Duration::from_secs(1),
            restart_every: None,
            max_binlog_size: 500 << 20,
            status_batch_events: 3,
            dump_batch_events: 8,
            server_uuid: *b"\x3e\x11\xfa\x47\x71\xca\x11\xe1\x9e\x33\xc8\x0a\xa9\x42\x95\x62",
            quirks: Quirk::defaults(),
        }
    }

    /// Whether quirk `q` is on.
    pub fn has(&self, q: Quirk) -> bool {
        self.quirks.contains(&q)
    }

    /// The server uuid in its text form.
    pub fn server_uuid_text(&self) -> String {
        uuid_text(&self.server_uuid)
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` of 16 bytes.
pub fn uuid_text(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A running emulator.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    service: Arc<convert::Service>,
    cancel: CancellationToken,
    /// Parent of the client sessions' tokens; replaced by [`Emulator::drop_sessions`].
    sessions: Arc<std::sync::Mutex<CancellationToken>>,
    accepted: Arc<std::sync::atomic::AtomicU64>,
    _tmp: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts the converter (it connects to the upstream and begins at its current binlog end,
    /// or resumes the state found in `data_dir`) and the listener.
    ///
    /// Errors: the listen address cannot be bound, the data directory cannot be created or
    /// recovered, or the upstream refuses the converter's first connection.
    pub async fn start(cfg: Config) -> Result<Emulator, Error> {
        let (dir, tmp) = match &cfg.data_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (d.canonicalize()?, None)
            }
            None => {
                let t = tempfile::Builder::new().prefix("oceanbase-emulator-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let cancel = CancellationToken::new();
        let service = convert::Service::start(cfg.clone(), dir, cancel.clone()).await?;
        let listener = TcpListener::bind(cfg.listen).await?;
        let addr = listener.local_addr()?;
        let svc = service.clone();
        let c = cancel.clone();
        let sessions = Arc::new(std::sync::Mutex::new(cancel.child_token()));
        let generation = sessions.clone();
        let accepted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = accepted.clone();
        tokio::spawn(async move {
            let mut conn_id: u32 = 1;
            loop {
                tokio::select! {
                    _ = c.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok((sock, peer)) => {
                            let _ = sock.set_nodelay(true);
                            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            conn_id = conn_id.wrapping_add(1);
                            let svc = svc.clone();
                            let c = generation.lock().expect("not poisoned").child_token();
                            tokio::spawn(async move {
                                if let Err(e) = session::serve(sock, conn_id, svc, c).await {
                                    tracing::debug!(%peer, "session ended: {e}");
                                }
                            });
                        }
                        Err(e) => tracing::warn!("accept failed: {e}"),
                    }
                }
            }
        });
        tracing::info!(%addr, "oceanbase-emulator listening");
        Ok(Emulator { addr, service, cancel, sessions, accepted, _tmp: tmp })
    }

    /// The address clients connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the converted binlog files.
    pub fn data_dir(&self) -> PathBuf {
        self.service.dir().to_path_buf()
    }

    /// Asks the converter to restart (see [`convert`] and [`convert::RestartAt`]). Returns
    /// after the restart is done.
    pub async fn restart_converter(&self, at: convert::RestartAt) {
        self.service.restart(at).await;
    }

    /// Ends every client session at once, as ODP does when it restarts or drops its
    /// connections to a client (the sockets are closed without an error packet, in the middle
    /// of a query or a binlog dump); new connections are accepted as before. Returns at once.
    pub fn drop_sessions(&self) {
        let mut generation = self.sessions.lock().expect("not poisoned");
        generation.cancel();
        *generation = self.cancel.child_token();
    }

    /// Client connections accepted since the start.
    pub fn sessions_accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counters of what the converter did (for tests).
    pub fn stats(&self) -> convert::Stats {
        self.service.stats()
    }

    /// Stops accepting, ends all sessions and the converter.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
