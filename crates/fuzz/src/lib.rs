//! What each fuzz target checks of one input. `fuzz/` holds the `cargo fuzz` targets, each a
//! call of one of these; `tests/corpora.rs` replays their corpora through the same calls.
//! Each returns normally for any input: a panic is the finding.
//!
//! ```text
//! cd crates/fuzz && cargo +nightly fuzz run cbor -- -runs=10000000
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use maillage_core::sheet::Sheet;
use maillage_core::{Body, Kind, Record, cbor};
use maillage_net::codec;
use maillage_net::sync::{self, Request, Response};
use maillage_store::Store as _;
use maillage_store::disk::sim::SimDisk;

/// What a target checks of one input.
pub type Check = fn(&[u8]);

/// The targets, by name: what `fuzz/` builds and `corpus/<name>` holds.
pub const TARGETS: [(&str, Check); 6] = [
    ("cbor", cbor),
    ("record", record),
    ("sync_message", sync_message),
    ("replay", replay),
    ("csv_row", csv_row),
    ("json_body", json_body),
];

/// The canonical CBOR decoder: what it accepts encodes back to the same bytes.
pub fn cbor(data: &[u8]) {
    if let Ok(value) = cbor::decode(data) {
        let bytes = cbor::encode(&value).expect("a decoded value encodes");
        assert_eq!(bytes, data, "canonical: one encoding per value");
    }
}

/// Record decoding and validation, then the signature: what verifies is its own bytes.
pub fn record(data: &[u8]) {
    if let Ok(unverified) = Record::decode_unverified(data)
        && let Ok(record) = unverified.verify()
    {
        assert_eq!(record.bytes(), data);
    }
}

/// Sync messages as a peer sends them: through the whole codec (zstd, then CBOR), and
/// through its CBOR layer alone, which the corpus reaches directly.
pub fn sync_message(data: &[u8]) {
    let _ = codec::decode::<Request>(data, sync::MAX_MESSAGE);
    let _ = codec::decode::<Response>(data, sync::MAX_MESSAGE);
    let _ = cbor4ii::serde::from_slice::<Request>(data);
    let _ = cbor4ii::serde::from_slice::<Response>(data);
}

/// A store opened on any bytes: a segment, and a seal that may say part of it was
/// acknowledged (the first byte says how much of the rest is the seal). It opens, or says
/// what is damaged.
pub fn replay(data: &[u8]) {
    let Some((&how, rest)) = data.split_first() else {
        return;
    };
    let (seal, segment) = rest.split_at((usize::from(how) * 4).min(rest.len()));
    let disk = SimDisk::with_files([
        ("seal".to_owned(), seal.to_vec()),
        ("00000001.log".to_owned(), segment.to_vec()),
    ]);
    if let Ok(store) = maillage_store::Engine::on(Arc::new(disk), 1 << 20, false) {
        store.summary().expect("an open store sums up");
    }
}

/// Spreadsheet rows read against their header line (all comma-separated), and the bodies
/// they make.
pub fn csv_row(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return;
    };
    let headers: Vec<String> = header.split(',').map(str::to_owned).collect();
    let sheet = Sheet::new(&headers, &BTreeMap::new());
    for line in lines {
        let cells: Vec<String> = line.split(',').map(str::to_owned).collect();
        let row = sheet.read(&cells);
        let mut body = serde_json::Value::Object(row.defaults);
        maillage_core::merge_patch(&mut body, &serde_json::Value::Object(row.patch));
        let _ = Body::from_json(Kind::Organisation, body);
    }
}

/// A record body as JSON, of each kind: what validates reads back from its own JSON.
pub fn json_body(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for kind in Kind::ALL {
        if let Ok(body) = Body::from_json(kind, value.clone()) {
            let again = Body::from_json(kind, body.to_json()).expect("a body's JSON is a body");
            assert_eq!(again, body);
        }
    }
}
