//! LDAPv3 messages (RFC 4511) as far as the probe needs them: StartTLS, a simple bind, a
//! RootDSE search and an unbind, written with `lber` (ldap3's BER codec), and the answers read
//! with it. Before lber sees a message, the probe's own framing reads its outer length (at most
//! [`MAX_MESSAGE`]) and checks that nothing in it nests deeper than [`MAX_DEPTH`], since lber's
//! parser recurses once per level and a hostile peer could nest a megabyte deep.

use bytes::BytesMut;
use lber::common::TagClass;
use lber::structure::{PL, StructureTag};
use lber::structures::{ASNTag, Boolean, Enumerated, Integer, Null, OctetString, Sequence, Tag};

use crate::{WireError, wire_err};

/// The largest LDAPMessage read (a RootDSE is a few KiB; Active Directory's about 10).
pub const MAX_MESSAGE: usize = 1 << 20;
/// The deepest BER nesting accepted (an LDAP response nests 5 or 6 deep).
pub const MAX_DEPTH: usize = 16;
/// The most values of one attribute kept in the facts.
pub const MAX_VALUES: usize = 64;

/// StartTLS's extended operation (RFC 4511 §4.14.1).
pub const STARTTLS_OID: &str = "1.3.6.1.4.1.1466.20037";
/// The Notice of Disconnection (§4.4.1), an unsolicited notification.
pub const DISCONNECT_OID: &str = "1.3.6.1.4.1.1466.20036";

/// A result code's name, as RFC 4511 §4.1.9 (and Appendix A) gives it.
pub fn result_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        5 => "compareFalse",
        6 => "compareTrue",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        33 => "aliasProblem",
        34 => "invalidDNSyntax",
        36 => "aliasDereferencingProblem",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        _ => return None,
    })
}

/// A result code as a code's last part: its name, or `code<N>` for one RFC 4511 does not name.
pub fn result_word(code: i64) -> String {
    result_name(code).map_or_else(|| format!("code{code}"), str::to_owned)
}

fn octets(s: &[u8]) -> Tag {
    Tag::OctetString(OctetString { inner: s.to_vec(), ..Default::default() })
}

fn integer(n: i64) -> Tag {
    Tag::Integer(Integer { inner: n, ..Default::default() })
}

fn enumerated(n: i64) -> Tag {
    Tag::Enumerated(Enumerated { inner: n, ..Default::default() })
}

/// An LDAPMessage: `SEQUENCE { messageID, protocolOp }`.
fn message(id: i32, op: Tag) -> Vec<u8> {
    let msg = Tag::Sequence(Sequence { inner: vec![integer(i64::from(id)), op], ..Default::default() });
    let mut buf = BytesMut::new();
    lber::write::encode_into(&mut buf, msg.into_structure()).expect("encoding into memory does not fail");
    buf.to_vec()
}

/// `ExtendedRequest` for StartTLS: `[APPLICATION 23] { requestName [0] OID }`.
pub fn starttls(id: i32) -> Vec<u8> {
    let name = Tag::OctetString(OctetString { id: 0, class: TagClass::Context, inner: STARTTLS_OID.into() });
    message(id, Tag::Sequence(Sequence { id: 23, class: TagClass::Application, inner: vec![name] }))
}

/// `BindRequest`, version 3, simple: `[APPLICATION 0] { 3, name, [0] password }`. An empty
/// name and password is the anonymous bind (RFC 4513 §5.1.1).
pub fn bind(id: i32, dn: &str, password: &[u8]) -> Vec<u8> {
    let simple = Tag::OctetString(OctetString { id: 0, class: TagClass::Context, inner: password.to_vec() });
    message(
        id,
        Tag::Sequence(Sequence {
            id: 0,
            class: TagClass::Application,
            inner: vec![integer(3), octets(dn.as_bytes()), simple],
        }),
    )
}

/// `SearchRequest` for the RootDSE (RFC 4512 §5.1): base "", scope baseObject, never
/// dereference, one entry, 10 s, `(objectClass=*)`, attributes `*` and `+` (RFC 3673).
pub fn rootdse_search(id: i32) -> Vec<u8> {
    let present = Tag::OctetString(OctetString { id: 7, class: TagClass::Context, inner: b"objectClass".to_vec() });
    let attrs = Tag::Sequence(Sequence { inner: vec![octets(b"*"), octets(b"+")], ..Default::default() });
    message(
        id,
        Tag::Sequence(Sequence {
            id: 3,
            class: TagClass::Application,
            inner: vec![
                octets(b""),
                enumerated(0),
                enumerated(0),
                integer(1),
                integer(10),
                Tag::Boolean(Boolean { inner: false, ..Default::default() }),
                present,
                attrs,
            ],
        }),
    )
}

/// `UnbindRequest`: `[APPLICATION 2] NULL`.
pub fn unbind(id: i32) -> Vec<u8> {
    message(id, Tag::Null(Null { id: 2, class: TagClass::Application, inner: () }))
}

/// An LDAPResult's parts (§4.1.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapResult {
    /// The result code.
    pub code: i64,
    /// The matchedDN.
    pub matched_dn: String,
    /// The diagnosticMessage, as the server words it.
    pub diagnostic: String,
}

/// What the server answered, as far as the probe reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `BindResponse`.
    Bind(LdapResult),
    /// `SearchResultEntry`: the DN and the attributes with their values.
    Entry {
        /// The entry's DN ("" for the RootDSE).
        dn: String,
        /// Attribute descriptions and values (at most [`MAX_VALUES`] each).
        attrs: Vec<(String, Vec<String>)>,
    },
    /// `SearchResultDone`.
    Done(LdapResult),
    /// `SearchResultReference`.
    Reference,
    /// `ExtendedResponse`, with its responseName when it has one.
    Extended(LdapResult, Option<String>),
    /// Any other operation, by its application tag.
    Other(u64),
}

/// One LDAPMessage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The messageID (0 for an unsolicited notification).
    pub id: i64,
    /// The operation.
    pub op: Op,
}

/// The total length of the LDAPMessage at the start of `b` once its header is there
/// (`Ok(None)` before): a universal constructed SEQUENCE with a definite length.
pub fn frame(b: &[u8]) -> Result<Option<usize>, WireError> {
    let Some(&tag) = b.first() else { return Ok(None) };
    if tag != 0x30 {
        return wire_err(format!("first byte {tag:#04x}, not the SEQUENCE an LDAPMessage starts with"));
    }
    let Some((len, header)) = length(&b[1..])? else { return Ok(None) };
    let total = 1 + header + len;
    if total > MAX_MESSAGE {
        return wire_err(format!("an LDAPMessage of {total} bytes, over the {MAX_MESSAGE} the probe reads"));
    }
    Ok(Some(total))
}

/// A BER definite length at the start of `b`: (length, bytes it took), `None` if short.
fn length(b: &[u8]) -> Result<Option<(usize, usize)>, WireError> {
    let Some(&first) = b.first() else { return Ok(None) };
    if first < 0x80 {
        return Ok(Some((usize::from(first), 1)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 {
        return wire_err("an indefinite length, which LDAP forbids (RFC 4511 §5.1)");
    }
    if n > 4 {
        return wire_err(format!("a length of {n} length bytes"));
    }
    let Some(bytes) = b.get(1..1 + n) else { return Ok(None) };
    let len = bytes.iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
    Ok(Some((len, 1 + n)))
}

/// Checks, without recursion, that the TLVs in `b` fit each other and nest at most
/// [`MAX_DEPTH`] deep: what lber's recursive parser is then safe to read.
fn check_nesting(b: &[u8]) -> Result<(), WireError> {
    // Each entry: where the enclosing constructed value ends.
    let mut ends: Vec<usize> = vec![b.len()];
    let mut at = 0;
    while at < b.len() {
        while ends.last().is_some_and(|&e| at == e) {
            ends.pop();
        }
        let Some(&end) = ends.last() else { break };
        let tag = b[at];
        if tag & 0x1f == 0x1f {
            return wire_err("a multi-byte tag number, which no LDAP message uses");
        }
        let Some((len, header)) = length(&b[at + 1..end.min(b.len())])? else {
            return wire_err("a value's header runs past its container");
        };
        let body = at + 1 + header;
        if body + len > end {
            return wire_err(format!("a value of {len} bytes runs past its container"));
        }
        if tag & 0x20 != 0 {
            if ends.len() > MAX_DEPTH {
                return wire_err(format!("values nested more than {MAX_DEPTH} deep"));
            }
            ends.push(body + len);
            at = body;
        } else {
            at = body + len;
        }
    }
    Ok(())
}

fn int(t: &StructureTag) -> Result<i64, WireError> {
    match &t.payload {
        PL::P(b) if !b.is_empty() && b.len() <= 8 => {
            let first = i64::from(b[0] as i8);
            Ok(b[1..].iter().fold(first, |acc, &x| (acc << 8) | i64::from(x)))
        }
        _ => wire_err("an INTEGER that is not 1 to 8 bytes"),
    }
}

fn text(t: &StructureTag) -> Result<String, WireError> {
    match &t.payload {
        PL::P(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        PL::C(_) => wire_err("a constructed string, which LDAP never sends"),
    }
}

fn parts(t: StructureTag, what: &str) -> Result<Vec<StructureTag>, WireError> {
    match t.payload {
        PL::C(v) => Ok(v),
        PL::P(_) => wire_err(format!("the {what} is not constructed")),
    }
}

fn ldap_result(v: &[StructureTag], what: &str) -> Result<LdapResult, WireError> {
    let [code, matched, diag, ..] = v else {
        return wire_err(format!("the {what} lacks a result code, matchedDN or diagnosticMessage"));
    };
    if code.class != TagClass::Universal || code.id != 10 {
        return wire_err(format!("the {what}'s result code is not an ENUMERATED"));
    }
    Ok(LdapResult { code: int(code)?, matched_dn: text(matched)?, diagnostic: text(diag)? })
}

/// Reads one whole LDAPMessage (exactly the bytes [`frame`] measured).
pub fn parse(b: &[u8]) -> Result<Message, WireError> {
    check_nesting(b)?;
    let (rest, top) = lber::parse::parse_tag(b).map_err(|_| WireError("not BER".into()))?;
    if !rest.is_empty() {
        return wire_err("bytes after the LDAPMessage");
    }
    let mut v = parts(top, "LDAPMessage")?.into_iter();
    let (Some(id), Some(op)) = (v.next(), v.next()) else {
        return wire_err("an LDAPMessage without a messageID and an operation");
    };
    if id.class != TagClass::Universal || id.id != 2 {
        return wire_err("the messageID is not an INTEGER");
    }
    let id = int(&id)?;
    if op.class != TagClass::Application {
        return wire_err("the protocolOp is not an application tag");
    }
    let op = match op.id {
        1 => Op::Bind(ldap_result(&parts(op, "BindResponse")?, "BindResponse")?),
        4 => {
            let v = parts(op, "SearchResultEntry")?;
            let [dn, list, ..] = &v[..] else { return wire_err("a SearchResultEntry without a DN and attributes") };
            let dn = text(dn)?;
            let mut attrs = Vec::new();
            if let PL::C(list) = &list.payload {
                for a in list {
                    let PL::C(pair) = &a.payload else { return wire_err("an attribute that is not a SEQUENCE") };
                    let [name, vals, ..] = &pair[..] else { return wire_err("an attribute without a type and values") };
                    let mut values = Vec::new();
                    if let PL::C(vals) = &vals.payload {
                        for x in vals.iter().take(MAX_VALUES) {
                            let mut s = text(x)?;
                            if s.len() > 512 {
                                let end = (0..=512).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                                s.truncate(end);
                            }
                            values.push(s);
                        }
                    }
                    attrs.push((text(name)?, values));
                }
            }
            Op::Entry { dn, attrs }
        }
        5 => Op::Done(ldap_result(&parts(op, "SearchResultDone")?, "SearchResultDone")?),
        19 => Op::Reference,
        24 => {
            let v = parts(op, "ExtendedResponse")?;
            let r = ldap_result(&v, "ExtendedResponse")?;
            let name = v.iter().find(|t| t.class == TagClass::Context && t.id == 10).map(text).transpose()?;
            Op::Extended(r, name)
        }
        other => Op::Other(other),
    };
    Ok(Message { id, op })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_requests_are_the_rfcs_bytes() {
        // An anonymous bind, message 1: 30 0c 02 01 01 60 07 02 01 03 04 00 80 00.
        assert_eq!(bind(1, "", b""), b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00");
        // StartTLS: [APPLICATION 23] with requestName [0] the OID.
        let s = starttls(1);
        assert_eq!(&s[..7], b"\x30\x1d\x02\x01\x01\x77\x18");
        assert_eq!(&s[7..9], b"\x80\x16");
        assert_eq!(&s[9..], STARTTLS_OID.as_bytes());
        assert_eq!(unbind(3), b"\x30\x05\x02\x01\x03\x42\x00");
        let r = rootdse_search(2);
        assert_eq!(frame(&r).unwrap(), Some(r.len()));
        assert!(r.windows(13).any(|w| w == b"\x87\x0bobjectClass"), "the present filter");
    }

    #[test]
    fn slapds_answers_are_read() {
        // Captured from OpenLDAP slapd 2.5.13 (see fixtures/README.md).
        let b = include_bytes!("fixtures/slapd-bind-anonymous.bin");
        assert_eq!(frame(b).unwrap(), Some(b.len()));
        let m = parse(b).unwrap();
        assert_eq!(
            m,
            Message { id: 1, op: Op::Bind(LdapResult { code: 0, matched_dn: "".into(), diagnostic: "".into() }) }
        );

        let b = include_bytes!("fixtures/slapd-bind-refused.bin");
        let Op::Bind(r) = parse(b).unwrap().op else { panic!("a BindResponse") };
        assert_eq!((r.code, r.diagnostic.as_str()), (48, "anonymous bind disallowed"));
        assert_eq!(result_name(r.code), Some("inappropriateAuthentication"));

        let b = include_bytes!("fixtures/slapd-rootdse.bin");
        let n = frame(b).unwrap().unwrap();
        let Op::Entry { dn, attrs } = parse(&b[..n]).unwrap().op else { panic!("an entry") };
        assert_eq!(dn, "");
        let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        assert_eq!(get("namingContexts"), ["dc=portproof,dc=test"]);
        assert!(get("objectClass").contains(&"OpenLDAProotDSE".to_owned()));
        assert!(get("supportedExtension").contains(&STARTTLS_OID.to_owned()));
        assert_eq!(get("supportedLDAPVersion"), ["3"]);
        let done = parse(&b[n..]).unwrap();
        assert!(matches!(done.op, Op::Done(LdapResult { code: 0, .. })), "{done:?}");

        let b = include_bytes!("fixtures/slapd-starttls-refused.bin");
        let Op::Extended(r, _) = parse(b).unwrap().op else { panic!("an ExtendedResponse") };
        assert_eq!((r.code, r.diagnostic.as_str()), (2, "unsupported extended operation"));
    }

    #[test]
    fn every_result_code_of_rfc_4511_has_its_name() {
        let named = (0..=80).filter(|c| result_name(*c).is_some()).count();
        assert_eq!(named, 39, "RFC 4511 §4.1.9 names 39 codes from 0 to 80");
        assert_eq!(result_word(49), "invalidCredentials");
        assert_eq!(result_word(4096), "code4096");
    }

    #[test]
    fn hostile_framing_is_refused_not_awaited() {
        assert!(frame(b"HTTP/1.1 400").is_err());
        assert!(frame(b"\x30\x80").is_err(), "indefinite");
        assert!(frame(b"\x30\x84\x7f\xff\xff\xff").is_err(), "2 GiB");
        assert!(frame(b"\x30\x89").is_err(), "9 length bytes");
        assert_eq!(frame(b"\x30\x82\x01").unwrap(), None);
        // A megabyte of SEQUENCEs each in the last: refused before lber recurses.
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.splice(0..0, [0x30u8, 0x80]);
        }
        assert!(parse(&deep).is_err());
        let mut nested = vec![0x05, 0x00];
        for _ in 0..40 {
            let len = nested.len() as u8;
            nested.splice(0..0, [0x30, len]);
            if nested.len() > 120 {
                break;
            }
        }
        assert!(parse(&nested).unwrap_err().0.contains("nested"), "deep nesting named");
        // A container whose child claims more than it holds.
        assert!(parse(b"\x30\x05\x02\x01\x01\x61\x10").is_err());
    }

    #[test]
    fn no_input_panics() {
        for fixture in
            [&include_bytes!("fixtures/slapd-rootdse.bin")[..], &include_bytes!("fixtures/slapd-bind-refused.bin")[..]]
        {
            for i in 0..fixture.len() {
                for flip in [0x01u8, 0x20, 0x80, 0xff] {
                    let mut b = fixture.to_vec();
                    b[i] ^= flip;
                    let _ = frame(&b);
                    let _ = parse(&b);
                }
            }
        }
    }
}
