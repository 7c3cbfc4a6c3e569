//! `maillage`: run a Maillage node, and manage its identity.

mod identity;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { data_dir } => {
            let id = identity::init(&data_dir)?;
            println!("created a node in {}", data_dir.display());
            println!("did:     {}", id.did());
            println!("peer id: {}", id.peer_id());
        }
        Command::Id { data_dir } => {
            let id = identity::load(&data_dir)?;
            println!("{}", id.did());
            println!("{}", id.peer_id());
        }
    }
    Ok(())
}
