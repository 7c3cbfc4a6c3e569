//! `GET /api/v1/stats/collaborations`: how networks collaborate, counted by direction
//! (South–South, North–South, North–North), level (national, continental,
//! intercontinental), sector, year and network, as JSON or CSV.
//!
//! The classification of one collaboration is pure ([`classify`]); the handler gathers
//! what it reads (the parties' countries, regions and activities) from the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maillage_core::body::{Body, Collaboration, Organisation, Region};
use maillage_core::{Address, Kind};
use maillage_store::Store;
use serde_json::{Value, json};

use crate::records::{Params, profile_name, query};
use crate::{Error, State, blocking};

/// Most collaborations one answer counts; past it, narrow with the filters.
pub const MAX_COUNTED: u64 = 200_000;

/// The dimensions a count can be broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Direction,
    Level,
    Sector,
    Year,
    Network,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Direction,
        Dimension::Level,
        Dimension::Sector,
        Dimension::Year,
        Dimension::Network,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Direction => "direction",
            Dimension::Level => "level",
            Dimension::Sector => "sector",
            Dimension::Year => "year",
            Dimension::Network => "network",
        }
    }

    fn parse(name: &str) -> Result<Dimension, Error> {
        Dimension::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "`by` takes {}, comma-separated; `{name}` is none of them",
                    Dimension::ALL.map(Dimension::name).join(", ")
                ))
            })
    }
}

/// Which countries count as the global North; every other country is the South.
#[derive(Clone, Debug)]
pub struct North {
    countries: BTreeSet<String>,
    /// Whether these are UN M49's developed regions, not an operator's list.
    m49: bool,
}

impl North {
    /// UN M49's "developed regions" (the designation the UN Statistics Division kept until
    /// 2021, still the usual basis of South–South statistics): Europe, Northern America,
    /// Japan, Australia and New Zealand.
    pub fn m49() -> North {
        North {
            m49: true,
            countries: maillage_core::vocab::countries()
                .map(|(code, _)| code)
                .filter(|code| {
                    let regions = maillage_core::vocab::country_regions(code);
                    regions.contains(&Region::Europe)
                        || regions.contains(&Region::NorthAmerica)
                        || matches!(*code, "JP" | "AU" | "NZ")
                })
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The North as an operator lists it (ISO 3166-1 alpha-2 codes, or country names).
    pub fn of(countries: &[String]) -> Result<North, String> {
        countries
            .iter()
            .map(|c| {
                maillage_core::vocab::country_code(c)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{c}` is not a country (stats.north)"))
            })
            .collect::<Result<_, _>>()
            .map(|countries| North {
                countries,
                m49: false,
            })
    }

    fn contains(&self, country: &str) -> bool {
        self.countries.contains(country)
    }

    pub fn countries(&self) -> impl Iterator<Item = &str> {
        self.countries.iter().map(String::as_str)
    }
}

/// What counting needs of one party.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Party {
    pub name: String,
    pub countries: Vec<String>,
    pub regions: Vec<Region>,
    pub sectors: Vec<String>,
}

impl Party {
    fn of(o: &Organisation) -> Party {
        let mut countries = o.countries.clone();
        if countries.is_empty()
            && let Some(c) = o.address.as_ref().and_then(|a| a.country.clone())
        {
            countries.push(c);
        }
        let mut regions: Vec<Region> = countries
            .iter()
            .flat_map(|c| maillage_core::vocab::country_regions(c))
            .collect();
        if regions.is_empty() {
            regions = o.regions.clone();
        }
        regions.sort();
        regions.dedup();
        let sectors = match &o.primary_activity {
            Some(a) => vec![a.clone()],
            None => o.activities.clone(),
        };
        Party {
            name: o.name.clone(),
            countries,
            regions,
            sectors,
        }
    }
}

const UNKNOWN: &str = "unknown";

/// The values of each dimension one collaboration counts under. `parties` holds what this
/// node knows of each party (`None`: not an organisation held here).
///
/// - direction: `south-south` when every party is in the South, `north-north` when every
///   one is in the North, `north-south` otherwise; a party in several countries is in the
///   North if any of them is; `unknown` when a party's country is not known.
/// - level: `national` when all parties share a country, `continental` when they share a
///   region (RIPESS's continents, from each party's countries by UN M49), `intercontinental`
///   otherwise; `unknown` when a party's place is not known, or there are fewer than two.
/// - sector: each primary activity of a party (or its activities when it has none).
/// - year: each year the collaboration ran, as the `year` filter counts them.
/// - network: the collaboration's author, by did.
pub fn classify(
    c: &Collaboration,
    parties: &[Option<Party>],
    north: &North,
    network: &str,
) -> BTreeMap<Dimension, Vec<String>> {
    // Direction and level are between parties: at least two, each placed.
    let known: Option<Vec<&Party>> = parties
        .iter()
        .map(|p| p.as_ref().filter(|p| !p.countries.is_empty()))
        .collect::<Option<Vec<_>>>()
        .filter(|ps| ps.len() >= 2);
    let direction = match &known {
        Some(ps) if !ps.is_empty() => {
            let in_north = |p: &&Party| p.countries.iter().any(|c| north.contains(c));
            match (ps.iter().all(in_north), ps.iter().any(in_north)) {
                (true, _) => "north-north",
                (false, false) => "south-south",
                (false, true) => "north-south",
            }
        }
        _ => UNKNOWN,
    };
    let level = match &known {
        Some(ps) if !ps.is_empty() => {
            let shared = |of: &dyn Fn(&Party) -> Vec<String>| {
                let mut sets = ps
                    .iter()
                    .map(|p| of(p).into_iter().collect::<BTreeSet<_>>());
                let first = sets.next().unwrap_or_default();
                !sets.fold(first, |a, b| &a & &b).is_empty()
            };
            if shared(&|p| p.countries.clone()) {
                "national"
            } else if shared(&|p| p.regions.iter().map(|r| r.as_str().to_owned()).collect()) {
                "continental"
            } else {
                "intercontinental"
            }
        }
        _ => UNKNOWN,
    };
    let mut sectors: Vec<String> = parties
        .iter()
        .flatten()
        .flat_map(|p| p.sectors.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if sectors.is_empty() {
        sectors.push(UNKNOWN.into());
    }
    let mut years: Vec<String> = maillage_search::schema::years(c)
        .map(|y| y.to_string())
        .collect();
    if years.is_empty() {
        years.push(UNKNOWN.into());
    }
    BTreeMap::from([
        (Dimension::Direction, vec![direction.to_owned()]),
        (Dimension::Level, vec![level.to_owned()]),
        (Dimension::Sector, sectors),
        (Dimension::Year, years),
        (Dimension::Network, vec![network.to_owned()]),
    ])
}

/// The counts: each combination of the `by` dimensions' values, and every dimension alone.
#[derive(Debug, Default)]
pub struct Counts {
    pub total: u64,
    pub rows: BTreeMap<Vec<String>, u64>,
    pub each: BTreeMap<Dimension, BTreeMap<String, u64>>,
}

impl Counts {
    /// Counts one collaboration once in every combination of its values.
    pub fn add(&mut self, by: &[Dimension], values: &BTreeMap<Dimension, Vec<String>>) {
        self.total += 1;
        let mut combinations: Vec<Vec<String>> = vec![vec![]];
        for d in by {
            combinations = combinations
                .into_iter()
                .flat_map(|row| {
                    values[d].iter().map(move |v| {
                        let mut row = row.clone();
                        row.push(v.clone());
                        row
                    })
                })
                .collect();
        }
        for row in combinations {
            *self.rows.entry(row).or_default() += 1;
        }
        for (d, vs) in values {
            for v in vs {
                *self
                    .each
                    .entry(*d)
                    .or_default()
                    .entry(v.clone())
                    .or_default() += 1;
            }
        }
    }
}

/// `GET /api/v1/stats/collaborations?by=direction,level&format=csv&items=100&…`: the
/// filters of `/api/v1/collaborations` choose which collaborations are counted; `items`
/// lists up to that many of them (by title) with their values.
#[tracing::instrument(skip(state))]
pub(crate) async fn collaborations(
    Extract(state): Extract<State>,
    q: Result<Query<Params>, QueryRejection>,
) -> Result<Response, Error> {
    let params = query(q)?;
    let (mut by, mut csv, mut items) = (vec![], false, 0u64);
    let mut filters = vec![];
    for (k, v) in params {
        match k.as_str() {
            "by" => {
                for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let d = Dimension::parse(name)?;
                    if by.contains(&d) {
                        return Err(Error::BadRequest(format!("`by` names `{name}` twice")));
                    }
                    by.push(d);
                }
            }
            "format" => {
                csv = match v.as_str() {
                    "csv" => true,
                    "json" => false,
                    other => {
                        return Err(Error::BadRequest(format!(
                            "`format` is `json` or `csv`, not `{other}`"
                        )));
                    }
                }
            }
            "items" => {
                items = v.parse().ok().filter(|n| *n <= MAX_COUNTED).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "`items` is how many counted collaborations to list, 0 to {MAX_COUNTED}, not `{v}`"
                    ))
                })?;
            }
            "cursor" | "limit" | "sort" => {
                return Err(Error::BadRequest(format!(
                    "the statistics count every collaboration the filters find; `{k}` has no use here"
                )));
            }
            _ => filters.push((k, v)),
        }
    }
    if by.is_empty() {
        by = vec![Dimension::Direction, Dimension::Level];
    }
    let mut query = maillage_search::Query::from_params(
        Kind::Collaboration,
        filters.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?;
    query.limit = maillage_search::query::MAX_LIMIT;
    query.sort = maillage_search::Sort::Name;
    query.facets = false;
    let (search, store, north, dims) = (
        state.search.clone(),
        state.ingest.store().clone(),
        state.site.north.clone(),
        by.clone(),
    );
    let (counts, listed, names) = blocking(move || {
        search.catch_up(crate::CATCH_UP)?;
        let mut counts = Counts::default();
        let mut listed = vec![];
        let mut parties: HashMap<String, Option<Party>> = HashMap::new();
        let mut networks: HashMap<maillage_core::Author, Option<String>> = HashMap::new();
        loop {
            let page = search.search(&query)?;
            if page.total > MAX_COUNTED {
                return Err(Error::TooLarge(format!(
                    "the filters find {} collaborations, more than the {MAX_COUNTED} one answer counts; narrow them (author=, year=, region=, …)",
                    page.total
                )));
            }
            for s in &page.items {
                let Body::Collaboration(c) = &s.record.body else {
                    continue;
                };
                let mut known = Vec::with_capacity(c.parties.len());
                for p in &c.parties {
                    if !parties.contains_key(&p.reference) {
                        let party = party(store.as_ref(), &p.reference)?;
                        parties.insert(p.reference.clone(), party);
                    }
                    known.push(parties[&p.reference].clone());
                }
                let author = &s.record.author;
                if !networks.contains_key(author) {
                    networks.insert(*author, profile_name(store.as_ref(), author)?);
                }
                let values = classify(c, &known, &north, &author.did());
                counts.add(&dims, &values);
                if (listed.len() as u64) < items {
                    listed.push(item(s, c, &known, &values));
                }
            }
            match page.next {
                Some(c) => query.cursor = Some(c),
                None => {
                    let names = networks
                        .into_iter()
                        .filter_map(|(a, name)| Some((a.did(), name?)))
                        .collect();
                    return Ok((counts, listed, names));
                }
            }
        }
    })
    .await?;
    Ok(if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&by, &counts)?,
        )
            .into_response()
    } else {
        let mut answer = to_json(&by, &counts, &state.site.north, &names);
        if items > 0 {
            answer["items"] = Value::Array(listed);
        }
        axum::Json(answer).into_response()
    })
}

/// One counted collaboration with every value it counts under, for a reader that draws
/// them (the explorer's graph).
fn item(
    s: &maillage_store::Stored,
    c: &Collaboration,
    parties: &[Option<Party>],
    values: &BTreeMap<Dimension, Vec<String>>,
) -> Value {
    let parties: Vec<Value> = c
        .parties
        .iter()
        .zip(parties)
        .map(|(p, known)| {
            json!({
                "ref": p.reference,
                "name": known.as_ref().map(|k| &k.name),
                "regions": known.as_ref().map_or(vec![], |k| k.regions.iter().map(|r| r.as_str()).collect()),
            })
        })
        .collect();
    let mut item = json!({
        "address": s.record.address().to_string(),
        "title": c.title,
        "parties": parties,
    });
    for (d, v) in values {
        item[d.name()] = json!(v);
    }
    item
}

fn party(store: &dyn Store, reference: &str) -> Result<Option<Party>, Error> {
    let Ok(address) = reference.parse::<Address>() else {
        return Ok(None);
    };
    Ok(store.get(&address)?.and_then(|s| match &s.record.body {
        Body::Organisation(o) => Some(Party::of(o)),
        _ => None,
    }))
}

/// `names`: the networks' profile names, by did, shown beside their dids as `label`.
fn to_json(
    by: &[Dimension],
    counts: &Counts,
    north: &North,
    names: &HashMap<String, String>,
) -> Value {
    let rows: Vec<Value> = counts
        .rows
        .iter()
        .map(|(values, count)| {
            let mut row: serde_json::Map<String, Value> = by
                .iter()
                .zip(values)
                .map(|(d, v)| (d.name().to_owned(), json!(v)))
                .collect();
            row.insert("count".into(), json!(count));
            Value::Object(row)
        })
        .collect();
    let each: serde_json::Map<String, Value> = counts
        .each
        .iter()
        .map(|(d, values)| {
            let mut values: Vec<(&String, &u64)> = values.iter().collect();
            values.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let values: Vec<Value> = values
                .into_iter()
                .map(|(value, count)| {
                    let mut v = json!({"value": value, "count": count});
                    if *d == Dimension::Network
                        && let Some(name) = names.get(value)
                    {
                        v["label"] = json!(name);
                    }
                    v
                })
                .collect();
            (d.name().to_owned(), Value::Array(values))
        })
        .collect();
    json!({
        "by": by.iter().map(|d| d.name()).collect::<Vec<_>>(),
        "total": counts.total,
        "rows": rows,
        "dimensions": each,
        "north": north.countries().collect::<Vec<_>>(),
        "north_is_m49": north.m49,
    })
}

fn to_csv(by: &[Dimension], counts: &Counts) -> Result<String, Error> {
    let mut writer = csv::Writer::from_writer(vec![]);
    let csv_error = |e: csv::Error| Error::Internal(e.to_string());
    writer
        .write_record(by.iter().map(|d| d.name()).chain(["count"]))
        .map_err(csv_error)?;
    for (values, count) in &counts.rows {
        writer
            .write_record(
                values
                    .iter()
                    .map(String::as_str)
                    .chain([count.to_string().as_str()]),
            )
            .map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::Internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(countries: &[&str], sector: &str) -> Option<Party> {
        let o: Organisation = serde_json::from_value(json!({
            "name": "x",
            "countries": countries,
            "primary_activity": sector,
        }))
        .unwrap();
        Some(Party::of(&o))
    }

    fn collaboration(start: &str, end: &str) -> Collaboration {
        serde_json::from_value(json!({"title": "t", "start": start, "end": end})).unwrap()
    }

    fn values(parties: &[Option<Party>]) -> BTreeMap<Dimension, Vec<String>> {
        classify(
            &collaboration("2020", "2021"),
            parties,
            &North::m49(),
            "did:key:z6Mk",
        )
    }

    #[test]
    fn the_north_is_m49s_developed_regions() {
        let north = North::m49();
        for c in ["FR", "DE", "US", "CA", "JP", "AU", "NZ"] {
            assert!(north.contains(c), "{c}");
        }
        for c in ["SN", "BR", "IN", "CN", "MA", "MX", "ZA"] {
            assert!(!north.contains(c), "{c}");
        }
        let mine = North::of(&["France".into(), "sn".into()]).unwrap();
        assert_eq!(mine.countries().collect::<Vec<_>>(), ["FR", "SN"]);
        assert!(North::of(&["Atlantis".into()]).is_err());
    }

    #[test]
    fn direction_and_level_follow_the_parties_countries() {
        let v = values(&[party(&["SN"], "a"), party(&["ML"], "b")]);
        assert_eq!(v[&Dimension::Direction], ["south-south"]);
        assert_eq!(v[&Dimension::Level], ["continental"]);
        assert_eq!(v[&Dimension::Sector], ["a", "b"]);
        assert_eq!(v[&Dimension::Year], ["2020", "2021"]);
        assert_eq!(v[&Dimension::Network], ["did:key:z6Mk"]);

        let v = values(&[party(&["SN"], "a"), party(&["FR"], "a")]);
        assert_eq!(v[&Dimension::Direction], ["north-south"]);
        assert_eq!(v[&Dimension::Level], ["intercontinental"]);
        assert_eq!(v[&Dimension::Sector], ["a"]);

        let v = values(&[party(&["FR"], "a"), party(&["FR", "DE"], "a")]);
        assert_eq!(v[&Dimension::Direction], ["north-north"]);
        assert_eq!(v[&Dimension::Level], ["national"]);

        // Brazil and India: South–South across continents.
        let v = values(&[party(&["BR"], "a"), party(&["IN"], "a")]);
        assert_eq!(v[&Dimension::Direction], ["south-south"]);
        assert_eq!(v[&Dimension::Level], ["intercontinental"]);
    }

    #[test]
    fn a_party_not_placed_makes_direction_and_level_unknown() {
        let v = values(&[party(&["SN"], "a"), None]);
        assert_eq!(v[&Dimension::Direction], ["unknown"]);
        assert_eq!(v[&Dimension::Level], ["unknown"]);
        assert_eq!(v[&Dimension::Sector], ["a"]);
        let v = values(&[party(&[], ""), party(&["FR"], "")]);
        assert_eq!(v[&Dimension::Direction], ["unknown"]);
        // One party alone has no direction.
        let v = values(&[party(&["SN"], "a")]);
        assert_eq!(v[&Dimension::Direction], ["unknown"]);
        assert_eq!(v[&Dimension::Level], ["unknown"]);
    }

    #[test]
    fn counts_cross_every_value_and_keep_each_dimension_alone() {
        let mut counts = Counts::default();
        let by = [Dimension::Direction, Dimension::Year];
        counts.add(&by, &values(&[party(&["SN"], "a"), party(&["ML"], "b")]));
        counts.add(&by, &values(&[party(&["SN"], "a"), party(&["FR"], "b")]));
        assert_eq!(counts.total, 2);
        assert_eq!(counts.rows.len(), 4);
        assert_eq!(counts.rows[&vec!["south-south".into(), "2021".into()]], 1);
        assert_eq!(counts.each[&Dimension::Year]["2020"], 2);
        assert_eq!(counts.each[&Dimension::Direction]["north-south"], 1);
        // Every dimension alone, not only those crossed.
        assert_eq!(counts.each[&Dimension::Level]["continental"], 1);
        let csv = to_csv(&by, &counts).unwrap();
        assert!(csv.starts_with("direction,year,count\n"), "{csv}");
        assert!(csv.contains("south-south,2021,1\n"), "{csv}");
    }
}
