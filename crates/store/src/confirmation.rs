//! Who confirms a collaboration: a pure decision over what the store holds. No I/O.
//!
//! A party is an organisation record, and the key that signed that record (its *lister*)
//! is the only voice this node can hear for it. A party counts as confirming when its
//! lister signed the collaboration or a current `confirmed` endorsement of it. A
//! collaboration is confirmed when every party confirms, every party is still listed, and
//! at least two keys spoke: one key that lists every party has declared it alone, however
//! many parties it names.

use maillage_core::{Address, Author};
use serde::Serialize;

/// What this node holds of a party's organisation record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Held, with the name it goes by.
    Live(Option<String>),
    Deleted,
    /// Not held here (not yet synced, or never published).
    Absent,
}

/// One party as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Party {
    pub reference: String,
    /// The key that lists the party; `None` when the reference is not an address.
    #[serde(serialize_with = "did")]
    pub lister: Option<Author>,
    /// The party's name, where its record is held.
    pub name: Option<String>,
    pub state: PartyState,
}

fn did<S: serde::Serializer>(author: &Option<Author>, s: S) -> Result<S::Ok, S::Error> {
    match author {
        Some(a) => s.serialize_some(&a.did()),
        None => s.serialize_none(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyState {
    /// Its lister signed the collaboration or endorsed it.
    Confirmed,
    /// Its lister has said nothing of the collaboration yet.
    Awaiting,
    /// Its organisation record is deleted.
    Deleted,
    /// Its organisation record is not on this node, and its lister has said nothing.
    Unknown,
}

/// What the collaboration's confirmation comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every party's lister confirmed, and they are at least two keys.
    Confirmed,
    /// Every party confirms, but one key lists them all: it spoke alone, a declaration.
    OneVoice,
    /// Some party's lister has not confirmed.
    Awaiting,
    /// Some party's organisation record is deleted.
    PartyDeleted,
}

/// Whether, and by whom, a collaboration is confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    pub verdict: Verdict,
    pub parties: Vec<Party>,
    /// Authors of current `confirmed` endorsements of the collaboration.
    pub endorsed_by: Vec<Author>,
}

impl Confirmation {
    pub fn confirmed(&self) -> bool {
        self.verdict == Verdict::Confirmed
    }
}

/// Decides the confirmation of a collaboration signed by `author` naming `parties` (each
/// reference with what this node holds of it), endorsed as `confirmed` by `endorsed_by`.
pub fn decide(
    author: &Author,
    parties: impl IntoIterator<Item = (String, Listing)>,
    mut endorsed_by: Vec<Author>,
) -> Confirmation {
    endorsed_by.sort();
    endorsed_by.dedup();
    let parties: Vec<Party> = parties
        .into_iter()
        .map(|(reference, listing)| {
            let lister = reference.parse::<Address>().ok().map(|a| a.author);
            let spoke = lister
                .as_ref()
                .is_some_and(|l| l == author || endorsed_by.contains(l));
            let (state, name) = match (listing, spoke) {
                (Listing::Deleted, _) => (PartyState::Deleted, None),
                (Listing::Live(name), true) => (PartyState::Confirmed, name),
                (Listing::Absent, true) => (PartyState::Confirmed, None),
                (Listing::Live(name), false) => (PartyState::Awaiting, name),
                (Listing::Absent, false) => (PartyState::Unknown, None),
            };
            Party {
                reference,
                lister,
                name,
                state,
            }
        })
        .collect();
    let mut listers: Vec<&Author> = parties.iter().filter_map(|p| p.lister.as_ref()).collect();
    listers.sort();
    listers.dedup();
    let verdict = if parties.iter().any(|p| p.state == PartyState::Deleted) {
        Verdict::PartyDeleted
    } else if parties.is_empty() || parties.iter().any(|p| p.state != PartyState::Confirmed) {
        Verdict::Awaiting
    } else if listers.len() < 2 {
        Verdict::OneVoice
    } else {
        Verdict::Confirmed
    };
    Confirmation {
        verdict,
        parties,
        endorsed_by,
    }
}

#[cfg(test)]
mod tests {
    use maillage_core::SigningKey;

    use super::*;

    fn key(n: u8) -> Author {
        Author::from(&SigningKey::from_bytes(&[n; 32]))
    }

    fn party(lister: &Author, id: &str) -> String {
        format!("maillage:{}/organisation/{id}", lister.did())
    }

    #[test]
    fn two_listers_who_both_signed_confirm() {
        let (a, b) = (key(1), key(2));
        let c = decide(
            &a,
            [
                (party(&a, "x"), Listing::Live(None)),
                (party(&b, "y"), Listing::Live(None)),
            ],
            vec![b, b],
        );
        assert_eq!(c.verdict, Verdict::Confirmed);
        assert_eq!(c.endorsed_by, vec![b]);
        assert!(c.parties.iter().all(|p| p.state == PartyState::Confirmed));
    }

    #[test]
    fn one_key_listing_every_party_declares_alone() {
        let a = key(1);
        let c = decide(
            &a,
            [
                (party(&a, "x"), Listing::Live(None)),
                (party(&a, "y"), Listing::Live(None)),
            ],
            vec![],
        );
        assert_eq!(c.verdict, Verdict::OneVoice);
        assert!(!c.confirmed());
    }

    #[test]
    fn a_party_whose_lister_is_silent_is_awaited() {
        let (a, b, z) = (key(1), key(2), key(3));
        // An endorsement by a third key confirms nobody's party.
        let c = decide(
            &a,
            [
                (party(&a, "x"), Listing::Live(None)),
                (party(&b, "y"), Listing::Live(None)),
                (party(&z, "w"), Listing::Absent),
            ],
            vec![key(4)],
        );
        assert_eq!(c.verdict, Verdict::Awaiting);
        let states: Vec<_> = c.parties.iter().map(|p| p.state).collect();
        assert_eq!(
            states,
            [
                PartyState::Confirmed,
                PartyState::Awaiting,
                PartyState::Unknown
            ]
        );
    }

    #[test]
    fn a_deleted_party_outweighs_every_signature() {
        let (a, b) = (key(1), key(2));
        let c = decide(
            &a,
            [
                (party(&a, "x"), Listing::Live(None)),
                (party(&b, "y"), Listing::Deleted),
            ],
            vec![b],
        );
        assert_eq!(c.verdict, Verdict::PartyDeleted);
        assert_eq!(c.parties[1].state, PartyState::Deleted);
    }

    #[test]
    fn no_parties_or_a_reference_that_is_no_address_is_not_confirmed() {
        let a = key(1);
        assert_eq!(decide(&a, [], vec![]).verdict, Verdict::Awaiting);
        let c = decide(&a, [("elsewhere".to_owned(), Listing::Absent)], vec![]);
        assert_eq!(c.verdict, Verdict::Awaiting);
        assert_eq!(c.parties[0].lister, None);
    }
}
