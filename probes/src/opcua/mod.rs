//! `opcua`: OPC UA over TCP (4840, and Ignition's discovery port 4096), by its discovery services.
//!
//! The first connection is a hand-written Hello (see [`wire`]): an Acknowledge proves OPC UA
//! (`speaks`) and tells the server's buffer sizes; an `ERR` names its StatusCode
//! (`opcua.err.<name>`); an HTTP or TLS answer fills `identified`. A second connection, once
//! the first is closed, opens a secure channel with SecurityPolicy None through async-opcua and
//! calls GetEndpoints (every endpoint, its security and user tokens, the server certificate:
//! `healthy`) and FindServers (the applications a discovery server knows), then closes the
//! channel (CloseSecureChannel, then FIN).
//!
//! Gentle by construction: one connection at a time and at most one per host (the runner's
//! per-host limit), no retry and no reconnect (async-opcua's retry policy is `never`, its event
//! loop runs inside the probe's own future, so nothing outlives the probe when the runner drops
//! it at the deadline), and only discovery services. With `opcua.read_status` a third
//! connection opens an anonymous session on a None endpoint and reads `Server_ServerStatus`
//! (`healthy` means `Running`), its one read: no Browse, no Write, no Call.

pub mod codes;
pub mod options;
pub mod wire;
pub use options::*;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opcua::client::SessionRetryPolicy;
use opcua::client::transport::{
    AsyncSecureChannel, SecureChannelEventLoop, StreamConnection, StreamConnector, TransportConfiguration,
    TransportPollResult,
};
use opcua::core::ResponseMessage;
use opcua::core::comms::tcp_codec::TcpCodec;
use opcua::crypto::CertificateStore;
use opcua::sync::RwLock;
use opcua::types::{
    ApplicationDescription, ContextOwned, DateTime, DecodingOptions, EndpointDescription, FindServersRequest,
    GetEndpointsRequest, MessageSecurityMode, NamespaceMap, NodeId, ReadValueId, RequestHeader, ServerState,
    ServerStatusDataType, StatusCode, TimestampsToReturn, UserTokenType,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::codec::FramedRead;

use crate::codes::core::{PROTO_MISMATCH, TIMEOUT};
use crate::net::{Conn, Tape, dial, read_available, read_failure, read_head};
use crate::{Failure, Level, Over, Phase, Probe, ProbeCx, Target, sniff, tls};

/// The `opcua` probe.
#[derive(Debug, Clone, Copy)]
pub struct Opcua;

/// What this probe is.
static ABOUT: crate::About = crate::About {
    name: "opcua",
    summary: "OPC UA TCP: Hello/Acknowledge, GetEndpoints and FindServers over SecurityPolicy None, server certificate",
    proves: "OPC UA TCP (4840, 4096): a hand-written Hello; the Acknowledge (protocol version, buffer sizes, limits) is `speaks`; then, on a second connection, async-opcua opens a secure channel with SecurityPolicy None and calls GetEndpoints (every endpoint: URL, security mode and policy, user-token types; the server certificate through the TLS engine's analysis: subject, application URI, SHA-1 thumbprint, validity, days left) = `healthy`, and FindServers (application names, URIs, discovery URLs); with `opcua.read_status` (`--read-status`) an anonymous None session reads `Server_ServerStatus` (state, product, manufacturer, version) and `healthy` means `Running`. One connection at a time, at most one per host counted together with its Modbus checks, no retry, CloseSecureChannel then FIN; discovery and that one read only",
    // 4840: the IANA port and the Local Discovery Server; 4096: Ignition's OPC UA server.
    default_ports: &[4840, 4096],
    // A PLC or embedded server may accept only a handful of clients: never take two.
    per_host_limit: Some(1),
    per_host_group: Some(crate::INDUSTRIAL),
    identify: crate::Identify::OwnPortOnly,
    options: Some(&SECTION),
    // async-opcua logs every discovery without a client certificate, and every refusal the
    // report explains, as an error: only when asked for.
    quiet_logs: &[
        crate::Quiet::UnlessNamed("opcua_core", "opcua"),
        crate::Quiet::UnlessNamed("opcua_client", "opcua"),
        crate::Quiet::UnlessNamed("opcua_server", "opcua"),
        crate::Quiet::UnlessNamed("opcua_crypto", "opcua"),
        crate::Quiet::UnlessNamed("opcua_types", "opcua"),
        crate::Quiet::UnlessNamed("opcua_nodes", "opcua"),
    ],
    codes: codes::CODES,
    ..crate::About::DEFAULT
};

impl Probe for Opcua {
    fn about(&self) -> &'static crate::About {
        &ABOUT
    }
    fn default_require(&self, t: &Target) -> Level {
        // Asking for the status read states a health criterion, which must be able to fail.
        if t.options::<OpcuaOptions>().is_some_and(|o| o.read_status) { Level::Healthy } else { Level::Speaks }
    }
    fn validate(&self, t: &Target) -> Result<(), Failure> {
        if t.over == Over::Tls {
            return Err(Failure::config(
                "expect: opcua runs on plain TCP (opc.tcp); its security is the secure channel, not TLS: drop over: tls",
            ));
        }
        if let Some(u) = t.options::<OpcuaOptions>().and_then(|o| o.endpoint_url.as_deref())
            && !u.starts_with('/')
            && !u.starts_with("opc.tcp://")
        {
            return Err(Failure::config(format!(
                "opcua.endpoint_url {u:?}: write a path (/discovery) or a full opc.tcp:// URL"
            )));
        }
        Ok(())
    }
    fn key_facts(&self, facts: &crate::Facts, mut generic: Vec<String>) -> Vec<String> {
        if let Some(e) = facts.get("opcua_endpoints").and_then(|v| v.as_array()) {
            let mut policies: Vec<&str> = e.iter().filter_map(|e| e["security_policy"].as_str()).collect();
            policies.dedup();
            generic.push(format!(
                "{} endpoint{} ({})",
                e.len(),
                if e.len() == 1 { "" } else { "s" },
                policies.join(", ")
            ));
        }
        generic
    }
    fn run<'a>(&'a self, t: &'a Target, cx: &'a mut ProbeCx) -> crate::RunFuture<'a> {
        Box::pin(run(t, cx))
    }
}

/// The endpoint URL the Hello and GetEndpoints name: the option's full URL, or
/// `opc.tcp://<host>:<port>` with the option's path.
pub fn endpoint_url(t: &Target) -> String {
    let opts = t.options_or_default::<OpcuaOptions>();
    match opts.endpoint_url {
        Some(u) if u.starts_with("opc.tcp://") => u,
        Some(path) => format!("opc.tcp://{}{path}", t.authority()),
        None => format!("opc.tcp://{}", t.authority()),
    }
}

async fn run(t: &Target, cx: &mut ProbeCx) -> Result<(), Failure> {
    let opts = t.options_or_default::<OpcuaOptions>();
    let url = endpoint_url(t);
    cx.fact("opcua_endpoint_url", url.clone());
    let peer = hello(t, cx, &url).await?;
    let endpoints = discover(t, cx, &url, peer, &opts).await?;
    if !opts.read_status {
        cx.reach(Level::Healthy);
        return Ok(());
    }
    server_status(t, cx, &url, &endpoints).await
}

/// The first connection: Hello, and the Acknowledge or Error that answers it.
async fn hello(t: &Target, cx: &mut ProbeCx, url: &str) -> Result<Option<SocketAddr>, Failure> {
    let tcp = dial(cx, &t.host, t.port).await?;
    let peer = tcp.peer();
    let mut conn = Conn::new(tcp, cx.limits.max_read);
    let tape = conn.tape();
    cx.phase(Phase::Greeting);
    conn.write_all(&wire::hello(url)).await.map_err(|e| read_failure(&e, Phase::Greeting, "sending Hello"))?;
    let mut h = [0u8; wire::HEADER_LEN];
    let got = read_head(&mut conn, &mut h, Phase::Greeting, "waiting for the Acknowledge").await?;
    if got == 0 {
        if sniff::answers_tls(peer, &t.host, cx.remaining()).await {
            cx.identify("tls");
            return Err(Failure::new(
                &PROTO_MISMATCH,
                Phase::Greeting,
                "the peer closed on an OPC UA Hello but completes a TLS handshake: a TLS service, not opc.tcp",
            )
            .hint("this port speaks TLS (perhaps OPC UA over HTTPS or a web server): opc.tcp listens elsewhere"));
        }
        return Err(Failure::new(
            &codes::NO_RESPONSE,
            Phase::Greeting,
            "the peer closed the connection without answering the Hello",
        ));
    }
    let header = match wire::header(&h[..got]) {
        Ok(hd) if matches!(&hd.kind, b"ACK" | b"ERR") => hd,
        other => {
            let _ = read_available(&mut conn, 512, Duration::from_millis(100)).await;
            let _ = conn.shutdown().await;
            return Err(mismatch(cx, &tape.head(), other.err()));
        }
    };
    if header.size as usize > wire::MAX_ANSWER {
        let _ = conn.shutdown().await;
        return Err(Failure::new(
            &codes::MALFORMED,
            Phase::Greeting,
            format!(
                "the {} claims {} bytes; an answer to Hello is at most {} (the smallest buffer a server may have)",
                header.kind_str(),
                header.size,
                wire::MAX_ANSWER
            ),
        ));
    }
    let mut m = vec![0u8; header.size as usize];
    m[..wire::HEADER_LEN].copy_from_slice(&h);
    conn.read_exact(&mut m[wire::HEADER_LEN..])
        .await
        .map_err(|e| read_failure(&e, Phase::Greeting, &format!("reading the {}", header.kind_str())))?;
    // The server expects an OpenSecureChannel next; a FIN tells it there is none. Its own
    // close is awaited (briefly) so that a server with one client slot has freed it before the
    // discovery connection: one connection at a time, not two overlapping.
    let _ = conn.shutdown().await;
    let wait = DRAIN_WAIT.min(cx.remaining().unwrap_or(DRAIN_WAIT) / 4);
    let _ = tokio::time::timeout(wait, async {
        let mut sink = [0u8; 512];
        while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    let answer = wire::answer(&m).map_err(|e| {
        Failure::new(&codes::MALFORMED, Phase::Greeting, format!("the answer to Hello does not decode: {e}"))
    })?;
    cx.reach(Level::Speaks);
    cx.fact("protocol", "OPC UA TCP (opc.tcp)");
    match answer {
        wire::Answer::Ack(l) => {
            cx.fact("opcua_protocol_version", l.protocol_version);
            cx.fact("opcua_receive_buffer", l.receive_buffer);
            cx.fact("opcua_send_buffer", l.send_buffer);
            cx.fact("opcua_max_message_size", l.max_message);
            cx.fact("opcua_max_chunk_count", l.max_chunks);
            for raised in wire::ack_raises(&l) {
                cx.warn(
                    &codes::ACK_LIMITS_RAISED,
                    format!("the Acknowledge raises a limit: {raised}; clients clamp it"),
                );
            }
            let problems = wire::ack_problems(&l);
            if !problems.is_empty() {
                return Err(Failure::new(
                    &codes::BAD_ACKNOWLEDGE,
                    Phase::Greeting,
                    format!("the Acknowledge announces impossible limits: {}", problems.join("; ")),
                ));
            }
            Ok(peer)
        }
        wire::Answer::Err { status, reason } => {
            Err(hello_error(cx, status, &reason, &format!("the server answered the Hello for {url}"), Phase::Greeting))
        }
    }
}

/// The failure for an `ERR` answer to a Hello: `opcua.err.<StatusCode>`, with the reason.
fn hello_error(cx: &mut ProbeCx, status: u32, reason: &str, what: &str, phase: Phase) -> Failure {
    let name = wire::status_name(status);
    cx.fact("opcua_error", json!({"status": name, "code": format!("0x{status:08X}"), "reason": reason}));
    let said = if reason.is_empty() { String::new() } else { format!(": {reason:?}") };
    codes::ERR.failure_with(&name, phase, format!("{what} with Error {name}{said}")).hint(wire::status_hint(status))
}

/// An `ERR` the server sent first on a connection async-opcua ran: async-opcua reports it only
/// as Bad_ConnectionClosed with the message in a debug string, so the probe's own parser reads
/// it back from the connection's first bytes.
fn tape_error(cx: &mut ProbeCx, tape: &Tape, what: &str, phase: Phase) -> Option<Failure> {
    let head = tape.head();
    let h = wire::header(&head).ok()?;
    let size = h.size as usize;
    if &h.kind != b"ERR" || h.chunk != b'F' || size > wire::MAX_ANSWER {
        return None;
    }
    if size <= head.len() {
        return match wire::answer(&head[..size]).ok()? {
            wire::Answer::Err { status, reason } => Some(hello_error(cx, status, &reason, what, phase)),
            wire::Answer::Ack(_) => None,
        };
    }
    // Longer than the tape keeps (the first connection reads up to MAX_ANSWER): the StatusCode
    // comes first, and the reason is what the tape holds of it.
    let status = u32::from_le_bytes(head.get(wire::HEADER_LEN..wire::HEADER_LEN + 4)?.try_into().ok()?);
    let kept = head.get(wire::HEADER_LEN + 8..).unwrap_or_default();
    let reason = format!("{}... (cut short)", String::from_utf8_lossy(kept));
    Some(hello_error(cx, status, &reason, what, phase))
}

/// Names what answered instead of OPC UA.
fn mismatch(cx: &mut ProbeCx, head: &[u8], why: Option<wire::WireError>) -> Failure {
    let expected = sniff::Expected { name: "opcua", label: "OPC UA TCP", over_tls: None };
    if let Some(f) = sniff::mismatch(cx, head, &expected, Phase::Greeting) {
        return f;
    }
    let why = why.map(|e| format!(" ({e})")).unwrap_or_default();
    Failure::new(
        &codes::MALFORMED,
        Phase::Greeting,
        format!("the answer to Hello is not OPC UA TCP{why}: {}", sniff::describe(head)),
    )
    .hint("the port speaks something other than OPC UA TCP: check the port number")
}

/// How long the probe waits for the server to close the Hello connection after its FIN.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// How many distinct advertised hosts are looked up (each lookup takes time the server chose).
const MAX_HOSTS_CHECKED: usize = 4;

/// Time kept back from the deadline for closing the channel cleanly.
const CLOSE_BUDGET: Duration = Duration::from_millis(500);

/// The second connection: OpenSecureChannel (None), GetEndpoints, FindServers, CloseSecureChannel.
async fn discover(
    t: &Target,
    cx: &mut ProbeCx,
    url: &str,
    peer: Option<SocketAddr>,
    opts: &OpcuaOptions,
) -> Result<Vec<EndpointDescription>, Failure> {
    let tcp = dial(cx, &t.host, t.port).await?;
    cx.phase(Phase::Request);
    let tape = tcp.tape();
    let connector = own_connector(tcp, url);
    let decoding =
        DecodingOptions { max_message_size: wire::OUR_MAX_MESSAGE as usize, max_chunk_count: 64, ..Default::default() };
    let endpoint = EndpointDescription {
        endpoint_url: url.into(),
        security_policy_uri: opcua::crypto::SecurityPolicy::None.to_uri().into(),
        security_mode: MessageSecurityMode::None,
        ..Default::default()
    };
    let channel = AsyncSecureChannel::new(
        // No certificate: SecurityPolicy None signs nothing. The store is never written to.
        Arc::new(RwLock::new(CertificateStore::new(&std::env::temp_dir().join("portproof-opcua-no-pki")))),
        // Anonymous, no locales: the channel carries discovery only, never a session.
        endpoint.into(),
        SessionRetryPolicy::never(),
        true,
        Arc::default(),
        TransportConfiguration {
            send_buffer_size: wire::OUR_BUFFER as usize,
            recv_buffer_size: wire::OUR_BUFFER as usize,
            max_message_size: wire::OUR_MAX_MESSAGE as usize,
            max_chunk_count: 64,
        },
        // The channel lives for one exchange; a minute is what servers accept as a minimum.
        60_000,
        Arc::new(RwLock::new(ContextOwned::new_default(NamespaceMap::new(), decoding))),
    );
    let budget = cx.remaining().unwrap_or(Duration::from_secs(10)).saturating_sub(CLOSE_BUDGET);
    let opened = tokio::time::timeout(budget, channel.connect_no_retry(&connector)).await;
    let mut evt = match opened {
        Ok(Ok(evt)) => evt,
        Ok(Err(e)) => {
            let what = format!("the server answered the discovery connection's Hello for {url}");
            if let Some(f) = tape_error(cx, &tape, &what, Phase::Request) {
                return Err(f);
            }
            return Err(refused(cx, e.status(), &e.to_string(), "OpenSecureChannel with SecurityPolicy None"));
        }
        Err(_) => {
            return Err(TIMEOUT
                .failure_in(Phase::Request, "no answer to OpenSecureChannel (SecurityPolicy None) before the deadline")
                .hint(
                    "the server acknowledged the Hello but does not open a secure channel: check its load and its log",
                ));
        }
    };
    let timeout = cx.remaining().unwrap_or(Duration::from_secs(10)).saturating_sub(CLOSE_BUDGET);
    let header = || RequestHeader {
        authentication_token: NodeId::null(),
        timestamp: DateTime::now(),
        request_handle: channel.request_handle(),
        timeout_hint: timeout.as_millis().min(u32::MAX as u128) as u32,
        ..Default::default()
    };
    let get = GetEndpointsRequest {
        request_header: header(),
        endpoint_url: url.into(),
        locale_ids: None,
        profile_uris: None,
    };
    let endpoints = exchange(&channel, &mut evt, get.into(), timeout).await;
    let result = match endpoints {
        Ok(ResponseMessage::GetEndpoints(r)) if r.response_header.service_result.is_good() => {
            let list = r.endpoints.unwrap_or_default();
            record_endpoints(t, cx, &list, peer, opts).await;
            if list.is_empty() {
                Err(Failure::new(&codes::NO_ENDPOINTS, Phase::Request, "GetEndpoints listed no endpoint"))
            } else {
                Ok(list)
            }
        }
        Ok(other) => Err(refused(cx, service_status(&other), "", "GetEndpoints")),
        Err(e) => Err(refused(cx, e.status(), &e.to_string(), "GetEndpoints")),
    };
    if result.is_ok() {
        let remaining = cx.remaining().unwrap_or(Duration::from_secs(10)).saturating_sub(CLOSE_BUDGET);
        let find = FindServersRequest {
            request_header: header(),
            endpoint_url: url.into(),
            locale_ids: None,
            server_uris: None,
        };
        match exchange(&channel, &mut evt, find.into(), remaining).await {
            Ok(ResponseMessage::FindServers(r)) if r.response_header.service_result.is_good() => {
                let servers: Vec<_> = r.servers.unwrap_or_default().iter().map(application).collect();
                cx.fact("opcua_servers", servers);
            }
            Ok(other) => cx.warn(
                &codes::FIND_SERVERS_FAILED,
                format!("FindServers was refused: {}", wire::status_name(service_status(&other).bits())),
            ),
            Err(e) => cx.warn(
                &codes::FIND_SERVERS_FAILED,
                format!("FindServers failed: {} ({})", wire::status_name(e.status().bits()), e),
            ),
        }
    }
    // CloseSecureChannel, then let the transport flush it and close the socket (FIN).
    channel.close_channel().await;
    let _ = tokio::time::timeout(CLOSE_BUDGET, async {
        while !matches!(evt.poll().await, TransportPollResult::Closed(_)) {}
    })
    .await;
    result
}

/// The third connection, when the target asks (`opcua.read_status`): an anonymous session on
/// a SecurityPolicy None endpoint reads `Server_ServerStatus` (i=2256) and nothing else;
/// `healthy` means `Running`. CloseSession and CloseSecureChannel end it.
async fn server_status(
    t: &Target,
    cx: &mut ProbeCx,
    url: &str,
    endpoints: &[EndpointDescription],
) -> Result<(), Failure> {
    let anonymous_none = endpoints.iter().find(|e| {
        e.security_mode == MessageSecurityMode::None
            && e.user_identity_tokens
                .as_ref()
                .is_some_and(|u| u.iter().any(|p| p.token_type == UserTokenType::Anonymous))
    });
    let Some(endpoint) = anonymous_none else {
        return Err(Failure::new(
            &codes::STATUS_UNREADABLE,
            Phase::Query,
            "no endpoint offers anonymous access over SecurityPolicy None, so the probe opens no session to read ServerStatus",
        ));
    };
    let mut endpoint = endpoint.clone();
    // The URL the client asked for, not the one advertised: the advertised host may be one this
    // client cannot use (see opcua.endpoint_url_mismatch), and the probe's socket is already dialed.
    endpoint.endpoint_url = url.into();
    let tcp = dial(cx, &t.host, t.port).await?;
    cx.phase(Phase::Query);
    let budget = cx.remaining().unwrap_or(Duration::from_secs(10)).saturating_sub(CLOSE_BUDGET);
    let config = opcua::client::ClientBuilder::new()
        .application_name("portproof")
        .application_uri("urn:portproof:probe")
        .product_uri("urn:portproof")
        .session_retry_limit(0)
        .session_name("portproof ServerStatus read")
        .request_timeout(budget)
        // The event loop's keep-alive reads the server state at once and then periodically:
        // pushed past the session's life, so the ServerStatus read stays the only read.
        .keep_alive_interval(budget + Duration::from_secs(60))
        .ignore_clock_skew(true)
        .into_config();
    let source = OwnSource(Mutex::new(Some(own_connector(tcp, url))));
    let store = Arc::new(RwLock::new(CertificateStore::new(&std::env::temp_dir().join("portproof-opcua-no-pki"))));
    let built = opcua::client::SessionBuilder::new(&config)
        .with_connector(source)
        .connect_to_endpoint_directly(endpoint)
        .and_then(|b| b.build(store));
    let (session, event_loop) = match built {
        Ok(s) => s,
        Err(e) => return Err(refused(cx, e.status(), &e.to_string(), "creating the session")),
    };
    let run = event_loop.run();
    tokio::pin!(run);
    let read = async {
        if !session.wait_for_connection().await {
            return Err(opcua::types::Error::new(StatusCode::BadNotConnected, "the session did not open"));
        }
        let node = ReadValueId {
            node_id: opcua::types::VariableId::Server_ServerStatus.into(),
            attribute_id: opcua::types::AttributeId::Value as u32,
            ..Default::default()
        };
        session.read(&[node], TimestampsToReturn::Neither, 0.0).await
    };
    // A finished event loop must not be polled again (an `async fn` panics when resumed).
    let mut run_ended = false;
    let answer = tokio::time::timeout(budget, async {
        tokio::select! {
            r = read => r,
            s = &mut run => {
                run_ended = true;
                Err(opcua::types::Error::new(if s.is_good() { StatusCode::BadConnectionClosed } else { s }, "the session ended"))
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(opcua::types::Error::new(StatusCode::BadTimeout, "no answer before the deadline")));
    // CloseSession, CloseSecureChannel, FIN: the event loop ends once the channel is closed.
    if !run_ended {
        let _ = tokio::time::timeout(CLOSE_BUDGET, async {
            let (_closed, _ended) = tokio::join!(session.disconnect(), &mut run);
        })
        .await;
    }
    let values = answer.map_err(|e| refused(cx, e.status(), &e.to_string(), "reading Server_ServerStatus"))?;
    let status = values.first().and_then(|v| match &v.value {
        Some(opcua::types::Variant::ExtensionObject(o)) => o.inner_as::<ServerStatusDataType>().cloned(),
        _ => None,
    });
    let Some(status) = status else {
        let code = values.first().and_then(|v| v.status).unwrap_or(StatusCode::BadUnexpectedError);
        return Err(refused(cx, code, "", "reading Server_ServerStatus"));
    };
    let b = &status.build_info;
    cx.fact(
        "opcua_server_status",
        json!({
            "state": format!("{:?}", status.state),
            "product": b.product_name.as_ref(),
            "manufacturer": b.manufacturer_name.as_ref(),
            "software_version": b.software_version.as_ref(),
            "build_number": b.build_number.as_ref(),
            "product_uri": b.product_uri.as_ref(),
        }),
    );
    if !b.software_version.is_empty() {
        cx.fact("product_version", b.software_version.as_ref().to_owned());
    }
    if status.state != ServerState::Running {
        return Err(codes::SERVER_STATE.failure_with(
            format_args!("{:?}", status.state),
            Phase::Query,
            format!("Server_ServerStatus says the server is {:?}, not Running", status.state),
        ));
    }
    cx.reach(Level::Healthy);
    Ok(())
}

/// A session's connection source: the one connection the probe dialed.
struct OwnSource(Mutex<Option<OwnConnector>>);

impl opcua::client::ConnectionSource for OwnSource {
    type Builder = OwnConnector;
    fn get_connector(&self, _endpoint: &EndpointDescription) -> Result<OwnConnector, opcua::types::Error> {
        self.0
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .ok_or_else(|| opcua::types::Error::new(StatusCode::BadNotConnected, "the probe does not reconnect"))
    }
}

/// The read half of a connection async-opcua runs over.
type OwnRead = tokio::io::ReadHalf<Conn>;
/// The write half.
type OwnWrite = tokio::io::WriteHalf<Conn>;

/// An async-opcua connector over a connection the probe dialed itself (its phases, its
/// deadline, its read limit, its address rather than the one in the endpoint URL). It hands
/// out that one connection once: a reconnect, which the probe never wants, finds nothing.
struct OwnConnector {
    conn: Arc<Mutex<Option<Conn>>>,
    url: String,
}

fn own_connector(conn: Conn, url: &str) -> OwnConnector {
    OwnConnector { conn: Arc::new(Mutex::new(Some(conn))), url: url.to_owned() }
}

impl opcua::client::transport::Connector for OwnConnector {
    type Transport = opcua::client::transport::StreamTransport<OwnRead, OwnWrite>;

    fn connect(
        &self,
        channel: Arc<opcua::client::transport::SecureChannelState>,
        outgoing_recv: opcua::client::transport::RequestRecv,
        config: TransportConfiguration,
    ) -> impl Future<Output = Result<Self::Transport, opcua::types::Error>> + Send + Sync {
        let slot = self.conn.clone();
        let inner = StreamConnector::new(
            move |endpoint_url: String, decoding: DecodingOptions| {
                let taken = slot.lock().ok().and_then(|mut s| s.take());
                std::future::ready(match taken {
                    Some(conn) => {
                        let (r, w) = tokio::io::split(conn);
                        Ok(StreamConnection::new(FramedRead::new(r, TcpCodec::new(decoding)), w, endpoint_url))
                    }
                    None => Err(opcua::types::Error::new(StatusCode::BadNotConnected, "the probe does not reconnect")),
                })
            },
            self.url.clone(),
        );
        async move { inner.connect(channel, outgoing_recv, config).await }
    }

    fn default_endpoint(&self) -> EndpointDescription {
        EndpointDescription::from(self.url.as_str())
    }
}

/// Sends one request and drives the channel's event loop until its answer comes.
async fn exchange<T: opcua::client::transport::Transport>(
    channel: &AsyncSecureChannel,
    evt: &mut SecureChannelEventLoop<T>,
    request: opcua::core::RequestMessage,
    timeout: Duration,
) -> Result<ResponseMessage, opcua::types::Error> {
    let send = channel.send(request, timeout);
    tokio::pin!(send);
    let work = async {
        loop {
            tokio::select! {
                r = &mut send => break r,
                r = evt.poll() => {
                    if let TransportPollResult::Closed(s) = r {
                        break Err(opcua::types::Error::new(s, "the server closed the connection"));
                    }
                }
            }
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(opcua::types::Error::new(StatusCode::BadTimeout, "no answer before the deadline")),
    }
}

/// The service result of an answer that is not the one asked for (a ServiceFault).
fn service_status(m: &ResponseMessage) -> StatusCode {
    let s = m.response_header().service_result;
    if s.is_good() { StatusCode::BadUnknownResponse } else { s }
}

/// The failure for a discovery step the server refused: the Hello proved OPC UA, so the level
/// stays `speaks`, with the server's StatusCode as the code.
fn refused(cx: &mut ProbeCx, status: StatusCode, detail: &str, what: &str) -> Failure {
    let name = wire::status_name(status.bits());
    cx.fact("opcua_discovery_status", name.clone());
    let detail = if detail.is_empty() { String::new() } else { format!(" ({detail})") };
    // What the StatusCode says about discovery; the table's hint covers the others.
    let hint = match status.bits() & 0xFFFF_0000 {
        0x8055_0000 | 0x8054_0000 => Some(
            "the server refuses SecurityPolicy None even for discovery: OPC UA proven, but its endpoints need a client certificate to list",
        ),
        0x800A_0000 => Some("the server stopped answering during discovery: check its load and log"),
        0x80AE_0000 | 0x808A_0000 | 0x8086_0000 => Some(
            "the server dropped the secure channel: it may refuse SecurityPolicy None for discovery, or limit its clients",
        ),
        _ => None,
    };
    let f = codes::STATUS.failure_with(&name, Phase::Request, format!("{what} failed with {name}{detail}"));
    match hint {
        Some(h) => f.hint(h),
        None => f,
    }
}

/// The short name of a security policy URI (`http://opcfoundation.org/UA/SecurityPolicy#None`).
fn policy_name(uri: &str) -> String {
    uri.rsplit('#').next().unwrap_or(uri).to_owned()
}

fn mode_name(m: MessageSecurityMode) -> &'static str {
    match m {
        MessageSecurityMode::None => "None",
        MessageSecurityMode::Sign => "Sign",
        MessageSecurityMode::SignAndEncrypt => "SignAndEncrypt",
        _ => "Invalid",
    }
}

fn token_name(t: UserTokenType) -> &'static str {
    match t {
        UserTokenType::Anonymous => "anonymous",
        UserTokenType::UserName => "username",
        UserTokenType::Certificate => "certificate",
        UserTokenType::IssuedToken => "issued",
    }
}

fn application(a: &ApplicationDescription) -> serde_json::Value {
    json!({
        "name": a.application_name.text.as_ref(),
        "uri": a.application_uri.as_ref(),
        "product_uri": a.product_uri.as_ref(),
        "type": format!("{:?}", a.application_type),
        "discovery_urls": a.discovery_urls.clone().unwrap_or_default().iter().map(|u| u.as_ref().to_owned()).collect::<Vec<_>>(),
    })
}

/// Days before expiry from which the server certificate draws `opcua.cert_expiring`.
pub const EXPIRY_WARNING_DAYS: u32 = 30;

/// Writes the endpoints, the server certificate and the warnings they call for.
async fn record_endpoints(
    t: &Target,
    cx: &mut ProbeCx,
    list: &[EndpointDescription],
    peer: Option<SocketAddr>,
    opts: &OpcuaOptions,
) {
    let facts: Vec<_> = list
        .iter()
        .map(|e| {
            json!({
                "url": e.endpoint_url.as_ref(),
                "security_mode": mode_name(e.security_mode),
                "security_policy": policy_name(e.security_policy_uri.as_ref()),
                "security_level": e.security_level,
                "user_tokens": e.user_identity_tokens.clone().unwrap_or_default().iter().map(|u| token_name(u.token_type)).collect::<Vec<_>>(),
            })
        })
        .collect();
    cx.fact("opcua_endpoints", facts);
    if let Some(first) = list.first() {
        cx.fact("opcua_application", application(&first.server));
        if let Some(name) = first.server.application_name.text.value() {
            cx.fact("product", name.clone());
        }
    }
    if list.iter().all(|e| e.security_mode == MessageSecurityMode::None) && !list.is_empty() {
        cx.warn(
            &codes::SECURITY_NONE_ONLY,
            "every endpoint uses SecurityPolicy None: no signed or encrypted endpoint is offered, so anyone on the network can read and alter the traffic",
        );
    }
    if let Some(der) = list.iter().find_map(|e| e.server_certificate.value.as_ref().filter(|v| !v.is_empty())) {
        certificate(cx, der, opts.expiry_warning_days.unwrap_or(EXPIRY_WARNING_DAYS));
    }
    // Endpoint URLs whose host the client cannot use: a classic "connects, then fails".
    let mut seen = Vec::new();
    for e in list {
        let u = e.endpoint_url.as_ref();
        let Some((host, port)) = url_host(u) else { continue };
        if port != t.port && !seen.iter().any(|(_, p)| *p == port) {
            cx.warn(
                &codes::ENDPOINT_URL_MISMATCH,
                format!(
                    "the endpoints advertise {u}, but the server was reached on port {}: clients that connect to the URL the server returns will fail after discovery (a NAT or container port mapping?)",
                    t.port
                ),
            );
        }
        if seen.iter().any(|(h, _)| *h == host) {
            continue;
        }
        seen.push((host.clone(), port));
        // Each lookup is a name the server chose: a few, and only while time is left.
        let time_left = cx.remaining().is_none_or(|r| r > Duration::from_secs(1));
        if seen.len() > MAX_HOSTS_CHECKED || !time_left {
            continue;
        }
        if let Some(problem) = unusable_host(t, &host, peer, cx.remaining()).await {
            cx.warn(
                &codes::ENDPOINT_URL_MISMATCH,
                format!(
                    "the endpoints advertise {u}, but {problem}: clients that connect to the URL the server returns will fail after discovery"
                ),
            );
        }
    }
}

/// The host and port of an `opc.tcp://host:port/path` URL (4840 when it names none).
fn url_host(u: &str) -> Option<(String, u16)> {
    let parsed = url::Url::parse(u).ok()?;
    let host = parsed.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    Some((host, parsed.port().unwrap_or(4840)))
}

/// Why a host name advertised in an endpoint URL does not lead a client to this server.
async fn unusable_host(
    t: &Target,
    host: &str,
    peer: Option<SocketAddr>,
    remaining: Option<Duration>,
) -> Option<String> {
    if host.eq_ignore_ascii_case(&t.host) {
        return None;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if ip.is_unspecified() {
            return Some(format!("{host} is the wildcard address, which no client can connect to"));
        }
        return match peer {
            Some(p) if p.ip() == ip => None,
            // 127.0.0.1 advertised, ::1 probed (or the reverse): the same machine either way.
            Some(p) if ip.is_loopback() && p.ip().is_loopback() => None,
            Some(p) if ip.is_loopback() && !p.ip().is_loopback() => {
                Some(format!("{host} is a loopback address: only a client on the server itself reaches it"))
            }
            Some(p) => {
                // A dual-stack name probed over one family may advertise the other.
                let budget = sniff::poke_budget(remaining);
                let ours = tokio::time::timeout(budget, tokio::net::lookup_host((t.host.as_str(), 0))).await;
                if let Ok(Ok(addrs)) = ours
                    && addrs.map(|a| a.ip()).any(|a| a == ip)
                {
                    return None;
                }
                Some(format!("{host} is not the address probed ({})", p.ip()))
            }
            None => None,
        };
    }
    let budget = sniff::poke_budget(remaining);
    match tokio::time::timeout(budget, tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            match peer {
                Some(p) if addrs.contains(&p.ip()) => None,
                Some(p) if addrs.is_empty() => {
                    Some(format!("{host} resolves to no address (the server is at {})", p.ip()))
                }
                Some(p) => Some(format!(
                    "{host} resolves to {}, not to the address probed ({})",
                    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    p.ip()
                )),
                None => None,
            }
        }
        Ok(Err(_)) => Some(format!("{host} does not resolve here")),
        Err(_) => Some(format!("{host} did not resolve within {} ms", budget.as_millis())),
    }
}

/// The server certificate through the TLS engine's analysis, and its expiry.
fn certificate(cx: &mut ProbeCx, der: &[u8], warn_days: u32) {
    match tls::cert::analyze(der) {
        Ok(c) => {
            let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
            let uri = application_uri(der);
            cx.fact(
                "opcua_certificate",
                json!({
                    "subject": c.subject,
                    "issuer": c.issuer,
                    "application_uri": uri,
                    // OPC UA names certificates by their SHA-1 thumbprint (OPC 10000-6 6.2.3).
                    "thumbprint": hex(thumbprint.as_ref()),
                    "sha256": c.sha256,
                    "not_before": c.not_before,
                    "not_after": c.not_after,
                    "days_left": c.days_left,
                    "key": c.key,
                    "self_signed": c.self_signed,
                }),
            );
            if c.days_left < 0 {
                cx.warn(
                    &codes::CERT_EXPIRING,
                    format!(
                        "the server certificate expired {} days ago ({}): secured connections fail",
                        -c.days_left, c.not_after
                    ),
                );
            } else if c.days_left < i64::from(warn_days) {
                cx.warn(
                    &codes::CERT_EXPIRING,
                    format!("the server certificate expires in {} days ({})", c.days_left, c.not_after),
                );
            }
        }
        Err(e) => cx.warn(&codes::CERT_UNPARSABLE, format!("the server certificate does not parse: {e}")),
    }
}

/// The application URI in a certificate's subjectAltName (OPC 10000-6 6.2.2 puts it there).
fn application_uri(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, c) = X509Certificate::from_der(der).ok()?;
    let san = c.tbs_certificate.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(u) => Some((*u).to_owned()),
        _ => None,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
    }

    /// A peer that acknowledges every Hello and then never answers again (OpenSecureChannel
    /// hangs); it reports each connection the client closed (EOF or reset).
    async fn mute_after_ack() -> (u16, tokio::sync::mpsc::UnboundedReceiver<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 65_536];
                    let _ = s.read(&mut buf).await;
                    let mut ack = b"ACKF\x1c\x00\x00\x00".to_vec();
                    for v in [0u32, 65_535, 65_535, 0, 0] {
                        ack.extend_from_slice(&v.to_le_bytes());
                    }
                    let _ = s.write_all(&ack).await;
                    while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                    drop(s);
                    let _ = tx.send(());
                });
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn nothing_outlives_a_probe_cut_at_its_deadline() {
        let (port, mut closed) = mute_after_ack().await;
        let before = open_fds();
        let mut t = Target::new("127.0.0.1", port);
        t.timeout = Duration::from_millis(800);
        // No deadline in the context: the probe's own budgets would end it cleanly first; here
        // the runner drops it mid-exchange instead.
        let mut cx = ProbeCx::new(None);
        let cut = tokio::time::timeout(t.timeout, Opcua.probe(&t, &mut cx)).await;
        assert!(cut.is_err(), "OpenSecureChannel never answers, so the runner's deadline cuts the probe");
        assert_eq!(cx.level(), Level::Speaks, "the Acknowledge was read first");
        // Both connections, the Hello's and the secure channel's, are closed by the client:
        // no task or socket of async-opcua's is left behind.
        for n in 0..2 {
            tokio::time::timeout(Duration::from_secs(2), closed.recv())
                .await
                .unwrap_or_else(|_| panic!("connection {n} is still open after the probe was dropped"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(open_fds() <= before, "file descriptors: {before} before, {} after", open_fds());
    }

    #[test]
    fn the_endpoint_url_takes_a_path_or_a_whole_url() {
        let mut t = Target::new("plc.example", 4840);
        assert_eq!(endpoint_url(&t), "opc.tcp://plc.example:4840");
        t.set_options(OpcuaOptions { endpoint_url: Some("/discovery".into()), ..Default::default() });
        assert_eq!(endpoint_url(&t), "opc.tcp://plc.example:4840/discovery");
        t.set_options(OpcuaOptions { endpoint_url: Some("opc.tcp://PLC17:4840/x".into()), ..Default::default() });
        assert_eq!(endpoint_url(&t), "opc.tcp://PLC17:4840/x");
        t.set_options(OpcuaOptions { endpoint_url: Some("http://x".into()), ..Default::default() });
        assert!(Opcua.validate(&t).is_err());
        let t = Target::new("::1", 4840);
        assert_eq!(endpoint_url(&t), "opc.tcp://[::1]:4840");
    }

    #[test]
    fn one_connection_per_host_on_the_usual_ports() {
        assert_eq!(Opcua.per_host_limit(), Some(1));
        assert_eq!(Opcua.per_host_group(), crate::INDUSTRIAL, "Modbus and OPC UA share one PLC's limit");
        assert_eq!(Opcua.default_ports(), [4840, 4096]);
        let mut t = Target::new("plc", 4840);
        assert_eq!(Opcua.default_require(&t), Level::Speaks);
        t.set_options(OpcuaOptions { read_status: true, ..Default::default() });
        assert_eq!(Opcua.default_require(&t), Level::Healthy, "a stated health criterion can fail");
    }

    #[test]
    fn every_code_the_tests_know_is_in_a_table() {
        for c in [
            "opcua.ack_limits_raised",
            "opcua.bad_acknowledge",
            "opcua.cert_expiring",
            "opcua.cert_unparsable",
            "opcua.endpoint_url_mismatch",
            "opcua.err.Bad_TcpEndpointUrlInvalid",
            "opcua.err.Bad_TcpServerTooBusy",
            "opcua.err.0x12340000",
            "opcua.find_servers_failed",
            "opcua.malformed",
            "opcua.no_endpoints",
            "opcua.no_response",
            "opcua.security_none_only",
            "opcua.server_state.Suspended",
            "opcua.status.Bad_SecurityPolicyRejected",
            "opcua.status_unreadable",
            "greeting.timeout",
            "request.timeout",
            "proto.mismatch",
        ] {
            assert!(crate::codes::lookup(c).is_some(), "{c}");
        }
        // The family `opcua.status.<StatusCode>` and the exact `opcua.status_unreadable` stay apart.
        assert!(std::ptr::eq(crate::codes::lookup("opcua.status_unreadable").unwrap(), &codes::STATUS_UNREADABLE));
        assert!(std::ptr::eq(crate::codes::lookup("opcua.status.Bad_Timeout").unwrap(), &codes::STATUS));
    }

    #[test]
    fn names_read_like_the_specification() {
        assert_eq!(policy_name("http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"), "Basic256Sha256");
        assert_eq!(url_host("opc.tcp://plc-17:4841/x"), Some(("plc-17".to_owned(), 4841)));
        assert_eq!(
            url_host("opc.tcp://plc-17/x"),
            Some(("plc-17".to_owned(), 4840)),
            "4840 when the URL names no port"
        );
        assert_eq!(url_host("opc.tcp://[::1]:4840"), Some(("::1".to_owned(), 4840)));
        assert_eq!(url_host("not a url"), None);
    }
}
