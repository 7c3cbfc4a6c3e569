//! The libp2p behaviour of a node, and the parameters every node must agree on.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    StreamProtocol, connection_limits, gossipsub, identify, identity, kad, mdns, ping,
    request_response,
};

use crate::codec::Codec;
use crate::sync;

/// The gossip topic of records.
pub const TOPIC: &str = "maillage/records/1";
/// Kademlia's protocol name: a Maillage DHT, apart from any other.
pub const KAD_PROTOCOL: &str = "/maillage/kad/1";
/// Identify's protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/maillage/1";
/// Gossipsub score under which a peer is ignored (and then disconnected by the node).
pub const GRAYLIST: f64 = -80.0;
/// Largest gossip message every node accepts: a 64 KiB record and gossipsub's framing
/// (the signature, the key, the topic). All nodes must agree on it.
pub const MAX_GOSSIP: usize = 66 * 1024;

/// How often a connection is pinged, and how long an answer may take.
pub const PING_INTERVAL: Duration = Duration::from_secs(10);

#[derive(NetworkBehaviour)]
#[allow(missing_debug_implementations)] // libp2p behaviours implement no Debug
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::Behaviour<Codec>,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Gossipsub for a federation of 2 to 50 nodes: a small mesh (the defaults never settle
/// with five nodes), a quick first heartbeat, and every message validated by the node's
/// ingest pipeline before it is forwarded.
fn gossipsub(key: &identity::Keypair) -> Result<gossipsub::Behaviour, String> {
    let config = gossipsub::ConfigBuilder::default()
        .mesh_n(4)
        .mesh_n_low(2)
        .mesh_n_high(8)
        .mesh_outbound_min(1)
        .heartbeat_initial_delay(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_secs(1))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(MAX_GOSSIP)
        // Content-addressed ids: the record's hash, so a record is one message wherever it
        // comes from.
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(maillage_core::Hash::of(&m.data).to_string())
        })
        .build()
        .map_err(|e| e.to_string())?;
    let mut behaviour =
        gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)?;

    // Scoring: invalid records cost a peer dearly; quiet meshes cost nothing (a federation
    // can go hours without a new record, so delivery-rate penalties would punish everyone).
    let topic = gossipsub::IdentTopic::new(TOPIC).hash();
    let topic_params = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        first_message_deliveries_weight: 1.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // Squared: one invalid record costs 10, three cost 90, past the graylist.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    let params = gossipsub::PeerScoreParams {
        topics: HashMap::from([(topic, topic_params)]),
        // Several nodes behind one address is normal on a test bench or a shared host.
        ip_colocation_factor_whitelist: HashSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        ..Default::default()
    };
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST,
        ..Default::default()
    };
    behaviour.with_peer_score(params, thresholds)?;
    Ok(behaviour)
}

impl Behaviour {
    pub fn new(key: &identity::Keypair, mdns: bool, max_peers: u32) -> Result<Behaviour, String> {
        let peer_id = key.public().to_peer_id();
        let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
        kad_config.set_query_timeout(Duration::from_secs(30));
        let mut kad =
            kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
        // Servers answer DHT queries without waiting for an external address to be confirmed.
        kad.set_mode(Some(kad::Mode::Server));
        let sync = request_response::Behaviour::with_codec(
            Codec::default(),
            [(
                StreamProtocol::new(sync::PROTOCOL),
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(60))
                .with_max_concurrent_streams(16),
        );
        let mdns = if mdns {
            Some(
                mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(max_peers * 2))
            .with_max_established_per_peer(Some(2))
            .with_max_pending_incoming(Some(max_peers));
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(limits),
            identify: identify::Behaviour::new(
                identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                    .with_agent_version(format!("maillage/{}", env!("CARGO_PKG_VERSION"))),
            ),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(PING_INTERVAL)
                    .with_timeout(PING_INTERVAL),
            ),
            gossipsub: gossipsub(key)?,
            sync,
            kad,
            mdns: Toggle::from(mdns),
        })
    }
}
