//! MQTT 3.1.1 and 5.0 on the wire: the packets a probe sends (CONNECT, SUBSCRIBE, PUBLISH,
//! PUBACK, DISCONNECT) and the ones it reads (CONNACK, SUBACK, PUBLISH, PUBACK).
//!
//! References: MQTT Version 3.1.1 (OASIS Standard, 2014), §2.2 fixed header, §3.1 CONNECT,
//! §3.2 CONNACK and Table 3.1 return codes; MQTT Version 5.0 (OASIS Standard, 2019), §1.5.5
//! variable byte integers, §2.2.2 properties, §3.2.2.2 CONNACK reason codes.
//!
//! Every length is checked against the bytes that are there: a parse can fail, never read out
//! of bounds or allocate beyond the packet it was given.

use serde_json::{Map, Value};

use crate::mqtt::MqttVersion;

/// Packet types (the fixed header's high nibble).
pub const CONNACK: u8 = 2;
/// PUBLISH.
pub const PUBLISH: u8 = 3;
/// PUBACK.
pub const PUBACK: u8 = 4;
/// SUBACK.
pub const SUBACK: u8 = 9;

pub use crate::WireError;
use crate::wire_err as err;

/// The protocol level byte of CONNECT: 4 for 3.1.1, 5 for 5.0.
pub fn level(v: MqttVersion) -> u8 {
    match v {
        MqttVersion::V311 => 4,
        MqttVersion::V5 => 5,
    }
}

/// A variable byte integer (§1.5.5 of 5.0, "remaining length" in 3.1.1): 7 bits a byte.
pub fn var_int(mut n: u32, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn utf8(s: &[u8], out: &mut Vec<u8>) {
    let n = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(&s[..usize::from(n)]);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    var_int(u32::try_from(body.len()).unwrap_or(u32::MAX), &mut out);
    out.extend_from_slice(body);
    out
}

/// CONNECT with a clean session (clean start in 5.0), and user name and password when given.
pub fn connect(v: MqttVersion, client_id: &str, login: Option<(&str, &str)>, keep_alive: u16) -> Vec<u8> {
    let mut body = Vec::new();
    utf8(b"MQTT", &mut body);
    body.push(level(v));
    let mut flags = 0x02; // clean session / clean start
    if login.is_some() {
        flags |= 0x80 | 0x40; // user name, password
    }
    body.push(flags);
    body.extend_from_slice(&keep_alive.to_be_bytes());
    if v == MqttVersion::V5 {
        body.push(0); // no properties
    }
    utf8(client_id.as_bytes(), &mut body);
    if let Some((user, password)) = login {
        utf8(user.as_bytes(), &mut body);
        utf8(password.as_bytes(), &mut body);
    }
    packet(0x10, &body)
}

/// SUBSCRIBE (QoS 1 asked for each topic).
pub fn subscribe(v: MqttVersion, packet_id: u16, topics: &[&str]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if v == MqttVersion::V5 {
        body.push(0);
    }
    for t in topics {
        utf8(t.as_bytes(), &mut body);
        body.push(0x01);
    }
    packet(0x82, &body)
}

/// PUBLISH at QoS 1, not retained.
pub fn publish(v: MqttVersion, packet_id: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    utf8(topic.as_bytes(), &mut body);
    body.extend_from_slice(&packet_id.to_be_bytes());
    if v == MqttVersion::V5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(0x32, &body)
}

/// PUBACK for a QoS 1 message received.
pub fn puback(packet_id: u16) -> Vec<u8> {
    packet(0x40, &packet_id.to_be_bytes())
}

/// PINGREQ. Sent after a SUBACK or PUBACK it also carries our TCP ACK at once: brokers that
/// leave Nagle on (Mosquitto does) hold their next packet until then, 40 ms with delayed ACKs.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];

/// DISCONNECT, normal disconnection (the same two bytes in 3.1.1 and 5.0).
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// A fixed header (§2.2): packet type, flags, and the length of what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedHeader {
    /// Packet type, 1 to 15.
    pub kind: u8,
    /// The low nibble.
    pub flags: u8,
    /// Bytes of the packet after this header.
    pub remaining: u32,
    /// Bytes of this header (2 to 5).
    pub len: usize,
}

/// Reads a fixed header from the start of `b`: `Ok(None)` when more bytes are needed.
pub fn fixed_header(b: &[u8]) -> Result<Option<FixedHeader>, WireError> {
    let Some(&first) = b.first() else { return Ok(None) };
    let mut remaining: u32 = 0;
    for i in 0..4 {
        let Some(&byte) = b.get(1 + i) else { return Ok(None) };
        remaining |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(FixedHeader { kind: first >> 4, flags: first & 0x0f, remaining, len: 2 + i }));
        }
    }
    err("the remaining length runs past 4 bytes (at most 268,435,455 is allowed)")
}

/// CONNACK (§3.2), in either version's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnAck {
    /// The broker kept a session for this client id.
    pub session_present: bool,
    /// 3.1.1 return code or 5.0 reason code.
    pub code: u8,
    /// Whether it is laid out as 5.0 (with properties). A 3.1.1 broker answers a 5.0 CONNECT
    /// with the two-byte 3.1.1 layout and return code 1.
    pub v5: bool,
    /// 5.0 properties, by their spec names in snake case.
    pub properties: Map<String, Value>,
}

impl ConnAck {
    /// The code's name: `success`/`accepted`, `not_authorized`, `bad_user_name_or_password`, ...
    pub fn name(&self) -> &'static str {
        if self.v5 { reason_name(self.code) } else { return_code_name(self.code) }
    }

    /// Whether the broker accepted the connection.
    pub fn accepted(&self) -> bool {
        self.code == 0
    }

    /// Whether the refusal is about who the client is (bad credentials, not authorised).
    pub fn is_auth_refusal(&self) -> bool {
        if self.v5 { matches!(self.code, 0x86 | 0x87 | 0x8C) } else { matches!(self.code, 4 | 5) }
    }

    /// Whether the broker refused the protocol version (3.1.1's code 1, 5.0's 0x84).
    pub fn is_version_refusal(&self) -> bool {
        if self.v5 { self.code == 0x84 } else { self.code == 1 }
    }
}

/// MQTT 3.1.1 CONNACK return codes (Table 3.1).
pub fn return_code_name(code: u8) -> &'static str {
    match code {
        0 => "accepted",
        1 => "unacceptable_protocol_version",
        2 => "identifier_rejected",
        3 => "server_unavailable",
        4 => "bad_user_name_or_password",
        5 => "not_authorized",
        _ => "reserved",
    }
}

/// MQTT 5.0 CONNACK reason codes (§3.2.2.2).
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0x00 => "success",
        0x80 => "unspecified_error",
        0x81 => "malformed_packet",
        0x82 => "protocol_error",
        0x83 => "implementation_specific_error",
        0x84 => "unsupported_protocol_version",
        0x85 => "client_identifier_not_valid",
        0x86 => "bad_user_name_or_password",
        0x87 => "not_authorized",
        0x88 => "server_unavailable",
        0x89 => "server_busy",
        0x8A => "banned",
        0x8C => "bad_authentication_method",
        0x90 => "topic_name_invalid",
        0x95 => "packet_too_large",
        0x97 => "quota_exceeded",
        0x99 => "payload_format_invalid",
        0x9A => "retain_not_supported",
        0x9B => "qos_not_supported",
        0x9C => "use_another_server",
        0x9D => "server_moved",
        0x9F => "connection_rate_exceeded",
        _ => "unknown",
    }
}

/// Decodes a CONNACK's body (after the fixed header).
pub fn connack(body: &[u8]) -> Result<ConnAck, WireError> {
    let mut c = Cursor { b: body };
    let flags = c.u8()?;
    if flags & 0xfe != 0 {
        return err(format!("CONNACK flags 0x{flags:02x} set reserved bits"));
    }
    let code = c.u8()?;
    if c.b.is_empty() {
        return Ok(ConnAck { session_present: flags & 1 == 1, code, v5: false, properties: Map::new() });
    }
    let properties = c.properties()?;
    Ok(ConnAck { session_present: flags & 1 == 1, code, v5: true, properties })
}

/// SUBACK (§3.9): the packet id and one granted QoS or reason code per topic.
pub fn suback(v: MqttVersion, body: &[u8]) -> Result<(u16, Vec<u8>), WireError> {
    let mut c = Cursor { b: body };
    let id = c.u16()?;
    if v == MqttVersion::V5 {
        c.properties()?;
    }
    Ok((id, c.b.to_vec()))
}

/// A PUBLISH received: topic, packet id (QoS > 0) and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// The topic.
    pub topic: String,
    /// Packet id, present at QoS 1 and 2.
    pub packet_id: Option<u16>,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Decodes a PUBLISH's body, given the fixed header's flags.
pub fn publish_in(v: MqttVersion, flags: u8, body: &[u8]) -> Result<Publish, WireError> {
    let mut c = Cursor { b: body };
    let topic = c.string()?;
    let qos = (flags >> 1) & 3;
    if qos == 3 {
        return err("PUBLISH with QoS 3");
    }
    let packet_id = if qos > 0 { Some(c.u16()?) } else { None };
    if v == MqttVersion::V5 {
        c.properties()?;
    }
    Ok(Publish { topic, packet_id, payload: c.b.to_vec() })
}

struct Cursor<'a> {
    b: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.b.len() {
            return err(format!("a field claims {n} bytes where only {} remain", self.b.len()));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn var_int(&mut self) -> Result<u32, WireError> {
        let mut n: u32 = 0;
        for i in 0..4 {
            let byte = self.u8()?;
            n |= u32::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        err("a variable byte integer runs past 4 bytes")
    }
    fn binary(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    fn string(&mut self) -> Result<String, WireError> {
        Ok(String::from_utf8_lossy(self.binary()?).into_owned())
    }

    /// A property list (§2.2.2): its length, then identifier/value pairs.
    fn properties(&mut self) -> Result<Map<String, Value>, WireError> {
        let n = self.var_int()?;
        let mut c = Cursor { b: self.take(usize::try_from(n).unwrap_or(usize::MAX))? };
        let mut map = Map::new();
        let mut user = Vec::new();
        while !c.b.is_empty() {
            let id = c.var_int()?;
            let (name, value) = match id {
                0x01 => ("payload_format_indicator", Value::from(c.u8()?)),
                0x02 => ("message_expiry_interval", Value::from(c.u32()?)),
                0x03 => ("content_type", Value::from(c.string()?)),
                0x08 => ("response_topic", Value::from(c.string()?)),
                0x09 => ("correlation_data", Value::from(format!("<{} bytes>", c.binary()?.len()))),
                0x0B => ("subscription_identifier", Value::from(c.var_int()?)),
                0x11 => ("session_expiry_interval", Value::from(c.u32()?)),
                0x12 => ("assigned_client_identifier", Value::from(c.string()?)),
                0x13 => ("server_keep_alive", Value::from(c.u16()?)),
                0x15 => ("authentication_method", Value::from(c.string()?)),
                0x16 => ("authentication_data", Value::from(format!("<{} bytes>", c.binary()?.len()))),
                0x1A => ("response_information", Value::from(c.string()?)),
                0x1C => ("server_reference", Value::from(c.string()?)),
                0x1F => ("reason_string", Value::from(c.string()?)),
                0x21 => ("receive_maximum", Value::from(c.u16()?)),
                0x22 => ("topic_alias_maximum", Value::from(c.u16()?)),
                0x24 => ("maximum_qos", Value::from(c.u8()?)),
                0x25 => ("retain_available", Value::Bool(c.u8()? == 1)),
                0x26 => {
                    let (k, v) = (c.string()?, c.string()?);
                    user.push(Value::from(vec![k, v]));
                    continue;
                }
                0x27 => ("maximum_packet_size", Value::from(c.u32()?)),
                0x28 => ("wildcard_subscription_available", Value::Bool(c.u8()? == 1)),
                0x29 => ("subscription_identifiers_available", Value::Bool(c.u8()? == 1)),
                0x2A => ("shared_subscription_available", Value::Bool(c.u8()? == 1)),
                other => return err(format!("unknown property identifier 0x{other:02x}")),
            };
            map.insert(name.to_owned(), value);
        }
        if !user.is_empty() {
            map.insert("user_properties".to_owned(), Value::Array(user));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mosquitto 2.0.11's answers to a clean CONNECT, captured on loopback.
    const MOSQUITTO_V5: &[u8] = include_bytes!("fixtures/mosquitto-connack-v5.bin");
    const MOSQUITTO_V311: &[u8] = include_bytes!("fixtures/mosquitto-connack-v311.bin");

    fn split(b: &[u8]) -> (FixedHeader, &[u8]) {
        let h = fixed_header(b).unwrap().unwrap();
        (h, &b[h.len..h.len + h.remaining as usize])
    }

    #[test]
    fn mosquitto_v5_connack_decodes() {
        // 20 09: CONNACK, 9 bytes | 00 session present no | 00 success | 06 properties, 6 bytes:
        // 22 00 0a topic alias maximum 10 | 21 00 14 receive maximum 20.
        let (h, body) = split(MOSQUITTO_V5);
        assert_eq!((h.kind, h.remaining, h.len), (CONNACK, 9, 2));
        let c = connack(body).unwrap();
        assert!(c.v5 && c.accepted() && !c.session_present);
        assert_eq!(c.name(), "success");
        assert_eq!(c.properties["topic_alias_maximum"], 10);
        assert_eq!(c.properties["receive_maximum"], 20);
    }

    #[test]
    fn mosquitto_v311_connack_decodes() {
        // 20 02 | 00 | 00 accepted.
        let (h, body) = split(MOSQUITTO_V311);
        assert_eq!(h.kind, CONNACK);
        let c = connack(body).unwrap();
        assert!(!c.v5 && c.accepted());
        assert_eq!(c.name(), "accepted");
    }

    #[test]
    fn a_311_broker_refusing_5_is_recognised() {
        // What a 3.1.1-only broker sends to a 5.0 CONNECT: 20 02 00 01.
        let c = connack(&[0, 1]).unwrap();
        assert!(c.is_version_refusal() && !c.v5);
        assert_eq!(c.name(), "unacceptable_protocol_version");
        let c = connack(&[0, 0x87, 0]).unwrap();
        assert!(c.v5 && c.is_auth_refusal());
        assert_eq!(c.name(), "not_authorized");
        assert!(connack(&[0, 5]).unwrap().is_auth_refusal());
    }

    #[test]
    fn connect_packets_are_well_formed() {
        let p = connect(MqttVersion::V5, "id", Some(("u", "p")), 30);
        // 10 | len | 00 04 MQTT | 05 | c2 (user, password, clean) | 00 1e | 00 props | 00 02 id | ...
        assert_eq!(&p[..2], &[0x10, (p.len() - 2) as u8]);
        assert_eq!(&p[2..10], b"\x00\x04MQTT\x05\xc2");
        assert_eq!(&p[10..13], &[0, 30, 0]);
        assert!(p.ends_with(b"\x00\x02id\x00\x01u\x00\x01p"));
        let p = connect(MqttVersion::V311, "id", None, 30);
        assert_eq!(p, b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x1e\x00\x02id");
    }

    #[test]
    fn var_ints_round_trip_and_overlong_ones_fail() {
        for n in [0u32, 127, 128, 16_383, 16_384, 2_097_151, 268_435_455] {
            let mut b = vec![0x20];
            var_int(n, &mut b);
            assert_eq!(fixed_header(&b).unwrap().unwrap().remaining, n);
        }
        assert!(fixed_header(&[0x20, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
        assert_eq!(fixed_header(&[0x20, 0xff]).unwrap(), None);
        assert_eq!(fixed_header(&[]).unwrap(), None);
    }

    #[test]
    fn lying_property_lengths_fail() {
        // Properties claim 100 bytes, 1 is there.
        assert!(connack(&[0, 0, 100, 0x24]).unwrap_err().0.contains("claims"));
        // A string property whose length runs past the end.
        assert!(connack(&[0, 0, 3, 0x1f, 0, 9]).is_err());
        assert!(connack(&[0, 0, 1, 0x77]).unwrap_err().0.contains("unknown property"));
        assert!(connack(&[0xf0, 0]).is_err());
        assert!(connack(&[0]).is_err());
    }

    #[test]
    fn publish_and_suback_decode() {
        let p = publish(MqttVersion::V5, 7, "a/b", b"hi");
        let (h, body) = split(&p);
        assert_eq!(h.kind, PUBLISH);
        let m = publish_in(MqttVersion::V5, h.flags, body).unwrap();
        assert_eq!((m.topic.as_str(), m.packet_id, m.payload.as_slice()), ("a/b", Some(7), &b"hi"[..]));
        assert_eq!(suback(MqttVersion::V311, &[0, 1, 1, 0x80]).unwrap(), (1, vec![1, 0x80]));
        assert_eq!(suback(MqttVersion::V5, &[0, 1, 0, 0x87]).unwrap(), (1, vec![0x87]));
    }
}
