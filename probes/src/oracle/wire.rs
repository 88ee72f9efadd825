//! Oracle Net's Transparent Network Substrate (TNS), as far as a probe reads it before a login:
//! packet headers, the client's CONNECT, the listener's ACCEPT, REFUSE, REDIRECT and RESEND,
//! DATA packets, the NV strings (`(NAME=(NAME=value))`) they carry, and VSNNUM versions.
//!
//! Oracle publishes no specification of TNS. The layouts here follow the public, independent
//! descriptions of the format: Wireshark's TNS dissector (`epan/dissectors/packet-tns.c`: the
//! header, CONNECT, ACCEPT, REFUSE, REDIRECT, MARKER and DATA fields), Oracle's own thin client
//! python-oracledb (`impl/thin/messages/connect.pyx`, `protocol.pyx`: RESEND, REDIRECT data in
//! a following DATA packet, the 230-byte limit on connect data inside a CONNECT, the large-SDU
//! framing from version 315), and nmap's `oracle-tns-version` (the listener's `COMMAND=version`
//! and the VSNNUM it answers with). Oracle's Net Services Reference documents the connect
//! descriptor syntax the NV strings use, and the TNS error numbers.
//!
//! Every length is checked against the bytes that are there: a parse can fail, never read out
//! of bounds, recurse without bound or allocate beyond the packet it was given.

/// Packet types (header byte 4).
pub mod ptype {
    /// CONNECT: the client asks for a session (or gives a listener command).
    pub const CONNECT: u8 = 1;
    /// ACCEPT: the listener, or the server it handed the connection to, accepts.
    pub const ACCEPT: u8 = 2;
    /// ACK (unused by current servers).
    pub const ACK: u8 = 3;
    /// REFUSE: the listener refuses, with an NV string naming the error.
    pub const REFUSE: u8 = 4;
    /// REDIRECT: connect to another address (a dispatcher, another node, a Windows thread).
    pub const REDIRECT: u8 = 5;
    /// DATA: everything after the connection is accepted.
    pub const DATA: u8 = 6;
    /// NULL.
    pub const NULL: u8 = 7;
    /// ABORT.
    pub const ABORT: u8 = 9;
    /// RESEND: send the CONNECT again (newer listeners do this to the first CONNECT).
    pub const RESEND: u8 = 11;
    /// MARKER: break and reset markers.
    pub const MARKER: u8 = 12;
    /// ATTENTION.
    pub const ATTENTION: u8 = 13;
    /// CONTROL.
    pub const CONTROL: u8 = 14;

    /// The name of a packet type, for messages.
    pub fn name(t: u8) -> &'static str {
        match t {
            CONNECT => "CONNECT",
            ACCEPT => "ACCEPT",
            ACK => "ACK",
            REFUSE => "REFUSE",
            REDIRECT => "REDIRECT",
            DATA => "DATA",
            NULL => "NULL",
            ABORT => "ABORT",
            RESEND => "RESEND",
            MARKER => "MARKER",
            ATTENTION => "ATTENTION",
            CONTROL => "CONTROL",
            _ => "unknown",
        }
    }
}

/// The packet header is 8 bytes: length, packet checksum, type, flags, header checksum.
pub const HEADER_LEN: usize = 8;

/// The session data unit the probe announces, and so the largest packet it accepts: a server
/// must not send a packet larger than the SDU the client asked for. A length beyond it is a
/// peer that is not TNS or lies.
pub const SDU: u16 = 8192;

/// The largest packet read, header included (the announced SDU).
pub const MAX_PACKET: usize = SDU as usize;

/// The TNS version of the probe's listener command: 314 (Oracle 10g-11g Net), the kind of
/// CONNECT nmap and tnscmd send, which listeners of every version answer.
pub const VERSION: u16 = 314;

/// The TNS version the probe asks for when it connects to a service as a client: 318, what
/// 19c clients send (python-oracledb sends 319), in the layout of version 315 on. Older servers
/// settle on their own version, down to [`VERSION_COMPATIBLE`].
pub const VERSION_CLIENT: u16 = 318;

/// Where the connect data starts in a CONNECT of version 315 on, after the large SDU and TDU
/// and two 32-bit connect flag words (python-oracledb writes 74).
pub const CONNECT_DATA_OFFSET_315: u16 = 74;

/// The oldest version the probe says it can fall back to (Oracle 8's 300).
pub const VERSION_COMPATIBLE: u16 = 300;

/// The first version whose packets after the ACCEPT carry a 32-bit length.
pub const VERSION_LARGE_SDU: u16 = 315;

/// Connect data longer than this goes in a DATA packet after the CONNECT (python-oracledb's
/// `TNS_MAX_CONNECT_DATA`; older clients split at about the same size).
pub const MAX_CONNECT_DATA: usize = 230;

/// Where the connect data starts in a version-314 CONNECT: after the fixed fields and the
/// trace fields (Wireshark reads trace fields up to byte 58 when the offset leaves room).
pub const CONNECT_DATA_OFFSET: u16 = 58;

/// Header flag of a CONNECT that follows a REDIRECT (python-oracledb's
/// `TNS_PACKET_FLAG_REDIRECT`).
pub const FLAG_REDIRECT: u8 = 0x04;

/// DATA flag: end of file, the orderly close of a session.
pub const DATA_FLAG_EOF: u16 = 0x0040;

/// Connect flags of the probe's CONNECT: "NA disabled" (no Advanced Networking option
/// negotiation, encryption and checksumming, since the probe stops at the ACCEPT).
pub const CONNECT_FLAGS: u8 = 0x04;

pub use crate::WireError;
use crate::wire_err as err;

/// A packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The whole packet's length, header included.
    pub length: usize,
    /// The packet type (see [`ptype`]).
    pub packet_type: u8,
    /// The header flags (byte 5).
    pub flags: u8,
}

/// Decodes a header. `large` is the framing after an ACCEPT of version 315 or later, where
/// bytes 0-3 are one 32-bit length; otherwise bytes 0-1 are the length and bytes 2-3 the
/// packet checksum, 0 in practice (Wireshark has seen 4 from 10g clients). A length below
/// the header's own or above [`MAX_PACKET`], a nonzero checksum, or an unknown type is not TNS.
pub fn header(b: &[u8; HEADER_LEN], large: bool) -> Result<Header, WireError> {
    let length = if large {
        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
    } else {
        if !matches!([b[2], b[3]], [0, 0] | [0, 4]) {
            return err(format!("packet checksum {:02x}{:02x} where TNS has 0", b[2], b[3]));
        }
        usize::from(u16::from_be_bytes([b[0], b[1]]))
    };
    let packet_type = b[4];
    if !(ptype::CONNECT..=ptype::CONTROL).contains(&packet_type) || packet_type == 8 || packet_type == 10 {
        return err(format!("packet type {packet_type}, not a TNS type"));
    }
    if length < HEADER_LEN {
        return err(format!("a packet length of {length}, shorter than its own header"));
    }
    if length > MAX_PACKET {
        return err(format!(
            "a packet claims {length} bytes, more than the {MAX_PACKET}-byte SDU the client asked for"
        ));
    }
    Ok(Header { length, packet_type, flags: b[5] })
}

/// Frames `body` as a packet of type `packet_type` with header `flags` (16-bit length).
pub fn packet(packet_type: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()).min(usize::from(u16::MAX));
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, packet_type, flags, 0, 0]);
    out.extend_from_slice(&body[..len - HEADER_LEN]);
    out
}

/// The CONNECT packet carrying `connect_data` (an NV string), and when the data is longer
/// than [`MAX_CONNECT_DATA`], the DATA packet that carries it instead. `flags` is the header
/// flag byte ([`FLAG_REDIRECT`] after a redirect).
///
/// Layout (offsets from the packet start, big-endian): 8 version, 10 compatible version,
/// 12 service options, 14 SDU, 16 maximum TDU, 18 NT protocol characteristics, 20 line
/// turnaround, 22 the value 1 (byte order), 24 connect data length, 26 connect data offset,
/// 28 maximum receivable connect data, 32 and 33 connect flags, 34 and 38 trace cross facility
/// items, 42 trace unique connection id (8 bytes), 50 reserved (8 bytes), 58 connect data.
pub fn connect(connect_data: &str, flags: u8) -> Vec<u8> {
    connect_as(VERSION, connect_data, flags)
}

/// The CONNECT of a client of version [`VERSION_CLIENT`] (the layout of version 315 on: after
/// the fields of [`connect`], 8 bytes more reserved, then at 58 the 32-bit SDU, at 62 the
/// 32-bit TDU, at 66 and 70 the connect flag words, and the connect data at 74).
pub fn connect_client(connect_data: &str, flags: u8) -> Vec<u8> {
    connect_as(VERSION_CLIENT, connect_data, flags)
}

fn connect_as(version: u16, connect_data: &str, flags: u8) -> Vec<u8> {
    let large = version >= VERSION_LARGE_SDU;
    let offset = if large { CONNECT_DATA_OFFSET_315 } else { CONNECT_DATA_OFFSET };
    let data = connect_data.as_bytes();
    let data_len = data.len().min(usize::from(u16::MAX) - usize::from(offset));
    let mut b = Vec::with_capacity(usize::from(offset));
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&VERSION_COMPATIBLE.to_be_bytes());
    b.extend_from_slice(&0x0001u16.to_be_bytes()); // service options: "don't care"
    b.extend_from_slice(&SDU.to_be_bytes());
    b.extend_from_slice(&0x7fffu16.to_be_bytes()); // maximum TDU
    b.extend_from_slice(&0x4f98u16.to_be_bytes()); // NT protocol characteristics (python-oracledb's)
    b.extend_from_slice(&0u16.to_be_bytes()); // line turnaround
    b.extend_from_slice(&1u16.to_be_bytes()); // the value 1, in the sender's byte order
    b.extend_from_slice(&(data_len as u16).to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&0u32.to_be_bytes()); // maximum receivable connect data
    b.extend_from_slice(&[CONNECT_FLAGS, CONNECT_FLAGS]);
    b.extend_from_slice(&[0; 24]); // trace cross facility items, unique id, reserved
    if large {
        b.extend_from_slice(&u32::from(SDU).to_be_bytes()); // SDU, 32 bits
        b.extend_from_slice(&u32::from(SDU).to_be_bytes()); // TDU, 32 bits
        b.extend_from_slice(&0u32.to_be_bytes()); // connect flags 1
        b.extend_from_slice(&0u32.to_be_bytes()); // connect flags 2 (no out-of-band check)
    }
    debug_assert_eq!(b.len() + HEADER_LEN, usize::from(offset));
    if data_len <= MAX_CONNECT_DATA {
        b.extend_from_slice(&data[..data_len]);
        return packet(ptype::CONNECT, flags, &b);
    }
    let mut out = packet(ptype::CONNECT, flags, &b);
    let mut d = 0u16.to_be_bytes().to_vec(); // DATA flags
    d.extend_from_slice(&data[..data_len]);
    out.extend_from_slice(&packet(ptype::DATA, 0, &d));
    out
}

/// The listener command the probe sends on its first connection: `lsnrctl version`'s own
/// request, which every listener answers (or refuses) naming its VSNNUM.
pub const VERSION_COMMAND: &str = "(CONNECT_DATA=(COMMAND=version))";

/// A DATA packet with the EOF flag: the orderly end of a session, as python-oracledb closes.
/// `large`: after an ACCEPT of version 315 or later, whose packets carry a 32-bit length.
pub fn data_eof(large: bool) -> Vec<u8> {
    let mut p = packet(ptype::DATA, 0, &DATA_FLAG_EOF.to_be_bytes());
    if large {
        let len = (p.len() as u32).to_be_bytes();
        p[..4].copy_from_slice(&len);
    }
    p
}

/// An ACCEPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accept {
    /// The TNS version the server settled on.
    pub version: u16,
    /// Service options.
    pub options: u16,
    /// The session data unit (the 32-bit one from version 315 on, when present).
    pub sdu: u32,
    /// The maximum transmission data unit.
    pub tdu: u16,
    /// The accept data (an NV string from listeners answering a command; usually empty).
    pub data: String,
}

/// Decodes an ACCEPT from its body (the bytes after the header). Offsets are the packet's:
/// 8 version, 10 service options, 12 SDU, 14 TDU, 16 the value 1, 18 accept data length,
/// 20 accept data offset, 22 and 23 connect flags, and from version 315 the 32-bit SDU at 32.
pub fn accept(body: &[u8]) -> Result<Accept, WireError> {
    let at = |o: usize| o - HEADER_LEN;
    if body.len() < at(24) {
        return err(format!("an ACCEPT of {} bytes, shorter than its fixed fields", body.len() + HEADER_LEN));
    }
    let u16_at = |o: usize| u16::from_be_bytes([body[at(o)], body[at(o) + 1]]);
    let version = u16_at(8);
    let options = u16_at(10);
    let mut sdu = u32::from(u16_at(12));
    let tdu = u16_at(14);
    let data_len = usize::from(u16_at(18));
    let data_offset = usize::from(u16_at(20));
    if version >= VERSION_LARGE_SDU && body.len() >= at(36) {
        let large = u32::from_be_bytes([body[at(32)], body[at(33)], body[at(34)], body[at(35)]]);
        if large != 0 {
            sdu = large;
        }
    }
    let data = if data_len == 0 {
        String::new()
    } else {
        if data_offset < 24 {
            return err(format!("accept data at offset {data_offset}, inside the ACCEPT's fixed fields"));
        }
        let end = data_offset + data_len;
        if end > body.len() + HEADER_LEN {
            return err(format!(
                "accept data of {data_len} bytes at offset {data_offset} runs past the {}-byte packet",
                body.len() + HEADER_LEN
            ));
        }
        text(&body[at(data_offset)..at(end)])
    };
    Ok(Accept { version, options, sdu, tdu, data })
}

/// A REFUSE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refuse {
    /// The user (application) reason.
    pub user_reason: u8,
    /// The system reason.
    pub system_reason: u8,
    /// The refuse data: `(DESCRIPTION=(TMP=)(VSNNUM=...)(ERR=...)(ERROR_STACK=...))`.
    pub data: String,
}

/// Decodes a REFUSE body: user reason, system reason, data length (16 bits), data.
pub fn refuse(body: &[u8]) -> Result<Refuse, WireError> {
    if body.len() < 4 {
        return err(format!("a REFUSE of {} bytes, shorter than its fixed fields", body.len() + HEADER_LEN));
    }
    let len = usize::from(u16::from_be_bytes([body[2], body[3]]));
    let rest = &body[4..];
    if len > rest.len() {
        return err(format!("refuse data claims {len} bytes where {} remain", rest.len()));
    }
    Ok(Refuse { user_reason: body[0], system_reason: body[1], data: text(&rest[..len]) })
}

/// A REDIRECT's body: the length of the redirect data, and the part of it in this packet.
/// Newer servers send the data in the DATA packet(s) that follow ([`data`]); the caller reads
/// them until it has `length` bytes.
pub fn redirect(body: &[u8]) -> Result<(usize, &[u8]), WireError> {
    if body.len() < 2 {
        return err("a REDIRECT without its data length");
    }
    let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let rest = &body[2..];
    Ok((len, &rest[..len.min(rest.len())]))
}

/// A DATA body: the data flags and the payload.
pub fn data(body: &[u8]) -> Result<(u16, &[u8]), WireError> {
    if body.len() < 2 {
        return err("a DATA packet without its data flags");
    }
    Ok((u16::from_be_bytes([body[0], body[1]]), &body[2..]))
}

/// Bytes as text: UTF-8 where valid, NULs and control characters other than tab and newline
/// dropped (a listener's strings are ASCII).
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// Where a REDIRECT sends the client: the address, and the connect data to send there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    /// `TCP`, `TCPS`, `IPC`, ...
    pub protocol: Option<String>,
    /// The host the client is to connect to.
    pub host: Option<String>,
    /// Its port.
    pub port: Option<u16>,
    /// The connect data the listener would have the client send there (after a NUL in the
    /// redirect data), when present. The probe records it but never sends it: it is the
    /// peer's text, and the probe builds its own CONNECT for the redirect target.
    pub connect_data: Option<String>,
}

/// Decodes redirect data: `(ADDRESS=(PROTOCOL=tcp)(HOST=h)(PORT=p))`, then a NUL and the
/// connect data to send to that address (python-oracledb splits it the same way).
pub fn redirect_target(data: &[u8]) -> Result<RedirectTarget, WireError> {
    let (address, connect_data) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(text(&data[i + 1..]))),
        None => (data, None),
    };
    let nv = parse_nv(&String::from_utf8_lossy(address))?;
    let host = nv_find(&nv, "HOST").map(str::to_owned);
    let port = match nv_find(&nv, "PORT") {
        Some(p) => Some(p.parse::<u16>().map_err(|_| WireError(format!("redirect to port {p:?}, not a port")))?),
        None => None,
    };
    if host.is_none() && port.is_none() {
        return err("redirect data names no HOST and no PORT");
    }
    Ok(RedirectTarget {
        protocol: nv_find(&nv, "PROTOCOL").map(str::to_owned),
        host,
        port,
        connect_data: connect_data.filter(|c| !c.is_empty()),
    })
}

/// An NV pair of an Oracle Net string: `(NAME=value)` or `(NAME=(NAME=value)...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nv {
    /// The name, as written.
    pub name: String,
    /// The value.
    pub value: NvValue,
}

/// The value of an NV pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NvValue {
    /// A plain value (possibly empty: `(TMP=)`).
    Atom(String),
    /// Nested pairs.
    List(Vec<Nv>),
}

/// How deep NV strings may nest; connect descriptors and error stacks use four or five levels.
pub const MAX_NV_DEPTH: usize = 16;

/// Parses a sequence of NV pairs (`(A=1)(B=(C=2))`). Whitespace between elements is ignored;
/// an atom runs to the next `)` and may hold double-quoted parts (which may hold parentheses).
pub fn parse_nv(s: &str) -> Result<Vec<Nv>, WireError> {
    let mut p = NvParser { s: s.as_bytes(), i: 0 };
    let list = p.list(0)?;
    p.ws();
    if p.i != p.s.len() {
        return err(format!("unexpected {:?} at byte {} of an NV string", char::from(p.s[p.i]), p.i));
    }
    Ok(list)
}

struct NvParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl NvParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    /// Pairs until a `)` or the end.
    fn list(&mut self, depth: usize) -> Result<Vec<Nv>, WireError> {
        if depth > MAX_NV_DEPTH {
            return err(format!("an NV string nested deeper than {MAX_NV_DEPTH} levels"));
        }
        let mut out = Vec::new();
        while self.peek() == Some(b'(') {
            self.i += 1;
            let start = self.i;
            while self.i < self.s.len() && !matches!(self.s[self.i], b'=' | b'(' | b')') {
                self.i += 1;
            }
            if self.s.get(self.i) != Some(&b'=') {
                return err(format!("an NV name without '=' at byte {start}"));
            }
            let name = String::from_utf8_lossy(&self.s[start..self.i]).trim().to_owned();
            self.i += 1;
            let value = if self.peek() == Some(b'(') {
                NvValue::List(self.list(depth + 1)?)
            } else {
                NvValue::Atom(self.atom()?)
            };
            if self.peek() != Some(b')') {
                return err(format!("NV pair {name:?} is not closed"));
            }
            self.i += 1;
            out.push(Nv { name, value });
        }
        Ok(out)
    }
    fn atom(&mut self) -> Result<String, WireError> {
        let start = self.i;
        let mut quoted = false;
        while self.i < self.s.len() {
            match self.s[self.i] {
                b'"' => quoted = !quoted,
                b')' if !quoted => break,
                b'(' if !quoted => return err(format!("'(' inside a value at byte {}", self.i)),
                _ => {}
            }
            self.i += 1;
        }
        if quoted {
            return err("an unterminated quoted value");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).trim().to_owned())
    }
}

/// The first atom named `name` (case-insensitive), searched depth first.
pub fn nv_find<'a>(list: &'a [Nv], name: &str) -> Option<&'a str> {
    list.iter().find_map(|nv| match &nv.value {
        NvValue::Atom(v) if nv.name.eq_ignore_ascii_case(name) => Some(v.as_str()),
        NvValue::List(inner) => nv_find(inner, name),
        NvValue::Atom(_) => None,
    })
}

/// What a listener's NV answer (refuse data, or accept data to a command) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerAnswer {
    /// VSNNUM: the listener's version as a number.
    pub vsnnum: Option<u32>,
    /// ERR: the TNS error number, 0 for success.
    pub err: Option<u32>,
    /// The error numbers of ERROR_STACK, outermost first.
    pub stack: Vec<u32>,
}

/// Reads VSNNUM, ERR and the error stack out of a listener's NV string. Unparseable text
/// yields what a plain search for `(VSNNUM=` and `(ERR=` finds (as nmap reads it), so a
/// slightly malformed answer still names its error.
pub fn listener_answer(s: &str) -> ListenerAnswer {
    match parse_nv(s) {
        Ok(nv) => {
            let mut stack = Vec::new();
            collect_codes(&nv, &mut stack);
            ListenerAnswer {
                vsnnum: nv_find(&nv, "VSNNUM").and_then(|v| v.parse().ok()),
                err: nv_find(&nv, "ERR").and_then(|v| v.parse().ok()),
                stack,
            }
        }
        Err(_) => {
            let grab = |key: &str| {
                let upper = s.to_ascii_uppercase();
                let at = upper.find(key)? + key.len();
                let digits: String = s[at..].chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            };
            ListenerAnswer { vsnnum: grab("(VSNNUM="), err: grab("(ERR="), stack: Vec::new() }
        }
    }
}

fn collect_codes(list: &[Nv], out: &mut Vec<u32>) {
    for nv in list {
        match &nv.value {
            NvValue::Atom(v) if nv.name.eq_ignore_ascii_case("CODE") => {
                if let Ok(n) = v.parse() {
                    out.push(n);
                }
            }
            NvValue::List(inner) if out.len() < 16 => collect_codes(inner, out),
            _ => {}
        }
    }
}

/// A VSNNUM as the dotted version Oracle prints: 8 bits major, 4 bits minor, 8 bits
/// (update), 4 bits (patch), 8 bits (port update). 318767104 (0x13000000) is 19.0.0.0.0,
/// 186647040 (0x0B200200) 11.2.0.2.0.
pub fn vsnnum(v: u32) -> String {
    format!("{}.{}.{}.{}.{}", v >> 24, (v >> 20) & 0xF, (v >> 12) & 0xFF, (v >> 8) & 0xF, v & 0xFF)
}

/// The words Oracle gives a TNS error number (Database Error Messages, TNS-00000 to
/// TNS-12699; the listener sends the number only).
pub fn error_text(code: u32) -> Option<&'static str> {
    Some(match code {
        1169 => "the listener has not recognized the password",
        1189 => "the listener could not authenticate the user (remote listener commands are refused)",
        1190 => "the user is not authorized to execute the requested listener command",
        1194 => "the listener command was not sent over a secure transport",
        12500 => "listener failed to start a dedicated server process",
        12504 => "listener was not given the SERVICE_NAME in CONNECT_DATA",
        12505 => "listener does not currently know of SID given in connect descriptor",
        12513 => "service handler found but it has registered for a different protocol",
        12514 => "listener does not currently know of service requested in connect descriptor",
        12516 => "listener could not find available handler with matching protocol stack",
        12518 => "listener could not hand off client connection",
        12519 => "no appropriate service handler found",
        12520 => "listener could not find available handler for requested type of server",
        12521 => "listener does not currently know of instance requested in connect descriptor",
        12526 => "listener: all appropriate instances are in restricted mode",
        12527 => "listener: all instances are in restricted mode or blocking new connections",
        12528 => "listener: all appropriate instances are blocking new connections",
        12529 => "connect request rejected based on current filtering rules",
        12564 => "connection refused",
        12618 => "versions are incompatible",
        12660 => "encryption or crypto-checksumming parameters incompatible",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a fixture: hex byte pairs, `#` comments to the end of the line.
    fn fixture(text: &str) -> Vec<u8> {
        text.lines()
            .flat_map(|l| l.split('#').next().unwrap_or("").split_whitespace())
            .map(|h| u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad hex {h:?}")))
            .collect()
    }

    /// Splits a byte stream into packets by their headers (16-bit framing).
    fn packets(mut b: &[u8]) -> Vec<(Header, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let h = header(b[..HEADER_LEN].try_into().unwrap(), false).unwrap();
            out.push((h, b[HEADER_LEN..h.length].to_vec()));
            b = &b[h.length..];
        }
        out
    }

    const CONNECT_VERSION: &str = include_str!("fixtures/connect-version-command.hex");
    const CONNECT_SERVICE_318: &str = include_str!("fixtures/connect-service-318.hex");
    const ACCEPT_VERSION_19C: &str = include_str!("fixtures/accept-version-19c.hex");
    const REFUSE_12514: &str = include_str!("fixtures/refuse-12514-19c.hex");
    const REFUSE_1189: &str = include_str!("fixtures/refuse-1189-11g.hex");
    const REDIRECT: &str = include_str!("fixtures/redirect-in-data-packet.hex");
    const RESEND: &str = include_str!("fixtures/resend.hex");
    const ACCEPT_SERVICE_19C: &str = include_str!("fixtures/accept-service-19c.hex");

    #[test]
    fn the_version_command_is_the_fixture_byte_for_byte() {
        let built = connect(VERSION_COMMAND, 0);
        assert_eq!(built, fixture(CONNECT_VERSION));
        let h = header(built[..8].try_into().unwrap(), false).unwrap();
        assert_eq!((h.length, h.packet_type), (built.len(), ptype::CONNECT));
        assert_eq!(&built[usize::from(CONNECT_DATA_OFFSET)..], VERSION_COMMAND.as_bytes());
    }

    #[test]
    fn a_client_connect_has_the_layout_of_315_on() {
        let d = "(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME=ORCLPDB1)(CID=(PROGRAM=portproof)(HOST=probe)(USER=portproof)))(ADDRESS=(PROTOCOL=TCP)(HOST=db1)(PORT=1521)))";
        let b = connect_client(d, 0);
        assert_eq!(b, fixture(CONNECT_SERVICE_318));
        let p = packets(&b);
        assert_eq!(p.len(), 1);
        let body = &p[0].1;
        let u16_at = |o: usize| u16::from_be_bytes([body[o - 8], body[o - 7]]);
        let u32_at = |o: usize| u32::from_be_bytes([body[o - 8], body[o - 7], body[o - 6], body[o - 5]]);
        assert_eq!((u16_at(8), u16_at(10), u16_at(24), u16_at(26)), (318, 300, d.len() as u16, 74));
        assert_eq!((u32_at(58), u32_at(62)), (8192, 8192));
        assert_eq!(&b[74..], d.as_bytes());
        // Its orderly close is framed with the 32-bit length of 315 on.
        let eof = data_eof(true);
        assert_eq!(header(eof[..8].try_into().unwrap(), true).unwrap().length, eof.len());
        assert_eq!(&eof[..4], &[0, 0, 0, 10]);
        assert_eq!(&data_eof(false)[..4], &[0, 10, 0, 0]);
    }

    #[test]
    fn long_connect_data_goes_in_a_data_packet() {
        let long = format!("(DESCRIPTION=(CONNECT_DATA=(SERVICE_NAME={})))", "S".repeat(300));
        let b = connect(&long, FLAG_REDIRECT);
        let p = packets(&b);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].0.packet_type, p[0].0.flags), (ptype::CONNECT, FLAG_REDIRECT));
        assert_eq!(p[0].0.length, usize::from(CONNECT_DATA_OFFSET), "the CONNECT carries no data");
        assert_eq!(u16::from_be_bytes([p[0].1[16], p[0].1[17]]) as usize, long.len(), "but states its length");
        let (flags, payload) = data(&p[1].1).unwrap();
        assert_eq!((p[1].0.packet_type, flags, payload), (ptype::DATA, 0, long.as_bytes()));
    }

    #[test]
    fn a_listener_answers_the_version_command() {
        let b = fixture(ACCEPT_VERSION_19C);
        let p = packets(&b);
        assert_eq!(p.iter().map(|x| x.0.packet_type).collect::<Vec<_>>(), [ptype::ACCEPT, ptype::DATA, ptype::DATA]);
        let a = accept(&p[0].1).unwrap();
        assert_eq!((a.version, a.sdu, a.tdu), (314, 8192, 32767));
        let l = listener_answer(&a.data);
        assert_eq!((l.vsnnum, l.err), (Some(318_767_104), Some(0)));
        assert_eq!(vsnnum(l.vsnnum.unwrap()), "19.0.0.0.0");
        let (flags, banner) = data(&p[1].1).unwrap();
        assert_eq!(flags, 0);
        assert!(String::from_utf8_lossy(banner).contains("TNSLSNR for Linux: Version 19.0.0.0.0 - Production"));
        assert_eq!(data(&p[2].1).unwrap().0, DATA_FLAG_EOF);
    }

    #[test]
    fn refusals_name_their_error() {
        let b = fixture(REFUSE_12514);
        let p = packets(&b);
        assert_eq!(p[0].0.packet_type, ptype::REFUSE);
        let r = refuse(&p[0].1).unwrap();
        assert_eq!((r.user_reason, r.system_reason), (34, 0));
        let l = listener_answer(&r.data);
        assert_eq!((l.vsnnum, l.err, l.stack.as_slice()), (Some(318_767_104), Some(12514), &[12514][..]));
        assert!(error_text(12514).unwrap().contains("service"));

        let b = fixture(REFUSE_1189);
        let r = refuse(&packets(&b)[0].1).unwrap();
        let l = listener_answer(&r.data);
        assert_eq!((l.err, l.vsnnum.map(vsnnum)), (Some(1189), Some("11.2.0.2.0".into())));
    }

    #[test]
    fn a_redirect_whose_data_follows_in_a_data_packet() {
        let b = fixture(REDIRECT);
        let p = packets(&b);
        assert_eq!((p[0].0.packet_type, p[1].0.packet_type), (ptype::REDIRECT, ptype::DATA));
        let (len, here) = redirect(&p[0].1).unwrap();
        assert!(here.is_empty());
        let (_, payload) = data(&p[1].1).unwrap();
        assert_eq!(payload.len(), len);
        let t = redirect_target(payload).unwrap();
        assert_eq!(
            (t.protocol.as_deref(), t.host.as_deref(), t.port),
            (Some("tcp"), Some("db2.example.internal"), Some(49153))
        );
        assert!(t.connect_data.unwrap().contains("SERVICE_NAME=ORCLPDB1"));
    }

    #[test]
    fn resend_and_a_19c_database_accept() {
        let b = fixture(RESEND);
        assert_eq!(
            header(b[..8].try_into().unwrap(), false).unwrap(),
            Header { length: 8, packet_type: ptype::RESEND, flags: 0 }
        );
        let b = fixture(ACCEPT_SERVICE_19C);
        let p = packets(&b);
        let a = accept(&p[0].1).unwrap();
        assert_eq!((a.version, a.sdu, a.data.as_str()), (318, 8192, ""));
    }

    #[test]
    fn headers_that_are_not_tns() {
        // HTTP: "HT" is a plausible length, "TP" is not a checksum.
        assert!(header(b"HTTP/1.1", false).is_err());
        // A TLS alert record: 15 03 03 00 02 02 28 ..: checksum 03 00.
        assert!(header(&[0x15, 3, 3, 0, 2, 2, 0x28, 0], false).is_err());
        // Shorter than a header, longer than the SDU, unknown type.
        assert!(header(&[0, 4, 0, 0, 2, 0, 0, 0], false).unwrap_err().0.contains("shorter"));
        assert!(header(&[0xff, 0xff, 0, 0, 2, 0, 0, 0], false).unwrap_err().0.contains("SDU"));
        assert!(header(&[0, 8, 0, 0, 0x31, 0, 0, 0], false).unwrap_err().0.contains("type"));
        // The large framing reads four length bytes.
        assert!(header(&[0, 0, 0x10, 0, 6, 0, 0, 0], true).is_ok());
        assert!(header(&[0xff, 0, 0, 0, 6, 0, 0, 0], true).is_err());
    }

    #[test]
    fn nv_strings() {
        let nv = parse_nv(" (DESCRIPTION = (ADDRESS=(PROTOCOL=TCP)(HOST=db)(PORT=1521)) (CONNECT_DATA=(SERVICE_NAME=a.b)(X=\"q(u)o\")))").unwrap();
        assert_eq!(nv.len(), 1);
        assert_eq!(nv_find(&nv, "host"), Some("db"));
        assert_eq!(nv_find(&nv, "SERVICE_NAME"), Some("a.b"));
        assert_eq!(nv_find(&nv, "X"), Some("\"q(u)o\""));
        assert_eq!(nv_find(&nv, "nope"), None);
        assert_eq!(parse_nv("(TMP=)").unwrap()[0].value, NvValue::Atom(String::new()));
        assert_eq!(parse_nv("").unwrap(), vec![]);
        for bad in ["(A", "(A=b", "(A=(B=c)", "(A=b(c))", "A=b", "(A=\"x)", "(A=b))"] {
            assert!(parse_nv(bad).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "(A=".repeat(100), ")".repeat(100));
        assert!(parse_nv(&deep).unwrap_err().0.contains("deeper"));
        // A malformed answer still names its error, as nmap reads it.
        let l = listener_answer("(DESCRIPTION=(VSNNUM=318767104)(ERR=12514)(ERROR_STACK=");
        assert_eq!((l.vsnnum, l.err), (Some(318_767_104), Some(12514)));
    }

    #[test]
    fn vsnnums() {
        assert_eq!(vsnnum(318_767_104), "19.0.0.0.0");
        assert_eq!(vsnnum(186_647_040), "11.2.0.2.0");
        assert_eq!(vsnnum(0x1720_0000), "23.2.0.0.0");
    }

    #[test]
    fn truncated_and_garbled_packets_fail_without_panicking() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for f in [ACCEPT_VERSION_19C, REFUSE_12514, REFUSE_1189, REDIRECT, ACCEPT_SERVICE_19C, CONNECT_VERSION] {
            let b = fixture(f);
            for n in 0..b.len() {
                let body = &b[HEADER_LEN.min(n)..n];
                let _ = (accept(body), refuse(body), redirect(body), data(body), redirect_target(body));
                let _ = listener_answer(&String::from_utf8_lossy(body));
            }
            for _ in 0..2000 {
                let mut m = b.clone();
                let i = (next() as usize) % m.len();
                m[i] = next() as u8;
                let body = &m[HEADER_LEN..];
                let _ = (accept(body), refuse(body), redirect(body), data(body), redirect_target(body));
                let _ = listener_answer(&String::from_utf8_lossy(body));
                if let Ok(h) = <&[u8; 8]>::try_from(&m[..8]) {
                    let _ = (header(h, false), header(h, true));
                }
            }
        }
    }
}
