//! Maillage storage: the current version of every address, the indexes behind every query,
//! a change log with cursors, and a state digest kept up to date incrementally; and the one
//! ingest pipeline that every way in (HTTP, gossip, sync, import) goes through.
//!
//! Layout:
//! - [`Store`]: the trait the rest of the node uses, so that an engine can be swapped;
//! - [`engine`]: its engine: an append-only record log, and in memory everything derived
//!   from it; writes made durable by group commit;
//! - `segments`: the record log's segment files and frames;
//! - [`disk`]: the file I/O under them, real or simulated;
//! - [`index`]: address keys, and the endorsements of each collaboration (no I/O);
//! - [`ingest`]: decode → validate → policy → verify → merge → store → event;
//! - [`policy`]: whose records a node accepts;
//! - [`confirmation`]: who confirms a collaboration (no I/O);
//! - [`ahead`]: records from ahead of the node's clock, held for their time, and the clock's offset.

pub mod ahead;
pub mod confirmation;
pub mod disk;
pub mod engine;
pub mod index;
pub mod ingest;
pub mod policy;
mod segments;

use maillage_core::{Address, Author, Hash, Head, Kind, Record};

pub use confirmation::Confirmation;
pub use engine::Engine;
pub use segments::{Snapshot, SnapshotFile};

/// A storage failure: our fault or the disk's, never the input's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage holds an unreadable record at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("{0}")]
    Layout(String),
    #[error("{0}")]
    Locked(String),
    #[error("storage flush failed: {0}")]
    Flush(String),
}

/// A stored version and what the node knows about its address.
#[derive(Clone, Debug)]
pub struct Stored {
    pub record: Record,
    /// The author signed two versions with this `seq` (see [`Head`]).
    pub equivocation: bool,
    /// Position in the change log.
    pub change: u64,
    /// The address's number on this node, given when its first version arrived.
    pub doc: u32,
}

/// What storing a version did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first version of its address here.
    New,
    /// A newer version replaced the one held.
    Replaced,
    /// This exact version is held already.
    Duplicate,
    /// The node holds a newer version (`current` is its `seq`).
    Stale { current: u64 },
    /// Same `seq` as the held version, different content: the lower hash is kept, and the
    /// address is flagged. `won` tells whether this version is the one kept.
    Equivocation { won: bool },
}

impl Outcome {
    /// Whether the store now serves this version.
    pub fn stored(self) -> bool {
        matches!(
            self,
            Outcome::New | Outcome::Replaced | Outcome::Equivocation { won: true }
        )
    }

    /// Whether peers should hear of it: a new current version, or new evidence that an
    /// author equivocated (which every node must learn to flag the address).
    pub fn news(self) -> bool {
        matches!(
            self,
            Outcome::New | Outcome::Replaced | Outcome::Equivocation { .. }
        )
    }
}

/// A write's place in the group commit: durable once [`Store::sync`] covering it returns.
pub type Ticket = u64;

/// Per-kind counts and the digest of the set of versions held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Live (not deleted) records per kind.
    pub records: Vec<(Kind, u64)>,
    /// Every version held, tombstones included.
    pub versions: u64,
    /// Equal on two nodes exactly when they hold the same set of versions.
    pub digest: String,
    /// The newest change-log position.
    pub last_change: u64,
}

/// The node's storage. Writes return a [`Ticket`]; nothing is acknowledged to anyone before
/// [`Store::sync`] has made it durable.
pub trait Store: Send + Sync + 'static {
    /// Merges one verified version into the store; returns what became of it and the
    /// version the address has now.
    fn apply(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error>;
    /// Returns once every write up to `ticket` is on disk; concurrent callers share flushes.
    fn sync(&self, ticket: Ticket) -> Result<(), Error>;
    fn head(&self, address: &Address) -> Result<Option<Head>, Error>;
    /// The current version of an address, tombstones included.
    fn get(&self, address: &Address) -> Result<Option<Stored>, Error>;
    /// The current version of document `doc` (see [`Stored::doc`]).
    fn document(&self, doc: u32) -> Result<Option<Stored>, Error>;
    /// Current versions whose change position is after `since`, oldest first.
    fn changes(&self, since: u64, limit: usize) -> Result<Vec<Stored>, Error>;
    fn summary(&self) -> Result<Summary, Error>;
    fn confirmation(&self, collaboration: &Record) -> Result<Confirmation, Error>;
    /// Calls `each` with `(time, hash)` of every version held, in no order: what set
    /// reconciliation compares, without a copy of all of it.
    fn each_item(&self, each: &mut dyn FnMut(u64, &Hash)) -> Result<(), Error>;
    /// `(time, hash)` of every version held, sorted.
    fn items(&self) -> Result<Vec<(u64, Hash)>, Error> {
        let mut items = vec![];
        self.each_item(&mut |time, hash| items.push((time, *hash)))?;
        items.sort_unstable();
        Ok(items)
    }
    /// The signed bytes of a held version (current or evidence), by its hash.
    fn bytes_by_hash(&self, hash: &Hash) -> Result<Option<Vec<u8>>, Error>;
    /// How many addresses an author has here (for quotas).
    fn author_count(&self, author: &Author) -> Result<u64, Error>;
    /// Forgets everything an author wrote; returns how many addresses went.
    fn purge_author(&self, author: &Author) -> Result<u64, Error>;
    /// The latest purge of each purged author after change position `since`, in order.
    fn purges(&self, since: u64) -> Result<Vec<(u64, Author)>, Error>;
    /// The store folder's files as they are durable now, for a backup taken while the
    /// node goes on: opened elsewhere, the copy holds every version acknowledged before
    /// this was called.
    fn snapshot(&self) -> Result<Snapshot, Error>;
}
