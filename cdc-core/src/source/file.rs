//! Offline decoding of binlog files (MySQL 5.x–9.x, MariaDB): the same [`Decoder`] as the live
//! stream, fed by mysql_common's `EventStreamReader` over a file. TRANSACTION_PAYLOAD events
//! (MySQL 8 `binlog_transaction_compression`) are decompressed and their inner events decoded,
//! as `mysql_async::BinlogStream` does on the network path.

use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::TransactionPayloadEvent;
use mysql_common::binlog::EventStreamReader;

use super::decode::Decoder;
use super::error::SourceError;
use super::filter::TableFilter;
use super::message::SourceMessage;
use crate::position::{BinlogPosition, Resume};

/// Decodes every event of the binlog file at `path` and returns the messages, in order.
/// Event CRC32 checksums are verified when the file has them.
/// Columns of TABLE_MAPs without names are named `@0`, `@1`… (no server to ask).
///
/// Errors: [`SourceError::Decode`] for an unreadable file or event (with the file name and
/// the position reached).
pub fn decode_file(path: &Path, name: &str, filter: TableFilter) -> Result<Vec<SourceMessage>, SourceError> {
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let fail = |pos: u64, message: String| SourceError::Decode {
        position: BinlogPosition::new(file_name.clone(), pos),
        message,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| BufReader::new(f).read_to_end(&mut bytes))
        .map_err(|e| fail(0, format!("read {}: {e}", path.display())))?;
    if bytes.len() < 4 || &bytes[..4] != b"\xfebin" {
        return Err(fail(0, "not a binlog file (magic number missing)".into()));
    }
    let mut input = Cursor::new(&bytes[4..]);
    let mut reader = EventStreamReader::new(BinlogVersion::Version4);
    let mut decoder = Decoder::new(
        name,
        filter,
        &Resume::Position { position: BinlogPosition::new(file_name.clone(), 4), gtid_set: None },
    );
    // A file may have been written with any row image (MINIMAL with partial JSON, say).
    decoder.require_full_row_image(false);
    let mut out = Vec::new();
    let mut checked = 0u64;
    loop {
        if input.position() as usize >= bytes.len() - 4 {
            break;
        }
        // mysql_common's Event::read allocates the header's event_size and unwraps the read:
        // a cut or corrupt file would panic (or allocate up to 4 GB). Check the size first.
        let at = input.position() as usize + 4;
        if let Some(size) = bytes.get(at + 9..at + 13).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) {
            if size < 19 || size > bytes.len() - at {
                return Err(fail(
                    decoder.position().pos,
                    format!(
                        "truncated or corrupt event at offset {}: header says {size} bytes, {} left",
                        at,
                        bytes.len() - at
                    ),
                ));
            }
        }
        let ev = match reader.read(&mut input) {
            Ok(Some(ev)) => ev,
            Ok(None) => break,
            Err(e) => return Err(fail(decoder.position().pos, format!("event: {e}"))),
        };
        if super::decode::checksum_ok(&ev) == Some(false) {
            return Err(fail(
                decoder.position().pos,
                format!("event checksum mismatch (type {})", ev.header().event_type_raw()),
            ));
        }
        checked += u64::from(super::decode::checksum_ok(&ev).is_some());
        decoder.handle(&ev, &mut out)?;
        if ev.header().event_type_raw() == 40 {
            let tpe: TransactionPayloadEvent<'_> =
                ev.read_event().map_err(|e| fail(decoder.position().pos, format!("TRANSACTION_PAYLOAD: {e}")))?;
            let mut inner = Cursor::new(tpe.danger_decompress());
            loop {
                match reader.read_decompressed(&mut inner) {
                    Ok(Some(iev)) => decoder.handle(&iev, &mut out)?,
                    Ok(None) => break,
                    Err(e) => return Err(fail(decoder.position().pos, format!("compressed transaction: {e}"))),
                }
            }
        }
    }
    tracing::debug!(file = %file_name, checked, "binlog file decoded; event checksums verified");
    Ok(out)
}
