//! Sync sessions: driving [`sync::Session`] against one peer, and answering a peer's.
//!
//! Storage work runs in `spawn_blocking`; the swarm only carries the messages.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use libp2p::PeerId;
use maillage_core::Hash;
use maillage_store::ingest::{Ingest, Rejection, Source, now_ms};
use negentropy::{Id, NegentropyStorageVector};

use crate::sync::{self, Hash32, Request, Response, Session, Step};
use crate::{Command, Error, Handle, SyncReport};

/// The responder's negentropy storage, rebuilt only when the store changed.
#[derive(Debug, Default)]
pub(crate) struct StorageCache(Mutex<Option<(Version, Arc<NegentropyStorageVector>)>>);

/// What the storage was built from: the store's last change, and the held records' generation.
type Version = (u64, u64);

impl StorageCache {
    fn get(&self, ingest: &Ingest) -> Result<Arc<NegentropyStorageVector>, String> {
        let store = ingest.store();
        let version = (
            store.summary().map_err(|e| e.to_string())?.last_change,
            ingest.held_count().1,
        );
        let mut cache = self
            .0
            .lock()
            .expect("the cache lock is never held across a panic");
        if let Some((v, storage)) = cache.as_ref()
            && *v == version
        {
            return Ok(storage.clone());
        }
        let storage = Arc::new(storage(ingest)?);
        *cache = Some((version, storage.clone()));
        Ok(storage)
    }
}

/// What this node holds, for reconciliation: what it stores, and the records from ahead of
/// its clock it holds until their time (so that peers do not send them again every round).
/// Built from the store's items as they are listed, with no copy of all of them beside it.
fn storage(ingest: &Ingest) -> Result<NegentropyStorageVector, String> {
    let held = ingest.held_items();
    let ahead: std::collections::HashSet<Hash> = held.iter().map(|(_, h)| *h).collect();
    let store = ingest.store();
    let versions = store.summary().map_err(|e| e.to_string())?.versions as usize;
    let mut storage = NegentropyStorageVector::with_capacity(versions + held.len());
    let mut failed = None;
    let mut add = |time: u64, hash: &Hash| {
        if failed.is_none() {
            failed = storage.insert(time, Id::from_byte_array(hash.0)).err();
        }
    };
    store
        .each_item(&mut |time, hash| {
            if !ahead.contains(hash) {
                add(time, hash);
            }
        })
        .map_err(|e| e.to_string())?;
    for (time, hash) in &held {
        add(*time, hash);
    }
    if let Some(e) = failed {
        return Err(e.to_string());
    }
    storage.seal().map_err(|e| e.to_string())?;
    Ok(storage)
}

/// What a batch of a peer's records does for its standing, told to the event loop at once:
/// the records stored credit it (its claim to a slot must not wait for a session's end),
/// the invalid ones count against it (stale, duplicate or refused by policy is not its
/// fault). Returns how many were stored.
async fn judge(
    handle: &Handle,
    peer: PeerId,
    results: &[Result<maillage_store::ingest::Accepted, Rejection>],
) -> u64 {
    let stored = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|a| a.outcome.stored()))
        .count() as u64;
    let invalid = results
        .iter()
        .filter(|r| matches!(r, Err(Rejection::Invalid(_))))
        .count() as u32;
    if invalid > 0 {
        handle.send(Command::Penalise { peer, invalid }).await;
    }
    if stored > 0 {
        handle
            .send(Command::Gave {
                peer,
                records: stored,
            })
            .await;
    }
    stored
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// Fetched batches being ingested at once, at most.
const INGESTING: usize = 3;

/// Bytes of records one session fetches from one peer, at most (one session per peer at a
/// time): past it, the session stops fetching, and the next one goes on where it stopped.
const MAX_SESSION_BYTES: u64 = 256 * 1024 * 1024;

type Ingested = Result<Vec<Result<maillage_store::ingest::Accepted, Rejection>>, String>;

/// Counts what an ingested batch brought, and judges the peer by it.
async fn account(
    batch: tokio::task::JoinHandle<Ingested>,
    handle: &Handle,
    peer: PeerId,
    report: &mut SyncReport,
) -> Result<(), String> {
    let results = batch.await.map_err(|e| e.to_string())??;
    report.records_in += judge(handle, peer, &results).await;
    Ok(())
}

/// The hashes of a fetch's answer, if every record in it was asked for (once); else how
/// many were not.
fn answered(
    wanted: &[Hash32],
    records: &[sync::Record],
) -> Result<std::collections::HashSet<[u8; 32]>, u32> {
    let mut asked: std::collections::HashSet<[u8; 32]> = wanted.iter().map(|h| h.0).collect();
    let mut got = std::collections::HashSet::with_capacity(records.len());
    let mut unasked = 0;
    for record in records {
        let hash = Hash::of(&record.0).0;
        if asked.remove(&hash) {
            got.insert(hash);
        } else {
            unasked += 1;
        }
    }
    if unasked > 0 { Err(unasked) } else { Ok(got) }
}

/// Answers one request of a peer's session.
pub(crate) async fn answer(
    ingest: Arc<Ingest>,
    cache: Arc<StorageCache>,
    handle: Handle,
    peer: PeerId,
    request: Request,
) -> Response {
    let result = blocking(move || {
        Ok(match request {
            Request::Reconcile(message) => {
                let storage = cache.get(&ingest)?;
                Response::Reconcile(
                    sync::respond(storage.as_ref(), &message).map_err(|e| e.to_string())?,
                )
            }
            Request::Fetch(hashes) => {
                if hashes.len() > sync::MAX_FETCH {
                    return Ok(Response::Refused(format!(
                        "at most {} hashes per fetch",
                        sync::MAX_FETCH
                    )));
                }
                let hashes: Vec<Hash> = hashes.into_iter().map(|Hash32(h)| Hash(h)).collect();
                let (records, _) =
                    sync::next_batch(&hashes, 0, |h| ingest.store().bytes_by_hash(h))
                        .map_err(|e| e.to_string())?;
                Response::Records(records)
            }
            Request::Offer(records) => {
                let size: usize = records.iter().map(|r| r.0.len()).sum();
                if size > sync::MAX_BATCH_BYTES {
                    return Ok(Response::Refused(format!(
                        "at most {} bytes per offer",
                        sync::MAX_BATCH_BYTES
                    )));
                }
                let bytes: Vec<Vec<u8>> = records.into_iter().map(|r| r.0).collect();
                let results = ingest.submit_all(&bytes, Source::Sync);
                let accepted = results.iter().filter(|r| r.is_ok()).count() as u32;
                let rejected = results.len() as u32 - accepted;
                let handle = handle.clone();
                tokio::runtime::Handle::current().spawn(async move {
                    judge(&handle, peer, &results).await;
                });
                Response::Taken { accepted, rejected }
            }
        })
    })
    .await;
    result.unwrap_or_else(Response::Refused)
}

/// Runs one session with `peer`: reconcile, fetch what this node lacks, offer what it lacks.
#[tracing::instrument(skip(handle, ingest), fields(peer = %peer))]
pub(crate) async fn run(handle: Handle, ingest: Arc<Ingest>, peer: PeerId) {
    let started = Instant::now();
    let mut report = SyncReport::default();
    if let Err(e) = session(&handle, &ingest, peer, &mut report).await {
        report.error = Some(e);
    }
    report.at = now_ms();
    report.duration_ms = started.elapsed().as_millis() as u64;
    // The event loop logs the session, once.
    handle.send(Command::SyncDone { peer, report }).await;
}

async fn request(handle: &Handle, peer: PeerId, request: Request) -> Result<Response, String> {
    match handle.request(peer, request).await {
        Ok(Response::Refused(why)) => Err(format!("the peer refused: {why}")),
        Ok(response) => Ok(response),
        Err(Error::Request { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

async fn session(
    handle: &Handle,
    ingest: &Arc<Ingest>,
    peer: PeerId,
    report: &mut SyncReport,
) -> Result<(), String> {
    let store = ingest.clone();
    let (mut session, mut message) =
        blocking(move || Session::start(storage(&store)?).map_err(|e| e.to_string())).await?;
    loop {
        report.bytes_sent += message.len() as u64;
        let Response::Reconcile(answer) =
            request(handle, peer, Request::Reconcile(message)).await?
        else {
            return Err("the peer answered a reconciliation with something else".into());
        };
        report.bytes_received += answer.len() as u64;
        match session.step(&answer).map_err(|e| e.to_string())? {
            Step::Send(next) => message = next,
            Step::Done => break,
        }
    }
    let mut reconciled = session.finish();
    report.rounds = reconciled.rounds;

    // Each batch is ingested while the next ones are fetched: batches checked at once keep
    // every core busy, and the network never waits on the disk.
    let mut ingesting = std::collections::VecDeque::new();
    report.more = reconciled.cut;
    for chunk in reconciled.need.chunks(sync::MAX_FETCH) {
        if report.bytes_received >= MAX_SESSION_BYTES {
            tracing::info!(
                bytes = report.bytes_received,
                "this session fetched its share from the peer; the next one goes on"
            );
            report.more = true;
            break;
        }
        let mut wanted: Vec<Hash32> = chunk.iter().map(|h| Hash32(h.0)).collect();
        while !wanted.is_empty() {
            let Response::Records(records) =
                request(handle, peer, Request::Fetch(wanted.clone())).await?
            else {
                return Err("the peer answered a fetch with something else".into());
            };
            if records.is_empty() {
                break; // It no longer holds them: replaced meanwhile; the next session sees.
            }
            let got = match answered(&wanted, &records) {
                Ok(got) => got,
                Err(unasked) => {
                    handle
                        .send(Command::Penalise {
                            peer,
                            invalid: unasked,
                        })
                        .await;
                    return Err(format!(
                        "the peer answered a fetch with {unasked} records it was not asked for"
                    ));
                }
            };
            wanted.retain(|h| !got.contains(&h.0));
            report.bytes_received += records.iter().map(|r| r.0.len() as u64).sum::<u64>();
            let ingest = ingest.clone();
            let next = blocking(move || {
                let bytes: Vec<Vec<u8>> = records.into_iter().map(|r| r.0).collect();
                Ok(ingest.submit_all(&bytes, Source::Sync))
            });
            ingesting.push_back(tokio::spawn(next));
            if ingesting.len() > INGESTING
                && let Some(oldest) = ingesting.pop_front()
            {
                account(oldest, handle, peer, report).await?;
            }
        }
    }
    for batch in ingesting {
        account(batch, handle, peer, report).await?;
    }

    // Offer what the peer lacks, read a batch at a time: a session holds one batch, not all
    // of them. A version the fetch replaced meanwhile is passed over: one with a higher seq
    // supersedes it, and of two with one seq the store keeps the evidence the peer needs to
    // learn of the equivocation.
    let have = Arc::new(std::mem::take(&mut reconciled.have));
    let mut from = 0;
    loop {
        let (store, hashes) = (ingest.clone(), have.clone());
        let (batch, next) = blocking(move || {
            sync::next_batch(&hashes, from, |h| store.store().bytes_by_hash(h))
                .map_err(|e| e.to_string())
        })
        .await?;
        if batch.is_empty() {
            break;
        }
        from = next;
        let (n, size) = (
            batch.len() as u64,
            batch.iter().map(|r| r.0.len() as u64).sum::<u64>(),
        );
        request(handle, peer, Request::Offer(batch)).await?;
        report.records_out += n;
        report.bytes_sent += size;
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_answer_holds_only_what_was_asked_once() {
        let records: Vec<sync::Record> = (0..3u8).map(|i| sync::Record(vec![i; 10])).collect();
        let hash = |r: &sync::Record| Hash32(Hash::of(&r.0).0);
        let wanted: Vec<Hash32> = records.iter().map(hash).collect();
        assert_eq!(answered(&wanted, &records[..2]).map(|g| g.len()), Ok(2));
        let stranger = sync::Record(b"not asked".to_vec());
        assert_eq!(
            answered(&wanted[..1], &[records[0].clone(), stranger]).map(|g| g.len()),
            Err(1)
        );
        let twice = [records[1].clone(), records[1].clone()];
        assert_eq!(answered(&wanted, &twice).map(|g| g.len()), Err(1));
    }
}
