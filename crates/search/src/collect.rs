//! One pass over the matching documents: the page after the cursor in the query's order,
//! the true total, and the count of every facet value.

use std::collections::{BTreeMap, BinaryHeap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::query::{Cursor, Facet, Place, Query, Sort, distance_km};

/// Most values listed per facet, the most frequent first.
pub const MAX_FACET_VALUES: usize = 250;

/// What a search found.
#[derive(Debug, Default)]
pub struct Hits {
    /// Store documents of the page, in order.
    pub docs: Vec<u32>,
    pub total: u64,
    /// Each facet of the kind, with its values and counts, the most frequent first.
    pub facets: Vec<(Facet, Vec<(String, u64)>)>,
    pub next: Option<Cursor>,
}

/// What one segment found: its best places, its total, its facet counts.
#[derive(Debug, Default)]
pub struct Found {
    places: Vec<Place>,
    total: u64,
    facets: Vec<BTreeMap<String, u64>>,
}

pub struct Collect {
    query: Query,
}

impl Collect {
    pub fn new(query: Query) -> Collect {
        Collect { query }
    }
}

/// Within a segment, a document's place as `(rank, doc)`: for `sort=name`, `rank` is the
/// segment's ordinal of its name (ordinals follow the names' order).
type Key = (u64, u32);

pub struct Segment {
    sort: Sort,
    /// Keep only keys above this one.
    after: Option<Key>,
    keep: usize,
    doc: Column<u64>,
    updated: Column<u64>,
    lat: Column<f64>,
    lon: Column<f64>,
    name: Option<StrColumn>,
    near: Option<(f64, f64, f64)>,
    top: BinaryHeap<Key>,
    total: u64,
    facets: Vec<(Option<StrColumn>, Vec<u64>)>,
}

/// The first ordinal whose name is at least `name`, and whether it is `name`.
fn lower_bound(names: &StrColumn, name: &str) -> tantivy::Result<(u64, bool)> {
    let (mut lo, mut hi) = (0u64, names.num_terms() as u64);
    let mut text = String::new();
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        names.ord_to_str(mid, &mut text)?;
        if text.as_str() < name {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let equal = lo < names.num_terms() as u64 && {
        names.ord_to_str(lo, &mut text)?;
        text == name
    };
    Ok((lo, equal))
}

impl Collector for Collect {
    type Fruit = Hits;
    type Child = Segment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<Segment> {
        let fast = segment.fast_fields();
        let name = fast.str("sort_name")?;
        let after = match (&self.query.cursor, &name) {
            (None, _) => None,
            (Some(Cursor { place, .. }), _) if self.query.sort != Sort::Name => {
                Some((place.rank, place.doc))
            }
            (Some(Cursor { place, .. }), Some(names)) => match lower_bound(names, &place.name)? {
                (ord, true) => Some((ord, place.doc)),
                (0, false) => None,
                (ord, false) => Some((ord - 1, u32::MAX)),
            },
            // No names in the segment: nothing of it sorts.
            (Some(_), None) => Some((u64::MAX, u32::MAX)),
        };
        let counted = if self.query.facets {
            Facet::of(self.query.kind)
        } else {
            &[]
        };
        let facets = counted
            .iter()
            .map(|f| {
                let column = fast.str(&format!("facet_{}", f.name()))?;
                let terms = column.as_ref().map_or(0, |c| c.num_terms());
                Ok((column, vec![0; terms]))
            })
            .collect::<tantivy::Result<_>>()?;
        Ok(Segment {
            sort: self.query.sort,
            after,
            keep: self.query.limit + 1,
            doc: fast.u64("doc")?,
            updated: fast.u64("updated")?,
            lat: fast.f64("lat")?,
            lon: fast.f64("lon")?,
            name,
            near: self.query.near,
            top: BinaryHeap::new(),
            total: 0,
            facets,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.query.sort == Sort::Relevance
    }

    fn merge_fruits(&self, found: Vec<Found>) -> tantivy::Result<Hits> {
        let facets = if self.query.facets {
            Facet::of(self.query.kind)
        } else {
            &[]
        };
        let mut counts: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); facets.len()];
        let mut places = vec![];
        let mut total = 0;
        for f in found {
            total += f.total;
            places.extend(f.places);
            for (into, from) in counts.iter_mut().zip(f.facets) {
                for (value, n) in from {
                    *into.entry(value).or_default() += n;
                }
            }
        }
        places.sort();
        let next = (places.len() > self.query.limit).then(|| Cursor {
            sort: self.query.sort,
            place: places[self.query.limit - 1].clone(),
        });
        places.truncate(self.query.limit);
        let facets = facets
            .iter()
            .zip(counts)
            .map(|(facet, counts)| {
                let mut values: Vec<(String, u64)> = counts.into_iter().collect();
                values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                values.truncate(MAX_FACET_VALUES);
                (*facet, values)
            })
            .collect();
        Ok(Hits {
            docs: places.iter().map(|p| p.doc).collect(),
            total,
            facets,
            next,
        })
    }
}

impl SegmentCollector for Segment {
    type Fruit = Found;

    fn collect(&mut self, doc: DocId, score: Score) {
        if let Some((lat, lon, km)) = self.near {
            let point = self.lat.first(doc).zip(self.lon.first(doc));
            if !point.is_some_and(|p| distance_km((lat, lon), p) <= km) {
                return;
            }
        }
        self.total += 1;
        for (column, counts) in &mut self.facets {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    counts[ord as usize] += 1;
                }
            }
        }
        let rank = match self.sort {
            // Scores are sums of non-negative constants: their bits order as they do.
            Sort::Relevance => u64::from(u32::MAX - score.max(0.0).to_bits()),
            Sort::Name => self
                .name
                .as_ref()
                .and_then(|n| n.term_ords(doc).next())
                .unwrap_or(u64::MAX),
            Sort::Updated => u64::MAX - self.updated.first(doc).unwrap_or(0),
        };
        let key = (rank, self.doc.first(doc).unwrap_or(0) as u32);
        if self.after.is_some_and(|after| key <= after) {
            return;
        }
        if self.top.len() < self.keep {
            self.top.push(key);
        } else if self.top.peek().is_some_and(|worst| key < *worst) {
            self.top.pop();
            self.top.push(key);
        }
    }

    fn harvest(self) -> Found {
        let mut text = String::new();
        let places = self
            .top
            .into_iter()
            .map(|(rank, doc)| match (self.sort, &self.name) {
                (Sort::Name, Some(names)) => {
                    text.clear();
                    let _ = names.ord_to_str(rank, &mut text);
                    Place {
                        rank: 0,
                        name: text.clone(),
                        doc,
                    }
                }
                _ => Place {
                    rank,
                    name: String::new(),
                    doc,
                },
            })
            .collect();
        let facets = self
            .facets
            .into_iter()
            .map(|(column, counts)| {
                let mut values = BTreeMap::new();
                if let Some(column) = column {
                    for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                        text.clear();
                        if column.ord_to_str(ord as u64, &mut text).unwrap_or(false) {
                            values.insert(text.clone(), n);
                        }
                    }
                }
                values
            })
            .collect();
        Found {
            places,
            total: self.total,
            facets,
        }
    }
}
