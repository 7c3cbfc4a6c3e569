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
                remote.url()
            );
        }
    }
    let created = !to.exists();
    create_empty(to)?;
    let copied = copy_from_node(remote, to, did);
    if copied.is_err() {
        // Nothing half-done is left to be taken for a backup, and the folder can be used again.
        clear(to, created);
    }
    copied
}

fn copy_from_node(remote: &Remote, to: &Path, did: String) -> anyhow::Result<()> {
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
        let mut from_node = Tracked {
            inner: &mut entry,
            failed: false,
        };
        let written = write_new(&store.join(&name), 0o600, &mut from_node);
        if from_node.failed {
            written.context("the node's backup was cut off; try again")?;
        } else {
            written?;
        }
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
    let manifest = check(&store, did)
        .with_context(|| format!("the copy in {} does not open; try again", store.display()))?;
    write_new(
        &to.join(MANIFEST),
        0o644,
        &mut serde_json::to_vec_pretty(&manifest)?.as_slice(),
    )?;
    sync_dir(to)?;
    println!(
        "backed up {} in {}: {files} store files",
        remote.url(),
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

/// Makes a new data folder `to` from the backup in `from`: written beside it, checked, then
/// renamed into place, so that a refused restore leaves nothing behind.
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
    if to.exists() && fs::read_dir(to)?.next().is_some() {
        bail!("{} is not empty; restore into a new folder", to.display());
    }
    let mut work = to.as_os_str().to_owned();
    work.push(".restoring");
    let work = std::path::PathBuf::from(work);
    if work.exists() {
        // What an interrupted restore left.
        fs::remove_dir_all(&work).with_context(|| format!("cannot remove {}", work.display()))?;
    }
    let restored = copy_into(from, &work).and_then(|()| {
        let restored = check(&work.join("store"), manifest.did.clone()).with_context(|| {
            format!("the backup in {} is damaged; nothing was restored: use another backup", from.display())
        })?;
        if work.join(identity::KEY_FILE).exists() {
            let key = identity::load(&work)?;
            if key.did() != manifest.did {
                bail!(
                    "the key in {} is {}'s, but the records were backed up from {}: nothing was restored",
                    from.display(),
                    key.did(),
                    manifest.did
                );
            }
        }
        if (restored.versions, &restored.digest) != (manifest.versions, &manifest.digest) {
            bail!(
                "the backup in {} holds {} versions (state digest {}), but held {} ({}) when it was taken: it changed since; nothing was restored: use another backup",
                from.display(),
                restored.versions,
                restored.digest,
                manifest.versions,
                manifest.digest,
            );
        }
        Ok(())
    });
    if let Err(e) = restored {
        let _ = fs::remove_dir_all(&work);
        return Err(e);
    }
    if to.exists() {
        fs::remove_dir(to).with_context(|| format!("cannot replace {}", to.display()))?;
    }
    fs::rename(&work, to)
        .with_context(|| format!("cannot rename {} to {}", work.display(), to.display()))?;
    if let Some(parent) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    println!("restored {} into {}", from.display(), to.display());
    print(&manifest);
    if !to.join(identity::KEY_FILE).exists() {
        eprintln!(
            "warning: the backup holds no {}: started, this folder is a new node with the records of {}; put that node's key in {} first to run it as that node",
            identity::KEY_FILE,
            manifest.did,
            to.display()
        );
    }
    println!(
        "start it: maillage run --data-dir {} (it is the same node as the one backed up: stop that one first, or the federation meets one identity at two places)",
        to.display()
    );
    Ok(())
}

/// Copies a backup's files into the new folder `to`, at their modes.
fn copy_into(from: &Path, to: &Path) -> anyhow::Result<()> {
    make_dir(to)?;
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
        match File::open(from.join(name)) {
            Ok(mut file) => write_new(&to.join(name), mode_of(&file)?, &mut file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read {}: restore as the user who took the backup (or root)",
                        from.join(name).display()
                    )
                });
            }
        }
    }
    sync_dir(to)
}

/// Opens a copied store (which reads every frame) and says what it holds.
fn check(store: &Path, did: String) -> anyhow::Result<Manifest> {
    let summary = maillage_store::Engine::open(store).and_then(|engine| engine.summary())?;
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

/// Empties `dir` of what a failed backup wrote, and removes it if this run created it.
fn clear(dir: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dir);
    } else if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                fs::remove_dir_all(path)
            } else {
                fs::remove_file(path)
            };
        }
    }
}

/// Tells a failure to read from the node from one to write here.
struct Tracked<'a> {
    inner: &'a mut dyn Read,
    failed: bool,
}

impl Read for Tracked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|_| self.failed = true)
    }
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
