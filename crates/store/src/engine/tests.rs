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
fn a_store_of_an_earlier_layout_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // What the earlier, sled-based store left in its folder.
    std::fs::write(dir.path().join("conf"), "segment_size: 524288\n").unwrap();
    std::fs::write(dir.path().join("db"), [0u8; 64]).unwrap();
    let err = Engine::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("move that folder away"), "{err}");
}

/// What a reader sees, for comparing a store with itself after a reopen.
fn view(store: &Engine) -> Vec<String> {
    let mut view: Vec<String> = (0..100)
        .filter_map(|doc| store.document(doc).unwrap())
        .map(|s| format!("{}#{}", s.record.id, s.doc))
        .collect();
    view.sort();
    vec![
        view.join(","),
        format!("{:?}", store.summary().unwrap()),
        format!("{:?}", store.items().unwrap()),
        format!(
            "{:?}",
            store
                .changes(0, 100)
                .unwrap()
                .iter()
                .map(|s| s.change)
                .collect::<Vec<_>>()
        ),
    ]
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
    assert_eq!(
        store.author_count(&Author::from(&b)).unwrap(),
        0,
        "the purge outlives compaction"
    );
    let current = store
        .get(&org(&a, "org-3", 1, json!({"name": "x"})).address())
        .unwrap()
        .unwrap();
    assert_eq!(current.record.seq, 40);
}

#[test]
fn compaction_moves_a_version_that_changed_roles_while_it_was_copied() {
    use super::memory::{Arrival, Memory, Merge, Owner, Version};
    let key = SigningKey::from_bytes(&[13; 32]);
    let (a, b) = (
        org(&key, "x", 1, json!({"name": "A"})),
        org(&key, "x", 1, json!({"name": "B"})),
    );
    let (low, high) = if a.hash() < b.hash() { (a, b) } else { (b, a) };
    let at = |segment, offset| Location {
        segment,
        offset,
        len: 100,
    };
    let address = address_id(&high.address());
    let mut m = Memory::default();
    let held = Version::of(&high, 1, at(1, 0));
    m.take(address, 0, Arrival::of(&high, held), Merge::New, None);
    // Compaction lists the current version in segment 1 and copies it to segment 3…
    let frames = m.frames_in(1);
    assert_eq!(frames.len(), 1);
    // …while an equivocating version with a lower hash wins: the copied one becomes evidence.
    let winner = Version::of(&low, 2, at(2, 0));
    let old = Arrival::of(&high, held);
    m.take(
        address,
        0,
        Arrival::of(&low, winner),
        Merge::Win,
        Some(&old),
    );
    assert!(matches!(frames[0].0, Owner::Version(0)));
    assert!(m.relocate(frames[0].0, at(1, 0), at(3, 0)));
    let slot = m.at(0).unwrap();
    assert_eq!(slot.current.at, at(2, 0));
    assert_eq!(slot.evidence.map(|e| e.at), Some(at(3, 0)));
    // A version no longer held is not moved.
    assert!(!m.relocate(Owner::Version(0), at(1, 0), at(4, 0)));
}

fn write_out(snapshot: &Snapshot, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in &snapshot.files {
        let mut out = std::fs::File::create(to.join(&file.name)).unwrap();
        let copied = std::io::copy(&mut file.reader(), &mut out).unwrap();
        assert_eq!(copied, file.len, "{}", file.name);
    }
}

#[test]
fn a_snapshot_taken_while_writers_and_compaction_go_on_holds_every_acknowledged_version() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[21; 32]);
    let store = Arc::new(Engine::with_segments_of(&dir.path().join("store"), 4096).unwrap());
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let copied = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (store, acked, key, copied) =
            (store.clone(), acked.clone(), key.clone(), copied.clone());
        std::thread::spawn(move || {
            // Eight addresses rewritten over and over: most frames die, compaction runs.
            for seq in 1..=150 {
                // A copy is taken at least every ten rounds, however fast the disk.
                while copied.load(std::sync::atomic::Ordering::SeqCst) < seq / 10 {
                    std::thread::yield_now();
                }
                for i in 0..8 {
                    let id = format!("org-{i}");
                    let body = json!({"name": format!("Coopérative {i}, version {seq}")});
                    store.put(org(&key, &id, seq, body)).unwrap();
                    acked.lock().unwrap().insert(id, seq);
                }
            }
        })
    };
    let mut copies = 0;
    while !writer.is_finished() {
        let before = acked.lock().unwrap().clone();
        let snapshot = store.snapshot().unwrap();
        let to = dir.path().join(format!("copy-{copies}"));
        write_out(&snapshot, &to);
        let copy = Engine::with_segments_of(&to, 4096).unwrap();
        for (id, seq) in before {
            let held = copy
                .get(&org(&key, &id, 1, json!({"name": "x"})).address())
                .unwrap()
                .unwrap_or_else(|| panic!("copy {copies} lost {id}"));
            assert!(
                held.record.seq >= seq,
                "copy {copies}: {id} {} < {seq}",
                held.record.seq
            );
        }
        copies += 1;
        copied.store(copies, std::sync::atomic::Ordering::SeqCst);
    }
    writer.join().unwrap();
    assert!(
        copies >= 15,
        "only {copies} copies were taken while writing"
    );
    let to = dir.path().join("last");
    write_out(&store.snapshot().unwrap(), &to);
    let copy = Engine::with_segments_of(&to, 4096).unwrap();
    let seen = view(&store);
    assert_eq!(view(&copy), seen);
    // The store itself, after writers and compaction ran at once: the same on reopening,
    // every address at its last acknowledged version.
    drop(Arc::try_unwrap(store).expect("the writer is done"));
    let store = Engine::with_segments_of(&dir.path().join("store"), 4096).unwrap();
    assert_eq!(view(&store), seen);
    for (id, seq) in acked.lock().unwrap().iter() {
        let held = store.get(&org(&key, id, 1, json!({"name": "x"})).address());
        assert_eq!(held.unwrap().unwrap().record.seq, *seq, "{id}");
    }
}

fn signed(key: &SigningKey, kind: Kind, id: &str, seq: u64, body: serde_json::Value) -> Record {
    let body = Body::from_json(kind, body).unwrap();
    Record::sign(key, kind, id.parse().unwrap(), seq, 1_700_000_000_000, body).unwrap()
}

/// Everything a reader asks memory, beside `view`: who confirmed the collaboration, the
/// bytes of every version held, the authors' counts, the purges.
fn answers(store: &Engine, collaboration: &Record, authors: &[&SigningKey]) -> Vec<String> {
    let mut answers = view(store);
    answers.push(format!("{:?}", store.confirmation(collaboration).unwrap()));
    for (_, hash) in store.items().unwrap() {
        let bytes = store
            .bytes_by_hash(&hash)
            .unwrap()
            .expect("every item reads");
        assert_eq!(Hash::of(&bytes), hash);
    }
    for key in authors {
        answers.push(store.author_count(&Author::from(*key)).unwrap().to_string());
    }
    answers.push(format!("{:?}", store.purges(0).unwrap()));
    answers
}

fn checkpoints(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(CHECKPOINT))
        .collect();
    names.sort();
    names
}

#[test]
fn a_checkpointed_restart_serves_what_a_full_replay_does() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        SigningKey::from_bytes(&[31; 32]),
        SigningKey::from_bytes(&[32; 32]),
        SigningKey::from_bytes(&[33; 32]),
    );
    let party = |key: &SigningKey, id: &str| json!({"ref": org(key, id, 1, json!({"name": "x"})).address().to_string(), "role": "partner"});
    let collaboration = signed(
        &a,
        Kind::Collaboration,
        "joint",
        1,
        json!({"title": "Joint", "status": "active", "parties": [party(&a, "a-0"), party(&b, "b-0")]}),
    );
    let endorse = |seq, stance| {
        signed(
            &b,
            Kind::Endorsement,
            "joint-ok",
            seq,
            json!({"target": collaboration.address().to_string(), "stance": stance}),
        )
    };
    let (one, two) = (
        org(&c, "twice", 1, json!({"name": "One"})),
        org(&c, "twice", 1, json!({"name": "Two"})),
    );
    // Segments large enough that compaction, and the checkpoint after it, do not run.
    let store = Engine::open(dir.path()).unwrap();
    for i in 0..30 {
        store
            .put(org(
                &a,
                &format!("a-{i}"),
                1,
                json!({"name": format!("A {i}")}),
            ))
            .unwrap();
        store
            .put(org(
                &b,
                &format!("b-{i}"),
                1,
                json!({"name": format!("B {i}")}),
            ))
            .unwrap();
    }
    store.put(collaboration.clone()).unwrap();
    store.put(endorse(1, "confirmed")).unwrap();
    // An equivocation, its evidence held.
    store.put(one.clone()).unwrap();
    store.put(two.clone()).unwrap();
    store
        .put(org(&c, "gone", 1, json!({"name": "Gone"})))
        .unwrap();
    store.purge_author(&Author::from(&c)).unwrap();
    store
        .put(org(&c, "back", 1, json!({"name": "Back"})))
        .unwrap();
    store.checkpoint().unwrap();
    let covered = checkpoints(dir.path());
    assert_eq!(covered.len(), 1);
    // After the checkpoint: replacements, new addresses, a withdrawn endorsement, a purge.
    for i in 0..10 {
        store
            .put(org(
                &a,
                &format!("a-{i}"),
                2,
                json!({"name": format!("A {i} again")}),
            ))
            .unwrap();
        store
            .put(org(
                &a,
                &format!("new-{i}"),
                1,
                json!({"name": format!("New {i}")}),
            ))
            .unwrap();
    }
    store.put(endorse(2, "withdrawn")).unwrap();
    store.purge_author(&Author::from(&c)).unwrap();
    let authors = [&a, &b, &c];
    let seen = answers(&store, &collaboration, &authors);
    drop(store);
    // The start reads the checkpoint and replays what follows it…
    assert_eq!(checkpoints(dir.path()), covered, "no checkpoint at drop");
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(store.log.checkpointed().0, covered_change(&covered[0]));
    assert_eq!(answers(&store, &collaboration, &authors), seen);
    drop(store);
    // …and gives what a replay of the whole log gives.
    for name in &covered {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(store.log.checkpointed().0, 0, "no checkpoint was read");
    assert_eq!(answers(&store, &collaboration, &authors), seen);
    // A flush at shutdown checkpoints what is there; a damaged checkpoint is passed over.
    store.flush().unwrap();
    drop(store);
    let written = checkpoints(dir.path());
    assert_eq!(written.len(), 1);
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(store.log.checkpointed().0, covered_change(&written[0]));
    assert_eq!(answers(&store, &collaboration, &authors), seen);
    drop(store);
    let path = dir.path().join(&written[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let store = Engine::open(dir.path()).unwrap();
    assert_eq!(
        store.log.checkpointed().0,
        0,
        "the damaged checkpoint was not read"
    );
    assert_eq!(answers(&store, &collaboration, &authors), seen);
}

fn covered_change(name: &str) -> u64 {
    name.trim_start_matches(CHECKPOINT).parse().unwrap()
}
