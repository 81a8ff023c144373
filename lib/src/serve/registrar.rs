//! Declaring a tool's own metrics: each one made and registered in one expression, so a tool's
//! metrics module lists names and help texts, not registry plumbing.

use prometheus::core::Collector;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, Result,
};

/// Makes metrics and registers them in one registry. Every vector's label values given at
/// declaration exist from the start, at zero: a `rate()` over a series that appears only with
/// its first event misses that event.
#[derive(Debug, Clone, Copy)]
pub struct Registrar<'a> {
    registry: &'a Registry,
}

impl<'a> Registrar<'a> {
    pub fn new(registry: &'a Registry) -> Registrar<'a> {
        Registrar { registry }
    }

    /// Registers `metric` and hands it back.
    pub fn register<M: Collector + Clone + 'static>(&self, metric: M) -> Result<M> {
        self.registry.register(Box::new(metric.clone()))?;
        Ok(metric)
    }

    pub fn counter(&self, name: &str, help: &str) -> Result<IntCounter> {
        self.register(IntCounter::new(name, help)?)
    }

    pub fn gauge(&self, name: &str, help: &str) -> Result<Gauge> {
        self.register(Gauge::new(name, help)?)
    }

    pub fn int_gauge(&self, name: &str, help: &str) -> Result<IntGauge> {
        self.register(IntGauge::new(name, help)?)
    }

    /// A counter per combination of `labels`, with the series of `present` (each a full set of
    /// label values) created at zero.
    pub fn counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        present: &[&[&str]],
    ) -> Result<IntCounterVec> {
        let vec = self.register(IntCounterVec::new(Opts::new(name, help), labels)?)?;
        for values in present {
            vec.get_metric_with_label_values(values)?;
        }
        Ok(vec)
    }

    pub fn int_gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> Result<IntGaugeVec> {
        self.register(IntGaugeVec::new(Opts::new(name, help), labels)?)
    }

    pub fn histogram(&self, name: &str, help: &str, buckets: Vec<f64>) -> Result<Histogram> {
        self.register(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(buckets),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_metrics_are_registered_and_present_label_values_start_at_zero() {
        let registry = Registry::new();
        let metrics = Registrar::new(&registry);
        let events = metrics.counter("t_events_total", "Events.").unwrap();
        let results = metrics
            .counter_vec(
                "t_results_total",
                "Results.",
                &["result"],
                &[&["ok"], &["failed"]],
            )
            .unwrap();
        events.inc();
        results.with_label_values(&["ok"]).inc();
        let families = registry.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["t_events_total", "t_results_total"]);
        assert_eq!(families[1].get_metric().len(), 2, "failed exists at zero");
        assert!(metrics.counter("t_events_total", "Again.").is_err());
    }
}
