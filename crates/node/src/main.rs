//! `maillage`: run a Maillage node, manage its identity, and edit its records.
//!
//! Layout:
//! - `server`: `maillage run`: the store, the network, the API, ordered shutdown;
//! - `config`: defaults → `config.toml` → `MAILLAGE_*` → flags;
//! - `identity`: the key and token files;
//! - `client`: the editing commands, over the node's HTTP API;
//! - `import`: member lists (CSV, Murmurations) through that API;
//! - `backup`: a copy of a running node, and a new data folder from one;
//! - `doctor`: what stands in the way of a node's running well.

// Doc comments here are clap's help texts, written for a terminal: `<data-dir>` is a
// placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod backup;
mod client;
mod config;
mod doctor;
mod identity;
mod import;
mod server;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::json;

use crate::client::Remote;

#[derive(Debug, Parser)]
#[command(
    name = "maillage",
    version,
    about = "A federated peer-to-peer node for the Social and Solidarity Economy"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node: its key, API token and a commented config.toml.
    Init {
        /// The folder that holds everything of this node.
        #[arg(long, env = "MAILLAGE_DATA_DIR", default_value = "maillage-data")]
        data_dir: PathBuf,
    },
    /// Print the node's did and peer id.
    Id {
        #[arg(long, env = "MAILLAGE_DATA_DIR", default_value = "maillage-data")]
        data_dir: PathBuf,
    },
    /// Run the node (creating its identity first if there is none).
    Run {
        #[command(flatten)]
        overrides: config::Overrides,
        /// Load the sample dataset of international SSE networks.
        #[arg(long)]
        demo: bool,
    },
    /// Copy a running node (its records, key and settings) into a new folder.
    Backup {
        /// The new folder.
        to: PathBuf,
        #[command(flatten)]
        remote: Remote,
    },
    /// Make a new data folder from a backup, checked against what the backup held.
    Restore {
        /// The backup's folder.
        from: PathBuf,
        /// The new data folder.
        #[arg(long, env = "MAILLAGE_DATA_DIR", default_value = "maillage-data")]
        data_dir: PathBuf,
    },
    /// Check a node's settings, files, ports, clock, peers and disk, and say what to fix.
    Doctor {
        #[command(flatten)]
        overrides: config::Overrides,
    },
    /// Show a running node's status.
    Status {
        #[command(flatten)]
        remote: Remote,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: Org,
        #[command(flatten)]
        remote: Remote,
    },
    /// Collaborations.
    Collab {
        #[command(subcommand)]
        command: Collab,
        #[command(flatten)]
        remote: Remote,
    },
    /// Import a network's member list through the node's API.
    Import {
        #[command(subcommand)]
        source: import::Import,
        #[command(flatten)]
        remote: Remote,
    },
    /// Export organisations: geojson, csv or jsonld, to standard output.
    Export {
        /// geojson, csv or jsonld.
        format: String,
        #[command(flatten)]
        filters: Filters,
        #[command(flatten)]
        remote: Remote,
    },
    /// Answer someone else's collaboration or membership claim with a signed stance.
    Endorse {
        /// The address of the record endorsed (maillage:<did>/<kind>/<id>).
        target: String,
        /// confirmed, disputed or withdrawn.
        #[arg(long, default_value = "confirmed")]
        stance: String,
        /// The endorsement's own id (default: derived from the target).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum Org {
    /// Create or update one of this node's organisations from a JSON body (`-` for stdin).
    Put { id: String, file: String },
    /// Show an organisation: an id of this node's, or a full address.
    Get { id: String },
    /// Search organisations.
    Ls {
        #[command(flatten)]
        filters: Filters,
    },
    /// Delete one of this node's organisations.
    Rm { id: String },
}

#[derive(Debug, Subcommand)]
enum Collab {
    /// Create or update one of this node's collaborations from a JSON body (`-` for stdin).
    Put { id: String, file: String },
}

/// mimalloc rather than the system allocator: glibc keeps an arena per thread, and what the
/// sync, ingest and indexing threads free there stays resident (a node catching up on a
/// million records held twice its live heap).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The search filters the commands that list organisations share.
#[derive(Debug, clap::Args)]
struct Filters {
    /// Words that must all appear.
    #[arg(long)]
    q: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    #[arg(long)]
    country: Option<String>,
    #[arg(long)]
    region: Option<String>,
    /// ESSGLOBAL activity, as records write it (`activities-modified:AM60`).
    #[arg(long)]
    activity: Option<String>,
    /// The organisation's type: network, initiative, support, agency, research or funder.
    #[arg(long = "type")]
    org_type: Option<String>,
    /// Only the records of this author (a did:key).
    #[arg(long)]
    author: Option<String>,
    /// lat,lon,km: within km of a point.
    #[arg(long)]
    near: Option<String>,
}

impl Filters {
    fn query_string(&self) -> String {
        [
            ("q", &self.q),
            ("country", &self.country),
            ("region", &self.region),
            ("activity", &self.activity),
            ("type", &self.org_type),
            ("author", &self.author),
            ("near", &self.near),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { data_dir } => {
            let id = identity::init(&data_dir)?;
            let dir = data_dir.display();
            println!("created a node in {dir}");
            println!("did:     {}", id.did());
            println!("peer id: {}", id.peer_id());
            println!(
                "\nNext:\n\
                 - keep {dir}/{key} safe: it is this network's signature; back the node up with `maillage backup`\n\
                 - the API token for writes is in {dir}/{token}\n\
                 - name two or three partner nodes under [p2p] bootstrap in {dir}/{config}\n\
                 \x20 (their /ip4/…/tcp/7700/p2p/<peer id>), and open the p2p port (7700) to them\n\
                 - start it: maillage run --data-dir {dir}\n\
                 - publish this network's profile, the name its records are shown by everywhere:\n\
                 \x20 maillage org put profile profile.json --data-dir {dir}   (a JSON organisation: {{\"name\": …}})\n\
                 - check it: maillage doctor --data-dir {dir}",
                key = identity::KEY_FILE,
                token = identity::TOKEN_FILE,
                config = identity::CONFIG_FILE,
            );
        }
        Command::Id { data_dir } => {
            let id = identity::load(&data_dir)?;
            client::say(&id.did());
            client::say(&id.peer_id().to_string());
        }
        Command::Run { overrides, demo } => {
            let config = config::Config::load(overrides)?;
            server::init_logs(&config);
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(server::run(config, demo))?;
        }
        Command::Backup { to, remote } => backup::backup(&remote, &to)?,
        Command::Restore { from, data_dir } => backup::restore(&from, &data_dir)?,
        Command::Doctor { overrides } => doctor::run(overrides)?,
        Command::Status { remote } => client::print(&remote.get("/api/v1/status")?)?,
        Command::Org { command, remote } => match command {
            Org::Put { id, file } => client::print(&client::put(
                &remote,
                "organisation",
                &id,
                client::read_body(&file)?,
            )?)?,
            Org::Get { id } => {
                let path = client::path_of(&remote, "organisation", &id)?;
                client::print(&remote.get(&format!("/api/v1/records/{path}"))?)?;
            }
            Org::Ls { filters } => {
                let query = filters.query_string();
                client::searchable(&remote)?;
                let page = remote.get(&format!("/api/v1/organisations?{query}&limit=500"))?;
                let items = page["items"].as_array().map_or(&[][..], Vec::as_slice);
                for item in items {
                    client::say(&format!(
                        "{}\t{}",
                        item["address"].as_str().unwrap_or(""),
                        item["body"]["name"].as_str().unwrap_or("")
                    ));
                }
                let total = page["total"].as_u64().unwrap_or(0);
                if total > items.len() as u64 {
                    eprintln!(
                        "{} of {total} shown: narrow the search, or use `maillage export`",
                        items.len()
                    );
                }
            }
            Org::Rm { id } => {
                let path = client::path_of(&remote, "organisation", &id)?;
                client::print(&remote.delete(&format!("/api/v1/records/{path}"))?)?;
            }
        },
        Command::Collab {
            command: Collab::Put { id, file },
            remote,
        } => {
            client::print(&client::put(
                &remote,
                "collaboration",
                &id,
                client::read_body(&file)?,
            )?)?;
        }
        Command::Import { source, remote } => import::run(source, &remote)?,
        Command::Export {
            format,
            filters,
            remote,
        } => {
            let query = filters.query_string();
            remote.download(
                &format!("/api/v1/export/organisations.{format}?{query}"),
                &mut std::io::stdout().lock(),
            )?;
        }
        Command::Endorse {
            target,
            stance,
            id,
            remote,
        } => {
            let address: maillage_core::Address = target.parse()?;
            let id = id.unwrap_or_else(|| {
                format!("endorse-{}-{}", address.kind, address.id)
                    .chars()
                    .take(64)
                    .collect()
            });
            let body = json!({"target": target, "stance": stance});
            client::print(&client::put(&remote, "endorsement", &id, body)?)?;
        }
    }
    Ok(())
}
