//! Java RMI's wire protocol (JRMP, Java RMI specification chapter 10) as far as the probe needs
//! it: the stream-protocol handshake, a registry `list()` call, and the few shapes of Java
//! serialization its answer takes (an array of strings, or the class name of an exception).
//! Nothing here deserializes Java objects in general: a reply of any other shape is malformed.

/// The client's header: `JRMI`, version 2, StreamProtocol (§10.2.1).
pub const HEADER: &[u8; 7] = b"JRMI\x00\x02\x4b";
pub use crate::wire::Malformed;

/// ProtocolAck: the server takes the stream protocol (§10.3).
pub const PROTOCOL_ACK: u8 = 0x4e;
/// ProtocolNotSupported.
pub const PROTOCOL_NOT_SUPPORTED: u8 = 0x4f;

/// The registry's interface hash (`RegistryImpl_Stub`, the 1.1 stub protocol's operation ids).
const REGISTRY_INTERFACE_HASH: u64 = 0x4415_4dc9_d4e6_3bdf;
/// `Registry.list()` is operation 1 of that interface.
const OP_LIST: i32 = 1;

/// The Return message (§10.3).
const RETURN_DATA: u8 = 0x51;
/// Java serialization's stream magic and version (Java Object Serialization Specification §6.4).
const STREAM_HEADER: [u8; 4] = [0xac, 0xed, 0x00, 0x05];
const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_BLOCKDATA: u8 = 0x77;
const TC_ENDBLOCKDATA: u8 = 0x78;
/// ReturnValue's first byte in the block: a normal return, or an exception (§10.3).
const NORMAL_RETURN: u8 = 1;
const EXCEPTIONAL_RETURN: u8 = 2;

/// The most names a registry answer may list before the probe calls it absurd.
pub const MAX_NAMES: usize = 4096;

/// The client's endpoint after the ack (§10.2.1): the host it calls itself, port 0.
pub fn client_endpoint(host: &str) -> Vec<u8> {
    let mut out = utf(host);
    out.extend_from_slice(&0i32.to_be_bytes());
    out
}

/// A Call of `Registry.list()` on the registry's well-known object id (all zeroes, §10.3).
pub fn list_call() -> Vec<u8> {
    let mut out = vec![0x50];
    out.extend_from_slice(&STREAM_HEADER);
    // ObjID: objNum (8), UID unique (4), time (8), count (2); then operation (4) and hash (8).
    out.extend_from_slice(&[TC_BLOCKDATA, 34]);
    out.extend_from_slice(&[0u8; 22]);
    out.extend_from_slice(&OP_LIST.to_be_bytes());
    out.extend_from_slice(&REGISTRY_INTERFACE_HASH.to_be_bytes());
    out
}

fn utf(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let n = u16::try_from(b.len()).unwrap_or(u16::MAX);
    let mut out = n.to_be_bytes().to_vec();
    out.extend_from_slice(&b[..usize::from(n)]);
    out
}

/// The server's EndpointIdentifier after the ack: the address it sees the client at.
#[derive(Debug, PartialEq, Eq)]
pub struct SeenAs {
    /// The client's host, as the server writes it.
    pub host: String,
    /// The client's port, as the server sees it.
    pub port: i32,
}

/// A reader over a received buffer that fails with [`Malformed::Short`] at its end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(Malformed::Short)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Malformed> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        let s = self.take(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn utf(&mut self) -> Result<String, Malformed> {
        let n = self.u16()?;
        let s = self.take(usize::from(n))?;
        // Modified UTF-8 differs from UTF-8 only for NUL and supplementary characters.
        Ok(String::from_utf8_lossy(s).into_owned())
    }
    fn expect(&mut self, want: u8, what: &str) -> Result<(), Malformed> {
        match self.u8()? {
            b if b == want => Ok(()),
            b => Err(Malformed::Bad(format!("expected {what} (0x{want:02x}), got 0x{b:02x}"))),
        }
    }
}

/// Parses the EndpointIdentifier that follows a ProtocolAck: how many bytes it took, and what.
pub fn seen_as(b: &[u8]) -> Result<(usize, SeenAs), Malformed> {
    let mut r = Reader { b, at: 0 };
    // A host name is at most 255 bytes: a longer length is not an endpoint, whatever follows.
    if let [hi, lo, ..] = *b {
        let n = u16::from_be_bytes([hi, lo]);
        if n == 0 || n > 255 {
            return Err(Malformed::Bad(format!("the endpoint after the ack claims a {n}-byte host name")));
        }
    }
    let host = r.utf()?;
    if host.is_empty() || host.len() > 255 || host.chars().any(char::is_control) {
        return Err(Malformed::Bad(format!("the endpoint after the ack is no host name: {host:?}")));
    }
    let port = r.i32()?;
    if !(0..=65535).contains(&port) {
        return Err(Malformed::Bad(format!("the endpoint after the ack has port {port}")));
    }
    Ok((r.at, SeenAs { host, port }))
}

/// What a registry call returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Returned {
    /// A normal return of a string array: the registry's bound names.
    Names(Vec<String>),
    /// An exceptional return: the exception's class name (`java.rmi.NoSuchObjectException`).
    Exception(String),
}

/// Parses a Return message to `list()`. Only the two shapes the call can give are read: a
/// `String[]`, or the class descriptor of a thrown exception (its fields are never read).
pub fn returned(b: &[u8]) -> Result<Returned, Malformed> {
    let mut r = Reader { b, at: 0 };
    r.expect(RETURN_DATA, "a Return message")?;
    if r.take(4)? != STREAM_HEADER {
        return Err(Malformed::Bad("the Return has no Java serialization stream header".into()));
    }
    r.expect(TC_BLOCKDATA, "block data")?;
    let n = r.u8()?;
    if n != 15 {
        return Err(Malformed::Bad(format!("the return header block is {n} bytes, not 15")));
    }
    let kind = r.u8()?;
    r.take(14)?; // the UID the return is acknowledged with
    match kind {
        NORMAL_RETURN => string_array(&mut r).map(Returned::Names),
        EXCEPTIONAL_RETURN => {
            r.expect(TC_OBJECT, "the exception object")?;
            r.expect(TC_CLASSDESC, "its class descriptor")?;
            let class = r.utf()?;
            if class.is_empty() || !class.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '$' | '_')) {
                return Err(Malformed::Bad(format!("the exception's class name is {class:?}")));
            }
            Ok(Returned::Exception(class))
        }
        k => Err(Malformed::Bad(format!("return type {k}, neither normal (1) nor exceptional (2)"))),
    }
}

fn string_array(r: &mut Reader<'_>) -> Result<Vec<String>, Malformed> {
    match r.u8()? {
        TC_NULL => return Ok(Vec::new()),
        TC_ARRAY => {}
        b => return Err(Malformed::Bad(format!("list() returned 0x{b:02x}, not an array"))),
    }
    r.expect(TC_CLASSDESC, "the array's class descriptor")?;
    let class = r.utf()?;
    if class != "[Ljava.lang.String;" {
        return Err(Malformed::Bad(format!("list() returned an array of {class}, not of strings")));
    }
    r.take(8)?; // serialVersionUID
    r.u8()?; // flags
    if r.u16()? != 0 {
        return Err(Malformed::Bad("a string array's class descriptor lists fields".into()));
    }
    // Class annotations (RMI writes the codebase: null or a string) up to the end marker.
    for _ in 0..8 {
        match r.u8()? {
            TC_ENDBLOCKDATA => break,
            TC_NULL => {}
            TC_STRING => {
                r.utf()?;
            }
            b => return Err(Malformed::Bad(format!("unexpected 0x{b:02x} in the class annotations"))),
        }
    }
    r.expect(TC_NULL, "no superclass")?;
    let size = r.i32()?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&s| s <= MAX_NAMES)
        .ok_or_else(|| Malformed::Bad(format!("the registry says it holds {size} names")))?;
    let mut names = Vec::with_capacity(size.min(64));
    for _ in 0..size {
        match r.u8()? {
            TC_STRING => names.push(r.utf()?),
            TC_NULL => {}
            // A back reference to a string already read: the same name again.
            TC_REFERENCE => {
                r.take(4)?;
            }
            b => return Err(Malformed::Bad(format!("a bound name is 0x{b:02x}, not a string"))),
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What OpenJDK 17's registry (testbeds/java/RmiPeer.java) answered to `list_call()`.
    const JDK17_LIST: &[u8] = include_bytes!("fixtures/jdk17-list-jmxrmi.bin");
    /// What OpenJDK 17's JMX RMI server port (not a registry) answered to the same call.
    const JDK17_NO_SUCH_OBJECT: &[u8] = include_bytes!("fixtures/jdk17-no-such-object.bin");

    #[test]
    fn the_call_is_the_registry_stubs() {
        let c = list_call();
        assert_eq!(c.len(), 1 + 4 + 2 + 34);
        assert_eq!(&c[..7], &[0x50, 0xac, 0xed, 0x00, 0x05, 0x77, 0x22]);
        assert_eq!(&c[c.len() - 12..c.len() - 8], &[0, 0, 0, 1]);
        assert_eq!(client_endpoint("h"), vec![0, 1, b'h', 0, 0, 0, 0]);
    }

    #[test]
    fn real_answers_parse() {
        assert_eq!(returned(JDK17_LIST).unwrap(), Returned::Names(vec!["jmxrmi".into()]));
        assert_eq!(
            returned(JDK17_NO_SUCH_OBJECT).unwrap(),
            Returned::Exception("java.rmi.NoSuchObjectException".into())
        );
        assert_eq!(
            seen_as(b"\x00\x09127.0.0.1\x00\x00\xd5\x4e").unwrap(),
            (15, SeenAs { host: "127.0.0.1".into(), port: 54606 })
        );
    }

    #[test]
    fn every_prefix_is_short_and_nothing_panics() {
        for n in 0..JDK17_LIST.len() {
            assert_eq!(returned(&JDK17_LIST[..n]), Err(Malformed::Short), "{n}");
        }
        // The exception's class name is all that is read of it: the rest may still be coming.
        let class_end = 1 + 4 + 2 + 15 + 2 + 2 + "java.rmi.NoSuchObjectException".len();
        for n in 0..JDK17_NO_SUCH_OBJECT.len() {
            let r = returned(&JDK17_NO_SUCH_OBJECT[..n]);
            if n < class_end {
                assert_eq!(r, Err(Malformed::Short), "{n}");
            } else {
                assert_eq!(r, Ok(Returned::Exception("java.rmi.NoSuchObjectException".into())), "{n}");
            }
        }
        for b in 0..=255u8 {
            let mut bad = JDK17_LIST.to_vec();
            for i in 0..bad.len() {
                let keep = bad[i];
                bad[i] = b;
                let _ = returned(&bad);
                bad[i] = keep;
            }
        }
    }

    #[test]
    fn absurd_answers_are_malformed() {
        let mut huge = JDK17_LIST.to_vec();
        let at = huge.len() - 12; // the array size, before the one name
        huge[at..at + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(matches!(returned(&huge), Err(Malformed::Bad(m)) if m.contains("names")));
        assert!(matches!(seen_as(b"\x00\x00\x00\x00\x00\x00"), Err(Malformed::Bad(_))));
        assert!(matches!(seen_as(b"\xff\xffabc"), Err(Malformed::Bad(m)) if m.contains("65535")), "a lying length");
        assert!(matches!(seen_as(b"\x00\x01h\x7f\xff\xff\xff"), Err(Malformed::Bad(_))));
        assert!(matches!(returned(b"HTTP/1.1 400"), Err(Malformed::Bad(_))));
    }
}
