//! A search as a reader asks it: read from query parameters with the checks writes use,
//! bounded, and turned into a Tantivy query. The rules of every search (parameters,
//! limits, bounds, cursors) are here and nowhere else. No I/O.

use std::ops::Bound;

use maillage_core::body::{self, CollaborationStatus, CollaborationType, OrganisationType, Region};
use maillage_core::vocab::Scheme;
use maillage_core::{Author, Kind};
use tantivy::Term;
use tantivy::query::{BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Occur, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TokenizerManager;

use crate::Error;
use crate::schema::{FOLDED, Fields, STEMMED};

/// Largest page.
pub const MAX_LIMIT: usize = 500;
/// Page size when none is asked for.
pub const DEFAULT_LIMIT: usize = 50;
/// Widest `near=` radius.
pub const MAX_NEAR_KM: f64 = 2_000.0;
/// Longest `q`, and most words read from it.
pub const MAX_TEXT: usize = 500;
pub const MAX_WORDS: usize = 16;

/// What results are counted by, and filtered by with a parameter of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Facet {
    Type,
    Structure,
    Activity,
    LegalForm,
    Qualifier,
    Theme,
    Country,
    Region,
    Author,
    Status,
    Year,
    Confirmed,
}

impl Facet {
    pub const ALL: [Facet; 12] = [
        Facet::Type,
        Facet::Structure,
        Facet::Activity,
        Facet::LegalForm,
        Facet::Qualifier,
        Facet::Theme,
        Facet::Country,
        Facet::Region,
        Facet::Author,
        Facet::Status,
        Facet::Year,
        Facet::Confirmed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Facet::Type => "type",
            Facet::Structure => "structure",
            Facet::Activity => "activity",
            Facet::LegalForm => "legal_form",
            Facet::Qualifier => "qualifier",
            Facet::Theme => "theme",
            Facet::Country => "country",
            Facet::Region => "region",
            Facet::Author => "author",
            Facet::Status => "status",
            Facet::Year => "year",
            Facet::Confirmed => "confirmed",
        }
    }

    /// The facets of a kind's results.
    pub fn of(kind: Kind) -> &'static [Facet] {
        match kind {
            Kind::Organisation => &[
                Facet::Type,
                Facet::Structure,
                Facet::Activity,
                Facet::LegalForm,
                Facet::Qualifier,
                Facet::Theme,
                Facet::Country,
                Facet::Region,
                Facet::Author,
            ],
            Kind::Collaboration => &[
                Facet::Type,
                Facet::Status,
                Facet::Theme,
                Facet::Country,
                Facet::Region,
                Facet::Author,
                Facet::Year,
                Facet::Confirmed,
            ],
            Kind::Endorsement => &[],
        }
    }

    /// The value records hold, from the one a reader gives, checked as a write checks the
    /// field: what a write refuses, a filter refuses with the same reason.
    fn value(self, kind: Kind, given: &str) -> Result<String, String> {
        let field = self.name();
        let concept = |schemes: &[Scheme]| {
            body::concept(field, schemes, given)
                .map(|()| given.to_owned())
                .map_err(|e| e.to_string())
        };
        let word = |ok: bool, choices: &str| {
            if ok {
                Ok(given.to_owned())
            } else {
                Err(format!("`{field}` is one of {choices}, not `{given}`"))
            }
        };
        let is = |v: serde_json::Result<()>| v.is_ok();
        let text = serde_json::Value::String(given.to_owned());
        match self {
            Facet::Type if kind == Kind::Organisation => word(
                is(serde_json::from_value::<OrganisationType>(text).map(drop)),
                "network, initiative, support, agency, research, funder",
            ),
            Facet::Type => word(
                is(serde_json::from_value::<CollaborationType>(text).map(drop)),
                "partnership, joint-project, working-group, network-membership, event, exchange, funding, research",
            ),
            Facet::Status => word(
                is(serde_json::from_value::<CollaborationStatus>(text).map(drop)),
                "planned, active, completed, cancelled",
            ),
            Facet::Region => word(
                is(serde_json::from_value::<Region>(text).map(drop)),
                "africa, asia-pacific, europe, latin-america-caribbean, north-america, mena",
            ),
            Facet::Structure => concept(&[Scheme::OrganisationalStructure]),
            Facet::Activity => concept(&Scheme::ACTIVITIES),
            Facet::LegalForm => concept(&[Scheme::LegalForm]),
            Facet::Qualifier => concept(&[Scheme::Qualifiers]),
            Facet::Theme => concept(&[Scheme::Themes]),
            Facet::Country => body::country(field, given)
                .map(|()| given.to_owned())
                .map_err(|e| e.to_string()),
            Facet::Author => given
                .parse::<Author>()
                .map(|a| a.did())
                .map_err(|e| format!("`author`: {e}")),
            Facet::Year => word(
                given.len() == 4 && given.parse::<u16>().is_ok(),
                "a year of four digits",
            ),
            Facet::Confirmed => word(given == "true" || given == "false", "true or false"),
        }
    }
}

/// The order of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Best match first: names above alternate names above descriptions.
    Relevance,
    /// By folded name, then by document.
    Name,
    /// Most recently signed first.
    Updated,
}

impl Sort {
    fn letter(self) -> char {
        match self {
            Sort::Relevance => 'r',
            Sort::Name => 'n',
            Sort::Updated => 'u',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Name => "name",
            Sort::Updated => "updated",
        }
    }
}

/// A place in an order: results sort by `(rank, name, doc)` ascending, where `rank` is the
/// inverted score or time (zero when sorting by name) and `name` empty unless sorting by
/// name. A result's place depends on it alone, so pages stay stable while writes arrive.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub rank: u64,
    pub name: String,
    pub doc: u32,
}

/// Where the next page starts: after `place`, in `sort`'s order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub sort: Sort,
    pub place: Place,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.sort.letter(),
            self.place.rank,
            hex::encode(self.place.name.as_bytes()),
            self.place.doc
        )
    }

    fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.split('.');
        let sort = match parts.next()? {
            "r" => Sort::Relevance,
            "n" => Sort::Name,
            "u" => Sort::Updated,
            _ => return None,
        };
        let rank = parts.next()?.parse().ok()?;
        let name = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
        let doc = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Cursor {
            sort,
            place: Place { rank, name, doc },
        })
    }
}

/// A rectangle of longitudes and latitudes; `west > east` crosses the antimeridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bbox {
    pub west: f64,
    pub south: f64,
    pub east: f64,
    pub north: f64,
}

/// A search over one kind. Every filter that is set must match.
#[derive(Clone, Debug)]
pub struct Query {
    pub kind: Kind,
    pub text: Option<String>,
    pub filters: Vec<(Facet, String)>,
    /// A party's reference (collaborations), or what an organisation is a member of.
    pub party: Option<String>,
    /// Latitude, longitude in degrees, radius in km.
    pub near: Option<(f64, f64, f64)>,
    pub bbox: Option<Bbox>,
    pub sort: Sort,
    pub cursor: Option<Cursor>,
    pub limit: usize,
    /// Whether to count the facets' values (a reader of every page, an export, needs
    /// them on none).
    pub facets: bool,
}

/// Numbers separated by commas, each one a finite number.
fn numbers<const N: usize>(name: &str, given: &str, form: &str) -> Result<[f64; N], Error> {
    let bad = || Error::Query(format!("`{name}={given}` must be {form}"));
    let parts: Vec<f64> = given
        .split(',')
        .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    parts.try_into().map_err(|_| bad())
}

impl Query {
    pub fn new(kind: Kind) -> Query {
        Query {
            kind,
            text: None,
            filters: vec![],
            party: None,
            near: None,
            bbox: None,
            sort: Sort::Name,
            cursor: None,
            limit: DEFAULT_LIMIT,
            facets: true,
        }
    }

    /// Reads a search from query parameters (`q`, a facet's name, `party`, `near`, `bbox`,
    /// `sort`, `cursor`, `limit`), each given at most once.
    pub fn from_params<'a>(
        kind: Kind,
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Query, Error> {
        let mut q = Query::new(kind);
        let mut seen: Vec<&str> = vec![];
        let mut sort = None;
        let mut cursor = None;
        for (name, value) in params {
            if seen.contains(&name) {
                return Err(Error::Query(format!("`{name}` is given twice")));
            }
            seen.push(name);
            match name {
                "q" => q.text = Some(value.to_owned()),
                "sort" => {
                    sort = Some(match value {
                        "relevance" => Sort::Relevance,
                        "name" => Sort::Name,
                        "updated" => Sort::Updated,
                        _ => {
                            return Err(Error::Query(format!(
                                "`sort` is relevance, name or updated, not `{value}`"
                            )));
                        }
                    })
                }
                "cursor" => cursor = Some(value),
                "limit" => {
                    q.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            Error::Query(format!(
                                "limit={value}: a page holds 1 to {MAX_LIMIT} items"
                            ))
                        })?
                }
                "near" if kind == Kind::Organisation => {
                    let [lat, lon, km] = numbers(name, value, "lat,lon,km, like 14.69,-17.44,50")?;
                    q.near = Some((lat, lon, km));
                }
                "bbox" if kind == Kind::Organisation => {
                    let [west, south, east, north] = numbers(
                        name,
                        value,
                        "west,south,east,north in degrees, like -18,12,-11,17",
                    )?;
                    q.bbox = Some(Bbox {
                        west,
                        south,
                        east,
                        north,
                    });
                }
                "party" if kind == Kind::Collaboration => {
                    body::reference("party", value).map_err(|e| Error::Query(e.to_string()))?;
                    q.party = Some(value.to_owned());
                }
                "member_of" if kind == Kind::Organisation => {
                    body::reference("member_of", value).map_err(|e| Error::Query(e.to_string()))?;
                    q.party = Some(value.to_owned());
                }
                _ => {
                    let facet = Facet::of(kind)
                        .iter()
                        .find(|f| f.name() == name)
                        .ok_or_else(|| Error::Query(q.unknown(name)))?;
                    let value = facet.value(kind, value).map_err(Error::Query)?;
                    q.filters.push((*facet, value));
                }
            }
        }
        q.sort = sort.unwrap_or(if q.text.is_some() {
            Sort::Relevance
        } else {
            Sort::Name
        });
        q.cursor = cursor
            .map(|c| {
                let cursor = Cursor::decode(c)
                    .ok_or_else(|| Error::Query(format!("`{c}` is not a cursor this node gave")))?;
                if cursor.sort != q.sort {
                    return Err(Error::Query(format!(
                        "this cursor continues sort={}, not sort={}",
                        cursor.sort.name(),
                        q.sort.name()
                    )));
                }
                Ok(cursor)
            })
            .transpose()?;
        q.check()?;
        Ok(q)
    }

    fn unknown(&self, name: &str) -> String {
        let mut names = vec!["q"];
        names.extend(Facet::of(self.kind).iter().map(|f| f.name()));
        match self.kind {
            Kind::Organisation => names.extend(["near", "bbox", "member_of"]),
            _ => names.push("party"),
        }
        names.extend(["sort", "cursor", "limit"]);
        format!(
            "`{name}` is not a parameter of this search; it takes {}",
            names.join(", ")
        )
    }

    /// The bounds every search keeps, however it was made.
    pub fn check(&self) -> Result<(), Error> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(Error::Query(format!("a page holds 1 to {MAX_LIMIT} items")));
        }
        if let Some(text) = &self.text {
            if text.chars().count() > MAX_TEXT {
                return Err(Error::Query(format!(
                    "`q` is at most {MAX_TEXT} characters"
                )));
            }
            if !text.chars().any(char::is_alphanumeric) {
                return Err(Error::Query("`q` needs a letter or a digit".into()));
            }
        }
        if let Some((lat, lon, km)) = self.near
            && (!(0.0..=MAX_NEAR_KM).contains(&km)
                || !(-90.0..=90.0).contains(&lat)
                || !(-180.0..=180.0).contains(&lon))
        {
            return Err(Error::Query(format!(
                "`near` is lat,lon,km with lat in ±90, lon in ±180 and km from 0 to {MAX_NEAR_KM}"
            )));
        }
        if let Some(b) = self.bbox
            && (!(-90.0..=90.0).contains(&b.south)
                || !(-90.0..=90.0).contains(&b.north)
                || b.south > b.north
                || !(-180.0..=180.0).contains(&b.west)
                || !(-180.0..=180.0).contains(&b.east))
        {
            return Err(Error::Query(
                "`bbox` is west,south,east,north with longitudes in ±180, latitudes in ±90 and south below north"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The words of `q` as names are analysed, with each word's stem in every stemmed
    /// language: `(word, stems)`. A hyphenated compound is one word (`co-operative` is
    /// `cooperative`); one-letter words (`l'`, `d'`) count only when there is nothing else.
    pub fn words(&self, tokenizers: &TokenizerManager) -> Vec<(String, Vec<String>)> {
        let Some(text) = &self.text else {
            return vec![];
        };
        let joined = join_compounds(text);
        let analyse = |name: &str| -> Vec<String> {
            let Some(mut analyser) = tokenizers.get(name) else {
                return vec![];
            };
            let mut stream = analyser.token_stream(&joined);
            let mut out = vec![];
            while stream.advance() {
                out.push(stream.token().text.clone());
            }
            out
        };
        let folded = analyse(FOLDED);
        let stems: Vec<Vec<String>> = STEMMED
            .iter()
            .map(|(tag, _)| analyse(&format!("text_{tag}")))
            .collect();
        let long = folded.iter().any(|w| w.chars().nth(1).is_some());
        folded
            .into_iter()
            .enumerate()
            .filter(|(_, w)| !long || w.chars().nth(1).is_some())
            .map(|(i, w)| {
                let stems = stems
                    .iter()
                    .map(|s| s.get(i).cloned().unwrap_or_else(|| w.clone()))
                    .collect();
                (w, stems)
            })
            .take(MAX_WORDS)
            .collect()
    }

    /// The Tantivy query: every word found somewhere (names weigh most; the last word also
    /// as a prefix, as people type; longer words also with a typo or two), every filter.
    /// Each part scores a constant, so a result's score depends on it alone.
    pub fn to_tantivy(
        &self,
        f: &Fields,
        tokenizers: &TokenizerManager,
    ) -> Box<dyn tantivy::query::Query> {
        let scored = |q: Box<dyn tantivy::query::Query>,
                      score: f32|
         -> (Occur, Box<dyn tantivy::query::Query>) {
            (Occur::Should, Box::new(ConstScoreQuery::new(q, score)))
        };
        let term = |field, text: &str| -> Box<dyn tantivy::query::Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        let filter = |q: Box<dyn tantivy::query::Query>| {
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(q, 0.0)) as Box<dyn tantivy::query::Query>,
            )
        };
        let mut must = vec![filter(term(f.kind, self.kind.as_str()))];
        let words = self.words(tokenizers);
        let last = words.len().saturating_sub(1);
        for (i, (word, stems)) in words.iter().enumerate() {
            let mut should = vec![
                scored(term(f.name, word), 8.0),
                scored(term(f.alternate, word), 6.0),
                scored(term(f.text, word), 2.0),
            ];
            for (field, stem) in f.stemmed.iter().zip(stems) {
                should.push(scored(term(*field, stem), 2.0));
            }
            if i == last {
                let prefix = |field, score| {
                    scored(
                        Box::new(FuzzyTermQuery::new_prefix(
                            Term::from_field_text(field, word),
                            0,
                            true,
                        )),
                        score,
                    )
                };
                should.push(prefix(f.name, 4.0));
                should.push(prefix(f.alternate, 3.0));
                should.push(prefix(f.text, 1.0));
                for field in &f.stemmed {
                    should.push(prefix(*field, 1.0));
                }
            }
            let length = word.chars().count();
            if length >= 5 {
                let distance = if length >= 9 { 2 } else { 1 };
                let fuzzy = |field, score| {
                    scored(
                        Box::new(FuzzyTermQuery::new(
                            Term::from_field_text(field, word),
                            distance,
                            true,
                        )),
                        score,
                    )
                };
                // A word written exactly anywhere ranks above one with a typo in a name.
                should.push(fuzzy(f.name, 1.5));
                should.push(fuzzy(f.alternate, 1.0));
                should.push(fuzzy(f.text, 0.5));
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(should))));
        }
        for (facet, value) in &self.filters {
            must.push(filter(term(f.facet(*facet), value)));
        }
        if let Some(party) = &self.party {
            must.push(filter(term(f.party, party)));
        }
        let range = |field, lo: f64, hi: f64| -> Box<dyn tantivy::query::Query> {
            Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_f64(field, lo)),
                Bound::Included(Term::from_field_f64(field, hi)),
            ))
        };
        let boxes = self
            .bbox
            .into_iter()
            .chain(self.near.map(|(lat, lon, km)| around(lat, lon, km)));
        for b in boxes {
            must.push(filter(range(f.lat, b.south, b.north)));
            let lon: Box<dyn tantivy::query::Query> = if b.west <= b.east {
                range(f.lon, b.west, b.east)
            } else {
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, range(f.lon, b.west, 180.0)),
                    (Occur::Should, range(f.lon, -180.0, b.east)),
                ]))
            };
            must.push(filter(lon));
        }
        Box::new(BooleanQuery::new(must))
    }
}

/// The rectangle around a circle of `km` (wider at the poles: the whole band).
fn around(lat: f64, lon: f64, km: f64) -> Bbox {
    let dlat = km / 111.0;
    let (south, north) = ((lat - dlat).max(-90.0), (lat + dlat).min(90.0));
    let widest = south.abs().max(north.abs());
    if widest >= 89.0 {
        return Bbox {
            west: -180.0,
            south,
            east: 180.0,
            north,
        };
    }
    let dlon = km / (111.32 * widest.to_radians().cos());
    if dlon >= 180.0 {
        return Bbox {
            west: -180.0,
            south,
            east: 180.0,
            north,
        };
    }
    let wrap = |l: f64| (l + 540.0).rem_euclid(360.0) - 180.0;
    Bbox {
        west: wrap(lon - dlon),
        south,
        east: wrap(lon + dlon),
        north,
    }
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// `text` with the hyphens inside words taken out (`co-operative` → `cooperative`).
fn join_compounds(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            !(**c == '-'
                && *i > 0
                && chars[i - 1].is_alphanumeric()
                && chars.get(i + 1).is_some_and(|n| n.is_alphanumeric()))
        })
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(kind: Kind, p: &[(&str, &str)]) -> Result<Query, Error> {
        Query::from_params(kind, p.iter().copied())
    }

    fn refusal(kind: Kind, p: &[(&str, &str)]) -> String {
        params(kind, p).expect_err("refused").to_string()
    }

    #[test]
    fn filters_are_checked_as_writes_check_them() {
        assert!(refusal(Kind::Organisation, &[("country", "Senegal")]).contains("ISO 3166-1"));
        assert!(refusal(Kind::Organisation, &[("region", "moon")]).contains("africa"));
        assert!(refusal(Kind::Organisation, &[("activity", "AM60")]).contains("did you mean"));
        assert!(refusal(Kind::Organisation, &[("type", "cooperative")]).contains("network"));
        assert!(refusal(Kind::Organisation, &[("near", "a,1,2,3")]).contains("lat,lon,km"));
        assert!(refusal(Kind::Organisation, &[("near", "1,2")]).contains("lat,lon,km"));
        assert!(refusal(Kind::Organisation, &[("near", "91,2,3")]).contains("±90"));
        assert!(refusal(Kind::Organisation, &[("bbox", "1,2,3")]).contains("west,south"));
        assert!(refusal(Kind::Organisation, &[("status", "active")]).contains("takes q, type"));
        assert!(refusal(Kind::Collaboration, &[("near", "1,2,3")]).contains("party"));
        assert!(
            refusal(Kind::Organisation, &[("country", "SN"), ("country", "FR")]).contains("twice")
        );
        assert!(refusal(Kind::Organisation, &[("limit", "501")]).contains("1 to 500"));
        assert!(refusal(Kind::Organisation, &[("q", "--")]).contains("letter"));
        let q = params(
            Kind::Organisation,
            &[
                ("country", "SN"),
                ("activity", "activities-modified:AM60"),
                ("near", "14.7,-17.4,50"),
            ],
        )
        .expect("a good search");
        assert_eq!(
            q.filters,
            [
                (Facet::Country, "SN".into()),
                (Facet::Activity, "activities-modified:AM60".into())
            ]
        );
        assert_eq!(q.near, Some((14.7, -17.4, 50.0)));
    }

    #[test]
    fn cursors_continue_their_own_order() {
        let cursor = Cursor {
            sort: Sort::Name,
            place: Place {
                rank: 0,
                name: "coopérative".into(),
                doc: 7,
            },
        };
        let q = params(Kind::Organisation, &[("cursor", &cursor.encode())]).expect("decoded");
        assert_eq!(q.cursor, Some(cursor.clone()));
        assert!(
            refusal(
                Kind::Organisation,
                &[("cursor", &cursor.encode()), ("q", "x")]
            )
            .contains("sort=name")
        );
        assert!(refusal(Kind::Organisation, &[("cursor", "12")]).contains("not a cursor"));
    }

    #[test]
    fn query_words_join_compounds_and_skip_elisions() {
        let q = params(Kind::Organisation, &[("q", "l'Économie co-opérative")]).expect("good");
        let words: Vec<String> = q
            .words(&crate::schema::tokenizers())
            .into_iter()
            .map(|(w, _)| w)
            .collect();
        assert_eq!(words, ["economie", "cooperative"]);
    }

    #[test]
    fn the_box_around_a_circle_holds_it() {
        let (dakar, thies) = ((14.6928, -17.4467), (14.7910, -16.9359));
        let d = distance_km(dakar, thies);
        assert!((50.0..60.0).contains(&d), "{d}");
        let b = around(dakar.0, dakar.1, 60.0);
        assert!(b.west < thies.1 && thies.1 < b.east && b.south < thies.0 && thies.0 < b.north);
        let fiji = around(-17.7, 179.9, 50.0);
        assert!(fiji.west > fiji.east, "{fiji:?}");
    }
}
