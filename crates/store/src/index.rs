//! What memory finds a record by: its address key, and the endorsements of a
//! collaboration. No I/O.

use std::collections::HashMap;

use maillage_core::body::Body;
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

/// What memory keeps of a version to find it by beside its address: the collaboration an
/// endorsement is about (full-text and faceted search are the search index's, derived
/// from the change log).
#[derive(Debug)]
pub(crate) struct Entry {
    pub target: Option<Box<str>>,
}

impl Entry {
    pub fn of(record: &Record) -> Entry {
        Entry {
            target: match &record.body {
                Body::Endorsement(e) => Some(e.target.as_str().into()),
                _ => None,
            },
        }
    }
}

/// The endorsements of each collaboration, by the collaboration's address.
#[derive(Debug, Default)]
pub(crate) struct Index {
    endorsements: HashMap<Box<str>, RoaringBitmap>,
}

impl Index {
    /// Makes document `doc` found by `entry`.
    pub fn add(&mut self, doc: u32, entry: Entry) {
        if let Some(target) = entry.target {
            self.endorsements.entry(target).or_default().insert(doc);
        }
    }

    /// Stops `entry`, which `add` gave `doc`, from finding it.
    pub fn remove(&mut self, doc: u32, entry: &Entry) {
        if let Some(target) = &entry.target
            && let Some(found) = self.endorsements.get_mut(target)
        {
            found.remove(doc);
            if found.is_empty() {
                self.endorsements.remove(target);
            }
        }
    }

    /// The endorsements of the collaboration at `target`.
    pub fn endorsements(&self, target: &str) -> RoaringBitmap {
        self.endorsements.get(target).cloned().unwrap_or_default()
    }
}
