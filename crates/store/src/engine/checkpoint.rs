//! A checkpoint of [`Memory`]: what replaying the log up to a point gives, written down so
//! that a start replays only what came after it. No I/O: the engine writes and reads the
//! bytes.
//!
//! `MCK1`, the log it covers (each segment and its size then), the counters, each held
//! document's number and current version, the evidence, the addresses, each author's documents, the purges and the
//! endorsements; then the SHA-256 of all of it. Integers are big-endian. What lookups derive
//! from these (versions by hash, the change log, the bytes needed of each segment) is rebuilt
//! on load.
//!
//! A checkpoint holds while the log still has every segment it covers, at least as long as
//! it was; compaction deletes segments, so the engine writes a new one after it.

use std::collections::HashMap;

use maillage_core::{Author, Hash};
use roaring::RoaringBitmap;
use sha2::{Digest as _, Sha256};

use super::memory::{Memory, Version};
use crate::segments::Location;

const MAGIC: &[u8; 4] = b"MCK1";

/// Each segment of the log and its size, oldest first.
pub(super) type Layout = Vec<(u32, u64)>;

/// Bytes gathered before they are handed on.
const CHUNK: usize = 1 << 20;

/// Writes a checkpoint a chunk at a time, hashing as it goes: its memory stays one chunk
/// however large memory is.
struct Writer<'a> {
    buf: Vec<u8>,
    hasher: Sha256,
    sink: &'a mut dyn FnMut(&[u8]) -> std::io::Result<()>,
}

impl Writer<'_> {
    fn spill(&mut self) -> std::io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.hasher.update(&self.buf);
            (self.sink)(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
    fn finish(mut self) -> std::io::Result<()> {
        self.hasher.update(&self.buf);
        let digest = self.hasher.finalize();
        self.buf.extend_from_slice(&digest);
        (self.sink)(&self.buf)
    }
    fn put(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn u32(&mut self, n: u32) {
        self.put(&n.to_be_bytes());
    }
    fn u64(&mut self, n: u64) {
        self.put(&n.to_be_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("fewer than 2^32 of anything in memory"));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.put(b);
    }
    fn location(&mut self, at: Location) {
        self.u32(at.segment);
        self.u32(at.offset);
        self.u32(at.len);
    }
    fn version(&mut self, v: &Version) {
        self.u64(v.seq);
        self.u64(v.time);
        self.put(&v.hash.0);
        self.u64(v.change);
        self.location(v.at);
    }
    fn bitmap(&mut self, docs: &RoaringBitmap) {
        let mut bytes = Vec::with_capacity(docs.serialized_size());
        docs.serialize_into(&mut bytes)
            .expect("writing to a vector does not fail");
        self.bytes(&bytes);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("it ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize, String> {
        Ok(self.u32()? as usize)
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }
    fn location(&mut self) -> Result<Location, String> {
        Ok(Location {
            segment: self.u32()?,
            offset: self.u32()?,
            len: self.u32()?,
        })
    }
    fn version(&mut self) -> Result<Version, String> {
        Ok(Version {
            seq: self.u64()?,
            time: self.u64()?,
            hash: Hash(self.array()?),
            change: self.u64()?,
            at: self.location()?,
        })
    }
    fn author(&mut self) -> Result<Author, String> {
        Author::from_bytes(&self.array()?).map_err(|e| format!("an author key: {e}"))
    }
    fn bitmap(&mut self) -> Result<RoaringBitmap, String> {
        RoaringBitmap::deserialize_from(self.bytes()?).map_err(|e| format!("a bitmap: {e}"))
    }
}

/// Writes a checkpoint of `m`, which covers the log as `layout` says, to `sink`, a chunk
/// at a time.
pub(super) fn encode(
    m: &Memory,
    layout: &[(u32, u64)],
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut w = Writer {
        buf: Vec::with_capacity(CHUNK + 4096),
        hasher: Sha256::new(),
        sink,
    };
    w.put(MAGIC);
    w.len(layout.len());
    for (segment, size) in layout {
        w.u32(*segment);
        w.u64(*size);
    }
    w.u64(m.change);
    w.u32(m.next_doc);
    for n in m.live {
        w.u64(n);
    }
    w.put(&m.sum);
    w.len(m.docs.iter().count());
    for (doc, v) in m.docs.iter() {
        w.u32(doc);
        w.version(v);
        w.spill()?;
    }
    w.len(m.evidence.len());
    for (doc, v) in &m.evidence {
        w.u32(*doc);
        w.version(v);
        w.spill()?;
    }
    w.len(m.addresses.len());
    for (address, doc) in &m.addresses {
        w.put(address);
        w.u32(*doc);
        w.spill()?;
    }
    w.len(m.authors.len());
    for (author, docs) in &m.authors {
        w.put(&author.to_bytes());
        w.bitmap(docs);
        w.spill()?;
    }
    w.len(m.purges.len());
    for (author, (change, at)) in &m.purges {
        w.put(&author.to_bytes());
        w.u64(*change);
        w.location(*at);
        w.spill()?;
    }
    let targets: Vec<_> = m.index.targets().collect();
    w.len(targets.len());
    for (target, docs) in targets {
        w.bytes(target.as_bytes());
        w.bitmap(docs);
        w.spill()?;
    }
    w.finish()
}

/// The memory a checkpoint holds and the log it covers, or why it does not read.
pub(super) fn decode(bytes: &[u8]) -> Result<(Memory, Layout), String> {
    let body = bytes
        .len()
        .checked_sub(32)
        .map(|n| &bytes[..n])
        .ok_or("it is too short")?;
    if Sha256::digest(body)[..] != bytes[body.len()..] {
        return Err("its checksum does not match: it was cut short or damaged".into());
    }
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return Err("it is not a checkpoint of this version".into());
    }
    let layout = (0..r.len()?)
        .map(|_| Ok((r.u32()?, r.u64()?)))
        .collect::<Result<Layout, String>>()?;
    let mut m = Memory {
        change: r.u64()?,
        next_doc: r.u32()?,
        live: [r.u64()?, r.u64()?, r.u64()?],
        sum: r.array()?,
        ..Memory::default()
    };
    let docs = r.len()?;
    for _ in 0..docs {
        let doc = r.u32()?;
        if doc >= m.next_doc {
            return Err(format!(
                "document {doc} is past the next number, {}",
                m.next_doc
            ));
        }
        m.docs.set(doc, Some(r.version()?));
    }
    for _ in 0..r.len()? {
        let doc = r.u32()?;
        m.evidence.insert(doc, r.version()?);
    }
    let addresses = r.len()?;
    m.addresses.reserve(addresses);
    for _ in 0..addresses {
        let address = r.array()?;
        m.addresses.insert(address, r.u32()?);
    }
    for _ in 0..r.len()? {
        let author = r.author()?;
        m.authors.insert(author, r.bitmap()?);
    }
    for _ in 0..r.len()? {
        let author = r.author()?;
        m.purges.insert(author, (r.u64()?, r.location()?));
    }
    for _ in 0..r.len()? {
        let target = std::str::from_utf8(r.bytes()?)
            .map_err(|_| "an endorsed address that is not UTF-8")?
            .into();
        let docs = r.bitmap()?;
        m.index.set_target(target, docs);
    }
    if !r.0.is_empty() {
        return Err("bytes follow its end".into());
    }
    // What lookups derive.
    let mut needed: HashMap<u32, u64> = HashMap::new();
    m.by_hash.reserve(docs + m.evidence.len());
    for (doc, v) in m.docs.iter() {
        m.by_hash.insert(v.hash, doc);
        m.changes.insert(v.change, doc);
        *needed.entry(v.at.segment).or_default() += u64::from(v.at.len);
    }
    for (doc, v) in &m.evidence {
        m.by_hash.insert(v.hash, *doc);
        *needed.entry(v.at.segment).or_default() += u64::from(v.at.len);
    }
    for (_, at) in m.purges.values() {
        *needed.entry(at.segment).or_default() += u64::from(at.len);
    }
    m.needed = needed;
    Ok((m, layout))
}

/// Where replay starts on the log as it is now (`now`, as [`Layout`]) after a checkpoint
/// that covers `covered`; or why the checkpoint no longer holds.
pub(super) fn resume(covered: &[(u32, u64)], now: &[(u32, u64)]) -> Result<(u32, u64), String> {
    let now: HashMap<u32, u64> = now.iter().copied().collect();
    let (last, _) = *covered.last().ok_or("it covers no segment")?;
    for (i, (segment, size)) in covered.iter().enumerate() {
        let open = i + 1 == covered.len();
        match now.get(segment) {
            None => return Err(format!("segment {segment} it covers was compacted since")),
            Some(n) if *n < *size || (!open && n != size) => {
                return Err(format!(
                    "segment {segment} holds {n} bytes, {size} when it was written"
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(stranger) = now
        .keys()
        .find(|s| **s < last && !covered.iter().any(|(c, _)| c == *s))
    {
        return Err(format!("segment {stranger} is older and was not covered"));
    }
    Ok((last, covered.last().expect("checked above").1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_holds_until_a_segment_it_covers_changes() {
        let covered = [(1, 100), (2, 50)];
        assert_eq!(resume(&covered, &[(1, 100), (2, 50)]), Ok((2, 50)));
        assert_eq!(resume(&covered, &[(1, 100), (2, 80), (3, 10)]), Ok((2, 50)));
        let stale = [
            (&[(2, 50)][..], "segment 1 it covers was compacted since"),
            (&[(1, 90), (2, 50)][..], "segment 1 holds 90 bytes, 100"),
            (&[(1, 100), (2, 40)][..], "segment 2 holds 40 bytes, 50"),
            (&[(0, 5), (1, 100), (2, 50)][..], "segment 0 is older"),
        ];
        for (now, why) in stale {
            let e = resume(&covered, now).unwrap_err();
            assert!(e.starts_with(why), "{now:?}: {e}");
        }
    }

    #[test]
    fn damage_anywhere_is_found() {
        let mut bytes = vec![];
        encode(&Memory::default(), &[(1, 0)], &mut |b| {
            bytes.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert!(decode(&bytes).is_ok());
        for i in [0, 4, bytes.len() / 2, bytes.len() - 1] {
            let mut spoilt = bytes.clone();
            spoilt[i] ^= 1;
            let e = decode(&spoilt).map(|_| ()).unwrap_err();
            assert!(e.contains("checksum"), "{i}: {e}");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[]).is_err());
    }
}
