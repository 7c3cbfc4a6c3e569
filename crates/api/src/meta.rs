//! About the node: health, status, metrics, the OpenAPI document and the page.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State as Extract;
use axum::http::header;
use axum::response::IntoResponse;
use maillage_core::Author;
use serde_json::{Value, json};

use crate::{Error, State, blocking};

pub(crate) async fn health() -> &'static str {
    "ok\n"
}

pub(crate) async fn not_found() -> Error {
    Error::NotFound("no such endpoint: see /api/v1/openapi.json".into())
}

/// `GET /api/v1/status`.
#[tracing::instrument(skip(state))]
pub(crate) async fn status(Extract(state): Extract<State>) -> Result<Json<Value>, Error> {
    let store = state.ingest.store().clone();
    let author = Author::from(state.key.as_ref());
    let me = author;
    let (summary, name) = blocking(move || {
        Ok((
            store.summary()?,
            crate::records::profile_name(store.as_ref(), &me)?,
        ))
    })
    .await?;
    let net = match &state.net {
        Some(net) => Some(
            net.status()
                .await
                .map_err(|e| Error::Internal(e.to_string()))?,
        ),
        None => None,
    };
    let (peers, alone) = net.map_or((vec![], None), |n| (n.peers, n.alone));
    let records: serde_json::Map<String, Value> = summary
        .records
        .iter()
        .map(|(kind, n)| (kind.as_str().to_owned(), json!(n)))
        .collect();
    Ok(Json(json!({
        "did": author.did(),
        "name": name,
        "peer_id": state.peer_id,
        "records": records,
        "versions": summary.versions,
        "peers": peers.len(),
        "peer_list": peers,
        "network_warning": alone,
        "state_digest": summary.digest,
        "last_change": summary.last_change,
        "search_covers": state.search.covered(),
        "clock": clock(&state),
        "version": env!("CARGO_PKG_VERSION"),
        "tiles": state.site.tiles,
    })))
}

/// What fresh records from peers say of this node's clock, and what is held for later.
fn clock(state: &State) -> Value {
    let offset = state.ingest.clock_offset_ms();
    let warning = offset
        .filter(|o| o.abs() > maillage_store::ahead::WARN_OFFSET_MS)
        .map(maillage_store::ahead::describe);
    json!({
        "peers_ahead_ms": offset,
        "warning": warning,
        "held_from_the_future": state.ingest.held_count().0,
    })
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(Extract(state): Extract<State>) -> Result<impl IntoResponse, Error> {
    let store = state.ingest.store().clone();
    let summary = blocking(move || Ok(store.summary()?)).await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP maillage_records Live records held, by kind.\n# TYPE maillage_records gauge"
    );
    for (kind, n) in &summary.records {
        let _ = writeln!(out, "maillage_records{{kind=\"{kind}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP maillage_versions Versions held, tombstones included.\n# TYPE maillage_versions gauge"
    );
    let _ = writeln!(out, "maillage_versions {}", summary.versions);
    if let Some(net) = &state.net {
        let m = &net.metrics;
        let gauges = [("maillage_peers", "Connected peers.", &m.peers)];
        let counters = [
            (
                "maillage_gossip_published_total",
                "Records published on gossip.",
                &m.gossip_published,
            ),
            (
                "maillage_gossip_flood_dropped_total",
                "Gossiped records from authors new here, dropped past the relaying peer's allowance (sync brings them later).",
                &m.gossip_flood_dropped,
            ),
            (
                "maillage_sync_sessions_ok_total",
                "Sync sessions that completed.",
                &m.sync_sessions_ok,
            ),
            (
                "maillage_sync_sessions_failed_total",
                "Sync sessions that failed.",
                &m.sync_sessions_failed,
            ),
            (
                "maillage_sync_bytes_sent_total",
                "Bytes sent by sync sessions.",
                &m.sync_bytes_sent,
            ),
            (
                "maillage_sync_bytes_received_total",
                "Bytes received by sync sessions.",
                &m.sync_bytes_received,
            ),
            (
                "maillage_sync_records_in_total",
                "Versions fetched by sync and taken.",
                &m.sync_records_in,
            ),
            (
                "maillage_sync_records_out_total",
                "Versions offered to peers by sync.",
                &m.sync_records_out,
            ),
            (
                "maillage_peer_penalties_total",
                "Invalid records received from peers.",
                &m.penalties,
            ),
            (
                "maillage_peer_bans_total",
                "Peers banned for invalid records.",
                &m.bans,
            ),
        ];
        for (kind, list) in [("gauge", &gauges[..]), ("counter", &counters[..])] {
            for (name, help, value) in list {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                    value.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP maillage_sync_failed_by_peer_total Sync sessions that failed, by peer.\n# TYPE maillage_sync_failed_by_peer_total counter"
        );
        for (peer, n) in m
            .sync_failed_by_peer
            .lock()
            .expect("no one panics holding it")
            .iter()
        {
            let _ = writeln!(
                out,
                "maillage_sync_failed_by_peer_total{{peer=\"{peer}\"}} {n}"
            );
        }
    }
    let counters = state.ingest.counters();
    let _ = writeln!(
        out,
        "# HELP maillage_ingest_accepted_total Records taken, by way in and outcome.\n# TYPE maillage_ingest_accepted_total counter"
    );
    for ((source, outcome), n) in &counters.accepted {
        let _ = writeln!(
            out,
            "maillage_ingest_accepted_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP maillage_ingest_rejected_total Records refused, by way in and reason.\n# TYPE maillage_ingest_rejected_total counter"
    );
    for ((source, reason), n) in &counters.rejected {
        let _ = writeln!(
            out,
            "maillage_ingest_rejected_total{{source=\"{source}\",reason=\"{reason}\"}} {n}"
        );
    }
    drop(counters);
    state.http.render(&mut out);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lang {
    lang: Option<String>,
}

/// `GET /api/v1/vocabularies?lang=fr`: every ESSGLOBAL concept with its label in `lang`
/// (or in English, with the language it is in, where the SKOS has none in `lang`), and the
/// values of the fields that are not concepts. The page reads its vocabularies here.
pub(crate) async fn vocabularies(
    q: Result<axum::extract::Query<Lang>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, Error> {
    let lang = crate::records::query(q)?
        .lang
        .unwrap_or_else(|| "en".into());
    if maillage_core::vocab::language(&lang).is_none() {
        return Err(Error::BadRequest(format!(
            "`lang` is an ISO 639-1 code like `fr`, not `{lang}`"
        )));
    }
    let mut schemes = serde_json::Map::new();
    for scheme in maillage_core::vocab::Scheme::ALL {
        let concepts: Vec<Value> = maillage_core::vocab::concepts()
            .filter(|c| c.scheme == scheme)
            .map(|c| {
                let (label, in_lang) = c.label(&lang);
                json!({"id": c.id(), "label": label, "lang": in_lang})
            })
            .collect();
        schemes.insert(scheme.name().to_owned(), Value::Array(concepts));
    }
    use maillage_core::body::{OrganisationStatus, OrganisationType, Region, Scope};
    Ok(Json(json!({
        "lang": lang,
        "schemes": schemes,
        "values": {
            "type": OrganisationType::ALL.map(OrganisationType::as_str),
            "region": Region::ALL.map(Region::as_str),
            "scope": Scope::ALL.map(Scope::as_str),
            "status": OrganisationStatus::ALL.map(OrganisationStatus::as_str),
        },
    })))
}
