//! The store's engine: an append-only record log on disk (`segments`), and in memory
//! everything derived from it, rebuilt by replaying the log when the store opens.
//!
//! A write appends one frame; [`Store::sync`] makes every frame appended so far durable with
//! one `fdatasync`, shared by every writer waiting on it. Replaying needs no order: merging
//! versions is a semilattice (see [`Head`]), so the log gives the same state however its
//! frames came to be ordered, and a version found twice (a crash during compaction) is a
//! duplicate. What a frame cannot say by itself, it carries: the change position and the
//! document number it was given, so that change-log cursors and search cursors stay valid
//! across restarts; and a purge is a frame too, which forgets the author's versions with a
//! lower change position.
//!
//! In memory (`Memory`): each address's current version and the evidence of an
//! equivocation, where their frames are; the search index; the change log; the
//! `(time, hash)` items that reconciliation runs over; addresses per author; the counters
//! and running sum behind the state digest; and how many bytes of each segment are still
//! needed. A closed segment less than half needed is compacted: what is live in it is
//! copied to the end of the log and synced, then the segment is deleted.

mod memory;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use maillage_core::body::{Body, Stance};
use maillage_core::{Address, Author, Hash, Head, Kind, Record};
use sha2::{Digest as _, Sha256};

use crate::index::{self, Entry, Term, address_key};
use crate::segments::{self, Frame, Location, Segments};
use crate::{Confirmation, Error, Outcome, Page, Query, Store, Stored, Summary, Ticket};
use memory::{Arrival, Memory, Merge, Version, merge, outcome};

/// Widest `near=` radius: it bounds the cells one query reads.
pub const MAX_NEAR_KM: f64 = 2_000.0;
/// Largest page.
pub const MAX_LIMIT: usize = 500;

/// A node's store, in `<data_dir>/store`.
#[derive(Debug)]
pub struct Engine {
    segments: Segments,
    /// Held by the one writer (and by compaction).
    writer: Mutex<()>,
    memory: RwLock<Memory>,
    written: AtomicU64,
    flushed: Mutex<Ticket>,
}

impl Engine {
    pub fn open(dir: &Path) -> Result<Engine, Error> {
        Engine::with_segments_of(dir, segments::SEGMENT_BYTES)
    }

    fn with_segments_of(dir: &Path, segment_bytes: u64) -> Result<Engine, Error> {
        if dir.join("conf").exists() || dir.join("db").exists() {
            return Err(Error::Layout(format!(
                "the store in {} was written by an earlier version of maillage, in a layout this one does not read; move that folder away and start the node again: it syncs its records back from its peers",
                dir.display()
            )));
        }
        let engine = Engine {
            segments: Segments::open(dir, segment_bytes)?,
            writer: Mutex::new(()),
            memory: RwLock::default(),
            written: AtomicU64::new(0),
            flushed: Mutex::new(0),
        };
        let memory = engine.replay()?;
        *engine
            .memory
            .write()
            .expect("nothing else has the store yet") = memory;
        Ok(engine)
    }

    /// Flushes everything; used at shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        self.segments.sync()
    }

    fn memory(&self) -> std::sync::RwLockReadGuard<'_, Memory> {
        self.memory
            .read()
            .expect("a writer panicked while updating memory")
    }

    fn memory_mut(&self) -> std::sync::RwLockWriteGuard<'_, Memory> {
        self.memory
            .write()
            .expect("a writer panicked while updating memory")
    }

    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer
            .lock()
            .expect("a writer panicked while holding the lock")
    }

    /// The record in the frame at `at`; `None` if compaction moved it meanwhile.
    fn record_at(&self, at: Location) -> Result<Option<Record>, Error> {
        let Some(frame) = self.segments.read(at)? else {
            return Ok(None);
        };
        decode(&frame, at).map(Some)
    }

    /// The frame `pick` finds in memory, and what it found beside it. Compaction may move
    /// the frame between the two reads: then memory is asked again.
    fn read_picked<T>(
        &self,
        pick: impl Fn(&Memory) -> Option<(Location, T)>,
    ) -> Result<Option<(Location, T, Frame)>, Error> {
        for _ in 0..3 {
            let Some((at, found)) = pick(&self.memory()) else {
                return Ok(None);
            };
            if let Some(frame) = self.segments.read(at)? {
                return Ok(Some((at, found, frame)));
            }
        }
        Err(Error::Corrupt {
            key: "record log".into(),
            reason: "a frame kept moving while it was read".into(),
        })
    }

    /// The current version of document `doc`.
    fn stored(&self, doc: u32) -> Result<Option<Stored>, Error> {
        let picked = self.read_picked(|m| m.slots.get(&doc).map(|s| (s.current.at, *s)))?;
        picked
            .map(|(at, slot, frame)| {
                Ok(Stored {
                    record: decode(&frame, at)?,
                    equivocation: slot.evidence.is_some(),
                    change: slot.current.change,
                })
            })
            .transpose()
    }

    /// Derives [`Memory`] from the log.
    fn replay(&self) -> Result<Memory, Error> {
        let mut m = Memory::default();
        self.segments.replay(|at, frame| {
            match frame.kind {
                segments::Kind::Purge => {
                    let author = <&[u8; 32]>::try_from(frame.payload.as_slice())
                        .ok()
                        .and_then(|key| Author::from_bytes(key).ok())
                        .ok_or_else(|| corrupt(at, "a purge frame without an author key".into()))?;
                    for (akey, doc, slot) in m.of_author(&author, frame.change) {
                        let old = self.replayed(slot.current.at)?;
                        m.remove(&akey, doc, &old);
                    }
                    m.purged(author, frame.change, at);
                }
                segments::Kind::Record => {
                    let record = decode(&frame, at)?;
                    if m.purges
                        .get(&record.author)
                        .is_some_and(|(change, _)| frame.change < *change)
                    {
                        return Ok(());
                    }
                    let akey = address_key(&record.address());
                    let held = m.slot(&akey);
                    let merged = merge(held.as_ref().map(|(_, s)| s), &record);
                    let old = match (merged, held) {
                        (Merge::Replace | Merge::Win, Some((_, slot))) => {
                            Some(self.replayed(slot.current.at)?)
                        }
                        _ => None,
                    };
                    let doc = held.map_or(frame.doc, |(doc, _)| doc);
                    let v = Version::of(&record, frame.change, at);
                    let new = Arrival {
                        entry: Entry::of(&record),
                        record: &record,
                        v,
                    };
                    m.take(&akey, doc, new, merged, old.as_ref());
                }
            }
            Ok(())
        })?;
        Ok(m)
    }

    fn replayed(&self, at: Location) -> Result<Record, Error> {
        self.record_at(at)?
            .ok_or_else(|| corrupt(at, "a frame read a moment ago is gone".into()))
    }

    /// The current versions of `docs`, in order, as long as `keep` says so; and the number
    /// of the last one read, if more follow.
    fn read_docs(
        &self,
        docs: impl Iterator<Item = u32>,
        mut keep: impl FnMut(&Stored) -> Result<bool, Error>,
        limit: usize,
    ) -> Result<(Vec<Stored>, Option<u32>), Error> {
        let mut items = Vec::new();
        let mut last = None;
        for doc in docs {
            let Some(stored) = self.stored(doc)? else {
                continue;
            };
            if !keep(&stored)? {
                continue;
            }
            if items.len() == limit {
                return Ok((items, last));
            }
            items.push(stored);
            last = Some(doc);
        }
        Ok((items, None))
    }

    /// Compacts closed segments that are less than half needed.
    fn compact(&self) -> Result<(), Error> {
        for (segment, size) in self.segments.closed()? {
            let needed = self.memory().needed.get(&segment).copied().unwrap_or(0);
            if needed * 2 > size {
                continue;
            }
            let _writer = self.write_lock();
            let needed_frames = self.memory().frames_in(segment);
            let mut moved = Vec::with_capacity(needed_frames.len());
            for (owner, at) in needed_frames {
                let frame = self
                    .segments
                    .read(at)?
                    .ok_or_else(|| corrupt(at, "a needed frame is missing".into()))?;
                moved.push((owner, at, self.segments.append(&frame)?));
            }
            // The copies are durable before the original goes.
            self.segments.sync()?;
            {
                let mut m = self.memory_mut();
                for (owner, from, to) in moved {
                    m.relocate(owner, to);
                    m.need(from, false);
                    m.need(to, true);
                }
                m.needed.remove(&segment);
            }
            self.segments.remove(segment)?;
            tracing::info!(
                segment,
                size,
                needed,
                "compacted a segment of the record log"
            );
        }
        Ok(())
    }
}

fn corrupt(at: Location, reason: String) -> Error {
    Error::Corrupt {
        key: format!("segment {} offset {}", at.segment, at.offset),
        reason,
    }
}

/// A record from a frame: verified before it was stored, so its signature is not checked
/// again.
fn decode(frame: &Frame, at: Location) -> Result<Record, Error> {
    Ok(Record::decode_unverified(&frame.payload)
        .map_err(|e| corrupt(at, e.to_string()))?
        .assume_verified())
}

impl Store for Engine {
    fn apply(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error> {
        // What finds the record is worked out before the writer's lock is taken.
        let entry = Entry::of(&record);
        let _writer = self.write_lock();
        let akey = address_key(&record.address());
        let (held, change, next_doc) = {
            let m = self.memory();
            (m.slot(&akey), m.change, m.next_doc)
        };
        let merged = merge(held.as_ref().map(|(_, s)| s), &record);
        let current = |ticket| -> Result<(Outcome, Stored, Ticket), Error> {
            let doc = held.expect("only a held address can refuse a version").0;
            let stored = self.stored(doc)?.ok_or_else(|| Error::Corrupt {
                key: format!("document {doc}"),
                reason: "vanished under the writer's lock".into(),
            })?;
            Ok((outcome(merged), stored, ticket))
        };
        if matches!(
            merged,
            Merge::Duplicate | Merge::Stale(_) | Merge::Lose { kept: false }
        ) {
            return current(self.written.load(Ordering::SeqCst));
        }
        let old = match (merged, held) {
            (Merge::Replace | Merge::Win, Some((_, slot))) => {
                Some(self.record_at(slot.current.at)?.ok_or_else(|| {
                    corrupt(
                        slot.current.at,
                        "the current version's frame is gone".into(),
                    )
                })?)
            }
            _ => None,
        };
        let doc = held.map_or(next_doc, |(doc, _)| doc);
        let at = self
            .segments
            .append(&Frame::record(change + 1, doc, &record))?;
        let v = Version::of(&record, change + 1, at);
        self.memory_mut().take(
            &akey,
            doc,
            Arrival {
                record: &record,
                entry,
                v,
            },
            merged,
            old.as_ref(),
        );
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        if let Merge::Lose { .. } = merged {
            return current(ticket);
        }
        let stored = Stored {
            record,
            equivocation: merged == Merge::Win,
            change: change + 1,
        };
        Ok((outcome(merged), stored, ticket))
    }

    fn sync(&self, ticket: Ticket) -> Result<(), Error> {
        {
            let mut flushed = self
                .flushed
                .lock()
                .expect("a flusher panicked while holding the lock");
            if *flushed >= ticket {
                return Ok(());
            }
            // Everything applied before this load is in the sync below: one sync covers
            // every writer that queued on the lock meanwhile.
            let upto = self.written.load(Ordering::SeqCst);
            self.segments.sync()?;
            *flushed = upto;
        }
        // What was asked is durable; a compaction that fails is tried again at the next sync.
        if let Err(e) = self.compact() {
            tracing::warn!(error = %e, "compacting the record log failed");
        }
        Ok(())
    }

    fn head(&self, address: &Address) -> Result<Option<Head>, Error> {
        Ok(self
            .memory()
            .slot(&address_key(address))
            .map(|(_, slot)| Head {
                seq: slot.current.seq,
                hash: slot.current.hash,
                equivocation: slot.evidence.is_some(),
            }))
    }

    fn get(&self, address: &Address) -> Result<Option<Stored>, Error> {
        let doc = self.memory().addresses.get(&*address_key(address)).copied();
        doc.map_or(Ok(None), |doc| self.stored(doc))
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
            |stored| match q.confirmed {
                Some(want) => Ok(self.confirmation(&stored.record)?.confirmed == want),
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

    fn bytes_by_hash(&self, hash: &Hash) -> Result<Option<Vec<u8>>, Error> {
        let picked = self.read_picked(|m| {
            let slot = m.slots.get(m.by_hash.get(hash)?)?;
            let held = [Some(slot.current), slot.evidence];
            held.into_iter()
                .flatten()
                .find(|v| v.hash == *hash)
                .map(|v| (v.at, ()))
        })?;
        Ok(picked.map(|(_, (), frame)| frame.payload))
    }

    fn author_count(&self, author: &Author) -> Result<u64, Error> {
        Ok(self.memory().authors.get(author).copied().unwrap_or(0))
    }

    fn purge_author(&self, author: &Author) -> Result<u64, Error> {
        let purged = {
            let _writer = self.write_lock();
            let (change, doomed) = {
                let m = self.memory();
                (m.change + 1, m.of_author(author, u64::MAX))
            };
            let mut olds = Vec::with_capacity(doomed.len());
            for (akey, doc, slot) in doomed {
                let old = self
                    .record_at(slot.current.at)?
                    .ok_or_else(|| corrupt(slot.current.at, "a current frame is gone".into()))?;
                olds.push((akey, doc, old));
            }
            let at = self.segments.append(&Frame::new(
                segments::Kind::Purge,
                change,
                0,
                author.to_bytes().to_vec(),
            ))?;
            let mut m = self.memory_mut();
            for (akey, doc, old) in &olds {
                m.remove(akey, *doc, old);
            }
            m.purged(*author, change, at);
            olds.len() as u64
        };
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        self.sync(ticket)?;
        Ok(purged)
    }
}

#[cfg(test)]
mod tests;
