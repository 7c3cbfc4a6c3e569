//! The store's engine: an append-only record log on disk (`segments`), and in memory
//! everything derived from it, rebuilt by replaying the log when the store opens.
//!
//! A write decides what becomes of a version, appends its frame, and stages it; readers see
//! it only once it is durable. [`Store::sync`] makes every frame appended so far durable
//! with one `fdatasync`, shared by every writer waiting on it, then moves the staged versions
//! into memory in the order they were written. Replaying needs no order: merging versions is
//! a semilattice (see [`Head`]), so the log gives the same state however its frames came to
//! be ordered, and a version found twice (a crash during compaction) is a duplicate. What a
//! frame cannot say by itself, it carries: the change position and the document number it
//! was given, so that change-log cursors and search cursors stay valid across restarts; and
//! a purge is a frame too, which forgets the author's versions with a lower change position.
//! Positions handed out are never handed out again: only durable ones are ever seen.
//!
//! In memory (`Memory`): each address's current version and the evidence of an
//! equivocation, where their frames are (from which the `(time, hash)` items that
//! reconciliation runs over are listed); the endorsements of each collaboration; the change
//! log; addresses per author; the counters
//! and running sum behind the state digest; and how many bytes of each segment are still
//! needed. A closed segment less than half needed is compacted, on a thread of its own: what
//! is live in it is copied to the end of the log and synced, then the segment is deleted.

mod checkpoint;
mod memory;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};

use maillage_core::body::{Body, Stance};
use maillage_core::{Address, Author, Hash, Head, Kind, Record};
use roaring::RoaringBitmap;
use sha2::{Digest as _, Sha256};

use crate::confirmation::{self, Listing};
use crate::disk::{Disk, Folder};
use crate::index::{AddressId, Entry, address_id};
use crate::segments::{self, Frame, Location, Segments, Snapshot};
use crate::{Confirmation, Error, Outcome, Store, Stored, Summary, Ticket};
use memory::{Arrival, Memory, Merge, Slot, Version, merge, outcome};

/// Frames compaction copies per turn of the writer's lock.
const COPY_BATCH: usize = 256;
/// Changes after which memory is checkpointed again (and after each compaction, and at
/// shutdown).
const CHECKPOINT_CHANGES: u64 = 100_000;
/// Checkpoint files are `checkpoint-<change covered, 20 digits>`.
const CHECKPOINT: &str = "checkpoint-";

/// A version written to the log and not yet known to be durable.
#[derive(Debug)]
struct Staged {
    ticket: Ticket,
    address: AddressId,
    doc: u32,
    new: Arrival,
    merged: Merge,
    /// The current version of the address that this one takes the place of.
    old: Option<Arrival>,
}

/// What the writer holds: the versions staged since the last flush, and where they leave
/// each address they touch.
#[derive(Debug, Default)]
struct Pending {
    staged: VecDeque<Staged>,
    /// Address key → its document, its slot once the staged versions are in, whether its
    /// current version is a staged one, and the ticket of the last one staged.
    slots: HashMap<AddressId, (u32, Slot, bool, Ticket)>,
    /// The last ticket, change position and document number handed out.
    ticket: Ticket,
    change: u64,
    next_doc: u32,
}

/// Everything the engine's threads share.
#[derive(Debug)]
struct Log {
    disk: Arc<dyn Disk>,
    segments: Segments,
    /// The change position and the log the newest checkpoint covers; held by the one
    /// checkpoint being written, from the copy out to the removal of the older ones.
    checkpointed: Mutex<(u64, checkpoint::Layout)>,
    /// Held by the one writer (and by compaction while it appends).
    writer: Mutex<Pending>,
    memory: RwLock<Memory>,
    flushed: Mutex<Ticket>,
}

/// A node's store, in `<data_dir>/store`.
#[derive(Debug)]
pub struct Engine {
    log: Arc<Log>,
    /// Wakes the compactor; dropped to stop it.
    compactor: Option<(mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>,
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
        Engine::on(Arc::new(Folder::open(dir)?), segment_bytes, true)
    }

    /// A store on `disk`, compacting on a thread of its own, or only when
    /// [`Engine::compact`] is called.
    pub fn on(disk: Arc<dyn Disk>, segment_bytes: u64, background: bool) -> Result<Engine, Error> {
        let log = Log {
            segments: Segments::open(disk.clone(), segment_bytes)?,
            disk,
            checkpointed: Mutex::default(),
            writer: Mutex::default(),
            memory: RwLock::default(),
            flushed: Mutex::new(0),
        };
        let memory = log.start()?;
        *log.writer() = Pending {
            change: memory.change,
            next_doc: memory.next_doc,
            ..Pending::default()
        };
        *log.memory_mut() = memory;
        let log = Arc::new(log);
        let compactor = background.then(|| {
            let (wake, woken) = mpsc::sync_channel(1);
            let shared = log.clone();
            let thread = std::thread::Builder::new()
                .name("compactor".into())
                .spawn(move || {
                    while woken.recv().is_ok() {
                        let compacted = match shared.compact() {
                            Ok(compacted) => compacted,
                            Err(e) => {
                                tracing::warn!(error = %e, "compacting the record log failed; it is tried again after the next write");
                                false
                            }
                        };
                        let change = shared.memory().change;
                        let due = change >= shared.checkpointed().0 + CHECKPOINT_CHANGES;
                        if (compacted || due)
                            && let Err(e) = shared.checkpoint()
                        {
                            tracing::warn!(error = %e, "writing a checkpoint of memory failed; the next start replays more of the log");
                        }
                    }
                })
                .expect("a thread can be started");
            (wake, thread)
        });
        Ok(Engine { log, compactor })
    }

    /// Flushes everything and checkpoints memory; used at shutdown.
    pub fn flush(&self) -> Result<(), Error> {
        let ticket = self.log.writer().ticket;
        self.log.sync(ticket)?;
        self.log.checkpoint()
    }

    /// Compacts closed segments that are less than half needed; says whether it did.
    pub fn compact(&self) -> Result<bool, Error> {
        self.log.compact()
    }

    /// Writes a checkpoint of memory, so that the next start replays only what follows.
    pub fn checkpoint(&self) -> Result<(), Error> {
        self.log.checkpoint()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some((wake, thread)) = self.compactor.take() {
            drop(wake);
            let _ = thread.join();
        }
    }
}

impl Log {
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

    fn writer(&self) -> std::sync::MutexGuard<'_, Pending> {
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
        let picked = self.read_picked(|m| m.at(doc).map(|s| (s.current.at, s)))?;
        picked
            .map(|(at, slot, frame)| {
                Ok(Stored {
                    record: decode(&frame, at)?,
                    equivocation: slot.evidence.is_some(),
                    change: slot.current.change,
                    doc,
                })
            })
            .transpose()
    }

    fn checkpointed(&self) -> std::sync::MutexGuard<'_, (u64, checkpoint::Layout)> {
        self.checkpointed.lock().expect("no one panics holding it")
    }

    /// Memory as the log gives it: from the newest checkpoint that still holds and the log
    /// after it, or from the whole log.
    fn start(&self) -> Result<Memory, Error> {
        let mut names: Vec<String> = self
            .disk
            .list()?
            .into_iter()
            .filter(|n| n.starts_with(CHECKPOINT))
            .collect();
        names.sort();
        let layout = self.segments.layout();
        while let Some(name) = names.pop() {
            let read = (|| -> Result<_, String> {
                let file = self.disk.open(&name).map_err(|e| e.to_string())?;
                let mut bytes = vec![0; file.size().map_err(|e| e.to_string())? as usize];
                file.read_at(&mut bytes, 0).map_err(|e| e.to_string())?;
                let (memory, covered) = checkpoint::decode(&bytes)?;
                drop(bytes);
                let from = checkpoint::resume(&covered, &layout)?;
                let change = memory.change;
                let memory = self.replay(memory, from).map_err(|e| e.to_string())?;
                Ok((memory, (change, covered)))
            })();
            match read {
                Ok((memory, covered)) => {
                    tracing::info!(
                        checkpoint = %self.disk.path(&name),
                        changes_after = memory.change - covered.0,
                        "memory read from its checkpoint and the log after it"
                    );
                    *self.checkpointed() = covered;
                    return Ok(memory);
                }
                Err(why) => tracing::warn!(
                    checkpoint = %self.disk.path(&name),
                    %why,
                    "a checkpoint of memory does not hold; trying an older one, else replaying the whole log"
                ),
            }
        }
        let started = std::time::Instant::now();
        let memory = self.replay(Memory::default(), (0, 0))?;
        if memory.change > 0 {
            tracing::info!(
                changes = memory.change,
                ms = started.elapsed().as_millis() as u64,
                "memory rebuilt from the whole record log"
            );
        }
        Ok(memory)
    }

    /// Writes a checkpoint of memory as it is once everything staged is durable, then
    /// deletes the older ones. Writers wait while memory is written out (to the page
    /// cache, a chunk at a time), not while it is flushed.
    fn checkpoint(&self) -> Result<(), Error> {
        let mut checkpointed = self.checkpointed();
        let (file, name, covered) = {
            let mut p = self.writer();
            let upto = p.ticket;
            self.segments.sync()?;
            self.publish(&mut p, upto);
            let m = self.memory();
            let layout = self.segments.layout();
            // Nothing written and nothing compacted since the last one.
            if m.change == checkpointed.0 && layout == checkpointed.1 {
                return Ok(());
            }
            let name = format!("{CHECKPOINT}{:020}", m.change);
            if self.disk.list()?.contains(&name) {
                // One that did not hold when the store opened (torn, or stale), or this
                // start would have read it.
                self.disk.remove(&name)?;
            }
            let file = self.disk.create(&name)?;
            let mut at = 0;
            checkpoint::encode(&m, &layout, &mut |chunk| {
                file.write_at(chunk, at)?;
                at += chunk.len() as u64;
                Ok(())
            })?;
            (file, name, (m.change, layout))
        };
        file.sync()?;
        *checkpointed = covered;
        // Older ones, and any that did not hold (a newer name from a store since restored).
        for old in self.disk.list()? {
            if old.starts_with(CHECKPOINT) && old != name {
                self.disk.remove(&old)?;
            }
        }
        Ok(())
    }

    /// Replays the log from `from` onto `m`, in two passes: the purges, then the records
    /// they spare. Applying purges first gives what any order of the frames would, and no
    /// version is ever taken in only to be taken out again; a purge forgets what `m` held
    /// of the author before it. The first pass reads and checks every frame of the log,
    /// those before `from` too: damage to what was acknowledged is found at open, with or
    /// without a checkpoint.
    fn replay(&self, mut m: Memory, from: (u32, u64)) -> Result<Memory, Error> {
        let mut purged = vec![];
        self.segments.replay((0, 0), |at, frame| {
            if (at.segment, u64::from(at.offset)) < from {
                return Ok(());
            }
            if frame.kind == segments::Kind::Purge {
                let author = <&[u8; 32]>::try_from(frame.payload.as_slice())
                    .ok()
                    .and_then(|key| Author::from_bytes(key).ok())
                    .ok_or_else(|| corrupt(at, "a purge frame without an author key".into()))?;
                m.purged(author, frame.change, at);
                m.next_doc = m.next_doc.max(frame.doc);
                purged.push(author);
            }
            Ok(())
        })?;
        for author in purged {
            let change = m.purges[&author].0;
            for (doc, slot) in m.of_author(&author, change) {
                let old = self.replayed(slot.current.at)?;
                m.remove(doc, &old);
            }
        }
        let last = self.segments.layout().last().map_or(0, |(s, _)| *s);
        let mut progress = (std::time::Instant::now(), from.0);
        self.segments.replay(from, |at, frame| {
            if at.segment != progress.1 && progress.0.elapsed().as_secs() >= 5 {
                tracing::info!(segment = at.segment, of = last, "replaying the record log");
                progress = (std::time::Instant::now(), at.segment);
            }
            if frame.kind == segments::Kind::Purge {
                return Ok(());
            }
            let record = decode(&frame, at)?;
            if m.purges
                .get(&record.author)
                .is_some_and(|(change, _)| frame.change < *change)
            {
                return Ok(());
            }
            let address = address_id(&record.address());
            let held = m.slot(&address);
            let merged = merge(held.as_ref().map(|(_, s)| s), &record);
            let old = match (merged, held) {
                (Merge::Replace | Merge::Win, Some((_, slot))) => {
                    Some(Arrival::of(&self.replayed(slot.current.at)?, slot.current))
                }
                _ => None,
            };
            let doc = held.map_or(frame.doc, |(doc, _)| doc);
            let new = Arrival::of(&record, Version::of(&record, frame.change, at));
            m.take(address, doc, new, merged, old.as_ref());
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

    /// Decides what becomes of `record`, appends it if it is kept, and stages it.
    fn apply(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error> {
        // What finds the record is worked out before the writer's lock is taken.
        let entry = Entry::of(&record);
        let address = address_id(&record.address());
        let mut p = self.writer();
        let held = match p.slots.get(&address) {
            Some(staged) => Some(*staged),
            None => self
                .memory()
                .slot(&address)
                .map(|(doc, slot)| (doc, slot, false, 0)),
        };
        let merged = merge(held.as_ref().map(|(_, s, ..)| s), &record);
        // The version the address keeps: a staged one is read from its frame, written
        // already; one in memory as readers read it.
        let current = |ticket| -> Result<(Outcome, Stored, Ticket), Error> {
            let (doc, slot, staged, _) = held.expect("only a held address can refuse a version");
            // A staged current version whose segment compaction has taken was published
            // first: memory knows where it went.
            let record = match staged
                .then(|| self.record_at(slot.current.at))
                .transpose()?
            {
                Some(Some(record)) => Some(record),
                _ => self.stored(doc)?.map(|s| s.record),
            };
            let record = record.ok_or_else(|| Error::Corrupt {
                key: format!("document {doc}"),
                reason: "its current version vanished under the writer's lock".into(),
            })?;
            let stored = Stored {
                record,
                equivocation: slot.evidence.is_some(),
                change: slot.current.change,
                doc,
            };
            Ok((outcome(merged), stored, ticket))
        };
        if matches!(
            merged,
            Merge::Duplicate | Merge::Stale(_) | Merge::Lose { kept: false }
        ) {
            // Durable once what it was compared with is.
            return current(held.map_or(0, |(.., last)| last));
        }
        let old = match (merged, held) {
            (Merge::Replace | Merge::Win, Some(_)) => {
                let (_, current, _) = current(0)?;
                Some(Arrival::of(
                    &current.record,
                    held.expect("matched").1.current,
                ))
            }
            _ => None,
        };
        let doc = held.map_or(p.next_doc, |(doc, ..)| doc);
        let change = p.change + 1;
        let at = self.segments.append(&Frame::record(change, doc, &record))?;
        p.change = change;
        p.next_doc = p.next_doc.max(doc + 1);
        p.ticket += 1;
        let ticket = p.ticket;
        let v = Version::of(&record, change, at);
        let slot = memory::after(held.map(|(_, s, ..)| s), merged, v);
        let staged_current = match merged {
            Merge::Lose { .. } => held.is_some_and(|(_, _, staged, _)| staged),
            _ => true,
        };
        p.slots.insert(address, (doc, slot, staged_current, ticket));
        p.staged.push_back(Staged {
            ticket,
            address,
            doc,
            new: Arrival {
                facts: memory::Facts::of(&record),
                entry,
                v,
            },
            merged,
            old,
        });
        if let Merge::Lose { .. } = merged {
            return current(ticket);
        }
        let stored = Stored {
            record,
            equivocation: merged == Merge::Win,
            change,
            doc,
        };
        Ok((outcome(merged), stored, ticket))
    }

    fn sync(&self, ticket: Ticket) -> Result<(), Error> {
        let durable = {
            let mut flushed = self
                .flushed
                .lock()
                .expect("a flusher panicked while holding the lock");
            if *flushed < ticket {
                // Everything staged before this is in the flush below: one flush covers
                // every writer that queued on the lock meanwhile.
                let upto = self.writer().ticket;
                self.segments.sync()?;
                *flushed = upto;
            }
            *flushed
        };
        // Whoever comes first moves what is durable into memory, in order; the next flush
        // goes on meanwhile. Once this returns, readers see what `ticket` covers.
        self.publish(&mut self.writer(), durable);
        Ok(())
    }

    /// Moves the versions staged up to `upto`, now durable, into memory.
    fn publish(&self, p: &mut Pending, upto: Ticket) {
        while p.staged.front().is_some_and(|s| s.ticket <= upto) {
            let s = p.staged.pop_front().expect("just looked");
            // One version at a time: readers (and the checks of other writers) get in
            // between, rather than wait for a whole batch.
            self.memory_mut()
                .take(s.address, s.doc, s.new, s.merged, s.old.as_ref());
            if p.slots
                .get(&s.address)
                .is_some_and(|(.., last)| *last <= upto)
            {
                p.slots.remove(&s.address);
            }
        }
    }

    /// Compacts closed segments that are less than half needed. Writers go on meanwhile:
    /// the copies are appended a batch at a time, and a version a writer replaced while it
    /// was being copied keeps its new place.
    fn compact(&self) -> Result<bool, Error> {
        let mut compacted = false;
        for (segment, size) in self.segments.closed() {
            let needed = self.memory().needed.get(&segment).copied().unwrap_or(0);
            if needed * 2 > size {
                continue;
            }
            // Versions staged in it are not counted yet: it waits for them.
            let staged = self.writer().staged.front().map(|s| s.new.v.at.segment);
            if staged.is_some_and(|first| first <= segment) {
                continue;
            }
            let frames = self.memory().frames_in(segment);
            let mut moved = Vec::with_capacity(frames.len());
            for batch in frames.chunks(COPY_BATCH) {
                let mut read = Vec::with_capacity(batch.len());
                for (owner, at) in batch {
                    let frame = self
                        .segments
                        .read(*at)?
                        .ok_or_else(|| corrupt(*at, "a needed frame is missing".into()))?;
                    read.push((*owner, *at, frame));
                }
                let _writer = self.writer();
                for (owner, at, frame) in read {
                    moved.push((owner, at, self.segments.append(&frame)?));
                }
            }
            // The copies are durable before the original goes.
            self.segments.sync()?;
            {
                let mut m = self.memory_mut();
                for (owner, from, to) in moved {
                    if m.relocate(owner, from, to) {
                        m.need(from, false);
                        m.need(to, true);
                    }
                }
                m.needed.remove(&segment);
            }
            self.segments.remove(segment)?;
            compacted = true;
            tracing::info!(
                segment,
                size,
                needed,
                "compacted a segment of the record log"
            );
        }
        Ok(compacted)
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
        self.log.apply(record)
    }

    fn sync(&self, ticket: Ticket) -> Result<(), Error> {
        self.log.sync(ticket)?;
        if let Some((wake, _)) = &self.compactor {
            // Already awake or about to be: either way it looks again.
            let _ = wake.try_send(());
        }
        Ok(())
    }

    fn head(&self, address: &Address) -> Result<Option<Head>, Error> {
        self.log.head(address)
    }

    fn get(&self, address: &Address) -> Result<Option<Stored>, Error> {
        self.log.get(address)
    }

    fn document(&self, doc: u32) -> Result<Option<Stored>, Error> {
        self.log.stored(doc)
    }

    fn purges(&self, since: u64) -> Result<Vec<(u64, Author)>, Error> {
        let mut purges: Vec<(u64, Author)> = self
            .log
            .memory()
            .purges
            .iter()
            .filter(|(_, (change, _))| *change > since)
            .map(|(author, (change, _))| (*change, *author))
            .collect();
        purges.sort();
        Ok(purges)
    }

    fn changes(&self, since: u64, limit: usize) -> Result<Vec<Stored>, Error> {
        self.log.changes(since, limit)
    }

    fn summary(&self) -> Result<Summary, Error> {
        self.log.summary()
    }

    fn confirmation(&self, collaboration: &Record) -> Result<Confirmation, Error> {
        self.log.confirmation(collaboration)
    }

    fn each_item(&self, each: &mut dyn FnMut(u64, &Hash)) -> Result<(), Error> {
        self.log.memory().each_item(each);
        Ok(())
    }

    fn bytes_by_hash(&self, hash: &Hash) -> Result<Option<Vec<u8>>, Error> {
        self.log.bytes_by_hash(hash)
    }

    fn author_count(&self, author: &Author) -> Result<u64, Error> {
        self.log.author_count(author)
    }

    fn purge_author(&self, author: &Author) -> Result<u64, Error> {
        self.log.purge_author(author)
    }

    fn snapshot(&self) -> Result<Snapshot, Error> {
        Ok(self.log.segments.snapshot())
    }
}

/// What readers see: durable versions only.
impl Log {
    fn head(&self, address: &Address) -> Result<Option<Head>, Error> {
        Ok(self
            .memory()
            .slot(&address_id(address))
            .map(|(_, slot)| Head {
                seq: slot.current.seq,
                hash: slot.current.hash,
                equivocation: slot.evidence.is_some(),
            }))
    }

    fn get(&self, address: &Address) -> Result<Option<Stored>, Error> {
        let doc = self.memory().addresses.get(&address_id(address)).copied();
        doc.map_or(Ok(None), |doc| self.stored(doc))
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
        let versions = memory.versions();
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
        let parties = match &collaboration.body {
            Body::Collaboration(c) => c.parties.as_slice(),
            _ => &[],
        };
        let target = collaboration.address().to_string();
        let endorsements = self.memory().index.endorsements(&target);
        let (endorsements, _) = self.read_docs(endorsements.iter(), |_| Ok(true), usize::MAX)?;
        let endorsed_by = endorsements
            .into_iter()
            .filter(|s| {
                matches!(&s.record.body, Body::Endorsement(e)
                    if e.stance == Stance::Confirmed && e.target == target)
            })
            .map(|s| s.record.author)
            .collect();
        let mut listed = Vec::with_capacity(parties.len());
        for p in parties {
            let listing = match p.reference.parse::<Address>() {
                Ok(a) => match self.get(&a)? {
                    Some(party) => match party.record.body {
                        Body::Deleted => Listing::Deleted,
                        Body::Organisation(o) => Listing::Live(Some(o.name)),
                        _ => Listing::Live(None),
                    },
                    None => Listing::Absent,
                },
                Err(_) => Listing::Absent,
            };
            listed.push((p.reference.clone(), listing));
        }
        Ok(confirmation::decide(
            &collaboration.author,
            listed,
            endorsed_by,
        ))
    }

    fn bytes_by_hash(&self, hash: &Hash) -> Result<Option<Vec<u8>>, Error> {
        let picked = self.read_picked(|m| m.version(hash).map(|v| (v.at, ())))?;
        Ok(picked.map(|(_, (), frame)| frame.payload))
    }

    fn author_count(&self, author: &Author) -> Result<u64, Error> {
        Ok(self
            .memory()
            .authors
            .get(author)
            .map_or(0, RoaringBitmap::len))
    }

    /// Forgets everything `author` wrote. Writers wait meanwhile: what they staged is
    /// published first, so that the purge covers it, then the purge is made durable and
    /// applied.
    fn purge_author(&self, author: &Author) -> Result<u64, Error> {
        let mut p = self.writer();
        let upto = p.ticket;
        self.segments.sync()?;
        self.publish(&mut p, upto);
        p.change += 1;
        let change = p.change;
        let doomed = self.memory().of_author(author, u64::MAX);
        let mut olds = Vec::with_capacity(doomed.len());
        for (doc, _) in doomed {
            let old = self.stored(doc)?.ok_or_else(|| Error::Corrupt {
                key: format!("document {doc}"),
                reason: "a current version is gone".into(),
            })?;
            olds.push((doc, old.record));
        }
        // The purge frame carries the next document number: the documents it forgets are
        // not handed out again after a restart.
        let at = self.segments.append(&Frame::new(
            segments::Kind::Purge,
            change,
            p.next_doc,
            author.to_bytes().to_vec(),
        ))?;
        self.segments.sync()?;
        let mut m = self.memory_mut();
        for (doc, old) in &olds {
            m.remove(*doc, old);
        }
        m.purged(*author, change, at);
        Ok(olds.len() as u64)
    }
}

#[cfg(test)]
mod crash;
#[cfg(test)]
mod tests;
