//! WS-Discovery target services for what python WSDiscovery does not do on demand: an answer
//! from another port in the 2009/01 form, an empty ProbeMatches, oversized and malformed SOAP,
//! an answer to someone else's Probe. The envelopes are written here by hand from the
//! specifications (WS-Discovery 2005/04 and 1.1 §5.3), not with the probe's code.

use tokio::net::UdpSocket;

use crate::Server;

/// How a responder answers a Probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsdMode {
    /// Answers a 2009/01 Probe (only) from another port with one match naming net.tcp on 7237.
    Match2009,
    /// Answers a 2005/04 Probe (only) with an empty ProbeMatches.
    Empty2005,
    /// Answers with 65 000 bytes of well-formed but endless nesting.
    Oversized,
    /// Answers with a ProbeMatches cut off mid-element.
    Malformed,
    /// Answers with a full ProbeMatches whose RelatesTo names another Probe.
    Unrelated,
    /// Drops the first datagram of each Probe (as a lossy network would), then answers its
    /// repeat like [`WsdMode::Match2009`], from the same port.
    LoseFirst,
}

const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The MessageID and discovery namespace of a Probe, read with plain string search (enough for
/// the probes this testbed is sent).
fn probe_of(text: &str) -> Option<(String, &'static str, &'static str)> {
    let start = text.find("urn:uuid:")?;
    let id: String = text[start..].chars().take_while(|c| *c != '<').collect();
    if text.contains("docs.oasis-open.org/ws-dd/ns/discovery/2009/01") {
        Some((id, "http://docs.oasis-open.org/ws-dd/ns/discovery/2009/01", "http://www.w3.org/2005/08/addressing"))
    } else if text.contains("schemas.xmlsoap.org/ws/2005/04/discovery") {
        Some((
            id,
            "http://schemas.xmlsoap.org/ws/2005/04/discovery",
            "http://schemas.xmlsoap.org/ws/2004/08/addressing",
        ))
    } else {
        None
    }
}

fn matches(d: &str, a: &str, relates: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:a="{a}" xmlns:d="{d}" xmlns:p="http://example.org/pads"><s:Header><a:Action>{d}/ProbeMatches</a:Action><a:MessageID>urn:uuid:11111111-2222-4333-8444-555555555555</a:MessageID><a:RelatesTo>{relates}</a:RelatesTo></s:Header><s:Body><d:ProbeMatches>{body}</d:ProbeMatches></s:Body></s:Envelope>"#
    )
}

const ONE_MATCH: &str = "<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:3b1e7f0a-7d6f-4b43-9d5e-55a0d1f0c0aa</a:Address></a:EndpointReference><d:Types>p:PadsServer</d:Types><d:Scopes>http://example.org/pads4</d:Scopes><d:XAddrs>net.tcp://127.0.0.1:7237/</d:XAddrs><d:MetadataVersion>3</d:MetadataVersion></d:ProbeMatch>";

/// Serves `mode` on an ephemeral loopback UDP port.
pub async fn serve(mode: WsdMode) -> std::io::Result<Server> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    let other = UdpSocket::bind("127.0.0.1:0").await?;
    let addr = sock.local_addr()?;
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        let mut seen: Vec<String> = Vec::new();
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let Some((id, d, a)) = probe_of(&text) else { continue };
            if mode == WsdMode::LoseFirst && !seen.contains(&id) {
                seen.push(id);
                continue;
            }
            let v2009 = d.contains("2009");
            let out = match mode {
                WsdMode::Match2009 | WsdMode::LoseFirst if v2009 => matches(d, a, &id, ONE_MATCH),
                WsdMode::Empty2005 if !v2009 => matches(d, a, &id, ""),
                WsdMode::Oversized => format!("<s:Envelope xmlns:s=\"{SOAP}\">{}", "<x>".repeat(21_000)),
                WsdMode::Malformed if v2009 => {
                    let full = matches(d, a, &id, ONE_MATCH);
                    full[..full.len() / 2].to_owned()
                }
                WsdMode::Unrelated if v2009 => {
                    matches(d, a, "urn:uuid:00000000-0000-4000-8000-000000000000", ONE_MATCH)
                }
                _ => continue,
            };
            let from_sock = if mode == WsdMode::Match2009 { &other } else { &sock };
            let _ = from_sock.send_to(out.as_bytes(), from).await;
        }
    });
    Ok(Server::new(addr, task))
}
