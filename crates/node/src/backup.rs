//! `maillage backup` and `maillage restore`: a copy of a node, taken while it runs, that
//! starts elsewhere as the same node.
//!
//! A backup is a folder in the data folder's layout: `store/` as the running node had it
//! durable when asked (`GET /api/v1/backup`), the files beside it that make the node itself
//! (key, API token, settings, bans, peers met), and `backup.json`, what the copy held when
//! it was checked: restore checks the same again, so a backup damaged since is caught.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::{Context as _, bail};
use maillage_store::Store as _;
use serde::{Deserialize, Serialize};

use crate::client::Remote;
use crate::identity;

/// The files beside the store that a backup carries, if the node has them.
const NODE_FILES: [&str; 5] = [
    identity::KEY_FILE,
    identity::TOKEN_FILE,
    identity::CONFIG_FILE,
    "bans.json",
    "peers.json",
];
const MANIFEST: &str = "backup.json";

/// What a backup held when it was taken.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Manifest {
    did: String,
    /// Milliseconds since the Unix epoch.
    taken: u64,
    versions: u64,
    digest: String,
    records: serde_json::Map<String, serde_json::Value>,
}

/// Copies the node `remote` names into the new folder `to`.
pub fn backup(remote: &Remote, to: &Path) -> anyhow::Result<()> {
    let did = remote.did()?;
    if remote.data_dir.join(identity::KEY_FILE).exists() {
        let key = identity::load(&remote.data_dir)?;
        if key.did() != did {
            bail!(
                "the key in {} is {}'s, not that of the node at {} ({did}): name the node's own data folder with --data-dir",
                remote.data_dir.display(),
                key.did(),
                remote.node
            );
        }
    }
    create_empty(to)?;
    let response = remote.get_stream("/api/v1/backup")?;
    let mut archive = tar::Archive::new(response);
    let store = to.join("store");
    make_dir(&store)?;
    let mut files = 0;
    for entry in archive
        .entries()
        .context("the node's backup is not a tar archive")?
    {
        let mut entry = entry.context("the node's backup was cut off; try again")?;
        let path = entry.path()?.into_owned();
        let name = path
            .strip_prefix("store")
            .ok()
            .and_then(|p| p.to_str())
            .filter(|n| !n.is_empty() && !n.contains('/') && *n != "..")
            .with_context(|| {
                format!(
                    "the node's backup holds {}, not a store file",
                    path.display()
                )
            })?
            .to_owned();
        write_new(&store.join(&name), 0o600, &mut entry)
            .context("the node's backup was cut off; try again")?;
        files += 1;
    }
    if !store.join("seal").exists() {
        // The seal comes last: without it, the archive ended early.
        bail!("the node's backup was cut off before its end; try again");
    }
    sync_dir(&store)?;
    let mut missing = vec![];
    for name in NODE_FILES {
        let from = remote.data_dir.join(name);
        match File::open(&from) {
            Ok(mut file) => write_new(&to.join(name), mode_of(&file)?, &mut file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(name),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read {}: run the backup as the user the node runs as",
                        from.display()
                    )
                });
            }
        }
    }
    let manifest = check(&store, did)?;
    write_new(
        &to.join(MANIFEST),
        0o644,
        &mut serde_json::to_vec_pretty(&manifest)?.as_slice(),
    )?;
    sync_dir(to)?;
    println!(
        "backed up {} in {}: {files} store files",
        remote.node,
        to.display()
    );
    print(&manifest);
    if missing.contains(&identity::KEY_FILE) {
        eprintln!(
            "warning: no {} in {}: this backup holds the records, not the node's key; without the key a restored node is a new node. Keep a copy of the key apart, or back up with --data-dir set to the node's data folder.",
            identity::KEY_FILE,
            remote.data_dir.display()
        );
    }
    Ok(())
}

/// Makes a new data folder `to` from the backup in `from`.
pub fn restore(from: &Path, to: &Path) -> anyhow::Result<()> {
    let manifest: Manifest =
        serde_json::from_slice(&fs::read(from.join(MANIFEST)).with_context(|| {
            format!(
                "{} is not a maillage backup (no {MANIFEST})",
                from.display()
            )
        })?)
        .with_context(|| format!("{} is damaged", from.join(MANIFEST).display()))?;
    if to.join(identity::KEY_FILE).exists() || to.join("store").exists() {
        bail!(
            "{} holds a node already; restore into a new folder, or move that one away first",
            to.display()
        );
    }
    if !to.exists() {
        create_empty(to)?;
    }
    let store = to.join("store");
    make_dir(&store)?;
    for entry in fs::read_dir(from.join("store"))
        .with_context(|| format!("{} has no store folder", from.display()))?
    {
        let entry = entry?;
        if entry.file_name() == "lock" {
            continue;
        }
        let mut file = File::open(entry.path())?;
        write_new(&store.join(entry.file_name()), 0o600, &mut file)?;
    }
    sync_dir(&store)?;
    for name in NODE_FILES {
        if let Ok(mut file) = File::open(from.join(name)) {
            write_new(&to.join(name), mode_of(&file)?, &mut file)?;
        }
    }
    sync_dir(to)?;
    let restored = check(&store, manifest.did.clone())?;
    if (restored.versions, &restored.digest) != (manifest.versions, &manifest.digest) {
        bail!(
            "the restored store holds {} versions (state digest {}), the backup held {} ({}): the backup in {} changed since it was taken; use another one",
            restored.versions,
            restored.digest,
            manifest.versions,
            manifest.digest,
            from.display()
        );
    }
    println!("restored {} into {}", from.display(), to.display());
    print(&manifest);
    println!("start it: maillage run --data-dir {}", to.display());
    Ok(())
}

/// Opens a copied store (which reads every frame) and says what it holds.
fn check(store: &Path, did: String) -> anyhow::Result<Manifest> {
    let summary = maillage_store::Engine::open(store)
        .and_then(|engine| engine.summary())
        .with_context(|| format!("the copy in {} does not open", store.display()))?;
    let _ = fs::remove_file(store.join("lock"));
    Ok(Manifest {
        did,
        taken: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        versions: summary.versions,
        digest: summary.digest,
        records: summary
            .records
            .iter()
            .map(|(kind, n)| (kind.to_string(), (*n).into()))
            .collect(),
    })
}

fn print(manifest: &Manifest) {
    let records: Vec<String> = manifest
        .records
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    println!("node:         {}", manifest.did);
    println!("records:      {}", records.join(", "));
    println!("versions:     {}", manifest.versions);
    println!("state digest: {}", manifest.digest);
}

/// A new private folder; an existing one only if it is empty.
fn create_empty(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if fs::read_dir(dir)?.next().is_some() {
            bail!(
                "{} is not empty: a backup is written to a new folder, never over another",
                dir.display()
            );
        }
        return Ok(());
    }
    make_dir(dir)
}

fn make_dir(dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn mode_of(file: &File) -> anyhow::Result<u32> {
    Ok(file.metadata()?.permissions().mode() & 0o777)
}

/// Writes a new file with `mode`, durably.
fn write_new(path: &Path, mode: u32, from: &mut dyn Read) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::copy(from, &mut file)
        .and_then(|_| file.flush())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot write {}", dir.display()))
}
