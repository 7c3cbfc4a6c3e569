//! Peers met before, kept across restarts so that a node whose bootstrap peers are down
//! still finds the federation: `peers.json`,
//! `{"<peer id>": {"addrs": ["<multiaddr>", …], "connected": <ms>, "heard": <ms>}}` (ms since
//! the Unix epoch), rewritten whole (to a temporary name, flushed, then renamed) when it
//! changed.
//!
//! Addresses come from identify (what a connected peer says it listens on) and Kademlia
//! (what other peers say of it); `connected` is when a connection with it last succeeded
//! (a dial, or identify saying it is a maillage node), absent for a peer only heard of;
//! `heard`, when it was first heard of. The book is bounded: the peers connected most recently
//! are kept, and a peer not reached for [`FORGET_AFTER_MS`] is forgotten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use libp2p::{Multiaddr, PeerId};
use serde::{Deserialize, Serialize};

use crate::state_file;

/// Most peers kept, and most addresses per peer.
const MAX_PEERS: usize = 256;
const MAX_ADDRS: usize = 8;
/// A peer not connected for this long is forgotten: 30 days.
pub(crate) const FORGET_AFTER_MS: u64 = 30 * 24 * 3600 * 1000;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// Newest first.
    pub addrs: Vec<Multiaddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<u64>,
    /// When it was first heard of: a peer never connected is forgotten as one that was.
    #[serde(default)]
    pub heard: u64,
}

#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    path: Option<PathBuf>,
    peers: HashMap<PeerId, Entry>,
    changed: bool,
}

impl PeerBook {
    /// The book in `path`; empty if there is none. A file that does not read is reported
    /// and left for the operator (it is replaced at the next save).
    pub fn load(path: Option<PathBuf>, now: u64) -> PeerBook {
        let mut book = PeerBook {
            peers: path.as_deref().map(read).unwrap_or_default(),
            path,
            changed: false,
        };
        book.prune(now);
        book
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Every peer with an address, those connected most recently first.
    pub fn dialable(&self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut peers: Vec<(&PeerId, &Entry)> = self
            .peers
            .iter()
            .filter(|(_, e)| !e.addrs.is_empty())
            .collect();
        peers.sort_by_key(|(_, e)| std::cmp::Reverse(e.connected));
        peers
            .into_iter()
            .map(|(p, e)| (*p, e.addrs.clone()))
            .collect()
    }

    /// Addresses a peer is reachable at, newest first.
    pub fn learn(&mut self, peer: PeerId, addrs: impl IntoIterator<Item = Multiaddr>, now: u64) {
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            heard: now,
            ..Entry::default()
        });
        for addr in addrs {
            // A `/p2p/<id>` suffix is implied by the key.
            let addr: Multiaddr = addr
                .into_iter()
                .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
                .collect();
            if entry.addrs.first() == Some(&addr) {
                continue;
            }
            entry.addrs.retain(|a| *a != addr);
            entry.addrs.insert(0, addr);
            entry.addrs.truncate(MAX_ADDRS);
            self.changed = true;
        }
        self.prune(now);
    }

    /// A connection with `peer` succeeded.
    pub fn connected(&mut self, peer: PeerId, now: u64) {
        let entry = self.peers.entry(peer).or_insert_with(|| Entry {
            heard: now,
            ..Entry::default()
        });
        entry.connected = Some(now);
        self.changed = true;
        self.prune(now);
    }

    /// Drops a peer: one banned.
    pub fn forget(&mut self, peer: &PeerId) {
        self.changed |= self.peers.remove(peer).is_some();
    }

    fn prune(&mut self, now: u64) {
        let before = self.peers.len();
        self.peers
            .retain(|_, e| now.saturating_sub(e.connected.unwrap_or(e.heard)) < FORGET_AFTER_MS);
        if self.peers.len() > MAX_PEERS {
            let mut by_age: Vec<(PeerId, (Option<u64>, u64))> = self
                .peers
                .iter()
                .map(|(p, e)| (*p, (e.connected, e.heard)))
                .collect();
            by_age.sort_by_key(|(_, age)| std::cmp::Reverse(*age));
            for (peer, _) in by_age.split_off(MAX_PEERS) {
                self.peers.remove(&peer);
            }
        }
        self.changed |= self.peers.len() != before;
    }

    /// Writes the book down if it changed since the last time.
    pub fn save(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.changed {
            return;
        }
        let saved: HashMap<String, &Entry> =
            self.peers.iter().map(|(p, e)| (p.to_string(), e)).collect();
        if state_file::save(path, &saved, "the peers met") {
            self.changed = false;
        }
    }
}

fn read(path: &Path) -> HashMap<PeerId, Entry> {
    let saved: HashMap<String, Entry> = state_file::load(
        path,
        "the peers met before",
        "{\"<peer id>\": {\"addrs\": […], \"connected\": <ms>, \"heard\": <ms>}}",
    )
    .unwrap_or_default();
    saved
        .into_iter()
        .filter_map(|(peer, entry)| Some((peer.parse().ok()?, entry)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().expect("valid")
    }

    #[test]
    fn peers_outlive_a_restart_newest_first() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("peers.json");
        let (old, new, heard) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut book = PeerBook::load(Some(path.clone()), 1_000);
        book.learn(old, [addr(1)], 1_000);
        book.connected(old, 1_000);
        // An address with the peer id on it is kept without.
        let with_id = addr(2).with(libp2p::multiaddr::Protocol::P2p(new));
        book.learn(new, [addr(3), with_id], 2_000);
        book.connected(new, 2_000);
        book.learn(heard, [addr(4)], 3_000);
        book.save();

        let book = PeerBook::load(Some(path.clone()), 4_000);
        assert_eq!(book.len(), 3);
        let dialable = book.dialable();
        assert_eq!(dialable[0], (new, vec![addr(2), addr(3)]));
        assert_eq!(dialable[1], (old, vec![addr(1)]));
        assert_eq!(dialable[2], (heard, vec![addr(4)]));

        std::fs::write(&path, "not json").expect("writes");
        assert_eq!(PeerBook::load(Some(path), 4_000).len(), 0);
    }

    #[test]
    fn the_book_forgets_peers_gone_for_a_month_and_stays_bounded() {
        let mut book = PeerBook::load(None, 0);
        let gone = PeerId::random();
        book.learn(gone, [addr(1)], 0);
        book.connected(gone, 0);
        for n in 0..MAX_PEERS as u64 + 10 {
            let peer = PeerId::random();
            book.learn(peer, [addr(2)], FORGET_AFTER_MS + n);
            if n >= 10 {
                book.connected(peer, FORGET_AFTER_MS + n);
            }
        }
        assert_eq!(book.len(), MAX_PEERS);
        assert!(!book.peers.contains_key(&gone));
        // The ten never connected went first.
        assert!(book.peers.values().all(|e| e.connected.is_some()));
        // Addresses per peer are bounded too, newest first.
        let peer = PeerId::random();
        book.connected(peer, FORGET_AFTER_MS + 1_000);
        for port in 0..20 {
            book.learn(peer, [addr(port)], FORGET_AFTER_MS + 1_000);
        }
        assert_eq!(book.peers[&peer].addrs.len(), MAX_ADDRS);
        assert_eq!(book.peers[&peer].addrs[0], addr(19));
    }
}
