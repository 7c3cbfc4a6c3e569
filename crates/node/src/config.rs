//! Configuration: built-in defaults → `config.toml` → `MAILLAGE_*` environment → flags.
//!
//! The file form ([`File`]) is what TOML says; [`Config`] is the validated form the node runs
//! with. Environment and flags arrive through clap (a flag beats its variable) as overrides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use maillage_core::Author;
use maillage_store::policy::Mode;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct File {
    /// The folder that holds everything of this node.
    pub data_dir: PathBuf,
    pub http: Http,
    pub p2p: P2p,
    pub policy: Policy,
    pub log: Log,
    pub web: Web,
    pub stats: Stats,
}

impl Default for File {
    fn default() -> Self {
        File {
            data_dir: PathBuf::from("maillage-data"),
            http: Http::default(),
            p2p: P2p::default(),
            policy: Policy::default(),
            log: Log::default(),
            web: Web::default(),
            stats: Stats::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Http {
    /// Address of the HTTP API.
    pub listen: String,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            listen: "127.0.0.1:7701".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2p {
    /// Multiaddrs to listen on for peers.
    pub listen: Vec<String>,
    /// Multiaddrs of partner nodes to dial and keep dialling.
    pub bootstrap: Vec<String>,
    /// Seconds between anti-entropy rounds with each peer.
    pub sync_interval: u64,
    /// Find peers on the local network by mDNS.
    pub mdns: bool,
    /// Most peers to keep connections with.
    pub max_peers: u32,
    /// Invalid records a peer may send before it is disconnected and banned for an hour.
    pub ban_threshold: u32,
}

impl Default for P2p {
    fn default() -> Self {
        let net = maillage_net::Config::default();
        P2p {
            listen: net.listen.iter().map(ToString::to_string).collect(),
            bootstrap: vec![],
            sync_interval: net.sync_interval.as_secs(),
            mdns: net.mdns,
            max_peers: net.max_peers,
            ban_threshold: net.ban_threshold,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `open` or `trusted`.
    pub mode: String,
    /// Authors accepted in `trusted` mode.
    pub trusted: Vec<String>,
    /// Authors refused everywhere and purged.
    pub blocked: Vec<String>,
    /// Most addresses one other author can make this node store.
    pub quota: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: "open".into(),
            trusted: vec![],
            blocked: vec![],
            quota: 100_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A tracing filter, as `RUST_LOG`.
    pub filter: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            filter: "maillage=info,libp2p=warn".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// A tile server's URL template for the page's map; empty: the shipped outline only.
    pub tiles: String,
    /// The attribution its licence asks for.
    pub tiles_attribution: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stats {
    /// The countries counted as the global North; empty: UN M49's developed regions.
    pub north: Vec<String>,
}

/// Values from the environment or the command line; each set one beats the file.
#[derive(Debug, Default, clap::Args)]
pub struct Overrides {
    /// A config file (default: <data-dir>/config.toml when it exists).
    #[arg(long, env = "MAILLAGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The folder that holds everything of this node.
    #[arg(long, env = "MAILLAGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP API, like 127.0.0.1:7701.
    #[arg(long, env = "MAILLAGE_HTTP")]
    pub http: Option<String>,
    /// A multiaddr to listen on for peers (repeat for several; replaces p2p.listen).
    #[arg(long, env = "MAILLAGE_LISTEN", value_delimiter = ',')]
    pub listen: Vec<String>,
    /// A partner node's multiaddr to dial (repeat for several; adds to p2p.bootstrap).
    #[arg(long, env = "MAILLAGE_BOOTSTRAP", value_delimiter = ',')]
    pub bootstrap: Vec<String>,
    /// Seconds between anti-entropy rounds with each peer.
    #[arg(long, env = "MAILLAGE_SYNC_INTERVAL")]
    pub sync_interval: Option<u64>,
    /// Trust policy: open or trusted.
    #[arg(long, env = "MAILLAGE_POLICY")]
    pub policy: Option<String>,
    /// Log filter, as RUST_LOG.
    #[arg(long, env = "MAILLAGE_LOG")]
    pub log: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "MAILLAGE_LOG_FORMAT")]
    pub log_format: Option<String>,
}

/// The validated configuration a node runs with.
#[derive(Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub http: SocketAddr,
    pub net: maillage_net::Config,
    pub mode: Mode,
    pub trusted: Vec<Author>,
    pub blocked: Vec<Author>,
    pub quota: u64,
    pub log_filter: String,
    pub json_logs: bool,
    pub site: maillage_api::Site,
}

fn authors(list: &[String], key: &str) -> anyhow::Result<Vec<Author>> {
    list.iter()
        .map(|did| {
            did.parse()
                .with_context(|| format!("policy.{key} holds `{did}`"))
        })
        .collect()
}

impl Config {
    pub fn load(o: Overrides) -> anyhow::Result<Config> {
        let default_dir = o
            .data_dir
            .clone()
            .unwrap_or_else(|| File::default().data_dir);
        let path = o.config.clone().or_else(|| {
            let p = default_dir.join("config.toml");
            p.exists().then_some(p)
        });
        let mut file = match &path {
            Some(p) => read(p)?,
            None => File::default(),
        };
        if let Some(v) = o.data_dir {
            file.data_dir = v;
        }
        if let Some(v) = o.http {
            file.http.listen = v;
        }
        if !o.listen.is_empty() {
            file.p2p.listen = o.listen;
        }
        file.p2p.bootstrap.extend(o.bootstrap);
        if let Some(v) = o.sync_interval {
            file.p2p.sync_interval = v;
        }
        if let Some(v) = o.policy {
            file.policy.mode = v;
        }
        if let Some(v) = o.log {
            file.log.filter = v;
        }
        if let Some(v) = o.log_format {
            file.log.format = v;
        }
        Config::try_from(file)
    }
}

/// Where a client reaches the node of `data_dir`: `MAILLAGE_HTTP`, else `http.listen` in
/// its config.toml, else the default (a wildcard address is reached on loopback).
pub fn http_of(data_dir: &Path) -> SocketAddr {
    let listen = std::env::var("MAILLAGE_HTTP").unwrap_or_else(|_| {
        read(&data_dir.join("config.toml"))
            .ok()
            .map_or_else(|| Http::default().listen, |f| f.http.listen)
    });
    let default = || {
        Http::default()
            .listen
            .parse()
            .expect("the default is an address")
    };
    connectable(listen.parse().unwrap_or_else(|_| default()))
}

/// An address to reach a listener bound to `addr` (a wildcard one is reached on loopback).
pub fn connectable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

fn read(path: &Path) -> anyhow::Result<File> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config {} is not valid", path.display()))
}

impl TryFrom<File> for Config {
    type Error = anyhow::Error;

    fn try_from(f: File) -> anyhow::Result<Config> {
        let http = f.http.listen.parse().with_context(|| {
            format!(
                "http.listen `{}` is not an address like 127.0.0.1:7701",
                f.http.listen
            )
        })?;
        let mode = match f.policy.mode.as_str() {
            "open" => Mode::Open,
            "trusted" => Mode::Trusted,
            other => bail!("policy.mode `{other}` is neither `open` nor `trusted`"),
        };
        let json_logs = match f.log.format.as_str() {
            "text" => false,
            "json" => true,
            other => bail!("log.format `{other}` is neither `text` nor `json`"),
        };
        let multiaddrs = |list: &[String], key: &str| {
            list.iter()
                .map(|a| {
                    a.parse().with_context(|| {
                        format!("p2p.{key} `{a}` is not a multiaddr like /ip4/192.0.2.1/tcp/7700")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        };
        if f.p2p.sync_interval == 0 {
            bail!("p2p.sync_interval must be at least 1 second");
        }
        let net = maillage_net::Config {
            listen: multiaddrs(&f.p2p.listen, "listen")?,
            bootstrap: multiaddrs(&f.p2p.bootstrap, "bootstrap")?,
            sync_interval: std::time::Duration::from_secs(f.p2p.sync_interval),
            mdns: f.p2p.mdns,
            max_peers: f.p2p.max_peers,
            ban_threshold: f.p2p.ban_threshold,
            bans: Some(f.data_dir.join("bans.json")),
            peer_book: Some(f.data_dir.join("peers.json")),
        };
        let tiles = match (f.web.tiles.as_str(), f.web.tiles_attribution.as_str()) {
            ("", _) => None,
            (url, _)
                if !(url.starts_with("https://") || url.starts_with("http://"))
                    || !url.contains("{z}") =>
            {
                bail!(
                    "web.tiles `{url}` is not a tile URL template like https://tiles.example.org/{{z}}/{{x}}/{{y}}.png"
                )
            }
            (_, "") => bail!(
                "web.tiles needs web.tiles_attribution: the credit the tiles' licence asks for"
            ),
            (url, attribution) => Some(maillage_api::Tiles {
                url: url.to_owned(),
                attribution: attribution.to_owned(),
            }),
        };
        let north = if f.stats.north.is_empty() {
            maillage_api::stats::North::m49()
        } else {
            maillage_api::stats::North::of(&f.stats.north).map_err(anyhow::Error::msg)?
        };
        Ok(Config {
            site: maillage_api::Site { tiles, north },
            data_dir: f.data_dir,
            http,
            net,
            mode,
            trusted: authors(&f.policy.trusted, "trusted")?,
            blocked: authors(&f.policy.blocked, "blocked")?,
            quota: f.policy.quota,
            log_filter: f.log.filter,
            json_logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_file_is_the_default() {
        // Every key in config/default.toml is commented out: uncommented, it must parse and
        // give the built-in defaults.
        let text: String = include_str!("../../../config/default.toml")
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(setting)
                    if setting
                        .split_once(" = ")
                        .is_some_and(|(k, _)| !k.contains(' ')) =>
                {
                    setting
                }
                _ if l.starts_with('#') => "",
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let file: File = toml::from_str(&text).unwrap();
        let default = File::default();
        assert_eq!(file.data_dir, default.data_dir);
        assert_eq!(file.http.listen, default.http.listen);
        assert_eq!(file.p2p.listen, default.p2p.listen);
        assert_eq!(file.p2p.sync_interval, default.p2p.sync_interval);
        assert_eq!(file.p2p.max_peers, default.p2p.max_peers);
        assert_eq!(file.p2p.ban_threshold, default.p2p.ban_threshold);
        assert_eq!(file.policy.mode, default.policy.mode);
        assert_eq!(file.policy.quota, default.policy.quota);
        assert_eq!(file.log.filter, default.log.filter);
    }

    #[test]
    fn bad_values_say_which_key() {
        let err = toml::from_str::<File>("[http]\nlisen = 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        let mut f = File::default();
        f.policy.mode = "closed".into();
        assert!(
            Config::try_from(f)
                .unwrap_err()
                .to_string()
                .contains("policy.mode")
        );
    }
}
