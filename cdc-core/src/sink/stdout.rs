//! [`JsonLinesSink`]: change events as JSON lines (the event contract's envelope, one event
//! per line) on a writer — stdout for `cdc-collector tail`, a file for a replay. Every batch is
//! flushed before it is acknowledged, so `cdc-collector tail | jq` shows changes as they
//! happen and an acknowledged event has left the process.

use std::io::Write;

use super::seam::{Sink, SinkAck, SinkError};
use crate::event::ChangeEvent;

/// Writes each event as one JSON line to `W` and flushes per batch.
#[derive(Debug)]
pub struct JsonLinesSink<W> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write + Send> JsonLinesSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out, line: Vec::with_capacity(1024) }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl JsonLinesSink<std::io::Stdout> {
    /// A sink writing to the process's standard output.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }
}

/// True when `e` says the reader of a pipe went away (`tail | head`): the caller's cue to
/// stop quietly.
pub fn is_closed_pipe(e: &SinkError) -> bool {
    e.code.as_deref() == Some(CLOSED_PIPE)
}

const CLOSED_PIPE: &str = "BrokenPipe";

impl<W: Write + Send> Sink for JsonLinesSink<W> {
    /// Errors: a fatal [`SinkError`] when the writer fails; code `BrokenPipe` when the reader of
    /// a pipe went away ([`is_closed_pipe`]).
    async fn send(&mut self, batch: &[ChangeEvent]) -> Result<SinkAck, SinkError> {
        self.line.clear();
        for ev in batch {
            ev.write_json(&mut self.line);
            self.line.push(b'\n');
        }
        let res = self.out.write_all(&self.line).and_then(|()| self.out.flush());
        match res {
            Ok(()) => Ok(SinkAck { records: batch.len(), bytes: self.line.len(), requests: 1 }),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Err(SinkError::fatal(Some(CLOSED_PIPE.into()), "the reader of the output closed it").with_source(e))
            }
            Err(e) => Err(SinkError::fatal(Some("Io".into()), format!("cannot write the output: {e}")).with_source(e)),
        }
    }

    /// Always OK: a writer has nothing to check before the first write.
    async fn check(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{Op, Row, RowsEventInfo, SourceInfo, Value};

    fn event(id: i64) -> ChangeEvent {
        let info = RowsEventInfo {
            name: "n".into(),
            server_id: 1,
            db: "d".into(),
            table: "t".into(),
            file: "binlog.000001".into(),
            pos: 4,
            gtid: None,
            ts_ms: 0,
            origin: crate::event::Origin::Binlog,
        };
        ChangeEvent {
            op: Op::Create,
            before: None,
            after: Some(Row { columns: Arc::from(vec![Arc::<str>::from("id")]), values: vec![Value::Int(id)] }),
            source: SourceInfo::new(info, 0),
            ts_ms: 0,
            transaction: None,
            key_columns: Arc::from(vec![0usize]),
        }
    }

    #[tokio::test]
    async fn writes_one_line_per_event_and_flushes() {
        let ev = event(7);
        let mut sink = JsonLinesSink::new(Vec::new());
        let ack = sink.send(&[ev.clone(), ev.clone()]).await.unwrap();
        assert_eq!(ack.records, 2);
        let out = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["op"], "c");
            assert_eq!(v["after"]["id"], 7);
        }
    }

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_closed_pipe_is_a_recognisable_fatal_error() {
        let mut sink = JsonLinesSink::new(Closed);
        let err = sink.send(&[event(1)]).await.unwrap_err();
        assert!(!err.is_transient());
        assert!(is_closed_pipe(&err), "{err}");
    }
}
