//! The record log: append-only segment files `NNNNNNNN.log`, each a run of frames
//!
//! `length (u32) | kind (u8) | change (u64) | doc (u32) | check (8) | payload`
//!
//! all big-endian, where `length` counts the payload and `check` is the start of the
//! SHA-256 of the seventeen bytes before it followed by the payload's SHA-256: a frame whose
//! head or payload changed does not read. A frame is written once and never changed; a
//! segment is deleted whole, once compaction has copied its live frames to the end of the log.
//!
//! What is durable is written down apart: after each flush of the log, the `seal` file
//! records how far the newest segment was flushed (in one of two slots, by turns, so a
//! torn write of it leaves the other). A segment is flushed whole before the next one is
//! created. So at replay, a frame that does not read is damage if it lies before the seal
//! (it was acknowledged, and the store is not opened rather than lose it), and an
//! interrupted write if it lies after it (never acknowledged: cut off).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest as _, Sha256};

use crate::Error;
use crate::disk::{Disk, DiskFile};

/// Bytes before a frame's payload.
pub(crate) const HEAD: usize = 25;
/// A segment is closed once it holds this much; compaction copies what is live in it.
pub(crate) const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Longest payload a frame may claim: far above any record, far below a reason to allocate.
const MAX_PAYLOAD: u32 = 1024 * 1024;
const SEAL: &str = "seal";
/// Where the seal's two slots start: a sector apart, so one torn write spoils one of them.
const SLOTS: [u64; 2] = [0, 512];
const SEAL_MAGIC: &[u8; 4] = b"MSL1";

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A signed record's bytes.
    Record = 0,
    /// An author's key: forget every version of theirs with a lower change position.
    Purge = 1,
}

/// One frame: the change position and document number given when it was first written
/// (compaction keeps them), and its payload.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub kind: Kind,
    pub change: u64,
    pub doc: u32,
    pub payload: Vec<u8>,
    /// The payload's SHA-256 (a record's hash).
    digest: [u8; 32],
}

impl Frame {
    pub fn new(kind: Kind, change: u64, doc: u32, payload: Vec<u8>) -> Frame {
        let digest = Sha256::digest(&payload).into();
        Frame {
            kind,
            change,
            doc,
            payload,
            digest,
        }
    }

    /// A record's frame: its hash is the SHA-256 of the payload already.
    pub fn record(change: u64, doc: u32, record: &maillage_core::Record) -> Frame {
        Frame {
            kind: Kind::Record,
            change,
            doc,
            payload: record.bytes().to_vec(),
            digest: record.hash().0,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD + self.payload.len());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(&self.change.to_be_bytes());
        out.extend_from_slice(&self.doc.to_be_bytes());
        let check = check(&out, &self.digest);
        out.extend_from_slice(&check);
        out.extend_from_slice(&self.payload);
        out
    }
}

/// The check of a frame whose first seventeen bytes are `head` and whose payload has this
/// SHA-256.
fn check(head: &[u8], digest: &[u8; 32]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    hasher.update(&head[..17]);
    hasher.update(digest);
    let mut out = [0; 8];
    out.copy_from_slice(&hasher.finalize()[..8]);
    out
}

/// Parses a frame head: payload length, kind, change, doc.
fn head(bytes: &[u8; HEAD]) -> Option<(u32, Kind, u64, u32)> {
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let len = u32_at(0);
    let kind = match bytes[4] {
        0 => Kind::Record,
        1 => Kind::Purge,
        _ => return None,
    };
    let mut change = [0; 8];
    change.copy_from_slice(&bytes[5..13]);
    (len <= MAX_PAYLOAD).then_some((len, kind, u64::from_be_bytes(change), u32_at(13)))
}

/// Reads one frame; `None` if what follows is not a whole, intact frame.
fn read_frame(reader: &mut impl Read) -> Result<Option<Frame>, Error> {
    let mut bytes = [0; HEAD];
    match reader.read_exact(&mut bytes) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let Some((len, kind, change, doc)) = head(&bytes) else {
        return Ok(None);
    };
    let mut payload = vec![0; len as usize];
    match reader.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let digest: [u8; 32] = Sha256::digest(&payload).into();
    if check(&bytes, &digest) != bytes[17..] {
        return Ok(None);
    }
    Ok(Some(Frame {
        kind,
        change,
        doc,
        payload,
        digest,
    }))
}

/// Where a frame lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: u32,
    pub offset: u32,
    /// The whole frame, head included.
    pub len: u32,
}

/// How far the log is known to be durable: every segment before `segment`, and `len` bytes
/// of that one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Sealed {
    segment: u32,
    len: u64,
}

/// The seal file and what its newest slot says.
#[derive(Debug)]
struct Seal {
    file: Arc<dyn DiskFile>,
    generation: u64,
    sealed: Sealed,
    /// A slot was written once and no longer reads (a torn write of it, or damage).
    spoilt: bool,
}

impl Seal {
    fn open(disk: &dyn Disk, exists: bool) -> Result<Seal, Error> {
        let file = if exists {
            disk.open(SEAL)?
        } else {
            disk.create(SEAL)?
        };
        let size = file.size()?;
        let mut best = (0, Sealed::default());
        let mut spoilt = false;
        for at in SLOTS {
            let mut slot = [0; 32];
            if size < at + 32 {
                continue;
            }
            file.read_at(&mut slot, at)?;
            let sum: [u8; 32] = Sha256::digest(&slot[..24]).into();
            if &slot[..4] != SEAL_MAGIC || sum[..8] != slot[24..] {
                // The first slot is zeros until the second generation writes it.
                spoilt |= slot != [0; 32];
                continue;
            }
            let generation = u64::from_be_bytes(slot[4..12].try_into().expect("8 bytes"));
            let sealed = Sealed {
                segment: u32::from_be_bytes(slot[12..16].try_into().expect("4 bytes")),
                len: u64::from_be_bytes(slot[16..24].try_into().expect("8 bytes")),
            };
            if generation > best.0 {
                best = (generation, sealed);
            }
        }
        Ok(Seal {
            file,
            generation: best.0,
            sealed: best.1,
            spoilt,
        })
    }

    /// The slot that says the log is durable up to `sealed`, and where it goes.
    fn slot(generation: u64, sealed: Sealed) -> (Vec<u8>, u64) {
        let mut slot = Vec::with_capacity(32);
        slot.extend_from_slice(SEAL_MAGIC);
        slot.extend_from_slice(&generation.to_be_bytes());
        slot.extend_from_slice(&sealed.segment.to_be_bytes());
        slot.extend_from_slice(&sealed.len.to_be_bytes());
        let sum: [u8; 32] = Sha256::digest(&slot).into();
        slot.extend_from_slice(&sum[..8]);
        (slot, SLOTS[(generation % 2) as usize])
    }

    /// Writes down that the log is durable up to `sealed`, durably.
    fn write(&mut self, sealed: Sealed) -> std::io::Result<()> {
        let generation = self.generation + 1;
        let (slot, at) = Seal::slot(generation, sealed);
        self.file.write_at(&slot, at)?;
        self.file.sync()?;
        self.generation = generation;
        self.sealed = sealed;
        Ok(())
    }
}

/// The files of a store folder as it was durable at one moment.
#[derive(Debug)]
pub struct Snapshot {
    pub files: Vec<SnapshotFile>,
}

/// One file of a [`Snapshot`]: its name in the store folder, and `len` bytes to copy.
#[derive(Debug)]
pub struct SnapshotFile {
    pub name: String,
    pub len: u64,
    source: Source,
}

#[derive(Debug)]
enum Source {
    File(Arc<dyn DiskFile>),
    Bytes(Vec<u8>),
}

impl SnapshotFile {
    /// The file's `len` bytes, front to back.
    pub fn reader(&self) -> Box<dyn Read + '_> {
        match &self.source {
            Source::File(file) => Box::new(Chunks {
                file: &**file,
                at: 0,
                size: self.len,
                buf: Vec::new(),
                next: 0,
            }),
            Source::Bytes(bytes) => Box::new(bytes.as_slice()),
        }
    }
}

/// The segment appended to, the segments written since the last flush, and the size of
/// every closed segment.
#[derive(Debug)]
struct Active {
    segment: u32,
    len: u64,
    dirty: BTreeSet<u32>,
    closed: BTreeMap<u32, u64>,
}

#[derive(Debug)]
pub(crate) struct Segments {
    disk: Arc<dyn Disk>,
    segment_bytes: u64,
    files: RwLock<BTreeMap<u32, Arc<dyn DiskFile>>>,
    active: Mutex<Active>,
    /// Held through a whole flush, so that no flush returns before the one covering what
    /// it was asked for.
    seal: Mutex<Seal>,
    /// Set when a flush failed: after that the kernel may have dropped the unflushed pages
    /// and may report the next flush as a success, so nothing is written or acknowledged
    /// until the node restarts and replays what is on disk.
    failed: AtomicBool,
}

fn name(segment: u32) -> String {
    format!("{segment:08}.log")
}

/// Reads a file front to back in large pieces.
struct Chunks<'a> {
    file: &'a dyn DiskFile,
    at: u64,
    size: u64,
    buf: Vec<u8>,
    next: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.next == self.buf.len() {
            let n = (self.size - self.at).min(1 << 20) as usize;
            self.buf.resize(n, 0);
            self.file.read_at(&mut self.buf, self.at)?;
            self.at += n as u64;
            self.next = 0;
        }
        let n = out.len().min(self.buf.len() - self.next);
        out[..n].copy_from_slice(&self.buf[self.next..self.next + n]);
        self.next += n;
        Ok(n)
    }
}

impl Segments {
    fn damaged(&self, segment: u32, offset: u64, why: &str) -> Error {
        Error::Corrupt {
            key: format!("{}@{offset}", self.disk.path(&name(segment))),
            reason: format!(
                "{why}: the file is damaged; restore the store from a backup, or move it away and let the node sync its records back from its peers"
            ),
        }
    }

    pub fn open(disk: Arc<dyn Disk>, segment_bytes: u64) -> Result<Segments, Error> {
        assert!(
            segment_bytes + u64::from(MAX_PAYLOAD) + (HEAD as u64) < u64::from(u32::MAX),
            "frame offsets are u32"
        );
        let names = disk.list()?;
        if let Some(old) = names.iter().find(|n| n.ends_with(".seg")) {
            return Err(Error::Layout(format!(
                "{} was written by an earlier version of maillage, in a format this one does not read; move the store folder away and start the node again: it syncs its records back from its peers",
                disk.path(old)
            )));
        }
        let seal = Seal::open(&*disk, names.iter().any(|n| n == SEAL))?;
        let mut files = BTreeMap::new();
        let mut closed = BTreeMap::new();
        for n in &names {
            if let Some(segment) = n.strip_suffix(".log").and_then(|n| n.parse::<u32>().ok()) {
                let file = disk.open(n)?;
                closed.insert(segment, file.size()?);
                files.insert(segment, file);
            }
        }
        let segment = files.keys().next_back().copied().unwrap_or(1);
        let len = match closed.remove(&segment) {
            Some(len) => len,
            None => {
                files.insert(segment, disk.create(&name(segment))?);
                0
            }
        };
        Ok(Segments {
            disk,
            segment_bytes,
            files: RwLock::new(files),
            active: Mutex::new(Active {
                segment,
                len,
                dirty: BTreeSet::new(),
                closed,
            }),
            seal: Mutex::new(seal),
            failed: AtomicBool::new(false),
        })
    }

    fn files(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Arc<dyn DiskFile>>> {
        self.files
            .read()
            .expect("no one panics while holding the file list")
    }

    fn file(&self, segment: u32) -> Option<Arc<dyn DiskFile>> {
        self.files().get(&segment).cloned()
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Active> {
        self.active.lock().expect("no one panics holding it")
    }

    /// The log as it is: each segment and its size, oldest first.
    pub fn layout(&self) -> Vec<(u32, u64)> {
        let active = self.active();
        let mut layout: Vec<(u32, u64)> = active.closed.iter().map(|(s, n)| (*s, *n)).collect();
        layout.push((active.segment, active.len));
        layout
    }

    /// Calls `each` on every frame from `from` on (a segment and an offset in it), oldest
    /// segment first, and cuts off the end of the newest segment a write that was
    /// interrupted before it was acknowledged.
    pub fn replay(
        &self,
        from: (u32, u64),
        mut each: impl FnMut(Location, Frame) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let files: Vec<(u32, Arc<dyn DiskFile>)> =
            self.files().iter().map(|(s, f)| (*s, f.clone())).collect();
        let last = files.last().map_or(0, |(s, _)| *s);
        let sealed = self.seal.lock().expect("no one panics holding it").sealed;
        if sealed.segment > last {
            let why = format!(
                "segment {} was flushed and acknowledged, but it is missing",
                sealed.segment
            );
            return Err(self.damaged(sealed.segment, 0, &why));
        }
        for (segment, file) in files.into_iter().filter(|(s, _)| *s >= from.0) {
            let size = file.size()?;
            let start = if segment == from.0 { from.1 } else { 0 };
            // How much of this segment was acknowledged: all of it, unless it is the newest.
            let durable = if segment < last {
                size
            } else if segment == sealed.segment {
                sealed.len
            } else {
                0
            };
            if size < durable {
                let why =
                    format!("{durable} bytes were flushed and acknowledged, the file holds {size}");
                return Err(self.damaged(segment, size, &why));
            }
            let mut reader = Chunks {
                file: &*file,
                at: start,
                size,
                buf: vec![],
                next: 0,
            };
            let mut offset = start;
            while offset < size {
                match read_frame(&mut reader)? {
                    Some(frame) => {
                        let len = (HEAD + frame.payload.len()) as u32;
                        let at = Location {
                            segment,
                            offset: offset as u32,
                            len,
                        };
                        offset += u64::from(len);
                        each(at, frame)?;
                    }
                    None if offset >= durable => {
                        let kept = self.keep_cut(segment, &*file, offset, size);
                        if self.seal.lock().expect("no one panics holding it").spoilt {
                            // One power cut tears the seal or the frames after it, not both.
                            tracing::error!(
                                segment,
                                offset,
                                dropped = size - offset,
                                kept,
                                "one of the seal's two slots does not read, and a frame after the other's mark does not either: a power cut in the middle of a flush (then nothing acknowledged is lost), or a failing disk (then acknowledged records may be among the bytes cut off, kept in the file named here); check the disk: the node syncs back from its peers what it lost"
                            );
                        } else {
                            tracing::warn!(
                                segment,
                                offset,
                                dropped = size - offset,
                                kept,
                                "cutting off the end of the record log a write that was interrupted before it was acknowledged"
                            );
                        }
                        file.set_len(offset)?;
                        file.sync()?;
                        self.active().len = offset;
                        break;
                    }
                    None => {
                        let why = "a frame that was flushed and acknowledged does not read";
                        return Err(self.damaged(segment, offset, why));
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies what replay cuts off the end of a segment to a file of its own beside it,
    /// `cut-<segment>-<offset>[-<n>]`, so that nothing is destroyed on a guess. Best effort
    /// (a full disk must not keep the store from opening): says where the bytes went.
    fn keep_cut(&self, segment: u32, file: &dyn DiskFile, offset: u64, size: u64) -> String {
        let base = format!("cut-{segment:08}-{offset}");
        let kept = (|| -> std::io::Result<String> {
            let names = self.disk.list()?;
            for n in 0.. {
                let name = if n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                };
                if names.contains(&name) {
                    // Kept by an earlier start that stopped before its cut, or another cut
                    // at the same place (a partial copy has another length).
                    if self.disk.open(&name)?.size()? == size - offset {
                        return Ok(self.disk.path(&name));
                    }
                    continue;
                }
                let kept = self.disk.create(&name)?;
                let mut reader = Chunks {
                    file,
                    at: offset,
                    size,
                    buf: vec![],
                    next: 0,
                };
                let mut at = 0;
                let mut piece = vec![0; 1 << 20];
                loop {
                    let n = reader.read(&mut piece)?;
                    if n == 0 {
                        break;
                    }
                    kept.write_at(&piece[..n], at)?;
                    at += n as u64;
                }
                kept.sync()?;
                return Ok(self.disk.path(&name));
            }
            unreachable!("names are endless")
        })();
        kept.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot keep the bytes cut off the record log; cutting them anyway");
            format!("nowhere ({e})")
        })
    }

    /// Appends a frame; durable after the next [`Segments::sync`].
    pub fn append(&self, frame: &Frame) -> Result<Location, Error> {
        self.healthy()?;
        let bytes = frame.encode();
        let mut active = self.active();
        if active.len > 0 && active.len + bytes.len() as u64 > self.segment_bytes {
            // A closed segment is durable whole before the next one exists.
            let closed = active.segment;
            self.flush_file(closed)?;
            active.dirty.remove(&closed);
            let next = closed + 1;
            let file = self.disk.create(&name(next))?;
            self.files
                .write()
                .expect("no one panics while holding the file list")
                .insert(next, file);
            let len = active.len;
            active.closed.insert(closed, len);
            active.segment = next;
            active.len = 0;
        }
        let file = self
            .file(active.segment)
            .expect("the active segment is in the file list");
        if let Err(e) = file.write_at(&bytes, active.len) {
            // A write cut short (a full disk) must not leave its part for the next frame's
            // place, nor in a segment flushed whole at rollover.
            if file.set_len(active.len).is_err() {
                self.failed.store(true, Ordering::SeqCst);
            }
            return Err(e.into());
        }
        let at = Location {
            segment: active.segment,
            offset: active.len as u32,
            len: bytes.len() as u32,
        };
        active.len += bytes.len() as u64;
        let segment = active.segment;
        active.dirty.insert(segment);
        Ok(at)
    }

    fn flush_file(&self, segment: u32) -> Result<(), Error> {
        if let Some(file) = self.file(segment)
            && let Err(e) = file.sync()
        {
            return Err(self.fail(segment, e));
        }
        Ok(())
    }

    fn fail(&self, segment: u32, e: std::io::Error) -> Error {
        self.failed.store(true, Ordering::SeqCst);
        tracing::error!(error = %e, segment, "the disk refused to flush the record log");
        Error::Flush(e.to_string())
    }

    /// Makes every frame appended so far durable, and writes down how far that is.
    pub fn sync(&self) -> Result<(), Error> {
        let mut seal = self.seal.lock().expect("no one panics holding it");
        let (dirty, upto) = {
            let mut active = self.active();
            let upto = Sealed {
                segment: active.segment,
                len: active.len,
            };
            (std::mem::take(&mut active.dirty), upto)
        };
        self.healthy()?;
        for segment in dirty {
            self.flush_file(segment)?;
        }
        if seal.sealed < upto {
            seal.write(upto).map_err(|e| self.fail(upto.segment, e))?;
        }
        Ok(())
    }

    fn healthy(&self) -> Result<(), Error> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(Error::Flush(
                "an earlier flush of the record log failed, so what was written since is not known to be on disk; stop the node, check the disk, and start it again: it replays what is there".into(),
            ));
        }
        Ok(())
    }

    /// The frame at `at`, or `None` if its segment was compacted away meanwhile.
    pub fn read(&self, at: Location) -> Result<Option<Frame>, Error> {
        let Some(file) = self.file(at.segment) else {
            return Ok(None);
        };
        let mut bytes = vec![0; at.len as usize];
        file.read_at(&mut bytes, u64::from(at.offset))?;
        match read_frame(&mut bytes.as_slice())? {
            Some(frame) => Ok(Some(frame)),
            None => Err(self.damaged(
                at.segment,
                u64::from(at.offset),
                "a frame the store refers to does not read back",
            )),
        }
    }

    /// The log as it is durable now, for a copy made while writers go on: every segment up
    /// to the sealed one, that one cut where the seal says, and a seal saying so. A file
    /// compaction deletes meanwhile stays readable through the handle taken here (as an
    /// unlinked file does while open).
    pub fn snapshot(&self) -> Snapshot {
        // Under the seal's lock no flush is half done: `sealed` is the durable end.
        let seal = self.seal.lock().expect("no one panics holding it");
        let sealed = seal.sealed;
        let files: Vec<(u32, Arc<dyn DiskFile>)> = self
            .files()
            .range(..=sealed.segment)
            .map(|(segment, file)| (*segment, file.clone()))
            .collect();
        let closed = self.active().closed.clone();
        drop(seal);
        let mut files: Vec<SnapshotFile> = files
            .into_iter()
            .filter_map(|(segment, file)| {
                // A closed segment was flushed whole before the next one was created; one
                // no longer listed was compacted, its frames copied into the sealed part.
                let len = if segment == sealed.segment {
                    sealed.len
                } else {
                    *closed.get(&segment)?
                };
                Some(SnapshotFile {
                    name: name(segment),
                    len,
                    source: Source::File(file),
                })
            })
            .collect();
        let (slot, at) = Seal::slot(1, sealed);
        let mut bytes = vec![0; at as usize];
        bytes.extend_from_slice(&slot);
        files.push(SnapshotFile {
            name: SEAL.into(),
            len: bytes.len() as u64,
            source: Source::Bytes(bytes),
        });
        Snapshot { files }
    }

    /// Closed segments and their sizes.
    pub fn closed(&self) -> Vec<(u32, u64)> {
        self.active()
            .closed
            .iter()
            .map(|(s, len)| (*s, *len))
            .collect()
    }

    /// Deletes a closed segment whose live frames were copied and synced elsewhere. If the
    /// disk refuses, the segment stays listed, and the next compaction tries again.
    pub fn remove(&self, segment: u32) -> Result<(), Error> {
        self.disk.remove(&name(segment))?;
        self.files
            .write()
            .expect("no one panics while holding the file list")
            .remove(&segment);
        self.active().closed.remove(&segment);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::Folder;
    use std::path::Path;

    fn frame(n: u8) -> Frame {
        Frame::new(
            Kind::Record,
            u64::from(n),
            u32::from(n),
            vec![n; 100 + usize::from(n)],
        )
    }

    fn open(dir: &Path, segment_bytes: u64) -> Segments {
        Segments::open(
            Arc::new(Folder::open(dir).expect("a folder")),
            segment_bytes,
        )
        .expect("opens")
    }

    fn replayed(segments: &Segments) -> Result<Vec<(Location, Frame)>, Error> {
        let mut out = vec![];
        segments.replay((0, 0), |at, f| {
            out.push((at, f));
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes `n` frames, flushed, then `unflushed` more.
    fn written(dir: &Path, n: u8, unflushed: u8) -> Vec<Location> {
        let segments = open(dir, SEGMENT_BYTES);
        let mut at: Vec<Location> = (1..=n)
            .map(|n| segments.append(&frame(n)).expect("appends"))
            .collect();
        segments.sync().expect("syncs");
        at.extend((n + 1..=n + unflushed).map(|n| segments.append(&frame(n)).expect("appends")));
        at
    }

    fn edit(path: &Path, change: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = std::fs::read(path).expect("reads");
        change(&mut bytes);
        std::fs::write(path, &bytes).expect("writes");
    }

    #[test]
    fn frames_read_back_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let at = written(dir.path(), 3, 0);
        let segments = open(dir.path(), SEGMENT_BYTES);
        assert_eq!(
            segments.read(at[1]).expect("reads").map(|f| f.payload),
            Some(frame(2).payload)
        );
        let frames = replayed(&segments).expect("replays");
        assert_eq!(frames.iter().map(|(l, _)| *l).collect::<Vec<_>>(), at);
        assert_eq!(frames[2].1.change, 3);
        // Appends go on after what is there.
        let next = segments.append(&frame(4)).expect("appends");
        assert_eq!(
            u64::from(next.offset),
            u64::from(at[2].offset) + u64::from(at[2].len)
        );
    }

    #[test]
    fn an_unacknowledged_write_cut_short_is_cut_off() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let at = written(dir.path(), 3, 2);
        // The last frame cut in the middle, as by a power cut during the write.
        edit(&dir.path().join(name(1)), |b| b.truncate(b.len() - 10));
        let torn = std::fs::read(dir.path().join(name(1))).expect("reads");
        let segments = open(dir.path(), SEGMENT_BYTES);
        assert_eq!(replayed(&segments).expect("replays").len(), 4);
        // What was cut off is kept beside the log.
        let cut = format!("cut-00000001-{}", at[4].offset);
        assert_eq!(
            std::fs::read(dir.path().join(cut)).expect("the cut is kept"),
            torn[at[4].offset as usize..]
        );
        let after = segments.append(&frame(9)).expect("appends");
        assert_eq!(after.offset, at[4].offset);
        segments.sync().expect("syncs");
        drop(segments);
        assert_eq!(
            replayed(&open(dir.path(), SEGMENT_BYTES))
                .expect("replays")
                .len(),
            5
        );
    }

    #[test]
    fn an_acknowledged_frame_that_does_not_read_is_damage_not_a_cut() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let at = written(dir.path(), 20, 0);
        let path = dir.path().join(name(1));
        let whole = std::fs::read(&path).expect("reads");
        // One bit of a payload, one of a head (the document number): both are caught.
        for offset in [at[9].offset as usize + HEAD + 7, at[9].offset as usize + 14] {
            let mut bytes = whole.clone();
            bytes[offset] ^= 4;
            std::fs::write(&path, &bytes).expect("writes");
            let err = replayed(&open(dir.path(), SEGMENT_BYTES)).expect_err("damage");
            assert!(err.to_string().contains("does not read"), "{err}");
            assert!(err.to_string().contains("restore"), "{err}");
            assert_eq!(
                std::fs::read(&path).expect("reads"),
                bytes,
                "nothing is cut"
            );
        }
        // Cut short below what was acknowledged: damage too.
        std::fs::write(&path, &whole[..whole.len() - 1]).expect("writes");
        let err = replayed(&open(dir.path(), SEGMENT_BYTES)).expect_err("damage");
        assert!(err.to_string().contains("acknowledged"), "{err}");
    }

    #[test]
    fn a_closed_segment_is_flushed_before_the_next_and_read_strictly() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        {
            let segments = open(dir.path(), 200);
            for n in 1..=4 {
                segments.append(&frame(n)).expect("appends");
            }
            assert_eq!(segments.closed().len(), 3);
        }
        // Not one flush was asked for: the closed segments were flushed as they closed,
        // and the newest is not acknowledged at all.
        edit(&dir.path().join(name(1)), |b| b[HEAD + 3] ^= 1);
        let err = replayed(&open(dir.path(), 200)).expect_err("damage");
        assert!(err.to_string().contains(&name(1)), "{err}");
    }

    #[test]
    fn the_seal_survives_a_torn_write_of_itself() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        written(dir.path(), 3, 0);
        {
            let segments = open(dir.path(), SEGMENT_BYTES);
            segments.append(&frame(4)).expect("appends");
            segments.sync().expect("syncs");
        }
        // The newer slot spoilt: the older one says three frames were acknowledged, so the
        // fourth is kept as it reads, and nothing is damage.
        let generation =
            |b: &[u8], at: usize| u64::from_be_bytes(b[at + 4..at + 12].try_into().unwrap());
        edit(&dir.path().join(SEAL), |b| {
            let newer = if generation(b, 0) > generation(b, 512) {
                0
            } else {
                512
            };
            b[newer + 20] ^= 1;
        });
        assert_eq!(
            replayed(&open(dir.path(), SEGMENT_BYTES))
                .expect("replays")
                .len(),
            4
        );
    }

    #[test]
    fn a_spoilt_seal_and_a_flipped_bit_after_the_older_mark_keep_what_is_cut() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let at = written(dir.path(), 3, 0);
        let fourth = {
            let segments = open(dir.path(), SEGMENT_BYTES);
            let fourth = segments.append(&frame(4)).expect("appends");
            segments.sync().expect("syncs");
            fourth
        };
        // Two faults at once: the newer slot spoilt, and one bit of the fourth frame, which
        // only that slot said was acknowledged. Replay cannot tell this from a power cut, so
        // it cuts, with an error, and keeps the bytes.
        edit(&dir.path().join(SEAL), |b| {
            let newer = if b[4..12] > b[516..524] { 0 } else { 512 };
            b[newer + 20] ^= 1;
        });
        let whole = std::fs::read(dir.path().join(name(1))).expect("reads");
        edit(&dir.path().join(name(1)), |b| {
            b[fourth.offset as usize + HEAD + 3] ^= 8;
        });
        let segments = open(dir.path(), SEGMENT_BYTES);
        assert!(segments.seal.lock().expect("not poisoned").spoilt);
        assert_eq!(replayed(&segments).expect("replays").len(), at.len());
        let kept = std::fs::read(dir.path().join(format!("cut-00000001-{}", fourth.offset)))
            .expect("the cut is kept");
        assert_eq!(kept.len(), whole.len() - fourth.offset as usize);
    }

    #[test]
    fn a_second_process_is_refused_the_folder() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let _first = Folder::open(dir.path()).expect("a folder");
        let err = Folder::open(dir.path()).expect_err("locked");
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
        assert!(err.to_string().contains("in use"), "{err}");
    }
}
