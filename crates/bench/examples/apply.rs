#![allow(clippy::unwrap_used)]
#[path = "../src/data.rs"]
#[allow(dead_code)]
mod data;
use maillage_store::{Sled, Store};
use std::time::{Duration, Instant};
fn main() {
    let records = data::records(&data::authors(50), 20000, 1, maillage_store::ingest::now_ms());
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    let (mut ta, mut ts) = (Duration::ZERO, Duration::ZERO);
    let mut last = 0;
    for (i, r) in records.iter().enumerate() {
        let t = Instant::now();
        last = store.apply(r.clone()).unwrap().2;
        ta += t.elapsed();
        if i % 256 == 255 { let t = Instant::now(); store.sync(last).unwrap(); ts += t.elapsed(); }
    }
    store.sync(last).unwrap();
    println!("apply {:?}/rec, sync {:?}/rec", ta / 20000, ts / 20000);
}
