//! Settings of the `modbus` probe.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::options::{Flag, Section};

/// Which Modbus data table a register read addresses (Modbus Application Protocol §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    /// Holding registers, function 0x03 (read/write on the device; only read here).
    Holding,
    /// Input registers, function 0x04 (read-only).
    Input,
    /// Coils, function 0x01 (single bits; only read here).
    Coil,
    /// Discrete inputs, function 0x02 (read-only single bits).
    Discrete,
}

impl fmt::Display for RegisterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            RegisterKind::Holding => "holding",
            RegisterKind::Input => "input",
            RegisterKind::Coil => "coil",
            RegisterKind::Discrete => "discrete",
        })
    }
}

/// Settings of the `modbus` probe. It only ever reads: Read Device Identification, then one
/// register or bit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModbusOptions {
    /// Unit (slave) id addressed: default 1; 255 (or 0) for a device behind a gateway that
    /// routes by unit id, or the id the gateway maps to the device. A stated unit is a health
    /// criterion: gateways and servers may answer device identification for any unit id, so
    /// a register (address `register`, default 0) is read and must come back from this unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<u8>,
    /// Protocol address (0-based) of a register that must be readable for `healthy`, read
    /// after the device identification. Without it, a device identification suffices, and a
    /// device that refuses it is asked for address 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register: Option<u16>,
    /// The table `register` is in: `holding` (0x03), `input` (0x04), `coil` (0x01) or
    /// `discrete` (0x02). Default: holding, then input when the holding read is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RegisterKind>,
}

impl ModbusOptions {
    /// The unit id addressed.
    pub fn unit(&self) -> u8 {
        self.unit.unwrap_or(1)
    }
    /// Whether a register read is asked for: a stated register, table or unit, each a health
    /// criterion (a unit because only a register read proves it is there).
    pub fn has_criteria(&self) -> bool {
        self.register.is_some() || self.kind.is_some() || self.unit.is_some()
    }
}

/// The `modbus` section and its command-line flags.
pub static SECTION: Section = Section::of::<ModbusOptions>("modbus", FLAGS);

const FLAGS: &[Flag] = &[
    Flag::value(
        "unit",
        "unit",
        "ID",
        "Modbus: unit (slave) id [default: 1; 255 or the mapped id behind a gateway]; a stated unit must answer a register read, which makes the check require healthy",
    ),
    Flag::value(
        "register",
        "register",
        "ADDRESS",
        "Modbus: register (0-based protocol address) that must be readable; makes the check require healthy",
    ),
    Flag::value("register-kind", "kind", "KIND", "Modbus: table of --register [default: holding, then input]")
        .one_of(&["holding", "input", "coil", "discrete"]),
];
