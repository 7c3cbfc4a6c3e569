//! One node, end to end: the real binary, its record log on disk, real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use base64::Engine as _;
use common::{Node, now_ms, path_of};
use maillage_core::{Body, Kind, Record, SigningKey};
use serde_json::{Value, json};

/// A record signed by a key that is not the node's.
fn signed_elsewhere(key: &SigningKey, kind: Kind, id: &str, seq: u64, body: Value) -> Record {
    let body = Body::from_json(kind, body).unwrap();
    Record::sign(key, kind, id.parse().unwrap(), seq, now_ms(), body).unwrap()
}

#[test]
fn write_read_restart_gives_the_same_bytes() {
    let root = tempfile::tempdir().unwrap();
    let mut node = Node::start(root.path(), "a", &[]);
    let created = node.post_json(
        "organisation",
        "coop-dakar",
        json!({
            "name": "Coopérative de Dakar",
            "countries": ["SN"],
            "location": {"lat": 14.6928, "lon": -17.4467},
            "description": {"fr": "Une coopérative", "en": "A cooperative"}
        }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    let path = path_of(&created.json);
    let read = node.get(&path);
    assert_eq!(read.status, 200);
    assert_eq!(read.json["cbor"], created.json["cbor"]);
    assert_eq!(read.json["body"]["location"]["lat"], 14.6928);

    assert!(
        node.stop().success(),
        "SIGTERM must end the node cleanly: {}",
        node.log()
    );
    node.restart();
    let again = node.get(&path);
    assert_eq!(again.status, 200);
    assert_eq!(again.json["cbor"], created.json["cbor"]);
    assert_eq!(again.json["hash"], created.json["hash"]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(again.json["cbor"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        Record::decode(&bytes).unwrap().hash().to_string(),
        again.json["hash"]
    );
}

#[test]
fn a_deleted_record_stays_gone_across_restarts() {
    let root = tempfile::tempdir().unwrap();
    let mut node = Node::start(root.path(), "a", &[]);
    let created = node.post_json("organisation", "gone", json!({"name": "Soon gone"}));
    let path = path_of(&created.json);
    let deleted = node.delete(&path);
    assert_eq!(deleted.status, 200, "{deleted:?}");
    assert_eq!(deleted.json["body"], json!({"deleted": true}));
    assert!(deleted.json["seq"].as_u64().unwrap() > created.json["seq"].as_u64().unwrap());
    assert_eq!(node.get(&path).status, 404);
    assert_eq!(node.delete(&path).status, 404, "deleting twice");
    assert_eq!(node.status()["records"]["organisation"], 0);
    node.stop();
    node.restart();
    assert_eq!(node.get(&path).status, 404);
    node.searchable();
    let search = node.get("/api/v1/organisations?q=gone");
    assert_eq!(search.json["items"], json!([]));
    // The tombstone is what the change feed serves for the address, so aggregators forget it.
    let changes = node.get("/api/v1/changes?since=0");
    let items = changes.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["body"], json!({"deleted": true}));
}

#[test]
fn a_collaboration_is_confirmed_only_by_the_networks_listing_its_parties() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let did = node.did();
    let other = SigningKey::from_bytes(&[9; 32]);
    let org = signed_elsewhere(
        &other,
        Kind::Organisation,
        "partner",
        1,
        json!({"name": "Partner network", "countries": ["SN"], "primary_activity": "activities-modified:AM60"}),
    );
    assert_eq!(node.post_cbor(org.bytes()).status, 201);
    let profile = signed_elsewhere(
        &other,
        Kind::Organisation,
        "profile",
        1,
        json!({"name": "RENAPESS"}),
    );
    assert_eq!(node.post_cbor(profile.bytes()).status, 201);
    node.post_json(
        "organisation",
        "us",
        json!({"name": "Our network", "countries": ["FR"], "primary_activity": "activities-modified:AM60"}),
    );
    node.post_json(
        "organisation",
        "member",
        json!({"name": "A member of ours", "countries": ["FR"]}),
    );
    node.post_json("organisation", "profile", json!({"name": "RIPESS Europe"}));
    let collab = node.post_json(
        "collaboration",
        "joint",
        json!({
            "title": "Joint project",
            "status": "active",
            "start": "2024",
            "parties": [
                {"ref": format!("maillage:{did}/organisation/us"), "role": "coordinator"},
                {"ref": org.address().to_string(), "role": "partner"}
            ]
        }),
    );
    assert_eq!(collab.status, 201, "{collab:?}");
    assert_eq!(collab.json["confirmed"], false);
    assert_eq!(collab.json["confirmation"]["verdict"], "awaiting");
    assert_eq!(collab.json["author_name"], "RIPESS Europe");
    let parties = &collab.json["confirmation"]["parties"];
    assert_eq!(parties[0]["state"], "confirmed");
    assert_eq!(parties[0]["lister_name"], "RIPESS Europe");
    assert_eq!(parties[1]["state"], "awaiting");
    assert_eq!(parties[1]["lister"], other_did(&other));
    assert_eq!(parties[1]["lister_name"], "RENAPESS");
    // One key listing both parties declares; it does not confirm.
    let alone = node.post_json(
        "collaboration",
        "alone",
        json!({
            "title": "Among our own",
            "parties": [
                {"ref": format!("maillage:{did}/organisation/us"), "role": "coordinator"},
                {"ref": format!("maillage:{did}/organisation/member"), "role": "partner"}
            ]
        }),
    );
    assert_eq!(alone.json["confirmation"]["verdict"], "one-voice");
    assert_eq!(alone.json["confirmed"], false);
    node.searchable();
    assert_eq!(
        node.get("/api/v1/collaborations?confirmed=true").json["items"],
        json!([])
    );

    let endorsement = signed_elsewhere(
        &other,
        Kind::Endorsement,
        "joint-ok",
        1,
        json!({
            "target": collab.json["address"], "stance": "confirmed"
        }),
    );
    assert_eq!(node.post_cbor(endorsement.bytes()).status, 201);
    let read = node.get(&path_of(&collab.json));
    assert_eq!(read.json["confirmed"], true);
    assert_eq!(read.json["confirmation"]["verdict"], "confirmed");
    assert_eq!(read.json["endorsed_by"], json!([org.author.did()]));
    node.searchable();
    let confirmed = node.get("/api/v1/collaborations?confirmed=true");
    assert_eq!(
        confirmed.json["items"][0]["address"],
        collab.json["address"]
    );

    // The counts a researcher cites: one North–South intercontinental collaboration in
    // food in 2024, and one among French members whose sector is the coordinator's.
    let stats = node.get("/api/v1/stats/collaborations?by=direction,level,sector,year");
    assert_eq!(stats.status, 200, "{stats:?}");
    assert_eq!(stats.json["total"], 2);
    assert!(
        stats.json["rows"].as_array().unwrap().contains(&json!({
            "direction": "north-south", "level": "intercontinental",
            "sector": "activities-modified:AM60", "year": "2024", "count": 1
        })),
        "{stats:?}"
    );
    assert!(
        stats.json["rows"].as_array().unwrap().contains(&json!({
            "direction": "north-north", "level": "national",
            "sector": "activities-modified:AM60", "year": "unknown", "count": 1
        })),
        "{stats:?}"
    );
    let csv = node.get("/api/v1/stats/collaborations?by=direction&format=csv&confirmed=true");
    assert_eq!(csv.json, "direction,count\nnorth-south,1\n");
    let network = node.get("/api/v1/stats/collaborations?by=network");
    assert_eq!(
        network.json["dimensions"]["network"],
        json!([{"value": did, "label": "RIPESS Europe", "count": 2}])
    );
    let bad = node.get("/api/v1/stats/collaborations?by=level,level");
    assert_eq!(bad.status, 400);
    assert!(bad.error().contains("twice"), "{bad:?}");
    let bad = node.get("/api/v1/stats/collaborations?by=colour");
    assert_eq!(bad.status, 400);
    assert!(
        bad.error()
            .contains("direction, level, sector, year, network"),
        "{bad:?}"
    );
    // As many counted collaborations as asked for, by title, each with its parties'
    // names and regions; none unless asked.
    assert!(stats.json.get("items").is_none(), "{stats:?}");
    let one = node.get("/api/v1/stats/collaborations?items=1");
    assert_eq!(one.json["total"], 2);
    assert_eq!(one.json["items"].as_array().unwrap().len(), 1, "{one:?}");
    let all = node.get("/api/v1/stats/collaborations?items=10");
    let items = all.json["items"].as_array().unwrap();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap()).collect();
    let mut sorted = titles.clone();
    sorted.sort();
    assert_eq!((titles.len(), &titles), (2, &sorted), "{all:?}");
    assert_eq!(one.json["items"][0]["title"], titles[0]);
    let regions: Vec<&Value> = items
        .iter()
        .flat_map(|i| i["parties"].as_array().unwrap())
        .map(|p| &p["regions"])
        .collect();
    assert!(regions.contains(&&json!(["europe"])), "{regions:?}");
    for wrong in ["true", "200001", "-1"] {
        let bad = node.get(&format!("/api/v1/stats/collaborations?items={wrong}"));
        assert_eq!(bad.status, 400, "{bad:?}");
        assert!(bad.error().contains("how many"), "{bad:?}");
    }

    // An organisation read alone names the networks it is a member of that this node holds.
    let member = node.post_json(
        "organisation",
        "a-member",
        json!({"name": "A member", "member_of": [
            format!("maillage:{did}/organisation/profile"),
            format!("maillage:{did}/organisation/not-here")]}),
    );
    assert_eq!(
        node.get(&path_of(&member.json)).json["names"],
        json!({format!("maillage:{did}/organisation/profile"): "RIPESS Europe"})
    );

    // A party deleted: the collaboration says so, and a search for confirmed ones no
    // longer finds it.
    let gone = Record::sign(
        &other,
        Kind::Organisation,
        "partner".parse().unwrap(),
        2,
        now_ms(),
        Body::Deleted,
    )
    .unwrap();
    assert_eq!(node.post_cbor(gone.bytes()).status, 201);
    let read = node.get(&path_of(&collab.json));
    assert_eq!(read.json["confirmation"]["verdict"], "party-deleted");
    assert_eq!(read.json["confirmation"]["parties"][1]["state"], "deleted");
    node.searchable();
    assert_eq!(
        node.get("/api/v1/collaborations?confirmed=true").json["items"],
        json!([])
    );

    // Withdrawn: no longer confirmed.
    let withdrawn = signed_elsewhere(
        &other,
        Kind::Endorsement,
        "joint-ok",
        2,
        json!({
            "target": collab.json["address"], "stance": "withdrawn"
        }),
    );
    assert_eq!(node.post_cbor(withdrawn.bytes()).status, 201);
    assert_eq!(
        node.get(&path_of(&collab.json)).json["endorsed_by"],
        json!([])
    );
}

fn other_did(key: &SigningKey) -> String {
    maillage_core::Author::from(key).did()
}

fn ids(answer: &common::Answer) -> BTreeSet<String> {
    answer.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn search_finds_what_it_should_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let orgs = [
        (
            "dakar-food",
            json!({"name": "Dakar food cooperative", "type": "initiative", "countries": ["SN"], "regions": ["africa"], "activities": ["activities-modified:AM60"], "location": {"lat": 14.6928, "lon": -17.4467}}),
        ),
        (
            "thies-housing",
            json!({"name": "Thiès housing cooperative", "countries": ["SN"], "regions": ["africa"], "activities": ["activities-modified:AM90"], "location": {"lat": 14.791, "lon": -16.9359}}),
        ),
        (
            "lyon-food",
            json!({"name": "Lyon épicerie solidaire", "countries": ["FR"], "regions": ["europe"], "activities": ["activities-modified:AM60"], "location": {"lat": 45.764, "lon": 4.8357}}),
        ),
        (
            "quito-finance",
            json!({"name": "Quito savings network", "countries": ["EC"], "regions": ["latin-america-caribbean"], "activities": ["activities-modified:AM100"], "description": {"es": "Red de ahorro y cooperativa"}}),
        ),
    ];
    for (id, body) in &orgs {
        assert_eq!(node.post_json("organisation", id, body.clone()).status, 201);
    }
    node.searchable();
    let search = |q: &str| ids(&node.get(&format!("/api/v1/organisations?{q}")));
    assert_eq!(
        search("q=cooperative"),
        set(&["dakar-food", "thies-housing"])
    );
    // The Spanish description by its stem; the others a typo away.
    let spanish = node.get("/api/v1/organisations?q=COOPERATIVA&limit=1");
    assert_eq!(spanish.json["items"][0]["id"], "quito-finance");
    assert_eq!(search("q=food+cooperative"), set(&["dakar-food"]));
    assert_eq!(search("country=SN"), set(&["dakar-food", "thies-housing"]));
    assert_eq!(
        search("country=SN&activity=activities-modified:AM60"),
        set(&["dakar-food"])
    );
    assert_eq!(search("q=Thies"), set(&["thies-housing"]));
    assert_eq!(
        search("q=coop"),
        set(&["dakar-food", "thies-housing", "quito-finance"])
    );
    let answer = node.get("/api/v1/organisations?country=SN&limit=1");
    assert_eq!(answer.json["total"], 2);
    assert_eq!(answer.json["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        answer.json["facets"]["country"],
        json!([{"value": "SN", "count": 2}])
    );
    assert_eq!(
        answer.json["facets"]["activity"],
        json!([{"value": "activities-modified:AM60", "count": 1}, {"value": "activities-modified:AM90", "count": 1}])
    );
    assert_eq!(search("region=europe"), set(&["lyon-food"]));
    assert_eq!(
        search("activity=activities-modified:AM60"),
        set(&["dakar-food", "lyon-food"])
    );
    assert_eq!(search("near=14.69,-17.44,20"), set(&["dakar-food"]));
    assert_eq!(
        search("near=14.69,-17.44,80"),
        set(&["dakar-food", "thies-housing"])
    );
    assert_eq!(
        search("near=14.69,-17.44,80&activity=activities-modified:AM90"),
        set(&["thies-housing"])
    );
    assert_eq!(search("country=JP"), set(&[]));
    assert_eq!(search("type=initiative"), set(&["dakar-food"]));
    assert_eq!(search("type=network"), set(&[]));
    assert_eq!(search("bbox=-18,14,-17,15"), set(&["dakar-food"]));

    // Pages of one: every organisation once, none twice.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = node.get(&format!("/api/v1/organisations?limit=1{cursor}"));
        seen.extend(ids(&page));
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["dakar-food", "thies-housing", "lyon-food", "quito-finance"])
    );

    assert_eq!(node.get("/api/v1/organisations?near=1,2").status, 400);
    // Refused as a write refuses them.
    for bad in [
        "near=a,1,2,3",
        "country=Senegal",
        "region=moon",
        "activity=AM60",
    ] {
        let answer = node.get(&format!("/api/v1/organisations?{bad}"));
        assert_eq!(answer.status, 400, "{bad}");
    }
    assert_eq!(node.get("/api/v1/organisations?near=0,0,5000").status, 400);
    assert_eq!(node.get("/api/v1/organisations?colour=red").status, 400);
}

#[test]
fn every_bad_input_gets_its_status_and_a_message() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let good = json!({"kind": "organisation", "id": "x", "body": {"name": "X"}}).to_string();
    let auth = format!("Bearer {}", node.token());
    let post = |auth: Option<&str>, content_type: &str, body: &[u8]| {
        node.post_raw("/api/v1/records", content_type, auth, body)
    };

    let r = post(None, "application/json", good.as_bytes());
    assert_eq!(
        (r.status, r.error().contains("Bearer")),
        (401, true),
        "{r:?}"
    );
    let r = post(
        Some("Bearer not-the-token"),
        "application/json",
        good.as_bytes(),
    );
    assert_eq!((r.status, r.error()), (401, "wrong API token"));
    let r = post(Some(&auth), "application/json", b"{\"kind\": ");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.error().contains("JSON"), "{r:?}");
    let r = node.post_json("organisation", "x", json!({"name": "X", "colour": "red"}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("unknown field `colour`"), "{r:?}");
    let r = node.post_json(
        "organisation",
        "x",
        json!({"name": "X", "countries": ["XX"]}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("`XX` is not an ISO 3166-1 alpha-2"),
        "{r:?}"
    );
    let r = node.post_json("group", "x", json!({"name": "X"}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("`group` is not a kind"), "{r:?}");
    let r = node.post_json("organisation", "Not An Id", json!({"name": "X"}));
    assert_eq!(r.status, 400);
    assert!(r.error().contains("is not an id"), "{r:?}");

    let huge = json!({"kind": "organisation", "id": "x", "body": {"name": "x".repeat(300 * 1024)}})
        .to_string();
    let r = post(Some(&auth), "application/json", huge.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.error().contains("limit"), "{r:?}");
    let mut description = serde_json::Map::new();
    for lang in ["en", "fr", "es", "pt", "de", "it", "ar"] {
        description.insert(lang.into(), json!("y".repeat(10_000)));
    }
    let r = node.post_json(
        "organisation",
        "x",
        json!({"name": "X", "description": description}),
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.error().contains("65536"), "{r:?}");

    let key = SigningKey::from_bytes(&[5; 32]);
    let v2 = signed_elsewhere(
        &key,
        Kind::Organisation,
        "elsewhere",
        2,
        json!({"name": "Version 2"}),
    );
    let v1 = signed_elsewhere(
        &key,
        Kind::Organisation,
        "elsewhere",
        1,
        json!({"name": "Version 1"}),
    );
    assert_eq!(node.post_cbor(v2.bytes()).status, 201);
    assert_eq!(
        node.post_cbor(v2.bytes()).status,
        200,
        "the same version again is not an error"
    );
    let r = node.post_cbor(v1.bytes());
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.error().contains("newer version (seq 2)"), "{r:?}");

    let mut forged = signed_elsewhere(
        &key,
        Kind::Organisation,
        "forged",
        1,
        json!({"name": "Genuine"}),
    )
    .bytes()
    .to_vec();
    let at = forged.windows(7).position(|w| w == b"Genuine").unwrap();
    forged[at..at + 7].copy_from_slice(b"Forged!");
    let r = node.post_cbor(&forged);
    assert_eq!(r.status, 400);
    assert!(r.error().contains("signature does not verify"), "{r:?}");

    // The same record with a one-byte integer head spelled with two bytes.
    let canonical = signed_elsewhere(
        &key,
        Kind::Organisation,
        "long-head",
        1,
        json!({"name": "X"}),
    )
    .bytes()
    .to_vec();
    let seq_at = canonical.windows(4).position(|w| w == b"cseq").unwrap() + 4;
    let mut long = canonical[..seq_at].to_vec();
    long.extend_from_slice(&[0x18, canonical[seq_at]]);
    long.extend_from_slice(&canonical[seq_at + 1..]);
    let r = node.post_cbor(&long);
    assert_eq!(r.status, 400);
    assert!(r.error().contains("not canonical"), "{r:?}");

    let r = post(Some(&auth), "text/plain", b"hello");
    assert_eq!(r.status, 400);
    assert!(r.error().contains("Content-Type"), "{r:?}");
    assert_eq!(
        node.get("/api/v1/records/did:key:z6Mk/organisation/x")
            .status,
        400
    );
    assert_eq!(node.get("/api/v1/nothing").status, 404);

    let metrics = node.get("/metrics").json;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics
            .contains("maillage_ingest_rejected_total{source=\"http\",reason=\"bad_signature\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("maillage_ingest_rejected_total{source=\"http\",reason=\"stale\"} 1"),
        "{metrics}"
    );
    // Every request is timed, by route and status: the two without a valid token here.
    let unauthorized =
        "maillage_http_request_duration_seconds_count{route=\"/api/v1/records\",status=\"401\"} 2";
    assert!(metrics.contains(unauthorized), "{metrics}");
}

#[test]
fn kill_9_right_after_201_loses_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut node = Node::start(root.path(), "a", &[]);
    let mut acknowledged = Vec::new();
    for i in 0..60 {
        let r = node.post_json(
            "organisation",
            &format!("org-{i}"),
            json!({"name": format!("Organisation {i}")}),
        );
        assert_eq!(r.status, 201);
        acknowledged.push((path_of(&r.json), r.json["hash"].clone()));
    }
    node.kill();
    node.restart();
    for (path, hash) in &acknowledged {
        let r = node.get(path);
        assert_eq!(r.status, 200, "{path} lost after kill -9");
        assert_eq!(&r.json["hash"], hash);
    }
    assert_eq!(node.status()["records"]["organisation"], 60);
}

#[test]
fn every_served_record_verifies_independently() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &["--demo"]);
    node.searchable();
    let orgs = node.get("/api/v1/organisations?limit=500");
    let collabs = node.get("/api/v1/collaborations?limit=500");
    let mut items = orgs.json["items"].as_array().unwrap().clone();
    items.extend(collabs.json["items"].as_array().unwrap().iter().cloned());
    assert!(items.len() >= 13, "the sample dataset is loaded");
    let wg = collabs.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "intl-sse-networks-wg")
        .unwrap();
    assert_eq!(wg["body"]["parties"][0]["role"], "coordinator");
    let file = root.path().join("served.json");
    std::fs::write(&file, serde_json::to_string(&items).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/verify_records.py"
        ))
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{} passed, 0 failed", items.len())),
        "{stdout}"
    );
}

#[test]
fn the_command_line_edits_a_running_node() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let cli = |args: &[&str]| {
        let out = node.cli(args);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let body = root.path().join("org.json");
    std::fs::write(&body, r#"{"name": "Réseau test", "countries": ["FR"]}"#).unwrap();
    let (ok, out, err) = cli(&["org", "put", "reseau-test", body.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("\"seq\": 1"), "{out}");
    let (ok, out, _) = cli(&["org", "get", "reseau-test"]);
    assert!(ok && out.contains("Réseau test"), "{out}");
    let (ok, out, _) = cli(&["org", "ls", "--country", "FR"]);
    assert!(
        ok && out.contains("/organisation/reseau-test\tRéseau test"),
        "{out}"
    );
    let (ok, out, _) = cli(&["status"]);
    assert!(ok && out.contains("\"organisation\": 1"), "{out}");
    let (ok, _, _) = cli(&["org", "rm", "reseau-test"]);
    assert!(ok);
    let (ok, _, err) = cli(&["org", "get", "reseau-test"]);
    assert!(!ok && err.contains("404"), "{err}");
    std::fs::write(&body, r#"{"name": "X", "countries": ["France"]}"#).unwrap();
    let (ok, _, err) = cli(&["org", "put", "bad", body.to_str().unwrap()]);
    assert!(
        !ok && err.contains("`France` is not an ISO 3166-1"),
        "{err}"
    );
}

#[test]
fn the_openapi_document_describes_the_routes_that_exist() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let created = node.post_json("organisation", "described", json!({"name": "Described"}));
    let address = created.json["address"]
        .as_str()
        .unwrap()
        .strip_prefix("maillage:")
        .unwrap()
        .to_owned();
    let doc = node.get("/api/v1/openapi.json").json;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/api/v1/records",
        "/api/v1/events",
        "/api/v1/organisations",
        "/api/v1/collaborations",
        "/api/v1/changes",
        "/api/v1/graph",
        "/api/v1/stats/collaborations",
        "/api/v1/vocabularies",
        "/api/v1/status",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    for (path, methods) in paths {
        let did = address.split('/').next().unwrap();
        let concrete = path
            .replace("{did}/{kind}/{id}", &address)
            .replace("{did}/{id}", &format!("{did}/described"))
            .replace("{file}", "organisations.geojson");
        for method in methods.as_object().unwrap().keys() {
            let status = match method.as_str() {
                // An endless stream: `server_sent_events_announce_each_record` reads it.
                "get" if path == "/api/v1/events" => continue,
                "get" => node.get(&concrete).status,
                "post" => {
                    node.post_raw(&concrete, "application/json", None, b"{}")
                        .status
                }
                "delete" => node.delete_without_token(&concrete).status,
                other => panic!("undocumented method {other}"),
            };
            // Documented writes, and reads said to need the token, exist and want it.
            let secured = method != "get" || methods[method].get("security").is_some();
            let expected = if secured { 401 } else { 200 };
            assert_eq!(status, expected, "{method} {concrete}");
        }
    }
    let graph = node.get("/api/v1/graph").json;
    assert_eq!(graph["nodes"][0]["label"], "Described");
}

#[test]
fn server_sent_events_announce_each_record() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let events = node.follow_events();
    for id in ["first", "second"] {
        let created = node.post_json("organisation", id, json!({"name": id}));
        let event = events
            .recv_timeout(common::DEADLINE)
            .expect("an event for each record");
        assert_eq!(event["address"], created.json["address"]);
        assert_eq!(event["cbor"], created.json["cbor"]);
    }
    // The same version again is no news.
    let again = node.post_cbor(
        &base64::engine::general_purpose::STANDARD
            .decode(
                node.get("/api/v1/changes").json["items"][0]["cbor"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    );
    assert_eq!(again.status, 200);
    assert!(
        events
            .recv_timeout(std::time::Duration::from_millis(300))
            .is_err()
    );
    // An open stream does not hold up a shutdown (the grace period is 5 s).
    let mut node = node;
    let start = std::time::Instant::now();
    assert!(node.stop().success());
    assert!(
        start.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

/// Opens a raw connection and sends `head` (and no more).
fn raw(node: &Node, head: &str) -> std::net::TcpStream {
    use std::io::Write as _;
    let mut stream = std::net::TcpStream::connect(&node.http).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream
}

/// The first bytes the node answers on `stream`, or "" if it closed it.
fn first_answer(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read as _;
    let mut buf = [0; 1024];
    let n = stream.read(&mut buf).expect("an answer or a close in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn a_misbehaving_client_gets_a_short_answer_and_holds_nothing() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let auth = format!("Bearer {}", node.token());

    // No token: refused before a byte of the announced body is sent.
    let mut held = raw(
        &node,
        "POST /api/v1/records HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\ncontent-length: 250000\r\n\r\n",
    );
    let answer = first_answer(&mut held);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    // Media types are compared whole, parameters aside.
    let good = json!({"kind": "organisation", "id": "x", "body": {"name": "X"}}).to_string();
    let post = |content_type: &str, body: &[u8]| {
        node.post_raw("/api/v1/records", content_type, Some(&auth), body)
    };
    let r = post("application/jsonp", good.as_bytes());
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.error().contains("Content-Type"), "{r:?}");
    assert_eq!(
        post("application/json; charset=utf-8", good.as_bytes()).status,
        201
    );
    // One value per key: the JSON path does not keep the last of two silently.
    let twice = br#"{"kind": "organisation", "id": "y", "body": {"name": "A", "name": "B"}}"#;
    let r = post("application/json", twice);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.error().contains("`name` appears twice"), "{r:?}");
    assert_eq!(
        node.get(&format!("/api/v1/records/{}/organisation/y", node.did()))
            .status,
        404
    );

    // An export whose filter the store refuses: a 400 with why, not a cut-off file.
    for filter in ["q=--", "cursor=not-a-cursor", "country=Senegal"] {
        let r = node.get(&format!("/api/v1/export/organisations.csv?{filter}"));
        assert_eq!(r.status, 400, "{filter}: {r:?}");
        assert!(!r.error().is_empty());
    }

    // Readers of the event stream past the cap are told so.
    let readers: Vec<_> = (0..maillage_api::MAX_EVENT_READERS)
        .map(|_| {
            let mut s = raw(&node, "GET /api/v1/events HTTP/1.1\r\nhost: node\r\n\r\n");
            let answer = first_answer(&mut s);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            s
        })
        .collect();
    let r = node.get("/api/v1/events");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.error().contains("try again later"), "{r:?}");
    drop(readers);

    // A request head that never ends is cut off.
    let started = std::time::Instant::now();
    let mut half = raw(&node, "GET /health HTTP/1.1\r\nhost: no");
    let answer = first_answer(&mut half);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= maillage_api::serve::HEAD_TIMEOUT / 2
            && waited < maillage_api::serve::HEAD_TIMEOUT * 2,
        "cut after {waited:?}"
    );
    assert_eq!(node.get("/health").status, 200);
}
