//! The sled engine. Two trees:
//!
//! `maillage`, small keys with prefixes:
//! - `R` address key → header: flags (1 byte), change position (8), seq (8), hash (32);
//! - `C` change position → address key: one entry per address, its latest change;
//! - `I` index term, address key → nothing;
//! - `H` time, hash → nothing: the `(time, hash)` items set reconciliation runs over;
//! - `E` address key → header of the evidence of an equivocation: the lowest-hash version
//!   that lost to the current one with the same `seq`, kept so that every node learns of it;
//! - `X` hash → the `R` or `E` key that holds that version, for peers that fetch by hash;
//! - `M` name → counters and the running sum behind the state digest;
//!
//! and `records`, hash → signed record bytes. Keeping the large values apart keeps the
//! first tree's pages small: sled copies a page on every write to it.
//!
//! Each change to the first tree is one atomic `apply_batch`, so a crash leaves the old state
//! or the new one, never half of both. Record bytes are written before the batch that refers
//! to them and removed after the batch that drops them, so a crash can leave an unreferenced
//! record behind, never a reference to a missing one. Writes are serialised by one lock,
//! which also holds the counters; durability comes from [`Store::sync`], where concurrent
//! writers share one flush.

use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use maillage_core::body::{Body, Stance};
use maillage_core::{Address, Author, Hash, Head, Kind, Record};
use sha2::{Digest as _, Sha256};

use crate::index::{self, Term, address_key};
use crate::{Confirmation, Error, Outcome, Page, Query, Store, Stored, Summary, Ticket};

const RECORD: u8 = b'R';
const CHANGE: u8 = b'C';
const INDEX: u8 = b'I';
const META: u8 = b'M';
const ITEM: u8 = b'H';
const BY_HASH: u8 = b'X';
const EVIDENCE: u8 = b'E';

const FLAG_EQUIVOCATION: u8 = 1;
const HEADER: usize = 49;
/// Widest `near=` radius: it bounds the cells one query reads.
pub const MAX_NEAR_KM: f64 = 2_000.0;
/// Largest page.
pub const MAX_LIMIT: usize = 500;
/// sled's page cache.
const CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// The sled store of a node, in `<data_dir>/store`.
#[derive(Debug)]
pub struct Sled {
    db: sled::Db,
    tree: sled::Tree,
    records: sled::Tree,
    /// Held by the one writer; holds the counters, kept in memory between writes.
    writer: Mutex<Meta>,
    written: AtomicU64,
    flushed: Mutex<Ticket>,
}

fn prefixed(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(rest.len() + 1);
    key.push(prefix);
    key.extend_from_slice(rest);
    key
}

fn index_key(term: &Term, akey: &[u8]) -> Vec<u8> {
    let mut key = prefixed(INDEX, &term.0);
    key.extend_from_slice(akey);
    key
}

fn item_key(record: &Record) -> Vec<u8> {
    let mut key = prefixed(ITEM, &record.time.to_be_bytes());
    key.extend_from_slice(&record.hash().0);
    key
}

fn meta_key(name: &str, rest: &[u8]) -> Vec<u8> {
    let mut key = prefixed(META, name.as_bytes());
    key.extend_from_slice(rest);
    key
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
}

impl Header {
    fn of(record: &Record, change: u64, equivocation: bool) -> Header {
        Header {
            equivocation,
            change,
            seq: record.seq,
            hash: record.hash(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER);
        v.push(if self.equivocation {
            FLAG_EQUIVOCATION
        } else {
            0
        });
        v.extend_from_slice(&self.change.to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.hash.0);
        v
    }

    fn decode(value: &[u8]) -> Option<Header> {
        if value.len() != HEADER {
            return None;
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&value[17..]);
        Some(Header {
            equivocation: value[0] & FLAG_EQUIVOCATION != 0,
            change: be_u64(&value[1..9]),
            seq: be_u64(&value[9..17]),
            hash: Hash(hash),
        })
    }
}

/// The counters behind `summary`.
#[derive(Clone, Debug, Default)]
struct Meta {
    sum: [u8; 32],
    versions: u64,
    change: u64,
    live: [u64; 3],
}

/// One atomic change being built: the batch, the counters after it, and record bytes to
/// add before it and to drop after it.
struct Write {
    batch: sled::Batch,
    meta: Meta,
    author: Option<(Author, u64)>,
    add: Vec<(Hash, Vec<u8>)>,
    drop: Vec<Hash>,
}

impl Write {
    fn new(meta: &Meta) -> Write {
        Write {
            batch: sled::Batch::default(),
            meta: meta.clone(),
            author: None,
            add: vec![],
            drop: vec![],
        }
    }

    /// Removes the current version `old` of `akey` and everything that finds it.
    fn unlink(&mut self, akey: &[u8], old: &Stored) {
        for term in index::terms(&old.record) {
            self.batch.remove(index_key(&term, akey));
        }
        self.batch
            .remove(prefixed(CHANGE, &old.change.to_be_bytes()));
        self.forget(&old.record);
        if !old.record.body.is_deleted() {
            self.meta.live[index::kind_byte(old.record.kind) as usize] -= 1;
        }
    }

    /// Makes `record` the current version of `akey`.
    fn link(&mut self, akey: &[u8], record: &Record, equivocation: bool) {
        self.meta.change += 1;
        let header = Header::of(record, self.meta.change, equivocation);
        self.batch.insert(prefixed(RECORD, akey), header.encode());
        self.batch.insert(
            prefixed(CHANGE, &self.meta.change.to_be_bytes()),
            akey.to_vec(),
        );
        // The geographic cell's entry carries the point, so that `near` needs no record.
        let point = match &record.body {
            Body::Organisation(o) => o
                .location
                .map(|l| [l.lat_e7.to_be_bytes(), l.lon_e7.to_be_bytes()].concat()),
            _ => None,
        };
        for term in index::terms(record) {
            let value = if term.is_cell() {
                point.clone().unwrap_or_default()
            } else {
                vec![]
            };
            self.batch.insert(index_key(&term, akey), value);
        }
        self.hold(record, prefixed(RECORD, akey));
        if !record.body.is_deleted() {
            self.meta.live[index::kind_byte(record.kind) as usize] += 1;
        }
    }

    /// Counts a version as held, findable by hash at `key`, and among the items synced.
    fn hold(&mut self, record: &Record, key: Vec<u8>) {
        self.batch.insert(item_key(record), Vec::new());
        self.batch.insert(prefixed(BY_HASH, &record.hash().0), key);
        self.add.push((record.hash(), record.bytes().to_vec()));
        add_hash(&mut self.meta.sum, &record.hash().0, false);
        self.meta.versions += 1;
    }

    fn forget(&mut self, record: &Record) {
        self.batch.remove(item_key(record));
        self.batch.remove(prefixed(BY_HASH, &record.hash().0));
        self.drop.push(record.hash());
        add_hash(&mut self.meta.sum, &record.hash().0, true);
        self.meta.versions -= 1;
    }

    /// Keeps `candidate` as the evidence of an equivocation if it has a lower hash than the
    /// evidence held: every node ends up with the same two lowest hashes of that `seq`.
    fn keep_evidence(&mut self, akey: &[u8], candidate: &Record, held: Option<&Stored>) {
        if let Some(held) = held {
            if held.record.hash() <= candidate.hash() {
                return;
            }
            self.forget(&held.record);
        }
        self.batch.insert(
            prefixed(EVIDENCE, akey),
            Header::of(candidate, 0, true).encode(),
        );
        self.hold(candidate, prefixed(EVIDENCE, akey));
    }

    fn drop_evidence(&mut self, akey: &[u8], evidence: &Stored) {
        self.forget(&evidence.record);
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
        let records = db.open_tree("records")?;
        let mut store = Sled {
            db,
            tree,
            records,
            writer: Mutex::default(),
            written: AtomicU64::new(0),
            flushed: Mutex::new(0),
        };
        store.writer = Mutex::new(store.read_meta()?);
        Ok(store)
    }

    /// Flushes everything; used at shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        self.db.flush()?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Meta> {
        self.writer
            .lock()
            .expect("a writer panicked while holding the lock")
    }

    fn counter(&self, key: &[u8]) -> Result<u64, Error> {
        Ok(self.tree.get(key)?.map_or(0, |v| be_u64(&v)))
    }

    fn read_meta(&self) -> Result<Meta, Error> {
        let mut sum = [0u8; 32];
        if let Some(v) = self.tree.get(meta_key("sum", &[]))? {
            sum.copy_from_slice(&v);
        }
        let mut live = [0u64; 3];
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            live[i] = self.counter(&meta_key("live", &[index::kind_byte(kind)]))?;
        }
        Ok(Meta {
            sum,
            versions: self.counter(&meta_key("versions", &[]))?,
            change: self.counter(&meta_key("change", &[]))?,
            live,
        })
    }

    /// Writes record bytes, then the batch and the counters, then drops replaced bytes.
    fn commit(&self, mut w: Write, meta: &mut Meta) -> Result<Ticket, Error> {
        w.batch.insert(meta_key("sum", &[]), w.meta.sum.to_vec());
        w.batch.insert(
            meta_key("versions", &[]),
            w.meta.versions.to_be_bytes().to_vec(),
        );
        w.batch.insert(
            meta_key("change", &[]),
            w.meta.change.to_be_bytes().to_vec(),
        );
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            w.batch.insert(
                meta_key("live", &[index::kind_byte(kind)]),
                w.meta.live[i].to_be_bytes().to_vec(),
            );
        }
        if let Some((author, n)) = &w.author {
            w.batch
                .insert(meta_key("n", &author.to_bytes()), n.to_be_bytes().to_vec());
        }
        for (hash, bytes) in &w.add {
            self.records.insert(hash.0, bytes.as_slice())?;
        }
        self.tree.apply_batch(w.batch)?;
        for hash in &w.drop {
            if !w.add.iter().any(|(h, _)| h == hash) {
                self.records.remove(hash.0)?;
            }
        }
        *meta = w.meta;
        Ok(self.written.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// The version a header names.
    fn read(&self, key: &[u8], value: &[u8]) -> Result<Stored, Error> {
        let corrupt = |reason: String| Error::Corrupt {
            key: hex::encode(key),
            reason,
        };
        let header = Header::decode(value).ok_or_else(|| corrupt("bad header".into()))?;
        let bytes = self
            .records
            .get(header.hash.0)?
            .ok_or_else(|| corrupt(format!("record {} is missing", header.hash)))?;
        // Verified before it was stored: decode without paying for the signature again.
        let record = Record::decode_unverified(&bytes)
            .map_err(|e| corrupt(e.to_string()))?
            .assume_verified();
        Ok(Stored {
            record,
            equivocation: header.equivocation,
            change: header.change,
        })
    }

    fn load_at(&self, key: &[u8]) -> Result<Option<Stored>, Error> {
        self.tree.get(key)?.map(|v| self.read(key, &v)).transpose()
    }

    fn load(&self, akey: &[u8]) -> Result<Option<Stored>, Error> {
        self.load_at(&prefixed(RECORD, akey))
    }

    fn load_evidence(&self, akey: &[u8]) -> Result<Option<Stored>, Error> {
        self.load_at(&prefixed(EVIDENCE, akey))
    }

    /// Address keys under `prefix`, strictly after `after` (a full key), in order.
    fn scan<'a>(
        &'a self,
        prefix: Vec<u8>,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = Result<Vec<u8>, Error>> + 'a {
        let start = match after {
            Some(a) => Bound::Excluded([prefix.as_slice(), a].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let skip = prefix.len();
        self.tree
            .range((start, Bound::Unbounded))
            .take_while(move |kv| kv.as_ref().map_or(true, |(k, _)| k.starts_with(&prefix)))
            .map(move |kv| Ok(kv?.0[skip..].to_vec()))
    }

    /// Whether every term in `filters` indexes `akey`: checked before any record is read.
    fn indexed_by_all(&self, akey: &[u8], filters: &[Term]) -> Result<bool, Error> {
        for term in filters {
            if !self.tree.contains_key(index_key(term, akey))? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Store for Sled {
    fn apply(&self, record: &Record) -> Result<(Outcome, Ticket), Error> {
        let mut meta = self.lock();
        let akey = address_key(&record.address());
        let current = self.load(&akey)?;
        let incoming = Head::of(record);
        let mut w = Write::new(&meta);
        let outcome = match &current {
            None => {
                w.author = Some((record.author, self.author_count(&record.author)? + 1));
                w.link(&akey, record, false);
                Outcome::New
            }
            Some(held) => {
                let held_head = Head {
                    seq: held.record.seq,
                    hash: held.record.hash(),
                    equivocation: held.equivocation,
                };
                let evidence = self.load_evidence(&akey)?;
                let known = evidence
                    .as_ref()
                    .is_some_and(|e| e.record.hash() == incoming.hash);
                if held_head.hash == incoming.hash || known {
                    return Ok((Outcome::Duplicate, self.written.load(Ordering::SeqCst)));
                }
                let merged = held_head.merge(incoming);
                if merged.seq > incoming.seq {
                    return Ok((
                        Outcome::Stale {
                            current: held_head.seq,
                        },
                        self.written.load(Ordering::SeqCst),
                    ));
                }
                if merged.seq > held_head.seq {
                    w.unlink(&akey, held);
                    if let Some(e) = &evidence {
                        w.drop_evidence(&akey, e);
                    }
                    w.link(&akey, record, false);
                    Outcome::Replaced
                } else if merged.hash == incoming.hash {
                    w.unlink(&akey, held);
                    w.link(&akey, record, true);
                    w.keep_evidence(&akey, &held.record, evidence.as_ref());
                    Outcome::Equivocation { won: true }
                } else {
                    // The held version stays, flagged; the newcomer may become the evidence.
                    let flagged = Header::of(&held.record, held.change, true);
                    w.batch.insert(prefixed(RECORD, &akey), flagged.encode());
                    w.keep_evidence(&akey, record, evidence.as_ref());
                    Outcome::Equivocation { won: false }
                }
            }
        };
        Ok((outcome, self.commit(w, &mut meta)?))
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
        self.load(&address_key(address))
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
                hex::decode(c)
                    .map_err(|_| Error::Query(format!("`{c}` is not a cursor this node gave")))
            })
            .transpose()?;
        let limit = q.limit.clamp(1, MAX_LIMIT);

        let candidates: Box<dyn Iterator<Item = Result<Vec<u8>, Error>>> = match q.near {
            Some((lat, lon, km)) => {
                if !(0.0..=MAX_NEAR_KM).contains(&km)
                    || !(-90.0..=90.0).contains(&lat)
                    || !(-180.0..=180.0).contains(&lon)
                {
                    return Err(Error::Query(format!(
                        "`near` is lat,lon,km with lat in ±90, lon in ±180 and km from 0 to {MAX_NEAR_KM}"
                    )));
                }
                let mut keys = std::collections::BTreeSet::new();
                for cell in index::cells_near(lat, lon, km) {
                    let prefix = prefixed(INDEX, &Term::cell(cell).0);
                    for kv in self.tree.scan_prefix(&prefix) {
                        let (key, point) = kv?;
                        let Ok(point): Result<[u8; 8], _> = point.as_ref().try_into() else {
                            continue;
                        };
                        let degrees = |b: &[u8]| {
                            f64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]])) / 1e7
                        };
                        if index::distance_km(
                            (lat, lon),
                            (degrees(&point[..4]), degrees(&point[4..])),
                        ) <= km
                        {
                            keys.insert(key[prefix.len()..].to_vec());
                        }
                    }
                }
                let start = after.clone();
                Box::new(
                    keys.into_iter()
                        .filter(move |k| start.as_ref().is_none_or(|a| k > a))
                        .map(Ok),
                )
            }
            None => {
                // Drive the scan with the most selective filter; check the others per key.
                let driver = filters.remove(if filters.len() > 1 { 1 } else { 0 });
                filters.push(driver.clone());
                Box::new(self.scan(prefixed(INDEX, &driver.0), after.as_deref()))
            }
        };

        let mut items = Vec::new();
        let mut next_cursor = None;
        for akey in candidates {
            let akey = akey?;
            if !self.indexed_by_all(&akey, &filters)? {
                continue;
            }
            let Some(stored) = self.load(&akey)? else {
                continue;
            };
            if let Some(want) = q.confirmed
                && self.confirmation(&stored.record)?.confirmed != want
            {
                continue;
            }
            if items.len() == limit {
                next_cursor = items
                    .last()
                    .map(|s: &Stored| hex::encode(address_key(&s.record.address())));
                break;
            }
            items.push(stored);
        }
        Ok(Page { items, next_cursor })
    }

    fn changes(&self, since: u64, limit: usize) -> Result<Vec<Stored>, Error> {
        let start = prefixed(CHANGE, &since.saturating_add(1).to_be_bytes());
        let mut out = Vec::new();
        for kv in self.tree.range(start..).take(limit) {
            let (k, akey) = kv?;
            if k[0] != CHANGE {
                break;
            }
            if let Some(stored) = self.load(&akey)? {
                out.push(stored);
            }
        }
        Ok(out)
    }

    fn summary(&self) -> Result<Summary, Error> {
        let meta = self.lock().clone();
        let mut hasher = Sha256::new();
        hasher.update(b"maillage-state-v1:");
        hasher.update(meta.versions.to_be_bytes());
        hasher.update(meta.sum);
        Ok(Summary {
            records: Kind::ALL.into_iter().zip(meta.live).collect(),
            versions: meta.versions,
            digest: hex::encode(hasher.finalize()),
            last_change: meta.change,
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
        let mut endorsed_by = Vec::new();
        for akey in self.scan(prefixed(INDEX, &Term::target(&target).0), None) {
            let Some(stored) = self.load(&akey?)? else {
                continue;
            };
            if let Body::Endorsement(e) = &stored.record.body
                && e.stance == Stance::Confirmed
                && e.target == target
            {
                endorsed_by.push(stored.record.author);
            }
        }
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
        let mut items = Vec::new();
        for key in self.tree.scan_prefix([ITEM]).keys() {
            let key = key?;
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&key[9..41]);
            items.push((be_u64(&key[1..9]), Hash(hash)));
        }
        Ok(items)
    }

    fn get_by_hash(&self, hash: &Hash) -> Result<Option<Stored>, Error> {
        match self.tree.get(prefixed(BY_HASH, &hash.0))? {
            Some(key) => self.load_at(&key),
            None => Ok(None),
        }
    }

    fn author_count(&self, author: &Author) -> Result<u64, Error> {
        self.counter(&meta_key("n", &author.to_bytes()))
    }

    fn purge_author(&self, author: &Author) -> Result<u64, Error> {
        let mut meta = self.lock();
        let mut w = Write::new(&meta);
        let mut purged = 0;
        for rest in self.scan(prefixed(RECORD, &author.to_bytes()), None) {
            let akey = [author.to_bytes().as_slice(), &rest?].concat();
            if let Some(stored) = self.load(&akey)? {
                w.unlink(&akey, &stored);
                w.batch.remove(prefixed(RECORD, &akey));
                purged += 1;
            }
            if let Some(evidence) = self.load_evidence(&akey)? {
                w.drop_evidence(&akey, &evidence);
            }
        }
        w.author = Some((*author, 0));
        let ticket = self.commit(w, &mut meta)?;
        drop(meta);
        self.sync(ticket)?;
        Ok(purged)
    }
}

#[cfg(test)]
mod tests;
