//! `prometheus`: the text exposition format, with blackbox_exporter's metric names so existing
//! dashboards and alerts work: `probe_success`, `probe_duration_seconds`, plus portproof's
//! `probe_level` (0 unreachable .. 3 healthy) and per-phase durations.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::runner::Report;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
    target: String,
    probe: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    check: String,
    target: String,
    probe: String,
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    check: String,
    target: String,
    probe: String,
    code: String,
}

/// The report as Prometheus metrics.
pub fn render(report: &Report) -> String {
    let mut reg = Registry::default();
    let success = Family::<CheckLabels, Gauge>::default();
    let level = Family::<CheckLabels, Gauge>::default();
    let duration = Family::<CheckLabels, Gauge<f64, AtomicU64>>::default();
    let phase = Family::<PhaseLabels, Gauge<f64, AtomicU64>>::default();
    let failure = Family::<FailureLabels, Gauge>::default();
    reg.register("probe_success", "Whether the check reached its required level", success.clone());
    reg.register("probe_level", "Level reached: 0 unreachable, 1 open, 2 speaks, 3 healthy", level.clone());
    reg.register("probe_duration_seconds", "Wall time of the check", duration.clone());
    reg.register("probe_phase_duration_seconds", "Duration of each phase of the probe", phase.clone());
    reg.register(
        "probe_failure",
        "Set to 1 for the failure code of a check that did not reach healthy",
        failure.clone(),
    );
    for r in &report.results {
        let l = CheckLabels { check: r.name.clone(), target: r.target.clone(), probe: r.probe.clone() };
        success.get_or_create(&l).set(i64::from(r.ok));
        level.get_or_create(&l).set(r.outcome.level as i64);
        duration.get_or_create(&l).set(r.duration_ms / 1e3);
        for p in &r.outcome.phases {
            let pl = PhaseLabels {
                check: l.check.clone(),
                target: l.target.clone(),
                probe: l.probe.clone(),
                phase: p.phase.to_string(),
            };
            // A phase that repeats (redirects) is summed here: a gauge holds one value.
            let g = phase.get_or_create(&pl);
            g.set(g.get() + p.ms / 1e3);
        }
        if let Some(f) = &r.outcome.failure {
            let fl = FailureLabels {
                check: l.check.clone(),
                target: l.target.clone(),
                probe: l.probe.clone(),
                code: f.code.clone(),
            };
            failure.get_or_create(&fl).set(1);
        }
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}
