//! Maillage networking: the libp2p behaviour (gossipsub on `maillage/records/1`, the
//! `/maillage/sync/1` anti-entropy protocol, Kademlia on `/maillage/kad/1`, identify, ping)
//! and the one task that owns the swarm, driven through a cloneable handle.
//!
//! Not built yet: this crate holds the place of the network layer in the workspace.
