//! The product profiles embedded in the binary, and the profile model every command reads.
//!
//! A profile is a manifest (see [`crate::manifest`]) written from the vendor's port document,
//! with the parts of the model that document needs: `roles` (which machine each port is on),
//! `features` (checks that are off unless `--with` turns them on), `any_of` groups ("either
//! HTTP or HTTPS"), each check's `direction` and `offset` rule, and `config` (the product's own
//! files, and which key sets which check's port). [`port_model`] gives every check of a
//! profile with all of that resolved: what `profile --list` prints, and what firewall rules
//! and local port listings are made from.

use std::collections::HashMap;
use std::path::Path;

use portproof_probes::codes::core;
use portproof_probes::{Failure, Level, Outcome, Over, Phase};
use serde::Serialize;

use crate::manifest::{self, ConfigFormat, ConfigValues, Direction, Manifest, ManifestError, Overrides};

/// An embedded profile.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// The name given to `portproof profile NAME`.
    pub name: &'static str,
    /// The YAML text.
    pub yaml: &'static str,
}

/// Every embedded profile.
pub const PROFILES: &[Profile] = &[
    Profile { name: "ignition", yaml: include_str!("../profiles/ignition.yaml") },
    Profile { name: "pads4", yaml: include_str!("../profiles/pads4.yaml") },
    Profile { name: "wso2-mb", yaml: include_str!("../profiles/wso2-mb.yaml") },
];

impl Profile {
    /// How errors and reports name this profile.
    pub fn origin(&self) -> String {
        format!("<profile {}>", self.name)
    }

    /// Parses the profile.
    pub fn manifest(&self) -> Result<Manifest, ManifestError> {
        Manifest::parse(self.yaml, &self.origin())
    }
}

/// Looks a profile up by name.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The names of every profile, for error messages.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.name).collect()
}

/// The transport a port is opened for in a firewall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// TCP (plain or with TLS on top).
    Tcp,
    /// UDP.
    Udp,
}

impl Transport {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check of a profile with the model applied: what firewall rules, local port listings
/// and `profile --list` are made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortEntry {
    /// The product (the profile's `product:`, else its description).
    pub product: String,
    /// The check's name.
    pub check: String,
    /// The role whose machine the port is on.
    pub role: Option<String>,
    /// The feature the check belongs to (`None`: always checked).
    pub feature: Option<String>,
    /// Whether `--with`/`--all` turn it on (always, for a check of no feature).
    pub selected: bool,
    /// Inbound, outbound or local-only, on the role's machine.
    pub direction: Direction,
    /// TCP or UDP.
    pub transport: Transport,
    /// The port, after the offset and configuration files.
    pub port: u16,
    /// The key or rule the port came from (`default`, `8088 +100 (--offset)`, `gateway.port in
    /// gateway.xml:4`, `fixed: does not move with the offset`).
    pub port_from: String,
    /// What the check expects to speak there (`closed` for a port that must be closed).
    pub expect: String,
    /// Why the port must be closed wherever it is checked from, if it must (`expect: closed`,
    /// a port its configuration file sets to 0). A local-only port is closed from any other
    /// machine; that depends on where it is checked from, and is in `direction`.
    pub closed: Option<String>,
    /// The any_of group it is in.
    pub any_of: Option<String>,
    /// Whether its failure does not fail the run.
    pub optional: bool,
    /// Free text from the profile.
    pub note: Option<String>,
}

/// Every check of `m` with `o`'s features, offset and configuration files applied, selected
/// or not, in manifest order. Hosts are not needed: a role with no host is no error here.
pub fn port_model(m: &Manifest, src: &str, origin: &str, o: &Overrides) -> Result<Vec<PortEntry>, ManifestError> {
    let product = m.product.clone().or_else(|| m.description.clone()).unwrap_or_else(|| origin.to_owned());
    let resolved = manifest::resolve(m, src, origin, o)?;
    Ok(resolved
        .into_iter()
        .map(|res| {
            let spec = &m.checks[res.index];
            let r = spec.raw();
            let (_, over) = spec.probe();
            PortEntry {
                product: product.clone(),
                check: r.name.clone(),
                role: res.role,
                feature: r.feature.clone(),
                selected: res.selected,
                direction: r.direction.unwrap_or_default(),
                transport: if over == Over::Udp { Transport::Udp } else { Transport::Tcp },
                port: res.port,
                port_from: res.port_from,
                expect: r.expect.clone(),
                closed: res.closed,
                any_of: res.any_of,
                optional: r.optional,
                note: r.note.clone(),
            }
        })
        .collect())
}

/// Judges the outcome of a check whose port must be closed, and rewrites it to say so: a
/// refused, unreachable or filtered port passes (`facts.closed` says which, and the probe's
/// own failure becomes `facts.closed_evidence`); anything that answers fails it with
/// `closed.answered`, naming what answered from what the probe found (its level, what the
/// sniffer identified, a banner, a product). A failure that proves neither (a name that did not
/// resolve, a setting refused) stays, and fails the check: closed is a claim about the port,
/// and nothing was learned about it.
pub fn judge_closed(o: &mut Outcome, why: &str, probe: &str, over: Over) -> bool {
    if o.level >= Level::Open {
        let what = answered(o, probe);
        let then =
            o.failure.take().map(|f| format!("; the {probe} probe then stopped: {}", f.code)).unwrap_or_default();
        o.failure = Some(
            Failure::new(
                &core::CLOSED_ANSWERED,
                Phase::Connect,
                format!("the port must be closed ({why}), and {what} answered{then}"),
            )
            .stated(),
        );
        return false;
    }
    let Some(f) = &o.failure else { return false };
    let how = if f.is(&core::TCP_REFUSED) || f.is(&core::UDP_REFUSED) {
        "refused"
    } else if f.is(&core::TCP_UNREACHABLE) || f.is(&core::UDP_UNREACHABLE) {
        "unreachable: no route from here"
    } else if f.is(&core::TCP_DENIED) {
        "denied by this machine's own firewall"
    } else if f.is(&core::TIMEOUT) && f.phase == Phase::Connect {
        "filtered: the connection attempt had no answer"
    } else if over == Over::Udp
        && !(f.is(&core::DNS_FAILED)
            || f.is(&core::CONFIG_INVALID)
            || f.is(&core::UDP_ERROR)
            || f.is(&core::RUN_INTERRUPTED)
            || f.is(&core::RUN_PANIC)
            || (f.is(&core::TIMEOUT) && f.phase == Phase::Resolve))
    {
        // UDP has no handshake: a datagram nobody answered is all a closed UDP port shows.
        "no answer to the datagram (closed or filtered)"
    } else {
        return false;
    };
    let evidence = format!("{}: {}", f.code, f.message);
    o.facts.insert("closed".into(), how.into());
    o.facts.insert("closed_evidence".into(), evidence.into());
    o.failure = None;
    true
}

/// What answered on a port that must be closed, in words.
fn answered(o: &Outcome, probe: &str) -> String {
    let s = |k: &str| o.facts.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut details: Vec<String> = Vec::new();
    if let Some(p) = s("product") {
        details.push(match s("product_version") {
            Some(v) => format!("{p} {v}"),
            None => p,
        });
    }
    if let Some(p) = s("protocol") {
        details.push(p);
    }
    if let Some(b) = s("banner") {
        details.push(format!("banner {b:?}"));
    }
    let who = if o.level >= Level::Speaks {
        format!("a server the {probe} probe confirmed ({})", o.level)
    } else if let Some(id) = &o.identified {
        format!("a service identified as {id}")
    } else {
        "something that accepted the connection".to_owned()
    };
    if details.is_empty() { who } else { format!("{who}: {}", details.join(", ")) }
}

/// The most bytes read from one configuration file: they are a few kilobytes; more is not one.
const MAX_CONFIG: u64 = 16 << 20;

/// A configuration file's text: UTF-8, or ISO-8859-1 where its XML declaration says so (WSO2's
/// carbon.xml declares it). `Err` is the offset of the first byte that is not UTF-8.
fn decode_config(bytes: Vec<u8>) -> Result<String, usize> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
            let declared = head.starts_with("<?xml")
                && ["iso-8859-1", "iso8859-1", "latin1", "latin-1"]
                    .iter()
                    .any(|n| head.contains(&format!("encoding=\"{n}\"")) || head.contains(&format!("encoding='{n}'")));
            // ISO-8859-1 is the first 256 code points: each byte is its own character.
            if declared { Ok(bytes.iter().map(|&b| char::from(b)).collect()) } else { Err(at) }
        }
    }
}

/// Reads `--config ARG` (`PATH`, or `NAME=PATH` for a file renamed) for the ports and offset
/// it sets, as `m`'s `config:` says: which entry is picked by the file's name, and the keys
/// each sets. An error names the file and, for what is in it, the line.
pub fn read_config(m: &Manifest, arg: &str) -> Result<ConfigValues, String> {
    let accepted = || m.config.iter().map(|c| c.file.as_str()).collect::<Vec<_>>().join(", ");
    if m.config.is_empty() {
        return Err(format!("--config {arg}: this profile reads no configuration files"));
    }
    let (name, path) = match arg.split_once('=') {
        Some((n, p)) if m.config.iter().any(|c| c.file.eq_ignore_ascii_case(n)) => (n.to_owned(), p),
        _ => {
            let base = Path::new(arg).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            (base, arg)
        }
    };
    let source = m.config.iter().find(|c| c.file.eq_ignore_ascii_case(&name)).ok_or_else(|| {
        format!(
            "--config {arg}: {name:?} is not a file this profile reads ({}); give NAME=PATH for a file named otherwise",
            accepted()
        )
    })?;
    let shown = path;
    let bytes = portproof_probes::files::read_small(Path::new(path), "configuration file", MAX_CONFIG)?;
    let text = decode_config(bytes).map_err(|at| {
        format!("{shown}: not UTF-8 text (byte {at}), and its XML declaration names no encoding read here (ISO-8859-1)")
    })?;
    let mut wanted: Vec<&str> = source.ports.keys().map(String::as_str).collect();
    if let Some(k) = &source.offset {
        wanted.push(k);
    }
    let found = match source.format {
        ConfigFormat::XmlEntries => xml_entries(&text),
        ConfigFormat::Xml => xml_paths(&text, &wanted),
        ConfigFormat::Toml => toml_keys(&text, &wanted),
        ConfigFormat::Properties => properties(&text),
    }
    .map_err(|(line, e)| match line {
        Some(l) => format!("{shown}:{l}: {e}"),
        None => format!("{shown}: {e}"),
    })?;
    let file = Path::new(path).file_name().map_or_else(|| path.to_owned(), |f| f.to_string_lossy().into_owned());
    let mut out = ConfigValues::default();
    for (key, checks) in &source.ports {
        let Some((value, line)) = found.get(key.as_str()) else { continue };
        let port: u16 = value.trim().parse().map_err(|_| {
            format!("{shown}:{line}: {key} is {value:?}, not a port number (0 to 65535; 0 turns the port off)")
        })?;
        for check in checks {
            out.ports.push((check.clone(), port, format!("{key} in {file}:{line}")));
        }
    }
    if let Some(key) = &source.offset
        && let Some((value, line)) = found.get(key.as_str())
    {
        let n: i32 = value
            .trim()
            .parse()
            .ok()
            .filter(|n: &i32| n.unsigned_abs() < 65535)
            .ok_or_else(|| format!("{shown}:{line}: {key} is {value:?}, not a port offset (a whole number)"))?;
        out.offset = Some((n, format!("{key} in {file}:{line}")));
    }
    Ok(out)
}

/// What a file sets: key → (value, 1-based line).
type Found = HashMap<String, (String, usize)>;

/// A problem in a file: the line when known, and what.
type FileError = (Option<usize>, String);

fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

fn xml_error(text: &str, r: &quick_xml::Reader<&[u8]>, e: impl std::fmt::Display) -> FileError {
    let at = usize::try_from(r.error_position()).unwrap_or(usize::MAX);
    (Some(line_at(text, at)), format!("not well-formed XML: {e}"))
}

/// The most nested elements followed: configuration files are shallow.
const MAX_DEPTH: usize = 64;

/// `<entry key="K">V</entry>` anywhere (Java's properties XML, as in Ignition's gateway.xml);
/// a key written twice keeps its last value, as `java.util.Properties.loadFromXML` does.
fn xml_entries(text: &str) -> Result<Found, FileError> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(text);
    let mut found = Found::new();
    let mut open: Option<(String, String, usize)> = None;
    loop {
        let start = usize::try_from(r.buffer_position()).unwrap_or(0);
        match r.read_event() {
            Err(e) => return Err(xml_error(text, &r, e)),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"entry" => {
                let key = attr(&e, b"key").map_err(|m| (Some(line_at(text, start)), m))?;
                let line = line_at(text, start);
                let Some(key) = key else {
                    return Err((Some(line), "an <entry> without a key attribute".into()));
                };
                open = Some((key, String::new(), line));
            }
            Ok(Event::Empty(e)) if e.local_name().as_ref() == b"entry" => {
                let line = line_at(text, start);
                if let Some(key) = attr(&e, b"key").map_err(|m| (Some(line), m))? {
                    found.insert(key, (String::new(), line));
                }
            }
            Ok(Event::Text(t)) => {
                if let Some((_, v, _)) = open.as_mut() {
                    v.push_str(&t.xml10_content().map_err(|e| (Some(line_at(text, start)), e.to_string()))?);
                }
            }
            Ok(Event::GeneralRef(g)) => {
                if let Some((_, v, _)) = open.as_mut() {
                    v.push_str(&entity(&g, text, start)?);
                }
            }
            // Java's properties reader takes a CDATA section's text as the value.
            Ok(Event::CData(c)) => {
                if let Some((_, v, _)) = open.as_mut() {
                    v.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Ok(Event::End(e)) if e.local_name().as_ref() == b"entry" => {
                if let Some((k, v, line)) = open.take() {
                    found.insert(k, (v, line));
                }
            }
            Ok(_) => {}
        }
    }
    Ok(found)
}

fn entity(g: &quick_xml::events::BytesRef<'_>, text: &str, at: usize) -> Result<String, FileError> {
    let name = g.decode().map_err(|e| (Some(line_at(text, at)), e.to_string()))?;
    quick_xml::escape::unescape(&format!("&{name};"))
        .map(|s| s.into_owned())
        .map_err(|_| (Some(line_at(text, at)), format!("an unknown entity &{name};")))
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|e| format!("a malformed attribute: {e}"))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .normalized_value(quick_xml::XmlVersion::default())
                .map_err(|e| format!("a malformed attribute value: {e}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// One step of an XML path: an element's local name and the attributes it must have.
#[derive(Debug, PartialEq)]
struct Step {
    name: String,
    filters: Vec<(String, String)>,
}

/// `A/B[@x='y']/C` (text of C) or `A/B/@port` (an attribute of B).
fn parse_path(path: &str) -> Result<(Vec<Step>, Option<String>), String> {
    let bad = |why: &str| format!("the XML path {path:?} {why}");
    let mut parts: Vec<&str> = path.split('/').collect();
    let attribute = match parts.last() {
        Some(last) if last.starts_with('@') => {
            let a = last[1..].to_owned();
            parts.pop();
            Some(a)
        }
        _ => None,
    };
    let mut steps = Vec::new();
    for part in parts {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() {
            return Err(bad("has an empty step"));
        }
        let mut filters = Vec::new();
        while !rest.is_empty() {
            let (inner, after) = rest.split_once(']').ok_or_else(|| bad("has an unclosed ["))?;
            let (k, v) = inner
                .strip_prefix('@')
                .and_then(|f| f.split_once('='))
                .ok_or_else(|| bad("has a filter other than [@attr='value']"))?;
            let v = v.trim_matches(|c| c == '\'' || c == '"');
            filters.push((k.to_owned(), v.to_owned()));
            rest = after.strip_prefix('[').unwrap_or(after);
            if !after.is_empty() && !after.starts_with('[') {
                return Err(bad("has text after a filter"));
            }
        }
        steps.push(Step { name: name.to_owned(), filters });
    }
    if steps.is_empty() {
        return Err(bad("names no element"));
    }
    Ok((steps, attribute))
}

/// The values of XML paths (see [`ConfigFormat::Xml`]); a path that matches twice is an error
/// naming both lines, since which of two the product uses is not ours to guess.
fn xml_paths(text: &str, wanted: &[&str]) -> Result<Found, FileError> {
    use quick_xml::events::Event;
    let paths: Vec<(&str, Vec<Step>, Option<String>)> = wanted
        .iter()
        .map(|w| parse_path(w).map(|(s, a)| (*w, s, a)))
        .collect::<Result<_, _>>()
        .map_err(|e| (None, e))?;
    let mut r = quick_xml::Reader::from_str(text);
    let mut stack: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut found = Found::new();
    // Text being gathered for a path, with its key and line.
    let mut gathering: Vec<(usize, String, String, usize)> = Vec::new();
    let put = |found: &mut Found, key: &str, value: String, line: usize| -> Result<(), FileError> {
        if let Some((_, first)) = found.get(key) {
            return Err((
                Some(line),
                format!("{key} matches twice, here and at line {first}: make the path select one"),
            ));
        }
        found.insert(key.to_owned(), (value, line));
        Ok(())
    };
    let matches = |stack: &[(String, Vec<(String, String)>)], steps: &[Step]| {
        stack.len() == steps.len()
            && stack.iter().zip(steps).all(|((name, attrs), step)| {
                *name == step.name && step.filters.iter().all(|(k, v)| attrs.iter().any(|(ak, av)| ak == k && av == v))
            })
    };
    loop {
        let start = usize::try_from(r.buffer_position()).unwrap_or(0);
        let line = line_at(text, start);
        let (e, empty) = match r.read_event() {
            Err(e) => return Err(xml_error(text, &r, e)),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => (e.into_owned(), false),
            Ok(Event::Empty(e)) => (e.into_owned(), true),
            Ok(Event::Text(t)) => {
                let t = t.xml10_content().map_err(|e| (Some(line), e.to_string()))?;
                for g in &mut gathering {
                    if g.0 == stack.len() {
                        g.2.push_str(&t);
                    }
                }
                continue;
            }
            Ok(Event::GeneralRef(g)) => {
                let t = entity(&g, text, start)?;
                for g in &mut gathering {
                    if g.0 == stack.len() {
                        g.2.push_str(&t);
                    }
                }
                continue;
            }
            Ok(Event::End(_)) => {
                let depth = stack.len();
                let mut i = 0;
                while i < gathering.len() {
                    if gathering[i].0 == depth {
                        let (_, key, value, at) = gathering.remove(i);
                        put(&mut found, &key, value, at)?;
                    } else {
                        i += 1;
                    }
                }
                stack.pop();
                continue;
            }
            Ok(_) => continue,
        };
        if stack.len() >= MAX_DEPTH {
            return Err((Some(line), format!("elements nested deeper than {MAX_DEPTH} levels")));
        }
        let mut attrs = Vec::new();
        for a in e.attributes() {
            let a = a.map_err(|err| (Some(line), format!("a malformed attribute: {err}")))?;
            let v = a
                .normalized_value(quick_xml::XmlVersion::default())
                .map_err(|err| (Some(line), format!("a malformed attribute value: {err}")))?;
            attrs.push((String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(), v.into_owned()));
        }
        stack.push((String::from_utf8_lossy(e.local_name().as_ref()).into_owned(), attrs));
        for (key, steps, attribute) in &paths {
            if !matches(&stack, steps) {
                continue;
            }
            match attribute {
                Some(a) => {
                    let attrs = &stack.last().expect("just pushed").1;
                    if let Some((_, v)) = attrs.iter().find(|(k, _)| k == a) {
                        put(&mut found, key, v.clone(), line)?;
                    }
                }
                None if empty => put(&mut found, key, String::new(), line)?,
                None => gathering.push((stack.len(), (*key).to_owned(), String::new(), line)),
            }
        }
        if empty {
            stack.pop();
        }
    }
    Ok(found)
}

/// The values of dotted TOML keys (`server.offset`).
fn toml_keys(text: &str, wanted: &[&str]) -> Result<Found, FileError> {
    let doc = toml_edit::Document::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_at(text, s.start));
        (line, format!("not valid TOML: {}", e.message()))
    })?;
    let mut found = Found::new();
    for w in wanted {
        let keys = toml_edit::Key::parse(w).map_err(|e| (None, format!("the TOML key {w:?} is not one: {e}")))?;
        let mut item = doc.as_item();
        let mut hit = true;
        for k in &keys {
            match item.get(k.get()) {
                Some(next) => item = next,
                None => {
                    hit = false;
                    break;
                }
            }
        }
        if !hit {
            continue;
        }
        let line = item.span().map_or(0, |s| line_at(text, s.start));
        let value = match (item.as_integer(), item.as_str()) {
            (Some(n), _) => n.to_string(),
            (None, Some(s)) => s.to_owned(),
            _ => return Err((Some(line), format!("{w} is a {}, not a number", item.type_name()))),
        };
        found.insert((*w).to_owned(), (value, line));
    }
    Ok(found)
}

/// Java `.properties` lines (`key=value`, `key: value`, `key value`), continuations and escapes
/// as `java.util.Properties.load` reads them; a key written twice keeps its last value.
fn properties(text: &str) -> Result<Found, FileError> {
    let mut found = Found::new();
    for line in java_properties::PropertiesIter::new(text.as_bytes()) {
        let line = line.map_err(|e| (e.line_number(), e.to_string()))?;
        let n = line.line_number();
        if let java_properties::LineContent::KVPair(k, v) = line.consume_content() {
            found.insert(k, (v, n));
        }
    }
    Ok(found)
}

/// `portproof profile NAME --list`: the roles, features and any_of groups, then every check
/// with its role, feature, direction, port and where the port came from.
pub fn render_list(name: &str, m: &Manifest, entries: &[PortEntry], o: &Overrides) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let product = m.product.as_deref().unwrap_or(name);
    let _ = writeln!(out, "{name}: {product}");
    if let Some(s) = &m.source {
        let _ = writeln!(out, "source: {s}");
    }
    if !m.roles.is_empty() {
        let _ = writeln!(out, "\nROLES (--host ROLE=HOST[,HOST...]; a bare --host HOST sets every role)");
        for (r, about) in &m.roles {
            let _ = writeln!(out, "  {r:<12} {about}");
        }
    }
    if !m.features.is_empty() {
        let _ = writeln!(out, "\nFEATURES (off unless --with F[,F] or --all)");
        for (f, about) in &m.features {
            let on = if o.all || o.with.contains(f) { "on " } else { "off" };
            let _ = writeln!(out, "  {on} {f:<12} {about}");
        }
    }
    if !m.any_of.is_empty() {
        let _ = writeln!(out, "\nANY OF (one member passing on a host is enough)");
        for g in &m.any_of {
            let note = g.note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
            let _ = writeln!(out, "  {:<12} {}{note}", g.name, g.checks.join(" | "));
        }
    }
    if !m.config.is_empty() {
        let _ = writeln!(out, "\nCONFIG FILES (--config FILE)");
        for c in &m.config {
            let mut keys: Vec<String> = c.ports.keys().cloned().collect();
            if let Some(k) = &c.offset {
                keys.push(format!("{k} (offset)"));
            }
            let _ = writeln!(out, "  {:<24} {:<12} {}", c.file, c.format.to_string(), keys.join(", "));
        }
    }
    let head = ["CHECK", "ROLE", "FEATURE", "DIRECTION", "PORT", "EXPECT", "FROM"];
    let rows: Vec<[String; 7]> = entries
        .iter()
        .map(|e| {
            let expect = match (&e.closed, e.optional) {
                (Some(_), _) => "closed".to_owned(),
                (None, true) => format!("{} (optional)", e.expect),
                (None, false) => e.expect.clone(),
            };
            let feature = match &e.feature {
                Some(f) if e.selected => f.clone(),
                Some(f) => format!("{f} (off)"),
                None => "-".into(),
            };
            [
                e.check.clone(),
                e.role.clone().unwrap_or_else(|| "-".into()),
                feature,
                e.direction.to_string(),
                format!("{}/{}", e.port, e.transport),
                expect,
                e.port_from.clone(),
            ]
        })
        .collect();
    let mut width: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut l = String::from("  ");
        for (c, w) in cells.iter().zip(&width) {
            l.push_str(c);
            l.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
        }
        l.trim_end().to_owned()
    };
    let _ = writeln!(out, "\nCHECKS");
    let _ = writeln!(out, "{}", line(&head.map(str::to_owned)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    out
}

/// The same as [`render_list`], as JSON.
pub fn list_json(name: &str, m: &Manifest, entries: &[PortEntry], o: &Overrides) -> serde_json::Value {
    let features: Vec<serde_json::Value> = m
        .features
        .iter()
        .map(|(f, about)| serde_json::json!({"name": f, "about": about, "selected": o.all || o.with.contains(f)}))
        .collect();
    let roles: Vec<serde_json::Value> =
        m.roles.iter().map(|(r, about)| serde_json::json!({"name": r, "about": about})).collect();
    serde_json::json!({
        "profile": name,
        "product": m.product,
        "source": m.source,
        "roles": roles,
        "features": features,
        "any_of": m.any_of,
        "config": m.config,
        "checks": entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latin1_file_is_read_where_its_declaration_says_so() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!-- caf\xe9 -->\n<Server/>".to_vec();
        assert!(decode_config(latin1).unwrap().contains("caf\u{e9}"));
        let undeclared = b"<?xml version=\"1.0\"?>\n<!-- caf\xe9 -->".to_vec();
        assert_eq!(decode_config(undeclared), Err(30), "the offset of the first byte that is not UTF-8");
        assert_eq!(decode_config(b"plain".to_vec()).unwrap(), "plain");
    }
    use crate::manifest::plan;

    fn loopback() -> Overrides {
        Overrides { host: Some("127.0.0.1".into()), ..Default::default() }
    }

    #[test]
    fn every_profile_parses_and_plans() {
        for p in PROFILES {
            let m = p.manifest().unwrap_or_else(|e| panic!("{e}"));
            assert!(m.product.is_some(), "{} names its product", p.name);
            let checks = plan(&m, p.yaml, &p.origin(), &loopback()).unwrap_or_else(|e| panic!("{e}"));
            assert!(!checks.is_empty());
            let all = Overrides { all: true, ..loopback() };
            let every = plan(&m, p.yaml, &p.origin(), &all).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(every.len(), m.checks.len(), "{}: --all turns every check on", p.name);
        }
    }

    #[test]
    fn messaging_profiles_name_every_tcp_port_of_their_documents() {
        for (name, ports) in [
            ("pads4", &[7237, 80, 443, 5672, 5671, 15672, 15671][..]),
            ("wso2-mb", &[9443, 9763, 5672, 8672, 1883, 8833, 7611]),
        ] {
            let m = find(name).unwrap().manifest().unwrap();
            let have: Vec<u16> = m.checks.iter().map(|c| c.raw().port).collect();
            for p in ports {
                assert!(have.contains(p), "{name} lists {p}");
            }
        }
        let m = find("pads4").unwrap().manifest().unwrap();
        let expects: Vec<&str> = m.checks.iter().map(|c| c.raw().expect.as_str()).collect();
        assert!(expects.contains(&"amqp") && expects.contains(&"amqps") && expects.contains(&"rabbitmq-api"));
        for c in m.checks.iter().filter(|c| [5672, 5671, 15672, 15671].contains(&c.raw().port)) {
            assert_eq!(c.raw().direction, Some(Direction::LocalOnly), "{}: used locally only", c.raw().name);
        }
    }

    #[test]
    fn ignition_names_every_port_of_its_document() {
        let m = find("ignition").unwrap().manifest().unwrap();
        let ports: Vec<u16> = m.checks.iter().map(|c| c.raw().port).collect();
        for port in [8088, 8043, 8060, 4840, 4096, 502, 3306, 5432, 1433, 1521] {
            assert!(ports.contains(&port), "the Ignition document lists {port}");
        }
        let http = m.checks.iter().find(|c| c.raw().name == "Gateway HTTP").unwrap().raw();
        assert_eq!(http.sections[0].1.to_json()["path"], "/StatusPing");
        assert!(!http.optional && http.feature.is_none(), "HTTP is a web port, in the any_of group");
        let web = m.any_of.iter().find(|g| g.checks.contains(&"Gateway HTTP".to_owned())).unwrap();
        assert!(web.checks.contains(&"Gateway HTTPS".to_owned()), "either HTTP or HTTPS required");
        for c in m.checks.iter().filter(|c| c.raw().expect == "tcp") {
            assert!(c.raw().planned.is_some(), "{} is a tcp stand-in and says for what", c.raw().name);
        }
        for f in ["gan", "opcua", "modbus", "mysql", "postgres", "mssql", "oracle", "redundancy", "require-ssl"] {
            assert!(m.features.contains_key(f), "feature {f}");
        }
        let db = m.checks.iter().find(|c| c.raw().port == 5432).unwrap().raw();
        assert_eq!((db.role.as_deref(), db.feature.as_deref()), (Some("database"), Some("postgres")));
    }

    #[test]
    fn features_are_off_unless_asked_for_and_unknown_ones_are_refused() {
        let p = find("ignition").unwrap();
        let m = p.manifest().unwrap();
        let names = |o: &Overrides| -> Vec<String> {
            plan(&m, p.yaml, &p.origin(), o).unwrap().into_iter().map(|c| c.name).collect()
        };
        let base = names(&loopback());
        assert!(base.contains(&"Gateway HTTP".to_owned()) && !base.iter().any(|n| n.starts_with("OPC UA")));
        let with = names(&Overrides { with: vec!["opcua".into()], ..loopback() });
        assert!(with.contains(&"OPC UA server".to_owned()) && with.contains(&"OPC UA discovery".to_owned()));
        assert!(!with.contains(&"Modbus TCP".to_owned()));
        let checks = plan(&m, p.yaml, &p.origin(), &Overrides { with: vec!["opcua".into()], ..loopback() }).unwrap();
        let opc = checks.iter().find(|c| c.name == "OPC UA server").unwrap();
        assert!(!opc.optional && opc.feature.as_deref() == Some("opcua"), "a feature asked for is required");
        let e = plan(&m, p.yaml, &p.origin(), &Overrides { with: vec!["opc".into()], ..loopback() }).unwrap_err();
        assert!(e.message.contains("--with opc") && e.message.contains("opcua") && e.message.contains("gan"), "{e}");
    }

    #[test]
    fn roles_place_checks_on_their_hosts() {
        let p = find("ignition").unwrap();
        let m = p.manifest().unwrap();
        let o = Overrides {
            role_hosts: vec![
                ("gateway".into(), vec!["10.0.0.1".into(), "10.0.0.2".into()]),
                ("database".into(), vec!["10.0.0.9".into()]),
            ],
            with: vec!["postgres".into()],
            ..Default::default()
        };
        let checks = plan(&m, p.yaml, &p.origin(), &o).unwrap();
        let host = |n: &str| checks.iter().find(|c| c.name == n).unwrap_or_else(|| panic!("{n}")).target.host.clone();
        assert_eq!(host("Gateway HTTP @ 10.0.0.1"), "10.0.0.1");
        assert_eq!(host("Gateway HTTP @ 10.0.0.2"), "10.0.0.2", "each host of a role gets the role's checks");
        assert_eq!(host("PostgreSQL"), "10.0.0.9");
        // A role with no host is an error naming it, unless none of its checks runs.
        let o = Overrides {
            role_hosts: vec![("gateway".into(), vec!["10.0.0.1".into()])],
            with: vec!["mysql".into()],
            ..Default::default()
        };
        let e = plan(&m, p.yaml, &p.origin(), &o).unwrap_err();
        assert!(e.message.contains("role \"database\" has no host") && e.message.contains("--host database="), "{e}");
        let o = Overrides { role_hosts: vec![("gateway".into(), vec!["10.0.0.1".into()])], ..Default::default() };
        assert!(plan(&m, p.yaml, &p.origin(), &o).is_ok(), "no database check selected, no database host needed");
        let o = Overrides { role_hosts: vec![("plc".into(), vec!["h".into()])], ..Default::default() };
        let e = plan(&m, p.yaml, &p.origin(), &o).unwrap_err();
        assert!(e.message.contains("no such role") && e.message.contains("database"), "{e}");
    }

    #[test]
    fn local_only_ports_are_closed_from_another_machine() {
        let p = find("pads4").unwrap();
        let m = p.manifest().unwrap();
        let amqp = |host: &str| {
            let o = Overrides { host: Some(host.into()), ..Default::default() };
            plan(&m, p.yaml, &p.origin(), &o).unwrap().into_iter().find(|c| c.name == "RabbitMQ AMQP").unwrap()
        };
        assert_eq!(amqp("127.0.0.1").closed, None, "on the server itself it must speak");
        assert_eq!(amqp("::1").closed, None);
        assert_eq!(amqp("localhost").closed, None);
        let remote = amqp("10.0.0.5");
        assert!(remote.closed.as_deref().unwrap().contains("local-only"), "{:?}", remote.closed);
        assert_eq!(remote.probe.name(), "amqp", "what answers is named by the check's own probe");
        assert!(!remote.optional);
    }

    const OFFSETS: &str = "\
features: { cluster: clustering }
checks:
  - { name: web, port: 9443, expect: https }
  - { name: member, port: 4000, expect: tcp, offset: fixed, feature: cluster }
";

    #[test]
    fn the_offset_moves_every_port_but_the_fixed_ones() {
        let m = Manifest::parse(OFFSETS, "m.yaml").unwrap();
        let o = Overrides { offset: Some(3), all: true, ..loopback() };
        let c = plan(&m, OFFSETS, "m.yaml", &o).unwrap();
        assert_eq!((c[0].target.port, c[0].port_from.as_str()), (9446, "9443 +3 (--offset)"));
        assert_eq!(c[1].target.port, 4000, "a fixed port does not move");
        assert!(c[1].port_from.starts_with("fixed"), "{}", c[1].port_from);
        let o = Overrides {
            all: true,
            config: vec![ConfigValues { ports: vec![], offset: Some((10, "Ports/Offset in carbon.xml:3".into())) }],
            ..loopback()
        };
        let c = plan(&m, OFFSETS, "m.yaml", &o).unwrap();
        assert_eq!((c[0].target.port, c[0].port_from.as_str()), (9453, "9443 +10 (Ports/Offset in carbon.xml:3)"));
        assert_eq!(c[1].target.port, 4000);
    }

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/data/config/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn gateway_xml_entries_are_read_with_their_lines() {
        let f = xml_entries(&fixture("gateway.xml")).unwrap();
        assert_eq!(f["gateway.port"], ("8080".to_owned(), 6));
        assert_eq!(f["gateway.sslport"].0, "8443");
        assert_eq!(f["gateway.metroSSLPort"].0, "0");
        assert_eq!(f["gateway.requireSSL"].0, "true");
    }

    #[test]
    fn xml_paths_read_elements_and_attributes() {
        let carbon = fixture("carbon.xml");
        let f = xml_paths(&carbon, &["Server/Ports/Offset"]).unwrap();
        assert_eq!(f["Server/Ports/Offset"].0, "2", "namespaced elements match by local name");
        let server = fixture("server.xml");
        let keys = [
            "Server/Service[@name='spotfire']/Connector[@scheme='http']/@port",
            "Server/Service[@name='spotfire']/Connector[@scheme='https']/@port",
            "Server/Service[@name='spotfire-backend']/Connector[@name='registration']/@port",
            "Server/Service[@name='spotfire-backend']/Connector[@name='communication']/@port",
        ];
        let f = xml_paths(&server, &keys).unwrap();
        let v: Vec<&str> = keys.iter().map(|k| f[*k].0.as_str()).collect();
        assert_eq!(v, ["80", "443", "9080", "9443"]);
        let e = xml_paths(&server, &["Server/Service/Connector/@port"]).unwrap_err();
        assert!(e.1.contains("matches twice"), "{e:?}");
        let e = xml_paths("<a>\n<b>\n</a>", &["a/b"]).unwrap_err();
        assert_eq!(e.0, Some(3), "{e:?}");
        assert!(parse_path("a/b[x]").is_err());
    }

    #[test]
    fn toml_and_properties_keys_are_read_with_their_lines() {
        let f = toml_keys(&fixture("deployment.toml"), &["server.offset", "server.hostname"]).unwrap();
        assert_eq!(f["server.offset"], ("5".to_owned(), 4));
        let e = toml_keys("[server\noffset = 1\n", &["server.offset"]).unwrap_err();
        assert_eq!(e.0, Some(1), "{e:?}");
        let f = properties(&fixture("nodemanager.properties")).unwrap();
        assert_eq!(f["nodemanager.cleartext.port"].0, "9081");
        assert_eq!(f["nodemanager.port"].0, "9444");
    }

    #[test]
    fn a_config_file_moves_checks_and_zero_closes_them() {
        let p = find("ignition").unwrap();
        let m = p.manifest().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.xml");
        std::fs::write(&path, fixture("gateway.xml")).unwrap();
        let values = read_config(&m, path.to_str().unwrap()).unwrap();
        let o = Overrides { config: vec![values], with: vec!["gan".into()], ..loopback() };
        let checks = plan(&m, p.yaml, &p.origin(), &o).unwrap();
        let http = checks.iter().find(|c| c.name == "Gateway HTTP").unwrap();
        assert_eq!((http.target.port, http.port_from.as_str()), (8080, "gateway.port in gateway.xml:6"));
        let metro = checks.iter().find(|c| c.name == "Gateway Network (Metro)").unwrap();
        assert!(metro.closed.as_deref().unwrap().contains("gateway.metroSSLPort in gateway.xml:8 is 0"), "{metro:?}");
        assert_eq!(metro.target.port, 8060, "checked closed where it would be");
        // Renamed files are given with NAME=PATH; unknown names and bad values are refused.
        let other = dir.path().join("backup-gateway.xml");
        std::fs::write(&other, "<properties>\n<entry key=\"gateway.port\">80a</entry>\n</properties>\n").unwrap();
        let e = read_config(&m, other.to_str().unwrap()).unwrap_err();
        assert!(e.contains("backup-gateway.xml") && e.contains("gateway.xml"), "{e}");
        let e = read_config(&m, &format!("gateway.xml={}", other.display())).unwrap_err();
        assert!(e.contains("backup-gateway.xml:2:") && e.contains("\"80a\""), "{e}");
    }

    #[test]
    fn which_key_sets_which_check_is_the_manifests_data() {
        // A Spotfire-like manifest: the file kinds and keys are its own, no code names them.
        let src = "\
roles: { server: the server, node: a node manager }
config:
  - file: server.xml
    format: xml
    ports:
      Server/Service[@name='spotfire']/Connector[@scheme='https']/@port: [public https]
      Server/Service[@name='spotfire-backend']/Connector[@name='registration']/@port: [registration]
  - file: nodemanager.properties
    format: properties
    ports:
      nodemanager.cleartext.port: [node registration]
      nodemanager.port: [node communication]
checks:
  - { name: public https, port: 443, expect: https, role: server }
  - { name: registration, port: 9080, expect: http, role: server }
  - { name: node registration, port: 9080, expect: http, role: node }
  - { name: node communication, port: 9443, expect: https, role: node }
";
        let m = Manifest::parse(src, "spotfire.yaml").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut o = Overrides { host: Some("127.0.0.1".into()), ..Default::default() };
        for name in ["server.xml", "nodemanager.properties"] {
            let path = dir.path().join(name);
            std::fs::write(&path, fixture(name)).unwrap();
            o.config.push(read_config(&m, path.to_str().unwrap()).unwrap());
        }
        let entries = port_model(&m, src, "spotfire.yaml", &o).unwrap();
        let got: Vec<(&str, u16, &str)> =
            entries.iter().map(|e| (e.check.as_str(), e.port, e.port_from.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    "public https",
                    443,
                    "Server/Service[@name='spotfire']/Connector[@scheme='https']/@port in server.xml:8"
                ),
                (
                    "registration",
                    9080,
                    "Server/Service[@name='spotfire-backend']/Connector[@name='registration']/@port in server.xml:16"
                ),
                ("node registration", 9081, "nodemanager.cleartext.port in nodemanager.properties:3"),
                ("node communication", 9444, "nodemanager.port in nodemanager.properties:4"),
            ]
        );
        let e = read_config(&m, "/nowhere/carbon.xml").unwrap_err();
        assert!(e.contains("server.xml, nodemanager.properties"), "names the files it reads: {e}");
    }

    #[test]
    fn closed_is_judged_on_what_the_port_did() {
        let refused = Failure::new(&core::TCP_REFUSED, Phase::Connect, "connection refused");
        let mut o = Outcome {
            level: Level::Unreachable,
            identified: None,
            failure: Some(refused),
            warnings: Vec::new(),
            phases: Vec::new(),
            facts: Default::default(),
        };
        assert!(judge_closed(&mut o, "expect: closed", "tcp", Over::Tcp));
        assert_eq!((o.facts["closed"].as_str(), o.failure.is_none()), (Some("refused"), true));
        let mut o2 = o.clone();
        o2.facts.clear();
        o2.failure = Some(core::TIMEOUT.failure_in(Phase::Connect, "no answer"));
        assert!(judge_closed(&mut o2, "x", "tcp", Over::Tcp));
        assert!(o2.facts["closed"].as_str().unwrap().starts_with("filtered"));
        o2.failure = Some(Failure::new(&core::DNS_FAILED, Phase::Resolve, "no such host"));
        assert!(!judge_closed(&mut o2, "x", "tcp", Over::Tcp), "an unknown name proves nothing about the port");
        let mut open = o.clone();
        open.level = Level::Speaks;
        open.facts.insert("protocol".into(), "AMQP 0-9-1".into());
        assert!(!judge_closed(&mut open, "local-only", "amqp", Over::Tcp));
        let f = open.failure.unwrap();
        assert!(f.is(&core::CLOSED_ANSWERED) && f.stated);
        assert!(f.message.contains("amqp probe confirmed") && f.message.contains("AMQP 0-9-1"), "{}", f.message);
    }

    #[test]
    fn the_port_model_lists_every_check_with_where_its_port_came_from() {
        let p = find("wso2-mb").unwrap();
        let m = p.manifest().unwrap();
        let o = Overrides { offset: Some(1), ..Default::default() };
        let entries = port_model(&m, p.yaml, &p.origin(), &o).unwrap();
        assert_eq!(entries.len(), m.checks.len(), "selected or not");
        let web = entries.iter().find(|e| e.port == 9444).unwrap();
        assert_eq!(
            (web.transport, web.direction, web.port_from.as_str()),
            (Transport::Tcp, Direction::Inbound, "9443 +1 (--offset)")
        );
        assert!(entries.iter().any(|e| e.port_from.starts_with("fixed") && !e.selected), "the clustering port");
        let text = render_list("wso2-mb", &m, &entries, &o);
        assert!(text.contains("FEATURES") && text.contains("9444/tcp") && text.contains("fixed"), "{text}");
    }
}
