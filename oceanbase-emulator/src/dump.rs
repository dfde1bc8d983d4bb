//! The dumper: serves COM_BINLOG_DUMP and COM_BINLOG_DUMP_GTID from the converter's files the
//! way oblogproxy's `BinlogDumper` does (`src/binlog/binlog_dumper.cpp`, `cmd_processor.cpp`
//! at <https://github.com/oceanbase/oblogproxy/tree/2d1e5030b8ddf8288f97c116d3993b51c4e51c0b>):
//!
//! - the position is validated before anything is sent (ERR 1236 with oblogproxy's messages);
//! - a fake ROTATE (timestamp 0, log_pos 0, flags 0x20, body position = the requested one,
//!   a CRC only as [`Quirk::FakeRotateChecksumRule`] says), then the file's FDE copied raw
//!   (real log_pos 123, `BINLOG_IN_USE` while active), then the events from the position
//!   (PREVIOUS_GTIDS included when it is 4); every event from the file is sent as stored, CRC
//!   included, whatever checksum the client asked for;
//! - at a real ROTATE the next file follows on the same connection (again a fake ROTATE,
//!   [`Quirk::NextFileFakeRotate`], then its FDE);
//! - idle at the end of the active file: a HEARTBEAT per period; with
//!   [`Quirk::HeartbeatPerBatch`] also one after every batch of `dump_batch_events` events.
//!   Heartbeat header: timestamp of the last event sent, log_pos = the current offset; body: the
//!   file's full path ([`Quirk::HeartbeatFullPath`]);
//! - `BINLOG_DUMP_NON_BLOCK` is honoured only when the flags equal 1 exactly: EOF at the end;
//! - a converter restart closes the connection without a packet.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use crate::binlog::{self, ty, Header};
use crate::convert::Service;
use crate::protocol::PacketIo;
use crate::{Error, Quirk};

/// ER_MASTER_FATAL_ERROR_READING_BINLOG, the code of every dump error oblogproxy sends.
pub const ER_MASTER_FATAL: u16 = 1236;

/// A GTID set as the client sent it: (source id, `[start, end)` gno intervals) per sid.
pub type GtidSet = Vec<([u8; 16], Vec<(u64, u64)>)>;

/// A parsed dump request.
#[derive(Debug, Clone)]
pub struct DumpRequest {
    /// File name (empty = the first file).
    pub file: String,
    /// Start position.
    pub pos: u64,
    /// Dump flags as sent.
    pub flags: u16,
    /// COM_BINLOG_DUMP_GTID: the client's executed set as (sid, `[start, end)` intervals).
    pub gtids: Option<GtidSet>,
}

fn read_range(path: &std::path::Path, from: u64, to: u64) -> Result<Vec<u8>, Error> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut b = vec![0u8; (to - from) as usize];
    f.read_exact(&mut b)?;
    Ok(b)
}

/// The last gno of a file's PREVIOUS_GTIDS (0 = empty set).
fn previous_last_gno(path: &std::path::Path) -> Result<u64, Error> {
    let b =
        read_range(path, 123, 123 + 19 + 8 + 16 + 8 + 16).or_else(|_| read_range(path, 123, 123 + 19 + 8 + 16 + 8))?;
    let n_int = u64::from_le_bytes(b[19 + 24..19 + 32].try_into().unwrap());
    if n_int == 0 || b.len() < 19 + 48 {
        return Ok(0);
    }
    Ok(u64::from_le_bytes(b[19 + 40..19 + 48].try_into().unwrap()) - 1)
}

fn covers(intervals: &[(u64, u64)], gno: u64) -> bool {
    intervals.iter().any(|&(s, e)| s <= gno && gno < e)
}

async fn fail(io: &mut PacketIo, msg: &str) -> Result<(), Error> {
    io.err(ER_MASTER_FATAL, "HY000", msg).await
}

/// Serves one dump until the client goes away, an error, NON_BLOCK's end, or a converter
/// restart. `vars` are the session's user variables (`master_binlog_checksum`,
/// `master_heartbeat_period`).
pub async fn serve(
    io: &mut PacketIo,
    svc: &Arc<Service>,
    vars: &HashMap<String, Vec<u8>>,
    req: DumpRequest,
) -> Result<(), Error> {
    let cfg = svc.config().clone();
    let mut gen_rx = svc.subscribe_generation();
    let mut grow_rx = svc.subscribe_growth();
    let files = svc.files();
    let Some(first) = files.first().cloned() else {
        return fail(io, "could not find next log.").await;
    };
    let uuid = cfg.server_uuid;
    let mut skip_set: Vec<(u64, u64)> = Vec::new();
    let (mut name, pos) = if let Some(sids) = &req.gtids {
        let mine = sids.iter().find(|(s, _)| *s == uuid);
        if sids.is_empty() {
            (first.0.clone(), req.pos)
        } else if let Some((_, iv)) = mine {
            skip_set = iv.clone();
            let mut pick = None;
            for (f, _) in files.iter().rev() {
                let last = previous_last_gno(&svc.path(f))?;
                if (1..=last).all(|g| covers(iv, g)) {
                    pick = Some(f.clone());
                    break;
                }
            }
            match pick {
                Some(f) => (f, req.pos),
                None => {
                    return fail(io, "The requested gtid transaction no longer exists and may have been cleaned up")
                        .await
                }
            }
        } else {
            return fail(io, "The requested gtid transaction no longer exists and may have been cleaned up").await;
        }
    } else if req.file.is_empty() {
        (first.0.clone(), 4)
    } else {
        (req.file.clone(), req.pos)
    };
    // verify_subscription_offset
    let Some((_, size)) = files.iter().find(|(f, _)| *f == name).cloned() else {
        return fail(io, "failed to open binlog file").await;
    };
    if pos < 4 {
        return fail(io, "Client requested master to start replication \"\n                    \"from position < 4.")
            .await;
    }
    if pos > size {
        return fail(io, &format!("The subscribed site [{pos}] exceeds the maximum value of the BINLOG file [{size}]"))
            .await;
    }
    if pos > 4 {
        let data = read_range(&svc.path(&name), 4, size)?;
        let (evs, _) = binlog::split_events(&data)?;
        let mut p = 4u64;
        for e in evs {
            if p >= pos {
                break;
            }
            p += e.len() as u64;
        }
        if p != pos {
            return fail(io, &format!("The offset of the current subscription is illegal,offset:{pos}")).await;
        }
    }

    let period = match vars.get("master_heartbeat_period").and_then(|v| String::from_utf8_lossy(v).parse::<u64>().ok())
    {
        Some(ns) if ns > 0 => Some(Duration::from_nanos(ns)),
        _ if cfg.has(Quirk::HeartbeatWithoutPeriod) => Some(cfg.heartbeat),
        _ => None,
    };
    let asked = vars.get("master_binlog_checksum").map(|v| String::from_utf8_lossy(v).to_ascii_uppercase());
    let rotate_crc = if cfg.has(Quirk::FakeRotateChecksumRule) {
        asked.as_deref().map(|v| v == "CRC32").unwrap_or(true)
    } else {
        asked.as_deref().is_some_and(|v| v != "NONE")
    };
    let sid = cfg.server_id_for(0);
    let gen0 = *gen_rx.borrow_and_update();
    let non_block = req.flags == 1;
    let batch = cfg.dump_batch_events.max(1);

    let mut cursor;
    let mut last_ts: u32;
    // Start of a file: fake ROTATE, raw FDE.
    macro_rules! start_file {
        ($pos:expr, $fake:expr) => {{
            if $fake {
                let fake = binlog::event(
                    0,
                    ty::ROTATE,
                    sid,
                    0,
                    binlog::FLAG_ARTIFICIAL,
                    &binlog::rotate_body($pos, &name),
                    rotate_crc,
                );
                send_event(io, &fake).await?;
            }
            let fde = read_range(&svc.path(&name), 4, 123)?;
            last_ts = Header::parse(&fde)?.timestamp;
            send_event(io, &fde).await?;
            io.flush().await?;
            cursor = if $pos == 4 { 123 } else { $pos };
        }};
    }
    start_file!(pos, true);
    let mut skipping = false;
    loop {
        if *gen_rx.borrow() != gen0 {
            return Err(Error::Protocol("converter restarted: connection closed".into()));
        }
        let (active, active_len) = svc.active();
        let path = svc.path(&name);
        let limit = if name == active { active_len } else { std::fs::metadata(&path)?.len() };
        if cursor < limit {
            let data = read_range(&path, cursor, limit)?;
            let (evs, _) = binlog::split_events(&data)?;
            let mut rotated_to = None;
            for chunk in evs.chunks(batch) {
                for e in chunk {
                    let h = Header::parse(e)?;
                    cursor += e.len() as u64;
                    if h.event_type == ty::GTID && e.len() >= 19 + 25 {
                        let gno = u64::from_le_bytes(e[19 + 17..19 + 25].try_into().unwrap());
                        skipping = covers(&skip_set, gno);
                    }
                    if skipping && h.event_type != ty::ROTATE {
                        continue;
                    }
                    last_ts = h.timestamp;
                    send_event(io, e).await?;
                    if h.event_type == ty::ROTATE && name != active {
                        let body = &e[19..e.len() - binlog::CRC_LEN];
                        rotated_to = Some(String::from_utf8_lossy(&body[8..]).into_owned());
                        break;
                    }
                }
                if cfg.has(Quirk::HeartbeatPerBatch) {
                    send_heartbeat(io, svc, &name, last_ts, cursor, sid).await?;
                }
                io.flush().await?;
                if rotated_to.is_some() {
                    break;
                }
            }
            if let Some(next) = rotated_to {
                name = next;
                start_file!(4, cfg.has(Quirk::NextFileFakeRotate));
            }
            continue;
        }
        if name != active {
            // A finished file without a trailing ROTATE (cannot happen after recovery).
            return Err(Error::Protocol(format!("{name} ends without a ROTATE")));
        }
        if non_block {
            io.eof().await?;
            return io.flush().await;
        }
        let wait = async {
            match period {
                Some(p) => tokio::time::sleep(p).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = grow_rx.changed() => {}
            _ = gen_rx.changed() => {}
            _ = wait => {
                send_heartbeat(io, svc, &name, last_ts, cursor, sid).await?;
                io.flush().await?;
            }
        }
    }
}

async fn send_event(io: &mut PacketIo, ev: &[u8]) -> Result<(), Error> {
    let mut b = Vec::with_capacity(ev.len() + 1);
    b.push(0);
    b.extend_from_slice(ev);
    io.write(&b).await
}

async fn send_heartbeat(
    io: &mut PacketIo,
    svc: &Service,
    name: &str,
    ts: u32,
    cursor: u64,
    sid: u32,
) -> Result<(), Error> {
    let body = if svc.config().has(Quirk::HeartbeatFullPath) {
        svc.path(name).display().to_string()
    } else {
        name.to_string()
    };
    let ev = binlog::event(ts, ty::HEARTBEAT, sid, cursor as u32, binlog::FLAG_IN_USE, body.as_bytes(), true);
    send_event(io, &ev).await
}
