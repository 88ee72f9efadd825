//! `json`: the whole report as one document, `{"portproof": VERSION, "results": [...], "summary": {...}}`.

use crate::runner::Report;

/// Pretty-printed JSON of the report; it parses back into the same [`Report`].
pub fn render(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("a report always serializes");
    s.push('\n');
    s
}

/// The JSON Schema of the `json` report (and, as its `CheckResult`, of each `jsonl` line):
/// `portproof schema report`, published as `docs/report.schema.json`. Generated from the types
/// the report serializes, so it cannot drift from what is written.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(crate::runner::Report)).expect("schema serializes")
}
