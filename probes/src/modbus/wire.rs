//! Modbus TCP on the wire: the MBAP header, the few reading requests the probe may send, and
//! the answers it reads (register values, Read Device Identification objects, exceptions).
//!
//! References: MODBUS Application Protocol Specification V1.1b3 (modbus.org, 2012): §4.1 the
//! PDU (at most 253 bytes), §6.1–6.4 functions 0x01–0x04, §6.21 function 0x2B / MEI 0x0E Read
//! Device Identification (objects 0x00 VendorName, 0x01 ProductCode, 0x02 MajorMinorRevision),
//! §7 exception responses and Table "MODBUS Exception Codes"; MODBUS Messaging on TCP/IP
//! Implementation Guide V1.0b (2006) §3.1.3 the MBAP header (transaction id, protocol id 0,
//! length of what follows it including the unit id, unit id).
//!
//! Read-only by construction: [`Request`] is the only thing this module turns into bytes, and
//! it has one variant per reading function (0x01–0x04) plus Read Device Identification (0x2B /
//! 0x0E), which reads the device's name plate. There is no way to ask for any other function
//! code, so no writing function (0x05, 0x06, 0x0F, 0x10, 0x16, 0x17, ...) can be emitted.
//!
//! Every length is checked against the bytes that are there: a parse can fail, never read out
//! of bounds or allocate beyond the frame it was given.

/// The MBAP header's length: transaction id, protocol id, length, unit id.
pub const MBAP_LEN: usize = 7;
/// The largest PDU (§4.1): 253 bytes, so the MBAP length field (unit id + PDU) is at most 254.
pub const MAX_PDU: usize = 253;
/// The MBAP protocol identifier of Modbus (Implementation Guide §3.1.3).
pub const PROTOCOL_ID: u16 = 0;
/// The MEI type of Read Device Identification (§6.21).
pub const MEI_DEVICE_ID: u8 = 0x0E;
/// Function 0x2B, Encapsulated Interface Transport, which carries MEI 0x0E.
pub const FN_DEVICE_ID: u8 = 0x2B;
/// The most registers or bits one probe request asks for: it reads one.
const ONE: u16 = 1;

pub use crate::WireError;
use crate::wire_err as err;

/// Which objects a Read Device Identification asks for (§6.21, "Read Device ID code").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceIdCode {
    /// 0x01: the basic objects (vendor, product code, revision), stream access.
    Basic,
    /// 0x02: basic and regular objects (URL, product name, model, application name).
    Regular,
}

impl DeviceIdCode {
    fn byte(self) -> u8 {
        match self {
            DeviceIdCode::Basic => 0x01,
            DeviceIdCode::Regular => 0x02,
        }
    }

    /// Whether object `id` is in the category this code asks for (§6.21): basic 0x00–0x02,
    /// regular adds 0x03–0x7F. Extended objects (0x80–0xFF) are never asked for.
    pub fn covers(self, id: u8) -> bool {
        match self {
            DeviceIdCode::Basic => id <= 0x02,
            DeviceIdCode::Regular => id <= 0x7F,
        }
    }
}

/// Every request the probe can send. Only reading functions exist here: this enum is the
/// read-only guarantee, and [`Request::encode`] the only way to bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// 0x01 Read Coils: one coil at `address`.
    ReadCoil {
        /// Protocol address (0-based).
        address: u16,
    },
    /// 0x02 Read Discrete Inputs: one input at `address`.
    ReadDiscreteInput {
        /// Protocol address (0-based).
        address: u16,
    },
    /// 0x03 Read Holding Registers: one register at `address`.
    ReadHoldingRegister {
        /// Protocol address (0-based).
        address: u16,
    },
    /// 0x04 Read Input Registers: one register at `address`.
    ReadInputRegister {
        /// Protocol address (0-based).
        address: u16,
    },
    /// 0x2B / MEI 0x0E Read Device Identification, from object `first` on.
    ReadDeviceId {
        /// Which group of objects.
        code: DeviceIdCode,
        /// The object to start from (0 first; a device that split its answer names the next).
        first: u8,
    },
}

/// The function codes [`Request`] can produce: the reading ones and 0x2B.
pub const READ_ONLY_FUNCTIONS: [u8; 5] = [0x01, 0x02, 0x03, 0x04, FN_DEVICE_ID];

impl Request {
    /// The function code.
    pub fn function(&self) -> u8 {
        // No wildcard: a new variant must say its function here, next to the read-only list.
        match self {
            Request::ReadCoil { .. } => 0x01,
            Request::ReadDiscreteInput { .. } => 0x02,
            Request::ReadHoldingRegister { .. } => 0x03,
            Request::ReadInputRegister { .. } => 0x04,
            Request::ReadDeviceId { .. } => FN_DEVICE_ID,
        }
    }

    /// A short name for messages: `0x03 read holding register 0`.
    pub fn describe(&self) -> String {
        match self {
            Request::ReadCoil { address } => format!("0x01 read coil {address}"),
            Request::ReadDiscreteInput { address } => format!("0x02 read discrete input {address}"),
            Request::ReadHoldingRegister { address } => format!("0x03 read holding register {address}"),
            Request::ReadInputRegister { address } => format!("0x04 read input register {address}"),
            Request::ReadDeviceId { code, first } => {
                format!("0x2B/0x0E read device identification ({}, from object {first})", code_name(*code))
            }
        }
    }

    /// The PDU: function code and its data.
    fn pdu(&self) -> Vec<u8> {
        let mut p = vec![self.function()];
        match *self {
            Request::ReadCoil { address }
            | Request::ReadDiscreteInput { address }
            | Request::ReadHoldingRegister { address }
            | Request::ReadInputRegister { address } => {
                p.extend_from_slice(&address.to_be_bytes());
                p.extend_from_slice(&ONE.to_be_bytes());
            }
            Request::ReadDeviceId { code, first } => p.extend_from_slice(&[MEI_DEVICE_ID, code.byte(), first]),
        }
        p
    }

    /// The whole ADU: MBAP header (`transaction`, protocol 0, length, `unit`) and the PDU.
    pub fn encode(&self, transaction: u16, unit: u8) -> Vec<u8> {
        let pdu = self.pdu();
        let mut out = Vec::with_capacity(MBAP_LEN + pdu.len());
        out.extend_from_slice(&transaction.to_be_bytes());
        out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
        // Lengths are at most 6 here; the cast cannot truncate.
        out.extend_from_slice(&((pdu.len() + 1) as u16).to_be_bytes());
        out.push(unit);
        out.extend_from_slice(&pdu);
        out
    }
}

fn code_name(c: DeviceIdCode) -> &'static str {
    match c {
        DeviceIdCode::Basic => "basic",
        DeviceIdCode::Regular => "regular",
    }
}

/// An MBAP header as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mbap {
    /// Echo of the request's transaction id.
    pub transaction: u16,
    /// 0 for Modbus.
    pub protocol: u16,
    /// Bytes that follow the length field: the unit id and the PDU.
    pub length: u16,
    /// The unit (slave) id answered for.
    pub unit: u8,
}

impl Mbap {
    /// Reads the 7 header bytes (no checks: see [`Mbap::check`]).
    pub fn parse(b: &[u8; MBAP_LEN]) -> Mbap {
        Mbap {
            transaction: u16::from_be_bytes([b[0], b[1]]),
            protocol: u16::from_be_bytes([b[2], b[3]]),
            length: u16::from_be_bytes([b[4], b[5]]),
            unit: b[6],
        }
    }

    /// The PDU length this header announces, after checking that it is an answer to
    /// `transaction`: protocol id 0, a length that holds at least a function code and at most
    /// [`MAX_PDU`] bytes. The length is refused before anything is read or allocated for it.
    pub fn check(&self, transaction: u16) -> Result<usize, WireError> {
        if self.protocol != PROTOCOL_ID {
            return err(format!("the MBAP protocol id is {} (0x{:04x}), not 0 (Modbus)", self.protocol, self.protocol));
        }
        if self.transaction != transaction {
            return err(format!(
                "the MBAP transaction id is {} where the request's was {transaction}",
                self.transaction
            ));
        }
        let len = usize::from(self.length);
        if !(2..=MAX_PDU + 1).contains(&len) {
            return err(format!(
                "the MBAP length is {len}; a Modbus frame holds a unit id and 1 to {MAX_PDU} bytes of PDU"
            ));
        }
        Ok(len - 1)
    }
}

/// A Modbus exception code (§7), by the name used in failure codes (`modbus.exception.<name>`).
pub fn exception_name(code: u8) -> String {
    match code {
        0x01 => "illegal_function".into(),
        0x02 => "illegal_data_address".into(),
        0x03 => "illegal_data_value".into(),
        0x04 => "server_device_failure".into(),
        0x05 => "acknowledge".into(),
        0x06 => "server_device_busy".into(),
        0x08 => "memory_parity_error".into(),
        0x0A => "gateway_path_unavailable".into(),
        0x0B => "gateway_target_failed".into(),
        other => format!("code_{other}"),
    }
}

/// The answer to a [`Request`], decoded from its PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The function's normal response.
    Data(Data),
    /// An exception response (function | 0x80, exception code): the device speaks Modbus and
    /// refuses this request.
    Exception(u8),
}

/// A normal response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// A register's value (0x03, 0x04).
    Register(u16),
    /// A coil's or discrete input's state (0x01, 0x02).
    Bit(bool),
    /// Read Device Identification objects.
    DeviceId(DeviceId),
}

/// A Read Device Identification response (§6.21).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceId {
    /// The conformity level: 0x01–0x03 stream access only, 0x81–0x83 individual access too.
    pub conformity: u8,
    /// Whether the device has more objects than fitted in this answer.
    pub more_follows: bool,
    /// The object to ask for next when `more_follows`.
    pub next_object: u8,
    /// The objects: id and value (text for the standard objects).
    pub objects: Vec<(u8, Vec<u8>)>,
}

impl DeviceId {
    /// An object's value as text (lossy), if the device sent it.
    pub fn text(&self, id: u8) -> Option<String> {
        self.objects.iter().find(|(i, _)| *i == id).map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
    }
}

/// The name of a standard device identification object (§6.21 table).
pub fn object_name(id: u8) -> Option<&'static str> {
    Some(match id {
        0x00 => "vendor_name",
        0x01 => "product_code",
        0x02 => "revision",
        0x03 => "vendor_url",
        0x04 => "product_name",
        0x05 => "model_name",
        0x06 => "user_application_name",
        _ => return None,
    })
}

/// Decodes `pdu`, the answer to `req`. A function code that is neither the request's nor its
/// exception form, or a body that does not fit the function, is an error.
pub fn answer(req: &Request, pdu: &[u8]) -> Result<Answer, WireError> {
    let Some((&function, body)) = pdu.split_first() else {
        return err("the PDU is empty");
    };
    let want = req.function();
    if function == want | 0x80 {
        return match body {
            // §7 defines no exception 0: a device that sends it is not keeping to the protocol.
            [0] => err("an exception response with code 0, which Modbus does not define"),
            [code] => Ok(Answer::Exception(*code)),
            _ => err(format!("an exception response of {} bytes; it has exactly 2", pdu.len())),
        };
    }
    if function != want {
        return err(format!("the answer carries function 0x{function:02x}; the request was 0x{want:02x}"));
    }
    match req {
        Request::ReadHoldingRegister { .. } | Request::ReadInputRegister { .. } => match body {
            [2, hi, lo] => Ok(Answer::Data(Data::Register(u16::from_be_bytes([*hi, *lo])))),
            [n, ..] => {
                err(format!("a register answer with byte count {n} and {} bytes; one register is 2", body.len() - 1))
            }
            [] => err("a register answer without a byte count"),
        },
        Request::ReadCoil { .. } | Request::ReadDiscreteInput { .. } => match body {
            [1, bits] => Ok(Answer::Data(Data::Bit(bits & 1 == 1))),
            [n, ..] => err(format!("a bit answer with byte count {n} and {} bytes; one bit is 1", body.len() - 1)),
            [] => err("a bit answer without a byte count"),
        },
        Request::ReadDeviceId { code, .. } => device_id(body, *code).map(|d| Answer::Data(Data::DeviceId(d))),
    }
}

/// The body of a Read Device Identification response to a request for `asked`, after the
/// function code: MEI type, read device id code (the request's, echoed), conformity level,
/// more follows, next object id, number of objects, then per object its id, length and value.
/// Objects outside the category asked for are checked for framing and then dropped: they were
/// not asked for, so they are not reported as the device's identity.
pub fn device_id(body: &[u8], asked: DeviceIdCode) -> Result<DeviceId, WireError> {
    let [mei, code, conformity, more, next, count, rest @ ..] = body else {
        return err(format!("a device identification answer of {} bytes; its header alone is 6", body.len()));
    };
    if *mei != MEI_DEVICE_ID {
        return err(format!("MEI type 0x{mei:02x}, not 0x0E (read device identification)"));
    }
    if *code != asked.byte() {
        return err(format!(
            "the read device id code is 0x{code:02x}; the request's was 0x{:02x} ({})",
            asked.byte(),
            code_name(asked)
        ));
    }
    let more_follows = match more {
        0x00 => false,
        0xFF => true,
        other => return err(format!("\"more follows\" is 0x{other:02x}; it is 0x00 or 0xFF")),
    };
    let mut objects = Vec::with_capacity(usize::from(*count).min(rest.len() / 2));
    let mut at = rest;
    for i in 0..*count {
        let [id, len, tail @ ..] = at else {
            return err(format!("object {} of {count} is cut off", i + 1));
        };
        let len = usize::from(*len);
        let Some(value) = tail.get(..len) else {
            return err(format!("object 0x{id:02x} claims {len} bytes; {} are left", tail.len()));
        };
        if asked.covers(*id) {
            objects.push((*id, value.to_vec()));
        }
        at = &tail[len..];
    }
    if !at.is_empty() {
        return err(format!("{} bytes follow the {count} objects", at.len()));
    }
    Ok(DeviceId { conformity: *conformity, more_follows, next_object: *next, objects })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pymodbus 3.16.1 (the real server `testbeds/scripts/industrial.sh` starts), answering
    /// `12 34 00 00 00 05 01 2b 0e 01 00`:
    ///
    /// ```text
    /// 12 34        transaction id, echoed
    /// 00 00        protocol id 0
    /// 00 29        length 41: unit id + 40 bytes of PDU
    /// 01           unit 1
    /// 2b 0e        function 0x2B, MEI 0x0E
    /// 01           read device id code: basic
    /// 83           conformity level: extended, individual access
    /// 00 00        more follows: no; next object id 0
    /// 03           3 objects
    /// 00 12 "portproof-pymodbus"   VendorName (18 bytes)
    /// 01 05 "PPM-1"                ProductCode
    /// 02 04 "3.16"                 MajorMinorRevision
    /// ```
    const PYMODBUS_DEVICE_ID: &[u8] = include_bytes!("fixtures/pymodbus-device-id-basic.bin");
    /// pymodbus answering `03 00 00 00 01` (holding register 0): `12 34 00 00 00 05 01`, then
    /// `03` function, `02` byte count, `03 e8` the value 1000.
    const PYMODBUS_HOLDING: &[u8] = include_bytes!("fixtures/pymodbus-holding-0.bin");
    /// pymodbus answering holding register 100, outside its block: `12 34 00 00 00 03 01`, then
    /// `83` (0x03 | 0x80) and exception `02` illegal data address.
    const PYMODBUS_ILLEGAL_ADDRESS: &[u8] = include_bytes!("fixtures/pymodbus-exception-illegal-address.bin");
    /// pymodbus answering a request for unit 7, which it does not have: unit `07`, `83`, and
    /// exception `04` server device failure (pymodbus's choice; a gateway would say 0x0B).
    const PYMODBUS_MISSING_UNIT: &[u8] = include_bytes!("fixtures/pymodbus-exception-missing-unit.bin");

    fn split(frame: &[u8], transaction: u16) -> (Mbap, &[u8]) {
        let h = Mbap::parse(frame[..MBAP_LEN].try_into().unwrap());
        let n = h.check(transaction).unwrap();
        assert_eq!(frame.len(), MBAP_LEN + n, "the header's length covers the frame exactly");
        (h, &frame[MBAP_LEN..])
    }

    #[test]
    fn pymodbus_device_identification_decodes() {
        let (h, pdu) = split(PYMODBUS_DEVICE_ID, 0x1234);
        assert_eq!(h.unit, 1);
        let req = Request::ReadDeviceId { code: DeviceIdCode::Basic, first: 0 };
        let Answer::Data(Data::DeviceId(d)) = answer(&req, pdu).unwrap() else { panic!("not a device id") };
        assert_eq!(d.conformity, 0x83);
        assert!(!d.more_follows);
        assert_eq!(d.text(0).as_deref(), Some("portproof-pymodbus"));
        assert_eq!(d.text(1).as_deref(), Some("PPM-1"));
        assert_eq!(d.text(2).as_deref(), Some("3.16"));
        assert_eq!(d.text(4), None);
    }

    #[test]
    fn pymodbus_register_and_exceptions_decode() {
        let (_, pdu) = split(PYMODBUS_HOLDING, 0x1234);
        assert_eq!(answer(&Request::ReadHoldingRegister { address: 0 }, pdu), Ok(Answer::Data(Data::Register(1000))));
        let (_, pdu) = split(PYMODBUS_ILLEGAL_ADDRESS, 0x1234);
        assert_eq!(answer(&Request::ReadHoldingRegister { address: 100 }, pdu), Ok(Answer::Exception(2)));
        assert_eq!(exception_name(2), "illegal_data_address");
        let (h, pdu) = split(PYMODBUS_MISSING_UNIT, 0x1234);
        assert_eq!(h.unit, 7);
        assert_eq!(answer(&Request::ReadHoldingRegister { address: 0 }, pdu), Ok(Answer::Exception(4)));
        // The same exception PDU is not an answer to another function.
        assert!(answer(&Request::ReadInputRegister { address: 0 }, pdu).is_err());
    }

    #[test]
    fn requests_are_laid_out_as_the_spec_says() {
        // Transaction 0x0102, protocol 0, length 6, unit 0xFF, 0x03 at 0x0010, quantity 1.
        assert_eq!(
            Request::ReadHoldingRegister { address: 0x10 }.encode(0x0102, 0xFF),
            [0x01, 0x02, 0, 0, 0, 6, 0xFF, 0x03, 0x00, 0x10, 0x00, 0x01]
        );
        // Length 5: unit, 2B, 0E, code 01 (basic), object 00.
        assert_eq!(
            Request::ReadDeviceId { code: DeviceIdCode::Basic, first: 0 }.encode(7, 1),
            [0, 7, 0, 0, 0, 5, 1, 0x2B, 0x0E, 0x01, 0x00]
        );
    }

    /// The read-only property: whatever the parameters, every request this module can encode
    /// carries a reading function (0x01–0x04) or 0x2B with MEI 0x0E, and nothing else.
    #[test]
    fn only_reading_functions_can_be_emitted() {
        let mut all = Vec::new();
        for address in [0, 1, 0x7FFF, u16::MAX] {
            all.push(Request::ReadCoil { address });
            all.push(Request::ReadDiscreteInput { address });
            all.push(Request::ReadHoldingRegister { address });
            all.push(Request::ReadInputRegister { address });
        }
        for first in [0, 3, 0x80, 0xFF] {
            for code in [DeviceIdCode::Basic, DeviceIdCode::Regular] {
                all.push(Request::ReadDeviceId { code, first });
            }
        }
        for req in all {
            for (transaction, unit) in [(0, 0), (1, 1), (0xFFFF, 0xFF)] {
                let adu = req.encode(transaction, unit);
                let function = adu[MBAP_LEN];
                assert!(READ_ONLY_FUNCTIONS.contains(&function), "{req:?} emits 0x{function:02x}");
                assert_eq!(function, req.function());
                if function == FN_DEVICE_ID {
                    assert_eq!(adu[MBAP_LEN + 1], MEI_DEVICE_ID, "0x2B only carries read device identification");
                } else {
                    assert_eq!(&adu[MBAP_LEN + 3..], [0, 1], "one item at a time");
                }
                let h = Mbap::parse(adu[..MBAP_LEN].try_into().unwrap());
                assert_eq!(h.check(transaction).unwrap(), adu.len() - MBAP_LEN);
            }
        }
    }

    #[test]
    fn bad_headers_are_refused_before_reading_on() {
        let h = |b: [u8; 7]| Mbap::parse(&b);
        assert!(h([0, 1, 0x12, 0x34, 0, 5, 1]).check(1).unwrap_err().0.contains("protocol id"));
        assert!(h([0, 2, 0, 0, 0, 5, 1]).check(1).unwrap_err().0.contains("transaction id"));
        assert!(h([0, 1, 0, 0, 0xFF, 0xFF, 1]).check(1).unwrap_err().0.contains("65535"));
        assert!(h([0, 1, 0, 0, 0, 1, 1]).check(1).is_err(), "a unit id and no function");
        assert_eq!(h([0, 1, 0, 0, 0, 254, 1]).check(1), Ok(253));
    }

    #[test]
    fn lying_device_id_lengths_fail_cleanly() {
        let basic = DeviceIdCode::Basic;
        // Claims 3 objects, the first 200 bytes long, with 4 bytes there.
        assert!(device_id(&[0x0E, 1, 0x81, 0, 0, 3, 0, 200, b'a', b'b'], basic).is_err());
        // Claims 255 objects and has none.
        assert!(device_id(&[0x0E, 1, 0x81, 0, 0, 255], basic).is_err());
        // Trailing bytes after the objects.
        assert!(device_id(&[0x0E, 1, 0x81, 0, 0, 1, 0, 1, b'a', 9], basic).is_err());
        // Wrong MEI type, bad more-follows.
        assert!(device_id(&[0x0D, 1, 0x81, 0, 0, 0], basic).is_err());
        assert!(device_id(&[0x0E, 1, 0x81, 7, 0, 0], basic).is_err());
        let d = device_id(&[0x0E, 1, 0x01, 0xFF, 2, 1, 0, 1, b'V'], basic).unwrap();
        assert!(d.more_follows && d.next_object == 2);
    }

    #[test]
    fn exception_code_zero_is_not_an_exception() {
        let req = Request::ReadHoldingRegister { address: 0 };
        assert!(answer(&req, &[0x83, 0x00]).unwrap_err().0.contains("code 0"));
        assert_eq!(answer(&req, &[0x83, 0x0B]), Ok(Answer::Exception(0x0B)));
    }

    #[test]
    fn device_id_echoes_the_code_and_keeps_to_its_category() {
        let basic = DeviceIdCode::Basic;
        // Asked for basic, answered as regular (0x02): not the answer to this request.
        let e = device_id(&[0x0E, 2, 0x82, 0, 0, 1, 0, 1, b'V'], basic).unwrap_err();
        assert!(e.0.contains("read device id code is 0x02"), "{e}");
        // Basic asked: the product name (0x04) and a private object (0x80) are not reported.
        let d = device_id(&[0x0E, 1, 0x83, 0, 0, 3, 0, 1, b'V', 0x04, 1, b'P', 0x80, 2, b'x', b'y'], basic).unwrap();
        assert_eq!(d.objects, [(0, b"V".to_vec())]);
        // Regular asked: the product name is in its category, the private object is not.
        let d = device_id(&[0x0E, 2, 0x83, 0, 0, 2, 0x04, 1, b'P', 0x80, 1, b'x'], DeviceIdCode::Regular).unwrap();
        assert_eq!(d.objects, [(4, b"P".to_vec())]);
        assert!(basic.covers(2) && !basic.covers(3) && DeviceIdCode::Regular.covers(0x7F));
        assert!(!DeviceIdCode::Regular.covers(0x80));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let reqs = [
            Request::ReadDeviceId { code: DeviceIdCode::Basic, first: 0 },
            Request::ReadHoldingRegister { address: 0 },
            Request::ReadCoil { address: 0 },
        ];
        for i in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && !bytes.is_empty() {
                bytes[0] = [0x2B, 0x03, 0x01, 0xAB][i % 4];
            }
            for r in &reqs {
                let _ = answer(r, &bytes);
            }
            let _ = device_id(&bytes, DeviceIdCode::Basic);
            if let Ok(h) = <[u8; MBAP_LEN]>::try_from(&bytes[..bytes.len().min(MBAP_LEN)]) {
                let _ = Mbap::parse(&h).check(0);
            }
        }
        for n in 0..=PYMODBUS_DEVICE_ID.len() {
            let _ = device_id(&PYMODBUS_DEVICE_ID[(MBAP_LEN + 1).min(n)..n], DeviceIdCode::Basic);
        }
    }
}
