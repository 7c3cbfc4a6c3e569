//! `/maillage/sync/2`: anti-entropy between two nodes.
//!
//! 1. **Reconcile.** The initiator and the responder compare the `(time, hash)` items of the
//!    versions they hold by range-based set reconciliation (negentropy, protocol v1): each
//!    round splits the ranges whose fingerprints differ, so the bytes exchanged grow with the
//!    difference between the sets, not with their size. The responder keeps no state between
//!    rounds.
//! 2. **Fetch.** The initiator asks for the versions it lacks, by hash, in batches; the
//!    responder answers with at most [`MAX_BATCH_BYTES`] of records per batch.
//! 3. **Offer.** The initiator pushes the versions the responder lacks, in batches of the same
//!    bound. Everything received goes through the receiver's ingest pipeline.
//!
//! [`Session`] is the initiator's side as a state machine with no I/O.

use maillage_core::Hash;
use negentropy::{Id, Negentropy, NegentropyStorageBase, NegentropyStorageVector};
use serde::{Deserialize, Serialize};

/// The protocol name.
pub const PROTOCOL: &str = "/maillage/sync/2";
/// Largest reconciliation message (negentropy frame limit): large enough that a difference
/// of 10 000 versions between sets of 100 000 settles in three round trips.
pub const FRAME_LIMIT: u64 = 4 * 1024 * 1024;
/// Most records' bytes in one fetch answer or one offer.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Most hashes asked for in one fetch.
pub const MAX_FETCH: usize = 1024;
/// Most reconciliation rounds before a session gives up (a peer that never converges).
pub const MAX_ROUNDS: u32 = 1_000;
/// Records one session fetches at most (8 MB of hashes; a session stops at 256 MB of
/// records anyway, about 280 000 of them, and the next one follows at once).
pub const MAX_NEED: usize = 262_144;
/// Records one session offers at most. The peer's own sessions fetch the rest: a node does
/// not push its whole store to a newcomer that is already pulling it.
pub const MAX_OFFER: usize = 4_096;
/// Largest encoded request or response: a full reconciliation frame, or a batch, and framing.
pub const MAX_MESSAGE: u64 = FRAME_LIMIT + 256 * 1024;

/// A request from the initiator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// A negentropy message.
    Reconcile(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Versions wanted, by hash.
    Fetch(Vec<Hash32>),
    /// Versions the responder lacks.
    Offer(Vec<Record>),
}

/// The responder's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Reconcile(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The versions asked for that the responder holds, up to the batch bound.
    Records(Vec<Record>),
    /// How many offered versions were taken.
    Taken {
        accepted: u32,
        rejected: u32,
    },
    /// The request could not be served.
    Refused(String),
}

/// A hash on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hash32(#[serde(with = "serde_bytes")] pub [u8; 32]);

/// A signed record's bytes on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record(#[serde(with = "serde_bytes")] pub Vec<u8>);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reconciliation: {0}")]
    Negentropy(String),
    #[error("the peer did not converge within {MAX_ROUNDS} rounds")]
    TooManyRounds,
}

fn neg(e: negentropy::Error) -> Error {
    Error::Negentropy(e.to_string())
}

/// Sealed negentropy storage of a node's items.
pub fn storage(items: &[(u64, Hash)]) -> Result<NegentropyStorageVector, Error> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for (time, hash) in items {
        storage
            .insert(*time, Id::from_byte_array(hash.0))
            .map_err(neg)?;
    }
    storage.seal().map_err(neg)?;
    Ok(storage)
}

/// The responder's answer to one reconciliation message: stateless.
pub fn respond<T: NegentropyStorageBase>(storage: &T, message: &[u8]) -> Result<Vec<u8>, Error> {
    Negentropy::borrowed(storage, FRAME_LIMIT)
        .map_err(neg)?
        .reconcile(message)
        .map_err(neg)
}

/// The initiator's side of a reconciliation.
#[derive(Debug)]
pub struct Session {
    negentropy: Negentropy<'static, NegentropyStorageVector>,
    found: Reconciled,
}

/// What to do after a reconciliation answer.
#[derive(Debug, PartialEq)]
pub enum Step {
    /// Send this message and feed the answer back.
    Send(Vec<u8>),
    /// Reconciliation is over: `have` and `need` are complete.
    Done,
}

impl Session {
    /// Starts a session over this node's storage; returns the first message.
    pub fn start(storage: NegentropyStorageVector) -> Result<(Session, Vec<u8>), Error> {
        let mut negentropy = Negentropy::owned(storage, FRAME_LIMIT).map_err(neg)?;
        let first = negentropy.initiate().map_err(neg)?;
        Ok((
            Session {
                negentropy,
                found: Reconciled {
                    rounds: 1,
                    ..Reconciled::default()
                },
            },
            first,
        ))
    }

    /// Feeds the peer's answer; returns the next message, or `Done`.
    pub fn step(&mut self, answer: &[u8]) -> Result<Step, Error> {
        let (mut have, mut need) = (vec![], vec![]);
        let next = self
            .negentropy
            .reconcile_with_ids(answer, &mut have, &mut need)
            .map_err(neg)?;
        // This session offers at most MAX_OFFER versions and fetches at most MAX_NEED; the
        // next sessions, of either side, the rest.
        let found = &mut self.found;
        let room = MAX_OFFER.saturating_sub(found.have.len());
        found
            .have
            .extend(have.into_iter().take(room).map(|id| Hash(*id)));
        let room = MAX_NEED.saturating_sub(found.need.len());
        found.cut |= need.len() > room;
        found
            .need
            .extend(need.into_iter().take(room).map(|id| Hash(*id)));
        match next {
            None => Ok(Step::Done),
            Some(_) if found.rounds >= MAX_ROUNDS => Err(Error::TooManyRounds),
            Some(message) => {
                found.rounds += 1;
                Ok(Step::Send(message))
            }
        }
    }

    /// What reconciliation found, letting go of the storage (40 bytes a version): a
    /// session does not keep it through its fetches and offers.
    pub fn finish(self) -> Reconciled {
        self.found
    }
}

/// What a reconciliation found.
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Hashes this side holds and the peer lacks.
    pub have: Vec<Hash>,
    /// Hashes the peer holds and this side lacks.
    pub need: Vec<Hash>,
    /// The peer holds more that this side lacks than `need` took.
    pub cut: bool,
    /// Reconciliation messages sent.
    pub rounds: u32,
}

/// The next batch of at most [`MAX_BATCH_BYTES`] of the records of `hashes` from `from`
/// on, and where the batch after it starts. Records are read one at a time as the batch
/// fills (a record is ≤ 64 KiB, so every batch holds at least one); those `read` no longer
/// finds are passed over. The batch is empty only when `hashes` are all read.
pub fn next_batch<E>(
    hashes: &[Hash],
    from: usize,
    mut read: impl FnMut(&Hash) -> Result<Option<Vec<u8>>, E>,
) -> Result<(Vec<Record>, usize), E> {
    let (mut batch, mut size) = (vec![], 0);
    for (i, hash) in hashes.iter().enumerate().skip(from) {
        let Some(record) = read(hash)? else { continue };
        if !batch.is_empty() && size + record.len() > MAX_BATCH_BYTES {
            // Read again at the start of the next batch.
            return Ok((batch, i));
        }
        size += record.len();
        batch.push(Record(record));
    }
    Ok((batch, hashes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Item `n`: its id a hash, as record ids are. (Negentropy's fingerprints are sums of
    /// ids: structured ids like `n` itself collide, and ranges that differ look equal.)
    fn item(n: u64) -> (u64, Hash) {
        (
            1_700_000_000_000 + n * 7919 % 100_000,
            Hash::of(&n.to_be_bytes()),
        )
    }

    /// Runs a whole reconciliation in memory; returns (have, need, rounds, bytes both ways).
    fn reconcile(
        a: &[(u64, Hash)],
        b: &[(u64, Hash)],
    ) -> (BTreeSet<Hash>, BTreeSet<Hash>, u32, usize) {
        let server = storage(b).unwrap();
        let (mut session, mut message) = Session::start(storage(a).unwrap()).unwrap();
        let mut bytes = message.len();
        loop {
            let answer = respond(&server, &message).unwrap();
            bytes += answer.len();
            match session.step(&answer).unwrap() {
                Step::Send(next) => {
                    bytes += next.len();
                    message = next;
                }
                Step::Done => break,
            }
        }
        let found = session.finish();
        (
            found.have.into_iter().collect(),
            found.need.into_iter().collect(),
            found.rounds,
            bytes,
        )
    }

    type Items = Vec<(u64, Hash)>;

    fn sets(n: u64, only_a: u64, only_b: u64) -> (Items, Items) {
        let common: Vec<_> = (0..n).map(item).collect();
        let mut a = common.clone();
        a.extend((n..n + only_a).map(item));
        let mut b = common;
        b.extend((n + only_a..n + only_a + only_b).map(item));
        (a, b)
    }

    #[test]
    fn equal_sets_take_one_round_and_few_bytes() {
        let (a, b) = sets(20_000, 0, 0);
        let (have, need, rounds, bytes) = reconcile(&a, &b);
        assert!(have.is_empty() && need.is_empty());
        assert_eq!(rounds, 1);
        assert!(bytes < 1024, "{bytes} bytes for equal sets");
    }

    #[test]
    fn bytes_grow_with_the_difference_not_the_size() {
        let (a, b) = sets(20_000, 10, 10);
        let (_, _, _, small_set) = reconcile(&a[..], &b[..]);
        let (a2, b2) = sets(80_000, 10, 10);
        let (have, need, _, big_set) = reconcile(&a2, &b2);
        assert_eq!((have.len(), need.len()), (10, 10));
        // Four times the items, the same difference: within a small factor (a few more
        // levels of splitting), nowhere near 4×.
        assert!(big_set < small_set * 2, "{small_set} → {big_set}");
        let (a3, b3) = sets(20_000, 1000, 1000);
        let (_, _, _, big_diff) = reconcile(&a3, &b3);
        assert!(
            big_diff > small_set * 20,
            "{small_set} → {big_diff} for 100× the difference"
        );
    }

    #[test]
    fn batches_respect_the_bound_and_pass_over_what_is_gone() {
        let hashes: Vec<Hash> = (0..100u64).map(|n| item(n).1).collect();
        // Every tenth record was replaced meanwhile.
        let read = |h: &Hash| {
            let i = hashes.iter().position(|x| x == h).unwrap();
            Ok::<_, ()>((i % 10 != 3).then(|| vec![i as u8; 60_000]))
        };
        let (mut from, mut sent) = (0, vec![]);
        loop {
            let (batch, next) = next_batch(&hashes, from, read).unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.iter().map(|r| r.0.len()).sum::<usize>() <= MAX_BATCH_BYTES);
            sent.extend(batch.into_iter().map(|r| r.0[0]));
            from = next;
        }
        let expected: Vec<u8> = (0..100u8).filter(|i| i % 10 != 3).collect();
        assert_eq!(sent, expected, "each record once, in order");
        assert_eq!(next_batch(&hashes, 0, |_| Err("disk")), Err("disk"));
    }

    #[test]
    fn a_session_offers_a_bounded_share() {
        let (a, b) = sets(0, MAX_OFFER as u64 + 500, 0);
        let (have, need, _, _) = reconcile(&a, &b);
        assert_eq!((have.len(), need.len()), (MAX_OFFER, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_pairs_of_sets_converge(
            a in proptest::collection::btree_set(0u64..3000, 0..400),
            b in proptest::collection::btree_set(0u64..3000, 0..400),
        ) {
            let ia: Vec<_> = a.iter().map(|n| item(*n)).collect();
            let ib: Vec<_> = b.iter().map(|n| item(*n)).collect();
            let (have, need, _, _) = reconcile(&ia, &ib);
            let expect_have: BTreeSet<Hash> = a.difference(&b).map(|n| item(*n).1).collect();
            let expect_need: BTreeSet<Hash> = b.difference(&a).map(|n| item(*n).1).collect();
            prop_assert_eq!(have, expect_have);
            prop_assert_eq!(need, expect_need);
        }
    }
}
