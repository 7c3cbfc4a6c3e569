//! `propagation`: 16 real nodes over TCP on 127.0.0.1; 50 new records a second for 20 s,
//! written to the nodes in turn; every node's event stream says when each became visible.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::Figure;
use crate::nodes::{self, Bench, Node};

const NODES: usize = 16;
const RATE: u64 = 50;
const SECONDS: u64 = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Follows a node's events: (node, address, when seen) for every accepted record.
fn follow(
    i: usize,
    node: &Node,
    tx: std::sync::mpsc::SyncSender<(usize, String, Instant)>,
) -> anyhow::Result<()> {
    let response = ureq::get(format!("http://{}/api/v1/events", node.http)).call()?;
    let reader = std::io::BufReader::new(response.into_body().into_reader());
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(v) = serde_json::from_str::<Value>(data)
                && let Some(address) = v["address"].as_str()
                && tx.send((i, address.to_owned(), Instant::now())).is_err()
            {
                break;
            }
        }
    });
    Ok(())
}

pub(crate) fn run(json_out: bool) -> anyhow::Result<()> {
    let binary = nodes::build_binary()?;
    let root = tempfile::tempdir()?;
    let mut nodes: Vec<Node> = vec![];
    for i in 0..NODES {
        // A sparse federation: each node knows one or two that came before it.
        let mut extra = vec![];
        for j in [i.wrapping_sub(1), (i * 7) % i.max(1)] {
            if j < i && !extra.contains(&nodes[j].p2p) {
                extra.push("--bootstrap".to_owned());
                extra.push(nodes[j].p2p.clone());
            }
        }
        nodes.push(Bench::start(
            &binary,
            &root.path().join(format!("n{i}")),
            &extra,
        )?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while nodes
        .iter()
        .any(|n| Bench::status(n).map_or(true, |s| s["peers"].as_u64().unwrap_or(0) < 2))
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the federation did not connect in 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the gossip meshes settle (a few heartbeats).
    std::thread::sleep(Duration::from_secs(3));
    let (tx, rx) = std::sync::mpsc::sync_channel(200_000);
    for (i, n) in nodes.iter().enumerate() {
        follow(i, n, tx.clone())?;
    }
    drop(tx);
    let tokens: Vec<String> = (0..NODES)
        .map(|i| {
            std::fs::read_to_string(root.path().join(format!("n{i}/api.token")))
                .map(|t| t.trim().to_owned())
        })
        .collect::<Result<_, _>>()?;

    let total = (RATE * SECONDS) as usize;
    let mut written: HashMap<String, (usize, Instant)> = HashMap::new();
    let start = Instant::now();
    for k in 0..total {
        let due = start + Duration::from_millis(k as u64 * 1000 / RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let i = k % NODES;
        let body = json!({"kind": "organisation", "id": format!("p-{k}"), "body": {"name": format!("Propagated {k}"), "countries": ["SN"]}});
        let at = Instant::now();
        let mut response = ureq::post(format!("http://{}/api/v1/records", nodes[i].http))
            .header("authorization", format!("Bearer {}", tokens[i]))
            .send_json(&body)
            .context("writing a record")?;
        let record: Value = response.body_mut().read_json()?;
        let address = record["address"].as_str().context("no address")?.to_owned();
        written.insert(address, (i, at));
    }
    let mut local = vec![];
    let mut remote = vec![];
    let mut seen = 0usize;
    let end = Instant::now() + Duration::from_secs(15);
    while seen < total * NODES {
        let Some(left) = end.checked_duration_since(Instant::now()) else {
            break;
        };
        let Ok((node, address, when)) = rx.recv_timeout(left) else {
            break;
        };
        if let Some((origin, at)) = written.get(&address) {
            seen += 1;
            let ms = when.saturating_duration_since(*at).as_secs_f64() * 1000.0;
            if node == *origin {
                local.push(ms)
            } else {
                remote.push(ms)
            }
        }
    }
    local.sort_by(f64::total_cmp);
    remote.sort_by(f64::total_cmp);
    let delivered = seen as f64 / (total * NODES) as f64;
    let p99 = percentile(&remote, 0.99);
    Figure {
        name: "propagation".into(),
        value: p99,
        unit: "ms p99",
        baseline: percentile(&local, 0.99),
        baseline_what: "p99 to visible on the node written to",
        target: "100 % delivered, p99 ≤ 25 ms".into(),
        met: delivered >= 1.0 && p99 <= 25.0,
        extra: json!({
            "nodes": NODES, "records": total, "delivered": delivered,
            "p50_ms": percentile(&remote, 0.5), "max_ms": remote.last().copied().unwrap_or(f64::NAN),
        }),
    }
    .print(json_out);
    Ok(())
}
