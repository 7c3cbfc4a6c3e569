//! The store suite: what any engine behind [`Store`] must do, run on every engine there is
//! (today, the record log). Each test opens stores through [`ENGINES`], and reopens them on
//! the same folder where it checks what survives.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use maillage_core::body::Body;
use maillage_core::{Author, Hash, Kind, Record, SigningKey};
use maillage_store::{Engine, Error, Outcome, Store, Stored, Summary, Ticket};
use serde_json::json;

type Open = fn(&Path) -> Arc<dyn Store>;

const ENGINES: [(&str, Open); 1] = [("record log", |dir| {
    Arc::new(Engine::open(dir).expect("the store opens"))
})];

/// Runs `test` on every engine.
fn each(test: impl Fn(Open)) {
    for (name, open) in ENGINES {
        eprintln!("engine: {name}");
        test(open);
    }
}

/// Writes and waits until it is durable, as every way in does before it answers.
trait Put {
    fn put(&self, record: Record) -> Result<(Outcome, Stored, Ticket), Error>;
}

impl Put for dyn Store {
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
fn a_version_is_seen_only_once_durable() {
    each(|open| {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let key = SigningKey::from_bytes(&[11; 32]);
        let v1 = org(&key, "a", 1, json!({"name": "Coopérative"}));
        let (outcome, stored, ticket) = store.apply(v1.clone()).unwrap();
        assert_eq!(outcome, Outcome::New);
        assert_eq!(stored.record.hash(), v1.hash());
        // Decided, not yet durable: no reader sees it, and what comes next is compared with it.
        assert!(store.get(&v1.address()).unwrap().is_none());
        assert!(store.changes(0, 10).unwrap().is_empty());
        assert_eq!(store.summary().unwrap().versions, 0);
        assert!(store.items().unwrap().is_empty());
        assert!(store.document(stored.doc).unwrap().is_none());
        let (again, _, same) = store.apply(v1.clone()).unwrap();
        assert_eq!(again, Outcome::Duplicate);
        assert_eq!(
            same, ticket,
            "a duplicate is durable when the version it repeats is"
        );
        store.sync(ticket).unwrap();
        assert_eq!(
            store.get(&v1.address()).unwrap().unwrap().record.hash(),
            v1.hash()
        );
        assert_eq!(store.changes(0, 10).unwrap().len(), 1);
        assert_eq!(store.summary().unwrap().versions, 1);
        // Already durable: its duplicate needs no flush.
        let (_, _, none) = store.apply(v1).unwrap();
        assert_eq!(none, 0);
    });
}

#[test]
fn change_positions_only_grow_across_reopening() {
    each(|open| {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[12; 32]);
        let mut seen = 0;
        for round in 0..3u64 {
            let store = open(dir.path());
            for i in 0..5u64 {
                let record = org(
                    &key,
                    &format!("o{i}"),
                    round + 1,
                    json!({"name": format!("Org {i}.{round}")}),
                );
                store.put(record).unwrap();
            }
            // Written and never flushed: no reader saw its position, and whether it is found
            // after the reopen or not, nothing a reader saw is handed out again.
            let unflushed = org(&key, "unflushed", round + 1, json!({"name": "Unflushed"}));
            let (_, staged, _) = store.apply(unflushed).unwrap();
            assert!(staged.change > seen);
            let changes = store.changes(seen, 100).unwrap();
            let written = changes
                .iter()
                .filter(|s| s.record.id.to_string() != "unflushed");
            assert_eq!(written.count(), 5, "round {round}");
            assert!(changes.iter().all(|s| s.change > seen));
            seen = changes.iter().map(|s| s.change).max().unwrap();
        }
    });
}

#[test]
fn merge_outcomes_and_reopen() {
    each(|open| {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[1; 32]);
        let v1 = org(&key, "a", 1, json!({"name": "One"}));
        let v2 = org(&key, "a", 2, json!({"name": "Two"}));
        let v2b = org(&key, "a", 2, json!({"name": "Two bis"}));
        {
            let store = open(dir.path());
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
        let store = open(dir.path());
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
    });
}

#[test]
fn digest_depends_on_the_set_not_the_order() {
    each(|open| {
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
        let (sa, sb) = (open(a.path()), open(b.path()));
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
        let sc = open(c.path());
        for r in &records[..19] {
            sc.put(r.clone()).unwrap();
        }
        assert_ne!(sc.summary().unwrap().digest, sa.summary().unwrap().digest);
    });
}

#[test]
fn equivocations_converge_in_any_order() {
    each(|open| {
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
            let store = open(dir.path());
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
        let store = open(dir.path());
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
    });
}

#[test]
fn reopening_rebuilds_what_memory_holds() {
    each(|open| {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            SigningKey::from_bytes(&[5; 32]),
            SigningKey::from_bytes(&[6; 32]),
        );
        let dakar =
            json!({"name": "Coopérative de Dakar", "location": {"lat": 14.7, "lon": -17.4}});
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
            let store = open(dir.path());
            let mut ticket = 0;
            for r in records.into_iter().chain([collab, endorsement]) {
                ticket = store.put(r).unwrap().2;
            }
            store.sync(ticket).unwrap();
            view(&*store)
        };
        assert!(
            before[0].contains("collaboration/work#3:Confirmation { verdict: Confirmed"),
            "{before:?}"
        );
        let store = open(dir.path());
        assert_eq!(view(&*store), before);
    });
}

#[test]
fn purged_positions_are_not_handed_out_again() {
    each(|open| {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            SigningKey::from_bytes(&[7; 32]),
            SigningKey::from_bytes(&[8; 32]),
        );
        let last = {
            let store = open(dir.path());
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
        let store = open(dir.path());
        assert_eq!(store.summary().unwrap().versions, 1);
        // Allowed again later, the author starts from nothing, and stays so across a reopen.
        let (_, _, ticket) = store
            .put(org(&b, "back", 1, json!({"name": "Back"})))
            .unwrap();
        store.sync(ticket).unwrap();
        drop(store);
        let store = open(dir.path());
        assert_eq!(store.author_count(&Author::from(&b)).unwrap(), 1);
        assert_eq!(store.summary().unwrap().versions, 2);
        let (_, stored, _) = store
            .put(org(&a, "new", 1, json!({"name": "New"})))
            .unwrap();
        assert!(
            stored.change > last,
            "a reader at change {last} must see the new record"
        );
    });
}

/// Everything a reader sees, for comparing a store with itself after a reopen.
fn view(store: &dyn Store) -> Vec<String> {
    // Every document by its number, with its confirmation if it is a collaboration.
    let documents: Vec<String> = (0..1_000)
        .filter_map(|doc| store.document(doc).unwrap())
        .map(|s| {
            let confirmation = store.confirmation(&s.record).unwrap();
            format!("{}#{}:{confirmation:?}", s.record.address(), s.doc)
        })
        .collect();
    vec![
        documents.join(","),
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
