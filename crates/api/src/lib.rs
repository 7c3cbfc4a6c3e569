//! Maillage's HTTP API: JSON under `/api/v1`, `/health`, `/metrics`, and a page at `/`.
//!
//! Handlers never touch the disk on the async executor: storage calls run in
//! `spawn_blocking`. Every write goes through the node's one ingest pipeline.
//!
//! Layout:
//! - [`router`]: routes, state and the bearer-token check;
//! - `records`: records, search, changes, events, graph;
//! - `export`: GeoJSON, CSV, JSON-LD exports and Murmurations profiles;
//! - `meta`: health, status, metrics, vocabularies, the OpenAPI document;
//! - `assets`: the web page's files (`assets/web/`, embedded in the binary);
//! - [`stats`]: collaborations counted by direction, level, sector, year, network;
//! - `backup`: a copy of the store, streamed while the node goes on;
//! - `http_metrics`: request latency histograms;
//! - [`Error`]: the one mapping of failures to statuses.

mod assets;
mod backup;
mod error;
mod export;
mod http_metrics;
mod json;
mod meta;
mod records;
pub mod serve;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use axum::routing::get;
use maillage_core::SigningKey;
use maillage_search::Search;
use maillage_store::ingest::Ingest;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

pub use error::Error;

/// Largest request body: a 64 KiB record in CBOR, or its JSON form with room for escapes.
pub const MAX_BODY: usize = 256 * 1024;
/// Largest batch of writes: up to a thousand bodies of a few KiB each.
pub const MAX_BATCH_BODY: usize = 16 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct State {
    pub ingest: Arc<Ingest>,
    pub search: Arc<Search>,
    /// The node's author key, to sign what editors submit.
    pub key: Arc<SigningKey>,
    pub peer_id: String,
    /// SHA-256 of the API token: compared in constant time, never kept in clear.
    token_digest: [u8; 32],
    /// The network, if this node federates.
    pub net: Option<maillage_net::Handle>,
    http: Arc<http_metrics::HttpMetrics>,
    /// Cancelled when the node shuts down.
    shutdown: CancellationToken,
    /// One permit per reader of the event stream.
    event_readers: Arc<tokio::sync::Semaphore>,
    /// The page's settings and the statistics' classification.
    pub site: Arc<Site>,
}

/// What an operator sets for the page and the statistics.
#[derive(Clone, Debug)]
pub struct Site {
    pub tiles: Option<Tiles>,
    pub north: stats::North,
}

impl Default for Site {
    fn default() -> Site {
        Site {
            tiles: None,
            north: stats::North::m49(),
        }
    }
}

/// A tile server for the page's map.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Tiles {
    /// A URL template with `{z}`, `{x}`, `{y}`.
    pub url: String,
    pub attribution: String,
}

/// Longest an export or the graph waits for search to hold what was written before it.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(5);

/// Readers of `/api/v1/events` at once; past it, a 503.
pub const MAX_EVENT_READERS: usize = 64;

impl State {
    pub fn new(
        ingest: Arc<Ingest>,
        search: Arc<Search>,
        key: SigningKey,
        peer_id: String,
        token: &str,
        net: Option<maillage_net::Handle>,
        shutdown: CancellationToken,
    ) -> State {
        State {
            ingest,
            search,
            key: Arc::new(key),
            peer_id,
            token_digest: Sha256::digest(token.trim().as_bytes()).into(),
            net,
            http: Arc::default(),
            shutdown,
            event_readers: Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_READERS)),
            site: Arc::new(Site::default()),
        }
    }

    /// The operator's settings for the page and the statistics.
    pub fn with_site(mut self, site: Site) -> State {
        self.site = Arc::new(site);
        self
    }

    /// Checks `Authorization: Bearer <token>`.
    fn authorize(&self, headers: &HeaderMap) -> Result<(), Error> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| Error::Unauthorized("this needs `Authorization: Bearer <token>`; the token is in the node's api.token".into()))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                Error::Unauthorized("the Authorization header must be `Bearer <token>`".into())
            })?;
        let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        // Equal-length digests, compared without an early exit.
        let diff = given
            .iter()
            .zip(&self.token_digest)
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff != 0 {
            return Err(Error::Unauthorized("wrong API token".into()));
        }
        Ok(())
    }
}

/// Runs blocking storage work off the executor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await?
}

/// The whole API.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/", get(assets::page))
        .route("/assets/{*path}", get(assets::asset))
        .route("/health", get(meta::health))
        .route("/metrics", get(meta::metrics))
        .route("/api/v1/openapi.json", get(meta::openapi))
        .route("/api/v1/status", get(meta::status))
        .route("/api/v1/vocabularies", get(meta::vocabularies))
        .route("/api/v1/backup", get(backup::backup))
        .route("/api/v1/records", axum::routing::post(records::post))
        .route(
            "/api/v1/records/batch",
            axum::routing::post(records::batch).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .route(
            "/api/v1/records/{did}/{kind}/{id}",
            get(records::get).delete(records::delete),
        )
        .route("/api/v1/organisations", get(records::organisations))
        .route("/api/v1/collaborations", get(records::collaborations))
        .route("/api/v1/changes", get(records::changes))
        .route("/api/v1/events", get(records::events))
        .route("/api/v1/graph", get(records::graph))
        .route("/api/v1/stats/collaborations", get(stats::collaborations))
        .route("/api/v1/export/{file}", get(export::export))
        .route("/api/v1/murmurations/{did}/{id}", get(export::murmurations))
        .fallback(meta::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
