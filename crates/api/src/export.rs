//! Exports of organisations to the SSE data standards, streamed page by page, with the same
//! filters as search. Every row keeps the record's address and hash, so a reader can trace
//! it back to the signed record.

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maillage_core::body::{Body, Organisation};
use maillage_core::vocab;
use maillage_core::{Address, Kind, Record};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::records::{Params, search_of};
use crate::{Error, State, blocking};

/// The JSON-LD context: schema.org terms, ESSGLOBAL's vocabulary (`essglobal-vocab.ttl`)
/// and vCard; ESSGLOBAL concepts are written as their published SKOS IRIs.
fn context() -> Value {
    json!({
        "@vocab": "https://schema.org/",
        "essglobal": "http://purl.org/essglobal/vocab/",
        "dcterms": "http://purl.org/dc/terms/",
        "maillage": "urn:maillage:",
        "hash": "maillage:hash",
        "essglobal:organisationalStructure": {"@type": "@id"},
        "essglobal:legalForm": {"@type": "@id"},
        "essglobal:baseMembershipType": {"@type": "@id"},
        "essglobal:primarySector": {"@type": "@id"},
        "essglobal:additionalSectors": {"@type": "@id"},
        "essglobal:qualifier": {"@type": "@id"},
        "essglobal:typeOfLabour": {"@type": "@id"},
        "essglobal:hasProductOrService": {"@type": "@id"},
        "dcterms:subject": {"@type": "@id"},
        "memberOf": {"@type": "@id"},
        "sameAs": {"@type": "@id"},
    })
}

/// How one format writes a stream of organisations.
struct Format {
    content_type: &'static str,
    head: String,
    separator: &'static str,
    tail: &'static str,
    row: fn(&Row, &Record, &Organisation) -> Option<String>,
}

/// What a row is written with beyond its record: the CSV's columns, the node's public URL.
struct Row {
    columns: maillage_core::sheet::Columns,
    base: String,
}

fn description(o: &Organisation) -> Option<&str> {
    o.description
        .get("en")
        .or_else(|| o.description.values().next())
        .map(String::as_str)
}

fn country(o: &Organisation) -> Option<&str> {
    o.address
        .as_ref()
        .and_then(|a| a.country.as_deref())
        .or(o.countries.first().map(String::as_str))
}

fn labels(codes: &[String]) -> Vec<&'static str> {
    codes
        .iter()
        .filter_map(|c| vocab::concept(c))
        .map(|c| c.label("en").0)
        .collect()
}

/// A map's marker: `[lat, lon, address, name, country]`, for every organisation with a
/// location.
fn point(_: &Row, record: &Record, o: &Organisation) -> Option<String> {
    let l = o.location?;
    Some(
        json!([
            l.lat(),
            l.lon(),
            record.address().to_string(),
            o.name,
            country(o)
        ])
        .to_string(),
    )
}

fn geojson(_: &Row, record: &Record, o: &Organisation) -> Option<String> {
    let l = o.location?;
    let mut properties = serde_json::to_value(o).ok()?;
    properties["record_address"] = json!(record.address().to_string());
    properties["hash"] = json!(record.hash().to_string());
    properties["location"] = json!({"lat": l.lat(), "lon": l.lon()});
    properties["organisational_structure_labels"] = json!(labels(&o.organisational_structures));
    properties["activity_labels"] = json!(labels(
        &o.primary_activity
            .iter()
            .chain(&o.activities)
            .cloned()
            .collect::<Vec<_>>()
    ));
    let feature = json!({
        "type": "Feature",
        "id": record.address().to_string(),
        "geometry": {"type": "Point", "coordinates": [l.lon(), l.lat()]},
        "properties": properties,
    });
    Some(feature.to_string())
}

fn csv_row(row: &Row, record: &Record, o: &Organisation) -> Option<String> {
    let cells = row.columns.cells(
        record.id.as_str(),
        &record.address().to_string(),
        &record.hash().to_string(),
        o,
    );
    let mut writer = csv::Writer::from_writer(vec![]);
    writer.write_record(&cells).ok()?;
    String::from_utf8(writer.into_inner().ok()?).ok()
}

fn iris(codes: &[String]) -> Vec<String> {
    codes
        .iter()
        .filter_map(|c| vocab::concept(c))
        .map(vocab::Concept::iri)
        .collect()
}

fn texts(map: &std::collections::BTreeMap<String, String>) -> Vec<Value> {
    map.iter()
        .map(|(lang, text)| json!({"@value": text, "@language": lang}))
        .collect()
}

fn jsonld(row: &Row, record: &Record, o: &Organisation) -> Option<String> {
    let a = o.address.as_ref();
    let members = o.members.unwrap_or_default();
    let node = json!({
        "@id": format!("{}/api/v1/records/{}/organisation/{}", row.base, record.author, record.id),
        "@type": ["Organization", "essglobal:SSEInitiative"],
        "name": o.name,
        "alternateName": o.alternate_names,
        "description": texts(&o.description),
        "essglobal:mission": texts(&o.mission),
        "url": o.website,
        "email": o.emails,
        "telephone": o.phones,
        "sameAs": o.links.values().flatten().collect::<Vec<_>>(),
        "foundingDate": o.founded,
        "dissolutionDate": o.dissolved,
        "address": a.map(|a| json!({
            "@type": "PostalAddress",
            "streetAddress": a.street,
            "addressLocality": a.locality,
            "addressRegion": a.region,
            "postalCode": a.postcode,
            "addressCountry": a.country,
        })),
        "geo": o.location.map(|l| json!({"@type": "GeoCoordinates", "latitude": l.lat(), "longitude": l.lon()})),
        "areaServed": o.countries,
        "knowsLanguage": o.languages,
        "keywords": o.tags,
        "memberOf": o.member_of,
        "essglobal:organisationalStructure": iris(&o.organisational_structures),
        "essglobal:legalForm": iris(&o.legal_forms),
        "essglobal:baseMembershipType": iris(o.base_membership_type.as_slice()),
        "essglobal:primarySector": iris(o.primary_activity.as_slice()),
        "essglobal:additionalSectors": iris(&o.activities),
        "essglobal:qualifier": iris(&o.qualifiers),
        "essglobal:typeOfLabour": iris(&o.type_of_labour),
        "essglobal:hasProductOrService": iris(&o.products_services),
        "dcterms:subject": iris(&o.themes),
        "essglobal:totalOfMembers": members.total,
        "essglobal:totalWomen": members.women,
        "essglobal:totalMen": members.men,
        "identifier": o.identifiers.iter().map(|(scheme, value)| json!({"@type": "PropertyValue", "propertyID": scheme, "value": value})).collect::<Vec<_>>(),
        "additionalProperty": o.properties.iter().map(|(name, value)| json!({"@type": "PropertyValue", "name": name, "value": value})).collect::<Vec<_>>(),
        "hash": record.hash().to_string(),
    });
    Some(strip_nulls(node).to_string())
}

/// Leaves out absent values, as JSON-LD readers expect.
fn strip_nulls(value: Value) -> Value {
    let empty = |v: &Value| {
        v.is_null()
            || v.as_array().is_some_and(Vec::is_empty)
            || v.as_object().is_some_and(serde_json::Map::is_empty)
    };
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, strip_nulls(v)))
                .filter(|(_, v)| !empty(v))
                .collect(),
        ),
        other => other,
    }
}

fn format(name: &str) -> Result<Format, Error> {
    Ok(match name {
        "organisations.geojson" => Format {
            content_type: "application/geo+json",
            head: r#"{"type":"FeatureCollection","features":["#.into(),
            separator: ",",
            tail: "]}",
            row: geojson,
        },
        "organisations.points.json" => Format {
            content_type: "application/json",
            head: r#"{"points":["#.into(),
            separator: ",",
            tail: "]}",
            row: point,
        },
        "organisations.csv" => Format {
            content_type: "text/csv; charset=utf-8",
            head: String::new(),
            separator: "",
            tail: "",
            row: csv_row,
        },
        "organisations.jsonld" => Format {
            content_type: "application/ld+json",
            head: format!(r#"{{"@context":{},"@graph":["#, context()),
            separator: ",",
            tail: "]}",
            row: jsonld,
        },
        other => {
            return Err(Error::NotFound(format!(
                "no export `{other}`: organisations.geojson, organisations.csv, organisations.jsonld or organisations.points.json"
            )));
        }
    })
}

/// Where this node is reached, as the request names it: records' `@id`s resolve there.
fn base_url(headers: &axum::http::HeaderMap) -> String {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = get("x-forwarded-host")
        .or(get("host"))
        .unwrap_or("127.0.0.1:7701");
    let scheme = get("x-forwarded-proto").unwrap_or("http");
    format!("{scheme}://{host}")
}

/// `GET /api/v1/export/{file}`: streamed, with the filters of `/api/v1/organisations`.
#[tracing::instrument(skip(state))]
pub(crate) async fn export(
    Extract(state): Extract<State>,
    Path(file): Path<String>,
    headers: axum::http::HeaderMap,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, Error> {
    let format = format(&file)?;
    // A filter refused is a 400 before the first byte, not a cut-off file.
    let mut query = search_of(Kind::Organisation, q)?;
    query.limit = maillage_search::query::MAX_LIMIT;
    query.facets = false;
    let store = state.search.clone();
    let base = base_url(&headers);
    // A few pages in flight: memory stays bounded however large the export.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        // An export holds what was written before it was asked for.
        let _ = store.catch_up(crate::CATCH_UP);
        let mut row = Row {
            columns: maillage_core::sheet::Columns::default(),
            base,
        };
        let mut chunk = format.head.clone();
        if format.content_type.starts_with("text/csv") {
            // A first pass finds the columns: one per language, link kind, register and
            // property the exported records use.
            let mut first = query.clone();
            while let Ok(page) = store.search(&first) {
                for stored in &page.items {
                    if let Body::Organisation(o) = &stored.record.body {
                        row.columns.add(o);
                    }
                }
                match page.next {
                    Some(c) => first.cursor = Some(c),
                    None => break,
                }
            }
            let mut writer = csv::Writer::from_writer(vec![]);
            let _ = writer.write_record(row.columns.header());
            chunk = String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default();
        }
        let mut first = true;
        loop {
            let page = match store.search(&query) {
                Ok(page) => page,
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            for stored in &page.items {
                let Body::Organisation(o) = &stored.record.body else {
                    continue;
                };
                if let Some(row) = (format.row)(&row, &stored.record, o) {
                    if !first {
                        chunk.push_str(format.separator);
                    }
                    first = false;
                    chunk.push_str(&row);
                }
            }
            if tx
                .blocking_send(Ok(Bytes::from(std::mem::take(&mut chunk))))
                .is_err()
            {
                return; // The reader went away.
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => break,
            }
        }
        let _ = tx.blocking_send(Ok(Bytes::from_static(format.tail.as_bytes())));
    });
    Ok((
        [(header::CONTENT_TYPE, format.content_type)],
        HttpBody::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}

/// `GET /api/v1/murmurations/{did}/{id}`: one organisation as a Murmurations
/// `organizations_schema-v1.0.0` profile, so that this URL can be its `profile_url`.
#[tracing::instrument(skip(state))]
pub(crate) async fn murmurations(
    Extract(state): Extract<State>,
    Path((did, id)): Path<(String, String)>,
) -> Result<Response, Error> {
    let address = Address {
        author: did.parse()?,
        kind: Kind::Organisation,
        id: id.parse()?,
    };
    let store = state.ingest.store().clone();
    let stored = blocking(move || Ok(store.get(&address)?)).await?;
    let Some(Body::Organisation(o)) = stored.as_ref().map(|s| &s.record.body) else {
        return Err(Error::NotFound(
            "this node holds no such organisation".into(),
        ));
    };
    let record = &stored.as_ref().expect("matched above").record;
    Ok(axum::Json(murmurations_profile(record, o)).into_response())
}

/// One organisation as a Murmurations `organizations_schema-v1.0.0` profile: every field
/// the schema has room for. `maillage import murmurations` reads each of them back.
pub fn murmurations_profile(record: &Record, o: &Organisation) -> Value {
    let mut tags: Vec<String> = o.tags.clone();
    tags.extend(o.org_type.iter().map(|t| t.as_str().to_owned()));
    let concepts = o
        .organisational_structures
        .iter()
        .chain(&o.primary_activity)
        .chain(&o.activities)
        .chain(&o.themes);
    tags.extend(
        concepts
            .filter_map(|c| vocab::concept(c))
            .map(|c| c.label("en").0.to_owned()),
    );
    let mut seen = std::collections::BTreeSet::new();
    tags.retain(|t| seen.insert(t.clone()));
    let address = o.address.as_ref().map(|a| {
        [&a.street, &a.postcode, &a.locality, &a.region]
            .into_iter()
            .flatten()
            .cloned()
            .chain(
                a.country
                    .as_deref()
                    .and_then(vocab::country)
                    .map(str::to_owned),
            )
            .collect::<Vec<_>>()
            .join(", ")
    });
    let mut urls: Vec<Value> = o
        .links
        .iter()
        .filter(|(kind, _)| {
            !matches!(
                kind.as_str(),
                "rss" | "logo" | "header-image" | "image" | "contact-form"
            )
        })
        .flat_map(|(kind, urls)| urls.iter().map(move |u| json!({"name": kind, "url": u})))
        .collect();
    urls.dedup();
    let link = |kind: &str| o.links.get(kind).and_then(|v| v.first()).cloned();
    let timestamp = |date: &Option<String>| {
        date.as_deref().and_then(|d| {
            let mut parts = d.split('-').map(|p| p.parse::<i64>().ok());
            let (y, m, day) = (
                parts.next()??,
                parts.next().flatten().unwrap_or(1),
                parts.next().flatten().unwrap_or(1),
            );
            Some(days_from_civil(y, m, day) * 86_400)
        })
    };
    let mut relationships: Vec<Value> = o
        .member_of
        .iter()
        .filter(|m| m.starts_with("http"))
        .map(|m| json!({"predicate_url": "https://schema.org/memberOf", "object_url": m}))
        .collect();
    relationships.extend(
        o.relationships
            .iter()
            .filter(|r| r.object.starts_with("http"))
            .map(|r| json!({"predicate_url": r.predicate, "object_url": r.object})),
    );
    let profile = json!({
        "linked_schemas": ["organizations_schema-v1.0.0"],
        "name": o.name.chars().take(200).collect::<String>(),
        "nickname": o.alternate_names.first(),
        "primary_url": o.website,
        "tags": if tags.is_empty() { None } else { Some(tags.into_iter().map(|t| t.chars().take(100).collect::<String>()).take(100).collect::<Vec<_>>()) },
        "urls": urls,
        "description": description(o),
        "mission": o.mission.get("en").or_else(|| o.mission.values().next()),
        "status": o.status.map(|s| match s {
            maillage_core::body::OrganisationStatus::Planned => "in_planning",
            maillage_core::body::OrganisationStatus::Active => "active",
            maillage_core::body::OrganisationStatus::Inactive => "on_hold",
            maillage_core::body::OrganisationStatus::Dissolved => "completed",
            maillage_core::body::OrganisationStatus::Cancelled => "cancelled",
        }),
        "full_address": address.filter(|a| !a.is_empty()),
        "country_iso_3166": country(o),
        "geolocation": o.location.map(|l| json!({"lat": l.lat(), "lon": l.lon()})),
        "image": link("logo"),
        "header_image": link("header-image"),
        "images": o.links.get("image").map(|v| v.iter().map(|u| json!({"url": u})).collect::<Vec<_>>()),
        "rss": link("rss"),
        "relationships": relationships,
        "starts_at": timestamp(&o.founded),
        "ends_at": timestamp(&o.dissolved),
        "contact_details": json!({"email": o.emails.first(), "contact_form": link("contact-form")}),
        "telephone": o.phones.first(),
        "geographic_scope": o.scope.map(|s| match s {
            maillage_core::body::Scope::Local => "local",
            maillage_core::body::Scope::Regional => "regional",
            maillage_core::body::Scope::National => "national",
            _ => "international",
        }),
        // Traceable to the signed record: its address, and the hash of the version shown.
        "unique_id": record.address().to_string(),
        "maillage_hash": record.hash().to_string(),
    });
    strip_nulls(profile)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let body = Body::from_json(
            Kind::Organisation,
            json!({"name": "Coop \"Le Lien\", Lyon", "description": {"fr": "Deux\nlignes"}, "countries": ["FR"]}),
        )
        .unwrap();
        let key = maillage_core::SigningKey::from_bytes(&[3; 32]);
        let record = Record::sign(
            &key,
            Kind::Organisation,
            "lien".parse().unwrap(),
            1,
            0,
            body,
        )
        .unwrap();
        let Body::Organisation(o) = &record.body else {
            panic!()
        };
        let mut columns = maillage_core::sheet::Columns::default();
        columns.add(o);
        let header = columns.header();
        let row = csv_row(
            &Row {
                columns,
                base: String::new(),
            },
            &record,
            o,
        )
        .unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes());
        let fields = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| &fields[header.iter().position(|h| h == name).unwrap()];
        assert_eq!(cell("Name"), "Coop \"Le Lien\", Lyon");
        assert_eq!(cell("Description (fr)"), "Deux\nlignes");
        assert_eq!(cell("Countries"), "FR");
        assert_eq!(fields.len(), header.len());
    }
}
