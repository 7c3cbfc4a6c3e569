//! Whose records a node accepts and passes on: the same decision on every way in.

use maillage_core::Author;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Any author with a valid signature.
    Open,
    /// Only this node's own key and the keys listed as trusted.
    Trusted,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub mode: Mode,
    /// This node's key: always accepted, never limited.
    pub own: Author,
    pub trusted: Vec<Author>,
    /// Dropped on every way in, and purged from the store at start-up.
    pub blocked: Vec<Author>,
    /// Most addresses one other author can make this node store.
    pub quota: u64,
}

impl Policy {
    pub fn open(own: Author) -> Policy {
        Policy {
            mode: Mode::Open,
            own,
            trusted: vec![],
            blocked: vec![],
            quota: 100_000,
        }
    }

    /// Why this node does not take records from `author`, if it does not.
    pub fn refusal(&self, author: &Author) -> Option<String> {
        if *author == self.own {
            return None;
        }
        if self.blocked.contains(author) {
            return Some(format!("author {author} is blocked by this node"));
        }
        if self.mode == Mode::Trusted && !self.trusted.contains(author) {
            return Some(format!(
                "this node only accepts records from trusted authors, and {author} is not one (add it to policy.trusted)"
            ));
        }
        None
    }

    pub fn limited(&self, author: &Author) -> bool {
        *author != self.own
    }
}
