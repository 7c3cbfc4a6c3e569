//! Bans kept across restarts: `{"<peer id>": <until, ms since the Unix epoch>}`, rewritten
//! whole at every new ban.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use libp2p::PeerId;
use maillage_store::ingest::now_ms;

use crate::state_file;

/// The bans in `path` that have not run out; none if there is no file. A file that does
/// not read is reported and left for the operator, and no ban is taken from it.
pub(crate) fn load(path: &Path) -> HashMap<PeerId, Instant> {
    let saved: HashMap<String, u64> =
        state_file::load(path, "the bans", "{\"<peer id>\": <until ms>}").unwrap_or_default();
    let (now, wall) = (Instant::now(), now_ms());
    saved
        .into_iter()
        .filter(|(_, until)| *until > wall)
        .filter_map(|(peer, until)| {
            Some((
                peer.parse().ok()?,
                now + Duration::from_millis(until - wall),
            ))
        })
        .collect()
}

/// Writes the bans that have not run out to `path`.
pub(crate) fn save(path: &Path, bans: &HashMap<PeerId, Instant>) {
    let (now, wall) = (Instant::now(), now_ms());
    let saved: HashMap<String, u64> = bans
        .iter()
        .filter(|(_, until)| **until > now)
        .map(|(peer, until)| (peer.to_string(), wall + (*until - now).as_millis() as u64))
        .collect();
    state_file::save(path, &saved, "the bans");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_outlive_a_restart_and_run_out() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("bans.json");
        assert!(load(&path).is_empty());
        let (kept, over) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        let bans = HashMap::from([
            (kept, now + Duration::from_secs(3600)),
            (over, now - Duration::from_secs(1)),
        ]);
        save(&path, &bans);
        let loaded = load(&path);
        assert_eq!(loaded.keys().collect::<Vec<_>>(), vec![&kept]);
        let left = loaded[&kept] - Instant::now();
        assert!(left > Duration::from_secs(3590) && left <= Duration::from_secs(3600));
        std::fs::write(&path, "not json").expect("writes");
        assert!(load(&path).is_empty());
    }
}
