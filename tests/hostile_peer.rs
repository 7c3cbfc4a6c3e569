//! Raw libp2p peers against a real node: one publishes forged, malformed and oversize records
//! on its topic (none is stored or forwarded, and the peer is penalised, then cut off); one
//! speaks `/maillage/sync/2` and answers fetches with records it was not asked for (the
//! session ends at once, nothing is taken, the peer is penalised); eight that never answer
//! hold every sync session, and a partner is synced with all the same.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Node, path_of, wait_for};
use futures::StreamExt as _;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, noise, tcp, yamux};
use maillage_core::{Body, Kind, Record, SigningKey};
use serde_json::{Value, json};

fn forged(i: usize) -> Vec<u8> {
    let key = SigningKey::from_bytes(&[8; 32]);
    let body = Body::from_json(
        Kind::Organisation,
        json!({"name": format!("Genuine {i:03}")}),
    )
    .unwrap();
    let record = Record::sign(
        &key,
        Kind::Organisation,
        format!("forged-{i}").parse().unwrap(),
        1,
        1_700_000_000_000,
        body,
    )
    .unwrap();
    let mut bytes = record.bytes().to_vec();
    let at = bytes.windows(7).position(|w| w == b"Genuine").unwrap();
    bytes[at..at + 7].copy_from_slice(b"Forged!");
    bytes
}

/// A fresh libp2p peer that joins the victim's topic and publishes `payloads`, one every
/// 100 ms. Returns whether the victim cut it off.
async fn attack(victim: &Node, payloads: Vec<Vec<u8>>) -> bool {
    let mut attacker = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|key| -> gossipsub::Behaviour {
            let config = gossipsub::ConfigBuilder::default()
                .heartbeat_initial_delay(Duration::from_millis(100))
                .heartbeat_interval(Duration::from_millis(200))
                // Big enough to send what the victim must refuse.
                .max_transmit_size(1024 * 1024)
                .build()
                .unwrap();
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
                .unwrap()
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let topic = gossipsub::IdentTopic::new("maillage/records/1");
    attacker.behaviour_mut().subscribe(&topic).unwrap();
    attacker
        .dial(victim.multiaddr().parse::<libp2p::Multiaddr>().unwrap())
        .unwrap();
    tokio::time::timeout(common::DEADLINE, async {
        loop {
            if let SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) =
                attacker.select_next_some().await
            {
                break;
            }
        }
    })
    .await
    .expect("the victim's subscription");

    let mut pending = payloads.into_iter();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let cut_off = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Some(p) = pending.next() {
                        // A publish may fail once the victim has cut us off.
                        let _ = attacker.behaviour_mut().publish(topic.clone(), p);
                    }
                }
                event = attacker.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { num_established: 0, .. } = event {
                        break;
                    }
                }
            }
        }
    })
    .await;
    cut_off.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_malformed_and_oversize_records_go_nowhere() {
    let root = tempfile::tempdir().unwrap();
    let mut victim = Node::start(root.path(), "victim", &["--sync-interval", "2"]);
    let args = ["--sync-interval", "2", "--bootstrap", &victim.multiaddr()];
    let observer = Node::start(root.path(), "observer", &args);
    wait_for("the observer to connect", || {
        (victim.status()["peers"].as_u64().unwrap() >= 1).then_some(())
    });
    let rejected = |reason: &str| {
        victim.metric(&format!(
            "maillage_ingest_rejected_total{{source=\"gossip\",reason=\"{reason}\"}}"
        ))
    };

    assert!(
        attack(&victim, (0..12).map(forged).collect()).await,
        "forged: {}",
        victim.metrics()
    );
    assert!(rejected("bad_signature") >= 1);

    // Each different, so that gossip does not drop repeats as duplicates.
    let malformed = (0..12u8)
        .map(|i| match i % 4 {
            0 => format!("not a record at all {i}").into_bytes(),
            1 => vec![0xa1, 0x61, 0x76, i],
            2 => vec![0x9f; 8 + usize::from(i)],
            _ => vec![0x82, 0x01, i],
        })
        .collect();
    assert!(
        attack(&victim, malformed).await,
        "malformed: {}",
        victim.metrics()
    );
    assert!(
        rejected("not_canonical") + rejected("malformed") >= 1,
        "{}",
        victim.metrics()
    );

    // Over the gossip frame limit: gossipsub drops it before anything reads it.
    attack(&victim, vec![vec![0xff; 100 * 1024]]).await;
    // Under the frame limit but over the record limit: the ingest pipeline refuses it.
    let oversize = (0..12)
        .map(|i| vec![i; maillage_core::MAX_RECORD + 64])
        .collect();
    assert!(
        attack(&victim, oversize).await,
        "oversize: {}",
        victim.metrics()
    );
    assert!(rejected("too_large") >= 1, "{}", victim.metrics());

    // Each attacker is cut off: by gossipsub's score, or at the node's own threshold of
    // ten invalid records.
    assert!(
        victim.metric("maillage_peer_bans_total") >= 3,
        "{}",
        victim.metrics()
    );
    assert_eq!(victim.status()["versions"], 0);
    // Nothing was forwarded: the observer never saw one of them.
    assert_eq!(observer.status()["versions"], 0);
    assert!(
        !observer.metrics().contains("source=\"gossip\""),
        "{}",
        observer.metrics()
    );
    // The node still serves its own: a record written on the victim reaches the observer.
    let own = victim.post_json("organisation", "still-fine", json!({"name": "Still fine"}));
    assert_eq!(own.status, 201);
    let path = path_of(&own.json);
    wait_for("the victim's own record on the observer", || {
        (observer.get(&path).status == 200).then_some(())
    });
    // The bans outlive a restart.
    let bans: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(victim.dir.join("bans.json")).unwrap())
            .unwrap();
    assert!(bans.len() >= 3, "{bans:?}");
    victim.stop();
    victim.restart();
    assert!(
        victim
            .log()
            .contains("bans from before the restart still run")
    );
}

/// A raw libp2p peer that speaks `/maillage/sync/2` and nothing else, with frame limits
/// far above the node's so that it can send what the node must refuse.
fn sync_peer() -> libp2p::Swarm<libp2p::request_response::Behaviour<maillage_net::codec::Codec>> {
    use libp2p::request_response::{self, ProtocolSupport};
    let codec = maillage_net::codec::Codec::with_limit(16 * 1024 * 1024);
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(
                    libp2p::StreamProtocol::new(maillage_net::sync::PROTOCOL),
                    ProtocolSupport::Full,
                )],
                // Long enough to hold a request unanswered for the whole of a test.
                request_response::Config::default()
                    .with_max_concurrent_streams(64)
                    .with_request_timeout(Duration::from_secs(600)),
            )
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// A signed record the victim does not hold.
fn genuine(i: usize) -> Record {
    let key = SigningKey::from_bytes(&[9; 32]);
    let body =
        Body::from_json(Kind::Organisation, json!({"name": format!("Offered {i}")})).unwrap();
    Record::sign(
        &key,
        Kind::Organisation,
        format!("offered-{i}").parse().unwrap(),
        1,
        common::now_ms(),
        body,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_peer_that_answers_what_was_not_asked_is_cut_short_and_penalised() {
    use libp2p::request_response;
    use maillage_net::sync::{self, Request, Response};

    let root = tempfile::tempdir().unwrap();
    let victim = Node::start(root.path(), "victim", &["--sync-interval", "2"]);
    // The responder says it holds five records, and answers every fetch with five others.
    let held: Vec<Record> = (0..5).map(genuine).collect();
    let others: Vec<Record> = (5..10).map(genuine).collect();
    let mut items: Vec<(u64, maillage_core::Hash)> =
        held.iter().map(|r| (r.time, r.hash())).collect();
    items.sort();
    let storage = sync::storage(&items).unwrap();
    let mut hostile = sync_peer();
    hostile
        .dial(victim.multiaddr().parse::<libp2p::Multiaddr>().unwrap())
        .unwrap();
    let mut fetches = 0;
    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = hostile.select_next_some().await
            else {
                continue;
            };
            let response = match request {
                Request::Reconcile(message) => {
                    Response::Reconcile(sync::respond(&storage, &message).unwrap())
                }
                Request::Fetch(_) => {
                    fetches += 1;
                    Response::Records(
                        others
                            .iter()
                            .map(|r| sync::Record(r.bytes().to_vec()))
                            .collect(),
                    )
                }
                Request::Offer(_) => Response::Taken {
                    accepted: 0,
                    rejected: 0,
                },
            };
            let _ = hostile.behaviour_mut().send_response(channel, response);
            if fetches == 1 {
                break;
            }
        }
    })
    .await;
    assert!(
        answered.is_ok(),
        "the victim never fetched: {}",
        victim.log()
    );
    // The session ends at the first wrong answer: no record of it is taken, the peer is
    // penalised, and the reason is logged.
    wait_for("the victim to end the session", || {
        victim
            .log()
            .contains("the peer answered a fetch with 5 records it was not asked for")
            .then_some(())
    });
    assert!(
        victim.metric("maillage_peer_penalties_total") >= 5,
        "{}",
        victim.metrics()
    );
    assert_eq!(victim.status()["records"]["organisation"], 0);
    // Kept driving the swarm a little: no further fetch comes in this session.
    let more = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request: Request::Fetch(_),
                        ..
                    },
                ..
            }) = hostile.select_next_some().await
            {
                return;
            }
        }
    })
    .await;
    assert!(more.is_err(), "the victim fetched again within the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_peer_that_floods_offers_or_sends_oversize_frames_gets_busy_and_nothing() {
    use libp2p::request_response;
    use maillage_net::sync::{self, Request, Response};

    let root = tempfile::tempdir().unwrap();
    let victim = Node::start(root.path(), "victim", &["--sync-interval", "60"]);
    let mut hostile = sync_peer();
    let victim_addr: libp2p::Multiaddr = victim.multiaddr().parse().unwrap();
    hostile.dial(victim_addr).unwrap();
    let victim_id = loop {
        if let SwarmEvent::ConnectionEstablished { peer_id, .. } = hostile.select_next_some().await
        {
            break peer_id;
        }
    };
    // Twenty offers at once, each of a hundred valid records: four at a time are taken,
    // the rest are told the node is busy.
    let key = SigningKey::from_bytes(&[12; 32]);
    for batch in 0..20 {
        let records = (0..100)
            .map(|i| {
                let body = Body::from_json(
                    Kind::Organisation,
                    json!({"name": format!("Flood {batch} {i}")}),
                )
                .unwrap();
                let id = format!("flood-{batch}-{i}").parse().unwrap();
                let r =
                    Record::sign(&key, Kind::Organisation, id, 1, common::now_ms(), body).unwrap();
                sync::Record(r.bytes().to_vec())
            })
            .collect();
        hostile
            .behaviour_mut()
            .send_request(&victim_id, Request::Offer(records));
    }
    let (mut taken, mut busy, mut failed) = (0, 0, 0);
    tokio::time::timeout(Duration::from_secs(30), async {
        while taken + busy + failed < 20 {
            match hostile.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => match response {
                    Response::Taken { .. } => taken += 1,
                    Response::Refused(why) if why.contains("busy") => busy += 1,
                    other => panic!("unexpected answer {other:?}"),
                },
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                    failed += 1
                }
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("answers: {taken} taken, {busy} busy, {failed} failed"));
    // Past the sixteen streams a peer may have open, streams are dropped unread.
    assert!(failed <= 4, "{taken} taken, {busy} busy, {failed} dropped");
    assert!(taken >= 1 && busy >= 1, "{taken} taken, {busy} busy");
    let stored = victim.status()["records"]["organisation"].as_u64().unwrap();
    assert_eq!(
        stored,
        100 * taken,
        "what was taken is stored, nothing else"
    );

    // An offer over the frame limit, compressed or not (hashes do not compress): the
    // victim reads no more than the limit, answers nothing, and goes on serving.
    let noise = |r: u32| -> Vec<u8> {
        (0..32 * 1024u32)
            .flat_map(|i| maillage_core::Hash::of(&[r.to_be_bytes(), i.to_be_bytes()].concat()).0)
            .collect()
    };
    let oversize = (0..6).map(|r| sync::Record(noise(r))).collect();
    hostile
        .behaviour_mut()
        .send_request(&victim_id, Request::Offer(oversize));
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match hostile.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => return,
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => panic!("an oversize offer was answered: {response:?}"),
                _ => {}
            }
        }
    })
    .await
    .expect("the oversize offer fails");
    assert_eq!(victim.get("/health").status, 200);
    assert_eq!(
        victim.status()["records"]["organisation"].as_u64().unwrap(),
        stored
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sync_peers_in_every_session_keep_no_partner_waiting() {
    use libp2p::request_response;
    use maillage_net::sync::{self, Hash32, Request, Response};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let root = tempfile::tempdir().unwrap();
    // Eight peers that take sync requests and never answer, each at an address of its own
    // (a slot limit counts peers by IP), which the victim dials from its peer book.
    let held = Arc::new(AtomicUsize::new(0));
    let mut book = serde_json::Map::new();
    for n in 0..8u8 {
        let mut silent = sync_peer();
        silent
            .listen_on(format!("/ip4/127.0.0.{}/tcp/0", n + 2).parse().unwrap())
            .unwrap();
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = silent.select_next_some().await {
                break address;
            }
        };
        book.insert(
            silent.local_peer_id().to_string(),
            json!({"addrs": [addr.to_string()], "connected": common::now_ms(), "heard": common::now_ms()}),
        );
        let held = held.clone();
        tokio::spawn(async move {
            let mut channels = vec![];
            loop {
                if let SwarmEvent::Behaviour(request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request: Request::Reconcile(_),
                            channel,
                            ..
                        },
                    ..
                }) = silent.select_next_some().await
                {
                    if channels.is_empty() {
                        held.fetch_add(1, Ordering::SeqCst);
                    }
                    channels.push(channel);
                }
            }
        });
    }
    let dir = root.path().join("victim");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("peers.json"), Value::Object(book).to_string()).unwrap();

    // The partner, a bootstrap peer, is down when the victim starts. It answers sync
    // honestly and never starts a session itself: only the victim's own session brings
    // its records.
    let mut partner = sync_peer();
    let port = common::free_port();
    let bootstrap = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{}", partner.local_peer_id());
    let victim = Node::start(
        root.path(),
        "victim",
        &["--sync-interval", "2", "--bootstrap", &bootstrap],
    );
    wait_for("eight sessions held by silent peers", || {
        (held.load(Ordering::SeqCst) == 8).then_some(())
    });

    let records: Vec<Record> = (100..103).map(genuine).collect();
    let mut items: Vec<(u64, maillage_core::Hash)> =
        records.iter().map(|r| (r.time, r.hash())).collect();
    items.sort();
    let storage = sync::storage(&items).unwrap();
    partner
        .listen_on(format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap())
        .unwrap();
    tokio::spawn(async move {
        loop {
            let SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            }) = partner.select_next_some().await
            else {
                continue;
            };
            let response = match request {
                Request::Reconcile(message) => {
                    Response::Reconcile(sync::respond(&storage, &message).unwrap())
                }
                Request::Fetch(wanted) => Response::Records(
                    records
                        .iter()
                        .filter(|r| wanted.contains(&Hash32(r.hash().0)))
                        .map(|r| sync::Record(r.bytes().to_vec()))
                        .collect(),
                ),
                Request::Offer(_) => Response::Taken {
                    accepted: 0,
                    rejected: 0,
                },
            };
            let _ = partner.behaviour_mut().send_response(channel, response);
        }
    });
    wait_for("the partner's records on the victim", || {
        (victim.status()["records"]["organisation"] == 3).then_some(())
    });
}
