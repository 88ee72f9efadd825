//! `ws-discovery`: a WS-Discovery target service (UDP 3702), asked with a directed Probe.
//!
//! The probe sends two SOAP-over-UDP Probes for any type and scope to the target, one in the
//! 2005/04 form (Windows, python WSDiscovery) and one in the OASIS 2009/01 form (WS-DD 1.1),
//! each with a fresh `urn:uuid:` MessageID. Real services answer from another source port than
//! 3702, so the socket takes datagrams from any port of the target's address
//! ([`ReplyFrom::AnyPort`]), which still hears an ICMP port unreachable as `udp.refused`.
//!
//! Only a ProbeMatches whose RelatesTo is one of our MessageIDs is the answer (`speaks`);
//! anything else, our own Probe echoed, another protocol, malformed or oversized XML, a
//! ProbeMatches for someone else's Probe, is ignored and counted, and with no answer by the
//! deadline the result is `ws_discovery.no_response` naming what was ignored. One or more
//! matches is `healthy` (`ws_discovery.no_matches` otherwise), each match's endpoint
//! reference, Types, Scopes, XAddrs and metadata version in the facts: the XAddrs say where and
//! over what the service is reached (PADS4's 7237). Without an answer the Probes are repeated
//! once, as SOAP-over-UDP asks of unicast messages, after 50 to 250 ms. After the first answer
//! the probe listens [`MORE_GRACE`] longer for the other edition's answer.
//!
//! The multicast "server search" (`portproof discover ws-discovery`) is not built yet.

pub mod codes;
pub mod wire;

use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};

use crate::net::{ReplyFrom, dial_udp};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target};
use wire::{Match, Version};

/// How long the probe keeps listening after the first answer, for the other edition's (at
/// most half the time left).
pub const MORE_GRACE: Duration = Duration::from_millis(200);
/// How many ignored datagrams are described by name in the message.
const DESCRIBED: usize = 4;

/// The `ws-discovery` probe.
#[derive(Debug, Clone, Copy)]
pub struct WsDiscovery;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "ws-discovery",
    summary: "WS-Discovery (SOAP over UDP): a directed Probe, 2005/04 and 2009/01; the endpoints, types, scopes and XAddrs it lists",
    proves: "a WS-Discovery target service (UDP 3702, `over: udp` only): two directed SOAP-over-UDP Probes, 2005/04 and 2009/01 (WS-DD 1.1), each with a fresh `urn:uuid:` MessageID, repeated once after 50 to 250 ms without an answer (SOAP-over-UDP's unicast repeat); replies may come from any source port of the target's address (real services answer from an ephemeral one), and an ICMP port unreachable is still `udp.refused`. A ProbeMatches whose RelatesTo is one of our MessageIDs is `speaks`; one or more matches `healthy`, each match's endpoint address, Types, Scopes, XAddrs and metadata version in the facts. XML by quick-xml, namespace-aware, bounded (one datagram, 24 levels, 32 matches, 4 KiB per text, no DOCTYPE); everything else is ignored and counted. The multicast `discover` command is not built yet",
    default_ports: &[3702],
    transports: &[Over::Udp],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for WsDiscovery {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(m) = facts.get("ws_discovery_matches").and_then(|v| v.as_array()) {
            generic.push(format!("{} match{}", m.len(), if m.len() == 1 { "" } else { "es" }));
            if let Some(x) = m.iter().find_map(|m| m["xaddrs"].get(0).and_then(|x| x.as_str())) {
                generic.push(x.to_owned());
            }
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// A fresh `urn:uuid:` (version 4, random).
fn message_id() -> Result<String, Failure> {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).map_err(|_| Failure::config("the system's random number generator failed"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

/// SOAP-over-UDP's UDP_MIN_DELAY and UDP_MAX_DELAY (Appendix I): the repeat of a unicast
/// message waits a random time between them.
const REPEAT_DELAY: (u64, u64) = (50, 250);

/// The wait before the repeat, in milliseconds drawn from [`REPEAT_DELAY`].
fn repeat_delay() -> Result<Duration, Failure> {
    let mut b = [0u8; 1];
    SystemRandom::new().fill(&mut b).map_err(|_| Failure::config("the system's random number generator failed"))?;
    let (lo, hi) = REPEAT_DELAY;
    Ok(Duration::from_millis(lo + u64::from(b[0]) * (hi - lo) / 255))
}

/// What the probe heard so far.
struct Heard {
    ids: Vec<(Version, String)>,
    answered: Vec<Version>,
    matches: Vec<Match>,
    ignored: Vec<String>,
    ignored_count: usize,
    reply_port: Option<u16>,
}

impl Heard {
    /// Sorts one datagram: an answer to one of our Probes (true), or a stray (counted).
    fn take(&mut self, bytes: &[u8], port: u16) -> bool {
        let why = match wire::parse(bytes) {
            Err(e) => format!("not a SOAP envelope ({e})"),
            Ok(m) => {
                let ours = self.ids.iter().find(|(_, id)| m.relates_to.as_deref() == Some(id.as_str()));
                match (ours, m.probe_matches) {
                    (Some((v, _)), Some(pm)) if *v == pm && m.action == format!("{}/ProbeMatches", v.ns()) => {
                        if !self.answered.contains(v) {
                            self.answered.push(*v);
                            for x in m.matches {
                                if !self.matches.iter().any(|h| h.address == x.address) {
                                    self.matches.push(x);
                                }
                            }
                            self.reply_port.get_or_insert(port);
                        }
                        return true;
                    }
                    (Some(_), _) if m.fault.is_some() => {
                        format!("a SOAP fault: {}", m.fault.unwrap_or_default().chars().take(200).collect::<String>())
                    }
                    (Some(_), _) => format!("an answer to our Probe with action {:?}, not ProbeMatches", m.action),
                    (None, _) if m.action.ends_with("/Probe") => "a Probe (our own, echoed?)".to_owned(),
                    (None, _) => format!("a SOAP message that does not answer our Probe (action {:?})", m.action),
                }
            }
        };
        self.ignored_count += 1;
        if self.ignored.len() < DESCRIBED {
            self.ignored.push(why);
        }
        false
    }

    fn waiting_for(&self) -> String {
        let mut s = "a ProbeMatches whose RelatesTo is one of our Probes' MessageIDs".to_owned();
        if self.ignored_count > 0 {
            s.push_str(&format!(
                "; ignored {} datagram{} that did not answer them: {}",
                self.ignored_count,
                if self.ignored_count == 1 { "" } else { "s" },
                self.ignored.join("; ")
            ));
        }
        s
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let mut d = dial_udp(cx, &t.host, t.port, ReplyFrom::AnyPort).await?;
    let mut heard = Heard {
        ids: Vec::new(),
        answered: Vec::new(),
        matches: Vec::new(),
        ignored: Vec::new(),
        ignored_count: 0,
        reply_port: None,
    };
    cx.phase(Phase::Request);
    let mut probes = Vec::new();
    for v in Version::ALL {
        let id = message_id()?;
        let p = wire::probe(v, &id);
        d.send(cx, p.as_bytes()).await?;
        heard.ids.push((v, id));
        probes.push(p);
    }
    // SOAP-over-UDP repeats a unicast message once (UNICAST_UDP_REPEAT = 1) after a random
    // delay between UDP_MIN_DELAY and UDP_MAX_DELAY, with the same MessageID: a datagram lost
    // on the way costs one repeat, not the verdict.
    let repeat_at = Instant::now() + repeat_delay()?;
    let mut repeated = false;
    loop {
        let got = if repeated {
            d.recv(cx, &codes::NO_RESPONSE, &heard.waiting_for()).await?
        } else {
            // Silence until the repeat is still the probe's own code if the deadline comes first.
            cx.await_answer(&codes::NO_RESPONSE, heard.waiting_for());
            let got = d.recv_within(repeat_at.saturating_duration_since(Instant::now())).await;
            cx.answered();
            match got? {
                Some(g) => g,
                None => {
                    for p in &probes {
                        d.send_raw(p.as_bytes()).await?;
                    }
                    repeated = true;
                    continue;
                }
            }
        };
        if heard.take(&got.bytes, got.from.port()) {
            break;
        }
    }
    cx.reach(Level::Speaks);
    let grace = MORE_GRACE.min(cx.remaining().map_or(MORE_GRACE, |r| r / 2));
    let until = Instant::now() + grace;
    while heard.answered.len() < Version::ALL.len() {
        match d.recv_within(until.saturating_duration_since(Instant::now())).await {
            Ok(Some(g)) => {
                heard.take(&g.bytes, g.from.port());
            }
            _ => break,
        }
    }
    cx.end_phase();
    let versions: Vec<&str> = heard.answered.iter().map(|v| v.label()).collect();
    cx.fact("protocol", format!("WS-Discovery {}", versions.join(", ")));
    cx.fact("ws_discovery_versions", versions.clone());
    if let Some(p) = heard.reply_port {
        cx.fact("ws_discovery_reply_port", p);
    }
    if heard.ignored_count > 0 {
        cx.fact("ws_discovery_ignored_datagrams", heard.ignored_count);
    }
    cx.fact("ws_discovery_matches", serde_json::to_value(&heard.matches).unwrap_or_default());
    if heard.matches.is_empty() {
        return Err(Failure::new(
            &codes::NO_MATCHES,
            Phase::Request,
            format!("the service answered the Probe ({}) with a ProbeMatches listing no endpoint", versions.join(", ")),
        ));
    }
    cx.reach(Level::Healthy);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heard(ids: &[(Version, &str)]) -> Heard {
        Heard {
            ids: ids.iter().map(|(v, s)| (*v, (*s).to_owned())).collect(),
            answered: vec![],
            matches: vec![],
            ignored: vec![],
            ignored_count: 0,
            reply_port: None,
        }
    }

    #[test]
    fn message_ids_are_fresh_uuids() {
        let (a, b) = (message_id().unwrap(), message_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), "urn:uuid:".len() + 36);
        assert_eq!(&a[9 + 14..9 + 15], "4", "version 4: {a}");
    }

    #[test]
    fn only_probe_matches_relating_to_our_probe_count() {
        let fixture = include_bytes!("fixtures/probematches-2005.xml");
        let mut h = heard(&[(Version::V2005, "urn:uuid:someone-else")]);
        assert!(!h.take(fixture, 4000), "a ProbeMatches for another Probe is not ours");
        assert!(!h.take(wire::probe(Version::V2005, "urn:uuid:x").as_bytes(), 4000));
        assert!(!h.take(b"\x00garbage", 4000));
        assert_eq!(h.ignored_count, 3);
        assert!(h.waiting_for().contains("a Probe (our own, echoed?)"), "{}", h.waiting_for());
        // Related, but of the other edition than the Probe with that id: not an answer.
        let mut h = heard(&[(Version::V2009, "urn:uuid:8c0a3a2e-1ad0-4d5a-9a36-2d6c1c1d5f01")]);
        assert!(!h.take(fixture, 4000));
        let mut h = heard(&[(Version::V2005, "urn:uuid:8c0a3a2e-1ad0-4d5a-9a36-2d6c1c1d5f01")]);
        assert!(h.take(fixture, 4000));
        assert_eq!((h.matches.len(), h.reply_port), (1, Some(4000)));
    }

    #[test]
    fn every_code_the_tests_know_is_in_a_table() {
        for c in ["ws_discovery.no_response", "ws_discovery.no_matches"] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }
}
