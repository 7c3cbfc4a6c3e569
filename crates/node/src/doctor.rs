//! `maillage doctor`: what stands in the way of a node's running well, in plain words, each
//! problem with what to do about it. Exits non-zero if there is one.
//!
//! It reads the configuration as `maillage run` would, looks at the data folder and its
//! secrets, asks the node at `http.listen` (if one runs there) about its clock and peers,
//! and otherwise checks that the ports are free; it tries to reach each bootstrap peer and
//! looks at the disk and the open-file limit.

use std::net::{TcpStream, ToSocketAddrs as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use maillage_net::{Multiaddr, Protocol};
use serde_json::Value;

use crate::config::{self, Config, Overrides};
use crate::identity;

/// Below this much free space the store may soon refuse writes.
const LOW_DISK: u64 = 1 << 30;
/// Open files a node with many peers may need (sockets, segments).
const FEW_FILES: u64 = 4096;
const WAIT: Duration = Duration::from_secs(3);

/// What was found: a line per check.
#[derive(Debug, Default)]
struct Report {
    problems: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        crate::client::say(&format!("ok       {what}: {detail}"));
    }

    fn warn(&mut self, what: &str, detail: impl std::fmt::Display) {
        crate::client::say(&format!("warning  {what}: {detail}"));
    }

    fn problem(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.problems += 1;
        crate::client::say(&format!("PROBLEM  {what}: {detail}"));
    }
}

pub fn run(overrides: Overrides) -> anyhow::Result<()> {
    let mut r = Report::default();
    let config = match Config::load(overrides) {
        Ok(config) => {
            r.ok("config", "reads, and every value is valid");
            config
        }
        Err(e) => {
            r.problem("config", format!("{e:#}"));
            bail!("1 problem found");
        }
    };
    let did = files(&mut r, &config.data_dir);
    match node(&config) {
        Some(status) => running(&mut r, &config, &status, did.as_deref()),
        None => ports(&mut r, &config),
    }
    bootstrap(&mut r, &config.net.bootstrap, config.net.mdns);
    disk(&mut r, &config.data_dir);
    open_files(&mut r);
    match r.problems {
        0 => {
            println!("no problem found");
            Ok(())
        }
        1 => bail!("1 problem found"),
        n => bail!("{n} problems found"),
    }
}

/// The data folder, the key and the token; the node's did if the key reads.
fn files(r: &mut Report, dir: &Path) -> Option<String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me && me != 0 {
                r.warn(
                    "data folder",
                    format!("{shown} belongs to user {}, not to you ({me}): run the node as its owner, or `chown -R` it", meta.uid()),
                );
            } else if rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_err() {
                r.problem(
                    "data folder",
                    format!("{shown} is not writable: {}", identity::unwritable(dir)),
                );
            } else {
                r.ok("data folder", format!("{shown}, writable"));
            }
        }
        Ok(_) => r.problem("data folder", format!("{shown} is not a folder")),
        Err(_) => {
            r.problem(
                "data folder",
                format!("{shown} does not exist: create the node with `maillage init --data-dir {shown}`"),
            );
            return None;
        }
    }
    for (name, what) in [
        (identity::KEY_FILE, "the node's signing key"),
        (identity::TOKEN_FILE, "the API token"),
    ] {
        let path = dir.join(name);
        if name == identity::TOKEN_FILE && std::env::var_os("MAILLAGE_API_TOKEN").is_some() {
            r.ok(name, "given by MAILLAGE_API_TOKEN");
            continue;
        }
        if !path.exists() {
            r.problem(
                name,
                format!(
                    "no {what} at {}: run `maillage init --data-dir {shown}`",
                    path.display()
                ),
            );
            continue;
        }
        match identity::check_private(&path) {
            Ok(()) => r.ok(name, format!("{what}, readable by its owner only")),
            Err(e) => r.problem(name, format!("{e:#}")),
        }
    }
    identity::load(dir).ok().map(|id| id.did())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(WAIT))
        .build()
        .into()
}

/// The status of the node at `http.listen`, if one answers there.
fn node(config: &Config) -> Option<Value> {
    let url = format!("http://{}/api/v1/status", config::connectable(config.http));
    let mut response = agent().get(url).call().ok()?;
    response.body_mut().read_json().ok()
}

/// What the running node says of itself.
fn running(r: &mut Report, config: &Config, status: &Value, did: Option<&str>) {
    let theirs = status["did"].as_str().unwrap_or("");
    if did.is_some_and(|did| did != theirs) {
        r.problem(
            "node",
            format!(
                "the node answering at {} is {theirs}, not the one in {}: another node holds this port; give one of them another --http",
                config.http,
                config.data_dir.display()
            ),
        );
        return;
    }
    r.ok(
        "node",
        format!(
            "running at {}, {} versions held",
            config.http, status["versions"]
        ),
    );
    match status["clock"]["warning"].as_str() {
        Some(warning) => r.problem("clock", warning),
        None => match status["clock"]["peers_ahead_ms"].as_i64() {
            Some(ms) => r.ok("clock", format!("peers' records say it is {ms} ms off")),
            None => r.ok("clock", "no fresh record from a peer yet to compare with"),
        },
    }
    let peers = status["peers"].as_u64().unwrap_or(0);
    match status["network_warning"].as_str() {
        Some(warning) => r.problem("peers", warning),
        None if peers == 0 => r.warn("peers", "none connected yet"),
        None => r.ok("peers", format!("{peers} connected")),
    }
}

/// With no node answering, the folder must be free and the ports it needs too.
fn ports(r: &mut Report, config: &Config) {
    let lock = config.data_dir.join("store").join("lock");
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&lock)
        .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)));
    if held {
        r.problem(
            "node",
            format!(
                "a maillage process holds {}, but none answers at {}: was it started with another --http? Give doctor the flags the node runs with",
                config.data_dir.display(),
                config.http
            ),
        );
        return;
    }
    r.ok(
        "node",
        format!(
            "none answers at {}: checking that its ports are free",
            config.http
        ),
    );
    match std::net::TcpListener::bind(config.http) {
        Ok(_) => r.ok("http port", format!("{} is free", config.http)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => r.problem(
            "http port",
            format!(
                "port {} is in use by another program; stop it, or set another address with --http or http.listen",
                config.http.port()
            ),
        ),
        Err(e) => r.problem("http port", format!("{}: {e}", config.http)),
    }
    for addr in &config.net.listen {
        match maillage_net::exclusive(addr) {
            Ok(()) => r.ok("p2p port", format!("{addr} is free")),
            Err(e) => r.problem("p2p port", e),
        }
    }
}

/// Whether each bootstrap peer's port answers.
fn bootstrap(r: &mut Report, peers: &[Multiaddr], mdns: bool) {
    if peers.is_empty() {
        let finds = if mdns {
            "on this network (mDNS) and in its peer book"
        } else {
            "in its peer book (mDNS is off)"
        };
        r.warn(
            "bootstrap",
            format!("none set: the node finds peers only {finds}; name two or three partner nodes in p2p.bootstrap"),
        );
        return;
    }
    for addr in peers {
        let Some((host, port)) = host_port(addr) else {
            r.warn(
                "bootstrap",
                format!("{addr}: not a TCP address, not checked"),
            );
            continue;
        };
        let reached = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("{host} does not resolve: {e}"))
            .and_then(|mut addrs| {
                let at = addrs.next().ok_or(format!("{host} has no address"))?;
                TcpStream::connect_timeout(&at, WAIT).map_err(|e| e.to_string())
            });
        match reached {
            Ok(_) => r.ok("bootstrap", format!("{addr} answers")),
            Err(e) => r.warn(
                "bootstrap",
                format!(
                    "{addr} does not answer ({e}): is that node up, and its port open to this one?"
                ),
            ),
        }
    }
}

fn host_port(addr: &Multiaddr) -> Option<(String, u16)> {
    let mut parts = addr.iter();
    let host = match parts.next()? {
        Protocol::Ip4(ip) => ip.to_string(),
        Protocol::Ip6(ip) => ip.to_string(),
        Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => h.to_string(),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Tcp(port) => Some((host, port)),
        _ => None,
    }
}

fn disk(r: &mut Report, dir: &Path) {
    let Ok(fs) = rustix::fs::statvfs(dir) else {
        return;
    };
    let free = fs.f_bavail.saturating_mul(fs.f_frsize);
    let shown = format!(
        "{:.1} GiB free under {}",
        free as f64 / f64::from(1 << 30),
        dir.display()
    );
    if free < LOW_DISK {
        r.problem(
            "disk",
            format!("only {shown}: free some space, or move the data folder"),
        );
    } else {
        r.ok("disk", shown);
    }
}

fn open_files(r: &mut Report) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    match limit {
        Some(n) if n < FEW_FILES => r.warn(
            "open files",
            format!("the limit is {n}; a node with many peers may need {FEW_FILES}: raise it (`ulimit -n`, or LimitNOFILE= in the systemd unit)"),
        ),
        Some(n) => r.ok("open files", format!("the limit is {n}")),
        None => r.ok("open files", "no limit"),
    }
}
