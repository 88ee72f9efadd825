//! `tls`: the handshake itself is the protocol. `speaks` once a handshake completes; `healthy`
//! when the chain also verifies for the name and client authentication is what the target
//! expects (`tls.client_auth`), or, with a client identity, the server accepted it.
//!
//! TLS 1.3 lets the client finish before the server has judged its certificate, so after the
//! handshake the probe reads once, briefly: a rejection arrives as an alert there.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{ClientAuthSeen, diagnose_rustls, handshake_recorded};
use crate::net::dial;
use crate::{ClientAuth, Failure, Level, Over, Phase, Probe, ProbeCx, ProbeFuture, Target};

/// How long to listen after the handshake for a late alert. A server that judged the client
/// certificate sends its alert at once; waiting longer only slows every healthy check.
const LATE_ALERT_WAIT: Duration = Duration::from_millis(250);

/// The `tls` probe.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

impl Probe for Tls {
    fn name(&self) -> &'static str {
        "tls"
    }
    fn summary(&self) -> &'static str {
        "TLS handshake: version, cipher, chain, client-certificate request; healthy = verified (and mutual TLS as expected)"
    }
    fn default_ports(&self) -> &'static [u16] {
        &[443, 8443, 8043, 8060, 636, 993, 995, 5671, 8883]
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
    fn probe<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> ProbeFuture<'a> {
        Box::pin(async move {
            let r = run(t, cx).await;
            cx.finish(r)
        })
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

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let conn = dial(cx, &t.host, t.port).await?;
    let mut done = handshake_recorded(cx, conn, &t.host, &t.tls, true, &[]).await?;
    cx.reach(Level::Speaks);
    cx.phase(Phase::Greeting);
    // Only a server that asked for a client certificate has anything left to say about it.
    let wait = if done.client_auth.requested {
        cx.remaining().map_or(LATE_ALERT_WAIT, |r| LATE_ALERT_WAIT.min(r / 3))
    } else {
        Duration::ZERO
    };
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
    let auth = done.client_auth.clone();
    let identity = t.tls.client_cert.is_some();
    client_auth_verdict(t.tls.client_auth, identity, &auth, after)?;
    if let Some(f) = done.unverified.take() {
        if t.tls.insecure {
            cx.warn("tls.unverified", format!("insecure: true let an unverified certificate pass: {}", f.message));
        } else {
            return Err(f);
        }
    }
    cx.reach(Level::Healthy);
    Ok(())
}

/// Grades client authentication against what the target expects.
fn client_auth_verdict(
    expected: Option<ClientAuth>,
    identity: bool,
    seen: &ClientAuthSeen,
    after: After,
) -> Result<(), Failure> {
    let f = |code: &str, msg: String| Failure::new(code, Phase::Tls, msg);
    // Refused without a certificate: by an alert, or (some servers) by closing at once.
    let refused = match after {
        After::Alert(failure) => Some(failure),
        After::Closed if seen.requested && !seen.sent => Some(f(
            "tls.client_cert_required",
            "the server asked for a client certificate, got none, and closed the connection right after the handshake (likely a refusal)".into(),
        )),
        After::Closed => Some(f("tls.closed", "the server closed the connection right after the handshake".into())),
        After::Stands => None,
    };
    match (expected, identity, refused) {
        // "none" is contradicted by the request itself, whatever followed it.
        (Some(ClientAuth::None), _, refused) if seen.requested => {
            let then = if refused.is_some() { ", and refused this client without one" } else { "" };
            Err(f(
                "tls.client_auth_requested",
                format!("the server asks for client certificates{then}; client_auth: none says it should not"),
            ))
        }
        // With an identity the question is only whether it was accepted.
        (_, true, Some(failure)) => Err(failure),
        (_, true, None) => Ok(()),
        (Some(ClientAuth::Required), false, Some(failure)) if failure.code == "tls.client_cert_required" => Ok(()),
        (Some(ClientAuth::Required), false, None) if seen.requested => Err(f(
            "tls.client_auth_optional",
            "the server asks for a client certificate but let this client in without one; client_auth: required expects a refusal".into(),
        )
        .hint("make the server require client certificates (need, not want)")),
        (Some(ClientAuth::Required), false, None) => Err(f(
            "tls.client_auth_not_required",
            "the server lets clients in without a certificate; client_auth: required expects mutual TLS".into(),
        )
        .hint("enable client-certificate authentication on the server, or fix client_auth in the check")),
        (Some(ClientAuth::Optional), false, None) if seen.requested => Ok(()),
        (Some(ClientAuth::Optional), false, None) => Err(f(
            "tls.client_auth_not_requested",
            "the server does not ask for a client certificate; client_auth: optional expects it to".into(),
        )),
        (_, false, Some(failure)) => Err(failure),
        (_, false, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(requested: bool) -> ClientAuthSeen {
        ClientAuthSeen { requested, sent: false, acceptable_cas: vec![] }
    }

    fn required_failure() -> After {
        After::Alert(Failure::new("tls.client_cert_required", Phase::Tls, "x"))
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
        let rejected = After::Alert(Failure::new("tls.client_cert_rejected", Phase::Tls, "x"));
        let mut s = seen(true);
        s.sent = true;
        assert_eq!(
            client_auth_verdict(Some(ClientAuth::Required), true, &s, rejected).unwrap_err().code,
            "tls.client_cert_rejected"
        );
        assert!(client_auth_verdict(Some(ClientAuth::Required), true, &s, After::Stands).is_ok());
        assert!(client_auth_verdict(None, true, &s, After::Stands).is_ok());
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
