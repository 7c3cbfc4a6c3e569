//! Real `maillage` processes for end-to-end tests: free ports on 127.0.0.1, their own data
//! folders, and waits on conditions with a deadline.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, or panics with `what` after [`DEADLINE`].
pub fn wait_for<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    within(DEADLINE, check).unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `check` until it returns `Some`, or gives `None` after `limit`.
pub fn within<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The API path of a record, from its JSON form.
pub fn path_of(record: &Value) -> String {
    let address = record["address"].as_str().unwrap();
    format!(
        "/api/v1/records/{}",
        address.strip_prefix("maillage:").unwrap()
    )
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP answer: status and parsed JSON (or the text as a JSON string).
/// The environment that moves a process's wall clock by `offset` (libfaketime; monotonic
/// time is left alone, as a real wrong clock would).
pub fn skewed(offset: &str) -> Vec<(String, String)> {
    let lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    assert!(
        Path::new(lib).exists(),
        "{lib} is missing: install Debian's faketime package"
    );
    [
        ("LD_PRELOAD", lib),
        ("FAKETIME", offset),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("FAKETIME_DONT_RESET", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: Value,
}

impl Answer {
    pub fn error(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {self:?}"))
    }
}

pub struct Node {
    pub dir: PathBuf,
    pub http: String,
    /// The p2p port, kept across restarts so that peers can redial it.
    pub p2p: u16,
    pub args: Vec<String>,
    /// Environment the process is started with, beside the test's own.
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, json }
}

impl Node {
    /// Starts a node on a new data folder under `root`.
    pub fn start(root: &Path, name: &str, args: &[&str]) -> Node {
        let mut node = Node {
            dir: root.join(name),
            http: format!("127.0.0.1:{}", free_port()),
            p2p: free_port(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            child: None,
        };
        node.restart();
        node
    }

    /// Starts a node whose clock is `offset` off (`-1h`, `+30m`), by libfaketime.
    pub fn start_skewed(root: &Path, name: &str, args: &[&str], offset: &str) -> Node {
        let mut node = Node {
            dir: root.join(name),
            http: format!("127.0.0.1:{}", free_port()),
            p2p: free_port(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: skewed(offset),
            child: None,
        };
        node.restart();
        node
    }

    /// Where peers dial this node.
    pub fn multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.p2p)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// (Re)starts the process on the same folder and port, and waits until it serves.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "node already running");
        let child = Command::new(env!("CARGO_BIN_EXE_maillage"))
            .arg("run")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--http", &self.http])
            .args(["--listen", &self.multiaddr()])
            .args(&self.args)
            .env_remove("MAILLAGE_API_TOKEN")
            .env("MAILLAGE_LOG", "maillage=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.with_extension("log"))
                    .unwrap(),
            ))
            .spawn()
            .unwrap();
        self.child = Some(child);
        wait_for("the node to serve /health", || {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the node exited with {status}: {}", self.log());
            }
            agent()
                .get(self.url("/health"))
                .call()
                .ok()
                .filter(|r| r.status() == 200)
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    /// SIGTERM, and the exit status once it is gone.
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("node running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        wait_for("the node to exit", || child.try_wait().unwrap())
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("node running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.join("api.token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    pub fn get(&self, path: &str) -> Answer {
        answer(agent().get(self.url(path)).call().unwrap())
    }

    pub fn delete(&self, path: &str) -> Answer {
        let request = agent()
            .delete(self.url(path))
            .header("authorization", format!("Bearer {}", self.token()));
        answer(request.call().unwrap())
    }

    pub fn delete_without_token(&self, path: &str) -> Answer {
        answer(agent().delete(self.url(path)).call().unwrap())
    }

    /// Follows `/api/v1/events`; each `data:` line of a `record` event is sent on the channel.
    pub fn follow_events(&self) -> std::sync::mpsc::Receiver<Value> {
        use std::io::BufRead as _;
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        let response = agent().get(self.url("/api/v1/events")).call().unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        std::thread::spawn(move || {
            let mut record_event = false;
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if let Some(data) = line.strip_prefix("data: ").filter(|_| record_event)
                    && tx.send(serde_json::from_str(data).unwrap()).is_err()
                {
                    break;
                }
                record_event = line == "event: record" || (record_event && !line.is_empty());
            }
        });
        rx
    }

    /// POSTs `body` with a content type and an optional `Authorization` header value.
    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        auth: Option<&str>,
        body: &[u8],
    ) -> Answer {
        let mut request = agent()
            .post(self.url(path))
            .header("content-type", content_type);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        answer(request.send(body).unwrap())
    }

    pub fn post_json(&self, kind: &str, id: &str, body: Value) -> Answer {
        let payload = serde_json::json!({"kind": kind, "id": id, "body": body});
        let auth = format!("Bearer {}", self.token());
        self.post_raw(
            "/api/v1/records",
            "application/json",
            Some(&auth),
            payload.to_string().as_bytes(),
        )
    }

    pub fn post_cbor(&self, bytes: &[u8]) -> Answer {
        let auth = format!("Bearer {}", self.token());
        self.post_raw("/api/v1/records", "application/cbor", Some(&auth), bytes)
    }

    /// Waits until search answers for every change the node has made (within a second of
    /// each write).
    pub fn searchable(&self) {
        wait_for("search to cover the last change", || {
            let status = self.status();
            (status["search_covers"] == status["last_change"]).then_some(())
        });
    }

    pub fn status(&self) -> Value {
        self.get("/api/v1/status").json
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").json.as_str().unwrap().to_owned()
    }

    /// The value of one metric line, 0 if absent.
    pub fn metric(&self, line_start: &str) -> u64 {
        self.metrics()
            .lines()
            .find_map(|l| {
                l.strip_prefix(line_start)
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Runs a `maillage` command against this node, with its URL and data folder.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_maillage"))
            .args(args)
            .args([
                "--node",
                &self.url(""),
                "--data-dir",
                self.dir.to_str().unwrap(),
            ])
            .env_remove("MAILLAGE_API_TOKEN")
            .output()
            .unwrap()
    }

    pub fn did(&self) -> String {
        self.status()["did"].as_str().unwrap().to_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
