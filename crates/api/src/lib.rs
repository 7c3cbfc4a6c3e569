//! Maillage HTTP API: the axum router under `/api/v1`, its handlers, the error mapping and
//! the web page served at `/`.
//!
//! Not built yet: this crate holds the place of the HTTP layer in the workspace.
