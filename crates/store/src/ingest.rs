//! The one ingest pipeline: decode → validate → policy → verify → merge → store → event.
//!
//! HTTP, gossip, sync and import all hand their bytes to [`Ingest::submit`]; records this
//! node authors are signed by [`Ingest::author`] and then go the same way. Calls block on the
//! disk: run them off the async executor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use maillage_core::{Body, Id, Kind, Record, SigningKey};
use tokio::sync::broadcast;

use crate::ahead::{ClockWatch, Held};
use crate::policy::Policy;
use crate::{Error, Outcome, Store, Stored, Ticket};

/// How far ahead of this node's clock a record's `time` may be.
pub const MAX_FUTURE_MS: u64 = 15 * 60 * 1000;
/// Accepted records kept for slow event subscribers.
const EVENT_BUFFER: usize = 1024;

/// Where a record came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Local,
    Http,
    Gossip,
    Sync,
    Import,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Http => "http",
            Source::Gossip => "gossip",
            Source::Sync => "sync",
            Source::Import => "import",
        }
    }
}

/// Why a record was not taken; each says what is wrong for a person.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("{0}")]
    Invalid(#[from] maillage_core::Error),
    /// The JSON form of a record (a body to sign) does not read.
    #[error("{0}")]
    Json(String),
    #[error("{0}")]
    Policy(String),
    #[error("author {author} has {count} records here, this node's quota")]
    Quota { author: String, count: u64 },
    #[error(
        "the record's time is {ahead_s} s ahead of this node's clock (at most 900 s allowed); {}",
        if *held { "it is held (in memory: peers send it again after a restart), and taken in when its time comes" } else { "it is too far ahead to hold: check the clock of the node that signed it" }
    )]
    Future { ahead_s: u64, held: bool },
    #[error(
        "this node holds a newer version (seq {current}) of {address}; sign the next version with a seq above {current}"
    )]
    Stale { address: String, current: u64 },
    #[error(transparent)]
    Store(#[from] Error),
}

impl Rejection {
    /// A short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Invalid(e) => e.reason(),
            Rejection::Json(_) => "malformed_json",
            Rejection::Policy(_) => "policy",
            Rejection::Quota { .. } => "quota",
            Rejection::Future { .. } => "future",
            Rejection::Stale { .. } => "stale",
            Rejection::Store(_) => "store",
        }
    }
}

/// What became of an accepted record.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub outcome: Outcome,
    /// The version the node now serves for the address.
    pub current: Arc<Stored>,
}

/// A version the store took, and where it came in.
#[derive(Clone, Debug)]
pub struct Event {
    pub source: Source,
    pub stored: Arc<Stored>,
}

/// Counts of ingest results, for `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// (source, outcome) → count.
    pub accepted: BTreeMap<(&'static str, &'static str), u64>,
    /// (source, reason) → count.
    pub rejected: BTreeMap<(&'static str, &'static str), u64>,
}

#[derive(Debug)]
pub struct Ingest {
    store: Arc<dyn Store>,
    policy: Policy,
    events: broadcast::Sender<Event>,
    counters: Mutex<Counters>,
    /// Held while this node picks the next `seq` and signs, so that it never equivocates.
    authoring: Mutex<()>,
    /// Signed records from ahead of this node's clock.
    held: Mutex<Held>,
    clock: Mutex<ClockWatch>,
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// This node's clock, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::New => "new",
        Outcome::Replaced => "replaced",
        Outcome::Duplicate => "duplicate",
        Outcome::Stale { .. } => "stale",
        Outcome::Equivocation { .. } => "equivocation",
    }
}

impl Ingest {
    pub fn new(store: Arc<dyn Store>, policy: Policy) -> Ingest {
        Ingest {
            store,
            policy,
            events: broadcast::channel(EVENT_BUFFER).0,
            counters: Mutex::default(),
            authoring: Mutex::new(()),
            held: Mutex::default(),
            clock: Mutex::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().expect("holding never panics")
    }

    /// `(time, hash)` of the records held until their time.
    pub fn held_items(&self) -> Vec<(u64, maillage_core::Hash)> {
        self.held().items().collect()
    }

    /// How many records are held until their time, and a number that changes whenever
    /// they do.
    pub fn held_count(&self) -> (usize, u64) {
        let held = self.held();
        (held.len(), held.generation)
    }

    /// Takes in the held records whose time has come; returns how many.
    pub fn release_due(&self) -> usize {
        let due = self.held().due(now_ms());
        let n = due.len();
        let mut by_source: BTreeMap<Source, Vec<Vec<u8>>> = BTreeMap::new();
        for (bytes, source) in due {
            by_source.entry(source).or_default().push(bytes);
        }
        for (source, batch) in by_source {
            self.take(&batch, source, false);
        }
        n
    }

    /// How far ahead of this node's clock fresh records from peers are (the median, in ms;
    /// positive: this node's clock is behind), once enough were heard.
    pub fn clock_offset_ms(&self) -> Option<i64> {
        self.clock.lock().expect("never panics").estimate()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Records the store took, as they are taken.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().expect("counters are only incremented")
    }

    /// Takes a record signed anywhere, from any way in. Returns once it is durable.
    pub fn submit(&self, bytes: &[u8], source: Source) -> Result<Accepted, Rejection> {
        self.submit_all(&[bytes], source)
            .pop()
            .expect("one result per record")
    }

    /// Takes several records with one flush for all: what batches from sync and import use.
    /// Returns one result per record, in order, once every accepted one is durable.
    pub fn submit_all<B: AsRef<[u8]>>(
        &self,
        batch: &[B],
        source: Source,
    ) -> Vec<Result<Accepted, Rejection>> {
        self.take(batch, source, true)
    }

    /// [`Ingest::submit_all`]; `fresh` says the records just arrived (not released after
    /// being held), so that gossip's times tell of this node's clock.
    fn take<B: AsRef<[u8]>>(
        &self,
        batch: &[B],
        source: Source,
        fresh: bool,
    ) -> Vec<Result<Accepted, Rejection>> {
        // All checks first, then all writes: the writer's lock is taken in one run, while
        // other callers are checking theirs.
        let checked: Vec<Result<Record, Rejection>> = batch
            .iter()
            .map(|bytes| self.check(bytes.as_ref(), source, fresh))
            .collect();
        let staged: Vec<Result<(Accepted, Ticket), Rejection>> = checked
            .into_iter()
            .map(|checked| self.admit(checked?))
            .collect();
        let ticket = staged
            .iter()
            .filter_map(|s| s.as_ref().ok().map(|s| s.1))
            .max();
        let synced = ticket.map_or(Ok(()), |t| self.store.sync(t));
        let results: Vec<Result<Accepted, Rejection>> = staged
            .into_iter()
            .map(|staged| {
                let (accepted, _) = staged?;
                if let Err(e) = &synced {
                    let why = match e {
                        Error::Flush(why) => why.clone(),
                        other => other.to_string(),
                    };
                    return Err(Rejection::Store(Error::Flush(why)));
                }
                if accepted.outcome.stored() {
                    // Nobody listening is fine: events are a convenience, the change log is the record.
                    let _ = self.events.send(Event {
                        source,
                        stored: accepted.current.clone(),
                    });
                }
                Ok(accepted)
            })
            .collect();
        for result in &results {
            match result {
                Ok(a) => {
                    *self
                        .counters()
                        .accepted
                        .entry((source.as_str(), outcome_name(a.outcome)))
                        .or_default() += 1
                }
                Err(e) => self.refused(source, e),
            }
        }
        results
    }

    /// Counts a record refused on its way in: by this pipeline, or before it by a way in
    /// that reads a record's JSON form.
    pub fn refused(&self, source: Source, e: &Rejection) {
        *self
            .counters()
            .rejected
            .entry((source.as_str(), e.reason()))
            .or_default() += 1;
        tracing::debug!(source = source.as_str(), reason = e.reason(), error = %e, "record rejected");
    }

    /// What needs nothing but the record: decoding, policy, clock, and the signature. An
    /// outdated version is turned away before its signature is checked.
    fn check(&self, bytes: &[u8], source: Source, fresh: bool) -> Result<Record, Rejection> {
        let unverified = Record::decode_unverified(bytes)?;
        let record = unverified.record();
        if let Some(why) = self.policy.refusal(&record.author) {
            return Err(Rejection::Policy(why));
        }
        let now = now_ms();
        let (time, ahead) = (record.time, record.time.saturating_sub(now));
        if ahead > MAX_FUTURE_MS {
            // Genuine ones are kept for when their time comes; forgeries are not.
            let (author, hash) = (record.author, record.hash());
            unverified.verify()?;
            self.clock_heard(source, fresh, time, now);
            let held = self
                .held()
                .hold(time, hash, author, bytes.to_vec(), source, now);
            return Err(Rejection::Future {
                ahead_s: ahead / 1000,
                held,
            });
        }
        if let Some(head) = self.store.head(&record.address())?
            && head.seq > record.seq
        {
            return Err(Rejection::Stale {
                address: record.address().to_string(),
                current: head.seq,
            });
        }
        let record = unverified.verify()?;
        self.clock_heard(source, fresh, time, now);
        Ok(record)
    }

    /// Notes what a verified record fresh from gossip says of this node's clock.
    fn clock_heard(&self, source: Source, fresh: bool, time: u64, now: u64) {
        if source != Source::Gossip || !fresh {
            return;
        }
        let warning = self.clock.lock().expect("never panics").observe(time, now);
        if let Some(offset) = warning {
            tracing::warn!(offset_ms = offset, "{}", crate::ahead::describe(offset));
        }
    }

    /// The quota, then the write; durability is the caller's flush.
    fn admit(&self, record: Record) -> Result<(Accepted, Ticket), Rejection> {
        let address = record.address();
        if self.policy.limited(&record.author) && self.store.head(&address)?.is_none() {
            let count = self.store.author_count(&record.author)?;
            if count >= self.policy.quota {
                return Err(Rejection::Quota {
                    author: record.author.to_string(),
                    count,
                });
            }
        }
        let (outcome, current, ticket) = self.store.apply(record)?;
        if let Outcome::Stale { current } = outcome {
            // What it lost to is durable before anyone is told of it.
            self.store.sync(ticket)?;
            return Err(Rejection::Stale {
                address: address.to_string(),
                current,
            });
        }
        let current = Arc::new(current);
        Ok((Accepted { outcome, current }, ticket))
    }

    /// Signs the next version of one of this node's addresses and ingests it.
    pub fn author(
        &self,
        key: &SigningKey,
        kind: Kind,
        id: Id,
        body: Body,
    ) -> Result<Accepted, Rejection> {
        self.author_all(key, vec![(kind, id, body)])
            .pop()
            .expect("one result per record")
    }

    /// Signs the next version of several of this node's addresses and ingests them with one
    /// flush: what an import uses.
    pub fn author_all(
        &self,
        key: &SigningKey,
        items: Vec<(Kind, Id, Body)>,
    ) -> Vec<Result<Accepted, Rejection>> {
        let _authoring = self
            .authoring
            .lock()
            .expect("authoring never panics while locked");
        let author = maillage_core::Author::from(key);
        let time = now_ms();
        let mut signed = Vec::with_capacity(items.len());
        let mut failed = vec![];
        for (i, (kind, id, body)) in items.into_iter().enumerate() {
            let address = maillage_core::Address {
                author,
                kind,
                id: id.clone(),
            };
            let record = self
                .store
                .head(&address)
                .map_err(Rejection::from)
                .and_then(|head| {
                    let seq = head.map_or(1, |h| h.seq + 1);
                    Ok(Record::sign(key, kind, id, seq, time, body)?)
                });
            match record {
                Ok(r) => signed.push((i, r)),
                Err(e) => failed.push((i, e)),
            }
        }
        let bytes: Vec<&[u8]> = signed.iter().map(|(_, r)| r.bytes()).collect();
        let mut results: Vec<(usize, Result<Accepted, Rejection>)> = signed
            .iter()
            .map(|(i, _)| *i)
            .zip(self.submit_all(&bytes, Source::Local))
            .chain(failed.into_iter().map(|(i, e)| (i, Err(e))))
            .collect();
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;
    use maillage_core::SigningKey;

    #[test]
    fn a_record_from_ahead_is_held_then_taken_in_when_its_time_comes() {
        let dir = tempfile::tempdir().expect("a folder");
        let store: Arc<dyn Store> = Arc::new(Engine::open(dir.path()).expect("a store"));
        let own = maillage_core::Author::from(&SigningKey::from_bytes(&[4; 32]));
        let ingest = Ingest::new(store, Policy::open(own));
        let key = SigningKey::from_bytes(&[3; 32]);
        let body = Body::from_json(Kind::Organisation, serde_json::json!({"name": "Ahead"}))
            .expect("a body");
        let time = now_ms() + MAX_FUTURE_MS + 1_500;
        let record = Record::sign(
            &key,
            Kind::Organisation,
            "ahead".parse().expect("an id"),
            1,
            time,
            body,
        )
        .expect("signs");
        let err = ingest
            .submit(record.bytes(), Source::Sync)
            .expect_err("ahead");
        assert!(err.to_string().contains("it is held"), "{err}");
        assert_eq!(ingest.held_items(), vec![(time, record.hash())]);
        // A forgery from as far ahead is not held.
        let mut forged = record.bytes().to_vec();
        let at = forged
            .windows(5)
            .position(|w| w == b"Ahead")
            .expect("the name");
        forged[at] = b'B';
        assert!(ingest.submit(&forged, Source::Sync).is_err());
        assert_eq!(ingest.held_count().0, 1);
        assert_eq!(ingest.release_due(), 0, "not yet");
        std::thread::sleep(std::time::Duration::from_millis(1_600));
        assert_eq!(ingest.release_due(), 1);
        assert!(ingest.held_items().is_empty());
        let stored = ingest
            .store()
            .get(&record.address())
            .expect("reads")
            .expect("stored");
        assert_eq!(stored.record.hash(), record.hash());
    }
}
