//! The file check: liveness by a heartbeat file the application touches.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::outcome::Finding;

/// Healthy when `path` exists and, with `max_age`, was modified no longer ago than that.
pub fn check(path: &Path, max_age: Option<Duration>) -> Finding {
    let modified = match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(modified) => modified,
        Err(e) => return Finding::unhealthy(None, format!("{}: {e}", path.display())),
    };
    let Some(max_age) = max_age else {
        return Finding::healthy(None);
    };
    // A modification time in the future (clock skew) counts as fresh.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age > max_age {
        let detail = format!(
            "stale: modified {}s ago, more than {}",
            age.as_secs(),
            podkit::duration::format(max_age)
        );
        return Finding::unhealthy(None, detail);
    }
    Finding::healthy(None)
}
