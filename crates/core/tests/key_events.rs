//! `tests/vectors/key-events.json`: one identity's key events, from its inception through a
//! rotation, a cancelled recovery, a recovery its guardians carried through and the rotation
//! that sealed it, with the state they resolve to. Written by this implementation and
//! checked both ways.
//!
//! Regenerate after a deliberate format change with `MAILLAGE_WRITE_VECTORS=1 cargo test
//! -p maillage-core --test key_events`.

#![allow(clippy::unwrap_used)]

use maillage_core::identity::{self, Event, Guardians, Identity, State};
use maillage_core::{Author, SigningKey};
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/key-events.json"
);
const T0: u64 = 1_767_225_600_000;
const HOUR: u64 = 3600 * 1000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn did_key(n: u8) -> Identity {
    Identity::Key(Author::from(&key(n)))
}

fn guardian_keys(g: &Identity, _time: u64) -> Option<Author> {
    match g {
        Identity::Key(a) => Some(*a),
        Identity::Log(_) => None,
    }
}

fn resolve(events: &[Event], now: u64) -> State {
    identity::resolve(events[0].identity, events, now, &guardian_keys).unwrap()
}

/// The events, in order, each with what it shows.
fn scenario() -> (Vec<(&'static str, Event)>, u64) {
    let guardians = Guardians {
        members: vec![did_key(0x41), did_key(0x42), did_key(0x43)],
        threshold: 2,
        window: 24 * HOUR,
    };
    let icp = Event::incept(&key(0x31), &key(0x32).verifying_key(), Some(guardians), T0).unwrap();
    let s = resolve(std::slice::from_ref(&icp), T0);
    let rot = Event::rotate(
        &s,
        &key(0x32),
        &key(0x33).verifying_key(),
        Some(T0 + HOUR),
        None,
        T0 + 2 * HOUR,
    )
    .unwrap();
    let s = resolve(&[icp.clone(), rot.clone()], T0 + 2 * HOUR);
    let countersigned = |e: Event| {
        e.countersign(did_key(0x41), &key(0x41))
            .unwrap()
            .countersign(did_key(0x43), &key(0x43))
            .unwrap()
    };
    let contested = countersigned(
        Event::recover(&s, &key(0x34), &key(0x35).verifying_key(), T0 + 3 * HOUR).unwrap(),
    );
    let cancel = Event::cancel(&contested, &key(0x32), T0 + 4 * HOUR).unwrap();
    let recovered = countersigned(
        Event::recover(&s, &key(0x36), &key(0x37).verifying_key(), T0 + 5 * HOUR).unwrap(),
    );
    // Someone who later finds key 0x32 dates a cancellation of it back into its window:
    // the guardians' seal makes it count for nothing.
    let backdated = Event::cancel(&recovered, &key(0x32), T0 + 6 * HOUR).unwrap();
    let sealed = Event::seal(
        &recovered,
        &key(0x37),
        &key(0x38).verifying_key(),
        T0 + 29 * HOUR,
    )
    .unwrap()
    .countersign(did_key(0x42), &key(0x42))
    .unwrap()
    .countersign(did_key(0x43), &key(0x43))
    .unwrap();
    (
        vec![
            (
                "inception: key 0x31, next key 0x32, guardians 0x41 0x42 0x43, 2 of 3, a day's window",
                icp,
            ),
            (
                "rotation to key 0x32, next 0x33; key 0x31's records void from T0 + 1 h",
                rot,
            ),
            (
                "recovery to key 0x34, countersigned by guardians 0x41 and 0x43",
                contested,
            ),
            (
                "cancellation of that recovery by key 0x32, within its window",
                cancel,
            ),
            (
                "recovery to key 0x36, countersigned by guardians 0x41 and 0x43, not cancelled",
                recovered,
            ),
            (
                "rotation to key 0x37 after the window, countersigned by guardians 0x42 and 0x43: the recovery is sealed",
                sealed,
            ),
            (
                "cancellation of the sealed recovery by key 0x32, dated back into its window: it counts for nothing",
                backdated,
            ),
        ],
        T0 + 30 * HOUR,
    )
}

fn state_json(s: &State) -> Value {
    json!({
        "identity": s.identity.to_string(),
        "keys": s.keys.iter().map(|k| json!({
            "n": k.n, "key": hex::encode(k.key.to_bytes()), "how": k.how, "time": k.time,
            "void_from": k.void_from, "digest": k.digest.to_string(),
        })).collect::<Vec<_>>(),
        "pending": s.pending.as_ref().map(|p| p.digest.to_string()),
        "cancelled": s.cancelled.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn expected() -> Value {
    let (events, now) = scenario();
    let all: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
    let guardians: Vec<Value> = [0x41u8, 0x42, 0x43]
        .iter()
        .map(|n| json!({"secret_key": hex::encode([*n; 32]), "did": did_key(*n).to_string()}))
        .collect();
    json!({
        "note": "secret keys are 32 bytes of the one byte named; guardians are did:key identities",
        "guardians": guardians,
        "events": events.iter().map(|(note, e)| json!({
            "note": note,
            "type": e.change.name(),
            "unsigned_cbor": hex::encode(e.unsigned_bytes()),
            "signed_cbor": hex::encode(e.bytes()),
            "digest": e.digest().to_string(),
        })).collect::<Vec<_>>(),
        "now": now,
        "state": state_json(&resolve(&all, now)),
    })
}

#[test]
fn key_event_vectors_match_the_implementation() {
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
        "tests/vectors/key-events.json differs from what this implementation produces"
    );
}

#[test]
fn stored_key_events_decode_and_resolve_to_the_stored_state() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let events: Vec<Event> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let e =
                Event::decode(&hex::decode(v["signed_cbor"].as_str().unwrap()).unwrap()).unwrap();
            assert_eq!(hex::encode(e.unsigned_bytes()), v["unsigned_cbor"]);
            assert_eq!(e.digest().to_string(), v["digest"]);
            e
        })
        .collect();
    let state = resolve(&events, stored["now"].as_u64().unwrap());
    assert_eq!(state_json(&state), stored["state"]);
    // What the scenario shows, read off the stored state.
    let keys = stored["state"]["keys"].as_array().unwrap();
    let how: Vec<&str> = keys.iter().map(|k| k["how"].as_str().unwrap()).collect();
    assert_eq!(how, ["inception", "rotation", "recovery", "rotation"]);
    assert_eq!(
        keys[2]["key"],
        hex::encode(Author::from(&key(0x36)).to_bytes())
    );
    assert_eq!(
        keys[0]["void_from"],
        T0 + HOUR,
        "key 0x31 void from when it leaked"
    );
    // The cancelled recovery is the third event; nothing is pending.
    assert_eq!(
        stored["state"]["cancelled"],
        json!([stored["events"][2]["digest"]])
    );
    assert_eq!(stored["state"]["pending"], Value::Null);
}
