//! `prometheus`: the text exposition format (version 0.0.4, what node_exporter's textfile
//! collector and Pushgateway read), with blackbox_exporter's metric names so existing dashboards
//! and alerts work: `probe_success`, `probe_duration_seconds`, plus portproof's `probe_level`
//! (0 unreachable .. 3 healthy), per-phase durations and the failure code of failed checks.
//!
//! Written by hand rather than through a client library's registry: a registry keys series by
//! hash, so their order changed from run to run, and scrapers diff reports. Here the families
//! come in a fixed order and the series in manifest order, so two runs of one manifest differ
//! only in their values.

use std::fmt::Write as _;

use crate::runner::{CheckResult, Report};

/// One series of a check: the labels it adds to the check's own, and its value.
type Series = (Vec<(&'static str, String)>, f64);

/// One metric family: its name, help text, and how each check contributes series to it.
struct Family {
    name: &'static str,
    help: &'static str,
    series: fn(&CheckResult, &mut Vec<Series>),
}

const FAMILIES: [Family; 5] = [
    Family {
        name: "probe_success",
        help: "Whether the check reached its required level (1) or not (0)",
        series: |r, out| out.push((Vec::new(), f64::from(u8::from(r.ok)))),
    },
    Family {
        name: "probe_level",
        help: "Level reached: 0 unreachable, 1 open, 2 speaks, 3 healthy",
        series: |r, out| out.push((Vec::new(), f64::from(r.outcome.level as u8))),
    },
    Family {
        name: "probe_duration_seconds",
        help: "Wall time of the check, its attempts and the pauses between them",
        series: |r, out| out.push((Vec::new(), seconds(r.duration_ms))),
    },
    Family {
        name: "probe_phase_duration_seconds",
        help: "Duration of each phase of the probe (a phase that repeats, like a redirect's connect, is summed)",
        series: |r, out| {
            // A gauge holds one value per label set: repeated phases are summed, in the order
            // each phase first happened.
            let mut sums: Vec<(String, f64)> = Vec::new();
            for p in &r.outcome.phases {
                let phase = p.phase.to_string();
                match sums.iter_mut().find(|(name, _)| *name == phase) {
                    Some((_, ms)) => *ms += p.ms,
                    None => sums.push((phase, p.ms)),
                }
            }
            for (phase, ms) in sums {
                out.push((vec![("phase", phase)], seconds(ms)));
            }
        },
    },
    Family {
        name: "probe_failure",
        help: "1 for the failure code of a check that did not reach its required level",
        series: |r, out| {
            // A check that passed may still carry the reason it stopped below `healthy`
            // (`auth.no_credentials` at `speaks`): that is not a failure of the check.
            if let Some(f) = r.outcome.failure.as_ref().filter(|_| !r.ok) {
                out.push((vec![("code", f.code.clone())], 1.0));
            }
        },
    },
];

/// The report as Prometheus metrics.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for family in &FAMILIES {
        let mut lines = String::new();
        for r in &report.results {
            let mut series = Vec::new();
            (family.series)(r, &mut series);
            for (extra, value) in series {
                // Check names are unique in a run (the manifest refuses a name used twice), so
                // these labels never make one series twice.
                let mut labels =
                    vec![("check", r.name.clone()), ("target", r.target.clone()), ("probe", r.probe.clone())];
                labels.extend(extra);
                let _ = writeln!(lines, "{}{} {}", family.name, label_set(&labels), number(value));
            }
        }
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        out.push_str(&lines);
    }
    out
}

/// `{k="v",...}` with each value escaped as the exposition format requires.
fn label_set(labels: &[(&str, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value: backslash, double quote and line feed are the three characters the format
/// escapes (`\\`, `\"`, `\n`); anything else goes out as UTF-8.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A HELP text: backslash and line feed are escaped (quotes are not, in HELP).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Milliseconds (kept to the microsecond) as seconds. Dividing the integer count of
/// microseconds is one correctly rounded operation, so the result is the double nearest the
/// decimal and prints as it (`0.013152`, not the `0.013151999999999999` that dividing the
/// already-rounded milliseconds gave).
fn seconds(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e6
}

/// The shortest text that reads back as the same double; `NaN` and infinities as the format
/// spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label(r#"Gateway "A" \ x"#), r#"Gateway \"A\" \\ x"#);
        assert_eq!(escape_label("a\nb"), "a\\nb");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn seconds_print_as_the_shortest_decimal() {
        assert_eq!(number(seconds(13.152)), "0.013152");
        assert_eq!(number(seconds(0.1 + 0.2)), "0.0003");
        assert_eq!(number(seconds(2000.0)), "2");
        assert_eq!(number(f64::NAN), "NaN");
    }
}
