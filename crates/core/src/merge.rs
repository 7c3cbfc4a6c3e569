//! The merge rule: which version of an address wins, as a pure function.
//!
//! Higher `seq` wins. Two different versions with the same `seq` are an equivocation: the
//! lower hash wins on every node, and the address is flagged. Wall clocks never decide.
//! [`Head::merge`] is commutative, associative and idempotent, so nodes that see the same
//! versions in any order, any number of times, agree.

use crate::{Hash, Record};

/// The winning version of one address, as far as a node has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash,
    /// Another version with the same `seq` was seen: the author signed two versions.
    pub equivocation: bool,
}

impl Head {
    pub fn new(seq: u64, hash: Hash) -> Self {
        Head {
            seq,
            hash,
            equivocation: false,
        }
    }

    pub fn of(record: &Record) -> Self {
        Head::new(record.seq, record.hash())
    }

    pub fn merge(self, other: Head) -> Head {
        match self.seq.cmp(&other.seq) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => Head {
                seq: self.seq,
                hash: self.hash.min(other.hash),
                equivocation: self.equivocation || other.equivocation || self.hash != other.hash,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head() -> impl Strategy<Value = Head> {
        // Few seqs and hashes, so that ties and equivocations are common.
        (1u64..4, 0u8..4).prop_map(|(seq, h)| Head::new(seq, Hash([h; 32])))
    }

    #[test]
    fn higher_seq_wins_then_lower_hash() {
        let a = Head::new(2, Hash([9; 32]));
        let b = Head::new(1, Hash([0; 32]));
        assert_eq!(a.merge(b), a);
        let c = Head::new(2, Hash([1; 32]));
        let m = a.merge(c);
        assert_eq!((m.hash, m.equivocation), (c.hash, true));
        assert!(!a.merge(a).equivocation);
        // A newer version settles an earlier equivocation.
        assert!(!m.merge(Head::new(3, Hash([5; 32]))).equivocation);
    }

    proptest! {
        #[test]
        fn commutative(a in head(), b in head()) {
            prop_assert_eq!(a.merge(b), b.merge(a));
        }

        #[test]
        fn associative(a in head(), b in head(), c in head()) {
            prop_assert_eq!(a.merge(b).merge(c), a.merge(b.merge(c)));
        }

        #[test]
        fn idempotent(a in head(), b in head()) {
            prop_assert_eq!(a.merge(a), a);
            prop_assert_eq!(a.merge(b).merge(b), a.merge(b));
        }

        #[test]
        fn any_order_of_a_set_gives_one_winner(mut heads in proptest::collection::vec(head(), 1..12), seed in any::<u64>()) {
            let fold = |hs: &[Head]| hs.iter().copied().reduce(Head::merge).unwrap();
            let first = fold(&heads);
            let len = heads.len();
            heads.rotate_left((seed as usize) % len);
            heads.reverse();
            prop_assert_eq!(fold(&heads), first);
        }
    }
}
