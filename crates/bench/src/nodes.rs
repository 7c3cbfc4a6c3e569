//! Benchmarks on real `maillage` processes over TCP on 127.0.0.1.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::{Figure, data, ingest_rate, now_ms, open_ingest};

const RECORDS: usize = 100_000;

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

fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmRSS")?
        .parse()?;
    Ok(kb / 1024.0)
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

pub(crate) struct Bench {
    binary: PathBuf,
    root: tempfile::TempDir,
    logical: u64,
    source: Node,
    /// API paths of a sample of the records held, for lookups.
    sample: Vec<String>,
    /// From starting the node on its 100 000 records to its first answer.
    startup: Duration,
}

impl Bench {
    /// Builds the binary, fills a node's folder with 100 000 records and starts it.
    pub(crate) fn prepare(json: bool) -> anyhow::Result<Bench> {
        let binary = build_binary()?;
        let root = tempfile::tempdir()?;
        let a = root.path().join("a");
        let init = Command::new(&binary)
            .args(["init", "--data-dir"])
            .arg(&a)
            .output()?;
        if !init.status.success() {
            bail!(
                "maillage init failed: {}",
                String::from_utf8_lossy(&init.stderr)
            );
        }
        if !json {
            println!("# signing {RECORDS} realistic records for the node benchmarks…");
        }
        let records = data::records(&data::authors(100), RECORDS, 2, now_ms());
        let logical = records.iter().map(|r| r.bytes().len() as u64).sum();
        let sample = records
            .iter()
            .step_by(97)
            .map(|r| format!("/api/v1/records/{}/{}/{}", r.author, r.kind, r.id))
            .collect();
        {
            let ingest = open_ingest(&a.join("store"))?;
            ingest_rate(&ingest, &records, 1024);
        }
        drop(records);
        let started = Instant::now();
        let source = Self::start(&binary, &a, &[])?;
        let startup = started.elapsed();
        Ok(Bench {
            binary,
            root,
            logical,
            source,
            sample,
            startup,
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
        let deadline = Instant::now() + Duration::from_secs(120);
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
            // 200 requests a second: 4 readers, one request each every 20 ms.
            for reader in 0..4usize {
                let (latencies, searches) = (&latencies, &searches);
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
        for (name, class, target) in [("query lookup", 0, 5.0), ("query search", 1, 50.0)] {
            Figure {
                name: name.into(),
                value: p99(&l[class]),
                unit: "ms p99",
                baseline: p99(&l[2]),
                baseline_what: "/health p99, same load",
                target: format!("≤ {target} ms"),
                met: p99(&l[class]) <= target,
                extra: json!({"requests": l[class].len(), "writes_per_s": write_rate, "records": RECORDS}),
            }
            .print(json);
        }
        Ok(())
    }

    pub(crate) fn footprint(&self, json: bool) -> anyhow::Result<()> {
        // Warm it up the way readers would: searches and pages.
        for q in [
            "q=cooperative",
            "country=SN&activity=activities-modified:AM60",
            "near=14.69,-17.44,50",
            "region=europe&limit=500",
        ] {
            get(&format!(
                "http://{}/api/v1/organisations?{q}",
                self.source.http
            ))?;
        }
        let rss = rss_mb(self.source.child.id())?;
        Figure {
            name: "footprint rss".into(),
            value: rss,
            unit: "MB",
            baseline: self.logical as f64 / 1e6,
            baseline_what: "MB of records",
            target: "≤ 300 MB".into(),
            met: rss <= 300.0,
            extra: json!({"records": RECORDS, "startup_s": self.startup.as_secs_f64()}),
        }
        .print(json);
        let disk = disk_bytes(&self.root.path().join("a"))? as f64;
        Figure {
            name: "footprint disk".into(),
            value: disk / 1e6,
            unit: "MB",
            baseline: self.logical as f64 / 1e6,
            baseline_what: "MB of records",
            target: "≤ 2.5 × baseline".into(),
            met: disk <= 2.5 * self.logical as f64,
            extra: json!({"records": RECORDS}),
        }
        .print(json);
        Ok(())
    }

    pub(crate) fn catchup(&self, ingest: f64, json: bool) -> anyhow::Result<()> {
        let target = Self::status(&self.source)?["state_digest"].clone();
        let dir = self.root.path().join("b");
        let start = Instant::now();
        let joiner = Self::start(
            &self.binary,
            &dir,
            &["--bootstrap".into(), self.source.p2p.clone()],
        )?;
        let deadline = start + Duration::from_secs(600);
        loop {
            if Self::status(&joiner)?["state_digest"] == target {
                break;
            }
            if Instant::now() > deadline {
                bail!("the new node did not catch up in 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let rate = RECORDS as f64 / start.elapsed().as_secs_f64();
        Figure {
            name: "catchup".into(),
            value: rate,
            unit: "records/s",
            baseline: ingest,
            baseline_what: "ingest records/s, this run",
            target: "≥ 0.5 × baseline".into(),
            met: rate >= 0.5 * ingest,
            extra: json!({"records": RECORDS, "seconds": start.elapsed().as_secs_f64(), "joiner_rss_mb": rss_mb(joiner.child.id())?}),
        }
        .print(json);
        Ok(())
    }
}
