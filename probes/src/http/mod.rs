//! `http`: one request, the answer checked for status, body and a JSON field.
//!
//! Ignition's health endpoint is the model: `GET /StatusPing` answering `{"state":"RUNNING"}` is
//! healthy; any other state is `speaks` with `http.unhealthy_state` naming it. The exchange runs
//! hyper's HTTP/1.1 client over portproof's own dialer, so every phase is timed, the peer's first
//! bytes are kept for the sniffer, and HTTPS is the same code over the shared TLS engine.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use url::Url;

pub mod codes;
pub mod options;
pub use options::*;

use crate::codes::core;
use crate::net::{self, Tape};
use crate::target::authority;
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff, tls};

/// Most redirects followed on the same host before giving up.
const MAX_REDIRECTS: usize = 5;
/// Largest response head hyper may buffer; a peer that sends more is cut off.
const MAX_HEAD: usize = 64 * 1024;
/// Largest `max_body` allowed: half the per-connection read limit, leaving room for the head
/// and chunk framing, so a body cap is always ours and never the read limit's.
pub const MAX_MAX_BODY: u64 = 8 << 20;

/// The `http` probe.
#[derive(Debug, Clone, Copy)]
pub struct Http;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "http",
    summary: "HTTP request; status, body text or regex, JSON field (Ignition /StatusPing); https = over TLS",
    proves: "an HTTP answer (`speaks`); status (default 2xx), body text or regex, a JSON field (`healthy`); same-host redirects followed and recorded; Basic auth from `login:`; JSON fields copied into the facts (`http.facts`)",
    default_ports: &[80, 443, 8080, 8088, 8043],
    options: Some(&SECTION),
    tls_alias: Some("https"),
    url_schemes: &[
        crate::UrlScheme { scheme: "http", default_port: 80, tls: false, path_key: Some("path") },
        crate::UrlScheme { scheme: "https", default_port: 443, tls: true, path_key: Some("path") },
    ],
    codes: codes::CODES,
    logs_in: true,
    ..crate::About::DEFAULT
};

impl Probe for Http {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        if t.options::<HttpOptions>().is_some_and(HttpOptions::has_criteria) { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        validate_options(t, &t.options_or_default::<HttpOptions>())
    }
    fn key_facts(&self, facts: &crate::Facts, generic: Vec<String>) -> Vec<String> {
        key_facts(facts, generic)
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(
            async move { check(t, cx, &t.options_or_default::<HttpOptions>(), Level::Speaks, Level::Healthy).await },
        )
    }
}

/// HTTP's status, JSON field and server header lead the summary; redirects close it.
pub(crate) fn key_facts(f: &crate::Facts, generic: Vec<String>) -> Vec<String> {
    let s = |k: &str| f.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    let mut out = Vec::new();
    if let Some(status) = s("http_status") {
        out.push(format!("HTTP {status}"));
    }
    if let (Some(field), Some(value)) = (s("json_field"), s("json_value")) {
        out.push(format!("{}={value}", field.trim_start_matches('/')));
    }
    if let Some(server) = s("server") {
        out.push(server);
    }
    out.extend(generic);
    if let Some(r) = f.get("redirects").and_then(|v| v.as_array()).filter(|a| !a.is_empty()) {
        out.push(format!("{} redirect{}", r.len(), if r.len() == 1 { "" } else { "s" }));
    }
    out
}

/// Checks request settings before any I/O: for the `http` probe and the presets built on it.
pub(crate) fn validate_options(t: &Target, o: &HttpOptions) -> Result<(), Failure> {
    Method::from_bytes(o.method.as_bytes())
        .map_err(|_| Failure::config(format!("http.method {:?} is not an HTTP method", o.method)))?;
    if !o.path.starts_with('/') {
        return Err(Failure::config(format!("http.path {:?} must start with /", o.path)));
    }
    o.path
        .parse::<hyper::Uri>()
        .map_err(|e| Failure::config(format!("http.path {:?} is not a valid request target: {e}", o.path)))?;
    for (k, v) in &o.headers {
        HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| Failure::config(format!("http.headers: {k:?} is not a valid header name")))?;
        HeaderValue::from_str(v)
            .map_err(|_| Failure::config(format!("http.headers.{k}: the value is not a valid header value")))?;
    }
    if let Some(re) = &o.body_regex {
        regex::Regex::new(re).map_err(|e| Failure::config(format!("http.body_regex: {e}")))?;
    }
    if let Some(j) = &o.json
        && j.pointer.is_empty()
    {
        return Err(Failure::config("http.json.pointer is empty: name a field like /state"));
    }
    if o.max_body == 0 || o.max_body > MAX_MAX_BODY {
        return Err(Failure::config(format!(
            "http.max_body must be from 1 to {MAX_MAX_BODY} bytes (a probe reads at most {} from a peer)",
            crate::Limits::default().max_read
        )));
    }
    for (name, pointer) in &o.facts {
        if name.is_empty() || !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(Failure::config(format!(
                "http.facts.{name}: give a JSON pointer like /version, not {pointer:?}"
            )));
        }
    }
    if let Some(login) = &t.login {
        if login.user.contains(':') {
            return Err(Failure::config(
                "login.user: HTTP Basic auth cannot carry a user name with a colon (RFC 7617)",
            ));
        }
        login.password()?;
    }
    if t.over == Over::Tls {
        tls::validate(&t.tls)?;
    }
    Ok(())
}

/// The `Authorization: Basic` value for the target's login, if it has one.
fn basic_auth(t: &Target) -> Result<Option<HeaderValue>, Failure> {
    use base64::Engine;
    let Some(login) = &t.login else { return Ok(None) };
    let password = login.password()?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", login.user, password.expose()));
    let mut v = HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| Failure::config("login: the user name cannot go in an HTTP header"))?;
    // Keeps it out of any debug output of the request.
    v.set_sensitive(true);
    Ok(Some(v))
}

/// One request's destination.
#[derive(Clone, Debug)]
struct Hop {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

impl Hop {
    fn url(&self) -> String {
        format!("{}://{}{}", if self.tls { "https" } else { "http" }, authority(&self.host, self.port), self.path)
    }
    /// The Host header: the port is left out when it is the scheme's default (RFC 9110 7.2).
    fn host_header(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            authority(&self.host, 0).trim_end_matches(":0").to_owned()
        } else {
            authority(&self.host, self.port)
        }
    }
}

/// The part of an answer the checks need.
struct Answer {
    status: StatusCode,
    version: hyper::Version,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
    truncated: bool,
    body_error: Option<hyper::Error>,
}

/// Requests `opts.path`, follows same-host redirects, and grades the answer against `opts`;
/// `heard` is the level any complete HTTP answer reaches (`speaks` for `http`; `open` for a
/// preset whose protocol needs more evidence than HTTP, like RabbitMQ's own fields), `top` the
/// level an answer that meets every criterion reaches (a preset's first request may only
/// gather facts for a second one that decides health).
pub(crate) async fn check(
    t: &Target,
    cx: &mut ProbeCx,
    opts: &HttpOptions,
    heard: Level,
    top: Level,
) -> Result<(), Failure> {
    let opts = opts.clone();
    let mut hop = Hop { tls: t.over == Over::Tls, host: t.host.clone(), port: t.port, path: opts.path.clone() };
    let mut redirects: Vec<serde_json::Value> = Vec::new();
    loop {
        let answer = match exchange(cx, t, &hop, &opts).await {
            Ok(a) => a,
            Err(mut f) if !redirects.is_empty() => {
                let last = &redirects[redirects.len() - 1];
                f.message = format!("after HTTP {} to {}: {}", last["status"], hop.url(), f.message);
                return Err(f);
            }
            Err(f) => return Err(f),
        };
        let location = answer.headers.get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let explicitly_wanted =
            opts.status.as_ref().is_some_and(|s| s.iter().any(|p| p.matches(answer.status.as_u16())));
        match location {
            Some(loc) if answer.status.is_redirection() && opts.follow_redirects && !explicitly_wanted => {
                let next = Url::parse(&hop.url()).and_then(|base| base.join(&loc));
                let next = match next {
                    Ok(u) => u,
                    Err(e) => {
                        cx.reach(heard);
                        return Err(Failure::new(
                            &codes::BAD_REDIRECT,
                            Phase::Request,
                            format!("redirect to {loc:?} is not a valid URL: {e}"),
                        ));
                    }
                };
                // The port answered in HTTP: that stands whatever the next hop does.
                cx.reach(heard);
                redirects.push(json!({"status": answer.status.as_u16(), "location": next.as_str()}));
                cx.fact("redirects", redirects.clone());
                match same_host_hop(&next, &hop.host) {
                    Some(h) if redirects.len() <= MAX_REDIRECTS => hop = h,
                    Some(_) => {
                        cx.reach(heard);
                        return Err(Failure::new(
                            &codes::REDIRECT_LOOP,
                            Phase::Request,
                            format!("more than {MAX_REDIRECTS} redirects, the last to {next}"),
                        ));
                    }
                    None => {
                        cx.reach(heard);
                        return Err(Failure::new(
                            &codes::REDIRECT_OFFSITE,
                            Phase::Request,
                            format!("HTTP {} redirects to {next}, another host; not followed", answer.status.as_u16()),
                        ));
                    }
                }
            }
            _ => {
                cx.fact("url", hop.url());
                return evaluate(cx, &opts, answer, t.login.is_some(), heard, top);
            }
        }
    }
}

/// The next hop if `next` stays on `host` (any port or scheme), else `None`.
fn same_host_hop(next: &Url, host: &str) -> Option<Hop> {
    let tls = match next.scheme() {
        "http" => false,
        "https" => true,
        _ => return None,
    };
    let next_host = next.host_str()?.trim_start_matches('[').trim_end_matches(']');
    if !next_host.trim_end_matches('.').eq_ignore_ascii_case(host.trim_end_matches('.')) {
        return None;
    }
    let path = match next.query() {
        Some(q) => format!("{}?{q}", next.path()),
        None => next.path().to_owned(),
    };
    Some(Hop { tls, host: host.to_owned(), port: next.port_or_known_default()?, path })
}

/// Dials, runs TLS when the hop asks for it, sends the request and reads the answer.
async fn exchange(cx: &mut ProbeCx, t: &Target, hop: &Hop, opts: &HttpOptions) -> Result<Answer, Failure> {
    let layer = hop.tls.then_some(net::TlsLayer { name: &hop.host, tls: &t.tls, alpn: &[b"http/1.1"] });
    let net::Opened { conn, tape, peer } = net::open_to(cx, &hop.host, hop.port, layer).await?;
    let conn = RequestFirst::new(conn);
    cx.phase(Phase::Request);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(conn))
        .await
        .map_err(|e| Failure::new(&codes::ERROR, Phase::Request, format!("HTTP handshake: {e}")))?;
    // Credentials go only to the origin the check names: a redirect to another port or scheme
    // of the same host (an https -> http downgrade) must not carry them.
    let origin = hop.tls == (t.over == Over::Tls) && hop.host == t.host && hop.port == t.port;
    let auth = if origin { basic_auth(t)? } else { None };
    if auth.is_some()
        && let Some(f) = t.cleartext_refusal(peer.map(|p| p.ip()), hop.tls)
    {
        return Err(f);
    }
    if auth.is_some() && !hop.tls && !peer.is_some_and(|p| p.ip().is_loopback()) {
        cx.warn(
            &codes::CLEARTEXT_CREDENTIALS,
            format!("the password went to {} in clear text (HTTP, not HTTPS)", authority(&hop.host, hop.port)),
        );
    }
    let mut request = build_request(hop, opts)?;
    if let Some(v) = auth {
        request.headers_mut().insert(hyper::header::AUTHORIZATION, v);
    }
    let head_only = request.method() == Method::HEAD;
    let max_body = opts.max_body;

    // The connection must be driven while we wait: polled here, not spawned, so that dropping
    // the probe at its deadline closes the socket instead of leaking a task.
    let work = async {
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        Ok::<_, hyper::Error>(response)
    };
    tokio::pin!(connection);
    tokio::pin!(work);
    let head = tokio::select! {
        r = &mut work => r,
        c = &mut connection => match c {
            Ok(()) => (&mut work).await,
            Err(e) => Err(e),
        },
    };
    let response = match head {
        Ok(r) => r,
        Err(e) => return Err(no_answer(cx, &e, &tape, peer, hop).await),
    };
    cx.phase(Phase::Transfer);
    let (parts, mut body) = response.into_parts();
    let mut buf = Vec::new();
    let mut truncated = false;
    let mut body_error = None;
    if !head_only {
        let read = async {
            while let Some(frame) = body.frame().await {
                let Ok(data) = frame?.into_data() else { continue };
                let room = usize::try_from(max_body).unwrap_or(usize::MAX).saturating_sub(buf.len());
                if data.len() > room {
                    buf.extend_from_slice(&data[..room]);
                    truncated = true;
                    break;
                }
                buf.extend_from_slice(&data);
            }
            Ok::<_, hyper::Error>(())
        };
        tokio::pin!(read);
        let r = tokio::select! {
            r = &mut read => r,
            c = &mut connection => match c {
                Ok(()) => (&mut read).await,
                Err(e) => match (&mut read).await { Ok(()) => Err(e), other => other },
            },
        };
        body_error = r.err();
    }
    cx.end_phase();
    Ok(Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: buf,
        truncated,
        body_error,
    })
}

/// Holds back reads until the request has been written.
///
/// hyper's client rejects bytes that arrive on an idle connection, and its dispatcher reads
/// before it writes; a peer that answers the instant it accepts would then get a verdict that
/// depends on who won the race. HTTP is request first, so reads wait for the first write and
/// the peer's bytes are always judged as the answer.
struct RequestFirst<S> {
    inner: S,
    written: bool,
    reader: Option<std::task::Waker>,
}

impl<S> RequestFirst<S> {
    fn new(inner: S) -> Self {
        RequestFirst { inner, written: false, reader: None }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for RequestFirst<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.written {
            self.reader = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for RequestFirst<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let p = std::pin::Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(p, std::task::Poll::Ready(Ok(n)) if n > 0) && !self.written {
            self.written = true;
            if let Some(w) = self.reader.take() {
                w.wake();
            }
        }
        p
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn build_request(hop: &Hop, opts: &HttpOptions) -> Result<Request<Empty<Bytes>>, Failure> {
    let method = Method::from_bytes(opts.method.as_bytes())
        .map_err(|_| Failure::config(format!("http.method {:?} is not an HTTP method", opts.method)))?;
    let mut b = Request::builder()
        .method(method)
        .uri(hop.path.as_str())
        .header(hyper::header::HOST, hop.host_header())
        .header(hyper::header::USER_AGENT, concat!("portproof/", env!("CARGO_PKG_VERSION")))
        .header(hyper::header::ACCEPT, "*/*")
        .header(hyper::header::CONNECTION, "close");
    let headers = b.headers_mut().expect("builder has no error yet");
    for (k, v) in &opts.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|_| Failure::config(format!("bad header name {k:?}")))?;
        let value = HeaderValue::from_str(v).map_err(|_| Failure::config(format!("bad value for header {k}")))?;
        headers.insert(name, value);
    }
    b.body(Empty::new()).map_err(|e| Failure::config(format!("request: {e}")))
}

/// Why no answer head arrived: another protocol, a silent close, or a broken answer.
async fn no_answer(
    cx: &mut ProbeCx,
    e: &hyper::Error,
    tape: &Tape,
    peer: Option<std::net::SocketAddr>,
    hop: &Hop,
) -> Failure {
    let head = tape.head();
    // TLS 1.3 lets the client finish its handshake before the server has judged the client
    // certificate: the rejection arrives as an alert on the first read or write after it.
    if let Some(tls_err) = find_io_error(e).and_then(|io| io.get_ref()).and_then(|i| i.downcast_ref::<rustls::Error>())
    {
        let name =
            tls::server_name(&Default::default(), &hop.host).unwrap_or_else(|_| "localhost".try_into().expect("valid"));
        let auth = tls::ClientAuthSeen::from_facts(cx.facts());
        let mut f = tls::diagnose_rustls(tls_err, &name, &Default::default(), &auth);
        f.message.push_str(" (after the handshake looked complete, as TLS 1.3 allows)");
        return f;
    }
    if e.is_parse_too_large() {
        // No `speaks`: a head that never ends is no HTTP answer, whatever its first line says
        // (a peer sending `HTTP/1.1 200 OK` and then one endless header passed before).
        return Failure::new(
            &codes::OVERSIZED_HEAD,
            Phase::Request,
            format!("the response head is larger than {} KiB", MAX_HEAD / 1024),
        );
    }
    if let Some(heard) = sniff::identify(&head) {
        if heard.protocol != "http" {
            cx.identify(heard.protocol);
            return mismatch(&heard, hop);
        }
    }
    if head.is_empty() {
        // Silence then close: a TLS server waiting for a ClientHello does exactly that. Ask on
        // a second connection, within what is left of the deadline.
        if !hop.tls
            && let Some(addr) = peer
        {
            let budget = sniff::poke_budget(cx.remaining());
            if !budget.is_zero()
                && let Some(heard) = sniff::poke(addr, &sniff::client_hello(&hop.host), budget).await
            {
                cx.identify(heard.protocol);
                return mismatch(&heard, hop);
            }
        }
        return Failure::new(
            &codes::NO_RESPONSE,
            Phase::Request,
            format!("the peer closed the connection without answering ({e})"),
        );
    }
    if let Some(io) = find_io_error(e) {
        return crate::net::read_failure(io, Phase::Request, "waiting for the HTTP answer");
    }
    Failure::new(
        &codes::MALFORMED,
        Phase::Request,
        format!("the answer is not valid HTTP ({e}); it starts with {}", sniff::describe(&head)),
    )
}

fn mismatch(heard: &sniff::Heard, hop: &Hop) -> Failure {
    let hint = match (heard.protocol, hop.tls) {
        ("tls", false) => "this port speaks TLS: use expect: https (or over: tls)".to_owned(),
        (p, _) => format!("this port speaks {p}, not HTTP: check the port number or expect: {p}"),
    };
    Failure::new(
        &core::PROTO_MISMATCH,
        Phase::Request,
        format!("expected HTTP, the peer answered in {}: {}", heard.protocol, heard.detail),
    )
    .hint(hint)
}

fn find_io_error(e: &hyper::Error) -> Option<&std::io::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        src = s.source();
    }
    None
}

/// Grades an answer: `heard` for any HTTP answer, `top` when every criterion holds.
fn evaluate(
    cx: &mut ProbeCx,
    opts: &HttpOptions,
    a: Answer,
    login: bool,
    heard: Level,
    top: Level,
) -> Result<(), Failure> {
    let status = a.status.as_u16();
    cx.fact("http_status", status);
    if let Some(v) = a.headers.get(hyper::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) {
        cx.fact("www_authenticate", v);
    }
    if !opts.facts.is_empty()
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&a.body)
    {
        for (name, pointer) in &opts.facts {
            if let Some(v) = doc.pointer(pointer) {
                cx.fact(name, v.clone());
            }
        }
    }
    cx.fact("http_version", format!("{:?}", a.version));
    for (key, header) in [("server", hyper::header::SERVER), ("content_type", hyper::header::CONTENT_TYPE)] {
        if let Some(v) = a.headers.get(header).and_then(|v| v.to_str().ok()) {
            cx.fact(key, v);
        }
    }
    cx.fact("body_bytes", a.body.len());
    if status == 400 && sniff::https_only_complaint(&a.body) {
        cx.identify("tls");
        return Err(Failure::new(
            &core::PROTO_MISMATCH,
            Phase::Request,
            "the server answered HTTP 400 saying this port expects HTTPS (plain HTTP request sent to a TLS port)",
        )
        .hint("use expect: https (or over: tls) for this port"));
    }
    cx.reach(heard);
    if status == 400 && sniff::client_cert_complaint(&a.body) {
        let cas = tls::ClientAuthSeen::from_facts(cx.facts()).acceptable_cas;
        let accepted = if cas.is_empty() {
            String::new()
        } else {
            format!("; it accepts certificates issued by: {}", cas.join("; "))
        };
        return Err(Failure::new(
            &tls::codes::CLIENT_CERT_REQUIRED,
            Phase::Request,
            format!(
                "the server requires a client certificate and refused this request without one (HTTP 400){accepted}"
            ),
        ));
    }
    if a.truncated {
        cx.warn(
            &codes::BODY_TRUNCATED,
            format!(
                "the body is longer than http.max_body ({} bytes); only that much was read and checked",
                opts.max_body
            ),
        );
    }
    if let Some(e) = &a.body_error {
        return Err(Failure::new(
            &codes::BODY_ERROR,
            Phase::Transfer,
            format!("the body broke off after {} bytes: {e}", a.body.len()),
        ));
    }
    let wanted = opts.status.clone().unwrap_or_else(|| vec![StatusPattern::Class(2)]);
    if !wanted.iter().any(|p| p.matches(status)) {
        let list = wanted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let reason = a.status.canonical_reason().unwrap_or("");
        if status == 401 && login {
            return Err(Failure::new(
                &core::AUTH_REJECTED,
                Phase::Request,
                format!("HTTP 401 {reason}: the login was refused"),
            )
            .hint("check the user name and password, and that the user may use this endpoint")
            // The login is the check's own: its refusal fails the check.
            .stated());
        }
        // A stated status, or a path of its own (`/health`), asks for this answer: a 404 or
        // 503 there fails the check; the site root only shows that HTTP answers.
        let stated = opts.status.is_some() || opts.path != "/";
        return Err(Failure::new(&codes::STATUS, Phase::Request, format!("HTTP {status} {reason}, expected {list}"))
            .hint(status_hint(status, &a.headers))
            .stated_if(stated));
    }
    if let Some(prefix) = &opts.location {
        let location = a.headers.get(hyper::header::LOCATION).and_then(|v| v.to_str().ok());
        if let Some(l) = location {
            cx.fact("location", l);
        }
        // Schemes and host names are case-insensitive (RFC 3986 §3.1, §3.2.2): `HTTPS://` is
        // the same redirect.
        let starts = location.is_some_and(|l| {
            l.len() >= prefix.len()
                && l.is_char_boundary(prefix.len())
                && l[..prefix.len()].eq_ignore_ascii_case(prefix)
        });
        if !starts {
            let said = location.map_or_else(|| "no Location header".to_owned(), |l| format!("Location {l:?}"));
            return Err(Failure::new(
                &codes::LOCATION,
                Phase::Request,
                format!("HTTP {status} with {said}, expected a Location starting with {prefix:?}"),
            )
            .stated());
        }
    }
    let text = String::from_utf8_lossy(&a.body);
    if let Some(needle) = &opts.body_contains
        && !text.contains(needle.as_str())
    {
        return Err(Failure::new(
            &codes::BODY_MISMATCH,
            Phase::Transfer,
            format!("the body ({} bytes) does not contain {needle:?}", a.body.len()),
        )
        .stated());
    }
    if let Some(re) = &opts.body_regex {
        let re = regex::Regex::new(re).map_err(|e| Failure::config(format!("http.body_regex: {e}")))?;
        if !re.is_match(&text) {
            return Err(Failure::new(
                &codes::BODY_MISMATCH,
                Phase::Transfer,
                format!("the body ({} bytes) does not match /{re}/", a.body.len()),
            )
            .stated());
        }
    }
    if let Some(check) = &opts.json {
        let doc: serde_json::Value = serde_json::from_slice(&a.body).map_err(|e| {
            Failure::new(
                &codes::NOT_JSON,
                Phase::Transfer,
                format!("the body is not JSON ({e}); it starts with {}", sniff::describe(&a.body)),
            )
            .stated()
        })?;
        let pointer = check.rfc6901();
        let Some(found) = doc.pointer(&pointer) else {
            return Err(Failure::new(
                &codes::JSON_FIELD_MISSING,
                Phase::Transfer,
                format!("the JSON body has no field {pointer}"),
            )
            .stated());
        };
        cx.fact("json_field", pointer.as_ref());
        cx.fact("json_value", found.clone());
        if *found != check.equals {
            return Err(Failure::new(
                &codes::UNHEALTHY_STATE,
                Phase::Transfer,
                format!("{pointer} is {}, healthy is {}", show(found), show(&check.equals)),
            )
            .hint(format!("the service reports {} itself: look at its status page and logs", show(found)))
            .stated());
        }
    }
    cx.reach(top);
    Ok(())
}

fn show(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_hint(status: u16, headers: &hyper::HeaderMap) -> String {
    match status {
        301 | 302 | 303 | 307 | 308 => {
            let to = headers.get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("?");
            format!("redirects to {to}: check the URL, or accept it with http.status")
        }
        401 | 407 => "the endpoint needs credentials: add an Authorization header or check a public path".into(),
        403 => "the server forbids this client: check its access rules for this address".into(),
        404 => "the path does not exist on this server: check http.path".into(),
        429 => "the server is rate-limiting this client".into(),
        500..=599 => "the application behind the port is failing: look at its logs".into(),
        _ => codes::STATUS.hint.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_redirects_are_followed_across_scheme_and_port() {
        let next = Url::parse("https://GW.example:8043/web/home?x=1").unwrap();
        let h = same_host_hop(&next, "gw.example").unwrap();
        assert!(h.tls);
        assert_eq!((h.port, h.path.as_str()), (8043, "/web/home?x=1"));
        assert!(same_host_hop(&Url::parse("http://evil.example/").unwrap(), "gw.example").is_none());
        assert!(same_host_hop(&Url::parse("ftp://gw.example/").unwrap(), "gw.example").is_none());
        let v6 = same_host_hop(&Url::parse("http://[::1]:81/").unwrap(), "::1").unwrap();
        assert_eq!(v6.port, 81);
    }

    #[test]
    fn host_header_omits_default_ports() {
        let h = Hop { tls: false, host: "gw".into(), port: 80, path: "/".into() };
        assert_eq!(h.host_header(), "gw");
        let h = Hop { tls: true, host: "::1".into(), port: 8043, path: "/".into() };
        assert_eq!(h.host_header(), "[::1]:8043");
        assert_eq!(h.url(), "https://[::1]:8043/");
    }

    #[test]
    fn validate_rejects_bad_settings_before_io() {
        let mut t = Target::new("127.0.0.1", 80);
        for bad in [
            HttpOptions { path: "StatusPing".into(), ..Default::default() },
            HttpOptions { method: "G E T".into(), ..Default::default() },
            HttpOptions { body_regex: Some("(".into()), ..Default::default() },
            HttpOptions { headers: [("Bad Name".into(), "x".into())].into(), ..Default::default() },
            HttpOptions { max_body: 0, ..Default::default() },
            HttpOptions { max_body: MAX_MAX_BODY + 1, ..Default::default() },
        ] {
            t.set_options(bad.clone());
            let f = Http.validate(&t).unwrap_err();
            assert_eq!(f.code, "config.invalid", "{bad:?}");
        }
        t.set_options(HttpOptions { path: "/StatusPing".into(), ..Default::default() });
        Http.validate(&t).unwrap();
    }

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            version: hyper::Version::HTTP_11,
            headers: hyper::HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            truncated: false,
            body_error: None,
        }
    }

    fn status_ping() -> HttpOptions {
        HttpOptions {
            path: "/StatusPing".into(),
            json: Some(JsonCheck { pointer: "state".into(), equals: "RUNNING".into() }),
            ..Default::default()
        }
    }

    #[test]
    fn status_ping_running_is_healthy() {
        let mut cx = ProbeCx::default();
        evaluate(&mut cx, &status_ping(), answer(200, r#"{"state":"RUNNING"}"#), false, Level::Speaks, Level::Healthy)
            .unwrap();
        assert_eq!(cx.level(), Level::Healthy);
        assert_eq!(cx.facts()["json_value"], "RUNNING");
    }

    #[test]
    fn status_ping_faulted_speaks_and_names_the_state() {
        let mut cx = ProbeCx::default();
        let f = evaluate(
            &mut cx,
            &status_ping(),
            answer(200, r#"{"state":"FAULTED"}"#),
            false,
            Level::Speaks,
            Level::Healthy,
        )
        .unwrap_err();
        assert_eq!(cx.level(), Level::Speaks);
        assert_eq!(f.code, "http.unhealthy_state");
        assert!(f.message.contains("FAULTED") && f.message.contains("RUNNING"), "{}", f.message);
    }

    #[test]
    fn each_criterion_fails_with_its_own_code() {
        let cases = [
            (HttpOptions::default(), answer(500, ""), "http.status"),
            (
                HttpOptions { status: Some(vec![StatusPattern::Code(204)]), ..Default::default() },
                answer(200, ""),
                "http.status",
            ),
            (
                HttpOptions { body_contains: Some("Welcome".into()), ..Default::default() },
                answer(200, "<h1>Hi</h1>"),
                "http.body_mismatch",
            ),
            (
                HttpOptions { body_regex: Some("v[0-9]+".into()), ..Default::default() },
                answer(200, "version"),
                "http.body_mismatch",
            ),
            (status_ping(), answer(200, "<html>"), "http.not_json"),
            (status_ping(), answer(200, r#"{"status":"ok"}"#), "http.json_field_missing"),
        ];
        for (opts, a, code) in cases {
            let mut cx = ProbeCx::default();
            let f = evaluate(&mut cx, &opts, a, false, Level::Speaks, Level::Healthy).unwrap_err();
            assert_eq!(f.code, code, "{}", f.message);
            assert_eq!(cx.level(), Level::Speaks, "{code}");
            assert!(f.hint.is_some(), "{code} has a hint");
        }
    }

    #[test]
    fn nginx_https_complaint_is_tls_not_http() {
        let mut cx = ProbeCx::default();
        let a = answer(400, "<center>The plain HTTP request was sent to HTTPS port</center>");
        let f = evaluate(&mut cx, &HttpOptions::default(), a, false, Level::Speaks, Level::Healthy).unwrap_err();
        assert_eq!(f.code, "proto.mismatch");
        assert_eq!(cx.identified(), Some("tls"));
        assert_eq!(cx.level(), Level::Unreachable, "evaluate alone adds no level: dial reached open");
    }

    #[test]
    fn truncated_body_warns() {
        let mut cx = ProbeCx::default();
        let mut a = answer(200, "xxxx");
        a.truncated = true;
        evaluate(&mut cx, &HttpOptions::default(), a, false, Level::Speaks, Level::Healthy).unwrap();
        assert_eq!(cx.warnings()[0].code, "http.body_truncated");
    }
}
