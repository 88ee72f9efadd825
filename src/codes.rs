//! `portproof codes` and `portproof explain`: the registry's code tables, for people.

use portproof_probes::codes::{self, Code, Kind};

/// Prints every code (of one probe, or with one prefix), one line each; exit 0.
pub fn list(filter: Option<&str>) -> Result<u8, String> {
    let chosen: Vec<&'static Code> = match filter {
        None => codes::all(),
        Some(name) => match portproof_probes::find(name) {
            Some(p) => p.codes().to_vec(),
            None => {
                let prefix = format!("{name}.");
                let c: Vec<_> = codes::all().into_iter().filter(|c| c.name.starts_with(&prefix)).collect();
                if c.is_empty() {
                    return Err(format!("no probe or code prefix {name:?}; see `portproof probes`"));
                }
                c
            }
        },
    };
    print!("{}", render_list(&chosen));
    Ok(0)
}

/// The listing: code, kind, level, hint.
pub fn render_list(chosen: &[&'static Code]) -> String {
    let width = chosen.iter().map(|c| c.display_name().len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<width$}  {:<7}  {:<11}  HINT\n", "CODE", "KIND", "LEVEL");
    for c in chosen {
        let kind = match c.kind {
            Kind::Failure => "failure",
            Kind::Warning => "warning",
        };
        out.push_str(&format!("{:<width$}  {kind:<7}  {:<11}  {}\n", c.display_name(), c.level.as_str(), c.hint));
    }
    out
}

/// Prints what `code` means; an unknown code is an error naming the nearest ones.
pub fn explain(code: &str) -> Result<u8, String> {
    let Some(c) = codes::lookup(code) else {
        let stem = code.split('.').next().unwrap_or(code);
        let near: Vec<String> =
            codes::all().iter().filter(|c| c.name.starts_with(stem)).map(|c| c.display_name()).take(12).collect();
        return Err(if near.is_empty() {
            format!("no code {code:?}; `portproof codes` lists them all")
        } else {
            format!("no code {code:?}; codes that start alike: {}", near.join(", "))
        });
    };
    print!("{}", render_explain(code, c));
    Ok(0)
}

/// The explanation of one code.
pub fn render_explain(asked: &str, c: &Code) -> String {
    let kind = match c.kind {
        Kind::Failure => "a failure: the check stops",
        Kind::Warning => "a warning: the check keeps its level",
    };
    let mut out = format!("{asked}\n\n  What it means  {}\n", c.about);
    if asked != c.name {
        out.push_str(&format!("  Code family    {}\n", c.display_name()));
    }
    out.push_str(&format!("  Kind           {kind}, typically at level {}\n", c.level.as_str()));
    out.push_str(&format!("  What to do     {}\n", c.hint));
    if !c.spec.is_empty() {
        out.push_str(&format!("  Reference      {}\n", c.spec));
    }
    out
}
