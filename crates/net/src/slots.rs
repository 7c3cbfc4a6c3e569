//! Who keeps a connection slot when there are more peers than slots. No I/O: the event
//! loop asks, and disconnects the answer.
//!
//! Bootstrap peers and the nodes of trusted authors always keep theirs. Of the others, the one that has given this node
//! least (records by sync or gossip) goes first, and of those that gave as little, the one
//! connected longest: a newcomer gets the slot of a peer that sat idle, so throwaway
//! identities that fill every slot and do nothing are pushed out by the first partner that
//! arrives, while a partner that brought records is never pushed out by them. And no one
//! address holds more than [`MAX_PER_IP`] slots: past it, the peer that gave least from that
//! address goes, whether the slots are full or not.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use libp2p::PeerId;

/// What the choice weighs of a connected peer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Standing {
    pub peer: PeerId,
    /// A bootstrap peer, or a trusted author's node: never let go.
    pub protected: bool,
    /// Records it has brought that the store took.
    pub given: u64,
    pub since: Instant,
    /// The address it connected from, if it is an IP one.
    pub ip: Option<IpAddr>,
}

/// Slots one IP address may hold (bootstrap peers aside).
pub(crate) const MAX_PER_IP: usize = 8;

/// The peer to let go so that `slots` are enough and no address holds too many, if one
/// must and may go.
pub(crate) fn evict(peers: &[Standing], slots: usize) -> Option<PeerId> {
    let open = || peers.iter().filter(|p| !p.protected);
    let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
    for ip in open().filter_map(|p| p.ip) {
        *per_ip.entry(ip).or_default() += 1;
    }
    let crowded = |p: &&Standing| p.ip.is_some_and(|ip| per_ip[&ip] > MAX_PER_IP);
    let least = |p: &&Standing| (p.given, p.since);
    if let Some(p) = open().filter(crowded).min_by_key(least) {
        return Some(p.peer);
    }
    if peers.len() <= slots {
        return None;
    }
    open().min_by_key(least).map(|p| p.peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn standing(protected: bool, given: u64, age_s: u64, now: Instant) -> Standing {
        Standing {
            peer: PeerId::random(),
            protected,
            given,
            since: now - Duration::from_secs(age_s),
            ip: None,
        }
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let now = Instant::now();
        let at = |ip: [u8; 4], given, age| Standing {
            ip: Some(IpAddr::from(ip)),
            ..standing(false, given, age, now)
        };
        let mut peers: Vec<Standing> = (0..MAX_PER_IP as u64)
            .map(|i| at([192, 0, 2, 1], 10, i))
            .collect();
        peers.push(at([198, 51, 100, 7], 0, 99));
        assert_eq!(evict(&peers, 50), None, "at the limit");
        let ninth = at([192, 0, 2, 1], 0, 1);
        peers.push(ninth);
        // The crowded address loses its least useful peer, though the other gave nothing.
        assert_eq!(evict(&peers, 50), Some(ninth.peer));
    }

    #[test]
    fn the_idle_oldest_goes_and_partners_stay() {
        let now = Instant::now();
        let bootstrap = standing(true, 0, 500, now);
        let partner = standing(false, 40, 400, now);
        let idle_old = standing(false, 0, 300, now);
        let idle_young = standing(false, 0, 200, now);
        let newcomer = standing(false, 0, 0, now);
        let all = [bootstrap, partner, idle_old, idle_young, newcomer];
        assert_eq!(evict(&all, 5), None, "room for all");
        assert_eq!(evict(&all, 4), Some(idle_old.peer));
        let rest = [bootstrap, partner, idle_young, newcomer];
        assert_eq!(evict(&rest, 3), Some(idle_young.peer));
        // Only those that gave and the protected are left: the one that gave least goes.
        let generous = standing(false, 90, 100, now);
        assert_eq!(
            evict(&[bootstrap, partner, generous], 2),
            Some(partner.peer)
        );
        assert_eq!(evict(&[bootstrap, standing(true, 0, 1, now)], 1), None);
    }
}

/// Records from authors this node has never seen that one peer may relay by gossip, per
/// minute, and at once: an honest partner relays a few new networks a day, a flood of
/// throwaway authors is cut to this. What is cut is not forwarded, and no one is blamed:
/// sync brings it later, at sync's pace.
pub(crate) const NEW_AUTHORS_PER_MINUTE: f64 = 60.0;
const NEW_AUTHORS_BURST: f64 = 120.0;

/// A token bucket for one peer's records from new authors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(crate) fn new(now: Instant) -> Bucket {
        Bucket {
            tokens: NEW_AUTHORS_BURST,
            at: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let refill =
            now.saturating_duration_since(self.at).as_secs_f64() * NEW_AUTHORS_PER_MINUTE / 60.0;
        self.tokens = (self.tokens + refill).min(NEW_AUTHORS_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_a_steady_trickle() {
        let start = Instant::now();
        let mut bucket = Bucket::new(start);
        let taken = (0..500).filter(|_| bucket.take(start)).count();
        assert_eq!(taken, NEW_AUTHORS_BURST as usize);
        // A minute later, a minute's worth more.
        let later = start + Duration::from_secs(60);
        let taken = (0..500).filter(|_| bucket.take(later)).count();
        assert_eq!(taken, NEW_AUTHORS_PER_MINUTE as usize);
    }
}
