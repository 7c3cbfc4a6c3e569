//! What a record is found by: index terms, text tokens and geographic cells, and the
//! in-memory `Index` from terms to the records they find. No I/O.

use std::collections::HashMap;

use maillage_core::body::{Body, Organisation};
use maillage_core::{Address, Kind, Record};
use roaring::RoaringBitmap;

/// Bytes that identify an address: author key, kind, id (so an author's addresses share
/// a prefix).
pub(crate) fn address_key(address: &Address) -> Vec<u8> {
    let mut key = address.author.to_bytes().to_vec();
    key.push(kind_byte(address.kind));
    key.extend_from_slice(address.id.as_str().as_bytes());
    key
}

pub(crate) fn kind_byte(kind: Kind) -> u8 {
    match kind {
        Kind::Organisation => 0,
        Kind::Collaboration => 1,
        Kind::Endorsement => 2,
    }
}

/// One index term: a tag byte, then the value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Term(pub Vec<u8>);

impl Term {
    fn new(tag: u8, value: &[u8]) -> Term {
        let mut bytes = Vec::with_capacity(value.len() + 1);
        bytes.push(tag);
        bytes.extend_from_slice(value);
        Term(bytes)
    }

    pub fn kind(kind: Kind) -> Term {
        Term::new(b'k', &[kind_byte(kind)])
    }

    pub fn author(author: &maillage_core::Author) -> Term {
        Term::new(b'a', &author.to_bytes())
    }

    pub fn country(code: &str) -> Term {
        Term::new(b'c', code.as_bytes())
    }

    pub fn region(region: &str) -> Term {
        Term::new(b'r', region.as_bytes())
    }

    pub fn activity(code: &str) -> Term {
        Term::new(b'v', code.as_bytes())
    }

    pub fn token(token: &str) -> Term {
        Term::new(b't', token.as_bytes())
    }

    pub fn party(reference: &str) -> Term {
        Term::new(b'p', reference.as_bytes())
    }

    pub fn org_type(org_type: &str) -> Term {
        Term::new(b'y', org_type.as_bytes())
    }

    pub fn status(status: &str) -> Term {
        Term::new(b's', status.as_bytes())
    }

    pub fn target(address: &str) -> Term {
        Term::new(b'e', address.as_bytes())
    }

    pub fn cell(cell: (i16, i16)) -> Term {
        Term::new(b'g', format!("{}:{}", cell.0, cell.1).as_bytes())
    }
}

/// Words of two characters or more, lower case and without accents (`Coopérative` is found
/// by `cooperative`), as the text index and queries see them.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().nth(1).is_some())
        .map(maillage_core::vocab::fold)
}

/// The one-degree cell a point falls in.
pub(crate) fn cell(lat: f64, lon: f64) -> (i16, i16) {
    (lat.floor() as i16, lon.floor() as i16)
}

/// Cells that cover a circle of `km` around a point (the caller bounds `km`).
pub(crate) fn cells_near(lat: f64, lon: f64, km: f64) -> Vec<(i16, i16)> {
    let dlat = km / 111.0;
    let (lat_lo, lat_hi) = ((lat - dlat).max(-90.0), (lat + dlat).min(89.999));
    let widest = lat_lo.abs().max(lat_hi.abs()).min(89.0).to_radians().cos();
    let dlon = (km / (111.32 * widest)).min(180.0);
    let (lat_lo, lat_hi) = (lat_lo.floor() as i16, lat_hi.floor() as i16);
    let (lon_lo, lon_hi) = ((lon - dlon).floor() as i16, (lon + dlon).floor() as i16);
    let mut cells = Vec::new();
    for la in lat_lo..=lat_hi {
        for lo in lon_lo..=lon_hi {
            // Wrap around the antimeridian into -180..180.
            let lo = (lo + 180).rem_euclid(360) - 180;
            if !cells.contains(&(la, lo)) {
                cells.push((la, lo));
            }
        }
    }
    cells
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

fn org_text(o: &Organisation) -> impl Iterator<Item = &str> {
    std::iter::once(o.name.as_str())
        .chain(o.alternate_names.iter().map(String::as_str))
        .chain(o.description.values().map(String::as_str))
        .chain(o.address.iter().flat_map(|a| a.locality.as_deref()))
}

/// Every term a record is found by. A tombstone is found by none: it is served only by its
/// address and in the change feed.
pub(crate) fn terms(record: &Record) -> Vec<Term> {
    let mut terms = vec![];
    let mut words: Vec<String> = vec![];
    match &record.body {
        Body::Deleted => return terms,
        Body::Organisation(o) => {
            words.extend(org_text(o).flat_map(tokens));
            terms.extend(o.countries.iter().map(|c| Term::country(c)));
            if let Some(c) = o.address.as_ref().and_then(|a| a.country.as_deref()) {
                terms.push(Term::country(c));
            }
            terms.extend(o.regions.iter().map(|r| Term::region(r.as_str())));
            terms.extend(
                o.primary_activity
                    .iter()
                    .chain(&o.activities)
                    .map(|a| Term::activity(a)),
            );
            terms.extend(o.org_type.map(|t| Term::org_type(t.as_str())));
            if let Some(l) = &o.location {
                terms.push(Term::cell(cell(l.lat(), l.lon())));
            }
        }
        Body::Collaboration(c) => {
            words.extend(
                std::iter::once(c.title.as_str())
                    .chain(c.description.values().map(String::as_str))
                    .flat_map(tokens),
            );
            terms.extend(c.countries.iter().map(|x| Term::country(x)));
            terms.extend(c.regions.iter().map(|r| Term::region(r.as_str())));
            terms.extend(c.parties.iter().map(|p| Term::party(&p.reference)));
            terms.extend(c.status.map(|s| Term::status(s.as_str())));
        }
        Body::Endorsement(e) => terms.push(Term::target(&e.target)),
    }
    terms.push(Term::kind(record.kind));
    terms.push(Term::author(&record.author));
    terms.extend(words.iter().map(|w| Term::token(w)));
    terms.sort();
    terms.dedup();
    terms
}

/// What the index holds of one version: the terms it is found by, and its point.
#[derive(Debug)]
pub(crate) struct Entry {
    terms: Vec<Term>,
    /// Latitude and longitude in degrees.
    point: Option<(f64, f64)>,
}

impl Entry {
    pub fn of(record: &Record) -> Entry {
        let point = match &record.body {
            Body::Organisation(o) => o.location.map(|l| (l.lat(), l.lon())),
            _ => None,
        };
        Entry {
            terms: terms(record),
            point,
        }
    }
}

/// Which addresses each term finds. An address is a document, numbered on this node when its
/// first version arrives (the number is kept with each of its versions); numbers order
/// search results. Lives in memory and is rebuilt when the store opens, so that a write
/// touches nothing on disk but its record.
#[derive(Debug, Default)]
pub(crate) struct Index {
    postings: HashMap<Term, RoaringBitmap>,
    /// The point of each document that has one.
    points: HashMap<u32, (f64, f64)>,
}

impl Index {
    /// Makes document `doc` found by `entry`.
    pub fn add(&mut self, doc: u32, entry: Entry) {
        for term in entry.terms {
            self.postings.entry(term).or_default().insert(doc);
        }
        if let Some(point) = entry.point {
            self.points.insert(doc, point);
        }
    }

    /// Stops `entry`, which `add` gave `doc`, from finding it.
    pub fn remove(&mut self, doc: u32, entry: &Entry) {
        for term in &entry.terms {
            if let Some(found) = self.postings.get_mut(term) {
                found.remove(doc);
                if found.is_empty() {
                    self.postings.remove(term);
                }
            }
        }
        self.points.remove(&doc);
    }

    /// Documents that every term finds.
    pub fn matching(&self, terms: &[Term]) -> RoaringBitmap {
        let Some(mut sets) = terms
            .iter()
            .map(|t| self.postings.get(t))
            .collect::<Option<Vec<_>>>()
        else {
            return RoaringBitmap::new();
        };
        sets.sort_by_key(|s| s.len());
        let Some((first, rest)) = sets.split_first() else {
            return RoaringBitmap::new();
        };
        let mut found = (*first).clone();
        for set in rest {
            found &= *set;
        }
        found
    }

    /// Documents whose point is within `km` of (`lat`, `lon`).
    pub fn near(&self, lat: f64, lon: f64, km: f64) -> RoaringBitmap {
        let mut found = RoaringBitmap::new();
        for cell in cells_near(lat, lon, km) {
            let Some(docs) = self.postings.get(&Term::cell(cell)) else {
                continue;
            };
            found.extend(docs.iter().filter(|doc| {
                self.points
                    .get(doc)
                    .is_some_and(|p| distance_km((lat, lon), *p) <= km)
            }));
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_lowercase_words_without_accents() {
        let t: Vec<String> = tokens("Économie sociale & solidaire — RIPESS, a b").collect();
        assert_eq!(t, ["economie", "sociale", "solidaire", "ripess"]);
    }

    #[test]
    fn cells_cover_the_circle() {
        let (dakar, thies) = ((14.6928, -17.4467), (14.7910, -16.9359));
        let d = distance_km(dakar, thies);
        assert!((50.0..60.0).contains(&d), "{d}");
        let cells = cells_near(dakar.0, dakar.1, 60.0);
        assert!(cells.contains(&cell(thies.0, thies.1)));
        // Across the antimeridian.
        let fiji = cells_near(-17.7, 179.9, 50.0);
        assert!(fiji.contains(&cell(-17.7, -179.9)), "{fiji:?}");
    }
}
