//! The web page, end to end, in headless Chromium (Debian's `chromium`): it loads, finds a
//! sample organisation, shows a valid signature badge computed in the browser, and an
//! invalid one when the record is altered on its way.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::process::Command;

use base64::Engine as _;
use common::Node;

/// The page's DOM once its scripts have run.
fn render(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .args([
            "90",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=15000", "--dump-dom", url])
        .output()
        .expect("chromium is installed (.ci/run installs Debian's chromium)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(
        dom.contains("data-ready=\"yes\""),
        "the page never finished: {dom}"
    );
    dom
}

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
                    let mut record: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let engine = base64::engine::general_purpose::STANDARD;
                    let mut signed = engine.decode(record["cbor"].as_str().unwrap()).unwrap();
                    let at = signed
                        .windows(13)
                        .position(|w| w == b"International")
                        .unwrap();
                    signed[at..at + 13].copy_from_slice(b"Internaxional");
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

#[test]
fn the_page_searches_shows_and_verifies_in_the_browser() {
    let root = tempfile::tempdir().unwrap();
    let node = Node::start(root.path(), "a", &["--demo"]);
    let did = node.did();

    let search = render(&node.url("/#/?q=cooperative+alliance"));
    assert!(
        search.contains(&format!(
            "href=\"#/org/{did}/ica\">International Cooperative Alliance</a>"
        )),
        "{search}"
    );
    assert!(
        !search.contains(">RIPESS Europe</a>"),
        "the search shows only what matches"
    );
    assert!(
        search.contains("class=\"land\""),
        "the offline map is drawn"
    );
    assert!(
        search.contains("class=\"dot\""),
        "ICA has a point on the map"
    );

    let page = render(&node.url(&format!("/#/org/{did}/ica")));
    // Text in elements, not in the script that holds the translations.
    assert!(
        page.contains("id=\"badge\">✓ signature valid</span>"),
        "{page}"
    );
    assert!(page.contains("id=\"org-name\">International Cooperative Alliance</h2>"));
    assert!(
        page.contains(
            "<strong>Working group on collaboration between international SSE networks</strong>"
        ),
        "its collaborations"
    );
    // One key lists every party of the sample's collaboration: a declaration, not a
    // confirmation.
    assert!(page.contains(">declared by one network, which lists every party</span>"));

    let french = render(&node.url(&format!("/?lang=fr#/org/{did}/ica")));
    assert!(
        french.contains("id=\"badge\">✓ signature valide</span>"),
        "{french}"
    );
    assert!(
        french.contains("id=\"description\">L'Alliance coopérative internationale.</p>"),
        "the description in French: {french}"
    );

    let proxy = tampering_proxy(&node, format!("/api/v1/records/{did}/organisation/ica"));
    let altered = render(&format!("http://{proxy}/#/org/{did}/ica"));
    assert!(
        altered.contains("id=\"badge\">✗ invalid: bad signature</span>"),
        "{altered}"
    );
}
