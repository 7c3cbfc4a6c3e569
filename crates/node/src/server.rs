//! `maillage run`: open the store, serve the API, stop in order on SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use maillage_core::{Body, Kind};
use maillage_store::ingest::Ingest;
use maillage_store::policy::Policy;
use maillage_store::{Engine, Store};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::identity::{self, Identity};

/// How long open connections (event streams) may hold up a shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The sample dataset `--demo` loads: public facts about international SSE networks.
const DEMO: &str = include_str!("../../../config/examples/sse-networks.json");

pub fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("maillage=info"));
    // Colours for a person at a terminal; plain text for a log file or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if config.json_logs {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The API token: `MAILLAGE_API_TOKEN`, else `<data_dir>/api.token` (which must be private).
/// An empty or short one is refused: every write would be refused, or anyone could guess it.
fn token(config: &Config) -> anyhow::Result<String> {
    let (token, from) = match std::env::var("MAILLAGE_API_TOKEN") {
        Ok(token) => (token, "MAILLAGE_API_TOKEN".to_owned()),
        Err(_) => {
            let path = config.data_dir.join(identity::TOKEN_FILE);
            identity::check_private(&path)?;
            let token = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (token, path.display().to_string())
        }
    };
    let token = token.trim().to_owned();
    if token.chars().count() < MIN_TOKEN {
        anyhow::bail!(
            "the API token in {from} is {} characters long; it needs at least {MIN_TOKEN}: put a long random one there (`openssl rand -hex 32`), or delete the file and run `maillage init` to make one",
            token.chars().count()
        );
    }
    Ok(token)
}

/// Shortest API token the node starts with.
const MIN_TOKEN: usize = 16;

/// Takes in the records held from ahead of this node's clock as their time comes.
async fn release_held(ingest: Arc<Ingest>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let ingest = ingest.clone();
        if let Ok(n) = tokio::task::spawn_blocking(move || ingest.release_due()).await
            && n > 0
        {
            tracing::info!(records = n, "took in records held until their time");
        }
    }
}

pub async fn run(config: Config, demo: bool) -> anyhow::Result<()> {
    let id = if identity::key_path(&config.data_dir).exists() {
        identity::load(&config.data_dir)?
    } else {
        let id = identity::init(&config.data_dir)?;
        tracing::info!(data_dir = %config.data_dir.display(), did = %id.did(), "created a new node identity");
        id
    };
    let token = token(&config)?;
    let store_dir = config.data_dir.join("store");
    let store = Arc::new(Engine::open(&store_dir).map_err(|e| {
        match e {
            maillage_store::Error::Io(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                anyhow::anyhow!(e).context(identity::unwritable(&store_dir))
            }
            other => anyhow::anyhow!(other)
                .context(format!("cannot open the store in {}", store_dir.display())),
        }
    })?);
    let policy = Policy {
        mode: config.mode,
        own: id.author(),
        trusted: config.trusted.clone(),
        blocked: config.blocked.clone(),
        quota: config.quota,
    };
    for author in &policy.blocked {
        let purged = store.purge_author(author)?;
        if purged > 0 {
            tracing::info!(%author, purged, "purged a blocked author's records");
        }
    }
    let ingest = Arc::new(Ingest::new(store.clone(), policy));
    if demo {
        let loaded = load_demo(&ingest, &id)?;
        tracing::info!(records = loaded, "loaded the sample dataset");
    }

    let search_dir = config.data_dir.join("search");
    let search = Arc::new(
        maillage_search::Search::open(&search_dir, store.clone())
            .with_context(|| format!("cannot open the search index in {}", search_dir.display()))?,
    );

    let listener = tokio::net::TcpListener::bind(config.http)
        .await
        .with_context(|| {
            format!(
                "cannot serve the HTTP API on {http}: is another node, or another program, using port {port}? Stop it, or set another address with --http or http.listen",
                http = config.http,
                port = config.http.port()
            )
        })?;
    let shutdown = CancellationToken::new();
    let (net, network) = maillage_net::spawn(
        config.net.clone(),
        id.keypair(),
        ingest.clone(),
        shutdown.clone(),
    )
    .context("cannot start the network")?;
    tokio::spawn(release_held(ingest.clone(), shutdown.clone()));
    let state = maillage_api::State::new(
        ingest,
        search,
        id.key.clone(),
        id.peer_id().to_string(),
        &token,
        Some(net),
        shutdown.clone(),
    )
    .with_site(config.site.clone());
    let app = maillage_api::router(state);
    tracing::info!(did = %id.did(), peer_id = %id.peer_id(), http = %config.http, "node serving");

    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            signal().await;
            shutdown.cancel();
        }
    });
    // In order: stop taking HTTP requests, stop the network, flush the store.
    let serve = maillage_api::serve::serve(listener, app, shutdown.clone());
    tokio::select! {
        () = serve => {}
        _ = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
    shutdown.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, network).await.is_err() {
        tracing::warn!("the network did not stop within {SHUTDOWN_GRACE:?}");
    }
    store.flush()?;
    tracing::info!("stopped; store flushed");
    Ok(())
}

async fn signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler can always be installed at start-up");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

#[derive(Deserialize)]
struct DemoRecord {
    kind: String,
    id: String,
    body: serde_json::Value,
}

/// Signs the sample dataset with this node's key; records already here are left as they are.
fn load_demo(ingest: &Ingest, id: &Identity) -> anyhow::Result<usize> {
    let demo: Vec<DemoRecord> =
        serde_json::from_str(DEMO).context("the sample dataset is not valid JSON")?;
    let did = id.did();
    let mut loaded = 0;
    for r in demo {
        let kind: Kind = r.kind.parse()?;
        // The sample refers to this node's own records as `maillage:self/…`.
        let body = serde_json::from_str(
            &r.body
                .to_string()
                .replace("maillage:self/", &format!("maillage:{did}/")),
        )?;
        let body =
            Body::from_json(kind, body).with_context(|| format!("sample record {}", r.id))?;
        let address = maillage_core::Address {
            author: id.author(),
            kind,
            id: r.id.parse()?,
        };
        if ingest.store().head(&address)?.is_none() {
            ingest.author(&id.key, kind, r.id.parse()?, body)?;
            loaded += 1;
        }
    }
    Ok(loaded)
}
