//! The network's small state files (bans, peers met): JSON read at start, and rewritten
//! whole (to a temporary name, flushed, then renamed), so that a crash leaves the old file
//! or the new one, never half of one.

use std::io::Write as _;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What `path` holds; `None` if there is no file. A file that does not read, or is not
/// `shape`, is reported and left for the operator (it is replaced at the next save).
pub(crate) fn load<T: DeserializeOwned>(path: &Path, what: &str, shape: &str) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read {what}; starting without them");
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "{what} are not {shape}; starting without them");
            None
        }
    }
}

/// Writes `value` to `path` in one piece; says so if it cannot.
pub(crate) fn save(path: &Path, value: &impl Serialize, what: &str) -> bool {
    let tmp = path.with_extension("json.tmp");
    let written = serde_json::to_vec_pretty(value)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = &written {
        tracing::warn!(path = %path.display(), error = %e, "cannot keep {what} for the next start");
    }
    written.is_ok()
}
