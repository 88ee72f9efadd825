//! `tls`: the handshake itself is the protocol. `speaks` once a handshake completes; `healthy`
//! when the chain also verifies for the name and client authentication is what the target
//! expects (`tls.client_auth`), or, with a client identity, the server accepted it.
//!
//! TLS 1.3 lets the client finish before the server has judged its certificate, so after the
//! handshake the probe reads once, briefly: a rejection arrives as an alert there.
//!
//! What the check states is required: a chain that does not verify fails the check (unless
//! `insecure: true`, which leaves it a warning and the level at `speaks`), and so does a refused
//! client certificate or a stated `client_auth` the server contradicts. When the server asks
//! for a client certificate, a second handshake offers the [`super::stranger`]'s: a server
//! that lets it in does not verify client certificates (`tls.client_cert_unverified`).

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::scan::{self, Depth};
use super::{ClientAuthSeen, codes, diagnose_rustls, handshake_as, handshake_recorded, stranger};
use crate::codes::{Code, core};
use crate::net::dial;
use crate::{ClientAuth, Failure, Level, Over, Phase, Probe, ProbeCx, Target};

/// How long to listen after the handshake for a late alert. A server that judged the client
/// certificate sends its alert at once; waiting longer only slows every healthy check.
const LATE_ALERT_WAIT: Duration = Duration::from_millis(250);

/// The `tls` probe.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "tls",
    summary: "TLS handshake: version, cipher, chain, client-certificate request; healthy = verified (and mutual TLS as expected)",
    proves: "the handshake (`speaks`); chain verified for the name and client authentication as stated (`healthy`); with `scan`, every version and suite in the server's order",
    default_ports: &[443, 8443, 8043, 8060, 636, 993, 995, 5671, 8883],
    codes: codes::CODES,
    tls_in_band: true,
    tls_expectations: true,
    identify: crate::Identify::Never,
    ..crate::About::DEFAULT
};

impl Probe for Tls {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.tls.client_auth.is_some() { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            return Err(Failure::config("expect: tls is the TLS handshake itself; over: tls would wrap TLS in TLS"));
        }
        super::validate(&t.tls)
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// What happened right after the handshake.
enum After {
    /// Nothing within the wait, or data: the session stands.
    Stands,
    /// The server ended the session with an alert.
    Alert(Failure),
    /// The server closed without a word.
    Closed,
}

/// Connections the scanner may hold to one server at once.
const SCAN_PARALLEL: usize = 4;
/// Longest wait for one scanner answer.
const SCAN_ANSWER: Duration = Duration::from_secs(2);
/// Time kept back from the deadline so a scan never costs the verdict.
const SCAN_MARGIN: Duration = Duration::from_millis(50);

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let conn = dial(cx, &t.host, t.port).await?;
    let peer = conn.peer();
    let sni = t.tls.sni.clone().unwrap_or_else(|| t.host.clone());
    let identity = t.tls.client_cert.is_some();
    let alpn: Vec<&[u8]> = t.tls.alpn.iter().map(|p| p.as_bytes()).collect();
    let (seen, after, unverified) = match handshake_recorded(cx, conn, &t.host, &t.tls, true, &alpn).await {
        Ok(mut done) => {
            cx.reach(Level::Speaks);
            let after = late_verdict(cx, &mut done).await;
            // The session is over: close it before any other connection, so the stranger's
            // and the scan's connections are all this probe holds.
            drop(done.stream);
            (done.client_auth, after, done.unverified)
        }
        // A TLS 1.2 server judges the client certificate inside the handshake: a refusal there
        // still proves it speaks TLS, and may be exactly what client_auth expects.
        Err(e) if e.failure.is(&codes::CLIENT_CERT_REQUIRED) || e.failure.is(&codes::CLIENT_CERT_REJECTED) => {
            cx.reach(Level::Speaks);
            (e.client_auth, After::Alert(e.failure), e.unverified)
        }
        Err(e) => {
            let Some(addr) = peer.filter(|_| is_negotiation_failure(&e.failure)) else { return Err(e.failure) };
            let depth = if t.tls.scan { Depth::Suites } else { Depth::Versions };
            let report = run_scan(cx, addr, &sni, depth).await;
            return Err(explain_with_scan(e.failure, &report));
        }
    };
    let stranger = if seen.requested { offer_stranger(cx, t, &alpn).await } else { None };
    let verdict = grade(cx, t, identity, &seen, after, unverified, stranger);
    if t.tls.scan
        && let Some(addr) = peer
    {
        run_scan(cx, addr, &sni, Depth::Suites).await;
    }
    verdict
}

/// After a completed handshake in which the server asked for a client certificate, listen
/// once for its verdict: TLS 1.3 servers send it only after the client's Finished.
async fn late_verdict<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    cx: &mut ProbeCx,
    done: &mut super::Handshaken<S>,
) -> After {
    if !done.client_auth.requested {
        return After::Stands;
    }
    // The alert comes about one round trip after our Finished: allow twice the connect time,
    // never less than LATE_ALERT_WAIT, never more than a third of what is left.
    let rtt = cx.phase_time(Phase::Connect).unwrap_or_default();
    let mut wait = LATE_ALERT_WAIT.max(rtt * 2);
    if let Some(r) = cx.remaining() {
        wait = wait.min(r / 3);
    }
    cx.phase(Phase::Greeting);
    let mut buf = [0u8; 256];
    let after = match tokio::time::timeout(wait, done.stream.read(&mut buf)).await {
        Err(_) | Ok(Ok(1..)) => After::Stands,
        Ok(Ok(0)) => After::Closed,
        Ok(Err(e)) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(re) => After::Alert(diagnose_rustls(re, &done.name, &Default::default(), &done.client_auth)),
            None => After::Closed,
        },
    };
    cx.end_phase();
    after
}

/// The shortest time left in which the stranger's handshake is tried: below it, the verdict
/// comes first.
const STRANGER_MIN: Duration = Duration::from_millis(300);

/// Offers the stranger's certificate on a second connection, within half the time left, and
/// says whether the server let it in: `None` when there was no time or no clear answer.
async fn offer_stranger(cx: &mut ProbeCx, t: &Target, alpn: &[&[u8]]) -> Option<bool> {
    let budget = cx.remaining().map_or(Duration::from_secs(5), |r| r / 2);
    if budget < STRANGER_MIN {
        return None;
    }
    let id = stranger::identity()?;
    // A context of its own: the side question must not overwrite the facts of the handshake
    // the verdict is about.
    let mut side = ProbeCx::new(Some(std::time::Instant::now() + budget));
    let ask = async {
        let conn = dial(&mut side, &t.host, t.port).await.ok()?;
        match handshake_as(&mut side, conn, &t.host, &t.tls, true, alpn, Some(id)).await {
            Ok(mut done) if done.client_auth.sent => {
                let after = late_verdict(&mut side, &mut done).await;
                Some(matches!(after, After::Stands))
            }
            Ok(_) => None,
            Err(e) if e.failure.is(&codes::CLIENT_CERT_REJECTED) => Some(false),
            Err(_) => None,
        }
    };
    let answer = tokio::time::timeout(budget, ask).await.ok().flatten();
    if let Some(accepted) = answer {
        cx.fact(
            "tls_unknown_client_cert",
            if accepted { "accepted: the server does not verify client certificates" } else { "refused" },
        );
    }
    answer
}

/// The verdict: client authentication as expected, then a verified chain; healthy when both
/// hold. A refusal of what the check states fails the check at the level reached.
fn grade(
    cx: &mut ProbeCx,
    t: &Target,
    identity: bool,
    seen: &ClientAuthSeen,
    after: After,
    unverified: Option<Failure>,
    stranger: Option<bool>,
) -> Result<(), Failure> {
    let observed = match (&after, seen.requested, seen.sent) {
        (_, false, _) => "not requested",
        (After::Stands, true, true) => "certificate accepted",
        (After::Stands, true, false) => "requested, and the session went on without one",
        (_, true, true) => "certificate rejected",
        (_, true, false) => "required: refused without a certificate",
    };
    cx.fact("tls_client_auth", observed);
    // The stranger first: whatever else the verdict says, that anyone gets in is worth saying.
    if stranger == Some(true) {
        let what = format!(
            "the handshake accepted a client certificate issued by a throwaway CA made for this check (CN={}), which the server cannot know: it does not verify client certificates in TLS, so anyone gets in unless the application refuses them afterwards (nginx's ssl_verify_client on does, at the HTTP layer: check it with expect: https)",
            stranger::CA_NAME
        );
        if t.tls.client_auth == Some(ClientAuth::Required) {
            return Err(Failure::new(&codes::CLIENT_AUTH_UNVERIFIED, Phase::Tls, what).stated());
        }
        cx.warn(&codes::CLIENT_CERT_UNVERIFIED, what);
    }
    let stated = t.tls.client_auth.is_some() || identity;
    client_auth_verdict(t.tls.client_auth, identity, seen, after).map_err(|f| if stated { f.stated() } else { f })?;
    // healthy means the chain verifies for the name: insecure lets the check pass at speaks
    // with a warning, but it cannot make a chain verify.
    if let Some(f) = unverified {
        if t.tls.insecure {
            cx.warn(&codes::UNVERIFIED, format!("insecure: true let an unverified certificate pass: {}", f.message));
            return Err(Failure { stated: false, ..f });
        }
        return Err(f);
    }
    cx.reach(Level::Healthy);
    Ok(())
}

/// Failures a scan can explain: the versions or suites did not meet.
fn is_negotiation_failure(f: &Failure) -> bool {
    // RFC 8446 §4.1.1: a server that finds no acceptable parameters answers with one of these.
    f.is(&codes::PROTOCOL_VERSION)
        || f.is(&codes::INCOMPATIBLE)
        || matches!(super::alert_of(f), Some("handshake_failure" | "insufficient_security"))
}

/// Scans (phase `scan`), records the result and its warnings.
async fn run_scan(cx: &mut ProbeCx, addr: std::net::SocketAddr, sni: &str, depth: Depth) -> scan::ScanReport {
    cx.phase(Phase::Scan);
    let deadline = cx.remaining().map(|r| std::time::Instant::now() + r.saturating_sub(SCAN_MARGIN));
    let report = scan::scan(addr, Some(sni), depth, SCAN_PARALLEL, SCAN_ANSWER, deadline).await;
    cx.end_phase();
    cx.fact("tls_scan", serde_json::to_value(&report).unwrap_or_default());
    cx.fact("tls_versions", report.accepted());
    for v in report.versions.iter().filter(|v| v.accepted) {
        if matches!(v.version, "TLS 1.0" | "TLS 1.1") {
            cx.warn(&codes::LEGACY_VERSION, format!("the server accepts {}, which is obsolete (RFC 8996)", v.version));
        }
        let weak: Vec<&str> = v.suites.iter().filter(|s| scan::is_weak(s)).map(String::as_str).collect();
        if !weak.is_empty() {
            cx.warn(&codes::WEAK_CIPHER, format!("{} accepts weak suites: {}", v.version, weak.join(", ")));
        }
    }
    report
}

/// Rewrites a negotiation failure with what the server does accept.
fn explain_with_scan(f: Failure, report: &scan::ScanReport) -> Failure {
    let accepted = report.accepted();
    let ours = ["TLS 1.2", "TLS 1.3"];
    if accepted.is_empty() {
        return f;
    }
    if !accepted.iter().any(|v| ours.contains(v)) {
        return Failure::new(
            &codes::PROTOCOL_VERSION,
            Phase::Tls,
            format!("the server accepts only {}; this client speaks TLS 1.2 and 1.3", accepted.join(", ")),
        )
        .hint("TLS 1.0 and 1.1 are obsolete (RFC 8996): enable TLS 1.2 or 1.3 on the server");
    }
    let suites: Vec<String> = report
        .versions
        .iter()
        .filter(|v| v.accepted && ours.contains(&v.version))
        .map(|v| format!("{}: {}", v.version, if v.suites.is_empty() { "?".to_owned() } else { v.suites.join(", ") }))
        .collect();
    Failure::new(
        &codes::NO_SHARED_CIPHER,
        Phase::Tls,
        format!(
            "the server speaks {} but with no cipher suite this client offers ({})",
            accepted.join(", "),
            suites.join("; ")
        ),
    )
}

/// Grades client authentication against what the target expects.
fn client_auth_verdict(
    expected: Option<ClientAuth>,
    identity: bool,
    seen: &ClientAuthSeen,
    after: After,
) -> Result<(), Failure> {
    let f = |code: &'static Code, msg: String| Failure::new(code, Phase::Tls, msg);
    // Refused without a certificate: by an alert, or (some servers) by closing at once.
    let refused = match after {
        After::Alert(failure) => Some(failure),
        After::Closed if seen.requested && !seen.sent => Some(f(
            &codes::CLIENT_CERT_REQUIRED,
            "the server asked for a client certificate, got none, and closed the connection right after the handshake (likely a refusal)".into(),
        )),
        After::Closed => {
            Some(core::CLOSED.failure_in(Phase::Tls, "the server closed the connection right after the handshake"))
        }
        After::Stands => None,
    };
    match (expected, identity, refused) {
        // "none" is contradicted by the request itself, whatever followed it.
        (Some(ClientAuth::None), _, refused) if seen.requested => {
            let then = if refused.is_some() { ", and refused this client without one" } else { "" };
            Err(f(
                &codes::CLIENT_AUTH_REQUESTED,
                format!("the server asks for client certificates{then}; client_auth: none says it should not"),
            ))
        }
        // required and optional both mean the server asks; with or without an identity.
        (Some(ClientAuth::Required), _, _) if !seen.requested => Err(f(
            &codes::CLIENT_AUTH_NOT_REQUIRED,
            "the server lets clients in without a certificate; client_auth: required expects mutual TLS".into(),
        )),
        (Some(ClientAuth::Optional), _, _) if !seen.requested => Err(f(
            &codes::CLIENT_AUTH_NOT_REQUESTED,
            "the server does not ask for a client certificate; client_auth: optional expects it to".into(),
        )),
        // With an identity the question is only whether it was accepted.
        (_, true, Some(failure)) => Err(failure),
        (_, true, None) => Ok(()),
        (Some(ClientAuth::Required), false, Some(failure)) if failure.is(&codes::CLIENT_CERT_REQUIRED) => Ok(()),
        // The server asked (not asking is answered above) and let us in anyway.
        (Some(ClientAuth::Required), false, None) => Err(f(
            &codes::CLIENT_AUTH_OPTIONAL,
            "the server asks for a client certificate but let this client in without one; client_auth: required expects a refusal".into(),
        )),
        (Some(ClientAuth::Optional), false, None) => Ok(()),
        (_, false, Some(failure)) => Err(failure),
        (_, false, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(requested: bool) -> ClientAuthSeen {
        ClientAuthSeen { requested, ..Default::default() }
    }

    fn required_failure() -> After {
        After::Alert(Failure::new(&crate::tls::codes::CLIENT_CERT_REQUIRED, Phase::Tls, "x"))
    }

    #[test]
    fn required_without_identity_passes_only_when_refused() {
        let r = Some(ClientAuth::Required);
        assert!(client_auth_verdict(r, false, &seen(true), required_failure()).is_ok());
        assert_eq!(
            client_auth_verdict(r, false, &seen(false), After::Stands).unwrap_err().code,
            "tls.client_auth_not_required"
        );
        assert_eq!(
            client_auth_verdict(r, false, &seen(true), After::Stands).unwrap_err().code,
            "tls.client_auth_optional"
        );
        assert!(
            client_auth_verdict(r, false, &seen(true), After::Closed).is_ok(),
            "a refusal by closing counts, as likely"
        );
    }

    #[test]
    fn with_an_identity_acceptance_is_what_counts() {
        let rejected = After::Alert(Failure::new(&crate::tls::codes::CLIENT_CERT_REJECTED, Phase::Tls, "x"));
        let mut s = seen(true);
        s.sent = true;
        assert_eq!(
            client_auth_verdict(Some(ClientAuth::Required), true, &s, rejected).unwrap_err().code,
            "tls.client_cert_rejected"
        );
        assert!(client_auth_verdict(Some(ClientAuth::Required), true, &s, After::Stands).is_ok());
        assert!(client_auth_verdict(None, true, &s, After::Stands).is_ok());
        // An identity does not make a server that never asks into a mutual-TLS server.
        let never = ClientAuthSeen::default();
        assert_eq!(
            client_auth_verdict(Some(ClientAuth::Required), true, &never, After::Stands).unwrap_err().code,
            "tls.client_auth_not_required"
        );
    }

    #[test]
    fn optional_and_none_are_held_to_their_word() {
        assert!(client_auth_verdict(Some(ClientAuth::Optional), false, &seen(true), After::Stands).is_ok());
        assert_eq!(
            client_auth_verdict(Some(ClientAuth::Optional), false, &seen(false), After::Stands).unwrap_err().code,
            "tls.client_auth_not_requested"
        );
        assert_eq!(
            client_auth_verdict(Some(ClientAuth::None), false, &seen(true), After::Stands).unwrap_err().code,
            "tls.client_auth_requested"
        );
        assert!(client_auth_verdict(Some(ClientAuth::None), false, &seen(false), After::Stands).is_ok());
        let e = client_auth_verdict(Some(ClientAuth::None), false, &seen(true), required_failure()).unwrap_err();
        assert_eq!(e.code, "tls.client_auth_requested");
        assert!(e.message.contains("refused"), "{}", e.message);
    }

    #[test]
    fn unstated_expectation_reports_what_happened() {
        assert_eq!(
            client_auth_verdict(None, false, &seen(true), required_failure()).unwrap_err().code,
            "tls.client_cert_required"
        );
        assert!(client_auth_verdict(None, false, &seen(false), After::Stands).is_ok());
    }
}
