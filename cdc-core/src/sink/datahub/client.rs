//! The signed DataHub HTTP client: one pooled `reqwest` client (connection reuse, connect and
//! request timeouts) and one method per DataHub call the producer, test readers and topic
//! creation (CreateTopic, AppendField) need.
//!
//! Every request carries `Date`, `Content-Type` (`application/json` on every JSON call, GETs
//! included, as pydatahub; `application/x-protobuf` for PB), `x-datahub-client-version: 1.1`,
//! the STS token header when there is one, and the `DATAHUB id:signature` Authorization computed
//! by [`super::sign`] (the DataHub REST API as the official SDKs send it (pydatahub, <https://github.com/aliyun/aliyun-datahub-sdk-python>; Java SDK, <https://github.com/aliyun/aliyun-datahub-sdk-java>)). Write and read bodies are LZ4
//! compressed when configured and when that makes them smaller (§6), with the raw size in the
//! signed `x-datahub-content-raw-size`. Errors are decoded from the `ErrorCode` body (§9).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_ENCODING};
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::compress;
use super::config::{Compression, DataHubConfig, WriteProtocol};
use super::encode;
use super::error::{DataHubError, ErrorCode};
use super::model::{
    BlobRecord, BlobRecords, CursorInfo, CursorType, NewTopic, ProjectInfo, PutRecordsResult, RawGetRecords,
    ReadBlobRecord, ShardList, TopicInfo,
};
use super::sign::{self, Credentials};

const JSON: &str = "application/json";
const PROTOBUF: &str = "application/x-protobuf";
const RAW_SIZE: &str = "x-datahub-content-raw-size";
const REQUEST_ID: &str = "x-datahub-request-id";

/// A signed DataHub client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct DataHubClient {
    http: reqwest::Client,
    endpoint: String,
    credentials: Credentials,
    compression: Compression,
}

impl std::fmt::Debug for DataHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataHubClient")
            .field("endpoint", &self.endpoint)
            .field("access_id", &self.credentials.access_id)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// One request before signing.
struct Request<'a> {
    operation: &'static str,
    method: Method,
    path: String,
    content_type: &'static str,
    body: Option<Vec<u8>>,
    /// `x-datahub-request-action` (PB only).
    action: Option<&'a str>,
    /// Compress the body when configured (writes and reads, as pydatahub).
    compress: bool,
}

impl DataHubClient {
    /// A client for `cfg`'s endpoint and credentials, with its timeouts and compression.
    /// Errors: [`DataHubError::Config`] when `cfg` is invalid; [`DataHubError::Transport`] when
    /// the HTTP client cannot be built.
    pub fn new(cfg: &DataHubConfig) -> Result<Self, DataHubError> {
        cfg.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
            .timeout(Duration::from_millis(cfg.request_timeout_ms))
            .pool_idle_timeout(Duration::from_secs(60))
            // DataHub speaks HTTP/1.1 (datahub-protocol §1); no h2 over ALPN.
            .http1_only()
            .tcp_nodelay(true)
            .user_agent(concat!("cdc-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DataHubError::from_reqwest("client", cfg.base_url(), e))?;
        Ok(Self {
            http,
            endpoint: cfg.base_url().to_owned(),
            credentials: cfg.credentials.clone(),
            compression: cfg.compression,
        })
    }

    /// The base URL, without trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// GetProject: `GET /projects/{p}` (§3.1).
    pub async fn get_project(&self, project: &str) -> Result<ProjectInfo, DataHubError> {
        let body = self.get("GetProject", format!("/projects/{project}")).await?;
        json("GetProject", &body)
    }

    /// GetTopic: `GET /projects/{p}/topics/{t}` (§3.2).
    pub async fn get_topic(&self, project: &str, topic: &str) -> Result<TopicInfo, DataHubError> {
        let body = self.get("GetTopic", format!("/projects/{project}/topics/{topic}")).await?;
        json("GetTopic", &body)
    }

    /// CreateTopic: `POST /projects/{p}/topics/{t}` with [`NewTopic`]'s body (§3.2); the
    /// service answers 201 without a body. Errors: [`DataHubError::Service`] with
    /// `TopicAlreadyExist` (the name exists, compared case-insensitively), `InvalidParameter` (a
    /// bad name, shard count, lifecycle or schema), `NoSuchProject`; transport errors as every call.
    pub async fn create_topic(&self, project: &str, topic: &str, spec: &NewTopic) -> Result<(), DataHubError> {
        let body = serde_json::to_vec(&spec.body()).expect("JSON value serializes");
        self.post_topic("CreateTopic", project, topic, body).await
    }

    /// AppendField: `POST /projects/{p}/topics/{t}` with
    /// `{"Action":"appendfield","FieldName","FieldType"}` (§8): a nullable field at the end of a
    /// TUPLE topic's schema (the call cannot make it NOT NULL). `type_name` is the DataHub type
    /// (`BIGINT`, …, see `tuple::FieldType::as_str`). Errors: [`DataHubError::Service`] with
    /// `InvalidParameter` (a BLOB topic, a field that exists, a bad name or type), `NoSuchProject`,
    /// `NoSuchTopic`.
    pub async fn append_field(
        &self,
        project: &str,
        topic: &str,
        field_name: &str,
        type_name: &str,
    ) -> Result<(), DataHubError> {
        let body = serde_json::json!({"Action": "appendfield", "FieldName": field_name, "FieldType": type_name});
        self.post_topic("AppendField", project, topic, serde_json::to_vec(&body).expect("JSON value serializes")).await
    }

    /// ListShard: `GET /projects/{p}/topics/{t}/shards` (§3.3).
    pub async fn list_shard(&self, project: &str, topic: &str) -> Result<ShardList, DataHubError> {
        let body = self.get("ListShard", format!("/projects/{project}/topics/{topic}/shards")).await?;
        json("ListShard", &body)
    }

    /// JSON PutRecords of BLOB records, each with an explicit `ShardId` (§3.4). The answer lists
    /// the records that were **not** written; all others were.
    pub async fn put_records(
        &self,
        project: &str,
        topic: &str,
        records: &[(String, BlobRecord)],
    ) -> Result<PutRecordsResult, DataHubError> {
        let wires: Vec<(&str, Vec<u8>)> = records
            .iter()
            .map(|(shard, r)| (shard.as_str(), encode::encode_record(r, WriteProtocol::JsonPutRecords)))
            .collect();
        let body = encode::json_body(wires.iter().map(|(shard, w)| (*shard, w.as_slice())));
        self.put_records_body(project, topic, body).await
    }

    /// JSON PutRecords with a body built by the crate's JSON body encoder (`encode::json_body`); the records must carry
    /// `ShardId` (the sink never lets the server route).
    pub async fn put_records_body(
        &self,
        project: &str,
        topic: &str,
        body: Vec<u8>,
    ) -> Result<PutRecordsResult, DataHubError> {
        let answer = self
            .send(Request {
                operation: "PutRecords",
                method: Method::POST,
                path: format!("/projects/{project}/topics/{topic}/shards"),
                content_type: JSON,
                body: Some(body),
                action: None,
                compress: true,
            })
            .await?;
        json("PutRecords", &answer)
    }

    /// Protobuf PutRecordsByShard of BLOB records to one shard, all or nothing (§3.5).
    pub async fn put_records_by_shard(
        &self,
        project: &str,
        topic: &str,
        shard_id: &str,
        records: &[BlobRecord],
    ) -> Result<(), DataHubError> {
        let wires: Vec<Vec<u8>> = records.iter().map(|r| encode::encode_record(r, WriteProtocol::PbByShard)).collect();
        let body = encode::pb_body(wires.iter().map(Vec::as_slice));
        self.put_records_by_shard_body(project, topic, shard_id, body).await
    }

    /// Protobuf PutRecordsByShard with a framed body built by the crate's protobuf body encoder (`encode::pb_body`). The answer
    /// body is ignored, as by every SDK.
    pub async fn put_records_by_shard_body(
        &self,
        project: &str,
        topic: &str,
        shard_id: &str,
        body: Vec<u8>,
    ) -> Result<(), DataHubError> {
        self.send(Request {
            operation: "PutRecordsByShard",
            method: Method::POST,
            path: format!("/projects/{project}/topics/{topic}/shards/{shard_id}"),
            content_type: PROTOBUF,
            body: Some(body),
            action: Some("pub"),
            compress: true,
        })
        .await
        .map(drop)
    }

    /// GetCursor (§3.6).
    pub async fn get_cursor(
        &self,
        project: &str,
        topic: &str,
        shard_id: &str,
        kind: CursorType,
    ) -> Result<CursorInfo, DataHubError> {
        let body = match kind {
            CursorType::Oldest => serde_json::json!({"Action": "cursor", "Type": "OLDEST"}),
            CursorType::Latest => serde_json::json!({"Action": "cursor", "Type": "LATEST"}),
            CursorType::Sequence(s) => serde_json::json!({"Action": "cursor", "Type": "SEQUENCE", "Sequence": s}),
            CursorType::SystemTime(t) => {
                serde_json::json!({"Action": "cursor", "Type": "SYSTEM_TIME", "SystemTime": t})
            }
        };
        let answer = self.post_json("GetCursor", project, topic, shard_id, &body, false).await?;
        json("GetCursor", &answer)
    }

    /// JSON GetRecords of a BLOB topic: at most `limit` (1..=1000) records from `cursor` (§3.7).
    pub async fn get_blob_records(
        &self,
        project: &str,
        topic: &str,
        shard_id: &str,
        cursor: &str,
        limit: u32,
    ) -> Result<BlobRecords, DataHubError> {
        let body = serde_json::json!({"Action": "sub", "Cursor": cursor, "Limit": limit});
        let answer = self.post_json("GetRecords", project, topic, shard_id, &body, true).await?;
        let raw: RawGetRecords = json("GetRecords", &answer)?;
        let mut records = Vec::with_capacity(raw.records.len());
        for r in raw.records {
            let text = r.data.as_str().ok_or_else(|| DataHubError::Protocol {
                operation: "GetRecords",
                message: "BLOB record Data is not a base64 string".into(),
            })?;
            let data = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| DataHubError::Protocol {
                operation: "GetRecords",
                message: format!("bad base64 Data: {e}"),
            })?;
            records.push(ReadBlobRecord {
                sequence: r.sequence,
                system_time: r.system_time,
                data,
                attributes: r.attributes.unwrap_or_default(),
            });
        }
        Ok(BlobRecords { next_cursor: raw.next_cursor, start_seq: raw.start_seq, records })
    }

    async fn get(&self, operation: &'static str, path: String) -> Result<Bytes, DataHubError> {
        self.send(Request {
            operation,
            method: Method::GET,
            path,
            content_type: JSON,
            body: None,
            action: None,
            compress: false,
        })
        .await
    }

    /// A JSON POST to the topic resource (CreateTopic, AppendField); the answer has no body.
    async fn post_topic(
        &self,
        operation: &'static str,
        project: &str,
        topic: &str,
        body: Vec<u8>,
    ) -> Result<(), DataHubError> {
        self.send(Request {
            operation,
            method: Method::POST,
            path: format!("/projects/{project}/topics/{topic}"),
            content_type: JSON,
            body: Some(body),
            action: None,
            compress: false,
        })
        .await
        .map(drop)
    }

    async fn post_json(
        &self,
        operation: &'static str,
        project: &str,
        topic: &str,
        shard_id: &str,
        body: &serde_json::Value,
        compress: bool,
    ) -> Result<Bytes, DataHubError> {
        self.send(Request {
            operation,
            method: Method::POST,
            path: format!("/projects/{project}/topics/{topic}/shards/{shard_id}"),
            content_type: JSON,
            body: Some(serde_json::to_vec(body).expect("JSON value serializes")),
            action: None,
            compress,
        })
        .await
    }

    /// Compresses, signs, sends; returns the (decompressed) body of a 2xx answer.
    async fn send(&self, req: Request<'_>) -> Result<Bytes, DataHubError> {
        let op = req.operation;
        let mut headers: Vec<(&'static str, String)> = vec![
            ("Date", sign::http_date(Utc::now())),
            ("Content-Type", req.content_type.to_owned()),
            ("x-datahub-client-version", sign::CLIENT_VERSION.to_owned()),
        ];
        if let Some(token) = &self.credentials.security_token {
            headers.push(("x-datahub-security-token", token.expose().to_owned()));
        }
        if let Some(action) = req.action {
            headers.push(("x-datahub-request-action", action.to_owned()));
        }
        let mut body = req.body.unwrap_or_default();
        let mut encoding = None;
        if req.compress && self.compression == Compression::Lz4 {
            if let Some(block) = compress::lz4_if_smaller(&body) {
                headers.push((RAW_SIZE, body.len().to_string()));
                encoding = Some(compress::LZ4);
                body = block;
            }
        }
        let resource = sign::canonical_resource(&req.path, None);
        let to_sign = sign::string_to_sign(
            req.method.as_str(),
            Some(req.content_type),
            &headers[0].1,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            &resource,
        );
        let mut map = HeaderMap::with_capacity(headers.len() + 2);
        for (k, v) in &headers {
            let value = HeaderValue::from_str(v).map_err(|_| DataHubError::Protocol {
                operation: op,
                message: format!("header {k} has a value that is not valid in HTTP"),
            })?;
            map.insert(HeaderName::from_static(lower(k)), value);
        }
        let auth = HeaderValue::from_str(&sign::authorization(&self.credentials, &to_sign)).map_err(|_| {
            DataHubError::Protocol { operation: op, message: "access id is not valid in an HTTP header".into() }
        })?;
        map.insert(reqwest::header::AUTHORIZATION, auth);
        if let Some(enc) = encoding {
            map.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        let url = format!("{}{}", self.endpoint, req.path);
        let mut builder = self.http.request(req.method.clone(), &url).headers(map);
        if req.method != Method::GET {
            builder = builder.body(body);
        }
        let resp = builder.send().await.map_err(|e| DataHubError::from_reqwest(op, &self.endpoint, e))?;
        let status = resp.status().as_u16();
        let request_id = resp.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
        let resp_encoding = resp.headers().get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let raw_size = resp.headers().get(RAW_SIZE).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let mut bytes = resp.bytes().await.map_err(|e| DataHubError::from_reqwest(op, &self.endpoint, e))?;
        match (resp_encoding.as_deref(), raw_size) {
            (None, _) | (Some(""), _) => {}
            (Some(e), Some(size)) if e.eq_ignore_ascii_case(compress::LZ4) => {
                bytes = compress::lz4_decompress(&bytes, size)
                    .map_err(|message| DataHubError::Protocol { operation: op, message })?
                    .into();
            }
            (Some(e), _) => {
                return Err(DataHubError::Protocol {
                    operation: op,
                    message: format!("unsupported response Content-Encoding `{e}` (or no raw size)"),
                })
            }
        }
        if status < 400 {
            return Ok(bytes);
        }
        #[derive(serde::Deserialize)]
        struct ErrorBody {
            #[serde(rename = "ErrorCode")]
            code: String,
            #[serde(rename = "ErrorMessage", default)]
            message: String,
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) if !e.code.is_empty() => Err(DataHubError::Service {
                operation: op,
                status,
                code: ErrorCode::parse(&e.code),
                message: e.message,
                request_id,
            }),
            _ => Err(DataHubError::BadStatus {
                operation: op,
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
            }),
        }
    }
}

/// Header names above are written in their canonical case for the signer; HTTP/2 needs them
/// lower-case.
fn lower(name: &'static str) -> &'static str {
    match name {
        "Date" => "date",
        "Content-Type" => "content-type",
        other => other,
    }
}

fn json<T: DeserializeOwned>(operation: &'static str, body: &[u8]) -> Result<T, DataHubError> {
    serde_json::from_slice(body)
        .map_err(|e| DataHubError::Protocol { operation, message: format!("bad JSON answer: {e}") })
}
