//! Key events and their resolution, without a network: each rule of docs/protocol.md §9.

use super::*;

const DAY: u64 = 24 * 3600 * 1000;
const T0: u64 = 1_767_225_600_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn author(n: u8) -> Author {
    Author::from(&key(n))
}

fn did_key(n: u8) -> Identity {
    Identity::Key(author(n))
}

/// Guardians 10, 11 and 12 (did:key networks), two of three, a window of a day.
fn guardians() -> Guardians {
    Guardians {
        members: vec![did_key(10), did_key(11), did_key(12)],
        threshold: 2,
        window: DAY,
    }
}

fn guardian_keys(g: &Identity, _time: u64) -> Option<Author> {
    match g {
        Identity::Key(a) => Some(*a),
        Identity::Log(_) => None,
    }
}

fn state(events: &[Event], now: u64) -> State {
    resolve(events[0].identity, events, now, &guardian_keys).expect("an inception")
}

/// An identity incepted with key 1, committed to key 2.
fn incepted() -> Event {
    Event::incept(&key(1), &key(2).verifying_key(), Some(guardians()), T0).unwrap()
}

#[test]
fn an_identity_is_the_digest_of_its_inception_and_round_trips() {
    let icp = incepted();
    let Identity::Log(digest) = icp.identity else {
        panic!("a log identity")
    };
    assert_eq!(Hash(digest), icp.digest());
    assert_eq!(
        digest,
        <[u8; 32]>::from(Sha256::digest(icp.unsigned_bytes()))
    );
    let did = icp.identity.to_string();
    assert!(did.starts_with("did:maillage:z"), "{did}");
    assert_eq!(did.parse::<Identity>().unwrap(), icp.identity);
    assert_eq!(Event::decode(icp.bytes()).unwrap(), icp);
    assert_eq!(
        did_key(1).to_string().parse::<Identity>().unwrap(),
        did_key(1)
    );
    assert!("did:web:example.org".parse::<Identity>().is_err());
}

#[test]
fn a_rotation_keeps_what_was_signed_before_and_refuses_the_old_key_after() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    let rot = Event::rotate(&s0, &key(2), &key(3).verifying_key(), None, None, T0 + 1000).unwrap();
    let s1 = state(&[icp, rot], T0 + 2000);
    assert_eq!(s1.current().key, author(2));
    assert_eq!(s1.keys.len(), 2);
    assert_eq!(s1.signer(0, T0 + 999), Ok(&author(1)));
    assert!(
        matches!(s1.signer(0, T0 + 1000), Err(Refusal::Void { void_from, .. }) if void_from == T0 + 1000)
    );
    assert_eq!(s1.signer(1, T0 + 5000), Ok(&author(2)));
    assert!(matches!(s1.signer(2, T0), Err(Refusal::NoKey { n: 2, .. })));
}

#[test]
fn a_thief_of_the_signing_key_cannot_rotate() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    // Key 1 signs a rotation to a key of the thief's: the log committed to key 2.
    let forged = Event::rotate(&s0, &key(1), &key(9).verifying_key(), None, None, T0 + 1).unwrap();
    let s = state(&[icp, forged.clone()], T0 + 2);
    assert_eq!(s.current().key, author(1));
    assert_eq!(s.ignored.len(), 1);
    assert_eq!(s.ignored[0].0, forged.digest());
    assert!(
        s.ignored[0].1.contains("did not commit"),
        "{}",
        s.ignored[0].1
    );
}

#[test]
fn a_compromised_key_is_void_from_the_point_the_owner_names() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    let rot = Event::rotate(
        &s0,
        &key(2),
        &key(3).verifying_key(),
        Some(T0 + 100),
        None,
        T0 + 1000,
    )
    .unwrap();
    let s1 = state(&[icp, rot], T0 + 2000);
    assert!(s1.signer(0, T0 + 99).is_ok());
    assert!(s1.signer(0, T0 + 100).is_err());
    assert!(
        s1.signer(0, T0 + 500).is_err(),
        "signed by the thief before the rotation"
    );
    // As a guardian, the leaked key no longer countersigns from that point either.
    assert_eq!(s1.key_at(T0 + 99), Some(&author(1)));
    assert_eq!(s1.key_at(T0 + 500), None);
    assert_eq!(s1.key_at(T0 + 1000), Some(&author(2)));
    // A void_from after the rotation itself says nothing: refused at decoding.
    assert!(
        Event::rotate(
            &s0,
            &key(2),
            &key(3).verifying_key(),
            Some(T0 + 2000),
            None,
            T0 + 1000
        )
        .is_err()
    );
}

/// The recovery of the identity that lost keys 1 and 2, to key 5 (committing to key 6),
/// countersigned by guardians 10 and 11.
fn recovery(icp: &Event, time: u64) -> Event {
    let s0 = state(std::slice::from_ref(icp), T0);
    Event::recover(&s0, &key(5), &key(6).verifying_key(), time)
        .unwrap()
        .countersign(did_key(10), &key(10))
        .unwrap()
        .countersign(did_key(11), &key(11))
        .unwrap()
}

/// The rotation to key 6 that follows `rec`, countersigned by `guardians`.
fn seal(rec: &Event, time: u64, guardians: &[u8]) -> Event {
    let mut seal = Event::seal(rec, &key(6), &key(7).verifying_key(), time).unwrap();
    for g in guardians {
        seal = seal.countersign(did_key(*g), &key(*g)).unwrap();
    }
    seal
}

#[test]
fn guardians_recover_an_identity_after_the_window() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    assert_eq!(Event::decode(rec.bytes()).unwrap(), rec);
    let during = state(&[icp.clone(), rec.clone()], T0 + DAY + 1000);
    assert_eq!(during.current().key, author(1));
    let pending = during.pending.as_ref().expect("a recovery under way");
    assert_eq!(pending.effective, T0 + 2 * DAY);
    assert_eq!(pending.by, vec![did_key(10), did_key(11)]);
    assert_eq!(during.keys.len(), 1, "the new key waits for the window");
    let after = state(&[icp, rec], T0 + 2 * DAY);
    assert_eq!(after.current().key, author(5));
    assert_eq!(after.current().how, "recovery");
    assert!(after.pending.is_none());
    assert!(after.signer(1, T0 + 2 * DAY).is_ok());
    assert!(
        after.signer(0, T0 + DAY).is_err(),
        "the lost key is void from the recovery on"
    );
}

#[test]
fn one_guardian_or_a_stranger_is_not_enough() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    let alone = Event::recover(&s0, &key(5), &key(6).verifying_key(), T0 + 1)
        .unwrap()
        .countersign(did_key(10), &key(10))
        .unwrap();
    let stranger = alone.countersign(did_key(13), &key(13)).unwrap();
    // A guardian's name with another key's signature.
    let forged = alone.countersign(did_key(11), &key(13)).unwrap();
    for rec in [alone, stranger, forged] {
        let s = state(&[icp.clone(), rec], T0 + 10 * DAY);
        assert_eq!(s.current().key, author(1));
        assert!(
            s.ignored[0].1.contains("fewer of the guardians"),
            "{}",
            s.ignored[0].1
        );
    }
}

#[test]
fn the_current_key_cancels_a_recovery_within_the_window_only() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    let cancel = Event::cancel(&rec, &key(1), T0 + DAY + 3_600_000).unwrap();
    let s = state(&[icp.clone(), rec.clone(), cancel.clone()], T0 + 10 * DAY);
    assert_eq!(s.current().key, author(1));
    assert_eq!(s.cancelled, vec![rec.digest()]);
    assert!(s.pending.is_none());
    // A copy of the recovery with a stranger's countersignature added is the same
    // recovery, and as cancelled.
    let altered = rec.countersign(did_key(13), &key(13)).unwrap();
    assert_ne!(altered.hash(), rec.hash());
    assert_eq!(altered.digest(), rec.digest());
    let s = state(&[icp.clone(), altered, cancel], T0 + 10 * DAY);
    assert_eq!(s.current().key, author(1));
    // Too late: the window had passed.
    let late = Event::cancel(&rec, &key(1), T0 + 2 * DAY + 1).unwrap();
    let s = state(&[icp.clone(), rec.clone(), late], T0 + 10 * DAY);
    assert_eq!(s.current().key, author(5));
    // Not the current key.
    let stranger = Event::cancel(&rec, &key(9), T0 + DAY + 1).unwrap();
    let s = state(&[icp, rec, stranger], T0 + 10 * DAY);
    assert_eq!(s.current().key, author(5));
    assert!(s.ignored[0].1.contains("cancellation"), "{:?}", s.ignored);
}

#[test]
fn a_recovery_the_guardians_sealed_cannot_be_cancelled_later() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    let sealed = seal(&rec, T0 + 3 * DAY, &[10, 12]);
    // Someone who found key 1 dates a cancellation back into the window.
    let backdated = Event::cancel(&rec, &key(1), T0 + DAY + 1).unwrap();
    let s = state(&[icp, rec, sealed, backdated], T0 + 4 * DAY);
    assert_eq!(s.current().key, author(6));
    let how: Vec<&str> = s.keys.iter().map(|k| k.how).collect();
    assert_eq!(how, ["inception", "recovery", "rotation"]);
    assert!(s.cancelled.is_empty());
}

#[test]
fn whoever_holds_the_recovered_keys_cannot_seal_alone() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    // The recovered key's holder signs the seal in advance, without the guardians,
    // or with one only: the owner's timely cancellation still wins.
    let cancel = Event::cancel(&rec, &key(1), T0 + DAY + 1).unwrap();
    for guardians in [&[][..], &[10]] {
        let early = seal(&rec, T0 + 2 * DAY, guardians);
        let s = state(
            &[icp.clone(), rec.clone(), early, cancel.clone()],
            T0 + 4 * DAY,
        );
        assert_eq!(s.current().key, author(1));
        assert_eq!(s.cancelled, vec![rec.digest()]);
    }
}

#[test]
fn a_guardian_countersigns_with_its_key_of_the_time_and_never_with_a_void_one() {
    // Guardian G, a did:maillage: key 20 leaked from T0 + 10 and was replaced by key 21
    // at T0 + 100.
    let g_icp = Event::incept(&key(20), &key(21).verifying_key(), None, T0).unwrap();
    let g0 = state(std::slice::from_ref(&g_icp), T0);
    let g_rot = Event::rotate(
        &g0,
        &key(21),
        &key(22).verifying_key(),
        Some(T0 + 10),
        None,
        T0 + 100,
    )
    .unwrap();
    let g = g_icp.identity;
    let g_events = [g_icp, g_rot];
    let lookup = |who: &Identity, time: u64| -> Option<Author> {
        if *who == g {
            resolve(g, &g_events, T0 + DAY, &guardian_keys)
                .ok()?
                .key_at(time)
                .copied()
        } else {
            guardian_keys(who, time)
        }
    };
    // An identity that needs both G and guardian 10.
    let both = Guardians {
        members: vec![g, did_key(10)],
        threshold: 2,
        window: DAY,
    };
    let icp = Event::incept(&key(1), &key(2).verifying_key(), Some(both), T0).unwrap();
    let s0 = resolve(icp.identity, std::slice::from_ref(&icp), T0, &lookup).unwrap();
    let recovered_with = |time: u64, g_key: u8| {
        let rec = Event::recover(&s0, &key(5), &key(6).verifying_key(), time)
            .unwrap()
            .countersign(did_key(10), &key(10))
            .unwrap()
            .countersign(g, &key(g_key))
            .unwrap();
        resolve(icp.identity, &[icp.clone(), rec], T0 + 10 * DAY, &lookup)
            .unwrap()
            .current()
            .key
    };
    assert_eq!(
        recovered_with(T0 + 5, 20),
        author(5),
        "key 20 before it leaked"
    );
    assert_eq!(recovered_with(T0 + 50, 20), author(1), "key 20 once void");
    assert_eq!(
        recovered_with(T0 + 50, 21),
        author(1),
        "key 21 before it was G's"
    );
    assert_eq!(
        recovered_with(T0 + 200, 21),
        author(5),
        "key 21 after the rotation"
    );
}

#[test]
fn the_committed_key_outranks_a_recovery_under_way() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    let s0 = state(std::slice::from_ref(&icp), T0);
    let rot = Event::rotate(
        &s0,
        &key(2),
        &key(3).verifying_key(),
        None,
        None,
        T0 + DAY + 5,
    )
    .unwrap();
    let s = state(&[icp, rec, rot], T0 + 10 * DAY);
    assert_eq!(s.current().key, author(2));
    assert!(s.pending.is_none());
}

#[test]
fn the_state_does_not_depend_on_the_order_or_the_copies_of_events() {
    let icp = incepted();
    let rec = recovery(&icp, T0 + DAY);
    let sealed = seal(&rec, T0 + 3 * DAY, &[11, 12]);
    let s0 = state(std::slice::from_ref(&icp), T0);
    let forged = Event::rotate(&s0, &key(1), &key(9).verifying_key(), None, None, T0 + 1).unwrap();
    let cancel = Event::cancel(&rec, &key(1), T0 + DAY + 1).unwrap();
    let stranger = Event::cancel(&rec, &key(9), T0 + DAY + 2).unwrap();
    // The same recovery twice, once with a stranger's countersignature added.
    let copy = rec.countersign(did_key(13), &key(13)).unwrap();
    let events = [icp, rec, sealed, forged, cancel, stranger, copy];
    let reference = state(&events, T0 + 4 * DAY);
    assert_eq!(reference.keys.len(), 3);
    assert_eq!(reference.ignored.len(), 2);
    assert!(
        reference.forks.is_empty(),
        "two copies of one event are no fork"
    );
    for shift in 0..events.len() {
        let mut turned = events.to_vec();
        turned.rotate_left(shift);
        assert_eq!(
            resolve(reference.identity, &turned, T0 + 4 * DAY, &guardian_keys).unwrap(),
            reference
        );
        turned.reverse();
        assert_eq!(
            resolve(reference.identity, &turned, T0 + 4 * DAY, &guardian_keys).unwrap(),
            reference
        );
    }
}

#[test]
fn two_rotations_at_one_place_fork_and_the_lower_digest_holds() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    let a = Event::rotate(&s0, &key(2), &key(3).verifying_key(), None, None, T0 + 1).unwrap();
    let b = Event::rotate(&s0, &key(2), &key(4).verifying_key(), None, None, T0 + 1).unwrap();
    let s = state(&[icp, a.clone(), b.clone()], T0 + 2);
    assert_eq!(s.forks, vec![1]);
    assert_eq!(s.head, a.digest().min(b.digest()));
}

#[test]
fn events_dated_ahead_of_the_clock_wait() {
    let icp = incepted();
    let s0 = state(std::slice::from_ref(&icp), T0);
    let rot = Event::rotate(&s0, &key(2), &key(3).verifying_key(), None, None, T0 + DAY).unwrap();
    let early = state(&[icp.clone(), rot.clone()], T0 + DAY - AHEAD - 1);
    assert_eq!(early.current().key, author(1));
    assert!(early.ignored[0].1.contains("ahead"), "{:?}", early.ignored);
    let soon = state(&[icp, rot], T0 + DAY - AHEAD);
    assert_eq!(soon.current().key, author(2));
}

#[test]
fn malformed_and_forged_events_are_refused_with_a_reason() {
    let icp = incepted();
    let mut tampered = icp.bytes().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(Event::decode(&tampered), Err(Error::Signature));

    let map = |extra: Vec<(Value, Value)>| {
        let mut m = entries(None, 0, None, T0, &icp.change);
        m.extend(extra);
        m.push((text("sig"), bytes(&icp.sig().to_bytes())));
        cbor::encode(&Value::Map(m)).unwrap()
    };
    let extra = Event::decode(&map(vec![(text("colour"), text("red"))])).unwrap_err();
    assert!(
        extra
            .to_string()
            .contains("`colour` is not a key event field"),
        "{extra}"
    );
    let signed_by_guardians = map(vec![(
        text("countersigned"),
        Value::Array(vec![Value::Array(vec![
            text(&did_key(10).to_string()),
            bytes(&[0; 64]),
        ])]),
    )]);
    let e = Event::decode(&signed_by_guardians).unwrap_err();
    assert!(
        e.to_string()
            .contains("no place in an event of type inception"),
        "{e}"
    );

    let too_many = Guardians {
        threshold: 4,
        ..guardians()
    };
    let e = Event::incept(&key(1), &key(2).verifying_key(), Some(too_many), T0).unwrap_err();
    assert!(e.to_string().contains("threshold"), "{e}");

    let s0 = state(std::slice::from_ref(&icp), T0);
    let itself = Guardians {
        members: vec![icp.identity],
        threshold: 1,
        window: 0,
    };
    let e = Event::rotate(
        &s0,
        &key(2),
        &key(3).verifying_key(),
        None,
        Some(itself),
        T0 + 1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("the identity itself"), "{e}");

    // Not canonical: a long head for `n`.
    let mut long = icp.bytes().to_vec();
    let at = long.windows(2).position(|w| w == [0x61, b'n']).unwrap() + 2;
    long.splice(at..at + 1, [0x18, 0x00]);
    assert!(
        matches!(Event::decode(&long), Err(Error::NotCanonical(_))),
        "{:?}",
        Event::decode(&long)
    );

    assert!(matches!(
        resolve(Identity::Log([7; 32]), &[icp], T0, &guardian_keys),
        Err(Unresolved::NoInception(_))
    ));
}
