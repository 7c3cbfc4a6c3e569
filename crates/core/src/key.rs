//! Author keys and their `did:key` form.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex, PoisonError};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::Error;

/// Multicodec prefix of an Ed25519 public key (`ed25519-pub`, varint of 0xed).
const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const DID_PREFIX: &str = "did:key:z";
/// Keys checked lately, kept because decompressing a point costs a fifth of a signature
/// check and every record carries its author's key, while a federation has few authors.
static CHECKED: LazyLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> = LazyLock::new(Mutex::default);
const CHECKED_MAX: usize = 4096;

/// The public key of a record's author; also the node's libp2p identity.
///
/// Only keys that are valid curve points and not of small order can be built: a weak key
/// would let one signature verify for many messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Author(VerifyingKey);

impl Author {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let checked = || CHECKED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = checked().get(bytes) {
            return Ok(Self(*key));
        }
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| Error::Key("the author key is not a valid Ed25519 point".into()))?;
        if key.is_weak() {
            return Err(Error::Key(
                "the author key is a weak (small-order) key".into(),
            ));
        }
        let mut checked = checked();
        if checked.len() >= CHECKED_MAX {
            checked.clear();
        }
        checked.insert(*bytes, key);
        Ok(Self(key))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// `did:key:z6Mk…`: multibase base58btc of the `ed25519-pub` multicodec and the key.
    pub fn did(&self) -> String {
        let mut bytes = ED25519_PUB.to_vec();
        bytes.extend_from_slice(self.0.as_bytes());
        format!("{DID_PREFIX}{}", bs58::encode(bytes).into_string())
    }
}

impl From<&SigningKey> for Author {
    fn from(key: &SigningKey) -> Self {
        Self(key.verifying_key())
    }
}

impl FromStr for Author {
    type Err = Error;

    fn from_str(did: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::Key(format!("`{did}` is not an Ed25519 did:key: {why}"));
        let encoded = did
            .strip_prefix(DID_PREFIX)
            .ok_or_else(|| bad("it must start with `did:key:z`"))?;
        let bytes = bs58::decode(encoded)
            .into_vec()
            .map_err(|_| bad("the part after `z` is not base58btc"))?;
        let key = bytes
            .strip_prefix(&ED25519_PUB)
            .ok_or_else(|| bad("the multicodec is not ed25519-pub (0xed01)"))?;
        let key: &[u8; 32] = key
            .try_into()
            .map_err(|_| bad("the key is not 32 bytes long"))?;
        Self::from_bytes(key)
    }
}

impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.did())
    }
}

impl fmt::Debug for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Author({})", self.did())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_round_trips_and_starts_with_z6mk() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let author = Author::from(&key);
        let did = author.did();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(did.parse::<Author>().unwrap(), author);
    }

    #[test]
    fn known_did_key_vector() {
        // From the W3C did:key test suite: the Ed25519 key of RFC 8032 test 1.
        let public =
            hex::decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
                .unwrap();
        let author = Author::from_bytes(public.as_slice().try_into().unwrap()).unwrap();
        assert_eq!(
            author.did(),
            "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"
        );
    }

    #[test]
    fn rejects_weak_and_malformed_keys() {
        // The identity point: small order, so weak.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(Author::from_bytes(&identity).is_err());
        assert!("did:key:z6Mk".parse::<Author>().is_err());
        assert!("did:web:example.org".parse::<Author>().is_err());
    }
}
