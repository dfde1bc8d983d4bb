//! The server side of the MySQL client/server protocol, as far as the emulator needs it:
//! packet framing (3-byte length + sequence id, payloads of 16 MiB − 1 split over several
//! packets), OK / ERR / EOF packets, text and binary result sets.
//!
//! Layouts: MySQL manual / source docs "Client/Server Protocol"
//! (<https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html>). The session never
//! negotiates CLIENT_DEPRECATE_EOF, so result sets end with EOF packets.

use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;
use mysql_common::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::binlog::put_lenenc;
use crate::Error;

/// Largest payload of one packet.
pub const MAX_PAYLOAD: usize = 0xff_ffff;
/// `SERVER_STATUS_AUTOCOMMIT`.
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;

/// A framed client connection.
#[derive(Debug)]
pub struct PacketIo {
    rd: OwnedReadHalf,
    wr: BufWriter<OwnedWriteHalf>,
    /// Next sequence id to write.
    pub seq: u8,
}

impl PacketIo {
    /// Wraps a socket.
    pub fn new(sock: TcpStream) -> PacketIo {
        let (rd, wr) = sock.into_split();
        PacketIo { rd, wr: BufWriter::with_capacity(64 * 1024, wr), seq: 0 }
    }

    /// Reads one logical packet (joining 16 MiB continuation packets); `Ok(None)` when the
    /// client closed the connection between packets.
    pub async fn read(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 4];
            match self.rd.read_exact(&mut h).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && out.is_empty() => return Ok(None),
                Err(e) => return Err(e.into()),
            }
            let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
            self.seq = h[3].wrapping_add(1);
            let start = out.len();
            out.resize(start + len, 0);
            self.rd.read_exact(&mut out[start..]).await?;
            if len < MAX_PAYLOAD {
                return Ok(Some(out));
            }
        }
    }

    /// Writes `payload` as one or more packets (not flushed).
    pub async fn write(&mut self, payload: &[u8]) -> Result<(), Error> {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_PAYLOAD);
            let h = [n as u8, (n >> 8) as u8, (n >> 16) as u8, self.seq];
            self.seq = self.seq.wrapping_add(1);
            self.wr.write_all(&h).await?;
            self.wr.write_all(&rest[..n]).await?;
            rest = &rest[n..];
            if n < MAX_PAYLOAD {
                return Ok(());
            }
        }
    }

    /// Flushes written packets to the socket.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.wr.flush().await?;
        Ok(())
    }

    /// Writes and flushes an OK packet. The info text is not sent: clients disagree on its
    /// framing without CLIENT_SESSION_TRACK (libmariadb reads a length-encoded string, the
    /// MySQL manual a string to the end).
    pub async fn ok(&mut self, affected: u64, last_insert_id: u64, warnings: u16, _info: &str) -> Result<(), Error> {
        let mut b = vec![0u8];
        put_lenenc(&mut b, affected);
        put_lenenc(&mut b, last_insert_id);
        b.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
        b.extend_from_slice(&warnings.to_le_bytes());
        self.write(&b).await?;
        self.flush().await
    }

    /// Writes and flushes an ERR packet (`code`, 5-character SQLSTATE `state`, `msg`).
    pub async fn err(&mut self, code: u16, state: &str, msg: &str) -> Result<(), Error> {
        let mut b = vec![0xffu8];
        b.extend_from_slice(&code.to_le_bytes());
        b.push(b'#');
        let mut st = [b'H', b'Y', b'0', b'0', b'0'];
        for (d, s) in st.iter_mut().zip(state.bytes()) {
            *d = s;
        }
        b.extend_from_slice(&st);
        b.extend_from_slice(msg.as_bytes());
        self.write(&b).await?;
        self.flush().await
    }

    /// Writes an EOF packet (not flushed).
    pub async fn eof(&mut self) -> Result<(), Error> {
        let mut b = vec![0xfeu8];
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
        self.write(&b).await
    }

    /// Writes column definitions followed by EOF.
    pub async fn columns(&mut self, cols: &[Column]) -> Result<(), Error> {
        for c in cols {
            let mut b = Vec::new();
            c.serialize(&mut b);
            self.write(&b).await?;
        }
        self.eof().await
    }

    /// Writes a whole text-protocol result set and flushes.
    pub async fn text_result(&mut self, cols: &[Column], rows: &[Vec<Value>]) -> Result<(), Error> {
        let mut b = Vec::new();
        put_lenenc(&mut b, cols.len() as u64);
        self.write(&b).await?;
        self.columns(cols).await?;
        for r in rows {
            self.write(&text_row(r)).await?;
        }
        self.eof().await?;
        self.flush().await
    }
}

/// A text-protocol row: each value a length-encoded string, NULL as 0xFB.
pub fn text_row(r: &[Value]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in r {
        match v {
            Value::NULL => b.push(0xfb),
            Value::Bytes(x) => {
                put_lenenc(&mut b, x.len() as u64);
                b.extend_from_slice(x);
            }
            other => {
                let s = other.as_sql(true);
                let s = s.trim_matches('\'');
                put_lenenc(&mut b, s.len() as u64);
                b.extend_from_slice(s.as_bytes());
            }
        }
    }
    b
}

/// A binary-protocol row (MySQL manual "Binary Protocol Resultset Row"): 0x00, NULL bitmap
/// with offset 2, each non-NULL value encoded for its column's type.
pub fn binary_row(cols: &[Column], r: &[Value]) -> Vec<u8> {
    let mut b = vec![0u8];
    let nb = (cols.len() + 7 + 2) / 8;
    let start = b.len();
    b.resize(start + nb, 0);
    for (i, v) in r.iter().enumerate() {
        if matches!(v, Value::NULL) {
            let bit = i + 2;
            b[start + bit / 8] |= 1 << (bit % 8);
        }
    }
    for (c, v) in cols.iter().zip(r) {
        let t = c.column_type();
        match v {
            Value::NULL => {}
            Value::Int(x) => put_int(&mut b, t, *x as u64),
            Value::UInt(x) => put_int(&mut b, t, *x),
            Value::Float(x) if t == ColumnType::MYSQL_TYPE_DOUBLE => b.extend_from_slice(&f64::from(*x).to_le_bytes()),
            Value::Double(x) if t == ColumnType::MYSQL_TYPE_FLOAT => b.extend_from_slice(&(*x as f32).to_le_bytes()),
            other => other.serialize(&mut b),
        }
    }
    b
}

fn put_int(b: &mut Vec<u8>, t: ColumnType, x: u64) {
    use ColumnType::*;
    let n = match t {
        MYSQL_TYPE_TINY => 1,
        MYSQL_TYPE_SHORT | MYSQL_TYPE_YEAR => 2,
        MYSQL_TYPE_LONG | MYSQL_TYPE_INT24 => 4,
        _ => 8,
    };
    b.extend_from_slice(&x.to_le_bytes()[..n]);
}

/// A VAR_STRING column named `name` (charset 33, length 56, decimals 31 — the shape of every
/// column oblogproxy's own result sets carry, `src/binlog/mysql-protocol/column_packet`).
pub fn string_column(name: &str) -> Column {
    Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
        .with_name(name.as_bytes())
        .with_org_name(name.as_bytes())
        .with_character_set(33)
        .with_column_length(56)
        .with_decimals(31)
}

/// A LONGLONG column named `name` (charset 63).
pub fn longlong_column(name: &str) -> Column {
    Column::new(ColumnType::MYSQL_TYPE_LONGLONG)
        .with_name(name.as_bytes())
        .with_org_name(name.as_bytes())
        .with_character_set(63)
        .with_column_length(20)
}
