//! Serving: the router (the `/__emulator` admin routes, then the DataHub API on every other
//! path), the accept loop that can close a connection without answering (the `drop` fault), and
//! the dispatch of one DataHub request: signature, body, operation from method + path + `Action`
//! (datahub-protocol §1), request counting, fault decision, then the handler in [`crate::api`].

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use cdc_core::datahub::sign;
use serde_json::Map;
use tokio_util::sync::CancellationToken;

use crate::admin;
use crate::api;
use crate::error::ApiError;
use crate::fault::Op;
use crate::state::EmulatorState;
use crate::wire::{
    action, decode_body, error_response, parse_body, verify_signature, Reply, RequestBody, MAX_BODY_BYTES, READ_LIMIT,
};

/// Marks a connection so that a handler can close it without a response.
#[derive(Clone)]
struct ConnDrop(CancellationToken);

/// The router: DataHub API on every path, plus `/__emulator/*` admin endpoints (no signature).
pub(crate) fn router(state: EmulatorState) -> Router {
    admin::routes().fallback(datahub).with_state(state)
}

/// Serves `router` on `listener` until `shutdown`: one task per connection, which is dropped
/// (socket closed, nothing written) when a handler cancels its [`ConnDrop`].
pub(crate) async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            acc = listener.accept() => match acc {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let token = shutdown.child_token();
        let router = router.clone();
        tokio::spawn(async move {
            let conn_token = token.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnDrop(conn_token.clone()));
                let r = router.clone();
                async move { tower::ServiceExt::oneshot(r, req.map(Body::new)).await }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                res = conn => if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                _ = token.cancelled() => tracing::debug!(%peer, "connection dropped"),
            }
        });
    }
}

/// Outcome of handling one request.
enum Outcome {
    Reply(Reply),
    Drop,
}

/// The DataHub API handler: every path outside `/__emulator`.
async fn datahub(State(st): State<EmulatorState>, req: Request) -> Response {
    st.count_request();
    let request_id = st.next_request_id();
    let conn = req.extensions().get::<ConnDrop>().cloned();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    match process(&st, req).await {
        Ok(Outcome::Reply(reply)) => {
            tracing::debug!(%method, %path, %request_id, "ok");
            reply.into_response(&request_id)
        }
        Ok(Outcome::Drop) => match conn {
            Some(c) => {
                tracing::info!(%method, %path, "fault: dropping the connection");
                c.0.cancel();
                std::future::pending::<Response>().await
            }
            None => error_response(
                &ApiError::new("InternalServerError", "drop fault needs Emulator::start's server"),
                &request_id,
            ),
        },
        Err(e) => {
            tracing::info!(%method, %path, code = %e.code, message = %e.message, "error reply");
            error_response(&e, &request_id)
        }
    }
}

/// Verifies, decodes and routes one request: the signature first, then the body, then the
/// operation from method, path and `Action` (§1), then the fault decision, then the handler.
async fn process(st: &EmulatorState, req: Request) -> Result<Outcome, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes =
        to_bytes(body, READ_LIMIT).await.map_err(|_| ApiError::new("LimitExceeded", "Request body exceeds 4 MB"))?;
    verify_signature(&st.shared.accounts, &parts.method, &parts.uri, &parts.headers)?;
    let raw = decode_body(&parts.headers, bytes)?;
    if raw.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            "LimitExceeded",
            format!("Request body of {} bytes exceeds the 4 MB limit", raw.len()),
        ));
    }
    let body = parse_body(&parts.headers, &parts.method, raw)?;
    let decoded: Vec<String> = parts.uri.path().split('/').skip(1).map(|s| sign::canonical_resource(s, None)).collect();
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let is_pb = matches!(body, RequestBody::Pb { .. });
    let m = &parts.method;
    let op = match (m.as_str(), segs.as_slice(), action(&body)) {
        ("GET", ["projects"], _) => Op::ListProject,
        ("GET", ["projects", _], _) => Op::GetProject,
        ("POST", ["projects", _], _) if !is_pb => Op::CreateProject,
        ("GET", ["projects", _, "topics"], _) => Op::ListTopic,
        ("GET", ["projects", _, "topics", _], _) => Op::GetTopic,
        ("POST", ["projects", _, "topics", _], None | Some("create")) if !is_pb => Op::CreateTopic,
        ("POST", ["projects", _, "topics", _], Some("appendfield")) if !is_pb => Op::AppendField,
        ("DELETE", ["projects", _, "topics", _], _) => Op::DeleteTopic,
        ("GET", ["projects", _, "topics", _, "shards"], _) => Op::ListShard,
        ("POST", ["projects", _, "topics", _, "shards"], Some("pub")) => Op::PutRecords,
        ("POST", ["projects", _, "topics", _, "shards"], Some("split")) if !is_pb => Op::SplitShard,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("pub")) if is_pb => Op::PutRecordsByShard,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("pub")) => {
            return Err(ApiError::invalid("PutRecordsByShard supports only protobuf bodies"))
        }
        ("POST", ["projects", _, "topics", _, "shards", _], Some("cursor")) if !is_pb => Op::GetCursor,
        ("POST", ["projects", _, "topics", _, "shards", _], Some("sub")) => Op::GetRecords,
        (_, ["projects", ..], a) => {
            return Err(ApiError::invalid(format!(
                "Unsupported operation: {m} {} (Action {:?})",
                parts.uri.path(),
                a.unwrap_or("")
            )))
        }
        _ => {
            return Err(ApiError::with_status(404, "InvalidUriSpec", format!("Unknown resource {}", parts.uri.path())))
        }
    };
    st.count_op(op);
    let topic_segment = segs.get(3).copied().filter(|_| segs.get(2) == Some(&"topics")).unwrap_or("");
    let decision = st.shared.faults.lock().expect("fault lock").decide(op, topic_segment);
    if decision.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.delay_ms)).await;
    }
    if decision.drop {
        return Ok(Outcome::Drop);
    }
    if let Some((status, code, message)) = decision.error {
        return Err(ApiError::with_status(status, &code, message));
    }
    let p = segs.get(1).copied().unwrap_or("");
    let t = segs.get(3).copied().unwrap_or("");
    let shard = segs.get(5).copied().unwrap_or("");
    let reply = match (op, body) {
        (Op::ListProject, _) => api::list_project(st),
        (Op::GetProject, _) => api::get_project(st, p)?,
        (Op::CreateProject, RequestBody::Json(b)) => api::create_project(st, p, &b)?,
        (Op::CreateProject, _) => api::create_project(st, p, &Map::new())?,
        (Op::ListTopic, _) => api::list_topic(st, p)?,
        (Op::GetTopic, _) => api::get_topic(st, p, t)?,
        (Op::CreateTopic, RequestBody::Json(b)) => api::create_topic(st, p, t, &b)?,
        (Op::CreateTopic, _) => return Err(ApiError::invalid("CreateTopic needs a JSON body")),
        (Op::AppendField, RequestBody::Json(b)) => api::append_field(st, p, t, &b)?,
        (Op::DeleteTopic, _) => api::delete_topic(st, p, t)?,
        (Op::ListShard, _) => api::list_shard(st, p, t)?,
        (Op::SplitShard, RequestBody::Json(b)) => api::split_shard(st, p, t, &b)?,
        (Op::PutRecords, RequestBody::Json(b)) => api::put_records_json(st, p, t, &b, decision.partial)?,
        (Op::PutRecords, RequestBody::Pb { bytes, .. }) => api::put_records_pb(st, p, t, &bytes, decision.partial)?,
        (Op::PutRecordsByShard, RequestBody::Pb { bytes, .. }) => api::put_records_by_shard(st, p, t, shard, &bytes)?,
        (Op::GetCursor, RequestBody::Json(b)) => api::get_cursor(st, p, t, shard, &b)?,
        (Op::GetRecords, RequestBody::Json(b)) => api::get_records_json(st, p, t, shard, &b)?,
        (Op::GetRecords, RequestBody::Pb { bytes, .. }) => api::get_records_pb(st, p, t, shard, &bytes)?,
        _ => return Err(ApiError::invalid("Unsupported request body for this operation")),
    };
    Ok(Outcome::Reply(reply))
}
