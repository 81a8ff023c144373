//! `crate::json::path`: the JSON input's path language, on serde_json alone.

#[path = "../../bins/metrics/src/json/path.rs"]
pub mod path;
