//! Identities that outlive their keys: key events, and the key state a set of them comes to.
//!
//! A `did:maillage` identity is the SHA-256 of its inception event, which names the first
//! signing key and commits to the next one by its hash (pre-rotation): a thief of the
//! signing key cannot rotate it. A rotation reveals the committed key, is signed by it and
//! commits to the one after. A recovery, for an identity that lost both keys, is
//! countersigned by a threshold of the guardians the identity named; it installs its key once
//! a contest window has passed, unless the key it replaces cancelled it within the window.
//! A `did:key` is an identity of one key that never rotates.
//!
//! [`resolve`] turns the events known of an identity into its [`State`]: the same on every
//! node that holds the same events, whatever order they came in (`docs/protocol.md` §9).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use ciborium::Value;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::record::{Hash, MAX_INTEGER};
use crate::{Author, Error, cbor};

/// Domain separation: a key event's signature is valid nowhere else.
pub const CONTEXT: &[u8; 22] = b"maillage-key-event-v1:";
/// Largest encoded key event, in bytes.
pub const MAX_EVENT: usize = 8 * 1024;
/// Most guardians an identity names.
pub const MAX_GUARDIANS: usize = 16;
const DID_PREFIX: &str = "did:maillage:z";

/// Who signs: a key that never changes (`did:key`), or a log of key events (`did:maillage`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    Key(Author),
    /// The SHA-256 of the identity's inception event, unsigned.
    Log([u8; 32]),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Key(author) => write!(f, "{author}"),
            Identity::Log(digest) => {
                write!(f, "{DID_PREFIX}{}", bs58::encode(digest).into_string())
            }
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}

impl FromStr for Identity {
    type Err = Error;

    fn from_str(did: &str) -> Result<Self, Error> {
        let Some(encoded) = did.strip_prefix(DID_PREFIX) else {
            return did.parse().map(Identity::Key).map_err(|_| {
                Error::Key(format!(
                    "`{did}` is not an identity: a did:key:z6Mk… or a did:maillage:z…"
                ))
            });
        };
        bs58::decode(encoded)
            .into_vec()
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(Identity::Log)
            .ok_or_else(|| {
                Error::Key(format!(
                    "`{did}` is not a did:maillage: base58btc of a 32-byte SHA-256 follows `did:maillage:z`"
                ))
            })
    }
}

/// What an identity's next key is committed to: the SHA-256 of its 32 public-key bytes.
pub fn commitment(next: &VerifyingKey) -> [u8; 32] {
    Sha256::digest(next.as_bytes()).into()
}

/// The networks that can recover an identity: `threshold` of them countersign a recovery,
/// which takes effect `window` milliseconds after its time unless it is cancelled first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guardians {
    pub members: Vec<Identity>,
    pub threshold: u64,
    pub window: u64,
}

/// What a key event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The first event: the first key, the next one's commitment, the guardians if any.
    Inception {
        key: Author,
        next: [u8; 32],
        guardians: Option<Guardians>,
    },
    /// Signed by `key`, which the previous establishment committed to. `void_from`: the
    /// previous key's records signed at or after this time are void (it leaked).
    Rotation {
        key: Author,
        next: [u8; 32],
        guardians: Option<Guardians>,
        void_from: Option<u64>,
    },
    /// Signed by `key` and countersigned by guardians: both keys were lost.
    Recovery { key: Author, next: [u8; 32] },
    /// Signed by the key a recovery would replace: the recovery is void.
    Cancellation { recovery: Hash },
}

impl Change {
    pub fn name(&self) -> &'static str {
        match self {
            Change::Inception { .. } => "inception",
            Change::Rotation { .. } => "rotation",
            Change::Recovery { .. } => "recovery",
            Change::Cancellation { .. } => "cancellation",
        }
    }
}

/// One signed key event of a `did:maillage` identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub identity: Identity,
    /// Its place in the identity's log: 0 for the inception; a cancellation has the place
    /// of the recovery it cancels.
    pub n: u64,
    /// The digest of the event at `n - 1` (none for the inception).
    pub prior: Option<Hash>,
    /// The signer's clock, ms since the Unix epoch: it orders a recovery's window.
    pub time: u64,
    pub change: Change,
    /// Guardians' signatures of a recovery, or of the rotation that seals one.
    pub countersigned: Vec<(Identity, Signature)>,
    sig: Signature,
    unsigned: Vec<u8>,
    bytes: Vec<u8>,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn field(name: &str, problem: impl Into<String>) -> Error {
    Error::Field {
        field: name.into(),
        problem: problem.into(),
    }
}

impl Event {
    /// A new identity: its first key signs, `next` is the key it will rotate to.
    pub fn incept(
        key: &SigningKey,
        next: &VerifyingKey,
        guardians: Option<Guardians>,
        time: u64,
    ) -> Result<Event, Error> {
        let change = Change::Inception {
            key: Author::from(key),
            next: commitment(next),
            guardians,
        };
        Self::sign(None, 0, None, time, change, key)
    }

    /// Rotates `state` to `key`, the key it committed to, committing to `next`.
    pub fn rotate(
        state: &State,
        key: &SigningKey,
        next: &VerifyingKey,
        void_from: Option<u64>,
        guardians: Option<Guardians>,
        time: u64,
    ) -> Result<Event, Error> {
        let change = Change::Rotation {
            key: Author::from(key),
            next: commitment(next),
            guardians,
            void_from,
        };
        Self::sign(
            Some(state.identity),
            state.n + 1,
            Some(state.head),
            time,
            change,
            key,
        )
    }

    /// The rotation that seals `recovery` once its window has passed, by the key it
    /// committed to; it seals once countersigned by the guardians.
    pub fn seal(
        recovery: &Event,
        key: &SigningKey,
        next: &VerifyingKey,
        time: u64,
    ) -> Result<Event, Error> {
        let change = Change::Rotation {
            key: Author::from(key),
            next: commitment(next),
            guardians: None,
            void_from: None,
        };
        let prior = Some(recovery.digest());
        Self::sign(
            Some(recovery.identity),
            recovery.n + 1,
            prior,
            time,
            change,
            key,
        )
    }

    /// A recovery of `state` to `key`, still to be countersigned by its guardians.
    pub fn recover(
        state: &State,
        key: &SigningKey,
        next: &VerifyingKey,
        time: u64,
    ) -> Result<Event, Error> {
        let change = Change::Recovery {
            key: Author::from(key),
            next: commitment(next),
        };
        Self::sign(
            Some(state.identity),
            state.n + 1,
            Some(state.head),
            time,
            change,
            key,
        )
    }

    /// This event, countersigned by `guardian` with its key `key`.
    pub fn countersign(&self, guardian: Identity, key: &SigningKey) -> Result<Event, Error> {
        let mut countersigned = self.countersigned.clone();
        countersigned.retain(|(g, _)| *g != guardian);
        countersigned.push((guardian, key.sign(&self.message())));
        countersigned.sort_by_key(|(g, _)| g.to_string());
        let (identity, n, prior, time) = (self.identity, self.n, self.prior, self.time);
        Self::assemble(
            identity,
            n,
            prior,
            time,
            self.change.clone(),
            self.sig,
            countersigned,
        )
    }

    /// Cancels `recovery`, signed by `current`, the key the recovery would replace.
    pub fn cancel(recovery: &Event, current: &SigningKey, time: u64) -> Result<Event, Error> {
        let change = Change::Cancellation {
            recovery: recovery.digest(),
        };
        Self::sign(
            Some(recovery.identity),
            recovery.n,
            recovery.prior,
            time,
            change,
            current,
        )
    }

    fn sign(
        identity: Option<Identity>,
        n: u64,
        prior: Option<Hash>,
        time: u64,
        change: Change,
        key: &SigningKey,
    ) -> Result<Event, Error> {
        let unsigned = cbor::encode(&Value::Map(entries(identity, n, prior, time, &change)))?;
        let sig = key.sign(&[CONTEXT.as_slice(), &unsigned].concat());
        let identity = identity.unwrap_or_else(|| Identity::Log(Sha256::digest(&unsigned).into()));
        Self::assemble(identity, n, prior, time, change, sig, vec![])
    }

    fn assemble(
        identity: Identity,
        n: u64,
        prior: Option<Hash>,
        time: u64,
        change: Change,
        sig: Signature,
        countersigned: Vec<(Identity, Signature)>,
    ) -> Result<Event, Error> {
        let named = (n > 0).then_some(identity);
        let mut map = entries(named, n, prior, time, &change);
        let unsigned = cbor::encode(&Value::Map(map.clone()))?;
        map.push((text("sig"), bytes(&sig.to_bytes())));
        if !countersigned.is_empty() {
            let signatures = countersigned
                .iter()
                .map(|(g, s)| Value::Array(vec![text(&g.to_string()), bytes(&s.to_bytes())]))
                .collect();
            map.push((text("countersigned"), Value::Array(signatures)));
        }
        let encoded = cbor::encode(&Value::Map(map))?;
        // Decoding checks every rule once, for events made here as for those received.
        let event = Event::decode(&encoded)?;
        debug_assert_eq!(event.unsigned, unsigned);
        Ok(event)
    }

    /// Decodes a key event and checks everything that needs no other event: the fields,
    /// and the signature of the key it installs (a cancellation's key is the state's).
    pub fn decode(encoded: &[u8]) -> Result<Event, Error> {
        if encoded.len() > MAX_EVENT {
            return Err(Error::TooLarge {
                size: encoded.len(),
            });
        }
        let mut fields: std::collections::BTreeMap<String, Value> = Default::default();
        let mut kept = vec![];
        for entry in cbor::decode_map(encoded, "a key event")? {
            let Value::Text(name) = entry.key else {
                return Err(Error::Malformed("a key event's keys are text".into()));
            };
            if name != "sig" && name != "countersigned" {
                kept.push((text(&name), entry.value.clone()));
            }
            fields.insert(name, entry.value);
        }
        let unsigned = cbor::encode(&Value::Map(kept))?;
        let mut take = |name: &str| fields.remove(name);
        let uint = |name: &str, v: Option<Value>| -> Result<Option<u64>, Error> {
            v.map(|v| match v {
                Value::Integer(i) => u64::try_from(i)
                    .ok()
                    .filter(|n| *n <= MAX_INTEGER)
                    .ok_or_else(|| {
                        field(name, format!("is an unsigned integer up to {MAX_INTEGER}"))
                    }),
                _ => Err(field(name, "is an unsigned integer")),
            })
            .transpose()
        };
        let fixed = |name: &str, v: Option<Value>| -> Result<Option<[u8; 32]>, Error> {
            v.map(|v| match v {
                Value::Bytes(b) => <[u8; 32]>::try_from(b).map_err(|_| field(name, "is 32 bytes")),
                _ => Err(field(name, "is a byte string")),
            })
            .transpose()
        };
        let required = |name: &str| field(name, "is missing");
        if uint("v", take("v"))? != Some(1) {
            return Err(field("v", "is 1, the only key event format"));
        }
        let kind = match take("type") {
            Some(Value::Text(t)) => t,
            _ => {
                return Err(field(
                    "type",
                    "is inception, rotation, recovery or cancellation",
                ));
            }
        };
        let n = uint("n", take("n"))?.ok_or_else(|| required("n"))?;
        let time = uint("time", take("time"))?.ok_or_else(|| required("time"))?;
        let prior = fixed("prior", take("prior"))?.map(Hash);
        let identity = match take("identity") {
            Some(Value::Text(did)) => Some(did.parse::<Identity>()?),
            Some(_) => return Err(field("identity", "is a did")),
            None => None,
        };
        let key = fixed("key", take("key"))?
            .map(|k| Author::from_bytes(&k))
            .transpose()?;
        let next = fixed("next", take("next"))?;
        let guardians = match (
            take("guardians"),
            uint("threshold", take("threshold"))?,
            uint("window", take("window"))?,
        ) {
            (None, None, None) => None,
            (Some(Value::Array(members)), Some(threshold), Some(window)) => {
                let members = members
                    .into_iter()
                    .map(|m| match m {
                        Value::Text(did) => did.parse::<Identity>(),
                        _ => Err(field("guardians", "are dids")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let distinct: BTreeSet<String> = members.iter().map(|m| m.to_string()).collect();
                if distinct.len() != members.len() || members.len() > MAX_GUARDIANS {
                    return Err(field(
                        "guardians",
                        format!("are at most {MAX_GUARDIANS} distinct dids"),
                    ));
                }
                if threshold == 0 || threshold as usize > members.len() {
                    return Err(field(
                        "threshold",
                        "is between 1 and the number of guardians",
                    ));
                }
                Some(Guardians {
                    members,
                    threshold,
                    window,
                })
            }
            _ => {
                return Err(field(
                    "guardians",
                    "come with a threshold and a window, all three or none",
                ));
            }
        };
        let void_from = uint("void_from", take("void_from"))?;
        let recovery = fixed("recovery", take("recovery"))?.map(Hash);
        let countersigned = match take("countersigned") {
            None => vec![],
            Some(Value::Array(pairs)) if (1..=MAX_GUARDIANS).contains(&pairs.len()) => pairs
                .into_iter()
                .map(|pair| match pair {
                    Value::Array(p) => match <[Value; 2]>::try_from(p) {
                        Ok([Value::Text(did), Value::Bytes(sig)]) => Ok((
                            did.parse::<Identity>()?,
                            <[u8; 64]>::try_from(sig)
                                .map(|s| Signature::from_bytes(&s))
                                .map_err(|_| field("countersigned", "signatures are 64 bytes"))?,
                        )),
                        _ => Err(field("countersigned", "holds [did, signature] pairs")),
                    },
                    _ => Err(field("countersigned", "holds [did, signature] pairs")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(field(
                    "countersigned",
                    format!("holds 1 to {MAX_GUARDIANS} signatures"),
                ));
            }
        };
        let sig = match take("sig") {
            Some(Value::Bytes(b)) => <[u8; 64]>::try_from(b)
                .map(|s| Signature::from_bytes(&s))
                .map_err(|_| field("sig", "is 64 bytes"))?,
            _ => return Err(required("sig")),
        };
        if let Some(extra) = fields.keys().next() {
            return Err(field(extra, "is not a key event field"));
        }
        let sorted = countersigned
            .windows(2)
            .all(|w| w[0].0.to_string() < w[1].0.to_string());
        if !sorted {
            return Err(field(
                "countersigned",
                "lists each guardian once, in order of their dids",
            ));
        }
        let unexpected = |name: &str, present: bool| {
            if present {
                Err(field(
                    name,
                    format!("has no place in an event of type {kind}"),
                ))
            } else {
                Ok(())
            }
        };
        let change = match kind.as_str() {
            "inception" => {
                unexpected("void_from", void_from.is_some())?;
                unexpected("recovery", recovery.is_some())?;
                unexpected("countersigned", !countersigned.is_empty())?;
                Change::Inception {
                    key: key.ok_or_else(|| required("key"))?,
                    next: next.ok_or_else(|| required("next"))?,
                    guardians,
                }
            }
            "rotation" => {
                unexpected("recovery", recovery.is_some())?;
                if void_from.is_some_and(|v| v > time) {
                    return Err(field("void_from", "is at or before the rotation's time"));
                }
                Change::Rotation {
                    key: key.ok_or_else(|| required("key"))?,
                    next: next.ok_or_else(|| required("next"))?,
                    guardians,
                    void_from,
                }
            }
            "recovery" => {
                unexpected("void_from", void_from.is_some())?;
                unexpected("recovery", recovery.is_some())?;
                unexpected("guardians", guardians.is_some())?;
                Change::Recovery {
                    key: key.ok_or_else(|| required("key"))?,
                    next: next.ok_or_else(|| required("next"))?,
                }
            }
            "cancellation" => {
                for (name, present) in [
                    ("key", key.is_some()),
                    ("next", next.is_some()),
                    ("guardians", guardians.is_some()),
                    ("void_from", void_from.is_some()),
                    ("countersigned", !countersigned.is_empty()),
                ] {
                    unexpected(name, present)?;
                }
                Change::Cancellation {
                    recovery: recovery.ok_or_else(|| required("recovery"))?,
                }
            }
            other => {
                return Err(field(
                    "type",
                    format!("`{other}` is not inception, rotation, recovery or cancellation"),
                ));
            }
        };
        let identity = match (&change, identity, prior) {
            (Change::Inception { .. }, None, None) if n == 0 => {
                Identity::Log(Sha256::digest(&unsigned).into())
            }
            (Change::Inception { .. }, ..) => {
                return Err(field(
                    "n",
                    "an inception is at 0, with no identity and no prior",
                ));
            }
            (_, Some(identity @ Identity::Log(_)), Some(_)) if n > 0 => identity,
            _ => {
                return Err(field(
                    "identity",
                    "every event after the inception names its did:maillage, its place n ≥ 1 and its prior",
                ));
            }
        };
        if let Change::Inception {
            guardians: Some(g), ..
        }
        | Change::Rotation {
            guardians: Some(g), ..
        } = &change
            && g.members.contains(&identity)
        {
            return Err(field("guardians", "do not include the identity itself"));
        }
        let event = Event {
            identity,
            n,
            prior,
            time,
            change,
            countersigned,
            sig,
            unsigned,
            bytes: encoded.to_vec(),
        };
        if let Some(key) = event.installs() {
            key.verifying_key()
                .verify_strict(&event.message(), &event.sig)
                .map_err(|_| Error::Signature)?;
        }
        Ok(event)
    }

    /// The key this event establishes, if it is an establishment event.
    pub fn installs(&self) -> Option<&Author> {
        match &self.change {
            Change::Inception { key, .. }
            | Change::Rotation { key, .. }
            | Change::Recovery { key, .. } => Some(key),
            Change::Cancellation { .. } => None,
        }
    }

    fn next(&self) -> Option<&[u8; 32]> {
        match &self.change {
            Change::Inception { next, .. }
            | Change::Rotation { next, .. }
            | Change::Recovery { next, .. } => Some(next),
            Change::Cancellation { .. } => None,
        }
    }

    /// What every signature of this event covers.
    fn message(&self) -> Vec<u8> {
        [CONTEXT.as_slice(), &self.unsigned].concat()
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn unsigned_bytes(&self) -> &[u8] {
        &self.unsigned
    }

    pub fn sig(&self) -> &Signature {
        &self.sig
    }

    /// The SHA-256 of this copy's signed bytes: what gossip and sync name it by. Copies of
    /// one event can differ in their countersignatures.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.bytes)
    }

    /// The SHA-256 of the event without its signatures: the event itself, whichever copy.
    /// `prior` and a cancellation's `recovery` name events by it; the inception's is its
    /// identity.
    pub fn digest(&self) -> Hash {
        Hash::of(&self.unsigned)
    }
}

fn entries(
    identity: Option<Identity>,
    n: u64,
    prior: Option<Hash>,
    time: u64,
    change: &Change,
) -> Vec<(Value, Value)> {
    let mut map = vec![
        (text("v"), Value::Integer(1.into())),
        (text("type"), text(change.name())),
        (text("n"), Value::Integer(n.into())),
        (text("time"), Value::Integer(time.into())),
    ];
    if let Some(identity) = identity {
        map.push((text("identity"), text(&identity.to_string())));
    }
    if let Some(prior) = prior {
        map.push((text("prior"), bytes(&prior.0)));
    }
    let guardians = |map: &mut Vec<(Value, Value)>, g: &Option<Guardians>| {
        if let Some(g) = g {
            let members = g.members.iter().map(|m| text(&m.to_string())).collect();
            map.push((text("guardians"), Value::Array(members)));
            map.push((text("threshold"), Value::Integer(g.threshold.into())));
            map.push((text("window"), Value::Integer(g.window.into())));
        }
    };
    match change {
        Change::Inception {
            key,
            next,
            guardians: g,
        } => {
            map.push((text("key"), bytes(&key.to_bytes())));
            map.push((text("next"), bytes(next)));
            guardians(&mut map, g);
        }
        Change::Rotation {
            key,
            next,
            guardians: g,
            void_from,
        } => {
            map.push((text("key"), bytes(&key.to_bytes())));
            map.push((text("next"), bytes(next)));
            guardians(&mut map, g);
            if let Some(v) = void_from {
                map.push((text("void_from"), Value::Integer((*v).into())));
            }
        }
        Change::Recovery { key, next, .. } => {
            map.push((text("key"), bytes(&key.to_bytes())));
            map.push((text("next"), bytes(next)));
        }
        Change::Cancellation { recovery } => {
            map.push((text("recovery"), bytes(&recovery.0)));
        }
    }
    map
}

/// A key an identity signed with, from the event that established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Establishment {
    pub n: u64,
    pub key: Author,
    pub time: u64,
    /// `inception`, `rotation` or `recovery` (`did:key` for an identity of one key).
    pub how: &'static str,
    pub digest: Hash,
    /// This key's records signed at or after this time are void: the time of the event that
    /// replaced it, or earlier where that rotation said the key had leaked.
    pub void_from: Option<u64>,
}

/// A recovery countersigned enough, waiting for its window to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub digest: Hash,
    pub key: Author,
    /// The guardians whose countersignatures verified, in order.
    pub by: Vec<Identity>,
    pub effective: u64,
}

/// Where an identity's keys stand, given the events known of it and the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub identity: Identity,
    /// Every key it signed with, oldest first; the last is the current one.
    pub keys: Vec<Establishment>,
    /// The place and digest of the last event applied.
    pub n: u64,
    pub head: Hash,
    pub next: Option<[u8; 32]>,
    pub guardians: Option<Guardians>,
    pub pending: Option<Pending>,
    /// Recoveries cancelled by the key they would have replaced, by digest.
    pub cancelled: Vec<Hash>,
    /// Places where the log forked: two valid events of one kind (the lower digest holds).
    pub forks: Vec<u64>,
    /// Events that cannot count, by digest, and why (a valid event outranked at its place,
    /// or past where resolution stopped, is not listed).
    pub ignored: Vec<(Hash, String)>,
}

/// Why a record cannot be taken as signed by an identity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{identity} established no key at {n}")]
    NoKey { identity: String, n: u64 },
    #[error(
        "signed at {time} with the key {identity} established at {n}, which was replaced or void from {void_from}"
    )]
    Void {
        identity: String,
        n: u64,
        time: u64,
        void_from: u64,
    },
}

impl State {
    /// The key now in use.
    pub fn current(&self) -> &Establishment {
        self.keys
            .last()
            .expect("a state holds at least the inception's key")
    }

    /// The key that signs a record of this identity dated `time` and made under the key
    /// established at `n`, if such a record is acceptable.
    pub fn signer(&self, n: u64, time: u64) -> Result<&Author, Refusal> {
        let e = self
            .keys
            .iter()
            .find(|e| e.n == n)
            .ok_or_else(|| Refusal::NoKey {
                identity: self.identity.to_string(),
                n,
            })?;
        match e.void_from {
            Some(void_from) if time >= void_from => Err(Refusal::Void {
                identity: self.identity.to_string(),
                n,
                time,
                void_from,
            }),
            _ => Ok(&e.key),
        }
    }

    /// The key this identity signed with at `time`, as a guardian's countersignature is
    /// checked: the last established at or before it, unless it was void by then.
    pub fn key_at(&self, time: u64) -> Option<&Author> {
        let e = self.keys.iter().rev().find(|e| e.time <= time)?;
        self.signer(e.n, time).ok()
    }

    fn of(identity: Identity, inception: &Merged<'_>) -> State {
        let mut state = State {
            identity,
            keys: vec![],
            n: 0,
            head: inception.digest,
            next: None,
            guardians: None,
            pending: None,
            cancelled: vec![],
            forks: vec![],
            ignored: vec![],
        };
        state.establish(inception, "inception", None);
        state
    }

    fn establish(&mut self, m: &Merged<'_>, how: &'static str, void_from: Option<u64>) {
        let event = m.event;
        let key = *event
            .installs()
            .expect("an establishment event installs a key");
        if let Some(last) = self.keys.last_mut() {
            last.void_from = Some(void_from.unwrap_or(event.time).min(event.time));
        }
        self.keys.push(Establishment {
            n: event.n,
            key,
            time: event.time,
            how,
            digest: m.digest,
            void_from: None,
        });
        self.n = event.n;
        self.head = m.digest;
        self.next = event.next().copied();
        if let Change::Inception {
            guardians: Some(g), ..
        }
        | Change::Rotation {
            guardians: Some(g), ..
        } = &event.change
        {
            self.guardians = Some(g.clone());
        }
    }
}

/// Why an identity has no state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unresolved {
    #[error("no inception event of {0} is known")]
    NoInception(String),
}

/// Events dated further ahead of the resolving node's clock wait until they are not (as
/// records do).
pub const AHEAD: u64 = 15 * 60 * 1000;

/// One event as the copies held of it come to: copies differ only in their signatures, so
/// every signature held counts, and a copy with a stranger's countersignature added is the
/// same event.
struct Merged<'a> {
    event: &'a Event,
    digest: Hash,
    sigs: Vec<&'a Signature>,
    countersigned: Vec<(Identity, &'a Signature)>,
}

impl Merged<'_> {
    /// The guardians among `guardians` that countersigned this event with their key of its
    /// time.
    fn guardians(
        &self,
        guardians: &Guardians,
        guardian_key: &dyn Fn(&Identity, u64) -> Option<Author>,
    ) -> Vec<Identity> {
        let message = self.event.message();
        guardians
            .members
            .iter()
            .filter(|g| {
                guardian_key(g, self.event.time).is_some_and(|key| {
                    self.countersigned.iter().any(|(signer, sig)| {
                        signer == *g && key.verifying_key().verify_strict(&message, sig).is_ok()
                    })
                })
            })
            .copied()
            .collect()
    }

    fn signed_by(&self, key: &Author) -> bool {
        let message = self.event.message();
        self.sigs
            .iter()
            .any(|sig| key.verifying_key().verify_strict(&message, sig).is_ok())
    }
}

/// The key state of `identity` from the events known of it (others are passed over), at
/// `now`. `guardian_key(guardian, time)` is the key a guardian signed with at `time`, from
/// its own state ([`State::key_at`]); none when it is not known here.
pub fn resolve(
    identity: Identity,
    events: &[Event],
    now: u64,
    guardian_key: &dyn Fn(&Identity, u64) -> Option<Author>,
) -> Result<State, Unresolved> {
    let author = match identity {
        Identity::Log(inception) => {
            return resolve_log(identity, inception, events, now, guardian_key);
        }
        Identity::Key(author) => author,
    };
    Ok(State {
        identity,
        keys: vec![Establishment {
            n: 0,
            key: author,
            time: 0,
            how: "did:key",
            digest: Hash([0; 32]),
            void_from: None,
        }],
        n: 0,
        head: Hash([0; 32]),
        next: None,
        guardians: None,
        pending: None,
        cancelled: vec![],
        forks: vec![],
        ignored: vec![],
    })
}

fn resolve_log(
    identity: Identity,
    inception: [u8; 32],
    events: &[Event],
    now: u64,
    guardian_key: &dyn Fn(&Identity, u64) -> Option<Author>,
) -> Result<State, Unresolved> {
    // Every event of the identity once, by digest (and so in one order on every node).
    let mut merged: std::collections::BTreeMap<Hash, Merged<'_>> = Default::default();
    let mut ahead = vec![];
    for e in events.iter().filter(|e| e.identity == identity) {
        if e.time > now.saturating_add(AHEAD) {
            ahead.push(e.digest());
            continue;
        }
        let m = merged.entry(e.digest()).or_insert_with(|| Merged {
            event: e,
            digest: e.digest(),
            sigs: vec![],
            countersigned: vec![],
        });
        m.sigs.push(&e.sig);
        m.countersigned
            .extend(e.countersigned.iter().map(|(g, sig)| (*g, sig)));
    }
    let first = merged
        .get(&Hash(inception))
        .ok_or_else(|| Unresolved::NoInception(identity.to_string()))?;
    let mut state = State::of(identity, first);
    let mut ignored = std::collections::BTreeMap::new();
    for digest in ahead {
        ignored.insert(
            digest,
            "dated more than 15 minutes ahead of this node's clock".to_owned(),
        );
    }
    loop {
        let at: Vec<&Merged<'_>> = merged
            .values()
            .filter(|m| m.event.n == state.n + 1 && m.event.prior == Some(state.head))
            .collect();
        if at.is_empty() {
            break;
        }
        let current = state.current().clone();
        let guardians = state.guardians.clone();
        let window = guardians.as_ref().map_or(0, |g| g.window);
        let enough = |m: &Merged<'_>| -> Option<Vec<Identity>> {
            let g = guardians.as_ref()?;
            let by = m.guardians(g, guardian_key);
            (by.len() as u64 >= g.threshold).then_some(by)
        };
        // In digest order: the first of each kind is the one every node applies.
        let (mut rotations, mut recoveries, mut cancellations) = (vec![], vec![], vec![]);
        for m in at {
            let why_not = match &m.event.change {
                Change::Rotation { key, .. } => {
                    if state.next != Some(commitment(key.verifying_key())) {
                        Some("a rotation to a key the log did not commit to")
                    } else if m.event.time < current.time {
                        Some("a rotation dated before the event it follows")
                    } else {
                        rotations.push(m);
                        None
                    }
                }
                Change::Recovery { .. } => match enough(m) {
                    _ if guardians.is_none() => {
                        Some("a recovery of an identity that named no guardians")
                    }
                    _ if m.event.time < current.time => {
                        Some("a recovery dated before the event it follows")
                    }
                    Some(by) => {
                        recoveries.push((m, by));
                        None
                    }
                    None => Some(
                        "a recovery countersigned by fewer of the guardians than the threshold, with their keys of its time",
                    ),
                },
                Change::Cancellation { .. } => {
                    if m.signed_by(&current.key) {
                        cancellations.push(m);
                        None
                    } else {
                        Some("a cancellation not signed by the key the recovery would replace")
                    }
                }
                Change::Inception { .. } => None,
            };
            if let Some(why) = why_not {
                ignored.insert(m.digest, why.to_owned());
            }
        }
        // A recovery is sealed by a rotation to the key it committed to, dated after its
        // window and countersigned by the guardians, who sign it only if nobody cancelled
        // the recovery in time: then nothing undoes it (not someone who later finds a lost
        // key and dates a cancellation back into the window).
        let sealed = |r: &Merged<'_>| {
            merged.values().any(|s| {
                s.event.n == r.event.n + 1
                    && s.event.prior == Some(r.digest)
                    && s.event.time >= r.event.time.saturating_add(window)
                    && matches!(&s.event.change, Change::Rotation { key, .. }
                        if r.event.next() == Some(&commitment(key.verifying_key())))
                    && enough(s).is_some()
            })
        };
        let (mut final_, mut open) = (vec![], vec![]);
        for (r, by) in recoveries {
            let end = r.event.time.saturating_add(window);
            let cancelled = cancellations.iter().any(|c| {
                c.event.change == Change::Cancellation { recovery: r.digest } && c.event.time <= end
            });
            if now >= end && sealed(r) {
                final_.push(r);
            } else if cancelled {
                state.cancelled.push(r.digest);
            } else {
                open.push((r, by, end));
            }
        }
        let p = state.n + 1;
        let fork = |state: &mut State, n: usize| {
            if n > 1 {
                state.forks.push(p);
            }
        };
        if let Some(r) = final_.first() {
            fork(&mut state, final_.len());
            state.establish(r, "recovery", None);
        } else if let Some(rot) = rotations.first() {
            // The committed key outranks the guardians: its holder never lost control.
            fork(&mut state, rotations.len());
            let void_from = match rot.event.change {
                Change::Rotation { void_from, .. } => void_from,
                _ => None,
            };
            state.establish(rot, "rotation", void_from);
        } else if let Some((r, by, end)) = open.first() {
            fork(&mut state, open.len());
            if now >= *end {
                state.establish(r, "recovery", None);
            } else {
                state.pending = Some(Pending {
                    digest: r.digest,
                    key: *r.event.installs().expect("a recovery installs a key"),
                    by: by.clone(),
                    effective: *end,
                });
                break;
            }
        } else {
            break;
        }
    }
    state.ignored = ignored.into_iter().collect();
    Ok(state)
}

#[cfg(test)]
mod tests;
