//! Maillage storage: the store trait, its sled engine, the indexes behind every query, the
//! change log and the incrementally kept state digest.
//!
//! Not built yet: this crate holds the place of the storage layer in the workspace, so
//! that dependencies already point one way (`core` ← `store` ← `net`/`api` ← `node`).
