//! `ldap` (and `ldaps`, LDAP over TLS from the first byte): a simple bind, then the RootDSE.
//!
//! The BindResponse proves LDAP (`speaks`); reading the RootDSE (RFC 4512 §5.1: base "",
//! scope base, `*` and `+`) is `healthy`, with the naming contexts, LDAP versions, extensions
//! (StartTLS offered?), SASL mechanisms and the vendor in the facts (OpenLDAP names no vendor:
//! its objectClass `OpenLDAProotDSE` names it). Without a login the bind is anonymous, and a
//! refusal (inappropriateAuthentication, unwillingToPerform) is a fact, not a failure: the
//! RootDSE is still asked for. With a login (the bind DN and its password) a refused bind fails
//! the check, named by its result code. `ldap.starttls` runs StartTLS first and the rest inside
//! the TLS engine. Messages are BER through `lber`, ldap3's codec; the connection, phases and
//! TLS are portproof's own (`wire.rs` frames and bounds what lber reads).

pub mod codes;
pub mod options;
pub mod wire;

pub use options::LdapOptions;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{self, BoxIo, Conn, read_failure};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff};
use wire::{LdapResult, Message, Op};

/// The `ldap` probe.
#[derive(Debug, Clone, Copy)]
pub struct Ldap;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "ldap",
    summary: "LDAPv3: a simple bind (anonymous, or the login's DN), then the RootDSE (ldaps: over TLS)",
    proves: "LDAPv3 (RFC 4511): a simple bind, anonymous unless `login:` gives a bind DN and password; the BindResponse is `speaks`; the RootDSE read (base \"\", scope base, `*` and `+`) is `healthy`, with namingContexts, supportedLDAPVersion, supportedExtension (whether StartTLS is offered), supportedSASLMechanisms and vendorName/vendorVersion (OpenLDAP, which names none, by its objectClass `OpenLDAProotDSE`). A refused anonymous bind is a fact, not a failure; a refused login fails with the result code's RFC 4511 name (`ldap.bind.invalidCredentials`). `ldap.starttls` (`--starttls`) runs StartTLS, then the rest through the TLS engine: a refusal or an unverified certificate fails the check. BER by lber, each message at most 1 MiB and 16 levels deep",
    default_ports: &[389, 10389, 636],
    options: Some(&options::SECTION),
    tls_alias: Some("ldaps"),
    url_schemes: &[
        crate::UrlScheme { scheme: "ldap", default_port: 389, tls: false, path_key: None },
        crate::UrlScheme { scheme: "ldaps", default_port: 636, tls: true, path_key: None },
    ],
    codes: codes::CODES,
    logs_in: true,
    tls_in_band: true,
    ..crate::About::DEFAULT
};

impl Probe for Ldap {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    /// A login is checked by its bind, which needs the RootDSE read after it to be `healthy`.
    fn default_require(&self, t: &Target) -> Level {
        if t.login.is_some() { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        let o = t.options_or_default::<LdapOptions>();
        if o.starttls && t.over == Over::Tls {
            return Err(Failure::config(
                "ldap.starttls: this check is already over TLS (ldaps); StartTLS is for a plain LDAP port",
            ));
        }
        // A CA alone may come from the run's --ca, which every check gets: only the settings a
        // check writes for itself are refused where no TLS would use them.
        let own = crate::TlsOptions { ca: None, ..t.tls.clone() };
        if !o.starttls && t.over == Over::Tcp && own != crate::TlsOptions::default() {
            return Err(Failure::config(
                "tls: settings are used only over TLS: add ldap.starttls: true (--starttls), or use expect: ldaps",
            ));
        }
        if let Some(login) = &t.login {
            if !login.has_password() {
                return Err(Failure::config(
                    "login: a bind DN needs its password (password_env or password_file): a DN with an empty password is an unauthenticated bind, which servers take as anonymous (RFC 4513 §5.1.2)",
                ));
            }
            login.password()?;
        }
        crate::tls::validate(&t.tls)
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(nc) = facts.get("ldap_naming_contexts").and_then(|v| v.as_array()).and_then(|a| a.first()) {
            generic.push(nc.as_str().unwrap_or_default().to_owned());
        }
        if let Some(b) = facts.get("ldap_bind").and_then(|v| v.as_str()) {
            generic.push(format!("bind: {b}"));
        }
        if facts.get("ldap_starttls_offered").and_then(serde_json::Value::as_bool) == Some(true) {
            generic.push("StartTLS offered".into());
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

const EXPECTED: sniff::Expected<'static> = sniff::Expected { name: "ldap", label: "LDAP", over_tls: Some("ldaps") };

/// A connection and the bytes read past the last message.
struct Session {
    conn: Conn<BoxIo>,
    buf: Vec<u8>,
    next_id: i32,
}

/// Why no message came.
enum Silence {
    /// The peer closed or reset before a byte of it.
    Closed,
    /// A failure to report as it is.
    Failed(Failure),
    /// Bytes that are not an LDAPMessage.
    Bad(String),
}

impl Session {
    async fn send(&mut self, bytes: Vec<u8>, phase: Phase, what: &str) -> Result<(), Failure> {
        self.conn.write_all(&bytes).await.map_err(|e| read_failure(&e, phase, what))
    }

    fn id(&mut self) -> i32 {
        self.next_id += 1;
        self.next_id
    }

    /// The next whole LDAPMessage.
    async fn next(&mut self, phase: Phase, what: &str) -> Result<Message, Silence> {
        let mut chunk = [0u8; 8192];
        loop {
            match wire::frame(&self.buf) {
                Err(e) => return Err(Silence::Bad(e.0)),
                Ok(Some(n)) if self.buf.len() >= n => {
                    let m = wire::parse(&self.buf[..n]).map_err(|e| Silence::Bad(e.0));
                    self.buf.drain(..n);
                    return m;
                }
                Ok(_) => {}
            }
            let n = match self.conn.read(&mut chunk).await {
                Ok(n) => n,
                Err(e) if self.buf.is_empty() && net::is_reset(&e) => 0,
                Err(e) => return Err(Silence::Failed(read_failure(&e, phase, what))),
            };
            if n == 0 {
                return Err(if self.buf.is_empty() {
                    Silence::Closed
                } else {
                    Silence::Bad(format!("the peer closed after {} bytes of a message", self.buf.len()))
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let o = t.options_or_default::<LdapOptions>();
    let net::Opened { conn, tape, peer } = net::open(cx, t, &[]).await?;
    let mut s = Session { conn, buf: Vec::new(), next_id: 0 };
    let mut first = true;
    let mut encrypted = t.over == Over::Tls;

    if o.starttls {
        cx.phase(Phase::Request);
        let id = s.id();
        s.send(wire::starttls(id), Phase::Request, "sending StartTLS").await?;
        let m = answer(cx, t, &mut s, &tape, peer, &mut first, "the StartTLS request").await?;
        let r = expect(cx, m, id, "StartTLS", |op| match op {
            Op::Extended(r, _) => Some(r),
            _ => None,
        })?;
        cx.reach(Level::Speaks);
        cx.fact("protocol", "LDAPv3");
        if r.code != 0 {
            cx.fact("ldap_starttls", format!("refused: {}", wire::result_word(r.code)));
            return Err(codes::STARTTLS
                .failure_with(wire::result_word(r.code), Phase::Request, said("StartTLS", &r))
                .stated());
        }
        cx.fact("ldap_starttls", "accepted");
        let Session { conn, .. } = s;
        // What the check states includes TLS: any failure of this handshake fails it.
        let tls = crate::tls::handshake(cx, conn, &t.host, &t.tls, &[]).await.map_err(Failure::stated)?;
        s = Session { conn: Conn::new(Box::new(tls), cx.limits.max_read), buf: Vec::new(), next_id: id };
        encrypted = true;
    }

    // The bind: anonymous, or the login's DN and password.
    cx.phase(Phase::Auth);
    let (dn, password) = match &t.login {
        Some(login) => {
            if let Some(f) = t.cleartext_refusal(peer.map(|p| p.ip()), encrypted) {
                return Err(f);
            }
            (login.user.clone(), Some(login.password()?))
        }
        None => (String::new(), None),
    };
    let id = s.id();
    let pw = password.as_ref().map_or(&b""[..], |p| p.expose().as_bytes());
    s.send(wire::bind(id, &dn, pw), Phase::Auth, "sending the bind").await?;
    let m = answer(cx, t, &mut s, &tape, peer, &mut first, "the bind request").await?;
    let r = expect(cx, m, id, "bind", |op| match op {
        Op::Bind(r) => Some(r),
        _ => None,
    })?;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "LDAPv3");
    let who = if password.is_some() { "login" } else { "anonymous" };
    let refused = if r.code == 0 {
        cx.fact("ldap_bind", format!("{who}: success"));
        None
    } else {
        cx.fact("ldap_bind", format!("{who}: refused ({})", wire::result_word(r.code)));
        if !r.diagnostic.is_empty() {
            cx.fact("ldap_bind_message", r.diagnostic.clone());
        }
        let f = codes::BIND.failure_with(wire::result_word(r.code), Phase::Auth, said(&format!("the {who} bind"), &r));
        if password.is_some() {
            // The login is what the check states.
            return Err(f.stated());
        }
        Some(f)
    };

    // The RootDSE, as whoever the bind left us.
    cx.phase(Phase::Query);
    let id = s.id();
    s.send(wire::rootdse_search(id), Phase::Query, "sending the RootDSE search").await?;
    let mut entry = None;
    let done = loop {
        let m = match s.next(Phase::Query, "reading the RootDSE").await {
            Ok(m) => m,
            Err(Silence::Failed(f)) => return Err(f),
            Err(Silence::Closed) => {
                return Err(Failure::new(
                    &codes::MALFORMED,
                    Phase::Query,
                    "the server closed the connection on the RootDSE search",
                ));
            }
            Err(Silence::Bad(why)) => {
                return Err(Failure::new(&codes::MALFORMED, Phase::Query, format!("the RootDSE answer: {why}")));
            }
        };
        disconnected(&m)?;
        if m.id != i64::from(id) {
            return Err(Failure::new(
                &codes::MALFORMED,
                Phase::Query,
                format!("an answer to message {} where the search was message {id}", m.id),
            ));
        }
        match m.op {
            Op::Entry { dn, attrs } if dn.is_empty() => entry = Some(attrs),
            Op::Entry { .. } | Op::Reference => {}
            Op::Done(r) => break r,
            other => {
                return Err(Failure::new(
                    &codes::MALFORMED,
                    Phase::Query,
                    format!("{other:?} in the answer to a search"),
                ));
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), async {
        let id = s.id();
        let _ = s.conn.write_all(&wire::unbind(id)).await;
        let _ = s.conn.shutdown().await;
    })
    .await;
    if done.code != 0 {
        let mut f =
            codes::SEARCH.failure_with(wire::result_word(done.code), Phase::Query, said("the RootDSE search", &done));
        if let Some(b) = &refused {
            // The refused anonymous bind is likely why: say both.
            f.message.push_str(&format!(" (after {})", b.message));
        }
        return Err(f);
    }
    let Some(attrs) = entry else {
        return Err(Failure::new(
            &codes::ROOTDSE_EMPTY,
            Phase::Query,
            "the RootDSE search succeeded without the entry: this identity may not read it",
        ));
    };
    rootdse_facts(cx, &attrs);
    cx.reach(Level::Healthy);
    Ok(())
}

/// The first answer of the connection may show another protocol; later ones are LDAP's.
async fn answer(
    cx: &mut ProbeCx,
    t: &Target,
    s: &mut Session,
    tape: &net::Tape,
    peer: Option<std::net::SocketAddr>,
    first: &mut bool,
    sent: &str,
) -> Result<Message, Failure> {
    let was_first = std::mem::replace(first, false);
    let phase = cx.current_phase();
    match s.next(phase, "reading the answer").await {
        Ok(m) => {
            disconnected(&m)?;
            Ok(m)
        }
        Err(Silence::Failed(f)) => Err(f),
        Err(Silence::Closed) if was_first => {
            let f = Failure::new(&codes::NO_RESPONSE, phase, format!("the peer closed the connection on {sent}"));
            Err(sniff::silent_then_closed(cx, t, peer, &EXPECTED, sent, f).await)
        }
        Err(Silence::Closed) => {
            Err(Failure::new(&codes::MALFORMED, phase, format!("the server closed the connection on {sent}")))
        }
        Err(Silence::Bad(why)) => {
            if was_first {
                if let Some(f) = sniff::mismatch(cx, &tape.head(), &EXPECTED, phase) {
                    return Err(f);
                }
            }
            Err(Failure::new(&codes::MALFORMED, phase, format!("the answer to {sent}: {why}"))
                .hint("the port speaks something other than LDAP: check the port number"))
        }
    }
}

/// The answer to message `id`, of the operation `pick` takes.
fn expect(
    cx: &mut ProbeCx,
    m: Message,
    id: i32,
    what: &str,
    pick: impl FnOnce(Op) -> Option<LdapResult>,
) -> Result<LdapResult, Failure> {
    let phase = cx.current_phase();
    if m.id != i64::from(id) {
        return Err(Failure::new(
            &codes::MALFORMED,
            phase,
            format!("an answer to message {} where the {what} was message {id}", m.id),
        ));
    }
    let shown = format!("{:?}", m.op);
    pick(m.op).ok_or_else(|| {
        Failure::new(
            &codes::MALFORMED,
            phase,
            format!("the {what} was answered with {}", shown.chars().take(80).collect::<String>()),
        )
    })
}

/// A Notice of Disconnection (message 0) ends the session: LDAP, but leaving.
fn disconnected(m: &Message) -> Result<(), Failure> {
    if let (0, Op::Extended(r, name)) = (m.id, &m.op) {
        if name.as_deref().is_none_or(|n| n == wire::DISCONNECT_OID) {
            return Err(codes::DISCONNECTED.failure_with(
                wire::result_word(r.code),
                Phase::Request,
                said("a Notice of Disconnection", r),
            ));
        }
    }
    Ok(())
}

/// "the bind: invalidCredentials (49): <the server's words>".
fn said(what: &str, r: &LdapResult) -> String {
    let mut s = format!("{what}: {} ({})", wire::result_word(r.code), r.code);
    let d: String = r.diagnostic.chars().filter(|c| !c.is_control()).take(200).collect();
    if !d.is_empty() {
        s.push_str(&format!(": {d}"));
    }
    s
}

/// What the RootDSE says, in the facts.
fn rootdse_facts(cx: &mut ProbeCx, attrs: &[(String, Vec<String>)]) {
    let get = |k: &str| attrs.iter().find(|(a, _)| a.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone());
    for (attr, fact) in [
        ("namingContexts", "ldap_naming_contexts"),
        ("supportedLDAPVersion", "ldap_versions"),
        ("supportedExtension", "ldap_extensions"),
        ("supportedSASLMechanisms", "ldap_sasl_mechanisms"),
    ] {
        if let Some(v) = get(attr) {
            cx.fact(fact, v);
        }
    }
    let exts = get("supportedExtension").unwrap_or_default();
    cx.fact("ldap_starttls_offered", exts.iter().any(|e| e == wire::STARTTLS_OID));
    let vendor = get("vendorName").and_then(|v| v.into_iter().next());
    let version = get("vendorVersion").and_then(|v| v.into_iter().next());
    let openldap = get("objectClass").unwrap_or_default().iter().any(|c| c.eq_ignore_ascii_case("OpenLDAProotDSE"));
    match (vendor, version) {
        (Some(v), ver) => {
            cx.fact("product", v);
            if let Some(ver) = ver {
                cx.fact("product_version", ver);
            }
        }
        (None, Some(ver)) => cx.fact("product_version", ver),
        (None, None) if openldap => {
            cx.fact("product", "OpenLDAP");
            cx.fact("ldap_vendor_from", "objectClass OpenLDAProotDSE");
        }
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A peer that answers each request in turn with the next of `answers`, then closes.
    async fn peer(answers: Vec<Vec<u8>>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            for a in answers {
                let mut req = [0u8; 512];
                if s.read(&mut req).await.unwrap_or(0) == 0 {
                    return;
                }
                let _ = s.write_all(&a).await;
            }
        });
        port
    }

    async fn probe(port: u16) -> crate::Outcome {
        let t = Target::new("127.0.0.1", port);
        let mut cx = ProbeCx::new(Some(std::time::Instant::now() + std::time::Duration::from_secs(5)));
        Ldap.probe(&t, &mut cx).await
    }

    #[tokio::test]
    async fn slapd_answers_make_a_healthy_openldap() {
        let o = probe(
            peer(vec![
                include_bytes!("fixtures/slapd-bind-anonymous.bin").to_vec(),
                include_bytes!("fixtures/slapd-rootdse.bin").to_vec(),
            ])
            .await,
        )
        .await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        assert_eq!(o.facts["product"], "OpenLDAP");
        assert_eq!(o.facts["ldap_starttls_offered"], true);
        assert_eq!(o.facts["ldap_bind"], "anonymous: success");
    }

    #[tokio::test]
    async fn a_refused_anonymous_bind_is_a_fact_and_the_rootdse_still_asked() {
        let o = probe(
            peer(vec![
                include_bytes!("fixtures/slapd-bind-refused.bin").to_vec(),
                include_bytes!("fixtures/slapd-rootdse.bin").to_vec(),
            ])
            .await,
        )
        .await;
        assert_eq!(o.level, Level::Healthy, "{:?}", o.failure);
        assert_eq!(o.facts["ldap_bind"], "anonymous: refused (inappropriateAuthentication)");
    }

    #[tokio::test]
    async fn a_notice_of_disconnection_is_named() {
        // Message 0, ExtendedResponse unavailable (52), responseName the notice's OID.
        let mut op = b"\x0a\x01\x34\x04\x00\x04\x00\x8a\x16".to_vec();
        op.extend_from_slice(wire::DISCONNECT_OID.as_bytes());
        let mut m = vec![0x30, (3 + 2 + op.len()) as u8, 0x02, 0x01, 0x00, 0x78, op.len() as u8];
        m.extend_from_slice(&op);
        let o = probe(peer(vec![m]).await).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "ldap.disconnected.unavailable");
    }

    #[test]
    fn tls_settings_off_tls_are_refused_but_a_runs_ca_is_not() {
        let mut t = Target::new("127.0.0.1", 389);
        t.tls.ca = Some("/nonexistent/ca.pem".into());
        // A CA is not refused (a run's --ca reaches every check); the file itself is still read.
        assert!(Ldap.validate(&t).is_err_and(|f| !f.message.contains("ldap.starttls")));
        t.tls.ca = None;
        t.tls.insecure = true;
        assert!(Ldap.validate(&t).unwrap_err().message.contains("ldap.starttls"));
        t.tls.insecure = false;
        assert!(Ldap.validate(&t).is_ok());
    }

    #[tokio::test]
    async fn another_message_id_is_not_evidence() {
        let mut b = include_bytes!("fixtures/slapd-bind-anonymous.bin").to_vec();
        b[4] = 9;
        let o = probe(peer(vec![b]).await).await;
        assert_eq!(o.level, Level::Open);
        assert_eq!(o.failure.unwrap().code, "ldap.malformed");
    }
}
