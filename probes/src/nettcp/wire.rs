//! [MC-NMF] .NET Message Framing as far as the probe needs it: the preamble a duplex client
//! sends (§2.2.3.1 to §2.2.3.4, §2.2.6) and the records a server answers it with (PreambleAck
//! §2.2.3.10, Fault §2.2.3.8, End §2.2.3.7). Record types and the variable-length integer
//! (§2.2.2) are written out here; nothing else of WCF is spoken.

/// Version record (§2.2.3.1): type, major, minor.
pub const VERSION: u8 = 0x00;
pub use crate::wire::Malformed;
/// Mode record (§2.2.3.2).
pub const MODE: u8 = 0x01;
/// Via record (§2.2.3.3).
pub const VIA: u8 = 0x02;
/// Known Encoding record (§2.2.3.4.1).
pub const KNOWN_ENCODING: u8 = 0x03;
/// End record (§2.2.3.7).
pub const END: u8 = 0x07;
/// Fault record (§2.2.3.8): a length-prefixed UTF-8 fault string.
pub const FAULT: u8 = 0x08;
/// Preamble Ack record (§2.2.3.10).
pub const PREAMBLE_ACK: u8 = 0x0b;
/// Preamble End record (§2.2.3.11).
pub const PREAMBLE_END: u8 = 0x0c;

/// Duplex mode (§2.2.3.2): what NetTcpBinding uses.
const MODE_DUPLEX: u8 = 0x02;
/// Binary encoding with in-band dictionary, SOAP 1.2 (`application/soap+msbinsession1`,
/// §2.2.3.4.1): NetTcpBinding's default.
const ENCODING_BINARY_SESSION: u8 = 0x08;

/// The longest fault string the probe reads; the well-known ones are under 100 bytes.
pub const MAX_FAULT: u32 = 4096;

/// MC-NMF's variable-length integer (§2.2.2): 7 bits a byte, least significant first, the
/// high bit set on every byte but the last; at most 5 bytes, values up to 2^31 - 1.
pub fn varint(mut n: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

/// The preamble for `net.tcp://host:port/`: Version 1.0, duplex, the Via, binary session
/// encoding, PreambleEnd. No Upgrade request: the probe never asks for TLS or negotiate.
pub fn preamble(host: &str, port: u16) -> Vec<u8> {
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
    let via = format!("net.tcp://{host}:{port}/");
    let mut out = vec![VERSION, 1, 0, MODE, MODE_DUPLEX, VIA];
    // A host name is at most 255 bytes: the length always fits.
    out.extend_from_slice(&varint(u32::try_from(via.len()).unwrap_or(u32::MAX)));
    out.extend_from_slice(via.as_bytes());
    out.extend_from_slice(&[KNOWN_ENCODING, ENCODING_BINARY_SESSION, PREAMBLE_END]);
    out
}

/// Reads a variable-length integer: the value and how many bytes it took.
pub fn read_varint(b: &[u8]) -> Result<(u32, usize), Malformed> {
    let mut n: u32 = 0;
    for i in 0..5 {
        let byte = *b.get(i).ok_or(Malformed::Short)?;
        // The fifth byte holds bits 28 to 30 only (values below 2^31).
        if i == 4 && byte > 0x07 {
            return Err(Malformed::Bad(format!("a record length's fifth byte is 0x{byte:02x}")));
        }
        n |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    unreachable!("the fifth byte either ends the integer or is refused")
}

/// The fault string of a Fault record (`b` starts at its type byte).
pub fn fault(b: &[u8]) -> Result<String, Malformed> {
    if b.first() != Some(&FAULT) {
        return Err(Malformed::Bad("not a Fault record".into()));
    }
    let (len, used) = read_varint(&b[1..])?;
    if len == 0 || len > MAX_FAULT {
        return Err(Malformed::Bad(format!("a fault string of {len} bytes")));
    }
    let start = 1 + used;
    let end = start + len as usize;
    let s = b.get(start..end).ok_or(Malformed::Short)?;
    let s = std::str::from_utf8(s).map_err(|_| Malformed::Bad("the fault string is not UTF-8".into()))?;
    if s.chars().any(char::is_control) {
        return Err(Malformed::Bad(format!("the fault string has control characters: {s:?}")));
    }
    Ok(s.to_owned())
}

/// A fault's name for its code: the last segment of the fault URI
/// (`.../framing/faults/EndpointNotFound` is `EndpointNotFound`), letters and digits only.
pub fn fault_name(fault: &str) -> String {
    let last = fault.trim_end_matches('/').rsplit('/').next().unwrap_or(fault);
    let name: String = last.chars().filter(char::is_ascii_alphanumeric).take(64).collect();
    if name.is_empty() { "unnamed".into() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Fault record as WCF writes it for an unknown Via (§2.2.3.8, §3.1.5.2): type 0x08,
    /// length 0x47 (71), then the fault URI.
    const ENDPOINT_NOT_FOUND: &[u8] =
        b"\x08\x47http://schemas.microsoft.com/ws/2006/05/framing/faults/EndpointNotFound";

    #[test]
    fn the_preamble_is_byte_for_byte_mc_nmf() {
        let p = preamble("h", 7237);
        let via = b"net.tcp://h:7237/";
        let mut want = vec![
            0x00, 0x01, 0x00, // Version record: major 1, minor 0
            0x01, 0x02, // Mode record: duplex
            0x02, 17, // Via record, length 17
        ];
        want.extend_from_slice(via);
        want.extend_from_slice(&[0x03, 0x08, 0x0c]); // binary session encoding, PreambleEnd
        assert_eq!(p, want);
        assert!(preamble("::1", 1).windows(17).any(|w| w == b"net.tcp://[::1]:1"));
    }

    #[test]
    fn varints_round_trip_and_match_the_spec() {
        // §2.2.2's examples: 0x00, 0x7f, 0x80 -> 80 01, 0x3fff -> ff 7f, 0x4000 -> 80 80 01.
        for (n, b) in [
            (0u32, &[0x00][..]),
            (0x7f, &[0x7f]),
            (0x80, &[0x80, 0x01]),
            (0x3fff, &[0xff, 0x7f]),
            (0x4000, &[0x80, 0x80, 0x01]),
            (0x7fff_ffff, &[0xff, 0xff, 0xff, 0xff, 0x07]),
        ] {
            assert_eq!(varint(n), b, "{n}");
            assert_eq!(read_varint(b), Ok((n, b.len())));
        }
        assert_eq!(read_varint(&[0x80, 0x80]), Err(Malformed::Short));
        assert!(matches!(read_varint(&[0xff, 0xff, 0xff, 0xff, 0x08]), Err(Malformed::Bad(_))));
    }

    #[test]
    fn faults_parse_and_every_prefix_is_short() {
        let f = fault(ENDPOINT_NOT_FOUND).unwrap();
        assert_eq!(f, "http://schemas.microsoft.com/ws/2006/05/framing/faults/EndpointNotFound");
        assert_eq!(fault_name(&f), "EndpointNotFound");
        for n in 1..ENDPOINT_NOT_FOUND.len() {
            assert_eq!(fault(&ENDPOINT_NOT_FOUND[..n]), Err(Malformed::Short), "{n}");
        }
        assert!(matches!(fault(b"\x08\x00"), Err(Malformed::Bad(_))));
        assert!(matches!(fault(b"\x08\xff\xff\x01"), Err(Malformed::Bad(_))));
        assert!(matches!(fault(b"\x08\x02\x01\x02"), Err(Malformed::Bad(_))));
        assert_eq!(fault_name("??"), "unnamed");
    }
}
