//! `ntp`: an NTP server (UDP 123), asked as a client asks it.
//!
//! The probe sends one RFC 5905 client request (mode 3, version 4) whose transmit timestamp is
//! a random nonce, and takes as the answer only a datagram that is mode 4 (server), echoes the
//! nonce as its origin timestamp and carries a non-zero transmit timestamp (§8's checks against
//! bogus and replayed packets). Anything else the port sends is ignored and counted: an echo,
//! another protocol, a reply to another request are not evidence of an NTP server answering
//! us, and a stray could otherwise pass as one. With no answer by the deadline the result is
//! `ntp.no_response` at `unreachable` (UDP has no `open`); an ICMP port unreachable is
//! `udp.refused` at once.
//!
//! A valid reply is `speaks`, with the header's facts: stratum, reference id, leap indicator,
//! precision, root delay and dispersion, and the offset and round-trip delay computed from the
//! four timestamps (T1 and T4 are this machine's clock; the time between them is measured on
//! the monotonic clock so that a clock step meanwhile does not distort the delay). `healthy`
//! needs a synchronised server, leap indicator not 3 and stratum 1 to 15
//! (`ntp.unsynchronised` otherwise), and |offset| within `ntp.max_offset` (default 1 s,
//! `ntp.offset`). A Kiss-o'-Death (stratum 0 with an ASCII kiss code) is `ntp.kiss.<code>`.
//!
//! Beside the request, one RFC 9327 READVAR (mode 6) asks for the system variables: ntpd and
//! ntpsec answer with their `version` (`ntpd ntpsec-1.2.2 ...`), which becomes the product;
//! chrony ignores mode 6, so after the reply the probe waits for it only briefly
//! ([`READVAR_GRACE`]). Mode 7 (ntpdc's private mode, whose monlist made NTP an amplifier) is
//! never sent.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};

use crate::net::{Datagrams, ReplyFrom, dial_udp};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target};
use wire::Packet;

/// How long the probe waits for a READVAR answer once the NTP reply is in (at most half the
/// time left): ntpd answers both at once, chrony never answers mode 6.
pub const READVAR_GRACE: Duration = Duration::from_millis(250);
/// How many ignored datagrams are described by name in the facts and messages.
const DESCRIBED: usize = 4;

/// The `ntp` probe.
#[derive(Debug, Clone, Copy)]
pub struct Ntp;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "ntp",
    summary: "NTP server (RFC 5905): stratum, reference, leap, offset and delay; healthy when synchronised and within ntp.max_offset",
    proves: "an NTP server (UDP 123, `over: udp` only): one RFC 5905 client request (mode 3, version 4) whose transmit timestamp is a random nonce; only a mode-4 reply echoing it as its origin timestamp (and with a non-zero transmit timestamp) is the answer, `speaks`: anything else the port sends is ignored and counted in the message and facts. Facts: stratum, reference id (upstream address, `GPS`, chrony's local `127.127.1.1`), leap indicator, precision, root delay and dispersion, offset and round-trip delay from the four timestamps. `healthy`: synchronised (leap not 3, stratum 1 to 15) and \\|offset\\| within `ntp.max_offset` (`--max-offset`, default 1 s; stating it makes the check require `healthy`). One RFC 9327 mode-6 READVAR beside it names ntpd/ntpsec and their version (`ntp.readvar: false` to skip it; chrony ignores mode 6, and the probe waits for it only 250 ms after the reply); mode 7 is never sent",
    default_ports: &[123],
    transports: &[Over::Udp],
    options: Some(&SECTION),
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Ntp {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A stated `max_offset` is a health criterion.
    fn default_require(&self, t: &Target) -> Level {
        if t.options::<NtpOptions>().is_some_and(|o| o.max_offset.is_some()) { Level::Healthy } else { Level::Speaks }
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(s) = facts.get("ntp_stratum").and_then(|v| v.as_u64()) {
            let refid = facts.get("ntp_refid").and_then(|v| v.as_str()).unwrap_or("?");
            generic.push(format!("stratum {s} ({refid})"));
        }
        if let Some(o) = facts.get("ntp_offset_ms").and_then(|v| v.as_f64()) {
            generic.push(format!("offset {o:+.3} ms"));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// What a datagram that was not the answer looked like, for the message that counts them.
fn describe(bytes: &[u8], nonce: u64) -> String {
    match wire::parse(bytes) {
        Err(e) => format!("not NTP ({e})"),
        Ok(p) if p.mode != wire::MODE_SERVER => format!("NTP mode {}, not a server reply", p.mode),
        Ok(p) if p.origin != nonce => format!("a server reply to another request (origin {:#018x})", p.origin),
        Ok(_) => "a server reply with a zero transmit timestamp".to_owned(),
    }
}

/// The probe's state while it reads the port's datagrams.
struct Heard {
    nonce: u64,
    seq: u16,
    ignored: Vec<String>,
    ignored_count: usize,
    vars: Option<Vec<(String, String)>>,
}

impl Heard {
    /// Sorts one datagram: the reply (returned), a READVAR answer (kept), or a stray (counted).
    fn take(&mut self, bytes: &[u8]) -> Option<Packet> {
        if let Ok(p) = wire::parse(bytes)
            && p.mode == wire::MODE_SERVER
            && p.origin == self.nonce
            && p.transmit != 0
        {
            return Some(p);
        }
        if let Ok(c) = wire::parse_control(bytes)
            && c.opcode == wire::OP_READVAR
            && c.seq == self.seq
        {
            // Only the first fragment is read: the version comes first.
            if !c.error && c.offset == 0 && self.vars.is_none() {
                self.vars = Some(wire::parse_vars(&c.data));
            }
            return None;
        }
        self.ignored_count += 1;
        if self.ignored.len() < DESCRIBED {
            self.ignored.push(describe(bytes, self.nonce));
        }
        None
    }

    fn waiting_for(&self) -> String {
        let mut s = "an NTP server reply (mode 4) echoing this request's transmit timestamp".to_owned();
        if self.ignored_count > 0 {
            s.push_str(&format!(
                "; ignored {} datagram{} that did not answer it: {}",
                self.ignored_count,
                if self.ignored_count == 1 { "" } else { "s" },
                self.ignored.join("; ")
            ));
        }
        s
    }
}

fn random_u64() -> Result<u64, Failure> {
    let mut b = [0u8; 8];
    SystemRandom::new().fill(&mut b).map_err(|_| Failure::config("the system's random number generator failed"))?;
    Ok(u64::from_be_bytes(b))
}

fn now_ntp(at: SystemTime) -> u64 {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    wire::timestamp(d.as_secs(), d.subsec_nanos())
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<NtpOptions>();
    let mut d: Datagrams = dial_udp(cx, &t.host, t.port, ReplyFrom::Target).await?;
    // A zero nonce would read as "no origin" to some servers: draw again.
    let nonce = match random_u64()? {
        0 => 1,
        n => n,
    };
    let mut heard = Heard { nonce, seq: (random_u64()? as u16) | 1, ignored: Vec::new(), ignored_count: 0, vars: None };
    let sent_at = SystemTime::now();
    let sent = Instant::now();
    d.send(cx, &wire::request(nonce)).await?;
    if opts.readvar() {
        d.send_raw(&wire::readvar_request(heard.seq)).await?;
    }
    let (reply, elapsed) = loop {
        let got = d.recv(cx, &codes::NO_RESPONSE, &heard.waiting_for()).await?;
        let elapsed = sent.elapsed();
        if let Some(p) = heard.take(&got.bytes) {
            break (p, elapsed);
        }
    };
    cx.reach(Level::Speaks);
    record(cx, &reply, sent_at, elapsed, heard.ignored_count);

    if opts.readvar() && heard.vars.is_none() {
        let grace = READVAR_GRACE.min(cx.remaining().map_or(READVAR_GRACE, |r| r / 2));
        let until = Instant::now() + grace;
        while heard.vars.is_none() {
            let left = until.saturating_duration_since(Instant::now());
            match d.recv_within(left).await {
                Ok(Some(g)) => {
                    let _ = heard.take(&g.bytes);
                }
                _ => break,
            }
        }
    }
    if let Some(vars) = &heard.vars {
        record_vars(cx, vars);
    }
    cx.end_phase();
    verdict(cx, &reply, &opts)
}

/// The header's facts, and the offset and delay of RFC 5905 §8.
fn record(cx: &mut ProbeCx, p: &Packet, sent_at: SystemTime, elapsed: Duration, ignored: usize) {
    let t1 = now_ntp(sent_at);
    let t4 = now_ntp(sent_at + elapsed);
    let (t2, t3) = (p.receive, p.transmit);
    let offset = (wire::diff(t2, t1) + wire::diff(t3, t4)) / 2.0;
    let delay = (elapsed.as_secs_f64() - wire::diff(t3, t2)).max(0.0);
    cx.fact("protocol", format!("NTPv{}", p.version));
    cx.fact("ntp_stratum", p.stratum);
    cx.fact("ntp_refid", wire::refid_text(p.stratum, p.refid));
    cx.fact(
        "ntp_leap",
        match p.leap {
            0 => "none",
            1 => "last minute of the day has 61 seconds",
            2 => "last minute of the day has 59 seconds",
            _ => "unsynchronised (alarm)",
        },
    );
    cx.fact("ntp_precision", format!("2^{} s", p.precision));
    cx.fact("ntp_root_delay_ms", round3(wire::short_secs(p.root_delay) * 1e3));
    cx.fact("ntp_root_dispersion_ms", round3(wire::short_secs(p.root_dispersion) * 1e3));
    cx.fact("ntp_offset_ms", round3(offset * 1e3));
    cx.fact("ntp_delay_ms", round3(delay * 1e3));
    if ignored > 0 {
        cx.fact("ntp_ignored_datagrams", ignored);
    }
}

fn round3(v: f64) -> f64 {
    (v * 1e3).round() / 1e3
}

/// The READVAR answer's facts: the implementation and version become the product.
fn record_vars(cx: &mut ProbeCx, vars: &[(String, String)]) {
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.chars().take(200).collect::<String>());
    if let Some(v) = get("version") {
        // `ntpd ntpsec-1.2.2 2023-05-26T23:04:00Z`, `ntpd 4.2.8p15@1.3728-o ...`.
        let mut words = v.split_whitespace();
        if let Some(name) = words.next() {
            cx.fact("product", name.to_owned());
            if let Some(ver) = words.next() {
                cx.fact("product_version", ver.to_owned());
            }
        }
        cx.fact("ntp_version", v);
    }
    for k in ["processor", "system"] {
        if let Some(v) = get(k) {
            cx.fact(&format!("ntp_{k}"), v);
        }
    }
}

/// What each kiss code asks of the client (RFC 5905 §7.4 and the IANA kiss code registry).
fn kiss_hint(code: &str) -> String {
    match code {
        "DENY" | "RSTR" => "the server's access rules refuse this client (chrony: allow/deny, ntpd: restrict): add this client's address, or use another server".into(),
        "RATE" => "the server rate-limits this client: query it less often (is another client behind the same address polling it hard?), and check its ratelimit/limit settings".into(),
        "INIT" => "the association is not synchronised yet: the server is starting up; try again in a few minutes".into(),
        "STEP" => "the server stepped its clock and is re-synchronising: try again shortly".into(),
        "AUTH" | "CRYP" | "NKEY" => "the server requires authentication (symmetric key or NTS) that this probe does not perform".into(),
        "ACST" | "AUTO" | "BCST" | "MCST" | "DROP" => "the server will not serve this client in client/server mode now; check its configuration and logs".into(),
        other => format!("the server refused with kiss code {other}: see its documentation and logs"),
    }
}

fn verdict(cx: &mut ProbeCx, p: &Packet, opts: &NtpOptions) -> Result<(), Failure> {
    if p.stratum == 0
        && let Some(code) = wire::kiss_code(p.refid)
    {
        let detail: String =
            code.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        cx.fact("ntp_kiss_code", code.clone());
        return Err(codes::KISS
            .failure_with(detail, Phase::Request, format!("the server answered with a Kiss-o'-Death, kiss code {code}"))
            .hint(kiss_hint(&code)));
    }
    if p.leap == 3 || !(1..=15).contains(&p.stratum) {
        let why = match (p.leap == 3, p.stratum) {
            (true, s) => format!("leap indicator 3 (alarm: not synchronised), stratum {s}"),
            (false, s) => format!("stratum {s}, outside 1 to 15"),
        };
        return Err(Failure::new(
            &codes::UNSYNCHRONISED,
            Phase::Request,
            format!("the server answers NTP but is not synchronised: {why}"),
        ));
    }
    let offset_ms = cx.facts().get("ntp_offset_ms").and_then(|v| v.as_f64()).unwrap_or(0.0);
    let max = opts.max_offset();
    if offset_ms.abs() > max.as_secs_f64() * 1e3 {
        return Err(Failure::new(
            &codes::OFFSET,
            Phase::Request,
            format!(
                "the server's clock is {offset_ms:+.3} ms from this machine's, more than ntp.max_offset {}",
                crate::humanize(max)
            ),
        ));
    }
    cx.reach(Level::Healthy);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(leap: u8, stratum: u8, refid: [u8; 4], origin: u64) -> Packet {
        let mut b = [0u8; wire::HEADER_LEN];
        b[0] = (leap << 6) | (4 << 3) | wire::MODE_SERVER;
        b[1] = stratum;
        b[12..16].copy_from_slice(&refid);
        b[24..32].copy_from_slice(&origin.to_be_bytes());
        b[40..48].copy_from_slice(&1u64.to_be_bytes());
        wire::parse(&b).unwrap()
    }

    #[test]
    fn only_a_mode_4_echo_of_the_nonce_is_the_answer() {
        let mut h = Heard { nonce: 42, seq: 3, ignored: vec![], ignored_count: 0, vars: None };
        assert!(h.take(&wire::request(42)).is_none(), "our own request echoed is not an answer");
        assert!(h.take(&[0u8; 10]).is_none());
        let mut wrong = [0u8; 48];
        wrong[0] = 0x24;
        wrong[24..32].copy_from_slice(&41u64.to_be_bytes());
        wrong[40] = 1;
        assert!(h.take(&wrong).is_none(), "a reply to another request is not ours");
        assert_eq!(h.ignored_count, 3);
        assert!(h.waiting_for().contains("ignored 3 datagrams"), "{}", h.waiting_for());
        wrong[24..32].copy_from_slice(&42u64.to_be_bytes());
        assert!(h.take(&wrong).is_some());
    }

    #[test]
    fn kiss_unsynchronised_offset_and_health() {
        let mut cx = ProbeCx::default();
        let f = verdict(&mut cx, &reply(3, 0, *b"RATE", 1), &NtpOptions::default()).unwrap_err();
        assert_eq!(f.code, "ntp.kiss.rate");
        assert!(f.hint.unwrap().contains("rate-limits"));
        let f = verdict(&mut cx, &reply(3, 0, [0; 4], 1), &NtpOptions::default()).unwrap_err();
        assert_eq!(f.code, "ntp.unsynchronised");
        let f = verdict(&mut cx, &reply(0, 16, [0; 4], 1), &NtpOptions::default()).unwrap_err();
        assert_eq!(f.code, "ntp.unsynchronised");
        cx.fact("ntp_offset_ms", 1500.0);
        let f = verdict(&mut cx, &reply(0, 2, [10, 0, 0, 1], 1), &NtpOptions::default()).unwrap_err();
        assert_eq!(f.code, "ntp.offset");
        assert_eq!(cx.level(), Level::Unreachable, "verdict never raises the level on a failure");
        let generous = NtpOptions { max_offset: Some(Duration::from_secs(2)), ..Default::default() };
        verdict(&mut cx, &reply(0, 2, [10, 0, 0, 1], 1), &generous).unwrap();
        assert_eq!(cx.level(), Level::Healthy);
    }

    #[test]
    fn every_code_the_ntp_tests_know_is_in_a_table() {
        for c in ["ntp.kiss.rate", "ntp.unsynchronised", "ntp.offset", "ntp.no_response"] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
    }
}
