//! The harness the binary tests share (each test file has `mod common;`): the built
//! `cdc-collector` ([`BIN`]) run as a child process with a cleared environment ([`Collector`]:
//! spawn, another subcommand with the same settings, `/health` and readiness, SIGKILL and
//! SIGTERM, the offsets file and its checkpoint, catching up with the server's binlog end), the
//! settings every run against the suite's MariaDB and the DataHub emulator has
//! ([`collector_env`]), and the small helpers around them.
//!
//! Not every test binary uses every item, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cdc_core::checkpoint::Checkpoint;
use cdc_tests::mariadb::{self, TestServer, REPL_PASSWORD, REPL_USER};
use cdc_tests::pipeline::{self as pl, Hub};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cdc-collector");

/// A port nothing listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path` on 127.0.0.1:`port`: (status, body); None when nothing answers.
pub(crate) async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let res = reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}")).send().await.ok()?;
    let code = res.status().as_u16();
    Some((code, res.text().await.ok()?))
}

/// A process's stdout and stderr, one after the other.
pub(crate) fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The database settings: `host:port` as the replication user, capturing `schema`.
pub(crate) fn database_env(host: &str, port: u16, schema: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_HOST", host.to_owned()),
        ("DATABASE_PORT", port.to_string()),
        ("DATABASE_USERNAME", REPL_USER.to_owned()),
        ("DATABASE_PASSWORD", REPL_PASSWORD.to_owned()),
        ("DATABASE_SCHEMA", schema.to_owned()),
    ]
}

/// The DataHub settings: `hub`'s project, topic and credentials at `endpoint`.
pub(crate) fn datahub_env(hub: &Hub, endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATAHUB_ENDPOINT", endpoint.to_owned()),
        ("DATAHUB_ACCESS_ID", hub.id.to_owned()),
        ("DATAHUB_ACCESS_KEY", hub.key.to_owned()),
        ("DATAHUB_PROJECT", hub.project.to_owned()),
        ("DATAHUB_TOPIC", hub.topic.to_owned()),
    ]
}

/// What every `run` of these tests has: [`database_env`] for `db` and `schema`,
/// [`datahub_env`], the monitoring port, the offsets file, a fresh server id, the server
/// name, a 20 ms batch linger and 500 ms heartbeats.
pub(crate) fn collector_env(
    db: &TestServer,
    schema: &str,
    hub: &Hub,
    endpoint: &str,
    name: &str,
    mon: u16,
    offsets: &Path,
) -> Vec<(&'static str, String)> {
    let mut env = database_env(&db.host, db.port, schema);
    env.extend(datahub_env(hub, endpoint));
    env.extend([
        ("MONITORING_PORT", mon.to_string()),
        ("CDC_OFFSET_PATH", offsets.display().to_string()),
        ("CDC_SERVER_ID", mariadb::unique_server_id().to_string()),
        ("CDC_SERVER_NAME", name.to_owned()),
        ("CDC_BATCH_LINGER_MS", "20".to_owned()),
        ("CDC_HEARTBEAT_MS", "500".to_owned()),
    ]);
    env
}

/// One collector configuration; every spawn appends its stderr to `log`.
pub(crate) struct Collector {
    /// The process environment (nothing else is inherited).
    pub(crate) env: Vec<(&'static str, String)>,
    /// `MONITORING_PORT`.
    pub(crate) mon: u16,
    /// `CDC_OFFSET_PATH`.
    pub(crate) offsets: PathBuf,
    /// Where the stderr of every spawn is appended.
    pub(crate) log: PathBuf,
    /// The running process, if any.
    pub(crate) child: Option<Child>,
}

impl Collector {
    /// [`collector_env`] on a free monitoring port, logging to `dir/collector.log`.
    pub(crate) fn new(
        db: &TestServer,
        schema: &str,
        hub: &Hub,
        endpoint: &str,
        name: &str,
        dir: &Path,
        offsets: PathBuf,
    ) -> Self {
        let mon = free_port();
        let env = collector_env(db, schema, hub, endpoint, name, mon, &offsets);
        Self { env, mon, offsets, log: dir.join("collector.log"), child: None }
    }

    /// Sets (or replaces) one variable for the next spawns and commands.
    pub(crate) fn set(&mut self, k: &'static str, v: &str) {
        self.env.retain(|(x, _)| *x != k);
        self.env.push((k, v.to_owned()));
    }

    /// Starts `cdc-collector run`.
    pub(crate) fn spawn(&mut self) {
        self.spawn_args(&["run"], Stdio::null());
    }

    /// Starts `cdc-collector <args>` with `stdout` (stdin null, stderr appended to the log).
    pub(crate) fn spawn_args(&mut self, args: &[&str], stdout: Stdio) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(BIN)
            .env_clear()
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn cdc-collector");
        self.child = Some(child);
    }

    /// Runs another subcommand with the same environment; returns its output.
    pub(crate) fn command(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env_clear()
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .expect("run cdc-collector")
    }

    /// Everything the spawns wrote to stderr so far.
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` on the monitoring port (5 s timeout): (status, body).
    pub(crate) async fn get(&self, path: &str) -> Option<(u16, String)> {
        let res = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}{path}", self.mon))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let code = res.status().as_u16();
        Some((code, res.text().await.ok()?))
    }

    /// Polls until `/health/ready` answers 200 (60 s at most), failing early with the log if
    /// the process exits.
    pub(crate) async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((200, _)) = self.get("/health/ready").await {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector exited with {st} before ready:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "not ready in time: {:?}", self.get("/health").await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then reaps the process.
    pub(crate) fn sigkill(&mut self) {
        let mut c = self.child.take().expect("running");
        c.kill().expect("SIGKILL");
        c.wait().unwrap();
    }

    /// SIGTERM, the exit awaited for 90 s at most; returns (exit code, how long the exit took).
    pub(crate) async fn sigterm(&mut self) -> (Option<i32>, Duration) {
        self.sigterm_within(Duration::from_secs(90)).await
    }

    /// SIGTERM, the exit awaited for `within` at most; returns (exit code, how long it took).
    pub(crate) async fn sigterm_within(&mut self, within: Duration) -> (Option<i32>, Duration) {
        let mut c = self.child.take().expect("running");
        let t0 = Instant::now();
        assert!(Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap().success());
        let deadline = t0 + within;
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return (st.code(), t0.elapsed());
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) for the process to exit by itself; returns its exit code.
    pub(crate) async fn wait_exit(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return st.code();
            }
            assert!(Instant::now() < deadline, "collector still running after {secs} s:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The checkpoint in the offsets file, if there is one that parses.
    pub(crate) fn checkpoint(&self) -> Option<Checkpoint> {
        std::fs::read(&self.offsets).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Waits (polling every 10 ms, `secs` at most) until the stored checkpoint satisfies `cond`.
    pub(crate) async fn wait_checkpoint(
        &mut self,
        what: &str,
        secs: u64,
        cond: impl Fn(&Checkpoint) -> bool,
    ) -> Checkpoint {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(cp) = self.checkpoint().filter(|cp| cond(cp)) {
                return cp;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector exited with {st} waiting for {what}:\n{}", self.log_text());
            }
            assert!(Instant::now() < deadline, "no checkpoint {what} in {secs} s: {:?}", self.checkpoint());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until the stored checkpoint reaches the server's binlog end.
    pub(crate) async fn wait_caught_up(&mut self, db: &TestServer, secs: u64) {
        let end = pl::binlog_end(db).await;
        let (file, pos) = (end.file.clone(), end.pos);
        let target = pl::order(&end);
        let deadline = Instant::now() + Duration::from_secs(secs);
        let (mut steady, mut steady_since) = (None, Instant::now());
        loop {
            if let Some(cp) = self.checkpoint() {
                if pl::order(&cp.position().cloned().unwrap()) >= target {
                    return;
                }
            }
            // The binlog may end with events that are no transaction (MariaDB's
            // BINLOG_CHECKPOINT after a rotation): then caught up means the reader passed the
            // target, everything read is acknowledged, and the checkpoint stays put for 1 s.
            if let Some((_, body)) = self.get("/health").await {
                let h: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let cur = &h["current_position"];
                let idx = cur["file"].as_str().and_then(|f| f.rsplit('.').next()).and_then(|n| n.parse::<u64>().ok());
                let reader = (idx.unwrap_or(0), cur["pos"].as_u64().unwrap_or(0));
                if reader >= target && h["events_total"] == h["events_acked_total"] {
                    let cp = self.checkpoint();
                    if cp.is_some() && steady.as_ref() == Some(&cp) {
                        if steady_since.elapsed() > Duration::from_secs(1) {
                            return;
                        }
                    } else {
                        steady = Some(cp);
                        steady_since = Instant::now();
                    }
                }
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector exited with {st} while catching up:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "checkpoint {:?} never reached {file}:{pos}; {:?}",
                self.checkpoint(),
                self.get("/health").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
