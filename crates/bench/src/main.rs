//! `maillage-bench`: Maillage's figures against the physical limits they are bound by,
//! measured in the same run on the same machine (machines are noisy: ratios hold, absolute
//! times do not).
//!
//! `cargo run --release -p maillage-bench -- <name>…|all [--json] [--records N]`

#![allow(clippy::print_stdout)]

mod data;
mod nodes;
mod page;
mod propagation;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use maillage_core::record::SIGNING_CONTEXT;
use maillage_core::{Hash, Record};
use maillage_net::sync::{self, Session, Step};
use maillage_store::ingest::{Ingest, Source};
use maillage_store::policy::Policy;
use maillage_store::{Engine, Store};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Maillage benchmarks: each figure beside its baseline, measured in the same run")]
struct Cli {
    /// One or several benchmarks, or `all`.
    #[arg(required = true)]
    bench: Vec<Bench>,
    /// One JSON object per figure, nothing else.
    #[arg(long)]
    json: bool,
    /// Records in the node that `footprint`, `catchup` and `query` run on.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Bench {
    Ingest,
    Reconcile,
    Catchup,
    Footprint,
    Propagation,
    Query,
    Page,
    All,
}

/// One measured figure.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    baseline: f64,
    baseline_what: &'static str,
    target: String,
    met: bool,
    extra: Value,
}

impl Figure {
    fn print(&self, json: bool) {
        let ratio = if self.baseline != 0.0 {
            self.value / self.baseline
        } else {
            0.0
        };
        if json {
            let mut v = json!({
                "name": self.name, "value": self.value, "unit": self.unit,
                "baseline": self.baseline, "baseline_is": self.baseline_what,
                "ratio": (ratio * 1000.0).round() / 1000.0, "target": self.target, "met": self.met,
            });
            if let (Some(v), Some(extra)) = (v.as_object_mut(), self.extra.as_object()) {
                v.extend(extra.clone());
            }
            println!("{v}");
        } else {
            println!(
                "{:<28} {:>12.1} {:<10} baseline {:>12.1} ({}) ratio {:.3}  target {}  {}",
                self.name,
                self.value,
                self.unit,
                self.baseline,
                self.baseline_what,
                ratio,
                self.target,
                if self.met { "MET" } else { "NOT MET" }
            );
        }
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Runs `work` on every item, on every core; returns the seconds it took.
fn on_every_core<T: Sync>(items: &[T], work: impl Fn(&T) + Sync) -> f64 {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads() {
            s.spawn(|| {
                while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                    work(item);
                }
            });
        }
    });
    start.elapsed().as_secs_f64()
}

/// Records per second of bare `verify_strict` over `records`, on every core.
fn verify_rate(records: &[Record]) -> f64 {
    let prepared: Vec<_> = records
        .iter()
        .map(|r| {
            let message = [SIGNING_CONTEXT.as_slice(), &r.unsigned_bytes()].concat();
            (*r.author.verifying_key(), message, *r.sig())
        })
        .collect();
    let seconds = on_every_core(&prepared, |(key, message, sig)| {
        key.verify_strict(message, sig)
            .expect("generated records verify");
    });
    records.len() as f64 / seconds
}

/// Records per second through the whole ingest pipeline into a store on disk, durably
/// acknowledged, on every core, in batches (as sync and import submit them).
pub(crate) fn ingest_rate(ingest: &Ingest, records: &[Record], batch: usize) -> f64 {
    let chunks: Vec<Vec<Vec<u8>>> = records
        .chunks(batch)
        .map(|c| c.iter().map(|r| r.bytes().to_vec()).collect())
        .collect();
    let seconds = on_every_core(&chunks, |chunk| {
        for r in ingest.submit_all(chunk, Source::Import) {
            r.expect("generated records are accepted");
        }
    });
    records.len() as f64 / seconds
}

fn now_ms() -> u64 {
    maillage_store::ingest::now_ms()
}

fn open_ingest(dir: &std::path::Path) -> anyhow::Result<Ingest> {
    let store: Arc<dyn Store> = Arc::new(Engine::open(dir)?);
    let own = maillage_core::Author::from(&maillage_core::SigningKey::from_bytes(&[1; 32]));
    Ok(Ingest::new(store, Policy::open(own)))
}

fn bench_ingest(json: bool) -> anyhow::Result<f64> {
    let n = 20_000;
    if !json {
        println!("# ingest: signing {n} realistic records…");
    }
    let records = data::records(&data::authors(50), n, 1, now_ms());
    let baseline = verify_rate(&records);
    let dir = tempfile::tempdir()?;
    let ingest = open_ingest(dir.path())?;
    let rate = ingest_rate(&ingest, &records, 256);
    Figure {
        name: "ingest".into(),
        value: rate,
        unit: "records/s",
        baseline,
        baseline_what: "verify_strict/s, same threads",
        target: "≥ 0.7 × baseline".into(),
        met: rate >= 0.7 * baseline,
        extra: json!({"records": n, "threads": threads(), "batch": 256}),
    }
    .print(json);
    Ok(rate)
}

fn items(n: usize, salt: u64) -> Vec<(u64, Hash)> {
    let mut rng = data::Rng::new(salt);
    (0..n)
        .map(|i| {
            (
                1_700_000_000_000 + rng.next() % (365 * 86_400_000),
                Hash::of(&[salt.to_be_bytes(), (i as u64).to_be_bytes()].concat()),
            )
        })
        .collect()
}

fn bench_reconcile(json: bool) -> anyhow::Result<()> {
    let n = 100_000;
    let common = items(n, 7);
    for d in [0usize, 1, 100, 1_000, 10_000] {
        // The difference split between both sides, as after a partition.
        let mut a = common.clone();
        a.extend(items(d / 2, 11));
        let mut b = common.clone();
        b.extend(items(d - d / 2, 13));
        let server = sync::storage(&b)?;
        let start = Instant::now();
        let (mut session, mut message) = Session::start(sync::storage(&a)?)?;
        let (mut bytes, mut round_trips) = (0usize, 0u32);
        loop {
            bytes += message.len();
            let answer = sync::respond(&server, &message)?;
            bytes += answer.len();
            round_trips += 1;
            match session.step(&answer)? {
                Step::Send(next) => message = next,
                Step::Done => break,
            }
        }
        let elapsed = start.elapsed();
        let found = session.finish();
        anyhow::ensure!(
            found.have.len() + found.need.len() == d,
            "reconciliation found {} of {d}",
            found.have.len() + found.need.len()
        );
        let every_hash = (n + d) * 32;
        let (limit, met) = if d == 0 {
            (
                "1 round trip, ≤ 512 B".to_owned(),
                round_trips == 1 && bytes <= 512,
            )
        } else {
            let limit = 2_500 * d + 1_000;
            (
                format!("≤ {limit} B in ≤ 3 round trips"),
                bytes <= limit && round_trips <= 3,
            )
        };
        Figure {
            name: format!("reconcile d={d}"),
            value: bytes as f64,
            unit: "bytes",
            baseline: every_hash as f64,
            baseline_what: "bytes of every hash",
            target: limit,
            met,
            extra: json!({"round_trips": round_trips, "items": n, "difference": d, "ms": elapsed.as_millis() as u64}),
        }
        .print(json);
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let all = cli.bench.contains(&Bench::All);
    let run = |b: Bench| all || cli.bench.contains(&b);
    let mut ingest = None;
    if run(Bench::Ingest) {
        ingest = Some(bench_ingest(cli.json)?);
    }
    if run(Bench::Reconcile) {
        bench_reconcile(cli.json)?;
    }
    if run(Bench::Propagation) {
        propagation::run(cli.json)?;
    }
    if run(Bench::Page) {
        page::run(cli.json)?;
    }
    if run(Bench::Catchup) || run(Bench::Footprint) || run(Bench::Query) {
        let nodes = nodes::Bench::prepare(cli.records, cli.json)
            .with_context(|| format!("preparing a node with {} records", cli.records))?;
        if run(Bench::Footprint) {
            nodes.footprint(cli.json)?;
        }
        if run(Bench::Catchup) {
            let ingest = match ingest {
                Some(rate) => rate,
                None => bench_ingest(cli.json)?,
            };
            nodes.catchup(ingest, cli.json)?;
        }
        // Last: it writes records of its own into the node the others measure.
        if run(Bench::Query) {
            nodes.query(cli.json)?;
        }
    }
    Ok(())
}
