//! Every failure of the API as `{"error": "…"}` with its status, in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maillage_store::ingest::Rejection;

#[derive(Debug)]
pub enum Error {
    BadRequest(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    TooLarge(String),
    /// The client was too slow.
    Timeout(String),
    /// The node is at a limit; try again later.
    Busy(String),
    /// Our own fault: logged in full, shown in brief.
    Internal(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Error::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => (StatusCode::CONFLICT, m),
            Error::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            Error::Timeout(m) => (StatusCode::REQUEST_TIMEOUT, m),
            Error::Busy(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            Error::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error: {m}"),
                )
            }
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        // A refused request may leave its body unread, or come from a client to be rid of:
        // the connection is not kept for another.
        if matches!(
            status,
            StatusCode::UNAUTHORIZED
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::REQUEST_TIMEOUT
                | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                "www-authenticate",
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Error {
        let message = r.to_string();
        match r {
            Rejection::Invalid(maillage_core::Error::TooLarge { .. }) => Error::TooLarge(message),
            Rejection::Invalid(_) | Rejection::Json(_) | Rejection::Future { .. } => {
                Error::BadRequest(message)
            }
            Rejection::Policy(_) | Rejection::Quota { .. } => Error::Forbidden(message),
            Rejection::Stale { .. } => Error::Conflict(message),
            Rejection::Store(e) => Error::Internal(e.to_string()),
        }
    }
}

impl From<maillage_store::Error> for Error {
    fn from(e: maillage_store::Error) -> Error {
        Error::Internal(e.to_string())
    }
}

impl From<maillage_search::Error> for Error {
    fn from(e: maillage_search::Error) -> Error {
        match e {
            maillage_search::Error::Query(m) => Error::BadRequest(m),
            e => Error::Internal(e.to_string()),
        }
    }
}

impl From<maillage_core::Error> for Error {
    fn from(e: maillage_core::Error) -> Error {
        Rejection::Invalid(e).into()
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Error {
        Error::Internal(format!("a storage task failed: {e}"))
    }
}
