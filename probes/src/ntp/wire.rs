//! The NTP packets the probe exchanges, by hand: the 48-byte header of RFC 5905 §7.3 and the
//! RFC 9327 control message (mode 6) READVAR. No crate exposes the raw header fields and the
//! control mode together; both are small and every length is checked here.

use crate::{WireError, wire_err};

/// Length of the NTP header; extension fields and a MAC may follow, and are not read.
pub const HEADER_LEN: usize = 48;
/// Length of a mode-6 control message header.
pub const CONTROL_HEADER_LEN: usize = 12;
/// Client mode.
pub const MODE_CLIENT: u8 = 3;
/// Server mode.
pub const MODE_SERVER: u8 = 4;
/// Control mode (RFC 9327).
pub const MODE_CONTROL: u8 = 6;
/// READVAR, the control opcode that reads variables.
pub const OP_READVAR: u8 = 2;

/// Seconds from the NTP era 0 (1900-01-01) to the Unix epoch.
const UNIX_OFFSET: u64 = 2_208_988_800;

/// An NTP header as RFC 5905 §7.3 lays it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Leap indicator: 0 none, 1 last minute has 61 s, 2 has 59 s, 3 unsynchronised.
    pub leap: u8,
    /// Version number.
    pub version: u8,
    /// Association mode (3 client, 4 server, ...).
    pub mode: u8,
    /// Stratum: 0 Kiss-o'-Death (unspecified), 1 primary, 2-15 secondary, 16 unsynchronised.
    pub stratum: u8,
    /// Poll interval, log2 seconds.
    pub poll: i8,
    /// Precision of the server's clock, log2 seconds.
    pub precision: i8,
    /// Root delay, NTP short format (16.16 seconds).
    pub root_delay: u32,
    /// Root dispersion, NTP short format.
    pub root_dispersion: u32,
    /// Reference id: a kiss code at stratum 0, a source name at 1, an address (or hash) above.
    pub refid: [u8; 4],
    /// When the server's clock was last set, NTP timestamp format (32.32 seconds).
    pub reference: u64,
    /// The client's transmit timestamp, echoed.
    pub origin: u64,
    /// When the request arrived at the server.
    pub receive: u64,
    /// When the reply left the server.
    pub transmit: u64,
}

/// A client request (mode 3, version 4) whose transmit timestamp is `nonce`: a random value,
/// not the clock (RFC 9109 §4 / draft-ietf-ntp-data-minimization), so that only an answer to
/// this very request can echo it, and the request reveals nothing about this machine's clock.
pub fn request(nonce: u64) -> [u8; HEADER_LEN] {
    let mut p = [0u8; HEADER_LEN];
    p[0] = (4 << 3) | MODE_CLIENT;
    p[40..48].copy_from_slice(&nonce.to_be_bytes());
    p
}

/// Reads an NTP header; what follows the 48 bytes is ignored.
pub fn parse(b: &[u8]) -> Result<Packet, WireError> {
    if b.len() < HEADER_LEN {
        return wire_err(format!("{} bytes, shorter than the {HEADER_LEN}-byte NTP header", b.len()));
    }
    let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
    Ok(Packet {
        leap: b[0] >> 6,
        version: (b[0] >> 3) & 7,
        mode: b[0] & 7,
        stratum: b[1],
        poll: b[2] as i8,
        precision: b[3] as i8,
        root_delay: u32_at(4),
        root_dispersion: u32_at(8),
        refid: [b[12], b[13], b[14], b[15]],
        reference: u64_at(16),
        origin: u64_at(24),
        receive: u64_at(32),
        transmit: u64_at(40),
    })
}

/// An NTP timestamp for a time given as seconds and nanoseconds since the Unix epoch (era 0,
/// wrapping into era 1 in 2036 as the format does).
pub fn timestamp(unix_secs: u64, nanos: u32) -> u64 {
    let secs = unix_secs.wrapping_add(UNIX_OFFSET) & 0xffff_ffff;
    let frac = (u64::from(nanos) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// `a - b` in seconds, for two NTP timestamps less than 68 years apart, across an era boundary.
pub fn diff(a: u64, b: u64) -> f64 {
    (a.wrapping_sub(b) as i64) as f64 / 4_294_967_296.0
}

/// An NTP short-format value (16.16) in seconds.
pub fn short_secs(v: u32) -> f64 {
    f64::from(v) / 65_536.0
}

/// The kiss code of a stratum-0 packet: four ASCII characters (`DENY`, `RATE`, ...), NUL
/// padding allowed. `None` when the reference id is not text (chrony's unsynchronised replies
/// carry stratum 0 with a zero reference id: no kiss).
pub fn kiss_code(refid: [u8; 4]) -> Option<String> {
    let text: Vec<u8> = refid.iter().copied().take_while(|&c| c != 0).collect();
    let padded = refid[text.len()..].iter().all(|&c| c == 0);
    if text.is_empty() || !padded || !text.iter().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// The reference id as people read it: a source name (`GPS`, `PPS`) at stratum 0 and 1, the
/// upstream IPv4 address (or an IPv6 address's hash, shown the same way) above; chrony's local
/// clock is `127.127.1.1`.
pub fn refid_text(stratum: u8, refid: [u8; 4]) -> String {
    if stratum <= 1
        && let Some(name) = kiss_code(refid)
    {
        return name;
    }
    format!("{}.{}.{}.{}", refid[0], refid[1], refid[2], refid[3])
}

/// A READVAR request for the system variables (association 0), sequence `seq`.
pub fn readvar_request(seq: u16) -> [u8; CONTROL_HEADER_LEN] {
    let mut p = [0u8; CONTROL_HEADER_LEN];
    p[0] = (2 << 3) | MODE_CONTROL; // version 2, as ntpq sends and every ntpd accepts
    p[1] = OP_READVAR;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p
}

/// A mode-6 control response (RFC 9327 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control {
    /// Error bit: the server refused the request.
    pub error: bool,
    /// More bit: further fragments follow.
    pub more: bool,
    /// Opcode.
    pub opcode: u8,
    /// Sequence number, echoing the request's.
    pub seq: u16,
    /// Offset of this fragment's data in the whole answer.
    pub offset: u16,
    /// This fragment's data.
    pub data: Vec<u8>,
}

/// Reads a mode-6 response; a request (R bit clear), another mode or a count past the end are
/// errors.
pub fn parse_control(b: &[u8]) -> Result<Control, WireError> {
    if b.len() < CONTROL_HEADER_LEN {
        return wire_err(format!("{} bytes, shorter than a control header", b.len()));
    }
    if b[0] & 7 != MODE_CONTROL {
        return wire_err(format!("mode {}, not a control message", b[0] & 7));
    }
    if b[1] & 0x80 == 0 {
        return wire_err("a control request, not a response");
    }
    let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let count = usize::from(be(10));
    let Some(data) = b.get(CONTROL_HEADER_LEN..CONTROL_HEADER_LEN + count) else {
        return wire_err(format!("a data count of {count} past the datagram's {} bytes", b.len()));
    };
    Ok(Control {
        error: b[1] & 0x40 != 0,
        more: b[1] & 0x20 != 0,
        opcode: b[1] & 0x1f,
        seq: be(2),
        offset: be(8),
        data: data.to_vec(),
    })
}

/// The most variables read from one READVAR answer.
pub const MAX_VARS: usize = 64;

/// The `name=value` list of a READVAR answer (`version="ntpd ntpsec-1.2.2", stratum=2`), quotes
/// taken off. A variable cut short at the end of a fragment is dropped, not guessed.
pub fn parse_vars(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while out.len() < MAX_VARS {
        rest = rest.trim_start_matches([',', ' ', '\r', '\n', '\t']);
        if rest.is_empty() {
            break;
        }
        let (name, after) = match rest.find(['=', ',']) {
            Some(i) if rest.as_bytes()[i] == b'=' => (&rest[..i], &rest[i + 1..]),
            Some(i) => {
                rest = &rest[i..];
                continue;
            }
            None => break,
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => break,
            }
        } else {
            match after.find(',') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            }
        };
        out.push((name.trim().to_owned(), value.trim().to_owned()));
        rest = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// chrony 4.3 with `local stratum 8`, answering a request whose transmit timestamp was
    /// 0x1234567890abcdef (captured on loopback).
    const CHRONY_LOCAL: &[u8] = include_bytes!("fixtures/chrony-local-stratum8.bin");
    /// chrony 4.3 with no source and no local line: leap 3, stratum 0, reference id 0.
    const CHRONY_UNSYNC: &[u8] = include_bytes!("fixtures/chrony-unsynchronised.bin");

    #[test]
    fn the_request_is_mode_3_version_4_with_the_nonce() {
        let r = request(0x0102_0304_0506_0708);
        let p = parse(&r).unwrap();
        assert_eq!((p.leap, p.version, p.mode), (0, 4, MODE_CLIENT));
        assert_eq!(p.transmit, 0x0102_0304_0506_0708);
        assert!(r[..40].iter().skip(1).all(|&b| b == 0), "nothing else about us is sent");
    }

    #[test]
    fn chrony_local_reply_reads() {
        let p = parse(CHRONY_LOCAL).unwrap();
        assert_eq!((p.leap, p.version, p.mode, p.stratum), (0, 4, MODE_SERVER, 8));
        assert_eq!(p.origin, 0x1234_5678_90ab_cdef);
        assert_eq!(refid_text(p.stratum, p.refid), "127.127.1.1");
        assert_eq!(kiss_code(p.refid), None);
        assert!(p.transmit != 0);
    }

    #[test]
    fn chrony_unsynchronised_is_no_kiss() {
        let p = parse(CHRONY_UNSYNC).unwrap();
        assert_eq!((p.leap, p.stratum), (3, 0));
        assert_eq!(kiss_code(p.refid), None, "a zero reference id is no kiss code");
    }

    #[test]
    fn kiss_codes_and_names() {
        assert_eq!(kiss_code(*b"DENY").as_deref(), Some("DENY"));
        assert_eq!(kiss_code(*b"GPS\0").as_deref(), Some("GPS"));
        assert_eq!(kiss_code([0, 0, 0, 0]), None);
        assert_eq!(kiss_code([b'A', 0, b'B', 0]), None);
        assert_eq!(kiss_code([0xc0, 0xa8, 1, 1]), None);
        assert_eq!(refid_text(1, *b"GPS\0"), "GPS");
        assert_eq!(refid_text(2, [192, 168, 1, 1]), "192.168.1.1");
    }

    #[test]
    fn short_input_is_an_error() {
        assert!(parse(&[0x24; 47]).is_err());
        assert!(parse_control(&[0x16, 0x82, 0, 1]).is_err());
    }

    #[test]
    fn timestamps_and_differences() {
        let a = timestamp(1_700_000_000, 500_000_000);
        let b = timestamp(1_700_000_001, 0);
        assert!((diff(b, a) - 0.5).abs() < 1e-6);
        assert!((diff(a, b) + 0.5).abs() < 1e-6);
        // Across the 2036 era boundary.
        let before = 0xffff_ffff_8000_0000u64;
        let after = 0x0000_0000_8000_0000u64;
        assert!((diff(after, before) - 1.0).abs() < 1e-6);
        assert!((short_secs(0x0001_8000) - 1.5).abs() < 1e-9);
    }

    #[test]
    fn readvar_round_trip() {
        let r = readvar_request(7);
        assert_eq!((r[0] & 7, r[1], u16::from_be_bytes([r[2], r[3]])), (MODE_CONTROL, OP_READVAR, 7));
        let data = br#"version="ntpd ntpsec-1.2.2 2023-05-26T23:04:00Z", processor="x86_64", system="Linux/6.1", leap=0, stratum=2, refid="#;
        let mut resp = vec![0x16, 0x80 | OP_READVAR, 0, 7, 0, 0, 0, 0, 0, 0];
        resp.extend_from_slice(&(data.len() as u16).to_be_bytes());
        resp.extend_from_slice(data);
        let c = parse_control(&resp).unwrap();
        assert_eq!((c.opcode, c.seq, c.error, c.more), (OP_READVAR, 7, false, false));
        let vars = parse_vars(&c.data);
        assert_eq!(vars[0], ("version".into(), "ntpd ntpsec-1.2.2 2023-05-26T23:04:00Z".into()));
        assert_eq!(vars[3], ("leap".into(), "0".into()));
        assert_eq!(vars[4], ("stratum".into(), "2".into()));
        // A count past the end is refused.
        resp[11] = 0xff;
        assert!(parse_control(&resp).is_err());
    }

    #[test]
    fn parse_vars_never_loops_on_junk() {
        for junk in [&b",,,,"[..], b"a", b"=", b"x=\"unterminated", b"==,=,\"", b"a=1,b"] {
            let _ = parse_vars(junk);
        }
        assert_eq!(parse_vars(b"a=1,b"), vec![("a".into(), "1".into())]);
    }
}
