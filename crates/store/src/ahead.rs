//! Records from ahead of this node's clock, and what they say of it. No I/O, no clock of
//! its own: the time is passed in.
//!
//! A signed record more than [`crate::ingest::MAX_FUTURE_MS`] ahead is not stored yet, but
//! it is not lost either: up to a day ahead, it is held ([`Held`]) and taken in when its
//! time comes, and reconciliation counts it as held, so that peers do not send it again
//! every round. Fresh gossip says how far this node's clock is off ([`ClockWatch`]): the
//! median of what the last records from peers claim.

use std::collections::{BTreeMap, HashMap, VecDeque};

use maillage_core::{Author, Hash};

use crate::ingest::{MAX_FUTURE_MS, Source};

/// Farthest ahead a record is held; farther, it is refused.
pub const MAX_HOLD_MS: u64 = 24 * 3600 * 1000;
/// Records held at most, and their bytes.
pub const MAX_HELD: usize = 10_000;
pub const MAX_HELD_BYTES: usize = 64 * 1024 * 1024;
/// Records one author may have held: one key signing ahead cannot take all the room.
pub const MAX_HELD_PER_AUTHOR: usize = 500;

/// Verified records waiting for their time, by `(time, hash)`.
#[derive(Debug, Default)]
pub struct Held {
    records: BTreeMap<(u64, Hash), (Vec<u8>, Source, Author)>,
    bytes: usize,
    per_author: HashMap<Author, usize>,
    /// Changes whenever what is held changes.
    pub generation: u64,
}

impl Held {
    /// Holds a record whose `time` is ahead of `now`; false if it is too far ahead or there
    /// is no room, in all or for its author.
    pub fn hold(
        &mut self,
        time: u64,
        hash: Hash,
        author: Author,
        bytes: Vec<u8>,
        source: Source,
        now: u64,
    ) -> bool {
        if time.saturating_sub(now) > MAX_HOLD_MS {
            return false;
        }
        if self.records.contains_key(&(time, hash)) {
            return true;
        }
        let of_author = self.per_author.get(&author).copied().unwrap_or(0);
        if self.records.len() >= MAX_HELD
            || self.bytes + bytes.len() > MAX_HELD_BYTES
            || of_author >= MAX_HELD_PER_AUTHOR
        {
            return false;
        }
        self.bytes += bytes.len();
        *self.per_author.entry(author).or_default() += 1;
        self.records.insert((time, hash), (bytes, source, author));
        self.generation += 1;
        true
    }

    /// Takes out what is no longer ahead by more than the tolerance at `now`.
    pub fn due(&mut self, now: u64) -> Vec<(Vec<u8>, Source)> {
        let later = self
            .records
            .split_off(&(now.saturating_add(MAX_FUTURE_MS) + 1, Hash([0; 32])));
        let due = std::mem::replace(&mut self.records, later);
        if !due.is_empty() {
            self.generation += 1;
        }
        let mut out = Vec::with_capacity(due.len());
        for (bytes, source, author) in due.into_values() {
            self.bytes -= bytes.len();
            if let Some(n) = self.per_author.get_mut(&author) {
                *n -= 1;
                if *n == 0 {
                    self.per_author.remove(&author);
                }
            }
            out.push((bytes, source));
        }
        out
    }

    /// `(time, hash)` of what is held.
    pub fn items(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        self.records.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Offsets heard at most; and at least, before anything is said.
const SAMPLES: usize = 64;
const MIN_SAMPLES: usize = 8;
/// An offset past this is worth a warning (at most every ten minutes).
pub const WARN_OFFSET_MS: i64 = 5 * 60 * 1000;
const WARN_EVERY_MS: u64 = 10 * 60 * 1000;

/// What an offset (from [`ClockWatch::estimate`]) says, for an operator.
pub fn describe(offset_ms: i64) -> String {
    let way = if offset_ms > 0 { "behind" } else { "ahead of" };
    let minutes = (offset_ms.unsigned_abs() + 30_000) / 60_000;
    format!(
        "this node's clock is about {minutes} min {way} its peers' (fresh records from them carry times {offset_ms} ms off): check its time synchronisation (NTP)"
    )
}

/// How far ahead of this node's clock fresh records from peers are.
#[derive(Debug, Default)]
pub struct ClockWatch {
    offsets: VecDeque<i64>,
    warned: Option<u64>,
}

impl ClockWatch {
    /// Notes that a fresh record signed at `time` arrived at `now`; returns the estimate
    /// when it is time to warn about it.
    pub fn observe(&mut self, time: u64, now: u64) -> Option<i64> {
        if self.offsets.len() == SAMPLES {
            self.offsets.pop_front();
        }
        self.offsets.push_back(time as i64 - now as i64);
        let estimate = self.estimate()?;
        let due = self
            .warned
            .is_none_or(|at| now.saturating_sub(at) >= WARN_EVERY_MS);
        (estimate.abs() > WARN_OFFSET_MS && due).then(|| {
            self.warned = Some(now);
            estimate
        })
    }

    /// The median offset, once enough were heard: positive when peers are ahead, that is
    /// when this node's clock is behind.
    pub fn estimate(&self) -> Option<i64> {
        if self.offsets.len() < MIN_SAMPLES {
            return None;
        }
        let mut sorted: Vec<i64> = self.offsets.iter().copied().collect();
        sorted.sort_unstable();
        Some(sorted[sorted.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;
    const HOUR: u64 = 3_600_000;

    fn author(n: u8) -> Author {
        Author::from(&maillage_core::SigningKey::from_bytes(&[n; 32]))
    }

    #[test]
    fn held_records_come_out_when_their_time_comes() {
        let mut held = Held::default();
        let (a, b, x) = (Hash([1; 32]), Hash([2; 32]), author(1));
        assert!(held.hold(NOW + HOUR, a, x, vec![1; 10], Source::Sync, NOW));
        assert!(held.hold(NOW + 2 * HOUR, b, x, vec![2; 10], Source::Gossip, NOW));
        let again = held.hold(NOW + HOUR, a, x, vec![1; 10], Source::Sync, NOW);
        assert!(again, "held already");
        assert_eq!(held.len(), 2);
        assert!(!held.hold(NOW + MAX_HOLD_MS + 1, b, x, vec![], Source::Sync, NOW));
        assert!(held.due(NOW).is_empty());
        // Within the tolerance of its time: it is taken in, not later.
        let due = held.due(NOW + HOUR - MAX_FUTURE_MS);
        assert_eq!(due, vec![(vec![1; 10], Source::Sync)]);
        assert_eq!(held.items().collect::<Vec<_>>(), vec![(NOW + 2 * HOUR, b)]);
        assert_eq!(held.due(NOW + 3 * HOUR).len(), 1);
        assert!(held.is_empty());
        assert_eq!(held.bytes, 0);
        assert!(held.per_author.is_empty());
    }

    #[test]
    fn holding_is_bounded_in_all_and_per_author() {
        let mut held = Held::default();
        let hash = |i: usize| {
            let mut h = [0; 32];
            h[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Hash(h)
        };
        let mut hold = |i: usize, who: u8| {
            held.hold(NOW + HOUR, hash(i), author(who), vec![], Source::Sync, NOW)
        };
        // One author fills its share, and no more.
        assert!((0..MAX_HELD_PER_AUTHOR).all(|i| hold(i, 0)));
        assert!(!hold(MAX_HELD_PER_AUTHOR, 0));
        // Others fill the rest, and then there is no room for anyone.
        let mut i = MAX_HELD_PER_AUTHOR;
        for who in 1..=(MAX_HELD / MAX_HELD_PER_AUTHOR) as u8 {
            for _ in 0..MAX_HELD_PER_AUTHOR {
                hold(i, who);
                i += 1;
            }
        }
        assert!(!hold(i, 250));
        assert_eq!(held.len(), MAX_HELD);
    }

    #[test]
    fn a_clock_an_hour_behind_is_noticed_once_then_again_later() {
        let mut watch = ClockWatch::default();
        let mut warnings = vec![];
        for i in 0..40 {
            let now = NOW + i * 60_000;
            // Peers an hour ahead, one of them wildly off: the median is not fooled.
            let time = if i % 10 == 0 {
                now + 100 * HOUR
            } else {
                now + HOUR
            };
            warnings.extend(watch.observe(time, now));
        }
        assert_eq!(watch.estimate(), Some(HOUR as i64));
        // At the eighth record, then ten minutes later, and so on.
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        let mut calm = ClockWatch::default();
        for i in 0..40 {
            assert_eq!(calm.observe(NOW + i * 1000 + 300, NOW + i * 1000), None);
        }
        assert_eq!(calm.estimate(), Some(300));
    }
}
