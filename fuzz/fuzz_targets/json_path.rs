//! A JSON path, then a document: parsing any path must end in a path or an error, and selecting
//! with it from any document must never panic; every selection's key is printable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podkit_metrics_fuzz::json::path::Path;

fuzz_target!(|input: &str| {
    let (path, document) = input.split_once('\n').unwrap_or((input, ""));
    let Ok(path) = Path::parse(path) else {
        return;
    };
    let Ok(document) = serde_json::from_str::<serde_json::Value>(document) else {
        return;
    };
    for selected in path.select(&document) {
        let _ = selected.key.map(|key| key.to_string());
    }
    let _ = path.first(&document);
});
