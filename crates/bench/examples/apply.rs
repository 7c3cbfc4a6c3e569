#![allow(clippy::unwrap_used)]
#[path = "../src/data.rs"]
#[allow(dead_code)]
mod data;
use maillage_store::{Sled, Store};
use std::time::Instant;
fn main() {
    let records = data::records(
        &data::authors(50),
        20000,
        1,
        maillage_store::ingest::now_ms(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    let t = Instant::now();
    let mut last = 0;
    for (i, r) in records.iter().enumerate() {
        last = store.apply(r.clone()).unwrap().2;
        if i % 256 == 255 {
            store.sync(last).unwrap();
        }
    }
    store.sync(last).unwrap();
    println!("apply+sync/256 {:?}/rec", t.elapsed() / 20000);
}
