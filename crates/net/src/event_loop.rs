//! The one task that owns the swarm: a `select!` over shutdown, commands, records taken
//! locally, swarm events and timers, with one handler per behaviour.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, mdns, noise, ping, tcp, yamux};
use maillage_store::ingest::{self, Ingest, Rejection, Source, now_ms};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::bans;
use crate::behaviour::{Behaviour, BehaviourEvent, GRAYLIST, TOPIC};
use crate::peer_book::PeerBook;
use crate::session::{self, StorageCache};
use crate::slots::{self, Standing};
use crate::{Command, Config, Error, Handle, Metrics, NetStatus, PeerStatus, SyncReport, sync};

/// Commands waiting for the loop.
const COMMAND_BUFFER: usize = 256;
/// Most sync sessions this node runs at once with peers other than its partners (each
/// partner has one more), and answers at once.
const MAX_SESSIONS: usize = 8;
const MAX_ANSWERS: usize = 32;
/// Answers in flight for one peer: the others keep theirs.
const MAX_ANSWERS_PER_PEER: usize = 4;
/// Most gossiped records being checked at once.
const MAX_VALIDATIONS: usize = 64;
/// Redial backoff for bootstrap peers.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BAN: Duration = Duration::from_secs(3600);
/// A connection with no stream open (gossip keeps one open with every partner) closes after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

struct Bootstrap {
    addr: Multiaddr,
    peer: Option<PeerId>,
    connected: bool,
    next_attempt: Instant,
    backoff: Duration,
    dialing: Option<ConnectionId>,
}

struct Peer {
    address: String,
    ip: Option<std::net::IpAddr>,
    since: Instant,
    /// Records it brought that the store took, by sync or gossip.
    given: u64,
    syncing: bool,
    /// Its requests being answered now.
    answering: usize,
    last_sync: Option<SyncReport>,
    /// When a session with it last succeeded.
    synced: Option<Instant>,
    /// Pings in a row it did not answer.
    unanswered: u32,
    /// What it may still relay from authors new here.
    new_authors: slots::Bucket,
}

/// Pings in a row a peer may leave unanswered before its connection is closed: a link cut
/// without a reset (a partition that keeps TCP up) is noticed, and the peer redialled.
const MAX_UNANSWERED: u32 = 2;
/// Sync intervals without a successful session after which a peer is flagged as stale, and
/// without any peer after which the node warns that it is alone.
const STALE_AFTER: u32 = 3;

/// How long the node has been without a peer, and what it tried meanwhile.
#[derive(Debug)]
struct Alone {
    since: Option<Instant>,
    warned: bool,
    /// The last failure of each address or peer dialled: what the warning names.
    tried: std::collections::BTreeMap<String, String>,
}

impl Alone {
    /// Most failures kept for the warning.
    const TRIED: usize = 32;

    /// Alone from now on, nothing tried yet.
    fn from_now() -> Alone {
        Alone {
            since: Some(Instant::now()),
            warned: false,
            tried: std::collections::BTreeMap::new(),
        }
    }

    /// A dial failed: kept for the warning while the node is alone.
    fn tried(&mut self, what: String, why: String) {
        if self.since.is_some()
            && (self.tried.len() < Alone::TRIED || self.tried.contains_key(&what))
        {
            self.tried.insert(what, why);
        }
    }
}

/// The deepest cause of an error: `Connection refused (os error 111)` rather than the
/// layers of transport wrapping around it.
fn cause(error: &dyn std::error::Error) -> String {
    let mut deepest = error;
    while let Some(source) = deepest.source() {
        deepest = source;
    }
    deepest.to_string()
}

/// Refuses a listen address whose port another process holds. libp2p listens with
/// `SO_REUSEPORT` (so that dials can leave from the listening port), which would let a
/// second node share the port quietly; a plain bind first, without it, is refused instead.
pub fn exclusive(addr: &Multiaddr) -> Result<(), Error> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    let ip: std::net::IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = parts.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((ip, port)) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Listen {
            addr: addr.clone(),
            reason: if e.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "port {port} is in use by another program (another node on this machine?); stop it, or set another port with --listen or p2p.listen"
                )
            } else {
                format!("{e}; set another address with --listen or p2p.listen")
            },
        }),
    }
}

/// Why a dial failed, address by address.
fn dial_failure(error: &libp2p::swarm::DialError) -> String {
    match error {
        libp2p::swarm::DialError::Transport(attempts) => attempts
            .iter()
            .map(|(addr, e)| format!("{addr}: {}", cause(e)))
            .collect::<Vec<_>>()
            .join("; "),
        other => cause(other),
    }
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    config: Config,
    commands: mpsc::Receiver<Command>,
    records: broadcast::Receiver<ingest::Event>,
    ingest: Arc<Ingest>,
    handle: Handle,
    shutdown: CancellationToken,
    topic: IdentTopic,
    pending:
        HashMap<OutboundRequestId, tokio::sync::oneshot::Sender<Result<sync::Response, Error>>>,
    peers: HashMap<PeerId, Peer>,
    bootstrap: Vec<Bootstrap>,
    invalid: HashMap<PeerId, u32>,
    banned: HashMap<PeerId, Instant>,
    sessions: usize,
    answers: Arc<tokio::sync::Semaphore>,
    validations: Arc<tokio::sync::Semaphore>,
    cache: Arc<StorageCache>,
    /// The transport identities of the authors this node's policy trusts: like bootstrap
    /// peers, they always keep their slot.
    trusted: std::collections::HashSet<PeerId>,
    book: PeerBook,
    alone: Alone,
}

impl EventLoop {
    pub(crate) fn start(
        config: Config,
        key: libp2p::identity::Keypair,
        ingest: Arc<Ingest>,
        shutdown: CancellationToken,
    ) -> Result<(Handle, tokio::task::JoinHandle<()>), Error> {
        let build = |e: &dyn std::fmt::Display| Error::Build(e.to_string());
        let (mdns, max_peers) = (config.mdns, config.max_peers);
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| build(&e))?
            .with_dns()
            .map_err(|e| build(&e))?
            .with_behaviour(|key| {
                Behaviour::new(key, mdns, max_peers)
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            })
            .map_err(|e| build(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build();
        // Every port is probed before any is listened on: libp2p's own listener would make
        // a dual-stack probe of the same port fail.
        for addr in &config.listen {
            exclusive(addr)?;
        }
        for addr in &config.listen {
            swarm.listen_on(addr.clone()).map_err(|e| Error::Listen {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        }
        let topic = IdentTopic::new(TOPIC);
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| build(&e))?;

        let (tx, rx) = mpsc::channel(COMMAND_BUFFER);
        let handle = Handle {
            commands: tx,
            metrics: Arc::new(Metrics::default()),
            peer_id: *swarm.local_peer_id(),
        };
        let bootstrap = config
            .bootstrap
            .iter()
            .map(|addr| Bootstrap {
                addr: addr.clone(),
                peer: addr.iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::P2p(id) => Some(id),
                    _ => None,
                }),
                connected: false,
                next_attempt: Instant::now(),
                backoff: BACKOFF_MIN,
                dialing: None,
            })
            .collect();
        let banned = config.bans.as_deref().map(bans::load).unwrap_or_default();
        if !banned.is_empty() {
            tracing::info!(
                peers = banned.len(),
                "bans from before the restart still run"
            );
        }
        let trusted = ingest
            .policy()
            .trusted
            .iter()
            .filter_map(|author| {
                let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(&author.to_bytes())
                    .ok()?;
                Some(libp2p::identity::PublicKey::from(key).to_peer_id())
            })
            .collect();
        let book = PeerBook::load(config.peer_book.clone(), now_ms());
        let event_loop = EventLoop {
            swarm,
            config,
            commands: rx,
            records: ingest.subscribe(),
            ingest,
            handle: handle.clone(),
            shutdown,
            topic,
            pending: HashMap::new(),
            peers: HashMap::new(),
            bootstrap,
            invalid: HashMap::new(),
            banned,
            sessions: 0,
            answers: Arc::new(tokio::sync::Semaphore::new(MAX_ANSWERS)),
            validations: Arc::new(tokio::sync::Semaphore::new(MAX_VALIDATIONS)),
            cache: Arc::default(),
            trusted,
            book,
            alone: Alone::from_now(),
        };
        Ok((handle, tokio::spawn(event_loop.run())))
    }

    async fn run(mut self) {
        let mut sync_timer = tokio::time::interval(self.config.sync_interval);
        sync_timer.tick().await;
        let mut redial = tokio::time::interval(Duration::from_millis(500));
        let mut discovery = tokio::time::interval(Duration::from_secs(60));
        if self.book.len() > 0 {
            tracing::info!(
                peers = self.book.len(),
                "dialling the peers met before, beside the bootstrap peers"
            );
        }
        self.dial_book();
        loop {
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => break,
                Some(command) = self.commands.recv() => self.on_command(command),
                record = self.records.recv() => self.on_record(record),
                event = self.swarm.select_next_some() => self.on_swarm(event),
                _ = sync_timer.tick() => self.sync_all(),
                _ = redial.tick() => self.redial(),
                _ = discovery.tick() => {
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                    if self.peers.is_empty() {
                        self.dial_book();
                    }
                    self.book.save();
                }
            }
        }
        self.book.save();
        tracing::info!("network stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let peers = self
                    .peers
                    .iter()
                    .map(|(id, p)| PeerStatus {
                        peer_id: id.to_string(),
                        address: p.address.clone(),
                        last_sync: p.last_sync.clone(),
                        stale: p.synced.unwrap_or(p.since).elapsed()
                            > self.config.sync_interval * STALE_AFTER,
                    })
                    .collect();
                let alone = self.alone_warning();
                let _ = reply.send(NetStatus { peers, alone });
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::Respond {
                peer,
                channel,
                response,
            } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.answering = p.answering.saturating_sub(1);
                }
                // Fails only if the peer went away meanwhile.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Validated {
                id,
                source,
                acceptance,
            } => {
                let rejected = matches!(acceptance, MessageAcceptance::Reject);
                if let (MessageAcceptance::Accept, Some(p)) =
                    (&acceptance, self.peers.get_mut(&source))
                {
                    p.given += 1;
                }
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, acceptance);
                if rejected {
                    self.penalise(source, 1);
                }
            }
            Command::SyncDone { peer, report } => {
                self.sessions -= 1;
                let metrics = &self.handle.metrics;
                let ok = report.error.is_none();
                match &report.error {
                    Some(error) => {
                        tracing::warn!(%peer, %error, records_in = report.records_in, records_out = report.records_out, bytes_in = report.bytes_received, bytes_out = report.bytes_sent, "sync session failed")
                    }
                    // A round that moved nothing is only worth a line when debugging.
                    None if report.records_in + report.records_out == 0 => {
                        tracing::debug!(%peer, bytes_in = report.bytes_received, bytes_out = report.bytes_sent, "sync session: nothing to exchange")
                    }
                    None => {
                        tracing::info!(%peer, records_in = report.records_in, records_out = report.records_out, bytes_in = report.bytes_received, bytes_out = report.bytes_sent, rounds = report.rounds, ms = report.duration_ms, "sync session")
                    }
                }
                Metrics::add(
                    if ok {
                        &metrics.sync_sessions_ok
                    } else {
                        &metrics.sync_sessions_failed
                    },
                    1,
                );
                Metrics::add(&metrics.sync_bytes_sent, report.bytes_sent);
                Metrics::add(&metrics.sync_bytes_received, report.bytes_received);
                Metrics::add(&metrics.sync_records_in, report.records_in);
                Metrics::add(&metrics.sync_records_out, report.records_out);
                if !ok {
                    metrics.failed_with(peer);
                }
                // Only while it brings something: versions this node will not store (stale,
                // refused by policy) wait for the next interval.
                let more = ok && report.more && report.records_in > 0;
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.syncing = false;
                    if ok {
                        p.synced = Some(Instant::now());
                    }
                    p.last_sync = Some(report);
                }
                if more {
                    // A new node catching up does not wait an interval between shares.
                    self.start_sync(peer);
                }
            }
            Command::Penalise { peer, invalid } => self.penalise(peer, invalid),
            Command::Gave { peer, records } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.given += records;
                }
            }
        }
    }

    /// Publishes what this node's editors wrote; what came from peers was forwarded by
    /// gossipsub already, or reached this node by sync (and reaches others the same way).
    fn on_record(&mut self, record: Result<ingest::Event, broadcast::error::RecvError>) {
        let event = match record {
            Ok(event) => event,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                // Happens while catching up: records from sync, which are not published,
                // arrive faster than this loop drains them.
                tracing::info!(
                    skipped = n,
                    "skipped record events while busy; any written here reach peers at the next sync"
                );
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !matches!(event.source, Source::Local | Source::Http | Source::Import) {
            return;
        }
        let bytes = event.stored.record.bytes().to_vec();
        match self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), bytes)
        {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {
                Metrics::add(&self.handle.metrics.gossip_published, 1)
            }
            Err(e) => tracing::debug!(error = %e, "not published; sync will deliver it"),
        }
    }

    fn penalise(&mut self, peer: PeerId, invalid: u32) {
        Metrics::add(&self.handle.metrics.penalties, u64::from(invalid));
        let count = self.invalid.entry(peer).or_default();
        *count += invalid;
        tracing::warn!(%peer, invalid = *count, "peer sent invalid records");
        // Gossipsub's score falls faster (invalid messages count squared): once it graylists
        // a peer, nothing more of it would be read anyway, so let it go.
        let graylisted = self
            .swarm
            .behaviour()
            .gossipsub
            .peer_score(&peer)
            .is_some_and(|score| score < GRAYLIST);
        if *count >= self.config.ban_threshold || graylisted {
            tracing::warn!(%peer, "banning peer for an hour: too many invalid records");
            Metrics::add(&self.handle.metrics.bans, 1);
            let now = Instant::now();
            // Bans that ran out go, so that throwaway identities do not pile up.
            self.banned.retain(|_, until| *until > now);
            self.banned.insert(peer, now + BAN);
            if let Some(path) = &self.config.bans {
                bans::save(path, &self.banned);
            }
            self.invalid.remove(&peer);
            self.book.forget(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Lets a peer go if there are more than the slots; returns which.
    fn make_room(&mut self) -> Option<PeerId> {
        let standings: Vec<Standing> = self
            .peers
            .iter()
            .map(|(id, p)| Standing {
                peer: *id,
                protected: self.is_partner(id),
                given: p.given,
                since: p.since,
                ip: p.ip,
            })
            .collect();
        let victim = slots::evict(&standings, self.config.max_peers as usize)?;
        // Gone from the count at once: its connection closes on its own time.
        let given = self.peers.remove(&victim).map_or(0, |p| p.given);
        self.handle.metrics.peers.fetch_sub(1, Ordering::Relaxed);
        tracing::info!(peer = %victim, given, slots = self.config.max_peers, "all peer slots are taken, or one address holds too many: letting go of the peer that gave least");
        let _ = self.swarm.disconnect_peer_id(victim);
        Some(victim)
    }

    fn is_banned(&mut self, peer: &PeerId) -> bool {
        match self.banned.get(peer) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                self.banned.remove(peer);
                false
            }
            None => false,
        }
    }

    /// A bootstrap peer, or the node of a trusted author: never let go, never kept waiting.
    fn is_partner(&self, peer: &PeerId) -> bool {
        self.bootstrap.iter().any(|b| b.peer == Some(*peer)) || self.trusted.contains(peer)
    }

    fn start_sync(&mut self, peer: PeerId) {
        // Strangers that answer slowly, or not at all, may hold every session for a while;
        // a partner's session starts anyway.
        if self.sessions >= MAX_SESSIONS && !self.is_partner(&peer) {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.syncing {
            return;
        }
        p.syncing = true;
        self.sessions += 1;
        tokio::spawn(session::run(self.handle.clone(), self.ingest.clone(), peer));
    }

    fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            self.start_sync(peer);
        }
    }

    /// Dials the peers met before that are not connected.
    fn dial_book(&mut self) {
        for (peer, addrs) in self.book.dialable() {
            if peer == *self.swarm.local_peer_id()
                || self.swarm.is_connected(&peer)
                || self.is_banned(&peer)
            {
                continue;
            }
            if let Err(e) = self
                .swarm
                .dial(DialOpts::peer_id(peer).addresses(addrs).build())
            {
                self.alone.tried(peer.to_string(), cause(&e));
            }
        }
    }

    /// After a few sync intervals without any peer: what the node tried, in plain words.
    fn alone_warning(&self) -> Option<String> {
        let since = self.alone.since?;
        let after = self.config.sync_interval * STALE_AFTER;
        if since.elapsed() < after {
            return None;
        }
        let secs = since.elapsed().as_secs();
        let waited = if secs >= 120 {
            format!("{} min", secs / 60)
        } else {
            format!("{secs} s")
        };
        let met = self.book.dialable().len();
        if self.bootstrap.is_empty() && met == 0 {
            return Some(format!(
                "no peer for {waited}, and none to try: name two or three partner nodes in p2p.bootstrap (or --bootstrap), or open this node's p2p port to them"
            ));
        }
        let mut tried: Vec<String> = self
            .alone
            .tried
            .iter()
            .take(5)
            .map(|(what, why)| format!("{what} ({why})"))
            .collect();
        if self.alone.tried.len() > 5 {
            tried.push(format!("and {} more", self.alone.tried.len() - 5));
        }
        Some(format!(
            "no peer for {waited}: tried {} bootstrap peer(s) and {} peer(s) met before{}{}; check that they are up and that their p2p port is open to this node, or add others to p2p.bootstrap",
            self.bootstrap.len(),
            met,
            if tried.is_empty() { "" } else { ": " },
            tried.join(", ")
        ))
    }

    fn redial(&mut self) {
        let now = Instant::now();
        if !self.alone.warned
            && let Some(warning) = self.alone_warning()
        {
            tracing::warn!("{warning}");
            self.alone.warned = true;
        }
        for b in &mut self.bootstrap {
            let connected = b.peer.is_some_and(|p| self.swarm.is_connected(&p));
            b.connected = connected;
            if connected || b.dialing.is_some() || b.next_attempt > now {
                continue;
            }
            let opts = match b.peer {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![b.addr.clone()])
                    .build(),
                None => DialOpts::unknown_peer_id().address(b.addr.clone()).build(),
            };
            b.dialing = Some(opts.connection_id());
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(addr = %b.addr, error = %e, "dial failed");
                b.dialing = None;
                b.next_attempt = now + b.backoff;
                b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => tracing::info!(%address, "p2p listening"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.is_banned(&peer_id) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                for b in &mut self.bootstrap {
                    if b.dialing == Some(connection_id) || b.peer == Some(peer_id) {
                        b.peer = Some(peer_id);
                        b.dialing = None;
                        b.backoff = BACKOFF_MIN;
                    }
                }
                self.alone.since = None;
                // A peer that dialled in is in the book once identify says it is one of ours.
                if endpoint.is_dialer() {
                    self.book
                        .learn(peer_id, [endpoint.get_remote_address().clone()], now_ms());
                    self.book.connected(peer_id, now_ms());
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, address = %endpoint.get_remote_address(), "peer connected");
                    self.handle.metrics.peers.fetch_add(1, Ordering::Relaxed);
                    self.peers.insert(
                        peer_id,
                        Peer {
                            address: endpoint.get_remote_address().to_string(),
                            ip: endpoint.get_remote_address().iter().find_map(|p| match p {
                                libp2p::multiaddr::Protocol::Ip4(ip) => Some(ip.into()),
                                libp2p::multiaddr::Protocol::Ip6(ip) => Some(ip.into()),
                                _ => None,
                            }),
                            since: Instant::now(),
                            given: 0,
                            syncing: false,
                            answering: 0,
                            last_sync: None,
                            synced: None,
                            unanswered: 0,
                            new_authors: slots::Bucket::new(Instant::now()),
                        },
                    );
                    if self.make_room() != Some(peer_id) {
                        self.start_sync(peer_id);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                cause,
                ..
            } => {
                let why = cause
                    .as_ref()
                    .map_or_else(|| "closed".to_owned(), |e| self::cause(e));
                tracing::info!(peer = %peer_id, cause = %why, "peer disconnected");
                if self.peers.remove(&peer_id).is_some() {
                    self.handle.metrics.peers.fetch_sub(1, Ordering::Relaxed);
                }
                if self.peers.is_empty() && self.alone.since.is_none() {
                    self.alone = Alone::from_now();
                }
                let now = Instant::now();
                for b in &mut self.bootstrap {
                    if b.peer == Some(peer_id) {
                        b.connected = false;
                        b.next_attempt = now + b.backoff;
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                let now = Instant::now();
                let why = dial_failure(&error);
                let bootstrap = self
                    .bootstrap
                    .iter()
                    .find(|b| b.dialing == Some(connection_id));
                let what = match (bootstrap, peer_id) {
                    (Some(b), _) => b.addr.to_string(),
                    (None, Some(peer)) => peer.to_string(),
                    (None, None) => "an address".to_owned(),
                };
                self.alone.tried(what, why.clone());
                for b in &mut self.bootstrap {
                    if b.dialing == Some(connection_id) {
                        tracing::debug!(addr = %b.addr, error = %why, "bootstrap peer unreachable");
                        b.dialing = None;
                        b.next_attempt = now + b.backoff;
                        b.backoff = (b.backoff * 2).min(BACKOFF_MAX);
                    }
                }
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour(event),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result,
            }) => {
                let Some(p) = self.peers.get_mut(&peer) else {
                    return;
                };
                match result {
                    Ok(_) => p.unanswered = 0,
                    // A peer without ping says nothing of the link.
                    Err(ping::Failure::Unsupported) => {}
                    Err(e) => {
                        p.unanswered += 1;
                        if p.unanswered >= MAX_UNANSWERED {
                            tracing::warn!(%peer, error = %e, "the peer stopped answering pings: closing the connection (a bootstrap peer is dialled again)");
                            p.unanswered = 0;
                            self.swarm.close_connection(connection);
                        }
                    }
                }
            }
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != crate::behaviour::IDENTIFY_PROTOCOL
                    || self.is_banned(&peer_id)
                {
                    return;
                }
                self.book
                    .learn(peer_id, info.listen_addrs.iter().cloned(), now_ms());
                self.book.connected(peer_id, now_ms());
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, addresses, ..
            }) => {
                if !self.is_banned(&peer) {
                    self.book.learn(peer, addresses.into_vec(), now_ms());
                }
                let wanted = (self.peers.len() as u32) < self.config.max_peers;
                if wanted && !self.swarm.is_connected(&peer) && !self.is_banned(&peer) {
                    let _ = self.swarm.dial(peer);
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    if !self.swarm.is_connected(&peer) {
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        } = event
        else {
            return;
        };
        let permit = self.validations.clone().try_acquire_owned().ok();
        let flood = permit.is_some() && !self.new_author_allowed(propagation_source, &message.data);
        let (Some(permit), false) = (permit, flood) else {
            // Too many records being checked, or too many new authors from this peer: drop
            // this one unforwarded, without blame; the next sync brings it if it is good.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Ignore,
                );
            return;
        };
        let (ingest, handle) = (self.ingest.clone(), self.handle.clone());
        tokio::spawn(async move {
            let result =
                tokio::task::spawn_blocking(move || ingest.submit(&message.data, Source::Gossip))
                    .await;
            drop(permit);
            let acceptance = match result {
                Ok(Ok(accepted)) if accepted.outcome.news() => MessageAcceptance::Accept,
                // Forged, malformed, oversize: the sender is at fault.
                Ok(Err(Rejection::Invalid(_))) => MessageAcceptance::Reject,
                // Known already, stale, refused by this node's policy: not forwarded, no blame.
                _ => MessageAcceptance::Ignore,
            };
            handle
                .send(Command::Validated {
                    id: message_id,
                    source: propagation_source,
                    acceptance,
                })
                .await;
        });
    }

    /// Whether a gossiped record may go on to be checked: always if its author is known
    /// here, else while the relaying peer's bucket of new authors lasts.
    fn new_author_allowed(&mut self, peer: PeerId, bytes: &[u8]) -> bool {
        let Ok(unverified) = maillage_core::Record::decode_unverified(bytes) else {
            return true; // The check says what is wrong with it.
        };
        let author = unverified.record().author;
        if self.ingest.store().author_count(&author).unwrap_or(0) > 0 {
            return true;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return true;
        };
        let allowed = p.new_authors.take(Instant::now());
        if !allowed {
            Metrics::add(&self.handle.metrics.gossip_flood_dropped, 1);
        }
        allowed
    }

    fn on_sync(&mut self, event: request_response::Event<sync::Request, sync::Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    // Too many answers in flight, for this peer or for all: refuse rather
                    // than queue without bound.
                    let answering = self.peers.get(&peer).map_or(0, |p| p.answering);
                    let permit = (answering < MAX_ANSWERS_PER_PEER)
                        .then(|| self.answers.clone().try_acquire_owned().ok())
                        .flatten();
                    let Some(permit) = permit else {
                        let busy = sync::Response::Refused("busy, try later".into());
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, busy);
                        return;
                    };
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.answering += 1;
                    }
                    let (ingest, cache, handle) =
                        (self.ingest.clone(), self.cache.clone(), self.handle.clone());
                    tokio::spawn(async move {
                        let response =
                            session::answer(ingest, cache, handle.clone(), peer, request).await;
                        handle
                            .send(Command::Respond {
                                peer,
                                channel,
                                response,
                            })
                            .await;
                        drop(permit);
                    });
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(Error::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync request from peer failed");
            }
            _ => {}
        }
    }
}
