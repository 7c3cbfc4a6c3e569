//! What the engine derives from the record log and keeps in memory, and how a version
//! merges into it. No I/O: the engine reads frames and hands this module what it read.

use std::collections::{BTreeMap, HashMap};

use maillage_core::{Author, Hash, Head, Record};
use roaring::RoaringBitmap;

use crate::Outcome;
use crate::index::{self, AddressId, Entry, Index, address_id};
use crate::segments::Location;

/// 256-bit big-endian add or subtract, modulo 2^256.
fn add_hash(sum: &mut [u8; 32], hash: &[u8; 32], subtract: bool) {
    let mut carry = 0i32;
    for i in (0..32).rev() {
        let v = if subtract {
            i32::from(sum[i]) - i32::from(hash[i]) + carry
        } else {
            i32::from(sum[i]) + i32::from(hash[i]) + carry
        };
        sum[i] = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
    }
}

/// A held version: where its frame is, and what merging and syncing need without reading it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Version {
    pub(super) seq: u64,
    pub(super) time: u64,
    pub(super) hash: Hash,
    pub(super) change: u64,
    pub(super) at: Location,
}

impl Version {
    pub(super) fn of(record: &Record, change: u64, at: Location) -> Version {
        Version {
            seq: record.seq,
            time: record.time,
            hash: record.hash(),
            change,
            at,
        }
    }
}

/// What the store holds for one address. The address is flagged as equivocated exactly
/// when evidence is held.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot {
    pub(super) current: Version,
    /// The lowest-hash version that lost to the current one with the same `seq`, kept so
    /// that every node learns of the equivocation.
    pub(super) evidence: Option<Version>,
}

/// What merging a version into an address does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Merge {
    New,
    Duplicate,
    Stale(u64),
    /// A higher `seq`: the held version and any evidence go.
    Replace,
    /// The same `seq` and a lower hash: it becomes current, the held one the evidence.
    Win,
    /// The same `seq` and a higher hash: the held one stays; this one becomes the evidence
    /// if it has a lower hash than the evidence held.
    Lose {
        kept: bool,
    },
}

pub(super) fn merge(slot: Option<&Slot>, record: &Record) -> Merge {
    let Some(slot) = slot else {
        return Merge::New;
    };
    let incoming = Head::of(record);
    let held = Head {
        seq: slot.current.seq,
        hash: slot.current.hash,
        equivocation: slot.evidence.is_some(),
    };
    if held.hash == incoming.hash || slot.evidence.is_some_and(|e| e.hash == incoming.hash) {
        return Merge::Duplicate;
    }
    let merged = held.merge(incoming);
    if merged.seq > incoming.seq {
        Merge::Stale(held.seq)
    } else if merged.seq > held.seq {
        Merge::Replace
    } else if merged.hash == incoming.hash {
        Merge::Win
    } else {
        Merge::Lose {
            kept: slot.evidence.is_none_or(|e| incoming.hash < e.hash),
        }
    }
}

/// What memory needs of a record beside what finds it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Facts {
    pub(super) author: Author,
    pub(super) kind: maillage_core::Kind,
    pub(super) deleted: bool,
}

impl Facts {
    pub(super) fn of(record: &Record) -> Facts {
        Facts {
            author: record.author,
            kind: record.kind,
            deleted: record.body.is_deleted(),
        }
    }
}

/// A version arriving in memory: what it is, what finds it, and where its frame is.
#[derive(Debug)]
pub(super) struct Arrival {
    pub(super) facts: Facts,
    pub(super) entry: Entry,
    pub(super) v: Version,
}

impl Arrival {
    pub(super) fn of(record: &Record, v: Version) -> Arrival {
        Arrival {
            facts: Facts::of(record),
            entry: Entry::of(record),
            v,
        }
    }
}

/// Documents in a chunk.
const CHUNK: usize = 1 << 16;

/// Each document's current version, by document number, in chunks allocated whole: it
/// grows without copying what it holds (a vector that doubles holds both copies for a
/// moment: 120 MB at a million documents).
#[derive(Debug, Default)]
pub(super) struct Docs(Vec<Box<[Option<Version>]>>);

impl Docs {
    pub(super) fn get(&self, doc: u32) -> Option<&Version> {
        let doc = doc as usize;
        self.0.get(doc / CHUNK)?[doc % CHUNK].as_ref()
    }

    pub(super) fn get_mut(&mut self, doc: u32) -> Option<&mut Version> {
        let doc = doc as usize;
        self.0.get_mut(doc / CHUNK)?[doc % CHUNK].as_mut()
    }

    pub(super) fn set(&mut self, doc: u32, v: Option<Version>) {
        let doc = doc as usize;
        if v.is_none() && self.0.len() <= doc / CHUNK {
            return;
        }
        while self.0.len() <= doc / CHUNK {
            self.0.push(vec![None; CHUNK].into_boxed_slice());
        }
        self.0[doc / CHUNK][doc % CHUNK] = v;
    }

    /// The documents held and their current versions, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &Version)> {
        self.0
            .iter()
            .flat_map(|chunk| chunk.iter())
            .enumerate()
            .filter_map(|(doc, v)| Some((doc as u32, v.as_ref()?)))
    }
}

/// The document of each held version, by hash, in 13 bytes a version rather than 37: by
/// the hash's first eight bytes, and, for the few versions whose first eight bytes another
/// held version has already, by the whole hash. A lookup by the short key is checked
/// against the document's versions by the caller.
#[derive(Debug, Default)]
pub(super) struct Hashes {
    short: HashMap<[u8; 8], u32>,
    long: HashMap<Hash, u32>,
}

fn short(hash: &Hash) -> [u8; 8] {
    hash.0[..8].try_into().expect("a hash has 32 bytes")
}

impl Hashes {
    pub(super) fn get(&self, hash: &Hash) -> Option<u32> {
        self.long
            .get(hash)
            .or_else(|| self.short.get(&short(hash)))
            .copied()
    }

    /// Adds a version that is not held yet.
    pub(super) fn insert(&mut self, hash: Hash, doc: u32) {
        match self.short.entry(short(&hash)) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(doc);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.long.insert(hash, doc);
            }
        }
    }

    /// Removes a held version.
    pub(super) fn remove(&mut self, hash: &Hash) {
        if self.long.remove(hash).is_none() {
            self.short.remove(&short(hash));
        }
    }

    pub(super) fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    pub(super) fn reserve(&mut self, n: usize) {
        self.short.reserve(n);
    }
}

/// What needs a frame.
#[derive(Clone, Copy, Debug)]
pub(super) enum Owner {
    /// A version of a document: its current one or its evidence.
    Version(u32),
    Purge(Author),
}

/// Everything derived from the log, laid out for the size of the SSE world: per document a
/// fixed-size version in one vector, and beside it only what lookups need (about 150 bytes a
/// record in all).
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Document number → its current version.
    pub(super) docs: Docs,
    /// The evidence of each equivocated document (few).
    pub(super) evidence: HashMap<u32, Version>,
    /// Address → document.
    pub(super) addresses: HashMap<AddressId, u32>,
    pub(super) index: Index,
    /// The document each held version belongs to.
    pub(super) by_hash: Hashes,
    /// Change position → document.
    pub(super) changes: BTreeMap<u64, u32>,
    /// Each author's documents.
    pub(super) authors: HashMap<Author, RoaringBitmap>,
    /// The latest purge of each purged author: its change position and frame.
    pub(super) purges: HashMap<Author, (u64, Location)>,
    /// Bytes of each segment that are frames still needed.
    pub(super) needed: HashMap<u32, u64>,
    pub(super) sum: [u8; 32],
    pub(super) live: [u64; 3],
    /// The newest change position handed out.
    pub(super) change: u64,
    /// The next document number.
    pub(super) next_doc: u32,
}

impl Memory {
    /// What document `doc` holds.
    pub(super) fn at(&self, doc: u32) -> Option<Slot> {
        let current = *self.docs.get(doc)?;
        Some(Slot {
            current,
            evidence: self.evidence.get(&doc).copied(),
        })
    }

    pub(super) fn slot(&self, address: &AddressId) -> Option<(u32, Slot)> {
        let doc = *self.addresses.get(address)?;
        Some((doc, self.at(doc)?))
    }

    /// The held version with hash `hash`.
    pub(super) fn version(&self, hash: &Hash) -> Option<Version> {
        let slot = self.at(self.by_hash.get(hash)?)?;
        [Some(slot.current), slot.evidence]
            .into_iter()
            .flatten()
            .find(|v| v.hash == *hash)
    }

    /// Versions held: current ones and evidence.
    pub(super) fn versions(&self) -> u64 {
        self.by_hash.len() as u64
    }

    /// Calls `each` with `(time, hash)` of every version held, in no order.
    pub(super) fn each_item(&self, each: &mut dyn FnMut(u64, &Hash)) {
        for v in self
            .docs
            .iter()
            .map(|(_, v)| v)
            .chain(self.evidence.values())
        {
            each(v.time, &v.hash);
        }
    }

    fn set(&mut self, doc: u32, slot: Option<Slot>) {
        self.docs.set(doc, slot.map(|s| s.current));
        match slot.and_then(|s| s.evidence) {
            Some(e) => self.evidence.insert(doc, e),
            None => self.evidence.remove(&doc),
        };
    }

    pub(super) fn need(&mut self, at: Location, needed: bool) {
        let bytes = self.needed.entry(at.segment).or_default();
        if needed {
            *bytes += u64::from(at.len);
        } else {
            *bytes = bytes.saturating_sub(u64::from(at.len));
        }
    }

    fn hold(&mut self, v: Version, doc: u32) {
        add_hash(&mut self.sum, &v.hash.0, false);
        self.by_hash.insert(v.hash, doc);
        self.need(v.at, true);
    }

    fn forget(&mut self, v: Version) {
        add_hash(&mut self.sum, &v.hash.0, true);
        self.by_hash.remove(&v.hash);
        self.need(v.at, false);
    }

    fn live_count(&mut self, facts: Facts, add: bool) {
        if !facts.deleted {
            let live = &mut self.live[index::kind_byte(facts.kind) as usize];
            *live = if add { *live + 1 } else { *live - 1 };
        }
    }

    /// Makes a version the current one of document `doc`, findable.
    fn place(&mut self, doc: u32, facts: Facts, entry: Entry, v: Version) {
        self.changes.insert(v.change, doc);
        self.live_count(facts, true);
        self.index.add(doc, entry);
        self.hold(v, doc);
    }

    /// Takes the current version `old` of document `doc` out of the index and change log.
    fn unplace(&mut self, doc: u32, old: &Arrival) {
        self.changes.remove(&old.v.change);
        self.live_count(old.facts, false);
        self.index.remove(doc, &old.entry);
    }

    /// Takes in a version as `merge` decided; `old` is the current version of the address
    /// when it loses that place.
    pub(super) fn take(
        &mut self,
        address: AddressId,
        doc: u32,
        new: Arrival,
        m: Merge,
        old: Option<&Arrival>,
    ) {
        let Arrival { facts, entry, v } = new;
        self.change = self.change.max(v.change);
        self.next_doc = self.next_doc.max(doc + 1);
        let held = self.at(doc);
        match (m, held) {
            (Merge::New, _) => {
                self.addresses.insert(address, doc);
                self.authors.entry(facts.author).or_default().insert(doc);
                self.place(doc, facts, entry, v);
            }
            (Merge::Replace | Merge::Win, Some(slot)) => {
                let old = old.expect("the version that loses its place is given");
                self.unplace(doc, old);
                if let Some(e) = slot.evidence {
                    self.forget(e);
                }
                if m == Merge::Replace {
                    self.forget(slot.current);
                }
                self.place(doc, facts, entry, v);
            }
            (Merge::Lose { kept: true }, Some(slot)) => {
                if let Some(e) = slot.evidence {
                    self.forget(e);
                }
                self.hold(v, doc);
            }
            _ => return,
        }
        self.set(doc, Some(after(held, m, v)));
    }

    /// Forgets document `doc`, whose current record is `old`.
    pub(super) fn remove(&mut self, doc: u32, old: &Record) {
        let Some(slot) = self.at(doc) else {
            return;
        };
        self.set(doc, None);
        self.addresses.remove(&address_id(&old.address()));
        if let Some(docs) = self.authors.get_mut(&old.author) {
            docs.remove(doc);
            if docs.is_empty() {
                self.authors.remove(&old.author);
            }
        }
        self.unplace(doc, &Arrival::of(old, slot.current));
        self.forget(slot.current);
        if let Some(e) = slot.evidence {
            self.forget(e);
        }
    }

    /// Records a purge of `author` at change `change`, in the frame at `at`. Replay may
    /// meet an older purge after a newer one (compaction moves frames): it changes nothing.
    pub(super) fn purged(&mut self, author: Author, change: u64, at: Location) {
        self.change = self.change.max(change);
        if self
            .purges
            .get(&author)
            .is_some_and(|(latest, _)| *latest >= change)
        {
            return;
        }
        self.need(at, true);
        if let Some((_, older)) = self.purges.insert(author, (change, at)) {
            self.need(older, false);
        }
    }

    /// The frames in `segment` that are still needed, and what needs each.
    pub(super) fn frames_in(&self, segment: u32) -> Vec<(Owner, Location)> {
        let current = self.docs.iter().map(|(doc, v)| (Owner::Version(doc), v.at));
        let evidence = self
            .evidence
            .iter()
            .map(|(doc, v)| (Owner::Version(*doc), v.at));
        let purges = self
            .purges
            .iter()
            .map(|(author, (_, at))| (Owner::Purge(*author), *at));
        let mut frames: Vec<(Owner, Location)> = current
            .chain(evidence)
            .chain(purges)
            .filter(|(_, at)| at.segment == segment)
            .collect();
        // In the order they lie: read front to back, copied in the same order every time.
        frames.sort_by_key(|(_, at)| at.offset);
        frames
    }

    /// Points what needs the frame at `from` to its copy at `to`, unless it has moved on to
    /// another version meanwhile; says whether it did.
    pub(super) fn relocate(&mut self, owner: Owner, from: Location, to: Location) -> bool {
        let at = match owner {
            // A version may have changed roles meanwhile (a current one become the evidence
            // of an equivocation): whichever still lies at `from` moves.
            Owner::Version(doc) => {
                let current = self.docs.get_mut(doc);
                [current, self.evidence.get_mut(&doc)]
                    .into_iter()
                    .flatten()
                    .find(|v| v.at == from)
                    .map(|v| &mut v.at)
            }
            Owner::Purge(author) => self
                .purges
                .get_mut(&author)
                .map(|(_, at)| at)
                .filter(|at| **at == from),
        };
        match at {
            Some(at) => {
                *at = to;
                true
            }
            None => false,
        }
    }

    /// Documents of `author` whose current version is older than `change`.
    pub(super) fn of_author(&self, author: &Author, change: u64) -> Vec<(u32, Slot)> {
        let Some(docs) = self.authors.get(author) else {
            return vec![];
        };
        docs.iter()
            .filter_map(|doc| Some((doc, self.at(doc)?)))
            .filter(|(_, slot)| slot.current.change < change)
            .collect()
    }
}

/// The slot of an address once a version is taken in as `merge` decided (for the merges
/// that change it).
pub(super) fn after(held: Option<Slot>, m: Merge, v: Version) -> Slot {
    match (m, held) {
        (Merge::Win, Some(slot)) => Slot {
            current: v,
            evidence: Some(slot.current),
        },
        (Merge::Lose { .. }, Some(slot)) => Slot {
            evidence: Some(v),
            ..slot
        },
        _ => Slot {
            current: v,
            evidence: None,
        },
    }
}

pub(super) fn outcome(m: Merge) -> Outcome {
    match m {
        Merge::New => Outcome::New,
        Merge::Duplicate => Outcome::Duplicate,
        Merge::Stale(current) => Outcome::Stale { current },
        Merge::Replace => Outcome::Replaced,
        Merge::Win => Outcome::Equivocation { won: true },
        Merge::Lose { .. } => Outcome::Equivocation { won: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sharing_the_first_eight_bytes_of_their_hash_are_each_found() {
        let hash = |tail: u8| {
            let mut h = [7; 32];
            h[31] = tail;
            Hash(h)
        };
        let mut hashes = Hashes::default();
        for (tail, doc) in [(1, 10), (2, 20), (3, 30)] {
            hashes.insert(hash(tail), doc);
        }
        assert_eq!(hashes.len(), 3);
        assert_eq!(hashes.get(&hash(2)), Some(20));
        assert_eq!(hashes.get(&hash(3)), Some(30));
        // The one the short key holds goes; the others stay found.
        hashes.remove(&hash(1));
        assert_eq!(
            (hashes.get(&hash(2)), hashes.get(&hash(3))),
            (Some(20), Some(30))
        );
        hashes.remove(&hash(3));
        assert_eq!(hashes.get(&hash(2)), Some(20));
        assert_eq!(hashes.len(), 1);
        // A new one takes the free short key.
        hashes.insert(hash(4), 40);
        assert_eq!(
            (hashes.get(&hash(2)), hashes.get(&hash(4))),
            (Some(20), Some(40))
        );
        hashes.remove(&hash(2));
        hashes.remove(&hash(4));
        assert_eq!(hashes.len(), 0);
        assert_eq!(hashes.get(&hash(4)), None);
    }
}
