//! The sled engine. On disk is what a crash must not lose; what can be derived from it lives
//! in memory and is rebuilt when the store opens, so that a write touches one key.
//!
//! One tree, `maillage`, keys with prefixes:
//! - `R` address key → header and record: flags (1 byte), change position (8), seq (8),
//!   hash (32), document number (4), then the signed record bytes;
//! - `E` address key → header and record of the evidence of an equivocation: the
//!   lowest-hash version that lost to the current one with the same `seq`, kept so that every
//!   node learns of it;
//! - `M` name → the layout version, and the highest change position and document number
//!   handed out when a purge removed the newest ones.
//!
//! In memory (`Memory`): the search index, the change log (each address at its latest
//! change), the `(time, hash)` items that reconciliation runs over and where each hash is,
//! addresses per author, and the counters and running sum behind the state digest.
//!
//! Each write is one atomic `apply_batch`, so a crash leaves the old state or the new one,
//! never half of both. Writes are serialised by one lock and reach memory once their batch is
//! applied; durability comes from [`Store::sync`], where concurrent writers share one flush.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use maillage_core::body::{Body, Stance};
use maillage_core::{Address, Author, Hash, Head, Kind, Record};
use sha2::{Digest as _, Sha256};

use crate::index::{self, Entry, Index, Term, address_key};
use crate::{Confirmation, Error, Outcome, Page, Query, Store, Stored, Summary, Ticket};

const RECORD: u8 = b'R';
const META: u8 = b'M';
const EVIDENCE: u8 = b'E';

const FLAG_EQUIVOCATION: u8 = 1;
const HEADER: usize = 53;
/// The on-disk layout this engine reads and writes.
const LAYOUT: u64 = 2;
/// Widest `near=` radius: it bounds the cells one query reads.
pub const MAX_NEAR_KM: f64 = 2_000.0;
/// Largest page.
pub const MAX_LIMIT: usize = 500;
/// sled's page cache.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;
/// Search results read per hold of the memory lock.
const CHUNK: usize = 64;

/// The sled store of a node, in `<data_dir>/store`.
#[derive(Debug)]
pub struct Sled {
    db: sled::Db,
    tree: sled::Tree,
    /// Held by the one writer.
    writer: Mutex<()>,
    memory: RwLock<Memory>,
    written: AtomicU64,
    flushed: Mutex<Ticket>,
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(rest.len() + 1);
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

fn meta_key(name: &str) -> Vec<u8> {
    prefixed(META, name.as_bytes())
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(b)
}

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

/// What the `R` and `E` entries say of a version.
#[derive(Clone, Copy, Debug)]
struct Header {
    equivocation: bool,
    change: u64,
    seq: u64,
    hash: Hash,
    doc: u32,
}

impl Header {
    fn of(record: &Record, change: u64, doc: u32, equivocation: bool) -> Header {
        Header {
            equivocation,
            change,
            seq: record.seq,
            hash: record.hash(),
            doc,
        }
    }

    /// The header followed by the record's bytes.
    fn encode(&self, record: &Record) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + record.bytes().len());
        v.push(if self.equivocation {
            FLAG_EQUIVOCATION
        } else {
            0
        });
        v.extend_from_slice(&self.change.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.hash.0);
        v.extend_from_slice(&self.doc.to_be_bytes());
        v.extend_from_slice(record.bytes());
        v
    }

    fn decode(value: &[u8]) -> Option<Header> {
        if value.len() <= HEADER {
            return None;
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&value[17..49]);
        Some(Header {
            equivocation: value[0] & FLAG_EQUIVOCATION != 0,
            change: be_u64(&value[1..9]),
            seq: be_u64(&value[9..17]),
            hash: Hash(hash),
            doc: u32::from_be_bytes([value[49], value[50], value[51], value[52]]),
        })
    }
}

/// A version as stored: its header and the record.
struct Held {
    header: Header,
    record: Record,
}

impl Held {
    fn stored(self) -> Stored {
        Stored {
            record: self.record,
            equivocation: self.header.equivocation,
            change: self.header.change,
        }
    }
}

/// Everything derived from the disk, kept in memory.
#[derive(Debug, Default)]
struct Memory {
    index: Index,
    items: BTreeSet<(u64, Hash)>,
    /// The document each held version belongs to.
    by_hash: HashMap<Hash, u32>,
    /// Change position → document.
    changes: BTreeMap<u64, u32>,
    authors: HashMap<Author, u64>,
    sum: [u8; 32],
    live: [u64; 3],
    /// The newest change position handed out.
    change: u64,
    /// The next document number.
    next_doc: u32,
}

impl Memory {
    fn hold(&mut self, item: (u64, Hash), doc: u32) {
        add_hash(&mut self.sum, &item.1.0, false);
        self.items.insert(item);
        self.by_hash.insert(item.1, doc);
    }

    fn forget(&mut self, item: (u64, Hash)) {
        add_hash(&mut self.sum, &item.1.0, true);
        self.items.remove(&item);
        self.by_hash.remove(&item.1);
    }

    fn place(&mut self, p: Placement, akey: &[u8]) {
        self.changes.insert(p.change, p.doc);
        if let Some(k) = p.live {
            self.live[index::kind_byte(k) as usize] += 1;
        }
        self.index.add(p.doc, akey, p.entry);
    }

    /// Takes in what a committed write changed.
    fn absorb(&mut self, d: Delta) {
        // Forgotten first: a version can leave as the current one and stay as evidence.
        for item in d.forgotten {
            self.forget(item);
        }
        for (item, doc) in d.held {
            self.hold(item, doc);
        }
        for p in d.unindexed {
            self.changes.remove(&p.change);
            self.index.remove(p.doc, &p.entry);
            if let Some(k) = p.live {
                self.live[index::kind_byte(k) as usize] -= 1;
            }
        }
        for (p, akey) in d.indexed {
            self.place(p, &akey);
        }
        if let Some(author) = d.new_address {
            *self.authors.entry(author).or_default() += 1;
        }
        if let Some(author) = d.purged {
            self.authors.remove(&author);
        }
        self.change = d.change;
        self.next_doc = d.next_doc;
    }
}

/// A version as it enters or leaves the index.
struct Placement {
    doc: u32,
    entry: Entry,
    /// Its kind, if it is live (not deleted).
    live: Option<Kind>,
    change: u64,
}

impl Placement {
    fn of(record: &Record, doc: u32, change: u64) -> Placement {
        Placement {
            doc,
            entry: Entry::of(record),
            live: (!record.body.is_deleted()).then_some(record.kind),
            change,
        }
    }
}

/// What a write changes in [`Memory`]: items (with their documents), and the index.
#[derive(Default)]
struct Delta {
    held: Vec<((u64, Hash), u32)>,
    forgotten: Vec<(u64, Hash)>,
    /// With the address key.
    indexed: Vec<(Placement, Vec<u8>)>,
    unindexed: Vec<Placement>,
    new_address: Option<Author>,
    purged: Option<Author>,
    change: u64,
    next_doc: u32,
}

/// One atomic change being built: the batch, and what it changes in memory.
struct Write {
    batch: sled::Batch,
    delta: Delta,
}

fn item(record: &Record) -> (u64, Hash) {
    (record.time, record.hash())
}

impl Write {
    fn new(memory: &Memory) -> Write {
        Write {
            batch: sled::Batch::default(),
            delta: Delta {
                change: memory.change,
                next_doc: memory.next_doc,
                ..Delta::default()
            },
        }
    }

    /// Removes the current version of `akey` and everything that finds it.
    fn unlink(&mut self, old: &Held) {
        self.delta.unindexed.push(Placement::of(
            &old.record,
            old.header.doc,
            old.header.change,
        ));
        self.delta.forgotten.push(item(&old.record));
    }

    /// Makes `record` the current version of `akey`, as document `doc`.
    fn link(&mut self, akey: &[u8], doc: u32, record: &Record, equivocation: bool) {
        self.delta.change += 1;
        let header = Header::of(record, self.delta.change, doc, equivocation);
        self.batch
            .insert(prefixed(RECORD, akey), header.encode(record));
        self.delta
            .indexed
            .push((Placement::of(record, doc, self.delta.change), akey.to_vec()));
        self.delta.held.push((item(record), doc));
    }

    /// Keeps `candidate` as the evidence of an equivocation if it has a lower hash than the
    /// evidence held: every node ends up with the same two lowest hashes of that `seq`.
    fn keep_evidence(&mut self, akey: &[u8], doc: u32, candidate: &Record, held: Option<&Held>) {
        if let Some(held) = held {
            if held.record.hash() <= candidate.hash() {
                return;
            }
            self.delta.forgotten.push(item(&held.record));
        }
        self.batch.insert(
            prefixed(EVIDENCE, akey),
            Header::of(candidate, 0, doc, true).encode(candidate),
        );
        self.delta.held.push((item(candidate), doc));
    }

    fn drop_evidence(&mut self, akey: &[u8], evidence: &Held) {
        self.delta.forgotten.push(item(&evidence.record));
        self.batch.remove(prefixed(EVIDENCE, akey));
    }
}

impl Sled {
    pub fn open(dir: &Path) -> Result<Sled, Error> {
        // sled's default page cache is 1 GiB: a node catching up on 100 000 records grew to
        // 1.3 GB resident with it. 128 MiB keeps a small server small.
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()?;
        let tree = db.open_tree("maillage")?;
        match tree.get(meta_key("layout"))? {
            Some(v) if v.len() == 8 && be_u64(&v) == LAYOUT => {}
            None if tree.is_empty() => {
                tree.insert(meta_key("layout"), &LAYOUT.to_be_bytes())?;
            }
            _ => {
                return Err(Error::Layout(format!(
                    "the store in {} was written by an earlier version of maillage, in a layout this one does not read; move that folder away and start the node again: it syncs its records back from its peers",
                    dir.display()
                )));
            }
        }
        let store = Sled {
            db,
            tree,
            writer: Mutex::new(()),
            memory: RwLock::default(),
            written: AtomicU64::new(0),
            flushed: Mutex::new(0),
        };
        let memory = store.rebuild()?;
        *store
            .memory
            .write()
            .expect("nothing else has the store yet") = memory;
        Ok(store)
    }

    /// Flushes everything; used at shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        self.db.flush()?;
        Ok(())
    }

    fn memory(&self) -> std::sync::RwLockReadGuard<'_, Memory> {
        self.memory
            .read()
            .expect("a writer panicked while updating memory")
    }

    /// Derives [`Memory`] from the disk.
    fn rebuild(&self) -> Result<Memory, Error> {
        let mut m = Memory::default();
        for prefix in [RECORD, EVIDENCE] {
            for kv in self.tree.scan_prefix([prefix]) {
                let (key, value) = kv?;
                let Held { header, record } = self.read(&key, &value)?;
                m.hold(item(&record), header.doc);
                if prefix == EVIDENCE {
                    continue;
                }
                m.change = m.change.max(header.change);
                m.next_doc = m.next_doc.max(header.doc + 1);
                *m.authors.entry(record.author).or_default() += 1;
                m.place(Placement::of(&record, header.doc, header.change), &key[1..]);
            }
        }
        if let Some(v) = self.tree.get(meta_key("high"))? {
            m.change = m.change.max(be_u64(&v[..8]));
            m.next_doc = m
                .next_doc
                .max(u32::try_from(be_u64(&v[8..])).unwrap_or(u32::MAX));
        }
        Ok(m)
    }

    /// Applies the batch, then updates memory.
    fn commit(&self, w: Write) -> Result<Ticket, Error> {
        self.tree.apply_batch(w.batch)?;
        self.memory
            .write()
            .expect("a writer panicked while updating memory")
            .absorb(w.delta);
        Ok(self.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The version a header names.
    fn read(&self, key: &[u8], value: &[u8]) -> Result<Held, Error> {
        let corrupt = |reason: String| Error::Corrupt {
            key: hex::encode(key),
            reason,
        };
        let header = Header::decode(value).ok_or_else(|| corrupt("bad header".into()))?;
        // Verified before it was stored: decode without paying for the signature again.
        let record = Record::decode_unverified(&value[HEADER..])
            .map_err(|e| corrupt(e.to_string()))?
            .assume_verified();
        Ok(Held { header, record })
    }

    fn load_at(&self, key: &[u8]) -> Result<Option<Held>, Error> {
        self.tree.get(key)?.map(|v| self.read(key, &v)).transpose()
    }

    fn load(&self, akey: &[u8]) -> Result<Option<Held>, Error> {
        self.load_at(&prefixed(RECORD, akey))
    }

    fn load_evidence(&self, akey: &[u8]) -> Result<Option<Held>, Error> {
        self.load_at(&prefixed(EVIDENCE, akey))
    }

    /// The current versions of `docs`, in order, as long as `keep` says so; and the number
    /// of the last one read.
    fn read_docs(
        &self,
        docs: impl Iterator<Item = u32>,
        mut keep: impl FnMut(&Held) -> Result<bool, Error>,
        limit: usize,
    ) -> Result<(Vec<Stored>, Option<u32>), Error> {
        let mut docs = docs.peekable();
        let mut items = Vec::new();
        let mut last = None;
        while docs.peek().is_some() {
            let akeys: Vec<(u32, Box<[u8]>)> = {
                let memory = self.memory();
                docs.by_ref()
                    .take(CHUNK)
                    .filter_map(|d| memory.index.akey(d).map(|k| (d, k.into())))
                    .collect()
            };
            for (doc, akey) in akeys {
                let Some(held) = self.load(&akey)? else {
                    continue;
                };
                if !keep(&held)? {
                    continue;
                }
                if items.len() == limit {
                    return Ok((items, last));
                }
                items.push(held.stored());
                last = Some(doc);
            }
        }
        Ok((items, None))
    }
}

impl Store for Sled {
    fn apply(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error> {
        let _writer = self
            .writer
            .lock()
            .expect("a writer panicked while holding the lock");
        let akey = address_key(&record.address());
        let unchanged = |outcome, held: Held| {
            let ticket = self.written.load(Ordering::SeqCst);
            Ok((outcome, held.stored(), ticket))
        };
        let mut w = Write::new(&self.memory());
        let (outcome, equivocation) = match self.load(&akey)? {
            None => {
                let doc = w.delta.next_doc;
                w.delta.next_doc += 1;
                w.delta.new_address = Some(record.author);
                w.link(&akey, doc, &record, false);
                (Outcome::New, false)
            }
            Some(held) => {
                let incoming = Head::of(&record);
                let held_head = Head {
                    seq: held.record.seq,
                    hash: held.record.hash(),
                    equivocation: held.header.equivocation,
                };
                let doc = held.header.doc;
                let evidence = self.load_evidence(&akey)?;
                let known = evidence
                    .as_ref()
                    .is_some_and(|e| e.record.hash() == incoming.hash);
                if held_head.hash == incoming.hash || known {
                    return unchanged(Outcome::Duplicate, held);
                }
                let merged = held_head.merge(incoming);
                if merged.seq > incoming.seq {
                    let current = held_head.seq;
                    return unchanged(Outcome::Stale { current }, held);
                }
                if merged.seq > held_head.seq {
                    w.unlink(&held);
                    if let Some(e) = &evidence {
                        w.drop_evidence(&akey, e);
                    }
                    w.link(&akey, doc, &record, false);
                    (Outcome::Replaced, false)
                } else if merged.hash == incoming.hash {
                    w.unlink(&held);
                    w.link(&akey, doc, &record, true);
                    w.keep_evidence(&akey, doc, &held.record, evidence.as_ref());
                    (Outcome::Equivocation { won: true }, true)
                } else {
                    // The held version stays, flagged; the newcomer may become the evidence.
                    let held = Held {
                        header: Header {
                            equivocation: true,
                            ..held.header
                        },
                        record: held.record,
                    };
                    w.batch
                        .insert(prefixed(RECORD, &akey), held.header.encode(&held.record));
                    w.keep_evidence(&akey, doc, &record, evidence.as_ref());
                    let ticket = self.commit(w)?;
                    return Ok((Outcome::Equivocation { won: false }, held.stored(), ticket));
                }
            }
        };
        let change = w.delta.change;
        let ticket = self.commit(w)?;
        let stored = Stored {
            record,
            equivocation,
            change,
        };
        Ok((outcome, stored, ticket))
    }

    fn sync(&self, ticket: Ticket) -> Result<(), Error> {
        let mut flushed = self
            .flushed
            .lock()
            .expect("a flusher panicked while holding the lock");
        if *flushed >= ticket {
            return Ok(());
        }
        // Everything applied before this load is in the flush below: one flush covers every
        // writer that queued on the lock meanwhile.
        let upto = self.written.load(Ordering::SeqCst);
        self.db.flush()?;
        *flushed = upto;
        Ok(())
    }

    fn head(&self, address: &Address) -> Result<Option<Head>, Error> {
        let key = prefixed(RECORD, &address_key(address));
        let Some(value) = self.tree.get(&key)? else {
            return Ok(None);
        };
        let header = Header::decode(&value).ok_or_else(|| Error::Corrupt {
            key: hex::encode(&key),
            reason: "bad header".into(),
        })?;
        Ok(Some(Head {
            seq: header.seq,
            hash: header.hash,
            equivocation: header.equivocation,
        }))
    }

    fn get(&self, address: &Address) -> Result<Option<Stored>, Error> {
        Ok(self.load(&address_key(address))?.map(Held::stored))
    }

    fn search(&self, q: &Query) -> Result<Page, Error> {
        let mut filters = vec![Term::kind(q.kind)];
        if let Some(text) = &q.text {
            let words: Vec<String> = index::tokens(text).collect();
            if words.is_empty() {
                return Err(Error::Query(
                    "`q` needs a word of two characters or more".into(),
                ));
            }
            filters.extend(words.iter().map(|w| Term::token(w)));
        }
        filters.extend(q.party.as_deref().map(Term::party));
        filters.extend(q.activity.as_deref().map(Term::activity));
        filters.extend(q.org_type.as_deref().map(Term::org_type));
        filters.extend(q.country.as_deref().map(Term::country));
        filters.extend(q.status.as_deref().map(Term::status));
        filters.extend(q.region.as_deref().map(Term::region));
        filters.extend(q.author.as_ref().map(Term::author));
        let after = q
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<u32>()
                    .map_err(|_| Error::Query(format!("`{c}` is not a cursor this node gave")))
            })
            .transpose()?;
        if let Some((lat, lon, km)) = q.near
            && (!(0.0..=MAX_NEAR_KM).contains(&km)
                || !(-90.0..=90.0).contains(&lat)
                || !(-180.0..=180.0).contains(&lon))
        {
            return Err(Error::Query(format!(
                "`near` is lat,lon,km with lat in ±90, lon in ±180 and km from 0 to {MAX_NEAR_KM}"
            )));
        }
        let found = {
            let memory = self.memory();
            let mut found = memory.index.matching(&filters);
            if let Some((lat, lon, km)) = q.near {
                found &= memory.index.near(lat, lon, km);
            }
            if let Some(after) = after {
                found.remove_range(..=after);
            }
            found
        };
        let (items, last) = self.read_docs(
            found.iter(),
            |held| match q.confirmed {
                Some(want) => Ok(self.confirmation(&held.record)?.confirmed == want),
                None => Ok(true),
            },
            q.limit.clamp(1, MAX_LIMIT),
        )?;
        Ok(Page {
            items,
            next_cursor: last.map(|doc| doc.to_string()),
        })
    }

    fn changes(&self, since: u64, limit: usize) -> Result<Vec<Stored>, Error> {
        let docs: Vec<u32> = self
            .memory()
            .changes
            .range(since.saturating_add(1)..)
            .take(limit)
            .map(|(_, doc)| *doc)
            .collect();
        Ok(self.read_docs(docs.into_iter(), |_| Ok(true), limit)?.0)
    }

    fn summary(&self) -> Result<Summary, Error> {
        let memory = self.memory();
        let versions = memory.items.len() as u64;
        let mut hasher = Sha256::new();
        hasher.update(b"maillage-state-v1:");
        hasher.update(versions.to_be_bytes());
        hasher.update(memory.sum);
        Ok(Summary {
            records: Kind::ALL.into_iter().zip(memory.live).collect(),
            versions,
            digest: hex::encode(hasher.finalize()),
            last_change: memory.change,
        })
    }

    fn confirmation(&self, collaboration: &Record) -> Result<Confirmation, Error> {
        let Body::Collaboration(c) = &collaboration.body else {
            return Ok(Confirmation {
                confirmed: false,
                endorsed_by: vec![],
            });
        };
        let target = collaboration.address().to_string();
        let endorsements = self.memory().index.matching(&[Term::target(&target)]);
        let (endorsements, _) = self.read_docs(endorsements.iter(), |_| Ok(true), usize::MAX)?;
        let mut endorsed_by: Vec<Author> = endorsements
            .into_iter()
            .filter(|s| {
                matches!(&s.record.body, Body::Endorsement(e)
                    if e.stance == Stance::Confirmed && e.target == target)
            })
            .map(|s| s.record.author)
            .collect();
        endorsed_by.sort();
        endorsed_by.dedup();
        let signed = |reference: &str| {
            reference.parse::<Address>().is_ok_and(|party| {
                party.author == collaboration.author || endorsed_by.contains(&party.author)
            })
        };
        let confirmed = !c.parties.is_empty() && c.parties.iter().all(|p| signed(&p.reference));
        Ok(Confirmation {
            confirmed,
            endorsed_by,
        })
    }

    fn items(&self) -> Result<Vec<(u64, Hash)>, Error> {
        Ok(self.memory().items.iter().copied().collect())
    }

    fn get_by_hash(&self, hash: &Hash) -> Result<Option<Stored>, Error> {
        let akey = {
            let memory = self.memory();
            let doc = memory.by_hash.get(hash).copied();
            match doc.and_then(|d| memory.index.akey(d)) {
                Some(akey) => akey.to_vec(),
                None => return Ok(None),
            }
        };
        // The current version or the evidence of an equivocation.
        for prefix in [RECORD, EVIDENCE] {
            let key = prefixed(prefix, &akey);
            if let Some(value) = self.tree.get(&key)?
                && Header::decode(&value).is_some_and(|h| h.hash == *hash)
            {
                return Ok(Some(self.read(&key, &value)?.stored()));
            }
        }
        Ok(None)
    }

    fn author_count(&self, author: &Author) -> Result<u64, Error> {
        Ok(self.memory().authors.get(author).copied().unwrap_or(0))
    }

    fn purge_author(&self, author: &Author) -> Result<u64, Error> {
        let _writer = self
            .writer
            .lock()
            .expect("a writer panicked while holding the lock");
        let mut w = Write::new(&self.memory());
        let mut purged = 0;
        for kv in self.tree.scan_prefix(prefixed(RECORD, &author.to_bytes())) {
            let (key, value) = kv?;
            let akey = &key[1..];
            let held = self.read(&key, &value)?;
            w.unlink(&held);
            w.batch.remove(key.as_ref());
            purged += 1;
            if let Some(evidence) = self.load_evidence(akey)? {
                w.drop_evidence(akey, &evidence);
            }
        }
        // Numbers handed out stay handed out, even when their holders go.
        let mut high = w.delta.change.to_be_bytes().to_vec();
        high.extend_from_slice(&u64::from(w.delta.next_doc).to_be_bytes());
        w.batch.insert(meta_key("high"), high);
        w.delta.purged = Some(*author);
        let ticket = self.commit(w)?;
        self.sync(ticket)?;
        Ok(purged)
    }
}

#[cfg(test)]
mod tests;
