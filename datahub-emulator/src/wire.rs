//! The wire side of a DataHub request, independent of what it asks for: signature verification
//! with `cdc_core::datahub::sign` (§2.6), `Content-Encoding` (lz4/deflate/zlib, §6) and
//! `Content-Type` decoding, and the response shapes (JSON with `Content-Type: application/json`
//! exactly, framed protobuf, empty), each with `x-datahub-request-id` (§9.1). The limits the
//! emulator enforces on every request live here too.

use std::io::Read;

use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cdc_core::datahub::sign;
use cdc_core::secret::Secret;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// Largest request body (after decompression): 4 MB (Limits page). Larger → `LimitExceeded`.
pub(crate) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Most records in one PutRecords/PutRecordsByShard request. More → `InvalidParameter`.
pub(crate) const MAX_RECORDS_PER_PUT: usize = 10_000;
/// Most records one GetRecords returns; larger `Limit`s are clamped to it.
pub(crate) const MAX_RECORDS_PER_GET: usize = 1000;
/// Allowed distance between the `Date` header and the emulator's clock (the real window is
/// UNVERIFIED, §15.2; 15 minutes as in other Alibaba Cloud services).
pub(crate) const MAX_DATE_SKEW_S: i64 = 15 * 60;
/// Bodies are read up to this size before the 4 MB check (so that the check can answer).
pub(crate) const READ_LIMIT: usize = 64 * 1024 * 1024;
/// The `Content-Type` of every JSON response, exactly (§9.1).
const JSON_CT: &str = "application/json";
/// The `Content-Type` of protobuf responses.
const PB_CT: &str = "application/x-protobuf";

/// What an operation answers.
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json(StatusCode, Value),
    /// A framed protobuf body, 200.
    Pb(Vec<u8>),
    /// No body, this status (e.g. 201 for the Create operations).
    Empty(StatusCode),
}

impl Reply {
    /// The HTTP response, with `x-datahub-request-id` and the exact `Content-Type`.
    pub(crate) fn into_response(self, request_id: &str) -> Response {
        let mut r = match self {
            Reply::Json(status, v) => return json_response(status, &v, request_id),
            Reply::Pb(bytes) => {
                let mut r = (StatusCode::OK, bytes).into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(PB_CT));
                r
            }
            Reply::Empty(status) => status.into_response(),
        };
        r.headers_mut().insert("x-datahub-request-id", request_id.parse().expect("ascii id"));
        r
    }
}

fn json_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut r = (status, serde_json::to_vec(body).expect("JSON serialises")).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(JSON_CT));
    r.headers_mut().insert("x-datahub-request-id", request_id.parse().expect("ascii id"));
    r
}

/// An error reply: `{"ErrorCode","ErrorMessage","RequestId"}` (§9.1).
pub(crate) fn error_response(e: &ApiError, request_id: &str) -> Response {
    json_response(
        e.status,
        &json!({"ErrorCode": e.code, "ErrorMessage": e.message, "RequestId": request_id}),
        request_id,
    )
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

/// Checks the Authorization header against every accepted account (§2.6).
/// `accounts` are the accepted (AccessKeyId, AccessKeySecret) pairs. Errors: `Unauthorized` for a
/// missing or malformed `Authorization` or `Date`, a `Date` more than [`MAX_DATE_SKEW_S`] away,
/// an unknown AccessKeyId or a signature that matches none of the canonical resources.
pub(crate) fn verify_signature(
    accounts: &[(String, Secret)],
    method: &Method,
    uri: &axum::http::Uri,
    h: &HeaderMap,
) -> Result<(), ApiError> {
    let unauthorized = |m: &str| ApiError::new("Unauthorized", m);
    let auth = header_str(h, "authorization").ok_or_else(|| unauthorized("Authorization header is missing."))?;
    let (id, sig) =
        sign::parse_authorization(auth).ok_or_else(|| unauthorized("Authorization header is malformed."))?;
    let date = header_str(h, "date").ok_or_else(|| unauthorized("Date header is missing."))?;
    let t =
        chrono::DateTime::parse_from_rfc2822(date).map_err(|_| unauthorized("Date header is not an RFC 1123 date."))?;
    if (chrono::Utc::now().timestamp() - t.timestamp()).abs() > MAX_DATE_SKEW_S {
        return Err(unauthorized("The difference between the request time and the server's time is too large."));
    }
    let key = accounts
        .iter()
        .find(|(i, _)| i == id)
        .map(|(_, k)| k)
        .ok_or_else(|| unauthorized("The AccessKeyId does not exist."))?;
    let headers: Vec<(&str, &str)> =
        h.iter().filter_map(|(k, v)| Some((k.as_str(), std::str::from_utf8(v.as_bytes()).ok()?))).collect();
    let mut resources = vec![sign::canonical_resource(uri.path(), uri.query())];
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        // Java: the raw path and query, unsorted. Go: the escaped path and url.Values.Encode(),
        // i.e. sorted by key with `k=` for an empty value (datahub-protocol §2.1).
        resources.push(format!("{}?{q}", uri.path()));
        let mut pairs: Vec<(&str, &str)> =
            q.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let go: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        resources.push(format!("{}?{}", uri.path(), go.join("&")));
    }
    let ct = header_str(h, "content-type");
    let ok = resources.iter().any(|res| {
        let sts = sign::string_to_sign(method.as_str(), ct, date, headers.iter().copied(), res);
        sign::signatures_equal(&sign::signature(key, &sts), sig)
    });
    if ok {
        Ok(())
    } else {
        Err(unauthorized("The request signature does not match."))
    }
}

/// Undoes `Content-Encoding` (§6): lz4 raw block sized by `x-datahub-content-raw-size`,
/// deflate/zlib zlib streams. Errors: `InvalidParameter` for an unknown encoding, a missing or
/// wrong raw size, or corrupt data.
pub(crate) fn decode_body(h: &HeaderMap, body: bytes::Bytes) -> Result<Vec<u8>, ApiError> {
    let enc = header_str(h, "content-encoding").unwrap_or("").trim().to_ascii_lowercase();
    let raw_size = match header_str(h, "x-datahub-content-raw-size") {
        Some(s) => Some(
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= READ_LIMIT)
                .ok_or_else(|| ApiError::invalid(format!("Invalid x-datahub-content-raw-size {s:?}")))?,
        ),
        None => None,
    };
    let out = match enc.as_str() {
        "" | "identity" => return Ok(body.to_vec()),
        "lz4" => {
            let n = raw_size.ok_or_else(|| ApiError::invalid("lz4 body without x-datahub-content-raw-size"))?;
            if n == 0 && body.is_empty() {
                return Ok(Vec::new());
            }
            lz4_flex::block::decompress(&body, n).map_err(|e| ApiError::invalid(format!("Invalid lz4 body: {e}")))?
        }
        "deflate" | "zlib" => {
            if body.is_empty() && raw_size.unwrap_or(0) == 0 {
                return Ok(Vec::new());
            }
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&body[..])
                .take(READ_LIMIT as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid(format!("Invalid {enc} body: {e}")))?;
            out
        }
        other => return Err(ApiError::invalid(format!("Unsupported Content-Encoding {other:?}"))),
    };
    if let Some(n) = raw_size {
        if out.len() != n {
            return Err(ApiError::invalid(format!(
                "Decompressed body is {} bytes, x-datahub-content-raw-size says {n}",
                out.len()
            )));
        }
    }
    Ok(out)
}

/// The request body in the form its Content-Type says.
pub(crate) enum RequestBody {
    /// No body (GET, DELETE, or only whitespace).
    None,
    /// A JSON object.
    Json(Map<String, Value>),
    /// A framed protobuf message with the `x-datahub-request-action` header (`pub`/`sub`).
    Pb { action: String, bytes: Vec<u8> },
}

/// Reads the decoded body as its `Content-Type` says. Errors: `InvalidParameter` for the batch
/// protocol, JSON that does not parse or is not an object.
pub(crate) fn parse_body(h: &HeaderMap, method: &Method, raw: Vec<u8>) -> Result<RequestBody, ApiError> {
    let media = header_str(h, "content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default();
    match media.as_str() {
        "application/x-protobuf" => Ok(RequestBody::Pb {
            action: header_str(h, "x-datahub-request-action").unwrap_or("").to_owned(),
            bytes: raw,
        }),
        "application/x-binary" => {
            Err(ApiError::invalid("The batch protocol (application/x-binary) is not supported by this emulator"))
        }
        _ if *method == Method::GET || *method == Method::DELETE || raw.iter().all(u8::is_ascii_whitespace) => {
            Ok(RequestBody::None)
        }
        _ => match serde_json::from_slice::<Value>(&raw) {
            Ok(Value::Object(m)) => Ok(RequestBody::Json(m)),
            Ok(_) => Err(ApiError::invalid("Request body must be a JSON object")),
            Err(e) => Err(ApiError::invalid(format!("Invalid JSON body: {e}"))),
        },
    }
}

/// The operation name a body carries: JSON `Action`, or the PB action header.
pub(crate) fn action(b: &RequestBody) -> Option<&str> {
    match b {
        RequestBody::Json(m) => m.get("Action").and_then(Value::as_str),
        RequestBody::Pb { action, .. } => Some(action.as_str()),
        RequestBody::None => None,
    }
}
