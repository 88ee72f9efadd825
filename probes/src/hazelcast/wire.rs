//! Hazelcast's Open Binary Client Protocol 2.x (Hazelcast 4.0 and later) as far as the probe
//! needs it: the `CP2` preamble, a ClientAuthentication request, and its response or an error.
//! A client message is a list of frames, each an int length (the frame's whole size, header
//! included), a short of flags and the content, little-endian; the first frame holds the
//! message type, the correlation id and the fixed-size parameters, the others one variable-size
//! parameter each (strings as UTF-8, `null` as a frame with the null flag, lists and structures
//! between begin and end frames); the last frame has the final flag.

/// The preamble a client sends first: the client protocol, version 2.
pub const PREAMBLE: &[u8; 3] = b"CP2";
pub use crate::wire::Malformed;
use crate::wire::bad;
/// ClientAuthentication's request and response types.
pub const AUTH_REQUEST: i32 = 0x000100;
/// The response type.
pub const AUTH_RESPONSE: i32 = 0x000101;
/// The error message type.
pub const ERROR_MESSAGE: i32 = 0x000000;
/// The correlation id of the probe's one request.
pub const CORRELATION: i64 = 0x5050_5246;
/// The most an answer may take before it is called absurd.
pub const MAX_MESSAGE: usize = 64 * 1024;

const HEADER: usize = 6;
const BEGIN_FRAGMENT: u16 = 1 << 15;
const END_FRAGMENT: u16 = 1 << 14;
const IS_FINAL: u16 = 1 << 13;
const BEGIN_STRUCT: u16 = 1 << 12;
const END_STRUCT: u16 = 1 << 11;
const IS_NULL: u16 = 1 << 10;

fn frame(out: &mut Vec<u8>, flags: u16, content: &[u8]) {
    out.extend_from_slice(&((content.len() + HEADER) as i32).to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(content);
}

/// The preamble and a ClientAuthentication request for `cluster` without credentials: the
/// initial frame (type, correlation id, partition -1, a null client uuid, serialization version
/// 1), then cluster name, null user name, null password, client type, client version, client
/// name and an empty label list.
pub fn authentication(cluster: &str) -> Vec<u8> {
    let mut out = PREAMBLE.to_vec();
    let mut initial = AUTH_REQUEST.to_le_bytes().to_vec();
    initial.extend_from_slice(&CORRELATION.to_le_bytes());
    initial.extend_from_slice(&(-1i32).to_le_bytes());
    initial.push(1); // the uuid is null
    initial.extend_from_slice(&[0u8; 16]);
    initial.push(1); // serialization version
    frame(&mut out, BEGIN_FRAGMENT | END_FRAGMENT, &initial);
    frame(&mut out, 0, cluster.as_bytes());
    frame(&mut out, IS_NULL, &[]);
    frame(&mut out, IS_NULL, &[]);
    frame(&mut out, 0, b"PPF");
    frame(&mut out, 0, b"5.0");
    frame(&mut out, 0, b"portproof");
    frame(&mut out, BEGIN_STRUCT, &[]);
    frame(&mut out, END_STRUCT | IS_FINAL, &[]);
    out
}

/// One frame of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its flags.
    pub flags: u16,
    /// Its content.
    pub content: Vec<u8>,
}

/// Splits the start of `b` into the frames of one message, up to the final one.
pub fn frames(b: &[u8]) -> Result<Vec<Frame>, Malformed> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let head = b.get(at..at + HEADER).ok_or(Malformed::Short)?;
        let len = i32::from_le_bytes(head[..4].try_into().expect("four"));
        let flags = u16::from_le_bytes([head[4], head[5]]);
        let len = usize::try_from(len).ok().filter(|l| (HEADER..=MAX_MESSAGE).contains(l));
        let Some(len) = len else { return bad("a frame length that is no client message's") };
        if at + len > MAX_MESSAGE {
            return bad("a message larger than 64 KiB");
        }
        if out.is_empty() && flags & (BEGIN_FRAGMENT | END_FRAGMENT) != BEGIN_FRAGMENT | END_FRAGMENT {
            return bad(format!("the first frame's flags 0x{flags:04x} are not an unfragmented message's"));
        }
        let content = b.get(at + HEADER..at + len).ok_or(Malformed::Short)?;
        out.push(Frame { flags, content: content.to_vec() });
        at += len;
        if flags & IS_FINAL != 0 {
            return Ok(out);
        }
    }
}

/// AuthenticationStatus's names.
pub fn status_name(status: u8) -> &'static str {
    match status {
        0 => "authenticated",
        1 => "credentials_failed",
        2 => "serialization_version_mismatch",
        3 => "not_allowed_in_cluster",
        _ => "unknown",
    }
}

/// What the member said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// ClientAuthentication's response.
    Authentication(Auth),
    /// An error message: the exception's class and message.
    Error {
        /// The exception class.
        class: String,
        /// Its message.
        message: Option<String>,
    },
}

/// ClientAuthentication's response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// AuthenticationStatus.
    pub status: u8,
    /// The member's uuid.
    pub member_uuid: Option<String>,
    /// The cluster's id.
    pub cluster_id: Option<String>,
    /// The partition count.
    pub partitions: i32,
    /// The member's address (host:port), when sent.
    pub address: Option<String>,
    /// The member's Hazelcast version.
    pub version: Option<String>,
}

fn uuid(b: &[u8]) -> Option<String> {
    // A boolean "is null", then the two halves, little-endian.
    if b[0] != 0 {
        return None;
    }
    let msb = u64::from_le_bytes(b[1..9].try_into().ok()?);
    let lsb = u64::from_le_bytes(b[9..17].try_into().ok()?);
    Some(format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        msb >> 32,
        (msb >> 16) & 0xffff,
        msb & 0xffff,
        lsb >> 48,
        lsb & 0xffff_ffff_ffff
    ))
}

fn text(f: &Frame) -> Option<String> {
    (f.flags & (IS_NULL | BEGIN_STRUCT | END_STRUCT) == 0).then(|| String::from_utf8_lossy(&f.content).into_owned())
}

/// Reads the message `frames` as the answer to the probe's request.
pub fn answer(frames: &[Frame]) -> Result<Answer, Malformed> {
    let first = &frames[0].content;
    if first.len() < 12 {
        return bad("an initial frame too short for a type and a correlation id");
    }
    let kind = i32::from_le_bytes(first[..4].try_into().expect("four"));
    let correlation = i64::from_le_bytes(first[4..12].try_into().expect("eight"));
    if correlation != CORRELATION {
        return bad(format!("correlation id {correlation}, not the request's"));
    }
    let rest = &frames[1..];
    match kind {
        AUTH_RESPONSE => {
            // Response header: type, correlation id, backup acks; then status, member uuid,
            // serialization version, partition count, cluster id, failover support.
            if first.len() < 54 {
                return bad("an authentication response too short for its fixed fields");
            }
            let mut a = Auth {
                status: first[13],
                member_uuid: uuid(&first[14..31]),
                partitions: i32::from_le_bytes(first[32..36].try_into().expect("four")),
                cluster_id: uuid(&first[36..53]),
                ..Auth::default()
            };
            if a.status > 3 {
                return bad(format!("authentication status {}", a.status));
            }
            // The address: null, or a structure of an initial frame (the port) and the host.
            let i = match rest.first() {
                Some(f) if f.flags & IS_NULL != 0 => 1,
                Some(f) if f.flags & BEGIN_STRUCT != 0 => {
                    let port = rest
                        .get(1)
                        .and_then(|f| f.content.get(..4))
                        .map(|p| i32::from_le_bytes(p.try_into().expect("four")));
                    let host = rest.get(2).and_then(text);
                    if let (Some(port), Some(host)) = (port, host) {
                        a.address = Some(format!("{host}:{port}"));
                    }
                    let end = rest.iter().position(|f| f.flags & END_STRUCT != 0);
                    let Some(end) = end else { return bad("the address structure never ends") };
                    end + 1
                }
                _ => return bad("no address after the fixed fields"),
            };
            a.version = rest.get(i).and_then(text);
            if a.version.is_none() {
                return bad("no server version after the address");
            }
            Ok(Answer::Authentication(a))
        }
        ERROR_MESSAGE => {
            // A list of ErrorHolders: begin, (error code; class name; message; ...), end.
            let strings: Vec<&Frame> = rest.iter().filter(|f| f.flags & (BEGIN_STRUCT | END_STRUCT) == 0).collect();
            let class = strings.get(1).and_then(|f| text(f)).filter(|c| c.contains('.'));
            let Some(class) = class else { return bad("an error message without an exception class") };
            Ok(Answer::Error { class, message: strings.get(2).and_then(|f| text(f)) })
        }
        other => bad(format!("message type 0x{other:06x} answers no authentication")),
    }
}

/// The REST health endpoint's answer: node and cluster state, and what else it says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// nodeState (ACTIVE, PASSIVE, SHUT_DOWN).
    pub node_state: Option<String>,
    /// clusterState (ACTIVE, FROZEN, PASSIVE, NO_MIGRATION).
    pub cluster_state: Option<String>,
    /// clusterSafe.
    pub cluster_safe: Option<bool>,
    /// clusterSize.
    pub cluster_size: Option<u64>,
}

/// Reads the health body: Hazelcast 4 and 5 send JSON (`{"nodeState":"ACTIVE",...}`), 3.x
/// sent lines (`Hazelcast::NodeState=ACTIVE`). `None` when it is neither.
pub fn health(body: &[u8]) -> Option<Health> {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        let h = Health {
            node_state: s("nodeState"),
            cluster_state: s("clusterState"),
            cluster_safe: v.get("clusterSafe").and_then(serde_json::Value::as_bool),
            cluster_size: v.get("clusterSize").and_then(serde_json::Value::as_u64),
        };
        return h.node_state.is_some().then_some(h);
    }
    let text = String::from_utf8_lossy(body);
    let mut h = Health::default();
    for line in text.lines() {
        let Some((k, v)) = line.trim().strip_prefix("Hazelcast::").and_then(|l| l.split_once('=')) else { continue };
        match k {
            "NodeState" => h.node_state = Some(v.to_owned()),
            "ClusterState" => h.cluster_state = Some(v.to_owned()),
            "ClusterSafe" => h.cluster_safe = v.parse().ok(),
            "ClusterSize" => h.cluster_size = v.parse().ok(),
            _ => {}
        }
    }
    h.node_state.is_some().then_some(h)
}

/// Runs every parser on `data`: the fuzz target's body, and the no-panic test's.
pub fn fuzz(data: &[u8]) {
    if let Ok(f) = frames(data) {
        let _ = answer(&f);
    }
    let _ = health(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_preamble_and_whole_frames() {
        let r = authentication("dev");
        assert_eq!(&r[..3], b"CP2");
        let f = frames(&r[3..]).unwrap();
        assert_eq!(f.len(), 9);
        assert_eq!(f[0].content.len(), 34, "type, correlation, partition, uuid, serialization version");
        assert_eq!(f[1].content, b"dev");
        assert_eq!(f[8].flags, END_STRUCT | IS_FINAL);
    }

    #[test]
    fn the_fixtures_parse() {
        let f = frames(include_bytes!("fixtures/auth-authenticated.bin")).unwrap();
        let Answer::Authentication(a) = answer(&f).unwrap() else { panic!() };
        assert_eq!(a.status, 0);
        assert_eq!(a.version.as_deref(), Some("5.3.6"));
        assert_eq!(a.address.as_deref(), Some("127.0.0.1:5701"));
        assert_eq!(a.member_uuid.as_deref(), Some("3f8e2a10-6c4b-4d7e-9a01-5b2c7d8e9f10"));
        assert_eq!(a.partitions, 271);
        let f = frames(include_bytes!("fixtures/auth-credentials-failed.bin")).unwrap();
        let Answer::Authentication(a) = answer(&f).unwrap() else { panic!() };
        assert_eq!((status_name(a.status), a.member_uuid, a.address), ("credentials_failed", None, None));
    }

    #[test]
    fn health_in_both_shapes() {
        let h = health(br#"{"nodeState":"ACTIVE","clusterState":"FROZEN","clusterSafe":true,"migrationQueueSize":0,"clusterSize":2}"#)
            .unwrap();
        assert_eq!(
            (h.node_state.as_deref(), h.cluster_state.as_deref(), h.cluster_size),
            (Some("ACTIVE"), Some("FROZEN"), Some(2))
        );
        let h = health(b"Hazelcast::NodeState=ACTIVE\nHazelcast::ClusterState=ACTIVE\nHazelcast::ClusterSafe=TRUE\n")
            .unwrap();
        assert_eq!(h.cluster_state.as_deref(), Some("ACTIVE"));
        assert_eq!(health(br#"{"status":"ok"}"#), None);
    }

    #[test]
    fn lies_and_prefixes() {
        let b = include_bytes!("fixtures/auth-authenticated.bin");
        for cut in 0..b.len() {
            assert!(matches!(frames(&b[..cut]), Err(Malformed::Short)), "{cut}");
        }
        assert!(matches!(frames(b"\x00\x00\x00\x80\x00\xc0"), Err(Malformed::Bad(_))));
        assert!(matches!(frames(b"HTTP/1.1 400 Bad"), Err(Malformed::Bad(_))));
        // A well-formed message of another correlation id.
        let mut other = b.to_vec();
        other[10] ^= 1;
        assert!(matches!(answer(&frames(&other).unwrap()), Err(Malformed::Bad(_))));
    }

    #[test]
    fn no_input_panics() {
        let mut x = 0xdead_beef_u32;
        let seed = include_bytes!("fixtures/auth-authenticated.bin");
        for n in 0..2048usize {
            let mut v = seed.to_vec();
            for _ in 0..(n % 8) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let at = x as usize % v.len();
                v[at] = (x >> 8) as u8;
            }
            v.truncate(v.len() - n % 40);
            fuzz(&v);
        }
    }
}
