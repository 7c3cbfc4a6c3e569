use super::*;
use maillage_core::SigningKey;
use serde_json::json;
use std::path::Path;

/// Writes and waits until it is durable, as every way in does before it answers.
trait Put {
    fn put(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error>;
}

impl Put for Engine {
    fn put(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error> {
        let written = self.apply(record)?;
        self.sync(written.2)?;
        Ok(written)
    }
}

fn org(key: &SigningKey, id: &str, seq: u64, body: serde_json::Value) -> Record {
    let body = Body::from_json(Kind::Organisation, body).unwrap();
    Record::sign(
        key,
        Kind::Organisation,
        id.parse().unwrap(),
        seq,
        1_700_000_000_000,
        body,
    )
    .unwrap()
}

#[test]
fn merge_outcomes_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[1; 32]);
    let v1 = org(&key, "a", 1, json!({"name": "One"}));
    let v2 = org(&key, "a", 2, json!({"name": "Two"}));
    let v2b = org(&key, "a", 2, json!({"name": "Two bis"}));
    {
        let store = Engine::open(dir.path()).unwrap();
        assert_eq!(store.apply(v1.clone()).unwrap().0, Outcome::New);
        assert_eq!(store.apply(v1.clone()).unwrap().0, Outcome::Duplicate);
        let (outcome, _, ticket) = store.apply(v2.clone()).unwrap();
        assert_eq!(outcome, Outcome::Replaced);
        assert_eq!(
            store.apply(v1.clone()).unwrap().0,
            Outcome::Stale { current: 2 }
        );
        let (outcome, ..) = store.apply(v2b.clone()).unwrap();
        let lower = v2.hash().min(v2b.hash());
        assert_eq!(
            outcome,
            Outcome::Equivocation {
                won: v2b.hash() == lower
            }
        );
        store.sync(ticket + 1).unwrap();
    }
    let store = Engine::open(dir.path()).unwrap();
    let got = store.get(&v1.address()).unwrap().unwrap();
    assert_eq!(got.record.hash(), v2.hash().min(v2b.hash()));
    assert!(got.equivocation);
    let summary = store.summary().unwrap();
    // The current version, and the losing one kept as evidence of the equivocation.
    assert_eq!(summary.versions, 2);
    let loser = v2.hash().max(v2b.hash());
    assert_eq!(
        Hash::of(&store.bytes_by_hash(&loser).unwrap().unwrap()),
        loser
    );
    assert_eq!(store.items().unwrap().len(), 2);
    assert_eq!(summary.records[0], (Kind::Organisation, 1));
    // The change log holds the address once, at its latest change.
    let changes = store.changes(0, 10).unwrap();
    assert_eq!(changes.len(), 1);
}

#[test]
fn digest_depends_on_the_set_not_the_order() {
    let key = SigningKey::from_bytes(&[2; 32]);
    let records: Vec<Record> = (0..20)
        .map(|i| {
            org(
                &key,
                &format!("o{}", i % 7),
                1 + i / 7,
                json!({"name": format!("Org {i}")}),
            )
        })
        .collect();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (sa, sb) = (
        Engine::open(a.path()).unwrap(),
        Engine::open(b.path()).unwrap(),
    );
    for r in &records {
        sa.put(r.clone()).unwrap();
    }
    for r in records.iter().rev() {
        sb.put(r.clone()).unwrap();
    }
    assert_eq!(
        sa.summary().unwrap(),
        Summary {
            last_change: sa.summary().unwrap().last_change,
            ..sb.summary().unwrap()
        }
    );
    let c = tempfile::tempdir().unwrap();
    let sc = Engine::open(c.path()).unwrap();
    for r in &records[..19] {
        sc.put(r.clone()).unwrap();
    }
    assert_ne!(sc.summary().unwrap().digest, sa.summary().unwrap().digest);
}

#[test]
fn equivocations_converge_in_any_order() {
    let key = SigningKey::from_bytes(&[4; 32]);
    let versions: Vec<Record> = (0..4)
        .map(|i| org(&key, "x", 3, json!({"name": format!("Version {i}")})))
        .collect();
    let mut hashes: Vec<Hash> = versions.iter().map(Record::hash).collect();
    hashes.sort();
    let orders: [&[usize]; 3] = [&[0, 1, 2, 3], &[3, 2, 1, 0], &[2, 0, 3, 1]];
    let mut summaries = vec![];
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let store = Engine::open(dir.path()).unwrap();
        for i in order {
            store.put(versions[*i].clone()).unwrap();
        }
        let current = store.get(&versions[0].address()).unwrap().unwrap();
        assert_eq!(current.record.hash(), hashes[0]);
        assert!(current.equivocation);
        let held: Vec<Hash> = store.items().unwrap().into_iter().map(|(_, h)| h).collect();
        assert_eq!(held.len(), 2);
        assert!(held.contains(&hashes[0]) && held.contains(&hashes[1]));
        summaries.push(store.summary().unwrap().digest);
    }
    assert!(summaries.iter().all(|d| *d == summaries[0]));
    // A newer version settles it: evidence and flag go.
    let dir = tempfile::tempdir().unwrap();
    let store = Engine::open(dir.path()).unwrap();
    for v in &versions {
        store.put(v.clone()).unwrap();
    }
    store
        .put(org(&key, "x", 4, json!({"name": "Settled"})))
        .unwrap();
    assert!(
        !store
            .get(&versions[0].address())
            .unwrap()
            .unwrap()
            .equivocation
    );
    assert_eq!(store.summary().unwrap().versions, 1);
}

#[test]
fn search_pages_neither_repeat_nor_skip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Engine::open(dir.path()).unwrap();
    let key = SigningKey::from_bytes(&[3; 32]);
    for i in 0..25 {
        let country = if i % 2 == 0 { "SN" } else { "FR" };
        store
            .put(org(
                &key,
                &format!("org-{i}"),
                1,
                json!({"name": format!("Coop {i}"), "countries": [country]}),
            ))
            .unwrap();
    }
    let mut q = Query::new(Kind::Organisation);
    q.country = Some("SN".into());
    q.limit = 5;
    let mut seen = Vec::new();
    loop {
        let page = store.search(&q).unwrap();
        seen.extend(page.items.iter().map(|s| s.record.id.to_string()));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<String> = (0..25)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("org-{i}"))
        .collect();
    expected.sort();
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(seen.len(), 13, "no repeats");
}

/// Everything a reader sees, for comparing a store with itself after a reopen.
fn view(store: &Engine) -> Vec<String> {
    let mut q = Query::new(Kind::Organisation);
    q.text = Some("coopérative".into());
    let words = store.search(&q).unwrap();
    let mut q = Query::new(Kind::Organisation);
    q.near = Some((14.69, -17.44, 70.0));
    let near = store.search(&q).unwrap();
    let mut q = Query::new(Kind::Collaboration);
    q.confirmed = Some(true);
    let confirmed = store.search(&q).unwrap();
    let ids = |p: &Page| {
        p.items
            .iter()
            .map(|s| s.record.id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    vec![
        ids(&words),
        ids(&near),
        ids(&confirmed),
        format!("{:?}", store.summary().unwrap()),
        format!("{:?}", store.items().unwrap()),
        store
            .changes(0, 100)
            .unwrap()
            .iter()
            .map(|s| format!("{}@{}", s.record.id, s.change))
            .collect::<Vec<_>>()
            .join(","),
    ]
}

#[test]
fn reopening_rebuilds_what_memory_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SigningKey::from_bytes(&[5; 32]),
        SigningKey::from_bytes(&[6; 32]),
    );
    let dakar = json!({"name": "Coopérative de Dakar", "location": {"lat": 14.7, "lon": -17.4}});
    let records = vec![
        org(&a, "dakar", 1, dakar),
        org(&a, "lyon", 1, json!({"name": "Coopérative de Lyon"})),
        org(&a, "lyon", 2, json!({"name": "Lyon, renamed"})),
        org(
            &b,
            "thies",
            1,
            json!({"name": "Thiès", "location": {"lat": 14.79, "lon": -16.93}}),
        ),
    ];
    let collab = Record::sign(
        &a,
        Kind::Collaboration,
        "work".parse().unwrap(),
        1,
        1_700_000_000_000,
        Body::from_json(
            Kind::Collaboration,
            json!({"title": "Together", "parties": [
                {"ref": records[0].address().to_string(), "role": "coordinator"},
                {"ref": records[3].address().to_string(), "role": "partner"}]}),
        )
        .unwrap(),
    )
    .unwrap();
    let endorsement = Record::sign(
        &b,
        Kind::Endorsement,
        "yes".parse().unwrap(),
        1,
        1_700_000_000_000,
        Body::from_json(
            Kind::Endorsement,
            json!({"target": collab.address().to_string(), "stance": "confirmed"}),
        )
        .unwrap(),
    )
    .unwrap();
    let before = {
        let store = Engine::open(dir.path()).unwrap();
        let mut ticket = 0;
        for r in records.into_iter().chain([collab, endorsement]) {
            ticket = store.put(r).unwrap().2;
        }
        store.sync(ticket).unwrap();
        view(&store)
    };
    assert_eq!(
        before[0], "dakar",
        "the renamed version is no longer found by its old name"
    );
    assert_eq!(before[1], "dakar,thies");
    assert_eq!(before[2], "work");
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(view(&store), before);
}

#[test]
fn purged_positions_are_not_handed_out_again() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[8; 32]),
    );
    let last = {
        let store = Engine::open(dir.path()).unwrap();
        store
            .put(org(&a, "kept", 1, json!({"name": "Kept"})))
            .unwrap();
        let (_, stored, ticket) = store
            .put(org(&b, "gone", 1, json!({"name": "Gone"})))
            .unwrap();
        store.sync(ticket).unwrap();
        assert_eq!(store.purge_author(&Author::from(&b)).unwrap(), 1);
        assert_eq!(store.author_count(&Author::from(&b)).unwrap(), 0);
        stored.change
    };
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(store.summary().unwrap().versions, 1);
    // Allowed again later, the author starts from nothing, and stays so across a reopen.
    let (_, _, ticket) = store
        .put(org(&b, "back", 1, json!({"name": "Back"})))
        .unwrap();
    store.sync(ticket).unwrap();
    drop(store);
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(store.author_count(&Author::from(&b)).unwrap(), 1);
    assert_eq!(store.summary().unwrap().versions, 2);
    let (_, stored, _) = store
        .put(org(&a, "new", 1, json!({"name": "New"})))
        .unwrap();
    assert!(
        stored.change > last,
        "a reader at change {last} must see the new record"
    );
}

#[test]
fn a_store_of_an_earlier_layout_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // What the earlier, sled-based store left in its folder.
    std::fs::write(dir.path().join("conf"), "segment_size: 524288\n").unwrap();
    std::fs::write(dir.path().join("db"), [0u8; 64]).unwrap();
    let err = Engine::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("move that folder away"), "{err}");
}

fn log_bytes(dir: &Path) -> (usize, u64) {
    let files: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    (files.len(), files.iter().sum())
}

#[test]
fn compaction_bounds_the_log_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        SigningKey::from_bytes(&[9; 32]),
        SigningKey::from_bytes(&[10; 32]),
    );
    let segment = 4096;
    let before = {
        let store = Engine::with_segments_of(dir.path(), segment).unwrap();
        store
            .put(org(&b, "purged", 1, json!({"name": "Purged"})))
            .unwrap();
        store.purge_author(&Author::from(&b)).unwrap();
        // Ten addresses rewritten forty times: all but the last versions are dead.
        for seq in 1..=40 {
            for i in 0..10 {
                let (_, _, ticket) = store
                    .put(org(
                        &a,
                        &format!("org-{i}"),
                        seq,
                        json!({"name": format!("Coopérative {i}, version {seq}")}),
                    ))
                    .unwrap();
                store.sync(ticket).unwrap();
            }
        }
        view(&store)
    };
    let (files, bytes) = log_bytes(dir.path());
    // 400 frames of about 200 bytes were written; what is needed is 10 of them and the purge.
    assert!(bytes < 6 * segment, "{files} segments, {bytes} bytes");
    let store = Engine::with_segments_of(dir.path(), segment).unwrap();
    assert_eq!(view(&store), before);
    assert_eq!(before[0].split(',').count(), 10, "{before:?}");
    assert_eq!(store.summary().unwrap().versions, 10);
    let q = Query {
        author: Some(Author::from(&b)),
        ..Query::new(Kind::Organisation)
    };
    assert!(
        store.search(&q).unwrap().items.is_empty(),
        "the purge outlives compaction"
    );
    let current = store
        .get(&org(&a, "org-3", 1, json!({"name": "x"})).address())
        .unwrap()
        .unwrap();
    assert_eq!(current.record.seq, 40);
}
