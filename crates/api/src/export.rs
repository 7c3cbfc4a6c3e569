//! Exports of organisations to the SSE data standards, streamed page by page, with the same
//! filters as search. Every row keeps the record's address and hash, so a reader can trace
//! it back to the signed record.

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maillage_core::body::{Body, Organisation};
use maillage_core::vocab::{self, Scheme};
use maillage_core::{Address, Kind, Record};
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use crate::records::{Search, query};
use crate::{Error, State, blocking};

/// The "standard CSV" columns of ESSGLOBAL-based maps, then the record's address and hash.
pub const CSV_COLUMNS: [&str; 20] = [
    "Identifier",
    "Name",
    "Description",
    "Organisational Structure",
    "Primary Activity",
    "Activities",
    "Street Address",
    "Locality",
    "Region",
    "Postcode",
    "Country Name",
    "Website",
    "Phone",
    "Email",
    "Twitter",
    "Facebook",
    "Latitude",
    "Longitude",
    "Maillage Address",
    "Hash",
];

/// The JSON-LD context: ESSGLOBAL and schema.org terms.
fn context() -> Value {
    json!({
        "@vocab": "https://schema.org/",
        "essglobal": "http://purl.org/solidarityeconomics/experimental/essglobal/vocab/",
        "activities": "http://purl.org/solidarityeconomics/experimental/essglobal/standard/activities-modified/",
        "structures": "http://purl.org/solidarityeconomics/experimental/essglobal/standard/organisational-structure/",
        "maillage": "urn:maillage:",
        "hash": "maillage:hash",
        "signedRecord": "maillage:signedRecord",
        "essglobal:economicActivity": {"@type": "@id"},
        "essglobal:organisationalStructure": {"@type": "@id"},
        "memberOf": {"@type": "@id"},
    })
}

/// How one format writes a stream of organisations.
struct Format {
    content_type: &'static str,
    head: String,
    separator: &'static str,
    tail: &'static str,
    row: fn(&Record, &Organisation) -> Option<String>,
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

fn geojson(record: &Record, o: &Organisation) -> Option<String> {
    let l = o.location?;
    let feature = json!({
        "type": "Feature",
        "id": record.address().to_string(),
        "geometry": {"type": "Point", "coordinates": [l.lon(), l.lat()]},
        "properties": {
            "name": o.name,
            "address": record.address().to_string(),
            "hash": record.hash().to_string(),
            "type": o.org_type.map(|t| t.as_str()),
            "countries": o.countries,
            "activities": o.activities,
            "website": o.website,
            "description": description(o),
        },
    });
    Some(feature.to_string())
}

fn csv_row(record: &Record, o: &Organisation) -> Option<String> {
    let a = o.address.clone().unwrap_or_default();
    let (lat, lon) = o.location.map_or((String::new(), String::new()), |l| {
        (l.lat().to_string(), l.lon().to_string())
    });
    let fields = [
        record.id.to_string(),
        o.name.clone(),
        description(o).unwrap_or_default().to_owned(),
        o.organisational_structure.clone().unwrap_or_default(),
        o.activities.first().cloned().unwrap_or_default(),
        o.activities.join(";"),
        a.street.unwrap_or_default(),
        a.locality.unwrap_or_default(),
        a.region.unwrap_or_default(),
        a.postcode.unwrap_or_default(),
        country(o)
            .and_then(vocab::country)
            .unwrap_or_default()
            .to_owned(),
        o.website.clone().unwrap_or_default(),
        String::new(),
        o.email.clone().unwrap_or_default(),
        String::new(),
        String::new(),
        lat,
        lon,
        record.address().to_string(),
        record.hash().to_string(),
    ];
    let mut writer = csv::Writer::from_writer(vec![]);
    writer.write_record(&fields).ok()?;
    String::from_utf8(writer.into_inner().ok()?).ok()
}

fn jsonld(record: &Record, o: &Organisation) -> Option<String> {
    let a = o.address.as_ref();
    let node = json!({
        "@id": record.address().to_string(),
        "@type": ["Organization", "essglobal:SSEInitiative"],
        "name": o.name,
        "alternateName": o.alternate_names,
        "description": o.description.iter().map(|(lang, text)| json!({"@value": text, "@language": lang})).collect::<Vec<_>>(),
        "url": o.website,
        "email": o.email,
        "foundingDate": o.founded.map(|y| y.to_string()),
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
        "memberOf": o.member_of,
        "essglobal:economicActivity": o.activities.iter().map(|c| format!("activities:{c}")).collect::<Vec<_>>(),
        "essglobal:organisationalStructure": o.organisational_structure.as_ref().map(|c| format!("structures:{c}")),
        "identifier": o.identifiers.iter().map(|i| json!({"@type": "PropertyValue", "propertyID": i.scheme, "value": i.value})).collect::<Vec<_>>(),
        "hash": record.hash().to_string(),
    });
    Some(strip_nulls(node).to_string())
}

/// Leaves out absent values, as JSON-LD readers expect.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k, strip_nulls(v)))
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
        "organisations.csv" => Format {
            content_type: "text/csv; charset=utf-8",
            head: CSV_COLUMNS.join(",") + "\n",
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
                "no export `{other}`: organisations.geojson, organisations.csv or organisations.jsonld"
            )));
        }
    })
}

/// `GET /api/v1/export/{file}`: streamed, with the filters of `/api/v1/organisations`.
#[tracing::instrument(skip(state))]
pub(crate) async fn export(
    Extract(state): Extract<State>,
    Path(file): Path<String>,
    q: Result<Query<Search>, QueryRejection>,
) -> Result<Response, Error> {
    let format = format(&file)?;
    let mut query = query(q)?.into_query(Kind::Organisation)?;
    query.limit = maillage_store::engine::MAX_LIMIT;
    let store = state.ingest.store().clone();
    // A few pages in flight: memory stays bounded however large the export.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut chunk = format.head.clone();
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
                if let Some(row) = (format.row)(&stored.record, o) {
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
            match page.next_cursor {
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

fn murmurations_profile(record: &Record, o: &Organisation) -> Value {
    let mut tags: Vec<String> = o.org_type.iter().map(|t| t.as_str().to_owned()).collect();
    tags.extend(
        o.activities
            .iter()
            .filter_map(|c| vocab::essglobal(Scheme::Activities, c))
            .map(str::to_owned),
    );
    tags.extend(
        o.themes
            .iter()
            .filter_map(|c| vocab::essglobal(Scheme::Themes, c))
            .map(str::to_owned),
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
    let profile = json!({
        "linked_schemas": ["organizations_schema-v1.0.0"],
        "name": o.name.chars().take(200).collect::<String>(),
        "nickname": o.alternate_names.first(),
        "primary_url": o.website,
        "tags": if tags.is_empty() { None } else { Some(tags.into_iter().map(|t| t.chars().take(100).collect::<String>()).collect::<Vec<_>>()) },
        "description": description(o),
        "status": o.status.map(|s| match s {
            maillage_core::body::OrganisationStatus::Active => "active",
            maillage_core::body::OrganisationStatus::Inactive => "on_hold",
            maillage_core::body::OrganisationStatus::Dissolved => "completed",
        }),
        "full_address": address.filter(|a| !a.is_empty()),
        "country_iso_3166": country(o),
        "geolocation": o.location.map(|l| json!({"lat": l.lat(), "lon": l.lon()})),
        // Traceable to the signed record: its address, and the hash of the version shown.
        "unique_id": record.address().to_string(),
        "maillage_hash": record.hash().to_string(),
    });
    strip_nulls(profile)
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
        let row = csv_row(&record, o).unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(row.as_bytes());
        let fields = reader.records().next().unwrap().unwrap();
        assert_eq!(&fields[1], "Coop \"Le Lien\", Lyon");
        assert_eq!(&fields[2], "Deux\nlignes");
        assert_eq!(&fields[10], "France");
        assert_eq!(fields.len(), CSV_COLUMNS.len());
    }
}
