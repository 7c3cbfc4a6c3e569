//! Search over a real store on disk, with the index following it as on a node.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use maillage_core::body::Body;
use maillage_core::{Kind, Record, SigningKey};
use maillage_search::{Query, Search};
use maillage_store::{Engine, Store};
use serde_json::{Value, json};

fn sign(key: &SigningKey, kind: Kind, id: &str, seq: u64, body: Value) -> Record {
    let body = Body::from_json(kind, body).unwrap();
    Record::sign(
        key,
        kind,
        id.parse().unwrap(),
        seq,
        1_700_000_000_000 + seq,
        body,
    )
    .unwrap()
}

fn put(store: &dyn Store, record: Record) {
    let (_, _, ticket) = store.apply(record).unwrap();
    store.sync(ticket).unwrap();
}

/// A store in `dir/store` and its index in `dir/search`.
fn open(dir: &Path) -> (Arc<dyn Store>, Search) {
    let store: Arc<dyn Store> = Arc::new(Engine::open(&dir.join("store")).unwrap());
    let search = Search::open(&dir.join("search"), store.clone()).unwrap();
    (store, search)
}

/// Waits until search covers every change the store has made.
fn settle(store: &dyn Store, search: &Search) {
    let last = store.summary().unwrap().last_change;
    assert!(
        search.wait_for(last, Duration::from_secs(20)),
        "search covers change {last}"
    );
}

fn ask(search: &Search, kind: Kind, params: &[(&str, &str)]) -> maillage_search::Results {
    search
        .search(&Query::from_params(kind, params.iter().copied()).unwrap())
        .unwrap()
}

fn ids(results: &maillage_search::Results) -> Vec<String> {
    results
        .items
        .iter()
        .map(|s| s.record.id.to_string())
        .collect()
}

fn found(search: &Search, q: &str) -> BTreeSet<String> {
    ids(&ask(search, Kind::Organisation, &[("q", q)]))
        .into_iter()
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn text_is_found_as_people_write_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let key = SigningKey::from_bytes(&[1; 32]);
    let orgs = [
        (
            "thies",
            json!({"name": "Coopérative des femmes de Thiès", "address": {"locality": "Thiès", "country": "SN"}}),
        ),
        (
            "green",
            json!({"name": "Green Co-operative", "description": {"en": "Farming cooperatives of the valley"}}),
        ),
        (
            "eco",
            json!({"name": "Réseau l'Économie solidaire", "description": {"fr": "Des coopératives solidaires"}}),
        ),
        (
            "pt",
            json!({"name": "Rede Brasil", "description": {"pt": "Apoio às cooperativas"}}),
        ),
        (
            "es",
            json!({"name": "Red Andina", "description": {"es": "Economía de las cooperativas"}}),
        ),
        (
            "de",
            json!({"name": "Netzwerk", "description": {"de": "Verband der Genossenschaften"}}),
        ),
        (
            "it",
            json!({"name": "Rete Italia", "description": {"it": "Le cooperative sociali"}}),
        ),
        (
            "other",
            json!({"name": "Unrelated", "description": {"en": "Housing"}}),
        ),
    ];
    for (id, body) in orgs {
        put(store.as_ref(), sign(&key, Kind::Organisation, id, 1, body));
    }
    settle(store.as_ref(), &search);
    // Folding: case, accents.
    assert_eq!(found(&search, "Thies"), set(&["thies"]));
    assert_eq!(found(&search, "THIÈS"), set(&["thies"]));
    // Hyphens and apostrophes: a compound is found written joined, split, or hyphenated.
    assert_eq!(
        found(&search, "cooperative"),
        found(&search, "co-operative")
    );
    assert!(found(&search, "cooperative").is_superset(&set(&["thies", "green"])));
    let split = ids(&ask(&search, Kind::Organisation, &[("q", "operative")]));
    assert_eq!(
        split[0], "green",
        "the split word first, then two typos away: {split:?}"
    );
    assert!(found(&search, "economie").contains("eco"));
    assert_eq!(found(&search, "l'économie"), found(&search, "economie"));
    // Prefix, as people type.
    assert!(found(&search, "coop").is_superset(&set(&["thies", "green", "eco", "pt", "es", "it"])));
    assert_eq!(found(&search, "solidai"), set(&["eco"]));
    // Stemming in the description's language: the first word of each is found in another
    // form, and only by its stem (typos and prefixes are not looked for in descriptions,
    // nor prefixes but of the last word).
    assert_eq!(found(&search, "farm valley"), set(&["green"]));
    assert_eq!(found(&search, "coopérative économie"), set(&["eco"]));
    assert_eq!(found(&search, "cooperativa apoio"), set(&["pt"]));
    assert_eq!(found(&search, "cooperativa economia"), set(&["es"]));
    assert_eq!(found(&search, "cooperativa sociali"), set(&["it"]));
    assert_eq!(found(&search, "Genossenschaft Verband"), set(&["de"]));
    // A typo in a longer word.
    assert_eq!(found(&search, "Netzwrek"), set(&["de"]));
    assert!(found(&search, "cooprative").contains("green"));
    // Every word must be found.
    assert_eq!(found(&search, "femmes Thiès"), set(&["thies"]));
    assert!(found(&search, "femmes Housing").is_empty());
    // Names weigh more than descriptions.
    let ranked = ids(&ask(&search, Kind::Organisation, &[("q", "cooperative")]));
    let name = ranked.iter().position(|i| i == "green").unwrap();
    let description = ranked.iter().position(|i| i == "eco").unwrap();
    assert!(name < description, "{ranked:?}");
}

/// Organisations over a grid of countries, types and places.
fn directory(store: &dyn Store, key: &SigningKey, n: usize, seq: u64) {
    let countries = ["SN", "FR", "BR", "IN", "CA"];
    let types = ["network", "initiative", "support"];
    for i in 0..n {
        let lat = 10.0 + (i % 10) as f64;
        let lon = -20.0 + (i % 7) as f64;
        put(
            store,
            sign(
                key,
                Kind::Organisation,
                &format!("org-{i}"),
                seq,
                json!({
                    "name": format!("Coopérative {i}"),
                    "countries": [countries[i % 5]],
                    "type": types[i % 3],
                    "regions": if i % 4 == 0 { json!(["africa"]) } else { json!([]) },
                    "location": {"lat": lat, "lon": lon},
                }),
            ),
        );
    }
}

/// Every page of a search, followed by its cursors.
fn every_page(search: &Search, mut q: Query) -> Vec<String> {
    let mut seen = vec![];
    loop {
        let page = search.search(&q).unwrap();
        seen.extend(ids(&page));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return seen,
        }
    }
}

#[test]
fn facets_and_totals_count_what_matches() {
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let key = SigningKey::from_bytes(&[2; 32]);
    directory(store.as_ref(), &key, 120, 1);
    settle(store.as_ref(), &search);
    let results = ask(
        &search,
        Kind::Organisation,
        &[("type", "network"), ("limit", "7")],
    );
    assert_eq!(results.total, 40);
    assert_eq!(results.items.len(), 7);
    let facets: BTreeMap<&str, &Vec<(String, u64)>> =
        results.facets.iter().map(|(f, v)| (f.name(), v)).collect();
    // Each count is the number of records the filter and the facet's value find together.
    for (value, count) in facets["country"] {
        let with = ask(
            &search,
            Kind::Organisation,
            &[("type", "network"), ("country", value), ("limit", "500")],
        );
        assert_eq!(with.total, *count, "{value}");
        assert_eq!(with.items.len() as u64, *count, "{value}");
    }
    assert_eq!(facets["country"].iter().map(|(_, c)| c).sum::<u64>(), 40);
    assert_eq!(*facets["type"], [("network".to_owned(), 40)]);
    assert_eq!(facets["region"].iter().map(|(_, c)| c).sum::<u64>(), 10);
    assert_eq!(facets["author"][0].1, 40);
    // Paging: every page says the same total, and together they hold each match once.
    let q = Query::from_params(Kind::Organisation, [("country", "SN"), ("limit", "4")]).unwrap();
    let all = every_page(&search, q);
    assert_eq!(all.len(), 24);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 24);
}

#[test]
fn places_are_found_by_box_and_by_distance() {
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let key = SigningKey::from_bytes(&[3; 32]);
    directory(store.as_ref(), &key, 70, 1);
    settle(store.as_ref(), &search);
    // Latitudes 10..19 by i % 10, longitudes -20..-14 by i % 7: the box holds lat 10..11,
    // lon -20..-19.
    let boxed = ask(
        &search,
        Kind::Organisation,
        &[("bbox", "-20.5,9.5,-18.5,11.5"), ("limit", "500")],
    );
    let expected = (0..70).filter(|i| i % 10 < 2 && i % 7 < 2).count() as u64;
    assert_eq!(boxed.total, expected);
    assert!(boxed.total > 0);
    // 50 km around (10, -20): only that point.
    let near = ask(
        &search,
        Kind::Organisation,
        &[("near", "10,-20,50"), ("limit", "500")],
    );
    assert_eq!(
        near.total,
        (0..70).filter(|i| i % 10 == 0 && i % 7 == 0).count() as u64
    );
    // A box across the antimeridian finds nothing here, and is not refused.
    assert_eq!(
        ask(&search, Kind::Organisation, &[("bbox", "170,-10,-170,10")]).total,
        0
    );
}

#[test]
fn pages_stay_stable_while_writes_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let key = SigningKey::from_bytes(&[4; 32]);
    directory(store.as_ref(), &key, 200, 1);
    settle(store.as_ref(), &search);
    for sort in ["name", "updated", "relevance"] {
        let writer = {
            let store = store.clone();
            let key = SigningKey::from_bytes(&[5; 32]);
            std::thread::spawn(move || {
                for i in 0..150 {
                    put(
                        store.as_ref(),
                        sign(
                            &key,
                            Kind::Organisation,
                            &format!("{sort}-{i}"),
                            1,
                            json!({"name": format!("Coopérative nouvelle {i}")}),
                        ),
                    );
                }
            })
        };
        let mut params = vec![("sort", sort), ("limit", "9"), ("author", "")];
        let did = maillage_core::Author::from(&key).did();
        params[2].1 = &did;
        if sort == "relevance" {
            params.push(("q", "cooperative"));
        }
        let mut q = Query::from_params(Kind::Organisation, params.iter().copied()).unwrap();
        let mut seen = vec![];
        loop {
            let page = search.search(&q).unwrap();
            seen.extend(ids(&page));
            std::thread::sleep(Duration::from_millis(20));
            match page.next {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        writer.join().unwrap();
        let distinct: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), 200, "sort={sort}: each record once");
        assert_eq!(distinct.len(), 200, "sort={sort}");
    }
}

#[test]
fn the_index_is_rebuilt_when_missing_or_damaged_and_reused_when_sound() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[6; 32]);
    let view = |search: &Search| {
        (
            ids(&ask(
                search,
                Kind::Organisation,
                &[("q", "coop"), ("limit", "500")],
            )),
            format!(
                "{:?}",
                ask(search, Kind::Organisation, &[("country", "FR")]).facets
            ),
        )
    };
    let before = {
        let (store, search) = open(dir.path());
        directory(store.as_ref(), &key, 60, 1);
        settle(store.as_ref(), &search);
        view(&search)
    };
    assert_eq!(before.0.len(), 60);
    // Reopened as it was: it covers everything at once, without a rebuild.
    {
        let (store, search) = open(dir.path());
        assert_eq!(search.covered(), store.summary().unwrap().last_change);
        assert_eq!(view(&search), before);
    }
    // Deleted: built again from the store.
    std::fs::remove_dir_all(dir.path().join("search")).unwrap();
    {
        let (store, search) = open(dir.path());
        settle(store.as_ref(), &search);
        assert_eq!(view(&search), before);
    }
    // Damaged: the same.
    std::fs::write(dir.path().join("search/meta.json"), b"{ not json").unwrap();
    let (store, search) = open(dir.path());
    settle(store.as_ref(), &search);
    assert_eq!(view(&search), before);
}

#[test]
fn deletions_purges_and_confirmations_reach_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let (a, b) = (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[8; 32]),
    );
    let org_a = sign(&a, Kind::Organisation, "a", 1, json!({"name": "Réseau A"}));
    let org_b = sign(&b, Kind::Organisation, "b", 1, json!({"name": "Réseau B"}));
    let collab = sign(
        &a,
        Kind::Collaboration,
        "together",
        1,
        json!({"title": "Ensemble", "start": "2021", "end": "2023", "parties": [
            {"ref": org_a.address().to_string(), "role": "coordinator"},
            {"ref": org_b.address().to_string(), "role": "partner"}]}),
    );
    for r in [org_a.clone(), org_b.clone(), collab.clone()] {
        put(store.as_ref(), r);
    }
    settle(store.as_ref(), &search);
    let confirmed =
        |search: &Search| ask(search, Kind::Collaboration, &[("confirmed", "true")]).total;
    assert_eq!(confirmed(&search), 0);
    assert_eq!(
        ask(&search, Kind::Collaboration, &[("year", "2022")]).total,
        1
    );
    assert_eq!(
        ask(&search, Kind::Collaboration, &[("year", "2024")]).total,
        0
    );
    let party = org_b.address().to_string();
    assert_eq!(
        ask(&search, Kind::Collaboration, &[("party", &party)]).total,
        1
    );
    // B endorses: the collaboration is now confirmed by both parties' networks.
    put(
        store.as_ref(),
        sign(
            &b,
            Kind::Endorsement,
            "yes",
            1,
            json!({"target": collab.address().to_string(), "stance": "confirmed"}),
        ),
    );
    settle(store.as_ref(), &search);
    assert_eq!(confirmed(&search), 1);
    // A tombstone leaves search.
    let tombstone = Record::sign(
        &a,
        Kind::Organisation,
        "a".parse().unwrap(),
        2,
        1_700_000_000_002,
        Body::Deleted,
    );
    put(store.as_ref(), tombstone.unwrap());
    settle(store.as_ref(), &search);
    assert_eq!(
        ask(&search, Kind::Organisation, &[("q", "Réseau")]).total,
        1
    );
    // A party deleted: the collaboration, indexed long before, is no longer confirmed.
    assert_eq!(confirmed(&search), 0);
    // A network's members: those that name it in `member_of`.
    let member = sign(
        &a,
        Kind::Organisation,
        "member",
        1,
        json!({"name": "Membre", "member_of": [party.clone()]}),
    );
    put(store.as_ref(), member);
    settle(store.as_ref(), &search);
    let members = ask(&search, Kind::Organisation, &[("member_of", &party)]);
    assert_eq!(ids(&members), ["member"]);
    // A purge takes everything of its author out.
    store
        .purge_author(&maillage_core::Author::from(&b))
        .unwrap();
    settle(store.as_ref(), &search);
    assert_eq!(
        ask(&search, Kind::Organisation, &[("q", "Réseau")]).total,
        0
    );
}

#[test]
fn changes_that_fill_whole_batches_are_covered() {
    // Exactly two of the indexer's reads, and nothing after them: both are committed.
    let dir = tempfile::tempdir().unwrap();
    let (store, search) = open(dir.path());
    let key = SigningKey::from_bytes(&[9; 32]);
    for i in 0..2 * maillage_search::BATCH {
        let (_, _, ticket) = store
            .apply(sign(
                &key,
                Kind::Organisation,
                &format!("o-{i}"),
                1,
                json!({"name": format!("Org {i}")}),
            ))
            .unwrap();
        if i + 1 == 2 * maillage_search::BATCH {
            store.sync(ticket).unwrap();
        }
    }
    settle(store.as_ref(), &search);
    assert_eq!(
        ask(&search, Kind::Organisation, &[("limit", "1")]).total,
        2 * maillage_search::BATCH as u64
    );
}
