//! The web page's first screen with 20 000 organisations, and the explorer's graph of
//! 10 000 nodes, in headless Chromium (the browser test's own script,
//! `tests/browser/page.test.mjs`), against the release binary; beside each, the time to
//! fetch what it shows over HTTP, its floor.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::Figure;
use crate::nodes::{Bench, build_binary, init};

/// Organisations on the first screen, as the issue that set the budget measured them.
const ORGANISATIONS: usize = 20_000;
/// The budget, in milliseconds from navigation to the clusters drawn.
const BUDGET_MS: f64 = 2_000.0;
/// Collaborations of two parties each, none sharing one: a graph of 10 002 nodes.
const COLLABORATIONS: usize = 3_334;
/// What "usable at 10 000 nodes" is held to: the graph drawn, from navigation, within this.
const GRAPH_BUDGET_MS: f64 = 5_000.0;

pub(crate) fn run(json: bool) -> anyhow::Result<()> {
    let binary = build_binary()?;
    let root = tempfile::tempdir()?;
    let dir = root.path().join("page");
    init(&binary, &dir)?;
    let node = Bench::start(&binary, &dir, &[])?;
    let token = std::fs::read_to_string(dir.join("api.token"))?;
    let url = format!("http://{}", node.http);
    for start in (0..ORGANISATIONS).step_by(1000) {
        let items: Vec<Value> = (start..start + 1000)
            .map(|i| {
                // Spread over the inhabited world, deterministically.
                let lat = ((i * 37) % 1200) as f64 / 10.0 - 55.0;
                let lon = ((i * 71) % 3500) as f64 / 10.0 - 170.0;
                json!({"kind": "organisation", "id": format!("org-{i}"), "body": {
                    "name": format!("Organisation {i}"), "location": {"lat": lat, "lon": lon}}})
            })
            .collect();
        ureq::post(format!("{url}/api/v1/records/batch"))
            .header("authorization", format!("Bearer {}", token.trim()))
            .send_json(json!({"items": items}))
            .context("writing the organisations")?;
    }
    node.searchable(std::time::Duration::from_secs(600))?;

    // The floor: the first screen's data, fetched one after the other.
    let started = Instant::now();
    for path in [
        "/",
        "/api/v1/status",
        "/api/v1/organisations?limit=20",
        "/api/v1/export/organisations.points.json?sort=updated",
    ] {
        ureq::get(format!("{url}{path}"))
            .call()?
            .body_mut()
            .read_to_vec()?;
    }
    let fetch_ms = started.elapsed().as_secs_f64() * 1000.0;

    let measured = browse(&url, "FIRST_SCREEN_ONLY")?;
    let first_screen = measured["first_screen_ms"].as_f64().unwrap_or(f64::MAX);
    Figure {
        name: "page first screen".into(),
        value: first_screen,
        unit: "ms",
        baseline: fetch_ms,
        baseline_what: "fetching its data",
        target: format!("≤ {BUDGET_MS} ms with {ORGANISATIONS} organisations"),
        met: first_screen <= BUDGET_MS,
        extra: json!({"organisations": measured["organisations"]}),
    }
    .print(json);

    // The explorer: collaborations between organisations 2k and 2k + 1.
    let status: Value = ureq::get(format!("{url}/api/v1/status"))
        .call()?
        .body_mut()
        .read_json()?;
    let did = status["did"].as_str().context("the node's did")?.to_owned();
    for start in (0..COLLABORATIONS).step_by(1000) {
        let items: Vec<Value> = (start..(start + 1000).min(COLLABORATIONS))
            .map(|i| {
                let party = |n: usize| json!({"ref": format!("maillage:{did}/organisation/org-{n}"), "role": "partner"});
                json!({"kind": "collaboration", "id": format!("collab-{i}"), "body": {
                    "title": format!("Collaboration {i}"), "parties": [party(2 * i), party(2 * i + 1)],
                    "start": format!("{}", 2015 + i % 10)}})
            })
            .collect();
        ureq::post(format!("{url}/api/v1/records/batch"))
            .header("authorization", format!("Bearer {}", token.trim()))
            .send_json(json!({"items": items}))
            .context("writing the collaborations")?;
    }
    node.searchable(std::time::Duration::from_secs(600))?;
    let started = Instant::now();
    for path in [
        "/api/v1/collaborations?limit=1",
        "/api/v1/stats/collaborations?by=direction&items=10000",
        "/api/v1/export/organisations.points.json",
    ] {
        ureq::get(format!("{url}{path}"))
            .call()?
            .body_mut()
            .read_to_vec()?;
    }
    let fetch_ms = started.elapsed().as_secs_f64() * 1000.0;
    let measured = browse(&url, "GRAPH_ONLY")?;
    let graph = measured["graph_ms"].as_f64().unwrap_or(f64::MAX);
    let nodes = measured["nodes"].as_u64().unwrap_or(0);
    Figure {
        name: "page graph".into(),
        value: graph,
        unit: "ms",
        baseline: fetch_ms,
        baseline_what: "fetching its data",
        target: format!("≤ {GRAPH_BUDGET_MS} ms with 10 000 nodes"),
        met: graph <= GRAPH_BUDGET_MS && nodes >= 10_000,
        extra: json!({"nodes": nodes}),
    }
    .print(json);
    drop(node);
    Ok(())
}

/// Runs the browser test's script in one of its measuring modes; what it printed.
fn browse(url: &str, mode: &str) -> anyhow::Result<Value> {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    if !browser.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--silent",
            ])
            .current_dir(&browser)
            .status()
            .context("npm, to install the browser test's packages")?;
        anyhow::ensure!(status.success(), "npm ci in tests/browser failed");
    }
    let out = Command::new("node")
        .arg("page.test.mjs")
        .current_dir(&browser)
        .env("NODE_URL", url)
        .env(mode, "1")
        .env("COLLABORATIONS", "{}")
        .output()
        .context("node, to drive the browser")?;
    if !out.status.success() {
        bail!(
            "the browser run failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "the browser run printed {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
