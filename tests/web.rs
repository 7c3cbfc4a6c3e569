//! The web page, end to end, in headless Chromium (Debian's `chromium`) driven by
//! Playwright (`tests/browser/page.test.mjs`): 20 000 organisations on the map within the
//! budget, clusters that open onto pages, facet and explorer counts equal to the API's,
//! the interface in four languages, honest confirmations, a signature badge that turns
//! invalid through a proxy that alters a record, no console error, axe-core clean.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{Node, now_ms};
use maillage_core::{Author, Body, Kind, Record, SigningKey};
use serde_json::{Value, json};

/// A man in the middle: serves `node` unchanged, except one record whose signed bytes it
/// alters. Returns its address.
fn tampering_proxy(node: &Node, victim: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let upstream = node.url("");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (upstream, victim) = (upstream.clone(), victim.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() <= 2 {
                        break;
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut response = agent.get(format!("{upstream}{path}")).call().unwrap();
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let mut body = response.body_mut().read_to_vec().unwrap();
                if path == victim {
                    let mut record: Value = serde_json::from_slice(&body).unwrap();
                    let engine = base64::engine::general_purpose::STANDARD;
                    let mut signed = engine.decode(record["cbor"].as_str().unwrap()).unwrap();
                    let at = signed
                        .windows(13)
                        .position(|w| w == b"RIPESS Europe")
                        .unwrap();
                    signed[at..at + 13].copy_from_slice(b"RIPESS Europa");
                    record["cbor"] = engine.encode(&signed).into();
                    body = serde_json::to_vec(&record).unwrap();
                }
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    address
}

/// Places organisations are spread around: a country and its rough centre.
const PLACES: [(&str, f64, f64); 24] = [
    ("SN", 14.5, -14.5),
    ("ML", 17.0, -4.0),
    ("BF", 12.3, -1.5),
    ("MA", 31.8, -7.1),
    ("KE", 0.0, 37.9),
    ("ZA", -30.6, 22.9),
    ("BR", -14.2, -51.9),
    ("PE", -9.2, -75.0),
    ("MX", 23.6, -102.5),
    ("CO", 4.6, -74.3),
    ("AR", -38.4, -63.6),
    ("IN", 20.6, 79.0),
    ("PH", 12.9, 121.8),
    ("ID", -0.8, 113.9),
    ("KR", 35.9, 127.8),
    ("JP", 36.2, 138.3),
    ("FR", 46.2, 2.2),
    ("ES", 40.5, -3.7),
    ("IT", 41.9, 12.6),
    ("BE", 50.5, 4.5),
    ("DE", 51.2, 10.5),
    ("CA", 56.1, -106.3),
    ("US", 39.8, -98.6),
    ("AU", -25.3, 133.8),
];

const ACTIVITIES: [&str; 6] = ["AM10", "AM40", "AM60", "AM70", "AM100", "AM120"];

/// `n` organisations, written through the batch API a thousand at a time.
fn seed_organisations(node: &Node, n: usize) {
    let auth = format!("Bearer {}", node.token());
    for start in (0..n).step_by(1000) {
        let items: Vec<Value> = (start..(start + 1000).min(n))
            .map(|i| {
                let (country, lat, lon) = PLACES[i % PLACES.len()];
                // A deterministic scatter of a few degrees around the centre.
                let spread = |k: usize| ((i * k) % 1000) as f64 / 1000.0 * 6.0 - 3.0;
                json!({"kind": "organisation", "id": format!("org-{i}"), "body": {
                    "name": format!("Cooperative {i} of {country}"),
                    "countries": [country],
                    "location": {"lat": lat + spread(7), "lon": lon + spread(13)},
                    "primary_activity": format!("activities-modified:{}", ACTIVITIES[i % ACTIVITIES.len()]),
                    "type": if i % 10 == 0 { "network" } else { "initiative" },
                }})
            })
            .collect();
        let answer = node.post_raw(
            "/api/v1/records/batch",
            "application/json",
            Some(&auth),
            json!({"items": items}).to_string().as_bytes(),
        );
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

fn sign(key: &SigningKey, kind: Kind, id: &str, seq: u64, body: Body) -> Record {
    Record::sign(key, kind, id.parse().unwrap(), seq, now_ms(), body).unwrap()
}

fn json_body(kind: Kind, body: Value) -> Body {
    Body::from_json(kind, body).unwrap()
}

/// The four cases of confirmation, between this node's network and another: confirmed by
/// both, declared by one network alone, awaiting the other, and a party deleted.
fn seed_collaborations(node: &Node) -> Value {
    let did = node.did();
    let other = SigningKey::from_bytes(&[42; 32]);
    let them = Author::from(&other).did();
    let post = |r: Record| assert_eq!(node.post_cbor(r.bytes()).status, 201);
    node.post_json(
        "organisation",
        "profile",
        json!({"name": "RIPESS Europe", "countries": ["BE"]}),
    );
    post(sign(
        &other,
        Kind::Organisation,
        "profile",
        1,
        json_body(Kind::Organisation, json!({"name": "RENAPESS"})),
    ));
    post(sign(
        &other,
        Kind::Organisation,
        "dakar",
        1,
        json_body(
            Kind::Organisation,
            json!({
        "name": "Union des coopératives de Dakar", "countries": ["SN"],
        "location": {"lat": 14.69, "lon": -17.44}, "primary_activity": "activities-modified:AM60",
        // One network this node holds, one it does not.
        "member_of": [format!("maillage:{them}/organisation/profile"), format!("maillage:{them}/organisation/elsewhere")]}),
        ),
    ));
    post(sign(
        &other,
        Kind::Organisation,
        "thies",
        1,
        json_body(
            Kind::Organisation,
            json!({
        "name": "Coopérative de Thiès", "countries": ["SN"]}),
        ),
    ));
    let ours = |id: &str| format!("maillage:{did}/organisation/{id}");
    let theirs = |id: &str| format!("maillage:{them}/organisation/{id}");
    let collab = |id: &str, title: &str, parties: [String; 2]| {
        let answer = node.post_json("collaboration", id, json!({
            "title": title, "start": "2023", "end": "2025", "status": "active",
            "parties": [{"ref": parties[0], "role": "coordinator"}, {"ref": parties[1], "role": "partner"}]}));
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.json["address"].as_str().unwrap().to_owned()
    };
    let confirmed = collab(
        "fair-food",
        "Fair food between Dakar and Lyon",
        [ours("org-16"), theirs("dakar")],
    );
    let alone = collab(
        "among-us",
        "Among our own members",
        [ours("org-17"), ours("org-40")],
    );
    let awaiting = collab(
        "awaited",
        "Training exchange",
        [ours("org-18"), theirs("dakar")],
    );
    let deleted = collab(
        "gone",
        "With a party now deleted",
        [ours("org-19"), theirs("thies")],
    );
    post(sign(
        &other,
        Kind::Endorsement,
        "fair-food-ok",
        1,
        json_body(
            Kind::Endorsement,
            json!({
        "target": confirmed, "stance": "confirmed"}),
        ),
    ));
    post(sign(
        &other,
        Kind::Endorsement,
        "gone-ok",
        1,
        json_body(
            Kind::Endorsement,
            json!({
        "target": deleted, "stance": "confirmed"}),
        ),
    ));
    post(sign(&other, Kind::Organisation, "thies", 2, Body::Deleted));
    json!({"confirmed": confirmed, "one-voice": alone, "awaiting": awaiting, "party-deleted": deleted})
}

/// Installs the browser test's packages (Playwright, axe-core) from the lock file, once.
fn browser_packages(dir: &Path) {
    if dir.join("node_modules/playwright-core").exists()
        && dir.join("node_modules/axe-core").exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(dir)
        .status()
        .expect("npm is installed (Node.js 20)");
    assert!(status.success(), "npm ci in {} failed", dir.display());
}

#[test]
fn the_page_maps_finds_explains_and_verifies_in_the_browser() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    seed_organisations(&node, 20_000);
    let collaborations = seed_collaborations(&node);
    node.searchable();
    let proxy = tampering_proxy(
        &node,
        format!("/api/v1/records/{}/organisation/profile", node.did()),
    );
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    browser_packages(&browser);
    // Kept after the run, beside the build: `target/tmp/page-screenshots`.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("timeout")
        .args(["300", "node", "page.test.mjs"])
        .current_dir(&browser)
        .env("NODE_URL", node.url(""))
        .env("PROXY_URL", format!("http://{proxy}"))
        .env("DID", node.did())
        .env("COLLABORATIONS", collaborations.to_string())
        .env("SHOTS", &shots)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    for shot in [
        "home.png",
        "organisation.png",
        "collaboration.png",
        "explorer.png",
    ] {
        assert!(
            shots.join(shot).exists(),
            "no screenshot {shot} in {}",
            shots.display()
        );
    }
}

#[test]
fn the_page_files_are_revalidated_by_their_tag_after_an_upgrade() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &[]);
    let url = node.url("/assets/vendor/leaflet/leaflet.js");
    let first = common::agent().get(&url).call().unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let same = common::agent()
        .get(&url)
        .header("if-none-match", &tag)
        .call()
        .unwrap();
    assert_eq!(
        same.status(),
        304,
        "a browser holding this version keeps it"
    );
    let older = common::agent()
        .get(&url)
        .header("if-none-match", "\"a-version-before-the-upgrade\"")
        .call()
        .unwrap();
    assert_eq!(
        older.status(),
        200,
        "a browser holding another version gets this one"
    );
    assert!(
        older
            .into_body()
            .read_to_string()
            .unwrap()
            .contains("Leaflet")
    );
}
