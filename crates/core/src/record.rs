//! Signed records: addresses, signing, strict decoding and verification, hashes, JSON form.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use ciborium::Value;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::body::{Body, Collaboration, Endorsement, Organisation};
use crate::{Author, Error, cbor};

/// Record format version.
pub const VERSION: u64 = 1;
/// Largest encoded record, in bytes.
pub const MAX_RECORD: usize = 64 * 1024;
/// Domain separation: a record signature is valid nowhere else (libp2p signs with the key too).
pub const SIGNING_CONTEXT: &[u8; 19] = b"maillage-record-v1:";
/// `seq` and `time` stay within JavaScript's exact integers, so every reader sees them exactly.
pub const MAX_INTEGER: u64 = (1 << 53) - 1;

/// What a record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Organisation,
    Collaboration,
    Endorsement,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Organisation, Kind::Collaboration, Kind::Endorsement];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organisation => "organisation",
            Kind::Collaboration => "collaboration",
            Kind::Endorsement => "endorsement",
        }
    }
}

impl FromStr for Kind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| Error::Field {
                field: "kind".into(),
                problem: format!(
                    "`{s}` is not a kind: use organisation, collaboration or endorsement"
                ),
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An author-chosen slug, `[a-z0-9][a-z0-9._-]{0,63}`, stable across versions.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(String);

impl Id {
    /// The id of an author's profile: the organisation record it publishes about itself,
    /// by whose name the author is shown.
    pub const PROFILE: &'static str = "profile";

    /// An author's profile id.
    pub fn profile() -> Id {
        Id(Id::PROFILE.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Id {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bytes = s.as_bytes();
        let ok = (1..=64).contains(&bytes.len())
            && matches!(bytes[0], b'a'..=b'z' | b'0'..=b'9')
            && bytes
                .iter()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
        if ok {
            Ok(Id(s.to_owned()))
        } else {
            Err(Error::Field {
                field: "id".into(),
                problem: format!(
                    "`{s}` is not an id: 1 to 64 characters of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit"
                ),
            })
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a record lives: `maillage:<did>/<kind>/<id>`. The latest version of an address wins.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub author: Author,
    pub kind: Kind,
    pub id: Id,
}

impl PartialOrd for Author {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Author {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.to_bytes().cmp(&other.to_bytes())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "maillage:{}/{}/{}", self.author, self.kind, self.id)
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::Field {
            field: "address".into(),
            problem: format!(
                "`{s}` is not an address like `maillage:did:key:z6Mk…/organisation/<id>`"
            ),
        };
        let rest = s.strip_prefix("maillage:").ok_or_else(bad)?;
        let mut parts = rest.split('/');
        let (Some(did), Some(kind), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Address {
            author: did.parse()?,
            kind: kind.parse()?,
            id: id.parse()?,
        })
    }
}

/// SHA-256 of a record's full signed encoding: the version's identity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub fn of(bytes: &[u8]) -> Self {
        Hash(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| Error::Field {
            field: "hash".into(),
            problem: format!("`{s}` is not 64 lowercase hex digits"),
        })?;
        Ok(Hash(out))
    }
}

/// One signed, verified version of an address.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub author: Author,
    pub kind: Kind,
    pub id: Id,
    pub seq: u64,
    pub time: u64,
    pub body: Body,
    sig: Signature,
    bytes: Vec<u8>,
    hash: Hash,
}

/// A record whose fields and body are valid but whose signature is not checked yet: cheap
/// checks (trust policy, staleness) can run before the costly one.
#[derive(Debug)]
pub struct Unverified {
    record: Record,
    unsigned: Vec<u8>,
}

impl Unverified {
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Checks the signature strictly (no weak keys, no malleable signatures).
    pub fn verify(self) -> Result<Record, Error> {
        let message = [SIGNING_CONTEXT.as_slice(), &self.unsigned].concat();
        self.record
            .author
            .verifying_key()
            .verify_strict(&message, &self.record.sig)
            .map_err(|_| Error::Signature)?;
        Ok(self.record)
    }

    /// Skips the signature check, for bytes that this node verified before it stored them.
    pub fn assume_verified(self) -> Record {
        self.record
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn unsigned_map(
    author: &Author,
    kind: Kind,
    id: &Id,
    seq: u64,
    time: u64,
    body: Value,
) -> Vec<(Value, Value)> {
    vec![
        (text("v"), Value::Integer(VERSION.into())),
        (text("author"), Value::Bytes(author.to_bytes().to_vec())),
        (text("kind"), text(kind.as_str())),
        (text("id"), text(id.as_str())),
        (text("seq"), Value::Integer(seq.into())),
        (text("time"), Value::Integer(time.into())),
        (text("body"), body),
    ]
}

fn body_value(body: &Body) -> Result<Value, Error> {
    let serialized = match body {
        Body::Deleted => return Ok(Value::Map(vec![(text("deleted"), Value::Bool(true))])),
        Body::Organisation(o) => Value::serialized(o.as_ref()),
        Body::Collaboration(c) => Value::serialized(c.as_ref()),
        Body::Endorsement(e) => Value::serialized(e),
    };
    serialized.map_err(|e| Error::Malformed(format!("body: {e}")))
}

fn body_error(e: impl fmt::Display) -> Error {
    Error::Field {
        field: "body".into(),
        problem: e.to_string(),
    }
}

/// The typed body of `value`, whose canonical encoding is `encoded`.
fn body_from_value(kind: Kind, value: &Value, encoded: &[u8]) -> Result<Body, Error> {
    let Value::Map(entries) = value else {
        return Err(body_error("must be a map"));
    };
    let body = if entries
        .iter()
        .any(|(k, _)| matches!(k, Value::Text(t) if t == "deleted"))
    {
        if entries.as_slice() != [(text("deleted"), Value::Bool(true))] {
            return Err(body_error("a tombstone is exactly {\"deleted\": true}"));
        }
        Body::Deleted
    } else {
        match kind {
            Kind::Organisation => Body::Organisation(Box::new(
                value.deserialized::<Organisation>().map_err(body_error)?,
            )),
            Kind::Collaboration => Body::Collaboration(Box::new(
                value.deserialized::<Collaboration>().map_err(body_error)?,
            )),
            Kind::Endorsement => {
                Body::Endorsement(value.deserialized::<Endorsement>().map_err(body_error)?)
            }
        }
    };
    // One body, one encoding: an explicit null or empty list would be a second form.
    if cbor::encode(&body_value(&body)?)? != encoded {
        return Err(body_error(
            "holds a null, empty or default field: leave absent fields out",
        ));
    }
    body.validate()?;
    Ok(body)
}

fn integer(field: &str, value: &Value) -> Result<u64, Error> {
    let n = match value {
        Value::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    };
    n.filter(|n| *n <= MAX_INTEGER).ok_or_else(|| Error::Field {
        field: field.into(),
        problem: format!("must be an unsigned integer up to {MAX_INTEGER}"),
    })
}

impl Record {
    /// Signs a new version. `seq` starts at 1 and grows with every version of the address.
    pub fn sign(
        key: &SigningKey,
        kind: Kind,
        id: Id,
        seq: u64,
        time: u64,
        body: Body,
    ) -> Result<Record, Error> {
        let author = Author::from_bytes(key.verifying_key().as_bytes())?;
        if body.kind().is_some_and(|k| k != kind) {
            return Err(body_error(format!("is not the body of a {kind}")));
        }
        body.validate()?;
        for (field, n) in [("seq", seq), ("time", time)] {
            integer(field, &Value::Integer(n.into()))?;
        }
        if seq == 0 {
            return Err(Error::Field {
                field: "seq".into(),
                problem: "starts at 1".into(),
            });
        }
        let mut map = unsigned_map(&author, kind, &id, seq, time, body_value(&body)?);
        let unsigned = cbor::encode(&Value::Map(map.clone()))?;
        let sig = key.sign(&[SIGNING_CONTEXT.as_slice(), &unsigned].concat());
        map.push((text("sig"), Value::Bytes(sig.to_bytes().to_vec())));
        let bytes = cbor::encode(&Value::Map(map))?;
        if bytes.len() > MAX_RECORD {
            return Err(Error::TooLarge { size: bytes.len() });
        }
        Ok(Record {
            author,
            kind,
            id,
            seq,
            time,
            body,
            sig,
            hash: Hash::of(&bytes),
            bytes,
        })
    }

    /// Decodes and verifies a signed record.
    pub fn decode(bytes: &[u8]) -> Result<Record, Error> {
        Self::decode_unverified(bytes)?.verify()
    }

    /// Decodes a record and validates every field, leaving the signature for [`Unverified::verify`].
    pub fn decode_unverified(bytes: &[u8]) -> Result<Unverified, Error> {
        if bytes.len() > MAX_RECORD {
            return Err(Error::TooLarge { size: bytes.len() });
        }
        let entries = cbor::decode_map(bytes, "a record")?;
        // What the signature covers: the same map without `sig`, copied rather than encoded
        // again (a canonical map less one entry is canonical).
        let mut unsigned = Vec::with_capacity(bytes.len());
        cbor::write_head(5, entries.len().saturating_sub(1) as u64, &mut unsigned);
        let mut fields: [Option<Value>; 8] = Default::default();
        const NAMES: [&str; 8] = ["v", "author", "kind", "id", "seq", "time", "body", "sig"];
        let mut body_bytes: &[u8] = &[];
        for cbor::Entry {
            key,
            value,
            span,
            value_at,
        } in entries
        {
            let Value::Text(key) = key else {
                return Err(Error::Malformed("a record key is not text".into()));
            };
            let slot = NAMES
                .iter()
                .position(|n| *n == key)
                .ok_or_else(|| Error::Field {
                    field: key.clone(),
                    problem: "is not a record field (v, author, kind, id, seq, time, body, sig)"
                        .into(),
                })?;
            if key == "body" {
                body_bytes = &bytes[value_at..span.end];
            }
            if key != "sig" {
                unsigned.extend_from_slice(&bytes[span]);
            }
            fields[slot] = Some(value);
        }
        let mut fields = fields.into_iter().zip(NAMES).map(|(value, name)| {
            value.ok_or_else(|| Error::Field {
                field: name.into(),
                problem: "is missing".into(),
            })
        });
        let mut next = || fields.next().expect("one entry per name");
        let (v, author, kind, id, seq, time, body, sig) = (
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
            next()?,
        );

        if integer("v", &v)? != VERSION {
            return Err(Error::Field {
                field: "v".into(),
                problem: format!(
                    "format version {} is not supported (this node reads 1)",
                    integer("v", &v)?
                ),
            });
        }
        let author = match &author {
            Value::Bytes(b) => <&[u8; 32]>::try_from(b.as_slice()).ok(),
            _ => None,
        }
        .ok_or_else(|| Error::Key("`author` must be a 32-byte Ed25519 public key".into()))
        .and_then(Author::from_bytes)?;
        let text_of = |field: &str, value: Value| match value {
            Value::Text(s) => Ok(s),
            _ => Err(Error::Field {
                field: field.into(),
                problem: "must be text".into(),
            }),
        };
        let kind: Kind = text_of("kind", kind)?.parse()?;
        let id: Id = text_of("id", id)?.parse()?;
        let (seq, time) = (integer("seq", &seq)?, integer("time", &time)?);
        if seq == 0 {
            return Err(Error::Field {
                field: "seq".into(),
                problem: "starts at 1".into(),
            });
        }
        let sig = match &sig {
            Value::Bytes(b) => <[u8; 64]>::try_from(b.as_slice()).ok(),
            _ => None,
        }
        .map(|b| Signature::from_bytes(&b))
        .ok_or_else(|| Error::Field {
            field: "sig".into(),
            problem: "must be a 64-byte Ed25519 signature".into(),
        })?;
        let typed = body_from_value(kind, &body, body_bytes)?;
        Ok(Unverified {
            record: Record {
                author,
                kind,
                id,
                seq,
                time,
                body: typed,
                sig,
                bytes: bytes.to_vec(),
                hash: Hash::of(bytes),
            },
            unsigned,
        })
    }

    pub fn address(&self) -> Address {
        Address {
            author: self.author,
            kind: self.kind,
            id: self.id.clone(),
        }
    }

    /// The full signed canonical encoding.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn hash(&self) -> Hash {
        self.hash
    }

    pub fn sig(&self) -> &Signature {
        &self.sig
    }

    /// The canonical encoding of the record without `sig`: what the signature covers,
    /// after [`SIGNING_CONTEXT`].
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        let body = body_value(&self.body).expect("a record's body encoded once already");
        cbor::encode(&Value::Map(unsigned_map(
            &self.author,
            self.kind,
            &self.id,
            self.seq,
            self.time,
            body,
        )))
        .expect("a record's fields encoded once already")
    }

    /// The JSON form served by the API: coordinates in decimal degrees, and the signed bytes
    /// in `cbor` so that a reader can verify the record without trusting the server.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "address": self.address().to_string(),
            "author": self.author.did(),
            "kind": self.kind.as_str(),
            "id": self.id.as_str(),
            "seq": self.seq,
            "time": self.time,
            "body": self.body.to_json(),
            "hash": self.hash.to_string(),
            "sig": hex::encode(self.sig.to_bytes()),
            "cbor": base64::engine::general_purpose::STANDARD.encode(&self.bytes),
        })
    }
}

/// Applies a JSON Merge Patch (RFC 7396) to a body's JSON form: a `null` removes a field,
/// an object merges into the object it patches, anything else replaces. What is left empty
/// (an empty object or list, as in an address with every part removed) is removed too, since
/// a body leaves absent fields out.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
            continue;
        }
        let slot = map.entry(key.clone()).or_insert(Value::Null);
        merge_patch(slot, value);
        let empty = match slot {
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Null => true,
            _ => false,
        };
        if empty {
            map.remove(key);
        }
    }
}

impl Body {
    /// The body as JSON: as signed, except `location`, shown as decimal `lat` and `lon`.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Body::Deleted => return json!({"deleted": true}),
            Body::Organisation(o) => serde_json::to_value(o.as_ref()),
            Body::Collaboration(c) => serde_json::to_value(c.as_ref()),
            Body::Endorsement(e) => serde_json::to_value(e),
        };
        let mut value = value.expect("bodies have text keys and no floats");
        if let Body::Organisation(o) = self
            && let Some(l) = &o.location
        {
            value["location"] = json!({"lat": l.lat(), "lon": l.lon()});
        }
        value
    }

    /// Reads a body of `kind` from its JSON form (decimal `lat` and `lon`), and validates it.
    pub fn from_json(kind: Kind, mut value: serde_json::Value) -> Result<Body, Error> {
        if kind == Kind::Organisation
            && let Some(location) = value.get_mut("location")
        {
            let degrees = |name: &str| {
                location
                    .get(name)
                    .and_then(serde_json::Value::as_f64)
                    .ok_or_else(|| Error::Field {
                        field: format!("location.{name}"),
                        problem: "must be a number of decimal degrees".into(),
                    })
            };
            let (lat, lon) = (degrees("lat")?, degrees("lon")?);
            if location.as_object().is_some_and(|o| o.len() != 2) {
                return Err(Error::Field {
                    field: "location".into(),
                    problem: "holds only `lat` and `lon`".into(),
                });
            }
            let e7 = |d: f64, name: &str| {
                let n = (d * 1e7).round();
                if n.abs() <= 1_800_000_000.0 {
                    Ok(n as i32)
                } else {
                    Err(Error::Field {
                        field: format!("location.{name}"),
                        problem: format!("{d} is out of range"),
                    })
                }
            };
            *location = json!({"lat_e7": e7(lat, "lat")?, "lon_e7": e7(lon, "lon")?});
        }
        let body = match kind {
            Kind::Organisation => {
                Body::Organisation(Box::new(serde_json::from_value(value).map_err(body_error)?))
            }
            Kind::Collaboration => {
                Body::Collaboration(Box::new(serde_json::from_value(value).map_err(body_error)?))
            }
            Kind::Endorsement => {
                Body::Endorsement(serde_json::from_value(value).map_err(body_error)?)
            }
        };
        body.validate()?;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[42; 32])
    }

    fn org(name: &str) -> Body {
        Body::from_json(Kind::Organisation, json!({"name": name, "countries": ["SN"], "location": {"lat": 14.6928, "lon": -17.4467}})).unwrap()
    }

    fn sample() -> Record {
        Record::sign(
            &key(),
            Kind::Organisation,
            "ripess".parse().unwrap(),
            1,
            1_700_000_000_000,
            org("RIPESS"),
        )
        .unwrap()
    }

    #[test]
    fn sign_decode_round_trip() {
        let record = sample();
        let decoded = Record::decode(record.bytes()).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(decoded.hash(), Hash::of(record.bytes()));
        let json = record.to_json();
        assert_eq!(json["body"]["location"]["lat"], 14.6928);
        assert_eq!(
            json["address"],
            format!("maillage:{}/organisation/ripess", record.author.did())
        );
    }

    #[test]
    fn ids_and_addresses() {
        for good in ["a", "ripess-europe", "0.x_y", &"a".repeat(64)] {
            good.parse::<Id>().unwrap();
        }
        for bad in ["", "-a", "A", "a/b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<Id>().is_err(), "{bad}");
        }
        let address = sample().address();
        assert_eq!(address.to_string().parse::<Address>().unwrap(), address);
        assert!("maillage:x/organisation/a".parse::<Address>().is_err());
    }

    #[test]
    fn rejects_bodies_with_a_second_form() {
        let record = sample();
        let Value::Map(mut map) = cbor::decode(record.bytes()).unwrap() else {
            panic!()
        };
        for (k, v) in &mut map {
            if *k == text("body")
                && let Value::Map(body) = v
            {
                body.push((text("alternate_names"), Value::Array(vec![])));
            }
        }
        let bytes = cbor::encode(&Value::Map(map)).unwrap();
        let err = Record::decode_unverified(&bytes).unwrap_err().to_string();
        assert!(err.contains("leave absent fields out"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields_and_kinds() {
        let err =
            Body::from_json(Kind::Organisation, json!({"name": "x", "colour": "red"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        assert!("group".parse::<Kind>().is_err());
    }

    #[test]
    fn rejects_oversize_records() {
        let mut description = std::collections::BTreeMap::new();
        for lang in ["en", "fr", "es", "pt", "de", "it", "ar"] {
            description.insert(lang.to_string(), "x".repeat(10_000));
        }
        let Body::Organisation(mut o) = org("big") else {
            panic!()
        };
        o.description = description;
        let err = Record::sign(
            &key(),
            Kind::Organisation,
            "big".parse().unwrap(),
            1,
            0,
            Body::Organisation(o),
        );
        assert!(matches!(err, Err(Error::TooLarge { .. })), "{err:?}");
    }

    #[test]
    fn merge_patches_change_only_what_they_name() {
        let mut body = json!({"name": "A", "description": {"en": "x", "fr": "y"},
            "address": {"street": "1 rue", "locality": "Lyon"}, "tags": ["t"]});
        merge_patch(
            &mut body,
            &json!({"description": {"fr": "z"}, "address": {"street": null, "locality": null},
                "tags": [], "website": "https://a.example"}),
        );
        assert_eq!(
            body,
            json!({"name": "A", "description": {"en": "x", "fr": "z"},
                "website": "https://a.example"})
        );
    }

    #[test]
    fn a_tombstone_fits_every_kind() {
        for kind in Kind::ALL {
            let r =
                Record::sign(&key(), kind, "gone".parse().unwrap(), 2, 0, Body::Deleted).unwrap();
            assert!(Record::decode(r.bytes()).unwrap().body.is_deleted());
        }
    }

    proptest! {
        #[test]
        fn changing_any_byte_is_rejected(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let record = sample();
            let mut bytes = record.bytes().to_vec();
            let i = index.index(bytes.len());
            bytes[i] ^= xor;
            prop_assert!(Record::decode(&bytes).is_err());
        }
    }
}
