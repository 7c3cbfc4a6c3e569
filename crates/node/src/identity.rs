//! The node's key and API token on disk: created once, 0600, never overwritten, never logged.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use maillage_core::{Author, SigningKey};

pub const KEY_FILE: &str = "node.key";
pub const TOKEN_FILE: &str = "api.token";
pub const CONFIG_FILE: &str = "config.toml";

/// The commented configuration `init` writes into a new data folder.
const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");

/// The node's author key, which is also its libp2p identity.
#[derive(Debug)]
pub struct Identity {
    pub key: SigningKey,
}

impl Identity {
    pub fn author(&self) -> Author {
        Author::from(&self.key)
    }

    pub fn did(&self) -> String {
        self.author().did()
    }

    /// The same key as a libp2p identity: a node's peer id and its author are one key.
    pub fn keypair(&self) -> maillage_net::Keypair {
        let mut secret = self.key.to_bytes();
        maillage_net::Keypair::ed25519_from_bytes(&mut secret)
            .expect("a 32-byte ed25519 secret is always accepted")
    }

    pub fn peer_id(&self) -> maillage_net::PeerId {
        self.keypair().public().to_peer_id()
    }
}

fn random_32() -> anyhow::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes)
}

/// Writes a new secret file, readable by its owner only; fails if it exists.
fn create_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| unwritable(path))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| unwritable(path))?;
    Ok(())
}

/// Creates `dir` with a new key, API token and commented config. Refuses to overwrite a key.
pub fn init(dir: &Path) -> anyhow::Result<Identity> {
    let key_path = dir.join(KEY_FILE);
    if key_path.exists() {
        bail!(
            "{} already exists: refusing to overwrite this node's key (its records are signed with it). \
             Use another --data-dir for a new node.",
            key_path.display()
        );
    }
    if !dir.exists() {
        // Private from the start; a folder that exists already keeps the mode its owner gave it.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| unwritable(dir))?;
    }
    let key = SigningKey::from_bytes(&random_32()?);
    // A weak key cannot come out of 32 random bytes fed through SHA-512, but check anyway:
    // every record this key signs would be refused.
    Author::from_bytes(key.verifying_key().as_bytes())?;
    create_secret(&key_path, &format!("{}\n", hex::encode(key.to_bytes())))?;
    let token_path = dir.join(TOKEN_FILE);
    if !token_path.exists() {
        create_secret(&token_path, &format!("{}\n", hex::encode(random_32()?)))?;
    }
    let config_path = dir.join(CONFIG_FILE);
    if !config_path.exists() {
        fs::write(&config_path, DEFAULT_CONFIG).with_context(|| unwritable(&config_path))?;
    }
    Ok(Identity { key })
}

/// What to say when the node cannot write where it must.
pub fn unwritable(path: &Path) -> String {
    format!(
        "cannot write {}: the user running the node must own it (or its folder); fix it (`chown`), or choose another data folder with --data-dir or MAILLAGE_DATA_DIR",
        path.display()
    )
}

/// Refuses a secret file that group or others can read.
pub fn check_private(path: &Path) -> anyhow::Result<()> {
    let mode = fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}); it holds a secret. Fix it with: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

pub fn key_path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// Loads the node key from `dir`.
pub fn load(dir: &Path) -> anyhow::Result<Identity> {
    let path = key_path(dir);
    if !path.exists() {
        bail!(
            "no key at {}: run `maillage init --data-dir {}` first",
            path.display(),
            dir.display()
        );
    }
    check_private(&path)?;
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret)
        .with_context(|| format!("{} does not hold a key (64 hex digits)", path.display()))?;
    let key = SigningKey::from_bytes(&secret);
    Author::from_bytes(key.verifying_key().as_bytes())?;
    Ok(Identity { key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_is_derived_from_the_author_key() {
        let identity = Identity {
            key: SigningKey::from_bytes(&[3; 32]),
        };
        let peer = identity.peer_id();
        // An identity multihash of the protobuf key: 0x00, length 36, 08 01 12 20, the key.
        let bytes = peer.to_bytes();
        assert_eq!(bytes[..6], [0x00, 36, 0x08, 0x01, 0x12, 0x20]);
        assert_eq!(bytes[6..], identity.author().to_bytes());
        assert!(peer.to_string().starts_with("12D3KooW"));
    }
}
