//! The federation, end to end: real `maillage` processes on 127.0.0.1, their record logs on
//! disk, real libp2p over TCP.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Node, now_ms, path_of, wait_for, within};
use maillage_core::{Body, Kind, Record, SigningKey};
use serde_json::{Value, json};

/// Short enough that a missed gossip message is repaired within a test's deadline.
const SYNC: &[&str] = &["--sync-interval", "3"];

fn with_sync(extra: &[&str]) -> Vec<String> {
    let default = if extra.contains(&"--sync-interval") {
        &[][..]
    } else {
        SYNC
    };
    default.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn start(root: &std::path::Path, name: &str, bootstrap: &[&Node], extra: &[&str]) -> Node {
    let mut args = with_sync(extra);
    for peer in bootstrap {
        args.push("--bootstrap".into());
        args.push(peer.multiaddr());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Node::start(root, name, &args)
}

fn digest(node: &Node) -> (String, u64) {
    let s = node.status();
    (
        s["state_digest"].as_str().unwrap().to_owned(),
        s["versions"].as_u64().unwrap(),
    )
}

fn wait_converged(nodes: &[&Node], versions: u64) {
    wait_for("every state digest to be equal", || {
        let digests: Vec<(String, u64)> = nodes.iter().map(|n| digest(n)).collect();
        (digests.iter().all(|d| *d == digests[0]) && digests[0].1 == versions).then_some(())
    });
}

fn wait_peers(node: &Node, n: u64) {
    wait_for("peers to connect", || {
        (node.status()["peers"].as_u64().unwrap() >= n).then_some(())
    });
}

#[test]
fn a_record_written_on_a_reaches_c_through_b() {
    let root = tempfile::tempdir().unwrap();
    // No periodic sync here: after the syncs on connection, only gossip carries records.
    let once = ["--sync-interval", "3600"];
    let a = start(root.path(), "a", &[], &once);
    let b = start(root.path(), "b", &[&a], &once);
    let c = start(root.path(), "c", &[&b], &once);
    wait_peers(&b, 2);
    let created = a.post_json(
        "organisation",
        "from-a",
        json!({"name": "Written on A", "countries": ["BR"]}),
    );
    assert_eq!(created.status, 201);
    let on_c = wait_for("the record on C", || {
        Some(c.get(&path_of(&created.json))).filter(|r| r.status == 200)
    });
    assert_eq!(on_c.json["cbor"], created.json["cbor"]);
    // B, connected to A before the write, can only have it by gossip. A publishes to the
    // peers it knows subscribed: the first record may go out before B's subscription
    // arrived, so write until one is gossiped.
    let gossiped = || b.metric("maillage_ingest_accepted_total{source=\"gossip\",outcome=\"new\"}");
    for i in 0..10 {
        if gossiped() >= 1 {
            break;
        }
        a.post_json(
            "organisation",
            &format!("gossip-{i}"),
            json!({"name": format!("Gossip {i}")}),
        );
        within(std::time::Duration::from_secs(2), || {
            (gossiped() >= 1).then_some(())
        });
    }
    assert!(gossiped() >= 1, "{}", b.metrics());
    assert!(a.metric("maillage_gossip_published_total") >= 1);
    wait_converged(&[&a, &b, &c], a.status()["versions"].as_u64().unwrap());
    let status = c.status();
    let peers: Vec<&Value> = status["peer_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["peer_id"])
        .collect();
    assert!(
        peers.contains(&&b.status()["peer_id"]),
        "C's peers: {status}"
    );
}

#[test]
fn a_node_that_was_offline_catches_up_by_itself() {
    let root = tempfile::tempdir().unwrap();
    let a = start(root.path(), "a", &[], &[]);
    let b = start(root.path(), "b", &[&a], &[]);
    let mut c = start(root.path(), "c", &[&b], &[]);
    wait_peers(&c, 1);
    assert!(c.stop().success());
    for i in 0..100 {
        assert_eq!(
            a.post_json(
                "organisation",
                &format!("a-{i}"),
                json!({"name": format!("A {i}")})
            )
            .status,
            201
        );
        assert_eq!(
            b.post_json(
                "organisation",
                &format!("b-{i}"),
                json!({"name": format!("B {i}")})
            )
            .status,
            201
        );
    }
    wait_converged(&[&a, &b], 200);
    c.restart();
    wait_converged(&[&a, &b, &c], 200);
    assert_eq!(c.status()["records"]["organisation"], 200);
    // Gossip carries only what is new while a node listens: all 200 came by sync (counted
    // once the batch that carried them is flushed).
    wait_for("C to count 200 records taken by sync", || {
        (c.metric("maillage_ingest_accepted_total{source=\"sync\",outcome=\"new\"}") == 200)
            .then_some(())
    });
}

#[test]
fn a_tombstone_propagates_and_stays() {
    let root = tempfile::tempdir().unwrap();
    let a = start(root.path(), "a", &[], &[]);
    let mut c = start(root.path(), "c", &[&a], &[]);
    let created = a.post_json(
        "organisation",
        "short-lived",
        json!({"name": "Short-lived"}),
    );
    let path = path_of(&created.json);
    wait_for("the record on C", || {
        (c.get(&path).status == 200).then_some(())
    });
    assert_eq!(a.delete(&path).status, 200);
    wait_for("the deletion on C", || {
        (c.get(&path).status == 404).then_some(())
    });
    wait_converged(&[&a, &c], 1);
    c.stop();
    c.restart();
    assert_eq!(c.get(&path).status, 404);
    wait_converged(&[&a, &c], 1);
    assert_eq!(c.status()["records"]["organisation"], 0);
}

#[test]
fn an_equivocation_ends_with_one_winner_everywhere() {
    let root = tempfile::tempdir().unwrap();
    let a = start(root.path(), "a", &[], &[]);
    let b = start(root.path(), "b", &[&a], &[]);
    let c = start(root.path(), "c", &[&b], &[]);
    wait_peers(&b, 2);
    let key = SigningKey::from_bytes(&[42; 32]);
    let sign = |name: &str| {
        let body = Body::from_json(Kind::Organisation, json!({"name": name})).unwrap();
        Record::sign(
            &key,
            Kind::Organisation,
            "two-faced".parse().unwrap(),
            1,
            now_ms(),
            body,
        )
        .unwrap()
    };
    let (one, two) = (sign("Version one"), sign("Version two"));
    assert_eq!(a.post_cbor(one.bytes()).status, 201);
    // 409 if gossip brought version one to C first (C then keeps the lower hash, and
    // version two as the evidence): either way the end below is the same.
    let second = c.post_cbor(two.bytes());
    assert!(matches!(second.status, 201 | 409), "{second:?}");
    let winner = one.hash().min(two.hash()).to_string();
    let path = format!(
        "/api/v1/records/{}/organisation/two-faced",
        one.author.did()
    );
    for node in [&a, &b, &c] {
        wait_for("one winner, flagged", || {
            let r = node.get(&path);
            (r.json["hash"] == winner.as_str() && r.json["equivocation"] == true).then_some(())
        });
    }
    // Every node holds the winner and, as evidence, the loser: the same two versions.
    wait_converged(&[&a, &b, &c], 2);
}

#[test]
fn a_trusted_node_ignores_unlisted_authors_while_open_nodes_keep_them() {
    let root = tempfile::tempdir().unwrap();
    let a = start(root.path(), "a", &[], &[]);
    let trusted = start(root.path(), "trusted", &[&a], &["--policy", "trusted"]);
    let c = start(root.path(), "c", &[&a], &[]);
    wait_peers(&a, 2);
    let stranger = SigningKey::from_bytes(&[77; 32]);
    let body = Body::from_json(Kind::Organisation, json!({"name": "From a stranger"})).unwrap();
    let record = Record::sign(
        &stranger,
        Kind::Organisation,
        "stranger".parse().unwrap(),
        1,
        now_ms(),
        body,
    )
    .unwrap();
    assert_eq!(a.post_cbor(record.bytes()).status, 201);
    let path = format!(
        "/api/v1/records/{}/organisation/stranger",
        record.author.did()
    );
    wait_for("the record on the open node C", || {
        (c.get(&path).status == 200).then_some(())
    });
    // The trusted node was offered it, by gossip or sync, and refused it by policy.
    wait_for("the trusted node to refuse it", || {
        let refused = trusted
            .metric("maillage_ingest_rejected_total{source=\"gossip\",reason=\"policy\"}")
            + trusted.metric("maillage_ingest_rejected_total{source=\"sync\",reason=\"policy\"}");
        (refused >= 1).then_some(())
    });
    assert_eq!(trusted.get(&path).status, 404);
    // Its own records still go out.
    let own = trusted.post_json(
        "organisation",
        "own",
        json!({"name": "The trusted node's own"}),
    );
    wait_for("the trusted node's record on C", || {
        (c.get(&path_of(&own.json)).status == 200).then_some(())
    });
    // Writing a stranger's record to it directly is refused too, with the reason.
    let direct = trusted.post_cbor(record.bytes());
    assert_eq!(direct.status, 403);
    assert!(
        direct
            .error()
            .contains("only accepts records from trusted authors"),
        "{direct:?}"
    );
}

#[test]
fn a_lost_bootstrap_peer_is_redialled() {
    let root = tempfile::tempdir().unwrap();
    let mut a = start(root.path(), "a", &[], &[]);
    let c = start(root.path(), "c", &[&a], &[]);
    wait_peers(&c, 1);
    assert!(a.stop().success());
    wait_for("C to see A go", || (c.status()["peers"] == 0).then_some(()));
    a.restart();
    // A knows nobody: C must come back by itself.
    wait_peers(&c, 1);
    let created = a.post_json(
        "organisation",
        "after-restart",
        json!({"name": "After the restart"}),
    );
    wait_for("the record on C", || {
        (c.get(&path_of(&created.json)).status == 200).then_some(())
    });
}

#[test]
fn a_node_an_hour_behind_holds_what_is_ahead_says_so_and_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let a = start(root.path(), "a", &[], &[]);
    for i in 0..5 {
        let r = a.post_json(
            "organisation",
            &format!("before-{i}"),
            json!({"name": format!("Before {i}")}),
        );
        assert_eq!(r.status, 201);
    }
    let args = with_sync(&["--bootstrap", &a.multiaddr()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut b = Node::start_skewed(root.path(), "b", &args, "-1h");
    wait_peers(&b, 1);
    // What sync brings from an hour ahead is held, not fetched again and again.
    wait_for("B to hold A's five records", || {
        (b.status()["clock"]["held_from_the_future"] == 5).then_some(())
    });
    // Fresh gossip tells B its clock is off, in its status and its log.
    for i in 0..12 {
        let r = a.post_json(
            "organisation",
            &format!("after-{i}"),
            json!({"name": format!("After {i}")}),
        );
        assert_eq!(r.status, 201);
    }
    let clock = wait_for("B to see its clock is behind", || {
        let clock = b.status()["clock"].clone();
        clock["warning"].is_string().then_some(clock)
    });
    let ahead = clock["peers_ahead_ms"].as_i64().unwrap();
    assert!((3_300_000..3_900_000).contains(&ahead), "{clock}");
    assert!(
        clock["warning"].as_str().unwrap().contains("60 min behind"),
        "{clock}"
    );
    assert!(b.log().contains("this node's clock is about 60 min behind"));
    assert_eq!(b.status()["records"]["organisation"], 0);
    let fetched = b.metric("maillage_ingest_rejected_total{source=\"sync\",reason=\"future\"}");
    std::thread::sleep(std::time::Duration::from_secs(8));
    let again = b.metric("maillage_ingest_rejected_total{source=\"sync\",reason=\"future\"}");
    assert!(
        again <= fetched + 12,
        "held records are fetched again: {fetched} then {again}"
    );
    // Its clock set right, B converges with A: nothing was lost.
    assert!(b.stop().success());
    b.env.clear();
    b.restart();
    wait_converged(&[&a, &b], 17);
}

#[test]
fn idle_identities_in_every_slot_make_room_for_a_partner() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("v")).unwrap();
    std::fs::write(root.path().join("v/config.toml"), "[p2p]\nmax_peers = 3\n").unwrap();
    let v = start(root.path(), "v", &[], &[]);
    // Six throwaway nodes for three peer slots (six connections): they would take every
    // connection there is, and give nothing.
    let idle: Vec<Node> = (0..6)
        .map(|i| start(root.path(), &format!("idle-{i}"), &[&v], &[]))
        .collect();
    wait_peers(&v, 3);
    // A partner with records arrives: it gets a slot, and V gets its records.
    let partner = start(root.path(), "partner", &[], &[]);
    for i in 0..20 {
        let r = partner.post_json(
            "organisation",
            &format!("p-{i}"),
            json!({"name": format!("P {i}")}),
        );
        assert_eq!(r.status, 201);
    }
    let mut partner = partner;
    assert!(partner.stop().success());
    partner
        .args
        .extend(["--bootstrap".to_owned(), v.multiaddr()]);
    partner.restart();
    wait_for("V to take the partner's records", || {
        (v.status()["records"]["organisation"] == 20).then_some(())
    });
    assert!(v.log().contains("letting go of the peer that gave least"));
    // The idle ones keep dialling back; the partner keeps its slot all along.
    let partner_id = partner.status()["peer_id"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        let status = v.status();
        assert!(status["peers"].as_u64().unwrap() <= 3, "{status}");
        let listed = status["peer_list"].as_array().unwrap();
        assert!(
            listed.iter().any(|p| p["peer_id"] == partner_id.as_str()),
            "the partner lost its slot: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    drop(idle);
}
