//! OPC UA peers: async-opcua's own server (None and secured endpoints, secured only, as the
//! discovery endpoint), and hand-written peers that answer the Hello with an `ERR`, refuse
//! SecurityPolicy None for discovery, or announce absurd limits.
//!
//! The hand-written peers speak only the OPC UA TCP framing (OPC 10000-6 7.1.2), written out
//! here byte by byte rather than borrowed from the probe: a testbed must not share the code it
//! tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use opcua::crypto::SecurityPolicy;
use opcua::server::{ServerBuilder, ServerEndpoint};
use opcua::types::MessageSecurityMode;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::Server;
use crate::conn::{accept_each, finish, send};

/// The application the in-process servers announce, unless a test names another.
pub const APPLICATION_NAME: &str = "portproof OPC UA testbed";
/// Its application URI.
pub const APPLICATION_URI: &str = "urn:portproof:opcua-testbed";

/// What an async-opcua testbed server offers.
#[derive(Clone, Debug)]
pub struct OpcuaConfig {
    /// ApplicationName in every ApplicationDescription.
    pub application_name: String,
    /// ApplicationUri.
    pub application_uri: String,
    /// Offer an endpoint with SecurityPolicy None (anonymous).
    pub none: bool,
    /// Offer Basic256Sha256 SignAndEncrypt (anonymous).
    pub secured: bool,
    /// The host name the endpoints advertise; default 127.0.0.1. A name no client can resolve
    /// reproduces a server configured with its own internal host name.
    pub advertised_host: Option<String>,
}

impl Default for OpcuaConfig {
    fn default() -> Self {
        OpcuaConfig {
            application_name: APPLICATION_NAME.into(),
            application_uri: APPLICATION_URI.into(),
            none: true,
            secured: true,
            advertised_host: None,
        }
    }
}

/// What the peer on the port is.
#[derive(Clone, Debug)]
pub enum OpcuaMode {
    /// async-opcua's server with the given endpoints; it answers FindServers with itself, the
    /// way a server's own discovery endpoint does.
    Server(OpcuaConfig),
    /// Answers every Hello with an `ERR` message carrying this StatusCode and reason.
    HelloError(u32, &'static str),
    /// Acknowledges the Hello, then answers OpenSecureChannel (SecurityPolicy None) with
    /// `ERR` Bad_SecurityPolicyRejected: a server locked down even for discovery.
    RefuseNone,
    /// Acknowledges the first connection's Hello, then answers every later Hello with an `ERR`
    /// carrying this StatusCode and reason: a server that took its last client meanwhile.
    BusyAfterFirst(u32, &'static str),
    /// An Acknowledge whose buffer sizes no server may announce.
    AbsurdAck,
    /// An Acknowledge header that claims a 4 GiB message.
    AbsurdLength,
}

/// Serves `mode` on `listener`.
pub fn serve(listener: TcpListener, mode: OpcuaMode) -> Server {
    match mode {
        OpcuaMode::Server(config) => server(listener, config),
        OpcuaMode::BusyAfterFirst(status, reason) => {
            let seen = Arc::new(AtomicUsize::new(0));
            accept_each(listener, move |tcp| {
                let first = seen.fetch_add(1, Ordering::SeqCst) == 0;
                let mode = OpcuaMode::HelloError(status, reason);
                async move { if first { acknowledge_only(tcp).await } else { peer(tcp, mode).await } }
            })
        }
        other => accept_each(listener, move |tcp| peer(tcp, other.clone())),
    }
}

/// Bad_SecurityPolicyRejected.
pub const BAD_SECURITY_POLICY_REJECTED: u32 = 0x8055_0000;
/// Bad_TcpEndpointUrlInvalid.
pub const BAD_TCP_ENDPOINT_URL_INVALID: u32 = 0x8083_0000;

/// An `ERR` message (OPC 10000-6 7.1.2.5): header, StatusCode, reason string.
pub fn error_message(status: u32, reason: &str) -> Vec<u8> {
    let size = 8 + 4 + 4 + reason.len();
    let mut m = b"ERRF".to_vec();
    m.extend_from_slice(&(size as u32).to_le_bytes());
    m.extend_from_slice(&status.to_le_bytes());
    m.extend_from_slice(&(reason.len() as i32).to_le_bytes());
    m.extend_from_slice(reason.as_bytes());
    m
}

/// An `ACK` message (OPC 10000-6 7.1.2.4) with these limits.
pub fn ack_message(receive: u32, send: u32, max_message: u32, max_chunks: u32) -> Vec<u8> {
    let mut m = b"ACKF".to_vec();
    m.extend_from_slice(&28u32.to_le_bytes());
    for v in [0, receive, send, max_message, max_chunks] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m
}

/// Reads one OPC UA TCP message (at most 64 KiB); `None` when the client is gone or sends
/// something else.
async fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).await.ok()?;
    let size = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    if !(8..=65_536).contains(&size) {
        return None;
    }
    let mut m = h.to_vec();
    m.resize(size, 0);
    s.read_exact(&mut m[8..]).await.ok()?;
    Some(m)
}

/// Acknowledges one Hello with ordinary limits and waits for the client to close.
async fn acknowledge_only(mut s: TcpStream) {
    let Some(hello) = read_message(&mut s).await else { return };
    if hello.starts_with(b"HELF") && send(&mut s, &ack_message(65_535, 65_535, 0, 0)).await.is_some() {
        finish(&mut s).await;
    }
}

async fn peer(mut s: TcpStream, mode: OpcuaMode) {
    let Some(hello) = read_message(&mut s).await else { return };
    if !hello.starts_with(b"HELF") {
        return;
    }
    let answer = match mode {
        OpcuaMode::HelloError(status, reason) => error_message(status, reason),
        OpcuaMode::AbsurdAck => ack_message(256, u32::MAX, u32::MAX, u32::MAX),
        OpcuaMode::AbsurdLength => {
            let mut m = ack_message(65_535, 65_535, 0, 0);
            m[4..8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
            m
        }
        OpcuaMode::RefuseNone => {
            if send(&mut s, &ack_message(65_535, 65_535, 0, 0)).await.is_none() {
                return;
            }
            match read_message(&mut s).await {
                Some(m) if m.starts_with(b"OPNF") => {
                    error_message(BAD_SECURITY_POLICY_REJECTED, "SecurityPolicy None is disabled")
                }
                _ => return,
            }
        }
        OpcuaMode::Server(_) | OpcuaMode::BusyAfterFirst(..) => return,
    };
    if send(&mut s, &answer).await.is_some() {
        finish(&mut s).await;
    }
}

/// Serialises the first server's certificate creation: the servers of one process share one
/// PKI directory, and the first one writes the key pair the others read.
static PKI: Mutex<()> = Mutex::new(());

/// The PKI folder of this process's OPC UA servers. async-opcua wants a folder that outlives
/// each server, so the folder of a process is left when it ends; the first server of the next
/// process removes those of processes no longer running, so they never pile up.
fn pki_dir() -> std::path::PathBuf {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    SWEPT.call_once(|| crate::sweep_stale(&tmp, PKI_PREFIX));
    tmp.join(format!("{PKI_PREFIX}{}", std::process::id()))
}

/// The name of a PKI folder, before the process id.
const PKI_PREFIX: &str = "portproof-opcua-testbed-";

fn server(listener: TcpListener, config: OpcuaConfig) -> Server {
    let addr = listener.local_addr().expect("bound listener");
    let host = config.advertised_host.clone().unwrap_or_else(|| addr.ip().to_string());
    let users = [opcua::server::ANONYMOUS_USER_TOKEN_ID.to_owned()];
    let mut builder = ServerBuilder::new()
        .application_name(config.application_name.clone())
        .application_uri(config.application_uri.clone())
        .product_uri("urn:portproof:opcua-testbed:product")
        .create_sample_keypair(true)
        .pki_dir(pki_dir())
        .certificate_path("own/cert.der")
        .private_key_path("private/private.pem")
        .trust_client_certs(true)
        .host(host.clone())
        .port(addr.port())
        .discovery_urls(vec![format!("opc.tcp://{host}:{}/", addr.port())])
        // The probe closes after discovery: a short Hello wait keeps abandoned sockets brief.
        .hello_timeout(5);
    if config.none {
        builder = builder.add_endpoint("none", ServerEndpoint::new_none("/", &users));
    }
    if config.secured {
        builder = builder.add_endpoint(
            "basic256sha256_sign_encrypt",
            ServerEndpoint::new("/", SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt, &users),
        );
    }
    let token = CancellationToken::new();
    builder = builder.token(token.clone());
    let built = {
        let _first = PKI.lock().unwrap_or_else(|e| e.into_inner());
        builder.build()
    };
    let task = tokio::spawn(async move {
        // Aborting this task (dropping the Server) cancels the token: the server stops
        // accepting and closes its sessions.
        let _stop = token.drop_guard();
        match built {
            Ok((server, _handle)) => {
                if let Err(e) = server.run_with(listener).await {
                    tracing::warn!("the OPC UA testbed server stopped: {e}");
                }
            }
            Err(e) => tracing::warn!("the OPC UA testbed server did not build: {e}"),
        }
    });
    Server::new(addr, task)
}
