//! Records: write, read, delete, search, the change feed, live events and the graph.

use std::convert::Infallible;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use maillage_core::{Address, Body, Id, Kind};
use maillage_store::ingest::{Accepted, Rejection, Source};
use maillage_store::{Outcome, Store, Stored};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;

use crate::json;
use crate::{Error, State, blocking};

/// The JSON form of a stored record, with what this node knows of its address: who lists
/// it by name, and for a collaboration who confirmed it.
fn record_json(store: &dyn Store, stored: &Stored) -> Result<Value, Error> {
    let mut value = stored.record.to_json();
    value["equivocation"] = json!(stored.equivocation);
    value["author_name"] = json!(profile_name(store, &stored.record.author)?);
    if stored.record.kind == Kind::Collaboration && !stored.record.body.is_deleted() {
        let confirmation = store.confirmation(&stored.record)?;
        value["confirmed"] = json!(confirmation.confirmed());
        let mut parties = Vec::with_capacity(confirmation.parties.len());
        for p in &confirmation.parties {
            let mut party = json!(p);
            if let Some(lister) = &p.lister {
                party["lister_name"] = json!(profile_name(store, lister)?);
            }
            parties.push(party);
        }
        value["confirmation"] = json!({"verdict": confirmation.verdict, "parties": parties});
        value["endorsed_by"] = json!(
            confirmation
                .endorsed_by
                .iter()
                .map(|a| a.did())
                .collect::<Vec<_>>()
        );
    }
    Ok(value)
}

/// The names of the organisations an organisation's `member_of` and `relationships` refer
/// to, for those this node holds: a reader sees names, and asks for nothing it does not hold.
fn reference_names(
    store: &dyn Store,
    o: &maillage_core::body::Organisation,
) -> Result<Value, Error> {
    let references = o
        .member_of
        .iter()
        .chain(o.relationships.iter().map(|r| &r.object));
    let mut names = serde_json::Map::new();
    for reference in references {
        let Ok(address) = reference.parse::<Address>() else {
            continue;
        };
        if let Some(Body::Organisation(held)) = store.get(&address)?.map(|s| s.record.body) {
            names.insert(reference.clone(), json!(held.name));
        }
    }
    Ok(Value::Object(names))
}

/// The name an author goes by: that of its profile, the organisation record it publishes
/// about itself under the id `profile` (docs/protocol.md), if this node holds it.
pub(crate) fn profile_name(
    store: &dyn Store,
    author: &maillage_core::Author,
) -> Result<Option<String>, Error> {
    let address = Address {
        author: *author,
        kind: Kind::Organisation,
        id: Id::profile(),
    };
    Ok(store.get(&address)?.and_then(|s| match s.record.body {
        Body::Organisation(o) => Some(o.name),
        _ => None,
    }))
}

fn accepted(state: &State, accepted: Accepted) -> Result<Response, Error> {
    let status = match accepted.outcome {
        Outcome::New | Outcome::Replaced | Outcome::Equivocation { won: true } => {
            StatusCode::CREATED
        }
        Outcome::Duplicate => StatusCode::OK,
        Outcome::Equivocation { won: false } => {
            return Err(Error::Conflict(format!(
                "{} already has another version with seq {}: the author signed two versions with one seq (an equivocation); the lower hash is kept and the address is flagged",
                accepted.current.record.address(),
                accepted.current.record.seq
            )));
        }
        Outcome::Stale { current } => {
            return Err(Error::Conflict(format!(
                "this node holds a newer version (seq {current})"
            )));
        }
    };
    let record = &accepted.current.record;
    tracing::info!(address = %record.address(), seq = record.seq, status = status.as_u16(), "write through the API");
    let body = record_json(state.ingest.store().as_ref(), &accepted.current)?;
    Ok((
        status,
        [(
            header::ETAG,
            format!("\"{}\"", accepted.current.record.hash()),
        )],
        Json(body),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRecord {
    kind: String,
    id: String,
    body: Value,
}

/// `POST /api/v1/records`: JSON `{kind, id, body}` for the node to sign, or
/// `application/cbor` for a record signed elsewhere.
#[tracing::instrument(skip_all)]
pub(crate) async fn post(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Error> {
    // Who is asking, before a byte of the body is read.
    state.authorize(&headers)?;
    let media_type = json::media_type(&headers);
    if media_type != "application/cbor" && media_type != "application/json" {
        return Err(Error::BadRequest(
            "Content-Type must be application/json ({kind, id, body}) or application/cbor (a signed record)".into(),
        ));
    }
    let body = json::read(body, crate::MAX_BODY).await?;
    let ingest = state.ingest.clone();
    let result = if media_type == "application/cbor" {
        blocking(move || Ok(ingest.submit(&body, Source::Http)?)).await?
    } else {
        let (kind, id, body) =
            new_record(&body).inspect_err(|e| state.ingest.refused(Source::Http, e))?;
        let key = state.key.clone();
        blocking(move || Ok(ingest.author(&key, kind, id, body)?)).await?
    };
    accepted(&state, result)
}

/// The `{kind, id, body}` of a write for this node to sign.
fn new_record(bytes: &[u8]) -> Result<(Kind, Id, Body), Rejection> {
    let new = json::strict(bytes)
        .and_then(serde_json::from_value::<NewRecord>)
        .map_err(|e| {
            Rejection::Json(format!(
                "the body is not {{\"kind\", \"id\", \"body\"}} JSON: {e}"
            ))
        })?;
    let kind: Kind = new.kind.parse()?;
    let id: Id = new.id.parse()?;
    not_a_deletion(&new.body)?;
    Ok((kind, id, Body::from_json(kind, new.body)?))
}

/// A refusal of one field of a write.
fn field(field: &str, problem: String) -> Rejection {
    Rejection::Invalid(maillage_core::Error::Field {
        field: field.into(),
        problem,
    })
}

fn not_a_deletion(body: &Value) -> Result<(), Rejection> {
    if body.get("deleted").is_some() {
        return Err(field(
            "deleted",
            "is not written: to delete a record, use DELETE on its address".into(),
        ));
    }
    Ok(())
}

fn address(did: &str, kind: &str, id: &str) -> Result<Address, Error> {
    Ok(Address {
        author: did.parse()?,
        kind: kind.parse()?,
        id: id.parse()?,
    })
}

/// `GET /api/v1/records/{did}/{kind}/{id}`.
#[tracing::instrument(skip(state))]
pub(crate) async fn get(
    Extract(state): Extract<State>,
    Path((did, kind, id)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    let address = address(&did, &kind, &id)?;
    let store = state.ingest.store().clone();
    blocking(move || match store.get(&address)? {
        Some(stored) if !stored.record.body.is_deleted() => {
            let etag = format!("\"{}\"", stored.record.hash());
            let mut value = record_json(store.as_ref(), &stored)?;
            if let Body::Organisation(o) = &stored.record.body {
                value["names"] = reference_names(store.as_ref(), o)?;
            }
            Ok(([(header::ETAG, etag)], Json(value)).into_response())
        }
        Some(_) => Err(Error::NotFound(format!(
            "{address} was deleted by its author"
        ))),
        None => Err(Error::NotFound(format!(
            "this node holds no record at {address}"
        ))),
    })
    .await
}

/// `DELETE /api/v1/records/{did}/{kind}/{id}`: signs a tombstone for one of this node's records.
#[tracing::instrument(skip(state, headers))]
pub(crate) async fn delete(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    Path((did, kind, id)): Path<(String, String, String)>,
) -> Result<Response, Error> {
    state.authorize(&headers)?;
    let address = address(&did, &kind, &id)?;
    if address.author != maillage_core::Author::from(state.key.as_ref()) {
        return Err(Error::Forbidden(format!(
            "this node can only delete records it signed; {address} belongs to its author's node"
        )));
    }
    let ingest = state.ingest.clone();
    let key = state.key.clone();
    let result = blocking(move || {
        match ingest.store().get(&address)? {
            Some(s) if !s.record.body.is_deleted() => {}
            _ => {
                return Err(Error::NotFound(format!(
                    "this node holds no record at {address}"
                )));
            }
        }
        Ok(ingest.author(&key, address.kind, address.id.clone(), Body::Deleted)?)
    })
    .await?;
    let record = &result.current.record;
    tracing::info!(address = %record.address(), seq = record.seq, "deletion through the API");
    let body = record_json(state.ingest.store().as_ref(), &result.current)?;
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Query parameters as given, in order; [`maillage_search::Query::from_params`] reads them.
pub(crate) type Params = Vec<(String, String)>;

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    q.map(|Query(q)| q)
        .map_err(|e| Error::BadRequest(format!("bad query parameters: {}", e.body_text())))
}

/// The search the parameters ask for.
pub(crate) fn search_of(
    kind: Kind,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<maillage_search::Query, Error> {
    let params = query(params)?;
    Ok(maillage_search::Query::from_params(
        kind,
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

async fn search(state: State, query: maillage_search::Query) -> Result<Json<Value>, Error> {
    let search = state.search.clone();
    let store = state.ingest.store().clone();
    blocking(move || {
        let found = search.search(&query)?;
        let items = found
            .items
            .iter()
            .map(|s| record_json(store.as_ref(), s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut facets = serde_json::Map::new();
        for (facet, values) in &found.facets {
            let mut listed = Vec::with_capacity(values.len());
            for (value, count) in values {
                let mut v = json!({"value": value, "count": count});
                // An author is shown by its profile's name where this node holds one.
                if *facet == maillage_search::Facet::Author
                    && let Ok(author) = value.parse::<maillage_core::Author>()
                    && let Some(name) = profile_name(store.as_ref(), &author)?
                {
                    v["label"] = json!(name);
                }
                listed.push(v);
            }
            facets.insert(facet.name().to_owned(), Value::Array(listed));
        }
        Ok(Json(json!({
            "items": items,
            "total": found.total,
            "facets": facets,
            "next_cursor": found.next.map(|c| c.encode()),
        })))
    })
    .await
}

/// `GET /api/v1/organisations`.
#[tracing::instrument(skip(state))]
pub(crate) async fn organisations(
    Extract(state): Extract<State>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let query = search_of(Kind::Organisation, q)?;
    search(state, query).await
}

/// `GET /api/v1/collaborations`.
#[tracing::instrument(skip(state))]
pub(crate) async fn collaborations(
    Extract(state): Extract<State>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let query = search_of(Kind::Collaboration, q)?;
    search(state, query).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Changes {
    since: Option<u64>,
    limit: Option<usize>,
}

/// `GET /api/v1/changes?since=&limit=`: current versions in the order this node took them.
/// A version replaced later shows up again, at its new position; tombstones are included.
#[tracing::instrument(skip(state))]
pub(crate) async fn changes(
    Extract(state): Extract<State>,
    q: Result<Query<Changes>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let q = query(q)?;
    let since = q.since.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let store = state.ingest.store().clone();
    blocking(move || {
        let changes = store.changes(since, limit)?;
        let next = changes.last().map_or(since, |s| s.change);
        let items = changes
            .iter()
            .map(|s| {
                let mut v = s.record.to_json();
                v["change"] = json!(s.change);
                v
            })
            .collect::<Vec<_>>();
        Ok(Json(json!({ "items": items, "next_cursor": next })))
    })
    .await
}

/// `GET /api/v1/events`: Server-Sent Events, one `record` event per accepted version.
pub(crate) async fn events(
    Extract(state): Extract<State>,
) -> Result<Sse<impl tokio_stream::Stream<Item = Result<Event, Infallible>>>, Error> {
    let Ok(reader) = state.event_readers.clone().try_acquire_owned() else {
        return Err(Error::Busy(format!(
            "{} readers of the event stream are connected, the most this node serves; try again later, or follow /api/v1/changes",
            crate::MAX_EVENT_READERS
        )));
    };
    let stream = BroadcastStream::new(state.ingest.subscribe()).map(move |item| {
        // The reader's place is given back when its stream ends.
        let _reader = &reader;
        Ok(match item {
            Ok(event) => {
                let mut v = event.stored.record.to_json();
                v["change"] = json!(event.stored.change);
                Event::default().event("record").data(v.to_string())
            }
            // A slow reader missed some: say so, so it can catch up from the change feed.
            Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
                Event::default().event("lagged").data(n.to_string())
            }
        })
    });
    // Streams end when the node shuts down, so that they do not hold the shutdown up.
    let stream = futures::StreamExt::take_until(stream, state.shutdown.clone().cancelled_owned());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Most organisations, and most collaborations, in one graph.
pub const MAX_GRAPH: u64 = 10_000;

/// Every result of `query`, a page at a time; refused past [`MAX_GRAPH`].
fn all_of(
    search: &maillage_search::Search,
    mut query: maillage_search::Query,
    what: &str,
) -> Result<Vec<Stored>, Error> {
    query.limit = maillage_search::query::MAX_LIMIT;
    query.facets = false;
    let mut all = vec![];
    loop {
        let page = search.search(&query)?;
        if page.total > MAX_GRAPH {
            return Err(Error::TooLarge(format!(
                "the graph would hold {} {what}, more than the {MAX_GRAPH} it draws; narrow it with the filters of /api/v1/organisations (country=, region=, activity=, author=, …)",
                page.total
            )));
        }
        all.extend(page.items);
        match page.next {
            Some(c) => query.cursor = Some(c),
            None => return Ok(all),
        }
    }
}

/// `GET /api/v1/graph`: the organisations the filters of `/api/v1/organisations` find,
/// and the collaborations they are parties to, as nodes; parties and `member_of` as edges.
#[tracing::instrument(skip(state))]
pub(crate) async fn graph(
    Extract(state): Extract<State>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, Error> {
    let mut query = search_of(Kind::Organisation, q)?;
    if query.cursor.is_some() || query.text.is_some() {
        return Err(Error::BadRequest(
            "the graph takes the filters of /api/v1/organisations, not `q` or `cursor`".into(),
        ));
    }
    query.sort = maillage_search::Sort::Name;
    let search = state.search.clone();
    let store = state.ingest.store().clone();
    blocking(move || {
        search.catch_up(crate::CATCH_UP)?;
        let organisations = all_of(&search, query, "organisations")?;
        let found: std::collections::HashSet<String> = organisations
            .iter()
            .map(|s| s.record.address().to_string())
            .collect();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        for s in &organisations {
            let address = s.record.address().to_string();
            if let Body::Organisation(o) = &s.record.body {
                nodes.push(json!({"id": address, "kind": "organisation", "label": o.name}));
                for m in &o.member_of {
                    edges.push(json!({"from": address, "to": m, "type": "member_of"}));
                }
            }
        }
        let collaborations = all_of(
            &search,
            maillage_search::Query::new(Kind::Collaboration),
            "collaborations",
        )?;
        for s in &collaborations {
            let Body::Collaboration(c) = &s.record.body else {
                continue;
            };
            if !c.parties.iter().any(|p| found.contains(&p.reference)) {
                continue;
            }
            let address = s.record.address().to_string();
            let confirmed = store.confirmation(&s.record)?.confirmed();
            nodes.push(json!({"id": address, "kind": "collaboration", "label": c.title, "confirmed": confirmed}));
            for p in &c.parties {
                edges.push(json!({"from": p.reference, "to": address, "type": "party", "role": p.role}));
            }
        }
        Ok(Json(json!({ "nodes": nodes, "edges": edges })))
    })
    .await
}

/// Most items in one `POST /api/v1/records/batch`.
pub const MAX_BATCH: usize = 1000;

/// One write of a batch: a whole body, or a JSON Merge Patch of the current one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    kind: String,
    id: String,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    patch: Option<Value>,
    /// Fields given only when the resulting body has none.
    #[serde(default)]
    defaults: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    #[serde(default)]
    dry_run: bool,
    items: Vec<BatchItem>,
}

/// The names of what differs between two body forms, one level into maps
/// (`description.fr`, `address.street`, `links.twitter`).
fn changed(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = vec![];
    for key in keys {
        match (a.get(key), b.get(key)) {
            (x, y) if x == y => {}
            (Some(Value::Object(x)), Some(Value::Object(y))) if key != "location" => {
                let inner: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                out.extend(
                    inner
                        .into_iter()
                        .filter(|k| x.get(*k) != y.get(*k))
                        .map(|k| format!("{key}.{k}")),
                );
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

/// What one item comes to before it is signed: its address, its body, and the fields in
/// which it differs from the current version (`None` when there is none).
type Plan = (Kind, Id, Body, Option<Vec<String>>);

/// What one item comes to before it is signed.
fn plan(
    store: &dyn Store,
    key: &maillage_core::SigningKey,
    item: BatchItem,
) -> Result<Plan, Rejection> {
    let kind: Kind = item.kind.parse()?;
    let id: Id = item.id.parse()?;
    let address = Address {
        author: maillage_core::Author::from(key),
        kind,
        id: id.clone(),
    };
    let current = store
        .get(&address)?
        .filter(|s| !s.record.body.is_deleted())
        .map(|s| s.record.body.to_json());
    let mut json = match (item.body, item.patch) {
        (Some(body), None) => body,
        (None, Some(patch)) => {
            let mut json = current.clone().unwrap_or_else(|| json!({}));
            maillage_core::merge_patch(&mut json, &patch);
            json
        }
        _ => {
            return Err(field(
                "body",
                "or `patch`: each item has one of them, `body` the whole body or `patch` a JSON Merge Patch of the current one".into(),
            ));
        }
    };
    not_a_deletion(&json)?;
    for (field, value) in item.defaults.unwrap_or_default() {
        if json.get(&field).is_none() {
            json[&field] = value;
        }
    }
    let body = Body::from_json(kind, json)?;
    let shown = body.to_json();
    let changes = match &current {
        Some(c) if *c == shown => return Ok((kind, id, body, Some(vec![]))),
        Some(c) => Some(changed(c, &shown)),
        None => None,
    };
    Ok((kind, id, body, changes))
}

/// `POST /api/v1/records/batch`: up to [`MAX_BATCH`] writes for this node to sign, with one
/// flush. Each is a whole `body` or a `patch` of the current one; a body equal to the current
/// one signs nothing. Answers each item's outcome (`created`, `updated` with the changed
/// fields, `unchanged`, `rejected` with why), and with `dry_run` writes nothing.
#[tracing::instrument(skip_all)]
pub(crate) async fn batch(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, Error> {
    state.authorize(&headers)?;
    if json::media_type(&headers) != "application/json" {
        return Err(Error::BadRequest(
            "Content-Type must be application/json".into(),
        ));
    }
    let body = json::read(body, crate::MAX_BATCH_BODY).await?;
    let batch: Batch = json::strict(&body)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            Rejection::Json(format!(
                "the body is not {{\"dry_run\", \"items\": [{{\"kind\", \"id\", \"body\" or \"patch\"}}]}} JSON: {e}"
            ))
        })
        .inspect_err(|e| state.ingest.refused(Source::Http, e))?;
    if batch.items.len() > MAX_BATCH {
        return Err(Error::TooLarge(format!(
            "{} items; a batch holds at most {MAX_BATCH}",
            batch.items.len()
        )));
    }
    let dry_run = batch.dry_run;
    let ingest = state.ingest.clone();
    let key = state.key.clone();
    let answers = blocking(move || {
        let store = ingest.store().clone();
        let mut answers: Vec<Value> = vec![];
        let mut writes = vec![];
        let mut seen = std::collections::HashSet::new();
        for item in batch.items {
            let id = item.id.clone();
            let planned = if seen.insert(id.clone()) {
                plan(store.as_ref(), &key, item)
            } else {
                Err(field(
                    "id",
                    format!("`{id}` is written twice in this batch"),
                ))
            };
            match planned {
                Err(Rejection::Store(e)) => return Err(e.into()),
                Err(e) => {
                    if !batch.dry_run {
                        ingest.refused(Source::Http, &e);
                    }
                    answers.push(json!({"id": id, "outcome": "rejected", "error": e.to_string()}));
                }
                Ok((_, _, _, Some(changes))) if changes.is_empty() => {
                    answers.push(json!({"id": id, "outcome": "unchanged"}));
                }
                Ok((kind, id, body, changes)) => {
                    let outcome = if changes.is_some() {
                        "updated"
                    } else {
                        "created"
                    };
                    answers
                        .push(json!({"id": id.as_str(), "outcome": outcome, "changed": changes}));
                    writes.push((answers.len() - 1, (kind, id, body)));
                }
            }
        }
        if !batch.dry_run && !writes.is_empty() {
            let (slots, items): (Vec<usize>, Vec<_>) = writes.into_iter().unzip();
            for (slot, result) in slots.into_iter().zip(ingest.author_all(&key, items)) {
                match result {
                    Ok(accepted) => {
                        answers[slot]["address"] =
                            json!(accepted.current.record.address().to_string());
                        answers[slot]["hash"] = json!(accepted.current.record.hash().to_string());
                    }
                    Err(e) => {
                        answers[slot]["outcome"] = json!("rejected");
                        answers[slot]["error"] = json!(e.to_string());
                    }
                }
            }
        }
        Ok(answers)
    })
    .await?;
    let written = answers
        .iter()
        .filter(|a| a["outcome"] == "created" || a["outcome"] == "updated")
        .count();
    tracing::info!(items = answers.len(), written, dry_run, "batch of writes");
    Ok(Json(json!({ "items": answers })).into_response())
}
