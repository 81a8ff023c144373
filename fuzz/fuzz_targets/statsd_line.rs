//! Any bytes as one StatsD line: the parser must never panic, and every sample it gives must
//! be one the mapper can look up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podkit_metrics_fuzz::mapping::Mapper;
use podkit_metrics_fuzz::statsd::line::{parse_bytes, Problems};

fuzz_target!(|line: &[u8]| {
    let mut samples = Vec::new();
    let mut problems = Problems::default();
    parse_bytes(line, &mut samples, &mut problems);
    // Every sample given was counted as seen (the adapter's samples_total never undercounts).
    assert!(samples.len() <= problems.samples as usize);
    let mapper = Mapper::empty();
    for sample in &samples {
        let _ = mapper.lookup(&sample.name, sample.kind);
    }
});
