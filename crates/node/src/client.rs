//! Editing commands: talk to a running node over its HTTP API.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::identity;

/// Where the node is and how to authenticate to it.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The node's HTTP API (default: MAILLAGE_HTTP, else http.listen in
    /// <data-dir>/config.toml, else http://127.0.0.1:7701).
    #[arg(long, env = "MAILLAGE_NODE", global = true)]
    pub node: Option<String>,
    /// A file holding the API token (default: <data-dir>/api.token; or set MAILLAGE_API_TOKEN).
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// The node's data folder, to find its api.token.
    #[arg(
        long,
        env = "MAILLAGE_DATA_DIR",
        default_value = "maillage-data",
        global = true
    )]
    pub data_dir: PathBuf,
}

impl Remote {
    /// Where the node is: `--node`, or where the data folder's config says it listens.
    pub fn url(&self) -> String {
        match &self.node {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", crate::config::http_of(&self.data_dir)),
        }
    }

    fn token(&self) -> anyhow::Result<String> {
        if let Ok(token) = std::env::var("MAILLAGE_API_TOKEN") {
            return Ok(token);
        }
        let path = self
            .token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(identity::TOKEN_FILE));
        if !path.exists() {
            bail!(
                "no API token at {}: name the node's data folder with --data-dir, or give the token with --token-file or MAILLAGE_API_TOKEN",
                path.display()
            );
        }
        identity::check_private(&path)?;
        Ok(std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the API token in {}", path.display()))?
            .trim()
            .to_owned())
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn answer(
        &self,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut response =
            response.with_context(|| format!("cannot reach the node at {}", self.url()))?;
        let status = response.status();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body["error"].as_str().unwrap_or("no message");
            bail!("the node answered {status}: {message}");
        }
        Ok(body)
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.answer(Self::agent().get(format!("{}{path}", self.url())).call())
    }

    /// Whether the node serves `path` (200) or not (404).
    pub fn holds(&self, path: &str) -> anyhow::Result<bool> {
        let response = Self::agent()
            .get(format!("{}{path}", self.url()))
            .call()
            .with_context(|| format!("cannot reach the node at {}", self.url()))?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => self.answer(Ok(response)).map(|_| false),
        }
    }

    pub fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let request = Self::agent()
            .post(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {}", self.token()?));
        self.answer(request.send_json(body))
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        let request = Self::agent()
            .delete(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {}", self.token()?));
        self.answer(request.call())
    }

    /// Streams a response body to `out`.
    pub fn download(&self, path: &str, out: &mut impl std::io::Write) -> anyhow::Result<()> {
        let response = Self::agent()
            .get(format!("{}{path}", self.url()))
            .call()
            .with_context(|| format!("cannot reach the node at {}", self.url()))?;
        if !response.status().is_success() {
            self.answer(Ok(response))?;
        } else {
            std::io::copy(&mut response.into_body().into_reader(), out)?;
        }
        Ok(())
    }

    /// An authenticated GET whose body is read as it comes.
    pub fn get_stream(&self, path: &str) -> anyhow::Result<impl std::io::Read> {
        let response = Self::agent()
            .get(format!("{}{path}", self.url()))
            .header("authorization", format!("Bearer {}", self.token()?))
            .call()
            .with_context(|| format!("cannot reach the node at {}", self.url()))?;
        if !response.status().is_success() {
            self.answer(Ok(response))?;
            bail!("the node refused");
        }
        Ok(response.into_body().into_reader())
    }

    /// This node's did, to address its own records.
    pub fn did(&self) -> anyhow::Result<String> {
        let status = self.get("/api/v1/status")?;
        Ok(status["did"]
            .as_str()
            .context("the node's status has no did")?
            .to_owned())
    }
}

/// Reads a JSON body from a file, or from standard input for `-`.
pub fn read_body(path: &str) -> anyhow::Result<Value> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("{path} is not JSON"))
}

pub fn put(remote: &Remote, kind: &str, id: &str, body: Value) -> anyhow::Result<Value> {
    remote.post(
        "/api/v1/records",
        &json!({"kind": kind, "id": id, "body": body}),
    )
}

/// `did/kind/id` of a record: an address, or an id of this node's.
pub fn path_of(remote: &Remote, kind: &str, id_or_address: &str) -> anyhow::Result<String> {
    match id_or_address.strip_prefix("maillage:") {
        Some(rest) => Ok(rest.to_owned()),
        None => Ok(format!("{}/{kind}/{id_or_address}", remote.did()?)),
    }
}

pub fn print(value: &Value) -> anyhow::Result<()> {
    say(&serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Writes a line to standard output; a reader that went away (`| head`) ends the command
/// quietly, as it does for other Unix tools.
pub fn say(line: &str) {
    use std::io::Write as _;
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// Waits, a few seconds at most, until the node's search holds every write it has taken
/// (within a second of each): what was just written is then listed.
pub fn searchable(remote: &Remote) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        let status = remote.get("/api/v1/status")?;
        if status["search_covers"] == status["last_change"]
            || start.elapsed() > std::time::Duration::from_secs(5)
        {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
