//! A Hazelcast member's port, written from Hazelcast's Open Binary Client Protocol 2.x (no
//! Hazelcast member can run here): after the `CP2` preamble it reads one client message (frames
//! of int length and short flags, little-endian), and answers a ClientAuthentication with the
//! response a 5.3 member sends: AUTHENTICATED for its own cluster name, CREDENTIALS_FAILED for
//! any other. With its REST API enabled it also answers `GET /hazelcast/health` on the same
//! port, as members do. The bytes are built here from the codec's field order, not with the
//! probe's code.

use std::net::SocketAddr;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::Server;
use crate::conn::{accept_each, finish, hold, send};

/// How the member behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HazelcastMode {
    /// Its cluster name.
    pub cluster: &'static str,
    /// Whether its REST API (health check group) is enabled.
    pub rest: bool,
    /// The cluster state the health endpoint reports (ACTIVE, FROZEN, PASSIVE).
    pub cluster_state: &'static str,
}

impl HazelcastMode {
    /// A default member: cluster `dev`, REST enabled, ACTIVE.
    pub const DEV: HazelcastMode = HazelcastMode { cluster: "dev", rest: true, cluster_state: "ACTIVE" };
}

/// The member's version.
pub const VERSION: &str = "5.3.6";
/// Its uuid, as the two halves the protocol carries.
pub const MEMBER_UUID: (u64, u64) = (0x3f8e_2a10_6c4b_4d7e, 0x9a01_5b2c_7d8e_9f10);
const CLUSTER_ID: (u64, u64) = (0x0b7a_6c5d_4e3f_4a2b, 0x8c1d_0e9f_8a7b_6c5d);

/// Binds `addr` and serves `mode` there.
pub async fn start(addr: SocketAddr, mode: HazelcastMode) -> std::io::Result<Server> {
    Ok(serve(TcpListener::bind(addr).await?, mode))
}

/// Serves `mode` on `listener`.
pub fn serve(listener: TcpListener, mode: HazelcastMode) -> Server {
    accept_each(listener, move |tcp| session(tcp, mode))
}

const FINAL: u16 = 0x2000;

fn frame(out: &mut Vec<u8>, flags: u16, content: &[u8]) {
    out.extend_from_slice(&(content.len() as i32 + 6).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(content);
}

fn uuid(out: &mut Vec<u8>, u: Option<(u64, u64)>) {
    match u {
        Some((msb, lsb)) => {
            out.push(0);
            out.extend_from_slice(&msb.to_le_bytes());
            out.extend_from_slice(&lsb.to_le_bytes());
        }
        None => out.extend_from_slice(&[1; 1].iter().chain(&[0u8; 16]).copied().collect::<Vec<_>>()),
    }
}

/// ClientAuthenticationCodec's response, as `encodeResponse` lays it out.
fn auth_response(correlation: [u8; 8], ok: bool, local: SocketAddr) -> Vec<u8> {
    let mut initial = 0x000101i32.to_le_bytes().to_vec();
    initial.extend_from_slice(&correlation);
    initial.push(0); // backup acks
    initial.push(if ok { 0 } else { 1 });
    uuid(&mut initial, ok.then_some(MEMBER_UUID));
    initial.push(1); // serialization version
    initial.extend_from_slice(&(if ok { 271i32 } else { -1 }).to_le_bytes());
    uuid(&mut initial, ok.then_some(CLUSTER_ID));
    initial.push(0); // failover supported: false
    let mut out = Vec::new();
    frame(&mut out, 0xc000, &initial);
    if ok {
        frame(&mut out, 0x1000, &[]);
        frame(&mut out, 0, &i32::from(local.port()).to_le_bytes());
        frame(&mut out, 0, local.ip().to_string().as_bytes());
        frame(&mut out, 0x0800, &[]);
    } else {
        frame(&mut out, 0x0400, &[]);
    }
    frame(&mut out, 0, VERSION.as_bytes());
    frame(&mut out, 0x0400, &[]); // tpcPorts
    frame(&mut out, 0x0400 | FINAL, &[]); // tpcToken
    out
}

/// Reads one client message's frames (at most 64 of at most 64 KiB in all).
async fn read_message(s: &mut TcpStream) -> Option<Vec<(u16, Vec<u8>)>> {
    let mut frames = Vec::new();
    let mut total = 0usize;
    loop {
        let mut h = [0u8; 6];
        s.read_exact(&mut h).await.ok()?;
        let len = usize::try_from(i32::from_le_bytes([h[0], h[1], h[2], h[3]])).ok()?;
        let flags = u16::from_le_bytes([h[4], h[5]]);
        total += len;
        if len < 6 || total > 64 * 1024 || frames.len() >= 64 {
            return None;
        }
        let mut content = vec![0u8; len - 6];
        s.read_exact(&mut content).await.ok()?;
        frames.push((flags, content));
        if flags & FINAL != 0 {
            return Some(frames);
        }
    }
}

async fn session(mut s: TcpStream, mode: HazelcastMode) {
    let mut preamble = [0u8; 3];
    if s.read_exact(&mut preamble).await.is_err() {
        return;
    }
    match &preamble {
        b"CP2" => client(&mut s, mode).await,
        b"GET" if mode.rest => rest(&mut s, mode).await,
        // The member protocol (HZC), a REST request with REST off, anything else: closed.
        _ => finish(&mut s).await,
    }
}

async fn client(s: &mut TcpStream, mode: HazelcastMode) {
    let Some(frames) = read_message(s).await else { return finish(s).await };
    let Some((_, initial)) = frames.first() else { return };
    if initial.len() < 12 || initial[..4] != 0x000100i32.to_le_bytes() {
        return finish(s).await;
    }
    let correlation: [u8; 8] = initial[4..12].try_into().expect("eight");
    let cluster = frames.get(1).map(|(_, c)| c.as_slice()).unwrap_or_default();
    let local = s.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5701)));
    let ok = cluster == mode.cluster.as_bytes();
    if send(s, &auth_response(correlation, ok, local)).await.is_some() {
        if ok {
            return hold(s).await;
        }
        finish(s).await;
    }
}

async fn rest(s: &mut TcpStream, mode: HazelcastMode) {
    let mut head = b"GET".to_vec();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&b[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head[..head.iter().position(|&c| c == b'\r').unwrap_or(0)]).into_owned();
    let path = line.split(' ').nth(1).unwrap_or("");
    let answer = if path.trim_end_matches('/') == "/hazelcast/health" {
        let body = format!(
            "{{\"nodeState\":\"ACTIVE\",\"clusterState\":\"{}\",\"clusterSafe\":true,\"migrationQueueSize\":0,\"clusterSize\":1}}",
            mode.cluster_state
        );
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
    };
    let _ = send(s, answer.as_bytes()).await;
    finish(s).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn the_health_endpoint_answers_and_the_member_protocol_is_closed() {
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, HazelcastMode::DEV)).await;
        c.write_all(b"GET /hazelcast/health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert!(String::from_utf8_lossy(&all).contains("\"nodeState\":\"ACTIVE\""));
        let (_server, mut c) = crate::serve_and_connect(|l| serve(l, HazelcastMode::DEV)).await;
        c.write_all(b"HZC").await.unwrap();
        let mut all = Vec::new();
        c.read_to_end(&mut all).await.unwrap();
        assert!(all.is_empty());
    }
}
