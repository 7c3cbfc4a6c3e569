//! Benchmarks on real `maillage` processes over TCP on 127.0.0.1.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{Figure, data, ingest_rate, now_ms, open_ingest};

/// A running node, stopped when dropped.
pub(crate) struct Node {
    child: Child,
    pub(crate) http: String,
    pub(crate) p2p: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    /// Stops the node as an operator would (SIGTERM), and waits for it to exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(sent.success(), "kill -TERM failed");
        self.child.wait()?;
        Ok(())
    }

    /// Waits until search holds every change the node has.
    pub(crate) fn searchable(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let status = Bench::status(self)?;
            if status["search_covers"] == status["last_change"] {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("search did not cover the store within {within:?}: {status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn get(url: &str) -> anyhow::Result<Value> {
    Ok(ureq::get(url).call()?.body_mut().read_json()?)
}

fn healthy(node: &Node) -> bool {
    ureq::get(format!("http://{}/health", node.http))
        .call()
        .is_ok()
}

/// Resident memory of a process, in MB: all of it, and the anonymous part (the heap and
/// stacks, as against file pages mapped from disk, which the kernel can take back).
#[derive(Clone, Copy, Debug, Default)]
struct Memory {
    rss: f64,
    anon: f64,
}

impl Memory {
    fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<f64> {
            let kb: f64 = status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))?
                .parse()?;
            Ok(kb / 1024.0)
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            anon: field("RssAnon:")?,
        })
    }

    fn max(self, other: Memory) -> Memory {
        Memory {
            rss: self.rss.max(other.rss),
            anon: self.anon.max(other.anon),
        }
    }
}

/// Bytes sent over the loopback interface so far, every process and both directions, with
/// their TCP/IP headers: what the wire carries.
fn loopback_bytes() -> anyhow::Result<u64> {
    Ok(
        std::fs::read_to_string("/sys/class/net/lo/statistics/tx_bytes")?
            .trim()
            .parse()?,
    )
}

/// Bytes the files under `dir` take on disk.
fn disk_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// Builds the release `maillage` binary beside this one and returns its path.
pub(crate) fn build_binary() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "maillage-node"])
        .status()
        .context("building the maillage binary")?;
    if !status.success() {
        bail!("cargo build --release -p maillage-node failed");
    }
    Ok(std::env::current_exe()?.with_file_name("maillage"))
}

/// Makes a node's folder, as an operator's `maillage init` does.
pub(crate) fn init(binary: &Path, dir: &Path) -> anyhow::Result<()> {
    let init = Command::new(binary)
        .args(["init", "--data-dir"])
        .arg(dir)
        .output()?;
    if !init.status.success() {
        bail!(
            "maillage init failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    Ok(())
}

pub(crate) struct Bench {
    binary: PathBuf,
    records: usize,
    logical: u64,
    source: Node,
    /// API paths of a sample of the records held, for lookups.
    sample: Vec<String>,
    /// From starting the node on a store it has not seen to search covering it all.
    first_start: Duration,
    /// From starting the node again (stopped by SIGTERM) to its first answer, and to search
    /// covering everything.
    restart: (Duration, Duration),
    /// From start to answering without a checkpoint.
    replay: Duration,
    /// Dropped last (fields drop in order): the node stops before its folder goes, or its
    /// indexer fails on the files removed under it.
    root: tempfile::TempDir,
}

impl Bench {
    /// Builds the binary, fills a node's folder with `records` records, starts it, waits for
    /// search to cover them, and starts it again.
    pub(crate) fn prepare(records: usize, json: bool) -> anyhow::Result<Bench> {
        let binary = build_binary()?;
        let root = tempfile::tempdir()?;
        let a = root.path().join("a");
        init(&binary, &a)?;
        if !json {
            println!("# signing {records} realistic records for the node benchmarks…");
        }
        let signed = data::records(&data::authors(100), records, 2, now_ms());
        let logical = signed.iter().map(|r| r.bytes().len() as u64).sum();
        let sample = signed
            .iter()
            .step_by(97)
            .map(|r| format!("/api/v1/records/{}/{}/{}", r.author, r.kind, r.id))
            .collect();
        {
            let ingest = open_ingest(&a.join("store"))?;
            ingest_rate(&ingest, &signed, 1024);
        }
        drop(signed);
        let hour = Duration::from_secs(3600);
        let started = Instant::now();
        let source = Self::start(&binary, &a, &[])?;
        source.searchable(hour)?;
        let first_start = started.elapsed();
        source.stop()?;
        let started = Instant::now();
        let source = Self::start(&binary, &a, &[])?;
        let answering = started.elapsed();
        source.searchable(hour)?;
        let restart = (answering, started.elapsed());
        // And once more without the checkpoint the stop wrote: the whole log replayed.
        source.stop()?;
        for file in std::fs::read_dir(a.join("store"))? {
            let file = file?;
            if file
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint-")
            {
                std::fs::remove_file(file.path())?;
            }
        }
        let started = Instant::now();
        let source = Self::start(&binary, &a, &[])?;
        let replay = started.elapsed();
        source.searchable(hour)?;
        Ok(Bench {
            replay,
            binary,
            root,
            records,
            logical,
            source,
            sample,
            first_start,
            restart,
        })
    }

    pub(crate) fn start(binary: &Path, dir: &Path, extra: &[String]) -> anyhow::Result<Node> {
        let http = format!("127.0.0.1:{}", free_port()?);
        let p2p = format!("/ip4/127.0.0.1/tcp/{}", free_port()?);
        let child = Command::new(binary)
            .args(["run", "--data-dir"])
            .arg(dir)
            .args(["--http", &http, "--listen", &p2p, "--log", "maillage=warn"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let node = Node { child, http, p2p };
        let deadline = Instant::now() + Duration::from_secs(600);
        while !healthy(&node) {
            if Instant::now() > deadline {
                bail!("the node did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(node)
    }

    pub(crate) fn status(node: &Node) -> anyhow::Result<Value> {
        get(&format!("http://{}/api/v1/status", node.http))
    }

    /// Lookups and searches over HTTP at 200 requests a second for 20 s, while records are
    /// written at up to 1 000 a second; `/health` under the same load is the floor.
    pub(crate) fn query(&self, json: bool) -> anyhow::Result<()> {
        use std::sync::Mutex;
        let seconds = 20;
        let writes = data::records(&data::authors(7), 20_000, 3, now_ms());
        let token = std::fs::read_to_string(self.root.path().join("a/api.token"))?
            .trim()
            .to_owned();
        let searches = [
            "/api/v1/organisations?q=cooperative+lima",
            "/api/v1/organisations?country=SN&activity=activities-modified:AM60",
            "/api/v1/organisations?near=14.69,-17.44,50",
            "/api/v1/organisations?q=savings&region=europe",
        ];
        let latencies: Mutex<[Vec<f64>; 3]> = Mutex::default();
        let by_search: Mutex<std::collections::BTreeMap<String, Vec<f64>>> = Mutex::default();
        let visible: Mutex<Vec<f64>> = Mutex::default();
        let written = std::sync::atomic::AtomicUsize::new(0);
        let writing = Mutex::new(Duration::ZERO);
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        std::thread::scope(|s| {
            // 1 000 writes a second: 4 writers, one signed record each every 4 ms, each
            // waiting for its acknowledgement like a real client.
            for writer in 0..4usize {
                let (writes, written, writing, token) = (&writes, &written, &writing, &token);
                s.spawn(move || {
                    // Each client keeps its connection open, as browsers and tools do.
                    let agent = ureq::Agent::new_with_defaults();
                    for (k, record) in writes.iter().enumerate().skip(writer).step_by(4) {
                        let due = start + Duration::from_micros(k as u64 * 1_000);
                        if due > end {
                            break;
                        }
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = agent
                            .post(format!("http://{}/api/v1/records", self.source.http))
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/cbor")
                            .send(record.bytes());
                        if sent.is_ok() {
                            written.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    // The writer that finishes last says how long writing took.
                    let mut writing = writing.lock().expect("no panics while held");
                    *writing = (*writing).max(start.elapsed());
                });
            }
            // Every 250 ms, a record with a name of its own is written, then searched for
            // until it is found: how long after its 201 search shows it.
            {
                let (visible, token) = (&visible, &token);
                s.spawn(move || {
                    let agent = ureq::Agent::new_with_defaults();
                    let key = &data::authors(8)[7];
                    let mut k = 0;
                    while Instant::now() + Duration::from_secs(2) < end {
                        // A word of its own: far, in edits, from every other probe's, so
                        // that neither prefixes nor typo tolerance find another one.
                        let word: String = maillage_core::Hash::of(&(k as u64).to_be_bytes()).0
                            [..12]
                            .iter()
                            .map(|b| char::from(b'a' + b % 26))
                            .collect();
                        let probe = data::probe(key, &word, now_ms());
                        let written = agent
                            .post(format!("http://{}/api/v1/records", self.source.http))
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/cbor")
                            .send(probe.bytes());
                        let at = Instant::now();
                        if written.is_ok() {
                            let search = format!(
                                "http://{}/api/v1/organisations?q={word}&limit=1",
                                self.source.http
                            );
                            // Not found within 10 s counts as 10 s: the figure fails.
                            let mut ms = 10_000.0;
                            while at.elapsed() < Duration::from_secs(10) {
                                let found = agent
                                    .get(&search)
                                    .call()
                                    .ok()
                                    .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                                    .is_some_and(|v| v["total"].as_u64() == Some(1));
                                if found {
                                    ms = at.elapsed().as_secs_f64() * 1000.0;
                                    break;
                                }
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            visible.lock().expect("no panics while held").push(ms);
                        }
                        k += 1;
                        std::thread::sleep(Duration::from_millis(250));
                    }
                });
            }
            // 200 requests a second: 4 readers, one request each every 20 ms.
            for reader in 0..4usize {
                let (latencies, searches, by_search) = (&latencies, &searches, &by_search);
                s.spawn(move || {
                    let agent = ureq::Agent::new_with_defaults();
                    let mut k = reader;
                    while Instant::now() < end {
                        let due = start + Duration::from_millis((k / 4) as u64 * 20);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let (class, path) = match k % 4 {
                            0 => (0, self.sample[k % self.sample.len()].clone()),
                            1 | 2 => (1, searches[(k / 4) % searches.len()].to_owned()),
                            _ => (2, "/health".to_owned()),
                        };
                        let at = Instant::now();
                        if agent
                            .get(format!("http://{}{path}", self.source.http))
                            .call()
                            .is_ok()
                        {
                            let ms = at.elapsed().as_secs_f64() * 1000.0;
                            latencies.lock().expect("no panics while held")[class].push(ms);
                            if class == 1 {
                                let mut by = by_search.lock().expect("no panics while held");
                                by.entry(path).or_default().push(ms);
                            }
                        }
                        k += 4;
                    }
                });
            }
        });
        let mut l = latencies.into_inner().expect("no panics while held");
        for v in l.iter_mut() {
            v.sort_by(f64::total_cmp);
        }
        let p99 = |v: &Vec<f64>| {
            v.get(((v.len() as f64 * 0.99) as usize).min(v.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let write_rate = written.into_inner() as f64
            / writing
                .into_inner()
                .expect("no panics while held")
                .as_secs_f64();
        let health = p99(&l[2]);
        let by_search: serde_json::Map<String, Value> = by_search
            .into_inner()
            .expect("no panics while held")
            .into_iter()
            .map(|(path, mut v)| {
                v.sort_by(f64::total_cmp);
                (path, json!((p99(&v) * 10.0).round() / 10.0))
            })
            .collect();
        for (name, class, limit, target) in [
            (
                "query lookup",
                0,
                2.0 * health,
                "≤ 2 × /health p99".to_owned(),
            ),
            ("query search", 1, 30.0, "≤ 30 ms".to_owned()),
        ] {
            Figure {
                name: name.into(),
                value: p99(&l[class]),
                unit: "ms p99",
                baseline: health,
                baseline_what: "/health p99, same load",
                target,
                met: p99(&l[class]) <= limit,
                extra: json!({"requests": l[class].len(), "writes_per_s": write_rate, "records": self.records,
                    "p99_ms_by_search": if class == 1 { Value::Object(by_search.clone()) } else { Value::Null }}),
            }
            .print(json);
        }
        let mut seen = visible.into_inner().expect("no panics while held");
        seen.sort_by(f64::total_cmp);
        let worst = seen.last().copied().unwrap_or(f64::NAN);
        Figure {
            name: "search visible".into(),
            value: worst,
            unit: "ms max",
            baseline: p99(&l[1]),
            baseline_what: "search p99, same load",
            target: "≤ 1000 ms after the 201".into(),
            met: seen.len() >= 10 && worst <= 1000.0,
            extra: json!({"probes": seen.len(), "p50_ms": seen.get(seen.len() / 2), "records": self.records}),
        }
        .print(json);
        Ok(())
    }

    pub(crate) fn footprint(&self, json: bool) -> anyhow::Result<()> {
        // Warm it up the way readers would: searches, facets and pages.
        for q in [
            "q=cooperative",
            "",
            "country=SN&activity=activities-modified:AM60",
            "near=14.69,-17.44,50",
            "region=europe&limit=500",
        ] {
            get(&format!(
                "http://{}/api/v1/organisations?{q}",
                self.source.http
            ))?;
        }
        let memory = Memory::of(self.source.child.id())?;
        let mb = self.logical as f64 / 1e6;
        Figure {
            name: "footprint rss".into(),
            value: memory.rss,
            unit: "MB",
            baseline: mb,
            baseline_what: "MB of records",
            target: "≤ 400 MB".into(),
            met: memory.rss <= 400.0,
            extra: json!({"records": self.records, "anon_mb": memory.anon}),
        }
        .print(json);
        let disk = disk_bytes(&self.root.path().join("a"))? as f64;
        Figure {
            name: "footprint disk".into(),
            value: disk / 1e6,
            unit: "MB",
            baseline: mb,
            baseline_what: "MB of records",
            target: "≤ 2.5 × baseline".into(),
            met: disk <= 2.5 * self.logical as f64,
            extra: json!({"records": self.records, "search_mb": disk_bytes(&self.root.path().join("a/search"))? as f64 / 1e6}),
        }
        .print(json);
        let (answering, searchable) = self.restart;
        Figure {
            name: "restart".into(),
            value: answering.as_secs_f64(),
            unit: "s",
            baseline: self.first_start.as_secs_f64(),
            baseline_what: "s to index a store never seen",
            target: "≤ 3 s".into(),
            met: answering.as_secs_f64() <= 3.0,
            extra: json!({"records": self.records, "searchable_s": searchable.as_secs_f64(), "without_checkpoint_s": self.replay.as_secs_f64()}),
        }
        .print(json);
        Ok(())
    }

    pub(crate) fn catchup(&self, ingest: f64, json: bool) -> anyhow::Result<()> {
        let target = Self::status(&self.source)?["state_digest"].clone();
        let dir = self.root.path().join("b");
        let wire = loopback_bytes()?;
        let start = Instant::now();
        let joiner = Self::start(
            &self.binary,
            &dir,
            &["--bootstrap".into(), self.source.p2p.clone()],
        )?;
        let deadline = start + Duration::from_secs(3600);
        let mut peak = Memory::default();
        // When the peak came, and how far the catch-up was then: a transient or the end.
        let (mut peak_at, mut peak_change) = (0.0, Value::Null);
        loop {
            let now = Memory::of(joiner.child.id())?;
            let status = Self::status(&joiner)?;
            if now.rss > peak.rss {
                (peak_at, peak_change) =
                    (start.elapsed().as_secs_f64(), status["last_change"].clone());
            }
            peak = peak.max(now);
            if status["state_digest"] == target {
                break;
            }
            if Instant::now() > deadline {
                bail!("the new node did not catch up in an hour");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let seconds = start.elapsed().as_secs_f64();
        let wire = loopback_bytes()? - wire;
        let rate = self.records as f64 / seconds;
        Figure {
            name: "catchup".into(),
            value: rate,
            unit: "records/s",
            baseline: ingest,
            baseline_what: "ingest records/s, this run",
            target: "≥ 0.5 × baseline".into(),
            met: rate >= 0.5 * ingest,
            extra: json!({"records": self.records, "seconds": seconds, "joiner_peak_rss_mb": peak.rss, "joiner_peak_anon_mb": peak.anon}),
        }
        .print(json);
        Figure {
            name: "catchup wire".into(),
            value: wire as f64 / 1e6,
            unit: "MB",
            baseline: self.logical as f64 / 1e6,
            baseline_what: "MB of records",
            target: "≤ 0.6 × baseline".into(),
            met: (wire as f64) <= 0.6 * self.logical as f64,
            extra: json!({"records": self.records}),
        }
        .print(json);
        Figure {
            name: "catchup peak rss".into(),
            value: peak.rss,
            unit: "MB",
            baseline: self.logical as f64 / 1e6,
            baseline_what: "MB of records",
            target: "≤ 400 MB".into(),
            met: peak.rss <= 400.0,
            extra: json!({"records": self.records, "anon_mb": peak.anon, "at_s": peak_at,
                "changes_then": peak_change, "rss_caught_up_mb": Memory::of(joiner.child.id())?.rss}),
        }
        .print(json);
        Ok(())
    }
}
