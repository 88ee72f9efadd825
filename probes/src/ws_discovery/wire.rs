//! The SOAP-over-UDP messages of WS-Discovery: the Probe the probe sends, in the 2005/04 form
//! and the OASIS 2009/01 (WS-DD 1.1) form, and the ProbeMatches it reads. Parsing is
//! quick-xml's namespace-aware pull reader, bounded: at most [`MAX_SOAP`] bytes, [`MAX_DEPTH`]
//! levels of elements, [`MAX_MATCHES`] matches, and [`MAX_TEXT`] bytes of any one text; a
//! DOCTYPE is refused (no entity of the peer's is ever expanded).

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::{WireError, wire_err};

/// SOAP 1.2's envelope namespace, the one WS-Discovery uses.
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The most bytes of one SOAP datagram the parser reads.
pub const MAX_SOAP: usize = 65_507;
/// The deepest nesting of elements read.
pub const MAX_DEPTH: usize = 24;
/// The most ProbeMatch elements kept.
pub const MAX_MATCHES: usize = 32;
/// The most bytes of one text kept (an address, a list of scopes).
pub const MAX_TEXT: usize = 4096;
/// The most XML events read from one datagram, so that no message of tiny elements costs more
/// than a bounded amount of work.
const MAX_EVENTS: usize = 20_000;

/// Which edition of WS-Discovery a message is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// The 2005/04 Microsoft and partners specification (Windows, WSDiscovery for Python).
    V2005,
    /// OASIS WS-Discovery 1.1, 2009/01 (WS-DD).
    V2009,
}

impl Version {
    /// Both, in the order the probe sends them.
    pub const ALL: [Version; 2] = [Version::V2005, Version::V2009];

    /// The discovery namespace.
    pub fn ns(self) -> &'static str {
        match self {
            Version::V2005 => "http://schemas.xmlsoap.org/ws/2005/04/discovery",
            Version::V2009 => "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01",
        }
    }
    /// The WS-Addressing namespace it goes with.
    pub fn addressing(self) -> &'static str {
        match self {
            Version::V2005 => "http://schemas.xmlsoap.org/ws/2004/08/addressing",
            Version::V2009 => "http://www.w3.org/2005/08/addressing",
        }
    }
    /// The `wsa:To` of a Probe sent to the discovery port.
    pub fn to(self) -> &'static str {
        match self {
            Version::V2005 => "urn:schemas-xmlsoap-org:ws:2005:04:discovery",
            Version::V2009 => "urn:docs-oasis-open-org:ws-dd:ns:discovery:2009:01",
        }
    }
    /// As facts name it.
    pub fn label(self) -> &'static str {
        match self {
            Version::V2005 => "2005/04",
            Version::V2009 => "2009/01",
        }
    }
    fn from_ns(ns: &[u8]) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.ns().as_bytes() == ns)
    }
    fn is_addressing(ns: &[u8]) -> bool {
        Version::ALL.iter().any(|v| v.addressing().as_bytes() == ns)
    }
}

/// A Probe for any type and scope, with `message_id` (`urn:uuid:...`).
pub fn probe(version: Version, message_id: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="utf-8"?>"#,
            r#"<soap:Envelope xmlns:soap="{soap}" xmlns:wsa="{wsa}" xmlns:d="{d}">"#,
            "<soap:Header><wsa:To>{to}</wsa:To><wsa:Action>{d}/Probe</wsa:Action>",
            "<wsa:MessageID>{id}</wsa:MessageID></soap:Header>",
            "<soap:Body><d:Probe/></soap:Body></soap:Envelope>"
        ),
        soap = SOAP12,
        wsa = version.addressing(),
        d = version.ns(),
        to = version.to(),
        id = message_id,
    )
}

/// One endpoint a ProbeMatches lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Match {
    /// The endpoint reference's address (`urn:uuid:...`), its stable identity.
    pub address: String,
    /// The types it implements (QNames, space-separated in the message).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// Its scopes (URIs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Where to reach it (transport addresses: `http://10.0.0.5:7237/...`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub xaddrs: Vec<String>,
    /// The metadata version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata_version: Option<u64>,
}

/// What a SOAP-over-UDP datagram said, as far as the probe needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The `wsa:Action`.
    pub action: String,
    /// The `wsa:MessageID`.
    pub message_id: Option<String>,
    /// The `wsa:RelatesTo`: the MessageID this answers.
    pub relates_to: Option<String>,
    /// The edition of the body's ProbeMatches, when it has one.
    pub probe_matches: Option<Version>,
    /// The matches listed (at most [`MAX_MATCHES`]).
    pub matches: Vec<Match>,
    /// How many matches the message listed in all.
    pub match_count: usize,
    /// The reason of a SOAP fault in the body.
    pub fault: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ns {
    Soap,
    Addressing,
    Discovery(Version),
    Other,
}

fn classify(r: &ResolveResult<'_>) -> Ns {
    match r {
        ResolveResult::Bound(ns) if ns.as_ref() == SOAP12.as_bytes() => Ns::Soap,
        ResolveResult::Bound(ns) if Version::is_addressing(ns.as_ref()) => Ns::Addressing,
        ResolveResult::Bound(ns) => Version::from_ns(ns.as_ref()).map_or(Ns::Other, Ns::Discovery),
        _ => Ns::Other,
    }
}

fn push_text(buf: &mut String, s: &str) {
    let room = MAX_TEXT.saturating_sub(buf.len());
    if room > 0 {
        let mut end = room.min(s.len());
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        buf.push_str(&s[..end]);
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Reads one SOAP-over-UDP datagram. Not XML, not a SOAP 1.2 envelope, too deep or too long
/// are errors; elements of other namespaces are skipped.
pub fn parse(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_SOAP {
        return wire_err(format!("{} bytes, more than the {MAX_SOAP} a SOAP-over-UDP message may have", bytes.len()));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return wire_err("not UTF-8 text");
    };
    let mut r = NsReader::from_str(text);
    r.config_mut().trim_text(true);
    // (namespace, local name) of each open element.
    let mut stack: Vec<(Ns, String)> = Vec::new();
    let mut msg = Message::default();
    let mut current = Match::default();
    let mut text_buf = String::new();
    let mut seen_root = false;
    for _ in 0..MAX_EVENTS {
        let (ns, ev) = match r.read_resolved_event() {
            Ok(x) => x,
            Err(e) => return wire_err(format!("not well-formed XML: {e}")),
        };
        let ns = classify(&ns);
        match ev {
            Event::Start(e) | Event::Empty(e) if stack.len() >= MAX_DEPTH => {
                let _ = e;
                return wire_err(format!("elements nested deeper than {MAX_DEPTH} levels"));
            }
            Event::Start(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if stack.is_empty() {
                    if seen_root || !(ns == Ns::Soap && local == "Envelope") {
                        return wire_err(format!("the root element is {local}, not a SOAP 1.2 Envelope"));
                    }
                    seen_root = true;
                }
                open(&mut msg, &mut current, &stack, ns, &local);
                stack.push((ns, local));
                text_buf.clear();
            }
            Event::Empty(e) => {
                let local = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if stack.is_empty() {
                    return wire_err(format!("the root element is an empty {local}, not a SOAP 1.2 Envelope"));
                }
                open(&mut msg, &mut current, &stack, ns, &local);
                stack.push((ns, local));
                text_buf.clear();
                close(&mut msg, &mut current, &stack, "");
                stack.pop();
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| WireError(format!("undecodable text: {e}")))?;
                push_text(&mut text_buf, &s);
            }
            Event::CData(t) => push_text(&mut text_buf, &String::from_utf8_lossy(&t)),
            Event::GeneralRef(g) => {
                let name = g.decode().map_err(|e| WireError(format!("undecodable reference: {e}")))?;
                match quick_xml::escape::unescape(&format!("&{name};")) {
                    Ok(s) => push_text(&mut text_buf, &s),
                    Err(_) => return wire_err(format!("an unknown entity &{name};")),
                }
            }
            Event::End(_) => {
                let t = std::mem::take(&mut text_buf);
                close(&mut msg, &mut current, &stack, t.trim());
                stack.pop();
                if stack.is_empty() {
                    return Ok(msg);
                }
            }
            Event::DocType(_) => return wire_err("a DOCTYPE, which SOAP forbids"),
            Event::Eof => return wire_err("the envelope ends before it is closed"),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    wire_err(format!("more than {MAX_EVENTS} XML events"))
}

fn path_is(stack: &[(Ns, String)], want: &[(Ns, &str)]) -> bool {
    stack.len() == want.len() && stack.iter().zip(want).all(|((n, l), (wn, wl))| n == wn && l == wl)
}

fn under_match(stack: &[(Ns, String)]) -> Option<Version> {
    match stack {
        [(Ns::Soap, e), (Ns::Soap, b), (Ns::Discovery(v), pm), (Ns::Discovery(w), m), ..]
            if e == "Envelope" && b == "Body" && pm == "ProbeMatches" && m == "ProbeMatch" && v == w =>
        {
            Some(*v)
        }
        _ => None,
    }
}

fn open(msg: &mut Message, current: &mut Match, stack: &[(Ns, String)], ns: Ns, local: &str) {
    if let Ns::Discovery(v) = ns {
        if local == "ProbeMatches" && path_is(stack, &[(Ns::Soap, "Envelope"), (Ns::Soap, "Body")]) {
            msg.probe_matches = Some(v);
        }
        if local == "ProbeMatch" && stack.len() == 3 && stack[2].1 == "ProbeMatches" && stack[2].0 == ns {
            *current = Match::default();
        }
    }
}

fn close(msg: &mut Message, current: &mut Match, stack: &[(Ns, String)], text: &str) {
    let Some((ns, local)) = stack.last() else { return };
    let header = [(Ns::Soap, "Envelope"), (Ns::Soap, "Header")];
    if *ns == Ns::Addressing && path_is(&stack[..stack.len() - 1], &header) {
        match local.as_str() {
            "Action" => msg.action = text.to_owned(),
            "MessageID" => msg.message_id = Some(text.to_owned()),
            "RelatesTo" => msg.relates_to = Some(text.to_owned()),
            _ => {}
        }
        return;
    }
    if *ns == Ns::Soap && local == "Text" && stack.iter().any(|(n, l)| *n == Ns::Soap && l == "Fault") {
        msg.fault.get_or_insert_with(|| text.to_owned());
        return;
    }
    let Some(v) = under_match(stack) else { return };
    match (stack.len(), ns, local.as_str()) {
        (4, _, "ProbeMatch") => {
            msg.match_count += 1;
            if msg.matches.len() < MAX_MATCHES {
                msg.matches.push(std::mem::take(current));
            }
        }
        (5, Ns::Discovery(w), "Types") if *w == v => current.types = words(text),
        (5, Ns::Discovery(w), "Scopes") if *w == v => current.scopes = words(text),
        (5, Ns::Discovery(w), "XAddrs") if *w == v => current.xaddrs = words(text),
        (5, Ns::Discovery(w), "MetadataVersion") if *w == v => current.metadata_version = text.parse().ok(),
        (6, Ns::Addressing, "Address") if stack[4].1 == "EndpointReference" => current.address = text.to_owned(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ProbeMatches of the 2005/04 form, written by hand after the layout of WS-Discovery
    /// (April 2005) §5.3 (not a capture), with an entity in a scope.
    const PY_2005: &[u8] = include_bytes!("fixtures/probematches-2005.xml");

    /// python WSDiscovery 2.1.2's answer to a 2005/04 Probe with MessageID
    /// urn:uuid:8c0a3a2e-1ad0-4d5a-9a36-2d6c1c1d5f01 (captured in a network namespace).
    const CAPTURED: &[u8] = include_bytes!("fixtures/wsdiscovery-2.1.2-probematches.xml");

    #[test]
    fn python_wsdiscovery_answer_reads() {
        let m = parse(CAPTURED).unwrap();
        assert_eq!(m.action, "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches");
        assert_eq!(m.probe_matches, Some(Version::V2005));
        assert_eq!(m.relates_to.as_deref(), Some("urn:uuid:8c0a3a2e-1ad0-4d5a-9a36-2d6c1c1d5f01"));
        let x = &m.matches[0];
        assert!(x.address.starts_with("urn:uuid:"), "{x:?}");
        assert_eq!(
            (x.types.as_slice(), x.xaddrs.as_slice()),
            (&["p:PadsServer".to_owned()][..], &["net.tcp://127.0.0.1:7237/".to_owned()][..])
        );
        assert_eq!(x.metadata_version, Some(1));
    }

    #[test]
    fn our_probe_parses_as_a_probe() {
        for v in Version::ALL {
            let p = probe(v, "urn:uuid:1234");
            let m = parse(p.as_bytes()).unwrap();
            assert_eq!(m.action, format!("{}/Probe", v.ns()));
            assert_eq!(m.message_id.as_deref(), Some("urn:uuid:1234"));
            assert_eq!((m.probe_matches, m.relates_to), (None, None), "a Probe is no ProbeMatches");
        }
    }

    #[test]
    fn probe_matches_are_read() {
        let m = parse(PY_2005).unwrap();
        assert_eq!(m.probe_matches, Some(Version::V2005));
        assert_eq!(m.relates_to.as_deref(), Some("urn:uuid:8c0a3a2e-1ad0-4d5a-9a36-2d6c1c1d5f01"));
        assert_eq!(m.matches.len(), 1);
        let x = &m.matches[0];
        assert_eq!(x.address, "urn:uuid:3b1e7f0a-7d6f-4b43-9d5e-55a0d1f0c0aa");
        assert_eq!(x.types, ["ns1:PadsServer"]);
        assert_eq!(x.scopes, ["http://example.org/pads4", "onvif://www.onvif.org/name/a&b"]);
        assert_eq!(x.xaddrs, ["net.tcp://127.0.0.1:7237/"]);
        assert_eq!(x.metadata_version, Some(3));
    }

    #[test]
    fn hostile_xml_is_refused_within_bounds() {
        let deep = format!(r#"<s:Envelope xmlns:s="{SOAP12}">{}"#, "<a>".repeat(1000));
        assert!(parse(deep.as_bytes()).unwrap_err().0.contains("deeper"));
        assert!(parse(b"<not soap/>").is_err());
        assert!(parse(b"\xff\xfe garbage").is_err());
        let dtd = format!(r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="{SOAP12}"/>"#);
        assert!(parse(dtd.as_bytes()).is_err());
        let unclosed = format!(r#"<s:Envelope xmlns:s="{SOAP12}"><s:Body>"#);
        assert!(parse(unclosed.as_bytes()).is_err());
        let wrong_ns = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"></s:Envelope>"#;
        assert!(parse(wrong_ns.as_bytes()).is_err(), "SOAP 1.1 is not WS-Discovery's envelope");
        let many = format!(
            r#"<s:Envelope xmlns:s="{SOAP12}" xmlns:d="{}"><s:Body><d:ProbeMatches>{}</d:ProbeMatches></s:Body></s:Envelope>"#,
            Version::V2009.ns(),
            "<d:ProbeMatch/>".repeat(100)
        );
        let m = parse(many.as_bytes()).unwrap();
        assert_eq!((m.match_count, m.matches.len()), (100, MAX_MATCHES));
    }
}
