#![allow(clippy::unwrap_used)]
#[path = "../src/data.rs"]
#[allow(dead_code)]
mod data;
use maillage_core::Record;
fn main() {
    let records = data::records(
        &data::authors(50),
        2000,
        1,
        maillage_store::ingest::now_ms(),
    );
    let bytes: Vec<Vec<u8>> = records.iter().map(|r| r.bytes().to_vec()).collect();
    let t = std::time::Instant::now();
    for _ in 0..50 {
        for b in &bytes {
            std::hint::black_box(Record::decode_unverified(b).unwrap());
        }
    }
    println!("decode {:?}/rec", t.elapsed() / 100000);
}
