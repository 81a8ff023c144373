//! Any mapping file and any names: the input is the YAML, a NUL byte, then names one per line.
//! Loading must refuse or compile, never panic; a compiled mapper must look up any name, and
//! the adapter's cache of lookups must answer as the mapper does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podkit_metrics_fuzz::mapping::cache::{resolve, MappingCache};
use podkit_metrics_fuzz::mapping::Mapper;
use podkit_metrics_fuzz::statsd::line::Kind;

/// A realistic file, for inputs whose own YAML does not compile: the names still get fuzzed
/// against globs, a regex with captures, and a drop.
const FALLBACK: &str = r#"
mappings:
- match: "api.*.*.requests"
  name: "api_requests_total"
  labels: {service: "$1", endpoint: "$2"}
- match: "db.*.query.*"
  name: "db_query_seconds"
  observer_type: histogram
  labels: {db: "$1", op: "$2"}
- match: "debug.*"
  action: drop
  name: "dropped"
- match: '^cache\.([a-z]+)\.(hit|miss)$'
  match_type: regex
  name: "cache_${2}_total"
  labels: {cache: "$1"}
"#;

fuzz_target!(|data: &[u8]| {
    let (yaml, names) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let yaml = String::from_utf8_lossy(yaml);
    let mapper = Mapper::from_yaml(&yaml)
        .unwrap_or_else(|_| Mapper::from_yaml(FALLBACK).expect("the fallback compiles"));
    let mut cache = MappingCache::default();
    for name in String::from_utf8_lossy(names).split('\n') {
        for kind in [Kind::Counter, Kind::Gauge, Kind::Observer, Kind::Set] {
            let _ = mapper.lookup(name, kind);
            assert_eq!(
                cache.resolve(&mapper, name, kind),
                &resolve(&mapper, name, kind)
            );
        }
    }
});
