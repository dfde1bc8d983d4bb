//! DataHub error replies: `{"ErrorCode","ErrorMessage"}` with `Content-Type: application/json`
//! exactly (datahub-protocol §9.1) and the status mapping of §9.1 (the real statuses are
//! UNVERIFIED; every SDK decides from `ErrorCode` only).

use axum::http::StatusCode;

/// A whole-request failure: HTTP status plus DataHub `ErrorCode` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ApiError {
    /// An error with the status §9.1 suggests for `code`.
    pub(crate) fn new(code: &str, message: impl Into<String>) -> Self {
        Self { status: status_for(code), code: code.to_owned(), message: message.into() }
    }

    pub(crate) fn with_status(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameter", message)
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new("MalformedRecord", message)
    }
}

/// The HTTP status the emulator uses for an ErrorCode (§9.1 suggested mapping).
pub(crate) fn status_for(code: &str) -> StatusCode {
    match code {
        "Unauthorized" => StatusCode::UNAUTHORIZED,
        "NoPermission" | "OperationDenied" => StatusCode::FORBIDDEN,
        "LimitExceeded" => StatusCode::TOO_MANY_REQUESTS,
        "InternalServerError" => StatusCode::INTERNAL_SERVER_ERROR,
        "ServiceUnavailable" => StatusCode::SERVICE_UNAVAILABLE,
        c if c.starts_with("NoSuch") || c == "ResourceNotFound" => StatusCode::NOT_FOUND,
        c if c.ends_with("AlreadyExist") => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    }
}
