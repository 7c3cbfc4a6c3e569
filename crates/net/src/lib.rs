//! Maillage networking: how nodes find each other and converge on the same records.
//!
//! One task owns the libp2p `Swarm` ([`spawn`]); the rest of the node talks to it through a
//! cloneable [`Handle`] whose commands travel over a bounded channel. Records this node takes
//! from its editors are published on gossipsub; records from peers, by gossip or by sync, go
//! through the node's one ingest pipeline before anything is forwarded. Anti-entropy
//! ([`sync`]) runs on every new connection and every `sync_interval`, so a node that was
//! offline catches up by itself.
//!
//! Layout:
//! - [`behaviour`]: identify, ping, gossipsub, the sync protocol, Kademlia, mDNS, limits;
//! - [`sync`]: the `/maillage/sync/2` messages and the reconciliation state machine;
//! - [`codec`]: how those messages travel (CBOR, compressed with zstd, bounded);
//! - `event_loop`: the task that owns the swarm;
//! - `session`: one sync session with one peer, and the answers to a peer's sessions.

mod bans;
pub mod behaviour;
pub mod codec;
mod event_loop;
mod peer_book;
mod session;
mod slots;
mod state_file;
pub mod sync;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use event_loop::exclusive;
pub use libp2p::identity::Keypair;
pub use libp2p::multiaddr::Protocol;
pub use libp2p::{Multiaddr, PeerId};
use maillage_store::ingest::Ingest;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How a node joins the federation.
#[derive(Clone, Debug)]
pub struct Config {
    /// Addresses to listen on, like `/ip4/0.0.0.0/tcp/7700`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and redial, with backoff, whenever the link drops.
    pub bootstrap: Vec<Multiaddr>,
    /// Time between anti-entropy rounds with every connected peer.
    pub sync_interval: Duration,
    /// Find peers on the local network by mDNS.
    pub mdns: bool,
    /// Most peers to keep connections with.
    pub max_peers: u32,
    /// Invalid records a peer may send before it is disconnected and banned for an hour.
    pub ban_threshold: u32,
    /// Where bans are kept across restarts; none: in memory only.
    pub bans: Option<std::path::PathBuf>,
    /// Where the peers met are kept across restarts, to be dialled at start beside the
    /// bootstrap peers; none: in memory only.
    pub peer_book: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec!["/ip4/0.0.0.0/tcp/7700".parse().expect("a valid multiaddr")],
            bootstrap: vec![],
            sync_interval: Duration::from_secs(60),
            mdns: false,
            max_peers: 50,
            ban_threshold: 10,
            bans: None,
            peer_book: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("cannot build the network: {0}")]
    Build(String),
    #[error("the network task has stopped")]
    Stopped,
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PeerId, reason: String },
}

/// One sync session's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncReport {
    /// When it ended, ms since the Unix epoch.
    pub at: u64,
    pub duration_ms: u64,
    pub rounds: u32,
    /// Bytes of reconciliation messages and records sent and received.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Versions fetched from the peer and taken here.
    pub records_in: u64,
    /// Versions offered to the peer.
    pub records_out: u64,
    /// It stopped at its share of what the peer holds and this node lacks: if it brought
    /// records, the next session follows at once.
    pub more: bool,
    pub error: Option<String>,
}

/// A connected peer, as `/api/v1/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerStatus {
    pub peer_id: String,
    pub address: String,
    pub last_sync: Option<SyncReport>,
    /// No successful sync with it for a few intervals.
    pub stale: bool,
}

/// The network as `/api/v1/status` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct NetStatus {
    pub peers: Vec<PeerStatus>,
    /// Set once the node has had no peer for a few sync intervals: what it tried.
    pub alone: Option<String>,
}

/// Most peers whose failed sync sessions are counted apart; the rest are counted together.
const MAX_FAILURE_PEERS: usize = 1024;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    pub peers: AtomicU64,
    pub gossip_published: AtomicU64,
    /// Gossiped records from authors new here, past a peer's allowance.
    pub gossip_flood_dropped: AtomicU64,
    pub sync_sessions_ok: AtomicU64,
    pub sync_sessions_failed: AtomicU64,
    pub sync_bytes_sent: AtomicU64,
    pub sync_bytes_received: AtomicU64,
    pub sync_records_in: AtomicU64,
    pub sync_records_out: AtomicU64,
    pub penalties: AtomicU64,
    pub bans: AtomicU64,
    /// Failed sync sessions by peer id (`other` past 1 024 peers).
    pub sync_failed_by_peer: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Metrics {
    pub(crate) fn failed_with(&self, peer: PeerId) {
        let mut by_peer = self
            .sync_failed_by_peer
            .lock()
            .expect("no one panics holding it");
        let key = peer.to_string();
        let key = if by_peer.contains_key(&key) || by_peer.len() < MAX_FAILURE_PEERS {
            key
        } else {
            "other".to_owned()
        };
        *by_peer.entry(key).or_default() += 1;
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) enum Command {
    Status(oneshot::Sender<NetStatus>),
    ListenAddrs(oneshot::Sender<Vec<Multiaddr>>),
    Request {
        peer: PeerId,
        request: sync::Request,
        reply: oneshot::Sender<Result<sync::Response, Error>>,
    },
    /// A peer offered records the store took.
    Gave {
        peer: PeerId,
        records: u64,
    },
    Respond {
        peer: PeerId,
        channel: libp2p::request_response::ResponseChannel<sync::Response>,
        response: sync::Response,
    },
    Validated {
        id: libp2p::gossipsub::MessageId,
        source: PeerId,
        acceptance: libp2p::gossipsub::MessageAcceptance,
    },
    SyncDone {
        peer: PeerId,
        report: SyncReport,
    },
    /// A peer sent this many invalid records.
    Penalise {
        peer: PeerId,
        invalid: u32,
    },
}

/// Talks to the network task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    commands: mpsc::Sender<Command>,
    pub metrics: Arc<Metrics>,
    pub peer_id: PeerId,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Connected peers and their last sync, and a warning if the node is alone.
    pub async fn status(&self) -> Result<NetStatus, Error> {
        self.ask(Command::Status).await
    }

    /// The addresses the node listens on, once bound.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Error> {
        self.ask(Command::ListenAddrs).await
    }

    pub(crate) async fn request(
        &self,
        peer: PeerId,
        request: sync::Request,
    ) -> Result<sync::Response, Error> {
        self.ask(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await?
    }

    pub(crate) async fn send(&self, command: Command) {
        // Only fails once the loop is gone, when nobody needs the answer.
        let _ = self.commands.send(command).await;
    }
}

/// Starts the network task. It runs until `shutdown` is cancelled.
pub fn spawn(
    config: Config,
    key: Keypair,
    ingest: Arc<Ingest>,
    shutdown: CancellationToken,
) -> Result<(Handle, tokio::task::JoinHandle<()>), Error> {
    event_loop::EventLoop::start(config, key, ingest, shutdown)
}
