#![allow(clippy::unwrap_used)]
#[path = "../src/data.rs"]
#[allow(dead_code)]
mod data;
use maillage_core::Record;
use maillage_store::{Sled, Store};
use std::time::Instant;
fn main() {
    let records = data::records(
        &data::authors(50),
        20000,
        1,
        maillage_store::ingest::now_ms(),
    );
    let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.bytes().to_vec()).collect();
    let t = Instant::now();
    for r in &records {
        maillage_core::Author::from_bytes(&r.author.to_bytes()).unwrap();
    }
    println!("author {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    for r in &records {
        maillage_core::Hash::of(r.bytes());
    }
    println!("sha256 {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    for b in &bytes {
        maillage_core::cbor::decode(b).unwrap();
    }
    println!("cbor {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    let dec: Vec<_> = bytes
        .iter()
        .map(|b| Record::decode_unverified(b).unwrap())
        .collect();
    println!("decode {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    let ver: Vec<Record> = dec.into_iter().map(|u| u.verify().unwrap()).collect();
    println!("verify {:?}/rec", t.elapsed() / 20000);
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path()).unwrap();
    let t = Instant::now();
    for r in &ver {
        store.head(&r.address()).unwrap();
    }
    println!("head {:?}/rec", t.elapsed() / 20000);
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path()).unwrap();
        let t = Instant::now();
        let mut last = 0;
        for r in &ver {
            last = store.apply(r.clone()).unwrap().2;
        }
        println!("apply only {:?}/rec", t.elapsed() / 20000);
        let t = Instant::now();
        store.sync(last).unwrap();

        let db = sled::Config::new()
            .path(dir.path().join("raw"))
            .cache_capacity(128 << 20)
            .open()
            .unwrap();
        let tr = db.open_tree("t").unwrap();
        let t = Instant::now();
        for r in &ver {
            tr.insert(r.hash().0, r.bytes()).unwrap();
        }
        let t = Instant::now();
        for r in &ver {
            let mut b = sled::Batch::default();
            b.insert(&r.hash().0[..8], &r.hash().0[..]);
            b.insert(&r.hash().0[8..16], &r.hash().0[..]);
            tr.apply_batch(b).unwrap();
        }
    }
    let t = Instant::now();
    let mut last = 0;
    for (i, r) in ver.iter().enumerate() {
        last = store.apply(r.clone()).unwrap().2;
        if i % 256 == 255 {
            store.sync(last).unwrap();
        }
    }
    store.sync(last).unwrap();
    println!("apply+sync/256 {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    for r in &ver {
        store.get(&r.address()).unwrap();
    }
    println!("get {:?}/rec", t.elapsed() / 20000);
    let t = Instant::now();
    drop(store);
    let store = Sled::open(dir.path()).unwrap();
    println!("reopen {:?}", t.elapsed());
    let _ = store;
}
