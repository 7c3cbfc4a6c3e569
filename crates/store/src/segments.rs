//! The record log: append-only segment files `<dir>/NNNNNNNN.seg`, each a run of frames
//!
//! `length (u32) | kind (u8) | check (8) | change (u64) | doc (u32) | payload`
//!
//! all big-endian, where `length` counts the payload and `check` is the start of the
//! payload's SHA-256. A frame is written once and never changed; a segment is deleted whole,
//! once compaction has copied its live frames to the end of the log. A crash can only cut the
//! last frames of the last segment, which were never acknowledged: [`Segments::replay`]
//! drops them. A bad frame anywhere else is damage, and is reported rather than skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, ErrorKind};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest as _, Sha256};

use crate::Error;

/// Bytes before a frame's payload.
pub(crate) const HEAD: usize = 25;
/// A segment is closed once it holds this much; compaction copies what is live in it.
pub(crate) const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Longest payload a frame may claim: far above any record, far below a reason to allocate.
const MAX_PAYLOAD: u32 = 1024 * 1024;

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
    check: [u8; 8],
}

impl Frame {
    pub fn new(kind: Kind, change: u64, doc: u32, payload: Vec<u8>) -> Frame {
        let check = check(&payload);
        Frame {
            kind,
            change,
            doc,
            payload,
            check,
        }
    }

    /// A record's frame: its hash is the SHA-256 of the payload already.
    pub fn record(change: u64, doc: u32, record: &maillage_core::Record) -> Frame {
        let mut check = [0; 8];
        check.copy_from_slice(&record.hash().0[..8]);
        Frame {
            kind: Kind::Record,
            change,
            doc,
            payload: record.bytes().to_vec(),
            check,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEAD + self.payload.len());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(&self.check);
        out.extend_from_slice(&self.change.to_be_bytes());
        out.extend_from_slice(&self.doc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }
}

fn check(payload: &[u8]) -> [u8; 8] {
    let digest = Sha256::digest(payload);
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// Parses a frame head: payload length, kind, check, change, doc.
fn head(bytes: &[u8; HEAD]) -> Option<(u32, Kind, [u8; 8], u64, u32)> {
    let u32_at =
        |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let len = u32_at(0);
    let kind = match bytes[4] {
        0 => Kind::Record,
        1 => Kind::Purge,
        _ => return None,
    };
    let mut sum = [0; 8];
    sum.copy_from_slice(&bytes[5..13]);
    let mut change = [0; 8];
    change.copy_from_slice(&bytes[13..21]);
    (len <= MAX_PAYLOAD).then_some((len, kind, sum, u64::from_be_bytes(change), u32_at(21)))
}

/// Where a frame lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pub segment: u32,
    pub offset: u32,
    /// The whole frame, head included.
    pub len: u32,
}

/// The segment appended to, and the segments written since the last sync.
#[derive(Debug)]
struct Active {
    segment: u32,
    len: u64,
    dirty: BTreeSet<u32>,
}

#[derive(Debug)]
pub(crate) struct Segments {
    dir: PathBuf,
    segment_bytes: u64,
    files: RwLock<BTreeMap<u32, Arc<File>>>,
    active: Mutex<Active>,
    /// Set when a flush failed: after that the kernel may have dropped the unflushed pages
    /// and may report the next flush as a success, so nothing is written or acknowledged
    /// until the node restarts and replays what is on disk.
    failed: AtomicBool,
}

fn name(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:08}.seg"))
}

fn damaged(dir: &Path, segment: u32, offset: u64, why: &str) -> Error {
    Error::Corrupt {
        key: format!("{}@{offset}", name(dir, segment).display()),
        reason: format!(
            "{why}: the file is damaged (an interrupted write only ever cuts the end of the newest segment); restore the store from a backup, or move it away and let the node sync its records back from its peers"
        ),
    }
}

impl Segments {
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Segments, Error> {
        std::fs::create_dir_all(dir)?;
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let number = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u32>().ok());
            if let Some(segment) = number {
                let file = OpenOptions::new().read(true).write(true).open(&path)?;
                files.insert(segment, Arc::new(file));
            }
        }
        let segment = files.keys().next_back().copied().unwrap_or(1);
        let len = match files.get(&segment) {
            Some(file) => file.metadata()?.len(),
            None => {
                files.insert(segment, Arc::new(create(dir, segment)?));
                0
            }
        };
        Ok(Segments {
            dir: dir.to_owned(),
            segment_bytes,
            files: RwLock::new(files),
            active: Mutex::new(Active {
                segment,
                len,
                dirty: BTreeSet::new(),
            }),
            failed: AtomicBool::new(false),
        })
    }

    fn files(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u32, Arc<File>>> {
        self.files
            .read()
            .expect("no one panics while holding the file list")
    }

    fn file(&self, segment: u32) -> Option<Arc<File>> {
        self.files().get(&segment).cloned()
    }

    /// Calls `each` on every frame, oldest segment first, and cuts an interrupted write off
    /// the end of the last segment.
    pub fn replay(
        &self,
        mut each: impl FnMut(Location, Frame) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let files: Vec<(u32, Arc<File>)> =
            self.files().iter().map(|(s, f)| (*s, f.clone())).collect();
        let last = files.last().map(|(s, _)| *s);
        for (segment, file) in files {
            let size = file.metadata()?.len();
            let mut reader = BufReader::with_capacity(1 << 20, &*file);
            let mut offset = 0u64;
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
                    None if Some(segment) == last => {
                        tracing::warn!(
                            segment,
                            offset,
                            dropped = size - offset,
                            "cutting an interrupted write off the end of the record log"
                        );
                        file.set_len(offset)?;
                        file.sync_all()?;
                        self.active.lock().expect("no one panics holding it").len = offset;
                        break;
                    }
                    None => {
                        let why = "an unreadable frame in a segment that is not the newest";
                        return Err(damaged(&self.dir, segment, offset, why));
                    }
                }
            }
        }
        Ok(())
    }

    /// Appends a frame; durable after the next [`Segments::sync`].
    pub fn append(&self, frame: &Frame) -> Result<Location, Error> {
        self.healthy()?;
        let bytes = frame.encode();
        let mut active = self.active.lock().expect("no one panics holding it");
        if active.len > 0 && active.len + bytes.len() as u64 > self.segment_bytes {
            let next = active.segment + 1;
            let file = Arc::new(create(&self.dir, next)?);
            self.files
                .write()
                .expect("no one panics while holding the file list")
                .insert(next, file);
            let closed = active.segment;
            active.dirty.insert(closed);
            active.segment = next;
            active.len = 0;
        }
        let file = self
            .file(active.segment)
            .expect("the active segment is in the file list");
        file.write_all_at(&bytes, active.len)?;
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

    /// Makes every frame appended so far durable.
    pub fn sync(&self) -> Result<(), Error> {
        let dirty =
            std::mem::take(&mut self.active.lock().expect("no one panics holding it").dirty);
        self.healthy()?;
        for segment in dirty {
            if let Some(file) = self.file(segment)
                && let Err(e) = file.sync_data()
            {
                self.failed.store(true, Ordering::SeqCst);
                tracing::error!(error = %e, segment, "the disk refused to flush the record log");
                return Err(Error::Flush(e.to_string()));
            }
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
        file.read_exact_at(&mut bytes, u64::from(at.offset))?;
        match read_frame(&mut bytes.as_slice())? {
            Some(frame) => Ok(Some(frame)),
            None => Err(damaged(
                &self.dir,
                at.segment,
                u64::from(at.offset),
                "a frame the store refers to does not read back",
            )),
        }
    }

    /// Closed segments and their sizes.
    pub fn closed(&self) -> Result<Vec<(u32, u64)>, Error> {
        let active = self
            .active
            .lock()
            .expect("no one panics holding it")
            .segment;
        let mut out = Vec::new();
        for (segment, file) in self.files().iter() {
            if *segment != active {
                out.push((*segment, file.metadata()?.len()));
            }
        }
        Ok(out)
    }

    /// Deletes a segment whose live frames were copied and synced elsewhere.
    pub fn remove(&self, segment: u32) -> Result<(), Error> {
        self.files
            .write()
            .expect("no one panics while holding the file list")
            .remove(&segment);
        std::fs::remove_file(name(&self.dir, segment))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

fn create(dir: &Path, segment: u32) -> Result<File, Error> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(name(dir, segment))?;
    // The new name must survive a crash as well as what is written under it.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

/// Reads one frame; `None` if what follows is not a whole, intact frame.
fn read_frame(reader: &mut impl std::io::Read) -> Result<Option<Frame>, Error> {
    let mut bytes = [0; HEAD];
    match reader.read_exact(&mut bytes) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let Some((len, kind, sum, change, doc)) = head(&bytes) else {
        return Ok(None);
    };
    let mut payload = vec![0; len as usize];
    match reader.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    if check(&payload) != sum {
        return Ok(None);
    }
    Ok(Some(Frame {
        kind,
        change,
        doc,
        payload,
        check: sum,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Frame {
        Frame::new(
            Kind::Record,
            u64::from(n),
            u32::from(n),
            vec![n; 100 + usize::from(n)],
        )
    }

    fn replayed(segments: &Segments) -> Vec<(Location, Frame)> {
        let mut out = vec![];
        segments
            .replay(|at, f| {
                out.push((at, f));
                Ok(())
            })
            .expect("replays");
        out
    }

    #[test]
    fn frames_read_back_and_survive_reopening() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let at = {
            let segments = Segments::open(dir.path(), SEGMENT_BYTES).expect("opens");
            let at: Vec<Location> = (1..=3)
                .map(|n| segments.append(&frame(n)).expect("appends"))
                .collect();
            segments.sync().expect("syncs");
            assert_eq!(
                segments.read(at[1]).expect("reads").map(|f| f.payload),
                Some(frame(2).payload)
            );
            at
        };
        let segments = Segments::open(dir.path(), SEGMENT_BYTES).expect("opens again");
        let frames = replayed(&segments);
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
    fn an_interrupted_write_is_cut_off_and_damage_is_reported() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = name(dir.path(), 1);
        {
            let segments = Segments::open(dir.path(), SEGMENT_BYTES).expect("opens");
            for n in 1..=3 {
                segments.append(&frame(n)).expect("appends");
            }
            segments.sync().expect("syncs");
        }
        let whole = std::fs::read(&path).expect("reads");
        // The last frame cut in the middle, as by a crash during the write.
        std::fs::write(&path, &whole[..whole.len() - 10]).expect("writes");
        let segments = Segments::open(dir.path(), SEGMENT_BYTES).expect("opens");
        assert_eq!(replayed(&segments).len(), 2);
        let after = segments.append(&frame(9)).expect("appends");
        drop(segments);
        assert_eq!(
            replayed(&Segments::open(dir.path(), SEGMENT_BYTES).expect("opens")).len(),
            3
        );
        assert_eq!(after.segment, 1);

        // One byte changed in the first frame of a segment that is not the last: damage.
        let mut bytes = std::fs::read(&path).expect("reads");
        bytes[HEAD + 5] ^= 1;
        std::fs::write(&path, &bytes).expect("writes");
        create(dir.path(), 2).expect("a second segment");
        let err = Segments::open(dir.path(), SEGMENT_BYTES)
            .expect("opens")
            .replay(|_, _| Ok(()))
            .expect_err("damage is reported");
        assert!(err.to_string().contains("damage"), "{err}");
    }
}
