//! Crash points on a simulated disk: a store is written to, read and compacted until the
//! power goes after a random number of disk operations; the disk then loses what was not
//! flushed, tears a write, and sometimes flips a bit of what was. The store that opens on
//! what is left must hold every version it acknowledged or showed a reader, or refuse to
//! open, saying what to do, and only when a flushed bit was flipped.

use std::collections::HashMap;
use std::sync::Arc;

use maillage_core::SigningKey;
use serde_json::json;

use super::*;
use crate::disk::sim::SimDisk;

const SEGMENT: u64 = 2048;
const ADDRESSES: usize = 12;

const SEQS: u64 = 40;

/// Two versions of each `seq` of each address of two authors, signed once for every run:
/// `versions()[author][address][seq - 1][variant]`. The second variant of a `seq` is an
/// equivocation.
fn versions() -> &'static Vec<Vec<Vec<[Record; 2]>>> {
    static VERSIONS: std::sync::OnceLock<Vec<Vec<Vec<[Record; 2]>>>> = std::sync::OnceLock::new();
    VERSIONS.get_or_init(|| {
        KEYS.iter()
            .map(|k| {
                let key = SigningKey::from_bytes(k);
                (0..ADDRESSES)
                    .map(|i| {
                        (1..=SEQS)
                            .map(|seq| {
                                [0, 1].map(|variant| {
                                    let body = json!({"name": format!("Coopérative {i}, version {seq}.{variant}")});
                                    Record::sign(
                                        &key,
                                        Kind::Organisation,
                                        format!("org-{i}").parse().expect("an id"),
                                        seq,
                                        1_700_000_000_000 + seq,
                                        Body::from_json(Kind::Organisation, body).expect("a body"),
                                    )
                                    .expect("signs")
                                })
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    })
}

const KEYS: [[u8; 32]; 2] = [[21; 32], [22; 32]];

/// What the store must still hold: per address, the highest `seq` acknowledged or shown.
#[derive(Default)]
struct Owed {
    seq: HashMap<Address, u64>,
    /// Addresses of the purged author, whose purge may or may not have become durable.
    uncertain: bool,
}

impl Owed {
    fn owe(&mut self, address: Address, seq: u64) {
        let held = self.seq.entry(address).or_default();
        *held = (*held).max(seq);
    }
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// Every step ran, then the crash.
    Finished,
    /// The power went in the middle.
    PowerCut,
    /// A flushed bit was flipped, and the store refused to open.
    Refused,
    /// A flushed bit was flipped, in something no longer needed or the seal, and the store
    /// opened with everything.
    Survived,
}

/// One run.
fn run(seed: u64) -> Ending {
    let mut rng = fastrand::Rng::with_seed(seed);
    let versions = versions();
    let purged = Author::from(&SigningKey::from_bytes(&KEYS[1]));
    let disk = SimDisk::default();
    let store = Engine::on(Arc::new(disk.clone()), SEGMENT, false).expect("a new store opens");
    disk.power_off_after(rng.u64(..2_000));
    let mut owed = Owed::default();
    let mut next = [[1; ADDRESSES]; 2];
    let mut ticket = 0;
    let mut pending: Vec<(Address, u64)> = vec![];
    let mut powered = true;
    for _ in 0..400 {
        let step: Result<(), Error> = (|| {
            match rng.u8(..100) {
                0..60 => {
                    let (k, i) = (rng.usize(..2), rng.usize(..ADDRESSES));
                    // Now and then the same `seq` again: a duplicate or an equivocation.
                    let seq = (next[k][i] - u64::from(rng.u8(..10) == 0)).clamp(1, SEQS);
                    next[k][i] = (seq + 1).min(SEQS);
                    let record = versions[k][i][seq as usize - 1][rng.usize(..2)].clone();
                    let address = record.address();
                    let (outcome, _, t) = store.apply(record)?;
                    ticket = ticket.max(t);
                    if outcome.stored() {
                        pending.push((address, seq));
                    }
                }
                60..80 => {
                    store.sync(ticket)?;
                    for (address, seq) in pending.drain(..) {
                        owed.owe(address, seq);
                    }
                }
                80..93 => {
                    let (k, i) = (rng.usize(..2), rng.usize(..ADDRESSES));
                    let address = versions[k][i][0][0].address();
                    if let Some(stored) = store.get(&address)? {
                        owed.owe(address, stored.record.seq);
                    }
                }
                93..96 => {
                    store.compact()?;
                }
                96..98 => store.checkpoint()?,
                _ => {
                    owed.uncertain = true;
                    store.purge_author(&purged)?;
                    owed.seq.retain(|a, _| a.author != purged);
                    pending.retain(|(a, _)| a.author != purged);
                    owed.uncertain = false;
                }
            }
            Ok(())
        })();
        if step.is_err() {
            powered = false;
            break;
        }
    }
    let flip = rng.u8(..10) < 3;
    let (after, flipped) = disk.crash(&mut rng, flip);
    drop(store);
    let reopened = match Engine::on(Arc::new(after.clone()), SEGMENT, false) {
        Ok(store) => store,
        Err(e) => {
            assert!(
                flipped.is_some(),
                "seed {seed}: the store refused to open though only unflushed writes were lost: {e}"
            );
            assert!(matches!(e, Error::Corrupt { .. }), "seed {seed}: {e}");
            assert!(e.to_string().contains("restore"), "seed {seed}: {e}");
            return Ending::Refused;
        }
    };
    for (address, seq) in &owed.seq {
        if owed.uncertain && address.author == purged {
            continue;
        }
        let held = reopened.get(address).expect("reads").map(|s| s.record.seq);
        assert!(
            held.is_some_and(|held| held >= *seq),
            "seed {seed}: {address} was acknowledged at seq {seq}, the store holds {held:?} after the crash ({flipped:?})"
        );
    }
    // The store goes on: it takes writes, and opens again to the same state.
    let record = versions[0][0][SEQS as usize - 1][0].clone();
    let (_, _, t) = reopened.apply(record).expect("takes a write");
    reopened.sync(t).expect("flushes");
    let summary = reopened.summary().expect("a summary");
    drop(reopened);
    let again = Engine::on(Arc::new(after), SEGMENT, false).expect("opens again");
    assert_eq!(again.summary().expect("a summary"), summary, "seed {seed}");
    match (flipped, powered) {
        (Some(_), _) => Ending::Survived,
        (None, true) => Ending::Finished,
        (None, false) => Ending::PowerCut,
    }
}

/// Crash points to try: `MAILLAGE_CRASH_POINTS` sets it for a longer run.
fn points() -> u64 {
    std::env::var("MAILLAGE_CRASH_POINTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

#[test]
fn no_acknowledged_version_is_lost_at_any_crash_point() {
    let n = points();
    let mut endings: HashMap<String, u64> = HashMap::new();
    let seeds = match std::env::var("MAILLAGE_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("a seed")..seed.parse::<u64>().expect("a seed") + 1,
        Err(_) => 0..n,
    };
    for seed in seeds {
        *endings.entry(format!("{:?}", run(seed))).or_default() += 1;
    }
    eprintln!("{n} crash points: {endings:?}");
    // Every kind of end is reached, so the test is not vacuous.
    for ending in ["Finished", "PowerCut", "Refused", "Survived"] {
        assert!(endings.get(ending).is_some_and(|n| *n > 0), "{endings:?}");
    }
}
