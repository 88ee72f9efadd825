//! `junit`: one testcase per check for CI. A failed check is a `<failure>` whose type is the
//! failure code and whose text carries the message and the hint; a failed optional check is
//! `<skipped>`, so it shows without failing the build.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report as JReport, TestCase, TestCaseStatus, TestSuite};

use crate::runner::Report;

/// The JUnit XML document.
pub fn render(report: &Report) -> String {
    let mut doc = JReport::new("portproof");
    let mut suite = TestSuite::new(report.title.clone().unwrap_or_else(|| "portproof".into()));
    suite.set_time(Duration::from_secs_f64(report.duration_ms / 1e3));
    suite.add_property(Property::new("portproof", report.portproof.clone()));
    for r in &report.results {
        let status = if r.ok {
            TestCaseStatus::success()
        } else {
            let f = r.outcome.failure.as_ref();
            let code = f.map_or_else(|| format!("level.{}", r.outcome.level), |f| f.code.clone());
            let message = match f {
                Some(f) => format!("{} (reached {}, required {}): {}", f.code, r.outcome.level, r.require, f.message),
                None => format!("reached {}, required {}", r.outcome.level, r.require),
            };
            let mut description = message.clone();
            if let Some(h) = f.and_then(|f| f.hint.as_ref()) {
                description.push_str("\nhint: ");
                description.push_str(h);
            }
            if let Some(id) = &r.outcome.identified {
                description.push_str(&format!("\nidentified: {id}"));
            }
            if r.optional {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!("optional check not met: {message}"));
                s.set_description(description);
                s
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message);
                s.set_type(code);
                s.set_description(description);
                s
            }
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(format!("{}.{}", r.probe, r.target));
        case.set_time(Duration::from_secs_f64(r.duration_ms / 1e3));
        case.add_property(Property::new("target", r.target.clone()));
        case.add_property(Property::new("level", r.outcome.level.to_string()));
        case.add_property(Property::new("require", r.require.to_string()));
        let mut out = serde_json::to_string(&r.outcome.facts).unwrap_or_default();
        for w in &r.outcome.warnings {
            out.push_str(&format!("\nwarning {}: {}", w.code, w.message));
        }
        case.set_system_out(out);
        suite.add_test_case(case);
    }
    doc.add_test_suite(suite);
    doc.to_string().expect("JUnit serializes")
}
