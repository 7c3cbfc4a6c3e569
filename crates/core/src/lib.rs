//! Maillage's record model, with no I/O: what every node must agree on byte for byte.
//!
//! A record is one signed, versioned statement by one author, addressed by
//! `(author, kind, id)`. It is encoded as deterministic CBOR, signed with Ed25519 after the
//! `maillage-record-v1:` context, and identified by the SHA-256 of its signed bytes.
//! `docs/protocol.md` specifies all of it for other implementations.
//!
//! Layout:
//! - [`cbor`]: the canonical encoder and the decoder that accepts nothing else;
//! - [`key`]: author keys and their `did:key` form;
//! - [`identity`]: identities that outlive their keys: key events and the key state they
//!   resolve to;
//! - [`record`]: kinds, ids, addresses, hashes, signing, decoding, the JSON form;
//! - [`body`]: the typed bodies of each kind and their validation;
//! - [`vocab`]: country, language and ESSGLOBAL code lists, shipped as data;
//! - [`sheet`]: an organisation as a spreadsheet row, both ways;
//! - [`merge`]: which version of an address wins.

pub mod body;
pub mod cbor;
pub mod identity;
pub mod key;
pub mod merge;
pub mod record;
pub mod sheet;
pub mod vocab;

pub use body::Body;
pub use ed25519_dalek::SigningKey;
pub use key::Author;
pub use merge::Head;
pub use record::{Address, Hash, Id, Kind, MAX_RECORD, Record, Unverified, merge_patch};

/// Why a record, or a part of one, is not acceptable: each message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not canonical CBOR: {0}")]
    NotCanonical(String),
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    #[error("the record is {size} bytes encoded; the limit is {MAX_RECORD}")]
    TooLarge { size: usize },
    #[error("`{field}` {problem}")]
    Field { field: String, problem: String },
    #[error("{0}")]
    Key(String),
    #[error(
        "the signature does not verify against the author key: the record was altered or forged"
    )]
    Signature,
}

impl Error {
    /// A short stable label for metrics (`rejected{reason="…"}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotCanonical(_) => "not_canonical",
            Error::Malformed(_) => "malformed",
            Error::TooLarge { .. } => "too_large",
            Error::Field { .. } => "invalid_field",
            Error::Key(_) => "bad_key",
            Error::Signature => "bad_signature",
        }
    }
}
