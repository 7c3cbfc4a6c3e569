//! `tests/vectors/records.json`: written by this implementation, checked both ways.
//!
//! Regenerate after a deliberate format change with `MAILLAGE_WRITE_VECTORS=1 cargo test
//! -p maillage-core --test vectors`.

#![allow(clippy::unwrap_used)]

use maillage_core::{Author, Body, Kind, Record, SigningKey};
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/records.json"
);

fn vector(secret: [u8; 32], kind: Kind, id: &str, seq: u64, body: Body, note: &str) -> Value {
    let key = SigningKey::from_bytes(&secret);
    let record = Record::sign(
        &key,
        kind,
        id.parse().unwrap(),
        seq,
        1_767_225_600_000 + seq,
        body,
    )
    .unwrap();
    json!({
        "note": note,
        "secret_key": hex::encode(secret),
        "public_key": hex::encode(record.author.to_bytes()),
        "did": record.author.did(),
        "address": record.address().to_string(),
        "unsigned_cbor": hex::encode(record.unsigned_bytes()),
        "signed_cbor": hex::encode(record.bytes()),
        "sig": hex::encode(record.sig().to_bytes()),
        "hash": record.hash().to_string(),
        "json": record.to_json(),
    })
}

fn body(kind: Kind, value: Value) -> Body {
    Body::from_json(kind, value).unwrap()
}

fn expected() -> Value {
    let ripess = [0x11; 32];
    let wfto = [0x22; 32];
    let ripess_did = Author::from(&SigningKey::from_bytes(&ripess)).did();
    let wfto_did = Author::from(&SigningKey::from_bytes(&wfto)).did();
    let collab = format!("maillage:{ripess_did}/collaboration/intl-sse-networks-wg");
    Value::Array(vec![
        vector(
            ripess,
            Kind::Organisation,
            "reseau-exemple",
            1,
            body(
                Kind::Organisation,
                json!({
                    "name": "Réseau d'exemple de l'ESS",
                    "alternate_names": ["Example SSE network"],
                    "description": {
                        "en": "A fictional network of social and solidarity economy initiatives.",
                        "fr": "Un réseau fictif d'initiatives de l'économie sociale et solidaire."
                    },
                    "type": "network",
                    "scope": "continental",
                    "countries": ["SN", "ML"],
                    "regions": ["africa", "mena"],
                    "primary_activity": "activities-ica:ICA280",
                    "activities": ["activities-modified:AM20", "activities-modified:AM60"],
                    "organisational_structures": ["organisational-structure:OS130"],
                    "themes": ["themes:T1"],
                    "emails": ["contact@reseau.example.org"],
                    "links": {"twitter": ["https://twitter.com/reseau_example"]},
                    "identifiers": {"SN-NINEA": "0012345"},
                    "location": {"lat": 14.6928, "lon": -17.4467},
                    "languages": ["fr", "wo"],
                    "website": "https://reseau.example.org",
                    "founded": "2002"
                }),
            ),
            "a fictional organisation: multilingual text, non-ASCII, a negative coordinate, lists",
        ),
        vector(
            ripess,
            Kind::Collaboration,
            "intl-sse-networks-wg",
            3,
            body(
                Kind::Collaboration,
                json!({
                    "title": "Working group on collaboration between international SSE networks",
                    "type": "working-group",
                    "parties": [
                        {"ref": format!("maillage:{ripess_did}/organisation/reseau-exemple"), "role": "coordinator"},
                        {"ref": format!("maillage:{wfto_did}/organisation/wfto"), "role": "member"},
                        {"ref": "https://www.gsef-net.org", "role": "member"}
                    ],
                    "status": "active",
                    "start": "2022"
                }),
            ),
            "a collaboration with parties by address and by external URI",
        ),
        vector(
            wfto,
            Kind::Endorsement,
            "confirm-intl-sse-networks-wg",
            1,
            body(
                Kind::Endorsement,
                json!({
                    "target": collab,
                    "stance": "confirmed"
                }),
            ),
            "an endorsement by a party of someone else's collaboration",
        ),
        vector(
            wfto,
            Kind::Organisation,
            "old-office",
            7,
            Body::Deleted,
            "a tombstone",
        ),
    ])
}

#[test]
fn vectors_match_the_implementation() {
    let expected = expected();
    if std::env::var_os("MAILLAGE_WRITE_VECTORS").is_some() {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&expected).unwrap() + "\n",
        )
        .unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    assert_eq!(
        stored, expected,
        "the implementation no longer writes the stored vectors"
    );
}

#[test]
fn stored_vectors_verify() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let vectors = stored.as_array().unwrap();
    assert!(vectors.len() >= 4);
    for v in vectors {
        let signed = hex::decode(v["signed_cbor"].as_str().unwrap()).unwrap();
        let record = Record::decode(&signed).unwrap();
        assert_eq!(hex::encode(record.unsigned_bytes()), v["unsigned_cbor"]);
        assert_eq!(hex::encode(record.sig().to_bytes()), v["sig"]);
        assert_eq!(record.hash().to_string(), v["hash"]);
        assert_eq!(record.author.did(), v["did"]);
        assert_eq!(hex::encode(record.author.to_bytes()), v["public_key"]);
        let secret: [u8; 32] = hex::decode(v["secret_key"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            Author::from(&SigningKey::from_bytes(&secret)),
            record.author
        );
        assert_eq!(record.to_json(), v["json"]);
    }
    let kinds: Vec<&str> = vectors
        .iter()
        .map(|v| v["json"]["kind"].as_str().unwrap())
        .collect();
    for kind in Kind::ALL {
        assert!(kinds.contains(&kind.as_str()), "no vector of kind {kind}");
    }
}
