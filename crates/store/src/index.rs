//! What memory finds a record by: its address key, and the endorsements of a
//! collaboration. No I/O.

use std::collections::HashMap;

use maillage_core::body::Body;
use maillage_core::{Address, Kind, Record};
use roaring::RoaringBitmap;
use sha2::{Digest as _, Sha256};

/// An address in memory: the first half of the SHA-256 of its author key, kind byte and id.
/// (A collision would take 2^64 tries of an author's own ids, and would only hide one of
/// that author's addresses behind another of theirs.)
pub(crate) type AddressId = [u8; 16];

pub(crate) fn address_id(address: &Address) -> AddressId {
    let mut hasher = Sha256::new();
    hasher.update(address.author.to_bytes());
    hasher.update([kind_byte(address.kind)]);
    hasher.update(address.id.as_str().as_bytes());
    let digest = hasher.finalize();
    let mut id = [0; 16];
    id.copy_from_slice(&digest[..16]);
    id
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

    /// Every collaboration endorsed, and its endorsements.
    pub fn targets(&self) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.endorsements.iter().map(|(t, docs)| (&**t, docs))
    }

    /// Sets the endorsements of the collaboration at `target`, as `targets` gave them.
    pub fn set_target(&mut self, target: Box<str>, docs: RoaringBitmap) {
        if !docs.is_empty() {
            self.endorsements.insert(target, docs);
        }
    }
}
