//! The monitoring HTTP endpoints, served on `MONITORING_PORT`:
//!
//! | path | answers | status |
//! |---|---|---|
//! | `/health` | JSON report: overall `UP`/`DEGRADED`/`DOWN`, source and sink state, current and committed binlog position, lag, events/s, last error, version, and `topics`: each DataHub topic written with its record type, layout, ACTIVE shard count and tables | 200, or 503 when `DOWN` |
//! | `/health/live` | the pipeline loop reported within the liveness timeout (no dependency checks) | 200 / 503 |
//! | `/health/ready` | [`StatusSnapshot::readiness`]: streaming, sink accepting, not shutting down | 200 / 503 with `{"ready":false,"reason":…}` |
//! | `/metrics` | Prometheus text exposition from the installed recorder | 200 |
//!
//! Everything comes from [`Status::snapshot`], which holds no secrets. [`router`] builds the
//! whole [`Router`] so tests can call it with `tower::ServiceExt::oneshot`, without a socket.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use cdc_core::datahub::multi::{TopicRegistry, TopicState};
use cdc_core::status::{StageState, Status, StatusSnapshot};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;

/// The service version reported on `/health` (the crate version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Window over which `/health` computes events per second.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// Events-per-second meter: samples of `events_total` over a short window.
///
/// Samples are taken by a ticker in `run` (every second) and on each `/health` request; the
/// rate is the difference between the newest sample and the oldest one still needed to span
/// [`RATE_WINDOW`], divided by the time between them.
#[derive(Debug, Default)]
pub struct EventRate {
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl EventRate {
    /// Records that `total` events had been read at `at`.
    pub fn record(&self, at: Instant, total: u64) {
        let mut s = self.samples.lock().expect("rate lock");
        if s.back().is_some_and(|(t, _)| *t > at) {
            return; // out of order: ignore
        }
        s.push_back((at, total));
        // Keep the newest sample older than the window so the span covers the whole window.
        while s.len() > 2 && at.duration_since(s[1].0) >= RATE_WINDOW {
            s.pop_front();
        }
    }

    /// Events per second over the window; None until two samples at different times exist.
    pub fn per_second(&self) -> Option<f64> {
        let s = self.samples.lock().expect("rate lock");
        let (first, last) = (s.front()?, s.back()?);
        let secs = last.0.duration_since(first.0).as_secs_f64();
        (secs > 0.0).then(|| last.1.saturating_sub(first.1) as f64 / secs)
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The pipeline's live state.
    pub status: Status,
    /// The Prometheus recorder's handle; `/metrics` answers 503 without one.
    pub metrics: Option<PrometheusHandle>,
    /// Events-per-second meter fed from `status`.
    pub rate: Arc<EventRate>,
    /// `/health/live` fails when the pipeline loop has not reported for this long.
    pub liveness_timeout: Duration,
    /// The DataHub topics the sink writes (filled as it prepares them).
    pub topics: TopicRegistry,
}

impl AppState {
    /// State over `status` with a liveness timeout of `liveness_timeout`.
    pub fn new(status: Status, metrics: Option<PrometheusHandle>, liveness_timeout: Duration) -> Self {
        Self {
            status,
            metrics,
            rate: Arc::new(EventRate::default()),
            liveness_timeout,
            topics: TopicRegistry::default(),
        }
    }

    fn is_live(&self) -> (bool, i64) {
        let since = self.status.since_heartbeat_ms();
        (u128::try_from(since).unwrap_or(0) < self.liveness_timeout.as_millis(), since)
    }
}

/// Overall status on `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Overall {
    /// Ready: streaming and the sink accepting.
    Up,
    /// Alive but not (yet) ready: starting, connecting, retrying.
    Degraded,
    /// A stage failed or stopped, shutdown began, or the pipeline loop stopped reporting.
    Down,
}

/// Overall status of a snapshot, given liveness.
pub fn overall(snap: &StatusSnapshot, live: bool) -> Overall {
    let dead = |s: &StageState| matches!(s, StageState::Failed(_) | StageState::Stopped);
    if !live || snap.shutting_down || dead(&snap.source) || dead(&snap.sink) {
        Overall::Down
    } else if snap.readiness().is_ok() {
        Overall::Up
    } else {
        Overall::Degraded
    }
}

/// The `/health` document.
#[derive(Debug, Serialize)]
pub struct HealthReport {
    /// `UP`, `DEGRADED` or `DOWN`.
    pub status: Overall,
    /// Service version.
    pub version: &'static str,
    /// Why not ready, when not ready.
    pub not_ready_reason: Option<String>,
    /// Milliseconds since the pipeline loop last reported.
    pub since_heartbeat_ms: i64,
    /// Events read per second over the last ~10 s.
    pub events_per_second: Option<f64>,
    /// The pipeline state (source, sink, positions, lag, counters, last error).
    #[serde(flatten)]
    pub pipeline: StatusSnapshot,
    /// The DataHub topics by name: record type, layout, ACTIVE shards, tables.
    pub topics: std::collections::BTreeMap<String, TopicState>,
}

/// Longest time one monitoring request may take (408 after it), so a graceful stop of the
/// server cannot hang on a stuck client.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The full router: `/health`, `/health/live`, `/health/ready`, `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .with_state(state)
}

async fn health(State(st): State<AppState>) -> Response {
    let snap = st.status.snapshot();
    st.rate.record(Instant::now(), snap.events_total);
    let (live, since) = st.is_live();
    let status = overall(&snap, live);
    let report = HealthReport {
        status,
        version: VERSION,
        not_ready_reason: snap.readiness().err(),
        since_heartbeat_ms: since,
        events_per_second: st.rate.per_second(),
        pipeline: snap,
        topics: st.topics.read().map(|t| t.clone()).unwrap_or_default(),
    };
    let code = if status == Overall::Down { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    (code, Json(report)).into_response()
}

async fn live(State(st): State<AppState>) -> Response {
    let (live, since) = st.is_live();
    let code = if live { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(serde_json::json!({ "live": live, "since_heartbeat_ms": since }))).into_response()
}

async fn ready(State(st): State<AppState>) -> Response {
    match st.status.snapshot().readiness() {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "ready": true }))).into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "ready": false, "reason": reason })))
            .into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    match &st.metrics {
        Some(h) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder not installed\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use cdc_core::position::BinlogPosition;

    use cdc_core::checkpoint::Checkpoint;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use tower::ServiceExt;

    async fn get_json(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
        let res = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let code = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (
            code,
            serde_json::from_slice(&body)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into())),
        )
    }

    fn app(status: &Status) -> Router {
        router(AppState::new(status.clone(), None, Duration::from_secs(60)))
    }

    fn streaming() -> Status {
        let st = Status::new();
        st.set_source(StageState::Running);
        st.set_sink(StageState::Running);
        st.on_read(5, Some(BinlogPosition::new("binlog.000003", 1234)), 0);
        st.on_checkpoint(&Checkpoint::at(
            BinlogPosition::new("binlog.000003", 1000),
            Some("0-1-9".parse().unwrap()),
            1,
            5,
        ));
        st
    }

    #[tokio::test]
    async fn health_lists_the_topics_and_their_shards() {
        let state = AppState::new(streaming(), None, Duration::from_secs(60));
        state.topics.write().unwrap().insert(
            "ods_shop_orders".into(),
            TopicState {
                record_type: "TUPLE".into(),
                layout: Some("DTS".into()),
                shards: 3,
                tables: vec!["shop.orders".into()],
                dead_letter: false,
                retrying: None,
            },
        );
        let (code, body) = get_json(&router(state), "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            body["topics"],
            serde_json::json!({"ods_shop_orders": {"record_type": "TUPLE", "layout": "DTS", "shards": 3,
                                                   "tables": ["shop.orders"], "dead_letter": false}})
        );
    }

    #[tokio::test]
    async fn starting() {
        let st = Status::new();
        let app = app(&st);
        let (code, h) = get_json(&app, "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(h["status"], "DEGRADED");
        assert_eq!(h["source"]["state"], "starting");
        assert_eq!(h["version"], VERSION);
        assert!(h["not_ready_reason"].as_str().unwrap().contains("starting"), "{h}");
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
        let (code, r) = get_json(&app, "/health/ready").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r["ready"], false);
        assert!(r["reason"].as_str().unwrap().contains("source not streaming"), "{r}");
    }

    #[tokio::test]
    async fn streaming_is_up_and_ready() {
        let st = streaming();
        let app = app(&st);
        let (code, h) = get_json(&app, "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(h["status"], "UP");
        assert_eq!(h["sink"]["state"], "running");
        assert_eq!(h["current_position"]["file"], "binlog.000003");
        assert_eq!(h["current_position"]["pos"], 1234);
        assert_eq!(h["committed"]["resume"]["position"]["pos"], 1000);
        assert_eq!(h["events_total"], 5);
        assert!(h["not_ready_reason"].is_null());
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
        let (code, r) = get_json(&app, "/health/ready").await;
        assert_eq!((code, r), (StatusCode::OK, serde_json::json!({"ready": true})));
    }

    #[tokio::test]
    async fn sink_retrying_is_degraded_and_not_ready() {
        let st = streaming();
        st.set_sink(StageState::Retrying("LimitExceeded: throttled".into()));
        let app = app(&st);
        let (code, h) = get_json(&app, "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(h["status"], "DEGRADED");
        assert_eq!(h["sink"]["state"], "retrying");
        assert_eq!(h["last_error"], "sink: LimitExceeded: throttled");
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
        let (code, r) = get_json(&app, "/health/ready").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r["reason"].as_str().unwrap().contains("LimitExceeded"), "{r}");
    }

    #[tokio::test]
    async fn failed_is_down() {
        let st = streaming();
        st.set_source(StageState::Failed("binlog purged".into()));
        let app = app(&st);
        let (code, h) = get_json(&app, "/health").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(h["status"], "DOWN");
        assert_eq!(h["source"]["reason"], "binlog purged");
        assert_eq!(get_json(&app, "/health/ready").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn shutting_down_is_not_ready_before_draining() {
        let st = streaming();
        st.begin_shutdown();
        let app = app(&st);
        let (code, r) = get_json(&app, "/health/ready").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r["reason"], "shutting down");
        let (code, h) = get_json(&app, "/health").await;
        assert_eq!((code, h["status"].clone()), (StatusCode::SERVICE_UNAVAILABLE, "DOWN".into()));
        assert_eq!(h["shutting_down"], true);
        // Still alive while draining: the orchestrator must not kill it early.
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn live_fails_when_the_loop_stops_reporting() {
        let st = streaming();
        let app = router(AppState::new(st.clone(), None, Duration::from_millis(50)));
        st.beat();
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(120)).await;
        let (code, l) = get_json(&app, "/health/live").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(l["live"], false);
        assert!(l["since_heartbeat_ms"].as_i64().unwrap() >= 120, "{l}");
        assert_eq!(get_json(&app, "/health").await.1["status"], "DOWN");
        st.beat();
        assert_eq!(get_json(&app, "/health/live").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn metrics_render_prometheus_text_with_buckets() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()), &[0.1, 1.0])
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(cdc_core::metrics::EVENTS_TOTAL, "op" => "c").increment(3);
            metrics::histogram!(cdc_core::metrics::SINK_REQUEST_DURATION_SECONDS).record(0.5);
        });
        let app = router(AppState::new(streaming(), Some(handle), Duration::from_secs(60)));
        let res = app.clone().oneshot(Request::get("/metrics").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
        let text = String::from_utf8(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
        assert!(text.contains("cdc_events_total{op=\"c\"} 3"), "{text}");
        assert!(text.contains("cdc_sink_request_duration_seconds_bucket{le=\"1\"} 1"), "{text}");
        // Without a recorder: 503, not an empty 200.
        let bare = router(AppState::new(streaming(), None, Duration::from_secs(60)));
        assert_eq!(get_json(&bare, "/metrics").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn event_rate_spans_the_window() {
        let r = EventRate::default();
        let t0 = Instant::now();
        assert_eq!(r.per_second(), None);
        r.record(t0, 100);
        assert_eq!(r.per_second(), None);
        r.record(t0 + Duration::from_secs(2), 300);
        assert_eq!(r.per_second(), Some(100.0));
        // Older samples fall out of the window: the rate is over the last ~10 s only.
        for i in 3..=30u64 {
            r.record(t0 + Duration::from_secs(i), 300 + (i - 2) * 10);
        }
        let rate = r.per_second().unwrap();
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
    }
}
